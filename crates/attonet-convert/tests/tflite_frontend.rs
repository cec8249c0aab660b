//! Tests of the TFLite front end (`frontend::tflite::read_tflite`).
//!
//! The facts asserted about the MLPerf Tiny models were obtained
//! independently of this crate: op lists, tensor shapes, types, quantization
//! and constant contents with the LiteRT interpreter (`ai-edge-litert` 2.3.0,
//! `Interpreter._get_ops_details`, `get_tensor_details`, `get_tensor`), and
//! operator options with the schema's official generated Python reader
//! (`ai_edge_litert.schema_py_generated.ModelT`).
//!
//! Malformed inputs: truncations, byte flips and overwrites of a real model,
//! plus small models built by hand with the FlatBuffers writer below, must
//! give `Ok` or a descriptive `Err`, never a panic.

use std::path::PathBuf;
use std::time::Instant;

use attonet_convert::frontend::tflite::{flatbuffer, read_tflite};
use attonet_convert::ir::{Activation, DType, Graph, OpKind, Padding, UnaryFn, UnaryNumerics};
use attonet_convert::ConvertError;

// ---------------------------------------------------------------------------
// Real models

fn model_bytes(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/mlperf-tiny")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

const RESNET8_INT8: &str = "resnet8_int8.tflite";
const RESNET8_FP32: &str = "resnet8_fp32.tflite";
const KWS_INT8: &str = "kws_dscnn_int8.tflite";
const KWS_FP32: &str = "kws_dscnn_fp32.tflite";

/// A value printed by the (float64) Python tools, as the f32 it came from.
fn f32_from(printed: f64) -> f32 {
    printed as f32
}

fn op_names(g: &Graph) -> Vec<&'static str> {
    g.ops.iter().map(|op| op.kind.name()).collect()
}

/// Sum of the elements of all constant tensors.
fn parameter_count(g: &Graph) -> usize {
    g.tensors
        .iter()
        .filter(|t| t.data.is_some())
        .map(|t| t.elements())
        .sum()
}

fn constant_bytes(g: &Graph) -> usize {
    g.tensors
        .iter()
        .filter_map(|t| t.data.as_ref())
        .map(Vec::len)
        .sum()
}

fn i8_data(g: &Graph, t: usize) -> Vec<i8> {
    g.tensors[t]
        .data
        .as_ref()
        .expect("constant")
        .iter()
        .map(|&b| b as i8)
        .collect()
}

fn i32_data(g: &Graph, t: usize) -> Vec<i32> {
    g.tensors[t]
        .data
        .as_ref()
        .expect("constant")
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn f32_data(g: &Graph, t: usize) -> Vec<f32> {
    g.tensors[t]
        .data
        .as_ref()
        .expect("constant")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// (inputs, outputs) of every op, -1 for an omitted input.
fn wiring(g: &Graph) -> Vec<(Vec<i64>, Vec<usize>)> {
    g.ops
        .iter()
        .map(|op| {
            let ins = op
                .inputs
                .iter()
                .map(|i| i.map_or(-1, |i| i as i64))
                .collect();
            (ins, op.outputs.clone())
        })
        .collect()
}

fn w(ins: &[i64], outs: &[usize]) -> (Vec<i64>, Vec<usize>) {
    (ins.to_vec(), outs.to_vec())
}

const RESNET8_OPS: [&str; 16] = [
    "CONV_2D",
    "CONV_2D",
    "CONV_2D",
    "ADD",
    "CONV_2D",
    "CONV_2D",
    "CONV_2D",
    "ADD",
    "CONV_2D",
    "CONV_2D",
    "CONV_2D",
    "ADD",
    "AVERAGE_POOL_2D",
    "RESHAPE",
    "FULLY_CONNECTED",
    "SOFTMAX",
];

fn resnet8_wiring() -> Vec<(Vec<i64>, Vec<usize>)> {
    vec![
        w(&[0, 8, 3], &[22]),
        w(&[22, 9, 4], &[23]),
        w(&[23, 10, 17], &[24]),
        w(&[22, 24], &[25]),
        w(&[25, 11, 5], &[26]),
        w(&[26, 12, 18], &[27]),
        w(&[25, 13, 19], &[28]),
        w(&[28, 27], &[29]),
        w(&[29, 14, 6], &[30]),
        w(&[30, 15, 20], &[31]),
        w(&[29, 16, 21], &[32]),
        w(&[32, 31], &[33]),
        w(&[33], &[34]),
        w(&[34, 2], &[35]),
        w(&[35, 7, 1], &[36]),
        w(&[36], &[37]),
    ]
}

fn conv(stride: usize, padding: Padding, activation: Activation) -> OpKind {
    OpKind::Conv2d {
        padding,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
        activation,
    }
}

#[test]
fn resnet8_int8_graph() {
    let g = read_tflite(&model_bytes(RESNET8_INT8)).expect("ResNet-8 int8 parses");

    assert_eq!(op_names(&g), RESNET8_OPS);
    assert_eq!(wiring(&g), resnet8_wiring());
    assert_eq!(g.tensors.len(), 38);
    assert_eq!(g.inputs, vec![0]);
    assert_eq!(g.outputs, vec![37]);

    let input = &g.tensors[0];
    assert_eq!(input.name, "input_1_int8");
    assert_eq!(input.shape, vec![1, 32, 32, 3]);
    assert_eq!(input.dtype, DType::I8);
    assert!(input.data.is_none());
    let q = input.quant.as_ref().expect("input is quantized");
    assert_eq!(q.scales, vec![1.0]);
    assert_eq!(q.zero_points, vec![-128]);

    let output = &g.tensors[37];
    assert_eq!(output.name, "Identity_int8");
    assert_eq!(output.shape, vec![1, 10]);
    assert_eq!(output.dtype, DType::I8);
    let q = output.quant.as_ref().expect("output is quantized");
    assert_eq!(q.scales, vec![0.00390625]);
    assert_eq!(q.zero_points, vec![-128]);

    // Options, per the schema's generated reader.
    use Activation::{None as NoAct, Relu};
    use Padding::{Same, Valid};
    let expected_convs = [
        (0, conv(1, Same, Relu)),
        (1, conv(1, Same, Relu)),
        (2, conv(1, Same, NoAct)),
        (4, conv(2, Same, Relu)),
        (5, conv(1, Same, NoAct)),
        (6, conv(2, Same, NoAct)),
        (8, conv(2, Same, Relu)),
        (9, conv(1, Same, NoAct)),
        (10, conv(2, Same, NoAct)),
    ];
    for (i, kind) in expected_convs {
        assert_eq!(g.ops[i].kind, kind, "op {i}");
    }
    for i in [3, 7, 11] {
        assert_eq!(g.ops[i].kind, OpKind::Add { activation: Relu }, "op {i}");
    }
    assert_eq!(
        g.ops[12].kind,
        OpKind::AveragePool2d {
            padding: Valid,
            stride_h: 8,
            stride_w: 8,
            filter_h: 8,
            filter_w: 8,
            activation: NoAct,
        }
    );
    assert_eq!(g.ops[13].kind, OpKind::Reshape);
    assert_eq!(
        g.ops[14].kind,
        OpKind::FullyConnected {
            activation: NoAct,
            keep_num_dims: false
        }
    );
    assert_eq!(g.ops[15].kind, OpKind::Softmax { beta: 1.0 });

    // First conv's filter: OHWI, per-channel int8 along axis 0.
    let filter = &g.tensors[8];
    assert_eq!(filter.name, "model/conv2d/Conv2D");
    assert_eq!(filter.shape, vec![16, 3, 3, 3]);
    assert_eq!(filter.dtype, DType::I8);
    let q = filter.quant.as_ref().expect("filter is quantized");
    assert_eq!(q.scales.len(), 16);
    assert_eq!(q.zero_points, vec![0; 16]);
    assert_eq!(q.axis, 0);
    assert_eq!(q.scales[0], f32_from(8.9026361820288e-05));
    let data = i8_data(&g, 8);
    assert_eq!(data.len(), 432);
    assert_eq!(&data[..6], &[25, 33, -47, 21, -16, -60]);
    assert_eq!(data.iter().map(|&v| i64::from(v)).sum::<i64>(), -200);

    // Its bias: int32 with the product scales.
    let bias = &g.tensors[3];
    assert_eq!(bias.shape, vec![16]);
    assert_eq!(bias.dtype, DType::I32);
    let b = i32_data(&g, 3);
    assert_eq!(&b[..3], &[6836, 11436, 9908]);
    assert_eq!(b.iter().map(|&v| i64::from(v)).sum::<i64>(), 54236);

    // FC weights [out, in], per-tensor; the reshape's shape constant.
    assert_eq!(g.tensors[7].shape, vec![10, 64]);
    assert_eq!(g.tensors[7].quant.as_ref().unwrap().scales.len(), 1);
    assert_eq!(
        i8_data(&g, 7).iter().map(|&v| i64::from(v)).sum::<i64>(),
        -3395
    );
    assert_eq!(i32_data(&g, 2), vec![-1, 64]);
    assert!(g.tensors[2].quant.is_none());

    // Residual-branch activation with a non-trivial zero point.
    assert_eq!(g.tensors[24].shape, vec![1, 32, 32, 16]);
    assert_eq!(g.tensors[24].quant.as_ref().unwrap().zero_points, vec![4]);

    assert_eq!(g.tensors.iter().filter(|t| t.data.is_some()).count(), 21);
    assert_eq!(parameter_count(&g), 77_708);
    assert_eq!(constant_bytes(&g), 78_752);
    check_invariants(&g);
}

fn kws_wiring() -> Vec<(Vec<i64>, Vec<usize>)> {
    vec![
        w(&[0, 17, 3], &[22]),
        w(&[22, 5, 4], &[23]),
        w(&[23, 18, 6], &[24]),
        w(&[24, 8, 7], &[25]),
        w(&[25, 19, 9], &[26]),
        w(&[26, 11, 10], &[27]),
        w(&[27, 20, 12], &[28]),
        w(&[28, 14, 13], &[29]),
        w(&[29, 21, 15], &[30]),
        w(&[30], &[31]),
        w(&[31, 2], &[32]),
        w(&[32, 16, 1], &[33]),
        w(&[33], &[34]),
    ]
}

const KWS_OPS: [&str; 13] = [
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "CONV_2D",
    "AVERAGE_POOL_2D",
    "RESHAPE",
    "FULLY_CONNECTED",
    "SOFTMAX",
];

#[test]
fn kws_dscnn_int8_graph() {
    // This file's operator codes carry only `deprecated_builtin_code`
    // (`builtin_code` is 0), so it also checks the max() rule.
    let g = read_tflite(&model_bytes(KWS_INT8)).expect("DS-CNN int8 parses");

    assert_eq!(op_names(&g), KWS_OPS);
    assert_eq!(wiring(&g), kws_wiring());
    assert_eq!(g.tensors.len(), 35);
    assert_eq!(g.inputs, vec![0]);
    assert_eq!(g.outputs, vec![34]);

    let input = &g.tensors[0];
    assert_eq!(input.shape, vec![1, 49, 10, 1]);
    assert_eq!(input.dtype, DType::I8);
    let q = input.quant.as_ref().unwrap();
    assert_eq!(q.scales, vec![f32_from(0.5847029089927673)]);
    assert_eq!(q.zero_points, vec![83]);
    let output = &g.tensors[34];
    assert_eq!(output.shape, vec![1, 12]);
    let q = output.quant.as_ref().unwrap();
    assert_eq!((q.scales[0], q.zero_points[0]), (0.00390625, -128));

    assert_eq!(
        g.ops[0].kind,
        conv(2, Padding::Same, Activation::Relu),
        "10x4 stride-2 SAME conv"
    );
    for i in [2, 4, 6, 8] {
        assert_eq!(g.ops[i].kind, conv(1, Padding::Same, Activation::Relu));
    }
    for i in [1, 3, 5, 7] {
        assert_eq!(
            g.ops[i].kind,
            OpKind::DepthwiseConv2d {
                padding: Padding::Same,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                depth_multiplier: 1,
                activation: Activation::Relu,
            },
            "op {i}"
        );
    }
    assert_eq!(
        g.ops[9].kind,
        OpKind::AveragePool2d {
            padding: Padding::Valid,
            stride_h: 25,
            stride_w: 5,
            filter_h: 25,
            filter_w: 5,
            activation: Activation::None,
        }
    );
    assert_eq!(g.ops[12].kind, OpKind::Softmax { beta: 1.0 });

    // Depthwise filter 1HWC, quantized per channel along axis 3.
    let dw = &g.tensors[5];
    assert_eq!(dw.shape, vec![1, 3, 3, 64]);
    let q = dw.quant.as_ref().unwrap();
    assert_eq!((q.scales.len(), q.axis), (64, 3));
    assert_eq!(q.scales[0], f32_from(0.008551519364118576));
    let data = i8_data(&g, 5);
    assert_eq!(&data[..6], &[42, 1, -63, -42, 35, -45]);
    assert_eq!(data.iter().map(|&v| i64::from(v)).sum::<i64>(), -5573);

    let first = &g.tensors[17];
    assert_eq!(first.shape, vec![64, 10, 4, 1]);
    assert_eq!(
        i8_data(&g, 17).iter().map(|&v| i64::from(v)).sum::<i64>(),
        3144
    );

    assert_eq!(parameter_count(&g), 22_606);
    assert_eq!(constant_bytes(&g), 24_376);
    check_invariants(&g);
}

#[test]
fn float_models_parse() {
    let g = read_tflite(&model_bytes(RESNET8_FP32)).expect("ResNet-8 fp32 parses");
    assert_eq!(op_names(&g), RESNET8_OPS);
    assert_eq!(wiring(&g), resnet8_wiring());
    let input = &g.tensors[g.inputs[0]];
    assert_eq!(
        (input.dtype, input.shape.clone()),
        (DType::F32, vec![1, 32, 32, 3])
    );
    assert!(input.quant.is_none());
    assert_eq!(g.tensors[g.outputs[0]].shape, vec![1, 10]);
    assert_eq!(g.tensors[8].dtype, DType::F32);
    let f = f32_data(&g, 8);
    assert_eq!(f.len(), 432);
    assert_eq!(f[0], f32_from(0.0022538667544722557));
    assert_eq!(parameter_count(&g), 77_708);
    assert_eq!(constant_bytes(&g), 4 * 77_708);
    check_invariants(&g);

    // The "fp32" DS-CNN is a hybrid: float activations, but its five
    // regular convolutions have int8 weights with per-tensor scales.
    let g = read_tflite(&model_bytes(KWS_FP32)).expect("DS-CNN fp32 parses");
    assert_eq!(op_names(&g), KWS_OPS);
    assert_eq!(wiring(&g), kws_wiring());
    assert_eq!(g.tensors[0].dtype, DType::F32);
    assert!(g.tensors[0].quant.is_none());
    assert_eq!(g.tensors[5].dtype, DType::F32);
    assert_eq!(f32_data(&g, 5)[0], f32_from(0.3585379719734192));
    for t in 17..=21 {
        assert_eq!(g.tensors[t].dtype, DType::I8, "tensor {t}");
        assert_eq!(g.tensors[t].quant.as_ref().unwrap().scales.len(), 1);
    }
    assert_eq!(
        g.tensors[17].quant.as_ref().unwrap().scales[0],
        f32_from(0.0020227544009685516)
    );
    assert_eq!(&i8_data(&g, 17)[..4], &[-4, 12, -7, 12]);
    assert_eq!(parameter_count(&g), 22_606);
    assert_eq!(constant_bytes(&g), 33_592);
    check_invariants(&g);
}

/// What later stages rely on: ids in range, data sized by shape and type,
/// quantization vectors consistent, op arity as documented in the IR.
fn check_invariants(g: &Graph) {
    let n = g.tensors.len();
    for t in &g.tensors {
        let elements = t
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .expect("element count fits");
        if let Some(data) = &t.data {
            if t.dtype.size() != 0 {
                assert_eq!(data.len(), elements * t.dtype.size(), "tensor {}", t.name);
            }
        }
        if let Some(q) = &t.quant {
            assert!(!q.scales.is_empty());
            assert_eq!(q.scales.len(), q.zero_points.len());
            assert!(t.shape.is_empty() || q.axis < t.shape.len());
        }
    }
    for id in g.inputs.iter().chain(&g.outputs) {
        assert!(*id < n);
    }
    for op in &g.ops {
        // One output an op, but one a part for SPLIT, SPLIT_V and UNPACK.
        match &op.kind {
            OpKind::Split { sizes, .. } => assert_eq!(op.outputs.len(), sizes.len()),
            _ => assert_eq!(op.outputs.len(), 1),
        }
        for id in op.inputs.iter().flatten().chain(&op.outputs) {
            assert!(*id < n);
        }
        let (min, max) = match op.kind {
            OpKind::Conv2d { .. }
            | OpKind::DepthwiseConv2d { .. }
            | OpKind::FullyConnected { .. } => (2, 3),
            OpKind::Add { .. } | OpKind::Arg { .. } => (2, 2),
            OpKind::Reshape => (1, 2),
            OpKind::Split { .. } => (1, 3),
            OpKind::Pack { .. } => (1, 64),
            _ => (1, 1),
        };
        assert!((min..=max).contains(&op.inputs.len()));
        assert!(op.inputs[0].is_some());
    }
}

// ---------------------------------------------------------------------------
// Malformed inputs

#[test]
fn not_a_tflite_file() {
    let msg = |r: Result<Graph, ConvertError>| -> (bool, String) {
        let e = r.expect_err("must fail");
        (matches!(e, ConvertError::Format(_)), e.to_string())
    };

    let (format, m) = msg(read_tflite(&[]));
    assert!(format && m.contains("empty"), "{m}");

    let (format, m) = msg(read_tflite(b"\x10\0\0\0TF"));
    assert!(format && m.contains("too short"), "{m}");

    let mut other = model_bytes(RESNET8_INT8);
    other[4..8].copy_from_slice(b"TFL2");
    let (format, m) = msg(read_tflite(&other));
    assert!(format && m.contains("TFL3") && m.contains("TFL2"), "{m}");

    let (format, m) = msg(read_tflite(
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00 a zip file",
    ));
    assert!(format && m.contains("TFL3"), "{m}");

    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let random: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    let (format, m) = msg(read_tflite(&random));
    assert!(format && m.contains("TFL3"), "{m}");
}

#[test]
fn random_bytes_with_identifier_are_corrupt() {
    let mut rng = XorShift(42);
    for len in [8usize, 9, 12, 16, 64, 1000, 4096] {
        for _ in 0..50 {
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            b[4..8].copy_from_slice(b"TFL3");
            match read_tflite(&b) {
                Ok(g) => check_invariants(&g),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
    // A root offset past the end.
    let mut b = vec![0xff, 0xff, 0xff, 0x7f];
    b.extend_from_slice(b"TFL3");
    let e = read_tflite(&b).unwrap_err();
    assert!(matches!(e, ConvertError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("root table"), "{e}");
}

#[test]
fn wrong_schema_version_is_a_format_error() {
    let mut b = model_bytes(RESNET8_INT8);
    let root = flatbuffer::root(&b).unwrap();
    let pos = root.field_pos(0, 4).unwrap().expect("version is stored");
    b[pos..pos + 4].copy_from_slice(&2u32.to_le_bytes());
    let e = read_tflite(&b).unwrap_err();
    assert!(matches!(e, ConvertError::Format(_)), "{e}");
    assert!(e.to_string().contains("version 2"), "{e}");
}

#[test]
fn truncations_never_panic() {
    let full = model_bytes(RESNET8_INT8);
    let start = Instant::now();
    let mut cuts: Vec<usize> = (0..256).collect();
    cuts.extend((256..full.len()).step_by(97));
    let mut errors = 0;
    for &cut in &cuts {
        match read_tflite(&full[..cut]) {
            Ok(g) => check_invariants(&g),
            Err(e) => {
                errors += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // The converter puts the constant data near the end and the structure
    // at both ends, so every strict prefix of this file is unreadable.
    assert_eq!(errors, cuts.len(), "every truncation is detected");
    eprintln!("{} truncations in {:?}", cuts.len(), start.elapsed());
}

/// Deterministic xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Marks the bytes of each buffer's data vector, so mutations can be aimed
/// at the FlatBuffers structure rather than at weights.
fn data_mask(file: &[u8]) -> Vec<bool> {
    let mut mask = vec![false; file.len()];
    let root = flatbuffer::root(file).unwrap();
    let buffers = root.tables(4).unwrap().unwrap();
    for i in 0..buffers.len() {
        if let Some(data) = buffers.get(i).unwrap().vector::<u8>(0).unwrap() {
            let start = data.bytes().as_ptr() as usize - file.as_ptr() as usize;
            mask[start..start + data.len()].fill(true);
        }
    }
    mask
}

fn mutate_and_parse(rel: &str, seed: u64, rounds: usize) -> (usize, usize) {
    let original = model_bytes(rel);
    let mask = data_mask(&original);
    let structure: Vec<usize> = (0..original.len()).filter(|&i| !mask[i]).collect();
    assert!(structure.len() > 1000);
    let mut rng = XorShift(seed);
    let mut file = original.clone();
    let (mut ok, mut err) = (0, 0);
    for round in 0..rounds {
        // Three quarters of the mutations hit the structure, the rest anywhere.
        let pick = |rng: &mut XorShift| {
            if rng.below(4) == 0 {
                rng.below(original.len())
            } else {
                structure[rng.below(structure.len())]
            }
        };
        let mut touched = Vec::new();
        if round % 2 == 0 {
            // Flip one bit.
            let p = pick(&mut rng);
            file[p] ^= 1 << rng.below(8);
            touched.push(p);
        } else {
            // Overwrite 1..=8 consecutive bytes with random or extreme values.
            let p = pick(&mut rng);
            let n = 1 + rng.below(8);
            let style = rng.below(3);
            for q in p..(p + n).min(file.len()) {
                file[q] = match style {
                    0 => rng.next() as u8,
                    1 => 0xff,
                    _ => 0,
                };
                touched.push(q);
            }
        }
        match read_tflite(&file) {
            Ok(g) => {
                check_invariants(&g);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
        }
        for q in touched {
            file[q] = original[q];
        }
    }
    (ok, err)
}

#[test]
fn byte_mutations_never_panic() {
    let start = Instant::now();
    let (ok, err) = mutate_and_parse(RESNET8_INT8, 0x9e37_79b9_7f4a_7c15, 10_000);
    // Both outcomes must occur, or the mutations are not reaching the parser.
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
    let (ok2, err2) = mutate_and_parse(KWS_INT8, 0xdead_beef_cafe_f00d, 5000);
    assert!(ok2 > 50 && err2 > 50, "ok {ok2}, err {err2}");
    eprintln!(
        "15000 mutations in {:?}: ResNet-8 {ok} ok / {err} err, DS-CNN {ok2} ok / {err2} err",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Byte-editing the real model

/// Position of field `slot` of operator code `i` in a model file.
fn opcode_field(file: &[u8], i: usize, slot: usize, size: usize) -> Option<usize> {
    let root = flatbuffer::root(file).unwrap();
    let codes = root.tables(1).unwrap().unwrap();
    codes.get(i).unwrap().field_pos(slot, size).unwrap()
}

#[test]
fn patched_opcode_is_named_in_the_error() {
    // ResNet-8's operator code 0 is CONV_2D (op 0 uses it); set its
    // builtin_code to EXP (47).
    let mut b = model_bytes(RESNET8_INT8);
    let pos = opcode_field(&b, 0, 3, 4).expect("builtin_code stored");
    assert_eq!(b[pos..pos + 4], 3i32.to_le_bytes());
    b[pos..pos + 4].copy_from_slice(&47i32.to_le_bytes());
    let e = read_tflite(&b).unwrap_err();
    match &e {
        ConvertError::UnsupportedOp {
            index,
            name,
            detail,
        } => {
            assert_eq!((*index, name.as_str(), detail), (0, "EXP", &None));
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
    assert_eq!(e.to_string(), "operator 0 (EXP) is not supported");

    // DS-CNN's operator code 1 (DEPTHWISE_CONV_2D, first used by op 1) is
    // stored only in deprecated_builtin_code.
    let mut b = model_bytes(KWS_INT8);
    let pos = opcode_field(&b, 1, 0, 1).expect("deprecated_builtin_code stored");
    assert_eq!(b[pos], 4);
    b[pos] = 47;
    let e = read_tflite(&b).unwrap_err();
    assert_eq!(e.to_string(), "operator 1 (EXP) is not supported");

    // Unused operator codes are fine: ResNet-8's list has QUANTIZE (code 6)
    // and DEQUANTIZE (code 7), which no operator uses.
    let b = model_bytes(RESNET8_INT8);
    let pos = opcode_field(&b, 6, 3, 4).expect("builtin_code stored");
    assert_eq!(b[pos..pos + 4], 114i32.to_le_bytes());
    assert!(read_tflite(&b).is_ok());
}

// ---------------------------------------------------------------------------
// Small models built by hand

/// A minimal forward FlatBuffers writer: each object is written before the
/// objects it refers to, so every `uoffset` points forward as the format
/// requires; a table's vtable is written just before it.
mod fb {
    pub enum F {
        I8(i8),
        U8(u8),
        Bool(bool),
        I32(i32),
        U32(u32),
        U64(u64),
        F32(f32),
        Obj(O),
    }

    pub enum O {
        /// A table: (slot, value) pairs.
        Table(Vec<(usize, F)>),
        /// A vector of scalars, already little-endian, `elem` bytes each.
        Scalars {
            elem: usize,
            bytes: Vec<u8>,
        },
        Str(String),
        Tables(Vec<O>),
    }

    fn align(b: &mut Vec<u8>, n: usize) {
        while b.len() % n != 0 {
            b.push(0);
        }
    }

    fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn write(b: &mut Vec<u8>, o: &O) -> usize {
        match o {
            O::Table(fields) => {
                let slots = fields.iter().map(|f| f.0 + 1).max().unwrap_or(0);
                align(b, 2);
                let vt = b.len();
                b.resize(vt + 4 + 2 * slots, 0);
                align(b, 8);
                let pos = b.len();
                b.extend_from_slice(&((pos - vt) as i32).to_le_bytes());
                let mut children = Vec::new();
                for (slot, value) in fields {
                    let bytes: Vec<u8> = match value {
                        F::I8(v) => v.to_le_bytes().to_vec(),
                        F::U8(v) => vec![*v],
                        F::Bool(v) => vec![u8::from(*v)],
                        F::I32(v) => v.to_le_bytes().to_vec(),
                        F::U32(v) => v.to_le_bytes().to_vec(),
                        F::U64(v) => v.to_le_bytes().to_vec(),
                        F::F32(v) => v.to_le_bytes().to_vec(),
                        F::Obj(_) => vec![0; 4],
                    };
                    align(b, bytes.len());
                    let at = b.len();
                    b.extend_from_slice(&bytes);
                    let off = (at - pos) as u16;
                    b[vt + 4 + 2 * slot..vt + 6 + 2 * slot].copy_from_slice(&off.to_le_bytes());
                    if let F::Obj(child) = value {
                        children.push((at, child));
                    }
                }
                let vt_size = (4 + 2 * slots) as u16;
                let t_size = (b.len() - pos) as u16;
                b[vt..vt + 2].copy_from_slice(&vt_size.to_le_bytes());
                b[vt + 2..vt + 4].copy_from_slice(&t_size.to_le_bytes());
                for (at, child) in children {
                    let target = write(b, child);
                    put_u32(b, at, (target - at) as u32);
                }
                pos
            }
            O::Scalars { elem, bytes } => {
                align(b, 4);
                while (b.len() + 4) % elem.max(&4) != 0 {
                    b.push(0);
                }
                let pos = b.len();
                b.extend_from_slice(&((bytes.len() / elem) as u32).to_le_bytes());
                b.extend_from_slice(bytes);
                pos
            }
            O::Str(s) => {
                align(b, 4);
                let pos = b.len();
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
                b.push(0);
                pos
            }
            O::Tables(items) => {
                align(b, 4);
                let pos = b.len();
                b.extend_from_slice(&(items.len() as u32).to_le_bytes());
                let slots = b.len();
                b.resize(slots + 4 * items.len(), 0);
                for (k, item) in items.iter().enumerate() {
                    let target = write(b, item);
                    let at = slots + 4 * k;
                    put_u32(b, at, (target - at) as u32);
                }
                pos
            }
        }
    }

    /// A whole buffer with `root` as its root table.
    pub fn finish(root: &O) -> Vec<u8> {
        let mut b = vec![0u8; 8];
        b[4..8].copy_from_slice(b"TFL3");
        let pos = write(&mut b, root);
        put_u32(&mut b, 0, pos as u32);
        b
    }
}

use fb::{F, O};

fn ints(v: &[i32]) -> O {
    O::Scalars {
        elem: 4,
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn floats(v: &[f32]) -> O {
    O::Scalars {
        elem: 4,
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn longs(v: &[i64]) -> O {
    O::Scalars {
        elem: 8,
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn ubytes(v: &[u8]) -> O {
    O::Scalars {
        elem: 1,
        bytes: v.to_vec(),
    }
}

fn quant(scales: &[f32], zero_points: &[i64], axis: i32) -> O {
    O::Table(vec![
        (2, F::Obj(floats(scales))),
        (3, F::Obj(longs(zero_points))),
        (6, F::I32(axis)),
    ])
}

/// A tensor table: shape, type code, buffer, name, optional quantization.
fn tensor(name: &str, shape: &[i32], ty: i8, buffer: u32, q: Option<O>) -> O {
    let mut f = vec![
        (0, F::Obj(ints(shape))),
        (1, F::I8(ty)),
        (2, F::U32(buffer)),
        (3, F::Obj(O::Str(name.to_string()))),
    ];
    if let Some(q) = q {
        f.push((4, F::Obj(q)));
    }
    O::Table(f)
}

/// An operator code stored the way current converters do: the deprecated
/// byte saturating at 127, the full code in `builtin_code`.
fn opcode(code: i32) -> O {
    O::Table(vec![
        (0, F::I8(code.min(127) as i8)),
        (2, F::I32(1)),
        (3, F::I32(code)),
    ])
}

fn custom_opcode(name: &str) -> O {
    O::Table(vec![
        (0, F::I8(32)),
        (1, F::Obj(O::Str(name.to_string()))),
        (3, F::I32(32)),
    ])
}

/// An operator with builtin options of union type `opt_type` (0 = none).
fn operator(
    opcode_index: u32,
    inputs: &[i32],
    outputs: &[i32],
    opt_type: u8,
    opts: Vec<(usize, F)>,
) -> O {
    let mut f = vec![
        (0, F::U32(opcode_index)),
        (1, F::Obj(ints(inputs))),
        (2, F::Obj(ints(outputs))),
    ];
    if opt_type != 0 {
        f.push((3, F::U8(opt_type)));
        f.push((4, F::Obj(O::Table(opts))));
    }
    O::Table(f)
}

fn buffer(data: &[u8]) -> O {
    if data.is_empty() {
        O::Table(vec![])
    } else {
        O::Table(vec![(0, F::Obj(ubytes(data)))])
    }
}

struct Spec {
    version: u32,
    opcodes: Vec<O>,
    tensors: Vec<O>,
    ops: Vec<O>,
    buffers: Vec<O>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    extra_subgraphs: Vec<O>,
}

impl Spec {
    fn build(self) -> Vec<u8> {
        let sg = O::Table(vec![
            (0, F::Obj(O::Tables(self.tensors))),
            (1, F::Obj(ints(&self.inputs))),
            (2, F::Obj(ints(&self.outputs))),
            (3, F::Obj(O::Tables(self.ops))),
            (4, F::Obj(O::Str("main".into()))),
        ]);
        let mut subgraphs = vec![sg];
        subgraphs.extend(self.extra_subgraphs);
        fb::finish(&O::Table(vec![
            (0, F::U32(self.version)),
            (1, F::Obj(O::Tables(self.opcodes))),
            (2, F::Obj(O::Tables(subgraphs))),
            (3, F::Obj(O::Str("hand-built".into()))),
            (4, F::Obj(O::Tables(self.buffers))),
        ]))
    }
}

const CONV_OPTS: u8 = 1;
const DW_OPTS: u8 = 2;
const POOL_OPTS: u8 = 5;
const FC_OPTS: u8 = 8;
const SOFTMAX_OPTS: u8 = 9;

/// int8 conv: input [1,4,4,2] -> filter [3,1,1,2] (+ bias [3]) -> [1,4,4,3].
fn conv_spec(opts: Vec<(usize, F)>) -> Spec {
    let q = || Some(quant(&[0.5], &[-1], 0));
    Spec {
        version: 3,
        opcodes: vec![opcode(3)],
        tensors: vec![
            tensor("in", &[1, 4, 4, 2], 9, 0, q()),
            tensor(
                "filter",
                &[3, 1, 1, 2],
                9,
                1,
                Some(quant(&[0.1, 0.2, 0.3], &[0, 0, 0], 0)),
            ),
            tensor("bias", &[3], 2, 2, None),
            tensor("out", &[1, 4, 4, 3], 9, 0, q()),
        ],
        ops: vec![operator(0, &[0, 1, 2], &[3], CONV_OPTS, opts)],
        buffers: vec![buffer(&[]), buffer(&[1, 2, 3, 4, 5, 6]), buffer(&[0; 12])],
        inputs: vec![0],
        outputs: vec![3],
        extra_subgraphs: vec![],
    }
}

fn basic_conv_opts() -> Vec<(usize, F)> {
    vec![(0, F::I8(1)), (1, F::I32(1)), (2, F::I32(1)), (3, F::I8(3))]
}

/// A single-op float model: [1,4] -> op(code) -> [1,4].
fn unary_spec(code: i32, opt_type: u8, opts: Vec<(usize, F)>) -> Spec {
    Spec {
        version: 3,
        opcodes: vec![opcode(code)],
        tensors: vec![
            tensor("x", &[1, 4], 0, 0, None),
            tensor("y", &[1, 4], 0, 0, None),
        ],
        ops: vec![operator(0, &[0], &[1], opt_type, opts)],
        buffers: vec![buffer(&[])],
        inputs: vec![0],
        outputs: vec![1],
        extra_subgraphs: vec![],
    }
}

fn unsupported(e: &ConvertError) -> (usize, String, Option<String>) {
    match e {
        ConvertError::UnsupportedOp {
            index,
            name,
            detail,
        } => (*index, name.clone(), detail.clone()),
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
}

#[test]
fn hand_built_conv_with_schema_defaults() {
    let g = read_tflite(&conv_spec(basic_conv_opts()).build()).unwrap();
    assert_eq!(g.ops.len(), 1);
    // Dilation factors are absent: the schema default is 1.
    assert_eq!(
        g.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            activation: Activation::Relu6,
        }
    );
    assert_eq!(g.ops[0].inputs, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(
        g.tensors[1].data.as_deref(),
        Some(&[1u8, 2, 3, 4, 5, 6][..])
    );
    assert_eq!(
        g.tensors[1].quant.as_ref().unwrap().scales,
        vec![0.1, 0.2, 0.3]
    );
    assert_eq!(g.tensors[2].dtype, DType::I32);
    assert_eq!(g.tensors[2].data.as_ref().unwrap().len(), 12);
    assert!(g.tensors[0].data.is_none());
    check_invariants(&g);

    // Explicit values, and an omitted bias (-1).
    let mut spec = conv_spec(vec![
        (0, F::I8(0)),
        (1, F::I32(2)),
        (2, F::I32(3)),
        (3, F::I8(2)),
        (4, F::I32(4)),
        (5, F::I32(5)),
    ]);
    spec.ops = vec![operator(
        0,
        &[0, 1, -1],
        &[3],
        CONV_OPTS,
        vec![
            (0, F::I8(0)),
            (1, F::I32(2)),
            (2, F::I32(3)),
            (3, F::I8(2)),
            (4, F::I32(4)),
            (5, F::I32(5)),
        ],
    )];
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(
        g.ops[0].kind,
        OpKind::Conv2d {
            padding: Padding::Same,
            stride_h: 3,
            stride_w: 2,
            dilation_h: 5,
            dilation_w: 4,
            activation: Activation::ReluN1To1,
        }
    );
    assert_eq!(g.ops[0].inputs, vec![Some(0), Some(1), None]);
}

#[test]
fn hand_built_unsupported_ops() {
    // EXP through builtin_code.
    let e = read_tflite(&unary_spec(47, 0, vec![]).build()).unwrap_err();
    assert_eq!(unsupported(&e), (0, "EXP".into(), None));
    assert_eq!(e.to_string(), "operator 0 (EXP) is not supported");

    // EXP through deprecated_builtin_code alone (older converters).
    let mut spec = unary_spec(0, 0, vec![]);
    spec.opcodes = vec![O::Table(vec![(0, F::I8(47))])];
    let e = read_tflite(&spec.build()).unwrap_err();
    assert_eq!(unsupported(&e).1, "EXP");

    // A code above 127: the byte holds PLACEHOLDER_FOR_GREATER_OP_CODES.
    let e = read_tflite(&unary_spec(150, 0, vec![]).build()).unwrap_err();
    assert_eq!(unsupported(&e).1, "GELU");

    // A code beyond the table.
    let e = read_tflite(&unary_spec(5000, 0, vec![]).build()).unwrap_err();
    assert!(unsupported(&e).1.contains("5000"), "{e}");

    // A custom op.
    let mut spec = unary_spec(0, 0, vec![]);
    spec.opcodes = vec![custom_opcode("MyFancyOp")];
    let e = read_tflite(&spec.build()).unwrap_err();
    let (index, name, detail) = unsupported(&e);
    assert_eq!((index, name.as_str()), (0, "MyFancyOp"));
    assert!(detail.unwrap().contains("custom op"));
    assert!(e.to_string().contains("MyFancyOp"), "{e}");

    // Control flow names the op and says why.
    let mut spec = unary_spec(119, 0, vec![]);
    spec.extra_subgraphs = vec![O::Table(vec![]), O::Table(vec![])];
    let e = read_tflite(&spec.build()).unwrap_err();
    let (_, name, detail) = unsupported(&e);
    assert_eq!(name, "WHILE");
    assert!(detail.unwrap().contains("subgraph"));

    // The op index is the operator's position: a supported op first.
    let mut spec = unary_spec(25, SOFTMAX_OPTS, vec![(0, F::F32(1.0))]);
    spec.opcodes.push(opcode(47));
    spec.tensors.push(tensor("z", &[1, 4], 0, 0, None));
    spec.ops.push(operator(1, &[1], &[2], 0, vec![]));
    let e = read_tflite(&spec.build()).unwrap_err();
    assert_eq!(e.to_string(), "operator 1 (EXP) is not supported");
}

/// The unary family: each builtin is one `OpKind::Unary` with TFLM numerics;
/// LEAKY_RELU reads its alpha (schema default 0 without options).
#[test]
fn hand_built_unary_ops() {
    let unary = |code: i32, opt_type: u8, opts: Vec<(usize, F)>| {
        let g = read_tflite(&unary_spec(code, opt_type, opts).build()).unwrap();
        match g.ops[0].kind {
            OpKind::Unary {
                func,
                numerics: UnaryNumerics::Tflm,
            } => func,
            ref other => panic!("{other:?}"),
        }
    };
    assert_eq!(unary(14, 0, vec![]), UnaryFn::Logistic);
    assert_eq!(unary(28, 0, vec![]), UnaryFn::Tanh);
    assert_eq!(unary(117, 0, vec![]), UnaryFn::HardSwish);
    assert_eq!(unary(19, 0, vec![]), UnaryFn::Relu);
    assert_eq!(unary(20, 0, vec![]), UnaryFn::ReluN1To1);
    assert_eq!(unary(21, 0, vec![]), UnaryFn::Relu6);
    assert_eq!(unary(114, 0, vec![]), UnaryFn::Requantize);
    assert_eq!(
        unary(98, 75, vec![(0, F::F32(0.25))]),
        UnaryFn::LeakyRelu { alpha: 0.25 }
    );
    assert_eq!(unary(98, 0, vec![]), UnaryFn::LeakyRelu { alpha: 0.0 });
    // Options of another type are corrupt.
    let e = read_tflite(&unary_spec(98, 9, vec![]).build()).unwrap_err();
    assert!(e.to_string().contains("LeakyReluOptions"), "{e}");
}

#[test]
fn hand_built_unsupported_options() {
    let with = |slot: usize, value: F| {
        let mut opts: Vec<(usize, F)> = basic_conv_opts()
            .into_iter()
            .filter(|(s, _)| *s != slot)
            .collect();
        opts.push((slot, value));
        read_tflite(&conv_spec(opts).build()).unwrap_err()
    };
    let e = with(3, F::I8(4));
    assert_eq!(
        unsupported(&e),
        (
            0,
            "CONV_2D".into(),
            Some("fused activation function TANH".into())
        )
    );
    let e = with(3, F::I8(5));
    assert!(e.to_string().contains("SIGN_BIT"), "{e}");
    let e = with(3, F::I8(9));
    assert!(e.to_string().contains("activation function code 9"), "{e}");
    let e = with(0, F::I8(2));
    assert!(unsupported(&e).2.unwrap().contains("padding"), "{e}");

    // Impossible values are Invalid, naming the option.
    let e = with(2, F::I32(0));
    assert!(matches!(e, ConvertError::Invalid { index: 0, .. }), "{e}");
    assert!(e.to_string().contains("stride_h is 0"), "{e}");
    let e = with(4, F::I32(-3));
    assert!(e.to_string().contains("dilation_w_factor is -3"), "{e}");

    // Missing or mistyped options table.
    let mut spec = conv_spec(vec![]);
    spec.ops = vec![operator(0, &[0, 1, 2], &[3], 0, vec![])];
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(matches!(e, ConvertError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("operator 0 (CONV_2D)"), "{e}");
    assert!(e.to_string().contains("Conv2DOptions"), "{e}");
    let mut spec = conv_spec(vec![]);
    spec.ops = vec![operator(0, &[0, 1, 2], &[3], POOL_OPTS, basic_conv_opts())];
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(e.to_string().contains("Pool2DOptions"), "{e}");

    // FULLY_CONNECTED with shuffled weights.
    let mut spec = unary_spec(9, FC_OPTS, vec![(1, F::I8(1))]);
    spec.tensors.push(tensor("w", &[4, 4], 0, 1, None));
    spec.buffers.push(buffer(&[0; 64]));
    spec.ops = vec![operator(0, &[0, 2], &[1], FC_OPTS, vec![(1, F::I8(1))])];
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(unsupported(&e).2.unwrap().contains("SHUFFLED4x16INT8"));
}

#[test]
fn hand_built_other_ops_and_defaults() {
    // SOFTMAX: beta as stored; absent, the schema default 0.0.
    let g = read_tflite(&unary_spec(25, SOFTMAX_OPTS, vec![(0, F::F32(0.5))]).build()).unwrap();
    assert_eq!(g.ops[0].kind, OpKind::Softmax { beta: 0.5 });
    let g = read_tflite(&unary_spec(25, SOFTMAX_OPTS, vec![]).build()).unwrap();
    assert_eq!(g.ops[0].kind, OpKind::Softmax { beta: 0.0 });

    // MAX_POOL_2D.
    let pool = vec![
        (0, F::I8(0)),
        (1, F::I32(2)),
        (2, F::I32(1)),
        (3, F::I32(3)),
        (4, F::I32(2)),
        (5, F::I8(1)),
    ];
    let g = read_tflite(&unary_spec(17, POOL_OPTS, pool).build()).unwrap();
    assert_eq!(
        g.ops[0].kind,
        OpKind::MaxPool2d {
            padding: Padding::Same,
            stride_h: 1,
            stride_w: 2,
            filter_h: 2,
            filter_w: 3,
            activation: Activation::Relu,
        }
    );
    // A pool window of 0 is Invalid.
    let e = read_tflite(&unary_spec(1, POOL_OPTS, vec![(1, F::I32(1)), (2, F::I32(1))]).build())
        .unwrap_err();
    assert!(e.to_string().contains("filter_height is 0"), "{e}");

    // DEPTHWISE_CONV_2D without depth_multiplier (schema default 0): the
    // multiplier comes from the filter and input channel counts.
    let mut spec = conv_spec(vec![]);
    spec.opcodes = vec![opcode(4)];
    spec.tensors[1] = tensor(
        "dw",
        &[1, 3, 3, 6],
        9,
        1,
        Some(quant(&[0.1; 6], &[0; 6], 3)),
    );
    spec.tensors[2] = tensor("bias", &[6], 2, 2, None);
    spec.tensors[3] = tensor("out", &[1, 4, 4, 6], 9, 0, None);
    spec.buffers = vec![buffer(&[]), buffer(&[7; 54]), buffer(&[0; 24])];
    spec.ops = vec![operator(
        0,
        &[0, 1, 2],
        &[3],
        DW_OPTS,
        vec![(1, F::I32(1)), (2, F::I32(1))],
    )];
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(
        g.ops[0].kind,
        OpKind::DepthwiseConv2d {
            padding: Padding::Same,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            depth_multiplier: 3,
            activation: Activation::None,
        }
    );
    assert_eq!(g.tensors[1].quant.as_ref().unwrap().axis, 3);

    // FULLY_CONNECTED without options, ADD, RESHAPE.
    let mut spec = unary_spec(9, 0, vec![]);
    spec.opcodes.push(opcode(0));
    spec.opcodes.push(opcode(22));
    spec.tensors.push(tensor("w", &[4, 4], 0, 1, None));
    spec.tensors.push(tensor("sum", &[1, 4], 0, 0, None));
    spec.tensors.push(tensor("flat", &[4], 0, 0, None));
    spec.buffers.push(buffer(&[0; 64]));
    spec.ops = vec![
        operator(0, &[0, 2, -1], &[1], 0, vec![]),
        operator(1, &[0, 1], &[3], 11, vec![(0, F::I8(3))]),
        operator(2, &[3], &[4], 0, vec![]),
    ];
    spec.outputs = vec![4];
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(
        g.ops[0].kind,
        OpKind::FullyConnected {
            activation: Activation::None,
            keep_num_dims: false
        }
    );
    assert_eq!(g.ops[0].inputs, vec![Some(0), Some(2), None]);
    assert_eq!(
        g.ops[1].kind,
        OpKind::Add {
            activation: Activation::Relu6
        }
    );
    assert_eq!(g.ops[2].kind, OpKind::Reshape);
    assert_eq!(g.outputs, vec![4]);
    check_invariants(&g);

    // FULLY_CONNECTED options as stored (asymmetric_quantize_inputs only
    // concerns hybrid kernels and is accepted).
    let mut spec = unary_spec(9, 0, vec![]);
    spec.tensors.push(tensor("w", &[4, 4], 0, 1, None));
    spec.buffers.push(buffer(&[0; 64]));
    let opts = vec![(0, F::I8(1)), (2, F::Bool(true)), (3, F::Bool(true))];
    spec.ops = vec![operator(0, &[0, 2], &[1], FC_OPTS, opts)];
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(
        g.ops[0].kind,
        OpKind::FullyConnected {
            activation: Activation::Relu,
            keep_num_dims: true
        }
    );
}

#[test]
fn hand_built_structural_errors_name_what_is_wrong() {
    let err = |spec: Spec| read_tflite(&spec.build()).unwrap_err().to_string();

    // Input index out of range.
    let mut spec = conv_spec(basic_conv_opts());
    spec.ops = vec![operator(0, &[0, 99, 2], &[3], CONV_OPTS, basic_conv_opts())];
    let m = err(spec);
    assert!(
        m.contains("operator 0 (CONV_2D)") && m.contains("tensor 99"),
        "{m}"
    );

    // -1 where an input is required, and a wrong input count.
    let mut spec = conv_spec(basic_conv_opts());
    spec.ops = vec![operator(0, &[0, -1], &[3], CONV_OPTS, basic_conv_opts())];
    let m = err(spec);
    assert!(m.contains("required input 1"), "{m}");
    let mut spec = conv_spec(basic_conv_opts());
    spec.ops = vec![operator(0, &[0], &[3], CONV_OPTS, basic_conv_opts())];
    let m = err(spec);
    assert!(m.contains("has 1 inputs"), "{m}");

    // Opcode index out of range.
    let mut spec = conv_spec(basic_conv_opts());
    spec.ops = vec![operator(7, &[0, 1, 2], &[3], CONV_OPTS, basic_conv_opts())];
    let m = err(spec);
    assert!(
        m.contains("operator 0") && m.contains("opcode index 7"),
        "{m}"
    );

    // Negative dimension.
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[3] = tensor("out", &[1, -4, 4, 3], 9, 0, None);
    let m = err(spec);
    assert!(
        m.contains("tensor 3 ('out')") && m.contains("negative dimension -4"),
        "{m}"
    );

    // A long, binary "name" is escaped and shortened in messages; a long
    // shape is shortened too.
    let mut spec = conv_spec(basic_conv_opts());
    let long: Vec<i32> = (0..1000).map(|k| if k == 500 { -1 } else { 1 }).collect();
    let name = format!("bad\n\u{1}{}", "x".repeat(500));
    spec.tensors[3] = tensor(&name, &long, 9, 0, None);
    let m = err(spec);
    assert!(
        m.contains("tensor 3 ('bad\\n\\u{1}xxx") && m.contains("xxx...')"),
        "{m}"
    );
    assert!(
        m.contains("[1, 1, 1, 1, 1, 1, 1, 1, ...]") && m.len() < 300,
        "{m}"
    );

    // Overflowing element count.
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[3] = tensor("out", &[i32::MAX, i32::MAX, i32::MAX, 3], 9, 0, None);
    let m = err(spec);
    assert!(m.contains("too many elements"), "{m}");

    // Constant data of the wrong size.
    let mut spec = conv_spec(basic_conv_opts());
    spec.buffers[1] = buffer(&[1, 2, 3, 4, 5]);
    let m = err(spec);
    assert!(
        m.contains("tensor 1 ('filter')") && m.contains("5 bytes") && m.contains("needs 6"),
        "{m}"
    );

    // Buffer index out of range.
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[2] = tensor("bias", &[3], 2, 40, None);
    let m = err(spec);
    assert!(
        m.contains("tensor 2 ('bias')") && m.contains("buffer index 40"),
        "{m}"
    );

    // Quantization: zero points missing or of the wrong count, bad axis.
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[0] = tensor(
        "in",
        &[1, 4, 4, 2],
        9,
        0,
        Some(O::Table(vec![(2, F::Obj(floats(&[0.5])))])),
    );
    let m = err(spec);
    assert!(
        m.contains("tensor 0 ('in')") && m.contains("no zero points"),
        "{m}"
    );
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[1] = tensor(
        "filter",
        &[3, 1, 1, 2],
        9,
        1,
        Some(quant(&[0.1, 0.2], &[0, 0], 0)),
    );
    let m = err(spec);
    assert!(m.contains("2 quantization scales"), "{m}");
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[1] = tensor(
        "filter",
        &[3, 1, 1, 2],
        9,
        1,
        Some(quant(&[0.1], &[0, 0], 0)),
    );
    let m = err(spec);
    assert!(m.contains("1 scales but 2 zero points"), "{m}");
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[1] = tensor("filter", &[3, 1, 1, 2], 9, 1, Some(quant(&[0.1], &[0], 4)));
    let m = err(spec);
    assert!(m.contains("quantized_dimension 4"), "{m}");

    // Sparse tensors and custom quantization are reported as unsupported.
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[1] = O::Table(vec![
        (0, F::Obj(ints(&[3, 1, 1, 2]))),
        (1, F::I8(9)),
        (2, F::U32(1)),
        (3, F::Obj(O::Str("filter".into()))),
        (6, F::Obj(O::Table(vec![]))),
    ]);
    let m = err(spec);
    assert!(
        m.contains("tensor 1 ('filter')") && m.contains("sparse"),
        "{m}"
    );
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[0] = tensor(
        "in",
        &[1, 4, 4, 2],
        9,
        0,
        Some(O::Table(vec![(4, F::U8(1)), (5, F::Obj(O::Table(vec![])))])),
    );
    let m = err(spec);
    assert!(m.contains("custom quantization"), "{m}");

    // Graph output out of range.
    let mut spec = conv_spec(basic_conv_opts());
    spec.outputs = vec![4];
    let m = err(spec);
    assert!(m.contains("graph output 0 refers to tensor 4"), "{m}");

    // No subgraphs; wrong version.
    let mut spec = conv_spec(basic_conv_opts());
    spec.version = 1;
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(matches!(e, ConvertError::Format(_)) && e.to_string().contains("version 1"));
    let b = fb::finish(&O::Table(vec![
        (0, F::U32(3)),
        (2, F::Obj(O::Tables(vec![]))),
    ]));
    let m = read_tflite(&b).unwrap_err().to_string();
    assert!(m.contains("no subgraphs"), "{m}");
}

#[test]
fn hand_built_quantization_absent_or_empty() {
    // An empty scale vector (as float models write) means "not quantized".
    let mut spec = conv_spec(basic_conv_opts());
    spec.tensors[3] = tensor("out", &[1, 4, 4, 3], 9, 0, Some(quant(&[], &[], 0)));
    spec.tensors[0] = tensor("in", &[1, 4, 4, 2], 9, 0, Some(O::Table(vec![])));
    let g = read_tflite(&spec.build()).unwrap();
    assert!(g.tensors[3].quant.is_none());
    assert!(g.tensors[0].quant.is_none());
}

#[test]
fn hand_built_external_buffers() {
    // Models over 2 GB keep constants after the FlatBuffer: Buffer.offset
    // (from the start of the file, valid when > 1) and Buffer.size.
    let build = |offset: u64, size: u64| {
        let mut spec = conv_spec(basic_conv_opts());
        spec.buffers[1] = O::Table(vec![(1, F::U64(offset)), (2, F::U64(size))]);
        spec.build()
    };
    let probe = build(0, 6);
    let at = probe.len() as u64;
    let mut file = build(at, 6);
    assert_eq!(file.len() as u64, at, "same layout");
    file.extend_from_slice(&[9, 8, 7, 6, 5, 4]);
    let g = read_tflite(&file).unwrap();
    assert_eq!(
        g.tensors[1].data.as_deref(),
        Some(&[9u8, 8, 7, 6, 5, 4][..])
    );

    // Offsets 0 and 1 mean "no external data".
    let g = read_tflite(&build(1, 6)).unwrap();
    assert!(g.tensors[1].data.is_none());

    // Outside the file, or overflowing.
    let m = read_tflite(&build(at, 6)).unwrap_err().to_string();
    assert!(
        m.contains("tensor 1 ('filter')") && m.contains("outside the file"),
        "{m}"
    );
    let m = read_tflite(&build(u64::MAX, u64::MAX))
        .unwrap_err()
        .to_string();
    assert!(m.contains("outside the file"), "{m}");
}

#[test]
fn shared_buffers_cannot_blow_up_memory() {
    // 60 tensors share one 64 KiB buffer: 3.75 MiB of copies from a file of
    // about 66 KiB, past the 16x-plus-1-MiB budget.
    let mut spec = unary_spec(25, SOFTMAX_OPTS, vec![(0, F::F32(1.0))]);
    spec.buffers.push(buffer(&vec![0u8; 65536]));
    for k in 0..60 {
        spec.tensors
            .push(tensor(&format!("c{k}"), &[16384], 0, 1, None));
    }
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(matches!(e, ConvertError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("memory"), "{e}");

    // A few sharers are fine.
    let mut spec = unary_spec(25, SOFTMAX_OPTS, vec![(0, F::F32(1.0))]);
    spec.buffers.push(buffer(&vec![0u8; 65536]));
    for k in 0..4 {
        spec.tensors
            .push(tensor(&format!("c{k}"), &[16384], 0, 1, None));
    }
    assert!(read_tflite(&spec.build()).is_ok());
}

#[test]
fn extra_subgraphs_are_ignored_when_unused() {
    let mut spec = conv_spec(basic_conv_opts());
    spec.extra_subgraphs = vec![O::Table(vec![])];
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(g.ops.len(), 1);
}

#[test]
fn hand_built_mutations_never_panic() {
    // The small model is almost all structure, so every mutation counts.
    let original = conv_spec(basic_conv_opts()).build();
    let mut rng = XorShift(7);
    for _ in 0..3000 {
        let mut b = original.clone();
        for _ in 0..1 + rng.below(3) {
            let p = rng.below(b.len());
            b[p] = match rng.below(4) {
                0 => 0,
                1 => 0xff,
                2 => b[p] ^ (1 << rng.below(8)),
                _ => rng.next() as u8,
            };
        }
        match read_tflite(&b) {
            Ok(g) => check_invariants(&g),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    for cut in 0..original.len() {
        assert!(read_tflite(&original[..cut]).is_err(), "cut {cut}");
    }
}

// ---------------------------------------------------------------------------
// Shape arithmetic folded to constants (frontend/tflite/fold.rs)

const SHAPE: i32 = 77;
const STRIDED_SLICE: i32 = 45;
const PACK: i32 = 83;
const RESHAPE: i32 = 22;
const STRIDED_SLICE_OPTS: u8 = 32;
const PACK_OPTS: u8 = 59;
const RESHAPE_OPTS: u8 = 17;

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `tf.reshape(x, [tf.shape(x)[0], -1])` with the batch not fixed, as the
/// converter writes it: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, the
/// RESHAPE's output stored as the placeholder `[1, 1]` (the converter could
/// not infer it). x is int8 `[1, 2, 2, 8]`.
fn keras_flatten_spec() -> Spec {
    let q = || Some(quant(&[0.5], &[0], 0));
    Spec {
        version: 3,
        opcodes: vec![
            opcode(SHAPE),
            opcode(STRIDED_SLICE),
            opcode(PACK),
            opcode(RESHAPE),
        ],
        tensors: vec![
            tensor("x", &[1, 2, 2, 8], 9, 0, q()),
            tensor("shape", &[4], 2, 0, None),
            tensor("begin", &[1], 2, 1, None),
            tensor("end", &[1], 2, 2, None),
            tensor("strides", &[1], 2, 2, None),
            tensor("batch", &[], 2, 0, None),
            tensor("minus1", &[], 2, 3, None),
            tensor("new_shape", &[2], 2, 0, None),
            tensor("y", &[1, 1], 9, 0, q()),
        ],
        ops: vec![
            operator(0, &[0], &[1], 55, vec![(0, F::I8(2))]),
            operator(
                1,
                &[1, 2, 3, 4],
                &[5],
                STRIDED_SLICE_OPTS,
                vec![(4, F::I32(1))],
            ),
            operator(2, &[5, 6], &[7], PACK_OPTS, vec![(0, F::I32(2))]),
            operator(3, &[0, 7], &[8], 0, vec![]),
        ],
        buffers: vec![
            buffer(&[]),
            buffer(&i32_bytes(&[0])),
            buffer(&i32_bytes(&[1])),
            buffer(&i32_bytes(&[-1])),
        ],
        inputs: vec![0],
        outputs: vec![8],
        extra_subgraphs: vec![],
    }
}

#[test]
fn shape_arithmetic_is_folded() {
    let g = read_tflite(&keras_flatten_spec().build()).unwrap();
    check_invariants(&g);
    // Only the RESHAPE is left, named by its index in the model.
    assert_eq!(op_names(&g), ["RESHAPE"]);
    assert_eq!(g.source_ops, [3]);
    assert_eq!(g.source_index(0), 3);
    assert_eq!(g.ops[0].inputs, [Some(0), Some(7)]);
    // The folded values are constants: [1, 2, 2, 8], 1, [1, -1].
    assert_eq!(i32_data(&g, 1), [1, 2, 2, 8]);
    assert_eq!(
        (i32_data(&g, 5), g.tensors[5].shape.clone()),
        (vec![1], vec![])
    );
    assert_eq!(i32_data(&g, 7), [1, -1]);
    // The placeholder output shape became the one the shape tensor says.
    assert_eq!(g.tensors[8].shape, [1, 32]);

    // Listed out of order (a model is not required to be sorted for this), the chain still folds.
    let mut spec = keras_flatten_spec();
    spec.ops.swap(0, 2);
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(op_names(&g), ["RESHAPE"]);
    assert_eq!(g.tensors[8].shape, [1, 32]);

    // The converted plan is a reshape of the input.
    let a = attonet_convert::assemble_bytes(&keras_flatten_spec().build(), "m").unwrap();
    let x: Vec<i8> = (0..32).map(|v| v as i8 - 16).collect();
    let model = a.model();
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let mut y = vec![0i8; 32];
    model.infer(&mut arena, &x, &mut y).unwrap();
    assert_eq!(x, y);
}

#[test]
fn reshape_target_from_tensor_or_new_shape() {
    // A stored output shape that holds the input's elements is kept (TFLM
    // reshapes to it), whatever the shape input says.
    let mut spec = keras_flatten_spec();
    spec.tensors[8] = tensor("y", &[1, 4, 8], 9, 0, Some(quant(&[0.5], &[0], 0)));
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(g.tensors[8].shape, [1, 4, 8]);

    // No shape tensor: ReshapeOptions.new_shape, with its -1.
    let mut spec = keras_flatten_spec();
    spec.ops[3] = operator(
        3,
        &[0],
        &[8],
        RESHAPE_OPTS,
        vec![(0, F::Obj(ints(&[-1, 16])))],
    );
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(g.tensors[8].shape, [2, 16]);
    // A constant shape tensor wins over new_shape (as in TFLite).
    let mut spec = keras_flatten_spec();
    spec.ops[3] = operator(
        3,
        &[0, 7],
        &[8],
        RESHAPE_OPTS,
        vec![(0, F::Obj(ints(&[-1, 16])))],
    );
    let g = read_tflite(&spec.build()).unwrap();
    assert_eq!(g.tensors[8].shape, [1, 32]);

    // A target that cannot hold the input is Invalid, naming the RESHAPE.
    let mut spec = keras_flatten_spec();
    spec.buffers[3] = buffer(&i32_bytes(&[5]));
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(matches!(e, ConvertError::Invalid { index: 3, .. }), "{e}");
    assert!(e.to_string().contains("operator 3 (RESHAPE)"), "{e}");
    assert!(e.to_string().contains("cannot be reshaped"), "{e}");
}

#[test]
fn shape_arithmetic_that_cannot_be_folded_is_refused() {
    // SHAPE feeding an op that is not folded: that op is refused, as before.
    let mut spec = keras_flatten_spec();
    spec.opcodes[2] = opcode(94); // FILL
    spec.ops[2] = operator(2, &[5, 6], &[7], 0, vec![]);
    let e = read_tflite(&spec.build()).unwrap_err();
    assert_eq!(e.to_string(), "operator 2 (FILL) is not supported");

    // A foldable op whose input is computed at run time: named, with the input.
    let mut spec = keras_flatten_spec();
    spec.tensors[0] = tensor("x", &[1, 2, 2, 8], 2, 0, None); // an int32 model input
    spec.ops[0] = operator(1, &[0, 2, 3, 4], &[1], STRIDED_SLICE_OPTS, vec![]);
    let e = read_tflite(&spec.build()).unwrap_err();
    let (index, name, detail) = unsupported(&e);
    assert_eq!((index, name.as_str()), (0, "STRIDED_SLICE"));
    let detail = detail.unwrap();
    assert!(
        detail.contains("input 0 ('x') is a model input"),
        "{detail}"
    );
    assert!(
        detail.contains("only shape arithmetic on constants"),
        "{detail}"
    );

    // An op downstream of an unfoldable one names that one.
    let mut spec = keras_flatten_spec();
    spec.tensors.push(tensor("act", &[4], 2, 0, None));
    spec.inputs = vec![0, 9];
    spec.ops[1] = operator(1, &[9, 2, 3, 4], &[5], STRIDED_SLICE_OPTS, vec![]);
    let e = read_tflite(&spec.build()).unwrap_err();
    let (index, name, detail) = unsupported(&e);
    assert_eq!((index, name.as_str()), (1, "STRIDED_SLICE"), "{e}");
    assert!(detail.unwrap().contains("model input"), "{e}");

    // Masks the folding does not take are named.
    let mut spec = keras_flatten_spec();
    spec.ops[1] = operator(
        1,
        &[1, 2, 3, 4],
        &[5],
        STRIDED_SLICE_OPTS,
        vec![(2, F::I32(1))],
    );
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(e.to_string().contains("operator 1 (STRIDED_SLICE)"), "{e}");
    assert!(e.to_string().contains("ellipsis_mask"), "{e}");

    // A slice out of range is Invalid, naming the op.
    let mut spec = keras_flatten_spec();
    spec.buffers[1] = buffer(&i32_bytes(&[7]));
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(matches!(e, ConvertError::Invalid { index: 1, .. }), "{e}");
    assert!(e.to_string().contains("out of range"), "{e}");
}

#[test]
fn shape_arithmetic_mutations_never_panic() {
    let original = keras_flatten_spec().build();
    let mut rng = XorShift(11);
    for _ in 0..3000 {
        let mut b = original.clone();
        for _ in 0..1 + rng.below(3) {
            let p = rng.below(b.len());
            b[p] = match rng.below(4) {
                0 => 0,
                1 => 0xff,
                2 => b[p] ^ (1 << rng.below(8)),
                _ => rng.next() as u8,
            };
        }
        match read_tflite(&b) {
            Ok(g) => check_invariants(&g),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

// ---------------------------------------------------------------------------
// Ops with several outputs, PACK, ARG_MAX: their options and constant inputs

/// An int8 `[1, 4, 6]` input cut by `code` (SPLIT 49, SPLIT_V 102, UNPACK
/// 88) into outputs of `out_shapes`; `consts` are int32 constant tensors
/// (name, shape, values) appended after the input, `inputs` the op's inputs
/// by tensor index (the input is 0, the constants 1..), options of type
/// `opt_type`.
fn split_spec(
    code: i32,
    consts: &[(&str, &[i32], &[i32])],
    inputs: &[i32],
    out_shapes: &[&[i32]],
    opt_type: u8,
    opts: Vec<(usize, F)>,
) -> Spec {
    let q = || Some(quant(&[0.25], &[3], 0));
    let mut tensors = vec![tensor("x", &[1, 4, 6], 9, 0, q())];
    let mut buffers = vec![buffer(&[])];
    for (k, (name, shape, values)) in consts.iter().enumerate() {
        tensors.push(tensor(name, shape, 2, k as u32 + 1, None));
        buffers.push(buffer(&i32_bytes(values)));
    }
    let first_out = tensors.len() as i32;
    for (k, shape) in out_shapes.iter().enumerate() {
        tensors.push(tensor(&format!("y{k}"), shape, 9, 0, q()));
    }
    let outputs: Vec<i32> = (first_out..first_out + out_shapes.len() as i32).collect();
    Spec {
        version: 3,
        opcodes: vec![opcode(code)],
        tensors,
        ops: vec![operator(0, inputs, &outputs, opt_type, opts)],
        buffers,
        inputs: vec![0],
        outputs,
        extra_subgraphs: vec![],
    }
}

fn invalid_message(e: &ConvertError, index: usize, op: &str) -> String {
    match e {
        ConvertError::Invalid {
            index: i,
            op: o,
            message,
        } if *i == index && o == op => message.clone(),
        other => panic!("expected an Invalid error naming operator {index} ({op}), got {other:?}"),
    }
}

/// SPLIT, SPLIT_V and UNPACK read into one `OpKind::Split` with an output
/// per part (the activation first, whatever the file's input order), and
/// convert and run; sizes that do not add up, an axis out of range or a
/// part count unlike the outputs' are refused naming the operator.
#[test]
fn hand_built_split_ops_and_their_bad_inputs() {
    const SPLIT: i32 = 49;
    const SPLIT_V: i32 = 102;
    const UNPACK: i32 = 88;
    let (split_opts, split_v_opts, unpack_opts) = (35u8, 79u8, 64u8);
    let num = |n: i32| vec![(0, F::I32(n))];

    // SPLIT [axis, input]: the channels in halves.
    let spec = split_spec(
        SPLIT,
        &[("axis", &[], &[-1])],
        &[1, 0],
        &[&[1, 4, 3], &[1, 4, 3]],
        split_opts,
        num(2),
    );
    let bytes = spec.build();
    let g = read_tflite(&bytes).unwrap();
    check_invariants(&g);
    let op = &g.ops[0];
    assert_eq!(op.inputs[0], Some(0), "the activation is input 0");
    assert!(matches!(
        &op.kind,
        OpKind::Split { axis: 2, sizes, squeeze: false, name: "SPLIT" } if sizes == &[3, 3]
    ));
    let model = attonet_convert::assemble_bytes(&bytes, "split").unwrap();
    let m = model.model();
    assert_eq!(m.outputs.len(), 2);
    let x: Vec<i8> = (0..24).collect();
    let (mut a, mut b) = ([0i8; 12], [0i8; 12]);
    let mut arena = vec![0i8; m.arena_bytes as usize];
    m.infer_multi(&mut arena, &[&x], &mut [&mut a, &mut b])
        .unwrap();
    let rows = |first: i8| -> Vec<i8> {
        (0..4)
            .flat_map(|r| (0..3).map(move |c| r * 6 + first + c))
            .collect()
    };
    assert_eq!((a.to_vec(), b.to_vec()), (rows(0), rows(3)));

    // SPLIT: an axis out of range, a dimension the outputs do not divide,
    // num_splits unlike the outputs.
    for (axis, outs, n, says) in [
        (3, &[&[1, 4, 3][..], &[1, 4, 3]][..], 2, "out of range"),
        (
            1,
            &[&[1, 1, 6][..], &[1, 1, 6], &[1, 2, 6]][..],
            3,
            "equal parts",
        ),
        (2, &[&[1, 4, 3][..], &[1, 4, 3]][..], 3, "num_splits"),
    ] {
        let spec = split_spec(
            SPLIT,
            &[("axis", &[], &[axis])],
            &[1, 0],
            outs,
            split_opts,
            num(n),
        );
        let e = read_tflite(&spec.build()).unwrap_err();
        let m = invalid_message(&e, 0, "SPLIT");
        assert!(m.contains(says), "{m}");
    }

    // SPLIT_V [input, size_splits, axis]: one size inferred (-1).
    let spec = split_spec(
        SPLIT_V,
        &[("sizes", &[2], &[2, -1]), ("axis", &[], &[2])],
        &[0, 1, 2],
        &[&[1, 4, 2], &[1, 4, 4]],
        split_v_opts,
        num(2),
    );
    let bytes = spec.build();
    let g = read_tflite(&bytes).unwrap();
    assert!(matches!(&g.ops[0].kind, OpKind::Split { sizes, .. } if sizes == &[2, 4]));
    attonet_convert::assemble_bytes(&bytes, "split_v").unwrap();
    for (sizes, says) in [
        (&[2, 5][..], "add up"),
        (&[-1, -1][..], "add up"),
        (&[7, -1][..], "add up"),
        (&[-3, 9][..], "negative"),
    ] {
        let spec = split_spec(
            SPLIT_V,
            &[("sizes", &[2], sizes), ("axis", &[], &[2])],
            &[0, 1, 2],
            &[&[1, 4, 2], &[1, 4, 4]],
            split_v_opts,
            num(2),
        );
        let e = read_tflite(&spec.build()).unwrap_err();
        let m = invalid_message(&e, 0, "SPLIT_V");
        assert!(m.contains(says), "{sizes:?}: {m}");
    }
    // The output shapes are checked against the parts when lowering.
    let spec = split_spec(
        SPLIT_V,
        &[("sizes", &[2], &[2, 4]), ("axis", &[], &[2])],
        &[0, 1, 2],
        &[&[1, 4, 4], &[1, 4, 2]],
        split_v_opts,
        num(2),
    );
    let e = attonet_convert::assemble_bytes(&spec.build(), "bad").unwrap_err();
    assert!(invalid_message(&e, 0, "SPLIT_V").contains("part 0"), "{e}");

    // UNPACK along axis 1: four outputs without the axis; num must be 4.
    let outs: [&[i32]; 4] = [&[1, 6]; 4];
    let spec = split_spec(
        UNPACK,
        &[],
        &[0],
        &outs,
        unpack_opts,
        vec![(0, F::I32(4)), (1, F::I32(1))],
    );
    let bytes = spec.build();
    let g = read_tflite(&bytes).unwrap();
    assert!(matches!(
        &g.ops[0].kind,
        OpKind::Split {
            axis: 1,
            squeeze: true,
            ..
        }
    ));
    attonet_convert::assemble_bytes(&bytes, "unpack").unwrap();
    let spec = split_spec(
        UNPACK,
        &[],
        &[0],
        &outs,
        unpack_opts,
        vec![(0, F::I32(3)), (1, F::I32(1))],
    );
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(invalid_message(&e, 0, "UNPACK").contains("num"), "{e}");
    let spec = split_spec(
        UNPACK,
        &[],
        &[0],
        &outs,
        unpack_opts,
        vec![(0, F::I32(4)), (1, F::I32(-4))],
    );
    let e = read_tflite(&spec.build()).unwrap_err();
    assert!(
        invalid_message(&e, 0, "UNPACK").contains("out of range"),
        "{e}"
    );
}

/// PACK and ARG_MAX read their axis as TFLM resolves it and refuse one out
/// of range naming the operator; ARG_MAX's int32 output converts, an int64
/// one is refused at the operator.
#[test]
fn hand_built_pack_and_arg_max_axes() {
    let q = || Some(quant(&[0.25], &[3], 0));
    let pack = |axis: i32, out: &[i32]| Spec {
        version: 3,
        opcodes: vec![opcode(83)],
        tensors: vec![
            tensor("x", &[1, 4, 6], 9, 0, q()),
            tensor("y", out, 9, 0, q()),
        ],
        ops: vec![operator(
            0,
            &[0, 0],
            &[1],
            59,
            vec![(0, F::I32(2)), (1, F::I32(axis))],
        )],
        buffers: vec![buffer(&[])],
        inputs: vec![0],
        outputs: vec![1],
        extra_subgraphs: vec![],
    };
    let g = read_tflite(&pack(-1, &[1, 4, 6, 2]).build()).unwrap();
    assert_eq!(g.ops[0].kind, OpKind::Pack { axis: 3 });
    attonet_convert::assemble_bytes(&pack(-1, &[1, 4, 6, 2]).build(), "pack").unwrap();
    let e = read_tflite(&pack(4, &[1, 4, 6, 2]).build()).unwrap_err();
    assert!(
        invalid_message(&e, 0, "PACK").contains("out of range"),
        "{e}"
    );
    // An output that is not the stack of the inputs.
    let e = attonet_convert::assemble_bytes(&pack(1, &[1, 4, 6, 2]).build(), "pack").unwrap_err();
    assert!(
        invalid_message(&e, 0, "PACK").contains("concatenating"),
        "{e}"
    );

    let arg = |axis: i32, out_ty: i8, out: &[i32]| Spec {
        version: 3,
        opcodes: vec![opcode(56)],
        tensors: vec![
            tensor("x", &[1, 4, 6], 9, 0, q()),
            tensor("axis", &[1], 2, 1, None),
            tensor("y", out, out_ty, 0, None),
        ],
        ops: vec![operator(0, &[0, 1], &[2], 40, vec![(0, F::I8(out_ty))])],
        buffers: vec![buffer(&[]), buffer(&i32_bytes(&[axis]))],
        inputs: vec![0],
        outputs: vec![2],
        extra_subgraphs: vec![],
    };
    let g = read_tflite(&arg(-2, 2, &[1, 6]).build()).unwrap();
    assert!(matches!(g.ops[0].kind, OpKind::Arg { axis: 1, .. }));
    let a = attonet_convert::assemble_bytes(&arg(-2, 2, &[1, 6]).build(), "arg").unwrap();
    assert_eq!(a.model().output.len(), 24, "six int32 indices");
    let e = read_tflite(&arg(3, 2, &[1, 6]).build()).unwrap_err();
    assert!(
        invalid_message(&e, 0, "ARG_MAX").contains("out of range"),
        "{e}"
    );
    // int64 indices: TFLM's kernel refuses them too.
    let e = attonet_convert::assemble_bytes(&arg(1, 4, &[1, 6]).build(), "arg").unwrap_err();
    let (index, name, detail) = unsupported(&e);
    assert_eq!((index, name.as_str()), (0, "ARG_MAX"));
    assert!(detail.unwrap().contains("int64"), "{e}");
    // Any other output type is the wrong tensor type.
    let e = attonet_convert::assemble_bytes(&arg(1, 7, &[1, 6]).build(), "arg").unwrap_err();
    assert!(
        matches!(&e, ConvertError::TensorType { index: 0, op, found, .. } if op == "ARG_MAX" && found == "int16"),
        "{e:?}"
    );
}
