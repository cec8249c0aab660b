//! Binary element-wise int8 operators with broadcasting (ADD with a
//! broadcast or constant operand, SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM,
//! MINIMUM) and CONCATENATION, TensorFlow Lite Micro's reference kernels
//! (`add.h`, `sub.h`, `integer_ops/mul.h`, `squared_difference.cc`,
//! `maximum_minimum.h`, `concatenation.h`).
//!
//! Per element, with `x1 = a - zp1`, `x2 = b - zp2` and
//! `rs(x, m, s) = requantize_smaller_than_one(x, m, s)`:
//!
//! * [`BinaryOp::Add`] / [`BinaryOp::Sub`]: `s1 = rs(x1 << left_shift, m1,
//!   sh1)`, `s2 = rs(x2 << left_shift, m2, sh2)`, then `clamp(rs(s1 ± s2,
//!   m_out, sh_out) + zp_out)` (TFLM: `left_shift = 20`).
//! * [`BinaryOp::Mul`]: `clamp(requantize(x1 * x2, m_out, sh_out) + zp_out)`.
//! * [`BinaryOp::SquaredDifference`]: `s1`, `s2` as ADD's (TFLM:
//!   `left_shift = 7`), `d = s1 - s2`, `clamp(requantize(d * d, m_out,
//!   sh_out) + zp_out)`.
//! * [`BinaryOp::Prelu`] (`reference/prelu.h`): `clamp(requantize(x1, m1,
//!   sh1) + zp_out)` for `x1 >= 0`, else `clamp(requantize(x1 * x2, m_out,
//!   sh_out) + zp_out)` (the second operand is alpha).
//! * [`BinaryOp::Maximum`] / [`BinaryOp::Minimum`]: the larger / smaller
//!   byte (TFLM compares the stored bytes; quantization must be equal).
//!
//! Broadcasting: the output is `dims[0] x dims[1] x dims[2] x dims[3]`
//! (outermost first); operand `k` is read at `Σ i_d * strides_k[d]`, a
//! stride of 0 repeating it along that dimension. The converter computes
//! the strides as TFLM's `NdArrayDescsForElementwiseBroadcast` does. Equal
//! shapes (both operands contiguous) and a scalar operand run as tight loops.
//!
//! * Layout: flat, row-major (NHWC).
//! * Scratch: none.
//! * Constraints: checked up front ([`check_binary`]); every index the loops
//!   form lies inside its operand.

use crate::error::check_len;
use crate::quant::{requantize, requantize_smaller_than_one, shift_in_range, Clamp};
use crate::Error;

/// Dimensions of a broadcast (TFLM's 4-D broadcast kernels).
pub const BINARY_DIMS: usize = 4;

/// The element-wise function of a [`BinaryParams`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BinaryOp {
    /// ADD (rescaled sum).
    Add,
    /// SUB (rescaled difference).
    Sub,
    /// MUL.
    Mul,
    /// SQUARED_DIFFERENCE.
    SquaredDifference,
    /// MAXIMUM.
    Maximum,
    /// MINIMUM.
    Minimum,
    /// PRELU (the second operand is alpha).
    Prelu,
}

// Written as a path, so generated code (which prints steps with `{:?}`)
// names the variant without importing it.
impl core::fmt::Debug for BinaryOp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            BinaryOp::Add => "Add",
            BinaryOp::Sub => "Sub",
            BinaryOp::Mul => "Mul",
            BinaryOp::SquaredDifference => "SquaredDifference",
            BinaryOp::Maximum => "Maximum",
            BinaryOp::Minimum => "Minimum",
            BinaryOp::Prelu => "Prelu",
        };
        write!(f, "BinaryOp::{name}")
    }
}

/// A binary op's arithmetic and broadcast geometry (computed by the
/// converter as TFLM's `Prepare` functions do; unused fields are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BinaryParams {
    /// The function.
    pub op: BinaryOp,
    /// Zero point of the first operand.
    pub input1_zero_point: i32,
    /// Zero point of the second operand.
    pub input2_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Left shift of both offset operands (ADD, SUB: 20; SQUARED_DIFFERENCE: 7).
    pub left_shift: i32,
    /// Q31 multiplier of the first operand (ADD, SUB, SQUARED_DIFFERENCE;
    /// PRELU: of a non-negative input).
    pub input1_multiplier: i32,
    /// Its shift (`<= 0`; PRELU: `-31..=30`).
    pub input1_shift: i32,
    /// Q31 multiplier of the second operand.
    pub input2_multiplier: i32,
    /// Its shift (`<= 0`).
    pub input2_shift: i32,
    /// Q31 multiplier of the result (PRELU: of `x * alpha` for a negative input).
    pub output_multiplier: i32,
    /// Its shift (ADD, SUB: `<= 0`; MUL, SQUARED_DIFFERENCE: `-31..=30`).
    pub output_shift: i32,
    /// Output clamp (the fused activation).
    pub clamp: Clamp,
    /// Output extents, outermost first.
    pub dims: [u32; BINARY_DIMS],
    /// Element strides of the first operand (0: broadcast).
    pub strides1: [u32; BINARY_DIMS],
    /// Element strides of the second operand (0: broadcast).
    pub strides2: [u32; BINARY_DIMS],
}

impl BinaryParams {
    /// Elements of the output (`None` on overflow).
    pub fn output_len(&self) -> Option<usize> {
        self.dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d as usize))
    }

    /// One more than the largest index of the operand with `strides` (0 for
    /// an empty output; `None` on overflow).
    fn extent(&self, strides: &[u32; BINARY_DIMS]) -> Option<usize> {
        let mut last = 0usize;
        for (&d, &s) in self.dims.iter().zip(strides) {
            if d == 0 {
                return Some(0);
            }
            last = last.checked_add((d as usize - 1).checked_mul(s as usize)?)?;
        }
        last.checked_add(1)
    }
}

/// Checks a binary op's parameters against its operand and output lengths.
pub fn check_binary(p: &BinaryParams, len1: usize, len2: usize, out_len: usize) -> crate::Result {
    let n = p
        .output_len()
        .ok_or(Error::Shape("binary op output extents overflow"))?;
    if n != out_len {
        return Err(Error::BufferLength {
            what: "binary output",
            expected: n,
            actual: out_len,
        });
    }
    for (strides, len, what) in [
        (&p.strides1, len1, "binary input1"),
        (&p.strides2, len2, "binary input2"),
    ] {
        let e = p
            .extent(strides)
            .ok_or(Error::Shape("binary op strides overflow"))?;
        if e > len {
            return Err(Error::BufferLength {
                what,
                expected: e,
                actual: len,
            });
        }
    }
    if p.clamp.min > p.clamp.max {
        return Err(Error::Parameter("binary op clamp min above max"));
    }
    let small = |s: i32| (-31..=0).contains(&s);
    match p.op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::SquaredDifference => {
            if !(0..=20).contains(&p.left_shift) {
                return Err(Error::Parameter("binary op left shift outside 0..=20"));
            }
            if !small(p.input1_shift) || !small(p.input2_shift) {
                return Err(Error::Parameter("binary op input shift outside -31..=0"));
            }
            let out_ok = if p.op == BinaryOp::SquaredDifference {
                shift_in_range(p.output_shift)
            } else {
                small(p.output_shift)
            };
            if !out_ok {
                return Err(Error::Parameter("binary op output shift out of range"));
            }
        }
        BinaryOp::Mul => {
            if !shift_in_range(p.output_shift) {
                return Err(Error::Parameter("binary op output shift outside -31..=30"));
            }
        }
        BinaryOp::Prelu => {
            if !shift_in_range(p.input1_shift) || !shift_in_range(p.output_shift) {
                return Err(Error::Parameter("PRELU shift outside -31..=30"));
            }
        }
        BinaryOp::Maximum | BinaryOp::Minimum => {}
    }
    Ok(())
}

/// The rescaled operand of ADD, SUB and SQUARED_DIFFERENCE.
#[inline(always)]
fn scaled(x: i8, zero_point: i32, left_shift: i32, m: i32, s: i32) -> i32 {
    let v = (x as i32 - zero_point).wrapping_mul(1 << left_shift);
    requantize_smaller_than_one(v, m, s)
}

/// ADD, SUB or SQUARED_DIFFERENCE of two rescaled operands (parameters
/// checked).
#[inline(always)]
fn combine(p: &BinaryParams, op: BinaryOp, s1: i32, s2: i32) -> i8 {
    let out = match op {
        BinaryOp::Sub => {
            requantize_smaller_than_one(s1.wrapping_sub(s2), p.output_multiplier, p.output_shift)
        }
        BinaryOp::SquaredDifference => {
            let d = s1.wrapping_sub(s2);
            requantize(d.wrapping_mul(d), p.output_multiplier, p.output_shift)
        }
        _ => requantize_smaller_than_one(s1.wrapping_add(s2), p.output_multiplier, p.output_shift),
    };
    p.clamp.apply(out.wrapping_add(p.output_zero_point))
}

/// From this many output elements on, ADD, SUB and SQUARED_DIFFERENCE
/// rescale each operand through a 256-entry table built per call (512
/// rescalings, 2 KiB of stack) instead of twice per element.
pub const RESCALE_TABLES_FROM: usize = 1024;

/// The rescaled value of every int8 byte (index: the byte as `u8`).
fn rescale_table(zero_point: i32, left_shift: i32, m: i32, s: i32) -> [i32; 256] {
    core::array::from_fn(|i| scaled(i as u8 as i8, zero_point, left_shift, m, s))
}

/// One output element (parameters checked).
#[inline(always)]
fn one_of(p: &BinaryParams, op: BinaryOp, a: i8, b: i8) -> i8 {
    let offset = |x: i8, zp: i32| x as i32 - zp;
    // ADD, SUB and SQUARED_DIFFERENCE rescale both operands first.
    let rescaled = || {
        (
            scaled(
                a,
                p.input1_zero_point,
                p.left_shift,
                p.input1_multiplier,
                p.input1_shift,
            ),
            scaled(
                b,
                p.input2_zero_point,
                p.left_shift,
                p.input2_multiplier,
                p.input2_shift,
            ),
        )
    };
    let out = match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::SquaredDifference => {
            let (s1, s2) = rescaled();
            return combine(p, op, s1, s2);
        }
        BinaryOp::Mul => {
            let raw = offset(a, p.input1_zero_point).wrapping_mul(offset(b, p.input2_zero_point));
            requantize(raw, p.output_multiplier, p.output_shift)
        }
        BinaryOp::Prelu => {
            let x = offset(a, p.input1_zero_point);
            if x >= 0 {
                requantize(x, p.input1_multiplier, p.input1_shift)
            } else {
                let alpha = offset(b, p.input2_zero_point);
                requantize(x.wrapping_mul(alpha), p.output_multiplier, p.output_shift)
            }
        }
        BinaryOp::Maximum => return a.max(b),
        BinaryOp::Minimum => return a.min(b),
    };
    p.clamp.apply(out.wrapping_add(p.output_zero_point))
}

/// `output = op(input1, input2)` with broadcasting (see the module docs).
///
/// * Constraints: [`check_binary`] (lengths against `dims` and the strides,
///   shifts in range); nothing is written when they fail.
pub fn binary_s8(
    p: &BinaryParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> crate::Result {
    check_binary(p, input1.len(), input2.len(), output.len())?;
    // ADD, SUB, SQUARED_DIFFERENCE over many elements: each operand's
    // rescaling looked up (the same bits as computing it).
    if matches!(
        p.op,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::SquaredDifference
    ) && output.len() >= RESCALE_TABLES_FROM
    {
        let t1 = rescale_table(
            p.input1_zero_point,
            p.left_shift,
            p.input1_multiplier,
            p.input1_shift,
        );
        let t2 = rescale_table(
            p.input2_zero_point,
            p.left_shift,
            p.input2_multiplier,
            p.input2_shift,
        );
        let at = |t: &[i32; 256], x: i8| t[x as u8 as usize];
        broadcast(p, input1, input2, output, |a, b| {
            combine(p, p.op, at(&t1, a), at(&t2, b))
        });
        return Ok(());
    }
    // Two loop nests in all (code size: a firmware with any of these ops
    // links both), the op chosen per element.
    broadcast(p, input1, input2, output, |a, b| one_of(p, p.op, a, b));
    Ok(())
}

/// The element loops of [`binary_s8`] for one op `f`, over arguments
/// [`check_binary`] accepted: whole-tensor loops where both operands are
/// contiguous or one is a scalar, else rows of the innermost dimension,
/// each operand's row a slice (stride 1) or one repeated value (stride 0)
/// where it can be, element by element otherwise.
#[inline(always)]
fn broadcast(
    p: &BinaryParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
    f: impl Fn(i8, i8) -> i8,
) {
    let n = output.len();
    let contiguous = |s: &[u32; BINARY_DIMS]| {
        let mut want = 1u32;
        for d in (0..BINARY_DIMS).rev() {
            if p.dims[d] != 1 && s[d] != want {
                return false;
            }
            want = want.wrapping_mul(p.dims[d]);
        }
        true
    };
    let scalar = |s: &[u32; BINARY_DIMS]| s.iter().zip(&p.dims).all(|(&s, &d)| s == 0 || d == 1);
    let (c1, c2) = (contiguous(&p.strides1), contiguous(&p.strides2));
    if n == 0 {
        return;
    }
    if c1 && c2 {
        for ((o, &a), &b) in output.iter_mut().zip(&input1[..n]).zip(&input2[..n]) {
            *o = f(a, b);
        }
        return;
    }
    if c1 && scalar(&p.strides2) {
        let b = input2[0];
        for (o, &a) in output.iter_mut().zip(&input1[..n]) {
            *o = f(a, b);
        }
        return;
    }
    if scalar(&p.strides1) && c2 {
        let a = input1[0];
        for (o, &b) in output.iter_mut().zip(&input2[..n]) {
            *o = f(a, b);
        }
        return;
    }
    let [d0, d1, d2, d3] = p.dims.map(|d| d as usize);
    let [a0, a1, a2, a3] = p.strides1.map(|s| s as usize);
    let [b0, b1, b2, b3] = p.strides2.map(|s| s as usize);
    // A row of an operand: `d3` bytes (stride 1), one value (stride 0).
    fn row_of(input: &[i8], at: usize, stride: usize, len: usize) -> Option<Row<'_>> {
        match stride {
            1 => input.get(at..at + len).map(Row::Slice),
            0 => input.get(at).map(|&v| Row::One(v)),
            _ => None,
        }
    }
    let mut k = 0usize;
    for i0 in 0..d0 {
        for i1 in 0..d1 {
            for i2 in 0..d2 {
                let ia = i0 * a0 + i1 * a1 + i2 * a2;
                let ib = i0 * b0 + i1 * b1 + i2 * b2;
                let row = &mut output[k..k + d3];
                match (row_of(input1, ia, a3, d3), row_of(input2, ib, b3, d3)) {
                    (Some(Row::Slice(ra)), Some(Row::Slice(rb))) => {
                        for ((o, &a), &b) in row.iter_mut().zip(ra).zip(rb) {
                            *o = f(a, b);
                        }
                    }
                    (Some(Row::Slice(ra)), Some(Row::One(b))) => {
                        for (o, &a) in row.iter_mut().zip(ra) {
                            *o = f(a, b);
                        }
                    }
                    (Some(Row::One(a)), Some(Row::Slice(rb))) => {
                        for (o, &b) in row.iter_mut().zip(rb) {
                            *o = f(a, b);
                        }
                    }
                    _ => {
                        for (i3, o) in row.iter_mut().enumerate() {
                            // In range: check_binary bounded the largest index.
                            let a = input1.get(ia + i3 * a3).copied().unwrap_or(0);
                            let b = input2.get(ib + i3 * b3).copied().unwrap_or(0);
                            *o = f(a, b);
                        }
                    }
                }
                k += d3;
            }
        }
    }
}

/// One operand's innermost row.
enum Row<'a> {
    /// `d3` consecutive values.
    Slice(&'a [i8]),
    /// One value for the whole row.
    One(i8),
}

/// One input's part of a CONCATENATION: the input, viewed as `[outer][inner]`,
/// is copied to `output[o * out_inner + offset ..][..inner]` for each `o`
/// (TFLM's int8 kernel copies bytes; the converter requires the input's
/// quantization to be the output's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConcatParams {
    /// Product of the dimensions before the axis.
    pub outer: u32,
    /// Elements of the input per outer index (its axis and the dimensions after it).
    pub inner: u32,
    /// Elements of the output per outer index.
    pub out_inner: u32,
    /// Where this input starts in each output run.
    pub offset: u32,
}

/// Copies one input of a CONCATENATION into its place in the output,
/// through `table` (256 entries, indexed by the input byte: a
/// requantization our quantizer placed) where one is given.
///
/// * Constraints: `input.len() == outer * inner`, `output.len() == outer *
///   out_inner`, `offset + inner <= out_inner`, `table` empty or 256 long.
pub fn concat_s8(p: &ConcatParams, table: &[i8], input: &[i8], output: &mut [i8]) -> crate::Result {
    let table: Option<&[i8; 256]> = match table.len() {
        0 => None,
        _ => Some(
            table
                .try_into()
                .map_err(|_| Error::Shape("concat table must have 0 or 256 entries"))?,
        ),
    };
    let (outer, inner, out_inner, offset) = (
        p.outer as usize,
        p.inner as usize,
        p.out_inner as usize,
        p.offset as usize,
    );
    let len = |a: usize, b: usize| {
        a.checked_mul(b)
            .ok_or(Error::Shape("concat extents overflow"))
    };
    check_len("concat input", input, len(outer, inner)?)?;
    check_len("concat output", output, len(outer, out_inner)?)?;
    if offset.checked_add(inner).is_none_or(|e| e > out_inner) {
        return Err(Error::Shape("concat part beyond the output run"));
    }
    if inner == 0 {
        return Ok(());
    }
    for (src, dst) in input
        .chunks_exact(inner)
        .zip(output.chunks_exact_mut(out_inner))
    {
        let dst = &mut dst[offset..offset + inner];
        match table {
            None => dst.copy_from_slice(src),
            Some(t) => {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o = t[x as u8 as usize];
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(op: BinaryOp) -> BinaryParams {
        BinaryParams {
            op,
            input1_zero_point: 0,
            input2_zero_point: 0,
            output_zero_point: 0,
            left_shift: 0,
            input1_multiplier: 0,
            input1_shift: 0,
            input2_multiplier: 0,
            input2_shift: 0,
            output_multiplier: 1 << 30,
            output_shift: 1,
            clamp: Clamp::NONE,
            dims: [1, 2, 1, 3],
            strides1: [0, 3, 0, 1],
            strides2: [0, 0, 0, 1],
        }
    }

    #[test]
    fn broadcast_mul_and_max() {
        // x * y with y broadcast over rows; multiplier 0.5 * 2^1 = 1.
        let p = params(BinaryOp::Mul);
        let mut out = [0i8; 6];
        binary_s8(&p, &[1, 2, 3, 4, 5, 6], &[2, -1, 3], &mut out).unwrap();
        assert_eq!(out, [2, -2, 9, 8, -5, 18]);
        let p = params(BinaryOp::Maximum);
        binary_s8(&p, &[1, 2, 3, 4, 5, 6], &[2, -1, 30], &mut out).unwrap();
        assert_eq!(out, [2, 2, 30, 4, 5, 30]);
        let p = BinaryParams {
            strides2: [0, 0, 0, 0],
            ..params(BinaryOp::Minimum)
        };
        binary_s8(&p, &[1, 2, 3, 4, 5, 6], &[3], &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 3, 3, 3]);
    }

    /// From [`RESCALE_TABLES_FROM`] elements on, ADD, SUB and
    /// SQUARED_DIFFERENCE look their operands' rescaling up: the same bytes
    /// as rescaling each element (checked against `one_of` element by
    /// element, with both operands broadcast and zero points set).
    #[test]
    fn rescale_tables_give_the_rescaled_bytes() {
        extern crate std;
        // dims [1, 4, 16, 32] = 2,048 outputs: input1 [1, 4, 16, 32], input2
        // one value per (row, channel): [1, 4, 1, 32].
        let dims = [1u32, 4, 16, 32];
        let n = 2048;
        let mut state = 7u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as i8
        };
        let x: std::vec::Vec<i8> = (0..n).map(|_| next()).collect();
        let y: std::vec::Vec<i8> = (0..128).map(|_| next()).collect();
        for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::SquaredDifference] {
            let p = BinaryParams {
                op,
                input1_zero_point: -3,
                input2_zero_point: 5,
                left_shift: if op == BinaryOp::SquaredDifference {
                    7
                } else {
                    20
                },
                input1_multiplier: 1_518_500_250,
                input1_shift: -1,
                input2_multiplier: 1_200_000_000,
                input2_shift: -2,
                output_multiplier: 1_900_000_000,
                output_shift: if op == BinaryOp::SquaredDifference {
                    -9
                } else {
                    -18
                },
                output_zero_point: 4,
                clamp: Clamp::NONE,
                dims,
                strides1: [0, 512, 32, 1],
                strides2: [0, 32, 0, 1],
            };
            assert!(n >= RESCALE_TABLES_FROM);
            let mut out = std::vec![0i8; n];
            binary_s8(&p, &x, &y, &mut out).unwrap();
            let mut distinct = std::collections::BTreeSet::new();
            for (k, &o) in out.iter().enumerate() {
                let (r, w, c) = (k / 512, (k / 32) % 16, k % 32);
                let _ = w;
                let want = one_of(&p, op, x[k], y[r * 32 + c]);
                assert_eq!(o, want, "{op:?} at {k}");
                distinct.insert(o);
            }
            assert!(
                distinct.len() > 20,
                "{op:?}: {} distinct outputs",
                distinct.len()
            );
        }
    }

    #[test]
    fn refuses_bad_arguments() {
        let p = params(BinaryOp::Mul);
        let mut out = [0i8; 6];
        assert!(binary_s8(&p, &[1; 5], &[1; 3], &mut out).is_err());
        assert!(binary_s8(&p, &[1; 6], &[1; 2], &mut out).is_err());
        assert!(binary_s8(&p, &[1; 6], &[1; 3], &mut out[..5]).is_err());
        let bad = BinaryParams {
            output_shift: 40,
            ..p
        };
        assert!(binary_s8(&bad, &[1; 6], &[1; 3], &mut out).is_err());
        let huge = BinaryParams {
            dims: [u32::MAX; 4],
            ..p
        };
        assert!(binary_s8(&huge, &[1; 6], &[1; 3], &mut out).is_err());
        let add = BinaryParams {
            left_shift: 31,
            ..params(BinaryOp::Add)
        };
        assert!(binary_s8(&add, &[1; 6], &[1; 3], &mut out).is_err());
    }

    #[test]
    fn concat_parts() {
        let mut out = [0i8; 10];
        let a = ConcatParams {
            outer: 2,
            inner: 2,
            out_inner: 5,
            offset: 0,
        };
        let b = ConcatParams {
            inner: 3,
            offset: 2,
            ..a
        };
        concat_s8(&a, &[], &[1, 2, 3, 4], &mut out).unwrap();
        concat_s8(&b, &[], &[5, 6, 7, 8, 9, 10], &mut out).unwrap();
        assert_eq!(out, [1, 2, 5, 6, 7, 3, 4, 8, 9, 10]);
        let c = ConcatParams { offset: 3, ..b };
        assert!(concat_s8(&c, &[], &[0; 6], &mut out).is_err());
        assert!(concat_s8(&a, &[], &[0; 3], &mut out).is_err());
        assert!(concat_s8(&a, &[0; 5], &[0; 4], &mut out).is_err());
        let table: [i8; 256] = core::array::from_fn(|i| (i as u8 as i8).wrapping_neg());
        concat_s8(&a, &table, &[1, 2, 3, 4], &mut out).unwrap();
        assert_eq!(out[..2], [-1, -2]);
    }
}

/// Parameters of a 16x8 MUL (int16 operands and output, zero points 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MulS16Params {
    /// Q31 multiplier of `s1 * s2 / s_out`.
    pub output_multiplier: i32,
    /// Its shift (`-31..=30`).
    pub output_shift: i32,
    /// Fused activation.
    pub clamp: super::int16::Clamp16,
}

/// `output[i] = clamp(requantize(a[i mod n_a] * b[i mod n_b]))` for int16
/// tensors with zero point 0 (an operand shorter than the output repeats: a
/// broadcast over the leading dimensions).
///
/// TFLite Micro's int16 MUL (`reference_integer_ops::MulElementwise` and
/// `BroadcastMul4DSlow` with int16 data; TFLM requires every zero point to
/// be 0): the product in 32 bits, [`requantize`] (the 32-bit
/// `MultiplyByQuantizedMultiplier`), the clamp.
///
/// * Layout: flat int16 buffers; the output's length a multiple of each
///   operand's, and the longer operand's.
/// * Scratch: none. The operands may be the same buffer; the output is apart.
/// * Constraints: `output_shift` in `-31..=30`; `clamp.min <= clamp.max`.
pub fn mul_s16(p: &MulS16Params, a: &[i8], b: &[i8], output: &mut [i8]) -> crate::Result {
    use super::int16::{load, store};
    p.clamp.check()?;
    if !shift_in_range(p.output_shift) {
        return Err(Error::Parameter("int16 MUL shift outside -31..=30"));
    }
    let (na, nb, n) = super::add::suffix_broadcast_lens(a, b, output)?;
    for i in 0..n {
        let product = load(a, i % na) as i32 * load(b, i % nb) as i32;
        let v = requantize(product, p.output_multiplier, p.output_shift);
        store(output, i, p.clamp.apply(v));
    }
    Ok(())
}

#[cfg(test)]
mod s16_tests {
    use super::*;
    use crate::ops::int16::{load, store, Clamp16};

    /// (-32768)^2 is 2^30: scaled by 2^-14 it saturates at 32767; by 2^-30
    /// it is 1; a negative product saturates at -32768.
    #[test]
    fn saturates_at_the_int16_range() {
        let mut p = MulS16Params {
            output_multiplier: 1 << 30,
            output_shift: -13,
            clamp: Clamp16::NONE,
        };
        let mut x = [0i8; 4];
        store(&mut x, 0, i16::MIN);
        store(&mut x, 1, i16::MAX);
        let mut out = [0i8; 4];
        mul_s16(&p, &x, &x[..2], &mut out).unwrap();
        assert_eq!(load(&out, 0), i16::MAX);
        assert_eq!(load(&out, 1), i16::MIN);
        p.output_shift = -29;
        mul_s16(&p, &x, &x, &mut out).unwrap();
        assert_eq!(load(&out, 0), 1);
        p.output_shift = 31;
        assert!(mul_s16(&p, &x, &x, &mut out).is_err());
    }
}
