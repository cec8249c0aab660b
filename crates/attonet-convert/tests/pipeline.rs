//! The converter pipeline end to end: bad models give errors (never panics),
//! fusion and in-place planning keep results identical while saving RAM.

use attonet_convert::ir::{Activation, DType, Graph, Op, OpKind, Padding, Quantization, Tensor};
use attonet_convert::program::LayerOp;
use attonet_convert::{assemble, lower, passes, ConvertError};

fn model(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../models/mlperf-tiny/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Runs a plan on one input; must never panic whatever the plan holds.
fn exercise(a: &attonet_convert::Assembled) {
    let m = a.model();
    let mut arena = vec![0i8; m.arena_bytes as usize];
    let input = vec![7i8; m.input.slot.shape.len()];
    let mut out = vec![0i8; m.output.slot.shape.len()];
    let _ = m.infer(&mut arena, &input, &mut out);
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Every truncation point we try is an error; random byte corruptions
/// either fail with an error or give a model that runs, and nothing panics.
#[test]
fn corrupt_models_give_errors_not_panics() {
    for name in ["resnet8_int8.tflite", "kws_dscnn_int8.tflite"] {
        let bytes = model(name);
        for cut in (0..bytes.len()).step_by(211).chain([bytes.len() - 1]) {
            let r = attonet_convert::assemble_bytes(&bytes[..cut], "m");
            assert!(r.is_err(), "{name} truncated to {cut} bytes was accepted");
        }
        let mut rng = XorShift(0x9e3779b97f4a7c15 ^ bytes.len() as u64);
        let (mut ok, mut err) = (0, 0);
        for i in 0..1500 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % b.len() as u64) as usize;
                b[at] = rng.next() as u8;
            }
            match attonet_convert::assemble_bytes(&b, "m") {
                Ok(a) => {
                    // Running is the slow part; a sample of the runnable ones suffices.
                    if i % 10 == 0 {
                        exercise(&a);
                    }
                    ok += 1
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    err += 1
                }
            }
        }
        // Most corruptions land in weights and still give a runnable model;
        // the rest must be reported.
        assert!(ok > 0 && err > 0, "{name}: ok {ok}, err {err}");
    }
}

#[test]
fn not_a_model_is_a_format_error() {
    let e = attonet_convert::assemble_bytes(b"", "m").unwrap_err();
    assert!(matches!(e, ConvertError::Format(_)), "{e}");
    let e = attonet_convert::assemble_bytes(b"\x89PNG\r\n\x1a\n-not-a-model-", "m").unwrap_err();
    assert!(e.to_string().contains("TFL3"), "{e}");
}

#[test]
fn float_model_is_refused_with_the_tensor_named() {
    let e = attonet_convert::assemble_bytes(&model("resnet8_fp32.tflite"), "m").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("float32") && msg.contains("int8"), "{msg}");
}

// ---------------------------------------------------------------------------
// A small AttoNet-style module built by hand: compress 1x1 -> grouped 3x3 ->
// mix 1x1 -> expand 1x1, plus the identity shortcut.

struct GraphBuilder {
    g: Graph,
    seed: u64,
}

impl GraphBuilder {
    fn act(&mut self, name: &str, shape: &[usize], scale: f32, zp: i64) -> usize {
        self.g.tensors.push(Tensor {
            variable: false,
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: Some(Quantization {
                scales: vec![scale],
                zero_points: vec![zp],
                axis: 0,
            }),
            data: None,
        });
        self.g.tensors.len() - 1
    }

    fn weights(&mut self, name: &str, shape: &[usize]) -> usize {
        let n: usize = shape.iter().product();
        let mut rng = XorShift(self.seed);
        self.seed += 1;
        let data = (0..n).map(|_| rng.next() as u8).collect();
        self.g.tensors.push(Tensor {
            variable: false,
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: Some(Quantization {
                scales: (0..shape[0]).map(|i| 0.004 + 0.0005 * i as f32).collect(),
                zero_points: vec![0; shape[0]],
                axis: 0,
            }),
            data: Some(data),
        });
        self.g.tensors.len() - 1
    }

    fn fully_connected(&mut self, x: usize, y: usize, w: usize) {
        self.g.ops.push(Op {
            kind: OpKind::FullyConnected {
                activation: Activation::None,
                keep_num_dims: false,
            },
            inputs: vec![Some(x), Some(w), None],
            outputs: vec![y],
        });
    }

    fn conv(&mut self, x: usize, y: usize, w: usize, act: Activation) {
        self.g.ops.push(Op {
            kind: OpKind::Conv2d {
                padding: Padding::Same,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                activation: act,
            },
            inputs: vec![Some(x), Some(w), None],
            outputs: vec![y],
        });
    }
}

fn attonet_module() -> Graph {
    let mut b = GraphBuilder {
        g: Graph::default(),
        seed: 0x1234_5678,
    };
    let x = b.act("x", &[1, 8, 8, 32], 0.05, -10);
    let c = b.act("compress", &[1, 8, 8, 8], 0.04, -128);
    let g = b.act("grouped", &[1, 8, 8, 8], 0.03, -128);
    let m = b.act("mix", &[1, 8, 8, 16], 0.02, -128);
    let e = b.act("expand", &[1, 8, 8, 32], 0.06, 3);
    let y = b.act("y", &[1, 8, 8, 32], 0.08, -20);
    let wc = b.weights("wc", &[8, 1, 1, 32]);
    let wg = b.weights("wg", &[8, 3, 3, 2]); // 4 groups of 2 channels
    let wm = b.weights("wm", &[16, 1, 1, 8]);
    let we = b.weights("we", &[32, 1, 1, 16]);
    b.conv(x, c, wc, Activation::Relu);
    b.conv(c, g, wg, Activation::Relu);
    b.conv(g, m, wm, Activation::Relu);
    b.conv(m, e, we, Activation::None);
    b.g.ops.push(Op {
        kind: OpKind::Add {
            activation: Activation::Relu,
        },
        inputs: vec![Some(e), Some(x)],
        outputs: vec![y],
    });
    b.g.inputs = vec![x];
    b.g.outputs = vec![y];
    b.g
}

fn outputs(a: &attonet_convert::Assembled, inputs: &[Vec<i8>]) -> Vec<Vec<i8>> {
    let m = a.model();
    let mut arena = vec![0i8; m.arena_bytes as usize];
    inputs
        .iter()
        .map(|x| {
            let mut out = vec![0i8; m.output.slot.shape.len()];
            m.infer(&mut arena, x, &mut out).unwrap();
            out
        })
        .collect()
}

/// Fusing mix+expand into one pointwise-pair step, and computing the ADD in
/// place, change no output bit and shrink the arena.
#[test]
fn fusion_and_in_place_add_are_exact_and_save_ram() {
    let graph = attonet_module();
    let unfused = assemble::assemble(lower::lower(&graph, "m").unwrap()).unwrap();
    let mut program = lower::lower(&graph, "m").unwrap();
    assert_eq!(passes::fuse_pointwise_pair::run(&mut program), 1);
    assert!(program
        .layers
        .iter()
        .any(|l| matches!(l.op, LayerOp::PointwisePair { mid_c: 16, .. })));
    let fused = assemble::assemble(program).unwrap();
    assert_eq!(fused.steps.len(), unfused.steps.len() - 1);
    assert!(
        fused.memory.arena_bytes < unfused.memory.arena_bytes,
        "fused {} B, unfused {} B",
        fused.memory.arena_bytes,
        unfused.memory.arena_bytes
    );
    let mut rng = XorShift(42);
    let inputs: Vec<Vec<i8>> = (0..20)
        .map(|_| (0..8 * 8 * 32).map(|_| rng.next() as i8).collect())
        .collect();
    let a = outputs(&unfused, &inputs);
    let b = outputs(&fused, &inputs);
    assert_eq!(a, b);
    // Outputs are not all clamped to one value (else the test would prove nothing).
    assert!(
        a.iter()
            .flatten()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 20
    );
}

/// The residual ADD writes over its dying input.
#[test]
fn add_is_planned_in_place() {
    let graph = attonet_module();
    let a = assemble::assemble(lower::lower(&graph, "m").unwrap()).unwrap();
    let add = a
        .steps
        .iter()
        .find_map(|s| match s {
            attonet_runtime::plan::Step::Add(add) => Some(*add),
            _ => None,
        })
        .unwrap();
    assert!(add.output == add.input1 || add.output == add.input2);
}

/// Shapes and types that contradict the operator are refused with the op named.
#[test]
fn inconsistent_shapes_and_types_are_named() {
    let mut graph = attonet_module();
    graph.tensors[1].shape = vec![1, 8, 7, 8]; // compress output width 7, not 8
    let e = lower::lower(&graph, "m").unwrap_err().to_string();
    assert!(e.contains("operator 0 (CONV_2D)"), "{e}");
    let mut graph = attonet_module();
    graph.tensors[2].dtype = DType::I16;
    let e = lower::lower(&graph, "m").unwrap_err().to_string();
    assert!(e.contains("int16") && e.contains("grouped"), "{e}");
}

/// The kernel set the generated code compiles in follows the Cortex-M DSP
/// kernels' own choices (`attonet_runtime::dsp_select`): the MLPerf models
/// link one columns block size and no portable convolution or depthwise
/// loops (every layer is on a DSP kernel); a convolution the columns kernel
/// does not take (a 3x3 window over 72 or 70 channels: 648 or 630 taps,
/// over its 576) links its sliced variant, one no DSP kernel takes (a 1x1
/// over one channel) the portable loops;
/// fused residuals link the in-place ADD, not the ADD step; no plan links
/// the run-time block checks (it was validated).
#[test]
fn kernel_set_links_what_the_dsp_kernels_reach() {
    use attonet_runtime::plan::kernels as k;
    let load = |name: &str| {
        let p = format!(
            "{}/../../models/mlperf-tiny/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        attonet_convert::load(std::path::Path::new(&p))
            .unwrap()
            .with_dsp_tables()
            .unwrap()
            .kernels()
            .0
    };
    let r8 = load("resnet8_int8.tflite");
    // Its shortcuts: the ADD's tables, built once per block run; no ADD
    // called on its own.
    for bit in [
        k::CONV,
        k::CONV_BLOCK4,
        k::RESIDUAL,
        k::SHORTCUT_TABLES,
        k::BLOCK,
        k::SOFTMAX,
    ] {
        assert_ne!(r8 & bit, 0, "ResNet-8 lacks {bit:#x}");
    }
    for bit in [
        k::CONV_BLOCK5,
        k::CONV_FALLBACK,
        k::EXACT_CONV,
        k::ADD,
        k::ADD_TABLES,
        k::ADD_DIRECT,
        k::ADD_FALLBACK,
        k::BLOCK_CHECKS,
        k::DEPTHWISE,
        k::CONV_DEPTHWISE_LIKE,
    ] {
        assert_eq!(r8 & bit, 0, "ResNet-8 links {bit:#x}");
    }
    let kws = load("kws_dscnn_int8.tflite");
    for bit in [k::CONV_BLOCK5, k::DEPTHWISE] {
        assert_ne!(kws & bit, 0, "KWS lacks {bit:#x}");
    }
    for bit in [k::CONV_FALLBACK, k::DEPTHWISE_FALLBACK, k::CONV_BLOCK4] {
        assert_eq!(kws & bit, 0, "KWS links {bit:#x}");
    }

    // A 3x3 window over 72 or 70 channels (648 or 630 taps) links the
    // sliced columns kernel; a 1x1 over one channel (a window of one byte),
    // the portable loops.
    let wide_bits = |channels: usize, k: usize| {
        let mut b = GraphBuilder {
            g: Graph::default(),
            seed: 0x5eed,
        };
        let x = b.act("x", &[1, 6, 6, channels], 0.05, -10);
        let y = b.act("y", &[1, 6, 6, 8], 0.04, -128);
        let w = b.weights("w", &[8, k, k, channels]);
        b.conv(x, y, w, Activation::Relu);
        b.g.inputs = vec![x];
        b.g.outputs = vec![y];
        let wide = assemble::assemble(lower::lower(&b.g, "wide").unwrap()).unwrap();
        wide.kernels().0
    };
    for channels in [72, 70] {
        let bits = wide_bits(channels, 3);
        assert_ne!(bits & k::CONV_WIDE, 0, "{bits:#x}");
        assert_eq!(bits & k::CONV_FALLBACK, 0, "{bits:#x}");
        assert_eq!(bits & (k::CONV_BLOCK4 | k::CONV_BLOCK5), 0, "{bits:#x}");
    }
    let bits = wide_bits(1, 1);
    assert_ne!(bits & k::CONV_FALLBACK, 0, "{bits:#x}");
    assert_eq!(
        bits & (k::CONV_WIDE | k::CONV_BLOCK4 | k::CONV_BLOCK5),
        0,
        "{bits:#x}"
    );
}

/// A 1x1 convolution, then a fully connected layer over its 1x1x16 output
/// (weights quantized per tensor, as TFLite writes them): the pass that runs
/// the FC as a 1x1 convolution changes no output bit, and leaves no FC step.
/// In a model of FC layers alone it changes nothing.
#[test]
fn fully_connected_as_pointwise_is_exact() {
    use attonet_convert::passes::fc_as_pointwise;
    use attonet_runtime::plan::Step;
    let mut b = GraphBuilder {
        g: Graph::default(),
        seed: 0xfc,
    };
    let x = b.act("x", &[1, 1, 1, 24], 0.05, -7);
    let h = b.act("h", &[1, 1, 1, 16], 0.04, -128);
    let y = b.act("y", &[1, 10], 0.11, 9);
    let wc = b.weights("wc", &[16, 1, 1, 24]);
    b.conv(x, h, wc, Activation::Relu);
    let wf = b.weights("wf", &[10, 16]);
    if let Some(q) = b.g.tensors[wf].quant.as_mut() {
        q.scales.truncate(1);
        q.zero_points.truncate(1);
    }
    b.fully_connected(h, y, wf);
    b.g.inputs = vec![x];
    b.g.outputs = vec![y];
    let program = lower::lower(&b.g, "fc").unwrap();
    let mut rewritten = program.clone();
    assert_eq!(fc_as_pointwise::run(&mut rewritten), 1);
    let plain = assemble::assemble(program).unwrap();
    let conv = assemble::assemble(rewritten).unwrap();
    assert!(plain
        .steps
        .iter()
        .any(|s| matches!(s, Step::FullyConnected(_))));
    assert!(!conv
        .steps
        .iter()
        .any(|s| matches!(s, Step::FullyConnected(_))));
    let mut rng = XorShift(7);
    let inputs: Vec<Vec<i8>> = (0..200)
        .map(|_| (0..24).map(|_| rng.next() as i8).collect())
        .collect();
    let a = outputs(&plain, &inputs);
    assert_eq!(a, outputs(&conv, &inputs));
    assert!(
        a.iter()
            .flatten()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 20
    );

    // FC layers alone: left as they are.
    let mut only_fc = GraphBuilder {
        g: Graph::default(),
        seed: 0xfd,
    };
    let x = only_fc.act("x", &[1, 16], 0.04, -128);
    let y = only_fc.act("y", &[1, 10], 0.11, 9);
    let w = only_fc.weights("w", &[10, 16]);
    only_fc.fully_connected(x, y, w);
    only_fc.g.inputs = vec![x];
    only_fc.g.outputs = vec![y];
    let mut p = lower::lower(&only_fc.g, "mlp").unwrap();
    assert_eq!(fc_as_pointwise::run(&mut p), 0);
}
