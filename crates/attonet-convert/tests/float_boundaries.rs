//! The float model boundaries against TensorFlow Lite Micro, value by value
//! (`tests/boundary-edges`, made by `tests/oracle/make_boundary_edges.py`):
//! a QUANTIZE alone over rounding ties and their neighbours, multiples of
//! the scale, signed zeros, subnormals, infinities, NaN, values beyond
//! `i32` and random bit patterns; a DEQUANTIZE alone over all 256 int8
//! values. Converted and run by the host runner (the firmware's kernels).
//!
//! Every byte must be TFLM's, except where TFLM's
//! `static_cast<int32_t>(round(x / scale))` is undefined in C++ (NaN, or a
//! quotient beyond the `i32` range): there the x86 TFLM the oracle runs gives
//! `i32::MIN` (so -128), and we give what TFLM gives on an Arm core (the
//! conversion saturates, NaN becomes 0): 127 or -128 by sign, the zero point
//! for NaN. Those values are counted and checked separately.

use std::path::PathBuf;

use attonet_convert::assemble_bytes;
use attonet_convert::npy::{Array, NpyType};
use attonet_runtime::plan::ElementType;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/boundary-edges")
}

fn run(name: &str) -> (Array, Vec<u8>, Array) {
    let d = dir();
    let bytes = std::fs::read(d.join(format!("{name}.tflite"))).unwrap();
    let assembled = assemble_bytes(&bytes, name).unwrap();
    let model = assembled.model();
    model.validate().unwrap();
    let x = Array::read(&d.join(format!("{name}_x.npy"))).unwrap();
    let y = Array::read(&d.join(format!("{name}_y.npy"))).unwrap();
    let (il, ol) = (model.input.len(), model.output.len());
    let xs: Vec<i8> = x.data.iter().map(|&b| b as i8).collect();
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let mut out = vec![0i8; ol];
    let mut ours = Vec::new();
    for sample in xs.chunks_exact(il) {
        model.infer(&mut arena, sample, &mut out).unwrap();
        ours.extend(out.iter().map(|&b| b as u8));
    }
    assert_eq!(ours.len(), y.data.len(), "{name}");
    (x, ours, y)
}

#[test]
fn quantize_from_float_is_tflm_wherever_tflm_is_defined() {
    let d = dir();
    let bytes = std::fs::read(d.join("quantize_only.tflite")).unwrap();
    let assembled = assemble_bytes(&bytes, "quantize_only").unwrap();
    let model = assembled.model();
    assert_eq!(model.input.dtype, ElementType::Float32);
    assert_eq!(model.output.dtype, ElementType::Int8);
    let (scale, zp) = (model.output.scale, model.output.zero_point);
    let (x, ours, tflm) = run("quantize_only");
    assert_eq!((x.dtype, tflm.dtype), (NpyType::F32, NpyType::I8));
    let xs: Vec<f32> = x
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (mut exact, mut undefined, mut ties) = (0, 0, 0);
    for ((&v, &a), &b) in xs.iter().zip(&ours).zip(&tflm.data) {
        let (a, b) = (a as i8, b as i8);
        let q = v / scale;
        if q.is_nan() || q.abs() >= 2_147_483_648.0 {
            // Undefined in TFLM's C++: x86 gives i32::MIN + zp -> -128.
            undefined += 1;
            assert_eq!(b, -128, "x86 TFLM on {v:e}");
            let arm = if q.is_nan() {
                zp.clamp(-128, 127) as i8
            } else if q > 0.0 {
                127
            } else {
                -128
            };
            assert_eq!(a, arm, "ours on {v:e}");
            continue;
        }
        if q.fract().abs() == 0.5 {
            ties += 1;
        }
        assert_eq!(
            a, b,
            "QUANTIZE of {v:e} (x / scale = {q:e}): ours {a}, TFLM {b}"
        );
        exact += 1;
    }
    // The ties, both signs, are reached (half away from zero, not to even).
    assert!(ties >= 500, "{ties} exact ties");
    assert!(
        exact >= 5000 && undefined >= 10,
        "{exact} defined, {undefined} undefined"
    );
}

#[test]
fn dequantize_to_float_is_tflm_bit_for_bit() {
    let (x, ours, tflm) = run("dequantize_only");
    assert_eq!((x.dtype, tflm.dtype), (NpyType::I8, NpyType::F32));
    assert_eq!(x.data.len(), 256);
    assert_eq!(ours, tflm.data);
}
