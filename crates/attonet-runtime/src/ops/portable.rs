//! The portable kernels, whatever the target: the reference that every
//! architecture-specific fast path (`crate::arch`) must match bit for bit.
//!
//! The public kernels in [`crate::ops`] pick a fast path by `cfg` where the
//! target has one and fall back to these loops otherwise; this module lets a
//! test (the QEMU firmware in `tests/qemu-kernels` and
//! `tests/qemu-kernels-riscv`) run both on the same arguments. Same
//! signatures, checks and results as the dispatching kernels.
#![doc(hidden)]

use super::add::{add_core, add_in_place_core, check_add_params, AddParams};
use super::conv::{check_conv_args, conv_core};
use super::depthwise::{check_depthwise_args, depthwise_core, DepthwiseParams};
use super::pointwise::{check_pointwise_args, pointwise_core};
use super::{ConvKernel, ConvParams, ConvWeights, Shape};
use crate::error::check_len;

/// Whether this build's kernels dispatch to the Cortex-M DSP fast paths
/// (`false`: the public kernels are these portable ones).
pub const DSP: bool = cfg!(attonet_dsp);
/// Whether this build has the Helium (MVE) kernels (`crate::arch`).
pub const MVE: bool = cfg!(attonet_mve);

/// Whether this build's kernels dispatch to the RISC-V fast paths (rv32
/// with the M extension).
pub const RISCV: bool = cfg!(attonet_riscv);

/// Portable [`conv2d_s8`](super::conv::conv2d_s8) (also what
/// [`grouped_conv3x3_s8`](super::grouped_conv3x3::grouped_conv3x3_s8)
/// computes).
pub fn conv2d_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_conv_args(p, in_shape, input, weights, out_shape, output)?;
    conv_core(p, in_shape, input, weights, out_shape, output);
    Ok(())
}

/// Portable [`pointwise_conv_s8`](super::pointwise::pointwise_conv_s8).
pub fn pointwise_conv_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_pointwise_args(p, in_shape, input, weights, out_shape, output)?;
    pointwise_core(p, in_shape, input, weights, out_shape, output);
    Ok(())
}

/// Portable [`convolve_s8`](super::convolve_s8): the kernel
/// [`ConvKernel::select`] picks, portable loops.
pub fn convolve_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    match ConvKernel::select(p) {
        ConvKernel::Pointwise => pointwise_conv_s8(p, in_shape, input, weights, out_shape, output),
        ConvKernel::GroupedConv3x3 | ConvKernel::General => {
            conv2d_s8(p, in_shape, input, weights, out_shape, output)
        }
    }
}

/// Portable [`depthwise_conv_s8`](super::depthwise::depthwise_conv_s8).
pub fn depthwise_conv_s8(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_depthwise_args(p, in_shape, input, weights, out_shape, output)?;
    depthwise_core(p, in_shape, input, weights, out_shape, output);
    Ok(())
}

/// The fast kernel a convolution with these parameters dispatches to on this
/// build (`None`: the portable loops run).
pub fn conv_fast_path(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> Option<&'static str> {
    #[cfg(attonet_mve)]
    if crate::arch::helium::conv_covers(p, in_shape, out_shape) {
        return Some("mve-columns");
    }
    #[cfg(attonet_mve)]
    if crate::dsp_select::helium_wide_covers(p, in_shape, out_shape) {
        return Some("mve-columns-wide");
    }
    #[cfg(attonet_dsp)]
    {
        crate::arch::cortex_m_dsp::conv_fast_path(p, in_shape, out_shape)
    }
    #[cfg(attonet_riscv)]
    {
        crate::arch::riscv::conv_fast_path(p, in_shape, out_shape)
    }
    #[cfg(not(any(attonet_dsp, attonet_riscv)))]
    {
        let _ = (p, in_shape, out_shape);
        None
    }
}

/// The fast kernel a depthwise convolution with these parameters dispatches
/// to on this build (`None`: the portable loops run).
pub fn depthwise_fast_path(p: &DepthwiseParams, out_shape: Shape) -> Option<&'static str> {
    #[cfg(attonet_dsp)]
    {
        crate::arch::cortex_m_dsp::depthwise_fast_path(p, out_shape)
    }
    #[cfg(attonet_riscv)]
    {
        crate::arch::riscv::depthwise_fast_path(p, out_shape)
    }
    #[cfg(not(any(attonet_dsp, attonet_riscv)))]
    {
        let _ = (p, out_shape);
        None
    }
}

/// Portable [`add_s8`](super::add::add_s8).
pub fn add_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) -> crate::Result {
    check_add_params(p)?;
    check_len("input2", input2, input1.len())?;
    check_len("output", output, input1.len())?;
    add_core(p, input1, input2, output);
    Ok(())
}

/// Portable [`add_s8_in_place`](super::add::add_s8_in_place).
pub fn add_s8_in_place(p: &AddParams, acc: &mut [i8], other: &[i8]) -> crate::Result {
    check_add_params(p)?;
    check_len("other", other, acc.len())?;
    add_in_place_core(p, acc, other);
    Ok(())
}
