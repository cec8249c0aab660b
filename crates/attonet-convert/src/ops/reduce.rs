//! The reduction family: MEAN, SUM, REDUCE_MAX (ONNX ReduceMean, ReduceSum,
//! ReduceMax), run by [`attonet_runtime::ops::reduce`].
//!
//! * Axes: the front ends resolve them ([`resolve_axes`]: negative ones
//!   counted from the end, duplicates dropped, as TFLite's `ResolveAxis`).
//! * Geometry ([`geometry`]): dropping the input's dimensions of size 1, the
//!   reduced ones must form one contiguous run, so the tensor is
//!   `[outer][reduce][inner]` (over H and W of an NHWC map, a global
//!   average: `[1][H*W][C]`; over the channels: `[H*W][C][1]`). Other
//!   sets (H and C together) are refused.
//! * Numerics ([`kind`]), TensorFlow Lite Micro's `reduce_common.cc`:
//!   - MEAN and SUM: `QuantizedMeanOrSum`, the multiplier of
//!     `input_scale / output_scale` (`f64`, TFLite's `QuantizeMultiplier`),
//!     with MEAN's `1 / count` folded in as TFLM folds it. Some TFLM
//!     sources take another path (`reference_ops::Mean`, a truncating
//!     integer mean) when input and output quantization are equal; the
//!     pinned TFLM does not: 40 such models (MEAN over H and W, over H, over
//!     C; random scales and zero points) match `QuantizedMeanOrSum` byte for
//!     byte and not the truncating mean;
//!   - REDUCE_MAX: TFLM requires equal input and output quantization and
//!     takes the largest byte.
//! * Float reference ([`eval`]) and quantization rule
//!   ([`output_quantization`]): the quantizer gives REDUCE_MAX its input's
//!   quantization, MEAN and SUM their calibrated range.

use attonet_runtime::ops::reduce::ReduceKind;
use attonet_runtime::quant::shift_in_range;

use crate::ir::{Quantization, ReduceFn};
use crate::ops::unary_lut::Quant;
use crate::requantize::quantize_multiplier;

/// TFLite's `ResolveAxis`: negative axes counted from the end, duplicates
/// dropped; returned sorted. `Err` names an axis out of range.
pub fn resolve_axes(raw: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    let mut axes = Vec::with_capacity(raw.len());
    for &a in raw {
        let r = rank as i64;
        let resolved = if a < 0 { a + r } else { a };
        if !(0..r).contains(&resolved) {
            return Err(format!("axis {a} is out of range for rank {rank}"));
        }
        let resolved = resolved as usize;
        if !axes.contains(&resolved) {
            axes.push(resolved);
        }
    }
    axes.sort_unstable();
    Ok(axes)
}

/// The output's dimensions: the reduced ones become 1 (`keep_dims`) or go.
pub fn output_dims(dims: &[usize], axes: &[usize], keep_dims: bool) -> Vec<usize> {
    dims.iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keep_dims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// `(outer, reduce, inner)`: the input as `[outer][reduce][inner]`, the
/// reduced dimensions one contiguous run once those of size 1 are dropped.
/// `reduce` is the number of elements each output folds (TFLM's
/// `num_elements_in_axis`).
pub fn geometry(dims: &[usize], axes: &[usize]) -> Result<(usize, usize, usize), String> {
    let kept: Vec<(usize, bool)> = dims
        .iter()
        .enumerate()
        .filter(|(_, &d)| d != 1)
        .map(|(i, &d)| (d, axes.contains(&i)))
        .collect();
    let first = kept.iter().position(|&(_, r)| r);
    let last = kept.iter().rposition(|&(_, r)| r);
    let (Some(first), Some(last)) = (first, last) else {
        // Only dimensions of size 1 reduced: a requantization.
        return Ok((dims.iter().product(), 1, 1));
    };
    if kept[first..=last].iter().any(|&(_, r)| !r) {
        return Err(format!(
            "reducing axes {axes:?} of shape {dims:?}: only a contiguous run of dimensions \
             (after dropping those of size 1) is supported"
        ));
    }
    let product = |s: &[(usize, bool)]| s.iter().map(|&(d, _)| d).product::<usize>();
    Ok((
        product(&kept[..first]),
        product(&kept[first..=last]),
        product(&kept[last + 1..]),
    ))
}

/// The float reference (TFLite's float kernels, ONNX's definitions): `x`
/// of shape `dims` reduced over `axes`, in the output's row-major order.
/// Empty for a reduction over no elements.
pub fn eval(func: ReduceFn, x: &[f32], dims: &[usize], axes: &[usize]) -> Vec<f32> {
    let out_len: usize = output_dims(dims, axes, true).iter().product();
    let count: usize = axes.iter().map(|&a| dims[a]).product();
    if count == 0 || x.len() != dims.iter().product::<usize>() {
        return Vec::new();
    }
    let init = match func {
        ReduceFn::Mean | ReduceFn::Sum => 0.0f64,
        ReduceFn::Max => f64::NEG_INFINITY,
    };
    let mut acc = vec![init; out_len];
    // Output strides over the input's dimensions (0 along reduced axes).
    let mut strides = vec![0usize; dims.len()];
    let mut s = 1;
    for i in (0..dims.len()).rev() {
        if !axes.contains(&i) {
            strides[i] = s;
            s *= dims[i];
        }
    }
    let mut index = vec![0usize; dims.len()];
    for &v in x {
        let o: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        let v = v as f64;
        acc[o] = match func {
            ReduceFn::Mean | ReduceFn::Sum => acc[o] + v,
            ReduceFn::Max => acc[o].max(v),
        };
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            if index[d] < dims[d] {
                break;
            }
            index[d] = 0;
        }
    }
    acc.iter()
        .map(|&a| match func {
            ReduceFn::Mean => (a / count as f64) as f32,
            ReduceFn::Sum | ReduceFn::Max => a as f32,
        })
        .collect()
}

/// The output quantization post-training quantization must give the op, or
/// `None` where the calibrated range decides: REDUCE_MAX keeps its input's
/// (TFLM requires it).
pub fn output_quantization(func: ReduceFn, input: &Quantization) -> Option<Quantization> {
    match func {
        ReduceFn::Max => Some(input.clone()),
        ReduceFn::Mean | ReduceFn::Sum => None,
    }
}

/// TFLM's int8 arithmetic for the reduction of `count` elements from
/// `input`'s quantization to `output`'s. `Err` says why TFLM's kernel
/// cannot be matched (for an "unsupported" error naming the op).
pub fn kind(
    func: ReduceFn,
    input: Quant,
    output: Quant,
    count: usize,
) -> Result<ReduceKind, String> {
    // REDUCE_MAX: TFLM compares the scales as floats.
    let same = input.scale == output.scale && input.zero_point == output.zero_point;
    if count == 0 || count > i32::MAX as usize {
        return Err(format!("a reduction over {count} elements"));
    }
    let requantized = |mean: bool| -> Result<ReduceKind, String> {
        // PrepareMeanOrSumHelper: QuantizeMultiplier of the f64 quotient.
        let real = input.scale as f64 / output.scale as f64;
        let (mut multiplier, mut shift) = quantize_multiplier(real);
        if mean {
            // QuantizedMeanOrSum folds 1 / count into the multiplier.
            let n = count as i64;
            let s = (63 - (n as u64).leading_zeros() as i32)
                .min(32)
                .min(31 + shift);
            if s < 0 {
                return Err(format!(
                    "rescale {real:e} needs shift {shift}, outside -31..=30"
                ));
            }
            multiplier = (((multiplier as i64) << s) / n) as i32;
            shift -= s;
        }
        if !shift_in_range(shift) {
            return Err(format!(
                "rescale {real:e} over {count} elements needs shift {shift}, outside -31..=30"
            ));
        }
        Ok(ReduceKind::Requantize {
            multiplier,
            shift,
            input_offset: (input.zero_point as i64 * count as i64) as i32,
            output_zero_point: output.zero_point,
        })
    };
    match func {
        ReduceFn::Mean => requantized(true),
        ReduceFn::Sum => requantized(false),
        ReduceFn::Max if same => Ok(ReduceKind::Max),
        ReduceFn::Max => Err(format!(
            "int8 REDUCE_MAX needs the input's quantization on its output (TFLM refuses \
             others): input scale {} zero point {}, output scale {} zero point {}",
            input.scale, input.zero_point, output.scale, output.zero_point
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(scale: f32, zero_point: i32) -> Quant {
        Quant { scale, zero_point }
    }

    #[test]
    fn axes_resolve_as_tflite_does() {
        assert_eq!(resolve_axes(&[2, 1, -3], 4).unwrap(), vec![1, 2]);
        assert_eq!(resolve_axes(&[-1], 4).unwrap(), vec![3]);
        assert!(resolve_axes(&[4], 4).is_err());
        assert!(resolve_axes(&[-5], 4).is_err());
    }

    #[test]
    fn geometry_of_common_reductions() {
        let nhwc = [1, 4, 5, 8];
        assert_eq!(geometry(&nhwc, &[1, 2]).unwrap(), (1, 20, 8));
        assert_eq!(geometry(&nhwc, &[3]).unwrap(), (20, 8, 1));
        assert_eq!(geometry(&nhwc, &[1]).unwrap(), (1, 4, 40));
        assert_eq!(geometry(&nhwc, &[2]).unwrap(), (4, 5, 8));
        assert_eq!(geometry(&nhwc, &[0, 1, 2, 3]).unwrap(), (1, 160, 1));
        // A size-1 dimension between reduced ones does not break the run.
        assert_eq!(geometry(&[1, 4, 1, 8], &[1, 3]).unwrap(), (1, 32, 1));
        assert_eq!(geometry(&nhwc, &[0]).unwrap(), (160, 1, 1));
        assert!(geometry(&nhwc, &[1, 3]).is_err());
        assert_eq!(output_dims(&nhwc, &[1, 2], true), vec![1, 1, 1, 8]);
        assert_eq!(output_dims(&nhwc, &[1, 2], false), vec![1, 8]);
    }

    #[test]
    fn float_reference() {
        // [2, 3]: rows 1 2 3 / 4 5 6.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(eval(ReduceFn::Sum, &x, &[2, 3], &[0]), vec![5.0, 7.0, 9.0]);
        assert_eq!(eval(ReduceFn::Mean, &x, &[2, 3], &[1]), vec![2.0, 5.0]);
        assert_eq!(eval(ReduceFn::Max, &x, &[2, 3], &[0, 1]), vec![6.0]);
    }

    #[test]
    fn tflm_multipliers() {
        // Equal quantization: still the requantized sum (the pinned TFLM).
        assert_eq!(
            kind(ReduceFn::Mean, q(0.1, 3), q(0.1, 3), 16).unwrap(),
            ReduceKind::Requantize {
                multiplier: 1 << 30,
                shift: -3,
                input_offset: 48,
                output_zero_point: 3,
            }
        );
        // A rescale of 1 over 16 elements: 2^30 << 4 / 16 = 2^30, shift 1 - 4.
        assert_eq!(
            kind(ReduceFn::Mean, q(0.1, 3), q(0.1, 4), 16).unwrap(),
            ReduceKind::Requantize {
                multiplier: 1 << 30,
                shift: -3,
                input_offset: 48,
                output_zero_point: 4,
            }
        );
        // Over 9: (2^30 << 3) / 9, shift 1 - 3.
        let ReduceKind::Requantize {
            multiplier, shift, ..
        } = kind(ReduceFn::Mean, q(0.2, 0), q(0.2, 1), 9).unwrap()
        else {
            panic!()
        };
        assert_eq!((multiplier, shift), ((((1i64 << 30) << 3) / 9) as i32, -2));
        assert!(kind(ReduceFn::Max, q(0.1, 0), q(0.2, 0), 4).is_err());
        assert_eq!(
            kind(ReduceFn::Max, q(0.1, 0), q(0.1, 0), 4).unwrap(),
            ReduceKind::Max
        );
    }
}
