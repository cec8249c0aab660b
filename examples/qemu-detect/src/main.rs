//! The AttoNet digit detector on QEMU `mps2-an386` (Cortex-M4F, the default
//! target) and `mps3-an547` (Cortex-M55 with Helium, `--target
//! thumbv8m.main-none-eabihf`): runs the
//! int8 detector on each bundled scene, decodes its output on the target with
//! `attonet-detect`, prints every detection (and the ground truth beside
//! it), counts instructions per inference and per decode, and checks that
//! the int8 outputs and the detections equal the host's bit for bit (the
//! build script ran the same model and decoder on the host).
//!
//! Output lines, for people and for `cargo xtask test-firmware`:
//!
//! ```text
//! DET scene class score x0 y0 x1 y1 hit|false
//!                              one per detection, best first (f32s printed as
//!                              Rust prints them: the shortest decimal that
//!                              reads back to the same bits); `hit` where it
//!                              matches a ground-truth digit (same class, IoU
//!                              >= 0.5, greedy in score order as COCO)
//! GT  scene class x0 y0 x1 y1 found|missed
//!                              the scene's ground-truth digits
//! CSV model,board,instructions,...
//!                              the benchmark row (examples/README.md)
//! ```
//!
//! Exit status: 0 everything equals the host's, 2 an output or a detection
//! differs, 3 runtime or decoder error, 4 stack past the painted window,
//! 5 instruction counter self-check failed, 101 panic.
#![no_std]
#![no_main]

use attonet_detect::heapless::Vec;
use attonet_detect::{DecodeConfig, Decoder, Detection, HeadLayout, Quant};
#[cfg(not(an547))]
use attonet_fw_common::counters::CmsdkTimer as Counter;
#[cfg(an547)]
use attonet_fw_common::counters::Sse300Counter as Counter;
use attonet_fw_common::{
    measure, memory, stack, Grouped, InstructionCounter, EXIT_COUNTER, EXIT_MISMATCH, EXIT_OK,
    EXIT_RUNTIME_ERROR, EXIT_STACK,
};
use attonet_runtime::plan::Model;
use cortex_m_rt::entry;
// Panics print over semihosting and exit with status 101.
use semihosting::println;

/// A detection the host found: its f32 fields by their bits.
pub struct Expected {
    /// Scene index.
    pub scene: usize,
    /// Class.
    pub class: u16,
    /// Score, f32 bits.
    pub score: u32,
    /// Box, f32 bits.
    pub x0: u32,
    /// Box, f32 bits.
    pub y0: u32,
    /// Box, f32 bits.
    pub x1: u32,
    /// Box, f32 bits.
    pub y1: u32,
    /// Grid cell.
    pub row: u16,
    /// Grid cell.
    pub col: u16,
    /// Raw int8 heat code.
    pub logit: i8,
}

impl Expected {
    /// Whether `d` is this detection, bit for bit.
    fn is(&self, d: &Detection) -> bool {
        self.class == d.class
            && self.score == d.score.to_bits()
            && self.x0 == d.x0.to_bits()
            && self.y0 == d.y0.to_bits()
            && self.x1 == d.x1.to_bits()
            && self.y1 == d.y1.to_bits()
            && self.row == d.row
            && self.col == d.col
            && self.logit == d.logit
    }
}

#[allow(dead_code)]
mod data {
    use super::Expected;
    include!(concat!(env!("OUT_DIR"), "/detect.rs"));
}

use data::detector;

/// The arena, aligned for word access.
#[repr(C, align(8))]
struct Arena([i8; detector::ARENA_BYTES]);

#[cfg(not(an547))]
const BOARD: &str = "mps2-an386";
#[cfg(not(an547))]
const CORE: &str = "Cortex-M4F, thumbv7em-none-eabihf";
#[cfg(an547)]
const BOARD: &str = "mps3-an547";
#[cfg(an547)]
const CORE: &str = "Cortex-M55 with Helium, thumbv8m.main-none-eabihf";

#[entry]
fn main() -> ! {
    // cortex-m-rt turns these into `&'static mut` references, handed out once.
    static mut ARENA: Arena = Arena([0; detector::ARENA_BYTES]);
    static mut OUTPUT: [i8; data::OUTPUT_LEN] = [0; data::OUTPUT_LEN];

    // SAFETY: 0x4000_0000 is the CMSDK TIMER0 of the MPS2 memory map; only
    // this counter uses it. 25 MHz; the runner passes `-icount shift=7`.
    #[cfg(not(an547))]
    let mut counter = unsafe {
        Counter::start(
            0x4000_0000,
            25_000_000,
            7,
            "CMSDK TIMER0 at 25 MHz under -icount shift=7 (instructions = ticks / 3.2)",
        )
    };
    // SAFETY: 0x5810_0000 is the control frame of the SSE-300 system counter
    // (Secure, the state the core runs in); only this counter uses it. It
    // runs at the 32 MHz main clock; the runner passes `-icount shift=7`.
    #[cfg(an547)]
    let mut counter = unsafe {
        Counter::start(
            0x5810_0000,
            32_000_000,
            7,
            "SSE-300 system counter at 32 MHz under -icount shift=7 (instructions = ticks / 4.096)",
        )
    };
    let status = run(&mut counter, &mut ARENA.0, OUTPUT);
    semihosting::process::exit(status)
}

/// One inference between two counter readings (not inlined: nothing else is
/// scheduled between the readings).
#[inline(never)]
fn infer_counted(
    counter: &mut Counter,
    model: &Model<'_>,
    arena: &mut [i8],
    input: &[i8],
    output: &mut [i8],
) -> (attonet_runtime::Result, u64) {
    measure(counter, || model.infer(arena, input, output))
}

/// One decode between two counter readings.
#[inline(never)]
fn decode_counted(
    counter: &mut Counter,
    decoder: &Decoder,
    output: &[i8],
    found: &mut Vec<Detection, { data::MAX_DETECTIONS }>,
) -> (
    Result<attonet_detect::DecodeReport, attonet_detect::DetectError>,
    u64,
) {
    measure(counter, || decoder.decode(output, found))
}

/// What two back-to-back readings count (subtracted from every count).
#[inline(never)]
fn empty_measurement(counter: &mut Counter) -> u64 {
    measure(counter, || ()).1
}

/// Raw readings around `N` `nop`s (the counter's self-check).
#[inline(never)]
fn nop_readings<const N: usize>(counter: &mut Counter) -> (u64, u64) {
    let a = counter.read();
    // SAFETY: `nop` touches no memory, stack or flags.
    unsafe {
        core::arch::asm!(".rept {n}", "nop", ".endr", n = const N, options(nostack, preserves_flags));
    }
    let b = counter.read();
    (a, b)
}

/// The decoder for the model's head: NHWC `grid x grid x (classes + 4)`,
/// one per-tensor quantization for heat and regression (the model's output
/// `Io`), the card's score threshold.
fn decoder_for(model: &Model<'_>) -> Result<Decoder, attonet_detect::DetectError> {
    let (input, output) = (model.input.slot.shape, model.output.slot.shape);
    let q = Quant {
        scale: model.output.scale,
        zero_point: model.output.zero_point,
    };
    let layout = HeadLayout {
        grid_h: output.h,
        grid_w: output.w,
        classes: output.c.saturating_sub(4),
        stride: data::STRIDE,
        input_h: input.h,
        input_w: input.w,
        heat: q,
        regression: q,
    };
    Decoder::new(
        layout,
        DecodeConfig {
            score_threshold: data::SCORE_THRESHOLD,
            iou_threshold: data::IOU_THRESHOLD,
            peak_window: data::PEAK_WINDOW,
            class_agnostic_nms: false,
        },
    )
}

/// The ground-truth digits of scene `i`: scene, class, x0, y0, x1, y1.
fn truth_of(i: usize) -> impl Iterator<Item = &'static [u8; 6]> {
    data::TRUTH.iter().filter(move |t| usize::from(t[0]) == i)
}

/// A ground-truth digit as a detection, for [`attonet_detect::iou`].
fn truth_box(t: &[u8; 6]) -> Detection {
    Detection {
        class: u16::from(t[1]),
        score: 1.0,
        x0: f32::from(t[2]),
        y0: f32::from(t[3]),
        x1: f32::from(t[4]),
        y1: f32::from(t[5]),
        row: 0,
        col: 0,
        logit: 0,
    }
}

fn run(counter: &mut Counter, arena: &mut [i8], output: &mut [i8]) -> i32 {
    let mem = memory::Usage::now();
    let model = &detector::MODEL;
    println!("AttoNet digit detector on QEMU {BOARD} ({CORE})");
    println!(
        "model {} ({} MACs, weights {} B, arena {} B); {} bundled test scenes",
        data::MODEL_DIR,
        Grouped(data::MACS),
        Grouped(data::WEIGHT_BYTES as u64),
        Grouped(model.arena_bytes as u64),
        data::SCENES
    );

    let overhead = empty_measurement(counter);
    let (a, b) = nop_readings::<100>(counter);
    let (c, d) = nop_readings::<300>(counter);
    let diff = counter
        .instructions(c, d)
        .wrapping_sub(counter.instructions(a, b));
    println!("instruction counter: {}", counter.describe());
    if diff != 200 {
        println!("FAIL: 300 nops count {diff} more than 100 nops, not 200");
        return EXIT_COUNTER;
    }

    if let Err(e) = model.validate() {
        println!("FAIL: the plan is invalid: {e:?}");
        return EXIT_RUNTIME_ERROR;
    }
    if let Err(e) = model.verify(detector::CHECKSUM) {
        println!("FAIL: the model in flash is corrupt: {e:?}");
        return EXIT_RUNTIME_ERROR;
    }
    let decoder = match decoder_for(model) {
        Ok(d) => d,
        Err(e) => {
            println!("FAIL: the decoder: {e}");
            return EXIT_RUNTIME_ERROR;
        }
    };
    println!(
        "decoder: score >= {} (int8 heat code >= {:?}), peak window {}, NMS IoU {}, up to {} boxes; output scale {} zero point {}",
        data::SCORE_THRESHOLD,
        decoder.heat_threshold(),
        data::PEAK_WINDOW,
        data::IOU_THRESHOLD,
        data::MAX_DETECTIONS,
        model.output.scale,
        model.output.zero_point
    );

    let mut status = EXIT_OK;
    let (mut first, mut min, mut max, mut decode_max) = (0, u64::MAX, 0, 0);
    let (mut outputs_same, mut scenes_same, mut total, mut hits) = (0, 0, 0, 0);
    let mut stack_peak = 0;
    let mut found = Vec::<Detection, { data::MAX_DETECTIONS }>::new();
    for (i, input) in data::INPUTS.chunks_exact(data::INPUT_LEN).enumerate() {
        let paint = stack::Paint::new();
        let (result, counted) = infer_counted(counter, model, arena, input, output);
        let (decoded, decode_counted_) = decode_counted(counter, &decoder, output, &mut found);
        let Some(peak) = paint.peak() else {
            println!("FAIL: scene {i}: the stack grew past the painted window");
            return EXIT_STACK;
        };
        stack_peak = stack_peak.max(peak);
        if let Err(e) = result {
            println!("FAIL: scene {i}: the runtime failed: {e:?}");
            return EXIT_RUNTIME_ERROR;
        }
        let report = match decoded {
            Ok(r) => r,
            Err(e) => {
                println!("FAIL: scene {i}: the decoder failed: {e}");
                return EXIT_RUNTIME_ERROR;
            }
        };
        let n = counted.saturating_sub(overhead);
        let m = decode_counted_.saturating_sub(overhead);
        if i == 0 {
            first = n;
        }
        min = min.min(n);
        max = max.max(n);
        decode_max = decode_max.max(m);

        let want_out = &data::EXPECTED_OUTPUTS[i * data::OUTPUT_LEN..][..data::OUTPUT_LEN];
        let out_same = output == want_out;
        outputs_same += out_same as usize;
        let want = data::EXPECTED.iter().filter(|e| e.scene == i);
        let same = want.clone().count() == found.len() && want.zip(&found).all(|(e, d)| e.is(d));
        scenes_same += same as usize;
        total += found.len();
        println!();
        println!(
            "scene {i}: {} detections ({} candidates{}), inference {} instructions, decode {} instructions; output {} host, detections {} host",
            found.len(),
            report.candidates,
            if report.truncated > 0 { ", TRUNCATED" } else { "" },
            Grouped(n),
            Grouped(m),
            if out_same { "==" } else { "DIFFER FROM" },
            if same { "==" } else { "DIFFER FROM" },
        );
        // Each detection, best first, with whether it matches a digit of the
        // ground truth not matched yet (same class, IoU >= 0.5: COCO's rule).
        let mut matched = 0u64;
        for d in &found {
            let hit = truth_of(i).enumerate().find(|(j, t)| {
                matched & (1 << j) == 0
                    && u16::from(t[1]) == d.class
                    && attonet_detect::iou(d, &truth_box(t)) >= 0.5
            });
            if let Some((j, _)) = hit {
                matched |= 1 << j;
            }
            println!(
                "DET {i} {} {} {} {} {} {}  {}",
                d.class,
                d.score,
                d.x0,
                d.y0,
                d.x1,
                d.y1,
                if hit.is_some() { "hit" } else { "false" }
            );
        }
        for (j, t) in truth_of(i).enumerate() {
            let found = matched & (1 << j) != 0;
            println!(
                "GT  {i} {} {} {} {} {}  {}",
                t[1],
                t[2],
                t[3],
                t[4],
                t[5],
                if found { "found" } else { "missed" }
            );
        }
        hits += matched.count_ones() as usize;
        if !same {
            status = EXIT_MISMATCH;
            for e in data::EXPECTED.iter().filter(|e| e.scene == i) {
                println!(
                    "HOST {i} {} {} {} {} {} {}",
                    e.class,
                    f32::from_bits(e.score),
                    f32::from_bits(e.x0),
                    f32::from_bits(e.y0),
                    f32::from_bits(e.x1),
                    f32::from_bits(e.y1)
                );
            }
        }
        if !out_same {
            status = EXIT_MISMATCH;
        }
    }

    println!(
        "{hits} of the {} detections match one of the {} ground-truth digits (same class, IoU >= 0.5)",
        total,
        data::TRUTH.len()
    );
    let weights = data::WEIGHT_BYTES as usize;
    let test_data = data::INPUTS.len()
        + data::EXPECTED_OUTPUTS.len()
        + core::mem::size_of_val(&data::EXPECTED)
        + core::mem::size_of_val(&data::TRUTH);
    let code = mem
        .flash_image
        .saturating_sub(weights)
        .saturating_sub(test_data);
    let all = outputs_same == data::SCENES && scenes_same == data::SCENES;
    println!();
    println!(
        "instructions per inference {} (scene 0; min {}, max {}); decode at most {}",
        Grouped(first),
        Grouped(min),
        Grouped(max),
        Grouped(decode_max)
    );
    println!(
        "flash  {} B: code and plans {} B, weights {} B, bundled scenes and host results {} B",
        Grouped(mem.flash_image as u64),
        Grouped(code as u64),
        Grouped(weights as u64),
        Grouped(test_data as u64)
    );
    println!(
        "RAM    {} B static (arena {} B) + {} B stack at peak",
        Grouped(mem.ram_static as u64),
        Grouped(arena.len() as u64),
        Grouped(stack_peak as u64)
    );
    // The columns of benches/qemu/results.csv.
    println!(
        "CSV atto_det_a,{BOARD},{first},{},{code},{weights},{},{stack_peak},{all}",
        data::MACS,
        mem.ram_static
    );
    if status == EXIT_OK && all {
        println!(
            "PASS: {} detections in {} scenes and every int8 output equal the host's, bit for bit",
            total,
            data::SCENES
        );
    } else {
        println!(
            "FAIL: int8 outputs equal {outputs_same}/{}, detections equal {scenes_same}/{} scenes",
            data::SCENES,
            data::SCENES
        );
        status = EXIT_MISMATCH;
    }
    status
}
