//! The one error type of the crate.

use core::fmt;

/// Why a layout, a configuration or an output tensor was rejected.
///
/// Every variant names the offending field (as it is spelled in
/// [`HeadLayout`](crate::HeadLayout) or [`DecodeConfig`](crate::DecodeConfig),
/// with `heat.` / `regression.` in front of the [`Quant`](crate::Quant)
/// fields) and the value that was found.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum DetectError {
    /// A dimension of the layout that must be at least 1 is zero.
    ZeroDimension {
        /// The field: `grid_h`, `grid_w`, `classes`, `stride`, `input_h` or `input_w`.
        field: &'static str,
    },
    /// `grid_h * grid_w * (classes + 4)` elements cannot be addressed on
    /// this target (more than `isize::MAX`).
    TensorTooLarge {
        /// `grid_h` of the layout.
        grid_h: u16,
        /// `grid_w` of the layout.
        grid_w: u16,
        /// Channels per cell, `classes + 4`.
        channels: u32,
    },
    /// A quantization scale is not finite or not greater than zero.
    InvalidScale {
        /// `heat.scale` or `regression.scale`.
        field: &'static str,
        /// The scale found.
        scale: f32,
    },
    /// A quantization zero point is outside `-128..=127`.
    InvalidZeroPoint {
        /// `heat.zero_point` or `regression.zero_point`.
        field: &'static str,
        /// The zero point found.
        zero_point: i32,
    },
    /// A threshold is not a finite number strictly between 0 and 1.
    InvalidThreshold {
        /// `score_threshold` or `iou_threshold`.
        field: &'static str,
        /// The threshold found.
        value: f32,
    },
    /// `peak_window` is not an odd number (1 = every cell, 3 = 3x3, ...).
    InvalidPeakWindow {
        /// The window found.
        peak_window: u8,
    },
    /// The output tensor does not have `grid_h * grid_w * (classes + 4)`
    /// elements.
    OutputLength {
        /// Elements the layout needs.
        expected: usize,
        /// Elements passed in.
        found: usize,
    },
    /// A decoded score or box coordinate is not finite. Validated layouts
    /// cannot produce one; this is a defensive check so that a NaN box is
    /// never returned.
    NonFinite {
        /// Grid row of the cell.
        row: u16,
        /// Grid column of the cell.
        col: u16,
        /// Class of the candidate.
        class: u16,
    },
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroDimension { field } => write!(f, "{field} is 0; it must be at least 1"),
            Self::TensorTooLarge {
                grid_h,
                grid_w,
                channels,
            } => write!(
                f,
                "a {grid_h}x{grid_w}x{channels} output tensor is too large to address on this target"
            ),
            Self::InvalidScale { field, scale } => {
                write!(f, "{field} is {scale}; it must be finite and greater than 0")
            }
            Self::InvalidZeroPoint { field, zero_point } => {
                write!(f, "{field} is {zero_point}; it must be in -128..=127")
            }
            Self::InvalidThreshold { field, value } => {
                write!(f, "{field} is {value}; it must be finite and strictly between 0 and 1")
            }
            Self::InvalidPeakWindow { peak_window } => {
                write!(f, "peak_window is {peak_window}; it must be odd (1, 3, 5, ...)")
            }
            Self::OutputLength { expected, found } => write!(
                f,
                "the output tensor has {found} elements; the layout needs {expected}"
            ),
            Self::NonFinite { row, col, class } => write!(
                f,
                "the candidate of class {class} at cell (row {row}, col {col}) decoded to a non-finite value"
            ),
        }
    }
}

impl core::error::Error for DetectError {}
