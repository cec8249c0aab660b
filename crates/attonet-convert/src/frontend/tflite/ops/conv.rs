//! Convolutions and matrix products: CONV_2D, DEPTHWISE_CONV_2D,
//! TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL.

use super::super::schema::{self, options_type as ty};
use super::super::{activation, options, padding, positive, required_options, Context, OpCtx};
use super::Reading;
use crate::error::Result;
use crate::ir::{Activation, OpKind, Tensor, TensorId};

pub(super) fn conv_2d(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::conv2d as f;
    let cx = r.cx;
    let o = required_options(cx, r.t, ty::CONV_2D)?;
    Ok(OpKind::Conv2d {
        padding: padding(cx, &o, f::PADDING)?,
        stride_h: positive(cx, &o, f::STRIDE_H, 0, "stride_h")?,
        stride_w: positive(cx, &o, f::STRIDE_W, 0, "stride_w")?,
        dilation_h: positive(cx, &o, f::DILATION_H, 1, "dilation_h_factor")?,
        dilation_w: positive(cx, &o, f::DILATION_W, 1, "dilation_w_factor")?,
        activation: activation(cx, &o, f::ACTIVATION)?,
    })
}

pub(super) fn depthwise_conv_2d(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::depthwise_conv2d as f;
    let cx = r.cx;
    let o = required_options(cx, r.t, ty::DEPTHWISE_CONV_2D)?;
    let stored: i32 = o.scalar(f::DEPTH_MULTIPLIER, 0).context(|| cx.label())?;
    Ok(OpKind::DepthwiseConv2d {
        padding: padding(cx, &o, f::PADDING)?,
        stride_h: positive(cx, &o, f::STRIDE_H, 0, "stride_h")?,
        stride_w: positive(cx, &o, f::STRIDE_W, 0, "stride_w")?,
        dilation_h: positive(cx, &o, f::DILATION_H, 1, "dilation_h_factor")?,
        dilation_w: positive(cx, &o, f::DILATION_W, 1, "dilation_w_factor")?,
        depth_multiplier: depth_multiplier(cx, stored, &r.inputs, r.tensors)?,
        activation: activation(cx, &o, f::ACTIVATION)?,
    })
}

pub(super) fn transpose_conv(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::transpose_conv as f;
    let cx = r.cx;
    let o = required_options(cx, r.t, ty::TRANSPOSE_CONV)?;
    Ok(OpKind::TransposeConv {
        padding: padding(cx, &o, f::PADDING)?,
        stride_h: positive(cx, &o, f::STRIDE_H, 0, "stride_h")?,
        stride_w: positive(cx, &o, f::STRIDE_W, 0, "stride_w")?,
        activation: activation(cx, &o, f::ACTIVATION)?,
    })
}

pub(super) fn fully_connected(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::fully_connected as f;
    let cx = r.cx;
    Ok(match options(cx, r.t, ty::FULLY_CONNECTED)? {
        None => OpKind::FullyConnected {
            activation: Activation::None,
            keep_num_dims: false,
        },
        Some(o) => {
            let format: i8 = o.scalar(f::WEIGHTS_FORMAT, 0).context(|| cx.label())?;
            match format {
                0 => {}
                1 => return Err(cx.unsupported("weights_format SHUFFLED4x16INT8")),
                other => return Err(cx.unsupported(format!("weights_format {other}"))),
            }
            OpKind::FullyConnected {
                activation: activation(cx, &o, f::ACTIVATION)?,
                keep_num_dims: o.scalar(f::KEEP_NUM_DIMS, false).context(|| cx.label())?,
            }
        }
    })
}

pub(super) fn batch_matmul(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::batch_matmul as f;
    let cx = r.cx;
    Ok(match options(cx, r.t, ty::BATCH_MATMUL)? {
        Some(o) => OpKind::BatchMatmul {
            adj_x: o.scalar(f::ADJ_X, false).context(|| cx.label())?,
            adj_y: o.scalar(f::ADJ_Y, false).context(|| cx.label())?,
        },
        None => OpKind::BatchMatmul {
            adj_x: false,
            adj_y: false,
        },
    })
}

/// Depthwise channel multiplier: TFLite kernels since TF 2.x derive it as
/// `filter channels / input channels` and ignore the stored (redundant)
/// option, whose schema default is 0. We do the same when both shapes are
/// known, and fall back to the stored value otherwise.
fn depth_multiplier(
    cx: &OpCtx,
    stored: i32,
    inputs: &[Option<TensorId>],
    tensors: &[Tensor],
) -> Result<usize> {
    let shape = |k: usize| {
        inputs
            .get(k)
            .copied()
            .flatten()
            .and_then(|id| tensors.get(id))
            .map(|t| t.shape.as_slice())
    };
    if let (Some(&[_, _, _, in_c]), Some(&[_, _, _, out_c])) = (shape(0), shape(1)) {
        if in_c > 0 && out_c % in_c == 0 && out_c > 0 {
            return Ok(out_c / in_c);
        }
    }
    usize::try_from(stored)
        .ok()
        .filter(|&m| m >= 1)
        .ok_or_else(|| {
            cx.invalid(format!(
                "cannot determine the depth multiplier: the stored value is {stored} and the \
                 input/filter channel counts do not give one"
            ))
        })
}
