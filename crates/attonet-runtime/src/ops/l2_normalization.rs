//! L2_NORMALIZATION for int8 input and output (output scale 1/128, zero
//! point 0), TensorFlow Lite Micro's integer kernel
//! (`reference/integer_ops/l2normalization.h`).
//!
//! Per row of `depth` elements, with `x = q - input_zero_point`: `acc = Σ
//! x^2`, `(m, s) = GetInvSqrtQuantizedMultiplierExp(acc)`
//! ([`inv_sqrt_quantized_multiplier_exp`]), and each output is
//! `clamp(requantize(x, m, s + 7))` (the 7: the output's 1/128 scale).
//!
//! * Layout: `input` and `output` are `[rows][depth]`, flat.
//! * Scratch: none.
//! * Constraints: [`check_l2_normalization`]; nothing is written when they
//!   fail.

use crate::fixedpoint::inv_sqrt_quantized_multiplier_exp;
use crate::quant::{requantize, shift_in_range};
use crate::Error;

/// Parameters of an L2_NORMALIZATION (TFLM's `L2NormalizationParams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct L2NormalizationParams {
    /// Elements per row (the innermost dimension).
    pub depth: u16,
    /// Zero point of the input.
    pub input_zero_point: i32,
}

/// `kOutputScale` of TFLM's kernel: the output is in units of 2^-7.
const OUTPUT_SCALE_SHIFT: i32 = 7;

/// Most elements a row may have: `Σ (q - zp)^2` stays below 2^31 (TFLM's
/// int32 accumulator; 255^2 per element).
pub const L2_NORMALIZATION_MAX_DEPTH: usize = (i32::MAX as usize) / (255 * 255);

/// Checks an L2_NORMALIZATION's parameters against its buffer lengths.
pub fn check_l2_normalization(
    p: &L2NormalizationParams,
    input_len: usize,
    output_len: usize,
) -> crate::Result {
    if input_len != output_len {
        return Err(Error::BufferLength {
            what: "l2_normalization output",
            expected: input_len,
            actual: output_len,
        });
    }
    if !(-128..=127).contains(&p.input_zero_point) {
        return Err(Error::Parameter(
            "l2_normalization input zero point outside int8",
        ));
    }
    let depth = p.depth as usize;
    if depth == 0 && input_len != 0 {
        return Err(Error::Shape("l2_normalization depth is zero"));
    }
    if depth != 0 && input_len % depth != 0 {
        return Err(Error::Shape(
            "l2_normalization input length is not a multiple of depth",
        ));
    }
    if depth > L2_NORMALIZATION_MAX_DEPTH {
        return Err(Error::Shape(
            "l2_normalization rows longer than 33,025 (the int32 sum of squares)",
        ));
    }
    Ok(())
}

/// L2 normalization of each row of `depth` elements (see the module docs).
pub fn l2_normalization_s8(
    p: &L2NormalizationParams,
    input: &[i8],
    output: &mut [i8],
) -> crate::Result {
    check_l2_normalization(p, input.len(), output.len())?;
    let depth = p.depth as usize;
    if depth == 0 {
        return Ok(());
    }
    let zp = p.input_zero_point;
    for (xs, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        // In range: at most 33,025 squares of at most 255^2.
        let acc = xs.iter().fold(0i32, |acc, &q| {
            let x = q as i32 - zp;
            acc.wrapping_add(x * x)
        });
        let (multiplier, shift) = inv_sqrt_quantized_multiplier_exp(acc);
        let shift = shift + OUTPUT_SCALE_SHIFT;
        if !shift_in_range(shift) {
            return Err(Error::Parameter("l2_normalization shift out of range"));
        }
        for (o, &q) in out.iter_mut().zip(xs) {
            *o = requantize(q as i32 - zp, multiplier, shift).clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel against the real function: each output is `x / |x|` in
    /// units of 1/128, within one unit (TFLM's fixed-point inverse square root).
    #[test]
    fn rows_come_out_unit_length() {
        let p = L2NormalizationParams {
            depth: 5,
            input_zero_point: -3,
        };
        let input: [i8; 15] = [
            10, -20, 30, 7, -128, 127, 127, 127, 127, 127, -3, -3, -3, -3, -2,
        ];
        let mut output = [0i8; 15];
        l2_normalization_s8(&p, &input, &mut output).unwrap();
        // Newton's square root (no `f64::sqrt` in `core`).
        let sqrt = |a: f64| (0..60).fold(a.max(1.0), |r, _| 0.5 * (r + a / r));
        for (xs, ys) in input.chunks(5).zip(output.chunks(5)) {
            let x = |k: usize| (xs[k] as i32 + 3) as f64;
            let norm = sqrt((0..5).map(|k| x(k) * x(k)).sum::<f64>());
            for (k, &y) in ys.iter().enumerate() {
                let v = x(k);
                let want = (v / norm * 128.0).clamp(-128.0, 127.0);
                assert!(
                    (y as f64 - want).abs() <= 1.0,
                    "{v} / {norm}: {y} vs {want}"
                );
            }
        }
        let bad = L2NormalizationParams { depth: 4, ..p };
        assert!(l2_normalization_s8(&bad, &input, &mut output).is_err());
    }
}
