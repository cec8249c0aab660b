//! `cargo xtask setup-python`: the Python environment for the TFLM reference oracle.
//!
//! Creates `<repo>/.venv` (with `python3 -m venv`, or `$PYTHON -m venv`) when it is missing and
//! installs the pinned packages of `tests/oracle/requirements.txt` into it. A stamp file inside the
//! venv records the requirements last installed, so a second run only checks that the packages
//! still import.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The virtual environment, relative to the repository root.
pub const VENV_DIR: &str = ".venv";
/// Pinned Python requirements, relative to the repository root.
pub const REQUIREMENTS: &str = "tests/oracle/requirements.txt";
/// Copy of the requirements last installed, inside the venv.
const STAMP: &str = "attonet-requirements.txt";
/// What must import for the oracle scripts to work.
const IMPORT_CHECK: &str = "import numpy, tflite_micro.python.tflite_micro.runtime";

/// The venv's interpreter; other subcommands run the oracle scripts with it.
pub fn venv_python(root: &Path) -> PathBuf {
    let venv = root.join(VENV_DIR);
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

pub fn setup_python(root: &Path) -> Result<()> {
    let req_path = root.join(REQUIREMENTS);
    let requirements = fs::read_to_string(&req_path)
        .with_context(|| format!("reading the pinned requirements {}", req_path.display()))?;
    let venv = root.join(VENV_DIR);
    let python = venv_python(root);
    let stamp = venv.join(STAMP);

    if !python.is_file() {
        create_venv(&venv)?;
    } else if fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) && imports_ok(&python) {
        eprintln!("{} is up to date with {REQUIREMENTS}", venv.display());
        return Ok(());
    }

    eprintln!("installing {REQUIREMENTS} into {}", venv.display());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
        ])
        .arg(&req_path)
        .status()
        .with_context(|| format!("running {} -m pip", python.display()))?;
    if !status.success() {
        bail!("`pip install -r {REQUIREMENTS}` failed ({status}); see pip's output above");
    }
    if !imports_ok(&python) {
        bail!(
            "packages installed, but `{IMPORT_CHECK}` still fails in {}",
            venv.display()
        );
    }
    fs::write(&stamp, &requirements).with_context(|| format!("writing {}", stamp.display()))?;
    eprintln!("Python oracle environment ready: {}", python.display());
    Ok(())
}

fn create_venv(venv: &Path) -> Result<()> {
    let base = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let shown = base.to_string_lossy().into_owned();
    eprintln!("creating {} with {shown}", venv.display());
    let status = match Command::new(&base).args(["-m", "venv"]).arg(venv).status() {
        Ok(status) => status,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("{shown} not found on PATH (install Python 3.10-3.13, or set PYTHON to an interpreter)")
        }
        Err(e) => return Err(e).with_context(|| format!("running {shown} -m venv")),
    };
    if !status.success() {
        bail!(
            "`{shown} -m venv {}` failed ({status}); on Debian/Ubuntu install the python3-venv package",
            venv.display()
        );
    }
    Ok(())
}

fn imports_ok(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", IMPORT_CHECK])
        .output()
        .is_ok_and(|o| o.status.success())
}
