//! `cargo xtask demo`: the main job on the host. Converts the MLPerf Tiny
//! ResNet-8, shows its plan, and classifies the CIFAR-10 test images with
//! the same runtime the firmware links.

use std::path::Path;

use anyhow::{Context, Result};
use attonet_convert::npy::Array;

use crate::cmd;

const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Runs the demo over the first `limit` test images (all 10,000 by default).
pub fn demo(root: &Path, limit: Option<usize>) -> Result<()> {
    crate::data::fetch_cifar10(root, &Default::default())?;
    let model = root.join("models/mlperf-tiny/resnet8_int8.tflite");
    let work = root.join(".data/demo");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    // The int8 input the model expects: pixel - 128, HWC RGB.
    let pixels = Array::read(&root.join(".data/cifar10/test_x.npy"))?;
    let labels = Array::read(&root.join(".data/cifar10/test_y.npy"))?;
    let n = limit.unwrap_or(pixels.shape[0]).min(pixels.shape[0]);
    let image = 32 * 32 * 3;
    let x: Vec<i8> = pixels.data[..n * image]
        .iter()
        .map(|&p| (p as i16 - 128) as i8)
        .collect();
    let y = labels.to_i64().context("labels must be integers")?;
    Array::from_i8(vec![n, 32, 32, 3], &x).write(&work.join("input.npy"))?;
    Array {
        dtype: attonet_convert::npy::NpyType::I64,
        shape: vec![n],
        data: y[..n].iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
    .write(&work.join("labels.npy"))?;

    let attonet = |args: &[&str]| {
        let mut c = cmd::cargo(root);
        c.args(["run", "--quiet", "--release", "-p", "attonet-cli", "--"]);
        c.args(args);
        cmd::run(c)
    };
    let model_s = model.to_string_lossy();
    attonet(&["inspect", &model_s])?;
    attonet(&[
        "convert",
        &model_s,
        "--out",
        &work.join("generated").to_string_lossy(),
        "--name",
        "resnet8",
    ])?;
    attonet(&[
        "run",
        &model_s,
        "--input",
        &work.join("input.npy").to_string_lossy(),
        "--output",
        &work.join("output.npy").to_string_lossy(),
        "--labels",
        &work.join("labels.npy").to_string_lossy(),
    ])?;

    let out = Array::read(&work.join("output.npy"))?
        .as_i8()
        .context("output must be int8")?;
    let show = n.min(20);
    println!("\nfirst {show} test images:");
    let mut correct = 0;
    for (i, scores) in out.chunks_exact(10).enumerate() {
        let best = (0..10).fold(0, |b, j| if scores[j] > scores[b] { j } else { b });
        let ok = best as i64 == y[i];
        correct += ok as usize;
        if i < show {
            println!(
                "  image {i:>5}: predicted {:<10} (p = {:.2})  label {:<10} {}",
                CLASSES[best],
                (scores[best] as f32 + 128.0) / 256.0,
                CLASSES[y[i] as usize % 10],
                if ok { "ok" } else { "WRONG" }
            );
        }
    }
    println!(
        "\nResNet-8 int8 on {n} CIFAR-10 test images: top-1 {correct}/{n} = {:.2} % (TensorFlow Lite Micro: 87.07 % on all 10,000)",
        100.0 * correct as f64 / n.max(1) as f64
    );
    println!(
        "generated firmware source: {}",
        work.join("generated/resnet8.rs").display()
    );
    Ok(())
}
