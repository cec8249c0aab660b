//! TRANSPOSE_CONV for int8 activations with per-channel int8 weights,
//! TensorFlow Lite Micro's reference kernel
//! (`reference/integer_ops/transpose_conv.h`), bit for bit.
//!
//! TFLM scatters each input pixel's products into an int32 scratch image of
//! the whole output, then requantizes it per channel. The sums are of
//! integers, so their order does not change them: this kernel gathers
//! instead, each output element's sum over the input pixels and taps that
//! reach it, and needs no scratch. Input pixel `(iy, ix)` reaches output row
//! `iy * stride_h - pad_top + ky` (and column likewise), so output row `oy`
//! reads input row `(oy + pad_top - ky) / stride_h` for each tap row `ky`
//! where that division is exact and in range.
//!
//! Per output element: `acc = bias[oc] + Σ (x - input_zero_point) * w`,
//! then `clamp(requantize(acc, multiplier[oc], shift[oc]) +
//! output_zero_point)`.
//!
//! * Layout: input `[ih][iw][ic]`, output `[oh][ow][oc]`, filter OHWI
//!   `[oc][kh][kw][ic]` (TFLite's), bias, multiplier and shift per output
//!   channel.
//! * Scratch: none.
//! * Constraints: [`check_transpose_conv`]; nothing is written when they fail.

use crate::error::check_len;
use crate::ops::conv::{dot_s8, finish};
use crate::ops::{ConvQuant, ConvWeights, Shape};
use crate::quant::check_shift;
use crate::Error;

/// Geometry and quantization of a TRANSPOSE_CONV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TransposeConvParams {
    /// Filter height.
    pub kh: u8,
    /// Filter width.
    pub kw: u8,
    /// Vertical stride (at least 1).
    pub stride_h: u8,
    /// Horizontal stride (at least 1).
    pub stride_w: u8,
    /// Output rows cut off the top of the full (unpadded) result.
    pub pad_top: u8,
    /// Output columns cut off its left.
    pub pad_left: u8,
    /// Zero points and clamp.
    pub quant: ConvQuant,
}

impl TransposeConvParams {
    /// Multiply-accumulates of one run with an `input` image into `output_c`
    /// channels: every input pixel meets every tap and output channel, as in
    /// TFLM's scatter (taps that fall outside the output included).
    pub const fn macs(&self, input: Shape, output_c: u16) -> u64 {
        input.len() as u64 * self.kh as u64 * self.kw as u64 * output_c as u64
    }
}

/// Checks a TRANSPOSE_CONV's parameters against its buffers.
pub fn check_transpose_conv(
    p: &TransposeConvParams,
    input: Shape,
    input_len: usize,
    w: &ConvWeights<'_>,
    output: Shape,
    output_len: usize,
) -> crate::Result {
    if p.kh == 0 || p.kw == 0 || p.stride_h == 0 || p.stride_w == 0 {
        return Err(Error::Parameter(
            "transpose_conv kernel size or stride of 0",
        ));
    }
    if p.quant.clamp.min > p.quant.clamp.max {
        return Err(Error::Parameter("transpose_conv clamp min above max"));
    }
    if input_len != input.len() {
        return Err(Error::BufferLength {
            what: "transpose_conv input",
            expected: input.len(),
            actual: input_len,
        });
    }
    if output_len != output.len() {
        return Err(Error::BufferLength {
            what: "transpose_conv output",
            expected: output.len(),
            actual: output_len,
        });
    }
    let oc = output.c as usize;
    let taps = p.kh as usize * p.kw as usize * input.c as usize;
    check_len("transpose_conv filter", w.filter, oc * taps)?;
    check_len("transpose_conv bias", w.bias, oc)?;
    check_len("transpose_conv multiplier", w.multiplier, oc)?;
    check_len("transpose_conv shift", w.shift, oc)?;
    check_shift(w.shift)
}

/// `output = transpose_conv(input)` (see the module docs).
pub fn transpose_conv_s8(
    p: &TransposeConvParams,
    input_shape: Shape,
    input: &[i8],
    w: &ConvWeights<'_>,
    output_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_transpose_conv(p, input_shape, input.len(), w, output_shape, output.len())?;
    let (ih, iw, ic) = (
        input_shape.h as usize,
        input_shape.w as usize,
        input_shape.c as usize,
    );
    let (ow, oc) = (output_shape.w as usize, output_shape.c as usize);
    let (kh, kw) = (p.kh as usize, p.kw as usize);
    let (sh, sw) = (p.stride_h as usize, p.stride_w as usize);
    let (pad_top, pad_left) = (p.pad_top as usize, p.pad_left as usize);
    // The input index a tap reaches from an output index, if any.
    let source = |o: usize, pad: usize, k: usize, stride: usize, extent: usize| {
        let t = (o + pad).checked_sub(k)?;
        (t % stride == 0 && t / stride < extent).then_some(t / stride)
    };
    if oc == 0 || ow == 0 {
        return Ok(());
    }
    for (oy, row) in output.chunks_exact_mut(ow * oc).enumerate() {
        for (ox, pixel) in row.chunks_exact_mut(oc).enumerate() {
            for (o, out) in pixel.iter_mut().enumerate() {
                let filter = &w.filter[o * kh * kw * ic..][..kh * kw * ic];
                // Σ w x and Σ w over the taps that reach this output; the
                // input zero point is folded in once (`Σ w (x - zp) = Σ w x
                // - zp Σ w`, the same integer modulo 2^32).
                let (mut sxw, mut sum_w) = (0i32, 0i32);
                for ky in 0..kh {
                    let Some(iy) = source(oy, pad_top, ky, sh, ih) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ix) = source(ox, pad_left, kx, sw, iw) else {
                            continue;
                        };
                        let x = &input[(iy * iw + ix) * ic..][..ic];
                        let f = &filter[(ky * kw + kx) * ic..][..ic];
                        let (d, s) = dot_s8(f, x);
                        sxw = sxw.wrapping_add(d);
                        sum_w = sum_w.wrapping_add(s);
                    }
                }
                *out = finish(sxw, sum_w, w.bias[o], w.multiplier[o], w.shift[o], &p.quant);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{requantize, Clamp};

    /// TFLM's scatter, written out (`reference/integer_ops/transpose_conv.h`):
    /// the independent reference the gathering kernel must equal.
    #[allow(clippy::too_many_arguments)]
    fn scatter(
        p: &TransposeConvParams,
        is: Shape,
        input: &[i8],
        w: &ConvWeights<'_>,
        os: Shape,
        scratch: &mut [i32],
        output: &mut [i8],
    ) {
        let (ih, iw, ic) = (is.h as i64, is.w as i64, is.c as i64);
        let (oh, ow, oc) = (os.h as i64, os.w as i64, os.c as i64);
        let (kh, kw) = (p.kh as i64, p.kw as i64);
        scratch.fill(0);
        for iy in 0..ih {
            for ix in 0..iw {
                for c in 0..ic {
                    let oy0 = iy * p.stride_h as i64 - p.pad_top as i64;
                    let ox0 = ix * p.stride_w as i64 - p.pad_left as i64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            for o in 0..oc {
                                let (y, x) = (oy0 + ky, ox0 + kx);
                                if y >= 0 && y < oh && x >= 0 && x < ow {
                                    let v = input[((iy * iw + ix) * ic + c) as usize] as i32
                                        - p.quant.input_zero_point;
                                    let f = w.filter[(((o * kh + ky) * kw + kx) * ic + c) as usize];
                                    scratch[((y * ow + x) * oc + o) as usize] += v * f as i32;
                                }
                            }
                        }
                    }
                }
            }
        }
        for (k, out) in output.iter_mut().enumerate() {
            let o = k % oc as usize;
            let acc = scratch[k] + w.bias[o];
            let v = requantize(acc, w.multiplier[o], w.shift[o]) + p.quant.output_zero_point;
            *out = p.quant.clamp.apply(v);
        }
    }

    #[test]
    fn gather_equals_tflm_scatter() {
        let mut seed = 0x2545_f491u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        // (input h, w, c, kernel, stride, pad, output h, w, c)
        let cases = [
            (4, 4, 4, 3, 2, 0, 8, 8, 6),
            (3, 3, 5, 2, 2, 0, 6, 6, 4),
            (5, 5, 3, 3, 1, 1, 5, 5, 4),
            (3, 4, 2, 3, 2, 1, 5, 7, 3),
            (2, 3, 3, 4, 3, 2, 4, 6, 2),
        ];
        for &(ih, iw, ic, k, s, pad, oh, ow, oc) in &cases {
            let is = Shape::new(ih, iw, ic);
            let os = Shape::new(oh, ow, oc);
            let input: [i8; 128] = core::array::from_fn(|_| next() as i8);
            let filter: [i8; 256] = core::array::from_fn(|_| next() as i8);
            let bias: [i32; 8] = core::array::from_fn(|_| (next() % 4001) as i32 - 2000);
            let multiplier: [i32; 8] = core::array::from_fn(|_| (1 << 30) + (next() >> 2) as i32);
            let shift: [i32; 8] = core::array::from_fn(|_| -((next() % 10) as i32) - 6);
            let (n_in, n_f, n_out) = (is.len(), oc as usize * k * k * ic as usize, os.len());
            let w = ConvWeights {
                filter: &filter[..n_f],
                bias: &bias[..oc as usize],
                multiplier: &multiplier[..oc as usize],
                shift: &shift[..oc as usize],
            };
            let p = TransposeConvParams {
                kh: k as u8,
                kw: k as u8,
                stride_h: s,
                stride_w: s,
                pad_top: pad,
                pad_left: pad,
                quant: ConvQuant {
                    input_zero_point: (next() % 21) as i32 - 10,
                    output_zero_point: (next() % 21) as i32 - 10,
                    clamp: Clamp {
                        min: -100,
                        max: 120,
                    },
                },
            };
            let mut got = [0i8; 512];
            let mut want = [0i8; 512];
            let mut scratch = [0i32; 512];
            transpose_conv_s8(&p, is, &input[..n_in], &w, os, &mut got[..n_out]).unwrap();
            scatter(
                &p,
                is,
                &input[..n_in],
                &w,
                os,
                &mut scratch[..n_out],
                &mut want[..n_out],
            );
            assert_eq!(
                got[..n_out],
                want[..n_out],
                "case {ih}x{iw}x{ic} k{k} s{s} p{pad}"
            );
            assert!(
                got[..n_out].iter().any(|&v| v != got[0]),
                "a constant output proves little"
            );
        }
        let p = TransposeConvParams {
            kh: 0,
            kw: 3,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
            quant: ConvQuant {
                input_zero_point: 0,
                output_zero_point: 0,
                clamp: Clamp::NONE,
            },
        };
        let w = ConvWeights {
            filter: &[],
            bias: &[],
            multiplier: &[],
            shift: &[],
        };
        let s = Shape::new(1, 1, 1);
        assert!(transpose_conv_s8(&p, s, &[0], &w, s, &mut [0]).is_err());
    }
}
