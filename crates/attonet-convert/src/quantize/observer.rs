//! Range observers: what range of real values each activation's int8
//! quantization covers, chosen from the values it takes on the calibration
//! samples.
//!
//! * `MinMax`: the smallest and largest value seen (what TensorFlow Lite's
//!   converter does);
//! * `Percentile(p)`: the `1-p` and `p` quantiles (a histogram of 2048 bins
//!   over the min/max range), so rare outliers do not stretch the scale;
//! * `Mse`: the clipping range that minimises the expected squared error of
//!   quantizing the observed distribution (clipping error outside the range
//!   plus `scale^2 / 12` rounding error inside), searched over a grid.

use super::Method;

/// Bins of the histograms.
pub const BINS: usize = 2048;

/// Running statistics of one tensor.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Smallest value seen.
    pub min: f32,
    /// Largest value seen.
    pub max: f32,
    /// Histogram over `[lo, hi]` (second pass; empty in the first).
    pub hist: Vec<u64>,
    /// The histogram's range.
    pub lo: f32,
    /// The histogram's range.
    pub hi: f32,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            hist: Vec::new(),
            lo: 0.0,
            hi: 0.0,
        }
    }
}

impl Stats {
    /// Folds a sample's values into min/max.
    pub fn observe_min_max(&mut self, v: &[f32]) {
        for &x in v {
            if x.is_finite() {
                self.min = self.min.min(x);
                self.max = self.max.max(x);
            }
        }
    }

    /// Starts the histogram over the min/max range, widened to contain 0.
    pub fn start_histogram(&mut self) {
        self.lo = self.min.min(0.0);
        self.hi = self.max.max(0.0);
        if !(self.lo.is_finite() && self.hi.is_finite()) {
            self.lo = 0.0;
            self.hi = 0.0;
        }
        self.hist = vec![0; BINS];
    }

    /// Folds a sample's values into the histogram.
    pub fn observe_histogram(&mut self, v: &[f32]) {
        let width = self.hi - self.lo;
        if self.hist.is_empty() || width.is_nan() || width <= 0.0 {
            return;
        }
        let k = BINS as f32 / width;
        for &x in v {
            if x.is_finite() {
                let b = ((x - self.lo) * k) as isize;
                self.hist[b.clamp(0, BINS as isize - 1) as usize] += 1;
            }
        }
    }

    /// Merges another worker's statistics of the same tensor.
    pub fn merge(&mut self, o: &Stats) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        if self.hist.len() == o.hist.len() {
            for (a, b) in self.hist.iter_mut().zip(&o.hist) {
                *a += b;
            }
        }
    }

    /// The range the method chooses (always containing 0).
    pub fn range(&self, method: Method) -> (f32, f32) {
        let (mn, mx) = if self.min <= self.max {
            (self.min.min(0.0), self.max.max(0.0))
        } else {
            (0.0, 0.0)
        };
        let total: u64 = self.hist.iter().sum();
        if self.hist.is_empty()
            || total == 0
            || self.hi.is_nan()
            || self.lo.is_nan()
            || self.hi <= self.lo
        {
            return (mn, mx);
        }
        match method {
            Method::MinMax => (mn, mx),
            Method::Percentile(p) => self.percentile(p, total),
            Method::Mse => self.mse(),
        }
    }

    fn centre(&self, i: usize) -> f64 {
        self.lo as f64 + (i as f64 + 0.5) * (self.hi - self.lo) as f64 / BINS as f64
    }

    fn edge(&self, i: usize) -> f32 {
        self.lo + i as f32 * (self.hi - self.lo) / BINS as f32
    }

    fn percentile(&self, p: f64, total: u64) -> (f32, f32) {
        let p = p.clamp(0.5, 1.0);
        let cut = ((1.0 - p) * total as f64).floor() as u64;
        // Upper: drop at most `cut` values from the top.
        let mut hi_bin = BINS;
        let mut dropped = 0;
        while hi_bin > 0 && dropped + self.hist[hi_bin - 1] <= cut {
            dropped += self.hist[hi_bin - 1];
            hi_bin -= 1;
        }
        let mut lo_bin = 0;
        let mut dropped = 0;
        while lo_bin < BINS && dropped + self.hist[lo_bin] <= cut {
            dropped += self.hist[lo_bin];
            lo_bin += 1;
        }
        let hi = if hi_bin == BINS {
            self.hi
        } else {
            self.edge(hi_bin)
        };
        let lo = if lo_bin == 0 {
            self.lo
        } else {
            self.edge(lo_bin)
        };
        (lo.min(0.0).max(self.lo), hi.max(0.0).min(self.hi))
    }

    fn mse(&self) -> (f32, f32) {
        // Prefix sums of count, count*x, count*x^2 over bin centres.
        let mut c0 = vec![0f64; BINS + 1];
        let mut c1 = vec![0f64; BINS + 1];
        let mut c2 = vec![0f64; BINS + 1];
        for i in 0..BINS {
            let (n, x) = (self.hist[i] as f64, self.centre(i));
            c0[i + 1] = c0[i] + n;
            c1[i + 1] = c1[i] + n * x;
            c2[i + 1] = c2[i] + n * x * x;
        }
        let width = (self.hi - self.lo) as f64;
        let bin_of = |v: f64| -> usize {
            (((v - self.lo as f64) / width * BINS as f64)
                .round()
                .max(0.0) as usize)
                .min(BINS)
        };
        let error = |lo: f64, hi: f64| -> f64 {
            let (bl, bh) = (bin_of(lo), bin_of(hi));
            // Below lo: sum n (x - lo)^2; above hi: sum n (x - hi)^2.
            let below = c2[bl] - 2.0 * lo * c1[bl] + lo * lo * c0[bl];
            let (a0, a1, a2) = (c0[BINS] - c0[bh], c1[BINS] - c1[bh], c2[BINS] - c2[bh]);
            let above = a2 - 2.0 * hi * a1 + hi * hi * a0;
            let inside = c0[bh] - c0[bl];
            let s = (hi - lo) / 255.0;
            below + above + inside * s * s / 12.0
        };
        const STEPS: usize = 100;
        let (lo0, hi0) = (self.lo as f64, self.hi as f64);
        let mut best = (error(lo0, hi0), lo0, hi0);
        let lo_steps = if lo0 < 0.0 { STEPS } else { 1 };
        let hi_steps = if hi0 > 0.0 { STEPS } else { 1 };
        for i in 0..lo_steps {
            let lo = lo0 * (1.0 - i as f64 / STEPS as f64 * 0.95);
            for j in 0..hi_steps {
                let hi = hi0 * (1.0 - j as f64 / STEPS as f64 * 0.95);
                let e = error(lo, hi);
                if e < best.0 {
                    best = (e, lo, hi);
                }
            }
        }
        (best.1 as f32, best.2 as f32)
    }
}
