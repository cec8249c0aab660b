//! Firmware examples under QEMU: the boards (their targets are
//! [`crate::toolchain`]'s), building an example with a chosen set of models,
//! running it, and the command `test-firmware` (`qemu-demo` is
//! [`crate::qemu_demo`]'s).
//!
//! The examples live in their own Cargo workspace (`examples/`). Each board
//! crate's `.cargo/config.toml` names its target and its QEMU runner (always
//! under `timeout`), so the xtask builds and runs them with plain
//! `cargo build` / `cargo run` from the board's folder: the runner line is the
//! one place that says how each board runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::toolchain::{self, RV32IMAC, RV32IMC, THUMBV6M, THUMBV7EM, THUMBV8M_MAIN};

/// A QEMU board example.
#[derive(Debug, Clone, Copy)]
pub struct Board {
    /// Folder under `examples/`.
    pub dir: &'static str,
    /// QEMU machine (the benchmark's `board` column).
    pub machine: &'static str,
    /// Rust target.
    pub target: &'static str,
    /// 16 KB of RAM: ResNet-8 does not fit (the build refuses it, and
    /// `bench-qemu` reports it skipped); KWS fits since its fused blocks need
    /// a 9,600 B arena, and of the AttoNet family only AttoNet-D (11,264 B).
    pub small: bool,
}

/// Every QEMU example, the Cortex-M4 one (the README's main job) first.
pub const BOARDS: [Board; 6] = [
    Board {
        dir: "qemu-mps2-an386",
        machine: "mps2-an386",
        target: THUMBV7EM,
        small: false,
    },
    Board {
        dir: "qemu-mps2-an500",
        machine: "mps2-an500",
        target: THUMBV7EM,
        small: false,
    },
    Board {
        dir: "qemu-mps3-an547",
        machine: "mps3-an547",
        target: THUMBV8M_MAIN,
        small: false,
    },
    Board {
        dir: "qemu-microbit",
        machine: "microbit",
        target: THUMBV6M,
        small: true,
    },
    Board {
        dir: "qemu-sifive-e",
        machine: "sifive_e",
        target: RV32IMAC,
        small: true,
    },
    Board {
        dir: "qemu-riscv-virt",
        machine: "virt",
        target: RV32IMAC,
        small: false,
    },
];

/// The digit detector (`examples/qemu-detect`) on the Cortex-M4 and the
/// Cortex-M55: the detector of `models/atto-det-a/`, decoded on target with
/// `attonet-detect`; the firmware exits nonzero unless its int8 outputs and
/// detections equal the host's bit for bit. Not in [`BOARDS`]: it has no
/// model features. Its rows in `benches/qemu/results.csv` are `atto_det_a`.
pub const DETECT: [Board; 2] = [
    Board {
        dir: "qemu-detect",
        machine: "mps2-an386",
        target: THUMBV7EM,
        small: false,
    },
    Board {
        dir: "qemu-detect",
        machine: "mps3-an547",
        target: THUMBV8M_MAIN,
        small: false,
    },
];

/// The detector's name in the benchmark rows.
pub const DETECT_MODEL: &str = "atto_det_a";

/// The models the examples know (their feature names): the MLPerf Tiny
/// reference models, the tiny model of `examples/models/`, and the searched
/// AttoNet family with its baselines (`models/attonet-*`, `models/baseline-*`:
/// float ONNX, quantized at build time from each folder's `calib.npy`).
pub const MODELS: [&str; 10] = [
    "resnet8",
    "kws",
    "person_detect",
    "cifar_tiny",
    "attonet_d",
    "attonet_c",
    "attonet_b",
    "attonet_a",
    "baseline_resnet8",
    "baseline_mobilenet",
];

/// The real-board examples under `examples/boards/` (built, not run: they
/// need the hardware) and the targets each is built for.
pub const REAL_BOARDS: [(&str, &[&str]); 4] = [
    ("nrf52840-dk", &[THUMBV7EM]),
    ("stm32h743zi-nucleo", &[THUMBV7EM]),
    ("rp2350-pico2", &[THUMBV8M_MAIN, RV32IMAC]),
    ("esp32c3", &[RV32IMC]),
];

/// The examples' shared target folder: `$ATTONET_FW_TARGET_DIR`, else
/// `examples/target` (ignored by git).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("ATTONET_FW_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("examples/target"))
}

/// `cargo` in an example's folder (so its `.cargo/config.toml` applies).
fn cargo_in(root: &Path, dir: &str) -> Command {
    let mut c = cmd::cargo(root);
    c.current_dir(root.join("examples").join(dir));
    c.env("CARGO_TARGET_DIR", target_dir(root));
    c
}

/// Which models a build selects: the board's defaults, or exactly these.
#[derive(Debug, Clone, Copy)]
pub enum Models<'a> {
    /// The board crate's default features.
    Default,
    /// Exactly these model features.
    Only(&'a [&'a str]),
}

/// How to build: models and, optionally, the release profile's opt-level.
#[derive(Debug, Clone, Copy)]
pub struct Build<'a> {
    pub models: Models<'a>,
    /// `s` (the examples' default), `3`, ...
    pub opt_level: Option<&'a str>,
    /// The feature `layer-profile`: after the normal run, the firmware runs
    /// each plan step by step and prints one `LAYER ` line per step.
    pub layer_profile: bool,
}

impl Build<'_> {
    fn apply(&self, c: &mut Command) {
        c.arg("--release");
        let mut features = Vec::new();
        if let Models::Only(models) = self.models {
            c.arg("--no-default-features");
            features.extend_from_slice(models);
        }
        if self.layer_profile {
            features.push("layer-profile");
        }
        if !features.is_empty() {
            c.args(["--features", &features.join(",")]);
        }
        if let Some(level) = self.opt_level {
            c.env("CARGO_PROFILE_RELEASE_OPT_LEVEL", level);
        }
    }
}

/// The result of a build.
pub enum Built {
    Ok,
    /// The build script refused the models: they do not fit the board (its message).
    DoesNotFit(String),
}

/// Builds a board's firmware. A refusal for size is not an error (the
/// caller decides); any other failure is.
pub fn build(root: &Path, board: &Board, how: Build<'_>) -> Result<Built> {
    let mut c = cargo_in(root, board.dir);
    c.args(["build", "--quiet", "--target", board.target]);
    how.apply(&mut c);
    let shown = format!("{c:?}").replace('"', "");
    eprintln!("$ (cd examples/{}) {shown}", board.dir);
    let out = c
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if out.status.success() {
        return Ok(Built::Ok);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(start) = stderr.find("error: model ") {
        if stderr[start..].contains("does not fit board") {
            let message: Vec<&str> = stderr[start..]
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            return Ok(Built::DoesNotFit(message.join("\n")));
        }
    }
    eprintln!("{stderr}");
    bail!("building examples/{} failed ({})", board.dir, out.status)
}

/// A firmware run under QEMU.
pub struct Run {
    /// QEMU's exit status (the firmware's semihosting exit code).
    pub code: Option<i32>,
    /// Everything the firmware printed.
    pub stdout: String,
    pub elapsed: Duration,
}

impl Run {
    /// The firmware's `CSV ` lines (benchmark rows), without the prefix.
    pub fn csv_rows(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("CSV "))
            .map(str::to_string)
            .collect()
    }

    /// The firmware's `LAYER ` lines (per-step counts, feature
    /// `layer-profile`), without the prefix.
    pub fn layer_rows(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("LAYER "))
            .map(str::to_string)
            .collect()
    }
}

/// Runs a board's firmware (built with `how`) under QEMU with `cargo run`,
/// whose runner puts QEMU under `timeout`. The output is captured; with
/// `echo` it also goes to the terminal line by line as it comes, less the
/// machine-readable `CSV ` rows.
pub fn run(root: &Path, board: &Board, how: Build<'_>, echo: bool) -> Result<Run> {
    let mut c = cargo_in(root, board.dir);
    c.args(["run", "--quiet", "--target", board.target]);
    how.apply(&mut c);
    c.stdin(Stdio::null());
    c.stderr(Stdio::inherit());
    let shown = format!("{c:?}").replace('"', "");
    eprintln!("$ (cd examples/{}) {shown}", board.dir);
    let start = Instant::now();
    let (status, stdout) = if echo {
        c.stdout(Stdio::piped());
        let mut child = c
            .spawn()
            .with_context(|| format!("could not start {shown}"))?;
        let mut stdout = String::new();
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                let line = line.context("reading the firmware's output")?;
                if !line.starts_with("CSV ") {
                    println!("{line}");
                }
                stdout.push_str(&line);
                stdout.push('\n');
            }
        }
        let status = child
            .wait()
            .with_context(|| format!("waiting for {shown}"))?;
        (status, stdout)
    } else {
        let out = c
            .output()
            .with_context(|| format!("could not start {shown}"))?;
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    Ok(Run {
        code: status.code(),
        stdout,
        elapsed: start.elapsed(),
    })
}

/// What a firmware exit status means (see `examples/common`).
pub fn explain(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "every output bit-identical to the host runner's",
        Some(2) => "outputs differ from the host runner's",
        Some(3) => "the runtime returned an error",
        Some(4) => "the stack grew past the painted window",
        Some(5) => "the instruction counter failed its self-check",
        Some(101) => "the firmware panicked",
        Some(124) | Some(137) => "QEMU timed out",
        _ => "QEMU failed",
    }
}

/// Builds every real-board example for each of its targets (their HALs make
/// the first build slow: several minutes for esp-hal on two cores).
pub fn build_real_boards(root: &Path, failures: &mut Vec<String>) -> Result<()> {
    for (dir, targets) in REAL_BOARDS {
        let folder = format!("boards/{dir}");
        for target in targets {
            let mut c = cargo_in(root, &folder);
            c.args(["build", "--quiet", "--release", "--target", target]);
            let started = Instant::now();
            let shown = format!("{c:?}").replace('"', "");
            eprintln!("$ (cd examples/{folder}) {shown}");
            let status = c
                .status()
                .with_context(|| format!("could not start {shown}"))?;
            if status.success() {
                eprintln!(
                    "{dir} ({target}): built in {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            } else {
                failures.push(format!("{dir} ({target}): the build failed ({status})"));
            }
        }
    }
    Ok(())
}

/// Builds `how` for `board` and runs it twice under QEMU; a failure (does not
/// fit, a non-zero exit, reports that differ between the runs, no CSV rows)
/// is added to `failures` with `what` (the models) named.
fn run_twice(
    root: &Path,
    board: &Board,
    how: Build,
    what: &str,
    failures: &mut Vec<String>,
) -> Result<()> {
    if let Built::DoesNotFit(message) = build(root, board, how)? {
        failures.push(format!(
            "{} ({what}): does not fit:\n{message}",
            board.machine
        ));
        return Ok(());
    }
    let first = run(root, board, how, false)?;
    let second = run(root, board, how, false)?;
    eprintln!(
        "{} ({what}): exit {:?} ({}), {:.1} s and {:.1} s under QEMU",
        board.machine,
        first.code,
        explain(first.code),
        first.elapsed.as_secs_f64(),
        second.elapsed.as_secs_f64()
    );
    for row in first.csv_rows() {
        eprintln!("  {row}");
    }
    if first.code != Some(0) || second.code != Some(0) {
        eprintln!("{}", first.stdout);
        failures.push(format!(
            "{} ({what}): {}",
            board.machine,
            explain(first.code)
        ));
    } else if first.stdout != second.stdout {
        failures.push(format!(
            "{} ({what}): two runs printed different reports (counts not repeatable)",
            board.machine
        ));
    } else if first.csv_rows().is_empty() {
        failures.push(format!(
            "{} ({what}): no CSV rows in the report",
            board.machine
        ));
    }
    Ok(())
}

/// `cargo xtask test-firmware`: builds every example and runs the QEMU ones,
/// twice each: every int8 output must equal the host runner's (the firmware
/// checks and exits nonzero otherwise) and both runs must print the same
/// report, instruction counts included. Also runs one float ONNX model
/// (AttoNet-D, quantized by the build script) on the Cortex-M4 and the
/// digit detector ([`DETECT`], its detections decoded on target and
/// compared with the host's) on the Cortex-M4 and M55, checks that a model too large for a board is
/// refused at build time, and the build helper's unit tests.
/// With `qemu_only`, the real-board examples are not built.
pub fn test_firmware(root: &Path, qemu_only: bool) -> Result<()> {
    let started = Instant::now();
    let mut targets: Vec<&str> = BOARDS.iter().map(|b| b.target).collect();
    if !qemu_only {
        targets.extend(REAL_BOARDS.iter().flat_map(|(_, t)| t.iter().copied()));
    }
    toolchain::ensure_targets(&targets)?;
    toolchain::ensure_qemu()?;
    let examples = root.join("examples");

    // Formatting of the examples' own crates (not of the runtime they use).
    let mut folders = vec!["examples".to_string(), "examples/boards/app".to_string()];
    folders.extend(
        REAL_BOARDS
            .iter()
            .map(|(dir, _)| format!("examples/boards/{dir}")),
    );
    for folder in folders {
        let mut c = cmd::cargo(root);
        c.current_dir(root.join(folder))
            .args(["fmt", "--", "--check"]);
        cmd::run(c)?;
    }
    let mut c = cmd::cargo(root);
    c.current_dir(&examples)
        .env("CARGO_TARGET_DIR", target_dir(root))
        .args(["test", "--quiet", "-p", "attonet-fw-build"]);
    cmd::run(c)?;
    // Lints, with the release profile so the build scripts' artifacts are shared.
    for dir in ["qemu-mps2-an386", "qemu-sifive-e", DETECT[0].dir] {
        let mut c = cargo_in(root, dir);
        c.args(["clippy", "--quiet", "--release", "--", "-D", "warnings"]);
        cmd::run(c)?;
    }

    let mut failures = Vec::new();
    for board in &BOARDS {
        let how = Build {
            models: Models::Default,
            opt_level: None,
            layer_profile: false,
        };
        run_twice(root, board, how, "its default models", &mut failures)?;
    }
    // One float ONNX model of the AttoNet family, quantized by the build
    // script from its calibration file, on the Cortex-M4 (the others are
    // `bench-qemu`'s: building each for every board would slow CI).
    let how = Build {
        models: Models::Only(&["attonet_d"]),
        opt_level: None,
        layer_profile: false,
    };
    run_twice(
        root,
        &BOARDS[0],
        how,
        "attonet_d, float ONNX quantized at build time",
        &mut failures,
    )?;

    // The digit detector, decoded on target: detections equal to the host's.
    let how = Build {
        models: Models::Default,
        opt_level: None,
        layer_profile: false,
    };
    for board in &DETECT {
        run_twice(
            root,
            board,
            how,
            "atto_det_a detections, decoded on target",
            &mut failures,
        )?;
    }

    // A model that does not fit must be refused at build time, with the sizes.
    for board in BOARDS.iter().filter(|b| b.small) {
        let refused = build(
            root,
            board,
            Build {
                models: Models::Only(&["resnet8"]),
                opt_level: None,
                layer_profile: false,
            },
        )?;
        match refused {
            Built::DoesNotFit(message) => {
                if !(message.contains("RAM") && message.contains("16,384 B")) {
                    failures.push(format!(
                        "{}: the refusal does not give the sizes:\n{message}",
                        board.machine
                    ));
                }
                eprintln!(
                    "{}: ResNet-8 refused as expected:\n  {}",
                    board.machine,
                    message.replace('\n', "\n  ")
                );
            }
            Built::Ok => failures.push(format!(
                "{}: ResNet-8 (19,456 B arena) was not refused on a 16 KB board",
                board.machine
            )),
        }
    }

    if !qemu_only {
        build_real_boards(root, &mut failures)?;
    }

    if !failures.is_empty() {
        bail!("firmware tests failed:\n  {}", failures.join("\n  "));
    }
    eprintln!(
        "\nfirmware tests passed ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where a `(model, board)` row of the benchmark CSVs sorts: the catalogue's
/// model order, then its board order (unknown names last).
pub fn catalogue_order(model: &str, board: &str) -> (usize, usize) {
    let m = MODELS
        .iter()
        .position(|x| *x == model)
        .unwrap_or(MODELS.len());
    let b = BOARDS
        .iter()
        .position(|x| x.machine == board)
        .unwrap_or(BOARDS.len());
    (m, b)
}
