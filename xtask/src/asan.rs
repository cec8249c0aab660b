//! `cargo xtask asan`: the host tests under AddressSanitizer (nightly's
//! `-Zsanitizer=address`), which checks every heap and stack access of the
//! code they run, `unsafe` or not, and of the C it links.
//!
//! The fuzz targets already run under it (`cargo fuzz`); this runs the
//! ordinary tests: the runtime's (its fast kernels' host models, the
//! executor, the portable kernels) and the converter's (the readers, the
//! quantizer, the lowering and every golden model through the runtime).
//! `--target` keeps the sanitizer off build scripts and procedural macros;
//! the standard library is the prebuilt one (not instrumented).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::toolchain;

/// The packages `cargo xtask asan` tests by default.
pub const DEFAULT_PACKAGES: [&str; 2] = ["attonet-runtime", "attonet-convert"];

pub fn asan(root: &Path, args: &[String]) -> Result<()> {
    let mut packages = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-p" | "--package" => packages.push(
                it.next()
                    .cloned()
                    .with_context(|| format!("asan: {arg} needs a package name"))?,
            ),
            other => bail!(
                "asan: unexpected argument {other:?}; usage: cargo xtask asan [-p PACKAGE]..."
            ),
        }
    }
    if packages.is_empty() {
        packages = DEFAULT_PACKAGES.iter().map(|p| p.to_string()).collect();
    }
    toolchain::ensure_nightly()?;
    let host = toolchain::host_triple()?;
    let mut c = Command::new("cargo");
    c.current_dir(root)
        .args([
            "+nightly",
            "test",
            "--release",
            "--no-fail-fast",
            "--target",
        ])
        .arg(&host)
        .arg("--target-dir")
        .arg(root.join("target/asan"))
        .args(packages.iter().flat_map(|p| ["-p", p.as_str()]))
        .env("RUSTFLAGS", "-Zsanitizer=address")
        .env("ASAN_OPTIONS", "detect_leaks=1");
    cmd::run(c).context("a test failed under AddressSanitizer (its report is above)")
}
