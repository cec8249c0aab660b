//! Quantization parameters, the float helpers (sigmoid and exp through
//! micromath) and the int8-domain score threshold.

use crate::DetectError;

/// Affine int8 quantization of one group of channels:
/// `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    /// Real value of one quantization step; finite and greater than 0.
    pub scale: f32,
    /// The code that stands for real 0; in `-128..=127`.
    pub zero_point: i32,
}

impl Quant {
    /// Checks the scale and the zero point; `scale_field` and `zp_field`
    /// name them in the error.
    pub(crate) fn validate(
        &self,
        scale_field: &'static str,
        zp_field: &'static str,
    ) -> Result<(), DetectError> {
        // `!(x > 0.0)` is also true for NaN.
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(DetectError::InvalidScale {
                field: scale_field,
                scale: self.scale,
            });
        }
        if !(-128..=127).contains(&self.zero_point) {
            return Err(DetectError::InvalidZeroPoint {
                field: zp_field,
                zero_point: self.zero_point,
            });
        }
        Ok(())
    }

    /// The real value of code `q`. Saturating, so an unvalidated zero point
    /// cannot overflow; for validated parameters `q - zero_point` is in
    /// `-255..=255` and exact.
    #[inline]
    pub(crate) fn dequantize(&self, q: i8) -> f32 {
        // `as f32` is exact for |v| <= 2^24; for validated parameters
        // |v| <= 255.
        i32::from(q).saturating_sub(self.zero_point) as f32 * self.scale
    }
}

/// Largest `|x|` handed to micromath's `exp`. micromath builds the result's
/// exponent directly and is only valid while it stays in the normal range
/// (beyond about 88.0 it debug-asserts, and in release yields NaN bits).
pub(crate) const EXP_LIMIT: f32 = 87.0;

/// `x` limited to `[lo, hi]` (`lo <= hi`), with NaN mapped to `lo`.
/// Unlike `f32::clamp`, never returns NaN, and has no panicking path.
#[inline]
#[allow(clippy::manual_clamp)] // the NaN behaviour is the point
pub(crate) fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    x.max(lo).min(hi)
}

/// `e^x` through micromath (the same code on the host and on the MCU, so
/// host tests see the numbers the device computes), with `x` clamped to
/// `[-EXP_LIMIT, EXP_LIMIT]`. Relative error is at most about 0.25 %.
#[inline]
pub(crate) fn exp(x: f32) -> f32 {
    // NaN would also trip micromath; `clamp` maps it to a bound.
    micromath::F32(clamp(x, -EXP_LIMIT, EXP_LIMIT)).exp().0
}

/// `1 / (1 + e^-x)`, within 6e-4 of the exact value. As `exp` clamps its
/// argument, the result is exactly 1 for `x >= 17` or so and bottoms out at
/// `1 / (1 + e^87)`, about 1.6e-38, for `x <= -87`: it is non-decreasing and
/// always finite.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// The smallest heat code from which every code up to 127 scores at least
/// `threshold`, as an `i16` (128 when not even 127 does).
///
/// It is found by evaluating the decoder's own [`sigmoid`] on the codes
/// from 127 downwards, so comparing raw bytes against it accepts exactly the
/// codes whose reported score would be `>= threshold`: a detection can never
/// carry a score below the threshold. The sigmoid is monotonic, so this is
/// also the smallest code whose score reaches the threshold.
pub(crate) fn heat_threshold(heat: &Quant, threshold: f32) -> i16 {
    let mut min = 128_i16;
    for q in (i8::MIN..=i8::MAX).rev() {
        if sigmoid(heat.dequantize(q)) >= threshold {
            min = i16::from(q);
        } else {
            break;
        }
    }
    min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_monotonic_and_bounded() {
        // Dense sweep over the range that matters (|x| > 17 saturates).
        let mut prev = sigmoid(-40.0);
        let steps = 400_000;
        for i in 1..=steps {
            let x = -40.0 + 80.0 * (i as f32) / (steps as f32);
            let s = sigmoid(x);
            assert!((0.0..=1.0).contains(&s), "sigmoid({x}) = {s}");
            assert!(s >= prev, "sigmoid not monotonic at {x}: {s} < {prev}");
            prev = s;
        }
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert!(sigmoid(f32::NEG_INFINITY) > 0.0 && sigmoid(f32::NEG_INFINITY) < 1e-37);
        assert!(sigmoid(f32::NAN).is_finite());
    }

    #[test]
    fn exp_never_leaves_the_range_micromath_handles() {
        // Without the clamp these hit micromath's debug assertion (and give
        // NaN in release builds).
        for x in [
            88.0,
            88.5,
            88.72,
            89.0,
            1e10,
            f32::MAX,
            f32::INFINITY,
            -88.0,
            -1e10,
            f32::NEG_INFINITY,
            f32::NAN,
        ] {
            let e = exp(x);
            assert!(e.is_finite() && e > 0.0, "exp({x}) = {e}");
        }
        let mut x = -EXP_LIMIT;
        while x <= EXP_LIMIT {
            assert!(exp(x).is_finite());
            x += 0.001;
        }
    }

    #[test]
    fn sigmoid_and_exp_are_accurate() {
        for i in -200..=200 {
            let x = i as f32 * 0.1;
            let e = exp(x) as f64;
            let want = (x as f64).exp();
            assert!(
                ((e - want) / want).abs() < 2.5e-3,
                "exp({x}) = {e}, want {want}"
            );
            let s = sigmoid(x) as f64;
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((s - want).abs() < 1e-3, "sigmoid({x}) = {s}, want {want}");
        }
    }

    #[test]
    fn dequantize_saturates_instead_of_overflowing() {
        let q = Quant {
            scale: 1.0,
            zero_point: i32::MIN,
        };
        assert!(q.dequantize(0).is_finite());
    }
}
