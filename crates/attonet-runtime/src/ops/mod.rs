//! The int8 kernels, one module per op family.
//!
//! Every kernel follows the numerics contract in [`crate::quant`]: NHWC `i8`
//! activations, TFLite weight layouts, TensorFlow Lite Micro's rounding.
//! Every kernel validates its arguments first (buffer lengths against shapes,
//! parameter ranges) and returns an [`Error`](crate::Error) instead of
//! panicking or touching memory out of bounds; the loops that follow only index
//! within lengths already checked.
//!
//! Zero points are passed as zero points (`q` of real 0), never as TFLite's
//! negated "offsets".

pub mod add;
pub mod batch_matmul;
pub mod binary;
pub mod boundary;
pub mod conv;
pub mod depthwise;
pub mod fully_connected;
pub mod grouped_conv3x3;
pub mod int16;
pub mod l2_normalization;
pub mod lookup;
pub mod lstm;
pub mod movement;
pub mod pointwise;
pub mod pointwise_pair;
pub mod pool;
pub mod portable;
pub mod reduce;
pub mod requantize;
pub mod softmax;
pub mod svdf;
pub mod transpose_conv;

use crate::plan::kernels::KernelSet;
use crate::quant::Clamp;

/// A length computed in `u64` from `u16` extents, saturated to `usize` (on
/// 32-bit targets a product of three extents can pass 2^32; no buffer is
/// that long, so the length checks then refuse it instead of wrapping).
pub(crate) const fn saturating_len(n: u64) -> usize {
    if n > usize::MAX as u64 {
        usize::MAX
    } else {
        n as usize
    }
}

/// Height, width and channels of one NHWC image (batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    /// Rows.
    pub h: u16,
    /// Columns.
    pub w: u16,
    /// Channels (innermost).
    pub c: u16,
}

impl Shape {
    /// A shape from its three extents.
    pub const fn new(h: u16, w: u16, c: u16) -> Shape {
        Shape { h, w, c }
    }

    /// Number of elements (saturated at `usize::MAX` on 32-bit targets,
    /// where three `u16` extents can multiply past 2^32: no buffer is that
    /// long, so every length check refuses it).
    pub const fn len(&self) -> usize {
        saturating_len(self.h as u64 * self.w as u64 * self.c as u64)
    }

    /// Whether the shape has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Spatial geometry of a sliding-window op: kernel size, stride, dilation and
/// the top/left padding. Padding is explicit: the converter resolves TFLite's
/// SAME/VALID into it exactly as TFLite does (`pad = max(0, ((out - 1) *
/// stride + (k - 1) * dilation + 1 - in) / 2)`); taps that fall outside the
/// input are skipped (they contribute nothing to the accumulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Window {
    /// Kernel height.
    pub kh: u8,
    /// Kernel width.
    pub kw: u8,
    /// Vertical stride (at least 1).
    pub stride_h: u8,
    /// Horizontal stride (at least 1).
    pub stride_w: u8,
    /// Vertical dilation (at least 1).
    pub dilation_h: u8,
    /// Horizontal dilation (at least 1).
    pub dilation_w: u8,
    /// Rows of implicit padding above the input.
    pub pad_top: u8,
    /// Columns of implicit padding left of the input.
    pub pad_left: u8,
}

/// Quantization of a convolution-like op's input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvQuant {
    /// Zero point of the input tensor.
    pub input_zero_point: i32,
    /// Zero point of the output tensor.
    pub output_zero_point: i32,
    /// Fused activation as an output clamp.
    pub clamp: Clamp,
}

/// Parameters of a (grouped) convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvParams {
    /// Kernel size, stride, dilation, padding.
    pub window: Window,
    /// Number of groups: `in_c / groups` input channels feed each output
    /// channel; 1 is an ordinary convolution, `in_c` is depthwise.
    pub groups: u16,
    /// Zero points and output clamp.
    pub quant: ConvQuant,
}

/// Per-output-channel tables of a convolution-like op. All borrowed from the
/// weight blob (flash on a microcontroller).
#[derive(Debug, Clone, Copy)]
pub struct ConvWeights<'a> {
    /// Weights in the op's layout (see [`crate::quant`]).
    pub filter: &'a [i8],
    /// One `i32` bias per output channel.
    pub bias: &'a [i32],
    /// One Q31 requantization multiplier per output channel.
    pub multiplier: &'a [i32],
    /// One requantization shift per output channel (`-31..=30`).
    pub shift: &'a [i32],
}

/// Which convolution kernel serves a [`ConvParams`]: the one predicate that
/// both the runtime (to dispatch) and the converter (to report and size
/// scratch) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConvKernel {
    /// [`pointwise::pointwise_conv_s8`]: 1x1, one group, no padding, any stride.
    Pointwise,
    /// [`grouped_conv3x3::grouped_conv3x3_s8`]: 3x3, dilation 1, any groups.
    GroupedConv3x3,
    /// [`conv::conv2d_s8`]: everything else.
    General,
}

impl ConvKernel {
    /// Picks the kernel for a convolution.
    pub const fn select(p: &ConvParams) -> ConvKernel {
        let w = &p.window;
        if w.kh == 1 && w.kw == 1 && p.groups == 1 && w.pad_top == 0 && w.pad_left == 0 {
            ConvKernel::Pointwise
        } else if w.kh == 3 && w.kw == 3 && w.dilation_h == 1 && w.dilation_w == 1 {
            ConvKernel::GroupedConv3x3
        } else {
            ConvKernel::General
        }
    }

    /// The kernel's name, as reports print it.
    pub const fn name(self) -> &'static str {
        match self {
            ConvKernel::Pointwise => "pointwise",
            ConvKernel::GroupedConv3x3 => "grouped_conv3x3",
            ConvKernel::General => "conv2d",
        }
    }
}

/// [`convolve_s8`] with only the kernel families of `K` compiled in (see
/// [`crate::plan::kernels`]).
/// `sums`: each output channel's weight sum (`Σ w`), or empty (the kernels
/// that need it then sum the filter themselves); `prepared`: the converter's
/// table for the target's kernel ([`crate::prepared`]), or empty;
/// `tables_checked`: the caller has checked the per-channel tables
/// (`conv::check_channel_tables`) for this layer, once for many calls.
#[allow(clippy::too_many_arguments)]
pub(crate) fn convolve_linked<const K: KernelSet>(
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
    match ConvKernel::select(p) {
        ConvKernel::Pointwise => pointwise::pointwise_with_sums::<K>(
            p,
            in_shape,
            input,
            weights,
            sums,
            prepared,
            tables_checked,
            out_shape,
            output,
        ),
        ConvKernel::GroupedConv3x3 | ConvKernel::General => {
            if tables_checked {
                conv::check_conv_shapes(p, in_shape, input, weights, out_shape, output)?;
            } else {
                conv::check_conv_args(p, in_shape, input, weights, out_shape, output)?;
            }
            conv::conv_dispatch_linked::<K>(
                p, in_shape, input, weights, sums, prepared, out_shape, output,
            )
        }
    }
}

/// [`convolve_s8`] with the table the converter prepared for this layer
/// ([`crate::plan::ConvTables::prepared`], see [`crate::prepared`]): the
/// same outputs, bit for bit; the Cortex-M DSP kernel reads the epilogue
/// constants from it instead of deriving them on every call. An empty table,
/// or one of another length than the layer's, is ignored.
pub fn convolve_s8_prepared(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    convolve_linked::<{ crate::plan::kernels::ALL }>(
        p,
        in_shape,
        input,
        weights,
        &[],
        prepared,
        false,
        out_shape,
        output,
    )
}

/// [`convolve_s8`] with only the kernels of the set `K` linked, as a
/// model's firmware runs it ([`crate::plan::kernels`]; the converter picks
/// the set): the same outputs for every set that covers the layer. For
/// tests of the ways one kernel family computes under different sets.
pub fn convolve_s8_linked<const K: KernelSet>(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    convolve_linked::<K>(
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

/// Runs a convolution with the kernel [`ConvKernel::select`] picks.
pub fn convolve_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    match ConvKernel::select(p) {
        ConvKernel::Pointwise => {
            pointwise::pointwise_conv_s8(p, in_shape, input, weights, out_shape, output)
        }
        ConvKernel::GroupedConv3x3 => {
            grouped_conv3x3::grouped_conv3x3_s8(p, in_shape, input, weights, out_shape, output)
        }
        ConvKernel::General => conv::conv2d_s8(p, in_shape, input, weights, out_shape, output),
    }
}
