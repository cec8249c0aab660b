//! TFLite's float16 post-training quantization (`tests/float16/`, made by
//! the real TensorFlow Lite converter from one Keras model by
//! `tests/oracle/make_float16_models.py`): every weight and bias is stored
//! as FLOAT16 and read through a DEQUANTIZE op. The TFLite reader folds those
//! DEQUANTIZEs; the graph it gives must be the float32 export's, op for op,
//! with every constant the float32 one rounded to float16 and widened back
//! exactly (TFLM's `static_cast<float>`), and the model must go through
//! AttoNet's own int8 quantization as the float32 one does.

use attonet_convert::float_exec::FloatExecutor;
use attonet_convert::frontend::tflite::read_tflite;
use attonet_convert::ir::{DType, Graph};
use attonet_convert::quantize::{self, Options};

mod common;
use common::root;

fn graph(name: &str) -> Graph {
    let path = root().join("tests/float16").join(name);
    read_tflite(&std::fs::read(&path).unwrap()).unwrap()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Seeded uniform inputs in `[0, 1)`, 16x16x3 each (splitmix64).
fn inputs(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n)
        .map(|_| (0..16 * 16 * 3).map(|_| next()).collect())
        .collect()
}

#[test]
fn float16_weights_read_as_the_float32_weights_rounded() {
    let (g32, g16) = (graph("cnn_fp32.tflite"), graph("cnn_fp16.tflite"));
    // The six DEQUANTIZEs are gone; the source model's indices are kept
    // for messages (the CONV_2D is operator 6 of the file).
    assert_eq!(g16.ops.len(), g32.ops.len());
    assert_eq!(g16.source_ops.first(), Some(&6));
    let mut constants = 0;
    for (a, b) in g32.ops.iter().zip(&g16.ops) {
        assert_eq!(a.kind, b.kind);
        for (&x, &y) in a.inputs.iter().zip(&b.inputs) {
            let (Some(x), Some(y)) = (x, y) else { continue };
            let (tx, ty) = (&g32.tensors[x], &g16.tensors[y]);
            let Some(d32) = &tx.data else { continue };
            if tx.dtype != DType::F32 {
                continue;
            }
            let d16 = ty.data.as_ref().expect("the folded weight is a constant");
            assert_eq!((ty.dtype, &ty.shape), (DType::F32, &tx.shape));
            let rounded: Vec<f32> = f32s(d32)
                .iter()
                .map(|&v| half::f16::from_f32(v).to_f32())
                .collect();
            assert_eq!(f32s(d16), rounded, "{} vs {}", tx.name, ty.name);
            constants += 1;
        }
    }
    // The three convolutions' filters and biases (Keras's zero biases: the
    // converter shares one tensor of them) and the dense layer's weights
    // (no bias: the converter dropped its zeros).
    assert_eq!(constants, 7, "float constants compared");
}

#[test]
fn float16_model_quantizes_and_runs_as_the_float32_one() {
    let m32 = quantize::read_float_model(
        &std::fs::read(root().join("tests/float16/cnn_fp32.tflite")).unwrap(),
    )
    .unwrap();
    let m16 = quantize::read_float_model(
        &std::fs::read(root().join("tests/float16/cnn_fp16.tflite")).unwrap(),
    )
    .unwrap();
    let test = inputs(16, 7);
    // Float: the float16 rounding of the weights moves the softmax by little.
    let (e32, e16) = (
        FloatExecutor::new(&m32.graph).unwrap(),
        FloatExecutor::new(&m16.graph).unwrap(),
    );
    let mut worst = 0f32;
    for x in &test {
        let (a, b) = (e32.run_output(x).unwrap(), e16.run_output(x).unwrap());
        worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(worst, f32::max);
    }
    assert!(worst < 2e-3, "float outputs differ by {worst}");
    // int8: both quantized with the same calibration; outputs within two
    // steps of 1/256 (the quantizer's choices differ only through the weights).
    let calib = inputs(32, 1);
    let opts = Options::default();
    let q32 = quantize::quantize_and_assemble(&m32, &calib, &opts, "cnn_fp32").unwrap();
    let q16 = quantize::quantize_and_assemble(&m16, &calib, &opts, "cnn_fp16").unwrap();
    let (a, b) = (q32.assembled.model(), q16.assembled.model());
    let mut arena_a = vec![0i8; a.arena_bytes as usize];
    let mut arena_b = vec![0i8; b.arena_bytes as usize];
    let (mut ya, mut yb) = (vec![0i8; 5], vec![0i8; 5]);
    let mut steps = 0;
    for x in &test {
        let qa = quantize::quantize_values(x, a.input.scale, a.input.zero_point);
        let qb = quantize::quantize_values(x, b.input.scale, b.input.zero_point);
        a.infer(&mut arena_a, &qa, &mut ya).unwrap();
        b.infer(&mut arena_b, &qb, &mut yb).unwrap();
        steps = ya
            .iter()
            .zip(&yb)
            .map(|(p, q)| (*p as i32 - *q as i32).abs())
            .fold(steps, i32::max);
    }
    assert!(steps <= 2, "int8 outputs differ by {steps} steps");
}
