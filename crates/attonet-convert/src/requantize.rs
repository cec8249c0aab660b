//! Float scales to integer requantization parameters, computed exactly as
//! TensorFlow Lite (Micro) computes them at Prepare time, in `f64`.

/// TFLite's `QuantizeMultiplier`: `m = q * 2^shift` with `q` in `[0.5, 1)` as a
/// Q31 integer. Returns `(multiplier, shift)`.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 || !m.is_finite() {
        return (0, 0);
    }
    let (q, mut shift) = frexp(m);
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// C's `frexp`: `x = mantissa * 2^exponent` with `|mantissa|` in `[0.5, 1)`.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(x * f64::powi(2.0, 64));
        return (m, e - 64);
    }
    let exponent = exp_bits - 1022;
    let mantissa_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(mantissa_bits), exponent)
}

/// TFLite's `QuantizeMultiplierSmallerThanOneExp`: the shift must come out `<= 0`.
pub fn quantize_multiplier_smaller_than_one(m: f64) -> Option<(i32, i32)> {
    let (q, shift) = quantize_multiplier(m);
    (shift <= 0).then_some((q, shift))
}

/// TFLite's `QuantizeMultiplierGreaterThanOne`: the shift must come out `>= 0`.
pub fn quantize_multiplier_greater_than_one(m: f64) -> Option<(i32, i32)> {
    if m <= 1.0 {
        return None;
    }
    let (q, shift) = quantize_multiplier(m);
    (shift >= 0).then_some((q, shift))
}

/// TFLite Micro's `CalculateOpDataAdd` for int8 (left shift 20): the real
/// factors `[input1, input2, output]` that [`quantize_multiplier_smaller_than_one`]
/// turns into the ADD's multipliers, in `f64` as TFLM computes them.
pub fn add_rescale(input1_scale: f32, input2_scale: f32, output_scale: f32) -> [f64; 3] {
    let twice_max = 2.0 * input1_scale.max(input2_scale) as f64;
    [
        input1_scale as f64 / twice_max,
        input2_scale as f64 / twice_max,
        twice_max / ((1i64 << ADD_LEFT_SHIFT) as f64 * output_scale as f64),
    ]
}

/// The left shift of TFLite's int8 ADD and SUB.
pub const ADD_LEFT_SHIFT: i32 = 20;

/// TFLite's `PreprocessSoftmaxScaling` (with `input_integer_bits` integer bits
/// of the scaled difference) and `CalculateInputRadius`: returns
/// `(input_multiplier, input_left_shift, diff_min)`.
pub fn softmax_scaling(
    beta: f64,
    input_scale: f64,
    input_integer_bits: i32,
) -> Option<(i32, i32, i32)> {
    let max_real_multiplier = (1i64 << 31) as f64 - 1.0;
    let real =
        (beta * input_scale * (1i64 << (31 - input_integer_bits)) as f64).min(max_real_multiplier);
    let (multiplier, left_shift) = quantize_multiplier_greater_than_one(real)?;
    let radius = calculate_input_radius(input_integer_bits, left_shift, 31);
    Some((multiplier, left_shift, -radius))
}

/// TFLite Micro's LOG_SOFTMAX `Prepare` (`PreprocessLogSoftmaxScalingExp`
/// with beta 1 and 5 integer bits, `CalculateInputRadius`): returns
/// `(input_multiplier, input_left_shift, reverse_scaling_divisor,
/// reverse_scaling_shift, diff_min)`, the shift `<= 0` as `requantize`
/// takes it. `None` where TFLite's integer arithmetic would overflow (a left
/// shift of 0) or a check fails.
pub fn log_softmax_scaling(input_scale: f64) -> Option<(i32, i32, i32, i32, i32)> {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let (multiplier, left_shift, diff_min) =
        softmax_scaling(1.0, input_scale, SCALED_DIFF_INTEGER_BITS)?;
    if !(1..=30).contains(&left_shift) || multiplier <= 0 {
        return None;
    }
    let real_reverse = (1i64 << (31 - left_shift)) as f64 / multiplier as f64;
    let (reverse, reverse_shift) = quantize_multiplier_smaller_than_one(real_reverse)?;
    (reverse_shift >= -31).then_some((multiplier, left_shift, reverse, reverse_shift, diff_min))
}

/// TFLite's `CalculateInputRadius`: the largest input magnitude (in input
/// units) whose rescaled value still fits `input_integer_bits` integer bits
/// of a `total_signed_bits` fixed-point number. `input_left_shift` must be in
/// `0..=62`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    let max_input_rescaled = 1.0
        * ((1i64 << input_integer_bits) - 1) as f64
        * (1i64 << (total_signed_bits - input_integer_bits)) as f64
        / (1i64 << input_left_shift) as f64;
    max_input_rescaled.floor() as i32
}

/// TFLite's `CalculateActivationRangeQuantized` for int8: the fused
/// activation's range in the output's quantized domain. Uses `f32`, as TFLite
/// does (`zero_point + round(x / scale)` with float operands).
pub fn activation_range(act: crate::ir::Activation, scale: f32, zero_point: i32) -> (i8, i8) {
    use crate::ir::Activation;
    let q = |x: f32| -> i32 { zero_point.saturating_add((x / scale).round() as i32) };
    let (lo, hi) = match act {
        Activation::None => (i8::MIN as i32, i8::MAX as i32),
        Activation::Relu => (q(0.0).max(-128), 127),
        Activation::Relu6 => (q(0.0).max(-128), q(6.0).min(127)),
        Activation::ReluN1To1 => (q(-1.0).max(-128), q(1.0).min(127)),
    };
    (lo.clamp(-128, 127) as i8, hi.clamp(-128, 127) as i8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(3.0), (0.75, 2));
        assert_eq!(frexp(0.1).1, -3);
        assert_eq!(frexp(-4.0), (-0.5, 3));
        let (m, e) = frexp(1e-310);
        assert!((0.5..1.0).contains(&m));
        assert_eq!(m * 2f64.powi(e + 100) / 2f64.powi(100), 1e-310);
    }

    #[test]
    fn quantize_multiplier_round_trips() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        // A value that rounds up to 2^31 moves to the next exponent.
        let (q, s) = quantize_multiplier(1.0 - 1e-12);
        assert_eq!((q, s), (1 << 30, 1));
        for &m in &[0.001234, 0.3, 0.999, 2.5, 1e-9] {
            let (q, s) = quantize_multiplier(m);
            let back = q as f64 / (1u64 << 31) as f64 * 2f64.powi(s);
            assert!((back - m).abs() / m < 1e-9, "{m}");
        }
    }

    #[test]
    fn softmax_scaling_of_typical_input() {
        // beta 1, scale 1/16: multiplier * 2^shift = 2^26 / 16 * 2^0 ... (checked against the formula)
        let (m, shift, diff_min) = softmax_scaling(1.0, 0.0625, 5).unwrap();
        let real = m as f64 / (1u64 << 31) as f64 * 2f64.powi(shift);
        assert!((real - 0.0625 * (1u64 << 26) as f64).abs() < 1e-3);
        assert!(diff_min < 0);
    }
}
