//! Pointwise (1x1) convolution: AttoNet's compression and expansion layers and
//! strided 1x1 shortcuts.

use super::conv::{check_channel_tables, check_conv_shapes, dot_s8, finish};
use super::{ConvParams, ConvWeights, Shape};
use crate::plan::kernels::KernelSet;
use crate::Error;

/// 1x1 convolution, one group, no padding, any stride. Weights `[out_c][in_c]`.
///
/// Computes exactly what [`conv2d_s8`](super::conv::conv2d_s8) computes for
/// these parameters: output pixel `(oy, ox)` reads input pixel `(oy *
/// stride_h, ox * stride_w)`, and
/// `out[oc] = clamp(requantize(bias[oc] + Σ_ic w[oc][ic] * (x[ic] - input_zp),
/// multiplier[oc], shift[oc]) + output_zp)`.
///
/// * Layout: NHWC `input` (`in_shape`) and `output` (`out_shape`); filter
///   `out_c * in_c` bytes, row-major by output channel; one bias, multiplier
///   and shift per output channel.
/// * Scratch: none.
/// * Constraints: `kh == kw == 1`, `groups == 1`, zero padding (else
///   `Error::Parameter`), strides and dilations at least 1, shifts in
///   `-31..=30`, `clamp.min <= clamp.max`. Output pixels that map outside the
///   input (only possible with an oversized `out_shape`) get `bias` alone.
pub fn pointwise_conv_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    pointwise_with_sums::<{ crate::plan::kernels::ALL }>(
        p,
        in_shape,
        input,
        weights,
        &[],
        &[],
        false,
        out_shape,
        output,
    )
}

/// [`pointwise_conv_s8`] with each output channel's weight sum (`Σ w`) and
/// the converter's prepared table ([`crate::prepared`]) given (or empty), as
/// the plan executor calls it.
// `sums` is read by the RISC-V and Helium kernels, `prepared` by the DSP
// and Helium ones.
#[cfg_attr(not(all(attonet_riscv, attonet_dsp)), allow(unused_variables))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn pointwise_with_sums<const K: KernelSet>(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    prepared: &[i32],
    tables_checked: bool,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    if tables_checked {
        check_pointwise_shapes(p, in_shape, input, weights, out_shape, output)?;
    } else {
        check_pointwise_args(p, in_shape, input, weights, out_shape, output)?;
    }
    // Helium first; the DSP kernels take what it declines.
    #[cfg(attonet_mve)]
    if K & crate::plan::kernels::CONV != 0
        && crate::arch::helium::conv_s8(
            p,
            in_shape,
            input,
            weights,
            sums,
            prepared,
            out_shape,
            output,
            K & crate::plan::kernels::CONV_WIDE != 0,
        )
    {
        return Ok(());
    }
    #[cfg(attonet_dsp)]
    {
        use crate::arch::cortex_m_dsp as dsp;
        if dsp::conv_s8::<K>(p, in_shape, input, weights, prepared, out_shape, output) {
            return Ok(());
        }
        if K & crate::plan::kernels::CONV_FALLBACK == 0 {
            return Err(crate::ops::conv::fallback_not_linked());
        }
    }
    #[cfg(attonet_riscv)]
    if crate::arch::riscv::conv_s8(
        p,
        in_shape,
        input,
        weights,
        sums,
        out_shape,
        output,
        K & crate::plan::kernels::CONV_NARROW_RISCV != 0,
    ) {
        return Ok(());
    }
    pointwise_core(p, in_shape, input, weights, out_shape, output);
    Ok(())
}

/// Whether the RISC-V narrow pointwise kernel takes a convolution (the
/// runtime's choice on rv32 with the M extension, and the converter's
/// test for [`crate::plan::kernels::CONV_NARROW_RISCV`]): a 1x1 window, one
/// group, no padding, 1 to 8 input channels, at least four output
/// channels, an `i8` input zero point and a non-empty output.
pub fn riscv_narrow_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    w.kh == 1
        && w.kw == 1
        && w.pad_top == 0
        && w.pad_left == 0
        && p.groups == 1
        && in_shape.c >= 1
        && in_shape.c <= 8
        && out_shape.c >= 4
        && out_shape.h > 0
        && out_shape.w > 0
        && p.quant.input_zero_point >= -128
        && p.quant.input_zero_point <= 127
}

/// The checks of [`pointwise_conv_s8`].
pub(crate) fn check_pointwise_args(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &[i8],
) -> crate::Result {
    check_pointwise_shapes(p, in_shape, input, weights, out_shape, output)?;
    check_channel_tables(weights, out_shape.c as usize)
}

/// [`check_pointwise_args`] but the per-channel tables (see
/// [`check_conv_shapes`]).
pub(crate) fn check_pointwise_shapes(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &[i8],
) -> crate::Result {
    let w = &p.window;
    if w.kh != 1 || w.kw != 1 {
        return Err(Error::Parameter("pointwise kernel needs a 1x1 window"));
    }
    if p.groups != 1 {
        return Err(Error::Parameter("pointwise kernel needs one group"));
    }
    if w.pad_top != 0 || w.pad_left != 0 {
        return Err(Error::Parameter("pointwise kernel takes no padding"));
    }
    check_conv_shapes(p, in_shape, input, weights, out_shape, output)
}

/// The portable pointwise loops, for arguments [`check_pointwise_args`] accepted.
pub(crate) fn pointwise_core(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let w = &p.window;

    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    if ow == 0 || oc_n == 0 {
        return;
    }
    let (sh, sw) = (w.stride_h as usize, w.stride_w as usize);
    let q = &p.quant;
    let filter = weights.filter;
    let (bias, mult, shift) = (weights.bias, weights.multiplier, weights.shift);

    for (oy, out_row) in output.chunks_exact_mut(ow * oc_n).enumerate() {
        let iy = oy * sh;
        for (ox, out_px) in out_row.chunks_exact_mut(oc_n).enumerate() {
            let ix = ox * sw;
            if iy < ih && ix < iw && ic > 0 {
                let base = (iy * iw + ix) * ic;
                let xs = &input[base..base + ic];
                for (oc, (o, w_oc)) in out_px.iter_mut().zip(filter.chunks_exact(ic)).enumerate() {
                    let (sxw, swt) = dot_s8(w_oc, xs);
                    *o = finish(sxw, swt, bias[oc], mult[oc], shift[oc], q);
                }
            } else {
                for (oc, o) in out_px.iter_mut().enumerate() {
                    *o = finish(0, 0, bias[oc], mult[oc], shift[oc], q);
                }
            }
        }
    }
}
