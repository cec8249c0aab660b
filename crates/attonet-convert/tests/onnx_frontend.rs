//! The ONNX front end: fixtures exported by PyTorch (tests/onnx, made by
//! make_fixtures.py) against onnxruntime's outputs, QDQ models, NCHW flatten
//! order, synthetic models for each mapping rule and error, and corrupt
//! files (errors, never panics).

use std::path::{Path, PathBuf};

use attonet_convert::float_exec::FloatExecutor;
use attonet_convert::frontend::onnx::read_onnx;
use attonet_convert::ir::{Activation, OpKind, Padding};
use attonet_convert::npy::Array;
use attonet_convert::quantize::{self, FloatModel, Layout, Method, Options};
use attonet_convert::ConvertError;
use attonet_runtime::plan::{i32_values, ElementType};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/onnx")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn f32s(a: &Array) -> Vec<f32> {
    a.as_f32().unwrap()
}

/// Max |a - b|.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Max |a - b| / (1 + |b|).
fn max_rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

fn run_float(model: &FloatModel, inputs: &Array) -> Vec<Vec<f32>> {
    let exec = FloatExecutor::new(&model.graph).unwrap();
    model
        .samples(inputs, "inputs")
        .unwrap()
        .iter()
        .map(|x| model.output_to_model(&exec.run_output(x).unwrap()))
        .collect()
}

/// Runs the int8 plan on float inputs (model layout), dequantized outputs.
fn run_int8(model: &FloatModel, a: &attonet_convert::Assembled, inputs: &Array) -> Vec<Vec<f32>> {
    let m = a.model();
    let mut arena = vec![0i8; m.arena_bytes as usize];
    let mut out = vec![0i8; m.output.slot.shape.len()];
    model
        .samples(inputs, "inputs")
        .unwrap()
        .iter()
        .map(|x| {
            let q = quantize::quantize_values(x, m.input.scale, m.input.zero_point);
            m.infer(&mut arena, &q, &mut out).unwrap();
            model.output_to_model(&quantize::dequantize_values(
                &out,
                m.output.scale,
                m.output.zero_point,
            ))
        })
        .collect()
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn random_batch(n: usize, dims: &[usize], seed: u64) -> Array {
    let mut rng = XorShift(seed);
    let len: usize = dims.iter().product();
    let data: Vec<f32> = (0..n * len).map(|_| rng.uniform()).collect();
    let mut shape = vec![n];
    shape.extend(dims);
    Array::from_f32(shape, &data)
}

// ---------------------------------------------------------------------------
// Fixtures exported by PyTorch.

#[test]
fn small_model_maps_every_op() {
    let m = read_onnx(&read("small.onnx")).unwrap();
    assert_eq!(m.input_dims, [1, 3, 8, 8]);
    assert_eq!(m.outputs[0].dims, [1, 10]);
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "CONV_2D",           // Conv + BatchNormalization (folded) + Relu
            "DEPTHWISE_CONV_2D", // groups 4, 8 outputs: channel multiplier 2, + Clip(0, 6)
            "CONV_2D",           // dilation 2 + Relu
            "AVERAGE_POOL_2D",
            "MAX_POOL_2D",
            "RESHAPE",         // 8x2x2 -> 32, NCHW order
            "FULLY_CONNECTED", // MatMul + Add + Relu
            "FULLY_CONNECTED", // Gemm
        ]
    );
    match &m.graph.ops[1].kind {
        OpKind::DepthwiseConv2d {
            depth_multiplier,
            activation,
            padding,
            ..
        } => {
            assert_eq!(
                (*depth_multiplier, *activation, *padding),
                (2, Activation::Relu6, Padding::Same)
            );
        }
        other => panic!("{other:?}"),
    }
    match &m.graph.ops[2].kind {
        OpKind::Conv2d {
            dilation_h,
            activation,
            ..
        } => assert_eq!((*dilation_h, *activation), (2, Activation::Relu)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        m.graph.ops[6].kind,
        OpKind::FullyConnected {
            activation: Activation::Relu,
            ..
        }
    ));
    // The MatMul's bias (the Add) joined the FULLY_CONNECTED.
    assert!(m.graph.ops[6].inputs[2].is_some());
}

/// The float executor reproduces onnxruntime on the PyTorch export: BatchNorm
/// folding, depthwise with multiplier 2, dilation, pools, and the flatten of an
/// 8x2x2 map in NCHW order before a MatMul.
#[test]
fn small_float_matches_onnxruntime() {
    let m = read_onnx(&read("small.onnx")).unwrap();
    let inputs = Array::read(&fixture("small_in.npy")).unwrap();
    let expected = f32s(&Array::read(&fixture("small_out.npy")).unwrap());
    let ours: Vec<f32> = run_float(&m, &inputs).concat();
    let err = max_rel_err(&ours, &expected);
    assert!(err < 1e-4, "max relative error {err}");
}

/// Skipping the column permutation after the flatten must be visible: the
/// test above would catch a wrong NCHW/NHWC order.
#[test]
fn flatten_order_matters_for_the_small_model() {
    let mut m = read_onnx(&read("small.onnx")).unwrap();
    // Undo the permutation: reorder the first FC's weight columns as if the
    // flattened order were HWC = CHW.
    let fc = m
        .graph
        .ops
        .iter()
        .position(|o| matches!(o.kind, OpKind::FullyConnected { .. }))
        .unwrap();
    let wid = m.graph.ops[fc].inputs[1].unwrap();
    let t = &mut m.graph.tensors[wid];
    let (out_f, in_f) = (t.shape[0], t.shape[1]);
    let w: Vec<f32> = t
        .data
        .as_ref()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (c, hw) = (8, 4);
    let mut wrong = vec![0f32; w.len()];
    for o in 0..out_f {
        for j in 0..in_f {
            // graph column j = (pixel, channel) = (j / c, j % c) held ONNX column ch*hw + pix
            let onnx = (j % c) * hw + j / c;
            wrong[o * in_f + onnx] = w[o * in_f + j];
        }
    }
    t.data = Some(wrong.iter().flat_map(|v| v.to_le_bytes()).collect());
    let inputs = Array::read(&fixture("small_in.npy")).unwrap();
    let expected = f32s(&Array::read(&fixture("small_out.npy")).unwrap());
    let ours: Vec<f32> = run_float(&m, &inputs).concat();
    assert!(max_rel_err(&ours, &expected) > 1e-2);
}

#[test]
fn small_int8_tracks_float() {
    let m = read_onnx(&read("small.onnx")).unwrap();
    let calib = m
        .samples(&random_batch(64, &[1, 3, 8, 8], 7), "calib")
        .unwrap();
    let inputs = Array::read(&fixture("small_in.npy")).unwrap();
    let float = run_float(&m, &inputs).concat();
    for method in [Method::MinMax, Method::Percentile(0.9999), Method::Mse] {
        let q = quantize::quantize_and_assemble(
            &m,
            &calib,
            &Options {
                method,
                ..Options::default()
            },
            "small",
        )
        .unwrap();
        let int8 = run_int8(&m, &q.assembled, &inputs).concat();
        let (s, n): (f64, f64) = float.iter().zip(&int8).fold((0.0, 0.0), |(s, n), (a, b)| {
            (s + (*a as f64).powi(2), n + (*a as f64 - *b as f64).powi(2))
        });
        let sqnr = 10.0 * (s / n).log10();
        assert!(sqnr > 20.0, "{method}: output SQNR {sqnr:.1} dB");
        // The per-layer report covers every step.
        let rows = quantize::sqnr::layer_sqnr(&m.graph, &q.assembled, &calib[..8]).unwrap();
        assert!(rows.len() >= 6, "{rows:?}");
        assert!(rows.iter().all(|r| r.sqnr_db > 15.0), "{method}: {rows:?}");
    }
}

/// onnxruntime's QDQ model: every activation's scale and zero point comes
/// from the file, so it converts without calibration, and the int8 plan
/// agrees with onnxruntime's QDQ execution to a few quantization steps.
#[test]
fn small_qdq_uses_the_model_scales() {
    let bytes = read("small_qdq.onnx");
    let m = read_onnx(&bytes).unwrap();
    // The input carries the QuantizeLinear's parameters.
    let input = &m.graph.tensors[m.graph.inputs[0]];
    let q_in = input
        .quant
        .clone()
        .expect("input quantization from the QDQ pair");
    // Weights stay int8 with their per-channel scales.
    let conv_w = &m.graph.tensors[m.graph.ops[0].inputs[1].unwrap()];
    assert_eq!(
        conv_w.dtype,
        attonet_convert::ir::DType::F32,
        "BN folding dequantizes the first conv"
    );
    let dw = &m.graph.tensors[m.graph.ops[1].inputs[1].unwrap()];
    assert_eq!(dw.dtype, attonet_convert::ir::DType::I8);
    assert_eq!(dw.quant.as_ref().unwrap().scales.len(), 8);
    assert_eq!(dw.quant.as_ref().unwrap().axis, 3);
    // No calibration needed: the generic entry point converts it.
    let a = attonet_convert::assemble_bytes(&bytes, "small_qdq").unwrap();
    let model = a.model();
    assert_eq!(
        (model.input.scale, model.input.zero_point as i64),
        (q_in.scales[0], q_in.zero_points[0])
    );
    let inputs = Array::read(&fixture("small_in.npy")).unwrap();
    let expected = f32s(&Array::read(&fixture("small_qdq_out.npy")).unwrap());
    let ours = run_int8(&m, &a, &inputs).concat();
    let step = model.output.scale;
    let worst = max_abs_diff(&ours, &expected);
    assert!(
        worst <= 4.0 * step,
        "worst difference {worst} = {} output steps",
        worst / step
    );
}

// ---------------------------------------------------------------------------
// 1-D feature maps (NCL): a PyTorch Conv1d network (tests/onnx/make_fixtures.py
// conv1d), kept as NCHW with H = 1.

/// Every 1-D layer maps onto the 2-D op with a 1-row window: Conv1d (with
/// BatchNorm1d folded, strided, depthwise, dilated), MaxPool1d, AvgPool1d,
/// the per-channel bias, the global average; and the float executor
/// reproduces onnxruntime on it.
#[test]
fn conv1d_float_matches_onnxruntime() {
    let m = read_onnx(&read("conv1d.onnx")).unwrap();
    assert_eq!(m.input_dims, [1, 8, 64]);
    assert_eq!(m.outputs[0].dims, [1, 6]);
    assert_eq!(m.graph.tensors[m.graph.inputs[0]].shape, [1, 1, 64, 8]);
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "CONV_2D",           // Conv1d + BatchNorm1d (folded) + Relu
            "CONV_2D",           // stride 2 + Relu
            "DEPTHWISE_CONV_2D", // groups 16 + Relu
            "CONV_2D",           // dilation 2
            "CONV_2D",           // the gate's 1x1
            "LOGISTIC",
            "MUL",
            "ADD", // the [24, 1] bias: an activation's producer is not a conv here
            "MAX_POOL_2D",
            "PAD", // AvgPool1d(3, 2, padding 1) counts the padding (PyTorch's default)
            "AVERAGE_POOL_2D",
            "AVERAGE_POOL_2D", // global
            "RESHAPE",
            "FULLY_CONNECTED",
            "SOFTMAX",
        ]
    );
    match &m.graph.ops[1].kind {
        OpKind::Conv2d {
            stride_h, stride_w, ..
        } => assert_eq!((*stride_h, *stride_w), (1, 2)),
        other => panic!("{other:?}"),
    }
    match &m.graph.ops[3].kind {
        OpKind::Conv2d {
            dilation_h,
            dilation_w,
            ..
        } => assert_eq!((*dilation_h, *dilation_w), (1, 2)),
        other => panic!("{other:?}"),
    }
    let inputs = Array::read(&fixture("conv1d_in.npy")).unwrap();
    let expected = f32s(&Array::read(&fixture("conv1d_out.npy")).unwrap());
    let ours: Vec<f32> = run_float(&m, &inputs).concat();
    let err = max_rel_err(&ours, &expected);
    assert!(err < 1e-5, "max relative error {err}");
}

/// The same network in int8 (calibrated here) stays near the float one, and
/// onnxruntime's QDQ form converts with its own scales and agrees with
/// onnxruntime's QDQ execution to a few output steps.
#[test]
fn conv1d_int8_tracks_float_and_qdq() {
    let m = read_onnx(&read("conv1d.onnx")).unwrap();
    let calib = m
        .samples(&random_batch(64, &[1, 8, 64], 11), "calib")
        .unwrap();
    let inputs = Array::read(&fixture("conv1d_in.npy")).unwrap();
    let float = run_float(&m, &inputs).concat();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "conv1d").unwrap();
    let int8 = run_int8(&m, &q.assembled, &inputs).concat();
    let worst = max_abs_diff(&float, &int8);
    assert!(worst < 0.02, "worst probability error {worst}");

    let bytes = read("conv1d_qdq.onnx");
    let mq = read_onnx(&bytes).unwrap();
    let a = attonet_convert::assemble_bytes(&bytes, "conv1d_qdq").unwrap();
    let expected = f32s(&Array::read(&fixture("conv1d_qdq_out.npy")).unwrap());
    let ours = run_int8(&mq, &a, &inputs).concat();
    let step = a.model().output.scale;
    let worst = max_abs_diff(&ours, &expected);
    assert!(
        worst <= 4.0 * step,
        "worst difference {worst} = {} output steps",
        worst / step
    );
}

/// A sequence given as `[1, L, C]` and transposed to channels first before
/// a Conv1d (as sequence models do) becomes an NCL map: the same outputs as
/// the model that takes `[1, C, L]` directly, in float and in int8.
#[test]
fn transposed_sequence_feeds_a_conv1d() {
    let w = tensor("w", &[4, 3, 3], &ramp(36, 0.07));
    let direct = model(
        &[node("Conv", "c", &["x", "w"], &["y"], &[])],
        std::slice::from_ref(&w),
        ("x", &[1, 3, 10]),
        ("y", &[1, 4, 8]),
    );
    let transposed = model(
        &[
            node(
                "Transpose",
                "t",
                &["x"],
                &["xt"],
                &[attr_ints("perm", &[0, 2, 1])],
            ),
            node("Conv", "c", &["xt", "w"], &["y"], &[]),
        ],
        &[w],
        ("x", &[1, 10, 3]),
        ("y", &[1, 4, 8]),
    );
    let a = read_onnx(&direct).unwrap();
    let b = read_onnx(&transposed).unwrap();
    let ncl = random_batch(16, &[1, 3, 10], 41);
    let x = f32s(&ncl);
    let nlc: Vec<f32> = x
        .chunks_exact(30)
        .flat_map(|s| (0..30).map(move |i| s[(i % 3) * 10 + i / 3]))
        .collect();
    let nlc = Array::from_f32(vec![16, 1, 10, 3], &nlc);
    let (fa, fb) = (run_float(&a, &ncl).concat(), run_float(&b, &nlc).concat());
    assert!(max_abs_diff(&fa, &fb) < 1e-6);
    let qa = quantize::quantize_and_assemble(
        &a,
        &a.samples(&ncl, "c").unwrap(),
        &Options::default(),
        "a",
    )
    .unwrap();
    let qb = quantize::quantize_and_assemble(
        &b,
        &b.samples(&nlc, "c").unwrap(),
        &Options::default(),
        "b",
    )
    .unwrap();
    let (ia, ib) = (
        run_int8(&a, &qa.assembled, &ncl).concat(),
        run_int8(&b, &qb.assembled, &nlc).concat(),
    );
    assert_eq!(ia, ib);
}

/// What 1-D maps do not support yet is refused by name: a window attribute
/// with two values, a transpose to NLC; and a [1, C, L] input that feeds no
/// window stays a matrix.
#[test]
fn conv1d_refusals_are_named() {
    let conv = |attrs: &[Msg]| {
        model(
            &[node("Conv", "c", &["x", "w"], &["y"], attrs)],
            &[tensor("w", &[4, 2, 3], &ramp(24, 0.05))],
            ("x", &[1, 2, 16]),
            ("y", &[1, 4, 14]),
        )
    };
    read_onnx(&conv(&[])).unwrap();
    let e = read_onnx(&conv(&[attr_ints("strides", &[1, 2])])).unwrap_err();
    assert!(e.to_string().contains("strides"), "{e}");
    let e = read_onnx(&conv(&[attr_ints("pads", &[1, 1, 1, 1])])).unwrap_err();
    assert!(e.to_string().contains("pads"), "{e}");
    let bytes = model(
        &[
            node("Conv", "c", &["x", "w"], &["y"], &[]),
            node(
                "Transpose",
                "t",
                &["y"],
                &["z"],
                &[attr_ints("perm", &[0, 2, 1])],
            ),
        ],
        &[tensor("w", &[4, 2, 3], &ramp(24, 0.05))],
        ("x", &[1, 2, 16]),
        ("z", &[1, 14, 4]),
    );
    let e = read_onnx(&bytes).unwrap_err();
    assert!(e.to_string().contains("Transpose"), "{e}");
    let bytes = model(
        &[node("Relu", "r", &["x"], &["y"], &[])],
        &[],
        ("x", &[1, 3, 5]),
        ("y", &[1, 3, 5]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.graph.tensors[m.graph.inputs[0]].shape, [1, 3, 5]);
}

// ---------------------------------------------------------------------------
// Reshapes the NHWC graph cannot follow (tests/onnx/make_fixtures.py shuffle).

/// ShuffleNet's channel shuffle (view to [1, 3, 4, 6, 6], transpose, view
/// back) runs as gathers in ONNX order (to ONNX order, the transpose, back to
/// NHWC for the next convolution), and a map read as a sequence ([1, 36, 12]
/// by flatten(2) and a transpose) feeds a Linear applied to every row: the
/// float executor reproduces onnxruntime, and the int8 plan tracks it.
#[test]
fn channel_shuffle_and_sequences_match_onnxruntime() {
    let m = read_onnx(&read("shuffle.onnx")).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "CONV_2D",         // groups 2 + Relu
            "TRANSPOSE",       // NHWC -> ONNX order
            "RESHAPE",         // [1, 3, 4, 6, 6]
            "TRANSPOSE",       // the shuffle
            "RESHAPE",         // [1, 12, 6, 6], ONNX order
            "TRANSPOSE",       // back to NHWC for the convolution
            "CONV_2D",         // groups 3 + Relu
            "TRANSPOSE",       // NHWC -> ONNX order
            "RESHAPE",         // flatten(2): [1, 12, 36]
            "TRANSPOSE",       // [1, 36, 12]
            "FULLY_CONNECTED", // per row, + bias + Relu
            "RESHAPE",         // flatten(1)
            "FULLY_CONNECTED", // Gemm
            "SOFTMAX",
        ]
    );
    let inputs = Array::read(&fixture("shuffle_in.npy")).unwrap();
    let expected = f32s(&Array::read(&fixture("shuffle_out.npy")).unwrap());
    let ours: Vec<f32> = run_float(&m, &inputs).concat();
    let err = max_rel_err(&ours, &expected);
    assert!(err < 1e-5, "max relative error {err}");
    let calib = m
        .samples(&random_batch(64, &[1, 4, 6, 6], 5), "calib")
        .unwrap();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "shuffle").unwrap();
    let int8 = run_int8(&m, &q.assembled, &inputs).concat();
    let worst = max_abs_diff(&ours, &int8);
    assert!(worst < 0.03, "worst probability error {worst}");
}

/// Softmax over the last axis of an NCHW map (W) runs over the rows of the
/// map in ONNX order; Squeeze and Unsqueeze of activations are reshapes; both
/// against a computation by hand, in float and in int8.
#[test]
fn last_axis_softmax_and_squeezes_track_the_reference() {
    let softmax = |v: &[f32]| -> Vec<f32> {
        let m = v.iter().copied().fold(f32::MIN, f32::max);
        let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    };
    let batch = random_batch(32, &[1, 3, 4, 5], 23);
    let data = f32s(&batch);
    let last = model(
        &[node(
            "Softmax",
            "s",
            &["x"],
            &["y"],
            &[attr_int("axis", -1)],
        )],
        &[],
        ("x", &[1, 3, 4, 5]),
        ("y", &[1, 3, 4, 5]),
    );
    let squeezed = model(
        &[
            node("GlobalAveragePool", "g", &["x"], &["p"], &[]),
            node("Squeeze", "s", &["p", "sq"], &["q"], &[]),
            node("Unsqueeze", "u", &["q", "uq"], &["r"], &[]),
            node("Softmax", "m", &["r"], &["y"], &[attr_int("axis", -1)]),
        ],
        &[
            int64_tensor("sq", &[2], &[2, 3]),
            int64_tensor("uq", &[1], &[1]),
        ],
        ("x", &[1, 3, 4, 5]),
        ("y", &[1, 1, 3]),
    );
    let want_last: Vec<f32> = data.chunks_exact(5).flat_map(softmax).collect();
    let want_squeezed: Vec<f32> = data
        .chunks_exact(60)
        .flat_map(|x| {
            let means: Vec<f32> = x
                .chunks_exact(20)
                .map(|c| c.iter().sum::<f32>() / 20.0)
                .collect();
            softmax(&means)
        })
        .collect();
    for (bytes, want) in [(last, want_last), (squeezed, want_squeezed)] {
        let m = read_onnx(&bytes).unwrap();
        let float = run_float(&m, &batch).concat();
        assert!(
            max_rel_err(&float, &want) < 1e-5,
            "float: {:?}",
            m.graph.ops
        );
        let calib = m.samples(&batch, "calib").unwrap();
        let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "s").unwrap();
        let int8 = run_int8(&m, &q.assembled, &batch).concat();
        let worst = max_abs_diff(&int8, &want);
        assert!(worst < 0.03, "int8 worst {worst}: {:?}", m.graph.ops);
    }
}

/// A Linear without bias as old PyTorch exports write it, `MatMul(x,
/// Transpose(W))`: the transpose of the constant is folded, and the product
/// is the dense layer computed by hand.
#[test]
fn transposed_constant_weights_are_folded() {
    let w = ramp(24, 0.09);
    let bytes = model(
        &[
            node("Transpose", "t", &["W"], &["Wt"], &[]),
            node("MatMul", "m", &["x", "Wt"], &["y"], &[]),
        ],
        &[tensor("W", &[4, 6], &w)],
        ("x", &[1, 6]),
        ("y", &[1, 4]),
    );
    let m = read_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(kinds, ["FULLY_CONNECTED"]);
    let batch = random_batch(8, &[1, 6], 43);
    let x = f32s(&batch);
    let want: Vec<f32> = x
        .chunks_exact(6)
        .flat_map(|x| {
            let w = &w;
            (0..4).map(move |o| (0..6).map(|j| x[j] * w[o * 6 + j]).sum::<f32>())
        })
        .collect();
    let float = run_float(&m, &batch).concat();
    assert!(max_rel_err(&float, &want) < 1e-6, "{float:?} {want:?}");
}

/// A flattened map as the model's output leaves in ONNX's C x H x W order
/// (the plan keeps H x W x C; one gather reorders it), in float and int8.
#[test]
fn flattened_output_keeps_the_onnx_order() {
    let bytes = model(
        &[
            node("Relu", "r", &["x"], &["y"], &[]),
            node("Flatten", "f", &["y"], &["z"], &[]),
        ],
        &[],
        ("x", &[1, 2, 3, 3]),
        ("z", &[1, 18]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.outputs[0].dims, [1, 18]);
    let batch = random_batch(16, &[1, 2, 3, 3], 31);
    let want: Vec<f32> = f32s(&batch).iter().map(|v| v.max(0.0)).collect();
    let float = run_float(&m, &batch).concat();
    assert!(max_rel_err(&float, &want) < 1e-6);
    let calib = m.samples(&batch, "calib").unwrap();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "f").unwrap();
    let int8 = run_int8(&m, &q.assembled, &batch).concat();
    let model = q.assembled.model();
    // Half an input step (the input's quantization) and half an output step.
    let tol = 0.5 * (model.input.scale + model.output.scale) + 1e-6;
    for (a, b) in int8.iter().zip(&want) {
        assert!((a - b).abs() <= tol, "{a} {b}");
    }
}

/// A graph with two outputs (a feature map that later nodes also read, and
/// the scores computed from it) reads, quantizes and plans with both: each
/// output keeps its own dims and layout (the map in NCHW order), in float
/// and in int8; an output named twice or an output that is the input are
/// refused by name.
#[test]
fn several_outputs_each_leave_in_their_own_layout() {
    let w = ramp(3 * 32, 0.05);
    let b = [0.1f32, -0.2, 0.3];
    let nodes = [
        node("Relu", "r", &["x"], &["y"], &[]),
        node("Flatten", "f", &["y"], &["z"], &[]),
        node(
            "Gemm",
            "fc",
            &["z", "w", "b"],
            &["s"],
            &[attr_int("transB", 1)],
        ),
    ];
    let inits = [tensor("w", &[3, 32], &w), tensor("b", &[3], &b)];
    let bytes = model_with_outputs(
        13,
        &nodes,
        &inits,
        ("x", &[1, 2, 4, 4]),
        &[("y", &[1, 2, 4, 4]), ("s", &[1, 3])],
    );
    let m = read_onnx(&bytes).unwrap();
    let shapes: Vec<(&str, &[usize], Layout)> = m
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.dims.as_slice(), o.layout))
        .collect();
    assert_eq!(
        shapes,
        [
            ("y", &[1, 2, 4, 4][..], Layout::Nchw),
            ("s", &[1, 3][..], Layout::Same)
        ]
    );
    let batch = random_batch(16, &[1, 2, 4, 4], 5);
    let x = f32s(&batch);
    // In the model's own (NCHW) order: the map, and the scores of its
    // C x H x W flattening.
    let want_y: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    let (w, b) = (&w, &b);
    let want_s: Vec<f32> = want_y
        .chunks_exact(32)
        .flat_map(|y| {
            (0..3).map(move |o| b[o] + (0..32).map(|j| y[j] * w[o * 32 + j]).sum::<f32>())
        })
        .collect();
    let exec = FloatExecutor::new(&m.graph).unwrap();
    let samples = m.samples(&batch, "inputs").unwrap();
    let (mut float_y, mut float_s) = (Vec::new(), Vec::new());
    for x in &samples {
        let outs = exec.run_outputs(x).unwrap();
        float_y.extend(m.outputs[0].to_model(&outs[0]));
        float_s.extend(m.outputs[1].to_model(&outs[1]));
    }
    assert!(max_rel_err(&float_y, &want_y) < 1e-6);
    assert!(max_rel_err(&float_s, &want_s) < 1e-5);
    // int8: the plan has both outputs, each with its own quantization.
    let q = quantize::quantize_and_assemble(&m, &samples, &Options::default(), "two").unwrap();
    let plan = q.assembled.model();
    // The plan's outputs are the graph's (NHWC) tensors.
    let dims: Vec<&[u16]> = plan.outputs.iter().map(|io| io.dims.as_slice()).collect();
    assert_eq!(dims, [&[1, 4, 4, 2][..], &[1, 3][..]]);
    let mut arena = vec![0i8; plan.arena_bytes as usize];
    let (mut qy, mut qs) = (vec![0i8; 32], vec![0i8; 3]);
    for (i, x) in samples.iter().enumerate() {
        let q = quantize::quantize_values(x, plan.input.scale, plan.input.zero_point);
        plan.infer_multi(&mut arena, &[&q], &mut [&mut qy, &mut qs])
            .unwrap();
        let (oy, os) = (&plan.outputs[0], &plan.outputs[1]);
        let y = m.outputs[0].to_model(&quantize::dequantize_values(&qy, oy.scale, oy.zero_point));
        let s = m.outputs[1].to_model(&quantize::dequantize_values(&qs, os.scale, os.zero_point));
        // The map: half an input step and half an output step.
        let tol = 0.5 * (plan.input.scale + oy.scale) + 1e-6;
        for (a, b) in y.iter().zip(&want_y[i * 32..(i + 1) * 32]) {
            assert!((a - b).abs() <= tol, "map, sample {i}: {a} {b}");
        }
        // The scores: a few output steps (the map's and the weights' rounding).
        for (a, b) in s.iter().zip(&want_s[i * 3..(i + 1) * 3]) {
            assert!(
                (a - b).abs() <= 4.0 * os.scale,
                "scores, sample {i}: {a} {b}"
            );
        }
    }
    // Refused by name.
    let twice = model_with_outputs(
        13,
        &nodes,
        &inits,
        ("x", &[1, 2, 4, 4]),
        &[("s", &[1, 3]), ("s", &[1, 3])],
    );
    let e = read_onnx(&twice).unwrap_err().to_string();
    assert!(e.contains("'s' is listed twice"), "{e}");
    let input_out = model_with_outputs(
        13,
        &nodes,
        &inits,
        ("x", &[1, 2, 4, 4]),
        &[("s", &[1, 3]), ("x", &[1, 2, 4, 4])],
    );
    let e = read_onnx(&input_out).unwrap_err().to_string();
    assert!(e.contains("'x' is the graph input"), "{e}");
}

/// ArgMax / ArgMin leave int32 indices (ONNX's int64 values) in the model's
/// own order: over the class axis of scores, and over C (keepdims) and H
/// of an NCHW map (put in ONNX order first). Each model also outputs what
/// it takes the arg of, so the int8 plan's indices are checked exactly:
/// they are the first arg of its own dequantized int8 values, and the float
/// executor's are the float values' arg. A node reading the indices and
/// `select_last_index = 1` are refused by name.
#[test]
fn arg_max_and_min_give_indices_in_onnx_order() {
    // (op, axis, keepdims, ONNX input dims, indices' dims).
    type Case<'a> = (&'a str, i64, i64, &'a [i64], &'a [usize]);
    let cases: [Case; 4] = [
        ("ArgMax", 1, 0, &[1, 6], &[1]),
        ("ArgMax", 1, 1, &[1, 3, 4, 5], &[1, 1, 4, 5]),
        ("ArgMin", 2, 0, &[1, 3, 4, 5], &[1, 3, 5]),
        ("ArgMax", -1, 1, &[1, 3, 4, 5], &[1, 3, 4, 1]),
    ];
    for (op, axis, keepdims, dims, want_dims) in cases {
        let label = format!("{op} axis {axis} keepdims {keepdims} of {dims:?}");
        let nodes = [
            node("Relu", "r", &["x"], &["y"], &[]),
            node(
                op,
                "arg",
                &["y"],
                &["i"],
                &[attr_int("axis", axis), attr_int("keepdims", keepdims)],
            ),
        ];
        let bytes = model_with_outputs(13, &nodes, &[], ("x", dims), &[("y", dims), ("i", &[])]);
        let m = read_onnx(&bytes).unwrap();
        assert_eq!(m.outputs[1].dims, want_dims, "{label}");
        let udims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let rank = udims.len();
        let a = axis.rem_euclid(rank as i64) as usize;
        let (outer, r, inner) = (
            udims[..a].iter().product::<usize>(),
            udims[a],
            udims[a + 1..].iter().product::<usize>(),
        );
        // The first arg along the axis of values in ONNX order.
        let arg = |v: &[f32]| -> Vec<f32> {
            let mut out = Vec::new();
            for o in 0..outer {
                for k in 0..inner {
                    let at = |j: usize| v[(o * r + j) * inner + k];
                    let mut best = 0;
                    for j in 1..r {
                        let better = if op == "ArgMax" {
                            at(j) > at(best)
                        } else {
                            at(j) < at(best)
                        };
                        if better {
                            best = j;
                        }
                    }
                    out.push(best as f32);
                }
            }
            out
        };
        let batch = random_batch(12, &udims, 17);
        let samples = m.samples(&batch, "inputs").unwrap();
        let exec = FloatExecutor::new(&m.graph).unwrap();
        for x in &samples {
            let outs = exec.run_outputs(x).unwrap();
            let y = m.outputs[0].to_model(&outs[0]);
            assert_eq!(m.outputs[1].to_model(&outs[1]), arg(&y), "float {label}");
        }
        let q = quantize::quantize_and_assemble(&m, &samples, &Options::default(), "arg").unwrap();
        let plan = q.assembled.model();
        assert_eq!(plan.outputs[1].dtype, ElementType::Int32, "{label}");
        let mut arena = vec![0i8; plan.arena_bytes as usize];
        let mut qy = vec![0i8; plan.outputs[0].len()];
        let mut qi = vec![0i8; plan.outputs[1].len()];
        for x in &samples {
            let q = quantize::quantize_values(x, plan.input.scale, plan.input.zero_point);
            plan.infer_multi(&mut arena, &[&q], &mut [&mut qy, &mut qi])
                .unwrap();
            let oy = &plan.outputs[0];
            let y =
                m.outputs[0].to_model(&quantize::dequantize_values(&qy, oy.scale, oy.zero_point));
            let indices: Vec<f32> = i32_values(&qi).map(|v| v as f32).collect();
            assert_eq!(m.outputs[1].to_model(&indices), arg(&y), "int8 {label}");
        }
    }
    // Refused by name: a node reading the indices, the last index on ties.
    let nodes = [
        node("ArgMax", "arg", &["x"], &["i"], &[attr_int("axis", 1)]),
        node("Relu", "r", &["i"], &["y"], &[]),
    ];
    let bytes = model(&nodes, &[], ("x", &[1, 6]), ("y", &[1, 1]));
    let e = read_onnx(&bytes).unwrap_err().to_string();
    assert!(e.contains("int32 indices of an ArgMax"), "{e}");
    let nodes = [node(
        "ArgMax",
        "arg",
        &["x"],
        &["i"],
        &[attr_int("axis", 1), attr_int("select_last_index", 1)],
    )];
    let bytes = model(&nodes, &[], ("x", &[1, 6]), ("i", &[1, 1]));
    let e = read_onnx(&bytes).unwrap_err().to_string();
    assert!(e.contains("select_last_index"), "{e}");
}

#[test]
fn cifar_float_matches_onnxruntime() {
    let m = read_onnx(&read("cifar_resnet.onnx")).unwrap();
    assert_eq!(m.input_dims, [1, 3, 32, 32]);
    let images = Array::read(&fixture("cifar_resnet_in.npy")).unwrap();
    let inputs = nchw_unit(&images.data, 16);
    let expected = f32s(&Array::read(&fixture("cifar_resnet_out.npy")).unwrap());
    let ours = run_float(&m, &inputs).concat();
    let err = max_rel_err(&ours, &expected);
    assert!(err < 1e-4, "max relative error {err}");
}

/// Raw uint8 pixels are taken wherever float samples are (calibration files,
/// `attonet run` batches): as their values, so a uint8 batch gives exactly
/// the samples of the float32 batch holding the same numbers; other integer
/// types are refused by name.
#[test]
fn uint8_samples_are_their_values() {
    let m = read_onnx(&read("cifar_resnet.onnx")).unwrap();
    let images = Array::read(&fixture("cifar_resnet_in.npy")).unwrap();
    let n = 4;
    let mut raw = vec![0u8; n * 3072];
    for i in 0..n {
        for p in 0..1024 {
            for c in 0..3 {
                raw[i * 3072 + c * 1024 + p] = images.data[i * 3072 + p * 3 + c];
            }
        }
    }
    let as_u8 = Array {
        dtype: attonet_convert::npy::NpyType::U8,
        shape: vec![n, 3, 32, 32],
        data: raw.clone(),
    };
    let values: Vec<f32> = raw.iter().map(|&v| f32::from(v)).collect();
    let as_f32 = Array::from_f32(vec![n, 3, 32, 32], &values);
    let a = m.samples(&as_u8, "u8").unwrap();
    assert_eq!(a, m.samples(&as_f32, "f32").unwrap());
    assert!(
        a[0].iter().any(|&v| v > 200.0),
        "pixels keep their values, not /255"
    );
    let as_i32 = Array {
        dtype: attonet_convert::npy::NpyType::I32,
        shape: vec![1, 3, 32, 32],
        data: vec![0; 4 * 3072],
    };
    let e = m.samples(&as_i32, "batch.npy").unwrap_err().to_string();
    assert!(e.contains("batch.npy") && e.contains("uint8"), "{e}");
}

/// uint8 HWC images -> float32 NCHW `pixel / 255` (the CIFAR fixture's input).
pub fn nchw_unit(hwc: &[u8], n: usize) -> Array {
    let mut out = vec![0f32; n * 3072];
    for i in 0..n {
        for y in 0..32 {
            for x in 0..32 {
                for c in 0..3 {
                    out[i * 3072 + c * 1024 + y * 32 + x] =
                        hwc[i * 3072 + (y * 32 + x) * 3 + c] as f32 / 255.0;
                }
            }
        }
    }
    Array::from_f32(vec![n, 3, 32, 32], &out)
}

// ---------------------------------------------------------------------------
// Synthetic models: a minimal protobuf writer.

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[derive(Default, Clone)]
struct Msg(Vec<u8>);

impl Msg {
    fn int(mut self, field: u32, v: i64) -> Msg {
        varint((field as u64) << 3, &mut self.0);
        varint(v as u64, &mut self.0);
        self
    }
    fn float(mut self, field: u32, v: f32) -> Msg {
        varint(((field as u64) << 3) | 5, &mut self.0);
        self.0.extend(v.to_le_bytes());
        self
    }
    fn bytes(mut self, field: u32, b: &[u8]) -> Msg {
        varint(((field as u64) << 3) | 2, &mut self.0);
        varint(b.len() as u64, &mut self.0);
        self.0.extend(b);
        self
    }
    fn str(self, field: u32, s: &str) -> Msg {
        self.bytes(field, s.as_bytes())
    }
    fn msg(self, field: u32, m: &Msg) -> Msg {
        self.bytes(field, &m.0)
    }
}

fn tensor(name: &str, dims: &[i64], data: &[f32]) -> Msg {
    let mut m = Msg::default();
    for &d in dims {
        m = m.int(1, d);
    }
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    m.int(2, 1).str(8, name).bytes(9, &raw)
}

fn int64_tensor(name: &str, dims: &[i64], data: &[i64]) -> Msg {
    let mut m = Msg::default();
    for &d in dims {
        m = m.int(1, d);
    }
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    m.int(2, 7).str(8, name).bytes(9, &raw)
}

fn attr_ints(name: &str, v: &[i64]) -> Msg {
    let mut m = Msg::default().str(1, name).int(20, 7);
    for &x in v {
        m = m.int(8, x);
    }
    m
}

fn attr_int(name: &str, v: i64) -> Msg {
    Msg::default().str(1, name).int(20, 2).int(3, v)
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[Msg]) -> Msg {
    let mut m = Msg::default();
    for i in inputs {
        m = m.str(1, i);
    }
    for o in outputs {
        m = m.str(2, o);
    }
    m = m.str(3, name).str(4, op);
    for a in attrs {
        m = m.msg(5, a);
    }
    m
}

fn value_info(name: &str, dims: &[i64]) -> Msg {
    let mut shape = Msg::default();
    for &d in dims {
        shape = shape.msg(1, &Msg::default().int(1, d));
    }
    let tt = Msg::default().int(1, 1).msg(2, &shape);
    Msg::default()
        .str(1, name)
        .msg(2, &Msg::default().msg(1, &tt))
}

fn model(nodes: &[Msg], inits: &[Msg], input: (&str, &[i64]), output: (&str, &[i64])) -> Vec<u8> {
    model_at_opset(13, nodes, inits, input, output)
}

fn model_at_opset(
    opset: i64,
    nodes: &[Msg],
    inits: &[Msg],
    input: (&str, &[i64]),
    output: (&str, &[i64]),
) -> Vec<u8> {
    model_with_outputs(opset, nodes, inits, input, &[output])
}

fn model_with_outputs(
    opset: i64,
    nodes: &[Msg],
    inits: &[Msg],
    input: (&str, &[i64]),
    outputs: &[(&str, &[i64])],
) -> Vec<u8> {
    let mut g = Msg::default();
    for n in nodes {
        g = g.msg(1, n);
    }
    g = g.str(2, "g");
    for t in inits {
        g = g.msg(5, t);
    }
    g = g.msg(11, &value_info(input.0, input.1));
    for output in outputs {
        g = g.msg(12, &value_info(output.0, output.1));
    }
    Msg::default()
        .int(1, 8)
        .str(2, "test")
        .msg(7, &g)
        .msg(8, &Msg::default().str(1, "").int(2, opset))
        .0
}

fn ramp(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) * scale)
        .collect()
}

/// conv(3x3, given pads/strides) on a [1, 2, h, w] input.
fn conv_model(h: i64, w: i64, pads: &[i64], strides: &[i64], extra: &[Msg]) -> Vec<u8> {
    let mut attrs = vec![
        attr_ints("pads", pads),
        attr_ints("strides", strides),
        attr_ints("kernel_shape", &[3, 3]),
    ];
    attrs.extend(extra.iter().cloned());
    model(
        &[node("Conv", "conv0", &["x", "w", "b"], &["y"], &attrs)],
        &[
            tensor("w", &[4, 2, 3, 3], &ramp(72, 0.05)),
            tensor("b", &[4], &[0.1, -0.2, 0.3, 0.0]),
        ],
        ("x", &[1, 2, h, w]),
        ("y", &[1, 4, 1, 1]),
    )
}

#[test]
fn same_padding_maps_and_other_pads_are_named_errors() {
    // Stride 1, pads 1: SAME.
    let m = read_onnx(&conv_model(8, 8, &[1, 1, 1, 1], &[1, 1], &[])).unwrap();
    assert!(matches!(
        m.graph.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Same,
            ..
        }
    ));
    // Stride 2, pads 0,0,1,1 (what TensorFlow exporters write): SAME.
    let m = read_onnx(&conv_model(8, 8, &[0, 0, 1, 1], &[2, 2], &[])).unwrap();
    assert!(matches!(
        m.graph.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Same,
            ..
        }
    ));
    // Stride 2, pads 1 on an odd size: the same split as SAME.
    let m = read_onnx(&conv_model(9, 9, &[1, 1, 1, 1], &[2, 2], &[])).unwrap();
    assert!(matches!(
        m.graph.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Same,
            ..
        }
    ));
    // No pads: VALID.
    let m = read_onnx(&conv_model(8, 8, &[0, 0, 0, 0], &[1, 1], &[])).unwrap();
    assert!(matches!(
        m.graph.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Valid,
            ..
        }
    ));
    // Pads 2 with a 3x3 kernel and stride 1 grow the output: explicit padding.
    let m = read_onnx(&conv_model(8, 8, &[2, 2, 2, 2], &[1, 1], &[])).unwrap();
    assert!(matches!(
        m.graph.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Explicit {
                top: 2,
                left: 2,
                bottom: 2,
                right: 2
            },
            ..
        }
    ));
    assert_eq!(m.outputs[0].dims, [1, 4, 10, 10]);
    // An unknown attribute is named.
    let e = read_onnx(&conv_model(
        8,
        8,
        &[1, 1, 1, 1],
        &[1, 1],
        &[attr_int("frobnicate", 1)],
    ))
    .unwrap_err();
    assert!(e.to_string().contains("frobnicate"), "{e}");
}

/// Direct NCHW convolution, as ONNX defines it (reference for the tests).
#[allow(clippy::too_many_arguments)]
fn conv_reference(
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    wt: &[f32],
    (oc, k): (usize, usize),
    bias: &[f32],
    (pt, pl): (usize, usize),
    s: usize,
    (oh, ow): (usize, usize),
) -> Vec<f32> {
    let mut out = vec![0f32; oc * oh * ow];
    for o in 0..oc {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = bias[o];
                for ci in 0..c {
                    for ky in 0..k {
                        for kx in 0..k {
                            let yy = (oy * s + ky) as i64 - pt as i64;
                            let xx = (ox * s + kx) as i64 - pl as i64;
                            if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                acc += x[(ci * h + yy as usize) * w + xx as usize]
                                    * wt[((o * c + ci) * k + ky) * k + kx];
                            }
                        }
                    }
                }
                out[(o * oh + oy) * ow + ox] = acc;
            }
        }
    }
    out
}

/// PyTorch's downsampling convolution (3x3, stride 2, pads 1 on an even
/// size) and a 7x7 stride-2 pad-3 stem: converted with explicit padding (the
/// kernel keeps its size, so no MACs are added), computing exactly what ONNX
/// defines.
#[test]
fn pytorch_stride_two_pads_convert_exactly() {
    for (k, pad, h) in [(3usize, 1usize, 8usize), (7, 3, 12), (3, 1, 7)] {
        let w_data = ramp(4 * 2 * k * k, 0.05);
        let b = [0.1f32, -0.2, 0.3, 0.0];
        let p = pad as i64;
        let bytes = model(
            &[node(
                "Conv",
                "down",
                &["x", "w", "b"],
                &["y"],
                &[
                    attr_ints("pads", &[p, p, p, p]),
                    attr_ints("strides", &[2, 2]),
                ],
            )],
            &[
                tensor("w", &[4, 2, k as i64, k as i64], &w_data),
                tensor("b", &[4], &b),
            ],
            ("x", &[1, 2, h as i64, h as i64]),
            ("y", &[1, 4, 1, 1]),
        );
        let m = read_onnx(&bytes).unwrap();
        let o = h.div_ceil(2);
        assert_eq!(m.outputs[0].dims, [1, 4, o, o]);
        let wt = &m.graph.tensors[m.graph.ops[0].inputs[1].unwrap()];
        assert_eq!(wt.shape[1], k, "{:?}", wt.shape);
        // Even sizes pad differently from TFLite's SAME; the odd one is SAME.
        let OpKind::Conv2d { padding, .. } = m.graph.ops[0].kind else {
            panic!("not a convolution")
        };
        if h % 2 == 0 {
            assert!(
                matches!(padding, Padding::Explicit { top, left, .. } if top == pad && left == pad),
                "{padding:?}"
            );
        } else {
            assert_eq!(padding, Padding::Same);
        }
        let x = ramp(2 * h * h, 0.2);
        let expected = conv_reference(&x, (2, h, h), &w_data, (4, k), &b, (pad, pad), 2, (o, o));
        let ours = run_float(&m, &Array::from_f32(vec![1, 2, h, h], &x)).concat();
        assert!(max_rel_err(&ours, &expected) < 1e-5, "k {k}, h {h}");
        // And the int8 plan runs it.
        let calib = m.samples(&random_batch(8, &[1, 2, h, h], 5), "c").unwrap();
        quantize::quantize_and_assemble(&m, &calib, &Options::default(), "down").unwrap();
    }
}

#[test]
fn unsupported_op_is_named() {
    let bytes = model(
        &[
            node(
                "Conv",
                "c",
                &["x", "w"],
                &["y"],
                &[attr_ints("pads", &[1, 1, 1, 1])],
            ),
            node("Einsum", "my_einsum", &["y"], &["z"], &[]),
        ],
        &[tensor("w", &[4, 2, 3, 3], &ramp(72, 0.05))],
        ("x", &[1, 2, 4, 4]),
        ("z", &[1, 4, 4, 4]),
    );
    let e = read_onnx(&bytes).unwrap_err();
    match &e {
        ConvertError::UnsupportedOp { index, name, .. } => {
            assert_eq!(*index, 1);
            assert!(
                name.contains("Einsum") && name.contains("my_einsum"),
                "{name}"
            );
        }
        other => panic!("{other}"),
    }
    // Through the generic entry point too.
    let e = attonet_convert::assemble_bytes(&bytes, "m").unwrap_err();
    assert!(e.to_string().contains("Einsum"), "{e}");
}

fn attr_float(name: &str, v: f32) -> Msg {
    Msg::default().str(1, name).int(20, 1).float(2, v)
}

/// Relu on the model input has nothing to fuse into: it runs standalone,
/// as a lookup table (so does a Relu after a Softmax); after a convolution
/// it is still fused.
#[test]
fn unfusable_relu_is_a_lookup() {
    let bytes = model(
        &[node("Relu", "r0", &["x"], &["y"], &[])],
        &[],
        ("x", &[1, 4]),
        ("y", &[1, 4]),
    );
    let m = read_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(kinds, ["RELU"]);
    let bytes = model(
        &[
            node("Conv", "c", &["x", "w"], &["y"], &[]),
            node("Relu", "r", &["y"], &["z"], &[]),
        ],
        &[tensor("w", &[2, 2, 1, 1], &[1.0, 0.5, -0.5, 1.0])],
        ("x", &[1, 2, 4, 4]),
        ("z", &[1, 2, 4, 4]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.graph.ops.len(), 1);
    assert!(matches!(
        m.graph.ops[0].kind,
        OpKind::Conv2d {
            activation: Activation::Relu,
            ..
        }
    ));
}

/// One ONNX activation on the model input, `[1, 2, 4, 4]`.
fn unary_model(op: &str, attrs: &[Msg], inits: &[Msg], extra_inputs: &[&str]) -> Vec<u8> {
    let mut inputs = vec!["x"];
    inputs.extend_from_slice(extra_inputs);
    model(
        &[node(op, "act", &inputs, &["y"], attrs)],
        inits,
        ("x", &[1, 2, 4, 4]),
        ("y", &[1, 2, 4, 4]),
    )
}

/// Every ONNX activation of the unary family, standalone: the float
/// executor computes the function itself, and the int8 plan (one lookup
/// table) stays within the quantization error of it: half a step of the
/// output plus the function's slope times half a step of the input.
#[test]
fn unary_activations_track_the_float_function() {
    type Case = (
        &'static str,
        Vec<Msg>,
        Vec<Msg>,
        Vec<&'static str>,
        fn(f32) -> f32,
        f32,
    );
    let cases: Vec<Case> = vec![
        (
            "Sigmoid",
            vec![],
            vec![],
            vec![],
            |x| 1.0 / (1.0 + (-x).exp()),
            0.25,
        ),
        ("Tanh", vec![], vec![], vec![], |x| x.tanh(), 1.0),
        (
            "HardSwish",
            vec![],
            vec![],
            vec![],
            |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            1.5,
        ),
        (
            "HardSigmoid",
            vec![attr_float("alpha", 0.25), attr_float("beta", 0.4)],
            vec![],
            vec![],
            |x| (0.25 * x + 0.4).clamp(0.0, 1.0),
            0.25,
        ),
        (
            "HardSigmoid",
            vec![],
            vec![],
            vec![],
            |x| (0.2 * x + 0.5).clamp(0.0, 1.0),
            0.2,
        ),
        (
            "LeakyRelu",
            vec![attr_float("alpha", 0.1)],
            vec![],
            vec![],
            |x| if x >= 0.0 { x } else { 0.1 * x },
            1.0,
        ),
        (
            "LeakyRelu",
            vec![],
            vec![],
            vec![],
            |x| if x >= 0.0 { x } else { 0.01 * x },
            1.0,
        ),
        ("Relu", vec![], vec![], vec![], |x| x.max(0.0), 1.0),
        (
            "Clip",
            vec![],
            vec![tensor("lo", &[], &[-0.5]), tensor("hi", &[], &[1.5])],
            vec!["lo", "hi"],
            |x| x.clamp(-0.5, 1.5),
            1.0,
        ),
        (
            "Clip",
            vec![],
            vec![tensor("lo", &[], &[0.0]), tensor("hi", &[], &[6.0])],
            vec!["lo", "hi"],
            |x| x.clamp(0.0, 6.0),
            1.0,
        ),
        // ONNX's other element-wise functions (slopes: the largest on
        // [-5, 5]; Sqrt's error near 0 is sqrt of half an input step).
        ("Exp", vec![], vec![], vec![], |x| x.exp(), 149.0),
        ("Neg", vec![], vec![], vec![], |x| -x, 1.0),
        ("Abs", vec![], vec![], vec![], |x| x.abs(), 1.0),
        ("Sqrt", vec![], vec![], vec![], |x| x.max(0.0).sqrt(), 8.0),
        ("Sin", vec![], vec![], vec![], |x| x.sin(), 1.0),
        ("Cos", vec![], vec![], vec![], |x| x.cos(), 1.0),
        ("Erf", vec![], vec![], vec![], erf_as, 1.13),
        ("Softplus", vec![], vec![], vec![], |x| x.exp().ln_1p(), 1.0),
        (
            "Softsign",
            vec![],
            vec![],
            vec![],
            |x| x / (1.0 + x.abs()),
            1.0,
        ),
        (
            "Mish",
            vec![],
            vec![],
            vec![],
            |x| x * x.exp().ln_1p().tanh(),
            1.1,
        ),
        (
            "Elu",
            vec![attr_float("alpha", 0.5)],
            vec![],
            vec![],
            |x| if x > 0.0 { x } else { 0.5 * x.exp_m1() },
            1.0,
        ),
        (
            "Celu",
            vec![attr_float("alpha", 2.0)],
            vec![],
            vec![],
            |x| x.max(0.0) + (2.0 * (x / 2.0).exp_m1()).min(0.0),
            1.0,
        ),
        (
            "Selu",
            vec![],
            vec![],
            vec![],
            |x| {
                let (a, g) = (1.673_263_2f32, 1.050_701f32);
                if x > 0.0 {
                    g * x
                } else {
                    g * a * x.exp_m1()
                }
            },
            1.76,
        ),
        (
            "Gelu",
            vec![],
            vec![],
            vec![],
            |x| 0.5 * x * (1.0 + erf_as(x / 2f32.sqrt())),
            1.13,
        ),
        (
            "Gelu",
            vec![attr_str("approximate", "tanh")],
            vec![],
            vec![],
            |x| 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044715 * x * x * x)).tanh()),
            1.13,
        ),
    ];
    let mut rng = XorShift(99);
    let data: Vec<f32> = (0..64 * 32).map(|_| rng.uniform() * 5.0).collect();
    let batch = Array::from_f32(vec![64, 1, 2, 4, 4], &data);
    for (op, attrs, inits, extra, f, slope) in cases {
        let m = read_onnx(&unary_model(op, &attrs, &inits, &extra)).unwrap();
        let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
        assert_eq!(kinds.len(), 1, "{op}: {kinds:?}");
        // The float reference is the function.
        let float = run_float(&m, &batch).concat();
        let want: Vec<f32> = data.iter().map(|&x| f(x)).collect();
        assert!(max_rel_err(&float, &want) < 1e-6, "{op}: float reference");
        let calib = m.samples(&batch, "calib").unwrap();
        for method in [Method::MinMax, Method::Percentile(0.9999)] {
            let options = Options {
                method,
                ..Options::default()
            };
            let q = quantize::quantize_and_assemble(&m, &calib, &options, "act").unwrap();
            let model = q.assembled.model();
            assert!(
                matches!(model.steps, [attonet_runtime::plan::Step::Lookup(_)]),
                "{op}: {:?}",
                model.steps
            );
            let (s_in, s_out) = (model.input.scale, model.output.scale);
            // Percentile calibration clips the few largest inputs: measure
            // inside the calibrated input range only.
            let lo = s_in * (-128 - model.input.zero_point) as f32;
            let hi = s_in * (127 - model.input.zero_point) as f32;
            let int8 = run_int8(&m, &q.assembled, &batch).concat();
            let tol = 0.5 * s_out + slope * 0.5 * s_in + 1e-5;
            for ((&x, &got), &exact) in data.iter().zip(&int8).zip(&want) {
                if (lo..=hi).contains(&x) {
                    assert!(
                        (got - exact).abs() <= tol,
                        "{op} ({method}): f({x}) = {exact}, int8 {got}, tolerance {tol}"
                    );
                }
            }
        }
    }
}

/// erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7): a reference
/// independent of the converter's series.
fn erf_as(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * (-x * x).exp()).copysign(x)
}

/// A lookup writes over its input when nothing reads the input again (a
/// TFLite RELU on the model input), and beside it when something does
/// (`x + sigmoid(x)`, where the ADD then runs in place).
#[test]
fn lookup_runs_in_place_only_when_its_input_dies() {
    use attonet_runtime::plan::Step;
    let relu = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/op-goldens/relu.tflite"),
    )
    .unwrap();
    let a = attonet_convert::assemble_bytes(&relu, "relu").unwrap();
    let [Step::Lookup(l)] = a.steps.as_slice() else {
        panic!("{:?}", a.steps)
    };
    assert_eq!(l.input, l.output);
    assert_eq!(a.model().arena_bytes as usize, l.input.shape.len());

    let bytes = model(
        &[
            node("Sigmoid", "s", &["x"], &["s"], &[]),
            node("Add", "a", &["x", "s"], &["y"], &[]),
        ],
        &[],
        ("x", &[1, 2, 4, 4]),
        ("y", &[1, 2, 4, 4]),
    );
    let m = read_onnx(&bytes).unwrap();
    let batch = random_batch(16, &[1, 2, 4, 4], 5);
    let calib = m.samples(&batch, "calib").unwrap();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "xs").unwrap();
    let [Step::Lookup(l), Step::Add(add)] = q.assembled.steps.as_slice() else {
        panic!("{:?}", q.assembled.steps)
    };
    assert_ne!(l.input.offset, l.output.offset);
    assert!(add.output == add.input1 || add.output == add.input2);
    let float = run_float(&m, &batch).concat();
    let int8 = run_int8(&m, &q.assembled, &batch).concat();
    let s_out = q.assembled.model().output.scale;
    for (a, b) in float.iter().zip(&int8) {
        assert!((a - b).abs() < 4.0 * s_out, "{a} vs {b}");
    }
}

/// A standalone BatchNormalization (not after a convolution) becomes a 1x1
/// depthwise convolution; Flatten of a 2x2x3 map followed by Gemm (transB=0)
/// keeps NCHW semantics; Reshape to [1, -1] is a flatten.
#[test]
fn standalone_batchnorm_and_flatten_gemm() {
    let c = 3usize;
    let bytes = model(
        &[
            node(
                "BatchNormalization",
                "bn",
                &["x", "g", "bb", "mu", "var"],
                &["n"],
                &[Msg::default().str(1, "epsilon").int(20, 1).float(2, 1e-3)],
            ),
            node("Reshape", "flat", &["n", "shape"], &["f"], &[]),
            node("Gemm", "fc", &["f", "W", "C"], &["y"], &[]),
            node("Softmax", "sm", &["y"], &["p"], &[attr_int("axis", 1)]),
        ],
        &[
            tensor("g", &[3], &[1.0, 0.5, 2.0]),
            tensor("bb", &[3], &[0.1, 0.2, -0.3]),
            tensor("mu", &[3], &[0.0, 0.5, -0.5]),
            tensor("var", &[3], &[1.0, 4.0, 0.25]),
            int64_tensor("shape", &[2], &[1, -1]),
            tensor("W", &[12, 5], &ramp(60, 0.1)),
            tensor("C", &[5], &[0.0, 0.1, 0.2, 0.3, 0.4]),
        ],
        ("x", &[1, c as i64, 2, 2]),
        ("p", &[1, 5]),
    );
    let m = read_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(
        kinds,
        ["DEPTHWISE_CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    );
    // Reference in NCHW, by hand.
    let x: Vec<f32> = ramp(12, 0.3);
    let (g, b, mu, var) = (
        [1.0f32, 0.5, 2.0],
        [0.1f32, 0.2, -0.3],
        [0.0f32, 0.5, -0.5],
        [1.0f32, 4.0, 0.25],
    );
    let n: Vec<f32> = (0..12)
        .map(|i| {
            let ch = i / 4;
            (x[i] - mu[ch]) * g[ch] / (var[ch] + 1e-3).sqrt() + b[ch]
        })
        .collect();
    let w = ramp(60, 0.1);
    let cb = [0.0f32, 0.1, 0.2, 0.3, 0.4];
    let y: Vec<f32> = (0..5)
        .map(|o| cb[o] + (0..12).map(|k| n[k] * w[k * 5 + o]).sum::<f32>())
        .collect();
    let mx = y.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = y.iter().map(|v| (v - mx).exp()).collect();
    let s: f32 = e.iter().sum();
    let expected: Vec<f32> = e.iter().map(|v| v / s).collect();
    let ours = run_float(&m, &Array::from_f32(vec![1, 3, 2, 2], &x)).concat();
    assert!(
        max_rel_err(&ours, &expected) < 1e-5,
        "{ours:?} {expected:?}"
    );
}

// ---------------------------------------------------------------------------
// Corrupt files.

/// Every truncation is an error; random byte corruptions are errors or
/// models, never panics (whatever the quantizer and the plan then do with them).
#[test]
fn corrupt_onnx_gives_errors_not_panics() {
    for name in ["small.onnx", "small_qdq.onnx"] {
        let bytes = read(name);
        let m = read_onnx(&bytes).unwrap();
        let calib = m
            .samples(&random_batch(4, &[1, 3, 8, 8], 3), "calib")
            .unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            assert!(
                read_onnx(&bytes[..cut]).is_err(),
                "{name} cut to {cut} bytes was accepted"
            );
            assert!(attonet_convert::assemble_bytes(&bytes[..cut], "m").is_err());
        }
        let mut rng = XorShift(0x5eed ^ bytes.len() as u64);
        let (mut ok, mut err) = (0, 0);
        for _ in 0..1500 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % b.len() as u64) as usize;
                b[at] = rng.next() as u8;
            }
            match read_onnx(&b) {
                Ok(m) => {
                    ok += 1;
                    // Downstream must not panic either.
                    let _ = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "m");
                    let _ = attonet_convert::assemble_bytes(&b, "m");
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    err += 1;
                }
            }
        }
        assert!(ok > 0 && err > 0, "{name}: ok {ok}, err {err}");
    }
}

/// Reshape targets whose product overflows (found by the `onnx_reader` fuzz
/// target in CI: `[i64::MAX, 2]` panicked in the product) are named errors.
#[test]
fn reshape_to_an_overflowing_shape_is_an_error() {
    let targets: [&[i64]; 4] = [
        &[i64::MAX, 2],
        &[1 << 40, 1 << 40, -1],
        &[-1, i64::MIN],
        &[4, 0x4000_0000_0000_0000, 4, 3],
    ];
    for target in targets {
        let bytes = model(
            &[
                node("Relu", "r", &["x"], &["y"], &[]),
                node("Reshape", "view", &["y", "shape"], &["f"], &[]),
            ],
            &[int64_tensor("shape", &[target.len() as i64], target)],
            ("x", &[1, 3, 2, 2]),
            ("f", &[1, 12]),
        );
        let e = read_onnx(&bytes).unwrap_err().to_string();
        assert!(e.contains("shape"), "{target:?}: {e}");
    }
}

/// The ONNX package's operator models (PyTorch exports of single layers and
/// short graphs, `fuzz/seeds/onnx`, see its README): each reads, or is refused
/// with a message; each that reads also quantizes and plans, or is refused,
/// without a panic. The count that read may only grow (39 of 134 when this
/// test was written, 72 with 1-D maps, element-wise functions and reshapes;
/// most refusals are now graphs with several inputs and 3-D inputs).
#[test]
fn onnx_operator_models_read_or_are_refused_by_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/onnx");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 134, "{}", dir.display());
    let mut read = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        match read_onnx(&std::fs::read(path).unwrap()) {
            Ok(m) => {
                let calib = m
                    .samples(&random_batch(4, &m.input_dims, 7), "calib")
                    .unwrap();
                if let Err(e) =
                    quantize::quantize_and_assemble(&m, &calib, &Options::default(), &name)
                {
                    assert!(!e.to_string().is_empty(), "{name}");
                }
                read.push(name);
            }
            Err(e) => assert!(e.to_string().len() > 20, "{name}: {e}"),
        }
    }
    assert!(read.len() >= 72, "only {} read: {read:?}", read.len());
}

#[test]
fn not_onnx_and_float_without_calibration() {
    let e = attonet_convert::detect_format(b"\x08\x07garbage that is not protobuf").unwrap_err();
    assert!(matches!(e, ConvertError::Format(_)), "{e}");
    // A float ONNX model through the int8-only entry point says what is missing.
    let e = attonet_convert::assemble_bytes(&read("small.onnx"), "m").unwrap_err();
    assert!(e.to_string().contains("calib"), "{e}");
}

// ---------------------------------------------------------------------------
// Shape arithmetic folded to constants (frontend/onnx/fold.rs).

fn attr_tensor(name: &str, t: &Msg) -> Msg {
    Msg::default().str(1, name).int(20, 4).msg(5, t)
}

/// Conv 3x3 pads 1 (2 -> 4 channels) + Relu on [1, 2, 4, 4], then the
/// `shape_nodes` that compute `target` from `y`, `Reshape(y, target)` and a
/// Gemm to 5 outputs.
fn view_model(shape_nodes: Vec<Msg>, inits: Vec<Msg>) -> Vec<u8> {
    let mut nodes = vec![
        node(
            "Conv",
            "conv",
            &["x", "w", "b"],
            &["c"],
            &[attr_ints("pads", &[1, 1, 1, 1])],
        ),
        node("Relu", "relu", &["c"], &["y"], &[]),
    ];
    nodes.extend(shape_nodes);
    nodes.push(node("Reshape", "view", &["y", "target"], &["f"], &[]));
    nodes.push(node(
        "Gemm",
        "fc",
        &["f", "W", "C"],
        &["out"],
        &[attr_int("transB", 1)],
    ));
    let mut all = vec![
        tensor("w", &[4, 2, 3, 3], &ramp(72, 0.05)),
        tensor("b", &[4], &[0.1, -0.2, 0.3, 0.0]),
        tensor("W", &[5, 64], &ramp(320, 0.02)),
        tensor("C", &[5], &[0.0, 0.1, -0.1, 0.2, 0.05]),
    ];
    all.extend(inits);
    model(&nodes, &all, ("x", &[1, 2, 4, 4]), ("out", &[1, 5]))
}

/// `x.view(x.size(0), -1)` as PyTorch exports it (`of`: the tensor whose
/// shape is taken).
fn pytorch_view(of: &str) -> Vec<u8> {
    view_model(
        vec![
            node("Shape", "shape", &[of], &["s"], &[]),
            node(
                "Gather",
                "gather",
                &["s", "zero"],
                &["n"],
                &[attr_int("axis", 0)],
            ),
            node("Unsqueeze", "unsq", &["n", "axes0"], &["n1"], &[]),
            node(
                "Concat",
                "cat",
                &["n1", "minus1"],
                &["target"],
                &[attr_int("axis", 0)],
            ),
        ],
        vec![
            int64_tensor("zero", &[], &[0]),
            int64_tensor("axes0", &[1], &[0]),
            int64_tensor("minus1", &[1], &[-1]),
        ],
    )
}

/// The same model with the target computed another way: Slice of the shape
/// for the batch, C*H*W by Gather, Mul, Div, Cast and Squeeze, and a
/// ConstantOfShape, Sub and Add thrown in.
fn pytorch_view_arithmetic() -> Vec<u8> {
    let one = int64_tensor("", &[1], &[1]);
    view_model(
        vec![
            node("Shape", "shape", &["y"], &["s"], &[]),
            node("Slice", "batch", &["s", "zero1", "one1"], &["n1"], &[]),
            node("Slice", "tail", &["s", "one1", "big"], &["chw3"], &[]),
            node(
                "Gather",
                "c",
                &["chw3", "idx"],
                &["parts"],
                &[attr_int("axis", 0)],
            ),
            node(
                "Squeeze",
                "sq",
                &["parts"],
                &["pv"],
                &[attr_ints("axes", &[1])],
            ),
            node("Gather", "c0", &["pv", "zero"], &["cdim"], &[]),
            node("Gather", "h0", &["pv", "one"], &["h"], &[]),
            node("Gather", "w0", &["pv", "two"], &["w_"], &[]),
            node("Mul", "ch", &["cdim", "h"], &["chv"], &[]),
            node("Mul", "chw", &["chv", "w_"], &["chwv"], &[]),
            node("Div", "div", &["chwv", "one"], &["q"], &[]),
            node("Cast", "cast32", &["q"], &["q32"], &[attr_int("to", 6)]),
            node("Cast", "cast64", &["q32"], &["q64"], &[attr_int("to", 7)]),
            node("Sub", "sub", &["q64", "one"], &["qm"], &[]),
            node("Add", "add", &["qm", "one"], &["qa"], &[]),
            node(
                "Unsqueeze",
                "unsq",
                &["qa"],
                &["qa1"],
                &[attr_ints("axes", &[0])],
            ),
            node(
                "ConstantOfShape",
                "ones",
                &["one1"],
                &["unit"],
                &[attr_tensor("value", &one)],
            ),
            node("Mul", "batch1", &["n1", "unit"], &["nb"], &[]),
            node(
                "Concat",
                "cat",
                &["nb", "qa1"],
                &["target"],
                &[attr_int("axis", 0)],
            ),
        ],
        vec![
            int64_tensor("zero", &[], &[0]),
            int64_tensor("one", &[], &[1]),
            int64_tensor("two", &[], &[2]),
            int64_tensor("zero1", &[1], &[0]),
            int64_tensor("one1", &[1], &[1]),
            int64_tensor("big", &[1], &[i64::MAX]),
            int64_tensor("idx", &[3, 1], &[0, 1, 2]),
        ],
    )
}

/// The same model with a constant target.
fn constant_view() -> Vec<u8> {
    view_model(vec![], vec![int64_tensor("target", &[2], &[1, -1])])
}

#[test]
fn folded_view_converts_like_a_constant_reshape() {
    let reference = read_onnx(&constant_view()).unwrap();
    let inputs = random_batch(8, &[2, 4, 4], 21);
    let calib = reference
        .samples(&random_batch(32, &[2, 4, 4], 22), "calib")
        .unwrap();
    let expected_float = run_float(&reference, &inputs);
    let q = quantize::quantize_and_assemble(&reference, &calib, &Options::default(), "m").unwrap();
    let expected_int8 = run_int8(&reference, &q.assembled, &inputs);
    for (what, bytes) in [
        ("Shape -> Gather -> Unsqueeze -> Concat", pytorch_view("y")),
        // The shape taken before the Relu: reading it does not stop the fusion.
        ("the same, of the convolution's output", pytorch_view("c")),
        (
            "Shape -> Slice, Gather, Mul, Div, Cast, ...",
            pytorch_view_arithmetic(),
        ),
    ] {
        let m = read_onnx(&bytes).unwrap();
        // The shape arithmetic is gone: the same graph as the constant reshape's.
        let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
        assert_eq!(kinds, ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"], "{what}");
        assert_eq!(m.graph, reference.graph, "{what}");
        assert_eq!(run_float(&m, &inputs), expected_float, "{what}");
        let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "m").unwrap();
        assert_eq!(run_int8(&m, &q.assembled, &inputs), expected_int8, "{what}");
    }
}

#[test]
fn shape_arithmetic_that_cannot_be_folded_is_named() {
    let conv_then = |extra: Vec<Msg>, inits: Vec<Msg>, out: (&str, &[i64])| {
        let mut nodes = vec![node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            &[attr_ints("pads", &[1, 1, 1, 1])],
        )];
        nodes.extend(extra);
        let mut all = vec![tensor("w", &[4, 2, 3, 3], &ramp(72, 0.05))];
        all.extend(inits);
        model(&nodes, &all, ("x", &[1, 2, 4, 4]), out)
    };
    let detail = |e: &ConvertError| match e {
        ConvertError::UnsupportedOp {
            index,
            name,
            detail,
        } => (*index, name.clone(), detail.clone().unwrap_or_default()),
        other => panic!("expected UnsupportedOp, got {other}"),
    };

    // Gather of an activation (not shape arithmetic).
    let e = read_onnx(&conv_then(
        vec![node("Gather", "pick", &["y", "zero"], &["g"], &[])],
        vec![int64_tensor("zero", &[], &[0])],
        ("g", &[4, 4, 4]),
    ))
    .unwrap_err();
    let (index, name, d) = detail(&e);
    assert_eq!(index, 1);
    assert!(name.contains("Gather 'pick'"), "{name}");
    assert!(d.contains("input 0 ('y') is computed at run time"), "{d}");
    assert!(d.contains("shape arithmetic on integer constants"), "{d}");

    // Shape feeding an op that is not folded: that op is named.
    let e = read_onnx(&conv_then(
        vec![
            node("Shape", "shape", &["y"], &["s"], &[]),
            node("Expand", "expand", &["y", "s"], &["z"], &[]),
        ],
        vec![],
        ("z", &[1, 4, 4, 4]),
    ))
    .unwrap_err();
    let (index, name, d) = detail(&e);
    assert_eq!(index, 2);
    assert!(name.contains("Expand"), "{name}");
    assert!(d.contains("not supported"), "{d}");

    // Shape into a float ConstantOfShape (the default value is float 0).
    let e = read_onnx(&conv_then(
        vec![
            node("Shape", "shape", &["y"], &["s"], &[]),
            node("ConstantOfShape", "zeros", &["s"], &["z"], &[]),
            node("Add", "add", &["y", "z"], &["o"], &[]),
        ],
        vec![],
        ("o", &[1, 4, 4, 4]),
    ))
    .unwrap_err();
    let (index, name, d) = detail(&e);
    assert_eq!(index, 2);
    assert!(name.contains("ConstantOfShape"), "{name}");
    assert!(d.contains("float32"), "{d}");

    // Arithmetic on float constants is not shape arithmetic.
    let e = read_onnx(&conv_then(
        vec![
            node("Mul", "scale", &["a", "b"], &["ab"], &[]),
            node("Add", "add", &["y", "ab"], &["o"], &[]),
        ],
        vec![tensor("a", &[1], &[2.0]), tensor("b", &[1], &[3.0])],
        ("o", &[1, 4, 4, 4]),
    ))
    .unwrap_err();
    let (index, name, d) = detail(&e);
    assert_eq!(index, 1);
    assert!(name.contains("Mul 'scale'"), "{name}");
    assert!(d.contains("input 0 ('a') is a float32 constant"), "{d}");

    // A Cast of the shape to float.
    let e = read_onnx(&conv_then(
        vec![
            node("Shape", "shape", &["y"], &["s"], &[]),
            node("Cast", "tofloat", &["s"], &["sf"], &[attr_int("to", 1)]),
        ],
        vec![],
        ("sf", &[4]),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("Cast to float32"), "{e}");

    // Folding errors are Invalid, naming the node: a Gather index out of range.
    let e = read_onnx(&conv_then(
        vec![
            node("Shape", "shape", &["y"], &["s"], &[]),
            node("Gather", "g", &["s", "nine"], &["n"], &[]),
        ],
        vec![int64_tensor("nine", &[], &[9])],
        ("n", &[]),
    ))
    .unwrap_err();
    assert!(matches!(e, ConvertError::Invalid { index: 2, .. }), "{e}");
    assert!(e.to_string().contains("out of range"), "{e}");
}

// ---------------------------------------------------------------------------
// The reduction family.

/// One reduction on the model input `[1, 3, 4, 4]` (NCHW).
fn reduce_model(op: &str, attrs: &[Msg], axes_input: Option<&[i64]>, out: &[i64]) -> Vec<u8> {
    let (inputs, inits): (Vec<&str>, Vec<Msg>) = match axes_input {
        Some(a) => (
            vec!["x", "axes"],
            vec![int64_tensor("axes", &[a.len() as i64], a)],
        ),
        None => (vec!["x"], vec![]),
    };
    model(
        &[node(op, "r", &inputs, &["y"], attrs)],
        &inits,
        ("x", &[1, 3, 4, 4]),
        ("y", out),
    )
}

/// ReduceMean, ReduceSum and ReduceMax (axes as attribute or input, with
/// and without keepdims) against a reduction computed here in NCHW, and
/// their int8 plans against it within the quantization error: half an
/// output step, plus half an input step for each summed element (MEAN: for
/// their mean, and one more output step for the double rounding of TFLM's
/// folded multiplier).
#[test]
fn reductions_track_the_float_reference() {
    type Case = (
        &'static str,
        Vec<Msg>,
        Option<Vec<i64>>,
        Vec<i64>,
        Vec<usize>,
    );
    let cases: Vec<Case> = vec![
        // Global average pooling as PyTorch's x.mean((2, 3), keepdim=True).
        (
            "ReduceMean",
            vec![attr_ints("axes", &[2, 3])],
            None,
            vec![1, 3, 1, 1],
            vec![2, 3],
        ),
        // ... and x.mean((-1, -2)).
        (
            "ReduceMean",
            vec![attr_ints("axes", &[-1, -2]), attr_int("keepdims", 0)],
            None,
            vec![1, 3],
            vec![2, 3],
        ),
        (
            "ReduceSum",
            vec![],
            Some(vec![1]),
            vec![1, 1, 4, 4],
            vec![1],
        ),
        (
            "ReduceSum",
            vec![attr_int("keepdims", 0)],
            Some(vec![1]),
            vec![1, 4, 4],
            vec![1],
        ),
        (
            "ReduceMax",
            vec![attr_ints("axes", &[2, 3]), attr_int("keepdims", 0)],
            None,
            vec![1, 3],
            vec![2, 3],
        ),
        (
            "ReduceMax",
            vec![attr_ints("axes", &[3])],
            None,
            vec![1, 3, 4, 1],
            vec![3],
        ),
        // Over H alone without keepdims: ONNX's [1, C, W] order is not the
        // NHWC tensor's, so the map is reduced in ONNX order (a TRANSPOSE
        // first).
        (
            "ReduceMean",
            vec![attr_ints("axes", &[2]), attr_int("keepdims", 0)],
            None,
            vec![1, 3, 4],
            vec![2],
        ),
    ];
    let dims = [1usize, 3, 4, 4];
    let batch = random_batch(64, &dims, 17);
    let data = f32s(&batch);
    for (op, attrs, axes_input, out, axes) in cases {
        let m = read_onnx(&reduce_model(op, &attrs, axes_input.as_deref(), &out)).unwrap();
        let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
        let name = match op {
            "ReduceMean" => "MEAN",
            "ReduceSum" => "SUM",
            _ => "REDUCE_MAX",
        };
        let transposed = kinds.len() == 2;
        assert_eq!(kinds.last(), Some(&name), "{op} {axes:?}: {kinds:?}");
        assert!(
            kinds.len() == 1 || kinds == ["TRANSPOSE", name],
            "{kinds:?}"
        );
        // The reduction by hand, NCHW, in ONNX's output order.
        let count: usize = axes.iter().map(|&a| dims[a]).product();
        let want: Vec<f32> = data
            .chunks_exact(48)
            .flat_map(|x| {
                let mut acc = std::collections::BTreeMap::<Vec<usize>, Vec<f32>>::new();
                for (i, &v) in x.iter().enumerate() {
                    let idx = [0, i / 16, i / 4 % 4, i % 4];
                    let key: Vec<usize> = (0..4)
                        .map(|d| if axes.contains(&d) { 0 } else { idx[d] })
                        .collect();
                    acc.entry(key).or_default().push(v);
                }
                acc.into_values()
                    .map(|vs| match op {
                        "ReduceMean" => vs.iter().sum::<f32>() / count as f32,
                        "ReduceSum" => vs.iter().sum::<f32>(),
                        _ => vs.iter().copied().fold(f32::MIN, f32::max),
                    })
                    .collect::<Vec<f32>>()
            })
            .collect();
        let float = run_float(&m, &batch).concat();
        assert!(max_rel_err(&float, &want) < 1e-5, "{op} {axes:?}: float");
        let calib = m.samples(&batch, "calib").unwrap();
        let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "r").unwrap();
        let model = q.assembled.model();
        assert!(
            matches!(
                (transposed, model.steps),
                (false, [attonet_runtime::plan::Step::Reduce(_)])
                    | (
                        true,
                        [
                            attonet_runtime::plan::Step::Gather(_),
                            attonet_runtime::plan::Step::Reduce(_)
                        ]
                    )
            ),
            "{op}: {:?}",
            model.steps
        );
        if op == "ReduceMax" {
            assert_eq!(model.input.scale, model.output.scale);
            assert_eq!(model.input.zero_point, model.output.zero_point);
        }
        let (s_in, s_out) = (model.input.scale, model.output.scale);
        let tol = match op {
            "ReduceMean" => 1.5 * s_out + 0.5 * s_in,
            "ReduceSum" => 0.5 * s_out + 0.5 * s_in * count as f32,
            _ => 0.5 * s_in,
        } + 1e-5;
        let int8 = run_int8(&m, &q.assembled, &batch).concat();
        for (k, (&got, &exact)) in int8.iter().zip(&want).enumerate() {
            assert!(
                (got - exact).abs() <= tol,
                "{op} {axes:?} [{k}]: float {exact}, int8 {got}, tolerance {tol}"
            );
        }
    }
}

/// A classifier head as Keras and PyTorch write it: global average pooling
/// as a mean over H and W, then a dense layer. It converts to MEAN then
/// FULLY_CONNECTED and runs end to end within a few output steps of float.
#[test]
fn mean_then_dense_runs_end_to_end() {
    let bytes = model(
        &[
            node(
                "ReduceMean",
                "gap",
                &["x"],
                &["p"],
                &[attr_ints("axes", &[2, 3]), attr_int("keepdims", 0)],
            ),
            node("Gemm", "fc", &["p", "W", "C"], &["y"], &[]),
        ],
        &[
            tensor("W", &[3, 5], &ramp(15, 0.2)),
            tensor("C", &[5], &[0.0, 0.1, -0.2, 0.3, 0.05]),
        ],
        ("x", &[1, 3, 4, 4]),
        ("y", &[1, 5]),
    );
    let m = read_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(kinds, ["MEAN", "FULLY_CONNECTED"]);
    let batch = random_batch(64, &[1, 3, 4, 4], 23);
    let calib = m.samples(&batch, "calib").unwrap();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "head").unwrap();
    let (bits, names) = q.assembled.kernels();
    assert_ne!(bits & attonet_runtime::plan::kernels::REDUCE, 0);
    assert!(names.contains(&"REDUCE"), "{names:?}");
    let float = run_float(&m, &batch).concat();
    let int8 = run_int8(&m, &q.assembled, &batch).concat();
    let s_out = q.assembled.model().output.scale;
    for (a, b) in float.iter().zip(&int8) {
        assert!((a - b).abs() <= 3.0 * s_out, "{a} vs {b}");
    }
}

/// Reductions the plans cannot express are refused naming the op: H
/// alone without keepdims (the result would be transposed), and C with H
/// (not one run of dimensions of the NHWC tensor).
#[test]
fn unsupported_reductions_are_named() {
    let bytes = reduce_model(
        "ReduceMean",
        &[attr_ints("axes", &[1, 2])],
        None,
        &[1, 1, 1, 4],
    );
    let m = read_onnx(&bytes).unwrap();
    let batch = random_batch(8, &[1, 3, 4, 4], 3);
    let calib = m.samples(&batch, "calib").unwrap();
    let Err(e) = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "r") else {
        panic!("a mean over C and H converted");
    };
    let e = e.to_string();
    assert!(e.contains("MEAN") && e.contains("contiguous"), "{e}");
}

// ---------------------------------------------------------------------------
// The movement family (Pad, Transpose, Slice, DepthToSpace, SpaceToDepth,
// Resize): NCHW models against an NCHW reference written here, so the
// layout mapping to the graph's NHWC is checked too.

/// A FLOATS attribute (type 6), each value a non-packed field 7.
fn attr_floats(name: &str, v: &[f32]) -> Msg {
    let mut m = Msg::default().str(1, name).int(20, 6);
    for &x in v {
        m = m.float(7, x);
    }
    m
}

fn attr_str(name: &str, v: &str) -> Msg {
    Msg::default()
        .str(1, name)
        .int(20, 3)
        .bytes(4, v.as_bytes())
}

/// `y[o] = x[src(o)]` (or `fill` where `src` gives `None`) over NCHW dims.
fn nchw_gather(
    x: &[f32],
    xd: [usize; 4],
    yd: [usize; 4],
    fill: f32,
    src: &dyn Fn([usize; 4]) -> Option<[usize; 4]>,
) -> Vec<f32> {
    let mut out = Vec::new();
    for n in 0..yd[0] {
        for c in 0..yd[1] {
            for h in 0..yd[2] {
                for w in 0..yd[3] {
                    out.push(match src([n, c, h, w]) {
                        Some([a, b, d, e]) => x[((a * xd[1] + b) * xd[2] + d) * xd[3] + e],
                        None => fill,
                    });
                }
            }
        }
    }
    out
}

type Src = Box<dyn Fn([usize; 4]) -> Option<[usize; 4]>>;

/// Every movement op as ONNX writes it: the float reference moves exactly
/// the NCHW elements ONNX's definition names, and the int8 plan (one
/// gather) gives the same values up to the input's quantization.
#[test]
fn onnx_movement_ops_match_their_nchw_definitions() {
    use attonet_runtime::plan::Step;
    let xd = [1usize, 8, 4, 6];
    let n: usize = xd.iter().product();
    // Distinct values, the model input's whole range.
    let x: Vec<f32> = (0..n).map(|i| ((i * 37) % n) as f32 * 0.05 - 4.0).collect();
    let rev = |v: usize, n: usize| n - 1 - v;
    let reflect = |p: i64, b: i64, n: i64| {
        let i = p - b;
        if i < 0 {
            (-i) as usize
        } else if i >= n {
            (2 * n - 2 - i) as usize
        } else {
            i as usize
        }
    };
    let edge = |p: i64, b: i64, n: i64| (p - b).clamp(0, n - 1) as usize;
    type Case = (
        &'static str,
        Vec<Msg>,
        Vec<Msg>,
        Vec<&'static str>,
        [usize; 4],
        f32,
        Src,
    );
    let cases: Vec<Case> = vec![
        (
            "Pad",
            vec![],
            vec![
                int64_tensor("p", &[8], &[0, 1, 1, 2, 0, 0, 2, 1]),
                tensor("v", &[], &[0.5]),
            ],
            vec!["p", "v"],
            [1, 9, 7, 9],
            0.5,
            Box::new(|[_, c, h, w]| {
                (c >= 1 && (1..5).contains(&h) && (2..8).contains(&w))
                    .then(|| [0, c - 1, h - 1, w - 2])
            }),
        ),
        (
            "Pad",
            vec![attr_str("mode", "reflect")],
            vec![int64_tensor("p", &[8], &[0, 0, 1, 2, 0, 0, 2, 1])],
            vec!["p"],
            [1, 8, 7, 9],
            0.0,
            Box::new(move |[_, c, h, w]| {
                Some([0, c, reflect(h as i64, 1, 4), reflect(w as i64, 2, 6)])
            }),
        ),
        (
            "Pad",
            vec![attr_str("mode", "edge")],
            vec![int64_tensor("p", &[8], &[0, 0, 2, 0, 0, 0, 0, 3])],
            vec!["p"],
            [1, 8, 6, 9],
            0.0,
            Box::new(move |[_, c, h, w]| Some([0, c, edge(h as i64, 2, 4), edge(w as i64, 0, 6)])),
        ),
        (
            "Transpose",
            vec![attr_ints("perm", &[0, 1, 3, 2])],
            vec![],
            vec![],
            [1, 8, 6, 4],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, c, w, h])),
        ),
        (
            "Transpose",
            vec![attr_ints("perm", &[0, 2, 3, 1])],
            vec![],
            vec![],
            [1, 4, 6, 8],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, w, c, h])),
        ),
        (
            "Slice",
            vec![],
            vec![
                int64_tensor("s", &[3], &[1, -1, 6]),
                int64_tensor("e", &[3], &[4, -100, 1]),
                int64_tensor("a", &[3], &[2, 3, 1]),
                int64_tensor("k", &[3], &[1, -2, -3]),
            ],
            vec!["s", "e", "a", "k"],
            [1, 2, 3, 3],
            0.0,
            // Rows 1..4; columns 5, 3, 1; channels 6, 3 (from 6 down to 1, exclusive).
            Box::new(move |[_, c, h, w]| Some([0, 6 - 3 * c, h + 1, rev(2 * w, 6)])),
        ),
        (
            "DepthToSpace",
            vec![attr_int("blocksize", 2), attr_str("mode", "DCR")],
            vec![],
            vec![],
            [1, 2, 8, 12],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, ((h % 2) * 2 + w % 2) * 2 + c, h / 2, w / 2])),
        ),
        (
            "DepthToSpace",
            vec![attr_int("blocksize", 2), attr_str("mode", "CRD")],
            vec![],
            vec![],
            [1, 2, 8, 12],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, c * 4 + (h % 2) * 2 + w % 2, h / 2, w / 2])),
        ),
        (
            "SpaceToDepth",
            vec![attr_int("blocksize", 2)],
            vec![],
            vec![],
            [1, 32, 2, 3],
            0.0,
            Box::new(|[_, c, h, w]| {
                let (blk, ch) = (c / 8, c % 8);
                Some([0, ch, h * 2 + blk / 2, w * 2 + blk % 2])
            }),
        ),
        (
            "Resize",
            vec![
                attr_str("mode", "nearest"),
                attr_str("coordinate_transformation_mode", "asymmetric"),
                attr_str("nearest_mode", "floor"),
            ],
            vec![
                tensor("r", &[0], &[]),
                tensor("sc", &[4], &[1.0, 1.0, 2.0, 2.0]),
            ],
            vec!["r", "sc"],
            [1, 8, 8, 12],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, c, h / 2, w / 2])),
        ),
        (
            "Resize",
            vec![
                attr_str("mode", "nearest"),
                attr_str("coordinate_transformation_mode", "align_corners"),
            ],
            vec![
                tensor("r", &[0], &[]),
                tensor("sc", &[0], &[]),
                int64_tensor("sz", &[4], &[1, 8, 7, 11]),
            ],
            vec!["r", "sc", "sz"],
            [1, 8, 7, 11],
            0.0,
            // x * (in - 1) / (out - 1) = x / 2 exactly; ties round down.
            Box::new(|[_, c, h, w]| Some([0, c, h / 2, w / 2])),
        ),
        // Upsample (opsets 7 to 9): asymmetric coordinates, floor; its
        // scales as input 1 (opset 9) or an attribute (opset 7).
        (
            "Upsample",
            vec![attr_str("mode", "nearest")],
            vec![tensor("sc", &[4], &[1.0, 1.0, 2.0, 3.0])],
            vec!["sc"],
            [1, 8, 8, 18],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, c, h / 2, w / 3])),
        ),
        (
            "Upsample",
            vec![
                attr_str("mode", "nearest"),
                attr_floats("scales", &[1.0, 1.0, 2.0, 2.0]),
            ],
            vec![],
            vec![],
            [1, 8, 8, 12],
            0.0,
            Box::new(|[_, c, h, w]| Some([0, c, h / 2, w / 2])),
        ),
    ];
    let batch = Array::from_f32(vec![1, 1, xd[1], xd[2], xd[3]], &x);
    for (op, attrs, inits, extra, yd, fill, src) in cases {
        let mut inputs = vec!["x"];
        inputs.extend(extra);
        let y_dims: Vec<i64> = yd.iter().map(|&d| d as i64).collect();
        let x_dims: Vec<i64> = xd.iter().map(|&d| d as i64).collect();
        let bytes = model(
            &[node(op, "m", &inputs, &["y"], &attrs)],
            &inits,
            ("x", &x_dims),
            ("y", &y_dims),
        );
        let m = read_onnx(&bytes).unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(m.outputs[0].dims, yd, "{op}");
        let want = nchw_gather(&x, xd, yd, fill, &*src);
        let float = run_float(&m, &batch).concat();
        assert_eq!(
            float,
            want,
            "{op} {attrs:?}: float reference",
            attrs = m.graph.ops[0].kind
        );
        let calib = m.samples(&batch, "calib").unwrap();
        let options = Options {
            method: Method::MinMax,
            ..Options::default()
        };
        let q = quantize::quantize_and_assemble(&m, &calib, &options, "mv").unwrap();
        let model = q.assembled.model();
        assert!(
            matches!(model.steps, [Step::Gather(_)]),
            "{op}: {:?}",
            model.steps
        );
        let s = model.output.scale;
        let int8 = run_int8(&m, &q.assembled, &batch).concat();
        for (a, b) in int8.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 0.5 * s + 1e-6,
                "{op}: {a} vs {b} (scale {s})"
            );
        }
    }
}

/// ONNX Resize `linear` with half-pixel coordinates is TFLite's bilinear
/// resize with `half_pixel_centers`: the float reference is the ONNX
/// definition (coordinates clamped to the input), the int8 plan TFLM's
/// integer kernel within a step of it; unsupported modes are named errors.
#[test]
fn onnx_linear_resize_is_tflite_bilinear() {
    use attonet_runtime::plan::Step;
    let (c, h, w) = (3usize, 4usize, 5usize);
    let x: Vec<f32> = (0..c * h * w)
        .map(|i| ((i * 7) % 23) as f32 * 0.3 - 3.0)
        .collect();
    let resize = |ctm: &str| {
        model(
            &[node(
                "Resize",
                "r",
                &["x", "", "", "sz"],
                &["y"],
                &[
                    attr_str("mode", "linear"),
                    attr_str("coordinate_transformation_mode", ctm),
                ],
            )],
            &[int64_tensor("sz", &[4], &[1, 3, 8, 10])],
            ("x", &[1, 3, 4, 5]),
            ("y", &[1, 3, 8, 10]),
        )
    };
    let m = read_onnx(&resize("half_pixel")).unwrap();
    let batch = Array::from_f32(vec![1, 1, c, h, w], &x);
    let float = run_float(&m, &batch).concat();
    let coord = |o: usize, n: usize| ((o as f64 + 0.5) / 2.0 - 0.5).clamp(0.0, n as f64 - 1.0);
    let mut want = Vec::new();
    for ch in 0..c {
        for oy in 0..8 {
            let fy = coord(oy, h);
            let (y0, y1) = (fy.floor() as usize, (fy.ceil() as usize).min(h - 1));
            for ox in 0..10 {
                let fx = coord(ox, w);
                let (x0, x1) = (fx.floor() as usize, (fx.ceil() as usize).min(w - 1));
                let at = |y: usize, xx: usize| x[(ch * h + y) * w + xx] as f64;
                let (dy, dx) = (fy - y0 as f64, fx - x0 as f64);
                want.push(
                    (at(y0, x0) * (1.0 - dy) * (1.0 - dx)
                        + at(y1, x0) * dy * (1.0 - dx)
                        + at(y0, x1) * (1.0 - dy) * dx
                        + at(y1, x1) * dy * dx) as f32,
                );
            }
        }
    }
    assert!(max_rel_err(&float, &want) < 1e-5);
    let calib = m.samples(&batch, "calib").unwrap();
    let options = Options {
        method: Method::MinMax,
        ..Options::default()
    };
    let q = quantize::quantize_and_assemble(&m, &calib, &options, "bl").unwrap();
    let model = q.assembled.model();
    assert!(
        matches!(model.steps, [Step::ResizeBilinear(_)]),
        "{:?}",
        model.steps
    );
    let s = model.output.scale;
    let int8 = run_int8(&m, &q.assembled, &batch).concat();
    for (a, b) in int8.iter().zip(&want) {
        assert!((a - b).abs() <= 1.5 * s, "{a} vs {b} (scale {s})");
    }
    let err = read_onnx(&resize("tf_crop_and_resize"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Resize") && err.contains("tf_crop_and_resize"),
        "{err}"
    );
}

/// What the family refuses, with the node named.
#[test]
fn onnx_movement_refusals_are_named() {
    // Negative pads (a crop).
    let bytes = model(
        &[node("Pad", "p", &["x", "p"], &["y"], &[])],
        &[int64_tensor("p", &[8], &[0, 0, -1, 0, 0, 0, 0, 0])],
        ("x", &[1, 2, 4, 4]),
        ("y", &[1, 2, 3, 4]),
    );
    let err = read_onnx(&bytes).unwrap_err().to_string();
    assert!(err.contains("Pad") && err.contains("negative"), "{err}");
    // A transpose that moves the channels into the batch.
    let bytes = model(
        &[node(
            "Transpose",
            "t",
            &["x"],
            &["y"],
            &[attr_ints("perm", &[1, 0, 2, 3])],
        )],
        &[],
        ("x", &[1, 2, 4, 4]),
        ("y", &[2, 1, 4, 4]),
    );
    let err = read_onnx(&bytes).unwrap_err().to_string();
    assert!(err.contains("Transpose") && err.contains("batch"), "{err}");
    // Cubic resize.
    let bytes = model(
        &[node(
            "Resize",
            "r",
            &["x", "", "sc"],
            &["y"],
            &[attr_str("mode", "cubic")],
        )],
        &[tensor("sc", &[4], &[1.0, 1.0, 2.0, 2.0])],
        ("x", &[1, 2, 4, 4]),
        ("y", &[1, 2, 8, 8]),
    );
    let err = read_onnx(&bytes).unwrap_err().to_string();
    assert!(err.contains("cubic"), "{err}");
}

/// The binary family and Concat from ONNX: Mul by a per-channel constant,
/// Div by a scalar (MUL by its reciprocal), Sub of two computed branches,
/// Max and Min with a scalar (in their operand's quantization), Concat of
/// two branches along the channels and Add of a broadcast constant, against
/// a float reference computed here in NCHW; the int8 plan within a few
/// output steps of it.
#[test]
fn binary_ops_and_concat_track_the_float_reference() {
    let k = [0.5f32, -1.25, 2.0, 0.75];
    let bias: Vec<f32> = (0..8).map(|c| c as f32 * 0.1 - 0.35).collect();
    let bytes = model(
        &[
            node("Mul", "mul", &["x", "K"], &["m"], &[]),
            node("Div", "div", &["x", "two"], &["d"], &[]),
            node("Sub", "sub", &["m", "d"], &["s"], &[]),
            node("Max", "max", &["s", "half"], &["mx"], &[]),
            node("Min", "min", &["mx", "lim"], &["mn"], &[]),
            node(
                "Concat",
                "cat",
                &["mn", "x"],
                &["c"],
                &[attr_int("axis", 1)],
            ),
            node("Add", "add", &["c", "B"], &["y"], &[]),
        ],
        &[
            tensor("K", &[4, 1, 1], &k),
            tensor("two", &[], &[2.0]),
            tensor("half", &[], &[0.5]),
            tensor("lim", &[1], &[1.5]),
            tensor("B", &[1, 8, 1, 1], &bias),
        ],
        ("x", &[1, 4, 3, 3]),
        ("y", &[1, 8, 3, 3]),
    );
    let m = read_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "MUL",
            "MUL",
            "SUB",
            "MAXIMUM",
            "MINIMUM",
            "CONCATENATION",
            "ADD"
        ]
    );
    let batch = random_batch(64, &[1, 4, 3, 3], 31);
    let data = f32s(&batch);
    let want: Vec<f32> = data
        .chunks_exact(36)
        .flat_map(|x| {
            let mut y = vec![0f32; 72];
            for c in 0..4 {
                for p in 0..9 {
                    let v = x[c * 9 + p];
                    let s = v * k[c] - v / 2.0;
                    y[c * 9 + p] = s.clamp(0.5, 1.5) + bias[c];
                    y[(c + 4) * 9 + p] = v + bias[c + 4];
                }
            }
            y
        })
        .collect();
    let float = run_float(&m, &batch).concat();
    assert!(max_rel_err(&float, &want) < 1e-5, "float");
    let calib = m.samples(&batch, "calib").unwrap();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "bin").unwrap();
    let (bits, names) = q.assembled.kernels();
    assert_ne!(bits & attonet_runtime::plan::kernels::BINARY, 0);
    assert!(
        names.contains(&"BINARY") && names.contains(&"CONCAT"),
        "{names:?}"
    );
    let int8 = run_int8(&m, &q.assembled, &batch).concat();
    let s_out = q.assembled.model().output.scale;
    for (i, (a, b)) in want.iter().zip(&int8).enumerate() {
        assert!(
            (a - b).abs() <= 4.0 * s_out,
            "[{i}] float {a}, int8 {b}, step {s_out}"
        );
    }
}

// ---------------------------------------------------------------------------
// Split: an op with several outputs.

/// `[1, 4, 4, 4]` NCHW split along the channels by `split` (input or
/// attribute), its parts concatenated in reverse: the channels rotated.
fn split_model(sizes: &[i64], as_input: bool) -> Vec<u8> {
    let (inputs, inits, attrs) = if as_input {
        (
            vec!["x", "sizes"],
            vec![int64_tensor("sizes", &[sizes.len() as i64], sizes)],
            vec![attr_int("axis", 1)],
        )
    } else {
        (
            vec!["x"],
            vec![],
            vec![attr_int("axis", -3), attr_ints("split", sizes)],
        )
    };
    let outs: Vec<String> = (0..sizes.len()).map(|k| format!("p{k}")).collect();
    let outs: Vec<&str> = outs.iter().map(String::as_str).collect();
    let mut reversed = outs.clone();
    reversed.reverse();
    model(
        &[
            node("Split", "split", &inputs, &outs, &attrs),
            node("Concat", "cat", &reversed, &["y"], &[attr_int("axis", 1)]),
        ],
        &inits,
        ("x", &[1, 4, 4, 4]),
        ("y", &[1, 4, 4, 4]),
    )
}

/// ONNX Split becomes one SPLIT with an output per part (channels in NCHW
/// are the graph's last axis); the float graph moves values exactly, the
/// int8 plan (a gather per part, then the concatenation) within half a
/// quantization step; sizes that do not add up are refused naming the node.
#[test]
fn split_runs_as_one_gather_per_output() {
    let batch = random_batch(16, &[1, 4, 4, 4], 23);
    let data = f32s(&batch);
    for (sizes, as_input) in [(&[1, 3][..], true), (&[2, 1, 1][..], false)] {
        let m = read_onnx(&split_model(sizes, as_input)).unwrap();
        let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
        assert_eq!(kinds, ["SPLIT", "CONCATENATION"], "{sizes:?}");
        assert!(matches!(
            &m.graph.ops[0].kind,
            OpKind::Split { axis: 3, .. }
        ));
        // The channels rotated: the last part first.
        let first = sizes[0] as usize;
        let want: Vec<f32> = data
            .chunks_exact(64)
            .flat_map(|x| {
                let mut order: Vec<usize> = Vec::new();
                let mut start = 4usize;
                for &s in sizes.iter().rev() {
                    start -= s as usize;
                    order.extend(start..start + s as usize);
                }
                assert_eq!(order.len(), 4, "{first}");
                order
                    .into_iter()
                    .flat_map(move |c| x[c * 16..(c + 1) * 16].to_vec())
                    .collect::<Vec<f32>>()
            })
            .collect();
        let float = run_float(&m, &batch).concat();
        assert_eq!(float, want, "{sizes:?}: float");
        let calib = m.samples(&batch, "calib").unwrap();
        let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "s").unwrap();
        let model = q.assembled.model();
        let gathers = model
            .steps
            .iter()
            .filter(|s| matches!(s, attonet_runtime::plan::Step::Gather(_)))
            .count();
        assert_eq!(gathers, sizes.len(), "{sizes:?}: {:?}", model.steps);
        let int8 = run_int8(&m, &q.assembled, &batch).concat();
        let step = model.output.scale;
        let worst = max_abs_diff(&int8, &want);
        assert!(
            worst <= 0.5 * step * 1.001,
            "{sizes:?}: {worst} > {step} / 2"
        );
    }
    for (sizes, as_input) in [(&[1, 2][..], true), (&[5, -1][..], false)] {
        let e = read_onnx(&split_model(sizes, as_input)).unwrap_err();
        assert!(
            matches!(e, ConvertError::Invalid { index: 0, .. }),
            "{sizes:?}: {e}"
        );
    }
}

// ---------------------------------------------------------------------------
// The compute ops of issue 16 in their ONNX forms: PRelu, LogSoftmax,
// LpNormalization, MatMul of two activations.

/// Quantizes `m` (min-max over `batch`) and runs its int8 plan on `batch`;
/// returns the float reference, the int8 outputs (dequantized), the plan's
/// step kinds and its input and output scales.
fn float_and_int8(
    m: &FloatModel,
    batch: &Array,
) -> (Vec<f32>, Vec<f32>, Vec<&'static str>, f32, f32) {
    use attonet_runtime::plan::Step;
    let float = run_float(m, batch).concat();
    let calib = m.samples(batch, "calib").unwrap();
    let q = quantize::quantize_and_assemble(m, &calib, &Options::default(), "compute").unwrap();
    let model = q.assembled.model();
    let kinds = model
        .steps
        .iter()
        .map(|s| match s {
            Step::Binary(_) => "Binary",
            Step::LogSoftmax(_) => "LogSoftmax",
            Step::L2Normalization(_) => "L2Normalization",
            Step::BatchMatmul(_) => "BatchMatmul",
            Step::Copy(_) => "Copy",
            _ => "other",
        })
        .collect();
    let int8 = run_int8(m, &q.assembled, batch).concat();
    (float, int8, kinds, model.input.scale, model.output.scale)
}

/// PRelu with a per-channel slope (PyTorch's `[C, 1, 1]`), LogSoftmax over
/// ten values and LpNormalization (p = 2) over the channels: the float
/// reference is the function written out here, and the int8 plan (one step
/// of the binary, log-softmax or L2 kernel) stays within the quantization
/// error of it.
#[test]
fn prelu_log_softmax_and_lp_normalization_track_the_float_function() {
    let mut rng = XorShift(1606);
    // PRelu on [1, 2, 4, 4] (NCHW), slopes 0.25 and -0.5.
    let bytes = model(
        &[node("PRelu", "prelu", &["x", "slope"], &["y"], &[])],
        &[tensor("slope", &[2, 1, 1], &[0.25, -0.5])],
        ("x", &[1, 2, 4, 4]),
        ("y", &[1, 2, 4, 4]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.graph.ops[0].kind.name(), "PRELU");
    let data: Vec<f32> = (0..64 * 32).map(|_| rng.uniform() * 3.0).collect();
    let batch = Array::from_f32(vec![64, 1, 2, 4, 4], &data);
    let want: Vec<f32> = data
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let slope = if (i % 32) / 16 == 0 { 0.25 } else { -0.5 };
            if x >= 0.0 {
                x
            } else {
                slope * x
            }
        })
        .collect();
    let (float, int8, kinds, s_in, s_out) = float_and_int8(&m, &batch);
    assert!(max_rel_err(&float, &want) < 1e-6, "PRelu float reference");
    assert_eq!(kinds, ["Binary"]);
    // Half an output step, the slope times half an input step, and the
    // slope's own quantization (per tensor, 0.5 / 127 at most) times |x|.
    for ((&x, &got), &exact) in data.iter().zip(&int8).zip(&want) {
        let tol = 0.5 * s_out + 0.5 * s_in + x.abs() * 0.5 / 127.0 + 1e-5;
        assert!(
            (got - exact).abs() <= tol,
            "PRelu({x}) = {exact}, int8 {got}"
        );
    }

    // LogSoftmax over [1, 10].
    let bytes = model(
        &[node(
            "LogSoftmax",
            "ls",
            &["x"],
            &["y"],
            &[attr_int("axis", 1)],
        )],
        &[],
        ("x", &[1, 10]),
        ("y", &[1, 10]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.graph.ops[0].kind.name(), "LOG_SOFTMAX");
    let data: Vec<f32> = (0..64 * 10).map(|_| rng.uniform() * 4.0).collect();
    let batch = Array::from_f32(vec![64, 1, 10], &data);
    let want: Vec<f32> = data
        .chunks(10)
        .flat_map(|row| {
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
            row.iter().map(move |v| v - lse).collect::<Vec<_>>()
        })
        .collect();
    let (float, int8, kinds, s_in, s_out) = float_and_int8(&m, &batch);
    assert!(
        max_rel_err(&float, &want) < 1e-5,
        "LogSoftmax float reference"
    );
    assert_eq!(kinds, ["LogSoftmax"]);
    assert_eq!(s_out, 16.0 / 256.0);
    // x_i - logsumexp(x) moves by at most twice the largest input error.
    let tol = 0.5 * s_out + 2.0 * 0.5 * s_in + 1e-3;
    for (&got, &exact) in int8.iter().zip(&want) {
        assert!(
            (got - exact).abs() <= tol,
            "LogSoftmax: {exact}, int8 {got}"
        );
    }

    // LpNormalization over the channels of [1, 8, 2, 2] (NCHW).
    let bytes = model(
        &[node(
            "LpNormalization",
            "l2",
            &["x"],
            &["y"],
            &[attr_int("axis", 1), attr_int("p", 2)],
        )],
        &[],
        ("x", &[1, 8, 2, 2]),
        ("y", &[1, 8, 2, 2]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.graph.ops[0].kind.name(), "L2_NORMALIZATION");
    let data: Vec<f32> = (0..64 * 32).map(|_| rng.uniform() * 2.0).collect();
    let batch = Array::from_f32(vec![64, 1, 8, 2, 2], &data);
    let mut want = vec![0f32; data.len()];
    let mut norms = vec![0f32; data.len()];
    for (s, sample) in data.chunks(32).enumerate() {
        for p in 0..4 {
            let norm = (0..8)
                .map(|c| sample[c * 4 + p] * sample[c * 4 + p])
                .sum::<f32>()
                .sqrt();
            for c in 0..8 {
                want[s * 32 + c * 4 + p] = sample[c * 4 + p] / norm;
                norms[s * 32 + c * 4 + p] = norm;
            }
        }
    }
    let (float, int8, kinds, s_in, s_out) = float_and_int8(&m, &batch);
    assert!(
        max_rel_err(&float, &want) < 1e-5,
        "LpNormalization float reference"
    );
    assert_eq!(kinds, ["L2Normalization"]);
    assert_eq!(s_out, 1.0 / 128.0);
    for ((&got, &exact), &norm) in int8.iter().zip(&want).zip(&norms) {
        // The output step (and TFLM's fixed-point inverse square root),
        // and the input's error over the norm (both ways).
        let tol = 1.5 * s_out + 2.0 * 0.5 * s_in / norm + 1e-4;
        assert!((got - exact).abs() <= tol, "L2: {exact}, int8 {got}");
    }

    // Other p, and an axis other than the channels, are named.
    for attrs in [
        vec![attr_int("axis", 1), attr_int("p", 1)],
        vec![attr_int("axis", 2)],
    ] {
        let bytes = model(
            &[node("LpNormalization", "l2", &["x"], &["y"], &attrs)],
            &[],
            ("x", &[1, 8, 2, 2]),
            ("y", &[1, 8, 2, 2]),
        );
        let e = read_onnx(&bytes).unwrap_err().to_string();
        assert!(e.contains("LpNormalization"), "{e}");
    }
}

/// MatMul of two activations (two views of the input, `[1, 4, 6] x [1, 6,
/// 4]`) is a BATCH_MATMUL: the float reference is the product written out
/// here, and the int8 plan (reshapes sharing bytes, one BATCH_MATMUL step)
/// stays within the quantization error of it.
#[test]
fn matmul_of_two_activations_is_a_batch_matmul() {
    let bytes = model(
        &[
            node("Reshape", "a", &["x", "sa"], &["A"], &[]),
            node("Reshape", "b", &["x", "sb"], &["B"], &[]),
            node("MatMul", "mm", &["A", "B"], &["P"], &[]),
            node("Reshape", "flat", &["P", "sf"], &["y"], &[]),
        ],
        &[
            int64_tensor("sa", &[3], &[1, 4, 6]),
            int64_tensor("sb", &[3], &[1, 6, 4]),
            int64_tensor("sf", &[2], &[1, 16]),
        ],
        ("x", &[1, 24]),
        ("y", &[1, 16]),
    );
    let m = read_onnx(&bytes).unwrap();
    let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
    assert_eq!(kinds, ["RESHAPE", "RESHAPE", "BATCH_MATMUL", "RESHAPE"]);
    let mut rng = XorShift(4242);
    let data: Vec<f32> = (0..64 * 24).map(|_| rng.uniform() * 2.0).collect();
    let batch = Array::from_f32(vec![64, 1, 24], &data);
    let want: Vec<f32> = data
        .chunks(24)
        .flat_map(|x| {
            (0..16).map(move |o| {
                let (i, j) = (o / 4, o % 4);
                (0..6).map(|k| x[i * 6 + k] * x[k * 4 + j]).sum::<f32>()
            })
        })
        .collect();
    let (float, int8, kinds, s_in, s_out) = float_and_int8(&m, &batch);
    assert!(max_rel_err(&float, &want) < 1e-5, "MatMul float reference");
    assert_eq!(
        kinds.iter().filter(|&&k| k == "BatchMatmul").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        kinds.iter().all(|&k| k == "BatchMatmul" || k == "Copy"),
        "{kinds:?}"
    );
    // Six products of two inputs of at most 2, each input off by half a step.
    let tol = 0.5 * s_out + 6.0 * 2.0 * 2.0 * 0.5 * s_in + 1e-4;
    for (&got, &exact) in int8.iter().zip(&want) {
        assert!((got - exact).abs() <= tol, "MatMul: {exact}, int8 {got}");
    }
}

/// ConvTranspose (stride 2, pads 1, output_padding 1, a bias) is a
/// TRANSPOSE_CONV: the float reference is ONNX's scatter written out here in
/// NCHW, and the int8 plan (one TRANSPOSE_CONV step, per-channel weights)
/// stays within the quantization error of it.
#[test]
fn conv_transpose_is_a_transpose_conv() {
    let (ic, oc, k, ih) = (2usize, 3usize, 3usize, 3usize);
    let wv: Vec<f32> = ramp(ic * oc * k * k, 0.05);
    let bv = [0.1f32, -0.2, 0.05];
    let bytes = model(
        &[node(
            "ConvTranspose",
            "up",
            &["x", "W", "B"],
            &["y"],
            &[
                attr_ints("strides", &[2, 2]),
                attr_ints("pads", &[1, 1, 1, 1]),
                attr_ints("output_padding", &[1, 1]),
            ],
        )],
        &[
            tensor("W", &[ic as i64, oc as i64, k as i64, k as i64], &wv),
            tensor("B", &[oc as i64], &bv),
        ],
        ("x", &[1, ic as i64, ih as i64, ih as i64]),
        ("y", &[1, oc as i64, 6, 6]),
    );
    let m = read_onnx(&bytes).unwrap();
    assert_eq!(m.graph.ops[0].kind.name(), "TRANSPOSE_CONV");
    let mut rng = XorShift(67);
    let n = 32;
    let data: Vec<f32> = (0..n * ic * ih * ih).map(|_| rng.uniform()).collect();
    let batch = Array::from_f32(vec![n, 1, ic, ih, ih], &data);
    let oh = 6usize;
    let mut want = vec![0f32; n * oc * oh * oh];
    for (s, x) in data.chunks(ic * ih * ih).enumerate() {
        let y = &mut want[s * oc * oh * oh..][..oc * oh * oh];
        for o in 0..oc {
            for p in 0..oh * oh {
                y[o * oh * oh + p] = bv[o];
            }
        }
        for i in 0..ic {
            for iy in 0..ih {
                for ix in 0..ih {
                    for o in 0..oc {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (oy, ox) = (2 * iy + ky, 2 * ix + kx);
                                // pads of 1 at the top and left.
                                if oy < 1 || ox < 1 || oy > oh || ox > oh {
                                    continue;
                                }
                                y[(o * oh + oy - 1) * oh + ox - 1] += x[(i * ih + iy) * ih + ix]
                                    * wv[((i * oc + o) * k + ky) * k + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    let float = run_float(&m, &batch).concat();
    assert!(
        max_rel_err(&float, &want) < 1e-5,
        "ConvTranspose float reference"
    );
    let calib = m.samples(&batch, "calib").unwrap();
    let q = quantize::quantize_and_assemble(&m, &calib, &Options::default(), "up").unwrap();
    let plan = q.assembled.model();
    assert!(
        matches!(plan.steps, [attonet_runtime::plan::Step::TransposeConv(_)]),
        "{:?}",
        plan.steps
    );
    let (s_in, s_out) = (plan.input.scale, plan.output.scale);
    let int8 = run_int8(&m, &q.assembled, &batch).concat();
    // At most 2 x 4 taps reach an output (2 input channels, a 3x3 kernel
    // at stride 2), each off by half an input step times a weight below
    // 0.55, or by a weight's half step (per channel) times an input below 1.
    let w_max = wv.iter().fold(0f32, |m, v| m.max(v.abs()));
    let tol = 0.5 * s_out + 8.0 * (w_max * 0.5 * s_in + 0.5 * w_max / 127.0) + 1e-4;
    for (&got, &exact) in int8.iter().zip(&want) {
        assert!(
            (got - exact).abs() <= tol,
            "ConvTranspose: {exact}, int8 {got} (tolerance {tol})"
        );
    }
    // Groups, dilation and output_padding not below the stride are named.
    for attrs in [
        vec![attr_int("group", 2)],
        vec![attr_ints("dilations", &[2, 2])],
        vec![attr_ints("output_padding", &[1, 1])],
    ] {
        let bytes = model(
            &[node("ConvTranspose", "up", &["x", "W"], &["y"], &attrs)],
            &[tensor("W", &[2, 3, 3, 3], &wv)],
            ("x", &[1, 2, 3, 3]),
            ("y", &[1, 3, 5, 5]),
        );
        let e = read_onnx(&bytes).unwrap_err().to_string();
        assert!(e.contains("ConvTranspose"), "{e}");
    }
}

/// PyTorch's export without constant folding builds a Resize's scales as a
/// Concat of float constants (`[1, 1] ++ [2, 2]`): folded into the one
/// constant, the model is the plain nearest x2 resize.
#[test]
fn a_concat_of_float_constants_folds_into_resize_scales() {
    let xd = [1usize, 3, 4, 5];
    let x: Vec<f32> = (0..xd.iter().product::<usize>())
        .map(|i| i as f32 * 0.25 - 3.0)
        .collect();
    let bytes = model(
        &[
            node(
                "Concat",
                "scales",
                &["a", "b"],
                &["sc"],
                &[attr_int("axis", 0)],
            ),
            node(
                "Resize",
                "up",
                &["x", "r", "sc"],
                &["y"],
                &[
                    attr_str("mode", "nearest"),
                    attr_str("coordinate_transformation_mode", "asymmetric"),
                    attr_str("nearest_mode", "floor"),
                ],
            ),
        ],
        &[
            tensor("a", &[2], &[1.0, 1.0]),
            tensor("b", &[2], &[2.0, 2.0]),
            tensor("r", &[0], &[]),
        ],
        ("x", &[1, 3, 4, 5]),
        ("y", &[1, 3, 8, 10]),
    );
    let m = read_onnx(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.outputs[0].dims, [1, 3, 8, 10]);
    assert_eq!(
        m.graph.ops.len(),
        1,
        "the Concat is folded: {:?}",
        m.graph.ops
    );
    let batch = Array::from_f32(vec![1, 1, 3, 4, 5], &x);
    let want = nchw_gather(&x, xd, [1, 3, 8, 10], 0.0, &|[_, c, h, w]| {
        Some([0, c, h / 2, w / 2])
    });
    assert_eq!(run_float(&m, &batch).concat(), want);
    // A Concat of a float and an integer constant is refused by name.
    let mixed = model(
        &[node(
            "Concat",
            "scales",
            &["a", "i"],
            &["y"],
            &[attr_int("axis", 0)],
        )],
        &[
            tensor("a", &[2], &[1.0, 1.0]),
            int64_tensor("i", &[2], &[2, 2]),
        ],
        ("x", &[1, 3, 4, 5]),
        ("y", &[4]),
    );
    let err = read_onnx(&mixed).unwrap_err().to_string();
    assert!(
        err.contains("Concat") && err.contains("float constant"),
        "{err}"
    );
}

/// PyTorch's `hardswish` before opset 14, `Mul(x, HardSigmoid(x; 1/6,
/// 1/2))`, reads as one HardSwish (its values within float rounding of
/// `x relu6(x + 3) / 6`); another HardSigmoid times x stays two ops.
#[test]
fn mul_by_its_own_hard_sigmoid_is_hard_swish() {
    let x: Vec<f32> = (0..2 * 4 * 4).map(|i| i as f32 * 0.3 - 5.0).collect();
    let batch = Array::from_f32(vec![1, 1, 2, 4, 4], &x);
    for (alpha, fused) in [(1.0f32 / 6.0, true), (0.2, false)] {
        let bytes = model(
            &[
                node(
                    "HardSigmoid",
                    "hs",
                    &["x"],
                    &["g"],
                    &[attr_float("alpha", alpha), attr_float("beta", 0.5)],
                ),
                node("Mul", "m", &["x", "g"], &["y"], &[]),
            ],
            &[],
            ("x", &[1, 2, 4, 4]),
            ("y", &[1, 2, 4, 4]),
        );
        let m = read_onnx(&bytes).unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<&str> = m.graph.ops.iter().map(|o| o.kind.name()).collect();
        if fused {
            assert_eq!(kinds, ["HARD_SWISH"]);
        } else {
            assert_eq!(kinds.len(), 2, "{kinds:?}");
        }
        let y = run_float(&m, &batch).concat();
        // NCHW in, NCHW out: the same element order.
        for (v, &xv) in y.iter().zip(&x) {
            let want = xv * (alpha * xv + 0.5).clamp(0.0, 1.0);
            assert!(
                (v - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{v} vs {want}"
            );
        }
    }
}

/// Older exports: an opset-9 Upsample (scales as input 1) and an opset-10
/// Resize (inputs X, scales) enlarge with floor and asymmetric coordinates;
/// opset 6 is refused by name.
#[test]
fn older_opsets_upsample_and_resize() {
    let xd = [1usize, 2, 3, 4];
    let x: Vec<f32> = (0..24).map(|i| i as f32 - 7.0).collect();
    let batch = Array::from_f32(vec![1, 1, 2, 3, 4], &x);
    let want = nchw_gather(&x, xd, [1, 2, 6, 8], 0.0, &|[_, c, h, w]| {
        Some([0, c, h / 2, w / 2])
    });
    for (opset, op) in [(9, "Upsample"), (10, "Resize")] {
        let bytes = model_at_opset(
            opset,
            &[node(
                op,
                "up",
                &["x", "sc"],
                &["y"],
                &[attr_str("mode", "nearest")],
            )],
            &[tensor("sc", &[4], &[1.0, 1.0, 2.0, 2.0])],
            ("x", &[1, 2, 3, 4]),
            ("y", &[1, 2, 6, 8]),
        );
        let m = read_onnx(&bytes).unwrap_or_else(|e| panic!("{op} at opset {opset}: {e}"));
        assert_eq!(
            run_float(&m, &batch).concat(),
            want,
            "{op} at opset {opset}"
        );
    }
    let old = model_at_opset(
        6,
        &[node("Relu", "r", &["x"], &["y"], &[])],
        &[],
        ("x", &[1, 2, 3, 4]),
        ("y", &[1, 2, 3, 4]),
    );
    let err = read_onnx(&old).unwrap_err().to_string();
    assert!(err.contains("opset 6"), "{err}");
}
