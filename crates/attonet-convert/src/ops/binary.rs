//! The binary element-wise family (ADD with broadcasting or a constant, SUB,
//! MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM) and CONCATENATION: broadcast
//! geometry, integer parameters as TensorFlow Lite Micro's `Prepare`
//! functions compute them, and the float reference.
//!
//! * ADD (`add_common.cc`): `left_shift = 20`, input multipliers
//!   `s_k / (2 max(s1, s2))` and output `2 max(s1, s2) / (2^20 s_out)`, all
//!   in `f64`, by `QuantizeMultiplierSmallerThanOneExp`.
//! * SUB (`sub_common.cc`): the same, but TFLM computes `2 max(s1, s2)` and
//!   the three quotients in `f32` before widening; so do we.
//! * MUL (`mul_common.cc`): `QuantizeMultiplier(s1 * s2 / s_out)` in `f64`.
//! * SQUARED_DIFFERENCE (`squared_difference.cc`): `left_shift = 7`, input
//!   multipliers as ADD's, output `(2 max)^2 / (2^14 s_out)` by
//!   `QuantizeMultiplier`; clamp to the whole int8 range.
//! * PRELU (`prelu_common.cc`): `QuantizeMultiplier(s1 / s_out)` for `x >= 0`
//!   and `QuantizeMultiplier(s1 * s_alpha / s_out)` for `x < 0`, in `f64`;
//!   clamp to the whole int8 range.
//! * MAXIMUM, MINIMUM (`maximum_minimum.cc`): TFLM compares the stored
//!   bytes, so operands and output must share one quantization.
//! * CONCATENATION (`concatenation.cc`): TFLM's int8 kernel copies bytes,
//!   so every input must have the output's quantization.
//!
//! Broadcasting follows `NdArrayDescsForElementwiseBroadcast`: shapes are
//! right-aligned to 4 dimensions, a dimension of 1 is repeated (stride 0).

use attonet_runtime::ops::binary::{BinaryOp, BinaryParams, ConcatParams, BINARY_DIMS};
use attonet_runtime::quant::Clamp;

use crate::ir::{BinaryFn, Graph, OpKind, Quantization};
use crate::ops::unary_lut::Quant;
use crate::requantize::{quantize_multiplier, quantize_multiplier_smaller_than_one};

/// Output extents and the two operands' element strides, each right-aligned
/// to [`BINARY_DIMS`] dimensions.
pub type Geometry = ([u32; BINARY_DIMS], [u32; BINARY_DIMS], [u32; BINARY_DIMS]);

/// The broadcast shape of `a` and `b` (NumPy rules), or why there is none.
pub fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        (i + s.len())
            .checked_sub(rank)
            .map_or(1, |k| s.get(k).copied().unwrap_or(1))
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(format!(
                "shapes {a:?} and {b:?} do not broadcast ({x} against {y})"
            )),
        })
        .collect()
}

/// Broadcast geometry of `a op b -> out`.
pub fn geometry(a: &[usize], b: &[usize], out: &[usize]) -> Result<Geometry, String> {
    let expected = broadcast_dims(a, b)?;
    let squeeze = |d: &[usize]| -> Vec<usize> {
        let first = d.iter().position(|&x| x != 1).unwrap_or(d.len());
        d[first..].to_vec()
    };
    if squeeze(&expected) != squeeze(out) {
        return Err(format!(
            "shapes {a:?} and {b:?} broadcast to {expected:?}, but the output is {out:?}"
        ));
    }
    if expected.len() > BINARY_DIMS && squeeze(&expected).len() > BINARY_DIMS {
        return Err(format!(
            "broadcast over {} dimensions; at most {BINARY_DIMS} are supported",
            expected.len()
        ));
    }
    let pad = |d: &[usize]| -> Result<[usize; BINARY_DIMS], String> {
        let d = squeeze(d);
        let mut p = [1usize; BINARY_DIMS];
        if d.len() > BINARY_DIMS {
            return Err(format!("{d:?} has more than {BINARY_DIMS} dimensions"));
        }
        p[BINARY_DIMS - d.len()..].copy_from_slice(&d);
        Ok(p)
    };
    let (a, b, o) = (pad(a)?, pad(b)?, pad(&expected)?);
    let u32_of =
        |v: usize| u32::try_from(v).map_err(|_| format!("extent {v} does not fit 32 bits"));
    let strides = |s: [usize; BINARY_DIMS]| -> Result<[u32; BINARY_DIMS], String> {
        let mut out = [0u32; BINARY_DIMS];
        let mut stride = 1usize;
        for d in (0..BINARY_DIMS).rev() {
            out[d] = if s[d] == o[d] && o[d] != 1 {
                u32_of(stride)?
            } else {
                0
            };
            stride = stride
                .checked_mul(s[d])
                .ok_or("extents overflow".to_string())?;
        }
        Ok(out)
    };
    let mut dims = [0u32; BINARY_DIMS];
    for (d, &x) in dims.iter_mut().zip(&o) {
        *d = u32_of(x)?;
    }
    Ok((dims, strides(a)?, strides(b)?))
}

/// The runtime op of an IR function (ADD is `None`).
fn op_of(func: Option<BinaryFn>) -> BinaryOp {
    match func {
        None => BinaryOp::Add,
        Some(BinaryFn::Mul) => BinaryOp::Mul,
        Some(BinaryFn::Sub) => BinaryOp::Sub,
        Some(BinaryFn::SquaredDifference) => BinaryOp::SquaredDifference,
        Some(BinaryFn::Maximum) => BinaryOp::Maximum,
        Some(BinaryFn::Minimum) => BinaryOp::Minimum,
        Some(BinaryFn::Prelu) => BinaryOp::Prelu,
    }
}

/// The integer parameters of `func` (`None`: ADD) for operands quantized as
/// `q1`, `q2` and the output as `qo`, with the fused activation's `clamp`.
pub fn params(
    func: Option<BinaryFn>,
    q1: Quant,
    q2: Quant,
    qo: Quant,
    clamp: Clamp,
    (dims, strides1, strides2): Geometry,
) -> Result<BinaryParams, String> {
    let op = op_of(func);
    let small = |m: f64, what: &str| {
        quantize_multiplier_smaller_than_one(m)
            .ok_or_else(|| format!("{what} rescale factor {m:e} is not below 1"))
    };
    let full = |m: f64| {
        let (q, s) = quantize_multiplier(m);
        if attonet_runtime::quant::shift_in_range(s) {
            Ok((q, s))
        } else {
            Err(format!("output rescale factor {m:e} needs shift {s}"))
        }
    };
    let mut p = BinaryParams {
        op,
        input1_zero_point: q1.zero_point,
        input2_zero_point: q2.zero_point,
        output_zero_point: qo.zero_point,
        left_shift: 0,
        input1_multiplier: 0,
        input1_shift: 0,
        input2_multiplier: 0,
        input2_shift: 0,
        output_multiplier: 0,
        output_shift: 0,
        clamp,
        dims,
        strides1,
        strides2,
    };
    let (s1, s2, so) = (q1.scale, q2.scale, qo.scale);
    let ((m1, sh1), (m2, sh2), (mo, sho)) = match op {
        BinaryOp::Add => {
            // add_common.cc, in f64: the same factors as the same-shape ADD.
            p.left_shift = crate::requantize::ADD_LEFT_SHIFT;
            let [m1, m2, mo] = crate::requantize::add_rescale(s1, s2, so);
            (
                small(m1, "input 1")?,
                small(m2, "input 2")?,
                small(mo, "output")?,
            )
        }
        BinaryOp::Sub => {
            // sub_common.cc: the quotients in f32, then widened.
            p.left_shift = 20;
            let twice: f32 = 2.0 * s1.max(s2);
            (
                small((s1 / twice) as f64, "input 1")?,
                small((s2 / twice) as f64, "input 2")?,
                small((twice / ((1i32 << 20) as f32 * so)) as f64, "output")?,
            )
        }
        BinaryOp::SquaredDifference => {
            p.left_shift = 7;
            p.clamp = Clamp::NONE;
            let twice = 2.0 * s1.max(s2) as f64;
            (
                small(s1 as f64 / twice, "input 1")?,
                small(s2 as f64 / twice, "input 2")?,
                full(twice * twice / ((1i64 << 14) as f64 * so as f64))?,
            )
        }
        BinaryOp::Mul => ((0, 0), (0, 0), full(s1 as f64 * s2 as f64 / so as f64)?),
        BinaryOp::Prelu => {
            // CalculatePreluParams: identity for x >= 0 (input 1's
            // multiplier), alpha's for x < 0 (the output multiplier).
            p.clamp = Clamp::NONE;
            (
                full(s1 as f64 / so as f64)?,
                (0, 0),
                full(s1 as f64 * s2 as f64 / so as f64)?,
            )
        }
        BinaryOp::Maximum | BinaryOp::Minimum => {
            if q1 != q2 || q1 != qo {
                return Err(format!(
                    "operands (scale {s1}, zero point {}; scale {s2}, zero point {}) and output \
                     (scale {so}, zero point {}) must share one quantization: TFLM compares \
                     the stored bytes",
                    q1.zero_point, q2.zero_point, qo.zero_point
                ));
            }
            p.clamp = Clamp::NONE;
            ((0, 0), (0, 0), (0, 0))
        }
    };
    p.input1_multiplier = m1;
    p.input1_shift = sh1;
    p.input2_multiplier = m2;
    p.input2_shift = sh2;
    p.output_multiplier = mo;
    p.output_shift = sho;
    Ok(p)
}

/// The float function (the reference for calibration and tests).
pub fn float(func: Option<BinaryFn>, a: f32, b: f32) -> f32 {
    match func {
        None => a + b,
        Some(BinaryFn::Mul) => a * b,
        Some(BinaryFn::Sub) => a - b,
        Some(BinaryFn::SquaredDifference) => (a - b) * (a - b),
        Some(BinaryFn::Maximum) => a.max(b),
        Some(BinaryFn::Minimum) => a.min(b),
        Some(BinaryFn::Prelu) => {
            if a >= 0.0 {
                a
            } else {
                a * b
            }
        }
    }
}

/// `func` over float tensors with broadcasting (the float reference).
pub fn eval(
    func: Option<BinaryFn>,
    (a, a_dims): (&[f32], &[usize]),
    (b, b_dims): (&[f32], &[usize]),
    out: &[usize],
) -> Result<Vec<f32>, String> {
    let (dims, sa, sb) = geometry(a_dims, b_dims, out)?;
    let [d0, d1, d2, d3] = dims.map(|d| d as usize);
    let [a0, a1, a2, a3] = sa.map(|d| d as usize);
    let [b0, b1, b2, b3] = sb.map(|d| d as usize);
    let mut y = Vec::with_capacity(d0 * d1 * d2 * d3);
    for i0 in 0..d0 {
        for i1 in 0..d1 {
            for i2 in 0..d2 {
                for i3 in 0..d3 {
                    let ia = i0 * a0 + i1 * a1 + i2 * a2 + i3 * a3;
                    let ib = i0 * b0 + i1 * b1 + i2 * b2 + i3 * b3;
                    let (Some(&x), Some(&z)) = (a.get(ia), b.get(ib)) else {
                        return Err("an operand is shorter than its shape".into());
                    };
                    y.push(float(func, x, z));
                }
            }
        }
    }
    Ok(y)
}

/// Concatenation of float tensors along `axis` (the float reference).
pub fn concat_eval(inputs: &[(&[f32], &[usize])], axis: usize) -> Result<Vec<f32>, String> {
    let dims: Vec<&[usize]> = inputs.iter().map(|(_, d)| *d).collect();
    let out = concat_dims(&dims, axis)?;
    let parts = concat_parts(&dims, &out, axis)?;
    let mut y = vec![0f32; out.iter().product()];
    for ((x, _), p) in inputs.iter().zip(&parts) {
        let (inner, out_inner, offset) =
            (p.inner as usize, p.out_inner as usize, p.offset as usize);
        if inner == 0 {
            continue;
        }
        if x.len() != inner * p.outer as usize {
            return Err("an input is not as long as its shape".into());
        }
        for (src, dst) in x.chunks_exact(inner).zip(y.chunks_exact_mut(out_inner)) {
            dst[offset..offset + inner].copy_from_slice(src);
        }
    }
    Ok(y)
}

/// Whether `func` (`None`: ADD) keeps its operands' quantization (MAXIMUM,
/// MINIMUM: TFLM compares bytes) instead of taking a calibrated one.
pub fn keeps_quantization(func: Option<BinaryFn>) -> bool {
    match func {
        Some(BinaryFn::Maximum | BinaryFn::Minimum) => true,
        None
        | Some(BinaryFn::Mul | BinaryFn::Sub | BinaryFn::SquaredDifference | BinaryFn::Prelu) => {
            false
        }
    }
}

/// The quantization rule for a float constant operand: with `like` (MAXIMUM,
/// MINIMUM) the activation operand's scale and zero point, else symmetric
/// per tensor (`max |c| / 127`), rounding half away from zero.
pub fn quantize_constant(values: &[f32], like: Option<&Quantization>) -> (Vec<i8>, Quantization) {
    let (scale, zero_point) = match like {
        Some(q) => (q.scales[0], q.zero_points[0]),
        None => {
            let m = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            (
                if m > 0.0 && m.is_finite() {
                    m / 127.0
                } else {
                    1.0
                },
                0,
            )
        }
    };
    let data = values
        .iter()
        .map(|&v| ((v / scale).round() as i64 + zero_point).clamp(-128, 127) as i8)
        .collect();
    (
        data,
        Quantization {
            scales: vec![scale],
            zero_points: vec![zero_point],
            axis: 0,
        },
    )
}

/// Calibration ranges with every CONCATENATION's inputs and output widened
/// to their union, so they share one quantization (TFLM's int8 kernel copies
/// bytes); chains of concatenations are unified together.
pub fn concat_ranges(graph: &Graph, ranges: &[Option<(f32, f32)>]) -> Vec<Option<(f32, f32)>> {
    let mut r = ranges.to_vec();
    // Repeat until stable: a tensor may feed two concatenations.
    for _ in 0..graph.ops.len().max(1) {
        let mut changed = false;
        for op in &graph.ops {
            let OpKind::Concat { .. } = op.kind else {
                continue;
            };
            let ids: Vec<usize> = op
                .inputs
                .iter()
                .flatten()
                .chain(&op.outputs)
                .copied()
                .filter(|&id| id < r.len())
                .collect();
            let union = ids
                .iter()
                .filter_map(|&id| r[id])
                .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
            if let Some(u) = union {
                for &id in &ids {
                    if r[id] != Some(u) {
                        r[id] = Some(u);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    r
}

/// The output shape of concatenating `inputs` along `axis`.
pub fn concat_dims(inputs: &[&[usize]], axis: usize) -> Result<Vec<usize>, String> {
    let first = inputs.first().ok_or("no inputs")?;
    if axis >= first.len() {
        return Err(format!("axis {axis} is out of range for {first:?}"));
    }
    let mut out = first.to_vec();
    for d in &inputs[1..] {
        if d.len() != first.len()
            || d.iter()
                .zip(first.iter())
                .enumerate()
                .any(|(k, (x, y))| k != axis && x != y)
        {
            return Err(format!("{d:?} and {first:?} differ outside axis {axis}"));
        }
        out[axis] += d[axis];
    }
    Ok(out)
}

/// The dimensions of a PACK input as a concatenation operand: `dims` with a
/// 1 inserted at the new axis `axis` (in `0..=rank`), so that PACK is a
/// CONCATENATION along `axis` of its inputs so reshaped (the same bytes).
pub fn pack_operand_dims(dims: &[usize], axis: usize) -> Result<Vec<usize>, String> {
    if axis > dims.len() {
        return Err(format!(
            "axis {axis} is out of range for packing inputs of rank {}",
            dims.len()
        ));
    }
    let mut out = dims.to_vec();
    out.insert(axis, 1);
    Ok(out)
}

/// Each input's part of a concatenation along `axis` into `out`.
pub fn concat_parts(
    inputs: &[&[usize]],
    out: &[usize],
    axis: usize,
) -> Result<Vec<ConcatParams>, String> {
    let expected = concat_dims(inputs, axis)?;
    if expected != out {
        return Err(format!(
            "concatenating along axis {axis} gives {expected:?}, but the output is {out:?}"
        ));
    }
    let u = |v: usize| u32::try_from(v).map_err(|_| format!("extent {v} does not fit 32 bits"));
    let outer: usize = out[..axis].iter().product();
    let out_inner: usize = out[axis..].iter().product();
    let mut offset = 0usize;
    let mut parts = Vec::new();
    for d in inputs {
        let inner: usize = d[axis..].iter().product();
        parts.push(ConcatParams {
            outer: u(outer)?,
            inner: u(inner)?,
            out_inner: u(out_inner)?,
            offset: u(offset)?,
        });
        offset += inner;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_geometry() {
        let (dims, a, b) = geometry(&[1, 4, 1, 6], &[1, 1, 5, 6], &[1, 4, 5, 6]).unwrap();
        assert_eq!(dims, [1, 4, 5, 6]);
        assert_eq!(a, [0, 6, 0, 1]);
        assert_eq!(b, [0, 0, 6, 1]);
        let (dims, a, b) = geometry(&[1, 4, 4, 8], &[8], &[1, 4, 4, 8]).unwrap();
        assert_eq!(dims, [1, 4, 4, 8]);
        assert_eq!(a, [0, 32, 8, 1]);
        assert_eq!(b, [0, 0, 0, 1]);
        let (_, _, b) = geometry(&[1, 4, 4, 8], &[], &[1, 4, 4, 8]).unwrap();
        assert_eq!(b, [0; 4]);
        assert!(geometry(&[1, 4, 4, 8], &[3], &[1, 4, 4, 8]).is_err());
        assert!(geometry(&[1, 4, 4, 8], &[8], &[1, 4, 4, 9]).is_err());
    }

    #[test]
    fn concat_geometry() {
        let parts = concat_parts(&[&[1, 2, 4, 4], &[1, 3, 4, 4]], &[1, 5, 4, 4], 1).unwrap();
        assert_eq!(parts[1].offset, 32);
        assert_eq!(parts[1].out_inner, 80);
        assert!(concat_parts(&[&[1, 2, 4, 4], &[1, 3, 4, 5]], &[1, 5, 4, 4], 1).is_err());
    }
}
