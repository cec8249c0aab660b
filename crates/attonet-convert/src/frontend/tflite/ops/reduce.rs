//! Pooling and reductions: AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SUM,
//! REDUCE_MAX ([`crate::ops::reduce`]), ARG_MAX, ARG_MIN.

use super::super::schema::{self, op, options_type as ty};
use super::super::{activation, options, padding, positive, required_options, Context, OpCtx};
use super::Reading;
use crate::error::Result;
use crate::ir::{ArgFn, DType, OpKind, ReduceFn, Tensor, TensorId};

pub(super) fn pool_2d(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::pool2d as f;
    let cx = r.cx;
    let o = required_options(cx, r.t, ty::POOL_2D)?;
    let padding = padding(cx, &o, f::PADDING)?;
    let stride_h = positive(cx, &o, f::STRIDE_H, 0, "stride_h")?;
    let stride_w = positive(cx, &o, f::STRIDE_W, 0, "stride_w")?;
    let filter_h = positive(cx, &o, f::FILTER_HEIGHT, 0, "filter_height")?;
    let filter_w = positive(cx, &o, f::FILTER_WIDTH, 0, "filter_width")?;
    let activation = activation(cx, &o, f::ACTIVATION)?;
    Ok(if r.code == op::AVERAGE_POOL_2D {
        OpKind::AveragePool2d {
            padding,
            stride_h,
            stride_w,
            filter_h,
            filter_w,
            activation,
        }
    } else {
        OpKind::MaxPool2d {
            padding,
            stride_h,
            stride_w,
            filter_h,
            filter_w,
            activation,
        }
    })
}

/// MEAN, SUM, REDUCE_MAX (one options layout).
pub(super) fn reducer(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let keep_dims = match options(r.cx, r.t, ty::REDUCER)? {
        Some(o) => o
            .scalar(schema::reducer::KEEP_DIMS, false)
            .context(|| r.cx.label())?,
        None => false,
    };
    let func = match r.code {
        op::MEAN => ReduceFn::Mean,
        op::SUM => ReduceFn::Sum,
        _ => ReduceFn::Max,
    };
    Ok(OpKind::Reduce {
        func,
        axes: reduce_axes(r.cx, &r.inputs, r.tensors)?,
        keep_dims,
    })
}

/// ARG_MAX and ARG_MIN.
pub(super) fn arg(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let (ty_code, func) = if r.code == op::ARG_MAX {
        (ty::ARG_MAX, ArgFn::Max)
    } else {
        (ty::ARG_MIN, ArgFn::Min)
    };
    // ArgMaxOptions / ArgMinOptions { output_type: TensorType }: the output
    // tensor's type says the same; the lowering checks it.
    options(r.cx, r.t, ty_code)?;
    let axes = reduce_axes(r.cx, &r.inputs, r.tensors)?;
    let [axis] = axes[..] else {
        return Err(r.cx.invalid(format!(
            "the axis tensor gives {} axes; exactly one is required",
            axes.len()
        )));
    };
    Ok(OpKind::Arg { func, axis })
}

/// A reduction's axes: its constant int32 input 1, resolved against input
/// 0's rank as TFLite's `ResolveAxis` does.
fn reduce_axes(cx: &OpCtx, inputs: &[Option<TensorId>], tensors: &[Tensor]) -> Result<Vec<usize>> {
    let tensor = |k: usize| {
        inputs
            .get(k)
            .copied()
            .flatten()
            .and_then(|id| tensors.get(id))
    };
    let (Some(x), Some(axis)) = (tensor(0), tensor(1)) else {
        return Err(cx.invalid("needs an input and an axis tensor"));
    };
    let Some(data) = axis.data.as_deref() else {
        return Err(cx.unsupported(format!(
            "axis tensor '{}' is computed at run time; only a constant axis is supported",
            axis.name
        )));
    };
    if axis.dtype != DType::I32 || data.len() != axis.elements() * 4 {
        return Err(cx.invalid(format!(
            "axis tensor '{}' must be int32 ({} with {} bytes for {} elements)",
            axis.name,
            axis.dtype,
            data.len(),
            axis.elements()
        )));
    }
    let raw: Vec<i64> = data
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
        .collect();
    crate::ops::reduce::resolve_axes(&raw, x.shape.len()).map_err(|m| cx.invalid(m))
}
