//! Target detection for the architecture-specific kernels.
//!
//! Emits `--cfg attonet_dsp` when the target has the Armv7E-M / Armv8-M DSP
//! extension (SMLAD, SXTB16, ...), so `src/arch/` compiles its Cortex-M DSP
//! kernels and the ops dispatch to them:
//!
//! * `thumbv7em-*` (Cortex-M4, M7): the DSP extension is part of Armv7E-M;
//! * `thumbv8m.main-*` (Cortex-M33, M35P, M55, M85): the extension is optional
//!   there and the target does not enable it by default, so the cfg is only
//!   set when the build enables it: `-C target-feature=+dsp` or a
//!   `-C target-cpu` of a core that always has it (M55, M85) or that is
//!   normally built with it (M33, M35P).
//!
//! Emits `--cfg attonet_riscv` for 32-bit RISC-V targets with the M extension
//! (`riscv32imc-*`, `riscv32imac-*`, `riscv32imafc-*`, or `+m`), except RV32E
//! (16 registers: the kernels' inner loop needs 28), so `src/arch/riscv.rs`
//! compiles its register-blocked kernels and the ops dispatch to them.
//!
//! Emits `--cfg attonet_mve` (and `attonet_dsp`: every MVE core has the DSP
//! extension) for `thumbv8m.main-*` builds for a core with the M-profile
//! Vector Extension (Helium): `-C target-cpu=cortex-m55|cortex-m85` or
//! `-C target-feature=+mve` (or `+mve.fp`), so `src/arch/helium.rs`
//! compiles its MVE kernels; `ATTONET_NO_MVE=1` turns them off alone (the
//! DSP kernels stay).
//!
//! `ATTONET_NO_DSP=1` in the environment turns the fast kernels off (the
//! portable kernels then run everywhere, e.g. to compare the two on a board);
//! `ATTONET_NO_RISCV=1` turns off the RISC-V ones only.
use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(attonet_dsp)");
    println!("cargo::rustc-check-cfg=cfg(attonet_riscv)");
    println!("cargo::rustc-check-cfg=cfg(attonet_mve)");
    println!("cargo:rerun-if-env-changed=ATTONET_NO_MVE");
    println!("cargo:rerun-if-env-changed=ATTONET_NO_RISCV");
    println!("cargo:rerun-if-env-changed=ATTONET_NO_DSP");
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if env::var("ATTONET_NO_DSP").is_ok_and(|v| v == "1") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let abi = env::var("CARGO_CFG_TARGET_ABI").unwrap_or_default();
    if arch == "riscv32"
        && features.split(',').any(|f| f == "m")
        && !abi.ends_with('e')
        && !env::var("ATTONET_NO_RISCV").is_ok_and(|v| v == "1")
    {
        println!("cargo:rustc-cfg=attonet_riscv");
    }
    let mve = target.starts_with("thumbv8m.main")
        && flags.split('\x1f').any(|f| {
            let f = f.trim_start_matches("-C").trim_start_matches("-Z");
            (f.contains("target-feature")
                && f.split(',')
                    .any(|x| x.ends_with("+mve") || x.ends_with("+mve.fp")))
                || ["cortex-m55", "cortex-m85"]
                    .iter()
                    .any(|cpu| f.ends_with(&format!("target-cpu={cpu}")))
        });
    let mve = mve && !env::var("ATTONET_NO_MVE").is_ok_and(|v| v == "1");
    let dsp = if target.starts_with("thumbv7em") {
        true
    } else if target.starts_with("thumbv8m.main") {
        flags.split('\x1f').any(|f| {
            let f = f.trim_start_matches("-C").trim_start_matches("-Z");
            (f.contains("target-feature") && f.contains("+dsp"))
                || ["cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"]
                    .iter()
                    .any(|cpu| f.ends_with(&format!("target-cpu={cpu}")))
        })
    } else {
        false
    };
    if dsp || mve {
        println!("cargo:rustc-cfg=attonet_dsp");
    }
    if mve {
        println!("cargo:rustc-cfg=attonet_mve");
    }
}
