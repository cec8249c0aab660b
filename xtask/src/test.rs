//! `cargo xtask test`: every test. Installs what is missing (rustup targets,
//! QEMU, CIFAR-10, the Python oracle), runs the workspace tests, checks the `no_std` builds for
//! every target we claim, lints, re-runs TensorFlow Lite Micro to prove the
//! committed golden outputs are still what it computes, and builds and runs
//! the firmware under QEMU.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::toolchain::{self, NO_STD_TARGETS};

pub fn test(root: &Path) -> Result<()> {
    // Everything a fresh machine lacks for the builds and runs below, first
    // (so a missing piece fails before an hour of tests, not in the middle):
    // every rustup target (the no_std builds, the firmware, the kernel
    // proofs' scripts) and QEMU.
    toolchain::ensure_targets(&toolchain::TARGETS)?;
    toolchain::ensure_qemu()?;
    eprintln!("{}", toolchain::qemu_version()?);
    crate::python::setup_python(root)?;
    crate::data::fetch_cifar10(root, &Default::default())?;

    let mut c = cmd::cargo(root);
    c.args(["fmt", "--all", "--", "--check"]);
    cmd::run(c)?;

    let mut c = cmd::cargo(root);
    c.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    cmd::run(c)?;

    let mut c = cmd::cargo(root);
    c.args(["test", "--workspace"]);
    cmd::run(c)?;

    // The API docs a registry release publishes: every link resolves, no
    // warning (the runtime and converter also deny missing docs).
    let mut c = cmd::cargo(root);
    c.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    cmd::run(c)?;
    // The dependency graphs' licences, bans and sources (deny.toml), for the
    // host workspace, the firmware examples' and each real-board example's.
    toolchain::ensure_cargo_tool(&toolchain::CARGO_DENY)?;
    let boards = crate::qemu::REAL_BOARDS
        .iter()
        .map(|(dir, _)| format!("examples/boards/{dir}/Cargo.toml"));
    let manifests = ["Cargo.toml".to_string(), "examples/Cargo.toml".to_string()];
    for manifest in manifests.into_iter().chain(boards) {
        let mut c = cmd::cargo(root);
        c.args([
            "deny",
            "--manifest-path",
            &manifest,
            "--config",
            "deny.toml",
        ])
        .args(["check", "licenses", "bans", "sources"]);
        cmd::run(c)?;
    }
    // The crates a registry release would publish package with their
    // metadata (the build itself is tested above).
    let mut c = cmd::cargo(root);
    c.args([
        "package",
        "--quiet",
        "--no-verify",
        "--allow-dirty",
        "-p",
        "attonet-runtime",
        "-p",
        "attonet-convert",
        "-p",
        "attonet-cli",
        "-p",
        "attonet-detect",
    ]);
    cmd::run(c)?;

    for target in NO_STD_TARGETS {
        let mut c = cmd::cargo(root);
        c.args([
            "build",
            "--release",
            "-p",
            "attonet-runtime",
            "-p",
            "attonet-detect",
            "--target",
            target,
        ]);
        cmd::run(c)?;
        // Generated model code compiles without std too.
        let mut c = cmd::cargo(root);
        c.args([
            "build",
            "--release",
            "-p",
            "attonet-generated-tests",
            "--lib",
            "--target",
            target,
        ]);
        cmd::run(c)?;
    }

    oracle_goldens(root)?;

    // Firmware: every example built, the QEMU ones run twice with outputs
    // equal to the host runner's; every DSP fast path bit-identical to the
    // portable kernels on the Cortex-M4, M7 and M55, every RISC-V one on
    // rv32imac and rv32imc.
    crate::qemu::test_firmware(root, false)?;
    // A static stack bound for an inference on each instruction set (Thumb-2,
    // Thumb-1, RV32), within which the painted peak must lie; refused if an
    // indirect call or recursion creeps into the inference path. Written to
    // target/, not over the committed benches/qemu/stack.csv.
    for (board, model) in [
        ("mps2-an386", "resnet8"),
        ("microbit", "kws"),
        ("virt", "kws"),
    ] {
        crate::stack_bound::stack_bound(
            root,
            &crate::stack_bound::Options {
                boards: vec![board.to_string()],
                models: vec![model.to_string()],
                out: Some(root.join("target/stack-bound-test.csv")),
                ..Default::default()
            },
        )?;
    }
    // The per-step profile (`bench-qemu --layers`) on a small model: the
    // feature `layer-profile` builds and its steps add up to the whole.
    crate::bench_qemu::bench_qemu(
        root,
        &crate::bench_qemu::Options {
            boards: vec!["mps2-an386".to_string()],
            models: vec!["cifar_tiny".to_string()],
            layers: Some(root.join("target/layers-test.csv")),
            ..Default::default()
        },
    )?;
    // The scripts build for thumbv7em/thumbv8m.main and rv32imac/rv32imc,
    // installed above.
    let mut c = std::process::Command::new("bash");
    c.current_dir(root)
        .args(["tests/qemu-kernels/run.sh", "all"]);
    cmd::run(c)?;
    let mut c = std::process::Command::new("bash");
    c.current_dir(root)
        .args(["tests/qemu-kernels-riscv/run.sh", "all"]);
    cmd::run(c)?;

    // Every input AttoNet reads, under libFuzzer and AddressSanitizer: a
    // bounded minute a target, so a regression shows. A fixed seed: the same
    // mutations on every run, so a failure here replays on any machine
    // (`cargo xtask fuzz --seed 1`); long runs without a seed look further.
    crate::fuzz::fuzz(
        root,
        &crate::fuzz::Options {
            seconds: 60,
            only: Vec::new(),
            seed: Some(1),
        },
    )?;
    // Every fast kernel's `unsafe` under Miri, a few cases each (the full
    // run, `cargo xtask miri`, takes hours on two cores).
    crate::miri::miri(root, &["--quick".to_string()])?;
    design_exploration(root)?;
    // The README's guide from a PyTorch model to a board, as written.
    crate::guide::guide(root)?;
    // The runtime's code for each model alone (no assertion: a report).
    crate::code_size::code_size(root)?;

    eprintln!("\nall tests passed");
    Ok(())
}

/// Re-runs the TensorFlow Lite Micro interpreter over the golden inputs (the
/// two reference models', and every case of `tests/op-goldens`) and fails if
/// its outputs are not byte for byte the committed goldens.
fn oracle_goldens(root: &Path) -> Result<()> {
    let python = crate::python::venv_python(root);
    let work = root.join(".data/oracle-check");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let make_inputs = |args: &[&str], out: &Path| -> Result<()> {
        let mut c = std::process::Command::new(&python);
        c.current_dir(root)
            .arg("tests/oracle/make_inputs.py")
            .args(&args[..1])
            .arg(out)
            .args(&args[1..]);
        cmd::run(c)
    };
    let cifar_in = work.join("cifar10_test_x.npy");
    make_inputs(&["cifar"], &cifar_in)?;
    let person_in = work.join("person_x.npy");
    make_inputs(&["person", "--limit", "1000"], &person_in)?;
    let speech_in = work.join("speech_x.npy");
    make_inputs(
        &["random", "--shape", "1960", "--limit", "200", "--seed", "1"],
        &speech_in,
    )?;
    let hello_in = work.join("hello_x.npy");
    make_inputs(&["sweep"], &hello_in)?;
    let cases = [
        (
            "models/mlperf-tiny/kws_dscnn_int8.tflite",
            root.join("models/mlperf-tiny/kws_perf_samples_x.npy"),
            "tests/generated/golden/kws_tflm_perf_samples.npy",
        ),
        (
            "models/mlperf-tiny/resnet8_int8.tflite",
            cifar_in,
            "tests/generated/golden/resnet8_tflm_cifar10_test.npy",
        ),
        (
            "models/tflm-examples/person_detect.tflite",
            person_in,
            "tests/generated/golden/person_detect_tflm_cifar10_gray.npy",
        ),
        (
            "models/tflm-examples/micro_speech_quantized.tflite",
            speech_in,
            "tests/generated/golden/micro_speech_tflm_random.npy",
        ),
        (
            "models/tflm-examples/hello_world_int8.tflite",
            hello_in,
            "tests/generated/golden/hello_world_tflm_sweep.npy",
        ),
    ];
    for (model, input, golden) in cases {
        let out = work.join(Path::new(golden).file_name().unwrap_or_default());
        let mut c = std::process::Command::new(&python);
        c.current_dir(root)
            .arg("tests/oracle/tflm_run.py")
            .arg(model)
            .arg(&input)
            .arg(&out);
        cmd::run(c)?;
        let fresh = attonet_convert::npy::Array::read(&out)?;
        let committed = attonet_convert::npy::Array::read(&root.join(golden))?;
        if fresh.shape != committed.shape || fresh.data != committed.data {
            bail!("TensorFlow Lite Micro's outputs for {model} differ from {golden}");
        }
        eprintln!("{golden}: identical to TensorFlow Lite Micro's fresh outputs");
    }
    // The op-level suites (tests/op-goldens, made by the TFLite converter,
    // and tests/op-goldens-built, flatbuffers written by
    // make_built_models.py): every case rerun in one process, each output
    // compared byte for byte; it names every mismatch.
    for suite in ["tests/op-goldens", "tests/op-goldens-built"] {
        let mut c = std::process::Command::new(&python);
        c.current_dir(root)
            .args(["tests/oracle/tflm_check_ops.py", suite]);
        cmd::run(c)?;
    }
    // The float boundaries' edge values (tests/boundary-edges): TFLM must
    // reproduce the committed outputs.
    let mut c = std::process::Command::new(&python);
    c.current_dir(root)
        .args(["tests/oracle/make_boundary_edges.py", "--check"]);
    cmd::run(c)
}

/// `models/design`: its unit tests (requirements, NetScore, cost model,
/// export) and an end-to-end exploration on a tiny budget (a few hundred
/// images, one epoch, two candidates, the runtime cost model in the loop:
/// the converter plans each candidate), in the PyTorch environment.
pub fn design_exploration(root: &Path) -> Result<()> {
    let env = crate::python::Env::design(root);
    env.ensure()?;
    // The runtime cost model plans every candidate with the converter
    // (models/design/cost.py finds target/release/attonet).
    let mut c = cmd::cargo(root);
    c.args(["build", "--release", "-p", "attonet-cli"]);
    cmd::run(c)?;
    let mut c = std::process::Command::new(env.python());
    c.current_dir(root)
        .args(["-m", "pytest", "-q", "models/design/tests"]);
    cmd::run(c)?;
    let mut c = std::process::Command::new(env.python());
    c.current_dir(root)
        .args(["-m", "models.design", "explore", "--smoke"]);
    cmd::run(c)
}
