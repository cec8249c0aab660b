//! Reductions of an int8 tensor over a run of its dimensions: MEAN, SUM and
//! REDUCE_MAX, TensorFlow Lite Micro's reference kernels (`reduce_common.cc`,
//! `reference_ops::QuantizedMeanOrSum`, `ReduceGeneric`).
//!
//! The converter views the tensor as `[outer][reduce][inner]` (row-major,
//! the reduced dimensions one contiguous run once dimensions of size 1 are
//! dropped) and the output as `[outer][inner]`; every output element folds
//! the `reduce` inputs at its `(outer, inner)` position:
//!
//! * [`ReduceKind::Requantize`] (MEAN and SUM): `acc = Σ x` (wrapping `i32`), then
//!   `clamp(requantize(acc - input_offset, multiplier, shift) +
//!   output_zero_point)`, where the converter folds MEAN's `1 / count` into
//!   the multiplier as TFLM does (`(multiplier << s) / count`, `shift - s`
//!   with `s = min(floor(log2 count), 32, 31 + shift)`) and `input_offset` is
//!   `input_zero_point * count` (wrapped to `i32`, as TFLM's cast does).
//! * [`ReduceKind::Max`] (REDUCE_MAX; TFLM requires equal quantization):
//!   the largest input.
//! * [`ReduceKind::RequantizeS16`] (MEAN and SUM of TFLite's 16x8 mode):
//!   `Requantize` on int16 elements (two little-endian bytes each), the
//!   result clamped to the int16 range: TFLM's `QuantizedMeanOrSum<int16_t,
//!   int32_t>`, the same arithmetic as int8 ([`reduce_s16`]).
//!
//! * Layout: `input` `[outer][reduce][inner]`, `output` `[outer][inner]`.
//! * Scratch: none.
//! * Speed: where `inner >= 4` four neighbouring outputs are folded
//!   together, one 4-byte load a reduced position, so a global average over
//!   a `3x3x256` map is 64 passes of 9 word loads; where `inner == 1` the
//!   run is contiguous and folded four bytes a step.

use crate::error::check_len;
use crate::quant::{requantize, shift_in_range};
use crate::Error;

/// What a reduction computes from its `reduce` inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReduceKind {
    /// `clamp(requantize(Σ x - input_offset, multiplier, shift) + output_zero_point)`.
    Requantize {
        /// Q31 multiplier (MEAN: with `1 / count` folded in).
        multiplier: i32,
        /// Its shift, in `-31..=30`.
        shift: i32,
        /// `input_zero_point * count`, wrapped to `i32`.
        input_offset: i32,
        /// Output zero point, in `-128..=127`.
        output_zero_point: i32,
    },
    /// `max x`.
    Max,
    /// [`ReduceKind::Requantize`] over int16 elements, clamped to int16.
    RequantizeS16 {
        /// Q31 multiplier (MEAN: with `1 / count` folded in).
        multiplier: i32,
        /// Its shift, in `-31..=30`.
        shift: i32,
        /// `input_zero_point * count`, wrapped to `i32`.
        input_offset: i32,
        /// Output zero point, in the int16 range.
        output_zero_point: i32,
    },
}

/// A reduction's geometry and arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReduceParams {
    /// Product of the dimensions before the reduced run.
    pub outer: u32,
    /// Product of the reduced dimensions (the element count TFLM divides by).
    pub reduce: u32,
    /// Product of the dimensions after the reduced run.
    pub inner: u32,
    /// The arithmetic.
    pub kind: ReduceKind,
}

impl ReduceParams {
    /// Input elements: `outer * reduce * inner` (`None` on overflow).
    pub fn input_len(&self) -> Option<usize> {
        (self.outer as usize)
            .checked_mul(self.reduce as usize)?
            .checked_mul(self.inner as usize)
    }

    /// Output elements: `outer * inner` (`None` on overflow).
    pub fn output_len(&self) -> Option<usize> {
        (self.outer as usize).checked_mul(self.inner as usize)
    }

    /// Bytes an element: 2 for [`ReduceKind::RequantizeS16`], else 1.
    pub fn element_size(&self) -> usize {
        match self.kind {
            ReduceKind::RequantizeS16 { .. } => 2,
            ReduceKind::Requantize { .. } | ReduceKind::Max => 1,
        }
    }

    /// Input bytes (`None` on overflow).
    pub fn input_bytes(&self) -> Option<usize> {
        self.input_len()?.checked_mul(self.element_size())
    }

    /// Output bytes (`None` on overflow).
    pub fn output_bytes(&self) -> Option<usize> {
        self.output_len()?.checked_mul(self.element_size())
    }
}

/// Reduces `input` into `output` by the kind's element type: [`reduce_s8`]
/// or [`reduce_s16`].
pub fn reduce(p: &ReduceParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    match p.kind {
        ReduceKind::RequantizeS16 { .. } => reduce_s16(p, input, output),
        ReduceKind::Requantize { .. } | ReduceKind::Max => reduce_s8(p, input, output),
    }
}

/// Reduces `input` into `output` (see the module documentation).
///
/// * Constraints: `reduce >= 1`; `input.len() == outer * reduce * inner`
///   and `output.len() == outer * inner` ([`Error::BufferLength`]);
///   a requantization's shift in `-31..=30` and output zero point in the
///   int8 range ([`Error::Parameter`]).
pub fn reduce_s8(p: &ReduceParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    if p.reduce == 0 {
        return Err(Error::Shape("reduction over zero elements"));
    }
    let (Some(in_len), Some(out_len)) = (p.input_len(), p.output_len()) else {
        return Err(Error::Shape("reduction extents overflow"));
    };
    check_len("reduce input", input, in_len)?;
    check_len("reduce output", output, out_len)?;
    match p.kind {
        ReduceKind::Requantize {
            multiplier,
            shift,
            input_offset,
            output_zero_point,
        } => {
            if !shift_in_range(shift) {
                return Err(Error::Parameter("reduce shift outside -31..=30"));
            }
            if !(-128..=127).contains(&output_zero_point) {
                return Err(Error::Parameter("reduce output zero point outside int8"));
            }
            fold(p, input, output, 0, i32::wrapping_add, |acc| {
                let v = requantize(acc.wrapping_sub(input_offset), multiplier, shift)
                    .saturating_add(output_zero_point);
                v.clamp(-128, 127) as i8
            });
        }
        ReduceKind::Max => {
            fold(p, input, output, i8::MIN as i32, i32::max, |acc| acc as i8);
        }
        ReduceKind::RequantizeS16 { .. } => {
            return Err(Error::Parameter(
                "an int16 reduction given to the int8 kernel",
            ))
        }
    }
    Ok(())
}

/// MEAN and SUM of int16 tensors (TFLite's 16x8 mode): `input` and `output`
/// hold two little-endian bytes an element, laid out as [`reduce_s8`]'s;
/// each output is `clamp(requantize(Σ x - input_offset, multiplier, shift) +
/// output_zero_point)` to the int16 range, the sum wrapping in `i32`: TFLM's
/// `QuantizedMeanOrSum<int16_t, int32_t>` (`reduce_common.cc`), exactly.
///
/// * Constraints: `reduce >= 1`; `input.len() == 2 * outer * reduce *
///   inner` and `output.len() == 2 * outer * inner`
///   ([`Error::BufferLength`]); the kind [`ReduceKind::RequantizeS16`], its
///   shift in `-31..=30` and output zero point in the int16 range
///   ([`Error::Parameter`]).
pub fn reduce_s16(p: &ReduceParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    let ReduceKind::RequantizeS16 {
        multiplier,
        shift,
        input_offset,
        output_zero_point,
    } = p.kind
    else {
        return Err(Error::Parameter(
            "an int8 reduction given to the int16 kernel",
        ));
    };
    if p.reduce == 0 {
        return Err(Error::Shape("reduction over zero elements"));
    }
    let (Some(in_bytes), Some(out_bytes)) = (p.input_bytes(), p.output_bytes()) else {
        return Err(Error::Shape("reduction extents overflow"));
    };
    check_len("reduce input", input, in_bytes)?;
    check_len("reduce output", output, out_bytes)?;
    if !shift_in_range(shift) {
        return Err(Error::Parameter("reduce shift outside -31..=30"));
    }
    if !(i16::MIN as i32..=i16::MAX as i32).contains(&output_zero_point) {
        return Err(Error::Parameter("reduce output zero point outside int16"));
    }
    let (reduce, inner) = (p.reduce as usize, p.inner as usize);
    let load = |b: &[i8]| i16::from_le_bytes([b[0] as u8, b[1] as u8]) as i32;
    for (src, dst) in input
        .chunks_exact(2 * reduce * inner)
        .zip(output.chunks_exact_mut(2 * inner))
    {
        for (k, d) in dst.chunks_exact_mut(2).enumerate() {
            // The k-th element of every reduced row.
            let acc = src
                .chunks_exact(2 * inner)
                .filter_map(|row| row.get(2 * k..2 * k + 2))
                .fold(0i32, |acc, b| acc.wrapping_add(load(b)));
            let v = requantize(acc.wrapping_sub(input_offset), multiplier, shift)
                .saturating_add(output_zero_point)
                .clamp(i16::MIN as i32, i16::MAX as i32) as i16;
            let [lo, hi] = v.to_le_bytes();
            d[0] = lo as i8;
            d[1] = hi as i8;
        }
    }
    Ok(())
}

/// Folds each output's `reduce` inputs with `step` from `init`, then writes
/// `finish(acc)`. Lengths are checked by the caller.
#[inline(always)]
fn fold(
    p: &ReduceParams,
    input: &[i8],
    output: &mut [i8],
    init: i32,
    step: impl Fn(i32, i32) -> i32 + Copy,
    finish: impl Fn(i32) -> i8 + Copy,
) {
    let (reduce, inner) = (p.reduce as usize, p.inner as usize);
    let block = reduce * inner;
    if block == 0 {
        return;
    }
    for (src, dst) in input
        .chunks_exact(block)
        .zip(output.chunks_exact_mut(inner))
    {
        if inner == 1 {
            // One contiguous run: four accumulators, four bytes a step.
            let mut a = [init; 4];
            let mut words = src.chunks_exact(4);
            for w in &mut words {
                a[0] = step(a[0], w[0] as i32);
                a[1] = step(a[1], w[1] as i32);
                a[2] = step(a[2], w[2] as i32);
                a[3] = step(a[3], w[3] as i32);
            }
            // `init` is the fold's identity (0 for a sum, -128 for a max).
            let mut acc = a.iter().copied().fold(init, step);
            for &x in words.remainder() {
                acc = step(acc, x as i32);
            }
            dst[0] = finish(acc);
            continue;
        }
        // Four neighbouring outputs at a time: one 4-byte load per row.
        let mut c = 0;
        while c + 4 <= inner {
            let mut a = [init; 4];
            for row in src.chunks_exact(inner) {
                let w = &row[c..c + 4];
                a[0] = step(a[0], w[0] as i32);
                a[1] = step(a[1], w[1] as i32);
                a[2] = step(a[2], w[2] as i32);
                a[3] = step(a[3], w[3] as i32);
            }
            for (d, &acc) in dst[c..c + 4].iter_mut().zip(&a) {
                *d = finish(acc);
            }
            c += 4;
        }
        for (k, d) in dst.iter_mut().enumerate().skip(c) {
            let acc = src
                .chunks_exact(inner)
                .fold(init, |acc, row| step(acc, row[k] as i32));
            *d = finish(acc);
        }
    }
}

/// Which extreme an index reduction looks for (ARG_MAX, ARG_MIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ArgKind {
    /// ARG_MAX: the index of the largest input.
    ArgMax,
    /// ARG_MIN: the index of the smallest input.
    ArgMin,
}

/// An index reduction's geometry: the input `[outer][reduce][inner]`, the
/// output `[outer][inner]` `i32` indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArgParams {
    /// Product of the dimensions before the reduced axis.
    pub outer: u32,
    /// The reduced axis' extent.
    pub reduce: u32,
    /// Product of the dimensions after the reduced axis.
    pub inner: u32,
    /// Largest or smallest.
    pub kind: ArgKind,
}

impl ArgParams {
    /// Input elements: `outer * reduce * inner` (`None` on overflow).
    pub fn input_len(&self) -> Option<usize> {
        (self.outer as usize)
            .checked_mul(self.reduce as usize)?
            .checked_mul(self.inner as usize)
    }

    /// Output bytes: four (one `i32`) per `outer * inner` position (`None`
    /// on overflow).
    pub fn output_bytes(&self) -> Option<usize> {
        (self.outer as usize)
            .checked_mul(self.inner as usize)?
            .checked_mul(4)
    }
}

/// ARG_MAX / ARG_MIN of an int8 tensor along one axis, TFLM's reference
/// `ArgMinMax`: for each `(outer, inner)` position the index along the axis
/// of the largest (smallest) input, the first one on ties (TFLM compares
/// with `std::greater` / `std::less` and keeps the earlier index). The
/// indices are written as `i32`, little-endian, four bytes each, into
/// `output` (an int32 tensor's arena bytes; the byte order is the one every
/// supported core uses natively).
///
/// * Layout: `input` `[outer][reduce][inner]`, `output` `[outer][inner]`
///   `i32`.
/// * Constraints: `reduce >= 1`; `input.len() == outer * reduce * inner`,
///   `output.len() == 4 * outer * inner` ([`Error::BufferLength`]).
/// * Scratch: none.
pub fn arg_s8_i32(p: &ArgParams, input: &[i8], output: &mut [i8]) -> crate::Result {
    if p.reduce == 0 {
        return Err(Error::Shape("arg max/min over zero elements"));
    }
    let (Some(in_len), Some(out_bytes)) = (p.input_len(), p.output_bytes()) else {
        return Err(Error::Shape("arg max/min extents overflow"));
    };
    check_len("arg max/min input", input, in_len)?;
    check_len("arg max/min output", output, out_bytes)?;
    let (r, n) = (p.reduce as usize, p.inner as usize);
    let better = |a: i8, b: i8| match p.kind {
        ArgKind::ArgMax => a > b,
        ArgKind::ArgMin => a < b,
    };
    // `in_len > 0` implies `r * n > 0`; an empty input has no outputs.
    for (block, out) in input
        .chunks_exact((r * n).max(1))
        .zip(output.chunks_exact_mut((4 * n).max(1)))
    {
        for (k, word) in out.chunks_exact_mut(4).enumerate() {
            let mut best = block[k];
            let mut index = 0i32;
            for (i, row) in block.chunks_exact(n).enumerate().skip(1) {
                if better(row[k], best) {
                    best = row[k];
                    index = i as i32;
                }
            }
            for (d, b) in word.iter_mut().zip(index.to_le_bytes()) {
                *d = b as i8;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// The obvious loops, for comparison.
    fn reference(p: &ReduceParams, input: &[i8]) -> Vec<i8> {
        let (o, r, n) = (p.outer as usize, p.reduce as usize, p.inner as usize);
        let mut out = Vec::new();
        for a in 0..o {
            for c in 0..n {
                let xs = (0..r).map(|k| input[(a * r + k) * n + c] as i32);
                out.push(match p.kind {
                    ReduceKind::Requantize {
                        multiplier,
                        shift,
                        input_offset,
                        output_zero_point,
                    } => {
                        let sum: i32 = xs.sum();
                        (requantize(sum - input_offset, multiplier, shift) + output_zero_point)
                            .clamp(-128, 127) as i8
                    }
                    ReduceKind::Max => xs.max().unwrap() as i8,
                    ReduceKind::RequantizeS16 { .. } => unreachable!("int8 kinds only"),
                });
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<i8> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as i8
            })
            .collect()
    }

    fn kinds() -> [ReduceKind; 3] {
        [
            ReduceKind::Max,
            ReduceKind::Requantize {
                multiplier: 1_518_500_250,
                shift: -3,
                input_offset: -7 * 9,
                output_zero_point: 5,
            },
            ReduceKind::Requantize {
                multiplier: 1 << 30,
                shift: 1,
                input_offset: 0,
                output_zero_point: -128,
            },
        ]
    }

    #[test]
    fn matches_the_plain_loops_at_every_edge_length() {
        for kind in kinds() {
            for outer in [1u32, 2, 3] {
                for reduce in [1u32, 2, 3, 4, 5, 9, 36] {
                    for inner in [1u32, 2, 3, 4, 5, 7, 8, 13] {
                        let p = ReduceParams {
                            outer,
                            reduce,
                            inner,
                            kind,
                        };
                        let x = data(p.input_len().unwrap(), outer * 97 + reduce * 7 + inner);
                        let mut y = vec![0i8; p.output_len().unwrap()];
                        reduce_s8(&p, &x, &mut y).unwrap();
                        assert_eq!(y, reference(&p, &x), "{p:?}");
                    }
                }
            }
        }
    }

    /// The int16 kernel against the plain loops on int16 elements (sums past
    /// the int16 range, outputs clamped to it), and the int8 and int16
    /// kernels refusing each other's kinds.
    #[test]
    fn int16_matches_the_plain_loops() {
        let kinds = [
            // A MEAN over 9: 1/9 folded in, zero points 0 as 16x8 has them.
            ReduceKind::RequantizeS16 {
                multiplier: (((1i64 << 30) << 3) / 9) as i32,
                shift: -2,
                input_offset: 0,
                output_zero_point: 0,
            },
            // A SUM that saturates, with zero points.
            ReduceKind::RequantizeS16 {
                multiplier: 1 << 30,
                shift: 1,
                input_offset: 300 * 5,
                output_zero_point: -1000,
            },
        ];
        for kind in kinds {
            for (outer, count, inner) in [(1u32, 9u32, 8u32), (3, 5, 1), (2, 4, 7), (1, 1, 3)] {
                let p = ReduceParams {
                    outer,
                    reduce: count,
                    inner,
                    kind,
                };
                let ReduceKind::RequantizeS16 {
                    multiplier,
                    shift,
                    input_offset,
                    output_zero_point,
                } = kind
                else {
                    unreachable!()
                };
                let n = p.input_len().unwrap();
                let bytes = data(2 * n, outer * 31 + count * 7 + inner);
                let x: Vec<i32> = bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0] as u8, b[1] as u8]) as i32)
                    .collect();
                let (r, m) = (count as usize, inner as usize);
                let mut want = Vec::new();
                for a in 0..outer as usize {
                    for c in 0..m {
                        let sum: i32 = (0..r).map(|k| x[(a * r + k) * m + c]).sum();
                        let v = (requantize(sum - input_offset, multiplier, shift)
                            + output_zero_point)
                            .clamp(-32768, 32767) as i16;
                        want.extend(v.to_le_bytes().map(|b| b as i8));
                    }
                }
                let mut y = vec![0i8; p.output_bytes().unwrap()];
                reduce(&p, &bytes, &mut y).unwrap();
                assert_eq!(y, want, "{p:?}");
                assert!(reduce_s8(&p, &bytes, &mut y).is_err());
                // Too short an output is refused, never written past.
                assert!(reduce_s16(&p, &bytes, &mut y[1..]).is_err());
            }
        }
        let int8 = ReduceParams {
            outer: 1,
            reduce: 2,
            inner: 2,
            kind: ReduceKind::Max,
        };
        assert!(reduce_s16(&int8, &[0; 4], &mut [0; 2]).is_err());
    }

    #[test]
    fn global_average_of_a_map() {
        // 3x3x256 over H and W with equal quantization (zero point -3): TFLM
        // folds 1/9 into the multiplier, (2^30 << 3) / 9 with shift 1 - 3.
        let p = ReduceParams {
            outer: 1,
            reduce: 9,
            inner: 256,
            kind: ReduceKind::Requantize {
                multiplier: (((1i64 << 30) << 3) / 9) as i32,
                shift: -2,
                input_offset: -3 * 9,
                output_zero_point: -3,
            },
        };
        let x = data(9 * 256, 3);
        let mut y = vec![0i8; 256];
        reduce_s8(&p, &x, &mut y).unwrap();
        assert_eq!(y, reference(&p, &x));
        // Each output is within one step of the exact mean.
        for (c, &v) in y.iter().enumerate() {
            let mean = (0..9).map(|k| x[k * 256 + c] as f64).sum::<f64>() / 9.0;
            assert!((v as f64 - mean).abs() <= 1.0, "{c}: {v} vs {mean}");
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let p = ReduceParams {
            outer: 2,
            reduce: 3,
            inner: 4,
            kind: ReduceKind::Max,
        };
        let x = [0i8; 24];
        let mut y = [0i8; 8];
        assert!(reduce_s8(&p, &x, &mut y).is_ok());
        assert!(matches!(
            reduce_s8(&p, &x[..23], &mut y),
            Err(Error::BufferLength { .. })
        ));
        assert!(matches!(
            reduce_s8(&p, &x, &mut y[..7]),
            Err(Error::BufferLength { .. })
        ));
        let zero = ReduceParams { reduce: 0, ..p };
        assert!(matches!(
            reduce_s8(&zero, &[], &mut y),
            Err(Error::Shape(_))
        ));
        let huge = ReduceParams {
            outer: u32::MAX,
            reduce: u32::MAX,
            inner: u32::MAX,
            ..p
        };
        assert!(reduce_s8(&huge, &x, &mut y).is_err());
        for (shift, zp) in [(31, 0), (-32, 0), (0, 128), (0, -129)] {
            let bad = ReduceParams {
                kind: ReduceKind::Requantize {
                    multiplier: 1 << 30,
                    shift,
                    input_offset: 0,
                    output_zero_point: zp,
                },
                ..p
            };
            assert!(matches!(
                reduce_s8(&bad, &x, &mut y),
                Err(Error::Parameter(_))
            ));
        }
    }

    #[test]
    fn arg_max_and_min_take_the_first_index_on_ties() {
        // [outer 2][reduce 3][inner 2].
        let x: [i8; 12] = [5, -1, 7, -1, 7, -3, /**/ 0, 0, 0, 0, -128, 127];
        let run = |kind| {
            let p = ArgParams {
                outer: 2,
                reduce: 3,
                inner: 2,
                kind,
            };
            let mut out = [0i8; 16];
            arg_s8_i32(&p, &x, &mut out).unwrap();
            out.chunks_exact(4)
                .map(|w| i32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]))
                .collect::<Vec<i32>>()
        };
        // Column (0, 0): 5, 7, 7 -> max at 1 (first of the ties), min at 0.
        // Column (0, 1): -1, -1, -3 -> max at 0, min at 2.
        // Column (1, 0): 0, 0, -128 -> max at 0, min at 2.
        // Column (1, 1): 0, 0, 127 -> max at 2, min at 0.
        assert_eq!(run(ArgKind::ArgMax), [1, 0, 0, 2]);
        assert_eq!(run(ArgKind::ArgMin), [0, 2, 2, 0]);
        let p = ArgParams {
            outer: 2,
            reduce: 3,
            inner: 2,
            kind: ArgKind::ArgMax,
        };
        assert!(arg_s8_i32(&p, &x, &mut [0i8; 15]).is_err());
        assert!(arg_s8_i32(&p, &x[1..], &mut [0i8; 16]).is_err());
        let zero = ArgParams { reduce: 0, ..p };
        assert!(arg_s8_i32(&zero, &[], &mut [0i8; 16]).is_err());
    }
}
