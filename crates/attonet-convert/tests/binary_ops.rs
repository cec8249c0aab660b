//! The binary element-wise family and CONCATENATION beyond the single-input
//! op goldens:
//!
//! * the goldens whose two operands are both model inputs (refused at the
//!   graph until plans take several inputs) run through the converter's
//!   parameters and the runtime kernel directly, against TFLM's outputs;
//! * graphs whose operands are both computed in the graph (joins, with and
//!   without broadcasting, and a concatenation of parallel branches) go
//!   through the whole converter and host runner, against an integer
//!   reference written here from TFLM's formulas (independently of
//!   `attonet_runtime::quant`).

use std::path::PathBuf;

use attonet_convert::frontend::tflite::read_tflite;
use attonet_convert::ir::{
    Activation, BinaryFn, DType, Graph, MoveFn, Op, OpKind, Quantization, Tensor,
};
use attonet_convert::npy::Array;
use attonet_convert::ops::binary;
use attonet_convert::ops::unary_lut::Quant;
use attonet_runtime::ops::binary::{binary_s8, concat_s8};
use attonet_runtime::quant::Clamp;

fn goldens() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/op-goldens")
}

fn quant_of(t: &Tensor) -> Quant {
    let q = t.quant.as_ref().expect("quantized");
    Quant {
        scale: q.scales[0],
        zero_point: q.zero_points[0] as i32,
    }
}

/// Two-input goldens: converter parameters + runtime kernel == TFLM.
#[test]
fn two_input_goldens_match_tflm_through_the_kernel() {
    let cases = [
        "add_2in",
        "add_2in_relu",
        "add_2in_bcast_c",
        "add_2in_bcast_hw",
        "mul_2in",
        "mul_2in_bcast_c",
        "sub_2in",
        "sub_2in_bcast_c",
        "squared_difference_2in",
        "squared_difference_2in_bcast",
        "maximum_2in",
        "maximum_2in_bcast",
        "minimum_2in",
        "minimum_2in_bcast",
        "concat_2in_channels",
        "concat_2in_height",
        "concat_2in_width",
        "concat_3in_channels",
        "concat_2in_2d",
    ];
    let dir = goldens();
    for case in cases {
        let bytes = std::fs::read(dir.join(format!("{case}.tflite"))).unwrap();
        let g = read_tflite(&bytes).unwrap();
        assert_eq!(g.ops.len(), 1, "{case}");
        let op = &g.ops[0];
        let out_t = &g.tensors[op.outputs[0]];
        let xs: Vec<Vec<i8>> = (0..g.inputs.len())
            .map(|k| {
                Array::read(&dir.join(format!("{case}_x{k}.npy")))
                    .unwrap()
                    .as_i8()
                    .unwrap()
                    .to_vec()
            })
            .collect();
        let y = Array::read(&dir.join(format!("{case}_y.npy"))).unwrap();
        let y: Vec<i8> = y.data.iter().map(|&b| b as i8).collect();
        // Per-sample extents (the files hold a batch of N along axis 0).
        let per = |t: &Tensor| t.elements();
        let batch = y.len() / per(out_t);
        // The graph inputs in the op's order.
        let ins: Vec<usize> = op.inputs.iter().map(|i| i.unwrap()).collect();
        let input_index = |t: usize| g.inputs.iter().position(|&i| i == t).unwrap();
        let mut got = vec![0i8; y.len()];
        for n in 0..batch {
            let sample = |t: usize| {
                let len = per(&g.tensors[t]);
                &xs[input_index(t)][n * len..][..len]
            };
            let out = &mut got[n * per(out_t)..][..per(out_t)];
            match &op.kind {
                OpKind::Concat { axis, .. } => {
                    let dims: Vec<&[usize]> =
                        ins.iter().map(|&t| &g.tensors[t].shape[..]).collect();
                    let parts = binary::concat_parts(&dims, &out_t.shape, *axis).unwrap();
                    for (p, &t) in parts.iter().zip(&ins) {
                        concat_s8(p, &[], sample(t), out).unwrap();
                    }
                }
                OpKind::Add { activation } | OpKind::Binary { activation, .. } => {
                    let func = match &op.kind {
                        OpKind::Binary { func, .. } => Some(*func),
                        _ => None,
                    };
                    let (a, b) = (&g.tensors[ins[0]], &g.tensors[ins[1]]);
                    let qo = quant_of(out_t);
                    let (lo, hi) = attonet_convert::requantize::activation_range(
                        *activation,
                        qo.scale,
                        qo.zero_point,
                    );
                    let geometry = binary::geometry(&a.shape, &b.shape, &out_t.shape).unwrap();
                    let p = binary::params(
                        func,
                        quant_of(a),
                        quant_of(b),
                        qo,
                        Clamp { min: lo, max: hi },
                        geometry,
                    )
                    .unwrap();
                    binary_s8(&p, sample(ins[0]), sample(ins[1]), out).unwrap();
                }
                other => panic!("{case}: unexpected op {other:?}"),
            }
        }
        let wrong = got.iter().zip(&y).filter(|(a, b)| a != b).count();
        assert_eq!(
            wrong,
            0,
            "{case}: {wrong} of {} bytes differ from TFLM",
            y.len()
        );
    }
}

// ---- An integer reference from TFLM's formulas, written independently ----

fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    ((ab + nudge) / (1i64 << 31)) as i32
}

fn rdbp(x: i32, e: i32) -> i32 {
    let mask = ((1i64 << e) - 1) as i32;
    let rem = x & mask;
    let thr = (mask >> 1) + (x < 0) as i32;
    (x >> e) + (rem > thr) as i32
}

fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let (l, r) = (shift.max(0), (-shift).max(0));
    rdbp(srdhm(x * (1 << l), m), r)
}

fn qm(d: f64) -> (i32, i32) {
    if d == 0.0 {
        return (0, 0);
    }
    let mut e = d.log2().floor() as i32 + 1;
    let mut q = (d / 2f64.powi(e) * 2f64.powi(31)).round() as i64;
    if q == 1 << 31 {
        q /= 2;
        e += 1;
    }
    (q as i32, e)
}

fn sat(v: i32, lo: i32, hi: i32) -> i8 {
    v.clamp(lo, hi) as i8
}

/// TFLM's ADD (`add_common.cc`) or SUB (`sub_common.cc`), clamped to `lo..=hi`.
#[allow(clippy::too_many_arguments)]
fn add_sub(a: i8, b: i8, qa: Quant, qb: Quant, qo: Quant, sub: bool, lo: i32, hi: i32) -> i8 {
    let (m1, m2, mo) = if sub {
        let twice = 2.0f32 * qa.scale.max(qb.scale);
        (
            qm((qa.scale / twice) as f64),
            qm((qb.scale / twice) as f64),
            qm((twice / ((1 << 20) as f32 * qo.scale)) as f64),
        )
    } else {
        let twice = 2.0 * qa.scale.max(qb.scale) as f64;
        (
            qm(qa.scale as f64 / twice),
            qm(qb.scale as f64 / twice),
            qm(twice / ((1 << 20) as f64 * qo.scale as f64)),
        )
    };
    let s1 = mbqm((a as i32 - qa.zero_point) << 20, m1.0, m1.1);
    let s2 = mbqm((b as i32 - qb.zero_point) << 20, m2.0, m2.1);
    let raw = if sub { s1 - s2 } else { s1 + s2 };
    sat(mbqm(raw, mo.0, mo.1) + qo.zero_point, lo, hi)
}

fn mul(a: i8, b: i8, qa: Quant, qb: Quant, qo: Quant) -> i8 {
    let (m, s) = qm(qa.scale as f64 * qb.scale as f64 / qo.scale as f64);
    let raw = (a as i32 - qa.zero_point) * (b as i32 - qb.zero_point);
    sat(mbqm(raw, m, s) + qo.zero_point, -128, 127)
}

fn sq_diff(a: i8, b: i8, qa: Quant, qb: Quant, qo: Quant) -> i8 {
    let twice = 2.0 * qa.scale.max(qb.scale) as f64;
    let (m1, m2) = (qm(qa.scale as f64 / twice), qm(qb.scale as f64 / twice));
    let mo = qm(twice * twice / ((1 << 14) as f64 * qo.scale as f64));
    let s1 = mbqm((a as i32 - qa.zero_point) << 7, m1.0, m1.1);
    let s2 = mbqm((b as i32 - qb.zero_point) << 7, m2.0, m2.1);
    let d = s1 - s2;
    sat(mbqm(d * d, mo.0, mo.1) + qo.zero_point, -128, 127)
}

// ---- Graphs built in the IR ----

struct G {
    g: Graph,
}

impl G {
    fn act(&mut self, name: &str, shape: &[usize], q: Quant) -> usize {
        self.g.tensors.push(Tensor {
            variable: false,
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: Some(Quantization {
                scales: vec![q.scale],
                zero_points: vec![q.zero_point as i64],
                axis: 0,
            }),
            data: None,
        });
        self.g.tensors.len() - 1
    }

    fn constant(&mut self, name: &str, shape: &[usize], q: Quant, data: &[i8]) -> usize {
        let t = self.act(name, shape, q);
        self.g.tensors[t].data = Some(data.iter().map(|&v| v as u8).collect());
        t
    }

    fn op(&mut self, kind: OpKind, inputs: &[usize], output: usize) {
        self.g.ops.push(Op {
            kind,
            inputs: inputs.iter().map(|&i| Some(i)).collect(),
            outputs: vec![output],
        });
    }

    /// Channels `from..from + n` of every pixel (or, with `first_pixel`,
    /// of the first pixel only).
    fn slice(&mut self, x: usize, from: usize, n: usize, first_pixel: bool, y: usize) {
        let [_, h, w, _] = self.g.tensors[x].shape[..] else {
            panic!()
        };
        let (h, w) = if first_pixel { (1, 1) } else { (h, w) };
        self.op(
            OpKind::Move {
                func: MoveFn::Slice {
                    start: vec![0, 0, 0, from],
                    step: vec![1; 4],
                    count: vec![1, h, w, n],
                },
                name: "SLICE",
            },
            &[x],
            y,
        );
    }
}

fn run(g: &Graph, x: &[i8]) -> Vec<i8> {
    let mut program = attonet_convert::lower::lower(g, "t").unwrap();
    attonet_convert::passes::optimize(&mut program);
    let a = attonet_convert::assemble::assemble(program).unwrap();
    let m = a.model();
    m.validate().unwrap();
    let mut arena = vec![0i8; m.arena_bytes as usize];
    let mut y = vec![0i8; m.output.slot.shape.len()];
    m.infer(&mut arena, x, &mut y).unwrap();
    // The fused and unfused plans agree.
    let u = a.unfused().unwrap();
    let mu = u.model();
    let mut arena = vec![0i8; mu.arena_bytes as usize];
    let mut yu = vec![0i8; y.len()];
    mu.infer(&mut arena, x, &mut yu).unwrap();
    assert_eq!(y, yu);
    y
}

fn rng(seed: &mut u64) -> i8 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed >> 24) as i8
}

/// Joins of two computed branches (same shape and broadcast), their
/// concatenation, and constants of every broadcast shape, against the
/// reference.
#[test]
fn in_graph_joins_match_the_integer_reference() {
    let (h, w) = (3usize, 5usize);
    let qx = Quant {
        scale: 0.05,
        zero_point: -3,
    };
    let qm_ = Quant {
        scale: 0.11,
        zero_point: 4,
    };
    let qs = Quant {
        scale: 0.07,
        zero_point: -9,
    };
    let qk = Quant {
        scale: 0.02,
        zero_point: 1,
    };
    let mut b = G {
        g: Graph::default(),
    };
    let x = b.act("x", &[1, h, w, 8], qx);
    b.g.inputs = vec![x];
    let a = b.act("a", &[1, h, w, 4], qx);
    let bb = b.act("b", &[1, h, w, 4], qx);
    let b1 = b.act("b1", &[1, 1, 1, 4], qx);
    b.slice(x, 0, 4, false, a);
    b.slice(x, 4, 4, false, bb);
    b.slice(x, 4, 4, true, b1);
    // Same-shape joins.
    let m = b.act("mul", &[1, h, w, 4], qm_);
    b.op(
        OpKind::Binary {
            func: BinaryFn::Mul,
            activation: Activation::None,
        },
        &[a, bb],
        m,
    );
    let s = b.act("sub", &[1, h, w, 4], qs);
    b.op(
        OpKind::Binary {
            func: BinaryFn::Sub,
            activation: Activation::Relu,
        },
        &[a, bb],
        s,
    );
    let d = b.act("sqd", &[1, h, w, 4], qm_);
    b.op(
        OpKind::Binary {
            func: BinaryFn::SquaredDifference,
            activation: Activation::None,
        },
        &[a, bb],
        d,
    );
    let mx = b.act("max", &[1, h, w, 4], qx);
    b.op(
        OpKind::Binary {
            func: BinaryFn::Maximum,
            activation: Activation::None,
        },
        &[a, b1],
        mx,
    );
    // Broadcast joins: ADD of a computed [1,1,1,4] to a computed [1,h,w,4].
    let ad = b.act("add", &[1, h, w, 4], qs);
    b.op(
        OpKind::Add {
            activation: Activation::None,
        },
        &[b1, a],
        ad,
    );
    // A constant first operand of SUB, broadcast per channel.
    let kc: Vec<i8> = vec![-100, 3, 77, 127];
    let k = b.constant("k", &[4], qk, &kc);
    let ks = b.act("ksub", &[1, h, w, 4], qs);
    b.op(
        OpKind::Binary {
            func: BinaryFn::Sub,
            activation: Activation::None,
        },
        &[k, a],
        ks,
    );
    // Requantize the branches to one quantization for the concatenation (a
    // MUL by a scalar constant 1.0 does exactly that).
    let one = b.constant(
        "one",
        &[],
        Quant {
            scale: 1.0 / 64.0,
            zero_point: 0,
        },
        &[64],
    );
    let qc = Quant {
        scale: 0.09,
        zero_point: 2,
    };
    let mut parts = Vec::new();
    for (k, &t) in [m, s, d, mx, ad, ks].iter().enumerate() {
        let r = b.act(&format!("r{k}"), &[1, h, w, 4], qc);
        b.op(
            OpKind::Binary {
                func: BinaryFn::Mul,
                activation: Activation::None,
            },
            &[t, one],
            r,
        );
        parts.push(r);
    }
    let y = b.act("y", &[1, h, w, 24], qc);
    b.op(
        OpKind::Concat {
            axis: 3,
            activation: Activation::None,
            numerics: attonet_convert::ir::UnaryNumerics::Tflm,
        },
        &parts,
        y,
    );
    b.g.outputs = vec![y];
    let qone = Quant {
        scale: 1.0 / 64.0,
        zero_point: 0,
    };
    let relu_lo = {
        let (lo, _) = attonet_convert::requantize::activation_range(
            Activation::Relu,
            qs.scale,
            qs.zero_point,
        );
        lo as i32
    };
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _ in 0..20 {
        let xv: Vec<i8> = (0..h * w * 8).map(|_| rng(&mut seed)).collect();
        let got = run(&b.g, &xv);
        let mut want = Vec::new();
        for p in 0..h * w {
            let px = &xv[p * 8..][..8];
            let (av, bv, b1v) = (&px[..4], &px[4..], &xv[4..8]);
            let mut branch = [[0i8; 4]; 6];
            for c in 0..4 {
                branch[0][c] = mul(av[c], bv[c], qx, qx, qm_);
                branch[1][c] = add_sub(av[c], bv[c], qx, qx, qs, true, relu_lo, 127);
                branch[2][c] = sq_diff(av[c], bv[c], qx, qx, qm_);
                branch[3][c] = av[c].max(b1v[c]);
                branch[4][c] = add_sub(b1v[c], av[c], qx, qx, qs, false, -128, 127);
                branch[5][c] = add_sub(kc[c], av[c], qk, qx, qs, true, -128, 127);
            }
            let qs_of = [qm_, qs, qm_, qx, qs, qs];
            for (k, br) in branch.iter().enumerate() {
                for &v in br {
                    want.push(mul(v, 64, qs_of[k], qone, qc));
                }
            }
        }
        assert_eq!(got, want);
    }
}

/// An op whose constant operand does not broadcast is refused naming it,
/// and MAXIMUM of differently quantized operands is refused.
#[test]
fn refusals_name_the_operator() {
    let q = Quant {
        scale: 0.1,
        zero_point: 0,
    };
    let mut b = G {
        g: Graph::default(),
    };
    let x = b.act("x", &[1, 2, 2, 4], q);
    b.g.inputs = vec![x];
    let k = b.constant("k", &[3], q, &[1, 2, 3]);
    let y = b.act("y", &[1, 2, 2, 4], q);
    b.op(
        OpKind::Binary {
            func: BinaryFn::Mul,
            activation: Activation::None,
        },
        &[x, k],
        y,
    );
    b.g.outputs = vec![y];
    let e = attonet_convert::lower::lower(&b.g, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("MUL") && e.contains("broadcast"), "{e}");

    let mut b = G {
        g: Graph::default(),
    };
    let x = b.act("x", &[1, 2, 2, 4], q);
    b.g.inputs = vec![x];
    let k = b.constant(
        "k",
        &[],
        Quant {
            scale: 0.2,
            zero_point: 0,
        },
        &[1],
    );
    let y = b.act("y", &[1, 2, 2, 4], q);
    b.op(
        OpKind::Binary {
            func: BinaryFn::Maximum,
            activation: Activation::None,
        },
        &[x, k],
        y,
    );
    b.g.outputs = vec![y];
    let e = attonet_convert::lower::lower(&b.g, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("MAXIMUM") && e.contains("quantization"), "{e}");
}
