//! QUANTIZE between integer element types (int8, uint8, int16, int32):
//! TensorFlow Lite Micro's `quantize_common.cc` -> `reference_ops::Requantize`.
//!
//! Every element: `clamp(MultiplyByQuantizedMultiplier(x - in_zp, m, s) +
//! out_zp)` to the output type's range, where `m, s` is TFLM's
//! `QuantizeMultiplier(in_scale / out_scale)` in `double` (the converter
//! computes it). TFLM's fast paths (int8 <-> uint8 with equal scales and
//! zero points 128 apart: a flip of the top bit) give the same bytes, so
//! one loop serves every pair. `x - in_zp` wraps where an int32 input
//! would overflow (undefined in TFLM's C++, wrapping on its targets).
//!
//! Elements are little-endian, `IntType::size` bytes each, read and
//! written byte-wise (no alignment assumed). QUANTIZE from int8 to int8
//! does not come here: the converter tabulates it ([`crate::ops::lookup`]).

use crate::error::check_len;
use crate::quant::{requantize, shift_in_range};
use crate::Error;

/// An integer element type of a tensor the requantization reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IntType {
    /// `i8`.
    Int8,
    /// `u8` (image data at a model's input, TFLM's uint8 outputs).
    UInt8,
    /// `i16`, little-endian.
    Int16,
    /// `i32`, little-endian.
    Int32,
}

impl IntType {
    /// Bytes of one element.
    pub const fn size(self) -> usize {
        match self {
            IntType::Int8 | IntType::UInt8 => 1,
            IntType::Int16 => 2,
            IntType::Int32 => 4,
        }
    }

    /// The smallest and largest value of the type.
    pub const fn range(self) -> (i32, i32) {
        match self {
            IntType::Int8 => (i8::MIN as i32, i8::MAX as i32),
            IntType::UInt8 => (0, u8::MAX as i32),
            IntType::Int16 => (i16::MIN as i32, i16::MAX as i32),
            IntType::Int32 => (i32::MIN, i32::MAX),
        }
    }

    /// Element `i` of `bytes` (which holds at least `i + 1` elements).
    #[inline(always)]
    pub fn load(self, bytes: &[i8], i: usize) -> i32 {
        let b = |k: usize| bytes[i * self.size() + k] as u8;
        match self {
            IntType::Int8 => b(0) as i8 as i32,
            IntType::UInt8 => b(0) as i32,
            IntType::Int16 => i16::from_le_bytes([b(0), b(1)]) as i32,
            IntType::Int32 => i32::from_le_bytes([b(0), b(1), b(2), b(3)]),
        }
    }

    /// Stores `v` (already within [`IntType::range`]) as element `i`.
    #[inline(always)]
    pub fn store(self, bytes: &mut [i8], i: usize, v: i32) {
        let at = i * self.size();
        for (k, byte) in v.to_le_bytes()[..self.size()].iter().enumerate() {
            bytes[at + k] = *byte as i8;
        }
    }

    /// Whether `zero_point` is a value of the type (TFLM's zero points lie
    /// in the quantized type's range).
    pub const fn holds(self, zero_point: i32) -> bool {
        let (lo, hi) = self.range();
        zero_point >= lo && zero_point <= hi
    }
}

/// The parameters of one requantization (TFLM's `OpDataQuantizeReference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequantizeParams {
    /// The input's element type.
    pub input_type: IntType,
    /// The output's element type.
    pub output_type: IntType,
    /// The input's zero point (a value of `input_type`).
    pub input_zero_point: i32,
    /// The output's zero point (a value of `output_type`).
    pub output_zero_point: i32,
    /// `QuantizeMultiplier(in_scale / out_scale)`: the multiplier...
    pub multiplier: i32,
    /// ... and its shift, in `-31..=30`.
    pub shift: i32,
}

impl RequantizeParams {
    /// Checks the zero points and the shift.
    pub fn check(&self) -> crate::Result {
        if !self.input_type.holds(self.input_zero_point)
            || !self.output_type.holds(self.output_zero_point)
        {
            return Err(Error::Parameter(
                "requantize zero point outside its element type",
            ));
        }
        if !shift_in_range(self.shift) {
            return Err(Error::Parameter("requantization shift outside -31..=30"));
        }
        Ok(())
    }

    /// One element.
    #[inline(always)]
    pub fn apply(&self, x: i32) -> i32 {
        let (lo, hi) = self.output_type.range();
        let y = requantize(
            x.wrapping_sub(self.input_zero_point),
            self.multiplier,
            self.shift,
        ) as i64
            + self.output_zero_point as i64;
        y.clamp(lo as i64, hi as i64) as i32
    }
}

/// QUANTIZE from `input` (elements of `p.input_type`) to `output` (the same
/// number of elements of `p.output_type`).
///
/// * Constraints: `input` a whole number of elements and `output` exactly
///   as many ([`Error::BufferLength`]); zero points within their types, the
///   shift in `-31..=30` ([`Error::Parameter`]).
/// * Scratch: none.
pub fn requantize_elements(p: &RequantizeParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    p.check()?;
    if input.len() % p.input_type.size() != 0 {
        return Err(Error::BufferLength {
            what: "requantize input",
            expected: input.len() / p.input_type.size() * p.input_type.size(),
            actual: input.len(),
        });
    }
    let n = input.len() / p.input_type.size();
    check_len(
        "requantize output",
        output,
        n.saturating_mul(p.output_type.size()),
    )?;
    for i in 0..n {
        let y = p.apply(p.input_type.load(input, i));
        p.output_type.store(output, i, y);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(input_type: IntType, output_type: IntType, zin: i32, zout: i32) -> RequantizeParams {
        RequantizeParams {
            input_type,
            output_type,
            input_zero_point: zin,
            output_zero_point: zout,
            multiplier: 1 << 30,
            shift: 1, // 0.5 * 2 = 1.0: the identity scale
        }
    }

    #[test]
    fn uint8_to_int8_with_equal_scales_flips_the_top_bit() {
        // TFLM's fast path for this case is `x ^ 0x80`; the general formula
        // gives the same bytes for every input.
        let p = params(IntType::UInt8, IntType::Int8, 128, 0);
        let input: [i8; 256] = core::array::from_fn(|i| i as u8 as i8);
        let mut out = [0i8; 256];
        requantize_elements(&p, &input, &mut out).unwrap();
        for (x, y) in input.iter().zip(out) {
            assert_eq!(y as u8, (*x as u8) ^ 0x80);
        }
    }

    #[test]
    fn int16_to_int8_rounds_and_saturates() {
        // Scale ratio 1/256 (0.5 * 2^-7), output zero point 3.
        let p = RequantizeParams {
            multiplier: 1 << 30,
            shift: -7,
            ..params(IntType::Int16, IntType::Int8, 0, 3)
        };
        let xs = [0i16, 128, -128, 384, 32767, -32768, 127];
        let input: [i8; 14] = core::array::from_fn(|k| xs[k / 2].to_le_bytes()[k % 2] as i8);
        let mut out = [0i8; 7];
        requantize_elements(&p, &input, &mut out).unwrap();
        // 128/256 = 0.5 rounds away from zero to 1; 384/256 = 1.5 -> 2;
        // 127/256 rounds twice as TFLM does (the doubling high multiply to
        // 64, then 64/128 = 0.5 away from zero): 1, not 0.
        assert_eq!(out, [3, 4, 2, 5, 127, -125, 4]);
    }

    #[test]
    fn int8_to_int32_widens_exactly() {
        let p = params(IntType::Int8, IntType::Int32, -5, 7);
        let input = [-128i8, -5, 0, 127];
        let mut out = [0i8; 16];
        requantize_elements(&p, &input, &mut out).unwrap();
        let got: [i32; 4] = core::array::from_fn(|i| IntType::Int32.load(&out, i));
        assert_eq!(got, [-116, 7, 12, 139]);
    }

    #[test]
    fn bad_lengths_and_parameters_are_errors() {
        let p = params(IntType::Int16, IntType::Int8, 0, 0);
        let mut out = [0i8; 2];
        assert!(matches!(
            requantize_elements(&p, &[0; 3], &mut out),
            Err(Error::BufferLength { .. })
        ));
        assert!(matches!(
            requantize_elements(&p, &[0; 2], &mut out),
            Err(Error::BufferLength { .. })
        ));
        let bad_zero = params(IntType::UInt8, IntType::Int8, -1, 0);
        assert!(matches!(
            requantize_elements(&bad_zero, &[0; 2], &mut out),
            Err(Error::Parameter(_))
        ));
        let bad_shift = RequantizeParams { shift: 31, ..p };
        assert!(matches!(
            requantize_elements(&bad_shift, &[0; 4], &mut out),
            Err(Error::Parameter(_))
        ));
    }
}
