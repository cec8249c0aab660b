//! Grouped 3x3 convolution (stride 1 or 2, any padding, groups 1..=C).

use super::conv::{check_conv_args, conv_dispatch};
use super::{ConvParams, ConvWeights, Shape};
use crate::Error;

/// 3x3 convolution with `groups` groups. Weights `[out_c][3][3][in_c / groups]`.
///
/// Computes exactly what [`conv2d_s8`](super::conv::conv2d_s8) computes for
/// these parameters (TFLite's `ConvPerChannel`): padded taps are skipped,
/// output channel `oc` reads the input channels of group `oc / (out_c /
/// groups)`.
///
/// * Layout: NHWC `input` / `output`; filter `out_c * 9 * (in_c / groups)`
///   bytes (OHWI); one bias, multiplier and shift per output channel.
/// * Scratch: none (stack use as [`conv2d_s8`](super::conv::conv2d_s8)
///   documents, at most about 800 bytes).
/// * Constraints: `kh == kw == 3` and dilation 1 (else `Error::Parameter`);
///   any stride (at least 1) and padding; `groups` at least 1 and dividing
///   `in_c` and `out_c`; shifts in `-31..=30`; `clamp.min <= clamp.max`.
pub fn grouped_conv3x3_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    let w = &p.window;
    if w.kh != 3 || w.kw != 3 {
        return Err(Error::Parameter("grouped_conv3x3 needs a 3x3 window"));
    }
    if w.dilation_h != 1 || w.dilation_w != 1 {
        return Err(Error::Parameter("grouped_conv3x3 needs dilation 1"));
    }
    check_conv_args(p, in_shape, input, weights, out_shape, output)?;
    conv_dispatch(p, in_shape, input, weights, out_shape, output)
}
