//! Fixed-point rules: the numerics contract every kernel follows.
//!
//! These are TensorFlow Lite Micro's reference integer semantics, written down
//! once. Every kernel in [`crate::ops`] computes exactly this, and the tests
//! compare whole models against the TensorFlow Lite Micro interpreter element
//! for element.
//!
//! # Tensors
//! * Activations are `i8`, NHWC (batch 1 inside a plan), with one scale and
//!   one zero point per tensor: `real = scale * (q - zero_point)`.
//! * Convolution weights are `i8`, symmetric (zero point 0), with one scale per
//!   output channel. Layouts are TFLite's, unchanged, so a DSP kernel can read
//!   them as packed bytes:
//!   - convolution (general, pointwise, grouped): `[out_c][kh][kw][in_c / groups]` (OHWI);
//!   - depthwise: `[kh][kw][in_c * multiplier]` (HWC, output channel fastest);
//!   - fully connected: `[out][in]`.
//! * Biases are `i32` with scale `input_scale * weight_scale[c]` and zero point 0.
//! * TFLite's 16x8 mode (int16 activations with zero point 0, the same int8
//!   weights, `i64` biases) has kernels of its own, TFLM's int16 reference
//!   numerics, beside each family's int8 ones; [`crate::ops::int16`] holds
//!   what they share (the 64-bit `MultiplyByQuantizedMultiplier`, the int16
//!   clamp, the little-endian element layout in the arena).
//!
//! # Accumulation and requantization
//! A convolution output is
//! ```text
//! acc  = bias[c] + Σ w * (x - input_zero_point)        (i32; padded taps are skipped)
//! out  = clamp(requantize(acc, multiplier[c], shift[c]) + output_zero_point, act_min, act_max)
//! ```
//! where [`requantize`] is TFLite's `MultiplyByQuantizedMultiplier`: a saturating
//! rounding doubling high multiply by a Q31 `multiplier`, then a rounding right
//! shift (round half away from zero) by `-shift` when `shift < 0`, or a left
//! shift of the input by `shift` first when `shift > 0`. The converter derives
//! `(multiplier, shift)` from the float scales in `f64` exactly as TFLite's
//! `QuantizeMultiplier` does (`frexp`, then `round(q * 2^31)`).
//!
//! Fused activations never appear as separate passes: they are the `act_min` /
//! `act_max` clamp (RELU: `[zero_point, 127]`; RELU6: `[zero_point,
//! zero_point + round(6 / scale)]` clipped to the `i8` range).
//!
//! Integer overflow: the reference code is C with 32-bit `int`; where it could
//! overflow (only for absurd inputs), we use wrapping arithmetic, which is what
//! the reference does on every target TFLite Micro supports.

/// TFLite's `SaturatingRoundingDoublingHighMul` (from gemmlowp): the high 32
/// bits of `2 * a * b`, rounded to nearest, saturating the one overflowing case.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp adds `2^30` to a non-negative product and `1 - 2^30` to a
    // negative one, then divides by `2^31` truncating toward zero. For a
    // negative product `-k` that is `-floor((k - 1 + 2^30) / 2^31)`, which
    // equals `floor((-k + 2^30) / 2^31)` (as `-ceil(y / n) = -floor((y + n -
    // 1) / n)`): one nudge and an arithmetic shift give the same bits for
    // every product (`srdhm_is_gemmlowps` checks it), in five Thumb-2
    // instructions instead of a sign test and a 64-bit division.
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// TFLite's `RoundingDivideByPOT` (from gemmlowp): `x / 2^exponent`, rounding
/// half away from zero. `exponent` must be in `0..=31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent & 31;
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplier(x, multiplier, shift)`: scales `x`
/// by `multiplier * 2^(shift - 31)` with TFLite Micro's rounding.
///
/// `shift` must lie in `-31..=30`; the converter guarantees it and
/// [`check_shift`] lets kernels verify it once up front.
#[inline(always)]
pub fn requantize(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left_shift), multiplier),
        right_shift,
    )
}

/// TFLite's `MultiplyByQuantizedMultiplierSmallerThanOneExp` (used by ADD):
/// like [`requantize`] with a non-positive `left_shift`.
#[inline(always)]
pub fn requantize_smaller_than_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        -left_shift,
    )
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne` (used by SOFTMAX):
/// `x * 2^left_shift`, then the doubling high multiply.
#[inline(always)]
pub fn requantize_greater_than_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << (left_shift & 31)), multiplier)
}

/// [`requantize`] by one `(multiplier, shift)` over many values, the
/// shift's masks worked out once: the same bits as [`requantize`] for every
/// `x` (`requantizer_is_requantize` checks it). The multiplier may be any
/// but `-2^31` (no scale gives it; it is the one multiplier whose product
/// with an input saturates, and leaving that case out saves a test an
/// element), so [`Requantizer::new`] refuses it.
#[derive(Debug, Clone, Copy)]
pub struct Requantizer {
    multiplier: i32,
    left: u32,
    right: u32,
    mask: i32,
    half: i32,
}

impl Requantizer {
    /// The requantization by `multiplier` and `shift` (in `-31..=30`; other
    /// shifts are taken modulo 32, as [`requantize`] takes them); `None`
    /// for the multiplier `-2^31`.
    #[inline(always)]
    pub fn new(multiplier: i32, shift: i32) -> Option<Requantizer> {
        if multiplier == i32::MIN {
            return None;
        }
        let left = if shift > 0 { shift as u32 & 31 } else { 0 };
        let right = if shift > 0 {
            0
        } else {
            shift.wrapping_neg() as u32 & 31
        };
        let mask = ((1i64 << right) - 1) as i32;
        Some(Requantizer {
            multiplier,
            left,
            right,
            mask,
            half: mask >> 1,
        })
    }

    /// `requantize(x, multiplier, shift)`.
    #[inline(always)]
    pub fn apply(&self, x: i32) -> i32 {
        self.smaller_than_one(x.wrapping_shl(self.left))
    }

    /// `requantize_smaller_than_one(x, multiplier, shift)`: [`apply`](Self::apply)
    /// without the left shift, for a requantizer made with a shift `<= 0`
    /// (where the two agree; one instruction less an element).
    #[inline(always)]
    pub fn smaller_than_one(&self, x: i32) -> i32 {
        // The doubling high multiply without its saturating case (a
        // multiplier of -2^31 is refused).
        let v = ((x as i64 * self.multiplier as i64 + (1 << 30)) >> 31) as i32;
        (v >> self.right) + ((v & self.mask) > self.half + (v < 0) as i32) as i32
    }
}

/// Whether `shift` is one [`requantize`] accepts.
#[inline]
pub const fn shift_in_range(shift: i32) -> bool {
    shift >= -31 && shift <= 30
}

/// Checks every per-channel shift once, before a kernel's inner loop.
pub fn check_shift(shifts: &[i32]) -> crate::Result {
    if shifts.iter().all(|&s| shift_in_range(s)) {
        Ok(())
    } else {
        Err(crate::Error::Parameter(
            "requantization shift outside -31..=30",
        ))
    }
}

/// Output clamp of an int8 kernel: the fused activation's range, already
/// expressed in the output's quantized domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Clamp {
    /// Smallest output value (`-128` with no activation).
    pub min: i8,
    /// Largest output value (`127` with no activation).
    pub max: i8,
}

impl Clamp {
    /// No activation: the whole `i8` range.
    pub const NONE: Clamp = Clamp {
        min: i8::MIN,
        max: i8::MAX,
    };

    /// Applies the clamp to an already offset value and narrows it to `i8`.
    #[inline(always)]
    pub fn apply(self, v: i32) -> i8 {
        // TFLM's `min(max(v, act_min), act_max)`: no panic path (`clamp`
        // asserts `min <= max`), the same bits.
        v.max(self.min as i32).min(self.max as i32) as i8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gemmlowp's form, as written: a nudge by the product's sign, then a
    /// division truncating toward zero.
    fn srdhm_gemmlowp(a: i32, b: i32) -> i32 {
        if a == i32::MIN && b == i32::MIN {
            return i32::MAX;
        }
        let ab = a as i64 * b as i64;
        let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        ((ab + nudge) / (1i64 << 31)) as i32
    }

    /// The shifted form gives gemmlowp's bits: on the extremes, around
    /// every rounding tie (products `2^31 * q +- 2^30 +- 1`), and on a
    /// million pseudo-random pairs.
    /// A [`Requantizer`] gives [`requantize`]'s bits for every shift and
    /// for multipliers and inputs at the extremes and in between.
    #[test]
    fn requantizer_is_requantize() {
        let xs = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 20) - 7,
            -129,
            -1,
            0,
            1,
            127,
            1 << 20,
            i32::MAX,
        ];
        let ms = [
            0,
            1,
            1 << 30,
            (1 << 30) + 12_345,
            i32::MAX - 1,
            i32::MAX,
            i32::MIN,
            -(1 << 30),
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for shift in -31..=30 {
            for &m in &ms {
                let Some(r) = Requantizer::new(m, shift) else {
                    assert_eq!(m, i32::MIN);
                    continue;
                };
                let check = |v: i32| {
                    assert_eq!(r.apply(v), requantize(v, m, shift), "{v} {m} {shift}");
                    if shift <= 0 {
                        assert_eq!(
                            r.smaller_than_one(v),
                            requantize_smaller_than_one(v, m, shift)
                        );
                    }
                };
                for &v in &xs {
                    check(v);
                }
                for _ in 0..200 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    check((x as i32) >> (x >> 59));
                }
            }
        }
    }

    #[test]
    fn srdhm_is_gemmlowps() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -(1 << 30) + 1,
            -3,
            -2,
            -1,
            0,
            1,
            2,
            3,
            (1 << 30) - 1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX - 1,
            i32::MAX,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(a, b),
                    srdhm_gemmlowp(a, b),
                    "{a} * {b}"
                );
            }
        }
        // Ties: a * 2^k products land exactly on half of 2^31 and beside it.
        for q in -70i32..70 {
            for d in -2i32..=2 {
                let a = q.wrapping_mul(1 << 24).wrapping_add(d);
                for b in [1 << 6, (1 << 6) + 1, -(1 << 6), 3 << 5] {
                    assert_eq!(
                        saturating_rounding_doubling_high_mul(a, b),
                        srdhm_gemmlowp(a, b),
                        "{a} * {b}"
                    );
                }
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = (x as i32 >> (x >> 59), (x >> 32) as i32);
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                srdhm_gemmlowp(a, b),
                "{a} * {b}"
            );
        }
    }

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 -> 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 -> 2
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 0), i32::MAX);
    }

    #[test]
    fn doubling_high_mul_matches_wide_arithmetic() {
        // 0.5 in Q31 times 1000 is 500.
        assert_eq!(saturating_rounding_doubling_high_mul(1000, 1 << 30), 500);
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // -0.5 * 3 = -1.5: gemmlowp's nudge rounds this half toward +inf, to -1
        assert_eq!(saturating_rounding_doubling_high_mul(3, -(1 << 30)), -1);
    }

    #[test]
    fn requantize_scales_by_multiplier_and_shift() {
        // multiplier 0.75 (Q31), shift -2: x * 0.75 / 4
        let m = (0.75 * (1u64 << 31) as f64) as i32;
        assert_eq!(requantize(1000, m, -2), 188); // 187.5 -> 188
        assert_eq!(requantize(-1000, m, -2), -188);
        // shift +1: x * 2 * 0.75
        assert_eq!(requantize(10, m, 1), 15);
    }
}
