//! Helium (M-profile Vector Extension, MVE) kernels: Cortex-M55, Cortex-M85.
//!
//! Compiled for builds with cfg `attonet_mve` (set by `build.rs` for
//! `-C target-cpu=cortex-m55|cortex-m85` or `-C target-feature=+mve`; these
//! cores also have the DSP extension, so the DSP kernels are there too and
//! take what this module declines), and for the host unit tests, where each
//! MVE instruction is a plain-Rust model ([`mve`]) and the loops run the same
//! sequence of instructions.
//!
//! Every entry point takes arguments the portable kernel's checks already
//! accepted and returns `false` (nothing written) for parameters it does not
//! cover; what it computes is bit-identical to the portable kernel.
//!
//! # Convolution ([`conv_s8`])
//! As CMSIS-NN's MVE convolution: the accumulator `Σ w * (x - zp) + bias`
//! is formed as `Σ w * x + (bias - zp * Σ w)` (equal modulo 2^32, as the
//! portable kernel's `int32` arithmetic is), with `Σ w * x` by
//! `VMLADAVA.S8` (16 multiply-accumulates an instruction) on the raw int8
//! bytes, and padded taps read as the zero point (`zp * w - zp * w = 0`).
//! Blocks of four output pixels in raster order: each pixel's window
//! (`kh * kw * in_c` bytes in OHWI order, the weight row's layout) is copied
//! once into columns interleaved as `[k / 16][pixel][16 bytes]`; then for
//! every output channel one tail-predicated low-overhead loop (`WLSTP.8` /
//! `LETP`) reads the channel's weight row in place, 16 bytes an iteration,
//! and the four pixels' 16 bytes each, for four `VMLADAVA.S8`: ten
//! instructions per 64 multiply-accumulates. The last iteration's predicate
//! covers `k % 16` lanes, so rows of any length are read exactly (nothing
//! past a row's end) and the columns' round-up lanes are never used. The
//! epilogue is the DSP kernels' five-instruction one (`ChanQ`, `fast_out`),
//! with `bias - zp * Σ w` for the bias; channels it does not cover take
//! [`requantize`] on the same accumulator.
//!
//! Covered: one group, input channels a multiple of 16 (each tap then is
//! whole 16-byte chunks, copied as such), any window, stride, dilation and
//! padding with `kh * kw * in_c <= MVE_MAX_K`, and an `i8` input zero point.

use super::dsp_prims::{asr_reg, smmlar, ssat8};
use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::{self, ChanQ};
use crate::quant::requantize;

/// Output pixels per block.
const P: usize = 4;
/// The longest window (`kh * kw * in_c`) covered: ResNet-8's 3x3x64.
pub(crate) const MVE_MAX_K: usize = 576;
/// Output channels whose constants are derived at a time.
const BATCH: usize = 64;

/// The MVE instructions the kernels use: inline assembly on `attonet_mve`
/// builds (inside the kernels' loops), and a plain-Rust model of each for
/// the host tests, with the predication of a tail-predicated loop
/// (`WLSTP.8`/`LETP`: iteration `i` of a loop over `n` bytes has lanes
/// `0..min(16, n - 16 * i)` active; inactive lanes are not read and add
/// nothing).
#[cfg_attr(attonet_mve, allow(dead_code))]
pub(crate) mod mve {
    /// A `Q` register as 16 byte lanes.
    pub(crate) type Q8 = [i8; 16];

    /// `VLDRB.8 q, [p]` under a tail predicate of `active` lanes: the
    /// active bytes, zeros in the others (which are not read).
    ///
    /// # Safety
    /// `p` is valid for reads of `min(active, 16)` bytes.
    #[inline(always)]
    pub(crate) unsafe fn vldrb_8(p: *const i8, active: usize) -> Q8 {
        let mut q = [0i8; 16];
        for (i, v) in q.iter_mut().enumerate().take(active.min(16)) {
            // SAFETY: the caller's contract.
            *v = unsafe { *p.add(i) };
        }
        q
    }

    /// `VMLADAVA.S8 rda, qn, qm`: `rda` plus the sum of the 16 lane
    /// products of signed bytes (inactive lanes add nothing: their loaded
    /// values are zero in the model), wrapping in 32 bits.
    #[inline(always)]
    pub(crate) fn vmladava_s8(rda: i32, n: &Q8, m: &Q8) -> i32 {
        let s: i32 = n.iter().zip(m).map(|(&a, &b)| a as i32 * b as i32).sum();
        rda.wrapping_add(s)
    }

    /// `VADDVA.S8 rda, qm`: `rda` plus the sum of the 16 signed bytes.
    #[inline(always)]
    pub(crate) fn vaddva_s8(rda: i32, m: &Q8) -> i32 {
        rda.wrapping_add(m.iter().map(|&a| a as i32).sum::<i32>())
    }
}

/// `acc + Σ w[0..k]`: one tail-predicated loop of `VLDRB.8` and
/// `VADDVA.S8`.
///
/// # Safety
/// `w` is valid for reads of `k` bytes.
#[inline(always)]
unsafe fn row_sum(w: *const i8, k: usize, acc: i32) -> i32 {
    #[cfg(attonet_mve)]
    {
        let mut acc = acc;
        // SAFETY: the loop reads `k` bytes from `w` (the tail predicate
        // covers the last `k % 16`); registers and flags only otherwise.
        unsafe {
            core::arch::asm!(
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vaddva.s8 r0, q0",
                "letp lr, 1b",
                "2:",
                w = inout(reg) w => _,
                k = in(reg) k,
                inout("r0") acc,
                out("lr") _,
                out("q0") _,
                options(nostack, readonly),
            );
        }
        acc
    }
    #[cfg(not(attonet_mve))]
    {
        let mut acc = acc;
        let mut i = 0;
        while i < k {
            // SAFETY: `i < k` bytes, the caller's contract.
            let q = unsafe { mve::vldrb_8(w.add(i), k - i) };
            acc = mve::vaddva_s8(acc, &q);
            i += 16;
        }
        acc
    }
}

/// The four pixels' accumulators `acc[p] + Σ_t w[t] * x_p[t]` over `k`
/// bytes, pixel `p`'s byte `t` at `cols[(t / 16) * 64 + p * 16 + t % 16]`:
/// per 16 bytes one weight load, four column loads, four `VMLADAVA.S8`.
///
/// # Safety
/// `w` is valid for reads of `k` bytes, `cols` for `64 * ceil(k / 16)`.
#[inline(always)]
unsafe fn dot4(w: *const i8, cols: *const i8, k: usize, acc: [i32; 4]) -> [i32; 4] {
    #[cfg(attonet_mve)]
    {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: the loop reads `k` bytes from `w` and 16 bytes of each
        // pixel per iteration from `cols` (the caller's bounds); the tail
        // predicate limits the last iteration to `k % 16` lanes. Registers
        // only otherwise (q4 is callee-saved: declared, so saved by the
        // compiler).
        unsafe {
            core::arch::asm!(
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vldrb.8 q1, [{c}, #16]",
                "vldrb.8 q2, [{c}, #32]",
                "vldrb.8 q3, [{c}, #48]",
                "vldrb.8 q4, [{c}], #64",
                "vmladava.s8 r0, q0, q4",
                "vmladava.s8 r2, q0, q1",
                "vmladava.s8 r4, q0, q2",
                "vmladava.s8 r8, q0, q3",
                "letp lr, 1b",
                "2:",
                w = inout(reg) w => _,
                c = inout(reg) cols => _,
                k = in(reg) k,
                inout("r0") a0,
                inout("r2") a1,
                inout("r4") a2,
                inout("r8") a3,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                out("q4") _,
                options(nostack, readonly),
            );
        }
        [a0, a1, a2, a3]
    }
    #[cfg(not(attonet_mve))]
    {
        let mut acc = acc;
        let (mut w, mut c) = (w, cols);
        let mut left = k;
        while left > 0 {
            // SAFETY: the caller's bounds; an iteration reads `min(left, 16)`
            // bytes of `w` and of each pixel's 16.
            unsafe {
                let q0 = mve::vldrb_8(w, left);
                for (p, a) in acc.iter_mut().enumerate() {
                    let x = mve::vldrb_8(c.add(16 * p), left);
                    *a = mve::vmladava_s8(*a, &q0, &x);
                }
                w = w.add(16);
                c = c.add(64);
            }
            left = left.saturating_sub(16);
        }
        acc
    }
}

/// The DSP kernels' fast epilogue (`fast_out` there): `requantize(acc,
/// mult, -e) + zp` saturated to `i8`, for a channel [`ChanQ::new`] accepted.
#[inline(always)]
fn fast_out(acc: i32, q: &ChanQ) -> i32 {
    let t = q.c0.wrapping_sub(((acc as u32) >> 31) as i32);
    ssat8(asr_reg(smmlar(acc.wrapping_add(acc), q.mult, t), q.e))
}

/// Whether [`conv_s8`] takes a convolution with these parameters.
pub(crate) fn conv_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    let ic = in_shape.c as usize;
    let k = w.kh as usize * w.kw as usize * ic;
    p.groups == 1
        && ic % 16 == 0
        && (1..=MVE_MAX_K).contains(&k)
        && (-128..=127).contains(&p.quant.input_zero_point)
        && out_shape.c > 0
        && out_shape.h > 0
        && out_shape.w > 0
}

/// The convolution through [`dot4`] (see the module documentation), for
/// arguments [`check_conv_args`](crate::ops::conv::check_conv_args)
/// accepted; `prepared` is the converter's table of the epilogue constants
/// ([`prepared::prepare_conv`]) or empty. Returns `false`, nothing written,
/// where [`conv_covers`] does not hold.
pub(crate) fn conv_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !conv_covers(p, in_shape, out_shape) {
        return false;
    }
    let pre: Option<&[ChanQ]> = (prepared.len() == prepared::conv_len(out_shape.c as usize))
        .then(|| bytemuck::try_cast_slice(prepared).ok())
        .flatten();
    conv_blocks(p, in_shape, input, weights, pre, out_shape, output);
    true
}

/// Columns of one block: `P` pixels' windows, interleaved by 16 bytes.
#[repr(C, align(16))]
struct Cols([i8; P * MVE_MAX_K.next_multiple_of(16)]);

/// Copies the window of output pixel `(oy, ox)` into slot `s` of `cols`
/// (16-byte chunk `j` of the window at `cols[j * 64 + s * 16..]`), padded taps
/// as the zero point. `in_c` is a multiple of 16.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gather(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    cols: &mut Cols,
    s: usize,
    oy: usize,
    ox: usize,
    zp: i8,
) {
    let w = &p.window;
    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let iy0 = oy as isize * w.stride_h as isize - w.pad_top as isize;
    let ix0 = ox as isize * w.stride_w as isize - w.pad_left as isize;
    let per_tap = ic / 16;
    let mut j = 0;
    for ky in 0..w.kh as isize {
        let iy = iy0 + ky * w.dilation_h as isize;
        for kx in 0..w.kw as isize {
            let ix = ix0 + kx * w.dilation_w as isize;
            if (0..ih as isize).contains(&iy) && (0..iw as isize).contains(&ix) {
                let base = (iy as usize * iw + ix as usize) * ic;
                for c in input[base..base + ic].chunks_exact(16) {
                    cols.0[j * 64 + s * 16..][..16].copy_from_slice(c);
                    j += 1;
                }
            } else {
                for _ in 0..per_tap {
                    cols.0[j * 64 + s * 16..][..16].fill(zp);
                    j += 1;
                }
            }
        }
    }
}

/// One channel's constants for this call: the fast epilogue's, with the bias
/// `bias - zp * Σ w`; `mult == 0` for a channel that takes [`requantize`].
type Chan = ChanQ;

#[inline(never)]
fn conv_blocks(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    pre: Option<&[ChanQ]>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let q = &p.quant;
    let zp = q.input_zero_point;
    let (clo, chi) = (q.clamp.min as i32, q.clamp.max as i32);
    let w = &p.window;
    let k = w.kh as usize * w.kw as usize * in_shape.c as usize;
    let oc_n = out_shape.c as usize;
    let out_w = out_shape.w as usize;
    let pixels = out_shape.h as usize * out_w;
    let filter = weights.filter;
    let limits = ChanQ::limits(q.output_zero_point, prepared::sum_bound(k, zp));
    let mut cols = Cols([0; P * MVE_MAX_K.next_multiple_of(16)]);
    let mut tab = [ChanQ::SLOW; BATCH];
    let mut oc0 = 0;
    while oc0 < oc_n {
        let nb = BATCH.min(oc_n - oc0);
        for (i, t) in tab[..nb].iter_mut().enumerate() {
            let oc = oc0 + i;
            let c = match pre {
                Some(pre) => Some(pre[oc]).filter(|c| c.mult != 0),
                None => ChanQ::within(
                    weights.bias[oc],
                    weights.multiplier[oc],
                    weights.shift[oc],
                    limits,
                ),
            };
            // SAFETY: row `oc` of the filter is `k` bytes
            // (`check_conv_args`).
            let sw = unsafe { row_sum(filter[oc * k..][..k].as_ptr(), k, 0) };
            let bias = weights.bias[oc].wrapping_sub(zp.wrapping_mul(sw));
            *t = match c {
                Some(c) => Chan { bias, ..c },
                None => Chan {
                    bias,
                    ..ChanQ::SLOW
                },
            };
        }
        let mut n0 = 0;
        while n0 < pixels {
            let np = P.min(pixels - n0);
            for s in 0..P {
                // A partial block repeats its last pixel in the spare slots.
                let n = n0 + s.min(np - 1);
                gather(
                    p,
                    in_shape,
                    input,
                    &mut cols,
                    s,
                    n / out_w,
                    n % out_w,
                    zp as i8,
                );
            }
            for (i, t) in tab[..nb].iter().enumerate() {
                let oc = oc0 + i;
                // SAFETY: row `oc` is `k` bytes of the filter; `cols` holds
                // `64 * ceil(k / 16)` bytes (`k <= MVE_MAX_K`).
                let acc = unsafe {
                    dot4(
                        filter[oc * k..][..k].as_ptr(),
                        cols.0.as_ptr(),
                        k,
                        [t.bias; 4],
                    )
                };
                for (s, &a) in acc.iter().enumerate().take(np) {
                    let v = if t.mult != 0 {
                        fast_out(a, t)
                    } else {
                        requantize(a, weights.multiplier[oc], weights.shift[oc])
                            .wrapping_add(q.output_zero_point)
                    };
                    output[(n0 + s) * oc_n + oc] = v.max(clo).min(chi) as i8;
                }
            }
            n0 += np;
        }
        oc0 += nb;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::test_cases::{out_extent, quant, tables, window, Rng};
    use super::*;
    use crate::ops::conv;
    use crate::ops::Window;

    #[test]
    fn instruction_models() {
        let a: [i8; 16] = core::array::from_fn(|i| (i as i8 - 8) * 16);
        let b: [i8; 16] = core::array::from_fn(|i| 127 - 17 * i as i8);
        let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
        assert_eq!(mve::vmladava_s8(5, &a, &b), want + 5);
        assert_eq!(
            mve::vmladava_s8(i32::MAX, &[1; 16], &[1; 16]),
            i32::MIN + 15
        );
        assert_eq!(mve::vaddva_s8(1, &[-128; 16]), 1 - 2048);
        // SAFETY: `a` has 16 bytes.
        let t = unsafe { mve::vldrb_8(a.as_ptr(), 3) };
        assert_eq!(&t[..3], &a[..3]);
        assert!(t[3..].iter().all(|&v| v == 0));
    }

    #[test]
    fn conv_matches_portable() {
        let mut r = Rng(0x4D56_4531_2024_0017);
        let mut covered = 0;
        for case in 0..1500 {
            let win = match case % 3 {
                0 => Window {
                    pad_top: 0,
                    pad_left: 0,
                    ..window(&mut r, 1)
                },
                1 => window(&mut r, 3),
                _ => window(&mut r, 0),
            };
            let groups = if case % 7 == 0 { 2 } else { 1 };
            let cpg = r.pick(&[16u16, 32, 48, 64, 3, 8]);
            let ocpg = r.pick(&[1u16, 2, 3, 5, 16, 70]);
            let ins = Shape::new(r.range(1, 7) as u16, r.range(1, 7) as u16, cpg * groups);
            let outs = Shape::new(
                out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
                out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
                ocpg * groups,
            );
            let p = ConvParams {
                window: win,
                groups,
                quant: quant(&mut r, true),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize * cpg as usize);
            let t = tables(&mut r, outs.c as usize, true);
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let mut want = std::vec![0i8; outs.len()];
            conv::check_conv_args(&p, ins, &input, &w, outs, &want).unwrap();
            conv::conv_core(&p, ins, &input, &w, outs, &mut want);
            let mut got = std::vec![0x55i8; outs.len()];
            let took = conv_s8(&p, ins, &input, &w, &[], outs, &mut got);
            assert_eq!(took, conv_covers(&p, ins, outs));
            if !took {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                continue;
            }
            covered += 1;
            assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            // With the converter's prepared constants.
            let oc = outs.c as usize;
            let mut table = std::vec![0i32; prepared::conv_len(oc)];
            let taps = filter.len() / oc;
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            prepared::prepare_conv(&w, oc, taps, zi, zo, &mut table).unwrap();
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(conv_s8(&p, ins, &input, &w, &table, outs, &mut got));
            assert_eq!(got, want, "prepared, case {case}");
        }
        assert!(covered > 600, "only {covered} cases covered");
    }
}
