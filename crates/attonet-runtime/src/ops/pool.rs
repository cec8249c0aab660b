//! AVERAGE_POOL_2D and MAX_POOL_2D (global pooling is a window the size of the input),
//! int8 and, for TFLite's 16x8 models, int16 (`*_s16`: the same arithmetic on little-endian
//! byte pairs, TFLM's `reference_integer_ops` pooling for `int16_t`).

use super::conv::{check_clamp, check_len_u64, check_window, shape_len, tap_range};
use super::int16::{check_elements, Clamp16};
use super::{Shape, Window};
use crate::quant::Clamp;
use crate::Error;

/// Parameters of an int16 pooling op (TFLite's 16x8 mode). The window's
/// dilation is always 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PoolS16Params {
    /// Window size, stride, padding.
    pub window: Window,
    /// Fused activation (input and output share scale; zero point 0).
    pub clamp: Clamp16,
}

/// Parameters of a pooling op. The window's dilation is always 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PoolParams {
    /// Window size, stride, padding.
    pub window: Window,
    /// Fused activation (input and output share scale and zero point).
    pub clamp: Clamp,
}

/// Channels pooled together per pass over a window (one `i32` array of this
/// length lives on the stack).
const CHUNK: usize = 32;

/// Checks shared by both pooling ops: window, clamp, channel counts, lengths.
fn check_pool_args(
    p: &PoolParams,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &[i8],
) -> crate::Result {
    check_pool_geometry(&p.window, in_shape, out_shape)?;
    check_clamp(p.clamp)?;
    check_len_u64("input", input, shape_len(in_shape))?;
    check_len_u64("output", output, shape_len(out_shape))
}

/// The window (dilation 1) and channel checks of every pooling op.
fn check_pool_geometry(w: &Window, in_shape: Shape, out_shape: Shape) -> crate::Result {
    check_window(w)?;
    if w.dilation_h != 1 || w.dilation_w != 1 {
        return Err(Error::Parameter("pooling window dilation must be 1"));
    }
    if in_shape.c != out_shape.c {
        return Err(Error::Shape(
            "pooling needs equal input and output channels",
        ));
    }
    Ok(())
}

/// Average pooling, rounding half away from zero over the taps inside the input.
///
/// TFLite's `reference_integer_ops::AveragePool`, exactly: the window of
/// output pixel `(oy, ox)` starts at input `(oy * stride_h - pad_top, ox *
/// stride_w - pad_left)`; `sum` runs over the `count` taps inside the input,
/// `avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count`
/// (C division, truncating), then the clamp.
///
/// * Layout: NHWC `input` (`in_shape`) and `output` (`out_shape`, same
///   channel count); input and output share scale and zero point.
/// * Scratch: none (128 bytes of stack for a block of 32 sums).
/// * Constraints: kernel size and strides at least 1, dilation exactly 1,
///   `clamp.min <= clamp.max`. Every output window must overlap the input
///   (TFLite fails the op when a window has no taps): otherwise
///   `Error::Shape`, reported before anything is written.
pub fn average_pool_s8(
    p: &PoolParams,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_pool_args(p, in_shape, input, out_shape, output)?;
    let win = &p.window;
    let (ih, iw, c) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (oh, ow) = (out_shape.h as usize, out_shape.w as usize);
    if oh == 0 || ow == 0 || c == 0 {
        return Ok(());
    }
    check_windows_overlap(win, in_shape, out_shape)?;
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (sh, sw) = (win.stride_h as i32, win.stride_w as i32);
    let (pt, pl) = (win.pad_top as i32, win.pad_left as i32);

    for (oy, out_row) in output.chunks_exact_mut(ow * c).enumerate() {
        let iy0 = oy as i32 * sh - pt;
        let (ky0, ky1) = tap_range(iy0, kh, 1, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
            let ix0 = ox as i32 * sw - pl;
            let (kx0, kx1) = tap_range(ix0, kw, 1, iw);
            let count = ((ky1 - ky0) * (kx1 - kx0)) as i32;
            let iy_start = (iy0 + ky0 as i32) as usize;
            let ix_start = (ix0 + kx0 as i32) as usize;
            let mut c0 = 0;
            while c0 < c {
                let n = CHUNK.min(c - c0);
                let mut sum = [0i32; CHUNK];
                for iy in iy_start..iy_start + (ky1 - ky0) {
                    for ix in ix_start..ix_start + (kx1 - kx0) {
                        let base = (iy * iw + ix) * c + c0;
                        for (s, &x) in sum.iter_mut().zip(&input[base..base + n]) {
                            *s += x as i32;
                        }
                    }
                }
                for (o, &acc) in out_px[c0..c0 + n].iter_mut().zip(&sum) {
                    let avg = if acc > 0 {
                        (acc + count / 2) / count
                    } else {
                        (acc - count / 2) / count
                    };
                    *o = p.clamp.apply(avg);
                }
                c0 += n;
            }
        }
    }
    Ok(())
}

/// `Error::Shape` unless every output window of a non-empty output overlaps
/// the input (TFLite fails an average pool whose window has no taps).
/// Window origins grow with the output coordinate, so the first and last
/// rows / columns are the only ones that can miss the input.
fn check_windows_overlap(win: &Window, in_shape: Shape, out_shape: Shape) -> crate::Result {
    let (ih, iw) = (in_shape.h as usize, in_shape.w as usize);
    let (oh, ow) = (out_shape.h as usize, out_shape.w as usize);
    if oh == 0 || ow == 0 {
        return Ok(());
    }
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (sh, sw) = (win.stride_h as i32, win.stride_w as i32);
    let (pt, pl) = (win.pad_top as i32, win.pad_left as i32);
    for (o, s, pad, k, extent) in [
        (0, sh, pt, kh, ih),
        (oh - 1, sh, pt, kh, ih),
        (0, sw, pl, kw, iw),
        (ow - 1, sw, pl, kw, iw),
    ] {
        let (a, b) = tap_range(o as i32 * s - pad, k, 1, extent);
        if a == b {
            return Err(Error::Shape(
                "an average-pool window lies wholly outside the input",
            ));
        }
    }
    Ok(())
}

/// Whether a pooling window is the whole input: no padding, a `1x1xC`
/// output (what [`global_average_pool_s8`] takes).
pub fn is_global(p: &PoolParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    w.kh as u16 == in_shape.h
        && w.kw as u16 == in_shape.w
        && w.pad_top == 0
        && w.pad_left == 0
        && w.dilation_h == 1
        && w.dilation_w == 1
        && out_shape == Shape::new(1, 1, in_shape.c)
}

/// [`average_pool_s8`] for a window that is the whole input
/// ([`is_global`]; else `Error::Parameter`): the same bits, in a fraction
/// of the code (a classifier's global pooling; its firmware then links no
/// general pooling loops, [`crate::plan::kernels::GLOBAL_AVERAGE_POOL`]).
///
/// * Layout: NHWC `input` (`in_shape`), `output` of `in_shape.c` bytes.
/// * Scratch: none.
/// * Constraints: a non-empty input; `clamp.min <= clamp.max`.
pub fn global_average_pool_s8(
    p: &PoolParams,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    if !is_global(p, in_shape, out_shape) {
        return Err(Error::Parameter(
            "global average pooling needs a window of the whole input",
        ));
    }
    check_clamp(p.clamp)?;
    check_len_u64("input", input, shape_len(in_shape))?;
    check_len_u64("output", output, shape_len(out_shape))?;
    let count = in_shape.h as i32 * in_shape.w as i32;
    if count == 0 {
        return Err(Error::Shape(
            "an average-pool window lies wholly outside the input",
        ));
    }
    let c = in_shape.c as usize;
    // Helium: the channel sums four channels a vector, 64 at a time.
    #[cfg(attonet_mve)]
    {
        let pixels = count as usize;
        let mut sums = [0i32; 64];
        let mut c0 = 0;
        while c0 < c {
            let n = (c - c0).min(64);
            crate::arch::helium::channel_sums(&input[c0..], pixels, c, &mut sums[..n]);
            for (o, &sum) in output[c0..c0 + n].iter_mut().zip(&sums[..n]) {
                *o = p.clamp.apply(rounded_mean(sum, count));
            }
            c0 += n;
        }
    }
    #[cfg(not(attonet_mve))]
    for (ch, o) in output.iter_mut().enumerate() {
        let mut sum = 0i32;
        let mut i = ch;
        while let Some(&x) = input.get(i) {
            sum += x as i32;
            i += c;
        }
        *o = p.clamp.apply(rounded_mean(sum, count));
    }
    Ok(())
}

/// `sum / count` rounded half away from zero (TFLite's average pooling).
#[inline(always)]
fn rounded_mean(sum: i32, count: i32) -> i32 {
    if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    }
}

/// Max pooling over the taps inside the input.
///
/// TFLite's `reference_integer_ops::MaxPool`, exactly: the maximum over the
/// window's taps inside the input (starting from `-128`), then the clamp. A
/// window with no tap inside the input gives `clamp(-128)`, as in TFLite.
///
/// * Layout: NHWC `input` (`in_shape`) and `output` (`out_shape`, same
///   channel count).
/// * Scratch: none (32 bytes of stack).
/// * Constraints: kernel size and strides at least 1, dilation exactly 1,
///   `clamp.min <= clamp.max`.
pub fn max_pool_s8(
    p: &PoolParams,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_pool_args(p, in_shape, input, out_shape, output)?;
    let win = &p.window;
    let (ih, iw, c) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let ow = out_shape.w as usize;
    if ow == 0 || c == 0 {
        return Ok(());
    }
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (sh, sw) = (win.stride_h as i32, win.stride_w as i32);
    let (pt, pl) = (win.pad_top as i32, win.pad_left as i32);

    for (oy, out_row) in output.chunks_exact_mut(ow * c).enumerate() {
        let iy0 = oy as i32 * sh - pt;
        let (ky0, ky1) = tap_range(iy0, kh, 1, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
            let ix0 = ox as i32 * sw - pl;
            let (kx0, kx1) = tap_range(ix0, kw, 1, iw);
            let iy_start = (iy0 + ky0 as i32) as usize;
            let ix_start = (ix0 + kx0 as i32) as usize;
            let mut c0 = 0;
            while c0 < c {
                let n = CHUNK.min(c - c0);
                let mut max = [i8::MIN; CHUNK];
                for iy in iy_start..iy_start + (ky1 - ky0) {
                    for ix in ix_start..ix_start + (kx1 - kx0) {
                        let base = (iy * iw + ix) * c + c0;
                        for (m, &x) in max.iter_mut().zip(&input[base..base + n]) {
                            *m = (*m).max(x);
                        }
                    }
                }
                for (o, &m) in out_px[c0..c0 + n].iter_mut().zip(&max) {
                    *o = p.clamp.apply(m as i32);
                }
                c0 += n;
            }
        }
    }
    Ok(())
}

/// Checks of both int16 pooling ops: window, clamp, channels, lengths.
fn check_pool_s16_args(
    p: &PoolS16Params,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &[i8],
) -> crate::Result {
    check_pool_geometry(&p.window, in_shape, out_shape)?;
    p.clamp.check()?;
    check_elements("int16 input", input, in_shape.len())?;
    check_elements("int16 output", output, out_shape.len())
}

/// `fold` of the int16 inputs under each output's window (the taps inside
/// the input) from `init`, then `finish(acc, taps)` stored: the loops both
/// int16 pooling ops share. Lengths are checked by the caller.
#[allow(clippy::too_many_arguments)]
fn pool_s16(
    p: &PoolS16Params,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
    init: i32,
    fold: impl Fn(i32, i32) -> i32,
    finish: impl Fn(i32, i32) -> i16,
) {
    let win = &p.window;
    let (ih, iw, c) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let ow = out_shape.w as usize;
    if ow == 0 || c == 0 {
        return;
    }
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (sh, sw) = (win.stride_h as i32, win.stride_w as i32);
    let (pt, pl) = (win.pad_top as i32, win.pad_left as i32);
    let load = |i: usize| {
        input
            .get(2 * i..2 * i + 2)
            .map_or(0, |b| i16::from_le_bytes([b[0] as u8, b[1] as u8]) as i32)
    };
    for (oy, out_row) in output.chunks_exact_mut(2 * ow * c).enumerate() {
        let iy0 = oy as i32 * sh - pt;
        let (ky0, ky1) = tap_range(iy0, kh, 1, ih);
        for (ox, out_px) in out_row.chunks_exact_mut(2 * c).enumerate() {
            let ix0 = ox as i32 * sw - pl;
            let (kx0, kx1) = tap_range(ix0, kw, 1, iw);
            let taps = ((ky1 - ky0) * (kx1 - kx0)) as i32;
            let iy_start = (iy0 + ky0 as i32) as usize;
            let ix_start = (ix0 + kx0 as i32) as usize;
            for (ch, o) in out_px.chunks_exact_mut(2).enumerate() {
                let mut acc = init;
                for iy in iy_start..iy_start + (ky1 - ky0) {
                    for ix in ix_start..ix_start + (kx1 - kx0) {
                        acc = fold(acc, load((iy * iw + ix) * c + ch));
                    }
                }
                let [lo, hi] = finish(acc, taps).to_le_bytes();
                o[0] = lo as i8;
                o[1] = hi as i8;
            }
        }
    }
}

/// [`average_pool_s8`] on int16 tensors (two little-endian bytes an
/// element): TFLite's `reference_integer_ops::AveragePool` for `int16_t`,
/// exactly (an `i32` sum over the taps inside the input, rounded half away
/// from zero, the clamp).
///
/// * Layout: NHWC `input` (`in_shape`) and `output` (`out_shape`, same
///   channel count), int16; input and output share scale (zero point 0).
/// * Scratch: none.
/// * Constraints: as [`average_pool_s8`]'s.
pub fn average_pool_s16(
    p: &PoolS16Params,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_pool_s16_args(p, in_shape, input, out_shape, output)?;
    check_windows_overlap(&p.window, in_shape, out_shape)?;
    let clamp = p.clamp;
    pool_s16(
        p,
        in_shape,
        input,
        out_shape,
        output,
        0,
        i32::wrapping_add,
        |sum, taps| clamp.apply(rounded_mean(sum, taps.max(1))),
    );
    Ok(())
}

/// [`max_pool_s8`] on int16 tensors: TFLite's `reference_integer_ops::MaxPool`
/// for `int16_t`, exactly (the maximum from `-32768` over the taps inside
/// the input, then the clamp).
///
/// * Layout: as [`average_pool_s16`].
/// * Scratch: none.
/// * Constraints: as [`max_pool_s8`]'s.
pub fn max_pool_s16(
    p: &PoolS16Params,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_pool_s16_args(p, in_shape, input, out_shape, output)?;
    let clamp = p.clamp;
    pool_s16(
        p,
        in_shape,
        input,
        out_shape,
        output,
        i16::MIN as i32,
        i32::max,
        |m, _| clamp.apply(m),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// On int8-range values with no clamp, the int16 kernels give the int8
    /// kernels' results widened: the same arithmetic on wider elements
    /// (window shapes, strides and padding as the op goldens have them; the
    /// goldens prove both against TFLM).
    #[test]
    fn int16_pooling_is_the_int8_arithmetic_widened() {
        let window = |k: u8, s: u8, pad: u8| Window {
            kh: k,
            kw: k,
            stride_h: s,
            stride_w: s,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad,
            pad_left: pad,
        };
        let cases = [
            (window(2, 2, 0), Shape::new(8, 8, 3), Shape::new(4, 4, 3)),
            (window(3, 1, 1), Shape::new(6, 6, 4), Shape::new(6, 6, 4)),
            (window(3, 2, 1), Shape::new(7, 7, 5), Shape::new(4, 4, 5)),
            (window(4, 4, 0), Shape::new(4, 4, 16), Shape::new(1, 1, 16)),
        ];
        for (w, is, os) in cases {
            let x: Vec<i8> = (0..is.len())
                .map(|i| ((i * 37 + 11) % 256) as u8 as i8)
                .collect();
            let x16: Vec<i8> = x
                .iter()
                .flat_map(|&v| (v as i16).to_le_bytes().map(|b| b as i8))
                .collect();
            let p8 = PoolParams {
                window: w,
                clamp: Clamp {
                    min: -128,
                    max: 127,
                },
            };
            let p16 = PoolS16Params {
                window: w,
                clamp: Clamp16::NONE,
            };
            type K8 = fn(&PoolParams, Shape, &[i8], Shape, &mut [i8]) -> crate::Result;
            type K16 = fn(&PoolS16Params, Shape, &[i8], Shape, &mut [i8]) -> crate::Result;
            let kernels: [(K8, K16); 2] = [
                (average_pool_s8, average_pool_s16),
                (max_pool_s8, max_pool_s16),
            ];
            for (k8, k16) in kernels {
                let mut y8 = vec![0i8; os.len()];
                let mut y16 = vec![0i8; 2 * os.len()];
                k8(&p8, is, &x, os, &mut y8).unwrap();
                k16(&p16, is, &x16, os, &mut y16).unwrap();
                let widened: Vec<i8> = y8
                    .iter()
                    .flat_map(|&v| (v as i16).to_le_bytes().map(|b| b as i8))
                    .collect();
                assert_eq!(y16, widened, "{w:?} {is:?}");
                // Too short an output is refused, never written past.
                assert!(k16(&p16, is, &x16, os, &mut y16[1..]).is_err());
            }
        }
        // Values beyond int8 and a clamp: an average of 1000 and 30000,
        // rounded half away from zero, then clamped to 10000.
        let p = PoolS16Params {
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
            clamp: Clamp16 {
                min: -5,
                max: 10000,
            },
        };
        let x: Vec<i8> = [1000i16, 30001, -7, -8]
            .iter()
            .flat_map(|v| v.to_le_bytes().map(|b| b as i8))
            .collect();
        let mut y = [0i8; 4];
        average_pool_s16(&p, Shape::new(1, 4, 1), &x, Shape::new(1, 2, 1), &mut y).unwrap();
        let at = |y: &[i8], k: usize| i16::from_le_bytes([y[2 * k] as u8, y[2 * k + 1] as u8]);
        assert_eq!((at(&y, 0), at(&y, 1)), (10000, -5));
        max_pool_s16(&p, Shape::new(1, 4, 1), &x, Shape::new(1, 2, 1), &mut y).unwrap();
        assert_eq!((at(&y, 0), at(&y, 1)), (10000, -5));
    }
}
