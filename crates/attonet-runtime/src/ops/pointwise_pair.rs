//! Back-to-back 1x1 convolutions run as one step: the intermediate exists
//! only one pixel at a time in a scratch line of `mid_c` bytes.

use super::conv::{check_channel_tables, check_clamp, check_len_u64, dot_s8, finish, shape_len};
use super::{ConvQuant, ConvWeights, Shape};
use crate::Error;

/// Runs `second(first(input))` where both are 1x1, stride 1, one group.
/// `first` maps `in_shape.c` to `mid_c` channels, `second` maps `mid_c` to
/// `out_shape.c`. `scratch` must hold at least `mid_c` bytes. The result is
/// bit-identical to running the two convolutions one after the other.
///
/// * Layout: NHWC `input` (`in_shape`) and `output` (`out_shape`, same height
///   and width as `in_shape`); `first_weights.filter` is `[mid_c][in_c]`,
///   `second_weights.filter` is `[out_c][mid_c]`; bias, multiplier and shift
///   tables have `mid_c` entries (first) and `out_c` entries (second).
/// * Scratch: `scratch.len() >= mid_c`; only its first `mid_c` bytes are
///   used (they hold the last pixel's intermediate on return).
/// * Constraints: shifts in `-31..=30`, both clamps ordered. Each conv's
///   `ConvQuant` carries its own input and output zero points; the first's
///   output zero point is normally the second's input zero point, but they are
///   taken as given.
#[allow(clippy::too_many_arguments)]
pub fn pointwise_pair_s8(
    first: &ConvQuant,
    first_weights: &ConvWeights<'_>,
    second: &ConvQuant,
    second_weights: &ConvWeights<'_>,
    in_shape: Shape,
    input: &[i8],
    mid_c: u16,
    scratch: &mut [i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_clamp(first.clamp)?;
    check_clamp(second.clamp)?;
    if in_shape.h != out_shape.h || in_shape.w != out_shape.w {
        return Err(Error::Shape(
            "pointwise pair needs equal input and output height and width",
        ));
    }
    check_len_u64("input", input, shape_len(in_shape))?;
    check_len_u64("output", output, shape_len(out_shape))?;
    let (ic, mc, oc_n) = (in_shape.c as usize, mid_c as usize, out_shape.c as usize);
    if scratch.len() < mc {
        return Err(Error::BufferLength {
            what: "scratch",
            expected: mc,
            actual: scratch.len(),
        });
    }
    check_len_u64("first filter", first_weights.filter, mc as u64 * ic as u64)?;
    check_len_u64(
        "second filter",
        second_weights.filter,
        oc_n as u64 * mc as u64,
    )?;
    check_channel_tables(first_weights, mc)?;
    check_channel_tables(second_weights, oc_n)?;

    let pixels = in_shape.h as usize * in_shape.w as usize;
    if pixels == 0 || oc_n == 0 {
        return Ok(());
    }
    let mid = &mut scratch[..mc];
    let (b1, m1, s1) = (
        first_weights.bias,
        first_weights.multiplier,
        first_weights.shift,
    );
    let (b2, m2, s2) = (
        second_weights.bias,
        second_weights.multiplier,
        second_weights.shift,
    );

    for px in 0..pixels {
        let xs = &input[px * ic..(px + 1) * ic];
        if ic == 0 {
            for (c, o) in mid.iter_mut().enumerate() {
                *o = finish(0, 0, b1[c], m1[c], s1[c], first);
            }
        } else {
            for (c, (o, w)) in mid
                .iter_mut()
                .zip(first_weights.filter.chunks_exact(ic))
                .enumerate()
            {
                let (sxw, sw) = dot_s8(w, xs);
                *o = finish(sxw, sw, b1[c], m1[c], s1[c], first);
            }
        }
        let out_px = &mut output[px * oc_n..(px + 1) * oc_n];
        if mc == 0 {
            for (c, o) in out_px.iter_mut().enumerate() {
                *o = finish(0, 0, b2[c], m2[c], s2[c], second);
            }
        } else {
            for (c, (o, w)) in out_px
                .iter_mut()
                .zip(second_weights.filter.chunks_exact(mc))
                .enumerate()
            {
                let (sxw, sw) = dot_s8(w, mid);
                *o = finish(sxw, sw, b2[c], m2[c], s2[c], second);
            }
        }
    }
    Ok(())
}
