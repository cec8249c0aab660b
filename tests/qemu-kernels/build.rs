//! Picks the memory map for the target (`memory.x` for cortex-m-rt's `link.x`).
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap_or_default();
    let map = if target.starts_with("thumbv8m") {
        "memory-an547.x"
    } else {
        "memory-mps2.x"
    };
    fs::copy(map, out.join("memory.x")).unwrap();
    // The MPS3 board counts with the SSE-300 system counter, MPS2 with TIMER0.
    println!("cargo::rustc-check-cfg=cfg(an547)");
    if target.starts_with("thumbv8m") {
        println!("cargo:rustc-cfg=an547");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
    println!("cargo:rerun-if-changed=build.rs");
}
