//! Converts the selected models, embeds the bundled inputs with the host
//! runner's outputs for them, refuses models that do not fit the memory map,
//! and links for the core type the target selects.
use std::path::PathBuf;

fn main() {
    let riscv = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("riscv32");
    if !riscv {
        // cortex-m-rt's link.x with memory.x.
        attonet_fw_build::Firmware::new("Raspberry Pi Pico 2 (Cortex-M33)").build();
        return;
    }
    attonet_fw_build::Firmware::new("Raspberry Pi Pico 2 (Hazard3)")
        .memory_x("memory-riscv.x")
        .link(false)
        .build();
    // riscv-rt 0.12's link.x wants the memory map given before it.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR in a build script"));
    std::fs::copy("memory-riscv.x", out.join("memory-riscv.x")).expect("copying memory-riscv.x");
    println!("cargo:rerun-if-changed=memory-riscv.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tmemory-riscv.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
