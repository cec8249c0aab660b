//! The decoder: int8 thresholding, peak picking and bounded greedy NMS.

use heapless::Vec;

use crate::layout::BOX_CHANNELS;
use crate::nms::{self, Detection};
use crate::quant::{self, clamp, exp, sigmoid};
use crate::{DecodeConfig, DetectError, HeadLayout};

/// Box log-sizes are clamped to `[-60, 60]` before `exp`: `e^60 * 65535` is
/// still finite in f32 and already far wider than any input, so clipping
/// gives the same box as the unclamped value would, and `e^-60` is a box
/// narrower than f32 can resolve next to its centre. (Tighter than
/// `quant::EXP_LIMIT`, which only keeps micromath in range.)
const MAX_LOG_SIZE: f32 = 60.0;

/// Counts from one [`Decoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeReport {
    /// Candidates before NMS: (cell, class) pairs whose heat code passes the
    /// threshold and that are peaks of their window.
    pub candidates: usize,
    /// Detections written to `out`.
    pub kept: usize,
    /// Candidates that no kept detection suppressed but that did not fit in
    /// `out`. 0 exactly when `out` holds the complete result. When non-zero
    /// it is an upper bound on the detections a larger `N` would have added
    /// (and at least 1): boxes that did not fit are not stored, so one that a
    /// better dropped box would have suppressed is counted too.
    pub truncated: usize,
}

/// A validated [`HeadLayout`] and [`DecodeConfig`] with the int8 score
/// threshold precomputed. Cheap to copy; build it once and call
/// [`decode`](Self::decode) per inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoder {
    layout: HeadLayout,
    config: DecodeConfig,
    /// `grid_h * grid_w * (classes + 4)`.
    len: usize,
    /// `classes + 4`.
    channels: usize,
    /// Smallest passing heat code; 128 when no code passes.
    heat_min: i16,
}

impl Decoder {
    /// Validates `layout` and `config` (see [`HeadLayout::validate`] and
    /// [`DecodeConfig::validate`]) and precomputes the int8 score threshold.
    pub fn new(layout: HeadLayout, config: DecodeConfig) -> Result<Self, DetectError> {
        let len = layout.validate()?;
        config.validate()?;
        let channels = usize::from(layout.classes) + usize::from(BOX_CHANNELS);
        let heat_min = quant::heat_threshold(&layout.heat, config.score_threshold);
        Ok(Self {
            layout,
            config,
            len,
            channels,
            heat_min,
        })
    }

    /// The layout this decoder was built for.
    pub fn layout(&self) -> &HeadLayout {
        &self.layout
    }

    /// The decoding options.
    pub fn config(&self) -> &DecodeConfig {
        &self.config
    }

    /// Elements the output tensor must have: `grid_h * grid_w * (classes + 4)`.
    pub fn output_len(&self) -> usize {
        self.len
    }

    /// The smallest raw heat code that passes `score_threshold` (every code
    /// from it up to 127 does), or `None` when no int8 code reaches the
    /// threshold with this quantization.
    pub fn heat_threshold(&self) -> Option<i8> {
        i8::try_from(self.heat_min).ok()
    }

    /// Decodes one output tensor into `out`, best first.
    ///
    /// `out` is cleared first. Candidates are the (cell, class) pairs whose
    /// raw heat code passes the threshold and that are peaks of their
    /// `peak_window`; they are visited in ranking order (heat code
    /// descending, then class ascending, then cell index `row * grid_w + col`
    /// ascending) and each is kept unless a kept box suppresses it (greedy
    /// NMS), so `out` ends up sorted by descending score. Once `out` is full
    /// the rest is only counted in [`DecodeReport::truncated`]; the kept
    /// detections are exactly the first `N` of the full greedy-NMS result.
    ///
    /// Errors: [`DetectError::OutputLength`] if `output.len()` is not
    /// [`output_len`](Self::output_len); [`DetectError::NonFinite`] (not
    /// reachable with validated parameters) if a box decodes to a non-finite
    /// value. `out` is left empty on error.
    ///
    /// Cost: one pass over the heat channels to find the candidates, then
    /// one pass per distinct candidate heat code (at most 256, usually a
    /// handful), plus `O(candidates * N)` IoU tests. No memory beyond `out`
    /// and a few words of stack.
    pub fn decode<const N: usize>(
        &self,
        output: &[i8],
        out: &mut Vec<Detection, N>,
    ) -> Result<DecodeReport, DetectError> {
        out.clear();
        if output.len() != self.len {
            return Err(DetectError::OutputLength {
                expected: self.len,
                found: output.len(),
            });
        }
        let Some(min) = self.heat_threshold() else {
            return Ok(DecodeReport::default());
        };

        // Pass 1: count the candidates and note which heat codes occur.
        let mut present = CodeSet::default();
        let mut candidates = 0_usize;
        for row in 0..self.layout.grid_h {
            for col in 0..self.layout.grid_w {
                for class in 0..self.layout.classes {
                    let code = self.heat(output, row, col, class);
                    if code >= min && self.is_peak(output, row, col, class, code) {
                        candidates += 1;
                        present.insert(code);
                    }
                }
            }
        }

        // Pass 2: visit the candidates in ranking order, one heat code at a
        // time, and run greedy NMS against what `out` already holds.
        let mut report = DecodeReport {
            candidates,
            kept: 0,
            truncated: 0,
        };
        for code in (min..=i8::MAX).rev() {
            if !present.contains(code) {
                continue;
            }
            for class in 0..self.layout.classes {
                for row in 0..self.layout.grid_h {
                    for col in 0..self.layout.grid_w {
                        if self.heat(output, row, col, class) != code
                            || !self.is_peak(output, row, col, class, code)
                        {
                            continue;
                        }
                        let det = match self.detection(output, row, col, class, code) {
                            Ok(det) => det,
                            Err(e) => {
                                out.clear();
                                return Err(e);
                            }
                        };
                        if nms::survives(
                            out,
                            &det,
                            self.config.iou_threshold,
                            self.config.class_agnostic_nms,
                        ) && out.push(det).is_err()
                        {
                            report.truncated += 1;
                        }
                    }
                }
            }
        }
        report.kept = out.len();
        Ok(report)
    }

    /// Index of channel `channel` of cell (`row`, `col`). Only called with
    /// `row < grid_h`, `col < grid_w`, `channel < classes + 4`, so the result
    /// is below `len`, which `validate` proved fits `usize`.
    #[inline]
    fn index(&self, row: u16, col: u16, channel: usize) -> usize {
        let cell = usize::from(row) * usize::from(self.layout.grid_w) + usize::from(col);
        cell * self.channels + channel
    }

    /// The raw heat code of `class` at (`row`, `col`). `output.len()` was
    /// checked, so `get` always succeeds; the fallback (below any
    /// threshold) only keeps the function panic-free.
    #[inline]
    fn heat(&self, output: &[i8], row: u16, col: u16, class: u16) -> i8 {
        output
            .get(self.index(row, col, usize::from(class)))
            .copied()
            .unwrap_or(i8::MIN)
    }

    /// Whether (`row`, `col`) is the maximum of its `peak_window` in the
    /// heatmap of `class`, under the ranking order: a neighbour with a
    /// higher code, or the same code at a lower cell index, wins. So a
    /// plateau of equal codes yields one peak where max-pool equality would
    /// keep all of its cells.
    fn is_peak(&self, output: &[i8], row: u16, col: u16, class: u16, code: i8) -> bool {
        let radius = u16::from(self.config.peak_window / 2);
        if radius == 0 {
            return true;
        }
        let r0 = row.saturating_sub(radius);
        let r1 = row.saturating_add(radius).min(self.layout.grid_h - 1);
        let c0 = col.saturating_sub(radius);
        let c1 = col.saturating_add(radius).min(self.layout.grid_w - 1);
        for r in r0..=r1 {
            for c in c0..=c1 {
                let n = self.heat(output, r, c, class);
                if n > code || (n == code && (r, c) < (row, col)) {
                    return false;
                }
            }
        }
        true
    }

    /// Decodes the box of a candidate.
    fn detection(
        &self,
        output: &[i8],
        row: u16,
        col: u16,
        class: u16,
        code: i8,
    ) -> Result<Detection, DetectError> {
        let non_finite = DetectError::NonFinite { row, col, class };
        let start = self.index(row, col, usize::from(self.layout.classes));
        let Some(&[dx, dy, lw, lh]) = output.get(start..start + usize::from(BOX_CHANNELS)) else {
            // Unreachable: `output.len()` was checked against the layout.
            return Err(DetectError::OutputLength {
                expected: self.len,
                found: output.len(),
            });
        };
        let reg = &self.layout.regression;
        let stride = f32::from(self.layout.stride);
        let cx = (f32::from(col) + sigmoid(reg.dequantize(dx))) * stride;
        let cy = (f32::from(row) + sigmoid(reg.dequantize(dy))) * stride;
        let half_w = 0.5 * exp(clamp_log_size(reg.dequantize(lw))) * stride;
        let half_h = 0.5 * exp(clamp_log_size(reg.dequantize(lh))) * stride;
        let (iw, ih) = (
            f32::from(self.layout.input_w),
            f32::from(self.layout.input_h),
        );
        let det = Detection {
            class,
            score: sigmoid(self.layout.heat.dequantize(code)),
            x0: clamp(cx - half_w, 0.0, iw),
            y0: clamp(cy - half_h, 0.0, ih),
            x1: clamp(cx + half_w, 0.0, iw),
            y1: clamp(cy + half_h, 0.0, ih),
            row,
            col,
            logit: code,
        };
        let finite = [
            det.score, det.x0, det.y0, det.x1, det.y1, cx, cy, half_w, half_h,
        ]
        .iter()
        .all(|v| v.is_finite());
        if finite {
            Ok(det)
        } else {
            Err(non_finite)
        }
    }
}

/// See [`MAX_LOG_SIZE`]; also maps infinities to finite values.
fn clamp_log_size(v: f32) -> f32 {
    clamp(v, -MAX_LOG_SIZE, MAX_LOG_SIZE)
}

/// A set of int8 codes: 256 bits.
#[derive(Default)]
struct CodeSet([u32; 8]);

impl CodeSet {
    fn slot(code: i8) -> (usize, u32) {
        // `code as u8` maps -128..=127 onto 0..=255 one to one.
        let bit = usize::from(code as u8);
        (bit / 32, 1 << (bit % 32))
    }

    fn insert(&mut self, code: i8) {
        let (word, mask) = Self::slot(code);
        if let Some(w) = self.0.get_mut(word) {
            *w |= mask;
        }
    }

    fn contains(&self, code: i8) -> bool {
        let (word, mask) = Self::slot(code);
        self.0.get(word).is_some_and(|w| w & mask != 0)
    }
}
