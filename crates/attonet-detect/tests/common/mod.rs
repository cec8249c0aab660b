//! Helpers shared by the integration tests: an encoder that writes known
//! objects into an output tensor with the inverse of the documented
//! formulas, f64 reference math, and a small deterministic RNG.

#![allow(dead_code)]

use attonet_detect::{HeadLayout, Quant};

/// xorshift64*: deterministic, no dependencies.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn code(&mut self, lo: i32, hi: i32) -> i8 {
        (lo + self.below((hi - lo + 1) as u64) as i32) as i8
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

pub fn dequantize(q: i8, quant: Quant) -> f64 {
    (q as i32 - quant.zero_point) as f64 * quant.scale as f64
}

/// Round to the nearest code, saturating at the int8 range.
pub fn quantize(x: f64, quant: Quant) -> i8 {
    let q = (x / quant.scale as f64).round() + quant.zero_point as f64;
    q.clamp(-128.0, 127.0) as i8
}

pub fn layout(
    grid: (u16, u16),
    classes: u16,
    stride: u16,
    input: (u16, u16),
    heat: Quant,
    regression: Quant,
) -> HeadLayout {
    HeadLayout {
        grid_h: grid.0,
        grid_w: grid.1,
        classes,
        stride,
        input_h: input.0,
        input_w: input.1,
        heat,
        regression,
    }
}

/// An object to encode, in input pixels.
#[derive(Debug, Clone, Copy)]
pub struct Obj {
    pub class: u16,
    pub score: f64,
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
}

impl Obj {
    /// The grid cell the centre falls in.
    pub fn cell(&self, stride: u16) -> (u16, u16) {
        let s = stride as f64;
        ((self.cy / s).floor() as u16, (self.cx / s).floor() as u16)
    }
}

/// A tensor where every heat channel holds the code of `background` score
/// and every box channel the regression zero point (a box centred in its
/// cell, one stride wide).
pub fn blank(layout: &HeadLayout, background: f64) -> Vec<i8> {
    let channels = layout.classes as usize + 4;
    let cells = layout.grid_h as usize * layout.grid_w as usize;
    let bg = quantize(logit(background), layout.heat);
    let zp = layout.regression.zero_point as i8;
    let mut t = vec![0_i8; cells * channels];
    for cell in t.chunks_mut(channels) {
        cell[..layout.classes as usize].fill(bg);
        cell[layout.classes as usize..].fill(zp);
    }
    t
}

/// Writes `obj` into its cell with the inverse formulas: heat = logit(score),
/// dx = logit(centre offset in the cell), w = ln(width / stride).
pub fn encode(layout: &HeadLayout, t: &mut [i8], obj: &Obj) {
    let s = layout.stride as f64;
    let (row, col) = obj.cell(layout.stride);
    let channels = layout.classes as usize + 4;
    let base = (row as usize * layout.grid_w as usize + col as usize) * channels;
    let c = layout.classes as usize;
    let fx = obj.cx / s - col as f64;
    let fy = obj.cy / s - row as f64;
    t[base + obj.class as usize] = quantize(logit(obj.score), layout.heat);
    t[base + c] = quantize(logit(fx), layout.regression);
    t[base + c + 1] = quantize(logit(fy), layout.regression);
    t[base + c + 2] = quantize((obj.w / s).ln(), layout.regression);
    t[base + c + 3] = quantize((obj.h / s).ln(), layout.regression);
}

/// The box the documented formulas give for a cell's codes, in f64,
/// clipped: `[x0, y0, x1, y1]`.
pub fn reference_box(layout: &HeadLayout, t: &[i8], row: u16, col: u16) -> [f64; 4] {
    let channels = layout.classes as usize + 4;
    let base =
        (row as usize * layout.grid_w as usize + col as usize) * channels + layout.classes as usize;
    let r = layout.regression;
    let s = layout.stride as f64;
    let cx = (col as f64 + sigmoid(dequantize(t[base], r))) * s;
    let cy = (row as f64 + sigmoid(dequantize(t[base + 1], r))) * s;
    let w = dequantize(t[base + 2], r).exp() * s;
    let h = dequantize(t[base + 3], r).exp() * s;
    let (iw, ih) = (layout.input_w as f64, layout.input_h as f64);
    [
        (cx - w / 2.0).clamp(0.0, iw),
        (cy - h / 2.0).clamp(0.0, ih),
        (cx + w / 2.0).clamp(0.0, iw),
        (cy + h / 2.0).clamp(0.0, ih),
    ]
}

pub fn iou64(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |x: &[f64; 4]| (x[2] - x[0]).max(0.0) * (x[3] - x[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// The micromath-based f32 math of the decoder differs from f64 by at most
/// about 0.25 % in `exp` and 6e-4 in `sigmoid`; box coordinates may differ
/// by this much from [`reference_box`].
pub fn box_tolerance(layout: &HeadLayout, reference: &[f64; 4]) -> f64 {
    let size = (reference[2] - reference[0]).max(reference[3] - reference[1]);
    0.002 * layout.stride as f64 + 0.003 * size + 1e-3
}
