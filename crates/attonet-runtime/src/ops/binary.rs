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
#[cfg(test)]
use crate::quant::requantize_smaller_than_one;
use crate::quant::{requantize, shift_in_range, Clamp, Requantizer};
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
#[cfg(test)]
fn scaled(x: i8, zero_point: i32, left_shift: i32, m: i32, s: i32) -> i32 {
    let v = (x as i32 - zero_point).wrapping_mul(1 << left_shift);
    requantize_smaller_than_one(v, m, s)
}

/// From this many output elements on, ADD, SUB and SQUARED_DIFFERENCE
/// rescale each operand through a 256-entry table built per call (512
/// rescalings, 2 KiB of stack) instead of twice per element.
pub const RESCALE_TABLES_FROM: usize = 256;

/// One output element as TFLM computes it (parameters checked): the
/// definition the loops of [`binary_s8`] follow, with their constants
/// worked out once per call ([`Prepared`]).
#[cfg(test)]
fn one_of(p: &BinaryParams, op: BinaryOp, a: i8, b: i8) -> i8 {
    let offset = |x: i8, zp: i32| x as i32 - zp;
    let s1 = || {
        scaled(
            a,
            p.input1_zero_point,
            p.left_shift,
            p.input1_multiplier,
            p.input1_shift,
        )
    };
    let s2 = || {
        scaled(
            b,
            p.input2_zero_point,
            p.left_shift,
            p.input2_multiplier,
            p.input2_shift,
        )
    };
    let (m, sh) = (p.output_multiplier, p.output_shift);
    let out = match op {
        BinaryOp::Add => requantize_smaller_than_one(s1().wrapping_add(s2()), m, sh),
        BinaryOp::Sub => requantize_smaller_than_one(s1().wrapping_sub(s2()), m, sh),
        BinaryOp::SquaredDifference => {
            let d = s1().wrapping_sub(s2());
            requantize(d.wrapping_mul(d), m, sh)
        }
        BinaryOp::Mul => requantize(
            offset(a, p.input1_zero_point).wrapping_mul(offset(b, p.input2_zero_point)),
            m,
            sh,
        ),
        BinaryOp::Prelu => {
            let x = offset(a, p.input1_zero_point);
            if x >= 0 {
                requantize(x, p.input1_multiplier, p.input1_shift)
            } else {
                let alpha = offset(b, p.input2_zero_point);
                requantize(x.wrapping_mul(alpha), m, sh)
            }
        }
        BinaryOp::Maximum => return a.max(b),
        BinaryOp::Minimum => return a.min(b),
    };
    p.clamp.apply(out.wrapping_add(p.output_zero_point))
}

/// A binary op's constants for one call: zero points and the three
/// requantizations with their shifts' masks worked out ([`Requantizer`]).
#[derive(Clone, Copy)]
struct Prepared {
    zp1: i32,
    zp2: i32,
    left_shift: u32,
    r1: Requantizer,
    r2: Requantizer,
    out: Requantizer,
    zo: i32,
    clamp: Clamp,
}

impl Prepared {
    fn new(p: &BinaryParams) -> crate::Result<Prepared> {
        let r = |m, s| Requantizer::new(m, s).ok_or(Error::Parameter("binary op multiplier -2^31"));
        Ok(Prepared {
            zp1: p.input1_zero_point,
            zp2: p.input2_zero_point,
            left_shift: p.left_shift as u32 & 31,
            r1: r(p.input1_multiplier, p.input1_shift)?,
            r2: r(p.input2_multiplier, p.input2_shift)?,
            out: r(p.output_multiplier, p.output_shift)?,
            zo: p.output_zero_point,
            clamp: p.clamp,
        })
    }

    /// The first operand rescaled (ADD, SUB, SQUARED_DIFFERENCE).
    #[inline(always)]
    fn s1(&self, a: i8) -> i32 {
        self.r1
            .smaller_than_one((a as i32 - self.zp1).wrapping_shl(self.left_shift))
    }

    /// The second operand rescaled.
    #[inline(always)]
    fn s2(&self, b: i8) -> i32 {
        self.r2
            .smaller_than_one((b as i32 - self.zp2).wrapping_shl(self.left_shift))
    }

    /// The output byte of a requantized result.
    #[inline(always)]
    fn finish(&self, v: i32) -> i8 {
        self.clamp.apply(v.wrapping_add(self.zo))
    }

    /// ADD, SUB or SQUARED_DIFFERENCE of two rescaled operands.
    #[inline(always)]
    fn combine(&self, op: BinaryOp, s1: i32, s2: i32) -> i8 {
        let v = match op {
            BinaryOp::Sub => self.out.smaller_than_one(s1.wrapping_sub(s2)),
            BinaryOp::SquaredDifference => {
                let d = s1.wrapping_sub(s2);
                self.out.apply(d.wrapping_mul(d))
            }
            _ => self.out.smaller_than_one(s1.wrapping_add(s2)),
        };
        self.finish(v)
    }

    #[inline(always)]
    fn mul(&self, a: i8, b: i8) -> i8 {
        let v = (a as i32 - self.zp1).wrapping_mul(b as i32 - self.zp2);
        self.finish(self.out.apply(v))
    }

    #[inline(always)]
    fn prelu(&self, a: i8, b: i8) -> i8 {
        let x = a as i32 - self.zp1;
        let v = if x >= 0 {
            self.r1.apply(x)
        } else {
            self.out.apply(x.wrapping_mul(b as i32 - self.zp2))
        };
        self.finish(v)
    }
}

/// The rescaled value of every int8 byte (index: the byte as `u8`).
fn rescale_table(f: impl Fn(i8) -> i32) -> [i32; 256] {
    core::array::from_fn(|i| f(i as u8 as i8))
}

/// The output of one op over equal-length runs of its two operands.
type Run<'f> = &'f dyn Fn(&[i8], &[i8], &mut [i8]);

/// `output = op(input1, input2)` with broadcasting (see the module docs).
///
/// Each op has one loop of its own over runs of both operands (the op is
/// chosen once per call, not per element), its zero points, multipliers and
/// shift masks held in registers; the broadcast driver (one copy for every op)
/// hands it the runs. On the Cortex-M4: MAXIMUM and MINIMUM about 10
/// instructions an element, MUL about 30, ADD, SUB and SQUARED_DIFFERENCE
/// about 60 with their three requantizations (fewer from
/// [`RESCALE_TABLES_FROM`] elements on, where the operands' rescalings are
/// looked up).
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
    let k = Prepared::new(p)?;
    let (x, y) = (input1, input2);
    // One loop per op: `$e` is the element's output from `a` and `b`.
    macro_rules! run {
        (|$a:ident, $b:ident| $e:expr) => {
            broadcast(p, x, y, output, &|ra: &[i8], rb: &[i8], out: &mut [i8]| {
                for ((o, &$a), &$b) in out.iter_mut().zip(ra).zip(rb) {
                    *o = $e;
                }
            })
        };
    }
    match p.op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::SquaredDifference
            if output.len() >= RESCALE_TABLES_FROM =>
        {
            // Each operand's rescaling looked up: the same bits as
            // computing it.
            let t1 = rescale_table(|a| k.s1(a));
            let t2 = rescale_table(|b| k.s2(b));
            let op = p.op;
            run!(|a, b| k.combine(op, t1[a as u8 as usize], t2[b as u8 as usize]))
        }
        BinaryOp::Add => run!(|a, b| k.combine(BinaryOp::Add, k.s1(a), k.s2(b))),
        BinaryOp::Sub => run!(|a, b| k.combine(BinaryOp::Sub, k.s1(a), k.s2(b))),
        BinaryOp::SquaredDifference => {
            run!(|a, b| k.combine(BinaryOp::SquaredDifference, k.s1(a), k.s2(b)))
        }
        BinaryOp::Mul => run!(|a, b| k.mul(a, b)),
        BinaryOp::Prelu => run!(|a, b| k.prelu(a, b)),
        BinaryOp::Maximum => run!(|a, b| a.max(b)),
        BinaryOp::Minimum => run!(|a, b| a.min(b)),
    }
    Ok(())
}

/// Elements of a run whose operand is repeated or strided: each such
/// operand is gathered into a stack buffer this long.
const RUN: usize = 64;

/// One operand of a row: its elements `at + i * stride` for `i` in
/// `from..from + len`, a slice of `input` when the stride is 1, else
/// gathered into `buf` (a repeated value: `stride` 0).
fn operand<'a>(
    input: &'a [i8],
    at: usize,
    stride: usize,
    from: usize,
    buf: &'a mut [i8; RUN],
    len: usize,
) -> &'a [i8] {
    let start = at + from * stride;
    if stride == 1 {
        // In range: check_binary bounded the largest index.
        return input.get(start..start + len).unwrap_or(&[]);
    }
    let buf = &mut buf[..len.min(RUN)];
    if stride == 0 {
        buf.fill(input.get(start).copied().unwrap_or(0));
    } else {
        for (i, v) in buf.iter_mut().enumerate() {
            *v = input.get(start + i * stride).copied().unwrap_or(0);
        }
    }
    buf
}

/// Runs `f` over the broadcast of [`check_binary`]-checked arguments: the
/// whole tensor as one row where each operand is contiguous or a scalar,
/// else rows of the innermost dimension; where both operands' rows are
/// slices in one call, else in runs of [`RUN`] with the other operand
/// gathered.
fn broadcast(p: &BinaryParams, input1: &[i8], input2: &[i8], output: &mut [i8], f: Run<'_>) {
    let n = output.len();
    if n == 0 {
        return;
    }
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
    // The innermost stride of an operand read as one row of `n`.
    let whole = |s: &[u32; BINARY_DIMS]| {
        if contiguous(s) {
            Some(1)
        } else if scalar(s) {
            Some(0)
        } else {
            None
        }
    };
    let (mut bufa, mut bufb) = ([0i8; RUN], [0i8; RUN]);
    let mut row = |ia: usize, sa: usize, ib: usize, sb: usize, out: &mut [i8]| {
        let len = out.len();
        if sa == 1 && sb == 1 {
            let a = operand(input1, ia, 1, 0, &mut bufa, len);
            let b = operand(input2, ib, 1, 0, &mut bufb, len);
            f(a, b, out);
            return;
        }
        for (j, out) in out.chunks_mut(RUN).enumerate() {
            let (from, len) = (j * RUN, out.len());
            let a = operand(input1, ia, sa, from, &mut bufa, len);
            let b = operand(input2, ib, sb, from, &mut bufb, len);
            f(a, b, out);
        }
    };
    if let (Some(sa), Some(sb)) = (whole(&p.strides1), whole(&p.strides2)) {
        row(0, sa, 0, sb, output);
        return;
    }
    let [d0, d1, d2, d3] = p.dims.map(|d| d as usize);
    let [a0, a1, a2, a3] = p.strides1.map(|s| s as usize);
    let [b0, b1, b2, b3] = p.strides2.map(|s| s as usize);
    let mut rows = output.chunks_exact_mut(d3.max(1));
    for i0 in 0..d0 {
        for i1 in 0..d1 {
            for i2 in 0..d2 {
                let Some(out) = rows.next() else { return };
                let ia = i0 * a0 + i1 * a1 + i2 * a2;
                let ib = i0 * b0 + i1 * b1 + i2 * b2;
                row(ia, a3, ib, b3, out);
            }
        }
    }
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

    /// Every op's loops give [`one_of`]'s bytes, the element-by-element
    /// definition: random zero points, multipliers and shifts, operands
    /// contiguous, broadcast per row, per channel, as a scalar and strided
    /// (a transposed view), below and above [`RESCALE_TABLES_FROM`].
    #[test]
    fn loops_follow_the_definition() {
        extern crate std;
        use std::vec::Vec;
        let mut state = 0x1234_5678u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let ops = [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::SquaredDifference,
            BinaryOp::Maximum,
            BinaryOp::Minimum,
            BinaryOp::Prelu,
        ];
        // (dims, strides1, strides2) over a [rows, cols] = [d2, d3] output.
        let layouts = |d2: u32, d3: u32| {
            [
                ([1, 1, d2, d3], [0, 0, d3, 1], [0, 0, d3, 1]),
                ([1, 1, d2, d3], [0, 0, d3, 1], [0, 0, 0, 1]),
                ([1, 1, d2, d3], [0, 0, 0, 0], [0, 0, d3, 1]),
                ([1, 1, d2, d3], [0, 0, d3, 1], [0, 0, 1, 0]),
                ([1, 1, d2, d3], [0, 0, 1, d2], [0, 0, d3, 1]),
                ([1, 1, d2, d3], [0, 0, 0, 0], [0, 0, 0, 0]),
            ]
        };
        for op in ops {
            for (d2, d3) in [(3u32, 5u32), (40, 32)] {
                for (dims, strides1, strides2) in layouts(d2, d3) {
                    let small = |r: u32| -((r % 32) as i32);
                    let p = BinaryParams {
                        op,
                        input1_zero_point: (next() % 256) as i32 - 128,
                        input2_zero_point: (next() % 256) as i32 - 128,
                        output_zero_point: (next() % 256) as i32 - 128,
                        left_shift: if op == BinaryOp::SquaredDifference {
                            7
                        } else {
                            20
                        },
                        input1_multiplier: (1 << 30) + (next() >> 2) as i32,
                        input1_shift: if op == BinaryOp::Prelu {
                            (next() % 8) as i32 - 4
                        } else {
                            small(next())
                        },
                        input2_multiplier: (1 << 30) + (next() >> 2) as i32,
                        input2_shift: small(next()),
                        output_multiplier: (1 << 30) + (next() >> 2) as i32,
                        output_shift: match op {
                            BinaryOp::Add | BinaryOp::Sub => -((next() % 12) as i32) - 18,
                            _ => -((next() % 12) as i32),
                        },
                        clamp: Clamp {
                            min: -100,
                            max: 110,
                        },
                        dims,
                        strides1,
                        strides2,
                    };
                    let len = |s: &[u32; 4]| p.extent(s).unwrap();
                    let x: Vec<i8> = (0..len(&strides1)).map(|_| next() as i8).collect();
                    let y: Vec<i8> = (0..len(&strides2)).map(|_| next() as i8).collect();
                    let n = p.output_len().unwrap();
                    let mut out = std::vec![0i8; n];
                    binary_s8(&p, &x, &y, &mut out).unwrap();
                    let mut k = 0;
                    for i2 in 0..d2 as usize {
                        for i3 in 0..d3 as usize {
                            let a = x[i2 * strides1[2] as usize + i3 * strides1[3] as usize];
                            let b = y[i2 * strides2[2] as usize + i3 * strides2[3] as usize];
                            assert_eq!(
                                out[k],
                                one_of(&p, op, a, b),
                                "{op:?} {dims:?} {strides1:?} {strides2:?} at {k}"
                            );
                            k += 1;
                        }
                    }
                }
            }
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
