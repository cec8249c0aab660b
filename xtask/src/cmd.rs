//! Running other programs (cargo, the oracle's Python) with a clear error when they fail.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The cargo that runs this xtask (falls back to `cargo` on the PATH).
pub fn cargo(root: &Path) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root);
    c
}

/// Runs `cmd`, echoing it first; fails naming the command if it fails.
pub fn run(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}
