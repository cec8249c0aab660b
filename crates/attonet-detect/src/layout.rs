//! The tensor contract ([`HeadLayout`]), the decoding options
//! ([`DecodeConfig`]) and their validation.

use crate::{DetectError, Quant};

/// Regression channels per cell: `dx, dy, w, h`.
pub const BOX_CHANNELS: u16 = 4;

/// Shape and quantization of the head's int8 output tensor.
///
/// The tensor is NHWC with N = 1: `grid_h x grid_w x (classes + 4)`, row
/// major, channels innermost. Per cell, channels `0..classes` are the class
/// heatmap logits (quantized with [`heat`](Self::heat)), then `dx, dy, w, h`
/// (quantized with [`regression`](Self::regression)). See the crate docs for
/// the formulas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadLayout {
    /// Grid rows.
    pub grid_h: u16,
    /// Grid columns.
    pub grid_w: u16,
    /// Number of classes (heatmap channels); at least 1.
    pub classes: u16,
    /// Input pixels per grid cell (e.g. 8 for a 96x96 input and a 12x12 grid).
    pub stride: u16,
    /// Input height in pixels; boxes are clipped to `0..=input_h`.
    pub input_h: u16,
    /// Input width in pixels; boxes are clipped to `0..=input_w`.
    pub input_w: u16,
    /// Quantization of the `classes` heatmap channels.
    pub heat: Quant,
    /// Quantization of the 4 box channels.
    pub regression: Quant,
}

impl HeadLayout {
    /// Checks the layout and returns the number of elements the output
    /// tensor must have, `grid_h * grid_w * (classes + 4)`.
    ///
    /// Rejects zero dimensions, scales that are not finite and positive,
    /// zero points outside `-128..=127`, and tensors too large to address on
    /// this target (the product is computed with checked arithmetic).
    pub fn validate(&self) -> Result<usize, DetectError> {
        let dims = [
            ("grid_h", self.grid_h),
            ("grid_w", self.grid_w),
            ("classes", self.classes),
            ("stride", self.stride),
            ("input_h", self.input_h),
            ("input_w", self.input_w),
        ];
        for (field, value) in dims {
            if value == 0 {
                return Err(DetectError::ZeroDimension { field });
            }
        }
        self.heat.validate("heat.scale", "heat.zero_point")?;
        self.regression
            .validate("regression.scale", "regression.zero_point")?;
        let channels = self.channels();
        // A slice can hold at most isize::MAX elements.
        let limit = u64::try_from(isize::MAX).unwrap_or(u64::MAX);
        tensor_len(self.grid_h, self.grid_w, channels, limit).ok_or(DetectError::TensorTooLarge {
            grid_h: self.grid_h,
            grid_w: self.grid_w,
            channels,
        })
    }

    /// Channels per cell, `classes + 4`.
    pub fn channels(&self) -> u32 {
        u32::from(self.classes) + u32::from(BOX_CHANNELS)
    }
}

/// `grid_h * grid_w * channels` if it is at most `limit` and fits `usize`.
fn tensor_len(grid_h: u16, grid_w: u16, channels: u32, limit: u64) -> Option<usize> {
    let len = u64::from(grid_h)
        .checked_mul(u64::from(grid_w))?
        .checked_mul(u64::from(channels))?;
    if len > limit {
        return None;
    }
    usize::try_from(len).ok()
}

/// How candidates are picked and suppressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeConfig {
    /// Minimum score (`sigmoid` of the heat logit) of a detection; finite,
    /// strictly between 0 and 1. Applied to raw int8 codes, see the crate
    /// docs.
    pub score_threshold: f32,
    /// Greedy NMS drops a box whose IoU with a better kept box is greater
    /// than this; finite, strictly between 0 and 1.
    pub iou_threshold: f32,
    /// Odd side of the peak window: 1 = every cell above the threshold is a
    /// candidate, 3 = only 3x3 local maxima of the class heatmap (CenterNet's
    /// max-pool NMS), 5, 7, ... larger windows.
    pub peak_window: u8,
    /// `true`: a box suppresses overlapping boxes of any class; `false`:
    /// only boxes of its own class.
    pub class_agnostic_nms: bool,
}

impl Default for DecodeConfig {
    /// Score 0.5, IoU 0.5, 3x3 peaks, per-class NMS.
    fn default() -> Self {
        Self {
            score_threshold: 0.5,
            iou_threshold: 0.5,
            peak_window: 3,
            class_agnostic_nms: false,
        }
    }
}

impl DecodeConfig {
    /// Checks both thresholds (finite, strictly inside `(0, 1)`) and that
    /// `peak_window` is odd.
    pub fn validate(&self) -> Result<(), DetectError> {
        for (field, value) in [
            ("score_threshold", self.score_threshold),
            ("iou_threshold", self.iou_threshold),
        ] {
            // Comparisons with NaN are false, so NaN is rejected too.
            if !(value > 0.0 && value < 1.0) {
                return Err(DetectError::InvalidThreshold { field, value });
            }
        }
        if self.peak_window % 2 == 0 {
            return Err(DetectError::InvalidPeakWindow {
                peak_window: self.peak_window,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::tensor_len;

    #[test]
    fn tensor_len_is_checked_against_the_target_limit() {
        // A 32-bit MCU: isize::MAX = 2^31 - 1.
        let mcu = i32::MAX as u64;
        assert_eq!(tensor_len(12, 12, 7, mcu), Some(1008));
        assert_eq!(tensor_len(65535, 65535, 65539, mcu), None);
        assert_eq!(tensor_len(256, 256, 32768, mcu), None); // exactly 2^31
        assert_eq!(tensor_len(256, 256, 32767, mcu), Some(256 * 256 * 32767));
        // The full u16 range never overflows u64.
        assert_eq!(
            tensor_len(65535, 65535, 65539, u64::MAX),
            usize::try_from(65535_u64 * 65535 * 65539).ok()
        );
    }
}
