//! `cargo xtask fuzz`: the coverage-guided fuzz targets of `fuzz/` (cargo
//! fuzz, libFuzzer with AddressSanitizer, nightly Rust), each for a bounded
//! time, seeded with the repository's real models and arrays.
//!
//! Each run starts from a fresh corpus folder under `target/fuzz-corpus/`
//! (libFuzzer writes what it finds into its first folder) and reads the
//! seeds, never writing them. A crash, a leak or a timeout fails the command
//! and libFuzzer leaves the input in `fuzz/artifacts/<target>/`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::toolchain;

/// A fuzz target and the repository folders that seed it.
pub struct Target {
    pub name: &'static str,
    pub seeds: &'static [&'static str],
}

/// Every target of `fuzz/Cargo.toml`.
pub const TARGETS: [Target; 5] = [
    // Real TFLite files from the TensorFlow Lite converter (and their
    // arrays), and the built ones (SVDF, integer QUANTIZE, uint8 ends).
    Target {
        name: "tflite_reader",
        seeds: &[
            "tests/op-goldens",
            "tests/op-goldens-built",
            "models/tflm-examples",
        ],
    },
    // A PyTorch-exported network (float and QDQ) and its arrays, and the
    // ONNX package's small operator models (fuzz/seeds/README.md).
    Target {
        name: "onnx_reader",
        seeds: &["tests/onnx", "fuzz/seeds/onnx"],
    },
    Target {
        name: "npy_reader",
        seeds: &["tests/op-goldens", "tests/onnx"],
    },
    Target {
        name: "pipeline",
        seeds: &["tests/op-goldens", "tests/op-goldens-built"],
    },
    // Fuzzed descriptors: `arbitrary` builds the plan; the seeds are inputs
    // that once failed (fuzz/seeds/README.md), replayed every run.
    Target {
        name: "runtime_plan",
        seeds: &["fuzz/seeds/runtime_plan"],
    },
];

/// Options of `cargo xtask fuzz`.
pub struct Options {
    /// Seconds a target runs.
    pub seconds: u64,
    /// Only these targets (all when empty).
    pub only: Vec<String>,
    /// libFuzzer's random seed; `None` lets it pick one (and print it).
    /// `cargo xtask test` fixes it so that CI follows the same mutations on
    /// every run and a red run replays here.
    pub seed: Option<u32>,
}

pub fn fuzz(root: &Path, opts: &Options) -> Result<()> {
    if let Some(unknown) = opts
        .only
        .iter()
        .find(|t| !TARGETS.iter().any(|k| k.name == t.as_str()))
    {
        bail!(
            "fuzz: no target {unknown:?}; the targets are {:?}",
            TARGETS.iter().map(|t| t.name).collect::<Vec<_>>()
        );
    }
    toolchain::ensure_nightly()?;
    toolchain::ensure_cargo_tool(&toolchain::CARGO_FUZZ)?;
    for t in TARGETS
        .iter()
        .filter(|t| opts.only.is_empty() || opts.only.iter().any(|o| o == t.name))
    {
        let corpus = root.join("target/fuzz-corpus").join(t.name);
        if corpus.exists() {
            std::fs::remove_dir_all(&corpus)
                .with_context(|| format!("clearing {}", corpus.display()))?;
        }
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let mut c = Command::new("cargo");
        c.current_dir(root)
            .args(["+nightly", "fuzz", "run", t.name])
            .arg(&corpus)
            .args(t.seeds.iter().map(|s| root.join(s)))
            .arg("--")
            .arg(format!("-max_total_time={}", opts.seconds))
            .args(["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1"])
            .args(opts.seed.map(|s| format!("-seed={s}")));
        cmd::run(c).with_context(|| {
            format!(
                "fuzz target {} failed: the input is in fuzz/artifacts/{}/",
                t.name, t.name
            )
        })?;
    }
    Ok(())
}
