//! What the 16x8 kernels (int16 activations, int8 weights: TFLite's 16x8
//! quantization mode) share: the int16 clamp, the 64-bit requantization and
//! the little-endian element access.
//!
//! An int16 tensor lies in the arena (an `[i8]`) as little-endian byte pairs
//! at a 2-byte aligned offset; a slot of `n` int16 elements spans `2 n` bytes
//! (its shape counts channels in bytes). The kernels read and write the
//! elements through [`load`] and [`store`], so they need no alignment and no
//! `unsafe`. Zero points of int16 tensors are 0 (TFLite's 16x8 rule), and the
//! kernels take no zero points except where TFLM's kernel applies one.

use crate::Error;

/// Output clamp of an int16 kernel: the fused activation's range in the
/// output's quantized domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Clamp16 {
    /// Smallest output value (`-32768` with no activation).
    pub min: i16,
    /// Largest output value (`32767` with no activation).
    pub max: i16,
}

impl Clamp16 {
    /// No activation: the whole `i16` range.
    pub const NONE: Clamp16 = Clamp16 {
        min: i16::MIN,
        max: i16::MAX,
    };

    /// Clamps `v` to the range and narrows it to `i16`.
    #[inline(always)]
    pub fn apply(self, v: i32) -> i16 {
        // TFLM's `min(max(v, act_min), act_max)`, without `clamp`'s panic path.
        v.max(self.min as i32).min(self.max as i32) as i16
    }

    /// [`crate::Error::Parameter`] unless `min <= max`.
    pub fn check(self) -> crate::Result {
        if self.min <= self.max {
            Ok(())
        } else {
            Err(Error::Parameter("int16 activation clamp has min > max"))
        }
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier(int64_t x, int32_t multiplier,
/// int shift)` (the 16x8 kernels' requantization): the multiplier rounded to
/// 16 bits (`(m + 2^15) >> 16`, or `0x7FFF` from `0x7FFF0000` on), then one
/// rounding (half up) right shift by `15 - shift`, and the result narrowed
/// to 32 bits as C's cast does.
///
/// `shift` must be in `-31..=7` ([`shift64_in_range`]) and `multiplier`
/// non-negative; the converter guarantees both, [`check_shift64`] checks them.
#[inline(always)]
pub fn requantize_s64(x: i64, multiplier: i32, shift: i32) -> i32 {
    let reduced: i64 = if multiplier < 0x7FFF_0000 {
        ((multiplier as i64) + (1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total_shift = (15 - shift) as u32;
    let round = 1i64 << (total_shift - 1);
    (x.wrapping_mul(reduced).wrapping_add(round) >> total_shift) as i32
}

/// Whether `shift` is one [`requantize_s64`] accepts (`-31..=7`).
#[inline]
pub const fn shift64_in_range(shift: i32) -> bool {
    shift >= -31 && shift <= 7
}

/// Checks every multiplier (non-negative) and shift (`-31..=7`) of the
/// 64-bit requantization once, before a kernel's loop.
pub fn check_shift64(multipliers: &[i32], shifts: &[i32]) -> crate::Result {
    if shifts.iter().all(|&s| shift64_in_range(s)) && multipliers.iter().all(|&m| m >= 0) {
        Ok(())
    } else {
        Err(Error::Parameter(
            "int16 requantization: shift outside -31..=7 or a negative multiplier",
        ))
    }
}

/// Products of an int8 weight and an int16 value an `i32` sums exactly:
/// each is at most `2^22` in magnitude, so 256 of them stay within `2^30`.
pub const EXACT_I32_PRODUCTS: usize = 256;

/// `Σ w[i] * x[i]` of int8 weights and the int16 values whose little-endian
/// bytes are `x` (two a value; `x` holds at least `2 * w.len()` bytes, else
/// the sum stops where it ends), exactly as TFLM's int64 accumulator sums
/// them: `i32` partial sums of [`EXACT_I32_PRODUCTS`] products (one
/// multiply-accumulate each) added into an `i64`.
#[inline]
pub fn dot_s16x8(w: &[i8], x: &[i8]) -> i64 {
    let part = |w: &[i8], x: &[i8]| {
        let mut part = 0i32;
        for (&wt, v) in w.iter().zip(x.chunks_exact(2)) {
            part += wt as i32 * i16::from_le_bytes([v[0] as u8, v[1] as u8]) as i32;
        }
        part as i64
    };
    // Most rows (a pixel's channels of one group) fit one part.
    if w.len() <= EXACT_I32_PRODUCTS {
        return part(w, x);
    }
    let mut acc = 0i64;
    for (wc, xc) in w
        .chunks(EXACT_I32_PRODUCTS)
        .zip(x.chunks(2 * EXACT_I32_PRODUCTS))
    {
        acc += part(wc, xc);
    }
    acc
}

/// Element `i` of the int16 tensor held in `bytes` (little-endian pairs);
/// the caller has checked `2 i + 1 < bytes.len()`.
#[inline(always)]
pub fn load(bytes: &[i8], i: usize) -> i16 {
    i16::from_le_bytes([bytes[2 * i] as u8, bytes[2 * i + 1] as u8])
}

/// Writes `v` as element `i` of the int16 tensor held in `bytes`.
#[inline(always)]
pub fn store(bytes: &mut [i8], i: usize, v: i16) {
    let [lo, hi] = v.to_le_bytes();
    bytes[2 * i] = lo as i8;
    bytes[2 * i + 1] = hi as i8;
}

/// Elements of the int16 tensor held in `bytes`, or
/// [`crate::Error::BufferLength`] for an odd byte count.
pub fn elements(what: &'static str, bytes: &[i8]) -> crate::Result<usize> {
    if bytes.len() % 2 == 0 {
        Ok(bytes.len() / 2)
    } else {
        Err(Error::BufferLength {
            what,
            expected: bytes.len() + 1,
            actual: bytes.len(),
        })
    }
}

/// Checks that `bytes` holds exactly `n` int16 elements.
pub fn check_elements(what: &'static str, bytes: &[i8], n: usize) -> crate::Result {
    crate::error::check_len(what, bytes, n.saturating_mul(2))
}

/// The 64-bit biases of a 16x8 layer: its `i32` bias table holds each
/// channel's `i64` as two words, low then high. `None` unless it holds
/// exactly `channels` of them.
pub fn bias64(words: &[i32], channels: usize) -> Option<impl Iterator<Item = i64> + '_> {
    if Some(words.len()) != channels.checked_mul(2) {
        return None;
    }
    Some(
        words
            .chunks_exact(2)
            .map(|w| (w[0] as u32 as i64) | ((w[1] as i64) << 32)),
    )
}

/// Bias `c` of a [`bias64`] table (checked length).
#[inline(always)]
pub(crate) fn bias_at(words: &[i32], c: usize) -> i64 {
    (words[2 * c] as u32 as i64) | ((words[2 * c + 1] as i64) << 32)
}

/// Checks a 16x8 layer's channel tables: `2 * out_c` bias words, and one
/// multiplier and shift per channel (or one in all, where `shared` allows).
pub(crate) fn check_tables(
    w: &super::ConvWeights<'_>,
    out_c: usize,
    shared: bool,
) -> crate::Result<bool> {
    if bias64(w.bias, out_c).is_none() {
        return Err(Error::BufferLength {
            what: "int64 bias words",
            expected: out_c.saturating_mul(2),
            actual: w.bias.len(),
        });
    }
    let per_channel = !(shared && w.multiplier.len() == 1 && out_c != 1);
    let n = if per_channel { out_c } else { 1 };
    crate::error::check_len("multiplier", w.multiplier, n)?;
    crate::error::check_len("shift", w.shift, n)?;
    check_shift64(w.multiplier, w.shift)?;
    Ok(per_channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked sum is the int64 sum: lengths around the chunk size,
    /// every product at its extreme (past what one i32 holds from 512 on)
    /// and pseudo-random values.
    #[test]
    fn dot_s16x8_is_the_exact_sum() {
        extern crate std;
        use std::vec::Vec;
        let mut state = 0x9E37_79B9u32;
        for n in [0usize, 1, 255, 256, 257, 511, 512, 513, 1500] {
            for extreme in [true, false] {
                let w: Vec<i8> = (0..n)
                    .map(|_| {
                        if extreme {
                            -128
                        } else {
                            (state.wrapping_mul(2_654_435_761) >> 24) as i8
                        }
                    })
                    .collect();
                let mut x = std::vec![0i8; 2 * n];
                for i in 0..n {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    store(&mut x, i, if extreme { i16::MIN } else { state as i16 });
                }
                let naive: i64 = (0..n).map(|i| w[i] as i64 * load(&x, i) as i64).sum();
                assert_eq!(dot_s16x8(&w, &x), naive, "n {n}");
            }
        }
    }

    #[test]
    fn requantize_s64_rounds_half_up_with_a_16_bit_multiplier() {
        // multiplier 0.5 (Q31) reduced to 0x4000 (Q15); shift 0: x / 2.
        assert_eq!(requantize_s64(3, 1 << 30, 0), 2); // 1.5 -> 2
        assert_eq!(requantize_s64(-3, 1 << 30, 0), -1); // -1.5 -> -1 (half up)
        assert_eq!(requantize_s64(-5, 1 << 30, 0), -2); // -2.5 -> -2
                                                        // A multiplier at or above 0x7FFF0000 saturates to 0x7FFF.
        assert_eq!(requantize_s64(1 << 20, i32::MAX, 0), 0x7FFF << 5);
        // Accumulators past 32 bits.
        assert_eq!(requantize_s64(1 << 40, 1 << 30, -20), 1 << 19);
    }

    #[test]
    fn clamp16_saturates_at_the_int16_range() {
        assert_eq!(Clamp16::NONE.apply(40_000), 32767);
        assert_eq!(Clamp16::NONE.apply(-40_000), -32768);
        let relu = Clamp16 { min: 0, max: 32767 };
        assert_eq!(relu.apply(-5), 0);
        assert!(Clamp16 { min: 1, max: 0 }.check().is_err());
    }

    #[test]
    fn elements_are_little_endian_pairs() {
        let mut b = [0i8; 4];
        store(&mut b, 1, -2);
        assert_eq!(b, [0, 0, -2, -1]);
        assert_eq!(load(&b, 1), -2);
        let words = [-1i32, 0, 5, -1];
        let mut v = bias64(&words, 2).unwrap();
        assert_eq!(v.next(), Some(0xFFFF_FFFF));
        assert_eq!(v.next(), Some((-1i64 << 32) | 5));
        assert!(bias64(&words, 3).is_none());
    }
}
