//! Tables prepared once, by the converter, for a target's fast kernels.
//!
//! A fused block calls its kernels once per output row, and a kernel that
//! derives its per-channel constants from the plain tables (bias, Q31
//! multiplier, shift, filter) does that again on every call. For the
//! Cortex-M DSP depthwise 3x3 kernel this cost more than the row's
//! multiply-accumulates (KWS: about 6,000 instructions a row, 480,000 an
//! inference), for its convolutions about 40 instructions an output channel
//! a call (250,000). So the converter, when it targets those cores
//! ([`Builder::dsp_tables`](../../attonet_convert/struct.Builder.html)),
//! writes the constants of every fused-block stage to the blob once
//! ([`crate::plan::ConvTables::prepared`]) and the kernel reads them in
//! place; the plain tables stay, for the exact path and for the other
//! targets. A kernel given no prepared table (or one of the wrong length)
//! prepares the same words itself, with the same function, on every call:
//! the two paths cannot differ.
//!
//! # Convolution ([`conv_len`], [`prepare_conv`])
//! Per output channel four words, the fast epilogue's constants (`ChanQ` in
//! the DSP kernels): `bias`, `mult`, `c0`, `e`, or four zeros (`mult == 0`)
//! for a channel the fast epilogue does not cover. The convolution kernel
//! subtracts the input zero point from its columns, so the bias is the
//! plain one.
//!
//! # Convolution on Helium ([`conv_mve_len`], [`prepare_conv_mve`])
//! The Helium convolution multiplies the raw input bytes, so its per-channel
//! words fold the input zero point into the bias; with them in the blob a
//! call reads the table in place instead of deriving it (KWS on the
//! Cortex-M55, one row a call: about 19 instructions an output channel a
//! call). A header of four words: the number of channels the fast epilogue
//! does not cover, then three zeros; then per output channel `bias - zp *
//! Σ w`, `mult`, `c0`, `-e`, with `mult`, `c0`, `-e` zero for a channel the
//! fast epilogue does not cover (its outputs are computed again exactly).
//!
//! # Depthwise 3x3 ([`dw3_len`], [`prepare_dw3`])
//! For `c / 4` groups of four channels (the last `c % 4` take the exact
//! path), all groups' widened weights, then all groups' epilogue constants:
//!
//! * weights, 18 words a group: per tap `t` (row-major 3x3) the pair
//!   `[SXTB16 w, SXTB16 w ROR 8]` of the word `w` holding the four channels'
//!   weights (`(w0, w2)` and `(w1, w3)` as halfword pairs);
//! * constants, 16 words a group: the four channels' biases with the input
//!   zero point folded in (`bias - zp * Σ w`), then per channel `mult`,
//!   `c0`, `e` of the fast epilogue (see `ChanQ` in the DSP kernels), or
//!   four zeros (`mult == 0`) for a channel the fast epilogue does not cover
//!   (the kernel recomputes its outputs exactly).
//!
//! # Depthwise 3x3 on Helium ([`dw3_mve_len`], [`prepare_dw3_mve`])
//! The Helium kernel reads the weights in place and only the constants:
//! a header of eight words (the number of channels the fast epilogue does
//! not cover, then seven zeros: no other table has this length), then the
//! groups' constants as above (16 words a group). The header spares a call
//! the scan for such channels.

use crate::ops::ConvWeights;

/// Words of a group of four channels' widened 3x3 weights.
pub const DW3_WEIGHT_WORDS: usize = 18;
/// Words of a group of four channels' epilogue constants.
pub const DW3_CONST_WORDS: usize = 16;

/// Where a depthwise-like layer keeps the weight of tap `t`, channel `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DwLayout {
    /// DEPTHWISE_CONV_2D: `[kh][kw][c]`, channel fastest.
    TapMajor,
    /// A grouped CONV_2D with one input and one output channel per group:
    /// OHWI `[c][kh][kw][1]`.
    ChannelMajor,
}

/// Per-channel constants of the DSP kernels' fast epilogue, 16 bytes read
/// by their assembly: `bias` at offset 0, then `mult`, `c0`, `e`. Equal to
/// `requantize(acc, mult, -e) + zp`, saturated, for the channels
/// [`ChanQ::new`] accepts (the derivation is at `fast_out` in the DSP
/// kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct ChanQ {
    pub(crate) bias: i32,
    pub(crate) mult: i32,
    /// `2^(e-1) + zp * 2^e`: the rounding term and the output zero point,
    /// in the units of the high word.
    pub(crate) c0: i32,
    /// The rounding right shift `-shift`, `1..=22`.
    pub(crate) e: u32,
}

impl ChanQ {
    /// Placeholder for a channel the fast epilogue does not cover (its
    /// outputs are computed again exactly); harmless to the kernels.
    pub(crate) const SLOW: ChanQ = ChanQ {
        bias: 0,
        mult: 0,
        c0: 0,
        e: 0,
    };

    /// The constants of a channel, or `None` where the fast epilogue is not
    /// exact for it. `bound` is the largest `|Σ w (x - zp)|` the layer can
    /// form.
    ///
    /// Covered: `mult > 0`, `shift` in `-22..=-1`, `|bias| + bound < 2^30`
    /// (so `2 * acc` cannot overflow) and an output zero point in
    /// `-128..=127`: every realistic channel.
    #[inline(always)]
    #[cfg_attr(not(any(attonet_dsp, test)), allow(dead_code))]
    pub(crate) fn new(bias: i32, mult: i32, shift: i32, zp: i32, bound: i64) -> Option<ChanQ> {
        ChanQ::within(bias, mult, shift, ChanQ::limits(zp, bound))
    }

    /// The per-layer half of [`ChanQ::new`]'s checks: the output zero point
    /// and `2^30 - bound`, the bound on `|bias|` (0: no channel is covered).
    #[inline(always)]
    pub(crate) fn limits(zp: i32, bound: i64) -> (i32, u32) {
        let room = ((1i64 << 30) - bound).max(0) as u32;
        (zp, if (-128..=127).contains(&zp) { room } else { 0 })
    }

    /// [`ChanQ::new`] with the per-layer checks done once ([`ChanQ::limits`]).
    #[inline(always)]
    pub(crate) fn within(
        bias: i32,
        mult: i32,
        shift: i32,
        (zp, room): (i32, u32),
    ) -> Option<ChanQ> {
        let e = shift.wrapping_neg();
        if mult <= 0 || (e.wrapping_sub(1) as u32) >= 22 || bias.unsigned_abs() >= room {
            return None;
        }
        Some(ChanQ {
            bias,
            mult,
            c0: (1 << (e - 1)) + (zp << e),
            e: e as u32,
        })
    }
}

/// `SXTB16 x`: bytes 0 and 2 of `x`, sign-extended into two halfwords.
#[inline(always)]
fn pair02(x: u32) -> u32 {
    #[cfg(attonet_dsp)]
    {
        crate::arch::dsp_prims::sxtb16(x)
    }
    #[cfg(not(attonet_dsp))]
    {
        (x as u8 as i8 as i16 as u16 as u32) | (((x >> 16) as u8 as i8 as i16 as u16 as u32) << 16)
    }
}

/// `SXTB16 x, ROR #8`: bytes 1 and 3 of `x`, sign-extended.
#[inline(always)]
fn pair13(x: u32) -> u32 {
    #[cfg(attonet_dsp)]
    {
        crate::arch::dsp_prims::sxtb16_ror8(x)
    }
    #[cfg(not(attonet_dsp))]
    {
        pair02(x >> 8)
    }
}

/// Halfword-wise `a + b` (`SXTAB16 a, b` for sign-extended pairs `b`).
#[cfg(not(attonet_dsp))]
#[inline(always)]
fn add_pairs(a: u32, b: u32) -> u32 {
    let lo = (a as u16).wrapping_add(b as u16) as u32;
    let hi = ((a >> 16) as u16).wrapping_add((b >> 16) as u16) as u32;
    lo | (hi << 16)
}

/// The largest `|Σ w (x - zp)|` a convolution forms over `taps` taps of
/// `i8` weights and inputs: `128 * (128 + |zp|)` each.
#[inline(always)]
pub(crate) fn sum_bound(taps: usize, zp: i32) -> i64 {
    taps as i64 * 128 * (128 + (zp as i64).abs())
}

/// Whether the fast epilogue of the Cortex-M DSP kernels (and the other
/// targets' kernels built on the same rule) covers an output channel with
/// this bias, Q31 multiplier and shift, in a layer of `taps` taps a channel
/// (`kh * kw * in_c / groups`) with these zero points; a channel it does not
/// cover is computed again by the exact path, an order of magnitude slower.
/// The converter rewrites the parameters of such channels, where it can,
/// into covered ones with the same output for every reachable accumulator
/// (`attonet_convert::fast_epilogue`).
pub fn fast_epilogue_covers(
    bias: i32,
    multiplier: i32,
    shift: i32,
    taps: usize,
    input_zp: i32,
    output_zp: i32,
) -> bool {
    ChanQ::new(
        bias,
        multiplier,
        shift,
        output_zp,
        sum_bound(taps, input_zp),
    )
    .is_some()
}

/// Words of a convolution's prepared table for `out_channels` channels:
/// four a channel ([`prepare_conv`]).
pub const fn conv_len(out_channels: usize) -> usize {
    4 * out_channels
}

/// The epilogue constants of a convolution's output channels `oc0..oc0 +
/// out.len() / 4` (four words a channel: `bias`, `mult`, `c0`, `e`, or four
/// zeros for a channel the fast epilogue does not cover) into `out`; `taps`
/// is a channel's window length (`kh * kw * in_c / groups`). Returns the mask
/// of those channels (bit `i` for channel `oc0 + i`, the first 64). The
/// caller has checked the tables' lengths.
pub(crate) fn conv_consts(
    weights: &ConvWeights<'_>,
    oc0: usize,
    taps: usize,
    input_zp: i32,
    output_zp: i32,
    out: &mut [i32],
) -> u64 {
    let n = out.len() / 4;
    let limits = ChanQ::limits(output_zp, sum_bound(taps, input_zp));
    let (bias, mult, shift) = (
        &weights.bias[oc0..oc0 + n],
        &weights.multiplier[oc0..oc0 + n],
        &weights.shift[oc0..oc0 + n],
    );
    let mut slow = 0u64;
    for (i, (t, ((&b, &m), &s))) in out
        .chunks_exact_mut(4)
        .zip(bias.iter().zip(mult).zip(shift))
        .enumerate()
    {
        let q = ChanQ::within(b, m, s, limits).unwrap_or_else(|| {
            if i < 64 {
                slow |= 1 << i;
            }
            ChanQ::SLOW
        });
        t.copy_from_slice(&[q.bias, q.mult, q.c0, q.e as i32]);
    }
    slow
}

/// The prepared table of a whole convolution ([`conv_len`] words: each
/// output channel's epilogue constants, as the module documentation
/// describes) into `out`, or
/// `None` (nothing written) where `out` has the wrong length or the tables
/// are shorter than `out_channels`. `taps` is a channel's window length
/// (`kh * kw * in_c / groups`).
pub fn prepare_conv(
    weights: &ConvWeights<'_>,
    out_channels: usize,
    taps: usize,
    input_zp: i32,
    output_zp: i32,
    out: &mut [i32],
) -> Option<()> {
    let n = out_channels;
    if out.len() != conv_len(n)
        || weights.bias.len() < n
        || weights.multiplier.len() < n
        || weights.shift.len() < n
    {
        return None;
    }
    conv_consts(weights, 0, taps, input_zp, output_zp, out);
    Some(())
}

/// Words of a convolution's prepared table for the Helium kernels
/// ([`prepare_conv_mve`]): a header of four, then four a channel.
pub const fn conv_mve_len(out_channels: usize) -> usize {
    4 * out_channels + 4
}

/// The Helium table of a whole convolution ([`conv_mve_len`] words, as the
/// module documentation describes) into `out`, or `None` (nothing written)
/// where `out` has the wrong length or the tables are shorter than
/// `out_channels` (the filter than `out_channels * taps`). `taps` is a
/// channel's window length (`kh * kw * in_c / groups`).
pub fn prepare_conv_mve(
    weights: &ConvWeights<'_>,
    out_channels: usize,
    taps: usize,
    input_zp: i32,
    output_zp: i32,
    out: &mut [i32],
) -> Option<()> {
    let n = out_channels;
    if out.len() != conv_mve_len(n)
        || weights.bias.len() < n
        || weights.multiplier.len() < n
        || weights.shift.len() < n
        || weights.filter.len() < n * taps
    {
        return None;
    }
    let (head, chans) = out.split_at_mut(4);
    conv_consts(weights, 0, taps, input_zp, output_zp, chans);
    let mut slow = 0;
    for (i, t) in chans.chunks_exact_mut(4).enumerate() {
        let sum = weights.filter[i * taps..][..taps]
            .iter()
            .fold(0i32, |a, &w| a.wrapping_add(w as i32));
        t[0] = weights.bias[i].wrapping_sub(input_zp.wrapping_mul(sum));
        t[3] = (t[3] as u32 as i32).wrapping_neg();
        if t[1] == 0 {
            slow += 1;
        }
    }
    head.copy_from_slice(&[slow, 0, 0, 0]);
    Some(())
}

/// Words of a 3x3 depthwise layer's prepared table for `channels` channels
/// (0 below four channels).
pub const fn dw3_len(channels: usize) -> usize {
    channels / 4 * (DW3_WEIGHT_WORDS + DW3_CONST_WORDS)
}

/// Words of a 3x3 depthwise layer's Helium table for `channels` channels
/// ([`prepare_dw3_mve`]; none, 0, unless a multiple of four: the kernel
/// takes no other layer).
pub const fn dw3_mve_len(channels: usize) -> usize {
    if channels % 4 == 0 && channels >= 4 {
        8 + channels / 4 * DW3_CONST_WORDS
    } else {
        0
    }
}

/// The Helium table of a whole 3x3 depthwise layer ([`dw3_mve_len`] words,
/// as the module documentation describes) into `out`, or `None` (nothing
/// written) where `out` has the wrong length, the input zero point is not
/// an `i8` or the channels are not a multiple of four.
pub fn prepare_dw3_mve(
    layout: DwLayout,
    weights: &ConvWeights<'_>,
    channels: usize,
    input_zp: i32,
    output_zp: i32,
    out: &mut [i32],
) -> Option<()> {
    if out.len() != dw3_mve_len(channels)
        || !(-128..=127).contains(&input_zp)
        || channels < 4
        || channels % 4 != 0
    {
        return None;
    }
    let (head, consts) = out.split_at_mut(8);
    let mut slow = 0;
    for (g0, consts) in consts.chunks_mut(16 * DW3_CONST_WORDS).enumerate() {
        let mut words = [0u32; 16 * DW3_WEIGHT_WORDS];
        let n = consts.len() / DW3_CONST_WORDS;
        let mask = dw3_groups(
            layout,
            weights,
            channels,
            16 * g0,
            input_zp,
            output_zp,
            &mut words[..n * DW3_WEIGHT_WORDS],
            consts,
        );
        slow += mask.count_ones() as i32;
    }
    head.copy_from_slice(&[slow, 0, 0, 0, 0, 0, 0, 0]);
    Some(())
}

/// Whether a depthwise-like layer with this window and these zero points
/// can use a prepared table: a 3x3 window with dilation 1, an `i8` input
/// zero point, at least four channels.
pub fn dw3_applies(kh: u8, kw: u8, dilation: (u8, u8), input_zp: i32, channels: usize) -> bool {
    kh == 3 && kw == 3 && dilation == (1, 1) && (-128..=127).contains(&input_zp) && channels >= 4
}

/// The weights and constants of the groups `g0..g0 + n` (groups of four
/// channels from channel `4 * g0`; `n` is as many as `w` (18 words a group)
/// and `consts` (16 a group) hold, at most 16 and at most the layer's
/// `channels / 4 - g0`) of a 3x3 depthwise layer, as described in the module
/// documentation. The input zero point must be in `-128..=127`
/// ([`dw3_applies`]). Returns a mask of the channels the fast epilogue does
/// not cover (bit `4 * (g - g0) + i`); all of them where the filter or the
/// per-channel tables are shorter than the layer needs (the kernels' callers
/// have checked them: that does not happen).
#[allow(clippy::too_many_arguments)]
pub(crate) fn dw3_groups(
    layout: DwLayout,
    weights: &ConvWeights<'_>,
    channels: usize,
    g0: usize,
    input_zp: i32,
    output_zp: i32,
    w: &mut [u32],
    consts: &mut [i32],
) -> u64 {
    let n = (w.len() / DW3_WEIGHT_WORDS)
        .min(consts.len() / DW3_CONST_WORDS)
        .min(16)
        .min((channels / 4).saturating_sub(g0));
    let c_end = 4 * (g0 + n);
    let filter = weights.filter;
    let (bias, mult, shift) = (weights.bias, weights.multiplier, weights.shift);
    if filter.len() < 9 * channels
        || bias.len() < c_end
        || mult.len() < c_end
        || shift.len() < c_end
    {
        return u64::MAX;
    }
    // The kernel sums raw inputs (the zero point is in the bias): nine taps
    // of at most 128 in magnitude times inputs of at most 128.
    let limits = ChanQ::limits(output_zp, 9 * 128 * 128);
    let mut slow = 0u64;
    for k in 0..n {
        let c = 4 * (g0 + k);
        let wg = &mut w[k * DW3_WEIGHT_WORDS..][..DW3_WEIGHT_WORDS];
        // The four channels' weight sums as halfword pairs, in the pair
        // order: channels (0, 2) and (1, 3) (nine taps of at most 128 in
        // magnitude: a halfword holds each sum).
        let (mut sum02, mut sum13) = (0u32, 0u32);
        for t in 0..9 {
            // The four channels' weights of tap `t`: one word of the filter
            // in the depthwise layout, four bytes otherwise.
            let word = match layout {
                DwLayout::TapMajor => {
                    let at = t * channels + c;
                    let b = &filter[at..at + 4];
                    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
                }
                DwLayout::ChannelMajor => {
                    u32::from_le_bytes(core::array::from_fn(|i| filter[(c + i) * 9 + t] as u8))
                }
            };
            let (p02, p13) = (pair02(word), pair13(word));
            wg[2 * t] = p02;
            wg[2 * t + 1] = p13;
            #[cfg(attonet_dsp)]
            {
                let _ = (p02, p13);
                sum02 = crate::arch::dsp_prims::sxtab16(sum02, word);
                sum13 = crate::arch::dsp_prims::sxtab16_ror8(sum13, word);
            }
            #[cfg(not(attonet_dsp))]
            {
                sum02 = add_pairs(sum02, p02);
                sum13 = add_pairs(sum13, p13);
            }
        }
        let sums = [
            sum02 as i16 as i32,
            sum13 as i16 as i32,
            (sum02 >> 16) as i16 as i32,
            (sum13 >> 16) as i16 as i32,
        ];
        let cg = &mut consts[k * DW3_CONST_WORDS..][..DW3_CONST_WORDS];
        for i in 0..4 {
            // `|zp * sum| <= 128 * 1152`: only the subtraction can overflow
            // (such a channel is not covered).
            let q = bias[c + i]
                .checked_sub(input_zp * sums[i])
                .and_then(|b| ChanQ::within(b, mult[c + i], shift[c + i], limits))
                .unwrap_or_else(|| {
                    slow |= 1 << (4 * k + i);
                    ChanQ::SLOW
                });
            cg[i] = q.bias;
            cg[4 + 3 * i] = q.mult;
            cg[5 + 3 * i] = q.c0;
            cg[6 + 3 * i] = q.e as i32;
        }
    }
    slow
}

/// The prepared table of a whole 3x3 depthwise layer ([`dw3_len`] words,
/// layout in the module documentation) into `out`; `None` (nothing written)
/// where `out` has the wrong length or the layer does not qualify.
pub fn prepare_dw3(
    layout: DwLayout,
    weights: &ConvWeights<'_>,
    channels: usize,
    input_zp: i32,
    output_zp: i32,
    out: &mut [i32],
) -> Option<()> {
    if out.len() != dw3_len(channels) || !(-128..=127).contains(&input_zp) || channels < 4 {
        return None;
    }
    let groups = channels / 4;
    let (w, consts) = out.split_at_mut(groups * DW3_WEIGHT_WORDS);
    for (g0, (w, consts)) in w
        .chunks_mut(16 * DW3_WEIGHT_WORDS)
        .zip(consts.chunks_mut(16 * DW3_CONST_WORDS))
        .enumerate()
    {
        let mut words = [0u32; 16 * DW3_WEIGHT_WORDS];
        let words = &mut words[..w.len()];
        dw3_groups(
            layout,
            weights,
            channels,
            16 * g0,
            input_zp,
            output_zp,
            words,
            consts,
        );
        for (o, v) in w.iter_mut().zip(words.iter()) {
            *o = *v as i32;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// A kernel tells the tables apart by their length alone, so no two
    /// kinds may ever have the same length for a layer of 1 to 4,096
    /// channels (where a kind exists: depthwise tables from four channels,
    /// Helium's for multiples of four).
    #[test]
    fn table_lengths_are_distinct() {
        for c in 1..=4096 {
            let mut lens = std::vec![conv_len(c), conv_mve_len(c)];
            lens.extend([dw3_len(c), dw3_mve_len(c)].into_iter().filter(|&l| l > 0));
            for (i, a) in lens.iter().enumerate() {
                for b in &lens[i + 1..] {
                    assert_ne!(a, b, "{c} channels: {lens:?}");
                }
            }
        }
    }
}
