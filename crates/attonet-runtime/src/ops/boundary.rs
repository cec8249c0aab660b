//! Float model boundaries: QUANTIZE from a float32 model input to int8 or
//! int16 and DEQUANTIZE from int8, uint8 or int16 to a float32 model
//! output, TensorFlow Lite Micro's
//! reference kernels (`quantize_common.cc` -> `reference_ops::AffineQuantize`,
//! `dequantize.cc` -> `reference_ops::Dequantize`) in `core` `f32` only.
//!
//! * QUANTIZE: `clamp(round(x / scale) + zero_point)` to the integer
//!   type's range, the
//!   division in `f32` (TFLM's `const float scale`), `round` half away from
//!   zero (`TfLiteRound`, `std::round`), written here as [`round_half_away`]
//!   because `core` has no `round`. Beyond TFLM: an input whose rounded
//!   quotient leaves the `i32` range saturates (`+inf` and huge values give
//!   127, `-inf` and huge negative ones -128) and NaN gives the zero point;
//!   TFLM's `static_cast<int32_t>` of such values is undefined in C++
//!   (an Arm core saturates as we do, NaN to 0; x86 gives `i32::MIN`).
//! * DEQUANTIZE: `scale * (q - zero_point)`. TFLM multiplies in `double`
//!   and casts to `float`; the product of an `f32` scale (24-bit
//!   significand) and an integer of at most 17 bits is exact in `double`, so
//!   its one rounding to `f32` is the correctly rounded `f32` product, which
//!   is what one `f32` multiplication gives: the same bits.
//!
//! Float tensors live in the arena as little-endian `f32` bytes, four a
//! value (the native order of every supported core), int16 values as two
//! little-endian bytes; both read and written byte-wise, so no alignment is
//! assumed.

use crate::error::check_len;
use crate::ops::requantize::IntType;
use crate::Error;

/// The quantization of the integer side of a boundary (the QUANTIZE
/// output's, the DEQUANTIZE input's).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoundaryParams {
    /// Scale: positive and finite.
    pub scale: f32,
    /// Zero point, a value of `int_type`.
    pub zero_point: i32,
    /// The integer side's element type: int8 or int16 (QUANTIZE), int8,
    /// uint8 or int16 (DEQUANTIZE).
    pub int_type: IntType,
}

/// Equal when every field is, the scale by its bits (so equality is
/// reflexive, as plans compare and hash them: [`crate::plan::Model::checksum`]).
impl PartialEq for BoundaryParams {
    fn eq(&self, other: &Self) -> bool {
        self.scale.to_bits() == other.scale.to_bits()
            && self.zero_point == other.zero_point
            && self.int_type == other.int_type
    }
}

impl Eq for BoundaryParams {}

impl core::hash::Hash for BoundaryParams {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_u32(self.scale.to_bits());
        self.zero_point.hash(state);
        self.int_type.hash(state);
    }
}

impl BoundaryParams {
    fn check(&self) -> crate::Result {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(Error::Parameter("boundary scale not positive and finite"));
        }
        if self.int_type == IntType::Int32 {
            return Err(Error::Parameter("float boundary to or from int32"));
        }
        if !self.int_type.holds(self.zero_point) {
            return Err(Error::Parameter(
                "boundary zero point outside its integer type",
            ));
        }
        Ok(())
    }
}

/// `x` rounded to an integer, halfway cases away from zero (C's `roundf`,
/// TFLM's `TfLiteRound`); infinities and NaN are returned as they are.
pub fn round_half_away(x: f32) -> f32 {
    // From 2^23 on every f32 is an integer (NaN and infinities fail the test).
    if !(x > -8_388_608.0 && x < 8_388_608.0) {
        return x;
    }
    // |x| < 2^23: the truncation fits i32 and is exact, so is `x - t`.
    let t = x as i32 as f32;
    let frac = x - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else if t == 0.0 && x.is_sign_negative() {
        // Keep the sign of zero (-0.3 rounds to -0.0, as roundf does).
        -0.0
    } else {
        t
    }
}

/// QUANTIZE of one value: `clamp(round(x / scale) + zero_point)` to the
/// range of `p.int_type` (see the module documentation for values beyond
/// `i32`).
pub fn quantize_f32(p: &BoundaryParams, x: f32) -> i32 {
    let (lo, hi) = p.int_type.range();
    // `as` saturates to the i32 range and takes NaN to 0.
    let q = round_half_away(x / p.scale) as i32 as i64 + p.zero_point as i64;
    q.clamp(lo as i64, hi as i64) as i32
}

/// DEQUANTIZE of one value: `scale * (q - zero_point)`.
pub fn dequantize_f32(p: &BoundaryParams, q: i32) -> f32 {
    p.scale * (q - p.zero_point) as f32
}

/// The number of integer elements of a boundary whose float side holds
/// `float_bytes` bytes, checking that `int_bytes` holds exactly as many.
fn boundary_elements(
    p: &BoundaryParams,
    what: &'static str,
    float_bytes: usize,
    int_side: &[i8],
) -> crate::Result<usize> {
    p.check()?;
    let n = int_side.len() / p.int_type.size();
    check_len(
        what,
        int_side,
        (float_bytes / 4).saturating_mul(p.int_type.size()),
    )?;
    if float_bytes != n.saturating_mul(4) {
        return Err(Error::BufferLength {
            what,
            expected: n.saturating_mul(4),
            actual: float_bytes,
        });
    }
    Ok(n)
}

/// QUANTIZE from float32 to int8 or int16: `input` holds one little-endian
/// `f32` (4 bytes) for each element of `output`.
///
/// * Constraints: `input.len() == 4 * elements` ([`Error::BufferLength`]);
///   a positive finite scale and a zero point of the integer type
///   ([`Error::Parameter`]).
/// * Scratch: none.
pub fn quantize_f32_int(p: &BoundaryParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    let n = boundary_elements(p, "quantize output", input.len(), output)?;
    for (i, w) in input.chunks_exact(4).take(n).enumerate() {
        let x = f32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]);
        p.int_type.store(output, i, quantize_f32(p, x));
    }
    Ok(())
}

/// DEQUANTIZE from int8, uint8 or int16 to float32: `output` receives one
/// little-endian `f32` (4 bytes) for each element of `input`.
///
/// * Constraints: `output.len() == 4 * elements` ([`Error::BufferLength`]);
///   a positive finite scale and a zero point of the integer type
///   ([`Error::Parameter`]).
/// * Scratch: none.
pub fn dequantize_int_f32(p: &BoundaryParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    let n = boundary_elements(p, "dequantize input", output.len(), input)?;
    for (i, w) in output.chunks_exact_mut(4).take(n).enumerate() {
        let q = p.int_type.load(input, i);
        for (d, b) in w.iter_mut().zip(dequantize_f32(p, q).to_le_bytes()) {
            *d = b as i8;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero_as_std_round() {
        let mut cases = std::vec![
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.49999997,
            -0.49999997,
            1.4999999,
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            16_777_217.0,
            1e30,
            -1e30,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-45,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        // Every tenth of -300..300 and a spread of bit patterns.
        cases.extend((-3000..=3000).map(|i| i as f32 / 10.0));
        cases.extend((0..1u32 << 16).map(|i| f32::from_bits(i.wrapping_mul(0x9E37_79B9))));
        for x in cases {
            let ours = round_half_away(x);
            let std = x.round();
            assert!(
                ours.to_bits() == std.to_bits() || (ours.is_nan() && std.is_nan()),
                "round({x:e}): ours {ours:e}, std {std:e}"
            );
        }
        assert!(round_half_away(f32::NAN).is_nan());
    }

    #[test]
    fn quantize_saturates_and_takes_nan_to_the_zero_point() {
        let p = BoundaryParams {
            scale: 0.5,
            zero_point: -3,
            int_type: IntType::Int8,
        };
        assert_eq!(quantize_f32(&p, 0.25), -2); // 0.5 rounds away: 1 - 3
        assert_eq!(quantize_f32(&p, -0.25), -4);
        assert_eq!(quantize_f32(&p, 1e30), 127);
        assert_eq!(quantize_f32(&p, f32::INFINITY), 127);
        assert_eq!(quantize_f32(&p, -1e30), -128);
        assert_eq!(quantize_f32(&p, f32::NEG_INFINITY), -128);
        assert_eq!(quantize_f32(&p, f32::NAN), -3);
        let mut out = [0i8; 2];
        let bytes: std::vec::Vec<i8> = [1.0f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .map(|b| b as i8)
            .collect();
        quantize_f32_int(&p, &bytes, &mut out).unwrap();
        assert_eq!(out, [-1, -5]);
        assert!(quantize_f32_int(&p, &bytes[1..], &mut out).is_err());
        let bad = BoundaryParams { scale: 0.0, ..p };
        assert!(quantize_f32_int(&bad, &bytes, &mut out).is_err());
        // int16: the same rounding, saturating at the int16 range.
        let p16 = BoundaryParams {
            int_type: IntType::Int16,
            zero_point: 0,
            ..p
        };
        assert_eq!(quantize_f32(&p16, 1e30), 32767);
        assert_eq!(quantize_f32(&p16, -20_000.25), -32768);
        assert_eq!(quantize_f32(&p16, 100.25), 201);
        let mut out16 = [0i8; 4];
        quantize_f32_int(&p16, &bytes, &mut out16).unwrap();
        assert_eq!(out16, [2, 0, -2, -1]); // 2 and -2, little-endian
        let int32 = BoundaryParams {
            int_type: IntType::Int32,
            ..p16
        };
        assert!(quantize_f32_int(&int32, &bytes, &mut [0; 8]).is_err());
    }

    #[test]
    fn dequantize_in_f32_equals_tflm_double_product() {
        // TFLM: static_cast<float>(double(scale) * (q - zp)).
        for bits in
            (0..1u32 << 12).map(|i| 0x3000_0000u32.wrapping_add(i.wrapping_mul(0x0003_1F3B)))
        {
            let scale = f32::from_bits(bits);
            if !(scale.is_finite() && scale > 0.0) {
                continue;
            }
            for zp in [-128, -5, 0, 77, 127] {
                let p = BoundaryParams {
                    scale,
                    zero_point: zp,
                    int_type: IntType::Int8,
                };
                for q in i8::MIN as i32..=i8::MAX as i32 {
                    let tflm = (scale as f64 * (q - zp) as f64) as f32;
                    assert_eq!(dequantize_f32(&p, q).to_bits(), tflm.to_bits());
                }
            }
            // int16 (zero point 0 in TFLM's 16x8 models) and uint8: the
            // product still fits a double exactly.
            for (zp, qs) in [(0, -32768..=32767), (128, 0..=255)] {
                let p = BoundaryParams {
                    scale,
                    zero_point: zp,
                    int_type: IntType::Int16,
                };
                for q in qs.step_by(7) {
                    let tflm = (scale as f64 * (q - zp) as f64) as f32;
                    assert_eq!(dequantize_f32(&p, q).to_bits(), tflm.to_bits());
                }
            }
        }
        let p = BoundaryParams {
            scale: 0.25,
            zero_point: 1,
            int_type: IntType::Int8,
        };
        let mut out = [0i8; 8];
        dequantize_int_f32(&p, &[5, -3], &mut out).unwrap();
        let v: std::vec::Vec<f32> = out
            .chunks_exact(4)
            .map(|w| f32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]))
            .collect();
        assert_eq!(v, [1.0, -1.0]);
        assert!(dequantize_int_f32(&p, &[5, -3], &mut out[1..]).is_err());
        let u8p = BoundaryParams {
            zero_point: 128,
            int_type: IntType::UInt8,
            ..p
        };
        dequantize_int_f32(&u8p, &[-128, 127], &mut out).unwrap(); // bytes 128 and 127
        assert_eq!(out[..4], 0.0f32.to_le_bytes().map(|b| b as i8));
        assert_eq!(out[4..], (-0.25f32).to_le_bytes().map(|b| b as i8));
    }
}
