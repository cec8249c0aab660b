//! Per-channel requantization that the fast kernels cover, with TFLM's
//! outputs.
//!
//! The fast convolution kernels requantize an accumulator in five
//! instructions for a channel whose shift is in `-22..=-1` and whose bias
//! leaves room for the largest sum (`attonet_runtime::prepared::
//! fast_epilogue_covers`); any other channel is computed a second time by
//! the exact path, an order of magnitude slower. TensorFlow's exports are
//! full of such channels: a channel whose weights are all zero (or nearly)
//! gets a weight scale near `1e-8`, a shift near `-26` and a bias clamped to
//! `±2^30` (`person_detect`-style MobileNets: one to a few percent of the
//! channels of the wide layers).
//!
//! Such a channel's output is a monotone step function of its accumulator
//! `bias + Σ w (x - zp)`, and the sum is bounded by the channel's own
//! weights: `|Σ w (x - zp)| <= Σ |w| · max |x - zp|`. Over that range the
//! function takes one value (a dead channel) or a few; [`covered_equivalent`]
//! finds covered parameters (bias, multiplier, shift) with the same value at
//! every accumulator of the range, checked at every step of the function:
//! the same bits as TFLM for every input, on every target, and the fast
//! path for the whole layer.

use attonet_runtime::prepared::fast_epilogue_covers;
use attonet_runtime::quant::requantize;

/// One output channel's requantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRequant {
    /// The int32 bias (added to the sum).
    pub bias: i32,
    /// Q31 multiplier.
    pub multiplier: i32,
    /// Shift (`> 0` left, `< 0` a rounding right shift).
    pub shift: i32,
}

/// What a layer's channels share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRequant {
    /// Taps a channel (`kh * kw * in_c / groups`).
    pub taps: usize,
    /// Input zero point.
    pub input_zp: i32,
    /// Output zero point.
    pub output_zp: i32,
    /// Output clamp (fused activation).
    pub min: i8,
    /// Output clamp (fused activation).
    pub max: i8,
}

impl LayerRequant {
    /// The output byte of accumulator `acc` (bias included), as every
    /// kernel computes it.
    fn output(&self, acc: i64, c: ChannelRequant) -> i32 {
        let v = requantize(acc as i32, c.multiplier, c.shift).wrapping_add(self.output_zp);
        v.max(self.min as i32).min(self.max as i32)
    }

    fn covers(&self, c: ChannelRequant) -> bool {
        fast_epilogue_covers(
            c.bias,
            c.multiplier,
            c.shift,
            self.taps,
            self.input_zp,
            self.output_zp,
        )
    }

    /// The largest `|x - zp|` of an int8 input.
    pub fn input_reach(&self) -> i64 {
        (127 - self.input_zp as i64).max(self.input_zp as i64 + 128)
    }
}

/// Most steps of the output function a rewrite is tried for.
const MAX_STEPS: i64 = 256;

/// `c` itself when the fast epilogue covers it; else covered parameters
/// whose output equals `c`'s for every accumulator `c.bias + s` with `|s| <=
/// reach` (the channel's `Σ |w| · max |x - zp|`); `None` where none was
/// found (the channel stays on the exact path).
pub fn covered_equivalent(
    layer: &LayerRequant,
    c: ChannelRequant,
    reach: i64,
) -> Option<ChannelRequant> {
    if layer.covers(c) {
        return Some(c);
    }
    if !(-128..=127).contains(&layer.output_zp) || c.multiplier < 0 || reach < 0 {
        return None;
    }
    let (lo, hi) = (c.bias as i64 - reach, c.bias as i64 + reach);
    if lo < i32::MIN as i64 || hi > i32::MAX as i64 {
        return None;
    }
    // Monotone over the range: a left shift must not wrap there.
    if c.shift > 0 {
        let s = c.shift.min(31) as u32;
        if (lo << s) < i32::MIN as i64 || (hi << s) > i32::MAX as i64 {
            return None;
        }
    }
    let f = |acc: i64| layer.output(acc, c);
    let (first, last) = (f(lo), f(hi));
    if first == last {
        return constant(layer, first, reach);
    }
    if (last - first) as i64 > MAX_STEPS {
        return None;
    }
    // `steps[k]`: the first accumulator with an output above `first + k`.
    let steps: Vec<i64> = (first + 1..=last)
        .map(|level| first_at_least(lo, hi, level, f))
        .collect();
    // Candidates: the same slope with the shift at the end of the covered
    // range (the multiplier scaled down by the shifts beyond it, and its
    // neighbours); with a single step in the range, where the slope is
    // free, also every covered shift with multiplier 2^30 (a step as wide
    // as the range needs, near zero).
    let e = 22;
    let scaled = (c.multiplier as f64) * 2f64.powi(c.shift + e);
    let mut candidates: Vec<(i32, i32)> = Vec::new();
    if (1.0..(1u64 << 31) as f64).contains(&scaled) {
        let m0 = scaled.round() as i64;
        candidates.extend(
            (m0 - 3..=m0 + 3)
                .filter(|&m| m > 0 && m <= i32::MAX as i64)
                .map(|m| (m as i32, -e)),
        );
    }
    if steps.len() == 1 {
        candidates.extend((1..=22).map(|e| (1 << 30, -e)));
    }
    for (multiplier, shift) in candidates {
        let cand = ChannelRequant {
            bias: 0,
            multiplier,
            shift,
        };
        let g = |acc: i64| layer.output(acc, cand);
        // Anchor the first step: the new bias moves the sum so that the
        // new function steps where the old one does.
        let limit = 1i64 << 30;
        if g(-limit) > first || g(limit) <= first {
            continue;
        }
        let u = first_at_least(-limit, limit, first + 1, g);
        let bias = u - steps[0] + c.bias as i64;
        if bias < i32::MIN as i64 || bias > i32::MAX as i64 {
            continue;
        }
        let cand = ChannelRequant {
            bias: bias as i32,
            ..cand
        };
        let shifted = |acc: i64| layer.output(acc - c.bias as i64 + bias, cand);
        let same = layer.covers(cand)
            && shifted(lo) == first
            && shifted(hi) == last
            && steps
                .iter()
                .all(|&t| shifted(t) == f(t) && shifted(t - 1) == f(t - 1));
        if same {
            return Some(cand);
        }
    }
    None
}

/// Covered parameters whose output is `out` for every accumulator within
/// `reach` of their bias: among multipliers `2^30 / 2^j` with shift -22 and
/// multiplier `2^30` with every covered shift (steps from `2^2` to `2^53`
/// accumulator units wide), the first whose step of value `out` holds the
/// whole range with a covered bias.
fn constant(layer: &LayerRequant, out: i32, reach: i64) -> Option<ChannelRequant> {
    let limit = 1i64 << 30;
    let candidates = (1..=22)
        .map(|e| (1 << 30, -e))
        .chain((1..=29).map(|j| ((1 << 30) >> j, -22)));
    for (multiplier, shift) in candidates {
        let cand = ChannelRequant {
            bias: 0,
            multiplier,
            shift,
        };
        let g = |acc: i64| layer.output(acc, cand);
        if g(-limit) > out || g(limit) < out {
            continue;
        }
        let start = first_at_least(-limit, limit, out, g);
        let end = if g(limit) > out {
            first_at_least(-limit, limit, out + 1, g)
        } else {
            limit + 1
        };
        if end - start <= 2 * reach {
            continue;
        }
        // The bias nearest zero (the room the fast path leaves it).
        let bias = 0i64.clamp(start + reach, end - 1 - reach);
        let cand = ChannelRequant {
            bias: bias as i32,
            ..cand
        };
        if layer.covers(cand)
            && layer.output(bias - reach, cand) == out
            && layer.output(bias + reach, cand) == out
        {
            return Some(cand);
        }
    }
    None
}

/// The first accumulator in `lo..=hi` where the monotone `f` reaches
/// `level` (`f(hi) >= level`).
fn first_at_least(mut lo: i64, mut hi: i64, level: i32, f: impl Fn(i64) -> i32) -> i64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if f(mid) >= level {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Rewrites, in place, every channel of a convolution-like layer that the
/// fast epilogue does not cover into covered parameters with the same
/// outputs, where [`covered_equivalent`] finds them; `weights(oc)` gives
/// channel `oc`'s weights. Returns how many channels were rewritten and how
/// many stay uncovered.
pub fn cover_layer<'w, W>(
    layer: &LayerRequant,
    bias: &mut [i32],
    multiplier: &mut [i32],
    shift: &mut [i32],
    weights: impl Fn(usize) -> W,
) -> (usize, usize)
where
    W: Iterator<Item = &'w i8>,
{
    let (mut rewritten, mut uncovered) = (0, 0);
    let reach_x = layer.input_reach();
    for oc in 0..bias.len().min(multiplier.len()).min(shift.len()) {
        let c = ChannelRequant {
            bias: bias[oc],
            multiplier: multiplier[oc],
            shift: shift[oc],
        };
        if layer.covers(c) {
            continue;
        }
        let reach = weights(oc).map(|&w| (w as i64).abs()).sum::<i64>() * reach_x;
        match covered_equivalent(layer, c, reach) {
            Some(n) => {
                (bias[oc], multiplier[oc], shift[oc]) = (n.bias, n.multiplier, n.shift);
                rewritten += 1;
            }
            None => uncovered += 1,
        }
    }
    (rewritten, uncovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(taps: usize, input_zp: i32, output_zp: i32, min: i8, max: i8) -> LayerRequant {
        LayerRequant {
            taps,
            input_zp,
            output_zp,
            min,
            max,
        }
    }

    /// Every accumulator of the range gives the same output (exhaustive).
    fn assert_same(l: &LayerRequant, c: ChannelRequant, n: ChannelRequant, reach: i64) {
        assert!(l.covers(n), "{n:?} is not covered");
        for s in -reach..=reach {
            assert_eq!(
                l.output(c.bias as i64 + s, c),
                l.output(n.bias as i64 + s, n),
                "sum {s}: {c:?} -> {n:?}"
            );
        }
    }

    /// TensorFlow's all-zero channel: weight scale ~3.6e-8, bias clamped to
    /// 2^30, shift -26 (as its converter writes it; see `person_detect`-
    /// style exports): a constant output, on the fast path.
    #[test]
    fn dead_channel_becomes_a_covered_constant() {
        let l = layer(9 * 16, -128, -128, -128, 127);
        for (bias, shift) in [
            (1 << 30, -26),
            (-(1 << 30), -26),
            (12345, -30),
            (1 << 20, 3),
        ] {
            let c = ChannelRequant {
                bias,
                multiplier: 1_234_567_890,
                shift,
            };
            assert!(!l.covers(c));
            let n = covered_equivalent(&l, c, 0).expect("a dead channel is covered");
            assert_same(&l, c, n, 0);
        }
    }

    /// A nearly dead channel with live weights: a few steps over its range.
    #[test]
    fn tiny_scale_with_live_weights_keeps_every_step() {
        let l = layer(64, -5, 3, -128, 127);
        for (bias, shift, reach) in [
            (1 << 30, -27, 64 * 127 * 133),
            (-(1 << 29), -24, 20_000_000),
            (5_000_000, -23, 30_000_000),
            (0, -25, 1 << 24),
        ] {
            let c = ChannelRequant {
                bias,
                multiplier: 1_500_000_001,
                shift,
            };
            let n = covered_equivalent(&l, c, reach).unwrap_or_else(|| {
                panic!(
                    "{c:?} reach {reach}: first {} last {}",
                    l.output(c.bias as i64 - reach, c),
                    l.output(c.bias as i64 + reach, c)
                )
            });
            assert!(n != c);
            assert_same(&l, c, n, reach);
        }
    }

    /// A ReLU clamp flattens the range below the zero point.
    #[test]
    fn clamped_range_is_constant() {
        let l = layer(9, 0, -128, -128, 127);
        let c = ChannelRequant {
            bias: -(1 << 30),
            multiplier: 1 << 30,
            shift: -24,
        };
        let n = covered_equivalent(&l, c, 9 * 128 * 128).unwrap();
        assert_same(&l, c, n, 9 * 128 * 128);
    }

    /// Channels already covered are left alone; a steep channel (shift > 0)
    /// over a wide range cannot be covered and is refused.
    #[test]
    fn covered_kept_and_steep_refused() {
        let l = layer(9, 0, 0, -128, 127);
        let c = ChannelRequant {
            bias: 100,
            multiplier: 1 << 30,
            shift: -8,
        };
        assert_eq!(covered_equivalent(&l, c, 9 * 128 * 128), Some(c));
        let steep = ChannelRequant { shift: 2, ..c };
        assert_eq!(covered_equivalent(&l, steep, 9 * 128 * 128), None);
    }

    #[test]
    fn cover_layer_counts() {
        let l = layer(4, 0, 0, -128, 127);
        let w: [i8; 8] = [0, 0, 0, 0, 1, -2, 3, 4];
        let mut bias = [1 << 30, 10];
        let mut mult = [1 << 30, 1 << 30];
        let mut shift = [-26, -4];
        let (r, u) = cover_layer(&l, &mut bias, &mut mult, &mut shift, |oc| {
            w[oc * 4..oc * 4 + 4].iter()
        });
        assert_eq!((r, u), (1, 0));
        assert_eq!((bias[1], mult[1], shift[1]), (10, 1 << 30, -4));
        assert!(l.covers(ChannelRequant {
            bias: bias[0],
            multiplier: mult[0],
            shift: shift[0]
        }));
    }

    /// Random channels of every kind (dead, tiny, steep, clamped): every
    /// rewrite gives the same output at every accumulator of its range
    /// (all of them up to 2^17 either side, else the ends, the steps'
    /// neighbourhoods and 20,000 random points).
    #[test]
    fn random_rewrites_are_exact() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut rewritten, mut refused) = (0, 0);
        for _ in 0..400 {
            let taps = 1 + next(600) as usize;
            let input_zp = next(256) as i32 - 128;
            let output_zp = next(256) as i32 - 128;
            let (min, max) = match next(3) {
                0 => (-128, 127),
                1 => (output_zp.max(-128) as i8, 127),
                _ => (
                    (output_zp - 20).max(-128) as i8,
                    (output_zp + 40).min(127) as i8,
                ),
            };
            let l = layer(taps, input_zp, output_zp, min, max);
            let shift = -(next(40) as i32) + 6;
            let bias = match next(3) {
                0 => (1 << 30) * if next(2) == 0 { 1 } else { -1 },
                _ => next(1 << 31) as i32 - (1 << 30),
            };
            let c = ChannelRequant {
                bias,
                multiplier: (1 << 30) + next(1 << 30) as i32,
                shift,
            };
            let reach = match next(3) {
                0 => 0,
                1 => next(1 << 17) as i64,
                _ => (taps as i64 * next(128) as i64) * l.input_reach(),
            };
            let Some(n) = covered_equivalent(&l, c, reach) else {
                refused += 1;
                continue;
            };
            if n == c {
                continue;
            }
            rewritten += 1;
            assert!(l.covers(n));
            let same = |s: i64| {
                assert_eq!(
                    l.output(c.bias as i64 + s, c),
                    l.output(n.bias as i64 + s, n),
                    "sum {s}: {c:?} -> {n:?}, {l:?}"
                )
            };
            if reach <= 1 << 17 {
                (-reach..=reach).for_each(same);
            } else {
                let lo = c.bias as i64 - reach;
                let f = |acc: i64| l.output(acc, c);
                for level in f(lo) + 1..=f(c.bias as i64 + reach) {
                    let t = first_at_least(lo, c.bias as i64 + reach, level, f) - c.bias as i64;
                    (t - 2..=t + 2).filter(|s| s.abs() <= reach).for_each(same);
                }
                same(-reach);
                same(reach);
                for _ in 0..20_000 {
                    same(next(2 * reach as u64 + 1) as i64 - reach);
                }
            }
        }
        assert!(rewritten > 50, "{rewritten} rewritten, {refused} refused");
    }
}
