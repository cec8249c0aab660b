//! FULLY_CONNECTED with per-tensor quantization, as TensorFlow Lite Micro computes it.

use super::conv::{check_clamp, check_len_u64, dot_s8};
use crate::error::check_len;
use crate::quant::{check_shift, requantize, Clamp};
use crate::Error;

/// Parameters of a fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
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

/// Parameters of a 16x8 fully connected layer (int16 input and output, int8
/// weights, int64 bias; every zero point 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FullyConnectedS16Params {
    /// Input features per batch row.
    pub in_features: u16,
    /// Output features per batch row.
    pub out_features: u16,
    /// Fused activation.
    pub clamp: super::int16::Clamp16,
}

/// `output[b][o] = clamp(requantize_s64(bias[o] + Σ_i w[o][i] x[b][i]))`, in
/// 64 bits.
///
/// TFLite Micro's 16x8 FULLY_CONNECTED (`reference_integer_ops::FullyConnected`
/// and `FullyConnectedPerChannel` with `AccumScalar = int64_t`): weights
/// zero point 0, no input or output offset, the sum in `i64`, the bias an
/// `i64`, [`super::int16::requantize_s64`], then the clamp.
///
/// * Layout: `input` is `[batches][in_features]` int16 (two bytes each),
///   `weights.filter` `[out_features][in_features]` int8, `output`
///   `[batches][out_features]` int16; `weights.bias` holds each feature's
///   `i64` as two words ([`super::int16::bias64`]); `multiplier` and `shift`
///   one entry (per tensor) or one per output feature.
/// * Scratch: none.
/// * Constraints: `in_features >= 1`; shifts in `-31..=7`, multipliers
///   non-negative; `clamp.min <= clamp.max`.
pub fn fully_connected_s16(
    p: &FullyConnectedS16Params,
    input: &[i8],
    weights: &super::ConvWeights<'_>,
    output: &mut [i8],
) -> crate::Result {
    use super::int16::{bias_at, check_tables, dot_s16x8, elements, requantize_s64, store};
    p.clamp.check()?;
    let n_in = p.in_features as usize;
    let n_out = p.out_features as usize;
    if n_in == 0 {
        return Err(Error::Parameter(
            "fully connected needs at least one input feature",
        ));
    }
    let inputs = elements("int16 input", input)?;
    if inputs % n_in != 0 {
        return Err(Error::Shape(
            "input length is not a multiple of in_features",
        ));
    }
    let batches = inputs / n_in;
    check_len_u64("output", output, 2 * batches as u64 * n_out as u64)?;
    check_len_u64("filter", weights.filter, n_out as u64 * n_in as u64)?;
    let per_channel = check_tables(weights, n_out, true)?;
    for b in 0..batches {
        for o in 0..n_out {
            let ws = &weights.filter[o * n_in..][..n_in];
            // In range: the input holds `batches * n_in` values.
            let xs = input.get(2 * b * n_in..2 * (b + 1) * n_in).unwrap_or(&[]);
            let acc = dot_s16x8(ws, xs).wrapping_add(bias_at(weights.bias, o));
            let t = if per_channel { o } else { 0 };
            let v = requantize_s64(acc, weights.multiplier[t], weights.shift[t]);
            store(output, b * n_out + o, p.clamp.apply(v));
        }
    }
    Ok(())
}

#[cfg(test)]
mod s16_tests {
    use super::*;
    use crate::ops::int16::{load, store, Clamp16};
    use crate::ops::ConvWeights;

    /// A 2-in, 1-out layer with weights 127: the sum of two int16 extremes
    /// times 127 leaves 32 bits' reach of any int8 kernel, and the output
    /// saturates at 32767 / -32768 (multiplier 0.5, shift 0).
    #[test]
    fn saturates_at_the_int16_range() {
        let p = FullyConnectedS16Params {
            in_features: 2,
            out_features: 1,
            clamp: Clamp16::NONE,
        };
        let mut input = [0i8; 4];
        let w = ConvWeights {
            filter: &[127, 127],
            bias: &[0, 0],
            multiplier: &[1 << 30],
            shift: &[0],
        };
        let mut out = [0i8; 2];
        for (x, want) in [(i16::MAX, i16::MAX), (i16::MIN, i16::MIN), (100, 12700)] {
            store(&mut input, 0, x);
            store(&mut input, 1, x);
            fully_connected_s16(&p, &input, &w, &mut out).unwrap();
            assert_eq!(load(&out, 0), want);
        }
        // A negative 64-bit bias (-2^20, two words) drives it to the bottom.
        let w = ConvWeights {
            bias: &[-(1 << 20), -1],
            ..w
        };
        fully_connected_s16(&p, &input, &w, &mut out).unwrap();
        assert_eq!(load(&out, 0), i16::MIN);
    }

    #[test]
    fn refuses_bad_tables() {
        let p = FullyConnectedS16Params {
            in_features: 1,
            out_features: 1,
            clamp: Clamp16::NONE,
        };
        let w = ConvWeights {
            filter: &[1],
            bias: &[0],
            multiplier: &[1 << 30],
            shift: &[0],
        };
        let mut out = [0i8; 2];
        assert!(fully_connected_s16(&p, &[0, 0], &w, &mut out).is_err());
        let w = ConvWeights {
            bias: &[0, 0],
            shift: &[8],
            ..w
        };
        assert!(fully_connected_s16(&p, &[0, 0], &w, &mut out).is_err());
        assert!(fully_connected_s16(&p, &[0], &w, &mut out).is_err());
    }
}
