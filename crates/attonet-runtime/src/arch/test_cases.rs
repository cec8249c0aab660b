//! Random kernel cases shared by the fast paths' host tests (each compares
//! its kernels with the portable ones on the same kinds of cases).

extern crate std;
use std::vec::Vec;

use crate::ops::{ConvQuant, Window};
use crate::quant::Clamp;

/// How many random cases a test draws: `n`, or under Miri (which interprets
/// every instruction, thousands of times slower) a hundredth of them, at
/// least 3: the same kinds of cases through the same `unsafe` reads, fewer
/// of them. Coverage counts are asserted outside Miri only.
///
/// A Miri build with `ATTONET_MIRI_QUICK` set in its environment draws a
/// ten-thousandth, at least 1: the quick pass `cargo xtask test` runs on
/// every fast path (`cargo xtask miri --quick`), each `unsafe` kernel
/// reached on a few cases; `cargo xtask miri` without it is the thorough run.
pub(crate) const fn cases(n: usize) -> usize {
    let (fraction, least) = if miri_quick() { (10_000, 1) } else { (100, 3) };
    if cfg!(miri) {
        let k = n / fraction;
        if k < least {
            least
        } else {
            k
        }
    } else {
        n
    }
}

/// Whether this is Miri's quick pass (`ATTONET_MIRI_QUICK` set when the
/// tests were built under Miri): exhaustive tests shrink their ranges.
pub(crate) const fn miri_quick() -> bool {
    cfg!(miri) && option_env!("ATTONET_MIRI_QUICK").is_some()
}

pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub(crate) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.next() as usize % xs.len()]
    }
    pub(crate) fn i8s(&mut self, n: usize) -> Vec<i8> {
        let extreme = self.next() % 4 == 0;
        (0..n)
            .map(|_| {
                if extreme {
                    self.pick(&[-128i8, 127, -128, 127, 0, -1])
                } else {
                    self.next() as i8
                }
            })
            .collect()
    }
}

pub(crate) struct Tables {
    pub(crate) bias: Vec<i32>,
    pub(crate) mult: Vec<i32>,
    pub(crate) shift: Vec<i32>,
}

/// Per-channel tables; with `extremes`, also biases at the `i32` limits.
pub(crate) fn tables(r: &mut Rng, n: usize, extremes: bool) -> Tables {
    Tables {
        bias: (0..n)
            .map(|_| {
                if extremes && r.next() % 16 == 0 {
                    r.pick(&[i32::MAX, i32::MIN, 0, -1])
                } else {
                    r.range(-70_000, 70_000) as i32
                }
            })
            .collect(),
        mult: (0..n)
            .map(|_| {
                if r.next() % 16 == 0 {
                    r.pick(&[i32::MAX, 1 << 30, i32::MIN, -(1 << 30), 1])
                } else {
                    r.range(1 << 30, i32::MAX as i64) as i32
                }
            })
            .collect(),
        shift: (0..n)
            .map(|_| {
                if r.next() % 16 == 0 {
                    r.pick(&[-31, 30, 1, 0, -1])
                } else {
                    r.range(-12, 1) as i32
                }
            })
            .collect(),
    }
}

/// Zero points and clamp; with `extremes`, also input zero points outside `i8`.
pub(crate) fn quant(r: &mut Rng, extremes: bool) -> ConvQuant {
    let (a, b) = (r.next() as i8, r.next() as i8);
    ConvQuant {
        input_zero_point: if r.next() % 8 == 0 {
            if extremes {
                r.pick(&[-128, 127, 0, 300, -1000])
            } else {
                r.pick(&[-128, 127, 0])
            }
        } else {
            r.range(-128, 127) as i32
        },
        output_zero_point: r.range(-128, 127) as i32,
        clamp: if r.next() % 2 == 0 {
            Clamp::NONE
        } else {
            Clamp {
                min: a.min(b),
                max: a.max(b),
            }
        },
    }
}

pub(crate) fn window(r: &mut Rng, k: u8) -> Window {
    let kh = if k == 0 { r.range(1, 5) as u8 } else { k };
    let kw = if k == 0 { r.range(1, 5) as u8 } else { k };
    let dil = if k == 0 && r.next() % 4 == 0 { 2 } else { 1 };
    Window {
        kh,
        kw,
        stride_h: r.range(1, 3) as u8,
        stride_w: r.range(1, 3) as u8,
        dilation_h: dil,
        dilation_w: if r.next() % 2 == 0 { dil } else { 1 },
        pad_top: r.range(0, kh as i64) as u8,
        pad_left: r.range(0, kw as i64) as u8,
    }
}

pub(crate) fn out_extent(i: u16, k: u8, s: u8, d: u8, pad: u8) -> u16 {
    let eff = (k as i64 - 1) * d as i64 + 1;
    let o = (i as i64 + 2 * pad as i64 - eff) / s as i64 + 1;
    o.max(1) as u16
}

/// A random convolution whose window is past the columns kernels' 576
/// taps, with its inputs, weights and the portable kernel's output: by
/// `case % 3` a 3x3 over 65 to 200 channels a group, a 1x1 over 577 to
/// 1,100, any window over 150 to 400; one or two groups; 1 to 70 output
/// channels a group; tables with extremes (channels outside the fast
/// epilogue). Under Miri, which interprets every modelled instruction, the
/// narrowest such window (a 3x3 over 65 channels: two slices, the last row
/// not whole chunks) and few, small outputs.
pub(crate) struct WideCase {
    pub(crate) p: crate::ops::ConvParams,
    pub(crate) ins: crate::ops::Shape,
    pub(crate) outs: crate::ops::Shape,
    /// Window length, `kh * kw * in_c / groups`.
    pub(crate) k: usize,
    pub(crate) input: Vec<i8>,
    pub(crate) filter: Vec<i8>,
    pub(crate) tables: Tables,
    /// The portable kernel's output.
    pub(crate) want: Vec<i8>,
}

impl WideCase {
    pub(crate) fn draw(r: &mut Rng, case: usize) -> WideCase {
        use crate::ops::{conv, ConvParams, Shape};
        let (win, cpg) = match case % 3 {
            0 if cfg!(miri) => (window(r, 3), 65),
            0 => (window(r, 3), r.range(65, 200) as u16),
            1 => (
                Window {
                    pad_top: 0,
                    pad_left: 0,
                    ..window(r, 1)
                },
                r.range(577, 1100) as u16,
            ),
            _ => (window(r, 0), r.range(150, 400) as u16),
        };
        let groups = r.pick(&[1u16, 1, 1, 2]);
        let ocpg = if cfg!(miri) {
            r.pick(&[1u16, 3])
        } else {
            r.pick(&[1u16, 3, 8, 30, 70])
        };
        let side = if cfg!(miri) { 3 } else { 6 };
        let ins = Shape::new(
            r.range(1, side) as u16,
            r.range(1, side) as u16,
            cpg * groups,
        );
        let outs = Shape::new(
            out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
            out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
            ocpg * groups,
        );
        let p = ConvParams {
            window: win,
            groups,
            quant: quant(r, false),
        };
        let k = win.kh as usize * win.kw as usize * cpg as usize;
        let input = r.i8s(ins.len());
        let filter = r.i8s(outs.c as usize * k);
        let tables = tables(r, outs.c as usize, true);
        let mut want = std::vec![0i8; outs.len()];
        let w = crate::ops::ConvWeights {
            filter: &filter,
            bias: &tables.bias,
            multiplier: &tables.mult,
            shift: &tables.shift,
        };
        conv::check_conv_args(&p, ins, &input, &w, outs, &want).unwrap();
        conv::conv_core(&p, ins, &input, &w, outs, &mut want);
        WideCase {
            p,
            ins,
            outs,
            k,
            input,
            filter,
            tables,
            want,
        }
    }

    pub(crate) fn weights(&self) -> crate::ops::ConvWeights<'_> {
        crate::ops::ConvWeights {
            filter: &self.filter,
            bias: &self.tables.bias,
            multiplier: &self.tables.mult,
            shift: &self.tables.shift,
        }
    }
}
