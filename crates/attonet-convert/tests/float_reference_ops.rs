//! The float reference executor (`float_exec`, what calibration and SQNR
//! run) on the op goldens of the ops with several outputs, PACK and
//! ARG_MAX / ARG_MIN: fed TensorFlow Lite Micro's inputs dequantized, it
//! must give TFLM's outputs dequantized (the data-movement ops move values,
//! so exactly) and TFLM's indices (dequantization keeps the int8 order and
//! ties, so the first-index rule gives the same index).

use std::path::PathBuf;

use attonet_convert::float_exec::FloatExecutor;
use attonet_convert::frontend::tflite::read_tflite;
use attonet_convert::ir::{Graph, Tensor};
use attonet_convert::npy::{Array, NpyType};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/op-goldens")
}

fn dequantize(t: &Tensor, q: i8) -> f32 {
    let qp = t.quant.as_ref().expect("a quantized tensor");
    (q as i32 - qp.zero_points[0] as i32) as f32 * qp.scales[0]
}

/// Every sample of `case` through the float executor: each output's values.
fn run(case: &str) -> (Graph, Vec<Vec<Vec<f32>>>) {
    let g = read_tflite(&std::fs::read(dir().join(format!("{case}.tflite"))).unwrap()).unwrap();
    let exec = FloatExecutor::new(&g).unwrap();
    let x = Array::read(&dir().join(format!("{case}_x.npy"))).unwrap();
    let input = &g.tensors[g.inputs[0]];
    let per = input.elements();
    let xs = x.as_i8().unwrap();
    let mut samples = Vec::new();
    for sample in xs.chunks_exact(per) {
        let real: Vec<f32> = sample.iter().map(|&q| dequantize(input, q)).collect();
        let values = exec.run(&real).unwrap();
        samples.push(
            g.outputs
                .iter()
                .map(|&o| values[o].clone().expect("every output computed"))
                .collect(),
        );
    }
    (g, samples)
}

#[test]
fn split_unpack_and_pack_move_values_exactly() {
    for (case, outputs) in [
        ("split_channels_2out", &["_y0", "_y1"][..]),
        ("split_height_3out", &["_y0", "_y1", "_y2"]),
        ("split_v_channels_2out", &["_y0", "_y1"]),
        ("unpack_axis1_3out", &["_y0", "_y1", "_y2"]),
        ("pack_self_last", &["_y"]),
    ] {
        let (g, samples) = run(case);
        for (k, suffix) in outputs.iter().enumerate() {
            let y = Array::read(&dir().join(format!("{case}{suffix}.npy"))).unwrap();
            let t = &g.tensors[g.outputs[k]];
            let golden: Vec<f32> = y
                .as_i8()
                .unwrap()
                .iter()
                .map(|&q| dequantize(t, q))
                .collect();
            let ours: Vec<f32> = samples.iter().flat_map(|s| s[k].iter().copied()).collect();
            assert_eq!(ours, golden, "{case} output {k}");
        }
    }
}

#[test]
fn arg_max_and_min_give_tflm_indices() {
    for case in [
        "arg_max_2d",
        "arg_max_4d_channels",
        "arg_max_4d_height",
        "arg_min_2d",
        "arg_min_4d_channels",
        "arg_min_4d_height",
    ] {
        let (_, samples) = run(case);
        let y = Array::read(&dir().join(format!("{case}_y.npy"))).unwrap();
        assert_eq!(y.dtype, NpyType::I32);
        let golden: Vec<f32> = y
            .data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect();
        let ours: Vec<f32> = samples.iter().flat_map(|s| s[0].iter().copied()).collect();
        assert_eq!(ours, golden, "{case}");
    }
}
