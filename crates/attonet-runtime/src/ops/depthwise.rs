//! Depthwise convolution with a channel multiplier (TFLite DEPTHWISE_CONV_2D).

use super::conv::{
    check_channel_tables, check_clamp, check_len_u64, check_window, finish, shape_len, tap_range,
};
use super::{ConvQuant, ConvWeights, Shape, Window};
use crate::plan::kernels::KernelSet;
use crate::Error;

/// Parameters of a depthwise convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DepthwiseParams {
    /// Kernel size, stride, dilation, padding.
    pub window: Window,
    /// Output channels per input channel (`out_c = in_c * depth_multiplier`).
    pub depth_multiplier: u16,
    /// Zero points and output clamp.
    pub quant: ConvQuant,
}

/// Output channels accumulated together per pass over a window (two `i32`
/// arrays of this length live on the stack).
const CHUNK: usize = 32;

/// Depthwise convolution. Weights `[kh][kw][in_c * depth_multiplier]`; output
/// channel `ic * depth_multiplier + m` reads input channel `ic`.
///
/// TFLite's `reference_integer_ops::DepthwiseConvPerChannel`, exactly:
/// `out[oc] = clamp(requantize(bias[oc] + Σ_taps w[ky][kx][oc] * (x[iy][ix][oc
/// / depth_multiplier] - input_zp), multiplier[oc], shift[oc]) + output_zp)`,
/// taps outside the input skipped.
///
/// * Layout: NHWC `input` (`in_shape`) and `output` (`out_shape`, with
///   `out_shape.c == in_shape.c * depth_multiplier`); filter `kh * kw * out_c`
///   bytes, output channel fastest; one bias, multiplier and shift per output
///   channel.
/// * Scratch: none (256 bytes of stack for a block of 32 accumulators).
/// * Constraints: kernel size, strides, dilations and `depth_multiplier` at
///   least 1; shifts in `-31..=30`; `clamp.min <= clamp.max`.
pub fn depthwise_conv_s8(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    depthwise_conv_s8_prepared(p, in_shape, input, weights, &[], out_shape, output)
}

/// [`depthwise_conv_s8`] with the table the converter prepared for this
/// layer ([`crate::plan::ConvTables::prepared`], see [`crate::prepared`]):
/// the same outputs, bit for bit; a kernel that reads such a table (the
/// Cortex-M DSP 3x3 kernel) skips deriving it on every call. An empty table,
/// or one of another length than the layer's, is ignored.
pub fn depthwise_conv_s8_prepared(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    depthwise_run::<{ crate::plan::kernels::ALL }>(
        p, in_shape, input, weights, prepared, false, out_shape, output,
    )
}

/// [`depthwise_conv_s8_prepared`]; with `tables_checked`, the caller has
/// checked the per-channel tables once for many calls (a fused block's
/// rows).
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_run<const K: KernelSet>(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    tables_checked: bool,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_depthwise_shapes(p, in_shape, input, weights, out_shape, output)?;
    if !tables_checked {
        check_channel_tables(weights, out_shape.c as usize)?;
    }
    // Helium first; the DSP kernels take what it declines.
    #[cfg(attonet_mve)]
    if p.depth_multiplier == 1
        && crate::arch::helium::depthwise3x3(
            &crate::ops::ConvParams {
                window: p.window,
                groups: in_shape.c,
                quant: p.quant,
            },
            crate::prepared::DwLayout::TapMajor,
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
        if crate::arch::cortex_m_dsp::depthwise_s8(
            p, in_shape, input, weights, prepared, out_shape, output,
        ) {
            return Ok(());
        }
        if K & crate::plan::kernels::DEPTHWISE_FALLBACK == 0 {
            return Err(crate::ops::conv::fallback_not_linked());
        }
    }
    #[cfg(not(attonet_dsp))]
    let _ = prepared;
    #[cfg(attonet_riscv)]
    if crate::arch::riscv::depthwise_s8(p, in_shape, input, weights, out_shape, output) {
        return Ok(());
    }
    depthwise_core(p, in_shape, input, weights, out_shape, output);
    Ok(())
}

/// The checks of [`depthwise_conv_s8`].
pub(crate) fn check_depthwise_args(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &[i8],
) -> crate::Result {
    check_depthwise_shapes(p, in_shape, input, weights, out_shape, output)?;
    check_channel_tables(weights, out_shape.c as usize)
}

/// [`check_depthwise_args`] but the per-channel tables.
fn check_depthwise_shapes(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &[i8],
) -> crate::Result {
    let win = &p.window;
    check_window(win)?;
    check_clamp(p.quant.clamp)?;
    let dm = p.depth_multiplier as usize;
    if dm == 0 {
        return Err(Error::Parameter("depth multiplier must be at least 1"));
    }
    if out_shape.c as u64 != in_shape.c as u64 * dm as u64 {
        return Err(Error::Shape(
            "depthwise output channels must be input channels times the depth multiplier",
        ));
    }
    check_len_u64("input", input, shape_len(in_shape))?;
    check_len_u64("output", output, shape_len(out_shape))?;
    let filter_len = win.kh as u64 * win.kw as u64 * out_shape.c as u64;
    check_len_u64("filter", weights.filter, filter_len)
}

/// The portable depthwise loops, for arguments [`check_depthwise_args`] accepted.
/// Not inlined: its accumulators stay off the stack of a call a fast path
/// serves.
#[inline(never)]
pub(crate) fn depthwise_core(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let win = &p.window;
    let dm = p.depth_multiplier as usize;

    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    if ow == 0 || oc_n == 0 {
        return;
    }
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (dh, dw) = (win.dilation_h as usize, win.dilation_w as usize);
    let q = &p.quant;
    let filter = weights.filter;
    let (bias, mult, shift) = (weights.bias, weights.multiplier, weights.shift);

    for (oy, out_row) in output.chunks_exact_mut(ow * oc_n).enumerate() {
        let iy0 = oy as i32 * win.stride_h as i32 - win.pad_top as i32;
        let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(oc_n).enumerate() {
            let ix0 = ox as i32 * win.stride_w as i32 - win.pad_left as i32;
            let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
            let mut c0 = 0;
            while c0 < oc_n {
                let n = CHUNK.min(oc_n - c0);
                let mut sxw = [0i32; CHUNK];
                let mut sw = [0i32; CHUNK];
                for ky in ky0..ky1 {
                    let iy = (iy0 + (ky * dh) as i32) as usize;
                    for kx in kx0..kx1 {
                        let ix = (ix0 + (kx * dw) as i32) as usize;
                        let px = (iy * iw + ix) * ic;
                        let wt = (ky * kw + kx) * oc_n + c0;
                        let ws = &filter[wt..wt + n];
                        if dm == 1 {
                            let xs = &input[px + c0..px + c0 + n];
                            for (((a, b), &w), &x) in
                                sxw.iter_mut().zip(sw.iter_mut()).zip(ws).zip(xs)
                            {
                                *a = a.wrapping_add(w as i32 * x as i32);
                                *b = b.wrapping_add(w as i32);
                            }
                        } else {
                            let xs = &input[px..px + ic];
                            let (mut ch, mut m) = (c0 / dm, c0 % dm);
                            for ((a, b), &w) in sxw.iter_mut().zip(sw.iter_mut()).zip(ws) {
                                let x = xs[ch];
                                *a = a.wrapping_add(w as i32 * x as i32);
                                *b = b.wrapping_add(w as i32);
                                m += 1;
                                if m == dm {
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
                c0 += n;
            }
        }
    }
}

/// Parameters of a 16x8 depthwise convolution (int16 input and output, int8
/// weights, int64 bias; every zero point 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DepthwiseS16Params {
    /// Kernel size, stride, dilation, padding.
    pub window: Window,
    /// Output channels per input channel (`out_c = in_c * depth_multiplier`).
    pub depth_multiplier: u16,
    /// Fused activation.
    pub clamp: super::int16::Clamp16,
}

/// A 16x8 depthwise convolution: output channel `ic * m + j` is
/// `clamp(requantize_s64(bias + Σ w[ky][kx][ic * m + j] x[y][x][ic]))` over
/// the taps inside the input, in 64 bits.
///
/// TFLite Micro's `reference_integer_ops::DepthwiseConvPerChannel` for
/// int16 input (int64 accumulator and bias), exactly.
///
/// * Layout: `input` `in_shape` NHWC int16, `weights.filter`
///   `[kh][kw][in_c * depth_multiplier]` int8, `output` `out_shape` int16;
///   `weights.bias` each channel's `i64` as two words; one multiplier and
///   shift per output channel.
/// * Scratch: none.
/// * Constraints: `out_c = in_c * depth_multiplier`; shifts in `-31..=7`,
///   multipliers non-negative; `clamp.min <= clamp.max`.
pub fn depthwise_s16(
    p: &DepthwiseS16Params,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    use super::int16::{bias_at, check_tables, load, requantize_s64, store};
    p.clamp.check()?;
    let m = p.depth_multiplier as usize;
    let (in_c, out_c) = (in_shape.c as usize, out_shape.c as usize);
    if m == 0 || in_c.checked_mul(m) != Some(out_c) {
        return Err(Error::Parameter(
            "depthwise output channels must be input channels times the multiplier",
        ));
    }
    let w = &p.window;
    let (kh, kw) = (w.kh as usize, w.kw as usize);
    super::conv::check_s16_shapes(
        w,
        in_shape,
        input,
        out_shape,
        output,
        weights.filter,
        (kh * kw) as u64 * out_c as u64,
    )?;
    check_tables(weights, out_c, false)?;
    let (ih, iw) = (in_shape.h as usize, in_shape.w as usize);
    let (dh, dw) = (w.dilation_h as usize, w.dilation_w as usize);
    // Output channels in chunks: per tap, one multiply-accumulate per
    // channel into an exact i32 part (a row of at most 255 taps), added into
    // the channel's i64 sum at the row's end.
    const CHUNK: usize = 32;
    for oy in 0..out_shape.h as usize {
        let y0 = (oy * w.stride_h as usize) as isize - w.pad_top as isize;
        let (ky0, ky1) = super::conv::taps_inside(y0, dh, kh, ih);
        for ox in 0..out_shape.w as usize {
            let x0 = (ox * w.stride_w as usize) as isize - w.pad_left as isize;
            let (kx0, kx1) = super::conv::taps_inside(x0, dw, kw, iw);
            let out_base = (oy * out_shape.w as usize + ox) * out_c;
            for c0 in (0..out_c).step_by(CHUNK) {
                let n = CHUNK.min(out_c - c0);
                let mut acc = [0i64; CHUNK];
                for ky in ky0..ky1 {
                    let y = (y0 + (ky * dh) as isize) as usize;
                    let mut part = [0i32; CHUNK];
                    for kx in kx0..kx1 {
                        let x = (x0 + (kx * dw) as isize) as usize;
                        let pixel = (y * iw + x) * in_c;
                        // In range: check_s16_shapes checked both lengths.
                        let ws = weights
                            .filter
                            .get((ky * kw + kx) * out_c + c0..)
                            .unwrap_or(&[]);
                        if m == 1 {
                            // Channel o reads input channel o: one slice.
                            let xs = input
                                .get(2 * (pixel + c0)..2 * (pixel + c0 + n))
                                .unwrap_or(&[]);
                            for ((s, &wt), v) in part.iter_mut().zip(ws).zip(xs.chunks_exact(2)) {
                                *s +=
                                    wt as i32 * i16::from_le_bytes([v[0] as u8, v[1] as u8]) as i32;
                            }
                        } else {
                            for ((o, s), &wt) in (c0..c0 + n).zip(part.iter_mut()).zip(ws) {
                                *s += wt as i32 * load(input, pixel + o / m) as i32;
                            }
                        }
                    }
                    for (a, &s) in acc.iter_mut().zip(&part[..n]) {
                        *a += s as i64;
                    }
                }
                for (o, &a) in (c0..c0 + n).zip(&acc) {
                    let a = a.wrapping_add(bias_at(weights.bias, o));
                    let v = requantize_s64(a, weights.multiplier[o], weights.shift[o]);
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
    use crate::ops::int16::{load, store, Clamp16};

    /// A 23x23 window (529 taps, each product -128 * -32768 = 2^22): the sum
    /// 529 * 2^22 is past what an i32 holds, and the output is the int64
    /// sum's requantization (an i32 part a row of taps, added into an i64).
    #[test]
    fn a_window_past_the_i32_range_sums_exactly() {
        use crate::ops::int16::requantize_s64;
        let k = 23u8;
        let p = DepthwiseS16Params {
            window: Window {
                kh: k,
                kw: k,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 0,
                pad_left: 0,
            },
            depth_multiplier: 1,
            clamp: Clamp16::NONE,
        };
        let taps = k as usize * k as usize;
        let mut input = [0i8; 2 * 529];
        for i in 0..taps {
            store(&mut input, i, i16::MIN);
        }
        let filter = [-128i8; 529];
        let w = ConvWeights {
            filter: &filter,
            bias: &[0, 0],
            multiplier: &[1 << 30],
            shift: &[-20],
        };
        let mut out = [0i8; 2];
        depthwise_s16(
            &p,
            Shape::new(k as u16, k as u16, 1),
            &input,
            &w,
            Shape::new(1, 1, 1),
            &mut out,
        )
        .unwrap();
        let exact = taps as i64 * (1 << 22);
        assert!(exact > i32::MAX as i64);
        let want = Clamp16::NONE.apply(requantize_s64(exact, 1 << 30, -20));
        assert_eq!(load(&out, 0), want);
    }

    /// Multiplier 2 over one input channel at -32768, weights 127 and -128,
    /// a 1x1 window, multiplier 1.0 (Q31 2^31 - 1 reduced to 0x7FFF), shift
    /// 0: both channels saturate, one at each end of the int16 range.
    #[test]
    fn multiplier_channels_saturate_both_ways() {
        let p = DepthwiseS16Params {
            window: Window {
                kh: 1,
                kw: 1,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 0,
                pad_left: 0,
            },
            depth_multiplier: 2,
            clamp: Clamp16::NONE,
        };
        let mut input = [0i8; 2];
        store(&mut input, 0, i16::MIN);
        let w = ConvWeights {
            filter: &[127, -128],
            bias: &[0, 0, 0, 0],
            multiplier: &[i32::MAX, i32::MAX],
            shift: &[0, 0],
        };
        let mut out = [0i8; 4];
        depthwise_s16(
            &p,
            Shape::new(1, 1, 1),
            &input,
            &w,
            Shape::new(1, 1, 2),
            &mut out,
        )
        .unwrap();
        assert_eq!(load(&out, 0), i16::MIN);
        assert_eq!(load(&out, 1), i16::MAX);
    }
}
