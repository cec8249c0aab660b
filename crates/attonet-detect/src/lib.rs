//! Heap-free post-processing for int8 anchor-free object detectors
//! (CenterNet / FOMO style) on microcontrollers: turns the head's int8
//! output tensor into scored, class-labelled boxes.
//!
//! # The tensor contract
//!
//! The head produces one int8 tensor, NHWC with N = 1, described by a
//! [`HeadLayout`]: `grid_h x grid_w x (classes + 4)`, row major, channels
//! innermost. Each grid cell covers `stride x stride` input pixels. Per
//! cell (`row`, `col`):
//!
//! | channels | meaning | quantization |
//! |---|---|---|
//! | `0..classes` | heat logit `l_c`: an object of class `c` is centred in this cell with score `sigmoid(l_c)` | [`HeadLayout::heat`] |
//! | `classes + 0`, `classes + 1` | `dx`, `dy`: centre offset inside the cell, in cells, after sigmoid | [`HeadLayout::regression`] |
//! | `classes + 2`, `classes + 3` | `w`, `h`: box size as a log relative to the stride | [`HeadLayout::regression`] |
//!
//! with `real = (q - zero_point) * scale` for each group, and
//!
//! ```text
//! score    = sigmoid(l_c)
//! centre_x = (col + sigmoid(dx)) * stride      centre_y = (row + sigmoid(dy)) * stride
//! width    = exp(w) * stride                   height   = exp(h) * stride
//! box      = centre -/+ size / 2, clipped to 0..=input_w and 0..=input_h
//! ```
//!
//! The two quantization groups let a converter use one scale per tensor (set
//! both to the same [`Quant`]) or a separate scale for the heatmap and the
//! box channels.
//!
//! # Pipeline
//!
//! 1. **Threshold in the int8 domain.** Sigmoid and dequantization are
//!    monotonic, so `score >= score_threshold` is the same as
//!    `code >= q_min` for one int8 code `q_min`. [`Decoder::new`] finds it
//!    once by evaluating the decoder's own sigmoid on the codes
//!    ([`Decoder::heat_threshold`]); decoding then compares raw bytes and
//!    dequantizes (with micromath's f32 `exp`) only the cells that pass. On
//!    an MCU this turns `H * W * classes` sigmoids into byte comparisons.
//! 2. **Peaks.** With `peak_window = k` (odd), a passing cell is a candidate
//!    only if it is the maximum of its `k x k` neighbourhood in the same
//!    class heatmap (CenterNet's max-pool NMS; `k = 1` keeps every passing
//!    cell). Ties are broken like the ranking below (lower cell index wins),
//!    so a plateau of equal codes gives one candidate.
//! 3. **Greedy NMS.** Candidates are ranked by heat code (that is, score)
//!    descending, then class ascending, then cell index `row * grid_w + col`
//!    ascending. In that order each is kept unless a kept box of the same
//!    class (any class with `class_agnostic_nms`) overlaps it with
//!    [`iou`] `> iou_threshold`. The result is sorted by descending score.
//!
//! # Capacity and truncation
//!
//! There is no heap: detections go into a caller-provided
//! `heapless::Vec<Detection, N>`, which is also the only NMS state. The
//! decoder visits candidates directly in ranking order (one scan of the
//! tensor per distinct candidate heat code), so a box only ever has to be
//! checked against better boxes that are already kept. Consequently:
//!
//! - when at most `N` detections survive, `out` is exactly the greedy-NMS
//!   result;
//! - when more survive, `out` holds exactly the best `N` of that result
//!   (what a larger `N` would return, cut to `N`), and
//!   [`DecodeReport::truncated`] is non-zero. It counts the candidates that
//!   no kept box suppressed; as dropped boxes are not stored, it is an upper
//!   bound (at least 1) on the number of detections that were lost.
//!
//! Truncation is never an error and never a panic.
//!
//! # Example
//!
//! ```
//! use attonet_detect::{DecodeConfig, Decoder, Detection, HeadLayout, Quant};
//!
//! // A 96x96 input, a 2x2 grid of 48-pixel cells, one class.
//! let layout = HeadLayout {
//!     grid_h: 2, grid_w: 2, classes: 1, stride: 48, input_h: 96, input_w: 96,
//!     heat: Quant { scale: 0.1, zero_point: 0 },
//!     regression: Quant { scale: 0.05, zero_point: 0 },
//! };
//! let decoder = Decoder::new(layout, DecodeConfig::default())?;
//!
//! // Per cell: heat, dx, dy, w, h. Only cell (row 1, col 0) has an object:
//! // heat 3.0 (score 0.95), centred in its cell (dx = dy = 0 after sigmoid
//! // is 0.5), 48 pixels wide (w = 0) and 48 * e^0.5 = 79 pixels tall.
//! let output: [i8; 20] = [
//!     -50, 0, 0, 0, 0, //  (0, 0)
//!     -50, 0, 0, 0, 0, //  (0, 1)
//!      30, 0, 0, 0, 10, // (1, 0)
//!     -50, 0, 0, 0, 0, //  (1, 1)
//! ];
//! let mut out = heapless::Vec::<Detection, 8>::new();
//! let report = decoder.decode(&output, &mut out)?;
//! assert_eq!((report.candidates, report.kept, report.truncated), (1, 1, 0));
//! let d = &out[0];
//! assert_eq!((d.class, d.row, d.col), (0, 1, 0));
//! assert!((d.score - 0.9526).abs() < 1e-3);
//! assert!((d.x0 - 0.0).abs() < 0.1 && (d.x1 - 48.0).abs() < 0.1);
//! // Centre y = 72, half height 39.6: clipped at the bottom edge.
//! assert!((d.y0 - 32.4).abs() < 0.2 && d.y1 == 96.0);
//! # Ok::<(), attonet_detect::DetectError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod decode;
mod error;
mod layout;
mod nms;
mod quant;

pub use decode::{DecodeReport, Decoder};
pub use error::DetectError;
pub use layout::{DecodeConfig, HeadLayout, BOX_CHANNELS};
pub use nms::{iou, Detection};
pub use quant::Quant;

/// Re-exported so callers name the same `heapless` version as [`Decoder::decode`].
pub use heapless;
