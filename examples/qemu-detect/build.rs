//! Builds the digit detector for the firmware and computes, on the host, what
//! the firmware must find:
//!
//! 1. converts the float ONNX detector (`models/atto-det-a/detector.onnx`,
//!    or the folder `$ATTONET_DETECT_DIR` names) with
//!    [`attonet_convert::Builder`], quantized from the folder's `calib.npy`,
//!    into `OUT_DIR` (as `attonet-fw-build` does for the AttoNet family);
//! 2. quantizes the bundled scenes (`data/scenes_x.npy`) as the int8 plan's
//!    input requires, exactly as `attonet run` does for a float model;
//! 3. runs the host runner (the very model the builder wrote, in memory) on
//!    each scene and decodes its int8 output with `attonet-detect`'s
//!    `Decoder`, with the head layout read from the model's output
//!    quantization and the score threshold from the card's operating point;
//! 4. writes `$OUT_DIR/detect.rs`: the model, the scenes, the host's int8
//!    outputs and detections (every f32 by its bits), the ground truth, the
//!    decoder's settings; and links with `memory.x` and `link.x`.
//!
//! The firmware repeats 3 on the target and compares, bit for bit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use attonet_convert::npy::Array;
use attonet_convert::quantize;
use attonet_detect::{heapless, DecodeConfig, Decoder, Detection, HeadLayout, Quant};

/// The decoder's settings besides the score threshold (the card's): a 3x3
/// peak window (CenterNet's max-pool NMS) and greedy NMS at IoU 0.5, per
/// class, as the card's evaluation (`eval` in card.json).
const IOU_THRESHOLD: f32 = 0.5;
const PEAK_WINDOW: u8 = 3;
/// Detections kept per scene (the firmware's `heapless::Vec` capacity).
const MAX_DETECTIONS: usize = 32;
/// The head's stride in input pixels (the attonet-detect contract for a
/// 96x96 input and a 12x12 grid).
const STRIDE: u16 = 8;

fn main() {
    if let Err(message) = build() {
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run from cargo"))
}

fn read_npy(path: &Path) -> Result<Array, String> {
    println!("cargo:rerun-if-changed={}", path.display());
    Array::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `operating_point.score_threshold` of a card.json, without a JSON parser:
/// the first `"score_threshold"` after `"operating_point"`.
fn score_threshold(card: &str) -> Option<f32> {
    let at = card.find("\"operating_point\"")?;
    let rest = &card[at..];
    let rest = &rest[rest.find("\"score_threshold\"")? + "\"score_threshold\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Whether the build is for the Cortex-M55 of `mps3-an547` (Armv8.1-M,
/// `thumbv8m.main`): its memory map, counter and Helium kernels.
fn an547() -> bool {
    std::env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv8m.main"))
}

/// Whether the runtime compiles its Cortex-M DSP kernels (the rule of
/// `crates/attonet-runtime/build.rs`: Armv7E-M, and the Cortex-M55 this
/// crate's config names for `thumbv8m.main`): then the converter writes the
/// tables they read in place.
fn dsp_kernels() -> bool {
    println!("cargo:rerun-if-env-changed=ATTONET_NO_DSP");
    let target = std::env::var("TARGET").unwrap_or_default();
    (target.starts_with("thumbv7em") || an547())
        && !std::env::var("ATTONET_NO_DSP").is_ok_and(|v| v == "1")
}

/// Whether the runtime compiles its Helium (MVE) kernels: the Cortex-M55
/// (`target-cpu=cortex-m55` in this crate's config), unless
/// `ATTONET_NO_MVE=1`.
fn helium_kernels() -> bool {
    println!("cargo:rerun-if-env-changed=ATTONET_NO_MVE");
    an547() && !std::env::var("ATTONET_NO_MVE").is_ok_and(|v| v == "1")
}

fn build() -> Result<(), String> {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env("OUT_DIR")?);
    let root = manifest
        .join("../..")
        .canonicalize()
        .map_err(|e| format!("finding the repository root: {e}"))?;

    // The model's folder: detector.onnx, calib.npy, card.json.
    println!("cargo:rerun-if-env-changed=ATTONET_DETECT_DIR");
    let dir = match std::env::var_os("ATTONET_DETECT_DIR").filter(|v| !v.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root.join(d)
            }
        }
        None => root.join("models/atto-det-a"),
    };
    let onnx = dir.join("detector.onnx");
    let calib = dir.join("calib.npy");
    let card_path = dir.join("card.json");
    for f in [&onnx, &calib, &card_path] {
        println!("cargo:rerun-if-changed={}", f.display());
        if !f.is_file() {
            return Err(format!(
                "{} is missing (the detector's folder: set ATTONET_DETECT_DIR to another)",
                f.display()
            ));
        }
    }
    let card =
        std::fs::read_to_string(&card_path).map_err(|e| format!("{}: {e}", card_path.display()))?;
    let threshold = score_threshold(&card).ok_or_else(|| {
        format!(
            "{}: no operating_point.score_threshold",
            card_path.display()
        )
    })?;

    // 1. Convert (quantized from the calibration scenes).
    let mut builder = attonet_convert::Builder::new(&onnx)
        .name("detector")
        .calibration(&calib);
    if dsp_kernels() {
        builder = builder.dsp_tables(true).helium(helium_kernels());
    }
    let (report, assembled) = builder
        .build_assembled()
        .map_err(|e| format!("converting {}: {e}", onnx.display()))?;
    let model = assembled.model();

    // The head: NHWC 12x12x(classes + 4), per-tensor quantized.
    let input = model.input;
    let output = model.output;
    let (ih, iw, ic) = (input.slot.shape.h, input.slot.shape.w, input.slot.shape.c);
    let (gh, gw, oc) = (
        output.slot.shape.h,
        output.slot.shape.w,
        output.slot.shape.c,
    );
    if model.outputs.len() != 1 || ic != 1 || oc <= 4 {
        return Err(format!(
            "{}: expected one input HxWx1 and one output HxWx(classes + 4), got input {ih}x{iw}x{ic}, \
             {} output(s), the first {gh}x{gw}x{oc}",
            onnx.display(),
            model.outputs.len()
        ));
    }
    if u32::from(gh) * u32::from(STRIDE) != u32::from(ih)
        || u32::from(gw) * u32::from(STRIDE) != u32::from(iw)
    {
        return Err(format!(
            "{}: the grid {gh}x{gw} times the stride {STRIDE} is not the input {ih}x{iw}",
            onnx.display()
        ));
    }
    let q = Quant {
        scale: output.scale,
        zero_point: output.zero_point,
    };
    let layout = HeadLayout {
        grid_h: gh,
        grid_w: gw,
        classes: oc - 4,
        stride: STRIDE,
        input_h: ih,
        input_w: iw,
        heat: q,
        regression: q,
    };
    let config = DecodeConfig {
        score_threshold: threshold,
        iou_threshold: IOU_THRESHOLD,
        peak_window: PEAK_WINDOW,
        class_agnostic_nms: false,
    };
    let decoder = Decoder::new(layout, config).map_err(|e| format!("the decoder: {e}"))?;

    // 2. The scenes, quantized as the plan's input requires.
    let scenes_path = manifest.join("data/scenes_x.npy");
    let x = read_npy(&scenes_path)?;
    let onnx_bytes = std::fs::read(&onnx).map_err(|e| format!("{}: {e}", onnx.display()))?;
    let float = quantize::float_model_in(&onnx_bytes)
        .map_err(|e| format!("{}: {e}", onnx.display()))?
        .ok_or_else(|| format!("{}: not a float model", onnx.display()))?;
    let samples = float
        .samples(&x, &scenes_path.display().to_string())
        .map_err(|e| e.to_string())?;
    let inputs: Vec<i8> = samples
        .iter()
        .flat_map(|s| quantize::quantize_values(s, input.scale, input.zero_point))
        .collect();
    let in_len = input.slot.shape.len();
    let out_len = output.slot.shape.len();
    let n = samples.len();
    if inputs.len() != n * in_len {
        return Err(format!(
            "{}: {} bytes for {n} scenes of {in_len} B",
            scenes_path.display(),
            inputs.len()
        ));
    }

    // Ground truth: scene, class, x0, y0, x1, y1.
    let boxes_path = manifest.join("data/scenes_boxes.npy");
    let truth = read_npy(&boxes_path)?
        .to_i64()
        .ok_or_else(|| format!("{}: integers expected", boxes_path.display()))?;
    if truth.len() % 6 != 0 {
        return Err(format!("{}: not [K, 6]", boxes_path.display()));
    }

    // 3. The host runner and the decoder.
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let mut outputs = vec![0i8; n * out_len];
    let mut dets: Vec<(usize, Detection)> = Vec::new();
    let mut truncated = 0;
    for (i, (x, y)) in inputs
        .chunks_exact(in_len)
        .zip(outputs.chunks_exact_mut(out_len))
        .enumerate()
    {
        model
            .infer(&mut arena, x, y)
            .map_err(|e| format!("the host runner failed on scene {i}: {e:?}"))?;
        let mut found = heapless::Vec::<Detection, MAX_DETECTIONS>::new();
        let r = decoder
            .decode(y, &mut found)
            .map_err(|e| format!("decoding scene {i}: {e}"))?;
        truncated += r.truncated;
        dets.extend(found.iter().map(|d| (i, *d)));
    }
    if truncated > 0 {
        println!("cargo:warning=more than {MAX_DETECTIONS} detections in a scene: the best {MAX_DETECTIONS} are compared");
    }

    // 4. detect.rs
    let mut s = String::from(
        "// @generated by examples/qemu-detect/build.rs: the detector, the bundled scenes,\n\
         // the host runner's outputs and detections for them. Do not edit.\n\n",
    );
    let _ = writeln!(s, "/// The converted detector.");
    let _ = writeln!(s, "pub mod detector {{");
    let _ = writeln!(
        s,
        "    include!(concat!(env!(\"OUT_DIR\"), \"/detector.rs\"));\n}}\n"
    );
    let rel = dir
        .strip_prefix(&root)
        .unwrap_or(&dir)
        .display()
        .to_string();
    let _ = writeln!(
        s,
        "/// Where the model came from.\npub const MODEL_DIR: &str = {rel:?};"
    );
    let _ = writeln!(
        s,
        "/// Multiply-accumulates per inference.\npub const MACS: u64 = {};",
        report.macs
    );
    let _ = writeln!(
        s,
        "/// Bytes of the weight blob.\npub const WEIGHT_BYTES: u32 = {};",
        report.weight_bytes
    );
    let _ = writeln!(
        s,
        "/// The card's score threshold (operating_point), {threshold}.\npub const SCORE_THRESHOLD: f32 = f32::from_bits({:#010x});",
        threshold.to_bits()
    );
    let _ = writeln!(
        s,
        "/// NMS IoU threshold.\npub const IOU_THRESHOLD: f32 = f32::from_bits({:#010x});",
        IOU_THRESHOLD.to_bits()
    );
    let _ = writeln!(
        s,
        "/// Peak window.\npub const PEAK_WINDOW: u8 = {PEAK_WINDOW};"
    );
    let _ = writeln!(s, "/// Head stride.\npub const STRIDE: u16 = {STRIDE};");
    let _ = writeln!(
        s,
        "/// Detections kept per scene.\npub const MAX_DETECTIONS: usize = {MAX_DETECTIONS};"
    );
    let _ = writeln!(s, "/// Bundled scenes.\npub const SCENES: usize = {n};");
    let _ = writeln!(
        s,
        "/// Bytes of a scene (the int8 input).\npub const INPUT_LEN: usize = {in_len};"
    );
    let _ = writeln!(
        s,
        "/// Bytes of an output.\npub const OUTPUT_LEN: usize = {out_len};"
    );
    let _ = writeln!(s, "const _: () = assert!(INPUT_LEN == detector::INPUT_LEN && OUTPUT_LEN == detector::OUTPUT_LEN);");
    array(
        &mut s,
        "/// The scenes, quantized (int8 NHWC).",
        "INPUTS",
        "i8",
        &inputs,
    );
    array(
        &mut s,
        "/// The host runner's int8 outputs.",
        "EXPECTED_OUTPUTS",
        "i8",
        &outputs,
    );
    let _ = writeln!(
        s,
        "/// The host's detections: scene, class, score, x0, y0, x1, y1 (f32 bits), row, col, logit.\n\
         pub static EXPECTED: [Expected; {}] = [",
        dets.len()
    );
    for (i, d) in &dets {
        let _ = writeln!(
            s,
            "    Expected {{ scene: {i}, class: {}, score: {:#010x}, x0: {:#010x}, y0: {:#010x}, x1: {:#010x}, y1: {:#010x}, row: {}, col: {}, logit: {} }},",
            d.class,
            d.score.to_bits(),
            d.x0.to_bits(),
            d.y0.to_bits(),
            d.x1.to_bits(),
            d.y1.to_bits(),
            d.row,
            d.col,
            d.logit
        );
    }
    s.push_str("];\n");
    let _ = writeln!(
        s,
        "/// Ground truth: scene, class, x0, y0, x1, y1 (pixels, end-exclusive).\npub static TRUTH: [[u8; 6]; {}] = [",
        truth.len() / 6
    );
    for t in truth.chunks_exact(6) {
        let _ = writeln!(
            s,
            "    [{}, {}, {}, {}, {}, {}],",
            t[0], t[1], t[2], t[3], t[4], t[5]
        );
    }
    s.push_str("];\n");
    std::fs::write(out.join("detect.rs"), s).map_err(|e| format!("writing detect.rs: {e}"))?;

    // Link: the board's memory map as memory.x on the search path for
    // cortex-m-rt's link.x; the firmware picks the board's counter by
    // `cfg(an547)`.
    println!("cargo::rustc-check-cfg=cfg(an547)");
    // The boards' own memory maps, those of their example firmwares.
    let map = if an547() {
        println!("cargo:rustc-cfg=an547");
        "../qemu-mps3-an547/memory.x"
    } else {
        "../qemu-mps2-an386/memory.x"
    };
    let memory_x = manifest.join(map);
    println!("cargo:rerun-if-changed={}", memory_x.display());
    std::fs::copy(&memory_x, out.join("memory.x")).map_err(|e| format!("copying {map}: {e}"))?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}

fn array<T: std::fmt::Display>(s: &mut String, doc: &str, name: &str, ty: &str, values: &[T]) {
    let _ = write!(s, "{doc}\npub static {name}: [{ty}; {}] = [", values.len());
    for (i, v) in values.iter().enumerate() {
        if i % 32 == 0 {
            s.push_str("\n    ");
        }
        let _ = write!(s, "{v},");
    }
    s.push_str("\n];\n");
}
