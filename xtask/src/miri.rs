//! `cargo xtask miri`: the runtime's host tests under Miri (nightly), which
//! checks every memory access of the `unsafe` code they reach against Rust's
//! rules (bounds, alignment, provenance: Stacked Borrows).
//!
//! The `unsafe` of the runtime is in `arch/` (the fast kernels' unchecked
//! reads and writes, whose host builds model the Arm and RISC-V instructions
//! in Rust); its tests compare each fast kernel with the portable one on
//! random cases, a hundredth of them under Miri (`arch::test_cases::cases`).
//! The portable kernels and the executor have no `unsafe`
//! (`#![deny(unsafe_code)]` outside `arch`); their tests run too.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd;
use crate::toolchain;

/// The test filters `cargo xtask miri` runs by default: the fast paths, the
/// executor (`plan`), the fused blocks and the kernels of `ops`.
pub const DEFAULT_FILTERS: [&str; 4] = ["arch::", "plan::", "block::", "ops::"];

/// The filters of the quick pass (`--quick`, run by `cargo xtask test`):
/// every fast path's `unsafe` (`arch`), the fused blocks' row moves and the
/// executor, each random test on a ten-thousandth of its cases
/// (`arch::test_cases::cases`). About four minutes here; the portable
/// kernels of `ops` (safe code, long exhaustive loops) are left to the full
/// run.
pub const QUICK_FILTERS: [&str; 3] = ["arch::", "block::", "plan::"];

/// Runs the runtime's host tests under Miri: `filters` (the default set
/// when empty), or with `quick` the quick pass's.
pub fn miri(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let filters: Vec<String> = args.iter().filter(|a| *a != "--quick").cloned().collect();
    if let Some(flag) = filters.iter().find(|f| f.starts_with("--")) {
        anyhow::bail!("miri: unknown option {flag}; usage: cargo xtask miri [--quick] [FILTER]...");
    }
    toolchain::ensure_nightly()?;
    let mut c = Command::new("rustup");
    c.args([
        "component",
        "add",
        "miri",
        "rust-src",
        "--toolchain",
        "nightly",
    ]);
    cmd::run(c).context("adding the miri component to the nightly toolchain")?;
    let defaults: &[&str] = if quick {
        &QUICK_FILTERS
    } else {
        &DEFAULT_FILTERS
    };
    let filters: Vec<String> = if filters.is_empty() {
        defaults.iter().map(|f| f.to_string()).collect()
    } else {
        filters
    };
    for filter in &filters {
        let mut c = Command::new("cargo");
        c.current_dir(root)
            .args(["+nightly", "miri", "test", "-p", "attonet-runtime", "--lib"])
            .arg(filter);
        if quick {
            c.env("ATTONET_MIRI_QUICK", "1");
        } else {
            c.env_remove("ATTONET_MIRI_QUICK");
        }
        cmd::run(c).with_context(|| format!("Miri found a problem in the tests `{filter}`"))?;
    }
    Ok(())
}
