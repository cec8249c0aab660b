//! FULLY_CONNECTED with per-tensor quantization, as TensorFlow Lite Micro computes it.

use super::conv::{check_clamp, check_len_u64, dot_s8};
use crate::error::check_len;
use crate::quant::{check_shift, requantize, Clamp};
use crate::Error;

/// Parameters of a fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FullyConnectedParams {
    /// Input features per batch row.
    pub in_features: u16,
    /// Output features per batch row.
    pub out_features: u16,
    /// Zero point of the input.
    pub input_zero_point: i32,
    /// Zero point of the weights (0 for symmetric int8 weights).
    pub filter_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Fused activation.
    pub clamp: Clamp,
}

/// `output[b][o] = requant(bias[o] + Σ_i (w[o][i] - wzp) * (x[b][i] - xzp))`.
/// `weights.multiplier` / `weights.shift` hold one entry (per tensor) or one per
/// output feature (per channel). Batch rows: `input.len() / in_features`.
///
/// TFLite's `reference_integer_ops::FullyConnected` (per-tensor) and
/// `FullyConnectedPerChannel`, exactly: requantization is
/// [`requantize`], then the output zero point and
/// the clamp.
///
/// * Layout: `input` is `[batches][in_features]`, `weights.filter` is
///   `[out_features][in_features]`, `output` is `[batches][out_features]`;
///   `weights.bias` has `out_features` entries; `multiplier` and `shift` have
///   the same length, 1 or `out_features`.
/// * Scratch: none.
/// * Constraints: `in_features >= 1` and `input.len()` a multiple of it;
///   shifts in `-31..=30`; `clamp.min <= clamp.max`.
pub fn fully_connected_s8(
    p: &FullyConnectedParams,
    input: &[i8],
    weights: &super::ConvWeights<'_>,
    output: &mut [i8],
) -> crate::Result {
    check_clamp(p.clamp)?;
    let n_in = p.in_features as usize;
    let n_out = p.out_features as usize;
    if n_in == 0 {
        return Err(Error::Parameter(
            "fully connected needs at least one input feature",
        ));
    }
    if input.len() % n_in != 0 {
        return Err(Error::Shape(
            "input length is not a multiple of in_features",
        ));
    }
    let batches = input.len() / n_in;
    check_len_u64("output", output, batches as u64 * n_out as u64)?;
    check_len_u64("filter", weights.filter, n_out as u64 * n_in as u64)?;
    check_len("bias", weights.bias, n_out)?;
    let per_channel = weights.multiplier.len() != 1 || n_out == 1;
    let tables = if per_channel { n_out } else { 1 };
    check_len("multiplier", weights.multiplier, tables)?;
    check_len("shift", weights.shift, tables)?;
    check_shift(weights.shift)?;
    if n_out == 0 {
        return Ok(());
    }

    let (wzp, xzp, ozp) = (p.filter_zero_point, p.input_zero_point, p.output_zero_point);
    // Σ (w - wzp)(x - xzp) = Σ wx - xzp Σ w - wzp Σ x + n wzp xzp  (mod 2^32).
    let n_zz = (n_in as i32).wrapping_mul(wzp).wrapping_mul(xzp);
    for (xs, out_row) in input.chunks_exact(n_in).zip(output.chunks_exact_mut(n_out)) {
        let sx = xs.iter().fold(0i32, |s, &x| s.wrapping_add(x as i32));
        let row_term = n_zz.wrapping_sub(wzp.wrapping_mul(sx));
        for (o_idx, (o, ws)) in out_row
            .iter_mut()
            .zip(weights.filter.chunks_exact(n_in))
            .enumerate()
        {
            let (sxw, sw) = dot_s8(ws, xs);
            let acc = sxw
                .wrapping_sub(xzp.wrapping_mul(sw))
                .wrapping_add(row_term)
                .wrapping_add(weights.bias[o_idx]);
            let t = if per_channel { o_idx } else { 0 };
            let v = requantize(acc, weights.multiplier[t], weights.shift[t]).wrapping_add(ozp);
            *o = p.clamp.apply(v);
        }
    }
    Ok(())
}
