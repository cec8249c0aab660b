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
}
