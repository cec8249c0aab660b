//! `cargo xtask stack-bound`: a static upper bound of the stack of one
//! inference, per model and QEMU board, beside the painted peak.
//!
//! Each (model, board) firmware is built as `bench-qemu` builds it (one
//! model, release profile), its ELF disassembled with the toolchain's
//! `llvm-objdump` and bounded by [`crate::callgraph`]: from `main` (which
//! both runtimes' reset code enters with the initial stack pointer) down the
//! deepest chain of direct calls to `attonet_fw_common::infer_counted` (the
//! one call of `Model::infer` that the firmware paints around), plus the
//! deepest chain under it. Then the firmware runs under QEMU and its painted
//! peak (`stack_peak_bytes`, counted from the initial stack pointer as well)
//! must not exceed the bound. The rows go to `benches/qemu/stack.csv`, which
//! the firmware build (`examples/build-support`) reads to size each board's
//! stack reserve and refuse one below the bound.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::callgraph::{self, Bound, Isa};
use crate::qemu::{self, Build, Built, Models, BOARDS, MODELS};
use crate::toolchain;

/// The columns of `benches/qemu/stack.csv`.
pub const HEADER: &str =
    "model,board,target,stack_bound_bytes,stack_peak_bytes,panic_sites_excluded";

/// The function the firmware paints the stack around (its frames and
/// everything under it: one `Model::infer`).
const MEASURED: &str = "attonet_fw_common::infer_counted";
/// Where the chain of frames starts.
const ROOT: &str = "main";

/// The runtime's one recursion: `block::Ctx::source(k)` brings stage
/// `k - 1`'s window up to date through `fill` (inlined into it), which calls
/// `source(k - 1)`; `k` starts at the chain's last stage (`rows`) and stops
/// at 0, so at most [`attonet_runtime::block::MAX_STAGES`] activations are
/// on the stack at once.
const RECURSIVE: &str = "attonet_runtime::block::Ctx<_>::source";

/// The runtime's one indirect call: `Model::infer` runs each step through
/// `model.dispatch`, a `plan::Dispatch` fn pointer that the generated model
/// code (and `DISPATCH_ALL`) only ever sets to an instance of
/// `plan::dispatch::<K>`. A firmware with one model calls it directly (the
/// compiler sees the one value); with several, it stays indirect, in
/// `Model::infer` or where that is inlined, `infer_counted`.
const DISPATCHERS: [&str; 2] = [MEASURED, "attonet_runtime::plan::Model::infer"];
const DISPATCH: &str = "attonet_runtime::plan::dispatch";

/// Options of `stack-bound`.
#[derive(Debug, Default)]
pub struct Options {
    pub boards: Vec<String>,
    pub models: Vec<String>,
    /// Only bound this ELF (of `--target`), print the chain; no build, no run.
    pub elf: Option<PathBuf>,
    pub target: Option<String>,
    /// Write the rows here instead of `benches/qemu/stack.csv`.
    pub out: Option<PathBuf>,
}

pub fn stack_bound(root: &Path, opts: &Options) -> Result<()> {
    if let Some(elf) = &opts.elf {
        let target = opts
            .target
            .as_deref()
            .context("stack-bound --elf PATH needs --target TRIPLE")?;
        let bound = bound_elf(elf, target)?;
        print_chain(&bound);
        return Ok(());
    }
    for b in &opts.boards {
        if !BOARDS.iter().any(|x| x.machine == b) {
            let known: Vec<&str> = BOARDS.iter().map(|x| x.machine).collect();
            bail!("stack-bound: unknown board {b:?} (known: {known:?})");
        }
    }
    for m in &opts.models {
        if !MODELS.contains(&m.as_str()) {
            bail!("stack-bound: unknown model {m:?} (known: {MODELS:?})");
        }
    }
    let boards: Vec<_> = BOARDS
        .iter()
        .filter(|b| opts.boards.is_empty() || opts.boards.iter().any(|x| x == b.machine))
        .collect();
    let targets: Vec<&str> = boards.iter().map(|b| b.target).collect();
    toolchain::ensure_targets(&targets)?;
    toolchain::ensure_qemu()?;
    // The firmware build must not refuse a reserve below an old bound: this
    // command is what measures the new one (for its own builds only).
    std::env::set_var("ATTONET_STACK_UNCHECKED", "1");
    let result = measure(root, opts, &boards);
    std::env::remove_var("ATTONET_STACK_UNCHECKED");
    result
}

/// Builds, bounds and runs every selected pair; writes the rows.
fn measure(root: &Path, opts: &Options, boards: &[&qemu::Board]) -> Result<()> {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut replaced = Vec::new();
    println!("{HEADER}");
    for &model in MODELS.iter() {
        if !opts.models.is_empty() && !opts.models.iter().any(|m| m == model) {
            continue;
        }
        for &board in boards {
            let models = [model];
            let how = Build {
                models: Models::Only(&models),
                opt_level: None,
                layer_profile: false,
            };
            let pair = format!("{model} on {}", board.machine);
            if let Built::DoesNotFit(message) = qemu::build(root, board, how)? {
                eprintln!("{pair}: skipped, {message}");
                replaced.push((model.to_string(), board.machine.to_string()));
                continue;
            }
            let elf = qemu::target_dir(root)
                .join(board.target)
                .join("release")
                .join(format!("attonet-{}", board.dir));
            let bound = match bound_elf(&elf, board.target) {
                Ok(b) => b,
                Err(e) => {
                    failures.push(format!("{pair}: {e:#}"));
                    continue;
                }
            };
            print_chain(&bound);
            let run = qemu::run(root, board, how, false)?;
            if run.code != Some(0) {
                failures.push(format!(
                    "{pair}: the firmware failed: {}",
                    qemu::explain(run.code)
                ));
                continue;
            }
            let Some(peak) = painted_peak(&run.csv_rows()) else {
                failures.push(format!(
                    "{pair}: no stack_peak_bytes in the firmware's CSV row"
                ));
                continue;
            };
            let row = format!(
                "{model},{},{},{},{peak},{}",
                board.machine, board.target, bound.bytes, bound.panic_sites
            );
            println!("{row}");
            if peak > bound.bytes {
                failures.push(format!(
                    "{pair}: the painted peak {peak} B exceeds the static bound {} B: the analysis missed stack",
                    bound.bytes
                ));
            }
            rows.push(row);
            replaced.push((model.to_string(), board.machine.to_string()));
        }
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| root.join("benches/qemu/stack.csv"));
    let old = std::fs::read_to_string(&out).unwrap_or_default();
    let text = merge(&old, &rows, &replaced);
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    if !failures.is_empty() {
        bail!("stack-bound failed:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// The bound of the firmware `elf` built for `target`.
pub fn bound_elf(elf: &Path, target: &str) -> Result<Bound> {
    let isa = if target.starts_with("thumb") {
        Isa::Thumb
    } else if target.starts_with("riscv32") {
        Isa::RiscV
    } else {
        bail!("stack-bound: no analysis for the target {target}");
    };
    let objdump = toolchain::llvm_tool("llvm-objdump")?;
    let out = Command::new(&objdump)
        .args(["-d", "-C", "--no-show-raw-insn"])
        .arg(elf)
        .output()
        .with_context(|| format!("running {}", objdump.display()))?;
    if !out.status.success() {
        bail!(
            "{} -d {} failed: {}",
            objdump.display(),
            elf.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let image = callgraph::Image::from_elf32(&bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| elf.display().to_string())?;
    let mut graph = callgraph::parse(&String::from_utf8_lossy(&out.stdout), isa, &image);
    graph.allow_recursion(RECURSIVE, attonet_runtime::block::MAX_STAGES as u64);
    for caller in DISPATCHERS {
        graph
            .resolve_indirect_calls(caller, DISPATCH)
            .map_err(anyhow::Error::msg)
            .with_context(|| elf.display().to_string())?;
    }
    if std::env::var_os("ATTONET_STACK_DEBUG").is_some() {
        for f in graph.functions.values() {
            println!("FRAME {:x} {} {}", f.addr, f.frame, f.name);
            for c in &f.calls {
                println!("EDGE {:x} {:x}", f.addr, c);
            }
        }
    }
    let root = graph
        .find(ROOT)
        .map_err(anyhow::Error::msg)
        .with_context(|| elf.display().to_string())?;
    let measured = graph
        .find(MEASURED)
        .map_err(anyhow::Error::msg)
        .with_context(|| elf.display().to_string())?;
    graph.bound(root, measured).map_err(|problems| {
        anyhow::anyhow!(
            "{}: no static stack bound, since:\n{problems}",
            elf.display()
        )
    })
}

fn print_chain(bound: &Bound) {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "stack bound {} B ({} call sites into the panic path left out); the deepest chain:",
        bound.bytes, bound.panic_sites
    );
    let mut total = 0;
    for (name, frame) in &bound.path {
        total += frame;
        let _ = writeln!(s, "  {frame:>6} B {total:>6} B  {name}");
    }
    eprint!("{s}");
}

/// `stack_peak_bytes` (the 8th column) of the firmware's `CSV ` row.
fn painted_peak(rows: &[String]) -> Option<u64> {
    rows.first()?.split(',').nth(7)?.parse().ok()
}

/// `old` with the rows of `replaced` pairs dropped and `new` added, in the
/// order of [`MODELS`] and [`BOARDS`].
fn merge(old: &str, new: &[String], replaced: &[(String, String)]) -> String {
    let key = |row: &str| -> (String, String) {
        let mut cols = row.split(',');
        let model = cols.next().unwrap_or("").to_string();
        let board = cols.next().unwrap_or("").to_string();
        (model, board)
    };
    // A file with other columns is rewritten from this run's rows alone.
    let old = if old.lines().next() == Some(HEADER) {
        old
    } else {
        ""
    };
    let mut rows: Vec<&str> = old
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !replaced.contains(&key(l)))
        .collect();
    rows.extend(new.iter().map(String::as_str));
    rows.sort_by_key(|row| {
        let (model, board) = key(row);
        qemu::catalogue_order(&model, &board)
    });
    let mut out = String::from(HEADER);
    out.push('\n');
    for row in rows {
        out.push_str(row);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed figures: every static bound covers the painted peak of
    /// its own firmware and the one `bench-qemu` recorded for the pair.
    #[test]
    fn every_bound_covers_the_painted_peaks() {
        let root = crate::repo_root();
        let stack = std::fs::read_to_string(root.join("benches/qemu/stack.csv")).unwrap();
        let results = std::fs::read_to_string(root.join("benches/qemu/results.csv")).unwrap();
        let mut lines = stack.lines();
        assert_eq!(lines.next(), Some(HEADER));
        let mut checked = 0;
        for row in lines {
            let cols: Vec<&str> = row.split(',').collect();
            let [model, board, _, bound, peak, _] = cols[..] else {
                panic!("malformed row {row:?}");
            };
            let (bound, peak): (u64, u64) = (bound.parse().unwrap(), peak.parse().unwrap());
            assert!(bound >= peak, "{row}: bound below the painted peak");
            let bench = results
                .lines()
                .find(|l| l.starts_with(&format!("{model},{board},")))
                .and_then(|l| l.split(',').nth(7))
                .and_then(|p| p.parse::<u64>().ok());
            if let Some(bench) = bench {
                assert!(
                    bound >= bench,
                    "{row}: bound below bench-qemu's peak {bench}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} rows in stack.csv");
    }

    #[test]
    fn merging_keeps_other_pairs_in_catalogue_order() {
        let old = format!("{HEADER}\nkws,virt,t,2,1,0\nresnet8,virt,t,9,8,0\n");
        let new = ["resnet8,mps2-an386,t,5,4,0".to_string()];
        let replaced = [
            ("resnet8".to_string(), "mps2-an386".to_string()),
            ("kws".to_string(), "virt".to_string()),
        ];
        assert_eq!(
            merge(&old, &new, &replaced),
            format!("{HEADER}\nresnet8,mps2-an386,t,5,4,0\nresnet8,virt,t,9,8,0\n")
        );
        // Another header: the old rows are not kept under it.
        assert_eq!(
            merge("model,board\nkws,virt\n", &new, &[]),
            format!("{HEADER}\nresnet8,mps2-an386,t,5,4,0\n")
        );
    }

    #[test]
    fn painted_peak_is_the_eighth_column() {
        let rows = ["kws,virt,1,2,3,4,5,5792,true".to_string()];
        assert_eq!(painted_peak(&rows), Some(5792));
        assert_eq!(painted_peak(&[]), None);
    }
}
