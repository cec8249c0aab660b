//! `cargo xtask qemu-demo`: the README's main job on a microcontroller.
//!
//! Builds one Cortex-M4 firmware (`examples/qemu-mps2-an386`) with the
//! AttoNet family and the MLPerf Tiny ResNet-8 ([`DEMO_MODELS`]: the four
//! AttoNets are float ONNX, quantized by the build script from each folder's
//! `calib.npy`), runs it under QEMU `mps2-an386` with the firmware's output
//! shown as it comes (each bundled input's prediction and count), then prints
//! a summary table from the firmware's `CSV ` rows and its report: per model
//! the accuracy on the bundled images (and, for context, the int8 top-1 over
//! all 10,000 CIFAR-10 test images from its card), exact instructions per
//! inference, arena, flash, and whether every output was bit-identical to the
//! host runner's; then one verdict line.
//!
//! All five models fit the board's 4 MB of flash and RAM together (the build
//! script's `check_fit`), and one firmware builds and links once: the fastest
//! way on two cores. A count belongs to a build: linked beside the other
//! models, a model's count can differ by a little from `bench-qemu`'s, which
//! builds one firmware a model.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::plot;
use crate::qemu::{self, Build, Built, Models, BOARDS};
use crate::toolchain;

/// The models the demo runs, in the summary's order (feature names of the
/// board crates).
pub const DEMO_MODELS: [&str; 5] = [
    "attonet_d",
    "attonet_c",
    "attonet_b",
    "attonet_a",
    "resnet8",
];

/// One model's results, from the firmware's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelResult {
    pub name: String,
    /// Bundled inputs classified right, and their number.
    pub correct: usize,
    pub count: usize,
    /// Outputs bit-identical to the host runner's.
    pub matching: usize,
    /// Instructions for one inference (the first bundled input).
    pub instructions: u64,
    pub macs: u64,
    pub arena_bytes: u64,
    /// The model's weight blob in flash.
    pub weight_bytes: u64,
    /// The firmware's code and plans (shared by its models).
    pub code_bytes: u64,
    /// The `CSV ` row's `outputs_match`.
    pub outputs_match: bool,
}

/// `12,501,632` -> 12501632.
fn count(text: &str) -> Result<u64> {
    text.replace(',', "")
        .parse()
        .with_context(|| format!("{text:?} is not a count"))
}

/// The number right after `key` in `line` (digits and commas).
fn after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let n: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .collect();
    (!n.is_empty()).then_some(n)
}

/// Every model's results from a firmware's output: its `CSV ` rows (the
/// columns of `benches/qemu/results.csv`), and from the text report under
/// each model's heading (`name: title...`) the `accuracy C/N ...;
/// outputs bit-identical to the host runner: M/N` and `... arena A B ...`
/// lines. In the order of the rows.
pub fn parse_report(stdout: &str) -> Result<Vec<ModelResult>> {
    let mut results = Vec::new();
    for row in stdout.lines().filter_map(|l| l.strip_prefix("CSV ")) {
        let cols: Vec<&str> = row.split(',').collect();
        let [name, _board, instructions, macs, code, weights, _ram, _stack, matched] = cols[..]
        else {
            bail!("malformed CSV row {row:?}");
        };
        let outputs_match = match matched {
            "true" => true,
            "false" => false,
            other => bail!("CSV row {row:?}: outputs_match {other:?} is not true or false"),
        };
        results.push(ModelResult {
            name: name.to_string(),
            correct: 0,
            count: 0,
            matching: 0,
            instructions: count(instructions)?,
            macs: count(macs)?,
            arena_bytes: 0,
            weight_bytes: count(weights)?,
            code_bytes: count(code)?,
            outputs_match,
        });
    }
    if results.is_empty() {
        bail!("no CSV rows in the firmware's output");
    }
    for r in &mut results {
        let heading = format!("{}: ", r.name);
        let section: Vec<&str> = stdout
            .lines()
            .skip_while(|l| !l.starts_with(&heading))
            .skip(1)
            .take_while(|l| l.starts_with(' ') || l.is_empty())
            .collect();
        let accuracy = section
            .iter()
            .find(|l| l.trim_start().starts_with("accuracy "))
            .with_context(|| format!("no accuracy line for {} in the report", r.name))?;
        let fraction = after(accuracy, "accuracy ")
            .zip(after(accuracy, "/"))
            .with_context(|| format!("{}: no C/N in {accuracy:?}", r.name))?;
        r.correct = count(&fraction.0)? as usize;
        r.count = count(&fraction.1)? as usize;
        let host = after(accuracy, "host runner: ")
            .with_context(|| format!("{}: no bit-identical count in {accuracy:?}", r.name))?;
        r.matching = count(&host)? as usize;
        let arena = section
            .iter()
            .find_map(|l| after(l, "; arena "))
            .with_context(|| format!("no arena line for {} in the report", r.name))?;
        r.arena_bytes = count(&arena)?;
    }
    Ok(results)
}

/// 12501632 -> `12,501,632`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary table and the verdict line. `top1` gives a model's int8
/// top-1 over the 10,000 CIFAR-10 test images, when known.
pub fn summary(results: &[ModelResult], top1: impl Fn(&str) -> Option<f64>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10}  {:>14}  {:>9}  {:>12}  {:>7}  {:>8}  {:>13}  bit-exact",
        "model", "bundled images", "top-1 (*)", "instructions", "per MAC", "arena", "flash weights"
    );
    for r in results {
        let acc = format!(
            "{}/{} ({} %)",
            r.correct,
            r.count,
            r.correct * 100 / r.count.max(1)
        );
        let card = top1(&r.name)
            .map(|a| format!("{a:.2} %"))
            .unwrap_or_else(|| "-".to_string());
        let exact = r.outputs_match && r.matching == r.count;
        // Truncated to two decimals, as the firmware's report.
        let per_mac = r.instructions * 100 / r.macs.max(1);
        let _ = writeln!(
            s,
            "{:<10}  {:>14}  {:>9}  {:>12}  {:>4}.{:02}  {:>6} B  {:>11} B  {} ({}/{})",
            r.name,
            acc,
            card,
            grouped(r.instructions),
            per_mac / 100,
            per_mac % 100,
            grouped(r.arena_bytes),
            grouped(r.weight_bytes),
            if exact { "yes" } else { "NO" },
            r.matching,
            r.count
        );
    }
    if let Some(first) = results.first() {
        let _ = writeln!(
            s,
            "flash: each model's weights + {} B of code and plans shared by the {}; \
             RAM: one arena, the largest ({} B)",
            grouped(first.code_bytes),
            results.len(),
            grouped(results.iter().map(|r| r.arena_bytes).max().unwrap_or(0))
        );
    }
    let outputs: usize = results.iter().map(|r| r.count).sum();
    let matching: usize = results.iter().map(|r| r.matching).sum();
    let all = results
        .iter()
        .all(|r| r.outputs_match && r.matching == r.count);
    if all {
        let _ = writeln!(
            s,
            "bit-exact: PASS, all {outputs} outputs of the {} models equal the host runner's, byte for byte",
            results.len()
        );
    } else {
        let _ = writeln!(
            s,
            "bit-exact: FAIL, {matching} of {outputs} outputs equal the host runner's"
        );
    }
    s
}

/// `cargo xtask qemu-demo`.
pub fn qemu_demo(root: &Path) -> Result<()> {
    let board = &BOARDS[0];
    toolchain::ensure_targets(&[board.target])?;
    toolchain::ensure_qemu()?;
    let how = Build {
        models: Models::Only(&DEMO_MODELS),
        opt_level: None,
        layer_profile: false,
    };
    eprintln!(
        "building the Cortex-M4 firmware with {} (the AttoNets are quantized from their \
         float ONNX at build time)",
        DEMO_MODELS.join(", ")
    );
    if let Built::DoesNotFit(message) = qemu::build(root, board, how)? {
        bail!("the demo's models do not fit {}:\n{message}", board.machine);
    }
    let r = qemu::run(root, board, how, true)?;
    // In the order of DEMO_MODELS (the firmware runs them in its catalogue's).
    let results = parse_report(&r.stdout).map(|mut rs| {
        rs.sort_by_key(|r| DEMO_MODELS.iter().position(|m| *m == r.name));
        rs
    });
    let accuracies = plot::accuracies(root);
    if let Err(e) = &accuracies {
        eprintln!("(no top-1 over the test set: {e:#})");
    }
    let top1 = |name: &str| {
        let acc = accuracies.as_ref().ok()?;
        plot::ENTRIES
            .iter()
            .position(|e| e.model == name)
            .map(|i| acc[i])
    };
    match &results {
        Ok(results) => {
            println!();
            println!(
                "Summary: QEMU {} (Cortex-M4F), one firmware with {} models",
                board.machine,
                results.len()
            );
            print!("{}", summary(results, top1));
            println!(
                "(*) int8 top-1 over all 10,000 CIFAR-10 test images: the models' cards \
                 (TFLM's for resnet8). Instructions: exact, input 0, in this firmware \
                 (`cargo xtask bench-qemu` builds one model a firmware; its counts differ \
                 by a little)."
            );
        }
        Err(e) => eprintln!("no summary: {e:#}"),
    }
    if r.code != Some(0) {
        bail!(
            "the firmware exited with status {:?}: {}",
            r.code,
            qemu::explain(r.code)
        );
    }
    let results = results?;
    for m in DEMO_MODELS {
        if !results.iter().any(|r| r.name == m) {
            bail!("the firmware's report has no row for {m}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
AttoNet on QEMU mps2-an386 (Cortex-M4F, thumbv7em-none-eabihf)
instruction counter: CMSDK TIMER0
  self-check: 300 nops count 200 more than 100 nops; an empty measurement's 9 is subtracted from every count

resnet8: MLPerf Tiny ResNet-8 int8, CIFAR-10, 12,501,632 MACs; CIFAR-10 test images 0..4
  input 0: label cat        predicted cat        ok       15,148,725 instructions  output == host
  input 1: label ship       predicted ship       ok       15,148,001 instructions  output == host
  accuracy 2/2 (100.0 %); outputs bit-identical to the host runner: 2/2
  instructions per inference 15,148,725 (input 0; min 15,148,001, max 15,148,725), 1.21 per MAC
  weights 88,016 B in flash; arena 19,456 B; stack peak 10,088 B
CSV resnet8,mps2-an386,15148725,12501632,60000,88016,31000,10088,true

attonet_d: AttoNet-D (searched), float ONNX quantized with its calibration set, CIFAR-10, 2,799,152 MACs; CIFAR-10 test images 0..10
  input 0: label cat        predicted dog        wrong     8,861,000 instructions  OUTPUT DIFFERS FROM HOST
    target [1, 2]
    host   [1, 3]
  input 1: label ship       predicted ship       ok        8,861,100 instructions  output == host
  accuracy 1/2 (50.0 %); outputs bit-identical to the host runner: 1/2
  instructions per inference 8,861,000 (input 0; min 8,861,000, max 8,861,100), 3.16 per MAC
  weights 53,092 B in flash; arena 11,264 B; stack peak 6,136 B
CSV attonet_d,mps2-an386,8861000,2799152,60000,53092,31000,6136,false

firmware (2 model(s)):
FAIL: outputs differ from the host runner's
";

    #[test]
    fn the_report_gives_each_models_results() {
        let r = parse_report(REPORT).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            ModelResult {
                name: "resnet8".into(),
                correct: 2,
                count: 2,
                matching: 2,
                instructions: 15_148_725,
                macs: 12_501_632,
                arena_bytes: 19_456,
                weight_bytes: 88_016,
                code_bytes: 60_000,
                outputs_match: true,
            }
        );
        assert_eq!((r[1].correct, r[1].count, r[1].matching), (1, 2, 1));
        assert_eq!(r[1].arena_bytes, 11_264);
        assert!(!r[1].outputs_match);

        let table = summary(&r, |m| (m == "resnet8").then_some(87.07));
        assert!(table.contains("resnet8"), "{table}");
        assert!(table.contains("87.07 %"), "{table}");
        assert!(table.contains("15,148,725"), "{table}");
        assert!(table.contains("NO (1/2)"), "{table}");
        assert!(
            table.ends_with("bit-exact: FAIL, 3 of 4 outputs equal the host runner's\n"),
            "{table}"
        );
        let good = summary(&r[..1], |_| None);
        assert!(
            good.contains("bit-exact: PASS, all 2 outputs of the 1 models"),
            "{good}"
        );
    }

    #[test]
    fn a_report_without_rows_or_lines_is_an_error() {
        assert!(parse_report("AttoNet on QEMU\nPASS\n").is_err());
        // A row whose model has no accuracy line.
        let no_accuracy = "CSV kws,mps2-an386,1,1,1,1,1,1,true\nkws: x\n  weights 1 B in flash; arena 2 B; stack peak 3 B\n";
        let e = parse_report(no_accuracy).unwrap_err();
        assert!(
            format!("{e:#}").contains("no accuracy line for kws"),
            "{e:#}"
        );
        assert!(parse_report("CSV kws,mps2-an386,1,1\n").is_err());
    }

    #[test]
    fn counts_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(12_501_632), "12,501,632");
    }
}
