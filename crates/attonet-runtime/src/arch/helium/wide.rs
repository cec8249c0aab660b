//! Helium (MVE) convolutions whose window is wider than the columns
//! kernel's ([`MVE_MAX_K`] bytes: a 3x3 over more than 64 channels, a 1x1
//! over more than 576).
//!
//! The columns kernel ([`super::conv_blocks`]) keeps four pixels' whole
//! windows in its 2,304-byte columns; past [`MVE_MAX_K`] they do not fit.
//! Here the window is cut into slices of whole 16-byte chunks
//! ([`helium_wide_slices`]); per block of four output pixels and batch of
//! output channels, each slice is gathered in turn into the same column
//! layout (`[t / 16][pixel][16]` bytes, padded taps as the zero point) and
//! every channel's four accumulators advance over it by [`dot4`] (`VLDRB`,
//! `VMLADAVA.S8` under a tail-predicated low-overhead loop). The
//! accumulators start from the channel's `bias - zp * Σ w` (the Helium
//! table's, as in the columns kernel), so after the last slice they are
//! the portable kernel's sums modulo 2^32; then the DSP kernels' scalar
//! fast epilogue, or [`requantize`] for a channel outside its bounds, and
//! the clamp. Bit-identical to the portable kernel.

use super::{chans, dot4, Chan, Cols, Consts, Put, BATCH, P};
use crate::dsp_select::{helium_wide_covers, helium_wide_slices};
use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::{self, ChanQ};
use crate::quant::requantize;
use core::mem::MaybeUninit;

#[cfg(test)]
use crate::dsp_select::MVE_MAX_K;

/// Copies taps `t0..t1` of group `g`'s window of output pixel `(oy, ox)`
/// into slot `s` of the columns at `cols` (tap `t` at `cols + ((t - t0) /
/// 16) * 64 + s * 16 + (t - t0) % 16`), padded taps as the zero point.
///
/// # Safety
/// `cols` is writable for `P * (t1 - t0)` bytes rounded up to whole chunks
/// (`t0` a multiple of 16); `input` holds the input (`check_conv_args`).
#[allow(clippy::too_many_arguments)]
unsafe fn gather_slice(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    cols: *mut i8,
    s: usize,
    g: usize,
    (oy, ox): (usize, usize),
    zp: i8,
    (t0, t1): (usize, usize),
) {
    let w = &p.window;
    let (ih, iw, ic) = (
        in_shape.h as isize,
        in_shape.w as isize,
        in_shape.c as usize,
    );
    let cpg = ic / p.groups as usize;
    let kw = w.kw as usize;
    let iy0 = oy as isize * w.stride_h as isize - w.pad_top as isize;
    let ix0 = ox as isize * w.stride_w as isize - w.pad_left as isize;
    // SAFETY (all the pointer arithmetic below): a tap inside the input
    // reads its bytes at `(iy * iw + ix) * ic + g * cpg + c`, `c < cpg`,
    // within `input`; the slice's `t1 - t0` bytes go to slot `s`, within the
    // caller's columns.
    let x = unsafe { input.as_ptr().add(g * cpg) };
    let mut put = Put {
        slot: unsafe { cols.add(s * 16) },
        t: 0,
    };
    for pos in t0 / cpg..t1.div_ceil(cpg) {
        let (ky, kx) = ((pos / kw) as isize, (pos % kw) as isize);
        let first = pos * cpg;
        let (lo, hi) = (t0.max(first), t1.min(first + cpg));
        let iy = iy0 + ky * w.dilation_h as isize;
        let ix = ix0 + kx * w.dilation_w as isize;
        unsafe {
            if (0..ih).contains(&iy) && (0..iw).contains(&ix) {
                let src = x.add((iy * iw + ix) as usize * ic + (lo - first));
                put.put(Some(src), zp, hi - lo);
            } else {
                put.put(None, zp, hi - lo);
            }
        }
    }
}

/// The DSP kernels' scalar fast epilogue on a Helium channel's constants
/// (`block1`'s, in Rust): `requantize(acc, mult, -e) + zp_out`, saturated
/// to `i8`, for a channel the fast epilogue covers.
#[inline(always)]
fn fast_epilogue(acc: i32, t: &Chan) -> i32 {
    use super::super::dsp_prims::{asr_reg, smmlar, ssat8};
    let tt = t.c0.wrapping_sub(((acc as u32) >> 31) as i32);
    ssat8(asr_reg(
        smmlar(acc.wrapping_add(acc), t.mult, tt),
        t.neg_e.wrapping_neg() as u32,
    ))
}

/// The convolution through slices (see the module), or `false` (nothing
/// written) where [`helium_wide_covers`] does not take it. `sums` and
/// `pre` as [`super::conv_s8`] reads them.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_wide(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    pre: Consts<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !helium_wide_covers(p, in_shape, out_shape) {
        return false;
    }
    let q = &p.quant;
    let zp = q.input_zero_point;
    let groups = p.groups as usize;
    let k = p.window.kh as usize * p.window.kw as usize * (in_shape.c as usize / groups);
    let oc_n = out_shape.c as usize;
    let ocpg = oc_n / groups;
    let out_w = out_shape.w as usize;
    let pixels = out_shape.h as usize * out_w;
    let filter = weights.filter;
    if filter.len() < oc_n * k {
        return false;
    }
    let (slices, len) = helium_wide_slices(k);
    let limits = ChanQ::limits(q.output_zero_point, prepared::sum_bound(k, zp));
    // Zeroed once: the slots past a last block's pixels are read by the
    // accumulating loop (their sums are dropped), so they must hold
    // initialized bytes.
    let mut cols = Cols([0; super::COLS]);
    let cols = cols.0.as_mut_ptr();
    let mut tab_buf = MaybeUninit::<[Chan; BATCH]>::uninit();
    let mut acc = [[0i32; P]; BATCH];
    for g in 0..groups {
        let oc_end = (g + 1) * ocpg;
        let mut oc0 = g * ocpg;
        while oc0 < oc_end {
            let nb = BATCH.min(oc_end - oc0);
            let (tab, slow) = chans(
                pre,
                weights,
                sums,
                (oc0, nb, oc_n),
                (k, zp, limits),
                &mut tab_buf,
            );
            let mut n0 = 0;
            while n0 < pixels {
                let np = P.min(pixels - n0);
                for (a, t) in acc.iter_mut().zip(tab) {
                    *a = [t.bias; P];
                }
                for slice in 0..slices {
                    let t0 = slice * len;
                    let t1 = k.min(t0 + len);
                    for s in 0..np {
                        let n = n0 + s;
                        // SAFETY: `cols` is `P * MVE_MAX_K` bytes and a
                        // slice at most `MVE_MAX_K` (`helium_wide_slices`),
                        // `t0` a multiple of 16.
                        unsafe {
                            gather_slice(
                                p,
                                in_shape,
                                input,
                                cols,
                                s,
                                g,
                                (n / out_w, n % out_w),
                                zp as i8,
                                (t0, t1),
                            )
                        };
                    }
                    for (i, a) in acc[..nb].iter_mut().enumerate() {
                        // SAFETY: row `oc0 + i` of the filter is `k` bytes
                        // (checked above), read from `t0` for `t1 - t0`;
                        // the columns hold the slice's chunks of all four
                        // slots (zeroed or earlier pixels' past `np`).
                        *a = unsafe {
                            dot4(filter[(oc0 + i) * k + t0..].as_ptr(), cols, t1 - t0, *a)
                        };
                    }
                }
                for (i, (a, t)) in acc[..nb].iter().zip(tab).enumerate() {
                    let oc = oc0 + i;
                    for (s, &v) in a[..np].iter().enumerate() {
                        let y = if slow & (1 << i) == 0 {
                            fast_epilogue(v, t)
                        } else {
                            requantize(v, weights.multiplier[oc], weights.shift[oc])
                                .wrapping_add(q.output_zero_point)
                        };
                        output[(n0 + s) * oc_n + oc] = q.clamp.apply(y);
                    }
                }
                n0 += np;
            }
            oc0 += nb;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::arch::test_cases::*;

    /// Windows past `MVE_MAX_K` (`WideCase`: 3x3, 1x1 and any windows,
    /// strides, dilation, padding, groups; channels outside the fast
    /// epilogue; with no table, the DSP kernels' and the Helium one) give
    /// the portable kernel's bytes, and a build without `CONV_WIDE` declines
    /// them, writing nothing.
    #[test]
    fn wide_windows_match_portable() {
        let mut r = Rng(0x4E11_0000_5EED_0002);
        let mut covered = 0;
        for case in 0..cases(200) {
            let c = WideCase::draw(&mut r, case);
            let (p, ins, outs, k) = (c.p, c.ins, c.outs, c.k);
            let (cpg, ocpg) = (ins.c / p.groups, outs.c / p.groups);
            let takes = k > MVE_MAX_K && (p.groups == 1 || cpg as usize * ocpg as usize >= 16);
            assert_eq!(helium_wide_covers(&p, ins, outs), takes, "case {case}");
            if !takes {
                continue;
            }
            let w = c.weights();
            let oc = outs.c as usize;
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            let mut dsp = std::vec![0i32; prepared::conv_len(oc)];
            let dsp_ok = prepared::prepare_conv(&w, oc, k, zi, zo, &mut dsp).is_some();
            let mut mve = std::vec![0i32; prepared::conv_mve_len(oc)];
            let mve_ok = prepared::prepare_conv_mve(&w, oc, k, zi, zo, &mut mve).is_some();
            let tables: [(&[i32], bool); 3] = [(&[], true), (&dsp, dsp_ok), (&mve, mve_ok)];
            for (table, ok) in tables {
                if !ok {
                    continue;
                }
                for wide in [true, false] {
                    let mut got = std::vec![0x55i8; outs.len()];
                    let took = super::super::conv_s8(
                        &p,
                        ins,
                        &c.input,
                        &w,
                        &[],
                        table,
                        outs,
                        &mut got,
                        wide,
                    );
                    if wide {
                        assert!(took, "case {case}");
                        covered += 1;
                        assert_eq!(got, c.want, "case {case}: {p:?} {ins:?} -> {outs:?}");
                    } else {
                        // Without the wide kernel linked: nothing written.
                        assert!(!took && got.iter().all(|&v| v == 0x55), "case {case}");
                    }
                }
            }
        }
        #[cfg(not(miri))]
        assert!(covered > 150, "only {covered} calls took the wide path");
    }
}
