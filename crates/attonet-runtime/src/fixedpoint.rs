//! gemmlowp's fixed-point functions (`fixedpoint/fixedpoint.h`), scalar
//! `int32` only: what TensorFlow Lite Micro's SOFTMAX, LOGISTIC and TANH
//! compute with.
//!
//! A `FixedPoint<int32, I>` is a plain `i32` raw value here (`I` integer
//! bits, `31 - I` fractional bits); each function notes the formats of its
//! input and output. Multiplication is [`saturating_rounding_doubling_high_mul`]
//! of the raws; C's additions, undefined on overflow, wrap here (with the
//! parameters TFLite derives they never overflow). [`quant`](crate::quant)
//! holds the rounding primitives these build on.

use crate::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// FixedPoint `a * b`: `SaturatingRoundingDoublingHighMul` of the raws.
#[inline(always)]
fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// `SaturatingRoundingMultiplyByPOT<exponent>` for `exponent` in `1..=30`:
/// a left shift that saturates to `i32::MIN` / `i32::MAX`.
#[inline(always)]
pub fn saturating_shl(x: i32, exponent: i32) -> i32 {
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x.wrapping_mul(1i32 << exponent)
    }
}

/// gemmlowp `RoundingHalfSum` for int32: `(a + b) / 2`, rounded half away
/// from zero.
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715_827_883;
    // x = a + 1/8 (1/8 in Q0.31 is 1 << 28).
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let x4_over_24_plus_x3_over_6_plus_x2_over_2 = rounding_divide_by_pot(
        mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2),
        1,
    );
    // AddSaturatingIf16Bit is a plain add for int32.
    CONSTANT_TERM.wrapping_add(mul(
        CONSTANT_TERM,
        x.wrapping_add(x4_over_24_plus_x3_over_6_plus_x2_over_2),
    ))
}

/// `exp_on_negative_values` of a `Q(integer_bits).(31 - integer_bits)` input
/// `a <= 0` (`integer_bits` in `0..=30`, a constant at every call site so the
/// barrel shifter unrolls), Q0.31 out.
#[inline(always)]
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    // Rescale<0>: SaturatingRoundingMultiplyByPOT<integer_bits>.
    let rescaled = if integer_bits > 0 {
        saturating_shl(a_mod_quarter_minus_one_quarter, integer_bits)
    } else {
        a_mod_quarter_minus_one_quarter
    };
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescaled);
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // GEMMLOWP_EXP_BARREL_SHIFTER(Exponent, multiplier): exp(-2^Exponent).
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let shift_amount = fractional_bits + exponent;
            if remainder & (1i32 << shift_amount) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        // exp(x) for x < -32 is 0.
        let clamp = -(1i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX; // ResultF::One() of a Q0.31 result
    }
    result
}

/// The Newton-Raphson iteration both reciprocals share: `x ≈ 1 / half_denominator`
/// in Q2.29, from `a` in Q0.31 (`half_denominator = (a + 1) / 2`).
#[inline(always)]
fn reciprocal_of_half_denominator(a: i32) -> i32 {
    // F0::One() is i32::MAX; F2 values are Q2.29.
    const F2_ONE: i32 = 1 << 29;
    const CONSTANT_48_OVER_17: i32 = 1_515_870_810;
    const CONSTANT_NEG_32_OVER_17: i32 = -1_010_580_540;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = CONSTANT_48_OVER_17.wrapping_add(mul(half_denominator, CONSTANT_NEG_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x); // Q2.29
        let one_minus_half_denominator_times_x = F2_ONE.wrapping_sub(half_denominator_times_x);
        // x * (...) is Q4.27; Rescale<2> is SaturatingRoundingMultiplyByPOT<2>.
        x = x.wrapping_add(saturating_shl(
            mul(x, one_minus_half_denominator_times_x),
            2,
        ));
    }
    x
}

/// `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    // ExactMulByPot<-1> makes it Q1.30; Rescale<0> shifts left by 1, saturating.
    saturating_shl(reciprocal_of_half_denominator(a), 1)
}

/// `one_minus_x_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out).
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    // Rescale<0>(x - F2::One()): a saturating left shift by 2.
    saturating_shl(reciprocal_of_half_denominator(a).wrapping_sub(1 << 29), 2)
}

/// gemmlowp `logistic` of a `Q(integer_bits)` input, Q0.31 out.
pub fn logistic(a: i32, integer_bits: i32) -> i32 {
    let abs_input = if a > 0 { a } else { a.wrapping_neg() };
    let result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        abs_input.wrapping_neg(),
        integer_bits,
    ));
    if a == 0 {
        1 << 30 // one half
    } else if a > 0 {
        result_if_positive
    } else {
        // ResultF::One() - result_if_positive.
        i32::MAX.wrapping_sub(result_if_positive)
    }
}

/// gemmlowp `tanh` of a `Q(integer_bits)` input (`integer_bits <= 29`), Q0.31 out.
pub fn tanh(a: i32, integer_bits: i32) -> i32 {
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // neg_tanh_on_negative_values: ExactMulByPot<1> reads the raw with one
    // more integer bit (2n).
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1));
    if a == 0 {
        0
    } else if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// TFLite's `SaturatingRoundingMultiplyByPOTParam` for `exponent` in
/// `0..=31`: `x` itself for 0, else a left shift that saturates.
#[inline(always)]
fn saturating_shl_param(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return x;
    }
    let exponent = exponent.min(31);
    let threshold = ((1i64 << (31 - exponent)) - 1) as i32;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x.wrapping_shl(exponent as u32)
    }
}

/// TFLite's `log_x_for_x_greater_than_or_equal_to_1_impl<output_integer_bits,
/// input_integer_bits>` (`reference/common.h`): `ln(a)` of a
/// `Q(input_integer_bits)` input `a >= 1`, as a `Q(output_integer_bits)` raw
/// (`output_integer_bits` in `1..=29`). LOG_SOFTMAX takes it of the Q12.19
/// sum of exponentials into Q5.26.
pub fn log_x_for_x_greater_than_or_equal_to_1(
    a: i32,
    input_integer_bits: i32,
    output_integer_bits: i32,
) -> i32 {
    const LOG_2: i32 = 1_488_522_236;
    const SQRT_SQRT_HALF: i32 = 1_805_811_301;
    const SQRT_HALF: i32 = 1_518_500_250;
    const ONE_QUARTER: i32 = 536_870_912;
    const ALPHA_N: i32 = 117_049_297;
    const ALPHA_D: i32 = 127_690_142;
    const ALPHA_I: i32 = 1_057_819_769;
    const ALPHA_F: i32 = 638_450_708;
    // One more integer bit of headroom for the accumulation.
    let accum_bits = output_integer_bits + 1;
    // Rescale<accum_bits> of a Q0.31 value: a rounding right shift.
    let shifted_quarter = rounding_divide_by_pot(ONE_QUARTER, accum_bits);

    // The input's raw read as Q0.31; the shift is figured out here. The
    // additions of the exponents saturate (TFLite's SaturatingAddNonGemmlowp
    // and SaturatingSub); gemmlowp's `+` and `-` of raws wrap.
    let z_a = a;
    let z_a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = saturating_shl_param(z_a, z_a_headroom_plus_1 - 1);
    let r_a_raw = saturating_shl_param(mul(r_a_tmp, SQRT_HALF), 1);
    let z_a_pow_2_adj =
        saturating_shl_param(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits)
            .saturating_add(shifted_quarter);

    // z_b is z_a premultiplied by sqrt(0.5).
    let z_b = mul(z_a, SQRT_HALF);
    let z_b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b_raw = saturating_shl_param(z_a, z_b_headroom);
    let z_b_pow_2_adj = saturating_shl_param(input_integer_bits - z_b_headroom, 31 - accum_bits)
        .saturating_sub(shifted_quarter);

    let r = r_a_raw.min(r_b_raw);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);

    let p = rounding_half_sum(r, SQRT_SQRT_HALF);
    let mut q = r.wrapping_sub(SQRT_SQRT_HALF);
    q = q.wrapping_add(q);

    let common_sq = mul(q, q);
    let num = mul(q, r).wrapping_add(mul(mul(q, common_sq), ALPHA_N));
    let denom_minus_one_0 = mul(
        p,
        ALPHA_I
            .wrapping_add(q)
            .wrapping_add(mul(ALPHA_D, common_sq)),
    )
    .wrapping_add(mul(ALPHA_F, q));
    let recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0);

    let num_scaled = rounding_divide_by_pot(num, accum_bits);
    let sum = mul(z_pow_2_adj, LOG_2).wrapping_add(mul(num_scaled, recip_denom));
    // Rescale<output_integer_bits> of the Q(accum_bits) sum.
    saturating_shl_param(sum, accum_bits - output_integer_bits)
}

/// TFLite's `GetInvSqrtQuantizedMultiplierExp(input, kReverseShift)`
/// (`reference/common.h`): `1 / sqrt(input)` as a Q31 multiplier and a
/// shift for [`crate::quant::requantize`] (`input >= 0`; 0 and 1 give
/// `(i32::MAX, 0)`). L2_NORMALIZATION takes it of each row's sum of squares.
pub fn inv_sqrt_quantized_multiplier_exp(input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut input = input;
    let mut shift = 11i32;
    while input >= 1 << 29 {
        input /= 4;
        shift += 1;
    }
    // input is in 2..2^29: at least 3 leading zeros.
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Q3.28 Newton-Raphson from x = 1.
    const HALF_THREE: i32 = (1 << 28) + (1 << 27);
    const HALF_SQRT_2: i32 = 1_518_500_250;
    let fixedpoint_input = input >> 1;
    let half_input = rounding_divide_by_pot(fixedpoint_input, 1);
    let mut x = 1i32 << 28;
    for _ in 0..5 {
        // x * x * x is Q9.22: Rescale<3> shifts left by 6, saturating.
        let x3 = saturating_shl(mul(mul(x, x), x), 6);
        // Both products are Q6.25: Rescale<3> shifts left by 3.
        x = saturating_shl(mul(HALF_THREE, x).wrapping_sub(mul(half_input, x3)), 3);
    }
    let mut multiplier = mul(x, HALF_SQRT_2);
    if shift < 0 {
        multiplier = multiplier.wrapping_shl((-shift) as u32);
        shift = 0;
    }
    // kReverseShift: the right shift becomes a left shift.
    (multiplier, -shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(x: f64, integer_bits: i32) -> i32 {
        (x * (1u64 << (31 - integer_bits)) as f64).round() as i32
    }

    fn real(raw: i32) -> f64 {
        raw as f64 / (1u64 << 31) as f64
    }

    #[test]
    fn exp_logistic_and_tanh_are_close_to_the_functions() {
        for i in -150..=150 {
            let x = i as f64 / 10.0;
            if x <= 0.0 {
                let e = real(exp_on_negative_values(q(x, 5), 5));
                assert!((e - x.exp()).abs() < 1e-6, "exp({x}) = {e}");
            }
            let s = real(logistic(q(x, 4), 4));
            assert!(
                (s - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6,
                "logistic({x}) = {s}"
            );
            let t = real(tanh(q(x, 4), 4));
            assert!((t - x.tanh()).abs() < 1e-6, "tanh({x}) = {t}");
        }
    }

    /// TFLite's fixed-point log of Q12.19 sums (LOG_SOFTMAX's: from exp(0)
    /// = 1 up to 4,096) into Q5.26, against `ln`.
    #[test]
    fn log_is_close_to_ln() {
        for k in 0..2000 {
            let x = 1.0 + k as f64 * 4095.0 / 1999.0;
            let raw = q(x, 12);
            let got =
                log_x_for_x_greater_than_or_equal_to_1(raw, 12, 5) as f64 / (1u64 << 26) as f64;
            let want = (raw as f64 / (1u64 << 19) as f64).ln();
            assert!((got - want).abs() < 2e-6, "ln({x}) = {got}, want {want}");
        }
    }

    /// The inverse square root as a multiplier and shift (L2_NORMALIZATION's
    /// of sums of squares), against `1 / sqrt`; 0 and 1 give the largest
    /// multiplier and no shift, as TFLite's.
    #[test]
    fn inv_sqrt_is_close_to_one_over_sqrt() {
        assert_eq!(inv_sqrt_quantized_multiplier_exp(0), (i32::MAX, 0));
        assert_eq!(inv_sqrt_quantized_multiplier_exp(1), (i32::MAX, 0));
        let mut x = 2i64;
        while x < i32::MAX as i64 {
            let (m, shift) = inv_sqrt_quantized_multiplier_exp(x as i32);
            assert!(m > 0 && shift <= 0, "{x}: {m} {shift}");
            let got = m as f64 / (1u64 << 31) as f64 * 2f64.powi(shift);
            let want = 1.0 / (x as f64).sqrt();
            // Five Newton steps in Q3.28 from 1: within 2e-6.
            assert!(
                (got / want - 1.0).abs() < 2e-6,
                "1/sqrt({x}) = {got}, want {want}"
            );
            x = x * 3 / 2 + 1;
        }
    }
}
