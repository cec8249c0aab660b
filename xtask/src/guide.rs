//! `cargo xtask guide`: runs the README's *Your model on your board* guide,
//! exactly as written, so it cannot rot.
//!
//! The commands are the `sh` code blocks of README.md between the markers
//! `<!-- guide: begin -->` and `<!-- guide: end -->`. They run in one `bash`
//! (`set -euxo pipefail`: each command echoed, the first failure stops it) in
//! the repository root, with the design venv's `bin` first on `PATH`, so
//! the guide's `python` is one with PyTorch (`$ATTONET_DESIGN_VENV`, else
//! `.venv-design`, set up as `cargo xtask test-design` does). The last step
//! of the guide, flashing with `probe-rs`, needs the board and stays outside
//! the markers.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd;

const BEGIN: &str = "<!-- guide: begin -->";
const END: &str = "<!-- guide: end -->";

/// The guide's shell commands: every `sh` block between the markers, in order.
pub fn script(readme: &str) -> Result<String> {
    let start = readme
        .find(BEGIN)
        .with_context(|| format!("README.md has no {BEGIN} marker"))?;
    let end = readme[start..]
        .find(END)
        .map(|e| start + e)
        .with_context(|| format!("README.md has {BEGIN} but no {END} after it"))?;
    let mut script = String::new();
    let mut in_block = false;
    for line in readme[start..end].lines() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else if lang.trim() == "sh" {
                in_block = true;
            } else {
                bail!("the guide's code blocks must be ```sh, found ```{lang}");
            }
        } else if in_block {
            script.push_str(line);
            script.push('\n');
        }
    }
    if in_block {
        bail!("the guide's last ```sh block is not closed");
    }
    if script.trim().is_empty() {
        bail!("README.md's guide has no ```sh commands between its markers");
    }
    Ok(script)
}

pub fn guide(root: &Path) -> Result<()> {
    let readme = std::fs::read_to_string(root.join("README.md")).context("reading README.md")?;
    let script = script(&readme)?;
    crate::data::fetch_cifar10(root, &Default::default())?;
    crate::toolchain::ensure_targets(&crate::toolchain::TARGETS)?;
    crate::toolchain::ensure_qemu()?;
    let env = crate::python::Env::design(root);
    env.ensure()?;
    let bin = env
        .python()
        .parent()
        .context("the design venv's python has no folder")?
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let mut c = Command::new("bash");
    c.current_dir(root)
        .env("PATH", path)
        .args(["-c", &format!("set -euxo pipefail\n{script}")]);
    eprintln!(
        "running README.md's guide ({} lines of commands)",
        script.lines().count()
    );
    cmd::run(c).context("README.md's guide (Your model on your board) failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_the_sh_blocks_between_the_markers() {
        let readme = "```sh\nnot this\n```\n<!-- guide: begin -->\ntext\n```sh\na\nb\n```\nmore\n```sh\nc\n```\n<!-- guide: end -->\n```sh\nnor this\n```\n";
        assert_eq!(script(readme).unwrap(), "a\nb\nc\n");
    }

    #[test]
    fn refuses_a_missing_marker_or_an_open_block() {
        assert!(script("no markers").is_err());
        assert!(script("<!-- guide: begin -->\n```sh\na\n").is_err());
        assert!(script("<!-- guide: begin -->\n```sh\na\n<!-- guide: end -->").is_err());
        assert!(script("<!-- guide: begin -->\n```rust\na\n```\n<!-- guide: end -->").is_err());
    }
}
