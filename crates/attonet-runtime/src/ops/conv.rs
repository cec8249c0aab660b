//! General KxK convolution with groups and dilation (stems, anything the
//! specialised kernels do not cover).
//!
//! This module also holds the argument checks and window geometry that the
//! other convolution-like kernels share (crate-private).

use super::{ConvParams, ConvQuant, ConvWeights, Shape, Window};
use crate::error::check_len;
use crate::plan::kernels;
use crate::plan::kernels::KernelSet;
use crate::quant::{check_shift, requantize, Clamp};
use crate::{Error, Result};

/// Convolution of an NHWC `i8` image with OHWI weights
/// (`[out_c][kh][kw][in_c / groups]`), any kernel size, stride, dilation,
/// padding and group count.
///
/// TFLite's `reference_integer_ops::ConvPerChannel`, exactly: output channel
/// `oc` belongs to group `g = oc / (out_c / groups)` and reads input channels
/// `g * (in_c / groups) .. (g + 1) * (in_c / groups)`; output pixel `(oy, ox)`
/// reads input pixel `(oy * stride_h - pad_top + ky * dilation_h, ox *
/// stride_w - pad_left + kx * dilation_w)` for each tap, skipping taps outside
/// the input, and
/// `out = clamp(requantize(bias[oc] + Σ w * (x - input_zp), multiplier[oc],
/// shift[oc]) + output_zp)`.
///
/// * Layout: `input` is `in_shape` (NHWC, batch 1), `output` is `out_shape`;
///   `weights.filter` holds `out_c * kh * kw * (in_c / groups)` bytes,
///   `bias`, `multiplier` and `shift` one entry per output channel.
/// * Scratch: none (see the stack use below).
/// * Constraints: kernel size, strides and dilations at least 1; `groups >= 1`
///   dividing both `in_c` and `out_c`; shifts in `-31..=30`; `clamp.min <=
///   clamp.max`. The output extent is free: output pixels whose window lies
///   wholly outside the input get `bias` alone.
/// * Speed: with one group and horizontal dilation 1 the taps of one kernel
///   row are one contiguous dot product of `kx_count * in_c` bytes. Grouped
///   convolutions with one input channel per group and at most 16 taps
///   accumulate 32 output channels side by side (512 bytes of stack for a
///   transposed weight block, 256 for accumulators); other grouped ones with
///   `kh * kw * in_c / groups <= 256` gather each window once (512 bytes of
///   stack).
pub fn conv2d_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_conv_args(p, in_shape, input, weights, out_shape, output)?;
    conv_dispatch(p, in_shape, input, weights, out_shape, output)
}

/// The convolution for arguments [`check_conv_args`] accepted: the target's
/// fast path where it covers the parameters (selected by `cfg` alone; see
/// `crate::arch`), else the portable [`conv_core`]. Both compute the same bits.
#[inline]
pub(crate) fn conv_dispatch(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> Result {
    conv_dispatch_linked::<{ kernels::ALL }>(
        p,
        in_shape,
        input,
        weights,
        &[],
        &[],
        out_shape,
        output,
    )
}

/// [`conv_dispatch`] with only the kernel families of `K` (see
/// [`crate::plan::kernels`]) compiled in: a model without grouped
/// convolutions of one channel per group leaves the depthwise-like fast path
/// out of the firmware, one whose convolutions the DSP kernels all take the
/// portable loops ([`kernels::CONV_FALLBACK`]). A convolution that needs a
/// kernel `K` leaves out is refused, nothing written.
#[inline]
// `sums` is read by the RISC-V and Helium kernels, `prepared` by the DSP
// and Helium ones.
#[cfg_attr(not(all(attonet_riscv, attonet_dsp)), allow(unused_variables))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_dispatch_linked<const K: KernelSet>(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> Result {
    let depthwise_like = K & kernels::CONV_DEPTHWISE_LIKE != 0;
    // Helium first; the DSP kernels take what it declines.
    #[cfg(attonet_mve)]
    if K & kernels::CONV != 0
        && crate::arch::helium::conv_s8(
            p,
            in_shape,
            input,
            weights,
            sums,
            prepared,
            out_shape,
            output,
            K & kernels::CONV_WIDE != 0,
        )
    {
        return Ok(());
    }
    #[cfg(attonet_mve)]
    if depthwise_like
        && p.groups == in_shape.c
        && crate::arch::helium::depthwise3x3(
            p,
            crate::prepared::DwLayout::ChannelMajor,
            in_shape,
            input,
            weights,
            prepared,
            out_shape,
            output,
        )
    {
        return Ok(());
    }
    #[cfg(attonet_dsp)]
    {
        use crate::arch::cortex_m_dsp as dsp;
        if (depthwise_like
            && dsp::conv_depthwise_like(p, in_shape, input, weights, out_shape, output))
            || dsp::conv_s8::<K>(p, in_shape, input, weights, prepared, out_shape, output)
        {
            return Ok(());
        }
        if K & kernels::CONV_FALLBACK == 0 {
            return Err(fallback_not_linked());
        }
    }
    #[cfg(attonet_riscv)]
    {
        use crate::arch::riscv;
        if (depthwise_like
            && riscv::conv_depthwise_like(p, in_shape, input, weights, out_shape, output))
            || riscv::conv_s8(
                p,
                in_shape,
                input,
                weights,
                sums,
                out_shape,
                output,
                K & kernels::CONV_NARROW_RISCV != 0,
            )
        {
            return Ok(());
        }
    }
    let _ = depthwise_like;
    conv_core(p, in_shape, input, weights, out_shape, output);
    Ok(())
}

/// The error of a convolution that only the portable loops take, in a build
/// whose kernel set leaves them out.
#[cfg(attonet_dsp)]
pub(crate) fn fallback_not_linked() -> Error {
    Error::Parameter(
        "the layer needs the portable kernel, which this build's kernel set leaves out \
         (Model::dispatch)",
    )
}

// ---------------------------------------------------------------------------
// Shared, crate-private helpers.
// ---------------------------------------------------------------------------

/// Number of elements of a shape, computed without overflow on 16-bit and
/// 32-bit `usize` targets.
#[inline]
pub(crate) fn shape_len(s: Shape) -> u64 {
    s.h as u64 * s.w as u64 * s.c as u64
}

/// [`check_len`] for an expected length computed in `u64`.
#[inline]
pub(crate) fn check_len_u64<T>(what: &'static str, buf: &[T], expected: u64) -> Result {
    match usize::try_from(expected) {
        Ok(e) => check_len(what, buf, e),
        Err(_) => Err(Error::BufferLength {
            what,
            expected: usize::MAX,
            actual: buf.len(),
        }),
    }
}

/// A clamp whose bounds are ordered (`Clamp::apply` needs `min <= max`).
#[inline]
pub(crate) fn check_clamp(c: Clamp) -> Result {
    if c.min <= c.max {
        Ok(())
    } else {
        Err(Error::Parameter("activation clamp has min > max"))
    }
}

/// Kernel size, strides and dilations all at least 1.
#[inline]
pub(crate) fn check_window(w: &Window) -> Result {
    if w.kh == 0 || w.kw == 0 {
        return Err(Error::Parameter("kernel size must be at least 1"));
    }
    if w.stride_h == 0 || w.stride_w == 0 {
        return Err(Error::Parameter("stride must be at least 1"));
    }
    if w.dilation_h == 0 || w.dilation_w == 0 {
        return Err(Error::Parameter("dilation must be at least 1"));
    }
    Ok(())
}

/// Bias, multiplier and shift tables: one entry per output channel, shifts in
/// range.
#[inline]
pub(crate) fn check_channel_tables(weights: &ConvWeights<'_>, out_c: usize) -> Result {
    check_len("bias", weights.bias, out_c)?;
    check_len("multiplier", weights.multiplier, out_c)?;
    check_len("shift", weights.shift, out_c)?;
    check_shift(weights.shift)
}

/// Every check [`conv2d_s8`] (and the specialised kernels that share its core)
/// needs before touching memory.
pub(crate) fn check_conv_args(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &[i8],
) -> Result {
    check_conv_shapes(p, in_shape, input, weights, out_shape, output)?;
    check_channel_tables(weights, out_shape.c as usize)
}

/// [`check_conv_args`] but the per-channel tables (lengths, shifts): for a
/// caller that checked those once for many calls (a fused block's rows).
pub(crate) fn check_conv_shapes(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &[i8],
) -> Result {
    check_window(&p.window)?;
    check_clamp(p.quant.clamp)?;
    let groups = p.groups;
    if groups == 0 {
        return Err(Error::Parameter("groups must be at least 1"));
    }
    if in_shape.c % groups != 0 {
        return Err(Error::Shape("groups must divide the input channels"));
    }
    if out_shape.c % groups != 0 {
        return Err(Error::Shape("groups must divide the output channels"));
    }
    check_len_u64("input", input, shape_len(in_shape))?;
    check_len_u64("output", output, shape_len(out_shape))?;
    let cpg = (in_shape.c / groups) as u64;
    let filter_len = out_shape.c as u64 * p.window.kh as u64 * p.window.kw as u64 * cpg;
    check_len_u64("filter", weights.filter, filter_len)
}

/// The half-open range `[start, end)` of kernel taps `k` along one axis with
/// `0 <= origin + k * dilation < extent`, clipped to `0..k_size`. Empty ranges
/// come back as `start == end`.
#[inline(always)]
pub(crate) fn tap_range(
    origin: i32,
    k_size: usize,
    dilation: usize,
    extent: usize,
) -> (usize, usize) {
    let d = dilation as i32;
    let extent = extent as i32;
    let k = k_size as i32;
    let start = if origin >= 0 {
        0
    } else if d == 1 {
        -origin
    } else {
        (-origin + d - 1) / d
    };
    let room = extent - origin;
    let end = if room <= 0 {
        0
    } else if d == 1 {
        room
    } else {
        (room + d - 1) / d
    };
    let end = end.min(k);
    let start = start.min(end);
    (start as usize, end as usize)
}

/// `(Σ w * x, Σ w)` over two equally long slices (wrapping, as the reference's
/// `int32` arithmetic does for absurdly long sums). The caller folds the zero
/// point in as `Σ w * (x - zp) = Σ w * x - zp * Σ w`, which is exact modulo
/// 2^32.
#[inline(always)]
pub(crate) fn dot_s8(w: &[i8], x: &[i8]) -> (i32, i32) {
    let mut sxw = 0i32;
    let mut sw = 0i32;
    for (&a, &b) in w.iter().zip(x) {
        sxw = sxw.wrapping_add(a as i32 * b as i32);
        sw = sw.wrapping_add(a as i32);
    }
    (sxw, sw)
}

/// The per-channel epilogue: bias, zero-point correction, requantization,
/// output offset and clamp.
#[inline(always)]
pub(crate) fn finish(
    sxw: i32,
    sw: i32,
    bias: i32,
    multiplier: i32,
    shift: i32,
    q: &ConvQuant,
) -> i8 {
    let acc = sxw
        .wrapping_sub(q.input_zero_point.wrapping_mul(sw))
        .wrapping_add(bias);
    q.clamp
        .apply(requantize(acc, multiplier, shift).wrapping_add(q.output_zero_point))
}

/// The convolution loops, for arguments [`check_conv_args`] accepted. Not
/// inlined: its stack buffers stay off the stack of the fast paths that
/// `conv_dispatch` tries first.
#[inline(never)]
pub(crate) fn conv_core(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let win = &p.window;
    let q = &p.quant;
    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    if oc_n == 0 || ow == 0 {
        return;
    }
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (dh, dw) = (win.dilation_h as usize, win.dilation_w as usize);
    let groups = p.groups as usize;
    let cpg = ic / groups;
    let ocpg = oc_n / groups;
    let w_per_oc = kh * kw * cpg;
    // One group and dense columns: a kernel row's taps are contiguous both in
    // the input row and in the filter.
    let merge_row = groups == 1 && dw == 1;
    let filter = weights.filter;
    let (bias, mult, shift) = (weights.bias, weights.multiplier, weights.shift);

    // Grouped convolutions take one of two faster paths when they fit:
    // one input channel per group (depthwise-like) accumulates blocks of
    // output channels side by side; small windows are gathered once per pixel
    // and group (as `x - zp`, 0 for padded taps) for dense dot products.
    // Everything else (and any zero point too large for the gathered `i16`s)
    // runs the loops below.
    let izp = q.input_zero_point;
    if groups > 1 && cpg == 1 && kh * kw <= DW_TAPS {
        conv_core_cpg1(p, in_shape, input, weights, out_shape, output);
        return;
    }
    if groups > 1 && cpg > 0 && w_per_oc <= PATCH && (-32_640..=32_639).contains(&izp) {
        conv_core_patch(p, in_shape, input, weights, out_shape, output);
        return;
    }

    for (oy, out_row) in output.chunks_exact_mut(ow * oc_n).enumerate() {
        let iy0 = oy as i32 * win.stride_h as i32 - win.pad_top as i32;
        let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(oc_n).enumerate() {
            let ix0 = ox as i32 * win.stride_w as i32 - win.pad_left as i32;
            let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
            let empty = ky0 == ky1 || kx0 == kx1 || cpg == 0;
            for (oc, o) in out_px.iter_mut().enumerate() {
                let (mut sxw, mut sw) = (0i32, 0i32);
                if !empty {
                    let g = oc / ocpg;
                    let w_oc = &filter[oc * w_per_oc..(oc + 1) * w_per_oc];
                    for ky in ky0..ky1 {
                        // In range: tap_range guarantees 0 <= iy < ih.
                        let iy = (iy0 + (ky * dh) as i32) as usize;
                        let row = iy * iw;
                        let w_row = &w_oc[ky * kw * cpg..(ky + 1) * kw * cpg];
                        if merge_row {
                            let ixs = (ix0 + kx0 as i32) as usize;
                            let n = kx1 - kx0;
                            let xs = &input[(row + ixs) * ic..(row + ixs + n) * ic];
                            let ws = &w_row[kx0 * cpg..kx1 * cpg];
                            let (a, b) = dot_s8(ws, xs);
                            sxw = sxw.wrapping_add(a);
                            sw = sw.wrapping_add(b);
                        } else {
                            for kx in kx0..kx1 {
                                let ix = (ix0 + (kx * dw) as i32) as usize;
                                let base = (row + ix) * ic + g * cpg;
                                let xs = &input[base..base + cpg];
                                let ws = &w_row[kx * cpg..(kx + 1) * cpg];
                                let (a, b) = dot_s8(ws, xs);
                                sxw = sxw.wrapping_add(a);
                                sw = sw.wrapping_add(b);
                            }
                        }
                    }
                }
                *o = finish(sxw, sw, bias[oc], mult[oc], shift[oc], q);
            }
        }
    }
}

/// Capacity (in `i16` entries) of the per-pixel window gathered by
/// [`conv_core_patch`]: 512 bytes of stack.
const PATCH: usize = 256;

/// `Σ w * p` of `i8` weights against a gathered `i16` window.
#[inline(always)]
fn dot_s8_s16(w: &[i8], p: &[i16]) -> i32 {
    let mut acc = 0i32;
    for (&a, &b) in w.iter().zip(p) {
        acc = acc.wrapping_add(a as i32 * b as i32);
    }
    acc
}

/// [`conv_core`] for `kh * kw * (in_c / groups) <= PATCH` and an input zero
/// point with `x - zp` in `i16` range: the window of each pixel and group is
/// gathered once, padded taps as 0 (they contribute nothing, as in TFLite).
fn conv_core_patch(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let win = &p.window;
    let q = &p.quant;
    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (dh, dw) = (win.dilation_h as usize, win.dilation_w as usize);
    let groups = p.groups as usize;
    let cpg = ic / groups;
    let ocpg = oc_n / groups;
    let w_per_oc = kh * kw * cpg;
    let izp = q.input_zero_point as i16;
    let (bias, mult, shift) = (weights.bias, weights.multiplier, weights.shift);
    let mut patch = [0i16; PATCH];
    let patch = &mut patch[..w_per_oc];

    for (oy, out_row) in output.chunks_exact_mut(ow * oc_n).enumerate() {
        let iy0 = oy as i32 * win.stride_h as i32 - win.pad_top as i32;
        let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(oc_n).enumerate() {
            let ix0 = ox as i32 * win.stride_w as i32 - win.pad_left as i32;
            let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
            let full = ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw;
            for (g, out_g) in out_px.chunks_exact_mut(ocpg).enumerate() {
                if !full {
                    patch.fill(0);
                }
                for ky in ky0..ky1 {
                    let iy = (iy0 + (ky * dh) as i32) as usize;
                    for kx in kx0..kx1 {
                        let ix = (ix0 + (kx * dw) as i32) as usize;
                        let base = (iy * iw + ix) * ic + g * cpg;
                        let dst = &mut patch[(ky * kw + kx) * cpg..(ky * kw + kx + 1) * cpg];
                        for (d, &x) in dst.iter_mut().zip(&input[base..base + cpg]) {
                            *d = x as i16 - izp;
                        }
                    }
                }
                let oc0 = g * ocpg;
                let w_g = &weights.filter[oc0 * w_per_oc..(oc0 + ocpg) * w_per_oc];
                for (j, (o, w_oc)) in out_g.iter_mut().zip(w_g.chunks_exact(w_per_oc)).enumerate() {
                    let oc = oc0 + j;
                    let acc = dot_s8_s16(w_oc, patch);
                    *o = finish(acc, 0, bias[oc], mult[oc], shift[oc], q);
                }
            }
        }
    }
}

/// Output channels per block in [`conv_core_cpg1`].
const DW_BLOCK: usize = 32;
/// Most taps [`conv_core_cpg1`] handles (its transposed weight block is
/// `DW_TAPS * DW_BLOCK` bytes of stack).
const DW_TAPS: usize = 16;

/// [`conv_core`] for one input channel per group (depthwise-like grouped
/// convolutions) and at most [`DW_TAPS`] taps: blocks of output channels are
/// accumulated side by side, as a depthwise kernel does, from a block of
/// weights transposed to `[tap][channel]` on the stack.
fn conv_core_cpg1(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let win = &p.window;
    let q = &p.quant;
    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (dh, dw) = (win.dilation_h as usize, win.dilation_w as usize);
    let taps = kh * kw;
    // Output channels per group; with one input channel per group, output
    // channel `oc` reads input channel `oc / ocpg`.
    let ocpg = oc_n / p.groups as usize;
    let (bias, mult, shift) = (weights.bias, weights.multiplier, weights.shift);

    let mut c0 = 0;
    while c0 < oc_n {
        let n = DW_BLOCK.min(oc_n - c0);
        let mut wt = [0i8; DW_TAPS * DW_BLOCK];
        for i in 0..n {
            let w_oc = &weights.filter[(c0 + i) * taps..(c0 + i + 1) * taps];
            for (t, &w) in w_oc.iter().enumerate() {
                wt[t * DW_BLOCK + i] = w;
            }
        }
        for (oy, out_row) in output.chunks_exact_mut(ow * oc_n).enumerate() {
            let iy0 = oy as i32 * win.stride_h as i32 - win.pad_top as i32;
            let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
            for (ox, out_px) in out_row.chunks_exact_mut(oc_n).enumerate() {
                let ix0 = ox as i32 * win.stride_w as i32 - win.pad_left as i32;
                let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
                let mut sxw = [0i32; DW_BLOCK];
                let mut sw = [0i32; DW_BLOCK];
                for ky in ky0..ky1 {
                    let iy = (iy0 + (ky * dh) as i32) as usize;
                    for kx in kx0..kx1 {
                        let ix = (ix0 + (kx * dw) as i32) as usize;
                        let px = &input[(iy * iw + ix) * ic..(iy * iw + ix + 1) * ic];
                        let t = ky * kw + kx;
                        let ws = &wt[t * DW_BLOCK..t * DW_BLOCK + n];
                        if ocpg == 1 {
                            let xs = &px[c0..c0 + n];
                            for (((a, b), &w), &x) in
                                sxw.iter_mut().zip(sw.iter_mut()).zip(ws).zip(xs)
                            {
                                *a = a.wrapping_add(w as i32 * x as i32);
                                *b = b.wrapping_add(w as i32);
                            }
                        } else {
                            let (mut ch, mut m) = (c0 / ocpg, c0 % ocpg);
                            for ((a, b), &w) in sxw.iter_mut().zip(sw.iter_mut()).zip(ws) {
                                let x = px[ch];
                                *a = a.wrapping_add(w as i32 * x as i32);
                                *b = b.wrapping_add(w as i32);
                                m += 1;
                                if m == ocpg {
                                    m = 0;
                                    ch += 1;
                                }
                            }
                        }
                    }
                }
                for (i, o) in out_px[c0..c0 + n].iter_mut().enumerate() {
                    let oc = c0 + i;
                    *o = finish(sxw[i], sw[i], bias[oc], mult[oc], shift[oc], q);
                }
            }
        }
        c0 += n;
    }
}

/// Parameters of a 16x8 convolution (int16 input and output, int8 weights,
/// int64 bias; every zero point 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvS16Params {
    /// Kernel size, stride, dilation, padding.
    pub window: Window,
    /// Number of groups (`in_c / groups` input channels feed each output
    /// channel).
    pub groups: u16,
    /// Fused activation.
    pub clamp: super::int16::Clamp16,
}

/// Checks a 16x8 window op's geometry: the input and output hold `in_shape`
/// and `out_shape` int16 elements, `filter` `filter_len` weights.
pub(crate) fn check_s16_shapes(
    window: &Window,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &[i8],
    filter: &[i8],
    filter_len: u64,
) -> Result {
    use super::int16::check_elements;
    check_window(window)?;
    check_elements("int16 input", input, in_shape.len())?;
    check_elements("int16 output", output, out_shape.len())?;
    check_len_u64("filter", filter, filter_len)
}

/// The taps `k` in `k0..k1` of a window row or column starting at `start`
/// (dilation `d`, `k` taps) that land inside `0..size`: `start + k * d`
/// in range exactly for those.
#[inline(always)]
pub(crate) fn taps_inside(start: isize, d: usize, k: usize, size: usize) -> (usize, usize) {
    let d = d.max(1) as isize;
    let (size, k) = (size as isize, k as isize);
    // First k with start + k d >= 0; first k with start + k d >= size.
    let first = |bound: isize| {
        let need = bound - start;
        if need <= 0 {
            0
        } else {
            (need + d - 1) / d
        }
    };
    let lo = first(0).min(k);
    let hi = first(size).max(lo).min(k);
    (lo as usize, hi as usize)
}

/// A 16x8 convolution: for each output pixel and channel `o` (of group `g`),
/// `clamp(requantize_s64(bias[o] + Σ w[o][ky][kx][i] x[y][x][g * in_g + i]))`
/// over the taps inside the input (padding skipped), in 64 bits.
///
/// TFLite Micro's `reference_integer_ops::ConvPerChannel` for int16 input
/// with `AccumScalar = int64_t`, exactly: no input or output offset, the
/// int64 bias, [`super::int16::requantize_s64`] per channel, the clamp.
///
/// * Layout: `input` `in_shape` NHWC int16 (two bytes each), `weights.filter`
///   OHWI `[out_c][kh][kw][in_c / groups]` int8, `output` `out_shape` int16;
///   `weights.bias` each channel's `i64` as two words; one multiplier and
///   shift per output channel.
/// * Scratch: none.
/// * Constraints: `groups` divides both channel counts; shifts in `-31..=7`,
///   multipliers non-negative; `clamp.min <= clamp.max`.
pub fn conv_s16(
    p: &ConvS16Params,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> Result {
    use super::int16::{bias_at, check_tables, dot_s16x8, requantize_s64, store};
    p.clamp.check()?;
    let groups = p.groups as usize;
    let (in_c, out_c) = (in_shape.c as usize, out_shape.c as usize);
    if groups == 0 || in_c % groups != 0 || out_c % groups != 0 {
        return Err(Error::Parameter(
            "groups must divide the input and output channels",
        ));
    }
    let w = &p.window;
    let (kh, kw) = (w.kh as usize, w.kw as usize);
    let in_g = in_c / groups;
    let out_g = out_c / groups;
    if in_g == 0 {
        // No weights to bound the work: every output would loop over its
        // whole window for nothing.
        return Err(Error::Parameter("16x8 convolution without input channels"));
    }
    let taps = kh * kw * in_g;
    check_s16_shapes(
        w,
        in_shape,
        input,
        out_shape,
        output,
        weights.filter,
        out_c as u64 * taps as u64,
    )?;
    check_tables(weights, out_c, false)?;
    let (ih, iw) = (in_shape.h as usize, in_shape.w as usize);
    let (dh, dw) = (w.dilation_h as usize, w.dilation_w as usize);
    for oy in 0..out_shape.h as usize {
        let y0 = (oy * w.stride_h as usize) as isize - w.pad_top as isize;
        let (ky0, ky1) = taps_inside(y0, dh, kh, ih);
        for ox in 0..out_shape.w as usize {
            let x0 = (ox * w.stride_w as usize) as isize - w.pad_left as isize;
            let (kx0, kx1) = taps_inside(x0, dw, kw, iw);
            let out_base = (oy * out_shape.w as usize + ox) * out_c;
            for g in 0..groups {
                for o in g * out_g..(g + 1) * out_g {
                    let f = &weights.filter[o * taps..][..taps];
                    let mut acc: i64 = 0;
                    for ky in ky0..ky1 {
                        let y = (y0 + (ky * dh) as isize) as usize;
                        for kx in kx0..kx1 {
                            let x = (x0 + (kx * dw) as isize) as usize;
                            let at = (y * iw + x) * in_c + g * in_g;
                            let fw = &f[(ky * kw + kx) * in_g..][..in_g];
                            // In range: check_s16_shapes checked the input's length.
                            let xs = input.get(2 * at..2 * (at + in_g)).unwrap_or(&[]);
                            acc += dot_s16x8(fw, xs);
                        }
                    }
                    acc = acc.wrapping_add(bias_at(weights.bias, o));
                    let v = requantize_s64(acc, weights.multiplier[o], weights.shift[o]);
                    store(output, out_base + o, p.clamp.apply(v));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod s16_tests {
    use super::*;

    /// `taps_inside` keeps exactly the taps a bounds check per tap keeps.
    #[test]
    fn taps_inside_is_the_per_tap_check() {
        extern crate std;
        for start in -9isize..12 {
            for d in 1..4usize {
                for k in 0..6usize {
                    for size in 0..8usize {
                        let inside: std::vec::Vec<usize> = (0..k)
                            .filter(|&t| (0..size as isize).contains(&(start + (t * d) as isize)))
                            .collect();
                        let (lo, hi) = taps_inside(start, d, k, size);
                        assert_eq!(
                            (lo..hi).collect::<std::vec::Vec<_>>(),
                            inside,
                            "{start} {d} {k} {size}"
                        );
                    }
                }
            }
        }
    }
    use crate::ops::int16::{load, store, Clamp16};

    fn window(k: u8, pad: u8) -> Window {
        Window {
            kh: k,
            kw: k,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad,
            pad_left: pad,
        }
    }

    /// A 3x3 SAME convolution of a 3x3 image of 32767s with weights 127:
    /// the corner sums 4 taps, the centre 9 (past 32 bits' int8 reach once
    /// scaled), and with multiplier 0.5 and shift -10 the centre gives
    /// round(9 * 127 * 32767 / 2048) = 18287; the clamp (relu to 10,000)
    /// then cuts it.
    #[test]
    fn sums_only_the_taps_inside_and_clamps() {
        let mut input = [0i8; 18];
        for i in 0..9 {
            store(&mut input, i, i16::MAX);
        }
        let filter = [127i8; 9];
        let w = ConvWeights {
            filter: &filter,
            bias: &[0, 0],
            multiplier: &[1 << 30],
            shift: &[-10],
        };
        let mut p = ConvS16Params {
            window: window(3, 1),
            groups: 1,
            clamp: Clamp16::NONE,
        };
        let s = Shape::new(3, 3, 1);
        let mut out = [0i8; 18];
        conv_s16(&p, s, &input, &w, s, &mut out).unwrap();
        assert_eq!(load(&out, 4), 18287);
        assert_eq!(load(&out, 0), 8128); // 4 taps: 4 * 127 * 32767 / 2048 = 8127.8
        p.clamp = Clamp16 { min: 0, max: 10000 };
        conv_s16(&p, s, &input, &w, s, &mut out).unwrap();
        assert_eq!(load(&out, 4), 10000);
        // Too short an output is refused, never written past.
        assert!(conv_s16(&p, s, &input, &w, s, &mut out[..16]).is_err());
        // No input channels: nothing bounds the window loops (found by the
        // runtime_plan fuzz target as a 13 s run), so it is refused.
        let none = Shape::new(3, 3, 0);
        let empty = ConvWeights { filter: &[], ..w };
        assert_eq!(
            conv_s16(&p, none, &[], &empty, s, &mut out),
            Err(Error::Parameter("16x8 convolution without input channels"))
        );
    }
}
