//! Random kernel cases shared by the QEMU proof firmwares
//! (`tests/qemu-kernels` for the Cortex-M DSP paths, `tests/qemu-kernels-riscv`
//! for the RISC-V ones): the random numbers, parameters and tables, the
//! buffers, the mismatch report, and the ADD family (the same on both). Each
//! firmware keeps its own convolution and depthwise families (their cases
//! aim at its own fast paths) and its instruction counter.
#![no_std]

use attonet_runtime::ops::add::{add_s8, add_s8_in_place, AddParams};
pub use attonet_runtime::ops::ConvWeights;
use attonet_runtime::ops::{portable, ConvQuant, Window};
use attonet_runtime::quant::Clamp;
use semihosting::{println, process};

/// Every buffer the cases use: inputs, filter, both outputs and the
/// per-channel tables (a firmware keeps one in a static).
pub struct Bufs<const IN: usize, const OUT: usize, const FILTER: usize, const OC: usize> {
    pub input: [i8; IN],
    pub filter: [i8; FILTER],
    pub out_fast: [i8; OUT],
    pub out_ref: [i8; OUT],
    pub bias: [i32; OC],
    pub mult: [i32; OC],
    pub shift: [i32; OC],
}

impl<const IN: usize, const OUT: usize, const FILTER: usize, const OC: usize>
    Bufs<IN, OUT, FILTER, OC>
{
    /// All zero.
    pub const fn new() -> Self {
        Bufs {
            input: [0; IN],
            filter: [0; FILTER],
            out_fast: [0; OUT],
            out_ref: [0; OUT],
            bias: [0; OC],
            mult: [0; OC],
            shift: [0; OC],
        }
    }

    /// Random per-channel tables for `n` channels.
    pub fn tables(&mut self, rng: &mut Rng, n: usize) {
        rng.tables(
            &mut self.bias[..n],
            &mut self.mult[..n],
            &mut self.shift[..n],
        );
    }
}

impl<const IN: usize, const OUT: usize, const FILTER: usize, const OC: usize> Default
    for Bufs<IN, OUT, FILTER, OC>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The cases' random numbers: xorshift64 from a fixed seed.
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.next() as usize % xs.len()]
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next() % one_in == 0
    }
    /// Random bytes; one buffer in four is all extremes (-128, 127, 0, -1).
    pub fn fill(&mut self, xs: &mut [i8]) {
        let extreme = self.chance(4);
        for x in xs {
            *x = if extreme {
                self.pick(&[-128i8, 127, -128, 127, 0, -1])
            } else {
                self.next() as i8
            };
        }
    }
    /// Per-channel tables in realistic ranges, with the odd extreme.
    pub fn tables(&mut self, bias: &mut [i32], mult: &mut [i32], shift: &mut [i32]) {
        for ((b, m), s) in bias.iter_mut().zip(mult.iter_mut()).zip(shift.iter_mut()) {
            *b = if self.chance(16) {
                self.pick(&[i32::MAX, i32::MIN, 0, -1])
            } else {
                self.range(-70_000, 70_000) as i32
            };
            *m = if self.chance(16) {
                self.pick(&[i32::MAX, 1 << 30, i32::MIN, -(1 << 30), 1])
            } else {
                self.range(1 << 30, i32::MAX as i64) as i32
            };
            *s = if self.chance(16) {
                self.pick(&[-31, 30, 1, 0, -1, 5])
            } else {
                self.range(-12, 1) as i32
            };
        }
    }
    pub fn quant(&mut self) -> ConvQuant {
        let (a, b) = (self.next() as i8, self.next() as i8);
        ConvQuant {
            input_zero_point: if self.chance(8) {
                self.pick(&[-128, 127, 0, 300, -1000])
            } else {
                self.range(-128, 127) as i32
            },
            output_zero_point: self.range(-128, 127) as i32,
            clamp: if self.chance(2) {
                Clamp::NONE
            } else {
                Clamp {
                    min: a.min(b),
                    max: a.max(b),
                }
            },
        }
    }
    /// A window of size `k` (`0`: any from 1 to 5, with the odd dilation).
    pub fn window(&mut self, k: u8, pad: bool) -> Window {
        let kh = if k == 0 { self.range(1, 5) as u8 } else { k };
        let kw = if k == 0 { self.range(1, 5) as u8 } else { k };
        let dil = if k == 0 && self.chance(4) { 2 } else { 1 };
        Window {
            kh,
            kw,
            stride_h: self.range(1, 3) as u8,
            stride_w: self.range(1, 3) as u8,
            dilation_h: dil,
            dilation_w: if self.chance(2) { dil } else { 1 },
            pad_top: if pad {
                self.range(0, kh as i64) as u8
            } else {
                0
            },
            pad_left: if pad {
                self.range(0, kw as i64) as u8
            } else {
                0
            },
        }
    }
}

/// Output extent of a SAME-or-so padded window (at least 1).
pub fn out_extent(i: u16, k: u8, s: u8, d: u8, pad: u8) -> u16 {
    let eff = (k as i64 - 1) * d as i64 + 1;
    let o = (i as i64 + 2 * pad as i64 - eff) / s as i64 + 1;
    o.max(1) as u16
}

/// The weights of a case (a macro, so the borrows stay per field).
#[macro_export]
macro_rules! weights {
    ($b:expr, $filter_len:expr, $oc:expr) => {
        $crate::ConvWeights {
            filter: &$b.filter[..$filter_len],
            bias: &$b.bias[..$oc],
            multiplier: &$b.mult[..$oc],
            shift: &$b.shift[..$oc],
        }
    };
}

/// Prints where two outputs first differ and exits with status 1.
pub fn mismatch(
    what: &str,
    case: u32,
    detail: &dyn core::fmt::Debug,
    fast: &[i8],
    reference: &[i8],
) -> ! {
    let i = fast
        .iter()
        .zip(reference)
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    println!(
        "MISMATCH {what} case {case}: {detail:?}\n  element {i}: fast {} portable {}",
        fast.get(i).copied().unwrap_or(0),
        reference.get(i).copied().unwrap_or(0)
    );
    process::exit(1)
}

/// TFLite ADD parameters: realistic (left shift 20, multipliers near 2^30,
/// shifts -1..-3 on the inputs, -15..-20 on the output) with the odd extreme.
pub fn add_params(rng: &mut Rng) -> AddParams {
    let (a, b) = (rng.next() as i8, rng.next() as i8);
    let mult = |rng: &mut Rng| {
        if rng.chance(12) {
            rng.pick(&[i32::MIN, i32::MAX, 1 << 30, 0, 1])
        } else {
            rng.range(1 << 30, i32::MAX as i64) as i32
        }
    };
    let realistic = !rng.chance(5);
    AddParams {
        input1_zero_point: rng.range(-128, 127) as i32,
        input2_zero_point: rng.range(-128, 127) as i32,
        output_zero_point: rng.range(-128, 127) as i32,
        left_shift: if realistic {
            20
        } else {
            rng.range(0, 30) as i32
        },
        input1_multiplier: mult(rng),
        input1_shift: if realistic {
            rng.range(-3, 0) as i32
        } else {
            rng.range(-31, 0) as i32
        },
        input2_multiplier: mult(rng),
        input2_shift: if realistic {
            rng.range(-3, 0) as i32
        } else {
            rng.range(-31, 0) as i32
        },
        output_multiplier: mult(rng),
        output_shift: if realistic {
            rng.range(-20, -15) as i32
        } else {
            rng.range(-31, 0) as i32
        },
        clamp: if rng.chance(2) {
            Clamp::NONE
        } else {
            Clamp {
                min: a.min(b),
                max: a.max(b),
            }
        },
    }
}

/// `cases` random ADDs (and in-place ADDs) through the dispatching kernels
/// and the portable ones; the first difference exits with status 1.
pub fn add_family<const I: usize, const O: usize, const F: usize, const C: usize>(
    b: &mut Bufs<I, O, F, C>,
    rng: &mut Rng,
    cases: u32,
) -> u32 {
    for case in 1..=cases {
        let p = add_params(rng);
        let n = if rng.chance(4) {
            rng.range(0, 600)
        } else {
            rng.range(512, 5000)
        } as usize;
        rng.fill(&mut b.input[..n]);
        rng.fill(&mut b.filter[..n]);
        b.out_fast[..n].fill(0x5A);
        b.out_ref[..n].fill(-0x5B);
        let r1 = add_s8(&p, &b.input[..n], &b.filter[..n], &mut b.out_fast[..n]);
        let r2 = portable::add_s8(&p, &b.input[..n], &b.filter[..n], &mut b.out_ref[..n]);
        if r1 != r2 || b.out_fast[..n] != b.out_ref[..n] {
            mismatch("add_s8", case, &(p, n), &b.out_fast[..n], &b.out_ref[..n]);
        }
        // In place: the first input is overwritten by the output.
        b.out_fast[..n].copy_from_slice(&b.input[..n]);
        let r3 = add_s8_in_place(&p, &mut b.out_fast[..n], &b.filter[..n]);
        if r3 != r2 || b.out_fast[..n] != b.out_ref[..n] {
            mismatch(
                "add_s8_in_place",
                case,
                &(p, n),
                &b.out_fast[..n],
                &b.out_ref[..n],
            );
        }
    }
    cases
}
