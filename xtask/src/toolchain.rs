//! What a fresh machine lacks to build and run the firmware, installed by the
//! commands that need it: the rustup targets (this file has the one list of
//! them), QEMU and the cargo tools the checks run (`cargo-deny`).
//!
//! Every xtask command that builds for a target calls [`ensure_targets`] with
//! the targets it needs before it builds, and every one that runs firmware
//! calls [`ensure_qemu`]; `cargo xtask test` does both for everything at its
//! start (its shell scripts, `tests/qemu-kernels*/run.sh`, install nothing).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::cmd;

/// Cortex-M0/M0+ (`qemu-microbit`).
pub const THUMBV6M: &str = "thumbv6m-none-eabi";
/// Cortex-M4F/M7 (`qemu-mps2-an386`, `-an500`, `code-size`, nRF52840-DK,
/// NUCLEO-H743ZI, `tests/qemu-kernels` an386/an500).
pub const THUMBV7EM: &str = "thumbv7em-none-eabihf";
/// Cortex-M33/M55 (`qemu-mps3-an547`, Pico 2 Arm cores, `tests/qemu-kernels` an547).
pub const THUMBV8M_MAIN: &str = "thumbv8m.main-none-eabihf";
/// RISC-V rv32imac (`qemu-sifive-e`, `qemu-riscv-virt`, Pico 2 Hazard3 cores,
/// `tests/qemu-kernels-riscv` imac).
pub const RV32IMAC: &str = "riscv32imac-unknown-none-elf";
/// RISC-V rv32imc (ESP32-C3, `tests/qemu-kernels-riscv` imc).
pub const RV32IMC: &str = "riscv32imc-unknown-none-elf";

/// Every rustup target the project builds for: the only list. A command
/// asking [`ensure_targets`] for a target not in it is refused.
pub const TARGETS: [&str; 5] = [THUMBV6M, THUMBV7EM, THUMBV8M_MAIN, RV32IMAC, RV32IMC];

/// The targets the runtime (and generated model code) must build for without
/// `std` (`cargo xtask test`).
pub const NO_STD_TARGETS: [&str; 3] = [THUMBV6M, THUMBV7EM, RV32IMAC];

/// Adds the rustup targets of `targets` that are not installed (each must be
/// one of [`TARGETS`]). Without rustup, checks the toolchain's sysroot
/// instead and fails naming the targets it lacks.
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    if let Some(unknown) = targets.iter().find(|t| !TARGETS.contains(t)) {
        bail!(
            "{unknown} is not one of the project's rustup targets {TARGETS:?}: add it to the list in xtask/src/toolchain.rs"
        );
    }
    let Some(installed) = rustup_installed()? else {
        return check_sysroot(targets);
    };
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.iter().any(|i| i == t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("rustup targets missing: {}", missing.join(" "));
    let mut c = Command::new("rustup");
    c.args(["target", "add"]).args(&missing);
    cmd::run(c).context("adding the missing rustup targets")?;
    let installed = rustup_installed()?.unwrap_or_default();
    let still: Vec<&str> = missing
        .into_iter()
        .filter(|t| !installed.iter().any(|i| i == t))
        .collect();
    if !still.is_empty() {
        bail!(
            "`rustup target add` succeeded but {} still not listed by `rustup target list --installed`",
            still.join(", ")
        );
    }
    Ok(())
}

/// The installed rustup targets of the active toolchain; `None` when rustup
/// is not on the PATH.
fn rustup_installed() -> Result<Option<Vec<String>>> {
    let out = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("running `rustup target list --installed`"),
    };
    if !out.status.success() {
        bail!(
            "`rustup target list --installed` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    ))
}

/// Without rustup: every target's standard library must be in the sysroot of
/// the `rustc` cargo uses.
fn check_sysroot(targets: &[&str]) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| {
            format!(
                "rustup is not on the PATH (it adds the Rust targets {} the firmware builds need) \
                 and `{} --print sysroot` could not run: install Rust with rustup (https://rustup.rs)",
                targets.join(", "),
                rustc.to_string_lossy()
            )
        })?;
    if !out.status.success() {
        bail!(
            "rustup is not installed and `{} --print sysroot` failed ({})",
            rustc.to_string_lossy(),
            out.status
        );
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !sysroot.join("lib/rustlib").join(t).join("lib").is_dir())
        .collect();
    if !missing.is_empty() {
        bail!(
            "rustup is not installed, and the Rust toolchain at {} lacks the standard library for {}: \
             install rustup (https://rustup.rs) and the xtask adds them, or install them with your Rust distribution",
            sysroot.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// Whether `program --version` runs and succeeds.
fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The first line of `qemu-system-arm --version` (for logs).
pub fn qemu_version() -> Result<String> {
    let out = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .context("running `qemu-system-arm --version`")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Installs QEMU (`qemu-system-arm`, `qemu-system-riscv32`) when missing:
/// with apt on Debian/Ubuntu, from bookworm-backports on Debian 12 (QEMU 10;
/// bookworm's own 7.2 conflicts with a newer `qemu-utils`); as root directly,
/// otherwise with sudo.
pub fn ensure_qemu() -> Result<()> {
    if has("qemu-system-arm") && has("qemu-system-riscv32") {
        return Ok(());
    }
    if !has("apt-get") {
        bail!(
            "QEMU is missing: install qemu-system-arm and qemu-system-riscv32 (QEMU 8 or newer), \
             e.g. `brew install qemu` or your distribution's qemu-system-arm and qemu-system-misc packages"
        );
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root_user && !has("sudo") {
        bail!(
            "QEMU is missing and installing it with apt needs root: run as root, install sudo, \
             or install qemu-system-arm and qemu-system-misc (QEMU 8 or newer) yourself"
        );
    }
    let sudo = |args: &[&str]| {
        let mut c = if root_user {
            Command::new(args[0])
        } else {
            let mut c = Command::new("sudo");
            c.arg(args[0]);
            c
        };
        c.args(&args[1..]);
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let bookworm = os.lines().any(|l| l.trim() == "VERSION_CODENAME=bookworm");
    eprintln!("QEMU is missing: installing it with apt");
    let mut install = vec!["apt-get", "install", "-y", "-qq"];
    if bookworm {
        let list = Path::new("/etc/apt/sources.list.d/bookworm-backports.list");
        if !list.exists() {
            let line = "deb http://deb.debian.org/debian bookworm-backports main\n";
            let mut c = sudo(&["tee", &list.to_string_lossy()]);
            c.stdin(Stdio::piped()).stdout(Stdio::null());
            let mut child = c
                .spawn()
                .context("adding bookworm-backports to apt's sources")?;
            use std::io::Write as _;
            child
                .stdin
                .take()
                .context("tee's stdin")?
                .write_all(line.as_bytes())
                .with_context(|| format!("writing {}", list.display()))?;
            if !child.wait()?.success() {
                bail!("could not write {}", list.display());
            }
        }
        install.extend(["-t", "bookworm-backports"]);
    }
    install.extend(["qemu-system-arm", "qemu-system-misc"]);
    cmd::run(sudo(&["apt-get", "update", "-qq"])).context("installing QEMU")?;
    cmd::run(sudo(&install)).context("installing QEMU")?;
    if !(has("qemu-system-arm") && has("qemu-system-riscv32")) {
        bail!("QEMU is still missing after installing it (qemu-system-arm, qemu-system-riscv32)");
    }
    eprintln!("installed {}", qemu_version()?);
    Ok(())
}

/// A cargo subcommand the checks run, pinned: `cargo install --locked` when
/// `cargo <name> --version` does not report this version.
pub struct CargoTool {
    /// The subcommand (`deny` for `cargo deny`).
    pub subcommand: &'static str,
    /// Its crate on crates.io.
    pub krate: &'static str,
    /// The pinned version.
    pub version: &'static str,
}

/// `cargo deny` (licences, bans and sources of the dependency graph).
pub const CARGO_DENY: CargoTool = CargoTool {
    subcommand: "deny",
    krate: "cargo-deny",
    version: "0.20.2",
};

/// Installs `tool` unless that version is there (a few minutes the first
/// time; `~/.cargo/bin` keeps it).
pub fn ensure_cargo_tool(tool: &CargoTool) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let have = Command::new(&cargo)
        .args([tool.subcommand, "--version"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if have.split_whitespace().any(|w| w == tool.version) {
        return Ok(());
    }
    eprintln!(
        "installing {} {} (cargo {} reported {:?})",
        tool.krate,
        tool.version,
        tool.subcommand,
        have.trim()
    );
    let mut c = Command::new(&cargo);
    c.args(["install", "--locked", "--version", tool.version, tool.krate]);
    cmd::run(c).with_context(|| format!("installing {}", tool.krate))
}

/// `cargo fuzz` (libFuzzer targets of `fuzz/`).
pub const CARGO_FUZZ: CargoTool = CargoTool {
    subcommand: "fuzz",
    krate: "cargo-fuzz",
    version: "0.13.2",
};

/// The nightly toolchain (cargo fuzz's sanitizers, Miri): installed with
/// rustup when missing.
pub fn ensure_nightly() -> Result<()> {
    let ok = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(());
    }
    let mut c = Command::new("rustup");
    c.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
    cmd::run(c).context("installing the nightly toolchain")
}

/// What the Rust compiler prints for `args`.
fn rustc_query(args: &[&str]) -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", rustc.to_string_lossy(), args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({})",
            rustc.to_string_lossy(),
            args.join(" "),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host's target triple (`x86_64-unknown-linux-gnu`), from `rustc -vV`.
pub fn host_triple() -> Result<String> {
    Ok(rustc_query(&["-vV"])?
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("rustc -vV names no host")?
        .trim()
        .to_string())
}

/// A tool of rustup's `llvm-tools` component (`llvm-objdump`, ...), of the
/// LLVM the Rust compiler uses: the component is added when missing.
pub fn llvm_tool(name: &str) -> Result<PathBuf> {
    let sysroot = PathBuf::from(rustc_query(&["--print", "sysroot"])?.trim());
    let host = host_triple()?;
    let path = sysroot
        .join("lib/rustlib")
        .join(host)
        .join("bin")
        .join(name);
    if path.is_file() {
        return Ok(path);
    }
    eprintln!("{name} missing: adding rustup's llvm-tools component");
    let mut c = Command::new("rustup");
    c.args(["component", "add", "llvm-tools"]);
    cmd::run(c).context("adding the llvm-tools component (it has llvm-objdump)")?;
    if !path.is_file() {
        bail!(
            "{} is still missing after `rustup component add llvm-tools`",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target triple the firmware folders' cargo configs and the
    /// kernel-proof scripts name is in [`TARGETS`] (so the xtask installs it).
    #[test]
    fn every_target_in_the_tree_is_listed() {
        let root = crate::repo_root();
        let mut files = Vec::new();
        for dir in ["examples", "examples/boards", "tests"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                for file in [".cargo/config.toml", "run.sh"] {
                    if path.join(file).is_file() {
                        files.push(path.join(file));
                    }
                }
            }
        }
        assert!(files.len() > 8, "found only {files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Each triple starts at "thumb" or "riscv" (after `target.` in a
            // config table name) and runs to the end of the word.
            for (at, _) in text
                .match_indices("thumb")
                .chain(text.match_indices("riscv"))
            {
                let word: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                    .collect();
                let word = word.trim_end_matches('.');
                if ["-none-eabi", "-none-eabihf", "-none-elf"]
                    .iter()
                    .any(|end| word.ends_with(end))
                {
                    assert!(
                        TARGETS.contains(&word),
                        "{} names {word}, not in toolchain::TARGETS",
                        file.display()
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_targets_are_refused() {
        let e = ensure_targets(&["x86_64-unknown-none"]).unwrap_err();
        assert!(e.to_string().contains("xtask/src/toolchain.rs"), "{e}");
    }
}
