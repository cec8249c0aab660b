//! The AttoNet family shipped in `models/attonet-*` and the baselines of its
//! comparison table in `models/baseline-*`: each folder's float ONNX
//! is quantized with its own calibration file and run over all 10,000
//! CIFAR-10 test images with the firmware's kernels on the host; the int8
//! top-1, MACs, parameters and arena must be exactly what its `card.json`
//! (written by `python -m models.design publish`) records.
//!
//! Needs `.data/cifar10` (`cargo xtask fetch-cifar10`); with `CI` set,
//! missing data fails the test.

use attonet_convert::frontend::onnx::read_onnx;
use attonet_convert::quantize::{self, Options};

mod common;
use common::{cifar, root};

#[test]
fn shipped_attonets_keep_their_measured_figures() {
    let mut dirs: Vec<_> = std::fs::read_dir(root().join("models"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("attonet-") || n.starts_with("baseline-")
            }) && p.join("card.json").exists()
        })
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        eprintln!("no models/attonet-*/card.json yet: nothing to re-measure");
        return;
    }
    let Some(test) = cifar("test") else { return };
    for dir in dirs {
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("card.json")).unwrap()).unwrap();
        let file = |key: &str| dir.join(card[key].as_str().unwrap());
        let fm = read_onnx(&std::fs::read(file("onnx")).unwrap()).unwrap();
        let samples = quantize::read_samples(&fm, &file("calib")).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
        let q = quantize::quantize_and_assemble(&fm, &samples, &Options::default(), &name).unwrap();
        let fig = &card["figures"];
        let a = &q.assembled;
        assert_eq!(
            a.program.macs(),
            fig["macs"].as_u64().unwrap(),
            "{name}: MACs"
        );
        assert_eq!(
            a.program.params() as u64,
            fig["params"].as_u64().unwrap(),
            "{name}: params"
        );
        assert_eq!(
            a.memory.arena_bytes as u64,
            fig["arena_bytes"].as_u64().unwrap(),
            "{name}: arena"
        );
        let n = test.y.len();
        assert_eq!(n as u64, fig["test_images"].as_u64().unwrap());
        let correct = common::int8_correct(&fm, a, &test, n, 1.0);
        eprintln!(
            "{name}: int8 top-1 {:.2} % ({correct} of {n})",
            100.0 * correct as f64 / n as f64
        );
        assert_eq!(
            correct as u64,
            fig["int8_correct"].as_u64().unwrap(),
            "{name}: int8 top-1"
        );
    }
}
