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

pub fn miri(root: &Path, filters: &[String]) -> Result<()> {
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
    let filters: Vec<String> = if filters.is_empty() {
        DEFAULT_FILTERS.iter().map(|f| f.to_string()).collect()
    } else {
        filters.to_vec()
    };
    for filter in &filters {
        let mut c = Command::new("cargo");
        c.current_dir(root)
            .args(["+nightly", "miri", "test", "-p", "attonet-runtime", "--lib"])
            .arg(filter);
        cmd::run(c).with_context(|| format!("Miri found a problem in the tests `{filter}`"))?;
    }
    Ok(())
}
