//! `cargo xtask bench-qemu`: every model on every QEMU board, exact
//! instruction counts, flash and RAM, as CSV on stdout and in
//! `benches/qemu/results.csv`.
//!
//! Each (model, board) is a firmware of its own, built with that one model
//! (so flash and RAM are the model's), run under QEMU with the board's exact
//! instruction counter; the firmware prints one `CSV ` row. A model that
//! does not fit a board is refused by the build and reported as skipped.
//!
//! With `--model` or `--board`, only the selected (model, board) rows of an
//! existing results file are replaced (a skipped pair's old row is dropped,
//! a failed pair's is kept) and the others are kept, in the order of
//! [`MODELS`] and [`BOARDS`]; a run over everything rewrites the file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::qemu::{self, Build, Built, Models, BOARDS, MODELS};

/// The CSV header (the firmware's `CSV ` rows have these columns).
pub const HEADER: &str = "model,board,instructions,macs,flash_code_bytes,flash_weight_bytes,ram_static_bytes,stack_peak_bytes,outputs_match";

/// Options of `bench-qemu`.
#[derive(Debug, Default)]
pub struct Options {
    /// Release opt-level (`s` by default, as the examples' profile).
    pub opt_level: Option<String>,
    /// Output file (default `benches/qemu/results.csv`).
    pub out: Option<PathBuf>,
    /// Run every firmware twice and fail unless both runs agree.
    pub repeat: bool,
    /// Only these boards (QEMU machine names).
    pub boards: Vec<String>,
    /// Only these models.
    pub models: Vec<String>,
    /// Rows per pass of every fused block (default: as many as cost no arena).
    pub band_rows: Option<u16>,
    /// The fastest plan whose arena fits this many bytes.
    pub arena_budget: Option<u32>,
    /// No fused blocks.
    pub no_fusion: bool,
}

pub fn bench_qemu(root: &Path, opts: &Options) -> Result<()> {
    qemu::ensure_targets(&qemu::TARGETS)?;
    qemu::ensure_qemu()?;
    // The firmware build scripts read it (examples/build-support).
    match opts.band_rows {
        Some(n) => std::env::set_var("ATTONET_BAND_ROWS", n.to_string()),
        None => std::env::remove_var("ATTONET_BAND_ROWS"),
    }
    if opts.no_fusion {
        std::env::set_var("ATTONET_NO_FUSION", "1");
    } else {
        std::env::remove_var("ATTONET_NO_FUSION");
    }
    match opts.arena_budget {
        Some(n) => std::env::set_var("ATTONET_ARENA_BUDGET", n.to_string()),
        None => std::env::remove_var("ATTONET_ARENA_BUDGET"),
    }
    for b in &opts.boards {
        if !BOARDS.iter().any(|x| x.machine == b) {
            let known: Vec<&str> = BOARDS.iter().map(|x| x.machine).collect();
            bail!("bench-qemu: unknown board {b:?} (known: {known:?})");
        }
    }
    for m in &opts.models {
        if !MODELS.contains(&m.as_str()) {
            bail!("bench-qemu: unknown model {m:?} (known: {MODELS:?})");
        }
    }
    let mut csv = String::from(HEADER);
    csv.push('\n');
    println!("{HEADER}");
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    // The (model, board) pairs this run measured or found not to fit.
    let mut replaced: Vec<(String, String)> = Vec::new();
    for model in MODELS {
        if !opts.models.is_empty() && !opts.models.iter().any(|m| m == model) {
            continue;
        }
        for board in &BOARDS {
            if !opts.boards.is_empty() && !opts.boards.iter().any(|b| b == board.machine) {
                continue;
            }
            let models = [model];
            let how = Build {
                models: Models::Only(&models),
                opt_level: opts.opt_level.as_deref(),
            };
            if let Built::DoesNotFit(message) = qemu::build(root, board, how)? {
                eprintln!("{model} on {}: skipped, {message}", board.machine);
                skipped.push(format!("{model} on {}", board.machine));
                replaced.push((model.to_string(), board.machine.to_string()));
                continue;
            }
            let runs = if opts.repeat { 2 } else { 1 };
            let mut rows: Vec<Vec<String>> = Vec::new();
            for _ in 0..runs {
                let r = qemu::run(root, board, how, false)?;
                eprintln!(
                    "{model} on {}: exit {:?} ({}), {:.1} s under QEMU",
                    board.machine,
                    r.code,
                    qemu::explain(r.code),
                    r.elapsed.as_secs_f64()
                );
                if r.code != Some(0) {
                    eprintln!("{}", r.stdout);
                    failures.push(format!(
                        "{model} on {}: {}",
                        board.machine,
                        qemu::explain(r.code)
                    ));
                }
                rows.push(r.csv_rows());
            }
            if rows.windows(2).any(|w| w[0] != w[1]) {
                failures.push(format!(
                    "{model} on {}: two runs gave different rows: {:?}",
                    board.machine, rows
                ));
            }
            let Some(row) = rows.first().and_then(|r| r.first()) else {
                failures.push(format!("{model} on {}: no CSV row", board.machine));
                continue;
            };
            if row.split(',').count() != HEADER.split(',').count() {
                failures.push(format!(
                    "{model} on {}: malformed row {row:?}",
                    board.machine
                ));
                continue;
            }
            println!("{row}");
            let _ = writeln!(csv, "{row}");
            replaced.push((model.to_string(), board.machine.to_string()));
        }
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| root.join("benches/qemu/results.csv"));
    if (!opts.models.is_empty() || !opts.boards.is_empty()) && out.exists() {
        let old =
            std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        csv = merge(&old, &csv, &replaced)
            .with_context(|| format!("updating {} with the selected rows", out.display()))?;
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, &csv).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    if !skipped.is_empty() {
        eprintln!(
            "skipped (refused at build time, does not fit): {}",
            skipped.join(", ")
        );
    }
    if !failures.is_empty() {
        bail!("bench-qemu failed:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// `old` (an existing results file) with the rows of the pairs in `replaced`
/// taken out and the rows of `new` (same header) put in, sorted in the order
/// of [`MODELS`] and [`BOARDS`] (rows of models or boards neither knows go
/// last, in their order).
fn merge(old: &str, new: &str, replaced: &[(String, String)]) -> Result<String> {
    let mut old_lines = old.lines();
    match old_lines.next() {
        Some(h) if h.trim() == HEADER => {}
        other => bail!(
            "its header {:?} is not {HEADER:?}: rerun over every model and board, or write elsewhere with --out",
            other.unwrap_or("")
        ),
    }
    let key = |row: &str| -> (String, String) {
        let mut cols = row.split(',');
        let model = cols.next().unwrap_or("").to_string();
        let board = cols.next().unwrap_or("").to_string();
        (model, board)
    };
    let mut rows: Vec<&str> = old_lines
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !replaced.contains(&key(l)))
        .collect();
    rows.extend(new.lines().skip(1).filter(|l| !l.trim().is_empty()));
    let rank = |row: &&str| {
        let (model, board) = key(row);
        let m = MODELS
            .iter()
            .position(|x| *x == model)
            .unwrap_or(MODELS.len());
        let b = BOARDS
            .iter()
            .position(|x| x.machine == board)
            .unwrap_or(BOARDS.len());
        (m, b)
    };
    // Stable: unknown rows keep their order.
    rows.sort_by_key(rank);
    let mut out = String::from(HEADER);
    out.push('\n');
    for row in rows {
        out.push_str(row);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{merge, HEADER};

    #[test]
    fn a_subset_run_replaces_only_its_rows() {
        let old = format!(
            "{HEADER}\nresnet8,mps2-an386,1,1,1,1,1,1,true\nresnet8,virt,2,1,1,1,1,1,true\nkws,virt,3,1,1,1,1,1,true\n"
        );
        let new =
            format!("{HEADER}\nattonet_a,virt,9,1,1,1,1,1,true\nresnet8,virt,5,1,1,1,1,1,true\n");
        let replaced = [
            ("resnet8".to_string(), "virt".to_string()),
            ("attonet_a".to_string(), "virt".to_string()),
            ("kws".to_string(), "microbit".to_string()),
        ];
        let merged = merge(&old, &new, &replaced).unwrap();
        assert_eq!(
            merged,
            format!(
                "{HEADER}\nresnet8,mps2-an386,1,1,1,1,1,1,true\nresnet8,virt,5,1,1,1,1,1,true\nkws,virt,3,1,1,1,1,1,true\nattonet_a,virt,9,1,1,1,1,1,true\n"
            )
        );
        // A file with other columns is not silently rewritten.
        assert!(merge("model,board\n", &new, &replaced).is_err());
    }
}
