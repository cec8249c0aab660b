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
//!
//! Writing the default results file also redraws `cargo xtask plot`'s SVGs
//! (a missing row or card is then a warning).
//!
//! With `--layers PATH`, the firmware is built with the feature
//! `layer-profile` (see `examples/common/src/layers.rs`): after the normal
//! run it runs each plan once more step by step and prints one `LAYER ` line
//! per step, and PATH gets the per-step table ([`LAYERS_HEADER`]) instead of
//! the results file getting its rows (the profiler's code would count in
//! `flash_code_bytes`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::qemu::{self, Build, Built, Models, BOARDS, DETECT, DETECT_MODEL, MODELS};
use crate::toolchain;

/// The CSV header (the firmware's `CSV ` rows have these columns).
pub const HEADER: &str = "model,board,instructions,macs,flash_code_bytes,flash_weight_bytes,ram_static_bytes,stack_peak_bytes,outputs_match";

/// The per-step CSV of `--layers`: the firmware's `LAYER ` lines
/// (model,board,step,kind,macs,instructions,layers) with each step's
/// instructions per MAC (empty for a step without MACs) and its share of the
/// whole `Model::infer` count, moved before the `layers` column.
pub const LAYERS_HEADER: &str =
    "model,board,step,kind,macs,instructions,instructions_per_mac,share_of_total,layers";

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
    /// Profile every step and write the per-step CSV here (instead of the
    /// results file).
    pub layers: Option<PathBuf>,
    /// The user's own model (any the converter takes) instead of the
    /// catalogue's: built as the examples' feature `user_model`, its rows
    /// named after the file; written to `--out` only.
    pub model_file: Option<PathBuf>,
    /// The float user model's calibration samples.
    pub calib: Option<PathBuf>,
    /// The user model's int8 inputs (`.npy`, `[N, ...input shape]`; default:
    /// two uniform random inputs).
    pub inputs: Option<PathBuf>,
}

/// Sets (or clears) the variable the firmware build reads a user-model path
/// from, made absolute; the file must exist.
fn set_user_path(name: &str, path: Option<&Path>, what: &str) -> Result<()> {
    match path {
        Some(p) => {
            let abs = p
                .canonicalize()
                .with_context(|| format!("bench-qemu: {what} {}", p.display()))?;
            std::env::set_var(name, abs);
        }
        None => std::env::remove_var(name),
    }
    Ok(())
}

pub fn bench_qemu(root: &Path, opts: &Options) -> Result<()> {
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
    if opts.model_file.is_some() && !opts.models.is_empty() {
        bail!("bench-qemu: --model-file measures the user's model alone: drop --model");
    }
    if opts.model_file.is_none() && (opts.calib.is_some() || opts.inputs.is_some()) {
        bail!("bench-qemu: --calib and --inputs belong to --model-file");
    }
    set_user_path(
        "ATTONET_USER_MODEL",
        opts.model_file.as_deref(),
        "--model-file",
    )?;
    set_user_path("ATTONET_USER_CALIB", opts.calib.as_deref(), "--calib")?;
    set_user_path("ATTONET_USER_INPUTS", opts.inputs.as_deref(), "--inputs")?;
    // The name of the user's model in the rows: its file name without the
    // extension, commas made `_` (a CSV column).
    let user_name = opts.model_file.as_ref().map(|p| {
        p.file_stem()
            .map(|s| s.to_string_lossy().replace(',', "_"))
            .unwrap_or_else(|| "user_model".to_string())
    });
    for m in &opts.models {
        if !MODELS.contains(&m.as_str()) && m != DETECT_MODEL {
            bail!("bench-qemu: unknown model {m:?} (known: {MODELS:?} and {DETECT_MODEL:?})");
        }
    }
    if opts.layers.is_some() && opts.out.is_some() {
        bail!("bench-qemu: --layers PATH writes the per-step CSV instead of the results file: drop --out");
    }
    let targets: Vec<&str> = BOARDS
        .iter()
        .filter(|b| opts.boards.is_empty() || opts.boards.iter().any(|x| x == b.machine))
        .map(|b| b.target)
        .collect();
    toolchain::ensure_targets(&targets)?;
    toolchain::ensure_qemu()?;
    let mut csv = String::from(HEADER);
    csv.push('\n');
    let mut layers_csv = String::from(LAYERS_HEADER);
    layers_csv.push('\n');
    let header = if opts.layers.is_some() {
        LAYERS_HEADER
    } else {
        HEADER
    };
    println!("{header}");
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    // The (model, board) pairs this run measured or found not to fit.
    let mut replaced: Vec<(String, String)> = Vec::new();
    let user_models = ["user_model"];
    let models: &[&str] = if user_name.is_some() {
        &user_models
    } else {
        &MODELS
    };
    for &model in models {
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
                layer_profile: opts.layers.is_some(),
            };
            if let Built::DoesNotFit(message) = qemu::build(root, board, how)? {
                eprintln!("{model} on {}: skipped, {message}", board.machine);
                skipped.push(format!("{model} on {}", board.machine));
                replaced.push((model.to_string(), board.machine.to_string()));
                continue;
            }
            let (mut rows, mut layer_rows) =
                run_rows(root, board, how, opts.repeat, model, &mut failures)?;
            if let Some(name) = &user_name {
                for r in rows.iter_mut().chain(layer_rows.iter_mut()) {
                    for row in r.iter_mut() {
                        if let Some(rest) = row.strip_prefix("user_model,") {
                            *row = format!("{name},{rest}");
                        }
                    }
                }
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
            let model = user_name.as_deref().unwrap_or(model);
            if opts.layers.is_some() {
                match per_step(model, board.machine, row, &layer_rows[0]) {
                    Ok(text) => {
                        print!("{text}");
                        layers_csv.push_str(&text);
                    }
                    Err(e) => failures.push(format!("{model} on {}: {e:#}", board.machine)),
                }
                continue;
            }
            println!("{row}");
            let _ = writeln!(csv, "{row}");
            replaced.push((model.to_string(), board.machine.to_string()));
        }
    }
    // The digit detector's firmware (`examples/qemu-detect`), on its boards:
    // its own row (no per-step profile).
    let detector = user_name.is_none()
        && opts.layers.is_none()
        && (opts.models.is_empty() || opts.models.iter().any(|m| m == DETECT_MODEL));
    for board in DETECT.iter().filter(|_| detector) {
        if !opts.boards.is_empty() && !opts.boards.iter().any(|b| b == board.machine) {
            continue;
        }
        let how = Build {
            models: Models::Default,
            opt_level: opts.opt_level.as_deref(),
            layer_profile: false,
        };
        if let Built::DoesNotFit(message) = qemu::build(root, board, how)? {
            bail!("{DETECT_MODEL} on {}: {message}", board.machine);
        }
        let (rows, _) = run_rows(root, board, how, opts.repeat, DETECT_MODEL, &mut failures)?;
        match rows.first().and_then(|r| r.first()) {
            Some(row) if row.split(',').count() == HEADER.split(',').count() => {
                println!("{row}");
                let _ = writeln!(csv, "{row}");
                replaced.push((DETECT_MODEL.to_string(), board.machine.to_string()));
            }
            other => failures.push(format!(
                "{DETECT_MODEL} on {}: no well-formed CSV row ({other:?})",
                board.machine
            )),
        }
    }
    if let Some(path) = &opts.layers {
        write(path, &layers_csv)?;
        return finish(&skipped, &failures);
    }
    if user_name.is_some() && opts.out.is_none() {
        // The committed table holds the catalogue's models only.
        eprintln!("(the user's model: rows printed above; --out PATH writes them to a file)");
        return finish(&skipped, &failures);
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
    write(&out, &csv)?;
    if opts.out.is_none() {
        // The committed plots follow the committed rows.
        if let Err(e) = crate::plot::plot(root) {
            eprintln!("warning: the plots were not redrawn: {e:#}");
        }
    }
    finish(&skipped, &failures)
}

/// Writes `text` to `path`, creating its folder.
fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Reports the skipped pairs; fails with the failures.
fn finish(skipped: &[String], failures: &[String]) -> Result<()> {
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

/// The [`LAYERS_HEADER`] rows of `model` on `board` from the firmware's
/// `LAYER ` lines and its `CSV ` row (whose `instructions` is the whole
/// `Model::infer` count). Says on stderr how far the steps' sum is from the
/// whole: the executor's work between steps (its per-step checks, the input
/// and output copies).
fn per_step(model: &str, board: &str, row: &str, lines: &[String]) -> Result<String> {
    let whole: u64 = row
        .split(',')
        .nth(2)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no instruction count in {row:?}"))?;
    if lines.is_empty() {
        bail!("no LAYER lines (built without the feature layer-profile?)");
    }
    let mut out = String::new();
    let (mut sum, mut macs_sum) = (0u64, 0u64);
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        let [_, _, step, kind, macs, n, layers] = cols[..] else {
            bail!("malformed LAYER line {line:?}");
        };
        let parse = |v: &str| -> Result<u64> {
            v.parse()
                .with_context(|| format!("LAYER line {line:?}: {v:?} is not a count"))
        };
        let (macs, n) = (parse(macs)?, parse(n)?);
        sum += n;
        macs_sum += macs;
        let per_mac = if macs > 0 {
            format!("{:.2}", n as f64 / macs as f64)
        } else {
            String::new()
        };
        let share = n as f64 / whole.max(1) as f64;
        let _ = writeln!(
            out,
            "{model},{board},{step},{kind},{macs},{n},{per_mac},{share:.4},{layers}"
        );
    }
    eprintln!(
        "{model} on {board}: {} steps, {sum} instructions together ({macs_sum} MACs); \
         Model::infer {whole}: {} ({:.2} %) between the steps (the executor's checks, \
         input and output copies)",
        lines.len(),
        whole as i64 - sum as i64,
        (whole as f64 - sum as f64) * 100.0 / whole.max(1) as f64
    );
    Ok(out)
}

/// One run's rows (`CSV ` or `LAYER ` lines without the prefix).
type Rows = Vec<String>;

/// Runs a built firmware under QEMU once (twice with `repeat`, which must
/// print the same rows): each run's `CSV ` rows and `LAYER ` rows. A
/// nonzero exit or rows that differ between the runs go to `failures`,
/// named by `model` and the board.
fn run_rows(
    root: &Path,
    board: &qemu::Board,
    how: Build<'_>,
    repeat: bool,
    model: &str,
    failures: &mut Vec<String>,
) -> Result<(Vec<Rows>, Vec<Rows>)> {
    let (mut rows, mut layer_rows) = (Vec::new(), Vec::new());
    for _ in 0..if repeat { 2 } else { 1 } {
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
        layer_rows.push(r.layer_rows());
    }
    if rows.windows(2).any(|w| w[0] != w[1]) || layer_rows.windows(2).any(|w| w[0] != w[1]) {
        failures.push(format!(
            "{model} on {}: two runs gave different rows: {rows:?}",
            board.machine
        ));
    }
    Ok((rows, layer_rows))
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
        qemu::catalogue_order(&model, &board)
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
    use super::{merge, per_step, HEADER};

    #[test]
    fn per_step_rows_add_per_mac_and_share() {
        let row = "kws,mps2-an386,1000,500,1,1,1,1,true";
        let lines = [
            "kws,mps2-an386,0,Block(3),400,800,pointwise+add 5x5x8".to_string(),
            "kws,mps2-an386,1,Softmax,0,150,softmax 1x1x12".to_string(),
        ];
        assert_eq!(
            per_step("kws", "mps2-an386", row, &lines).unwrap(),
            "kws,mps2-an386,0,Block(3),400,800,2.00,0.8000,pointwise+add 5x5x8\n\
             kws,mps2-an386,1,Softmax,0,150,,0.1500,softmax 1x1x12\n"
        );
        assert!(per_step("kws", "mps2-an386", row, &[]).is_err());
    }

    #[test]
    fn a_subset_run_replaces_only_its_rows() {
        let old = format!(
            "{HEADER}\nresnet8,mps2-an386,1,1,1,1,1,1,true\nresnet8,virt,2,1,1,1,1,1,true\nkws,virt,3,1,1,1,1,1,true\n"
        );
        let new =
            format!("{HEADER}\nattonet_d,virt,9,1,1,1,1,1,true\nresnet8,virt,5,1,1,1,1,1,true\n");
        let replaced = [
            ("resnet8".to_string(), "virt".to_string()),
            ("attonet_d".to_string(), "virt".to_string()),
            ("kws".to_string(), "microbit".to_string()),
        ];
        let merged = merge(&old, &new, &replaced).unwrap();
        assert_eq!(
            merged,
            format!(
                "{HEADER}\nresnet8,mps2-an386,1,1,1,1,1,1,true\nresnet8,virt,5,1,1,1,1,1,true\nkws,virt,3,1,1,1,1,1,true\nattonet_d,virt,9,1,1,1,1,1,true\n"
            )
        );
        // A file with other columns is not silently rewritten.
        assert!(merge("model,board\n", &new, &replaced).is_err());
    }
}
