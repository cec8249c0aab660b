//! Post-training quantization of the MLPerf Tiny float ResNet-8
//! (`resnet8_fp32.tflite`, 87.19 % float top-1) by our quantizer, calibrated
//! on MLPerf's 500 calibration images (training-set indices), against the
//! int8 model TensorFlow Lite's converter made (87.07 %).
//!
//! CI runs the 1000-image check; `cargo test -p attonet-convert --test
//! quantize_resnet8 -- --ignored --nocapture` gives the full-test-set figures
//! for every method. Needs `.data/cifar10` (`cargo xtask fetch-cifar10`); the
//! tests skip with a note when it is missing, unless `CI` is set.

use attonet_convert::float_exec::FloatExecutor;
use attonet_convert::npy::Array;
use attonet_convert::quantize::{self, FloatModel, Method, Options};

mod common;
use common::{cifar, root, Cifar};

/// Image `i` as raw 0..255 floats, NHWC (ResNet-8's float input).
fn image(c: &Cifar, i: usize) -> Vec<f32> {
    c.x[i * 3072..(i + 1) * 3072]
        .iter()
        .map(|&p| p as f32)
        .collect()
}

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &s) in v.iter().enumerate() {
        if s > v[best] {
            best = i;
        }
    }
    best
}

fn float_model() -> FloatModel {
    let bytes = std::fs::read(root().join("models/mlperf-tiny/resnet8_fp32.tflite")).unwrap();
    quantize::read_float_model(&bytes).unwrap()
}

fn calibration(train: &Cifar) -> Vec<Vec<f32>> {
    let idx = Array::read(&root().join("models/mlperf-tiny/ic_calibration_samples_idxs.npy"))
        .unwrap()
        .to_i64()
        .unwrap();
    idx.iter().map(|&i| image(train, i as usize)).collect()
}

/// Top-1 of the int8 plan over test images `0..n`, in per cent, split over the cores.
fn int8_top1(a: &attonet_convert::Assembled, test: &Cifar, n: usize) -> f64 {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = n.div_ceil(threads);
    let correct: usize = std::thread::scope(|s| {
        (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    let m = a.model();
                    let mut arena = vec![0i8; m.arena_bytes as usize];
                    let mut out = vec![0i8; m.output.slot.shape.len()];
                    let mut ok = 0;
                    for i in start..(start + chunk).min(n) {
                        let q = quantize::quantize_values(
                            &image(test, i),
                            m.input.scale,
                            m.input.zero_point,
                        );
                        m.infer(&mut arena, &q, &mut out).unwrap();
                        ok += (argmax(&out) as i64 == test.y[i]) as usize;
                    }
                    ok
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum()
    });
    100.0 * correct as f64 / n as f64
}

fn float_top1(model: &FloatModel, test: &Cifar, n: usize) -> f64 {
    let exec = FloatExecutor::new(&model.graph).unwrap();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = n.div_ceil(threads);
    let exec = &exec;
    let correct: usize = std::thread::scope(|s| {
        (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    (start..(start + chunk).min(n))
                        .filter(|&i| {
                            argmax(&exec.run_output(&image(test, i)).unwrap()) as i64 == test.y[i]
                        })
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum()
    });
    100.0 * correct as f64 / n as f64
}

fn tflite_int8_top1(test: &Cifar, n: usize) -> f64 {
    let a = attonet_convert::load(&root().join("models/mlperf-tiny/resnet8_int8.tflite")).unwrap();
    int8_top1(&a, test, n)
}

/// The CI-sized check: the first 1000 test images.
#[test]
fn resnet8_ptq_first_1000_test_images() {
    let (Some(train), Some(test)) = (cifar("train"), cifar("test")) else {
        return;
    };
    let model = float_model();
    let calib = calibration(&train);
    let q =
        quantize::quantize_and_assemble(&model, &calib, &Options::default(), "resnet8").unwrap();
    // The input quantization of MLPerf's int8 model: pixel - 128.
    let m = q.assembled.model();
    assert_eq!((m.input.scale, m.input.zero_point), (1.0, -128));
    let n = 1000;
    let ours = int8_top1(&q.assembled, &test, n);
    let float = float_top1(&model, &test, n);
    let tflite = tflite_int8_top1(&test, n);
    println!("first {n} test images: float {float:.2} %, our int8 {ours:.2} %, TFLite's int8 {tflite:.2} %");
    // On these 1000 images: float 88.1 %, TFLite's int8 88.0 %, ours 87.9 %.
    assert!(
        ours >= tflite - 0.3,
        "our int8 {ours} % < TFLite's {tflite} % - 0.3"
    );
    assert!(
        ours >= float - 0.6,
        "our int8 {ours} % < float {float} % - 0.6"
    );
}

/// Full test set, every method (not in CI: minutes).
#[test]
#[ignore]
fn resnet8_ptq_full_test_set() {
    let (Some(train), Some(test)) = (cifar("train"), cifar("test")) else {
        return;
    };
    let model = float_model();
    let calib = calibration(&train);
    let n = test.y.len();
    println!(
        "float (our executor): {:.2} %",
        float_top1(&model, &test, n)
    );
    println!("TFLite's int8 model:  {:.2} %", tflite_int8_top1(&test, n));
    for method in [
        Method::MinMax,
        Method::Percentile(0.9999),
        Method::Percentile(0.999),
        Method::Mse,
    ] {
        for fc_per_channel in [true, false] {
            let opts = Options {
                method,
                fc_per_channel,
            };
            let t = std::time::Instant::now();
            let q = quantize::quantize_and_assemble(&model, &calib, &opts, "resnet8").unwrap();
            let secs = t.elapsed().as_secs_f64();
            println!(
                "ours, {method}, FC {}: {:.2} % (quantized in {secs:.1} s)",
                if fc_per_channel {
                    "per-channel"
                } else {
                    "per-tensor"
                },
                int8_top1(&q.assembled, &test, n)
            );
        }
    }
}
