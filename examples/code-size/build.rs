//! Converts the selected model (if any) into `OUT_DIR/model.rs` and puts
//! `memory.x` (the MPS2 AN386 map) on the linker's path.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    std::fs::copy(root.join("memory.x"), out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    let model = if cfg!(feature = "resnet8") {
        Some("resnet8_int8.tflite")
    } else if cfg!(feature = "kws") {
        Some("kws_dscnn_int8.tflite")
    } else {
        None
    };
    if let Some(file) = model {
        let path = root.join("../../models/mlperf-tiny").join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        if let Err(e) = attonet_convert::Builder::new(&path)
            .name("model")
            .out_dir(&out)
            // The Cortex-M4 firmware's tables, as the QEMU examples convert.
            .dsp_tables(true)
            .build()
        {
            panic!("converting {}: {e}", path.display());
        }
    }
}
