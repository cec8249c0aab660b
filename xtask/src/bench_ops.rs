//! `cargo xtask bench-ops`: what each operator costs on a board, measured
//! on the op-golden cases (`tests/op-goldens`, `tests/op-goldens-built`).
//!
//! For every operator and type (the manifests' `op` and `dtype`) of each
//! suite, the first case AttoNet runs bit-exactly (its folder's
//! `expected_pass.txt`) with one model input, one output and at least one
//! step (a reshape alone shares its input's bytes) is built as the examples' user model and run
//! under QEMU with `bench-qemu --model-file --inputs --layers` on its golden
//! inputs (the firmware checks every output against the host runner). The
//! row gives the case's steps, their instructions (summed), the model
//! output's elements a sample and instructions per output element: one
//! operator's cost at a golden case's size, small tensors where the fixed
//! cost of a call weighs. A case whose build or run fails is reported and
//! the others go on; the command fails at the end if any did.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::bench_qemu::{self, Options};

/// The header of the written CSV.
pub const HEADER: &str =
    "suite,case,op,dtype,board,steps,instructions,output_elements,instructions_per_element,kinds";

/// The suites, relative to the repository.
const SUITES: [&str; 2] = ["tests/op-goldens", "tests/op-goldens-built"];

/// One case to measure.
struct Pick {
    suite: &'static str,
    name: String,
    op: String,
    dtype: String,
    model: PathBuf,
    input: PathBuf,
    output_elements: u64,
}

/// The first bit-exact one-input, one-output case of each (op, dtype).
fn picks(root: &Path, only: &[String]) -> Result<Vec<Pick>> {
    let mut picks: Vec<Pick> = Vec::new();
    for suite in SUITES {
        let dir = root.join(suite);
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("manifest.json"))
                .with_context(|| format!("reading {suite}/manifest.json"))?,
        )
        .with_context(|| format!("{suite}/manifest.json is not JSON"))?;
        let exact = std::fs::read_to_string(dir.join("expected_pass.txt"))
            .with_context(|| format!("reading {suite}/expected_pass.txt"))?;
        let exact: Vec<&str> = exact.lines().map(str::trim).collect();
        let cases = manifest["cases"]
            .as_array()
            .with_context(|| format!("{suite}/manifest.json has no cases"))?;
        for c in cases {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            let (name, op, dtype) = (text("name"), text("op"), text("dtype"));
            let (Some(inputs), Some(outputs)) = (c["inputs"].as_array(), c["outputs"].as_array())
            else {
                continue;
            };
            if inputs.len() != 1 || outputs.len() != 1 || !exact.contains(&name.as_str()) {
                continue;
            }
            if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str()) || op == *o) {
                continue;
            }
            if picks
                .iter()
                .any(|p| p.suite == suite && p.op == op && p.dtype == dtype)
            {
                continue;
            }
            // A plan without steps (a reshape sharing its input's bytes)
            // costs nothing to measure.
            let bytes = std::fs::read(dir.join(text("model")))
                .with_context(|| format!("reading {suite}/{}", text("model")))?;
            match attonet_convert::assemble_bytes(&bytes, "bench_ops") {
                Ok(a) if a.model().steps.is_empty() => continue,
                Ok(_) => {}
                Err(e) => bail!("bench-ops: {name} is in expected_pass.txt but refused: {e}"),
            }
            let output_elements = outputs[0]["shape"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_u64).product())
                .unwrap_or(0);
            picks.push(Pick {
                suite,
                model: dir.join(text("model")),
                input: dir.join(inputs[0]["file"].as_str().unwrap_or_default()),
                name,
                op,
                dtype,
                output_elements,
            });
        }
    }
    Ok(picks)
}

pub fn bench_ops(root: &Path, board: &str, out: &Path, only: &[String]) -> Result<()> {
    let picks = picks(root, only)?;
    if picks.is_empty() {
        bail!("bench-ops: no case matches {only:?}");
    }
    let work = root.join("target/bench-ops");
    std::fs::create_dir_all(&work).context("creating target/bench-ops")?;
    let mut csv = String::from(HEADER);
    csv.push('\n');
    let mut failures = Vec::new();
    for (k, p) in picks.iter().enumerate() {
        eprintln!(
            "bench-ops {}/{}: {} ({} {})",
            k + 1,
            picks.len(),
            p.name,
            p.op,
            p.dtype
        );
        let layers = work.join(format!("{}.csv", p.name));
        let _ = std::fs::remove_file(&layers);
        let opts = Options {
            boards: vec![board.to_string()],
            model_file: Some(p.model.clone()),
            inputs: Some(p.input.clone()),
            layers: Some(layers.clone()),
            ..Options::default()
        };
        if let Err(e) = bench_qemu::bench_qemu(root, &opts) {
            failures.push(format!("{}: {e:#}", p.name));
            continue;
        }
        // model,board,step,kind,macs,instructions,instructions_per_mac,share_of_total,layers
        let text = std::fs::read_to_string(&layers)
            .with_context(|| format!("reading {}", layers.display()))?;
        let (mut steps, mut instructions, mut kinds) = (0usize, 0u64, Vec::new());
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split(',').collect();
            let (Some(kind), Some(n)) =
                (cols.get(3), cols.get(5).and_then(|v| v.parse::<u64>().ok()))
            else {
                continue;
            };
            steps += 1;
            instructions += n;
            if !kinds.contains(kind) {
                kinds.push(*kind);
            }
        }
        if steps == 0 {
            failures.push(format!("{}: the profile has no steps", p.name));
            continue;
        }
        let per = instructions as f64 / p.output_elements.max(1) as f64;
        let _ = writeln!(
            csv,
            "{},{},{},{},{board},{steps},{instructions},{},{per:.2},{}",
            p.suite,
            p.name,
            p.op,
            p.dtype,
            p.output_elements,
            kinds.join(" + ")
        );
    }
    std::fs::write(out, &csv).with_context(|| format!("writing {}", out.display()))?;
    print!("{csv}");
    eprintln!("wrote {}", out.display());
    if !failures.is_empty() {
        bail!(
            "bench-ops: {} cases failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}
