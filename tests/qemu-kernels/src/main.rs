//! Bit-exactness and speed of AttoNet's Cortex-M DSP kernels under QEMU.
//!
//! 1. Random cases (a fixed xorshift seed; random shapes, strides,
//!    dilations, groups, padding, zero points, extreme activations and
//!    weights, per-channel multipliers and shifts, clamps) run through the
//!    public kernels (which dispatch to the DSP fast paths on this target)
//!    and through `attonet_runtime::ops::portable` (the reference loops); the
//!    first difference prints the case and exits with status 1.
//! 2. ResNet-8-, DS-CNN- and AttoNet-like layers run once each way, counted
//!    exactly (QEMU `-icount shift=7`: CMSDK TIMER0 on MPS2, the SSE-300
//!    system counter on MPS3), printed as instructions per MAC.
//!
//! Exit status 0 when every case matched.
#![no_std]
#![no_main]

use attonet_kernel_cases::{add_family, mismatch, out_extent, weights, Rng};
use attonet_runtime::ops::add::{add_s8, AddParams};
use attonet_runtime::ops::depthwise::{
    depthwise_conv_s8, depthwise_conv_s8_prepared, DepthwiseParams,
};
use attonet_runtime::ops::{
    conv, convolve_s8, convolve_s8_prepared, grouped_conv3x3, pointwise, portable, ConvParams,
    ConvQuant, ConvWeights, Shape, Window,
};
use attonet_runtime::prepared::{self, DwLayout};
use attonet_runtime::quant::Clamp;
use cortex_m_rt::entry;
use semihosting::{println, process};

/// Random cases per kernel family.
#[cfg(not(feature = "quick"))]
const CASES: u32 = 4000;
#[cfg(feature = "quick")]
const CASES: u32 = 200;

const MAX_IN: usize = 32 * 1024;
const MAX_OUT: usize = 32 * 1024;
const MAX_FILTER: usize = 40 * 1024;
const MAX_OC: usize = 1024;

/// Every buffer the cases use (a static).
type Bufs = attonet_kernel_cases::Bufs<MAX_IN, MAX_OUT, MAX_FILTER, MAX_OC>;

// ---------------------------------------------------------------------------
// Instruction counting.
// ---------------------------------------------------------------------------

fn read32(addr: usize) -> u32 {
    // SAFETY: callers pass a register of this board's counter (see `Counter`).
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write32(addr: usize, v: u32) {
    // SAFETY: callers pass a register of this board's counter, which only
    // this firmware uses.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

/// The board's instruction counter under `-icount shift=7` (128 ns per
/// instruction).
struct Counter;

#[cfg(not(an547))]
impl Counter {
    const TIMER0: usize = 0x4000_0000;
    /// CMSDK TIMER0, 25 MHz: 3.2 ticks per instruction.
    fn start() -> Counter {
        write32(Self::TIMER0, 0);
        write32(Self::TIMER0 + 8, u32::MAX);
        write32(Self::TIMER0 + 4, u32::MAX);
        write32(Self::TIMER0, 1);
        Counter
    }
    fn read(&self) -> u32 {
        u32::MAX - read32(Self::TIMER0 + 4)
    }
    fn instructions(&self, t0: u32, t1: u32) -> u64 {
        let ticks = t1.wrapping_sub(t0) as u64;
        (ticks * 10 + 16) / 32
    }
    const DESCRIBE: &'static str =
        "CMSDK TIMER0 (25 MHz), -icount shift=7: instructions = ticks / 3.2";
}

#[cfg(an547)]
impl Counter {
    const CNTCONTROL: usize = 0x5810_0000;
    /// SSE-300 system counter, 32 MHz: 4.096 ticks per instruction.
    fn start() -> Counter {
        write32(Self::CNTCONTROL, 1);
        Counter
    }
    fn read(&self) -> u32 {
        read32(Self::CNTCONTROL + 8)
    }
    fn instructions(&self, t0: u32, t1: u32) -> u64 {
        let ticks = t1.wrapping_sub(t0) as u64;
        (ticks * 1000 + 2048) / 4096
    }
    const DESCRIBE: &'static str =
        "SSE-300 system counter (32 MHz), -icount shift=7: instructions = ticks / 4.096";
}

/// The core, from the System Control Block's CPUID.
fn core_name() -> &'static str {
    match (read32(0xE000_ED00) >> 4) & 0xFFF {
        0xC24 => "Cortex-M4",
        0xC27 => "Cortex-M7",
        0xD21 => "Cortex-M33",
        0xD22 => "Cortex-M55",
        _ => "unknown core",
    }
}

// ---------------------------------------------------------------------------
// Random cases.
// ---------------------------------------------------------------------------

type ConvFn =
    fn(&ConvParams, Shape, &[i8], &ConvWeights<'_>, Shape, &mut [i8]) -> attonet_runtime::Result;

/// Random convolutions of one family through `fast` and `reference`.
/// Returns (cases, cases that took a fast path, of those the Helium one).
fn conv_family(
    b: &mut Bufs,
    rng: &mut Rng,
    family: u8,
    fast: ConvFn,
    reference: ConvFn,
    name: &str,
) -> (u32, u32, u32) {
    // Prepared constants for up to `MAX_OC` output channels.
    let mut conv_table = [0i32; prepared::conv_mve_len(MAX_OC)];
    let mut covered = 0;
    let mut helium = 0;
    let mut cases = 0;
    while cases < CASES {
        // 0: pointwise, 1: 3x3 one group, 2: any window (and groups),
        // 3: grouped 3x3, 4: depthwise-like grouped 3x3 (groups = channels),
        // 5: grouped, 1 to 8 channels a group (the grouped kernel's).
        let win = match family {
            0 => rng.window(1, false),
            1 | 3 | 4 => rng.window(3, true),
            5 => {
                let k = rng.pick(&[3u8, 3, 1, 2]);
                rng.window(k, true)
            }
            _ => rng.window(0, true),
        };
        let (groups, cpg, ocpg) = match family {
            0 | 1 => (
                1,
                rng.pick(&[1u16, 2, 3, 4, 8, 12, 16, 24, 32, 64, 67, 72, 75]),
                rng.pick(&[1u16, 2, 3, 4, 7, 8, 16, 32]),
            ),
            2 => (
                rng.pick(&[1u16, 1, 2, 3]),
                rng.pick(&[1u16, 2, 3, 4, 8, 16]),
                rng.pick(&[1u16, 2, 4, 5, 16]),
            ),
            3 => (
                rng.pick(&[2u16, 3, 4, 8]),
                rng.pick(&[1u16, 2, 4, 8, 16]),
                rng.pick(&[1u16, 2, 4, 8]),
            ),
            // The grouped kernel's range: 1 to 8 channels a group, and one
            // group of 1 to 3 (a narrow stem).
            5 => (
                rng.pick(&[4u16, 4, 2, 3, 8, 1]),
                rng.range(1, 8) as u16,
                rng.range(1, 8) as u16,
            ),
            _ => (rng.pick(&[1u16, 3, 4, 8, 16, 17, 32, 64]), 1, 1),
        };
        // Family 5 also takes rows wider than one tile of the grouped
        // kernel's widened rows.
        let wide = family == 5 && rng.chance(4);
        let ins = Shape::new(
            rng.range(1, 10) as u16,
            if wide {
                rng.range(60, 200) as u16
            } else {
                rng.range(1, 10) as u16
            },
            cpg * groups,
        );
        let outs = Shape::new(
            out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
            out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
            ocpg * groups,
        );
        let filter_len = outs.c as usize * win.kh as usize * win.kw as usize * cpg as usize;
        if ins.len() > MAX_IN || outs.len() > MAX_OUT || filter_len > MAX_FILTER {
            continue;
        }
        cases += 1;
        let p = ConvParams {
            window: win,
            groups,
            quant: rng.quant(),
        };
        match portable::conv_fast_path(&p, ins, outs) {
            Some("mve-columns" | "mve-columns-wide") => {
                covered += 1;
                helium += 1;
            }
            Some(_) => covered += 1,
            None => {}
        }
        rng.fill(&mut b.input[..ins.len()]);
        rng.fill(&mut b.filter[..filter_len]);
        b.tables(rng, outs.c as usize);
        b.out_fast[..outs.len()].fill(0x5A);
        b.out_ref[..outs.len()].fill(-0x5B);
        let w = weights!(b, filter_len, outs.c as usize);
        let r1 = fast(
            &p,
            ins,
            &b.input[..ins.len()],
            &w,
            outs,
            &mut b.out_fast[..outs.len()],
        );
        let r2 = reference(
            &p,
            ins,
            &b.input[..ins.len()],
            &w,
            outs,
            &mut b.out_ref[..outs.len()],
        );
        if r1 != r2 || b.out_fast[..outs.len()] != b.out_ref[..outs.len()] {
            if r1 != r2 {
                println!("results differ: fast {:?} portable {:?}", r1, r2);
            }
            mismatch(
                name,
                cases,
                &(p, ins, outs),
                &b.out_fast[..outs.len()],
                &b.out_ref[..outs.len()],
            );
        }
        // With the tables the converter prepares: the DSP kernels' epilogue
        // constants and the Helium table (each core reads its own in place
        // and ignores a table of the other's length).
        let oc = outs.c as usize;
        let taps = filter_len / oc.max(1);
        let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
        for helium_table in [false, true] {
            let (what, len) = if helium_table {
                (
                    "convolution with the Helium table",
                    prepared::conv_mve_len(oc),
                )
            } else {
                (
                    "convolution with prepared constants",
                    prepared::conv_len(oc),
                )
            };
            let table = &mut conv_table[..len];
            let made = if helium_table {
                prepared::prepare_conv_mve(&w, oc, taps, zi, zo, table)
            } else {
                prepared::prepare_conv(&w, oc, taps, zi, zo, table)
            };
            if made.is_none() {
                continue;
            }
            b.out_fast[..outs.len()].fill(0x5A);
            let r3 = convolve_s8_prepared(
                &p,
                ins,
                &b.input[..ins.len()],
                &w,
                table,
                outs,
                &mut b.out_fast[..outs.len()],
            );
            if r3 != r2 || b.out_fast[..outs.len()] != b.out_ref[..outs.len()] {
                mismatch(
                    what,
                    cases,
                    &(p, ins, outs),
                    &b.out_fast[..outs.len()],
                    &b.out_ref[..outs.len()],
                );
            }
        }
    }
    (cases, covered, helium)
}

fn depthwise_family(b: &mut Bufs, rng: &mut Rng) -> (u32, u32) {
    // A prepared table for up to 80 channels (the cases' most).
    let mut table_buf = [0i32; prepared::dw3_len(80)];
    let mut covered = 0;
    let mut cases = 0;
    while cases < CASES {
        let k = if rng.chance(2) { 3 } else { 0 };
        let win = rng.window(k, true);
        let dm = if rng.chance(6) {
            rng.range(2, 3) as u16
        } else {
            1
        };
        let ins = Shape::new(
            rng.range(1, 10) as u16,
            rng.range(1, 10) as u16,
            rng.range(1, 80) as u16,
        );
        let outs = Shape::new(
            out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
            out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
            ins.c * dm,
        );
        let filter_len = outs.c as usize * win.kh as usize * win.kw as usize;
        if ins.len() > MAX_IN || outs.len() > MAX_OUT || filter_len > MAX_FILTER {
            continue;
        }
        cases += 1;
        let p = DepthwiseParams {
            window: win,
            depth_multiplier: dm,
            quant: rng.quant(),
        };
        if portable::depthwise_fast_path(&p, outs).is_some() {
            covered += 1;
        }
        rng.fill(&mut b.input[..ins.len()]);
        rng.fill(&mut b.filter[..filter_len]);
        b.tables(rng, outs.c as usize);
        b.out_fast[..outs.len()].fill(0x5A);
        b.out_ref[..outs.len()].fill(-0x5B);
        let w = weights!(b, filter_len, outs.c as usize);
        let r1 = depthwise_conv_s8(
            &p,
            ins,
            &b.input[..ins.len()],
            &w,
            outs,
            &mut b.out_fast[..outs.len()],
        );
        let r2 = portable::depthwise_conv_s8(
            &p,
            ins,
            &b.input[..ins.len()],
            &w,
            outs,
            &mut b.out_ref[..outs.len()],
        );
        if r1 != r2 || b.out_fast[..outs.len()] != b.out_ref[..outs.len()] {
            mismatch(
                "depthwise",
                cases,
                &(p, ins, outs),
                &b.out_fast[..outs.len()],
                &b.out_ref[..outs.len()],
            );
        }
        // With the tables the converter prepares for the DSP cores and for
        // Helium (each core reads its own, ignores the other's length).
        let c = ins.c as usize;
        let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
        for helium_table in [false, true].into_iter().filter(|_| dm == 1) {
            let (what, len) = if helium_table {
                ("depthwise with a Helium table", prepared::dw3_mve_len(c))
            } else {
                ("depthwise with a prepared table", prepared::dw3_len(c))
            };
            let table = &mut table_buf[..len];
            let l = DwLayout::TapMajor;
            let made = if helium_table {
                prepared::prepare_dw3_mve(l, &w, c, zi, zo, table)
            } else {
                prepared::prepare_dw3(l, &w, c, zi, zo, table)
            };
            if made.is_none() {
                continue;
            }
            b.out_fast[..outs.len()].fill(0x5A);
            let r3 = depthwise_conv_s8_prepared(
                &p,
                ins,
                &b.input[..ins.len()],
                &w,
                table,
                outs,
                &mut b.out_fast[..outs.len()],
            );
            if r3 != r2 || b.out_fast[..outs.len()] != b.out_ref[..outs.len()] {
                mismatch(
                    what,
                    cases,
                    &(p, ins, outs),
                    &b.out_fast[..outs.len()],
                    &b.out_ref[..outs.len()],
                );
            }
        }
    }
    (cases, covered)
}

/// The target's byte copy (`ops::movement::copy_s8`: `LDM`/`STM`, Helium
/// vectors) against a byte loop: lengths 0 to 299, both ends at every
/// offset modulo 4, the bytes around the destination untouched.
fn copy_family(b: &mut Bufs, rng: &mut Rng) -> u32 {
    use attonet_runtime::ops::movement::copy_s8;
    let mut cases = 0;
    while cases < CASES {
        let n = rng.range(0, 300) as usize;
        let (so, d) = (rng.range(0, 4) as usize, rng.range(0, 4) as usize);
        cases += 1;
        rng.fill(&mut b.input[..n + 8]);
        b.out_fast[..n + 8].fill(0x5A);
        b.out_ref[..n + 8].fill(0x5A);
        for i in 0..n {
            b.out_ref[d + i] = b.input[so + i];
        }
        let r = copy_s8(&mut b.out_fast[d..d + n], &b.input[so..so + n]);
        if r.is_err() || b.out_fast[..n + 8] != b.out_ref[..n + 8] {
            mismatch(
                "copy",
                cases,
                &(n, so, d),
                &b.out_fast[..n + 8],
                &b.out_ref[..n + 8],
            );
        }
    }
    cases
}

/// Global average pooling (its Helium channel sums on the M55) against the
/// general average pooling over a window of the whole input: 1 to 100
/// channels, 1 to 12 rows and columns, a random clamp.
fn global_pool_family(b: &mut Bufs, rng: &mut Rng) -> u32 {
    use attonet_runtime::ops::pool::{average_pool_s8, global_average_pool_s8, PoolParams};
    use attonet_runtime::ops::Window;
    let mut cases = 0;
    while cases < CASES {
        let ins = Shape::new(
            rng.range(1, 12) as u16,
            rng.range(1, 12) as u16,
            rng.range(1, 100) as u16,
        );
        let outs = Shape::new(1, 1, ins.c);
        let lo = rng.range(-128, 0) as i8;
        let hi = rng.range(lo as i64, 127) as i8;
        let p = PoolParams {
            window: Window {
                kh: ins.h as u8,
                kw: ins.w as u8,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 0,
                pad_left: 0,
            },
            clamp: Clamp { min: lo, max: hi },
        };
        cases += 1;
        rng.fill(&mut b.input[..ins.len()]);
        b.out_fast[..outs.len()].fill(0x5A);
        b.out_ref[..outs.len()].fill(-0x5B);
        let x = &b.input[..ins.len()];
        let r1 = global_average_pool_s8(&p, ins, x, outs, &mut b.out_fast[..outs.len()]);
        let r2 = average_pool_s8(&p, ins, x, outs, &mut b.out_ref[..outs.len()]);
        if r1 != r2 || b.out_fast[..outs.len()] != b.out_ref[..outs.len()] {
            mismatch(
                "global average pooling",
                cases,
                &(p, ins),
                &b.out_fast[..outs.len()],
                &b.out_ref[..outs.len()],
            );
        }
    }
    cases
}

// ---------------------------------------------------------------------------
// Instruction counts on model-like layers.
// ---------------------------------------------------------------------------

/// One benchmark layer: a layer of ResNet-8, DS-CNN (KWS) or an AttoNet
/// module, with the model's exact shapes and padding.
struct Layer {
    name: &'static str,
    /// Which model total it counts towards (0: ResNet-8, 1: KWS, 2: none),
    /// and how many times the model runs it.
    model: usize,
    times: u64,
    ins: Shape,
    kh: u8,
    kw: u8,
    stride: u8,
    /// Top and left padding (the bottom and right follow from the output size).
    pt: u8,
    pl: u8,
    outs: Shape,
    groups: u16,
    /// Depthwise op (DEPTHWISE_CONV_2D) instead of CONV_2D.
    depthwise: bool,
}

#[allow(clippy::too_many_arguments)]
const fn layer(
    name: &'static str,
    model: usize,
    times: u64,
    ins: (u16, u16, u16),
    k: (u8, u8),
    stride: u8,
    pad: (u8, u8),
    outs: (u16, u16, u16),
    groups: u16,
) -> Layer {
    Layer {
        name,
        model,
        times,
        ins: Shape::new(ins.0, ins.1, ins.2),
        kh: k.0,
        kw: k.1,
        stride,
        pt: pad.0,
        pl: pad.1,
        outs: Shape::new(outs.0, outs.1, outs.2),
        groups,
        depthwise: false,
    }
}

const R8: usize = 0;
const KWS: usize = 1;
const OTHER: usize = 2;
/// The per-model sums' rows.
const MODEL_TOTALS: [&str; 2] = ["resnet8 conv+add total", "kws conv total"];

const LAYERS: &[Layer] = &[
    // MLPerf Tiny ResNet-8 (CIFAR-10, 32x32x3), as models/mlperf-tiny/resnet8_int8.tflite.
    layer(
        "resnet8 stem 3x3 3->16",
        R8,
        1,
        (32, 32, 3),
        (3, 3),
        1,
        (1, 1),
        (32, 32, 16),
        1,
    ),
    layer(
        "resnet8 3x3 16->16 (x2)",
        R8,
        2,
        (32, 32, 16),
        (3, 3),
        1,
        (1, 1),
        (32, 32, 16),
        1,
    ),
    layer(
        "resnet8 3x3 s2 16->32",
        R8,
        1,
        (32, 32, 16),
        (3, 3),
        2,
        (0, 0),
        (16, 16, 32),
        1,
    ),
    layer(
        "resnet8 3x3 32->32",
        R8,
        1,
        (16, 16, 32),
        (3, 3),
        1,
        (1, 1),
        (16, 16, 32),
        1,
    ),
    layer(
        "resnet8 1x1 s2 16->32",
        R8,
        1,
        (32, 32, 16),
        (1, 1),
        2,
        (0, 0),
        (16, 16, 32),
        1,
    ),
    layer(
        "resnet8 3x3 s2 32->64",
        R8,
        1,
        (16, 16, 32),
        (3, 3),
        2,
        (0, 0),
        (8, 8, 64),
        1,
    ),
    layer(
        "resnet8 3x3 64->64",
        R8,
        1,
        (8, 8, 64),
        (3, 3),
        1,
        (1, 1),
        (8, 8, 64),
        1,
    ),
    layer(
        "resnet8 1x1 s2 32->64",
        R8,
        1,
        (16, 16, 32),
        (1, 1),
        2,
        (0, 0),
        (8, 8, 64),
        1,
    ),
    // MLPerf Tiny DS-CNN (KWS, 49x10x1), as models/mlperf-tiny/kws_dscnn_int8.tflite.
    layer(
        "kws stem 10x4 s2 1->64",
        KWS,
        1,
        (49, 10, 1),
        (10, 4),
        2,
        (4, 1),
        (25, 5, 64),
        1,
    ),
    Layer {
        depthwise: true,
        ..layer(
            "kws dw 3x3 64 (x4)",
            KWS,
            4,
            (25, 5, 64),
            (3, 3),
            1,
            (1, 1),
            (25, 5, 64),
            64,
        )
    },
    layer(
        "kws 1x1 64->64 (x4)",
        KWS,
        4,
        (25, 5, 64),
        (1, 1),
        1,
        (0, 0),
        (25, 5, 64),
        1,
    ),
    // AttoNet modules (grouped 3x3 between 1x1s).
    layer(
        "atto 1x1 16->8",
        OTHER,
        1,
        (16, 16, 16),
        (1, 1),
        1,
        (0, 0),
        (16, 16, 8),
        1,
    ),
    layer(
        "atto g2 3x3 8->8",
        OTHER,
        1,
        (16, 16, 8),
        (3, 3),
        1,
        (1, 1),
        (16, 16, 8),
        2,
    ),
    layer(
        "atto g16 3x3 16->16",
        OTHER,
        1,
        (16, 16, 16),
        (3, 3),
        1,
        (1, 1),
        (16, 16, 16),
        16,
    ),
    // AttoNet-D's 32x32 module (4 channels in the middle).
    layer(
        "atto-a 1x1 8->4",
        OTHER,
        1,
        (32, 32, 8),
        (1, 1),
        1,
        (0, 0),
        (32, 32, 4),
        1,
    ),
    layer(
        "atto-a 1x1 4->8",
        OTHER,
        1,
        (32, 32, 4),
        (1, 1),
        1,
        (0, 0),
        (32, 32, 8),
        1,
    ),
    layer(
        "atto-a 1x1 8->12",
        OTHER,
        1,
        (32, 32, 8),
        (1, 1),
        1,
        (0, 0),
        (32, 32, 12),
        1,
    ),
    layer(
        "atto-a 1x1 12->24",
        OTHER,
        1,
        (16, 16, 12),
        (1, 1),
        1,
        (0, 0),
        (16, 16, 24),
        1,
    ),
    layer(
        "atto-a 1x1 s2 8->24",
        OTHER,
        1,
        (32, 32, 8),
        (1, 1),
        2,
        (0, 0),
        (16, 16, 24),
        1,
    ),
    layer(
        "atto-a 1x1 16->32",
        OTHER,
        1,
        (16, 16, 16),
        (1, 1),
        1,
        (0, 0),
        (16, 16, 32),
        1,
    ),
    layer(
        "atto-a g4 3x3 s2 12->12",
        OTHER,
        1,
        (32, 32, 12),
        (3, 3),
        2,
        (1, 1),
        (16, 16, 12),
        4,
    ),
    layer(
        "atto-a g4 3x3 28->28",
        OTHER,
        1,
        (8, 8, 28),
        (3, 3),
        1,
        (1, 1),
        (8, 8, 28),
        4,
    ),
    layer(
        "atto-a stem 3x3 3->8",
        OTHER,
        1,
        (32, 32, 3),
        (3, 3),
        1,
        (1, 1),
        (32, 32, 8),
        1,
    ),
    layer(
        "dense 3x3 8->8",
        OTHER,
        1,
        (16, 16, 8),
        (3, 3),
        1,
        (1, 1),
        (16, 16, 8),
        1,
    ),
    // The detector's narrow layers (models/atto-det-a): a 1-channel stem
    // and grouped 3x3 with 2 and 3 channels a group.
    layer(
        "det stem 3x3 s2 1->8",
        OTHER,
        1,
        (96, 96, 1),
        (3, 3),
        2,
        (1, 1),
        (48, 48, 8),
        1,
    ),
    // Windows of at most 16 taps in one group, which the narrow kernel
    // takes gathered per pixel: a 28x28 grayscale stem (Fashion-MNIST's),
    // a 2x2 over 4 channels (16 taps, no padding), a 1x3 over 3 (9 taps).
    layer(
        "gray stem 3x3 1->16",
        OTHER,
        1,
        (28, 28, 1),
        (3, 3),
        1,
        (1, 1),
        (28, 28, 16),
        1,
    ),
    layer(
        "2x2 s2 4->12",
        OTHER,
        1,
        (16, 16, 4),
        (2, 2),
        2,
        (0, 0),
        (8, 8, 12),
        1,
    ),
    layer(
        "1x3 3->8",
        OTHER,
        1,
        (12, 12, 3),
        (1, 3),
        1,
        (0, 1),
        (12, 12, 8),
        1,
    ),
    layer(
        "det g4 3x3 s2 8->8",
        OTHER,
        1,
        (48, 48, 8),
        (3, 3),
        2,
        (1, 1),
        (24, 24, 8),
        4,
    ),
    layer(
        "det g4 3x3 12->12",
        OTHER,
        1,
        (24, 24, 12),
        (3, 3),
        1,
        (1, 1),
        (24, 24, 12),
        4,
    ),
    layer(
        "det 1x1 8->8",
        OTHER,
        1,
        (24, 24, 8),
        (1, 1),
        1,
        (0, 0),
        (24, 24, 8),
        1,
    ),
    // MobileNetV1 0.25 at 96x96 (person_detect): 1x1 layers of its 6x6 and
    // 3x3 stages, whose rows (6 and 3 pixels) end in a partial block.
    layer(
        "mobilenet 1x1 6x6 128->128",
        OTHER,
        1,
        (6, 6, 128),
        (1, 1),
        1,
        (0, 0),
        (6, 6, 128),
        1,
    ),
    layer(
        "mobilenet 1x1 3x3 128->256",
        OTHER,
        1,
        (3, 3, 128),
        (1, 1),
        1,
        (0, 0),
        (3, 3, 256),
        1,
    ),
    // Windows past the columns kernel's 576 taps (MobileNet-like and wide
    // searched layers), which it takes in slices.
    layer(
        "wide 3x3 128->32",
        OTHER,
        1,
        (8, 8, 128),
        (3, 3),
        1,
        (1, 1),
        (8, 8, 32),
        1,
    ),
    layer(
        "wide 1x1 640->24",
        OTHER,
        1,
        (6, 6, 640),
        (1, 1),
        1,
        (0, 0),
        (6, 6, 24),
        1,
    ),
];

/// The profiled run: the layer in one call, or (`PROFILE_ROWS=1` at build
/// time) one output row per call as a fused block runs it.
#[cfg(feature = "profile")]
fn profiled(
    l: &Layer,
    win: Window,
    quant: ConvQuant,
    input: &[i8],
    w: &ConvWeights<'_>,
    out: &mut [i8],
    whole: impl FnOnce(&mut [i8]) -> attonet_runtime::Result,
) -> attonet_runtime::Result {
    if option_env!("PROFILE_ROWS").is_some() {
        by_rows(l, win, quant, input, w, &[], out)
            .then_some(())
            .ok_or(attonet_runtime::Error::Parameter("by rows"))
    } else {
        whole(out)
    }
}

/// Runs layer `l` one output row per call, each call given only the input
/// rows that row reads (`attonet_runtime::block::rows_needed`) and its top
/// padding shifted accordingly: how a fused block calls the kernels.
fn by_rows(
    l: &Layer,
    win: Window,
    quant: ConvQuant,
    input: &[i8],
    w: &ConvWeights<'_>,
    table: &[i32],
    out: &mut [i8],
) -> bool {
    let in_row = l.ins.w as usize * l.ins.c as usize;
    let out_row = l.outs.w as usize * l.outs.c as usize;
    for r in 0..l.outs.h {
        let (a, b) = attonet_runtime::block::rows_needed(&win, l.ins.h, r, r + 1);
        let mut wr = win;
        wr.pad_top = (win.pad_top as i32 + a as i32 - r as i32 * win.stride_h as i32) as u8;
        let ins = Shape::new(b - a, l.ins.w, l.ins.c);
        let outs = Shape::new(1, l.outs.w, l.outs.c);
        let x = &input[a as usize * in_row..b as usize * in_row];
        let y = &mut out[r as usize * out_row..(r as usize + 1) * out_row];
        let ok = if l.depthwise {
            let p = DepthwiseParams {
                window: wr,
                depth_multiplier: 1,
                quant,
            };
            depthwise_conv_s8_prepared(&p, ins, x, w, table, outs, y).is_ok()
        } else {
            let p = ConvParams {
                window: wr,
                groups: l.groups,
                quant,
            };
            convolve_s8(&p, ins, x, w, outs, y).is_ok()
        };
        if !ok {
            return false;
        }
    }
    true
}

/// [`convolve_s8`] as a firmware without the columns kernel's tail routine
/// runs it (`kernels::CONV_TAIL` not linked: a call's partial block of
/// pixels computed whole into scratch).
fn convolve_no_tail(
    p: &ConvParams,
    ins: Shape,
    x: &[i8],
    w: &ConvWeights<'_>,
    outs: Shape,
    y: &mut [i8],
) -> attonet_runtime::Result {
    use attonet_runtime::plan::kernels::{ALL, CONV_TAIL};
    attonet_runtime::ops::convolve_s8_linked::<{ ALL & !CONV_TAIL }>(p, ins, x, w, outs, y)
}

/// Prints one row: instructions of both paths and per MAC (or per element).
fn row(name: &str, macs: u64, t_ref: u64, t_fast: u64, path: &str) {
    let per = |t: u64| (t * 100 + macs / 2) / macs.max(1);
    let (pr, pf) = (per(t_ref), per(t_fast));
    let x = (t_ref * 10 + t_fast / 2) / t_fast.max(1);
    println!(
        "{:<26} {:>9} {:>11} {:>3}.{:02} {:>10} {:>3}.{:02} {:>4}.{}  {}",
        name,
        macs,
        t_ref,
        pr / 100,
        pr % 100,
        t_fast,
        pf / 100,
        pf % 100,
        x / 10,
        x % 10,
        path
    );
}

fn bench(b: &mut Bufs, rng: &mut Rng, counter: &Counter) -> bool {
    println!(
        "{:<26} {:>9} {:>11} {:>6} {:>10} {:>6} {:>6}  kernel",
        "layer (one call)", "MACs", "portable", "/MAC", "fast", "/MAC", "x"
    );
    let mut all_equal = true;
    // Per model: (MACs, portable, fast), each layer times its count.
    let mut totals = [(0u64, 0u64, 0u64); 2];
    #[cfg(feature = "profile")]
    let layers = {
        // `PROFILE_LAYER=<index>` at build time picks the layer (default 1).
        let i = match option_env!("PROFILE_LAYER") {
            Some(s) => s.parse().unwrap_or(1),
            None => 1,
        };
        &LAYERS[i..i + 1]
    };
    #[cfg(not(feature = "profile"))]
    let layers = LAYERS;
    for l in layers {
        let win = Window {
            kh: l.kh,
            kw: l.kw,
            stride_h: l.stride,
            stride_w: l.stride,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: l.pt,
            pad_left: l.pl,
        };
        let outs = l.outs;
        let cpg = if l.depthwise { 1 } else { l.ins.c / l.groups };
        let filter_len = outs.c as usize * l.kh as usize * l.kw as usize * cpg as usize;
        let macs = outs.len() as u64 * l.kh as u64 * l.kw as u64 * cpg as u64;
        let quant = ConvQuant {
            input_zero_point: -128,
            output_zero_point: -128,
            clamp: Clamp::NONE,
        };
        rng.fill(&mut b.input[..l.ins.len()]);
        rng.fill(&mut b.filter[..filter_len]);
        for c in 0..outs.c as usize {
            b.bias[c] = rng.range(-5000, 5000) as i32;
            b.mult[c] = rng.range(1 << 30, i32::MAX as i64) as i32;
            b.shift[c] = rng.range(-10, -6) as i32;
        }
        let w = weights!(b, filter_len, outs.c as usize);
        let input = &b.input[..l.ins.len()];
        let (t_ref, t_fast, path);
        if l.depthwise {
            let p = DepthwiseParams {
                window: win,
                depth_multiplier: 1,
                quant,
            };
            path = portable::depthwise_fast_path(&p, outs);
            let t0 = counter.read();
            #[cfg(feature = "profile")]
            let r1 = Ok::<(), attonet_runtime::Error>(());
            #[cfg(not(feature = "profile"))]
            let r1 = portable::depthwise_conv_s8(
                &p,
                l.ins,
                input,
                &w,
                outs,
                &mut b.out_ref[..outs.len()],
            );
            let t1 = counter.read();
            #[cfg(not(feature = "profile"))]
            let r2 = depthwise_conv_s8(&p, l.ins, input, &w, outs, &mut b.out_fast[..outs.len()]);
            #[cfg(feature = "profile")]
            let r2 = profiled(
                l,
                win,
                quant,
                input,
                &w,
                &mut b.out_fast[..outs.len()],
                |y| depthwise_conv_s8(&p, l.ins, input, &w, outs, y),
            );
            let t2 = counter.read();
            all_equal &= r1.is_ok() && r2.is_ok();
            t_ref = counter.instructions(t0, t1);
            t_fast = counter.instructions(t1, t2);
        } else {
            let p = ConvParams {
                window: win,
                groups: l.groups,
                quant,
            };
            path = portable::conv_fast_path(&p, l.ins, outs);
            let t0 = counter.read();
            #[cfg(feature = "profile")]
            let r1 = Ok::<(), attonet_runtime::Error>(());
            #[cfg(not(feature = "profile"))]
            let r1 =
                portable::convolve_s8(&p, l.ins, input, &w, outs, &mut b.out_ref[..outs.len()]);
            let t1 = counter.read();
            #[cfg(not(feature = "profile"))]
            let r2 = convolve_s8(&p, l.ins, input, &w, outs, &mut b.out_fast[..outs.len()]);
            #[cfg(feature = "profile")]
            let r2 = profiled(
                l,
                win,
                quant,
                input,
                &w,
                &mut b.out_fast[..outs.len()],
                |y| convolve_s8(&p, l.ins, input, &w, outs, y),
            );
            let t2 = counter.read();
            all_equal &= r1.is_ok() && r2.is_ok();
            t_ref = counter.instructions(t0, t1);
            t_fast = counter.instructions(t1, t2);
        }
        #[cfg(not(feature = "profile"))]
        {
            all_equal &= b.out_ref[..outs.len()] == b.out_fast[..outs.len()];
        }
        if l.model < OTHER {
            let t = &mut totals[l.model];
            t.0 += l.times * macs;
            t.1 += l.times * t_ref;
            t.2 += l.times * t_fast;
        }
        row(l.name, macs, t_ref, t_fast, path.unwrap_or("portable"));
        #[cfg(not(feature = "profile"))]
        {
            // The same layer one output row per call, as a fused block runs
            // it: must give the same bits; the count shows the per-row cost.
            let t0 = counter.read();
            let ok = by_rows(l, win, quant, input, &w, &[], &mut b.out_ref[..outs.len()]);
            let t1 = counter.read();
            all_equal &= ok && b.out_ref[..outs.len()] == b.out_fast[..outs.len()];
            let t_rows = counter.instructions(t0, t1);
            let per = (t_rows * 100 + macs / 2) / macs.max(1);
            println!(
                "{:<26} {:>9} {:>11} {:>3}.{:02}  one row per call",
                "  by rows",
                macs,
                t_rows,
                per / 100,
                per % 100
            );
            // A depthwise layer again with the converter's prepared table
            // (what the firmware runs on these cores).
            let c = l.ins.c as usize;
            let mut table = [0i32; prepared::dw3_len(64)];
            let table = &mut table[..prepared::dw3_len(c.min(64))];
            if l.depthwise
                && c <= 64
                && prepared::prepare_dw3(
                    DwLayout::TapMajor,
                    &w,
                    c,
                    quant.input_zero_point,
                    quant.output_zero_point,
                    table,
                )
                .is_some()
            {
                b.out_ref[..outs.len()].fill(0x5A);
                let t0 = counter.read();
                let ok = by_rows(
                    l,
                    win,
                    quant,
                    input,
                    &w,
                    table,
                    &mut b.out_ref[..outs.len()],
                );
                let t1 = counter.read();
                all_equal &= ok && b.out_ref[..outs.len()] == b.out_fast[..outs.len()];
                let t_rows = counter.instructions(t0, t1);
                let per = (t_rows * 100 + macs / 2) / macs.max(1);
                println!(
                    "{:<26} {:>9} {:>11} {:>3}.{:02}  one row per call, prepared table",
                    "  by rows, prepared",
                    macs,
                    t_rows,
                    per / 100,
                    per % 100
                );
            }
        }
    }
    // The three residual ADDs of ResNet-8 (32x32x16, 16x16x32, 8x8x64), the
    // model's parameters.
    for (name, n, p) in [
        (
            "resnet8 add 32x32x16",
            16384usize,
            (
                -128,
                4,
                -128,
                1_623_821_475,
                -2,
                1_073_741_824,
                0,
                1_098_017_566,
                -17,
            ),
        ),
        (
            "resnet8 add 16x16x32",
            8192,
            (
                -17,
                4,
                -128,
                1_699_529_983,
                -2,
                1_073_741_824,
                0,
                1_140_768_826,
                -17,
            ),
        ),
        (
            "resnet8 add 8x8x64",
            4096,
            (
                38,
                -2,
                -128,
                1_657_902_019,
                -2,
                1_073_741_824,
                0,
                1_835_721_671,
                -18,
            ),
        ),
    ] {
        let p = AddParams {
            input1_zero_point: p.0,
            input2_zero_point: p.1,
            output_zero_point: p.2,
            left_shift: 20,
            input1_multiplier: p.3,
            input1_shift: p.4,
            input2_multiplier: p.5,
            input2_shift: p.6,
            output_multiplier: p.7,
            output_shift: p.8,
            clamp: Clamp::NONE,
        };
        rng.fill(&mut b.input[..n]);
        rng.fill(&mut b.filter[..n]);
        let t0 = counter.read();
        #[cfg(not(feature = "profile"))]
        let r1 = portable::add_s8(&p, &b.input[..n], &b.filter[..n], &mut b.out_ref[..n]);
        #[cfg(feature = "profile")]
        let r1 = Ok::<(), attonet_runtime::Error>(());
        let t1 = counter.read();
        let r2 = add_s8(&p, &b.input[..n], &b.filter[..n], &mut b.out_fast[..n]);
        let t2 = counter.read();
        all_equal &= r1.is_ok() && r2.is_ok();
        #[cfg(not(feature = "profile"))]
        {
            all_equal &= b.out_ref[..n] == b.out_fast[..n];
        }
        let (t_ref, t_fast) = (counter.instructions(t0, t1), counter.instructions(t1, t2));
        totals[R8].1 += t_ref;
        totals[R8].2 += t_fast;
        row(name, n as u64, t_ref, t_fast, "dsp-add (per element)");
    }
    // The unary ops' 256-entry table (LOGISTIC, TANH, RELU6 ...): a plain
    // byte loop against the kernel (four elements a word), then in place.
    #[cfg(not(feature = "profile"))]
    {
        use attonet_runtime::ops::lookup::{lookup_s8, lookup_s8_in_place};
        let n = 16 * 1024 - 3;
        let mut table = [0i8; 256];
        rng.fill(&mut table);
        rng.fill(&mut b.input[..n]);
        let t0 = counter.read();
        for (o, &x) in b.out_ref[..n].iter_mut().zip(&b.input[..n]) {
            *o = table[x as u8 as usize];
        }
        let t1 = counter.read();
        let r = lookup_s8(&table, &b.input[..n], &mut b.out_fast[..n]);
        let t2 = counter.read();
        all_equal &= r.is_ok() && b.out_ref[..n] == b.out_fast[..n];
        let (t_ref, t_fast) = (counter.instructions(t0, t1), counter.instructions(t1, t2));
        row(
            "lookup 16381",
            n as u64,
            t_ref,
            t_fast,
            "lookup (per element)",
        );
        b.out_fast[..n].copy_from_slice(&b.input[..n]);
        let t0 = counter.read();
        let r = lookup_s8_in_place(&table, &mut b.out_fast[..n]);
        let t1 = counter.read();
        all_equal &= r.is_ok() && b.out_ref[..n] == b.out_fast[..n];
        let t = counter.instructions(t0, t1);
        row(
            "lookup 16381 in place",
            n as u64,
            t_ref,
            t,
            "lookup (per element)",
        );
    }
    println!();
    for (name, (macs, t_ref, t_fast)) in MODEL_TOTALS.iter().zip(totals) {
        row(name, macs, t_ref, t_fast, "sum of the layers above");
    }
    all_equal
}

#[entry]
fn main() -> ! {
    static mut BUFS: Bufs = Bufs::new();
    let b: &mut Bufs = BUFS;
    let counter = Counter::start();
    println!(
        "attonet qemu-kernels on {} (DSP kernels: {}, Helium kernels: {}); {}",
        core_name(),
        if portable::DSP { "on" } else { "off" },
        if portable::MVE { "on" } else { "off" },
        Counter::DESCRIBE
    );
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut total = 0;
    if cfg!(feature = "profile") {
        // One layer's fast path alone, for `-d exec` profiles (profile.sh).
        let _ = bench(b, &mut rng, &counter);
        process::exit(0);
    }
    let families: [(&str, u8, ConvFn, ConvFn); 9] = [
        (
            "convolve_s8 pointwise",
            0,
            convolve_s8,
            portable::convolve_s8,
        ),
        (
            "pointwise_conv_s8",
            0,
            pointwise::pointwise_conv_s8,
            portable::pointwise_conv_s8,
        ),
        ("convolve_s8 3x3", 1, convolve_s8, portable::convolve_s8),
        (
            "convolve_s8 3x3, no tail routine",
            1,
            convolve_no_tail,
            portable::convolve_s8,
        ),
        (
            "conv2d_s8 any window",
            2,
            conv::conv2d_s8,
            portable::conv2d_s8,
        ),
        (
            "grouped_conv3x3_s8",
            3,
            grouped_conv3x3::grouped_conv3x3_s8,
            portable::conv2d_s8,
        ),
        (
            "convolve_s8 depthwise-like",
            4,
            convolve_s8,
            portable::convolve_s8,
        ),
        ("conv2d_s8 grouped", 3, conv::conv2d_s8, portable::conv2d_s8),
        (
            "conv2d_s8 grouped, 1 to 8 channels a group",
            5,
            conv::conv2d_s8,
            portable::conv2d_s8,
        ),
    ];
    for (name, family, fast, reference) in families {
        let (n, covered, helium) = conv_family(b, &mut rng, family, fast, reference, name);
        if portable::MVE {
            println!(
                "ok {name}: {n} random cases bit-identical ({covered} on a fast path, {helium} of them Helium)"
            );
        } else {
            println!("ok {name}: {n} random cases bit-identical ({covered} on a fast path)");
        }
        total += n;
    }
    let (n, covered) = depthwise_family(b, &mut rng);
    println!("ok depthwise_conv_s8: {n} random cases bit-identical ({covered} on a fast path)");
    total += n;
    let n = add_family(b, &mut rng, CASES);
    println!("ok add_s8, add_s8_in_place: {n} random cases bit-identical");
    total += n;
    let n = copy_family(b, &mut rng);
    println!("ok copy_s8: {n} random cases bit-identical (every alignment)");
    total += n;
    let n = global_pool_family(b, &mut rng);
    println!("ok global_average_pool_s8: {n} random cases bit-identical");
    total += n;

    println!();
    let equal = bench(b, &mut rng, &counter);
    if !equal {
        println!("MISMATCH in a benchmark layer");
        process::exit(1);
    }
    println!("\n{total} passed, 0 failed");
    process::exit(0)
}
