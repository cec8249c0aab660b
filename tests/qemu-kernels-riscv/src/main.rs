//! Bit-exactness and speed of AttoNet's RISC-V kernels under QEMU `virt`.
//!
//! 1. Random cases (a fixed xorshift seed; random shapes, strides,
//!    dilations, groups, padding, zero points, extreme activations and
//!    weights, per-channel multipliers and shifts, clamps) run through the
//!    public kernels (which dispatch to the RISC-V fast paths on this target)
//!    and through `attonet_runtime::ops::portable` (the reference loops); the
//!    first difference prints the case and exits with status 1.
//! 2. ResNet-8-, DS-CNN- and AttoNet-like layers run once each way, counted
//!    exactly with `minstret` (QEMU `-icount shift=0`), printed as
//!    instructions per MAC, and summed over ResNet-8's and DS-CNN's layers.
//!
//! Exit status 0 when every case matched (1 on the first difference, 101 on
//! a panic).
#![no_std]
#![no_main]
// `profile` runs one layer and exits: the rest is compiled but unused.
#![cfg_attr(feature = "profile", allow(unreachable_code, unused))]

use attonet_kernel_cases::{add_family, mismatch, out_extent, weights, Rng};
use attonet_runtime::ops::add::{add_s8_in_place, AddParams};
use attonet_runtime::ops::depthwise::{depthwise_conv_s8, DepthwiseParams};
use attonet_runtime::ops::{
    conv, convolve_s8, grouped_conv3x3, pointwise, portable, ConvParams, ConvQuant, ConvWeights,
    Shape, Window,
};
use attonet_runtime::quant::Clamp;
use riscv_rt::entry;
use semihosting::{println, process};

/// Random cases per kernel family.
#[cfg(not(feature = "quick"))]
const CASES: u32 = 4000;
#[cfg(feature = "quick")]
const CASES: u32 = 200;

const MAX_IN: usize = 32 * 1024;
const MAX_OUT: usize = 32 * 1024;
const MAX_FILTER: usize = 64 * 1024;
const MAX_OC: usize = 1024;

/// Every buffer the cases use (a static).
type Bufs = attonet_kernel_cases::Bufs<MAX_IN, MAX_OUT, MAX_FILTER, MAX_OC>;

// ---------------------------------------------------------------------------
// Instruction counting.
// ---------------------------------------------------------------------------

/// `minstret`, the machine-mode retired-instruction counter (64 bits; exact
/// under `-icount shift=0`).
#[inline(always)]
fn minstret() -> u64 {
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reads three counter CSRs into registers; no memory, no
        // stack, no side effects.
        unsafe {
            core::arch::asm!(
                "csrr {0}, minstreth",
                "csrr {1}, minstret",
                "csrr {2}, minstreth",
                out(reg) hi,
                out(reg) lo,
                out(reg) hi2,
                options(nostack),
            );
        }
        if hi == hi2 {
            return (hi as u64) << 32 | lo as u64;
        }
    }
}

/// Instructions `f` retires (less what two back-to-back readings cost).
#[inline(always)]
fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let t0 = minstret();
    let r = f();
    let t1 = minstret();
    let t2 = minstret();
    let empty = t2 - t1;
    (r, (t1 - t0).saturating_sub(empty))
}

// ---------------------------------------------------------------------------
// Random cases.
// ---------------------------------------------------------------------------

type ConvFn =
    fn(&ConvParams, Shape, &[i8], &ConvWeights<'_>, Shape, &mut [i8]) -> attonet_runtime::Result;

/// Random convolutions of one family through `fast` and `reference`.
/// Returns (cases, cases that took a fast path).
fn conv_family(
    b: &mut Bufs,
    rng: &mut Rng,
    family: u8,
    fast: ConvFn,
    reference: ConvFn,
    name: &str,
) -> (u32, u32) {
    let mut covered = 0;
    let mut cases = 0;
    while cases < CASES {
        // 0: pointwise, 1: 3x3 one group, 2: any window (and groups),
        // 3: grouped 3x3, 4: depthwise-like grouped 3x3 (groups = channels),
        // 5: 3x3 with long windows (up to and past the column kernel's
        // 576-tap segments) and more than 32 output channels (its chunks),
        // 6: 1x1 with hundreds of input channels (segments of one tap).
        let win = match family {
            0 | 6 => rng.window(1, false),
            1 | 3 | 4 | 5 => rng.window(3, true),
            _ => rng.window(0, true),
        };
        let (groups, cpg, ocpg) = match family {
            0 | 1 => (
                1,
                rng.pick(&[1u16, 2, 3, 4, 8, 12, 16, 24, 32, 64, 72]),
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
            4 => (rng.pick(&[1u16, 3, 4, 8, 16, 17, 32, 64]), 1, 1),
            5 => (
                1,
                rng.pick(&[64u16, 72, 74, 75, 80, 130]),
                rng.pick(&[1u16, 4, 5, 31, 32, 33, 63, 64, 65, 70]),
            ),
            _ => (
                1,
                rng.pick(&[575u16, 576, 577, 600, 1152]),
                rng.pick(&[1u16, 4, 5, 31, 32, 33]),
            ),
        };
        let side = if family >= 5 { 4 } else { 10 };
        let ins = Shape::new(
            rng.range(1, side) as u16,
            rng.range(1, side) as u16,
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
        if portable::conv_fast_path(&p, ins, outs).is_some() {
            covered += 1;
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
    }
    (cases, covered)
}

fn depthwise_family(b: &mut Bufs, rng: &mut Rng) -> (u32, u32) {
    let mut covered = 0;
    let mut cases = 0;
    while cases < CASES {
        // Mostly 3x3 (the RISC-V kernel's windows), some of any size.
        let k = if rng.chance(4) { 0 } else { 3 };
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
    }
    (cases, covered)
}

// ---------------------------------------------------------------------------
// Instruction counts on model layers.
// ---------------------------------------------------------------------------

/// Which model a benchmark layer belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    ResNet8,
    Kws,
    Atto,
}

/// One benchmark layer.
struct Layer {
    name: &'static str,
    model: Model,
    /// How many times the model runs this layer shape.
    count: u32,
    ins: Shape,
    kh: u8,
    kw: u8,
    stride: u8,
    pad_top: u8,
    pad_left: u8,
    groups: u16,
    out: Shape,
    /// Depthwise op (DEPTHWISE_CONV_2D) instead of CONV_2D.
    depthwise: bool,
}

#[allow(clippy::too_many_arguments)]
const fn layer(
    name: &'static str,
    model: Model,
    count: u32,
    ins: (u16, u16, u16),
    k: (u8, u8),
    stride: u8,
    pad: (u8, u8),
    groups: u16,
    out: (u16, u16, u16),
) -> Layer {
    Layer {
        name,
        model,
        count,
        ins: Shape::new(ins.0, ins.1, ins.2),
        kh: k.0,
        kw: k.1,
        stride,
        pad_top: pad.0,
        pad_left: pad.1,
        groups,
        out: Shape::new(out.0, out.1, out.2),
        depthwise: false,
    }
}

use Model::{Atto, Kws, ResNet8};

/// The convolutions of MLPerf Tiny ResNet-8 (CIFAR-10, 32x32x3) and DS-CNN
/// (KWS, 49x10x1) with TFLite's SAME padding, and AttoNet module layers.
#[rustfmt::skip]
const LAYERS: &[Layer] = &[
    layer("resnet8 stem 3x3 3->16", ResNet8, 1, (32, 32, 3), (3, 3), 1, (1, 1), 1, (32, 32, 16)),
    layer("resnet8 3x3 16->16", ResNet8, 2, (32, 32, 16), (3, 3), 1, (1, 1), 1, (32, 32, 16)),
    layer("resnet8 3x3 s2 16->32", ResNet8, 1, (32, 32, 16), (3, 3), 2, (0, 0), 1, (16, 16, 32)),
    layer("resnet8 3x3 32->32", ResNet8, 1, (16, 16, 32), (3, 3), 1, (1, 1), 1, (16, 16, 32)),
    layer("resnet8 1x1 s2 16->32", ResNet8, 1, (32, 32, 16), (1, 1), 2, (0, 0), 1, (16, 16, 32)),
    layer("resnet8 3x3 s2 32->64", ResNet8, 1, (16, 16, 32), (3, 3), 2, (0, 0), 1, (8, 8, 64)),
    layer("resnet8 3x3 64->64", ResNet8, 1, (8, 8, 64), (3, 3), 1, (1, 1), 1, (8, 8, 64)),
    layer("resnet8 1x1 s2 32->64", ResNet8, 1, (16, 16, 32), (1, 1), 2, (0, 0), 1, (8, 8, 64)),
    layer("kws stem 10x4 s2 1->64", Kws, 1, (49, 10, 1), (10, 4), 2, (4, 1), 1, (25, 5, 64)),
    Layer {
        depthwise: true,
        ..layer("kws dw 3x3 64", Kws, 4, (25, 5, 64), (3, 3), 1, (1, 1), 64, (25, 5, 64))
    },
    layer("kws 1x1 64->64", Kws, 4, (25, 5, 64), (1, 1), 1, (0, 0), 1, (25, 5, 64)),
    layer("atto 1x1 16->8", Atto, 1, (16, 16, 16), (1, 1), 1, (0, 0), 1, (16, 16, 8)),
    layer("atto g2 3x3 8->8", Atto, 1, (16, 16, 8), (3, 3), 1, (1, 1), 2, (16, 16, 8)),
    layer("atto g16 3x3 16->16", Atto, 1, (16, 16, 16), (3, 3), 1, (1, 1), 16, (16, 16, 16)),
    layer("atto-a 1x1 8->4", Atto, 1, (32, 32, 8), (1, 1), 1, (0, 0), 1, (32, 32, 4)),
    layer("atto-a g4 3x3 4->4", Atto, 1, (32, 32, 4), (3, 3), 1, (1, 1), 4, (32, 32, 4)),
    layer("atto-a 1x1 4->4", Atto, 1, (32, 32, 4), (1, 1), 1, (0, 0), 1, (32, 32, 4)),
    layer("atto-a 1x1 4->8", Atto, 1, (32, 32, 4), (1, 1), 1, (0, 0), 1, (32, 32, 8)),
    layer("atto-a g4 3x3 s2 12->12", Atto, 1, (32, 32, 12), (3, 3), 2, (0, 0), 4, (16, 16, 12)),
    layer("atto-a 1x1 12->12", Atto, 1, (16, 16, 12), (1, 1), 1, (0, 0), 1, (16, 16, 12)),
    layer("atto-a g4 3x3 28->28", Atto, 1, (8, 8, 28), (3, 3), 1, (1, 1), 4, (8, 8, 28)),
    layer("atto-a 1x1 28->56", Atto, 1, (8, 8, 28), (1, 1), 1, (0, 0), 1, (8, 8, 56)),
    layer("atto-a stem 3x3 3->8", Atto, 1, (32, 32, 3), (3, 3), 1, (1, 1), 1, (32, 32, 8)),
    // One row of a fused block (a kernel call per row): per-call costs.
    layer("atto-a row g4 3x3 s2 12->12", Atto, 1, (3, 32, 12), (3, 3), 2, (0, 0), 4, (1, 16, 12)),
    layer("atto-a row 1x1 12->24", Atto, 1, (1, 16, 12), (1, 1), 1, (0, 0), 1, (1, 16, 24)),
    layer("atto-a row 1x1 8->12", Atto, 1, (1, 32, 8), (1, 1), 1, (0, 0), 1, (1, 32, 12)),
    layer("atto-a row 1x1 s2 8->24", Atto, 1, (1, 32, 8), (1, 1), 2, (0, 0), 1, (1, 16, 24)),
    Layer {
        depthwise: true,
        ..layer("atto-a row dw 3x3 4", Atto, 1, (3, 32, 4), (3, 3), 1, (0, 1), 4, (1, 32, 4))
    },
];

/// MACs of the whole models (MLPerf Tiny's figures).
const RESNET8_MACS: u64 = 12_501_632;
const KWS_MACS: u64 = 2_656_768;

/// `x / y` with two decimals, as text pieces.
fn per(x: u64, y: u64) -> (u64, u64) {
    let v = (x * 100 + y / 2) / y.max(1);
    (v / 100, v % 100)
}

fn row(name: &str, n: u64, t_ref: u64, t_fast: u64, kernel: &str) {
    let (pr, pr2) = per(t_ref, n);
    let (pf, pf2) = per(t_fast, n);
    let x = (t_ref * 10 + t_fast / 2) / t_fast.max(1);
    println!(
        "{:<26} {:>9} {:>11} {:>3}.{:02} {:>10} {:>3}.{:02} {:>4}.{}  {}",
        name,
        n,
        t_ref,
        pr,
        pr2,
        t_fast,
        pf,
        pf2,
        x / 10,
        x % 10,
        kernel
    );
}

/// Runs the layers both ways; returns whether every output matched.
fn bench(b: &mut Bufs, rng: &mut Rng) -> bool {
    println!(
        "{:<26} {:>9} {:>11} {:>6} {:>10} {:>6} {:>6}  kernel",
        "layer", "MACs", "portable", "/MAC", "fast", "/MAC", "x"
    );
    let mut all_equal = true;
    // Instructions of the whole models' convolutions and ADDs (each layer
    // times its count): (portable, fast, MACs).
    let mut resnet = (0u64, 0u64, 0u64);
    let mut kws = (0u64, 0u64, 0u64);
    #[cfg(feature = "profile")]
    let layers = {
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
            pad_top: l.pad_top,
            pad_left: l.pad_left,
        };
        let outs = l.out;
        let cpg = if l.depthwise { 1 } else { l.ins.c / l.groups };
        let filter_len = outs.c as usize * l.kh as usize * l.kw as usize * cpg as usize;
        let macs = outs.len() as u64 * l.kh as u64 * l.kw as u64 * cpg as u64;
        // Activations after a ReLU: zero point -128, the clamp its range.
        let quant = ConvQuant {
            input_zero_point: -128,
            output_zero_point: -128,
            clamp: Clamp {
                min: -128,
                max: 127,
            },
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
        // `profile`: the fast path alone (the portable run is skipped and
        // its output copied, so the comparison below still passes).
        let profile = cfg!(feature = "profile");
        let (r1, t_ref, r2, t_fast, path);
        if l.depthwise {
            let p = DepthwiseParams {
                window: win,
                depth_multiplier: 1,
                quant,
            };
            path = portable::depthwise_fast_path(&p, outs);
            (r1, t_ref) = if profile {
                (Ok(()), 0)
            } else {
                count(|| {
                    portable::depthwise_conv_s8(
                        &p,
                        l.ins,
                        input,
                        &w,
                        outs,
                        &mut b.out_ref[..outs.len()],
                    )
                })
            };
            (r2, t_fast) = count(|| {
                depthwise_conv_s8(&p, l.ins, input, &w, outs, &mut b.out_fast[..outs.len()])
            });
        } else {
            let p = ConvParams {
                window: win,
                groups: l.groups,
                quant,
            };
            path = portable::conv_fast_path(&p, l.ins, outs);
            (r1, t_ref) = if profile {
                (Ok(()), 0)
            } else {
                count(|| {
                    portable::convolve_s8(&p, l.ins, input, &w, outs, &mut b.out_ref[..outs.len()])
                })
            };
            (r2, t_fast) =
                count(|| convolve_s8(&p, l.ins, input, &w, outs, &mut b.out_fast[..outs.len()]));
        }
        if profile {
            b.out_ref[..outs.len()].copy_from_slice(&b.out_fast[..outs.len()]);
        }
        all_equal &= r1.is_ok() && r2.is_ok();
        all_equal &= b.out_ref[..outs.len()] == b.out_fast[..outs.len()];
        row(l.name, macs, t_ref, t_fast, path.unwrap_or("portable"));
        let n = l.count as u64;
        let sum = match l.model {
            ResNet8 => Some(&mut resnet),
            Kws => Some(&mut kws),
            Atto => None,
        };
        if let Some(s) = sum {
            s.0 += n * t_ref;
            s.1 += n * t_fast;
            s.2 += n * macs;
        }
    }
    // The three residual ADDs of ResNet-8 (32x32x16, 16x16x32, 8x8x64), in
    // place as the plan runs them.
    #[cfg(feature = "profile")]
    let adds: [(&str, usize); 0] = [];
    #[cfg(not(feature = "profile"))]
    let adds = [
        ("resnet8 add 32x32x16", 16384usize),
        ("resnet8 add 16x16x32", 8192),
        ("resnet8 add 8x8x64", 4096),
    ];
    for (name, n) in adds {
        let p = AddParams {
            input1_zero_point: -3,
            input2_zero_point: 9,
            output_zero_point: -20,
            left_shift: 20,
            input1_multiplier: 1_610_612_736,
            input1_shift: -1,
            input2_multiplier: 1_932_735_283,
            input2_shift: -2,
            output_multiplier: 1_288_490_189,
            output_shift: -18,
            clamp: Clamp { min: -20, max: 127 },
        };
        rng.fill(&mut b.input[..n]);
        rng.fill(&mut b.filter[..n]);
        b.out_ref[..n].copy_from_slice(&b.input[..n]);
        b.out_fast[..n].copy_from_slice(&b.input[..n]);
        let (r1, t_ref) =
            count(|| portable::add_s8_in_place(&p, &mut b.out_ref[..n], &b.filter[..n]));
        let (r2, t_fast) = count(|| add_s8_in_place(&p, &mut b.out_fast[..n], &b.filter[..n]));
        all_equal &= r1.is_ok() && r2.is_ok() && b.out_ref[..n] == b.out_fast[..n];
        row(name, n as u64, t_ref, t_fast, "riscv-add (per element)");
        resnet.0 += t_ref;
        resnet.1 += t_fast;
    }
    println!();
    for (name, (t_ref, t_fast, macs), model_macs) in
        [("resnet8", resnet, RESNET8_MACS), ("kws", kws, KWS_MACS)]
    {
        let (pr, pr2) = per(t_ref, model_macs);
        let (pf, pf2) = per(t_fast, model_macs);
        println!(
            "{name}: convolutions{} ({macs} of {model_macs} MACs): portable {t_ref} ({pr}.{pr2:02}/MAC), fast {t_fast} ({pf}.{pf2:02}/MAC)",
            if name == "resnet8" { " and ADDs" } else { "" }
        );
    }
    all_equal
}

static mut BUFS: Bufs = Bufs::new();

#[entry]
fn main() -> ! {
    let bufs = &raw mut BUFS;
    // SAFETY: `main` runs once, on the only hart, with interrupts disabled,
    // and is the only code that names BUFS: this is the only reference.
    let b: &mut Bufs = unsafe { &mut *bufs };
    println!(
        "attonet qemu-kernels-riscv on QEMU virt, {} (RISC-V kernels: {}); minstret under -icount shift=0",
        if cfg!(target_feature = "a") {
            "rv32imac"
        } else {
            "rv32imc"
        },
        if portable::RISCV { "on" } else { "off" },
    );
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut total = 0;
    #[cfg(feature = "profile")]
    {
        let _ = bench(b, &mut rng);
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
            "convolve_s8 long windows",
            5,
            convolve_s8,
            portable::convolve_s8,
        ),
        (
            "pointwise_conv_s8 many channels",
            6,
            pointwise::pointwise_conv_s8,
            portable::pointwise_conv_s8,
        ),
    ];
    for (name, family, fast, reference) in families {
        let (n, covered) = conv_family(b, &mut rng, family, fast, reference, name);
        println!("ok {name}: {n} random cases bit-identical ({covered} on a fast path)");
        total += n;
    }
    let (n, covered) = depthwise_family(b, &mut rng);
    println!("ok depthwise_conv_s8: {n} random cases bit-identical ({covered} on a fast path)");
    total += n;
    let n = add_family(b, &mut rng, CASES);
    println!("ok add_s8, add_s8_in_place: {n} random cases bit-identical");
    total += n;

    println!();
    let equal = bench(b, &mut rng);
    if !equal {
        println!("MISMATCH in a benchmark layer");
        process::exit(1);
    }
    println!("\n{total} passed, 0 failed");
    process::exit(0)
}
