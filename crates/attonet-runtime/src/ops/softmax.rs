//! SOFTMAX for int8 input and int8 output (output scale 1/256, zero point
//! -128) or int16 output (1/65536, -32768), and LOG_SOFTMAX (output scale 16/256, zero point 127), TensorFlow Lite
//! Micro's fixed-point (gemmlowp) algorithms.

use crate::error::check_len;
use crate::fixedpoint::{
    exp_on_negative_values, log_x_for_x_greater_than_or_equal_to_1,
    one_over_one_plus_x_for_x_in_0_1,
};
use crate::quant::{
    requantize, requantize_greater_than_one, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
};
use crate::Error;

/// Parameters the converter computes as TFLite's `PreprocessSoftmaxScaling`
/// and `CalculateInputRadius` do (with 5 integer bits for the scaled diff).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxParams {
    /// Elements per row (the innermost dimension).
    pub depth: u16,
    /// Q31 multiplier of `beta * input_scale`.
    pub input_multiplier: i32,
    /// Left shift that goes with `input_multiplier`.
    pub input_left_shift: i32,
    /// Differences from the row maximum below this give output -128.
    pub diff_min: i32,
}

/// Softmax over each row of `depth` elements.
///
/// TFLite's quantized `reference_ops::Softmax<int8_t, int8_t>`, exactly: per
/// row, `diff = x - max(row)`; entries with `diff < diff_min` give `-128`;
/// the others give
/// `clamp(RoundingDivideByPOT(reciprocal(Σ exp) * exp(diff * beta), e) - 128)`
/// where `exp` is gemmlowp's `exp_on_negative_values` on a Q5.26 input, the
/// sum is accumulated in Q12.19, the reciprocal is gemmlowp's
/// `one_over_one_plus_x_for_x_in_0_1` (TFLite's `GetReciprocal`) and
/// `e = num_bits_over_unit + 23`.
///
/// * Layout: `input` and `output` are `[rows][depth]`, flat.
/// * Scratch: none.
/// * Constraints: `depth >= 1` (or both buffers empty), equal lengths that
///   are a multiple of `depth`; `input_multiplier >= 0`; `input_left_shift`
///   in `0..=30`; `diff_min <= 0`. TFLite aborts (`TFLITE_CHECK`) when a row's
///   sum of exponentials reaches 2^28 in Q12.19 (512 entries near the row
///   maximum); this kernel then returns `Error::Parameter` and the rows before
///   the failing one are already written. With parameters as TFLite derives
///   them, rows of at most 511 entries never fail.
pub fn softmax_s8(p: &SoftmaxParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    check_len("output", output, input.len())?;
    softmax_rows(p, input, 8, |i, v| output[i] = v as i8)
}

/// [`softmax_s8`] with an int16 output (TFLite's `reference_ops::Softmax<int8_t,
/// int16_t>`: output scale 1/65536, zero point -32768): the same fixed point,
/// `e = num_bits_over_unit + 15`, offset -32768, clamped to int16; entries
/// below `diff_min` give -32768. `output` holds two little-endian bytes an
/// element.
///
/// * Constraints: as [`softmax_s8`], with `output.len() == 2 * input.len()`.
/// * Scratch: none.
pub fn softmax_s8_s16(p: &SoftmaxParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    check_len("output", output, input.len().saturating_mul(2))?;
    softmax_rows(p, input, 16, |i, v| {
        let [lo, hi] = (v as i16).to_le_bytes();
        output[2 * i] = lo as i8;
        output[2 * i + 1] = hi as i8;
    })
}

/// The rows of [`softmax_s8`] and [`softmax_s8_s16`]: `put(i, v)` stores
/// element `i`'s value `v` (within the `bits`-bit signed range).
#[inline(always)]
fn softmax_rows(
    p: &SoftmaxParams,
    input: &[i8],
    bits: i32,
    mut put: impl FnMut(usize, i32),
) -> crate::Result {
    let (min, max_out) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
    if p.input_multiplier < 0 {
        return Err(Error::Parameter(
            "softmax input multiplier must be non-negative",
        ));
    }
    if !(0..=30).contains(&p.input_left_shift) {
        return Err(Error::Parameter("softmax input left shift outside 0..=30"));
    }
    if p.diff_min > 0 {
        return Err(Error::Parameter("softmax diff_min must be <= 0"));
    }
    let depth = p.depth as usize;
    if depth == 0 {
        return if input.is_empty() {
            Ok(())
        } else {
            Err(Error::Shape("softmax depth is zero"))
        };
    }
    if input.len() % depth != 0 {
        return Err(Error::Shape(
            "softmax input length is not a multiple of depth",
        ));
    }

    for (row, xs) in input.chunks_exact(depth).enumerate() {
        let max = xs.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let scaled = |x: i8| -> Option<i32> {
            let diff = x as i32 - max;
            if diff >= p.diff_min {
                Some(requantize_greater_than_one(
                    diff,
                    p.input_multiplier,
                    p.input_left_shift,
                ))
            } else {
                None
            }
        };

        // Σ exp in Q12.19 (FixedPointAccum): Rescale<12> of each Q0.31 exp.
        // Summed in i64: where the int32 sum would overflow (undefined in the
        // reference) it is far past the TFLITE_CHECK limit below anyway.
        let mut sum_wide = 0i64;
        for &x in xs {
            if let Some(d) = scaled(x) {
                let e = exp_on_negative_values_q5(d);
                sum_wide += rounding_divide_by_pot(e, ACCUM_INTEGER_BITS) as i64;
            }
        }
        // The exponent below is num_bits_over_unit + 23 = 35 - clz(sum): it
        // exceeds 31 (TFLite's TFLITE_CHECK fails) exactly when sum >= 2^28.
        // With sane parameters the row maximum contributes exp(0), so the sum
        // is at least 2^19; a non-positive sum only comes from parameters
        // whose `diff << input_left_shift` overflows.
        if sum_wide >= 1 << 28 || sum_wide <= 0 {
            return Err(Error::Parameter(
                "softmax sum of exponentials out of range (TFLite aborts here)",
            ));
        }
        let sum_of_exps = sum_wide as i32;

        // GetReciprocal(sum, 12, &num_bits_over_unit).
        let headroom_plus_one = (sum_of_exps as u32).leading_zeros() as i32;
        let num_bits_over_unit = ACCUM_INTEGER_BITS - headroom_plus_one;
        let shifted_sum_minus_one =
            ((sum_of_exps as u32) << (headroom_plus_one & 31)).wrapping_sub(1u32 << 31) as i32;
        let shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);

        // In 23..=31 for int8 (15..=23 for int16): the sum is in [2^19, 2^28).
        let exponent = num_bits_over_unit + 31 - bits;

        for (k, &x) in xs.iter().enumerate() {
            let v = match scaled(x) {
                Some(d) => {
                    let e = exp_on_negative_values_q5(d);
                    let unsat = rounding_divide_by_pot(
                        saturating_rounding_doubling_high_mul(shifted_scale, e),
                        exponent,
                    );
                    unsat.wrapping_add(min).clamp(min, max_out)
                }
                None => min,
            };
            put(row * depth + k, v);
        }
    }
    Ok(())
}

/// `kScaledDiffIntegerBits`: the exp input is Q5.26.
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// `kAccumulationIntegerBits`: the sum of exponentials is Q12.19.
const ACCUM_INTEGER_BITS: i32 = 12;

/// gemmlowp's `exp_on_negative_values` for a Q5.26 input, Q0.31 out.
#[inline(always)]
fn exp_on_negative_values_q5(a: i32) -> i32 {
    exp_on_negative_values(a, SCALED_DIFF_INTEGER_BITS)
}

/// Parameters of LOG_SOFTMAX, computed by the converter as TFLite's
/// `PreprocessLogSoftmaxScalingExp` and `CalculateInputRadius` do (beta 1,
/// 5 integer bits for the scaled difference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogSoftmaxParams {
    /// Elements per row (the innermost dimension).
    pub depth: u16,
    /// Q31 multiplier of `input_scale * 2^26`.
    pub input_multiplier: i32,
    /// Left shift that goes with `input_multiplier` (`0..=30`).
    pub input_left_shift: i32,
    /// Q31 multiplier of the inverse scaling (`2^(31 - left_shift) / multiplier`).
    pub reverse_scaling_divisor: i32,
    /// Its shift (`-31..=0`), as [`requantize`] takes it.
    pub reverse_scaling_shift: i32,
    /// Differences from the row maximum below this give output -128 (`<= 0`).
    pub diff_min: i32,
}

/// `kOutputIntegerBits` of LOG_SOFTMAX: the output is Q4.27 before the downcast.
const LOG_SOFTMAX_OUTPUT_INTEGER_BITS: i32 = 4;

/// Checks LOG_SOFTMAX's parameters against its buffer lengths.
pub fn check_log_softmax(
    p: &LogSoftmaxParams,
    input_len: usize,
    output_len: usize,
) -> crate::Result {
    if input_len != output_len {
        return Err(Error::BufferLength {
            what: "log_softmax output",
            expected: input_len,
            actual: output_len,
        });
    }
    if p.input_multiplier < 0 || p.reverse_scaling_divisor < 0 {
        return Err(Error::Parameter(
            "log_softmax multipliers must be non-negative",
        ));
    }
    if !(0..=30).contains(&p.input_left_shift) || !(-31..=0).contains(&p.reverse_scaling_shift) {
        return Err(Error::Parameter("log_softmax shift out of range"));
    }
    if p.diff_min > 0 {
        return Err(Error::Parameter("log_softmax diff_min must be <= 0"));
    }
    let depth = p.depth as usize;
    if depth == 0 && input_len != 0 {
        return Err(Error::Shape("log_softmax depth is zero"));
    }
    if depth != 0 && input_len % depth != 0 {
        return Err(Error::Shape(
            "log_softmax input length is not a multiple of depth",
        ));
    }
    // TFLM's Q12.19 sum is safe from overflow for 2^12 terms.
    if depth > 1 << ACCUM_INTEGER_BITS {
        return Err(Error::Shape("log_softmax rows longer than 4,096"));
    }
    Ok(())
}

/// Log-softmax over each row of `depth` elements.
///
/// TFLite's `reference_ops::LogSoftmaxQuantized<int8_t>`, exactly: per row,
/// `diff = x - max(row)`; `Σ exp(diff * beta)` over the entries with
/// `diff >= diff_min` in Q12.19 (gemmlowp's `exp_on_negative_values` of the
/// Q5.26 `requantize(diff, input_multiplier, input_left_shift)`), its log in
/// Q5.26 (TFLite's `log_x_for_x_greater_than_or_equal_to_1`); the entries
/// with `diff` above `max(diff_min - 1, requantize(log_sum + i32::MIN,
/// reverse_scaling_divisor, reverse_scaling_shift))` give
/// `clamp(RoundingDivideByPOT(scaled_diff - log_sum, 22) + 127)`, the
/// others give -128.
///
/// * Layout: `input` and `output` are `[rows][depth]`, flat.
/// * Scratch: none.
/// * Constraints: [`check_log_softmax`] (equal lengths, a multiple of
///   `depth`, at most 4,096 per row, shifts in range); nothing is written
///   when they fail.
pub fn log_softmax_s8(p: &LogSoftmaxParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    check_log_softmax(p, input.len(), output.len())?;
    let depth = p.depth as usize;
    if depth == 0 {
        return Ok(());
    }
    let out_shift = 31 - SCALED_DIFF_INTEGER_BITS - LOG_SOFTMAX_OUTPUT_INTEGER_BITS;
    for (xs, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = xs.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let scaled = |x: i8| requantize(x as i32 - max, p.input_multiplier, p.input_left_shift);
        let mut sum_of_exps = 0i32;
        for &x in xs {
            if x as i32 - max >= p.diff_min {
                let e = exp_on_negative_values_q5(scaled(x));
                sum_of_exps =
                    sum_of_exps.wrapping_add(rounding_divide_by_pot(e, ACCUM_INTEGER_BITS));
            }
        }
        let log_sum_of_exps = log_x_for_x_greater_than_or_equal_to_1(
            sum_of_exps,
            ACCUM_INTEGER_BITS,
            SCALED_DIFF_INTEGER_BITS,
        );
        let shifted_log_sum = log_sum_of_exps.wrapping_add(i32::MIN);
        let adjusted_diff_min = (p.diff_min - 1).max(requantize(
            shifted_log_sum,
            p.reverse_scaling_divisor,
            p.reverse_scaling_shift,
        ));
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = if x as i32 - max > adjusted_diff_min {
                let v = rounding_divide_by_pot(scaled(x).wrapping_sub(log_sum_of_exps), out_shift);
                v.wrapping_add(127).clamp(-128, 127) as i8
            } else {
                i8::MIN
            };
        }
    }
    Ok(())
}

/// Entries of each lookup table of the int16 SOFTMAX: 512 steps and one
/// more for the last slope (TFLM's `kInt16LUTArraySize`).
pub const SOFTMAX_S16_LUT_LEN: usize = 513;

/// Parameters of an int16 SOFTMAX (output scale 1/32768, zero point 0), as
/// TFLM's `CalculateSoftmaxParams` computes them for int16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxS16Params {
    /// Elements per row (the innermost dimension).
    pub depth: u16,
    /// Q31 multiplier of `input_scale * beta / (10 / 65535)`.
    pub input_multiplier: i32,
    /// Its shift (`-31..=30`).
    pub input_shift: i32,
}

/// TFLM's `generic_int16_table_lookup`: a 513-entry Q0.15 table over the
/// int16 range, its entry `256 + (x >> 7)` plus the slope to the next one
/// times the 7 low bits, rounded.
#[inline(always)]
fn lut_s16(value: i16, lut: &[i16; SOFTMAX_S16_LUT_LEN]) -> i16 {
    let index = (256 + (value >> 7) as i32) as usize;
    let offset = (value & 0x7f) as i32;
    let base = lut[index];
    let slope = lut[index + 1].wrapping_sub(base) as i32;
    let delta = (slope * offset + 64) >> 7;
    base.wrapping_add(delta as i16)
}

/// int16 SOFTMAX over each row of `depth` elements.
///
/// TFLite Micro's `reference_ops::SoftmaxInt16`, exactly: per row, each
/// `x - max(row)` is rescaled ([`requantize`]) so that [-65535, 0] spans
/// [-10, 0], recentred and saturated to int16, and looked up in `exp_lut`
/// (`exp` over [-10, 0]); the sum's reciprocal comes from `recip_lut`
/// (`1 / (1 + x)` over [0, 1]) after normalising the sum by its leading
/// zeros; each output is `exp * reciprocal`, rounded, shifted back and
/// clamped to [0, 32767].
///
/// * Layout: `input` and `output` `[rows][depth]` int16, flat; the two
///   tables as TFLM's `gen_lut` builds them (the converter writes them).
/// * Scratch: none (the exponentials are cached in the output).
/// * Constraints: `depth >= 1`, equal lengths that are a multiple of
///   `depth`; `input_shift` in `-31..=30`.
pub fn softmax_s16(
    p: &SoftmaxS16Params,
    exp_lut: &[i16; SOFTMAX_S16_LUT_LEN],
    recip_lut: &[i16; SOFTMAX_S16_LUT_LEN],
    input: &[i8],
    output: &mut [i8],
) -> crate::Result {
    use super::int16::{elements, load, store};
    check_len("int16 output", output, input.len())?;
    if !crate::quant::shift_in_range(p.input_shift) {
        return Err(Error::Parameter("int16 softmax shift outside -31..=30"));
    }
    let depth = p.depth as usize;
    let n = elements("int16 input", input)?;
    if depth == 0 || n % depth != 0 {
        return Err(Error::Shape("softmax input is not whole rows of depth"));
    }
    for row in 0..n / depth {
        let base = row * depth;
        let max = (0..depth).map(|c| load(input, base + c)).max().unwrap_or(0);
        let mut sum: i32 = 0;
        for c in 0..depth {
            let diff = load(input, base + c) as i32 - max as i32;
            let scaled = requantize(diff, p.input_multiplier, p.input_shift);
            let sym = scaled.wrapping_add(32767).clamp(-32768, 32767) as i16;
            let e = lut_s16(sym, exp_lut);
            store(output, base + c, e);
            sum = sum.wrapping_add(e as i32);
        }
        // The sum is at least the row maximum's exp(0) (one in Q0.15), so
        // it has at most 17 leading zeros.
        let headroom_plus_one = (sum as u32).leading_zeros();
        if !(1..=17).contains(&headroom_plus_one) {
            return Err(Error::Parameter(
                "int16 softmax: a row's sum of exponentials out of range",
            ));
        }
        let shifted = (((sum as i64) << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
        let sym = (shifted as i32 - ((1 << 15) + (1 << 16))).clamp(-32768, 32767) as i16;
        let reciprocal = lut_s16(sym, recip_lut) as i64;
        let right_shift = 31 - headroom_plus_one;
        let round = 1i64 << (right_shift - 1);
        for c in 0..depth {
            let e = load(output, base + c) as i64;
            let v = ((e * reciprocal + round) >> right_shift) as i32;
            store(output, base + c, v.clamp(0, 32767) as i16);
        }
    }
    Ok(())
}

#[cfg(test)]
mod s16_tests {
    use super::*;
    use crate::ops::int16::{load, store};

    /// Linear tables (exp and the reciprocal replaced by ramps) are enough
    /// to check the kernel's arithmetic: a row of equal values splits the
    /// output evenly, a lone maximum takes (nearly) everything, and every
    /// output stays inside [0, 32767].
    #[test]
    fn rows_split_the_unit_and_stay_in_range() {
        let mut exp = [0i16; SOFTMAX_S16_LUT_LEN];
        let mut recip = [0i16; SOFTMAX_S16_LUT_LEN];
        for i in 0..SOFTMAX_S16_LUT_LEN {
            // exp: 0 at the bottom of the range, 32767 at its top.
            exp[i] = ((i * 32767) / 512) as i16;
            // 1 / (1 + x) for x in [0, 1]: from 1 (32767) down to 1/2.
            let x = i as f64 / 512.0;
            recip[i] = (32768.0 / (1.0 + x)).round().min(32767.0) as i16;
        }
        let p = SoftmaxS16Params {
            depth: 4,
            input_multiplier: 1 << 30,
            input_shift: 1,
        };
        let mut x = [0i8; 8];
        let mut out = [0i8; 8];
        softmax_s16(&p, &exp, &recip, &x, &mut out).unwrap();
        for c in 0..4 {
            assert!((load(&out, c) - 8192).abs() <= 2, "{}", load(&out, c));
        }
        store(&mut x, 0, i16::MAX);
        for c in 1..4 {
            store(&mut x, c, i16::MIN);
        }
        softmax_s16(&p, &exp, &recip, &x, &mut out).unwrap();
        assert!(load(&out, 0) >= 32700);
        for c in 1..4 {
            assert!((0..=10).contains(&load(&out, c)));
        }
        assert!(softmax_s16(&p, &exp, &recip, &x[..6], &mut out[..6]).is_err());
    }
}
