//! Property tests of the int8 kernels against plain reference implementations.
//!
//! The references below are written naively and independently from the
//! TensorFlow Lite (Micro) reference kernels' formulas: the loops follow
//! `reference_integer_ops::{ConvPerChannel, DepthwiseConvPerChannel,
//! FullyConnected, AddElementwise, AveragePool, MaxPool}` literally, with
//! `i64` accumulators, and the fixed-point rounding (`ref_srdhm`, `ref_rdbp`,
//! `ref_requantize`) is re-derived here with different arithmetic instead of
//! calling `attonet_runtime::quant`. Softmax is checked against exact values
//! produced by TFLite's own C++ reference code (gemmlowp `fixedpoint.h`),
//! against a double-precision softmax (within 1 LSB) and for sanity.
//!
//! Random data comes from a small seeded generator driven by proptest seeds;
//! the structural parameters (kernel size, strides, dilations, group layout,
//! padding mode) are proptest arguments so failures shrink on them.

use attonet_runtime::ops::add::{add_s8, add_s8_in_place, AddParams};
use attonet_runtime::ops::conv::conv2d_s8;
use attonet_runtime::ops::depthwise::{depthwise_conv_s8, DepthwiseParams};
use attonet_runtime::ops::fully_connected::{fully_connected_s8, FullyConnectedParams};
use attonet_runtime::ops::grouped_conv3x3::grouped_conv3x3_s8;
use attonet_runtime::ops::pointwise::pointwise_conv_s8;
use attonet_runtime::ops::pointwise_pair::pointwise_pair_s8;
use attonet_runtime::ops::pool::{
    average_pool_s8, global_average_pool_s8, max_pool_s8, PoolParams,
};
use attonet_runtime::ops::softmax::{softmax_s8, SoftmaxParams};
use attonet_runtime::ops::{
    convolve_s8, ConvKernel, ConvParams, ConvQuant, ConvWeights, Shape, Window,
};
use attonet_runtime::quant::Clamp;
use attonet_runtime::{Error, ErrorKind};
use proptest::prelude::*;

const CASES: u32 = 192;

/// Proptest settings: a modest case count (`PROPTEST_CASES` overrides it for
/// a soak run), and no regression files written into the source tree (a
/// failure prints its seed and case instead).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ===========================================================================
// Seeded data generator.
// ===========================================================================

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// splitmix64
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi);
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }

    fn usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next() % one_in == 0
    }

    /// An `i8` buffer: random, all -128, all 127, or random extremes.
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        let mode = self.next() % 6;
        (0..n)
            .map(|_| match mode {
                0 => i8::MIN,
                1 => i8::MAX,
                2 => {
                    if self.next() & 1 == 0 {
                        i8::MIN
                    } else {
                        i8::MAX
                    }
                }
                _ => self.next() as i8,
            })
            .collect()
    }

    fn zero_point(&mut self) -> i32 {
        match self.next() % 5 {
            0 => -128,
            1 => 127,
            _ => self.range(-128, 127) as i32,
        }
    }

    fn bias(&mut self) -> i32 {
        if self.chance(8) {
            self.next() as i32
        } else {
            self.range(-(1 << 20), 1 << 20) as i32
        }
    }

    /// A Q31 multiplier as `QuantizeMultiplier` makes them (`[2^30, 2^31)`),
    /// or now and then any `i32`.
    fn multiplier(&mut self) -> i32 {
        if self.chance(8) {
            self.next() as i32
        } else {
            self.range(1 << 30, i32::MAX as i64) as i32
        }
    }

    fn shift(&mut self) -> i32 {
        if self.chance(6) {
            self.range(-31, 30) as i32
        } else {
            self.range(-14, 1) as i32
        }
    }

    fn clamp(&mut self) -> Clamp {
        if self.chance(2) {
            Clamp::NONE
        } else {
            let a = self.next() as i8;
            let b = self.next() as i8;
            Clamp {
                min: a.min(b),
                max: a.max(b),
            }
        }
    }
}

// ===========================================================================
// Independent fixed-point reference.
// ===========================================================================

/// `SaturatingRoundingDoublingHighMul`: `floor((a * b + 2^30) / 2^31)`, i.e.
/// round-half-up of `a * b / 2^31`, saturating `MIN * MIN`.
fn ref_srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// `RoundingDivideByPOT`: `x / 2^e` rounded half away from zero.
fn ref_rdbp(x: i32, e: i32) -> i32 {
    assert!((0..=31).contains(&e));
    if e == 0 {
        return x;
    }
    let x = x as i64;
    let half = 1i64 << (e - 1);
    let r = if x >= 0 {
        (x + half) >> e
    } else {
        -((-x + half) >> e)
    };
    r as i32
}

/// `MultiplyByQuantizedMultiplier` (TFLite's double-rounding form).
fn ref_requantize(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    ref_rdbp(ref_srdhm(x.wrapping_mul(1i32 << left), m), right)
}

fn ref_clamp(v: i64, c: Clamp) -> i8 {
    v.max(c.min as i64).min(c.max as i64) as i8
}

/// `out = clamp(requantize(acc, m, s) + zp)` with the reference's wrapping
/// `int32` accumulator.
fn ref_epilogue(acc: i64, m: i32, s: i32, ozp: i32, c: Clamp) -> i8 {
    let v = ref_requantize(acc as i32, m, s) as i64 + ozp as i64;
    // int32 `acc += output_offset` wraps in the C code.
    ref_clamp(v as i32 as i64, c)
}

#[test]
fn reference_fixed_point_matches_crate_quant() {
    use attonet_runtime::quant;
    let mut rng = Rng::new(7);
    for _ in 0..200_000 {
        let a = rng.next() as i32;
        let b = if rng.chance(4) {
            i32::MIN
        } else {
            rng.next() as i32
        };
        assert_eq!(
            ref_srdhm(a, b),
            quant::saturating_rounding_doubling_high_mul(a, b)
        );
        let e = rng.range(0, 31) as i32;
        assert_eq!(ref_rdbp(a, e), quant::rounding_divide_by_pot(a, e));
        let s = rng.range(-31, 30) as i32;
        assert_eq!(ref_requantize(a, b, s), quant::requantize(a, b, s));
    }
    assert_eq!(ref_srdhm(i32::MIN, i32::MIN), i32::MAX);
    // -1.5 rounds up (toward +inf) to -1, +1.5 to 2.
    assert_eq!(ref_srdhm(3, -(1 << 30)), -1);
    assert_eq!(ref_srdhm(3, 1 << 30), 2);
    assert_eq!(ref_rdbp(-6, 2), -2);
    assert_eq!(ref_rdbp(-5, 1), -3);
}

// ===========================================================================
// Reference kernels (literal TFLite loops, i64 accumulators).
// ===========================================================================

#[allow(clippy::too_many_arguments)]
fn ref_conv(
    p: &ConvParams,
    ins: Shape,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
    outs: Shape,
) -> Vec<i8> {
    let w = &p.window;
    let (ih, iw, ic) = (ins.h as i64, ins.w as i64, ins.c as usize);
    let (oh, ow, oc_n) = (outs.h as usize, outs.w as usize, outs.c as usize);
    let (kh, kw) = (w.kh as usize, w.kw as usize);
    let groups = p.groups as usize;
    let cpg = ic / groups;
    let ocpg = oc_n / groups;
    let mut out = vec![0i8; oh * ow * oc_n];
    for oy in 0..oh {
        for ox in 0..ow {
            for oc in 0..oc_n {
                let g = oc / ocpg;
                let y0 = oy as i64 * w.stride_h as i64 - w.pad_top as i64;
                let x0 = ox as i64 * w.stride_w as i64 - w.pad_left as i64;
                let mut acc: i64 = 0;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let y = y0 + ky as i64 * w.dilation_h as i64;
                        let x = x0 + kx as i64 * w.dilation_w as i64;
                        if y < 0 || y >= ih || x < 0 || x >= iw {
                            continue;
                        }
                        for ci in 0..cpg {
                            let xv = input[((y * iw + x) as usize) * ic + g * cpg + ci] as i64;
                            let wv = filter[((oc * kh + ky) * kw + kx) * cpg + ci] as i64;
                            acc += wv * (xv - p.quant.input_zero_point as i64);
                        }
                    }
                }
                acc += bias[oc] as i64;
                out[(oy * ow + ox) * oc_n + oc] = ref_epilogue(
                    acc,
                    mult[oc],
                    shift[oc],
                    p.quant.output_zero_point,
                    p.quant.clamp,
                );
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn ref_depthwise(
    p: &DepthwiseParams,
    ins: Shape,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
    outs: Shape,
) -> Vec<i8> {
    let w = &p.window;
    let (ih, iw, ic) = (ins.h as i64, ins.w as i64, ins.c as usize);
    let (oh, ow, oc_n) = (outs.h as usize, outs.w as usize, outs.c as usize);
    let dm = p.depth_multiplier as usize;
    let (kh, kw) = (w.kh as usize, w.kw as usize);
    let mut out = vec![0i8; oh * ow * oc_n];
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..ic {
                for m in 0..dm {
                    let oc = m + c * dm;
                    let y0 = oy as i64 * w.stride_h as i64 - w.pad_top as i64;
                    let x0 = ox as i64 * w.stride_w as i64 - w.pad_left as i64;
                    let mut acc: i64 = 0;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let y = y0 + ky as i64 * w.dilation_h as i64;
                            let x = x0 + kx as i64 * w.dilation_w as i64;
                            if y < 0 || y >= ih || x < 0 || x >= iw {
                                continue;
                            }
                            let xv = input[((y * iw + x) as usize) * ic + c] as i64;
                            let wv = filter[(ky * kw + kx) * oc_n + oc] as i64;
                            acc += wv * (xv - p.quant.input_zero_point as i64);
                        }
                    }
                    acc += bias[oc] as i64;
                    out[(oy * ow + ox) * oc_n + oc] = ref_epilogue(
                        acc,
                        mult[oc],
                        shift[oc],
                        p.quant.output_zero_point,
                        p.quant.clamp,
                    );
                }
            }
        }
    }
    out
}

fn ref_fully_connected(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
) -> Vec<i8> {
    let (n_in, n_out) = (p.in_features as usize, p.out_features as usize);
    let batches = input.len() / n_in;
    let mut out = vec![0i8; batches * n_out];
    for b in 0..batches {
        for o in 0..n_out {
            let mut acc: i64 = 0;
            for d in 0..n_in {
                let x = input[b * n_in + d] as i64 - p.input_zero_point as i64;
                let w = filter[o * n_in + d] as i64 - p.filter_zero_point as i64;
                acc += w * x;
            }
            acc += bias[o] as i64;
            let t = if mult.len() == 1 { 0 } else { o };
            out[b * n_out + o] = ref_epilogue(acc, mult[t], shift[t], p.output_zero_point, p.clamp);
        }
    }
    out
}

fn ref_add(p: &AddParams, a: &[i8], b: &[i8]) -> Vec<i8> {
    a.iter()
        .zip(b)
        .map(|(&x1, &x2)| {
            let v1 = (x1 as i32 - p.input1_zero_point) * (1 << p.left_shift);
            let v2 = (x2 as i32 - p.input2_zero_point) * (1 << p.left_shift);
            let s1 = ref_rdbp(ref_srdhm(v1, p.input1_multiplier), -p.input1_shift);
            let s2 = ref_rdbp(ref_srdhm(v2, p.input2_multiplier), -p.input2_shift);
            let raw = ref_rdbp(ref_srdhm(s1 + s2, p.output_multiplier), -p.output_shift) as i64
                + p.output_zero_point as i64;
            ref_clamp(raw, p.clamp)
        })
        .collect()
}

/// `None` where TFLite's AveragePool fails (a window with no taps).
fn ref_pool(p: &PoolParams, ins: Shape, input: &[i8], outs: Shape, avg: bool) -> Option<Vec<i8>> {
    let w = &p.window;
    let (ih, iw, c) = (ins.h as i64, ins.w as i64, ins.c as usize);
    let (oh, ow) = (outs.h as usize, outs.w as usize);
    let mut out = vec![0i8; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let y0 = oy as i64 * w.stride_h as i64 - w.pad_top as i64;
                let x0 = ox as i64 * w.stride_w as i64 - w.pad_left as i64;
                let (mut sum, mut count, mut max) = (0i64, 0i64, i8::MIN as i64);
                for ky in 0..w.kh as i64 {
                    for kx in 0..w.kw as i64 {
                        let (y, x) = (y0 + ky, x0 + kx);
                        if y < 0 || y >= ih || x < 0 || x >= iw {
                            continue;
                        }
                        let v = input[((y * iw + x) as usize) * c + ch] as i64;
                        sum += v;
                        count += 1;
                        max = max.max(v);
                    }
                }
                let v = if avg {
                    if count == 0 {
                        return None;
                    }
                    if sum > 0 {
                        (sum + count / 2) / count
                    } else {
                        (sum - count / 2) / count
                    }
                } else {
                    max
                };
                out[(oy * ow + ox) * c + ch] = ref_clamp(v, p.clamp);
            }
        }
    }
    Some(out)
}

// ===========================================================================
// Case generation.
// ===========================================================================

/// The signature the pooling kernels share.
type PoolFn = fn(&PoolParams, Shape, &[i8], Shape, &mut [i8]) -> attonet_runtime::Result;

/// The signature the convolution kernels share.
type ConvFn =
    fn(&ConvParams, Shape, &[i8], &ConvWeights<'_>, Shape, &mut [i8]) -> attonet_runtime::Result;

#[derive(Debug, Clone)]
struct ConvCase {
    p: ConvParams,
    ins: Shape,
    outs: Shape,
    input: Vec<i8>,
    filter: Vec<i8>,
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
}

impl ConvCase {
    fn weights(&self) -> ConvWeights<'_> {
        ConvWeights {
            filter: &self.filter,
            bias: &self.bias,
            multiplier: &self.mult,
            shift: &self.shift,
        }
    }

    fn reference(&self) -> Vec<i8> {
        ref_conv(
            &self.p,
            self.ins,
            &self.input,
            &self.filter,
            &self.bias,
            &self.mult,
            &self.shift,
            self.outs,
        )
    }
}

/// Output extent and padding along one axis: VALID, SAME, or random.
fn axis_geometry(
    rng: &mut Rng,
    mode: u8,
    input: usize,
    k: usize,
    stride: usize,
    dil: usize,
) -> (usize, usize) {
    let eff = (k - 1) * dil + 1;
    match mode {
        0 => {
            let out = if input >= eff {
                (input - eff) / stride + 1
            } else {
                1
            };
            (out, 0)
        }
        1 => {
            let out = input.div_ceil(stride);
            let need = ((out - 1) * stride + eff) as i64 - input as i64;
            (out, (need.max(0) / 2) as usize)
        }
        _ => (rng.usize(1, input + 2), rng.usize(0, eff.min(6))),
    }
}

#[derive(Debug, Clone, Copy)]
struct Geo {
    kh: u8,
    kw: u8,
    sh: u8,
    sw: u8,
    dh: u8,
    dw: u8,
    pad_mode: u8,
}

/// `groups_sel`: 0 one group, 1 two groups, 2 random, 3 depthwise-like
/// (one input channel per group).
fn conv_case(seed: u64, g: Geo, groups_sel: u8) -> ConvCase {
    let mut rng = Rng::new(seed);
    let (groups, cpg, ocpg) = match groups_sel {
        0 => (1, rng.usize(1, 12), rng.usize(1, 8)),
        // Now and then enough channels per group that a 3x3 window exceeds
        // the kernels' 256-entry gathered patch.
        1 if rng.chance(4) => (2, rng.usize(29, 40), rng.usize(1, 3)),
        1 => (2, rng.usize(1, 5), rng.usize(1, 4)),
        2 => (rng.usize(1, 4), rng.usize(1, 4), rng.usize(1, 4)),
        // Depthwise-like; sometimes more than one 32-channel block.
        _ if rng.chance(4) => (rng.usize(30, 45), 1, rng.usize(1, 2)),
        _ => (rng.usize(1, 8), 1, rng.usize(1, 3)),
    };
    let (ic, oc) = (groups * cpg, groups * ocpg);
    let (ih, iw) = (rng.usize(1, 9), rng.usize(1, 9));
    let (oh, pt) = axis_geometry(
        &mut rng,
        g.pad_mode,
        ih,
        g.kh as usize,
        g.sh as usize,
        g.dh as usize,
    );
    let (ow, pl) = axis_geometry(
        &mut rng,
        g.pad_mode,
        iw,
        g.kw as usize,
        g.sw as usize,
        g.dw as usize,
    );
    let p = ConvParams {
        window: Window {
            kh: g.kh,
            kw: g.kw,
            stride_h: g.sh,
            stride_w: g.sw,
            dilation_h: g.dh,
            dilation_w: g.dw,
            pad_top: pt as u8,
            pad_left: pl as u8,
        },
        groups: groups as u16,
        quant: ConvQuant {
            input_zero_point: rng.zero_point(),
            output_zero_point: rng.zero_point(),
            clamp: rng.clamp(),
        },
    };
    let ins = Shape::new(ih as u16, iw as u16, ic as u16);
    let outs = Shape::new(oh as u16, ow as u16, oc as u16);
    let input = rng.i8s(ins.len());
    let filter = rng.i8s(oc * g.kh as usize * g.kw as usize * cpg);
    let bias = (0..oc).map(|_| rng.bias()).collect();
    let mult = (0..oc).map(|_| rng.multiplier()).collect();
    let shift = (0..oc).map(|_| rng.shift()).collect();
    ConvCase {
        p,
        ins,
        outs,
        input,
        filter,
        bias,
        mult,
        shift,
    }
}

fn run_conv(f: ConvFn, c: &ConvCase) -> Vec<i8> {
    let mut out = vec![0x55i8; c.outs.len()];
    f(&c.p, c.ins, &c.input, &c.weights(), c.outs, &mut out).expect("kernel accepted the case");
    out
}

#[derive(Debug, Clone)]
struct DwCase {
    p: DepthwiseParams,
    ins: Shape,
    outs: Shape,
    input: Vec<i8>,
    filter: Vec<i8>,
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
}

impl DwCase {
    fn weights(&self) -> ConvWeights<'_> {
        ConvWeights {
            filter: &self.filter,
            bias: &self.bias,
            multiplier: &self.mult,
            shift: &self.shift,
        }
    }
}

fn dw_case(seed: u64, g: Geo, dm: u16) -> DwCase {
    let mut rng = Rng::new(seed);
    // Sometimes more channels than one 32-wide accumulator block.
    let ic = if rng.chance(4) {
        rng.usize(30, 70)
    } else {
        rng.usize(1, 10)
    };
    let oc = ic * dm as usize;
    let (ih, iw) = (rng.usize(1, 9), rng.usize(1, 9));
    let (oh, pt) = axis_geometry(
        &mut rng,
        g.pad_mode,
        ih,
        g.kh as usize,
        g.sh as usize,
        g.dh as usize,
    );
    let (ow, pl) = axis_geometry(
        &mut rng,
        g.pad_mode,
        iw,
        g.kw as usize,
        g.sw as usize,
        g.dw as usize,
    );
    let p = DepthwiseParams {
        window: Window {
            kh: g.kh,
            kw: g.kw,
            stride_h: g.sh,
            stride_w: g.sw,
            dilation_h: g.dh,
            dilation_w: g.dw,
            pad_top: pt as u8,
            pad_left: pl as u8,
        },
        depth_multiplier: dm,
        quant: ConvQuant {
            input_zero_point: rng.zero_point(),
            output_zero_point: rng.zero_point(),
            clamp: rng.clamp(),
        },
    };
    let ins = Shape::new(ih as u16, iw as u16, ic as u16);
    let outs = Shape::new(oh as u16, ow as u16, oc as u16);
    DwCase {
        p,
        ins,
        outs,
        input: rng.i8s(ins.len()),
        filter: rng.i8s(g.kh as usize * g.kw as usize * oc),
        bias: (0..oc).map(|_| rng.bias()).collect(),
        mult: (0..oc).map(|_| rng.multiplier()).collect(),
        shift: (0..oc).map(|_| rng.shift()).collect(),
    }
}

fn geo() -> impl Strategy<Value = Geo> {
    (1u8..=5, 1u8..=5, 1u8..=3, 1u8..=3, 1u8..=3, 1u8..=3, 0u8..3).prop_map(
        |(kh, kw, sh, sw, dh, dw, pad_mode)| Geo {
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            pad_mode,
        },
    )
}

fn geo3x3() -> impl Strategy<Value = Geo> {
    (1u8..=3, 1u8..=3, 0u8..3).prop_map(|(sh, sw, pad_mode)| Geo {
        kh: 3,
        kw: 3,
        sh,
        sw,
        dh: 1,
        dw: 1,
        pad_mode,
    })
}

fn geo1x1() -> impl Strategy<Value = Geo> {
    (1u8..=3, 1u8..=3, prop_oneof![Just(0u8), Just(2u8)]).prop_map(|(sh, sw, pad_mode)| Geo {
        kh: 1,
        kw: 1,
        sh,
        sw,
        dh: 1,
        dw: 1,
        pad_mode,
    })
}

// ===========================================================================
// Convolutions.
// ===========================================================================

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn conv2d_matches_reference(seed in any::<u64>(), g in geo(), groups_sel in 0u8..4) {
        let c = conv_case(seed, g, groups_sel);
        let got = run_conv(conv2d_s8, &c);
        prop_assert_eq!(got.clone(), c.reference(), "{:?}", c);
        // The dispatcher picks some kernel; all of them agree with conv2d.
        prop_assert_eq!(run_conv(convolve_s8, &c), got);
    }

    #[test]
    fn grouped_conv3x3_matches_conv2d(seed in any::<u64>(), g in geo3x3(), groups_sel in 0u8..4) {
        let c = conv_case(seed, g, groups_sel);
        let got = run_conv(grouped_conv3x3_s8, &c);
        prop_assert_eq!(got.clone(), run_conv(conv2d_s8, &c));
        prop_assert_eq!(got, c.reference());
    }

    #[test]
    fn pointwise_matches_conv2d(seed in any::<u64>(), g in geo1x1()) {
        let mut c = conv_case(seed, g, 0);
        c.p.window.pad_top = 0;
        c.p.window.pad_left = 0;
        prop_assert_eq!(ConvKernel::select(&c.p), ConvKernel::Pointwise);
        let got = run_conv(pointwise_conv_s8, &c);
        prop_assert_eq!(got.clone(), run_conv(conv2d_s8, &c));
        prop_assert_eq!(got, c.reference());
    }

    #[test]
    fn depthwise_matches_reference(seed in any::<u64>(), g in geo(), dm in 1u16..=3) {
        let c = dw_case(seed, g, dm);
        let mut got = vec![0x55i8; c.outs.len()];
        depthwise_conv_s8(&c.p, c.ins, &c.input, &c.weights(), c.outs, &mut got).unwrap();
        let want = ref_depthwise(&c.p, c.ins, &c.input, &c.filter, &c.bias, &c.mult, &c.shift, c.outs);
        prop_assert_eq!(got, want);
    }

    /// A depthwise convolution is a grouped convolution with `groups = in_c`
    /// once its `[kh][kw][out_c]` weights are transposed to `[out_c][kh][kw][1]`.
    #[test]
    fn depthwise_equals_grouped_conv(seed in any::<u64>(), g in geo(), dm in 1u16..=3) {
        let c = dw_case(seed, g, dm);
        let mut got = vec![0i8; c.outs.len()];
        depthwise_conv_s8(&c.p, c.ins, &c.input, &c.weights(), c.outs, &mut got).unwrap();
        let (taps, oc) = (g.kh as usize * g.kw as usize, c.outs.c as usize);
        let mut ohwi = vec![0i8; c.filter.len()];
        for o in 0..oc {
            for t in 0..taps {
                ohwi[o * taps + t] = c.filter[t * oc + o];
            }
        }
        let cp = ConvParams { window: c.p.window, groups: c.ins.c, quant: c.p.quant };
        let w = ConvWeights { filter: &ohwi, bias: &c.bias, multiplier: &c.mult, shift: &c.shift };
        let mut want = vec![0i8; c.outs.len()];
        conv2d_s8(&cp, c.ins, &c.input, &w, c.outs, &mut want).unwrap();
        prop_assert_eq!(got, want);
    }

    /// The fused pair equals two pointwise convolutions run back to back.
    #[test]
    fn pointwise_pair_equals_two_pointwise(seed in any::<u64>(), extra_scratch in 0usize..4) {
        let mut rng = Rng::new(seed);
        let (h, w) = (rng.usize(1, 6), rng.usize(1, 6));
        let (ic, mc, oc) = (rng.usize(1, 24), rng.usize(1, 40), rng.usize(1, 24));
        let mk = |rng: &mut Rng, inc: usize, outc: usize| {
            (
                rng.i8s(inc * outc),
                (0..outc).map(|_| rng.bias()).collect::<Vec<_>>(),
                (0..outc).map(|_| rng.multiplier()).collect::<Vec<_>>(),
                (0..outc).map(|_| rng.shift()).collect::<Vec<_>>(),
            )
        };
        let (f1, b1, m1, s1) = mk(&mut rng, ic, mc);
        let (f2, b2, m2, s2) = mk(&mut rng, mc, oc);
        let mid_zp = rng.zero_point();
        let q1 = ConvQuant { input_zero_point: rng.zero_point(), output_zero_point: mid_zp, clamp: rng.clamp() };
        let q2 = ConvQuant { input_zero_point: mid_zp, output_zero_point: rng.zero_point(), clamp: rng.clamp() };
        let w1 = ConvWeights { filter: &f1, bias: &b1, multiplier: &m1, shift: &s1 };
        let w2 = ConvWeights { filter: &f2, bias: &b2, multiplier: &m2, shift: &s2 };
        let ins = Shape::new(h as u16, w as u16, ic as u16);
        let mids = Shape::new(h as u16, w as u16, mc as u16);
        let outs = Shape::new(h as u16, w as u16, oc as u16);
        let input = rng.i8s(ins.len());

        let mut scratch = vec![0i8; mc + extra_scratch];
        let mut fused = vec![0i8; outs.len()];
        pointwise_pair_s8(&q1, &w1, &q2, &w2, ins, &input, mc as u16, &mut scratch, outs, &mut fused).unwrap();

        let unit = Window { kh: 1, kw: 1, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0 };
        let p1 = ConvParams { window: unit, groups: 1, quant: q1 };
        let p2 = ConvParams { window: unit, groups: 1, quant: q2 };
        let mut mid = vec![0i8; mids.len()];
        pointwise_conv_s8(&p1, ins, &input, &w1, mids, &mut mid).unwrap();
        let mut seq = vec![0i8; outs.len()];
        pointwise_conv_s8(&p2, mids, &mid, &w2, outs, &mut seq).unwrap();
        prop_assert_eq!(&fused, &seq);
        let want_mid = ref_conv(&p1, ins, &input, &f1, &b1, &m1, &s1, mids);
        prop_assert_eq!(&mid, &want_mid);
        prop_assert_eq!(fused, ref_conv(&p2, mids, &want_mid, &f2, &b2, &m2, &s2, outs));
    }
}

// ===========================================================================
// Fully connected, add, pooling.
// ===========================================================================

fn add_params(rng: &mut Rng) -> AddParams {
    // Usually as TFLite prepares it (left shift 20, multipliers below one),
    // sometimes anything in range.
    let realistic = !rng.chance(4);
    let sh = |rng: &mut Rng| {
        if realistic {
            rng.range(-12, 0) as i32
        } else {
            rng.range(-31, 0) as i32
        }
    };
    AddParams {
        input1_zero_point: rng.zero_point(),
        input2_zero_point: rng.zero_point(),
        output_zero_point: rng.zero_point(),
        left_shift: if realistic {
            20
        } else {
            rng.range(0, 22) as i32
        },
        input1_multiplier: rng.multiplier(),
        input1_shift: sh(rng),
        input2_multiplier: rng.multiplier(),
        input2_shift: sh(rng),
        output_multiplier: rng.multiplier(),
        output_shift: sh(rng),
        clamp: rng.clamp(),
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn fully_connected_matches_reference(seed in any::<u64>(), per_channel in any::<bool>(), batches in 1usize..=3) {
        let mut rng = Rng::new(seed);
        let (n_in, n_out) = (rng.usize(1, 80), rng.usize(1, 20));
        let tables = if per_channel { n_out } else { 1 };
        let p = FullyConnectedParams {
            in_features: n_in as u16,
            out_features: n_out as u16,
            input_zero_point: rng.zero_point(),
            filter_zero_point: if rng.chance(2) { 0 } else { rng.zero_point() },
            output_zero_point: rng.zero_point(),
            clamp: rng.clamp(),
        };
        let input = rng.i8s(batches * n_in);
        let filter = rng.i8s(n_out * n_in);
        let bias: Vec<i32> = (0..n_out).map(|_| rng.bias()).collect();
        let mult: Vec<i32> = (0..tables).map(|_| rng.multiplier()).collect();
        let shift: Vec<i32> = (0..tables).map(|_| rng.shift()).collect();
        let w = ConvWeights { filter: &filter, bias: &bias, multiplier: &mult, shift: &shift };
        let mut got = vec![0i8; batches * n_out];
        fully_connected_s8(&p, &input, &w, &mut got).unwrap();
        prop_assert_eq!(got, ref_fully_connected(&p, &input, &filter, &bias, &mult, &shift));
    }

    #[test]
    fn add_matches_reference_and_in_place(seed in any::<u64>(), n in 0usize..300) {
        let mut rng = Rng::new(seed);
        let p = add_params(&mut rng);
        let a = rng.i8s(n);
        let b = rng.i8s(n);
        let mut got = vec![0i8; n];
        add_s8(&p, &a, &b, &mut got).unwrap();
        prop_assert_eq!(&got, &ref_add(&p, &a, &b));
        let mut acc = a.clone();
        add_s8_in_place(&p, &mut acc, &b).unwrap();
        prop_assert_eq!(acc, got);
    }

    #[test]
    fn pools_match_reference(
        seed in any::<u64>(),
        kh in 1u8..=4, kw in 1u8..=4, sh in 1u8..=3, sw in 1u8..=3,
        pad_mode in 0u8..3, global in any::<bool>(),
    ) {
        let mut rng = Rng::new(seed);
        let c = if rng.chance(4) { rng.usize(30, 70) } else { rng.usize(1, 8) };
        let (ih, iw) = (rng.usize(1, 9), rng.usize(1, 9));
        let (window, oh, ow) = if global {
            let w = Window { kh: ih as u8, kw: iw as u8, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0 };
            (w, 1, 1)
        } else {
            let (oh, pt) = axis_geometry(&mut rng, pad_mode, ih, kh as usize, sh as usize, 1);
            let (ow, pl) = axis_geometry(&mut rng, pad_mode, iw, kw as usize, sw as usize, 1);
            let w = Window { kh, kw, stride_h: sh, stride_w: sw, dilation_h: 1, dilation_w: 1, pad_top: pt as u8, pad_left: pl as u8 };
            (w, oh, ow)
        };
        let p = PoolParams { window, clamp: rng.clamp() };
        let ins = Shape::new(ih as u16, iw as u16, c as u16);
        let outs = Shape::new(oh as u16, ow as u16, c as u16);
        let input = rng.i8s(ins.len());

        let mut got = vec![0i8; outs.len()];
        let res = average_pool_s8(&p, ins, &input, outs, &mut got);
        match ref_pool(&p, ins, &input, outs, true) {
            Some(want) => {
                prop_assert!(res.is_ok());
                prop_assert_eq!(&got, &want);
            }
            None => prop_assert_eq!(res.map_err(|e| e.kind()), Err(ErrorKind::Shape)),
        }
        let mut got = vec![0i8; outs.len()];
        max_pool_s8(&p, ins, &input, outs, &mut got).unwrap();
        prop_assert_eq!(got, ref_pool(&p, ins, &input, outs, false).unwrap());
    }
}

/// Global average pooling is the general kernel's result for a window of
/// the whole input (sums of either sign, every rounding case, clamps), and
/// refuses any other window.
#[test]
fn global_average_pool_is_the_general_kernel() {
    let mut rng = Rng(0x0061_06a1);
    for case in 0..400 {
        let ins = Shape::new(
            1 + (rng.next() % 9) as u16,
            1 + (rng.next() % 9) as u16,
            1 + (rng.next() % 70) as u16,
        );
        let outs = Shape::new(1, 1, ins.c);
        let (lo, hi) = (rng.next() as i8, rng.next() as i8);
        let p = PoolParams {
            window: Window {
                kh: ins.h as u8,
                kw: ins.w as u8,
                stride_h: 1 + (rng.next() % 2) as u8,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 0,
                pad_left: 0,
            },
            clamp: if case % 3 == 0 {
                Clamp {
                    min: lo.min(hi),
                    max: lo.max(hi),
                }
            } else {
                Clamp::NONE
            },
        };
        // Biased inputs so that sums of both signs and exact halves occur.
        let bias = (rng.next() % 200) as i32 - 100;
        let input: Vec<i8> = rng
            .i8s(ins.len())
            .into_iter()
            .map(|x| (x as i32 / 2 + bias).clamp(-128, 127) as i8)
            .collect();
        let mut want = vec![0i8; outs.len()];
        average_pool_s8(&p, ins, &input, outs, &mut want).unwrap();
        let mut got = vec![0x55i8; outs.len()];
        global_average_pool_s8(&p, ins, &input, outs, &mut got).unwrap();
        assert_eq!(got, want, "case {case}: {ins:?} {p:?}");
        if ins.h > 1 {
            let mut q = p;
            q.window.kh -= 1;
            let smaller = Shape::new(2, 1, ins.c);
            let mut out = vec![0i8; smaller.len()];
            assert_eq!(
                global_average_pool_s8(&q, ins, &input, smaller, &mut out).map_err(|e| e.kind()),
                Err(ErrorKind::Parameter)
            );
        }
    }
}

#[test]
fn average_pool_rounds_half_away_from_zero() {
    let p = PoolParams {
        window: Window {
            kh: 1,
            kw: 2,
            stride_h: 1,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
        },
        clamp: Clamp::NONE,
    };
    let input = [1i8, 2, -1, -2, 3, 3, -128, -127];
    let mut out = [0i8; 4];
    average_pool_s8(
        &p,
        Shape::new(1, 8, 1),
        &input,
        Shape::new(1, 4, 1),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, [2, -2, 3, -128]);
}

// ===========================================================================
// Softmax.
// ===========================================================================

/// TFLite's `QuantizeMultiplier` (frexp, round to Q31).
fn quantize_multiplier(d: f64) -> (i32, i32) {
    if d == 0.0 {
        return (0, 0);
    }
    let mut shift = 0;
    let mut q = d;
    while q >= 1.0 {
        q /= 2.0;
        shift += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        shift -= 1;
    }
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    (q_fixed as i32, shift)
}

/// TFLite Micro's int8 softmax prepare: `PreprocessSoftmaxScaling` and
/// `CalculateInputRadius` with 5 integer bits.
fn softmax_params(beta: f64, input_scale: f64, depth: u16) -> SoftmaxParams {
    let real = (beta * input_scale * (1u64 << (31 - 5)) as f64).min((1u64 << 31) as f64 - 1.0);
    let (input_multiplier, input_left_shift) = quantize_multiplier(real);
    assert!(input_left_shift >= 0);
    let radius = (((1 << 5) - 1) as f64 * (1u64 << (31 - 5)) as f64
        / (1u64 << input_left_shift) as f64)
        .floor() as i32;
    SoftmaxParams {
        depth,
        input_multiplier,
        input_left_shift,
        diff_min: -radius,
    }
}

/// Expected outputs from TFLite's own `reference_ops::Softmax<int8_t,
/// int8_t>` (compiled from tensorflow/lite/kernels/internal/reference/softmax.h
/// with gemmlowp's fixedpoint.h).
struct Golden {
    beta: f64,
    scale: f64,
    input: &'static [i8],
    output: &'static [i8],
}

// Generated by a C++ harness around TFLite's reference_ops::Softmax<int8_t, int8_t>
// and gemmlowp fixedpoint.h (exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1).
// Fields: beta, input scale, input, TFLite's output.
const GOLDEN: &[Golden] = &[
    Golden {
        beta: 1.0,
        scale: 0.16360000000000002,
        input: &[-116],
        output: &[127],
    },
    Golden {
        beta: 1.0,
        scale: 0.09725,
        input: &[-126, -122],
        output: &[-25, 25],
    },
    Golden {
        beta: 1.0,
        scale: 0.005625,
        input: &[109, 125, 105],
        output: &[-45, -37, -47],
    },
    Golden {
        beta: 0.5,
        scale: 0.522,
        input: &[127, 127, -128, -128, -128],
        output: &[0, 0, -128, -128, -128],
    },
    Golden {
        beta: 2.0,
        scale: 0.02358,
        input: &[-127, -113, -127, -109, -122, -123, -116, -128, -109, -117],
        output: &[-111, -96, -111, -89, -107, -108, -100, -112, -89, -101],
    },
    Golden {
        beta: 1.0,
        scale: 1.787,
        input: &[-114, -118, -122, -116, -121, -115, -115, -125, -125, -117],
        output: &[59, -128, -128, -123, -128, -97, -97, -128, -128, -127],
    },
    Golden {
        beta: 1.0,
        scale: 0.11574999999999999,
        input: &[110, 107, 125, 118, 116, 111, 123, 123, 123, 106, 110, 115],
        output: &[
            -119, -122, -79, -106, -111, -118, -90, -90, -90, -123, -119, -113,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.0040078125,
        input: &[
            127, 127, -128, 127, -128, -128, 127, -128, -128, -128, 127, -128, -128, 127, -128,
            -128,
        ],
        output: &[
            -101, -101, -118, -101, -118, -118, -101, -118, -118, -118, -101, -118, -118, -101,
            -118, -118,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.5600999999999999,
        input: &[
            118, 117, 120, 107, 118, 109, 117, 116, 100, 127, 122, 117, 115, 104, 112, 108, 122,
            123, 121, 108, 121, 108, 103, 114, 119, 116, 127, 109, 126, 111, 112, 102, 127, 103,
            116,
        ],
        output: &[
            -128, -128, -127, -128, -128, -128, -128, -128, -128, -63, -124, -128, -128, -128,
            -128, -128, -124, -121, -126, -128, -126, -128, -128, -128, -127, -128, -63, -128, -91,
            -128, -128, -128, -63, -128, -128,
        ],
    },
    Golden {
        beta: 0.5,
        scale: 0.02712,
        input: &[
            -112, -114, -124, -112, -117, -111, -126, -120, -109, -117, -127, -110, -112, -123,
            -118, -110, -125, -113, -118, -128, -117, -114, -117, -115, -127, -109, -124, -119,
            -123, -111, -114, -117, -114, -117, -118, -126, -121, -116, -122, -110, -124, -125,
            -122, -118, -119, -125, -125, -125, -121, -110, -124, -113, -118, -112, -117, -120,
            -115, -122, -121, -115, -122, -125, -114, -116,
        ],
        output: &[
            -124, -124, -124, -124, -124, -124, -124, -124, -123, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -125, -124, -124, -124, -124, -124, -123, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124,
        ],
    },
    Golden {
        beta: 2.0,
        scale: 1.383,
        input: &[
            -118, -114, -119, -116, -111, -109, -127, -110, -125, -115, -116, -128, -119, -128,
            -112, -127, -121, -120, -121, -125, -119, -128, -112, -116, -116, -123, -122, -123,
            -119, -110, -110, -113, -109, -125, -118, -123, -125, -126, -125, -117, -123, -114,
            -124, -110, -119, -126, -127, -116, -122, -121, -121, -120, -121, -109, -126, -117,
            -126, -115, -114, -114, -120, -126, -112, -127, -123, -113, -127, -128, -112, -121,
            -113, -117, -113, -126, -121, -120, -116, -118, -109, -118, -112, -110, -114, -128,
            -109, -126, -110, -113, -111, -114, -125, -119, -116, -115, -127, -115, -110, -128,
            -128, -115,
        ],
        output: &[
            -128, -128, -128, -128, -128, -81, -128, -125, -128, -128, -128, -128, -128, -128,
            -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -125, -125, -128, -81, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -125, -128, -128, -128, -128, -128, -128, -128, -128, -128, -81, -128, -128,
            -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -128, -128, -128, -128, -128, -128, -128, -81, -128, -128, -125, -128, -128, -81,
            -128, -125, -128, -128, -128, -128, -128, -128, -128, -128, -128, -125, -128, -128,
            -128,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.1854,
        input: &[
            -128, -128, -128, -128, -128, -128, 127, -128, 127, -128, -128, -128, 127, 127, -128,
            127, -128, -128, -128, -128, 127, -128, -128, 127, 127, 127, 127, 127, -128, 127, 127,
            -128, 127, 127, 127, 127, -128, -128, 127, -128, 127, 127, 127, 127, 127, -128, -128,
            -128, -128, -128, -128, 127, 127, 127, 127, -128, -128, -128, -128, 127, 127, -128,
            127, 127, 127, -128, 127, 127, -128, -128, -128, -128, -128, -128, 127, 127, -128, 127,
            127, -128, 127, -128, 127, -128, 127, 127, -128, 127, 127, 127, -128, -128, -128, 127,
            -128, 127, -128, 127, -128, 127, 127, -128, 127, 127, -128, -128, 127, -128, -128,
            -128, -128, 127, 127, 127, -128, 127, 127, -128, 127, 127, -128, 127, -128, -128, 127,
            127, 127, 127, -128, 127, -128, 127, -128, -128, 127, 127, -128, -128, -128, 127, 127,
            -128, 127, 127, 127, 127, 127, -128, 127, -128, -128, -128, 127, 127, -128, -128, -128,
            -128, -128, 127, -128, -128, -128, -128, 127, -128, -128, -128, -128, 127, -128, 127,
            127, -128, 127, 127, -128, -128, -128, 127, 127, -128, 127, 127, 127, -128, 127, -128,
            -128, -128, 127, -128, 127, -128, 127, 127, 127, -128, -128, 127, -128, -128, 127,
            -128, 127, -128, 127, 127, -128, 127, -128, -128, 127, 127, -128, 127, 127, 127, -128,
            -128, -128, -128, 127, 127, 127, 127, 127, 127, 127, 127, 127, -128, 127, -128, -128,
            -128, -128, 127, 127, 127, -128, 127, -128, 127, -128, -128, 127, -128, -128, 127,
            -128, -128, 127, 127, -128, -128, -128, 127, -128, -128, -128, 127, 127, -128, 127,
            -128, 127, 127, 127, -128, -128, 127, 127, -128, 127, 127, 127, 127, -128, 127, 127,
            127, -128, -128, 127, 127, -128, 127, 127, 127, -128, -128, 127, 127, 127, -128, 127,
            127, 127, -128,
        ],
        output: &[
            -128, -128, -128, -128, -128, -128, -126, -128, -126, -128, -128, -128, -126, -126,
            -128, -126, -128, -128, -128, -128, -126, -128, -128, -126, -126, -126, -126, -126,
            -128, -126, -126, -128, -126, -126, -126, -126, -128, -128, -126, -128, -126, -126,
            -126, -126, -126, -128, -128, -128, -128, -128, -128, -126, -126, -126, -126, -128,
            -128, -128, -128, -126, -126, -128, -126, -126, -126, -128, -126, -126, -128, -128,
            -128, -128, -128, -128, -126, -126, -128, -126, -126, -128, -126, -128, -126, -128,
            -126, -126, -128, -126, -126, -126, -128, -128, -128, -126, -128, -126, -128, -126,
            -128, -126, -126, -128, -126, -126, -128, -128, -126, -128, -128, -128, -128, -126,
            -126, -126, -128, -126, -126, -128, -126, -126, -128, -126, -128, -128, -126, -126,
            -126, -126, -128, -126, -128, -126, -128, -128, -126, -126, -128, -128, -128, -126,
            -126, -128, -126, -126, -126, -126, -126, -128, -126, -128, -128, -128, -126, -126,
            -128, -128, -128, -128, -128, -126, -128, -128, -128, -128, -126, -128, -128, -128,
            -128, -126, -128, -126, -126, -128, -126, -126, -128, -128, -128, -126, -126, -128,
            -126, -126, -126, -128, -126, -128, -128, -128, -126, -128, -126, -128, -126, -126,
            -126, -128, -128, -126, -128, -128, -126, -128, -126, -128, -126, -126, -128, -126,
            -128, -128, -126, -126, -128, -126, -126, -126, -128, -128, -128, -128, -126, -126,
            -126, -126, -126, -126, -126, -126, -126, -128, -126, -128, -128, -128, -128, -126,
            -126, -126, -128, -126, -128, -126, -128, -128, -126, -128, -128, -126, -128, -128,
            -126, -126, -128, -128, -128, -126, -128, -128, -128, -126, -126, -128, -126, -128,
            -126, -126, -126, -128, -128, -126, -126, -128, -126, -126, -126, -126, -128, -126,
            -126, -126, -128, -128, -126, -126, -128, -126, -126, -126, -128, -128, -126, -126,
            -126, -128, -126, -126, -126, -128,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.0056875,
        input: &[114],
        output: &[127],
    },
    Golden {
        beta: 1.0,
        scale: 0.5037,
        input: &[126, 125],
        output: &[32, -32],
    },
    Golden {
        beta: 1.0,
        scale: 0.026840000000000003,
        input: &[-120, -119, -118],
        output: &[-45, -43, -40],
    },
    Golden {
        beta: 0.5,
        scale: 1.651,
        input: &[116, 106, 104, 125, 109],
        output: &[-128, -128, -128, 127, -128],
    },
    Golden {
        beta: 2.0,
        scale: 0.14670000000000002,
        input: &[-128, 127, 127, 127, 127, -128, 127, -128, -128, -128],
        output: &[-128, -77, -77, -77, -77, -128, -77, -128, -128, -128],
    },
    Golden {
        beta: 1.0,
        scale: 0.0931875,
        input: &[127, 127, -128, -128, 127, 127, 127, -128, -128, -128],
        output: &[-77, -77, -128, -128, -77, -77, -77, -128, -128, -128],
    },
    Golden {
        beta: 1.0,
        scale: 0.3804,
        input: &[
            127, 127, 127, 127, -128, 127, -128, 127, 127, -128, -128, 127,
        ],
        output: &[
            -96, -96, -96, -96, -128, -96, -128, -96, -96, -128, -128, -96,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.03406,
        input: &[
            63, -29, -24, 69, 21, -31, -10, 87, 29, -67, -86, 5, -71, -10, -77, 6,
        ],
        output: &[
            -83, -126, -126, -73, -117, -126, -124, -26, -114, -127, -128, -122, -128, -124, -128,
            -122,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 1.254,
        input: &[
            -128, 127, -128, 127, -128, 127, 127, -128, 127, -128, 127, -128, 127, 127, 127, 127,
            -128, 127, -128, 127, -128, -128, 127, -128, -128, 127, -128, -128, -128, -128, 127,
            -128, -128, -128, 127,
        ],
        output: &[
            -128, -112, -128, -112, -128, -112, -112, -128, -112, -128, -112, -128, -112, -112,
            -112, -112, -128, -112, -128, -112, -128, -128, -112, -128, -128, -112, -128, -128,
            -128, -128, -112, -128, -128, -128, -112,
        ],
    },
    Golden {
        beta: 0.5,
        scale: 0.19510000000000002,
        input: &[
            -128, -128, -128, -128, 127, 127, -128, -128, -128, 127, -128, 127, -128, 127, 127,
            -128, 127, 127, -128, 127, 127, 127, -128, 127, 127, -128, -128, 127, -128, -128, -128,
            -128, -128, -128, -128, -128, 127, -128, -128, -128, -128, 127, -128, 127, -128, -128,
            -128, 127, -128, -128, 127, -128, 127, 127, 127, -128, -128, 127, -128, -128, 127, 127,
            127, 127,
        ],
        output: &[
            -128, -128, -128, -128, -119, -119, -128, -128, -128, -119, -128, -119, -128, -119,
            -119, -128, -119, -119, -128, -119, -119, -119, -128, -119, -119, -128, -128, -119,
            -128, -128, -128, -128, -128, -128, -128, -128, -119, -128, -128, -128, -128, -119,
            -128, -119, -128, -128, -128, -119, -128, -128, -119, -128, -119, -119, -119, -128,
            -128, -119, -128, -128, -119, -119, -119, -119,
        ],
    },
    Golden {
        beta: 2.0,
        scale: 0.12012500000000001,
        input: &[
            -80, 9, 25, -127, 54, -60, -45, -74, 9, 25, 81, -33, -46, 99, 33, -3, -106, 13, 85,
            113, -89, 96, -40, 99, 47, -13, 60, 76, 112, 40, 64, 114, 2, -48, 39, 105, 121, -23,
            20, 0, -32, -107, -80, 73, 117, -101, -80, 105, -5, 30, 80, 22, -54, -29, 12, 28, 94,
            -110, -45, -110, 111, 101, 19, -5, 62, -64, 9, -3, 76, 28, -114, -27, 0, -4, -41, -92,
            -17, 8, 56, 2, -32, -1, 6, -10, -37, -68, -115, -34, -73, -46, -43, -12, -39, -10, -51,
            124, 96, -40, 3, -99,
        ],
        output: &[
            -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -128, -128, -128, -128, -119, -128, -128, -128, -128, -128, -128, -128, -128,
            -121, -128, -128, -116, -128, -128, -128, -127, -65, -128, -128, -128, -128, -128,
            -128, -128, -104, -128, -128, -127, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -128, -128, -128, -122, -127, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 2, -128, -128, -128,
            -128,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.0070546875,
        input: &[
            -115, -119, -122, -119, -124, -111, -116, -120, -119, -123, -116, -110, -113, -128,
            -123, -110, -113, -119, -111, -125, -128, -111, -127, -115, -123, -127, -113, -112,
            -123, -128, -126, -120, -123, -126, -121, -117, -122, -115, -116, -109, -128, -110,
            -118, -113, -116, -117, -121, -123, -123, -123, -110, -111, -124, -110, -111, -125,
            -124, -119, -111, -127, -110, -118, -112, -124, -121, -120, -109, -119, -123, -109,
            -119, -126, -126, -110, -118, -117, -126, -110, -121, -126, -113, -124, -119, -113,
            -127, -125, -128, -112, -113, -127, -109, -127, -114, -121, -124, -117, -111, -122,
            -125, -123, -114, -126, -116, -120, -113, -123, -112, -121, -122, -112, -120, -115,
            -121, -116, -118, -109, -114, -116, -109, -127, -114, -117, -121, -128, -119, -123,
            -117, -124, -117, -127, -115, -122, -112, -118, -126, -112, -121, -116, -119, -122,
            -123, -109, -117, -124, -123, -114, -126, -113, -109, -110, -119, -125, -116, -118,
            -111, -114, -127, -115, -112, -125, -111, -114, -111, -128, -113, -128, -122, -119,
            -123, -117, -114, -123, -122, -124, -114, -112, -117, -116, -125, -125, -111, -110,
            -109, -117, -118, -109, -113, -112, -109, -114, -109, -114, -122, -114, -110, -112,
            -118, -113, -123, -116, -128, -110, -122, -110, -111, -123, -121, -110, -125, -117,
            -120, -124, -116, -125, -117, -111, -118, -121, -120, -110, -111, -112, -113, -124,
            -126, -123, -111, -116, -119, -112, -115, -110, -113, -110, -121, -113, -117, -117,
            -125, -110, -125, -116, -120, -120, -119, -126, -124, -124, -118, -123, -114, -114,
            -115, -127, -109, -113, -109, -128, -121, -112, -128, -109, -118, -124, -112, -114,
            -115, -118, -110, -109, -118, -112, -111, -115, -124, -116, -127, -118, -127, -116,
            -124, -113, -111, -125, -123, -128, -128, -110, -115, -127, -123, -118, -118, -109,
            -113, -127, -114, -112, -117, -117,
        ],
        output: &[
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.025320000000000002,
        input: &[23],
        output: &[127],
    },
    Golden {
        beta: 1.0,
        scale: 1.983,
        input: &[107, 113],
        output: &[-128, 127],
    },
    Golden {
        beta: 1.0,
        scale: 0.1787,
        input: &[-94, -57, -76],
        output: &[-128, 119, -120],
    },
    Golden {
        beta: 0.5,
        scale: 0.0641875,
        input: &[127, -128, -128, -128, -128],
        output: &[127, -128, -128, -128, -128],
    },
    Golden {
        beta: 2.0,
        scale: 0.00461328125,
        input: &[-113, -113, -119, -121, -126, -115, -128, -116, -121, -125],
        output: &[-101, -101, -102, -103, -104, -101, -104, -102, -103, -104],
    },
    Golden {
        beta: 1.0,
        scale: 0.46499999999999997,
        input: &[-49, -68, -125, 62, -38, 3, -85, -86, -27, -16],
        output: &[-128, -128, -128, 127, -128, -128, -128, -128, -128, -128],
    },
    Golden {
        beta: 1.0,
        scale: 1.643,
        input: &[112, 119, 116, 105, 119, 100, 112, 112, 106, 113, 101, 118],
        output: &[
            -128, -12, -127, -128, -12, -128, -128, -128, -128, -128, -128, -106,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.1353,
        input: &[
            -128, -128, 127, 127, 127, 127, -128, -128, 127, -128, -128, -128, 127, -128, 127, 127,
        ],
        output: &[
            -128, -128, -96, -96, -96, -96, -128, -128, -96, -128, -128, -128, -96, -128, -96, -96,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.088,
        input: &[
            111, 123, 118, 125, 109, 112, 127, 119, 108, 102, 122, 119, 100, 100, 103, 100, 112,
            118, 125, 100, 113, 109, 101, 125, 102, 124, 124, 125, 108, 121, 124, 113, 112, 119,
            119,
        ],
        output: &[
            -124, -116, -120, -113, -124, -123, -111, -119, -125, -126, -117, -119, -126, -126,
            -126, -126, -123, -120, -113, -126, -123, -124, -126, -113, -126, -115, -115, -113,
            -125, -118, -115, -123, -123, -119, -119,
        ],
    },
    Golden {
        beta: 0.5,
        scale: 0.006117187499999999,
        input: &[
            127, 121, 107, 107, 107, 101, 120, 114, 112, 102, 121, 123, 107, 124, 115, 113, 112,
            127, 106, 124, 103, 106, 107, 127, 113, 112, 115, 114, 113, 123, 125, 110, 116, 120,
            121, 115, 120, 107, 119, 107, 120, 117, 119, 102, 124, 126, 110, 120, 110, 104, 109,
            101, 100, 113, 110, 124, 105, 110, 127, 122, 103, 104, 101, 114,
        ],
        output: &[
            -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124, -124,
            -124, -124, -124, -124, -124, -124, -124, -124,
        ],
    },
    Golden {
        beta: 2.0,
        scale: 0.4275,
        input: &[
            104, 125, 120, 127, 120, 124, 117, 124, 105, 115, 127, 109, 115, 101, 100, 118, 106,
            104, 120, 108, 114, 100, 104, 114, 114, 116, 120, 102, 107, 104, 125, 100, 107, 121,
            125, 120, 107, 100, 114, 102, 121, 100, 116, 114, 117, 122, 123, 114, 114, 102, 123,
            100, 126, 112, 122, 109, 111, 122, 100, 121, 104, 120, 112, 124, 103, 112, 117, 122,
            114, 102, 114, 101, 124, 127, 109, 108, 114, 106, 117, 103, 125, 112, 108, 110, 126,
            105, 124, 117, 100, 104, 104, 115, 117, 101, 118, 100, 112, 103, 105, 113,
        ],
        output: &[
            -128, -119, -128, -78, -128, -124, -128, -124, -128, -128, -78, -128, -128, -128, -128,
            -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -119, -128, -128, -128, -119, -128, -128, -128, -128, -128, -128, -128, -128,
            -128, -128, -127, -126, -128, -128, -128, -126, -128, -107, -128, -127, -128, -128,
            -127, -128, -128, -128, -128, -128, -124, -128, -128, -128, -127, -128, -128, -128,
            -128, -124, -78, -128, -128, -128, -128, -128, -128, -119, -128, -128, -128, -107,
            -128, -124, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
            -128,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.03702,
        input: &[
            -115, -116, -126, -113, -113, -126, -113, -120, -109, -121, -110, -127, -126, -117,
            -127, -109, -123, -127, -109, -123, -112, -128, -125, -118, -119, -117, -115, -122,
            -123, -114, -124, -115, -112, -119, -119, -120, -126, -123, -122, -110, -117, -126,
            -119, -116, -121, -121, -121, -122, -109, -113, -115, -115, -109, -114, -113, -125,
            -111, -117, -114, -119, -128, -115, -118, -114, -127, -124, -109, -121, -114, -127,
            -112, -119, -123, -111, -109, -116, -112, -114, -121, -118, -128, -126, -113, -114,
            -118, -127, -118, -116, -111, -123, -109, -127, -113, -112, -121, -125, -128, -128,
            -126, -123, -118, -128, -117, -116, -120, -114, -117, -121, -121, -109, -115, -110,
            -114, -126, -120, -123, -124, -127, -125, -119, -109, -114, -110, -116, -120, -109,
            -114, -110, -121, -116, -110, -109, -126, -119, -110, -114, -124, -119, -121, -121,
            -117, -116, -127, -115, -127, -123, -123, -122, -117, -115, -126, -114, -117, -119,
            -124, -118, -128, -128, -123, -122, -120, -119, -123, -124, -116, -112, -112, -126,
            -112, -111, -120, -119, -109, -118, -124, -113, -123, -117, -125, -124, -123, -115,
            -121, -112, -110, -122, -126, -119, -113, -125, -113, -127, -121, -128, -124, -113,
            -120, -111, -115, -117, -119, -117, -111, -120, -116, -118, -119, -123, -125, -126,
            -128, -121, -121, -110, -116, -128, -113, -110, -110, -117, -127, -113, -118, -126,
            -110, -110, -123, -114, -119, -110, -118, -123, -124, -115, -113, -116, -127, -109,
            -126, -111, -124, -120, -115, -119, -128, -114, -121, -119, -116, -125, -121, -116,
            -114, -111, -112, -122, -122, -128, -109, -127, -112, -124, -110, -114, -114, -118,
            -112, -117, -114, -124, -122, -112, -122, -117, -113, -110, -126, -121, -117, -127,
            -122, -111, -112, -127, -112, -121, -117, -112, -109, -121, -114, -120, -121, -120,
            -122, -120, -126, -127, -110, -118,
        ],
        output: &[
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127, -127,
            -127, -127, -127, -127, -127, -127,
        ],
    },
    Golden {
        beta: 1.0,
        scale: 0.11930000000000002,
        input: &[-127],
        output: &[127],
    },
    Golden {
        beta: 1.0,
        scale: 0.1151875,
        input: &[-128, 127],
        output: &[-128, 127],
    },
    Golden {
        beta: 1.0,
        scale: 0.0056875,
        input: &[-60, 103, -105],
        output: &[-68, 22, -82],
    },
    Golden {
        beta: 0.5,
        scale: 0.49859999999999993,
        input: &[-52, 121, 27, 85, -97],
        output: &[-128, 127, -128, -128, -128],
    },
];

#[test]
fn softmax_matches_tflite_golden_vectors() {
    for (i, g) in GOLDEN.iter().enumerate() {
        let p = softmax_params(g.beta, g.scale, g.input.len() as u16);
        let mut out = vec![0i8; g.input.len()];
        softmax_s8(&p, g.input, &mut out).unwrap();
        assert_eq!(out, g.output, "golden vector {i}: {p:?}");
    }
}

#[test]
fn softmax_of_equal_inputs_is_uniform() {
    for depth in [1u16, 2, 3, 4, 5, 10, 16, 100, 256, 511] {
        for x in [-128i8, -3, 0, 127] {
            let p = softmax_params(1.0, 0.1, depth);
            let input = vec![x; depth as usize];
            let mut out = vec![0i8; depth as usize];
            softmax_s8(&p, &input, &mut out).unwrap();
            let want = (256.0 / depth as f64 - 128.0).round().min(127.0);
            for &o in &out {
                assert!(
                    (o as f64 - want).abs() <= 1.0,
                    "depth {depth}: {o} vs {want}"
                );
            }
            assert!(out.iter().all(|&o| o == out[0]));
        }
    }
    // One entry: probability 1 saturates at 127.
    let p = softmax_params(1.0, 0.05, 1);
    let mut out = [0i8; 1];
    softmax_s8(&p, &[42], &mut out).unwrap();
    assert_eq!(out, [127]);
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn softmax_close_to_double_precision(
        seed in any::<u64>(),
        depth in 1u16..=64,
        rows in 1usize..=3,
        scale_exp in -8i32..=0,
        beta in prop_oneof![Just(1.0f64), 0.25f64..2.0],
    ) {
        let mut rng = Rng::new(seed);
        let scale = 2f64.powi(scale_exp) * (0.5 + rng.range(0, 1000) as f64 / 1000.0);
        let p = softmax_params(beta, scale, depth);
        let d = depth as usize;
        let input = rng.i8s(d * rows);
        let mut out = vec![0i8; d * rows];
        softmax_s8(&p, &input, &mut out).unwrap();
        for (xs, os) in input.chunks(d).zip(out.chunks(d)) {
            let max = *xs.iter().max().unwrap() as f64;
            let e: Vec<f64> = xs.iter().map(|&x| ((x as f64 - max) * scale * beta).exp()).collect();
            let sum: f64 = e.iter().sum();
            let mut total = 0i64;
            for (&ei, &o) in e.iter().zip(os) {
                let want = ((ei / sum) * 256.0 - 128.0).round().clamp(-128.0, 127.0);
                prop_assert!((o as f64 - want).abs() <= 1.0, "{} vs {} in {:?} -> {:?} ({:?})", o, want, xs, os, p);
                total += o as i64 + 128;
            }
            // Probabilities sum to one: 256 in the output scale, give or take
            // rounding of each entry (and the 127 ceiling of a certain class).
            prop_assert!((total - 256).abs() <= d as i64 / 2 + 2, "sum {} for {:?}", total, os);
        }
    }
}

#[test]
fn softmax_large_row_sums_error_like_tflite_check() {
    // 512 equal entries make the Q12.19 sum reach 2^28: TFLite's
    // TFLITE_CHECK(exponent <= 31) aborts; the kernel reports an error.
    let p = softmax_params(1.0, 0.1, 512);
    let input = vec![5i8; 512];
    let mut out = vec![0i8; 512];
    assert_eq!(
        softmax_s8(&p, &input, &mut out).map_err(|e| e.kind()),
        Err(ErrorKind::Parameter)
    );
    // 8192 equal entries would wrap an int32 Q12.19 sum to exactly 0.
    let p = softmax_params(1.0, 0.1, 8192);
    let input = vec![-7i8; 8192];
    let mut big = vec![0i8; 8192];
    assert_eq!(
        softmax_s8(&p, &input, &mut big).map_err(|e| e.kind()),
        Err(ErrorKind::Parameter)
    );
    // Spread-out values keep the sum small: fine.
    let mut out = vec![0i8; 512];
    let input: Vec<i8> = (0..512).map(|i: i32| (i % 256) as u8 as i8).collect();
    let p = softmax_params(1.0, 0.5, 512);
    softmax_s8(&p, &input, &mut out).unwrap();
}

// ===========================================================================
// Argument checks: every wrong length / bad parameter is an error.
// ===========================================================================

fn unit_window() -> Window {
    Window {
        kh: 1,
        kw: 1,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: 0,
        pad_left: 0,
    }
}

fn kind(r: attonet_runtime::Result) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[test]
fn conv_argument_errors() {
    let q = ConvQuant {
        input_zero_point: 0,
        output_zero_point: 0,
        clamp: Clamp::NONE,
    };
    let w3 = Window {
        kh: 3,
        kw: 3,
        pad_top: 1,
        pad_left: 1,
        ..unit_window()
    };
    let p = ConvParams {
        window: w3,
        groups: 2,
        quant: q,
    };
    let ins = Shape::new(4, 4, 4);
    let outs = Shape::new(4, 4, 6);
    let input = vec![1i8; ins.len()];
    let filter = vec![1i8; 6 * 9 * 2];
    let bias = vec![0i32; 6];
    let mult = vec![1 << 30; 6];
    let shift = vec![-1i32; 6];
    let mut out = vec![0i8; outs.len()];
    let w = ConvWeights {
        filter: &filter,
        bias: &bias,
        multiplier: &mult,
        shift: &shift,
    };
    let kernels: [ConvFn; 2] = [conv2d_s8, grouped_conv3x3_s8];
    for f in kernels {
        assert_eq!(f(&p, ins, &input, &w, outs, &mut out), Ok(()));
        let bad = |f: ConvFn,
                   p: &ConvParams,
                   ins,
                   input: &[i8],
                   w: &ConvWeights<'_>,
                   outs,
                   out: &mut [i8]| { kind(f(p, ins, input, w, outs, out)) };
        let bl = Some(ErrorKind::BufferLength);
        assert_eq!(bad(f, &p, ins, &input[1..], &w, outs, &mut out), bl);
        assert_eq!(bad(f, &p, ins, &input, &w, outs, &mut out[1..]), bl);
        let short = ConvWeights {
            filter: &filter[1..],
            ..w
        };
        assert_eq!(bad(f, &p, ins, &input, &short, outs, &mut out), bl);
        let short = ConvWeights {
            bias: &bias[1..],
            ..w
        };
        assert_eq!(bad(f, &p, ins, &input, &short, outs, &mut out), bl);
        let short = ConvWeights {
            multiplier: &mult[1..],
            ..w
        };
        assert_eq!(bad(f, &p, ins, &input, &short, outs, &mut out), bl);
        let short = ConvWeights {
            shift: &shift[1..],
            ..w
        };
        assert_eq!(bad(f, &p, ins, &input, &short, outs, &mut out), bl);
        let bad_shift = vec![31i32; 6];
        let ws = ConvWeights {
            shift: &bad_shift,
            ..w
        };
        assert_eq!(
            bad(f, &p, ins, &input, &ws, outs, &mut out),
            Some(ErrorKind::Parameter)
        );
        let bad_shift = vec![-32i32; 6];
        let ws = ConvWeights {
            shift: &bad_shift,
            ..w
        };
        assert_eq!(
            bad(f, &p, ins, &input, &ws, outs, &mut out),
            Some(ErrorKind::Parameter)
        );
        for g in [0u16, 3] {
            let pg = ConvParams { groups: g, ..p };
            assert!(bad(f, &pg, ins, &input, &w, outs, &mut out).is_some());
        }
        // Groups dividing in_c but not out_c.
        let pg = ConvParams { groups: 4, ..p };
        assert_eq!(
            bad(f, &pg, ins, &input, &w, outs, &mut out),
            Some(ErrorKind::Shape)
        );
        for win in [
            Window { stride_h: 0, ..w3 },
            Window { stride_w: 0, ..w3 },
            Window {
                dilation_h: 0,
                ..w3
            },
            Window {
                dilation_w: 0,
                ..w3
            },
            Window { kh: 0, ..w3 },
            Window { kw: 0, ..w3 },
        ] {
            let pw = ConvParams { window: win, ..p };
            assert_eq!(
                bad(f, &pw, ins, &input, &w, outs, &mut out),
                Some(ErrorKind::Parameter)
            );
        }
        let pc = ConvParams {
            quant: ConvQuant {
                clamp: Clamp { min: 5, max: 4 },
                ..q
            },
            ..p
        };
        assert_eq!(
            bad(f, &pc, ins, &input, &w, outs, &mut out),
            Some(ErrorKind::Parameter)
        );
    }
    // Kernel-specific domains.
    let p5 = ConvParams {
        window: Window { kh: 5, ..w3 },
        ..p
    };
    assert_eq!(
        kind(grouped_conv3x3_s8(&p5, ins, &input, &w, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );
    let pd = ConvParams {
        window: Window {
            dilation_w: 2,
            ..w3
        },
        ..p
    };
    assert_eq!(
        kind(grouped_conv3x3_s8(&pd, ins, &input, &w, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );
    let pw = ConvParams {
        window: unit_window(),
        groups: 1,
        quant: q,
    };
    let f1 = vec![1i8; 6 * 4];
    let w1 = ConvWeights { filter: &f1, ..w };
    assert_eq!(
        pointwise_conv_s8(&pw, ins, &input, &w1, outs, &mut out),
        Ok(())
    );
    assert_eq!(
        kind(pointwise_conv_s8(&p, ins, &input, &w1, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );
    let pp = ConvParams {
        window: Window {
            pad_top: 1,
            ..unit_window()
        },
        ..pw
    };
    assert_eq!(
        kind(pointwise_conv_s8(&pp, ins, &input, &w1, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );
    let pg = ConvParams { groups: 2, ..pw };
    assert_eq!(
        kind(pointwise_conv_s8(&pg, ins, &input, &w1, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );
    assert_eq!(
        kind(pointwise_conv_s8(
            &pw,
            ins,
            &input,
            &w1,
            outs,
            &mut out[..5]
        )),
        Some(ErrorKind::BufferLength)
    );
}

#[test]
fn other_kernel_argument_errors() {
    let q = ConvQuant {
        input_zero_point: 0,
        output_zero_point: 0,
        clamp: Clamp::NONE,
    };
    // Depthwise.
    let dp = DepthwiseParams {
        window: Window {
            kh: 3,
            kw: 3,
            ..unit_window()
        },
        depth_multiplier: 2,
        quant: q,
    };
    let ins = Shape::new(3, 3, 2);
    let outs = Shape::new(1, 1, 4);
    let input = vec![0i8; ins.len()];
    let filter = vec![0i8; 9 * 4];
    let (bias, mult, shift) = (vec![0; 4], vec![1 << 30; 4], vec![0; 4]);
    let w = ConvWeights {
        filter: &filter,
        bias: &bias,
        multiplier: &mult,
        shift: &shift,
    };
    let mut out = vec![0i8; 4];
    assert_eq!(
        depthwise_conv_s8(&dp, ins, &input, &w, outs, &mut out),
        Ok(())
    );
    let e = |r| kind(r);
    assert_eq!(
        e(depthwise_conv_s8(
            &DepthwiseParams {
                depth_multiplier: 0,
                ..dp
            },
            ins,
            &input,
            &w,
            outs,
            &mut out
        )),
        Some(ErrorKind::Parameter)
    );
    assert_eq!(
        e(depthwise_conv_s8(
            &DepthwiseParams {
                depth_multiplier: 1,
                ..dp
            },
            ins,
            &input,
            &w,
            outs,
            &mut out
        )),
        Some(ErrorKind::Shape)
    );
    assert_eq!(
        e(depthwise_conv_s8(&dp, ins, &input[1..], &w, outs, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let w_bad = ConvWeights {
        filter: &filter[..35],
        ..w
    };
    assert_eq!(
        e(depthwise_conv_s8(&dp, ins, &input, &w_bad, outs, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let w_bad = ConvWeights {
        bias: &bias[..3],
        ..w
    };
    assert_eq!(
        e(depthwise_conv_s8(&dp, ins, &input, &w_bad, outs, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let bad_shift = [0, 0, 0, 40];
    let w_bad = ConvWeights {
        shift: &bad_shift,
        ..w
    };
    assert_eq!(
        e(depthwise_conv_s8(&dp, ins, &input, &w_bad, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );
    let dps = DepthwiseParams {
        window: Window {
            stride_w: 0,
            ..dp.window
        },
        ..dp
    };
    assert_eq!(
        e(depthwise_conv_s8(&dps, ins, &input, &w, outs, &mut out)),
        Some(ErrorKind::Parameter)
    );

    // Pointwise pair.
    let f1 = vec![0i8; 2 * 3];
    let f2 = vec![0i8; 3 * 4];
    let (b1, m1, s1) = (vec![0; 3], vec![1 << 30; 3], vec![0; 3]);
    let w1 = ConvWeights {
        filter: &f1,
        bias: &b1,
        multiplier: &m1,
        shift: &s1,
    };
    let w2 = ConvWeights { filter: &f2, ..w };
    let ins = Shape::new(2, 2, 2);
    let outs = Shape::new(2, 2, 4);
    let input = vec![0i8; ins.len()];
    let mut out = vec![0i8; outs.len()];
    let mut scratch = [0i8; 3];
    assert_eq!(
        pointwise_pair_s8(
            &q,
            &w1,
            &q,
            &w2,
            ins,
            &input,
            3,
            &mut scratch,
            outs,
            &mut out
        ),
        Ok(())
    );
    assert_eq!(
        e(pointwise_pair_s8(
            &q,
            &w1,
            &q,
            &w2,
            ins,
            &input,
            3,
            &mut scratch[..2],
            outs,
            &mut out
        )),
        Some(ErrorKind::BufferLength)
    );
    assert!(pointwise_pair_s8(
        &q,
        &w1,
        &q,
        &w2,
        ins,
        &input,
        2,
        &mut scratch,
        outs,
        &mut out
    )
    .is_err());
    assert_eq!(
        e(pointwise_pair_s8(
            &q,
            &w1,
            &q,
            &w2,
            ins,
            &input,
            3,
            &mut scratch,
            Shape::new(1, 4, 4),
            &mut out
        )),
        Some(ErrorKind::Shape)
    );
    assert_eq!(
        e(pointwise_pair_s8(
            &q,
            &w2,
            &q,
            &w1,
            ins,
            &input,
            3,
            &mut scratch,
            outs,
            &mut out
        )),
        Some(ErrorKind::BufferLength)
    );

    // Add.
    let mut rng = Rng::new(1);
    let ap = add_params(&mut rng);
    let (a, b) = ([0i8; 4], [0i8; 4]);
    let mut o = [0i8; 4];
    assert_eq!(add_s8(&ap, &a, &b, &mut o), Ok(()));
    assert_eq!(
        e(add_s8(&ap, &a, &b[..3], &mut o)),
        Some(ErrorKind::BufferLength)
    );
    assert_eq!(
        e(add_s8(&ap, &a, &b, &mut o[..3])),
        Some(ErrorKind::BufferLength)
    );
    let mut acc = a;
    assert_eq!(
        e(add_s8_in_place(&ap, &mut acc, &b[..3])),
        Some(ErrorKind::BufferLength)
    );
    for bad in [
        AddParams {
            left_shift: -1,
            ..ap
        },
        AddParams {
            left_shift: 31,
            ..ap
        },
        AddParams {
            input1_shift: 1,
            ..ap
        },
        AddParams {
            input2_shift: -32,
            ..ap
        },
        AddParams {
            output_shift: 3,
            ..ap
        },
        AddParams {
            clamp: Clamp { min: 1, max: 0 },
            ..ap
        },
    ] {
        assert_eq!(e(add_s8(&bad, &a, &b, &mut o)), Some(ErrorKind::Parameter));
        assert_eq!(
            e(add_s8_in_place(&bad, &mut acc, &b)),
            Some(ErrorKind::Parameter)
        );
    }

    // Pooling.
    let pp = PoolParams {
        window: Window {
            kh: 2,
            kw: 2,
            stride_h: 2,
            stride_w: 2,
            ..unit_window()
        },
        clamp: Clamp::NONE,
    };
    let ins = Shape::new(4, 4, 3);
    let outs = Shape::new(2, 2, 3);
    let input = vec![0i8; ins.len()];
    let mut out = vec![0i8; outs.len()];
    for f in [average_pool_s8 as PoolFn, max_pool_s8] {
        assert_eq!(f(&pp, ins, &input, outs, &mut out), Ok(()));
        assert_eq!(
            e(f(&pp, ins, &input[1..], outs, &mut out)),
            Some(ErrorKind::BufferLength)
        );
        assert_eq!(
            e(f(&pp, ins, &input, outs, &mut out[1..])),
            Some(ErrorKind::BufferLength)
        );
        assert_eq!(
            e(f(&pp, ins, &input, Shape::new(2, 2, 2), &mut out[..8])),
            Some(ErrorKind::Shape)
        );
        for win in [
            Window {
                stride_h: 0,
                ..pp.window
            },
            Window { kw: 0, ..pp.window },
            Window {
                dilation_h: 2,
                ..pp.window
            },
        ] {
            let p = PoolParams { window: win, ..pp };
            assert_eq!(
                e(f(&p, ins, &input, outs, &mut out)),
                Some(ErrorKind::Parameter)
            );
        }
        let p = PoolParams {
            clamp: Clamp { min: 0, max: -1 },
            ..pp
        };
        assert_eq!(
            e(f(&p, ins, &input, outs, &mut out)),
            Some(ErrorKind::Parameter)
        );
    }
    // A window entirely in the padding: TFLite's AveragePool fails, MaxPool
    // gives clamp(-128).
    let p = PoolParams {
        window: Window {
            pad_top: 2,
            pad_left: 2,
            ..pp.window
        },
        ..pp
    };
    out.fill(7);
    assert_eq!(
        e(average_pool_s8(
            &p,
            ins,
            &input,
            Shape::new(3, 3, 3),
            &mut [0; 27]
        )),
        Some(ErrorKind::Shape)
    );
    let mut out27 = vec![0i8; 27];
    assert_eq!(
        max_pool_s8(&p, ins, &input, Shape::new(3, 3, 3), &mut out27),
        Ok(())
    );
    assert_eq!(out27[0], -128);

    // Fully connected.
    let fp = FullyConnectedParams {
        in_features: 4,
        out_features: 3,
        input_zero_point: 0,
        filter_zero_point: 0,
        output_zero_point: 0,
        clamp: Clamp::NONE,
    };
    let filter = vec![0i8; 12];
    let (bias, mult3, shift3) = (vec![0; 3], vec![1 << 30; 3], vec![0; 3]);
    let w = ConvWeights {
        filter: &filter,
        bias: &bias,
        multiplier: &mult3,
        shift: &shift3,
    };
    let input = [0i8; 8];
    let mut out = [0i8; 6];
    assert_eq!(fully_connected_s8(&fp, &input, &w, &mut out), Ok(()));
    let w1 = ConvWeights {
        multiplier: &mult3[..1],
        shift: &shift3[..1],
        ..w
    };
    assert_eq!(fully_connected_s8(&fp, &input, &w1, &mut out), Ok(()));
    assert_eq!(
        e(fully_connected_s8(&fp, &input[..7], &w, &mut out)),
        Some(ErrorKind::Shape)
    );
    assert_eq!(
        e(fully_connected_s8(&fp, &input, &w, &mut out[..5])),
        Some(ErrorKind::BufferLength)
    );
    let wb = ConvWeights {
        multiplier: &mult3[..2],
        shift: &shift3[..2],
        ..w
    };
    assert_eq!(
        e(fully_connected_s8(&fp, &input, &wb, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let wb = ConvWeights {
        multiplier: &mult3[..1],
        ..w
    };
    assert_eq!(
        e(fully_connected_s8(&fp, &input, &wb, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let wb = ConvWeights {
        filter: &filter[..11],
        ..w
    };
    assert_eq!(
        e(fully_connected_s8(&fp, &input, &wb, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let wb = ConvWeights {
        bias: &bias[..2],
        ..w
    };
    assert_eq!(
        e(fully_connected_s8(&fp, &input, &wb, &mut out)),
        Some(ErrorKind::BufferLength)
    );
    let bad_shift = [0, -40, 0];
    let wb = ConvWeights {
        shift: &bad_shift,
        ..w
    };
    assert_eq!(
        e(fully_connected_s8(&fp, &input, &wb, &mut out)),
        Some(ErrorKind::Parameter)
    );
    let f0 = FullyConnectedParams {
        in_features: 0,
        ..fp
    };
    assert_eq!(
        e(fully_connected_s8(&f0, &input, &w, &mut out)),
        Some(ErrorKind::Parameter)
    );

    // Softmax.
    let sp = softmax_params(1.0, 0.1, 4);
    let input = [0i8; 8];
    let mut out = [0i8; 8];
    assert_eq!(softmax_s8(&sp, &input, &mut out), Ok(()));
    assert_eq!(
        e(softmax_s8(&sp, &input, &mut out[..7])),
        Some(ErrorKind::BufferLength)
    );
    assert_eq!(
        e(softmax_s8(&sp, &input[..7], &mut out[..7])),
        Some(ErrorKind::Shape)
    );
    assert_eq!(
        e(softmax_s8(
            &SoftmaxParams { depth: 0, ..sp },
            &input,
            &mut out
        )),
        Some(ErrorKind::Shape)
    );
    assert_eq!(
        softmax_s8(&SoftmaxParams { depth: 0, ..sp }, &[], &mut []),
        Ok(())
    );
    for bad in [
        SoftmaxParams { diff_min: 1, ..sp },
        SoftmaxParams {
            input_left_shift: -1,
            ..sp
        },
        SoftmaxParams {
            input_left_shift: 31,
            ..sp
        },
        SoftmaxParams {
            input_multiplier: -5,
            ..sp
        },
    ] {
        assert_eq!(
            e(softmax_s8(&bad, &input, &mut out)),
            Some(ErrorKind::Parameter)
        );
    }
}

/// Zero-sized extents anywhere are consistent shapes: no panic, and every
/// output element that exists gets its bias-only (or empty-window) value.
#[test]
fn zero_sized_extents_are_handled() {
    let q = ConvQuant {
        input_zero_point: 3,
        output_zero_point: -1,
        clamp: Clamp::NONE,
    };
    let mult = [1 << 30; 4];
    let shift = [0; 4];
    let bias = [10, 20, 30, 40];
    for (ins, outs, groups) in [
        (Shape::new(3, 3, 0), Shape::new(2, 2, 4), 1u16),
        (Shape::new(3, 3, 0), Shape::new(2, 2, 4), 2),
        (Shape::new(3, 3, 0), Shape::new(2, 2, 4), 4),
        (Shape::new(0, 3, 2), Shape::new(2, 2, 4), 2),
        (Shape::new(3, 0, 4), Shape::new(2, 2, 4), 4),
        (Shape::new(3, 3, 2), Shape::new(0, 2, 4), 1),
        (Shape::new(3, 3, 2), Shape::new(2, 0, 4), 2),
        (Shape::new(3, 3, 2), Shape::new(2, 2, 0), 1),
    ] {
        let oc = outs.c as usize;
        for (kh, kw) in [(1u8, 1u8), (3, 3), (2, 5)] {
            let window = Window {
                kh,
                kw,
                ..unit_window()
            };
            let p = ConvParams {
                window,
                groups,
                quant: q,
            };
            let cpg = ins.c as usize / groups as usize;
            let filter = vec![1i8; oc * kh as usize * kw as usize * cpg];
            let w = ConvWeights {
                filter: &filter,
                bias: &bias[..oc],
                multiplier: &mult[..oc],
                shift: &shift[..oc],
            };
            let input = vec![5i8; ins.len()];
            let mut out = vec![0i8; outs.len()];
            let want = ref_conv(&p, ins, &input, &filter, w.bias, &mult, &shift, outs);
            conv2d_s8(&p, ins, &input, &w, outs, &mut out).unwrap();
            assert_eq!(out, want);
            convolve_s8(&p, ins, &input, &w, outs, &mut out).unwrap();
            assert_eq!(out, want);
            if ins.c % groups == 0 && groups as usize <= ins.c.max(1) as usize {
                let dp = DepthwiseParams {
                    window,
                    depth_multiplier: 2,
                    quant: q,
                };
                let douts = Shape::new(outs.h, outs.w, ins.c * 2);
                let dfilter = vec![1i8; kh as usize * kw as usize * douts.c as usize];
                let n = douts.c as usize;
                let (b, m, s) = (vec![7; n], vec![1 << 30; n], vec![0; n]);
                let dw = ConvWeights {
                    filter: &dfilter,
                    bias: &b,
                    multiplier: &m,
                    shift: &s,
                };
                let mut dout = vec![0i8; douts.len()];
                depthwise_conv_s8(&dp, ins, &input, &dw, douts, &mut dout).unwrap();
                assert_eq!(
                    dout,
                    ref_depthwise(&dp, ins, &input, &dfilter, &b, &m, &s, douts)
                );
            }
        }
    }
    // Pointwise pair with no input or no middle channels.
    for (ic, mc) in [(0usize, 2usize), (2, 0), (0, 0)] {
        let f1 = vec![1i8; ic * mc];
        let f2 = vec![1i8; 4 * mc];
        let (b1, m1, s1) = (vec![5; mc], vec![1 << 30; mc], vec![0; mc]);
        let w1 = ConvWeights {
            filter: &f1,
            bias: &b1,
            multiplier: &m1,
            shift: &s1,
        };
        let w2 = ConvWeights {
            filter: &f2,
            bias: &bias,
            multiplier: &mult,
            shift: &shift,
        };
        let ins = Shape::new(2, 2, ic as u16);
        let outs = Shape::new(2, 2, 4);
        let input = vec![1i8; ins.len()];
        let mut out = vec![0i8; outs.len()];
        let mut scratch = vec![0i8; mc];
        pointwise_pair_s8(
            &q,
            &w1,
            &q,
            &w2,
            ins,
            &input,
            mc as u16,
            &mut scratch,
            outs,
            &mut out,
        )
        .unwrap();
        let mids = Shape::new(2, 2, mc as u16);
        let unit = ConvParams {
            window: unit_window(),
            groups: 1,
            quant: q,
        };
        let mid = ref_conv(&unit, ins, &input, &f1, &b1, &m1, &s1, mids);
        assert_eq!(
            out,
            ref_conv(&unit, mids, &mid, &f2, &bias, &mult, &shift, outs)
        );
    }
    // Pools, add, FC and softmax on empty tensors.
    let pp = PoolParams {
        window: unit_window(),
        clamp: Clamp::NONE,
    };
    for f in [average_pool_s8 as PoolFn, max_pool_s8] {
        assert_eq!(
            f(&pp, Shape::new(2, 2, 0), &[], Shape::new(2, 2, 0), &mut []),
            Ok(())
        );
        assert_eq!(
            f(
                &pp,
                Shape::new(2, 2, 1),
                &[0; 4],
                Shape::new(0, 2, 1),
                &mut []
            ),
            Ok(())
        );
    }
    let mut rng = Rng::new(3);
    assert_eq!(add_s8(&add_params(&mut rng), &[], &[], &mut []), Ok(()));
    let fp = FullyConnectedParams {
        in_features: 3,
        out_features: 0,
        input_zero_point: 0,
        filter_zero_point: 0,
        output_zero_point: 0,
        clamp: Clamp::NONE,
    };
    let w0 = ConvWeights {
        filter: &[],
        bias: &[],
        multiplier: &[],
        shift: &[],
    };
    assert_eq!(fully_connected_s8(&fp, &[1, 2, 3], &w0, &mut []), Ok(()));
    let fp = FullyConnectedParams {
        out_features: 4,
        ..fp
    };
    let f4 = [1i8; 12];
    let w4 = ConvWeights {
        filter: &f4,
        bias: &bias,
        multiplier: &mult,
        shift: &shift,
    };
    assert_eq!(fully_connected_s8(&fp, &[], &w4, &mut []), Ok(()));
    let sp = softmax_params(1.0, 0.1, 4);
    assert_eq!(softmax_s8(&sp, &[], &mut []), Ok(()));
}

#[test]
fn errors_display_and_carry_context() {
    let p = FullyConnectedParams {
        in_features: 2,
        out_features: 1,
        input_zero_point: 0,
        filter_zero_point: 0,
        output_zero_point: 0,
        clamp: Clamp::NONE,
    };
    let w = ConvWeights {
        filter: &[0, 0],
        bias: &[0],
        multiplier: &[1],
        shift: &[0],
    };
    let err = fully_connected_s8(&p, &[0, 0], &w, &mut []).unwrap_err();
    assert_eq!(
        err,
        Error::BufferLength {
            what: "output",
            expected: 1,
            actual: 0
        }
    );
}

// ---------------------------------------------------------------------------
// Garbage in, error (or anything) out, never a panic.
// ---------------------------------------------------------------------------

/// A length near `n` (often exactly `n`), or anything small. In an `exact`
/// case every buffer has the length its (possibly degenerate) shape implies.
fn len_near(rng: &mut Rng, n: usize, exact: bool) -> usize {
    if exact {
        return n;
    }
    match rng.next() % 6 {
        0 => n + 1,
        1 => n.saturating_sub(1),
        2 => rng.usize(0, 40),
        _ => n,
    }
}

/// Filter and per-channel tables of (nearly) the right lengths, garbage values.
struct GarbageTables {
    filter: Vec<i8>,
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
}

impl GarbageTables {
    fn new(rng: &mut Rng, filter_len: usize, channels: usize, exact: bool) -> GarbageTables {
        let filter_len = len_near(rng, filter_len, exact);
        let filter = rng.i8s(filter_len);
        let table = |rng: &mut Rng| {
            let n = len_near(rng, channels, exact);
            (0..n).map(|_| garbage_i32(rng)).collect::<Vec<i32>>()
        };
        GarbageTables {
            filter,
            bias: table(rng),
            mult: table(rng),
            // Shifts in range in an exact case, so that most exact cases get
            // past the checks into the loops.
            shift: if exact {
                let n = len_near(rng, channels, exact);
                (0..n).map(|_| rng.range(-31, 30) as i32).collect()
            } else {
                table(rng)
            },
        }
    }

    fn weights(&self) -> ConvWeights<'_> {
        ConvWeights {
            filter: &self.filter,
            bias: &self.bias,
            multiplier: &self.mult,
            shift: &self.shift,
        }
    }
}

fn garbage_window(rng: &mut Rng) -> Window {
    // Mostly small and valid, sometimes 0 or huge.
    let small = |rng: &mut Rng| match rng.next() % 12 {
        0 => 0,
        1 | 2 => rng.next() as u8,
        _ => rng.range(1, 3) as u8,
    };
    Window {
        kh: small(rng),
        kw: small(rng),
        stride_h: small(rng),
        stride_w: small(rng),
        dilation_h: small(rng),
        dilation_w: small(rng),
        pad_top: small(rng),
        pad_left: small(rng),
    }
}

fn garbage_shape(rng: &mut Rng) -> Shape {
    Shape::new(
        rng.range(0, 5) as u16,
        rng.range(0, 5) as u16,
        rng.range(0, 6) as u16,
    )
}

fn garbage_i32(rng: &mut Rng) -> i32 {
    match rng.next() % 4 {
        0 => rng.next() as i32,
        1 => [i32::MIN, i32::MAX, 0, -1, 1, 31, -31, 30, -32][rng.usize(0, 8)],
        _ => rng.range(-40, 40) as i32,
    }
}

/// Any clamp; an ordered one in an `exact` case.
fn garbage_clamp(rng: &mut Rng, exact: bool) -> Clamp {
    let (a, b) = (rng.next() as i8, rng.next() as i8);
    if exact {
        Clamp {
            min: a.min(b),
            max: a.max(b),
        }
    } else {
        Clamp { min: a, max: b }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn garbage_arguments_never_panic(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let exact = rng.chance(2);
        let ins = garbage_shape(&mut rng);
        let outs = garbage_shape(&mut rng);
        let win = garbage_window(&mut rng);
        let quant = ConvQuant {
            input_zero_point: garbage_i32(&mut rng),
            output_zero_point: garbage_i32(&mut rng),
            clamp: garbage_clamp(&mut rng, exact),
        };
        let groups = if rng.chance(8) { 0 } else { rng.range(1, 4) as u16 };
        let cp = ConvParams { window: win, groups, quant };
        let oc = outs.c as usize;
        let cpg = if groups == 0 { 1 } else { ins.c as usize / groups as usize };
        let taps = win.kh as usize * win.kw as usize;
        let input_len = len_near(&mut rng, ins.len(), exact);
        let input = rng.i8s(input_len);
        let output_len = len_near(&mut rng, outs.len(), exact);
        let mut output = vec![0i8; output_len];
        let t = GarbageTables::new(&mut rng, oc * taps * cpg, oc, exact);
        let w = t.weights();
        let _ = conv2d_s8(&cp, ins, &input, &w, outs, &mut output);
        let _ = grouped_conv3x3_s8(&cp, ins, &input, &w, outs, &mut output);
        let _ = pointwise_conv_s8(&cp, ins, &input, &w, outs, &mut output);
        let _ = convolve_s8(&cp, ins, &input, &w, outs, &mut output);

        // Depthwise: output channels in_c * multiplier in an exact case.
        let dm = rng.range(0, 3) as u16;
        let dp = DepthwiseParams { window: win, depth_multiplier: dm, quant };
        let douts = if exact { Shape::new(outs.h, outs.w, ins.c * dm) } else { outs };
        let doc = douts.c as usize;
        let td = GarbageTables::new(&mut rng, taps * doc, doc, exact);
        let mut dout = vec![0i8; len_near(&mut rng, douts.len(), exact)];
        let _ = depthwise_conv_s8(&dp, ins, &input, &td.weights(), douts, &mut dout);

        // Pointwise pair: same height and width in an exact case.
        let mid_c = rng.range(0, 6) as u16;
        let pouts = if exact { Shape::new(ins.h, ins.w, outs.c) } else { outs };
        let t1 = GarbageTables::new(&mut rng, mid_c as usize * ins.c as usize, mid_c as usize, exact);
        let t2 = GarbageTables::new(&mut rng, oc * mid_c as usize, oc, exact);
        let scratch_len = len_near(&mut rng, mid_c as usize, exact);
        let mut scratch = vec![0i8; scratch_len];
        let mut pout = vec![0i8; len_near(&mut rng, pouts.len(), exact)];
        let _ = pointwise_pair_s8(
            &quant, &t1.weights(), &quant, &t2.weights(), ins, &input, mid_c, &mut scratch, pouts, &mut pout,
        );

        // Pools: same channels in an exact case.
        let pp = PoolParams { window: win, clamp: garbage_clamp(&mut rng, exact) };
        let qouts = if exact { Shape::new(outs.h, outs.w, ins.c) } else { outs };
        let mut qout = vec![0i8; len_near(&mut rng, qouts.len(), exact)];
        let _ = average_pool_s8(&pp, ins, &input, qouts, &mut qout);
        let _ = max_pool_s8(&pp, ins, &input, qouts, &mut qout);

        let ap = AddParams {
            input1_zero_point: garbage_i32(&mut rng),
            input2_zero_point: garbage_i32(&mut rng),
            output_zero_point: garbage_i32(&mut rng),
            left_shift: garbage_i32(&mut rng),
            input1_multiplier: garbage_i32(&mut rng),
            input1_shift: garbage_i32(&mut rng),
            input2_multiplier: garbage_i32(&mut rng),
            input2_shift: garbage_i32(&mut rng),
            output_multiplier: garbage_i32(&mut rng),
            output_shift: garbage_i32(&mut rng),
            clamp: garbage_clamp(&mut rng, exact),
        };
        let other_len = len_near(&mut rng, input.len(), exact);
        let other = rng.i8s(other_len);
        let mut aout = vec![0i8; len_near(&mut rng, input.len(), exact)];
        let _ = add_s8(&ap, &input, &other, &mut aout);
        let mut acc = input.clone();
        let _ = add_s8_in_place(&ap, &mut acc, &other);

        let fp = FullyConnectedParams {
            in_features: rng.range(0, 6) as u16,
            out_features: rng.range(0, 6) as u16,
            input_zero_point: garbage_i32(&mut rng),
            filter_zero_point: garbage_i32(&mut rng),
            output_zero_point: garbage_i32(&mut rng),
            clamp: garbage_clamp(&mut rng, exact),
        };
        let (n_in, n_out, batches) = (fp.in_features as usize, fp.out_features as usize, rng.usize(0, 3));
        let fin_len = len_near(&mut rng, batches * n_in, exact);
        let fin = rng.i8s(fin_len);
        let per_tensor = rng.chance(2);
        let mut tf = GarbageTables::new(&mut rng, n_out * n_in, n_out, exact);
        if per_tensor && exact {
            tf.mult.truncate(1);
            tf.shift.truncate(1);
        }
        let mut fout = vec![0i8; len_near(&mut rng, batches * n_out, exact)];
        let _ = fully_connected_s8(&fp, &fin, &tf.weights(), &mut fout);

        let sp = SoftmaxParams {
            depth: rng.range(0, 6) as u16,
            input_multiplier: garbage_i32(&mut rng),
            input_left_shift: garbage_i32(&mut rng),
            diff_min: garbage_i32(&mut rng),
        };
        let rows = rng.usize(0, 3);
        let sin_len = len_near(&mut rng, rows * sp.depth as usize, exact);
        let sin = rng.i8s(sin_len);
        let mut sout = vec![0i8; len_near(&mut rng, sin.len(), exact)];
        let _ = softmax_s8(&sp, &sin, &mut sout);
    }

    /// Valid geometry with garbage quantization values: wrapping arithmetic
    /// everywhere, results equal the references.
    #[test]
    fn extreme_quantization_values_match_reference(seed in any::<u64>(), g in geo(), groups_sel in 0u8..4) {
        let mut c = conv_case(seed, g, groups_sel);
        let mut rng = Rng::new(seed.rotate_left(17));
        c.p.quant.input_zero_point = garbage_i32(&mut rng);
        c.p.quant.output_zero_point = garbage_i32(&mut rng);
        for b in &mut c.bias {
            *b = garbage_i32(&mut rng);
        }
        for m in &mut c.mult {
            *m = garbage_i32(&mut rng);
        }
        prop_assert_eq!(run_conv(conv2d_s8, &c), c.reference());
    }
}
