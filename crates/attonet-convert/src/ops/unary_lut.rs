//! The unary family: element-wise functions of one int8 tensor, computed at
//! run time through one 256-entry table ([`attonet_runtime::ops::lookup`]).
//!
//! For an int8 input every such op is a function of the input byte alone, so
//! the table is the op itself, evaluated here once per input byte:
//!
//! * [`UnaryNumerics::Tflm`] (a TFLite model's op): TensorFlow Lite Micro's
//!   integer reference kernel, reproduced step by step with the runtime's
//!   rounding primitives ([`attonet_runtime::quant`],
//!   [`attonet_runtime::fixedpoint`]) and its Prepare-time parameters
//!   computed as TFLM computes them (in `f32` where TFLM uses `float`), so
//!   the table is bit-exact by construction:
//!   - LOGISTIC, TANH: `integer_ops::Logistic` / `Tanh` (gemmlowp fixed
//!     point on a Q4.27 input; input multiplier from `frexp(scale * 2^27)`,
//!     `CalculateInputRadius`). TFLM assumes the output quantization the
//!     converter always writes (1/256 and -128; 1/128 and 0) and computes
//!     nothing else, so another one is refused.
//!   - HARD_SWISH: `reference_ops::HardSwish` (int16 fixed point).
//!   - RELU: requantization to the output scale, clamped at its zero point;
//!     RELU_N1_TO_1 as TFLite's `ReluX` (TFLM has no kernel for it).
//!   - RELU6: TFLM's `Relu6Quantized` clamps the *input* bytes to
//!     `[zero_point, round(6 / scale) + zero_point]` of the input's
//!     quantization and does not requantize, whatever the output's
//!     quantization says (the TFLite converter gives it another one; TFLM
//!     outputs, and so do we, the input's bytes).
//!   - LEAKY_RELU: `QuantizeLeakyRelu` (two multipliers, from `f32` scale
//!     arithmetic).
//!   - QUANTIZE int8 -> int8: `reference_ops::Requantize`.
//! * [`UnaryNumerics::Float`] (an op our post-training quantizer placed,
//!   from an ONNX model): `q(f(s_in * (x - z_in)))` for each input byte `x`,
//!   with `f` evaluated in `f64` ([`eval`]) and
//!   `q(y) = clamp(round(y / s_out) + z_out, -128, 127)`, rounding half away
//!   from zero as the quantizer rounds weights and biases.
//!
//! The float reference executor and the quantizer use [`eval`] and
//! [`output_quantization`], so calibration and lowering agree on the op.

use attonet_runtime::fixedpoint;
use attonet_runtime::ops::lookup::TABLE_LEN;
use attonet_runtime::quant::{requantize, rounding_divide_by_pot, shift_in_range};

use crate::ir::{Activation, Quantization, UnaryFn, UnaryNumerics};
use crate::requantize::{activation_range, calculate_input_radius, frexp, quantize_multiplier};

/// A per-tensor int8 quantization: scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// The function on reals (`f64`): the float reference of every op of the
/// family (TFLite's float kernels; ONNX's definitions).
pub fn eval(func: UnaryFn, x: f64) -> f64 {
    match func {
        UnaryFn::Logistic => 1.0 / (1.0 + (-x).exp()),
        UnaryFn::Tanh => x.tanh(),
        UnaryFn::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        UnaryFn::HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
        UnaryFn::Relu => x.max(0.0),
        UnaryFn::Relu6 => x.clamp(0.0, 6.0),
        UnaryFn::ReluN1To1 => x.clamp(-1.0, 1.0),
        UnaryFn::Clip { min, max } => x.max(min as f64).min(max as f64),
        UnaryFn::LeakyRelu { alpha } => {
            if x > 0.0 {
                x
            } else {
                x * alpha as f64
            }
        }
        UnaryFn::Requantize => x,
        UnaryFn::Exp => x.exp(),
        UnaryFn::Neg => -x,
        UnaryFn::Abs => x.abs(),
        UnaryFn::Sqrt => x.max(0.0).sqrt(),
        UnaryFn::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryFn::Sin => x.sin(),
        UnaryFn::Cos => x.cos(),
        UnaryFn::Erf => erf(x),
        UnaryFn::Softplus => softplus(x),
        UnaryFn::Softsign => x / (1.0 + x.abs()),
        UnaryFn::Mish => x * softplus(x).tanh(),
        UnaryFn::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha as f64 * x.exp_m1()
            }
        }
        UnaryFn::Celu { alpha } => {
            let a = alpha as f64;
            x.max(0.0) + (a * (x / a).exp_m1()).min(0.0)
        }
        UnaryFn::Selu { alpha, gamma } => {
            let g = gamma as f64;
            if x > 0.0 {
                g * x
            } else {
                g * alpha as f64 * x.exp_m1()
            }
        }
        UnaryFn::ThresholdedRelu { alpha } => {
            if x > alpha as f64 {
                x
            } else {
                0.0
            }
        }
        UnaryFn::Gelu { tanh: false } => 0.5 * x * (1.0 + erf(x / core::f64::consts::SQRT_2)),
        UnaryFn::Gelu { tanh: true } => {
            let k = (2.0 / core::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
        }
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// The error function in `f64`: its Maclaurin series for `|x| <= 3` (the
/// largest term stays below 100, so it keeps about 1e-14), the asymptotic
/// series of `erfc` beyond, stopped at its smallest term (an error below 1e-8
/// at 3 and falling fast): far below any int8 step.
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let y = if a <= 3.0 {
        // erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum) = (a, a);
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * core::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) ~ e^(-x^2) / (x sqrt(pi)) * sum (-1)^n (2n-1)!! / (2x^2)^n
        let (mut term, mut sum) = (1.0f64, 1.0f64);
        for n in 1..12 {
            let next = -term * (2 * n - 1) as f64 / (2.0 * a * a);
            if next.abs() >= term.abs() {
                break;
            }
            term = next;
            sum += term;
        }
        1.0 - (-a * a).exp() / (a * core::f64::consts::PI.sqrt()) * sum
    };
    y.copysign(x)
}

/// The output quantization post-training quantization must give the op, or
/// `None` where the calibrated range of the output decides. Mirrors what
/// TFLite's converter writes for the ops whose TFLM kernels assume one:
/// LOGISTIC 1/256 and -128, TANH 1/128 and 0, RELU6 its input's (TFLM's
/// RELU6 clamps without requantizing).
pub fn output_quantization(
    func: UnaryFn,
    numerics: UnaryNumerics,
    input: &Quantization,
) -> Option<Quantization> {
    let fixed = |scale: f32, zero_point: i64| Quantization {
        scales: vec![scale],
        zero_points: vec![zero_point],
        axis: 0,
    };
    match numerics {
        UnaryNumerics::Float => None,
        UnaryNumerics::Tflm => match func {
            UnaryFn::Logistic => Some(fixed(1.0 / 256.0, -128)),
            UnaryFn::Tanh => Some(fixed(1.0 / 128.0, 0)),
            UnaryFn::Relu6 => Some(input.clone()),
            UnaryFn::HardSwish
            | UnaryFn::HardSigmoid { .. }
            | UnaryFn::Relu
            | UnaryFn::ReluN1To1
            | UnaryFn::Clip { .. }
            | UnaryFn::LeakyRelu { .. }
            | UnaryFn::Elu { .. }
            | UnaryFn::Abs
            | UnaryFn::Requantize => None,
            // ONNX functions without a TFLite reading: only Float numerics.
            _ => None,
        },
    }
}

/// The op's table: entry `b` is the output for the input byte `b` (input
/// `b as i8`). `Err` says why the op cannot be computed (for an
/// "unsupported" error naming the op).
pub fn table(
    func: UnaryFn,
    numerics: UnaryNumerics,
    input: Quant,
    output: Quant,
) -> Result<Vec<i8>, String> {
    let f: Box<dyn Fn(i32) -> i32> = match numerics {
        UnaryNumerics::Float => Box::new(move |x| {
            let real = input.scale as f64 * (x - input.zero_point) as f64;
            let y = eval(func, real) / output.scale as f64;
            (y.round() + output.zero_point as f64).clamp(-128.0, 127.0) as i32
        }),
        UnaryNumerics::Tflm => tflm(func, input, output)?,
    };
    Ok((0..TABLE_LEN)
        .map(|b| f(b as u8 as i8 as i32).clamp(-128, 127) as i8)
        .collect())
}

/// A requantization `(multiplier, shift)` of `real`, checked as the runtime
/// takes it.
fn multiplier(real: f64, what: &str) -> Result<(i32, i32), String> {
    let (m, s) = quantize_multiplier(real);
    if shift_in_range(s) {
        Ok((m, s))
    } else {
        Err(format!("{what} {real:e} needs shift {s}, outside -31..=30"))
    }
}

/// TFLM's int8 kernel of `func` as a function of the input (in `-128..=127`).
fn tflm(func: UnaryFn, input: Quant, output: Quant) -> Result<Box<dyn Fn(i32) -> i32>, String> {
    let (zi, zo) = (input.zero_point, output.zero_point);
    let require_output = |scale: f32, zero_point: i32| -> Result<(), String> {
        if output.zero_point == zero_point && (output.scale - scale).abs() <= 1e-8 * scale {
            Ok(())
        } else {
            Err(format!(
                "int8 {} output must have scale {scale} and zero point {zero_point} (TFLM assumes them), it has {} and {}",
                func.name(),
                output.scale,
                output.zero_point
            ))
        }
    };
    Ok(match func {
        UnaryFn::Logistic | UnaryFn::Tanh => {
            let logistic = func == UnaryFn::Logistic;
            if logistic {
                require_output(1.0 / 256.0, -128)?;
            } else {
                require_output(1.0 / 128.0, 0)?;
            }
            let (multiplier, shift, radius) = sigmoid_input_scaling(input.scale)?;
            Box::new(move |x| {
                let v = x - zi;
                if v <= -radius {
                    -128
                } else if v >= radius {
                    127
                } else {
                    let q4 = requantize(v, multiplier, shift);
                    if logistic {
                        let q0 = fixedpoint::logistic(q4, 4);
                        (rounding_divide_by_pot(q0, 31 - 8) - 128).clamp(-128, 127)
                    } else {
                        let q0 = fixedpoint::tanh(q4, 4);
                        rounding_divide_by_pot(q0, 31 - 7).clamp(-128, 127)
                    }
                }
            })
        }
        UnaryFn::HardSwish => {
            let p = hard_swish_params(input.scale, output.scale)?;
            Box::new(move |x| hard_swish(&p, x, zi, zo))
        }
        UnaryFn::Relu | UnaryFn::ReluN1To1 => {
            // TFLM's CalculateReluOpData (double division), TFLite's ReluX.
            let (m, s) = multiplier(input.scale as f64 / output.scale as f64, "rescale")?;
            let act = if func == UnaryFn::Relu {
                Activation::Relu
            } else {
                Activation::ReluN1To1
            };
            let (lo, hi) = activation_range(act, output.scale, zo);
            Box::new(move |x| (zo + requantize(x - zi, m, s)).clamp(lo as i32, hi as i32))
        }
        UnaryFn::Relu6 => {
            // Relu6Prepare: FloatToQuantizedType<int8_t>(6.0f, scale, zp).
            let six = (((6.0f32 / input.scale).round() as f64 + zi as f64) as i64).clamp(-128, 127)
                as i32;
            let zero = zi;
            Box::new(move |x| {
                if x > six {
                    six
                } else if x < zero {
                    zero
                } else {
                    x
                }
            })
        }
        UnaryFn::LeakyRelu { alpha } => {
            // CalculateOpDataLeakyRelu: the products and quotients in float.
            let (ma, sa) = multiplier((input.scale * alpha / output.scale) as f64, "alpha")?;
            let (mi, si) = multiplier((input.scale / output.scale) as f64, "rescale")?;
            Box::new(move |x| {
                let v = x - zi;
                let r = if v >= 0 {
                    requantize(v, mi, si)
                } else {
                    requantize(v, ma, sa)
                };
                (zo + r).clamp(-128, 127)
            })
        }
        UnaryFn::Requantize => {
            let (m, s) = multiplier(input.scale as f64 / output.scale as f64, "rescale")?;
            Box::new(move |x| (requantize(x - zi, m, s) + zo).clamp(-128, 127))
        }
        // ABS (`elementwise.cc`): |x - zi| as it is where the scales are
        // equal, else rescaled by QuantizeMultiplier(in / out, a float32
        // quotient widened).
        UnaryFn::Abs => {
            let rescale = (input.scale != output.scale)
                .then(|| multiplier((input.scale / output.scale) as f64, "rescale"))
                .transpose()?;
            Box::new(move |x| {
                let v = (x - zi).abs();
                let v = match rescale {
                    Some((m, s)) => requantize(v, m, s),
                    None => v,
                };
                (v + zo).clamp(-128, 127)
            })
        }
        // ELU's PopulateLookupTable: every step in float32, `exp(x) - 1`
        // (not `expm1`), rounded half away from zero.
        UnaryFn::Elu { alpha: 1.0 } => {
            let (scale, inverse) = (input.scale, 1.0f32 / output.scale);
            Box::new(move |x| {
                let real = scale * (x - zi) as f32;
                let y = if real < 0.0 { real.exp() - 1.0 } else { real };
                (((y * inverse).round() + zo as f32) as i32).clamp(-128, 127)
            })
        }
        _ => {
            return Err(format!(
                "{} has no TensorFlow Lite Micro kernel to match",
                func.name()
            ))
        }
    })
}

/// LOGISTIC's and TANH's Prepare for int8 (`kInputIntegerBits = 4`):
/// `(input_multiplier, input_left_shift, input_range_radius)`.
fn sigmoid_input_scaling(input_scale: f32) -> Result<(i32, i32, i32), String> {
    const INPUT_INTEGER_BITS: i32 = 4;
    let real = input_scale as f64 * (1i64 << (31 - INPUT_INTEGER_BITS)) as f64;
    let (q, shift) = frexp(real);
    // TfLiteRound(q * 2^31), cast to int32 without TFLite's usual fix-up.
    let m = (q * (1i64 << 31) as f64).round();
    // A shift over 30 (input scale 8 or more) gives radius 0: every input
    // saturates and the multiplier is never used. A negative one (scale
    // under 2^-28) would be undefined in TFLM's CalculateInputRadius.
    if !(0.0..=i32::MAX as f64).contains(&m) || !(0..=62).contains(&shift) {
        return Err(format!(
            "input scale {input_scale} gives input multiplier {m} and shift {shift}"
        ));
    }
    let radius = calculate_input_radius(INPUT_INTEGER_BITS, shift, 31);
    Ok((m as i32, shift, radius))
}

/// HARD_SWISH's Prepare for int8 (`HardSwishParams`).
#[derive(Debug, Clone, Copy)]
struct HardSwishParams {
    output_multiplier: i16,
    output_exponent: i32,
    reluish_multiplier: i16,
    reluish_exponent: i32,
}

fn hard_swish_params(input_scale: f32, output_scale: f32) -> Result<HardSwishParams, String> {
    let hires_input_scale = (1.0f32 / 128.0f32) * input_scale;
    let reluish_scale = 3.0f32 / 32768.0f32;
    let (om, oe) = quantize_multiplier((hires_input_scale / output_scale) as f64);
    let (rm, re) = quantize_multiplier((hires_input_scale / reluish_scale) as f64);
    if oe > 0 {
        return Err(format!(
            "output multiplier exponent {oe} must be <= 0 (input scale {input_scale}, output scale {output_scale})"
        ));
    }
    if !(-31..=31).contains(&re) || oe < -31 {
        return Err(format!("multiplier exponents {oe} and {re}"));
    }
    Ok(HardSwishParams {
        output_multiplier: down_scale_int32_to_int16_multiplier(om),
        output_exponent: oe,
        reluish_multiplier: down_scale_int32_to_int16_multiplier(rm),
        reluish_exponent: re,
    })
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`.
fn down_scale_int32_to_int16_multiplier(m: i32) -> i16 {
    const ROUNDING_OFFSET: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING_OFFSET {
        return i16::MAX;
    }
    ((m + ROUNDING_OFFSET) >> 16) as i16
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` for int16.
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge: i32 = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// `reference_ops::SaturatingDoublingHighMul` (rounds toward zero).
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

/// `reference_ops::SaturatingLeftShift` for int16.
fn saturating_left_shift16(v: i16, amount: i32) -> i16 {
    (v as i64 * (1i64 << amount)).clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// gemmlowp's `RoundingDivideByPOT` on int16 (exponent in `0..=31`), with
/// C's integer promotions.
fn rounding_divide_by_pot16(x: i16, exponent: i32) -> i16 {
    let mask = ((1i64 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1).wrapping_add((x < 0) as i16);
    (((x as i32) >> exponent) as i16).wrapping_add((remainder > threshold) as i16)
}

/// `reference_ops::HardSwish<int8_t>` for one element.
fn hard_swish(p: &HardSwishParams, x: i32, zi: i32, zo: i32) -> i32 {
    let input_value = (x - zi) as i16;
    let hires = input_value.wrapping_mul(1 << 7);
    let preshift_output = srdhm16(hires, p.output_multiplier);
    let mut reluish = hires;
    if p.reluish_exponent > 0 {
        reluish = saturating_left_shift16(reluish, p.reluish_exponent - 1);
    }
    reluish = srdhm16(reluish, p.reluish_multiplier);
    if p.reluish_exponent > 0 {
        reluish = saturating_left_shift16(reluish, 1);
    }
    if p.reluish_exponent < 0 {
        reluish = rounding_divide_by_pot16(reluish, -p.reluish_exponent);
    }
    reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
    let preshift = sdhm16(reluish, preshift_output);
    let out = rounding_divide_by_pot16(preshift, -p.output_exponent);
    ((out as i32 + zo) as i16 as i32).clamp(-128, 127)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(scale: f32, zero_point: i32) -> Quant {
        Quant { scale, zero_point }
    }

    #[test]
    fn float_tables_follow_the_function() {
        let (qi, qo) = (q(0.05, 3), q(1.0 / 255.0, -128));
        let t = table(UnaryFn::Logistic, UnaryNumerics::Float, qi, qo).unwrap();
        for (b, &y) in t.iter().enumerate() {
            let x = 0.05 * ((b as u8 as i8) as f64 - 3.0);
            let want = 1.0 / (1.0 + (-x).exp());
            let got = (y as f64 + 128.0) / 255.0;
            assert!(
                (got - want).abs() <= 0.5 / 255.0 + 1e-9,
                "{x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn sign_and_thresholded_relu_tables() {
        let sign = table(UnaryFn::Sign, UnaryNumerics::Float, q(0.1, 3), q(1.0, 0)).unwrap();
        for (b, &y) in sign.iter().enumerate() {
            let x = b as u8 as i8 as i32;
            assert_eq!(y as i32, (x - 3).signum(), "byte {x}");
        }
        let f = UnaryFn::ThresholdedRelu { alpha: 1.0 };
        let t = table(f, UnaryNumerics::Float, q(0.125, 0), q(0.125, 0)).unwrap();
        for (b, &y) in t.iter().enumerate() {
            let x = b as u8 as i8 as i32;
            // 1.0 is byte 8 (not above the threshold).
            assert_eq!(y as i32, if x > 8 { x } else { 0 }, "byte {x}");
        }
    }

    #[test]
    fn erf_matches_published_values() {
        // Abramowitz and Stegun, table 7.1 (and erf(5) from erfc tables).
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (3.5, 0.999_999_256_901_627_7),
            (5.0, 0.999_999_999_998_462_5),
        ] {
            assert!((erf(x) - want).abs() < 1e-8, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-8);
        }
    }

    #[test]
    fn tflm_relu6_clamps_in_the_input_domain() {
        let t = table(
            UnaryFn::Relu6,
            UnaryNumerics::Tflm,
            q(0.047, -43),
            q(0.0235, -128),
        )
        .unwrap();
        let six = (6.0f32 / 0.047).round() as i32 - 43;
        for (b, &y) in t.iter().enumerate() {
            let x = b as u8 as i8 as i32;
            assert_eq!(y as i32, x.clamp(-43, six));
        }
    }

    #[test]
    fn tflm_logistic_needs_its_output_quantization() {
        let err = table(
            UnaryFn::Logistic,
            UnaryNumerics::Tflm,
            q(0.05, 0),
            q(0.01, -128),
        );
        assert!(err.unwrap_err().contains("LOGISTIC output must have scale"));
        assert!(table(
            UnaryFn::Logistic,
            UnaryNumerics::Tflm,
            q(0.05, 0),
            q(1.0 / 256.0, -128)
        )
        .is_ok());
    }
}
