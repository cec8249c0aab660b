//! The examples' `build.rs` helper. For the models a board crate's features
//! select, it
//!
//! 1. converts each model with [`attonet_convert::Builder`] into `OUT_DIR`,
//!    exactly as any firmware would (a float ONNX model is quantized there
//!    from its calibration samples);
//! 2. runs the host runner (the same runtime, in memory, on the very model
//!    the builder wrote) over the bundled test inputs and embeds its int8
//!    outputs, so the firmware checks on target that every output is
//!    bit-identical to the host's;
//! 3. refuses, at build time, a model that does not fit the board's flash or
//!    RAM as its `memory.x` gives them, with a message giving the sizes, and
//!    a stack reserve below the model's static stack bound on the board
//!    (`benches/qemu/stack.csv`, written by `cargo xtask stack-bound`);
//! 4. puts `memory.x` on the linker's search path and links with `link.x`;
//! 5. with the board crate's feature `layer-profile`, embeds each step's MACs
//!    and layers from the converter's report, for the per-step profile.
//!
//! It writes `$OUT_DIR/models.rs`, which the firmware includes:
//!
//! ```ignore
//! mod models { include!(concat!(env!("OUT_DIR"), "/models.rs")); }
//! // models::CASES: [attonet_fw_common::Case; N], models::ARENA_BYTES, models::OUTPUT_LEN
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use attonet_convert::npy::{Array, NpyType};
use attonet_convert::report::group;

/// The CIFAR-10 class names, in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The MLPerf Tiny keyword-spotting classes, in label order.
pub const KWS_CLASSES: [&str; 12] = [
    "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown",
];

/// Where a model's bundled test inputs come from.
#[derive(Debug, Clone, Copy)]
enum Inputs {
    /// `examples/data/cifar10_test_{x,y}_first10.npy`: the first CIFAR-10
    /// test images (uint8 HWC RGB) fed as `pixel - 128`: the model's int8
    /// input must be 32x32x3 (NHWC, as the converter lays out every model's
    /// input, ONNX ones included) with scale 1 and zero point -128.
    Cifar10,
    /// `models/mlperf-tiny/kws_perf_samples_{x,y}.npy`: the MLPerf Tiny KWS
    /// performance samples (int8 MFCC features).
    KwsPerfSamples,
    /// The same CIFAR-10 test images as a 96x96 grayscale camera frame, as
    /// `tests/oracle/make_inputs.py person` makes them: integer luma, each
    /// pixel repeated 3x3, `pixel - 128` (TFLM's person detector).
    Gray96,
    /// The user's model (`user_model`): the int8 samples of
    /// `$ATTONET_USER_INPUTS` (`.npy`, `[N, ...input shape]`), else inputs
    /// drawn uniformly over the int8 range (splitmix64, seed 1, as
    /// `tests/oracle/make_inputs.py random`); no labels.
    User,
}

/// The label of an input without one (the firmware reports no accuracy).
const NO_LABEL: u8 = 255;

/// A model the examples know, selected by the board crate's feature of the same name.
#[derive(Debug, Clone, Copy)]
struct Spec {
    /// Feature and short name (`resnet8`).
    name: &'static str,
    /// For the report.
    title: &'static str,
    /// The model file, relative to the repository root.
    file: &'static str,
    /// For a float model: its calibration samples (`.npy`, float32 or uint8
    /// raw pixels, in the model's own layout), relative to the repository
    /// root; the model is quantized with them at build time.
    calibration: Option<&'static str>,
    classes: &'static [&'static str],
    inputs: Inputs,
    /// How many bundled inputs by default (ResNet-8 costs ~10^8 instructions each).
    count: usize,
}

/// A float ONNX model of `models/<folder>/` (the searched AttoNet family and
/// the baselines it was compared with, see `models/README.md`): the file is
/// the folder name with `-` made `_`, quantized at build time with the
/// folder's `calib.npy` (200 CIFAR-10 images, uint8 NCHW raw pixels).
const fn cifar_onnx(
    name: &'static str,
    title: &'static str,
    file: &'static str,
    calibration: &'static str,
    count: usize,
) -> Spec {
    Spec {
        name,
        title,
        file,
        calibration: Some(calibration),
        classes: &CIFAR10_CLASSES,
        inputs: Inputs::Cifar10,
        count,
    }
}

/// TensorFlow Lite Micro's person detector: no person, person.
const PERSON_CLASSES: [&str; 2] = ["no person", "person"];

const CATALOG: [Spec; 11] = [
    Spec {
        name: "resnet8",
        title: "MLPerf Tiny ResNet-8 int8, CIFAR-10",
        file: "models/mlperf-tiny/resnet8_int8.tflite",
        calibration: None,
        classes: &CIFAR10_CLASSES,
        inputs: Inputs::Cifar10,
        count: 4,
    },
    Spec {
        name: "kws",
        title: "MLPerf Tiny DS-CNN keyword spotting int8",
        file: "models/mlperf-tiny/kws_dscnn_int8.tflite",
        calibration: None,
        classes: &KWS_CLASSES,
        inputs: Inputs::KwsPerfSamples,
        count: 10,
    },
    Spec {
        name: "person_detect",
        title: "TensorFlow Lite Micro person detector (MobileNetV1 0.25, 96x96 grayscale) int8",
        file: "models/tflm-examples/person_detect.tflite",
        calibration: None,
        classes: &PERSON_CLASSES,
        inputs: Inputs::Gray96,
        count: 2,
    },
    // The user's own model: `cargo xtask bench-qemu --model-file PATH`
    // (`$ATTONET_USER_MODEL`, `$ATTONET_USER_CALIB` for a float model,
    // `$ATTONET_USER_INPUTS`).
    Spec {
        name: "user_model",
        title: "the user's model ($ATTONET_USER_MODEL)",
        file: "",
        calibration: None,
        classes: &[],
        inputs: Inputs::User,
        count: 2,
    },
    Spec {
        name: "cifar_tiny",
        title: "tiny CIFAR-10 MLP int8 (examples/models, for 16 KB boards)",
        file: "examples/models/cifar_tiny_int8.tflite",
        calibration: None,
        classes: &CIFAR10_CLASSES,
        inputs: Inputs::Cifar10,
        count: 10,
    },
    cifar_onnx(
        "attonet_d",
        "AttoNet-D (searched), float ONNX quantized with its calibration set, CIFAR-10",
        "models/attonet-d/attonet_d.onnx",
        "models/attonet-d/calib.npy",
        10,
    ),
    cifar_onnx(
        "attonet_c",
        "AttoNet-C (searched), float ONNX quantized with its calibration set, CIFAR-10",
        "models/attonet-c/attonet_c.onnx",
        "models/attonet-c/calib.npy",
        10,
    ),
    cifar_onnx(
        "attonet_b",
        "AttoNet-B (searched), float ONNX quantized with its calibration set, CIFAR-10",
        "models/attonet-b/attonet_b.onnx",
        "models/attonet-b/calib.npy",
        4,
    ),
    cifar_onnx(
        "attonet_a",
        "AttoNet-A (searched), float ONNX quantized with its calibration set, CIFAR-10",
        "models/attonet-a/attonet_a.onnx",
        "models/attonet-a/calib.npy",
        4,
    ),
    cifar_onnx(
        "baseline_resnet8",
        "ResNet-8 baseline (trained as the AttoNets), float ONNX quantized with its calibration set, CIFAR-10",
        "models/baseline-resnet8/baseline_resnet8.onnx",
        "models/baseline-resnet8/calib.npy",
        4,
    ),
    cifar_onnx(
        "baseline_mobilenet",
        "MobileNet baseline (trained as the AttoNets), float ONNX quantized with its calibration set, CIFAR-10",
        "models/baseline-mobilenet/baseline_mobilenet.onnx",
        "models/baseline-mobilenet/calib.npy",
        4,
    ),
];

/// One board's firmware build.
#[derive(Debug, Clone)]
pub struct Firmware {
    board: String,
    memory_x: PathBuf,
    /// Set by [`Firmware::stack_reserve`]; else the models' static bound.
    stack_reserve: Option<usize>,
    code_reserve: usize,
    link: bool,
}

/// A converted model with its test data.
struct Converted {
    spec: Spec,
    report: attonet_convert::Report,
    inputs: Vec<i8>,
    labels: Vec<u8>,
    expected: Vec<i8>,
    inputs_from: String,
    input_len: usize,
    output_len: usize,
}

impl Firmware {
    /// The firmware of the QEMU machine `board` (for messages), whose memory
    /// map is `memory.x` in the crate's folder.
    pub fn new(board: &str) -> Firmware {
        Firmware {
            board: board.to_string(),
            memory_x: PathBuf::from("memory.x"),
            stack_reserve: None,
            // The runtime, the report's formatting and semihosting: 50 to
            // 60 KB at opt-level "s" (measured, see examples/README.md).
            code_reserve: 64 * 1024,
            link: true,
        }
    }

    /// RAM to keep free for the stack. Default: the static stack bound of
    /// the selected models on this board (`benches/qemu/stack.csv`, the
    /// largest of them) rounded up to 256 B; for a board or model without a
    /// recorded bound, the per-target figure of `default_stack_reserve`. A
    /// reserve below a recorded bound is refused.
    pub fn stack_reserve(mut self, bytes: usize) -> Firmware {
        self.stack_reserve = Some(bytes);
        self
    }

    /// Flash to keep free for code (default 64 KiB).
    pub fn code_reserve(mut self, bytes: usize) -> Firmware {
        self.code_reserve = bytes;
        self
    }

    /// The memory map to check the models against (default `memory.x`).
    pub fn memory_x(mut self, path: impl Into<PathBuf>) -> Firmware {
        self.memory_x = path.into();
        self
    }

    /// Whether to put the memory map on the linker's search path and link
    /// with `-Tlink.x` (cortex-m-rt, riscv-rt; default). Boards whose HAL
    /// brings its own linker scripts (esp-hal) turn it off and give a memory
    /// map for the size check only.
    pub fn link(mut self, link: bool) -> Firmware {
        self.link = link;
        self
    }

    /// Does everything; on any error prints it and fails the build.
    pub fn build(self) {
        if let Err(message) = self.try_build() {
            eprintln!("\nerror: {message}\n");
            std::process::exit(1);
        }
    }

    fn try_build(&self) -> Result<(), String> {
        let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
        let out = PathBuf::from(env("OUT_DIR")?);
        // This crate lives in examples/build-support/ of the repository.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .map_err(|e| format!("finding the repository root: {e}"))?;

        let specs: Vec<Spec> = CATALOG
            .iter()
            .filter(|s| {
                std::env::var_os(format!("CARGO_FEATURE_{}", s.name.to_uppercase())).is_some()
            })
            .copied()
            .collect();
        if specs.is_empty() {
            let names: Vec<&str> = CATALOG.iter().map(|s| s.name).collect();
            return Err(format!(
                "no model selected: enable at least one of the features {names:?}"
            ));
        }

        let memory_x = manifest.join(&self.memory_x);
        println!("cargo:rerun-if-changed={}", memory_x.display());
        let map = std::fs::read_to_string(&memory_x)
            .map_err(|e| format!("{}: {e}", memory_x.display()))?;
        let flash = region_length(&map, "FLASH")
            .ok_or_else(|| format!("{}: no FLASH region with a LENGTH", memory_x.display()))?;
        let ram = region_length(&map, "RAM")
            .ok_or_else(|| format!("{}: no RAM region with a LENGTH", memory_x.display()))?;

        let stack_csv = root.join("benches/qemu/stack.csv");
        println!("cargo:rerun-if-changed={}", stack_csv.display());
        println!("cargo:rerun-if-env-changed=ATTONET_STACK_UNCHECKED");
        let bounds = match std::fs::read_to_string(&stack_csv) {
            Ok(text) => stack_bounds(&text, &self.board)
                .map_err(|e| format!("{}: {e}", stack_csv.display()))?,
            Err(_) => Vec::new(),
        };
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        let stack_reserve = self.check_stack(&names, &bounds)?;

        let mut converted = Vec::new();
        for spec in specs {
            converted.push(convert(&root, spec)?);
        }
        self.check_fit(&converted, flash, ram, stack_reserve)?;
        let profile = std::env::var_os("CARGO_FEATURE_LAYER_PROFILE").is_some();
        std::fs::write(out.join("models.rs"), models_rs(&converted, profile))
            .map_err(|e| format!("writing models.rs: {e}"))?;

        if self.link {
            // Link: memory.x on the search path for link.x (cortex-m-rt / riscv-rt).
            std::fs::copy(&memory_x, out.join("memory.x"))
                .map_err(|e| format!("copying memory.x: {e}"))?;
            println!("cargo:rustc-link-search={}", out.display());
            println!("cargo:rustc-link-arg-bins=-Tlink.x");
        }
        Ok(())
    }

    /// Refuses models that cannot fit: the arena (the largest one; models
    /// share it) plus the stack reserve must fit the RAM, the models' flash
    /// plus the bundled test data plus the code reserve must fit the flash.
    /// The stack reserve for `models` on this board, given the recorded
    /// static bounds (model, bytes) of the board: the explicit reserve,
    /// refused below any of the models' bounds (unless
    /// `ATTONET_STACK_UNCHECKED=1`: `cargo xtask stack-bound`, which
    /// measures new bounds); by default the largest bound rounded up to
    /// 256 B, or the per-target default where none is recorded.
    fn check_stack(&self, models: &[&str], bounds: &[(String, usize)]) -> Result<usize, String> {
        let bound = bounds
            .iter()
            .filter(|(m, _)| models.contains(&m.as_str()))
            .max_by_key(|(_, b)| *b);
        let Some(reserve) = self.stack_reserve else {
            return Ok(match bound {
                Some((_, b)) => b.div_ceil(256) * 256,
                None => default_stack_reserve(),
            });
        };
        let unchecked = std::env::var("ATTONET_STACK_UNCHECKED").is_ok_and(|v| v == "1");
        match bound {
            Some((model, b)) if reserve < *b && !unchecked => Err(format!(
                "model {model} on board {}: the stack reserve of {} B is below the model's static stack bound of {} B \
                 (benches/qemu/stack.csv, from `cargo xtask stack-bound`): an inference could overflow the stack into the statics.\n  \
                 Reserve at least {} B (or leave the reserve at its default, the bound).",
                self.board,
                group(reserve as u64),
                group(*b as u64),
                group(*b as u64)
            )),
            _ => Ok(reserve),
        }
    }

    fn check_fit(
        &self,
        models: &[Converted],
        flash: usize,
        ram: usize,
        stack_reserve: usize,
    ) -> Result<(), String> {
        let arena = models
            .iter()
            .map(|c| c.report.arena_bytes as usize)
            .max()
            .unwrap_or(0);
        let ram_needed = arena + stack_reserve;
        let model_flash: usize = models.iter().map(|c| c.report.flash_bytes).sum();
        let test_data: usize = models
            .iter()
            .map(|c| c.inputs.len() + c.labels.len() + c.expected.len())
            .sum();
        let flash_needed = model_flash + test_data + self.code_reserve;
        let names: Vec<&str> = models.iter().map(|c| c.spec.name).collect();
        let names = names.join(" + ");
        let mut problems = String::new();
        if ram_needed > ram {
            let _ = write!(
                problems,
                "\n  RAM:   needs {} B = arena {} B + stack reserve {} B; the board has {} B ({} B short)",
                group(ram_needed as u64),
                group(arena as u64),
                group(stack_reserve as u64),
                group(ram as u64),
                group((ram_needed - ram) as u64)
            );
        }
        if flash_needed > flash {
            let _ = write!(
                problems,
                "\n  flash: needs {} B = model {} B + bundled test data {} B + code reserve {} B; the board has {} B ({} B short)",
                group(flash_needed as u64),
                group(model_flash as u64),
                group(test_data as u64),
                group(self.code_reserve as u64),
                group(flash as u64),
                group((flash_needed - flash) as u64)
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "model {names} does not fit board {} (sizes from memory.x):{problems}\n  \
                 Choose a smaller model for this board (its default features do), or a board with more memory.",
                self.board
            ))
        }
    }
}

/// The stack to reserve for a board or model without a recorded static bound
/// (`benches/qemu/stack.csv`: the real boards, the user's model): the largest
/// bound of the target's QEMU firmware with a margin for another
/// application's own frames: up to 10,812 B with the Cortex-M DSP kernels
/// (`thumbv7em`, `thumbv8m.main`): 12 KiB; up to 8,560 B on RISC-V: 9.5 KiB;
/// up to 3,800 B on the Cortex-M0 and elsewhere: 4 KiB. A model whose arena
/// leaves less than this is refused (on a 16 KB board a smaller stack would
/// run into the arena).
fn default_stack_reserve() -> usize {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") || target.starts_with("thumbv8m.main") {
        12 * 1024
    } else if target.starts_with("riscv") {
        9 * 1024 + 512
    } else {
        4 * 1024
    }
}

/// The static stack bounds of `board` in `benches/qemu/stack.csv`: (model,
/// `stack_bound_bytes`).
fn stack_bounds(csv: &str, board: &str) -> Result<Vec<(String, usize)>, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column {name} in the header {header:?}"))
    };
    let (m, b, n) = (col("model")?, col("board")?, col("stack_bound_bytes")?);
    let mut out = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        let (Some(model), Some(row_board), Some(bytes)) = (cols.get(m), cols.get(b), cols.get(n))
        else {
            return Err(format!("line {}: too few columns: {line:?}", i + 2));
        };
        if *row_board != board {
            continue;
        }
        let bytes = bytes.parse().map_err(|_| {
            format!(
                "line {}: stack_bound_bytes {bytes:?} is not a byte count",
                i + 2
            )
        })?;
        out.push((model.to_string(), bytes));
    }
    Ok(out)
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run from a build script"))
}

/// `LENGTH` of a region in a `memory.x` (`FLASH : ORIGIN = 0x0, LENGTH = 256K`).
fn region_length(map: &str, region: &str) -> Option<usize> {
    for line in map.lines() {
        let line = line.split("/*").next().unwrap_or("").trim();
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.split_whitespace().next() != Some(region) {
            continue;
        }
        let length = rest.split("LENGTH").nth(1)?;
        let value = length.trim_start().strip_prefix('=')?.trim();
        let value = value.trim_end_matches(|c: char| c == ',' || c.is_whitespace());
        let (digits, scale) = match value.chars().last()? {
            'K' | 'k' => (&value[..value.len() - 1], 1024),
            'M' | 'm' => (&value[..value.len() - 1], 1024 * 1024),
            _ => (value, 1),
        };
        let n = match digits.strip_prefix("0x") {
            Some(hex) => usize::from_str_radix(hex, 16).ok()?,
            None => digits.parse().ok()?,
        };
        return Some(n * scale);
    }
    None
}

fn read_npy(path: &Path) -> Result<Array, String> {
    println!("cargo:rerun-if-changed={}", path.display());
    Array::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The user's float inputs (float32, or uint8 raw values, in the float
/// model's own layout: NCHW for ONNX), quantized as the int8 plan's input
/// requires, exactly as `attonet run` does for a float model.
fn quantize_float_inputs(
    file: &Path,
    x: &Array,
    path: &Path,
    scale: f32,
    zero_point: i32,
) -> Result<Vec<i8>, String> {
    use attonet_convert::quantize;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let float = quantize::float_model_in(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let Some(float) = float else {
        return Err(format!(
            "{}: {} is an int8 model, so its inputs must be int8 [N, ...input shape]",
            path.display(),
            file.display()
        ));
    };
    let samples = float
        .samples(x, &path.display().to_string())
        .map_err(|e| e.to_string())?;
    Ok(samples
        .iter()
        .flat_map(|s| quantize::quantize_values(s, scale, zero_point))
        .collect())
}

/// Whether the runtime compiles its Cortex-M DSP kernels for this build:
/// the rule of `crates/attonet-runtime/build.rs` (Armv7E-M; Armv8-M
/// Mainline with `+dsp` or a core that has the extension), and not with
/// `ATTONET_NO_DSP=1`.
fn dsp_kernels() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    println!("cargo:rerun-if-env-changed=ATTONET_NO_DSP");
    if std::env::var("ATTONET_NO_DSP").is_ok_and(|v| v == "1") {
        return false;
    }
    if target.starts_with("thumbv7em") {
        return true;
    }
    target.starts_with("thumbv8m.main")
        && flags.split('\x1f').any(|f| {
            let f = f.trim_start_matches("-C").trim_start_matches("-Z");
            (f.contains("target-feature") && f.contains("+dsp"))
                || ["cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"]
                    .iter()
                    .any(|cpu| f.ends_with(&format!("target-cpu={cpu}")))
        })
}

/// Whether the runtime compiles its Helium (MVE) kernels for this build:
/// an Armv8.1-M core (`cortex-m55`, `cortex-m85`) or `+mve`.
fn helium_kernels() -> bool {
    println!("cargo:rerun-if-env-changed=ATTONET_NO_MVE");
    if std::env::var("ATTONET_NO_MVE").is_ok_and(|v| v == "1") {
        return false;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    target.starts_with("thumbv8m.main")
        && flags.split('\x1f').any(|f| {
            let f = f.trim_start_matches("-C").trim_start_matches("-Z");
            (f.contains("target-feature") && f.contains("+mve"))
                || ["cortex-m55", "cortex-m85"]
                    .iter()
                    .any(|cpu| f.ends_with(&format!("target-cpu={cpu}")))
        })
}

/// Converts a model into `out` and computes the host runner's outputs for its test inputs.
/// A path from the environment variable `name` (relative paths from the
/// directory `cargo xtask` ran in: the repository root), or `None`.
fn env_path(root: &Path, name: &str) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed={name}");
    let v = std::env::var_os(name).filter(|v| !v.is_empty())?;
    let p = PathBuf::from(v);
    Some(if p.is_absolute() { p } else { root.join(p) })
}

fn convert(root: &Path, spec: Spec) -> Result<Converted, String> {
    let user = matches!(spec.inputs, Inputs::User);
    let file = if user {
        let file = env_path(root, "ATTONET_USER_MODEL").ok_or(
            "the feature user_model needs ATTONET_USER_MODEL=PATH, the model to build \
             (`cargo xtask bench-qemu --model-file PATH` sets it)",
        )?;
        println!("cargo:rerun-if-changed={}", file.display());
        file
    } else {
        root.join(spec.file)
    };
    let calibration = if user {
        env_path(root, "ATTONET_USER_CALIB")
    } else {
        spec.calibration.map(|c| root.join(c))
    };
    // `ATTONET_BAND_ROWS=N`: every fused block computes N output rows per
    // kernel call (`cargo xtask bench-qemu --band-rows N`); default: as many
    // as cost no arena.
    println!("cargo:rerun-if-env-changed=ATTONET_BAND_ROWS");
    let mut builder = attonet_convert::Builder::new(&file).name(spec.name);
    if let Some(calibration) = calibration {
        if !calibration.is_file() {
            return Err(format!(
                "{}: the calibration samples {} of the float model {} are missing",
                spec.name,
                calibration.display(),
                file.display()
            ));
        }
        builder = builder.calibration(calibration);
    }
    if let Some(rows) = std::env::var("ATTONET_BAND_ROWS")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let rows: u16 = rows.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
            format!("ATTONET_BAND_ROWS={rows:?}: expected a row count of at least 1")
        })?;
        builder = builder.band_rows(rows);
    }
    // Where the runtime compiles its Cortex-M DSP kernels, the tables they
    // read in place. The host runner below ignores them, so the expected
    // outputs are the plain ones.
    if dsp_kernels() {
        builder = builder.dsp_tables(true).helium(helium_kernels());
    }
    // `ATTONET_NO_FUSION=1`: every layer its own step
    // (`cargo xtask bench-qemu --no-fusion`).
    println!("cargo:rerun-if-env-changed=ATTONET_NO_FUSION");
    if std::env::var("ATTONET_NO_FUSION").is_ok_and(|v| v == "1") {
        builder = builder.fuse_blocks(false);
    }
    // `ATTONET_ARENA_BUDGET=BYTES`: the fastest plan whose arena fits
    // (`cargo xtask bench-qemu --arena-budget BYTES`).
    println!("cargo:rerun-if-env-changed=ATTONET_ARENA_BUDGET");
    if let Some(bytes) = std::env::var("ATTONET_ARENA_BUDGET")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let bytes: u32 = bytes
            .parse()
            .map_err(|_| format!("ATTONET_ARENA_BUDGET={bytes:?}: expected a byte count"))?;
        builder = builder.arena_budget(bytes);
    }
    if !file.is_file() {
        return Err(format!(
            "{}: the model file {} is missing",
            spec.name,
            file.display()
        ));
    }
    // The report, and the very model written to OUT_DIR (quantized there if
    // float): the host runner below runs it.
    let (report, assembled) = builder
        .build_assembled()
        .map_err(|e| format!("converting {}: {e}", file.display()))?;
    let model = assembled.model();

    let (inputs, labels, inputs_from) = match spec.inputs {
        Inputs::Cifar10 => {
            let x = read_npy(&root.join("examples/data/cifar10_test_x_first10.npy"))?;
            let y = read_npy(&root.join("examples/data/cifar10_test_y_first10.npy"))?;
            // Images are HWC: a convolutional model's input must be 32x32x3
            // (NHWC), a flat one (an MLP) 3,072 values.
            let input = model.input;
            let shape = input.slot.shape;
            let layout_ok = (shape.h, shape.w, shape.c) == (32, 32, 3)
                || (shape.h as usize * shape.w as usize == 1 && shape.c == 32 * 32 * 3);
            if !layout_ok || (input.scale - 1.0).abs() > 1e-6 || input.zero_point != -128 {
                return Err(format!(
                    "{}: the bundled CIFAR-10 images are fed as pixel - 128 (32x32x3, scale 1, zero point -128), \
                     but the model's int8 input is {}x{}x{} with scale {} and zero point {}",
                    spec.name,
                    shape.h,
                    shape.w,
                    shape.c,
                    input.scale,
                    input.zero_point
                ));
            }
            let n = spec.count.min(x.shape.first().copied().unwrap_or(0));
            let x: Vec<i8> = x
                .data
                .get(..n * 32 * 32 * 3)
                .ok_or("the CIFAR-10 test images are shorter than their shape says")?
                .iter()
                .map(|&p| (p as i16 - 128) as i8)
                .collect();
            let y = y.to_i64().ok_or("CIFAR-10 labels must be integers")?;
            let y: Vec<u8> = y
                .get(..n)
                .ok_or("fewer CIFAR-10 labels than test images")?
                .iter()
                .map(|&v| v as u8)
                .collect();
            (x, y, format!("CIFAR-10 test images 0..{n}"))
        }
        Inputs::Gray96 => {
            let x = read_npy(&root.join("examples/data/cifar10_test_x_first10.npy"))?;
            let shape = model.input.slot.shape;
            if (shape.h, shape.w, shape.c) != (96, 96, 1) {
                return Err(format!(
                    "{}: the bundled grayscale frames are 96x96x1, but the model's input is {}x{}x{}",
                    spec.name, shape.h, shape.w, shape.c
                ));
            }
            let n = spec.count.min(x.shape.first().copied().unwrap_or(0));
            let images = x
                .data
                .get(..n * 32 * 32 * 3)
                .ok_or("the CIFAR-10 test images are shorter than their shape says")?;
            let mut frames = Vec::with_capacity(n * 96 * 96);
            for image in images.chunks_exact(32 * 32 * 3) {
                for row in 0..96 {
                    for col in 0..96 {
                        let p = &image[((row / 3) * 32 + col / 3) * 3..][..3];
                        let luma =
                            (299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32 + 500)
                                / 1000;
                        frames.push((luma as i16 - 128) as i8);
                    }
                }
            }
            // CIFAR-10 has no person class: every frame is "no person".
            (
                frames,
                vec![0; n],
                format!("CIFAR-10 test images 0..{n} as 96x96 grayscale"),
            )
        }
        Inputs::User => {
            let len = model.input.slot.shape.len();
            match env_path(root, "ATTONET_USER_INPUTS") {
                Some(path) => {
                    let x = read_npy(&path)?;
                    // The plan's own input type (int8, or the int16, uint8,
                    // int32 or float32 a QUANTIZE reads): its bytes as they
                    // are; else float inputs of a float model, quantized.
                    let same_type = x.dtype == NpyType::of_element(model.input.dtype);
                    let x = match same_type.then(|| x.data.iter().map(|&b| b as i8).collect()) {
                        Some(x) => x,
                        None => quantize_float_inputs(
                            &file,
                            &x,
                            &path,
                            model.input.scale,
                            model.input.zero_point,
                        )?,
                    };
                    if len == 0 || x.len() % len != 0 || x.is_empty() {
                        return Err(format!(
                            "{}: {} bytes are not a whole number of the model's {len}-byte inputs",
                            path.display(),
                            x.len()
                        ));
                    }
                    let n = (x.len() / len).min(spec.count);
                    let from = format!("{} samples 0..{n}", path.display());
                    (x[..n * len].to_vec(), vec![NO_LABEL; n], from)
                }
                None => {
                    let n = spec.count;
                    let mut state = 1u64;
                    let x = (0..n * len)
                        .map(|_| {
                            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                            let mut z = state;
                            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                            (z ^ (z >> 31)) as u8 as i8
                        })
                        .collect();
                    (
                        x,
                        vec![NO_LABEL; n],
                        format!("{n} uniform int8 inputs (splitmix64, seed 1)"),
                    )
                }
            }
        }
        Inputs::KwsPerfSamples => {
            let x = read_npy(&root.join("models/mlperf-tiny/kws_perf_samples_x.npy"))?;
            let y = read_npy(&root.join("models/mlperf-tiny/kws_perf_samples_y.npy"))?;
            let n = spec.count.min(x.shape.first().copied().unwrap_or(0));
            let x = x.as_i8().ok_or("KWS samples must be int8")?;
            let y = y.to_i64().ok_or("KWS labels must be integers")?;
            let x = x
                .get(..n * 490)
                .ok_or("the KWS samples are shorter than their shape says")?
                .to_vec();
            let y: Vec<u8> = y
                .get(..n)
                .ok_or("fewer KWS labels than samples")?
                .iter()
                .map(|&v| v as u8)
                .collect();
            (x, y, format!("MLPerf Tiny KWS perf samples 0..{n}"))
        }
    };

    // The host runner: the same runtime and plan, in memory.
    let input_len = model.input.slot.shape.len();
    // Every output, one after another (what the firmware's
    // `infer_outputs` writes).
    let output_len: usize = model.outputs.iter().map(|io| io.slot.shape.len()).sum();
    if inputs.len() % input_len != 0 || inputs.len() / input_len != labels.len() {
        return Err(format!(
            "{}: {} input bytes for {} labels do not match the model's input of {input_len} B",
            spec.name,
            inputs.len(),
            labels.len()
        ));
    }
    let mut arena = vec![0i8; model.arena_bytes as usize];
    // A model with state (SVDF) runs its inputs in turn from TFLM's reset
    // state, as the firmware does.
    model
        .reset_state(&mut arena)
        .map_err(|e| format!("{}: the host runner failed: {e:?}", spec.name))?;
    let mut expected = vec![0i8; labels.len() * output_len];
    for (x, y) in inputs
        .chunks_exact(input_len)
        .zip(expected.chunks_exact_mut(output_len))
    {
        let mut outs: Vec<&mut [i8]> = Vec::new();
        let mut rest = y;
        for io in model.outputs {
            let (head, tail) = rest.split_at_mut(io.slot.shape.len());
            outs.push(head);
            rest = tail;
        }
        model
            .infer_multi(&mut arena, &[x], &mut outs)
            .map_err(|e| format!("{}: the host runner failed: {e:?}", spec.name))?;
    }
    Ok(Converted {
        spec,
        report,
        inputs,
        labels,
        expected,
        inputs_from,
        input_len,
        output_len,
    })
}

fn array<T: std::fmt::Display>(s: &mut String, name: &str, ty: &str, values: &[T]) {
    let _ = write!(s, "    pub static {name}: [{ty}; {}] = [", values.len());
    for (i, v) in values.iter().enumerate() {
        if i % 32 == 0 {
            s.push_str("\n        ");
        }
        let _ = write!(s, "{v},");
    }
    s.push_str("\n    ];\n");
}

/// Each step's MACs and layers (`kernel+kernel OUTPUTSHAPE`) from the
/// converter's report, whose rows of a fused block share its step.
fn step_costs(report: &attonet_convert::Report) -> Vec<(u64, String)> {
    let mut steps = vec![(0, Vec::new(), ""); report.steps];
    for row in &report.layers {
        if let Some(s) = row.step.and_then(|s| steps.get_mut(s)) {
            s.0 += row.macs;
            s.1.push(row.kernel.as_str());
            s.2 = &row.output;
        }
    }
    steps
        .into_iter()
        .map(|(macs, kernels, output)| (macs, format!("{} {output}", kernels.join("+"))))
        .collect()
}

/// The generated `models.rs`; with `profile` (feature `layer-profile`), with
/// each model's per-step costs.
fn models_rs(models: &[Converted], profile: bool) -> String {
    let mut s = String::from(
        "// @generated by attonet-fw-build: the selected models, their bundled test inputs\n\
         // and the host runner's outputs for them. Do not edit.\n\n",
    );
    for c in models {
        let n = c.spec.name;
        let _ = writeln!(s, "/// {}.", c.spec.title);
        let _ = writeln!(s, "pub mod {n} {{");
        let _ = writeln!(s, "    include!(concat!(env!(\"OUT_DIR\"), \"/{n}.rs\"));");
        // The expected outputs are every model output, one after another.
        let _ = writeln!(
            s,
            "    const _: () = assert!(INPUT_LEN == {} && OUTPUT_LEN == OUTPUT_LENS[0] && {{ let (mut n, mut k) = (0, 0); \
             while k < OUTPUT_LENS.len() {{ n += OUTPUT_LENS[k]; k += 1; }} n }} == {});",
            c.input_len, c.output_len
        );
        let _ = writeln!(s, "    /// {}, {} bytes each.", c.inputs_from, c.input_len);
        array(&mut s, "INPUTS", "i8", &c.inputs);
        let _ = writeln!(s, "    /// Their labels.");
        array(&mut s, "LABELS", "u8", &c.labels);
        let _ = writeln!(
            s,
            "    /// The host runner's outputs for them (every model output, one after another)."
        );
        array(&mut s, "EXPECTED", "i8", &c.expected);
        if profile {
            let steps = step_costs(&c.report);
            let _ = writeln!(
                s,
                "    /// Each step's MACs and layers (the converter's report)."
            );
            let _ = writeln!(
                s,
                "    pub static STEP_COSTS: [attonet_fw_common::layers::StepCost; {}] = [",
                steps.len()
            );
            for (macs, layers) in steps {
                let _ = writeln!(
                    s,
                    "        attonet_fw_common::layers::StepCost {{ macs: {macs}, layers: {layers:?} }},"
                );
            }
            let _ = writeln!(s, "    ];");
        }
        let _ = writeln!(s, "}}\n");
    }
    let arena = models
        .iter()
        .map(|c| c.report.arena_bytes)
        .max()
        .unwrap_or(0);
    let out_len = models.iter().map(|c| c.output_len).max().unwrap_or(0);
    let _ = writeln!(s, "/// The largest arena of the models (they share one).");
    let _ = writeln!(s, "pub const ARENA_BYTES: usize = {arena};");
    let _ = writeln!(s, "/// The largest output of the models.");
    let _ = writeln!(s, "pub const OUTPUT_LEN: usize = {out_len};\n");
    let _ = writeln!(s, "/// Every selected model with its test data.");
    let _ = writeln!(
        s,
        "pub static CASES: [attonet_fw_common::Case; {}] = [",
        models.len()
    );
    for c in models {
        let n = c.spec.name;
        let _ = writeln!(s, "    attonet_fw_common::Case {{");
        let _ = writeln!(s, "        name: {n:?},");
        let _ = writeln!(s, "        title: {:?},", c.spec.title);
        let _ = writeln!(s, "        inputs_from: {:?},", c.inputs_from);
        let _ = writeln!(s, "        model: &{n}::MODEL,");
        let _ = writeln!(s, "        classes: &{:?},", c.spec.classes);
        let _ = writeln!(s, "        inputs: &{n}::INPUTS,");
        let _ = writeln!(s, "        labels: &{n}::LABELS,");
        let _ = writeln!(s, "        expected: &{n}::EXPECTED,");
        let _ = writeln!(s, "        macs: {},", c.report.macs);
        let _ = writeln!(s, "        weight_bytes: {},", c.report.weight_bytes);
        let _ = writeln!(s, "        checksum: {n}::CHECKSUM,");
        if profile {
            let _ = writeln!(s, "        steps: &{n}::STEP_COSTS,");
        }
        let _ = writeln!(s, "    }},");
    }
    s.push_str("];\n");
    s
}

#[cfg(test)]
mod tests {
    use super::{region_length, stack_bounds, Firmware};

    #[test]
    fn a_reserve_below_the_static_bound_is_refused() {
        let csv = "model,board,target,stack_bound_bytes,stack_peak_bytes,panic_sites_excluded\n\
                   resnet8,mps2-an386,t,10236,10144,14\nkws,mps2-an386,t,7908,3872,23\nkws,virt,t,6000,5000,1\n";
        let bounds = stack_bounds(csv, "mps2-an386").unwrap();
        assert_eq!(
            bounds,
            [("resnet8".to_string(), 10236), ("kws".to_string(), 7908)]
        );
        let board = Firmware::new("mps2-an386");
        // By default the largest bound of the selected models, rounded up.
        assert_eq!(board.check_stack(&["kws", "resnet8"], &bounds), Ok(10240));
        assert_eq!(board.check_stack(&["kws"], &bounds), Ok(7936));
        // An explicit reserve: at least the bound.
        let small = board.clone().stack_reserve(9 * 1024);
        let e = small.check_stack(&["resnet8"], &bounds).unwrap_err();
        assert!(
            e.contains("resnet8")
                && e.contains("mps2-an386")
                && e.contains("9,216 B")
                && e.contains("10,236 B"),
            "{e}"
        );
        assert_eq!(small.check_stack(&["kws"], &bounds), Ok(9216));
        // A malformed figure is an error, not a panic.
        assert!(stack_bounds("model,board,stack_bound_bytes\nkws,virt,lots\n", "virt").is_err());
        assert!(stack_bounds("model,board\n", "virt").is_err());
    }

    #[test]
    fn parses_memory_x_lengths() {
        let map = "MEMORY\n{\n  /* comment */\n  FLASH : ORIGIN = 0x00000000, LENGTH = 256K /* x */\n  RAM : ORIGIN = 0x20000000, LENGTH = 0x4000\n  BIG (rwx) : ORIGIN = 0x0, LENGTH = 4M\n}\n";
        assert_eq!(region_length(map, "FLASH"), Some(256 * 1024));
        assert_eq!(region_length(map, "RAM"), Some(0x4000));
        assert_eq!(region_length(map, "BIG"), Some(4 << 20));
        assert_eq!(region_length(map, "ROM"), None);
    }
}
