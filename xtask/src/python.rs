//! The Python environments: `cargo xtask setup-python` for the TFLM reference oracle, and the
//! design-exploration environment (PyTorch) that `cargo xtask test` uses for `models/design`.
//!
//! Each is a venv (created with `python3 -m venv`, or `$PYTHON -m venv`, when missing) with its
//! requirements file installed. A stamp file inside the venv records the requirements last
//! installed, so a second run only checks that the packages still import.

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

/// A Python environment: where its venv lives, what it installs, what must import.
pub struct Env {
    /// The venv directory.
    pub venv: PathBuf,
    /// The requirements file.
    pub requirements: PathBuf,
    /// Python code that must run for the environment to count as ready.
    pub import_check: &'static str,
    /// What it is for (messages).
    pub purpose: &'static str,
}

impl Env {
    /// The TFLM oracle's environment: `<repo>/.venv`, `tests/oracle/requirements.txt`.
    pub fn oracle(root: &Path) -> Env {
        Env {
            venv: root.join(VENV_DIR),
            requirements: root.join(REQUIREMENTS),
            import_check: IMPORT_CHECK,
            purpose: "Python oracle",
        }
    }

    /// The design-exploration environment (PyTorch, onnxruntime):
    /// `$ATTONET_DESIGN_VENV`, else `<repo>/.venv-design`; `models/requirements.txt`.
    /// CI points the variable outside the clone so the large PyTorch install is made once per
    /// machine.
    pub fn design(root: &Path) -> Env {
        let venv = std::env::var_os("ATTONET_DESIGN_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv-design"));
        Env {
            venv,
            requirements: root.join("models/requirements.txt"),
            import_check: "import torch, onnx, onnxruntime, numpy, PIL, pytest, ray",
            purpose: "design exploration",
        }
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.venv.join("Scripts").join("python.exe")
        } else {
            self.venv.join("bin").join("python")
        }
    }

    /// Creates the venv if missing and installs the requirements unless the stamp says they are
    /// installed and they import.
    pub fn ensure(&self) -> Result<()> {
        let requirements = fs::read_to_string(&self.requirements)
            .with_context(|| format!("reading the requirements {}", self.requirements.display()))?;
        let python = self.python();
        let stamp = self.venv.join(STAMP);
        if !python.is_file() {
            create_venv(&self.venv)?;
        } else if fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) && self.imports_ok() {
            eprintln!(
                "{} is up to date with {}",
                self.venv.display(),
                self.requirements.display()
            );
            return Ok(());
        }
        eprintln!(
            "installing {} into {}",
            self.requirements.display(),
            self.venv.display()
        );
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "-r",
            ])
            .arg(&self.requirements)
            .status()
            .with_context(|| format!("running {} -m pip", python.display()))?;
        if !status.success() {
            bail!(
                "`pip install -r {}` failed ({status}); see pip's output above",
                self.requirements.display()
            );
        }
        if !self.imports_ok() {
            bail!(
                "packages installed, but `{}` still fails in {}",
                self.import_check,
                self.venv.display()
            );
        }
        fs::write(&stamp, &requirements).with_context(|| format!("writing {}", stamp.display()))?;
        eprintln!("{} environment ready: {}", self.purpose, python.display());
        Ok(())
    }

    fn imports_ok(&self) -> bool {
        Command::new(self.python())
            .args(["-c", self.import_check])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// The oracle venv's interpreter; other subcommands run the oracle scripts with it.
pub fn venv_python(root: &Path) -> PathBuf {
    Env::oracle(root).python()
}

/// `cargo xtask setup-python`.
pub fn setup_python(root: &Path) -> Result<()> {
    Env::oracle(root).ensure()
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
