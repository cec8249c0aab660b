//! The PyTorch-trained CIFAR-10 fixture (`tests/onnx/cifar_resnet.onnx`, see
//! `cifar_resnet.json` for its provenance and onnxruntime's float top-1)
//! through `.onnx + calibration -> int8 plan -> host runner`, and the same
//! network quantized by onnxruntime (QDQ) through our QDQ path.
//!
//! CI runs the 1000-image checks; `cargo test -p attonet-convert --test
//! onnx_cifar -- --ignored --nocapture` prints the full-test-set figures for
//! every method. Needs `.data/cifar10` (`cargo xtask fetch-cifar10`); skips
//! with a note when it is missing, unless `CI` is set.

use attonet_convert::frontend::onnx::read_onnx;
use attonet_convert::npy::Array;
use attonet_convert::quantize::{self, FloatModel, Method, Options};

mod common;
use common::{argmax, cifar, root, Cifar};

/// Image `i` as the fixture's input: float NCHW `pixel / 255`.
fn nchw(c: &Cifar, i: usize) -> Vec<f32> {
    common::nchw(c, i, 1.0 / 255.0)
}

fn provenance() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("tests/onnx/cifar_resnet.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn figure(v: &serde_json::Value, key: &str, subset: &str) -> f64 {
    v[key][subset].as_f64().unwrap()
}

fn model(name: &str) -> FloatModel {
    read_onnx(&std::fs::read(root().join("tests/onnx").join(name)).unwrap()).unwrap()
}

/// MLPerf's 500 calibration indices into the training set.
fn calibration(fm: &FloatModel, train: &Cifar) -> Vec<Vec<f32>> {
    let idx = Array::read(&root().join("models/mlperf-tiny/ic_calibration_samples_idxs.npy"))
        .unwrap()
        .to_i64()
        .unwrap();
    idx.iter()
        .map(|&i| fm.sample_to_graph(&nchw(train, i as usize)))
        .collect()
}

/// Top-1 in per cent of the int8 plan over test images `0..n`, on every core.
fn int8_top1(fm: &FloatModel, a: &attonet_convert::Assembled, test: &Cifar, n: usize) -> f64 {
    100.0 * common::int8_correct(fm, a, test, n, 1.0 / 255.0) as f64 / n as f64
}

/// The bar on the CI-sized set: int8 within 0.5 points of
/// onnxruntime's float top-1 on the first 1000 test images.
#[test]
fn cifar_onnx_int8_within_half_a_point_first_1000() {
    let (Some(train), Some(test)) = (cifar("train"), cifar("test")) else {
        return;
    };
    let fm = model("cifar_resnet.onnx");
    let calib = calibration(&fm, &train);
    let q = quantize::quantize_and_assemble(&fm, &calib, &Options::default(), "cifar").unwrap();
    let n = 1000;
    let ours = int8_top1(&fm, &q.assembled, &test, n);
    let float = figure(&provenance(), "onnxruntime_float_top1", "test_first_1000");
    println!("first {n} test images: onnxruntime float {float:.2} %, our int8 {ours:.2} %");
    assert!(
        ours >= float - 0.5,
        "int8 {ours} % is more than 0.5 below float {float} %"
    );
}

/// onnxruntime's own QDQ quantization of the same network, converted with
/// its scales (no calibration), scores as onnxruntime scores it.
#[test]
fn cifar_qdq_matches_onnxruntime_first_1000() {
    let Some(test) = cifar("test") else {
        return;
    };
    let bytes = std::fs::read(root().join("tests/onnx/cifar_resnet_qdq.onnx")).unwrap();
    let fm = read_onnx(&bytes).unwrap();
    let a = attonet_convert::assemble_bytes(&bytes, "cifar_qdq").unwrap();
    let n = 1000;
    let ours = int8_top1(&fm, &a, &test, n);
    let ort = figure(&provenance(), "onnxruntime_qdq_top1", "test_first_1000");
    println!(
        "first {n} test images: onnxruntime QDQ {ort:.2} %, ours from the QDQ model {ours:.2} %"
    );
    assert!(
        (ours - ort).abs() <= 0.5,
        "ours {ours} %, onnxruntime {ort} %"
    );
}

/// Full test set, every method (not in CI: minutes).
#[test]
#[ignore]
fn cifar_onnx_full_test_set() {
    let (Some(train), Some(test)) = (cifar("train"), cifar("test")) else {
        return;
    };
    let p = provenance();
    let n = test.y.len();
    println!(
        "onnxruntime: float {:.2} %, QDQ {:.2} %",
        figure(&p, "onnxruntime_float_top1", "test_10000"),
        figure(&p, "onnxruntime_qdq_top1", "test_10000")
    );
    let qdq_bytes = std::fs::read(root().join("tests/onnx/cifar_resnet_qdq.onnx")).unwrap();
    let qdq = attonet_convert::assemble_bytes(&qdq_bytes, "cifar_qdq").unwrap();
    println!(
        "ours from the QDQ model: {:.2} %",
        int8_top1(&model("cifar_resnet_qdq.onnx"), &qdq, &test, n)
    );
    let fm = model("cifar_resnet.onnx");
    let exec = attonet_convert::float_exec::FloatExecutor::new(&fm.graph).unwrap();
    let float = (0..n)
        .filter(|&i| {
            argmax(
                &exec
                    .run_output(&fm.sample_to_graph(&nchw(&test, i)))
                    .unwrap(),
            ) as i64
                == test.y[i]
        })
        .count();
    println!(
        "float (our executor): {:.2} %",
        100.0 * float as f64 / n as f64
    );
    let calib = calibration(&fm, &train);
    for method in [
        Method::MinMax,
        Method::Percentile(0.9999),
        Method::Percentile(0.999),
        Method::Mse,
    ] {
        let opts = Options {
            method,
            ..Options::default()
        };
        let q = quantize::quantize_and_assemble(&fm, &calib, &opts, "cifar").unwrap();
        println!(
            "ours, {method}: {:.2} %",
            int8_top1(&fm, &q.assembled, &test, n)
        );
    }
}

/// Float samples with NaN or infinity (for `attonet run` or calibration) are
/// refused, naming the sample and element, before anything is quantized.
#[test]
fn non_finite_float_samples_are_refused_by_position() {
    let fm = model("cifar_resnet.onnx");
    let len: usize = fm.input_dims.iter().product();
    for (bad, word) in [
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let mut data = vec![0.25f32; 3 * len];
        data[len + 5] = bad;
        let mut shape = vec![3];
        shape.extend(&fm.input_dims[1..]);
        let e = fm
            .samples(&Array::from_f32(shape, &data), "x.npy")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("x.npy: sample 1, element 5 is {word}")),
            "{e}"
        );
    }
}

/// The saturation check of `attonet run` and `inspect`: test images like the
/// calibration set give no warning; the same images three times as bright
/// (outside what calibration saw) saturate most layers on most samples, and
/// the warning names the first of them.
#[test]
fn saturation_warnings_name_the_first_saturating_layer() {
    let (Some(train), Some(test)) = (cifar("train"), cifar("test")) else {
        return;
    };
    let fm = model("cifar_resnet.onnx");
    let calib = calibration(&fm, &train);
    let q = quantize::quantize_and_assemble(&fm, &calib, &Options::default(), "cifar").unwrap();
    let like = |scale: f32| -> Vec<Vec<f32>> {
        (0..100)
            .map(|i| fm.sample_to_graph(&common::nchw(&test, i, scale / 255.0)))
            .collect()
    };
    let normal = quantize::sqnr::layer_sqnr(&fm.graph, &q.assembled, &like(1.0)).unwrap();
    let warnings = quantize::sqnr::clip_warnings(&normal);
    assert!(warnings.is_empty(), "{warnings:?}");
    let bright = quantize::sqnr::layer_sqnr(&fm.graph, &q.assembled, &like(3.0)).unwrap();
    let first = bright
        .iter()
        .find(|r| r.clipped > quantize::sqnr::CLIP_LAYER_WARNING_FRACTION)
        .expect("a saturating layer");
    let warnings = quantize::sqnr::clip_warnings(&bright);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!("step {} ({})", first.step, first.tensor)),
        "{warnings:?}"
    );
}
