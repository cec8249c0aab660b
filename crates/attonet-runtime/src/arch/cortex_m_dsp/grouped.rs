//! Grouped convolutions with few channels a group (AttoNet's grouped 3x3:
//! 4 groups of 2 to 8 channels), on the Cortex-M DSP extension.
//!
//! The columns kernel gathers each group's window of every output pixel
//! byte by byte where a group has fewer than four channels, and amortizes
//! its per-block work over the group's few output channels (9.3
//! instructions a MAC for 3 channels a group on the Cortex-M4; the dense
//! rewrite of such layers, 5.2). This kernel widens each input row once per
//! group instead, and reads a pixel's window straight from the widened rows.
//!
//! # Layout
//! For one group and one tile of output columns, each input row the tile
//! reads is widened once into a slot of a ring of `kh` rows: `x - zp` as
//! halfwords, group-major (`[column][cpg]`, only the group's channels), the
//! padding columns as 0 (a padded tap contributes nothing, as in the
//! portable kernel), spare zero halfwords at the end. One kernel row of a
//! pixel's window is then `kw * cpg` consecutive halfwords, read as
//! `pairs = ceil(kw * cpg / 2)` words (unaligned `LDR`s where `cpg *
//! stride` is odd). The group's weights are widened once per group into a
//! table of the same shape on the stack (`[channel][ky][pairs]` halfword
//! pairs, [`WEIGHT_WORDS`]); where a kernel row has an odd number of taps
//! its last pair's second weight is 0, so the halfword read past the row
//! (the next column's, or the ring's spare) adds nothing and every row is
//! whole pairs.
//!
//! # Loop
//! Per output row, the ring slots of the valid kernel rows are listed once
//! (rows above or below the input are skipped: their taps are padding);
//! per block of four output pixels the list is moved to the block's
//! windows, then per output channel one assembly loop ([`window4`]): per
//! pair, one weight word, four activation words and four `SMLAD`s (11
//! instructions for 8 multiply-accumulates), then the fast epilogue
//! ([`fast_out`]). The sums are the portable kernel's (`bias + Σ w (x -
//! zp)` modulo 2^32), so every output is bit-identical.

use super::{fast_channels, fast_out, zp_offset};
use crate::arch::dsp_prims::{sxtab16, sxtab16_ror8};
use crate::dsp_select::{
    grouped_narrow_covers, grouped_row_words, grouped_tile, GROUPED_MAX_CPG, GROUPED_RING_WORDS,
};
use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::ChanQ;
use core::mem::MaybeUninit;

/// Output pixels computed together (each weight read once for them).
const PIX: usize = 4;

/// Words of a group's widened weights at most (`[channel][ky][pairs]`, 576
/// bytes of stack): groups of up to 4 channels in and out of a 3x3 window,
/// 8 x 8 of a 1x3. Wider groups keep their weights as bytes.
const WEIGHT_WORDS: usize = 144;

/// Pixel blocks a call computes per group from which its weights are
/// widened first: each block saves two instructions a weight pair (and the
/// odd taps' separate runs); widening costs about three a weight byte.
const WIDEN_FROM_BLOCKS: usize = 4;

/// The grouped kernel's geometry for one call.
struct Geo {
    groups: usize,
    cpg: usize,
    ocpg: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    pad_top: isize,
    pad_left: isize,
    in_h: usize,
    in_w: usize,
    in_c: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
    zp: i32,
    /// Weight words of one kernel row (`ceil(kw * cpg / 2)`).
    pairs: usize,
}

/// A grouped convolution the columns kernel would gather byte by byte
/// ([`grouped_narrow_covers`]). `pre`: the converter's epilogue constants,
/// where it wrote them. Returns `false` (nothing written) where the layer is
/// not covered or a channel needs the exact path (the columns kernel then
/// takes it).
pub(super) fn grouped_narrow(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    pre: Option<&[ChanQ]>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !grouped_narrow_covers(p, in_shape, out_shape) {
        return false;
    }
    let w = &p.window;
    let groups = p.groups as usize;
    let cpg = in_shape.c as usize / groups;
    let g = Geo {
        groups,
        cpg,
        ocpg: out_shape.c as usize / groups,
        kh: w.kh as usize,
        kw: w.kw as usize,
        sh: w.stride_h as usize,
        sw: w.stride_w as usize,
        pad_top: w.pad_top as isize,
        pad_left: w.pad_left as isize,
        in_h: in_shape.h as usize,
        in_w: in_shape.w as usize,
        in_c: in_shape.c as usize,
        out_h: out_shape.h as usize,
        out_w: out_shape.w as usize,
        out_c: out_shape.c as usize,
        zp: p.quant.input_zero_point,
        pairs: (w.kw as usize * cpg).div_ceil(2),
    };
    let taps = g.kh * g.kw * g.cpg;
    if weights.filter.len() < g.out_c * taps
        || input.len() < in_shape.len()
        || output.len() < out_shape.len()
        || g.ocpg > GROUPED_MAX_CPG
    {
        return false;
    }
    // Every channel on the fast epilogue, checked before anything is written.
    let Some(chan) = fast_channels(weights, pre, g.out_c, taps, &p.quant) else {
        return false;
    };
    let tile = grouped_tile(g.out_w, g.kh, g.sw, g.kw, g.cpg);
    let row_words = grouped_row_words(tile, g.sw, g.kw, g.cpg);
    let ring_len = g.kh * row_words;
    if tile == 0 || ring_len > GROUPED_RING_WORDS {
        return false;
    }
    // Only the words this layer uses are initialized (a fused block's row
    // calls would otherwise clear the whole ring each).
    let mut ring_buf = MaybeUninit::<[u32; GROUPED_RING_WORDS]>::uninit();
    // SAFETY: the first `ring_len` words are zeroed, then viewed as
    // initialized words; the rest is never read.
    let ring = unsafe {
        let r = ring_buf.as_mut_ptr() as *mut u32;
        core::ptr::write_bytes(r, 0, ring_len);
        core::slice::from_raw_parts_mut(r, ring_len)
    };
    // Weights widened where the call has the pixel blocks to repay it.
    let wlen = g.ocpg * g.kh * g.pairs;
    let blocks = g.out_h * g.out_w.div_ceil(PIX);
    let widen = wlen <= WEIGHT_WORDS && blocks >= WIDEN_FROM_BLOCKS;
    let mut wbuf = MaybeUninit::<[u32; WEIGHT_WORDS]>::uninit();
    // SAFETY: the first `wlen` words (none where the weights stay bytes)
    // are zeroed, then viewed as initialized words; the rest is never read.
    let wide = unsafe {
        let n = if widen { wlen } else { 0 };
        let r = wbuf.as_mut_ptr() as *mut u32;
        core::ptr::write_bytes(r, 0, n);
        core::slice::from_raw_parts_mut(r, n)
    };
    let mut consts = [ChanQ::SLOW; GROUPED_MAX_CPG];
    for group in 0..g.groups {
        let first = group * g.ocpg;
        for (j, q) in consts.iter_mut().take(g.ocpg).enumerate() {
            *q = chan(first + j).unwrap_or(ChanQ::SLOW);
        }
        // (Lengths checked above: `get`s here and below only keep the
        // kernel free of panicking paths.)
        let (Some(filter), Some(consts)) = (
            weights.filter.get(first * taps..(first + g.ocpg) * taps),
            consts.get(..g.ocpg),
        ) else {
            return true;
        };
        let w = if widen {
            widen_weights(&g, filter, wide);
            GroupWeights::Wide(wide)
        } else {
            GroupWeights::Bytes(filter)
        };
        let mut ox0 = 0;
        while ox0 < g.out_w {
            let n = tile.min(g.out_w - ox0);
            let t = Tile {
                group,
                ox0,
                n,
                row_words,
            };
            if widen {
                tile_rows::<true>(&g, &t, input, &w, consts, ring, output);
            } else {
                tile_rows::<false>(&g, &t, input, &w, consts, ring, output);
            }
            ox0 += n;
        }
    }
    true
}

/// One group's OHWI weights (`ocpg * kh * kw * cpg` bytes) as halfword
/// pairs, `[channel][ky][pairs]`: a kernel row's `kw * cpg` taps in order,
/// a last odd one paired with 0.
fn widen_weights(g: &Geo, filter: &[i8], wide: &mut [u32]) {
    let row = g.kw * g.cpg;
    for (src, dst) in filter
        .chunks_exact(row)
        .zip(wide.chunks_exact_mut(g.pairs))
        .take(g.ocpg * g.kh)
    {
        for (d, pair) in dst.iter_mut().zip(src.chunks(2)) {
            let lo = pair.first().map_or(0, |&b| b as i16 as u16 as u32);
            let hi = pair.get(1).map_or(0, |&b| b as i16 as u16 as u32);
            *d = lo | hi << 16;
        }
    }
}

/// One group's weights as a call reads them.
enum GroupWeights<'a> {
    /// Widened ([`widen_weights`]): `[channel][ky][pairs]` words.
    Wide(&'a [u32]),
    /// In place: OHWI bytes, `[channel][ky][kw * cpg]`.
    Bytes(&'a [i8]),
}

/// A tile of output columns `ox0..ox0 + n` of one group; its widened rows
/// are `row_words` words apart in the ring.
struct Tile {
    group: usize,
    ox0: usize,
    n: usize,
    row_words: usize,
}

/// Every output row of one group's tile: the ring brought up to date (each
/// input row widened once, into slot `iy % kh`), then the pixels. `WIDE`:
/// whether `weights` are the widened ones (each way its own copy, the
/// channel loop free of the choice).
fn tile_rows<const WIDE: bool>(
    g: &Geo,
    t: &Tile,
    input: &[i8],
    weights: &GroupWeights<'_>,
    consts: &[ChanQ],
    ring: &mut [u32],
    output: &mut [i8],
) {
    // Input row held by each slot (none yet).
    let mut held = [usize::MAX; 3];
    let ix0 = (t.ox0 * g.sw) as isize - g.pad_left;
    let cols = (t.n - 1) * g.sw + g.kw;
    let step = g.sw * g.cpg * 2;
    let row = g.kw * g.cpg;
    let taps = g.kh * row;
    let per_chan = g.kh * g.pairs;
    let oc = g.out_c;
    // Each channel's weights are `stride` units apart (words or bytes).
    let (stride, have) = match weights {
        GroupWeights::Wide(w) if WIDE => (per_chan, w.len()),
        GroupWeights::Bytes(w) if !WIDE => (taps, w.len()),
        _ => return,
    };
    if have < g.ocpg * stride || consts.len() > g.ocpg {
        return;
    }
    for oy in 0..g.out_h {
        let top = (oy * g.sh) as isize - g.pad_top;
        let ky0 = (-top).max(0) as usize;
        let ky1 = (g.in_h as isize - top).min(g.kh as isize).max(0) as usize;
        if ky1 <= ky0 {
            // Every tap in the padding (a padding at least as tall as the
            // window): the bias alone.
            for x in 0..t.n {
                let at = (oy * g.out_w + t.ox0 + x) * oc + t.group * g.ocpg;
                if let Some(out) = output.get_mut(at..at + g.ocpg) {
                    for (o, q) in out.iter_mut().zip(consts) {
                        *o = fast_out(q.bias, q) as i8;
                    }
                }
            }
            continue;
        }
        // Byte offset in the ring of each valid kernel row (pixel 0).
        let mut rows = [0usize; 3];
        for (ky, r) in rows.iter_mut().enumerate().take(ky1).skip(ky0) {
            let iy = (top + ky as isize) as usize;
            let slot = iy % g.kh;
            if held[slot] != iy {
                let Some(dst) = ring.get_mut(slot * t.row_words..(slot + 1) * t.row_words) else {
                    return;
                };
                widen_row(g, input, iy, t.group, ix0, cols, dst);
                held[slot] = iy;
            }
            *r = slot * t.row_words * 4;
        }
        let ring_bytes: &[u8] = bytemuck::cast_slice(&ring[..]);
        // The runs of pixel 0's window: widened weights read every kernel
        // row as whole pairs; byte weights its pairs, then its odd tap
        // alone. Pixel `i`'s runs are `i * step` bytes further. Every
        // pixel's rows, with the halfword past each, lie in their slots
        // (`grouped_row_words`).
        let mut first = [Entry {
            x: core::ptr::null(),
            n: 0,
        }; RUNS];
        let mut runs = 0;
        for &r in &rows[ky0..ky1] {
            let at = ring_bytes.as_ptr().wrapping_add(r);
            if WIDE {
                first[runs] = Entry { x: at, n: g.pairs };
                runs += 1;
            } else {
                if row >= 2 {
                    first[runs] = Entry { x: at, n: row / 2 };
                    runs += 1;
                }
                if row % 2 == 1 {
                    first[runs] = Entry {
                        x: at.wrapping_add(4 * (row / 2)),
                        n: SINGLE,
                    };
                    runs += 1;
                }
            }
        }
        let first = &first[..runs];
        // The block's runs, then an end mark.
        let mut list = [Entry {
            x: core::ptr::null(),
            n: 0,
        }; RUNS + 1];
        // Channel 0's weights from its first valid kernel row.
        let w0: *const u8 = match weights {
            GroupWeights::Wide(w) => w.get(ky0 * g.pairs..).map(|w| w.as_ptr() as *const u8),
            GroupWeights::Bytes(w) => w.get(ky0 * row..).map(|w| w.as_ptr() as *const u8),
        }
        .unwrap_or(core::ptr::null());
        if w0.is_null() {
            return;
        }
        let unit = if WIDE { 4 } else { 1 };
        // The row's outputs of this group: pixel `x`, channel `j` at
        // `x * oc + j`.
        let at = (oy * g.out_w + t.ox0) * oc + t.group * g.ocpg;
        let Some(out) = output.get_mut(at..at + (t.n - 1) * oc + g.ocpg) else {
            return;
        };
        if t.n >= PIX {
            let o = out.as_mut_ptr();
            let mut x = 0;
            loop {
                // A last block of fewer than four pixels is the tile's last
                // four: the overlap is computed again and written with the
                // same values.
                x = x.min(t.n - PIX);
                for (e, f) in list.iter_mut().zip(first) {
                    e.x = f.x.wrapping_add(x * step);
                    e.n = f.n;
                }
                // SAFETY: pixels `x..x + 4` are in the tile (`x + 4 <= n`).
                let o = unsafe { o.add(x * oc) };
                for (j, q) in consts.iter().enumerate() {
                    // SAFETY: every run's four windows are in the ring, and
                    // channel `j < ocpg`'s weights from row `ky0` on (the
                    // table's length checked above) hold one for each tap
                    // of the runs.
                    let acc = unsafe {
                        let w = w0.add(j * stride * unit);
                        if WIDE {
                            window4(&list, step, w as *const u32, q.bias)
                        } else {
                            window4_bytes(&list, step, w as *const i8, q.bias)
                        }
                    };
                    // SAFETY: pixel `x + i` (`i < 4`), channel `j < ocpg`, is
                    // within `out` (cut above).
                    unsafe {
                        *o.add(j) = fast_out(acc[0], q) as i8;
                        *o.add(oc + j) = fast_out(acc[1], q) as i8;
                        *o.add(2 * oc + j) = fast_out(acc[2], q) as i8;
                        *o.add(3 * oc + j) = fast_out(acc[3], q) as i8;
                    }
                }
                x += PIX;
                if x >= t.n {
                    break;
                }
            }
        } else {
            // Fewer than four output columns in the whole tile.
            for (e, f) in list.iter_mut().zip(first) {
                *e = *f;
            }
            for (j, q) in consts.iter().enumerate() {
                for i in 0..t.n {
                    // SAFETY: pixel `i < n`'s window is in the ring; channel
                    // `j`'s weights as for `window4` above.
                    let a = unsafe {
                        window1(&list, i * step, w0.add(j * stride * unit), WIDE, q.bias)
                    };
                    if let Some(o) = out.get_mut(i * oc + j) {
                        *o = fast_out(a, q) as i8;
                    }
                }
            }
        }
    }
}

/// Runs of a pixel's window at most: a pair run and an odd tap for each
/// of three kernel rows.
const RUNS: usize = 6;

/// [`Entry::n`] of a single halfword (an odd kernel row's last tap, byte
/// weights only).
const SINGLE: usize = 1 << 31;

/// A run of a [`window4`] call: where pixel 0's activations start and how
/// many halfword pairs (or [`SINGLE`]: one halfword); 0 ends the list.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    x: *const u8,
    n: usize,
}

/// The assembly of [`window4`] and [`window4_bytes`]: for each run of
/// `list` up to the end mark, its pairs, each weight pair loaded into `{w}`
/// by `$weight` and multiplied into the four pixels' sums; `$run` after a
/// run's set-up (the byte path's branch to its single-tap code), `$tail`
/// that code. The accumulators start at `bias`.
#[cfg(attonet_dsp)]
macro_rules! window4_asm {
    ($list:expr, $step:expr, $w:expr, $bias:expr,
     [$($run:literal),*], [$($weight:literal),+], [$($tail:literal),*]) => {{
        let (mut a0, mut a1, mut a2, mut a3) = ($bias, $bias, $bias, $bias);
        core::arch::asm!(
            "3:",
            "ldrd   {x}, {n}, [{e}], #8",
            "cmp    {n}, #0",
            "beq    4f",
            "add    {x2}, {x}, {s}, lsl #1",
            $($run,)*
            "2:",
            $($weight,)+
            "ldr    {t}, [{x}, {s}]",
            "smlad  {a1}, {t}, {w}, {a1}",
            "ldr    {t}, [{x}], #4",
            "smlad  {a0}, {t}, {w}, {a0}",
            "ldr    {t}, [{x2}, {s}]",
            "smlad  {a3}, {t}, {w}, {a3}",
            "ldr    {t}, [{x2}], #4",
            "smlad  {a2}, {t}, {w}, {a2}",
            "subs   {n}, {n}, #1",
            "bne    2b",
            "b      3b",
            $($tail,)*
            "4:",
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            e = inout(reg) $list.as_ptr() => _,
            s = in(reg) $step,
            wp = inout(reg) $w => _,
            x = out(reg) _,
            x2 = out(reg) _,
            n = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
        [a0, a1, a2, a3]
    }};
}

/// Four pixels' sums over their windows, from `bias`, with widened weights:
/// for each run of `list` (up to the first with `n == 0`) and each of its
/// pairs `k`, the next weight word `p` at `w` and `acc[i] = SMLAD(word at
/// x + i * step + 4 * k, p, acc[i])`.
///
/// # Safety
/// Each run's activations for `i < 4` are readable (`x + i * step`, `4 * n`
/// bytes); `w` points to a word for each pair of the list.
#[inline(always)]
unsafe fn window4(list: &[Entry; RUNS + 1], step: usize, w: *const u32, bias: i32) -> [i32; PIX] {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; the assembly reads only those bytes,
    // `list` and `w`, and writes only the registers it declares.
    unsafe {
        window4_asm!(list, step, w, bias, [], ["ldr    {w}, [{wp}], #4"], [])
    }
    #[cfg(not(attonet_dsp))]
    {
        let mut acc = [bias; PIX];
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: the caller's contract.
            *a = unsafe { window1(list, i * step, w as *const u8, true, bias) };
        }
        acc
    }
}

/// [`window4`] with the weights read in place as bytes: per pair, two
/// weight bytes packed (`LDRSB`, `LDRSB`, `PKHBT`; 13 instructions for 8
/// multiply-accumulates); per [`SINGLE`] run, one weight byte times the
/// halfword at `x + i * step` (`SMLABB`).
///
/// # Safety
/// As [`window4`]'s, with `w` pointing to a byte for each tap of the list.
#[inline(always)]
unsafe fn window4_bytes(
    list: &[Entry; RUNS + 1],
    step: usize,
    w: *const i8,
    bias: i32,
) -> [i32; PIX] {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; the assembly reads only those bytes,
    // `list` and `w`, and writes only the registers it declares.
    unsafe {
        window4_asm!(
            list,
            step,
            w,
            bias,
            ["bmi    5f"],
            [
                "ldrsb  {w}, [{wp}], #1",
                "ldrsb  {t}, [{wp}], #1",
                "pkhbt  {w}, {w}, {t}, lsl #16"
            ],
            [
                "5:",
                "ldrsb  {w}, [{wp}], #1",
                "ldrsh  {t}, [{x}, {s}]",
                "smlabb {a1}, {t}, {w}, {a1}",
                "ldrsh  {t}, [{x}]",
                "smlabb {a0}, {t}, {w}, {a0}",
                "ldrsh  {t}, [{x2}, {s}]",
                "smlabb {a3}, {t}, {w}, {a3}",
                "ldrsh  {t}, [{x2}]",
                "smlabb {a2}, {t}, {w}, {a2}",
                "b      3b"
            ]
        )
    }
    #[cfg(not(attonet_dsp))]
    {
        let mut acc = [bias; PIX];
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: the caller's contract.
            *a = unsafe { window1(list, i * step, w as *const u8, false, bias) };
        }
        acc
    }
}

/// One pixel's sum over its window (at `offset` bytes from pixel 0's): the
/// same arithmetic as [`window4`] (`wide`: widened weight words at `w`) or
/// [`window4_bytes`] (weight bytes at `w`), in Rust (the DSP instructions
/// through `dsp_prims`).
///
/// # Safety
/// As [`window4`]'s or [`window4_bytes`]', for this one pixel.
unsafe fn window1(
    list: &[Entry; RUNS + 1],
    offset: usize,
    w: *const u8,
    wide: bool,
    bias: i32,
) -> i32 {
    use crate::arch::dsp_prims::{smlabb, smlad};
    let half = |b: i8| b as i16 as u16 as u32;
    let mut acc = bias;
    let mut w = w;
    for e in list.iter().take_while(|e| e.n != 0) {
        let x = e.x.wrapping_add(offset);
        // SAFETY (all reads below): the caller's contract.
        if e.n == SINGLE {
            let v = unsafe { core::ptr::read_unaligned(x as *const i16) };
            let b = unsafe { *(w as *const i8) };
            acc = smlabb(v as u16 as u32, half(b), acc);
            w = w.wrapping_add(1);
            continue;
        }
        for k in 0..e.n {
            let v = unsafe { core::ptr::read_unaligned(x.add(4 * k) as *const u32) };
            let p = if wide {
                let p = unsafe { core::ptr::read_unaligned(w as *const u32) };
                w = w.wrapping_add(4);
                p
            } else {
                let (b0, b1) = unsafe { (*(w as *const i8), *(w.add(1) as *const i8)) };
                w = w.wrapping_add(2);
                half(b0) | half(b1) << 16
            };
            acc = smlad(v, p, acc);
        }
    }
    acc
}

/// Input row `iy`'s columns `ix0..ix0 + cols` of group `group`, widened
/// into `dst` (columns outside the input and the spare halfwords as 0).
fn widen_row(
    g: &Geo,
    input: &[i8],
    iy: usize,
    group: usize,
    ix0: isize,
    cols: usize,
    dst: &mut [u32],
) {
    let half: &mut [u16] = bytemuck::cast_slice_mut(dst);
    let c = g.cpg;
    // Columns `lo..hi` of the tile are inside the input.
    // (`min`/`max`, not `clamp`: no panicking path.)
    let lo = (-ix0).min(cols as isize).max(0) as usize;
    let hi = (g.in_w as isize - ix0).min(cols as isize).max(lo as isize) as usize;
    if let Some(h) = half.get_mut(..lo * c) {
        h.fill(0);
    }
    if let Some(h) = half.get_mut(hi * c..) {
        h.fill(0);
    }
    if hi > lo {
        let first = (iy * g.in_w + (ix0 + lo as isize) as usize) * g.in_c + group * c;
        let last = first + (hi - lo - 1) * g.in_c + c;
        let (Some(src), Some(out)) = (input.get(first..last), half.get_mut(lo * c..hi * c)) else {
            return;
        };
        let a = (src, g.in_c, hi - lo, g.zp, out);
        match c {
            1 => widen_cols::<1>(a),
            2 => widen_cols::<2>(a),
            3 => widen_cols::<3>(a),
            4 => widen_cols::<4>(a),
            5 => widen_cols::<5>(a),
            6 => widen_cols::<6>(a),
            7 => widen_cols::<7>(a),
            _ => widen_cols::<8>(a),
        }
    }
}

/// `n` columns of `C` bytes, `stride` bytes apart in `src` (its length
/// `(n - 1) * stride + C`), as `x - zp` halfwords one after another in
/// `out` (`n * C` of them). Four bytes at a time by one word: two `SXTAB16`
/// give `(x0, x2)` and `(x1, x3)`, two `PKH` `(x0, x1)` and `(x2, x3)`. A
/// last two bytes as a halfword with its high byte copied up; a last three
/// as a word (the byte past them is the next column's or the next group's)
/// stored as a pair and a halfword, except in the last column, which takes
/// them byte by byte.
#[inline(never)]
fn widen_cols<const C: usize>((src, stride, n, zp, out): (&[i8], usize, usize, i32, &mut [u16])) {
    if n == 0 || src.len() < (n - 1) * stride + C || out.len() < n * C {
        return;
    }
    let (mut sp, mut dp) = (src.as_ptr(), out.as_mut_ptr());
    let off = zp_offset(zp);
    for col in 0..n {
        // SAFETY: column `col < n` reads `src[col * stride..][..C]` (and,
        // for a last three bytes outside the last column, the byte after
        // them, inside `src`) and writes `out[col * C..][..C]`, inside the
        // lengths checked above; the pointers step past the last column
        // only by `wrapping_add`.
        unsafe {
            let mut i = 0;
            while i + 4 <= C {
                let x = core::ptr::read_unaligned(sp.add(i) as *const u32);
                let (a, b) = (sxtab16(off, x), sxtab16_ror8(off, x));
                let d = dp.add(i) as *mut u32;
                d.write_unaligned((a & 0xFFFF) | b << 16);
                d.add(1).write_unaligned(a >> 16 | (b & 0xFFFF_0000));
                i += 4;
            }
            match C % 4 {
                2 => {
                    let x = core::ptr::read_unaligned(sp.add(i) as *const u16) as u32;
                    // Byte 1 copied to byte 2: (x0, x1).
                    let v = sxtab16(off, x | x << 8);
                    (dp.add(i) as *mut u32).write_unaligned(v);
                }
                3 if col + 1 < n => {
                    let x = core::ptr::read_unaligned(sp.add(i) as *const u32);
                    let (a, b) = (sxtab16(off, x), sxtab16_ror8(off, x));
                    (dp.add(i) as *mut u32).write_unaligned((a & 0xFFFF) | b << 16);
                    *dp.add(i + 2) = (a >> 16) as u16;
                }
                _ => {
                    for k in i..C {
                        *dp.add(k) = (*sp.add(k) as i32 - zp) as u16;
                    }
                }
            }
        }
        sp = sp.wrapping_add(stride);
        dp = dp.wrapping_add(C);
    }
}

/// The grouped kernel, with each DSP instruction modelled in Rust on the
/// host, against the portable convolution on random grouped layers
/// (`tests/qemu-kernels` repeats this with the real instructions).
#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::arch::test_cases::*;
    use crate::ops::conv;
    use crate::ops::Window;
    use crate::prepared;

    #[test]
    fn grouped_matches_portable() {
        let mut r = Rng(0x6A09_E667_F3BC_C908);
        let mut taken = 0;
        for case in 0..cases(2000) {
            let k = r.pick(&[3u8, 3, 3, 1, 2]);
            let (kh, kw) = if r.next() % 4 == 0 {
                (r.range(1, 3) as u8, r.range(1, 3) as u8)
            } else {
                (k, k)
            };
            // Strided windows a third of the time.
            let strided = r.next() % 3 == 0;
            let win = Window {
                kh,
                kw,
                stride_h: if strided { r.range(1, 3) as u8 } else { 1 },
                stride_w: if strided { r.range(1, 3) as u8 } else { 1 },
                dilation_h: 1,
                dilation_w: 1,
                pad_top: r.range(0, kh as i64) as u8,
                pad_left: r.range(0, kw as i64) as u8,
            };
            // One group: the narrow stems (1 to 3 channels; whole chunks of
            // four are declined, the columns kernel's).
            let groups = r.pick(&[4u16, 2, 3, 4, 8, 1]);
            let cpg = r.range(1, 8) as u16;
            let ocpg = r.range(1, 8) as u16;
            // Wide rows as well: several tiles of output columns.
            let wide = r.next() % 8 == 0;
            let ins = Shape::new(
                r.range(1, 9) as u16,
                if wide {
                    r.range(60, 200) as u16
                } else {
                    r.range(1, 12) as u16
                },
                cpg * groups,
            );
            let outs = Shape::new(
                out_extent(ins.h, win.kh, win.stride_h, 1, win.pad_top),
                out_extent(ins.w, win.kw, win.stride_w, 1, win.pad_left),
                ocpg * groups,
            );
            let p = ConvParams {
                window: win,
                groups,
                quant: quant(&mut r, false),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * (kh * kw) as usize * cpg as usize);
            // Mostly channels on the fast epilogue (real layers' are, after
            // the converter's rewrite), sometimes the random tables' others.
            let mut t = tables(&mut r, outs.c as usize, false);
            if r.next() % 4 != 0 {
                for s in &mut t.shift {
                    *s = -(r.range(1, 12) as i32);
                }
                for m in &mut t.mult {
                    *m = r.range(1 << 30, i32::MAX as i64) as i32;
                }
            }
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let mut want = std::vec![0i8; outs.len()];
            if conv::check_conv_args(&p, ins, &input, &w, outs, &want).is_err() {
                continue;
            }
            conv::conv_core(&p, ins, &input, &w, outs, &mut want);
            let mut got = std::vec![0x55i8; outs.len()];
            if grouped_narrow(&p, ins, &input, &w, None, outs, &mut got) {
                taken += 1;
                super::super::clamp_pass(&mut got, p.quant.clamp);
                assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
                // The converter's prepared constants: the same bytes.
                let oc = outs.c as usize;
                let mut table = std::vec![0i32; prepared::conv_len(oc)];
                let taps = filter.len() / oc;
                let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
                prepared::prepare_conv(&w, oc, taps, zi, zo, &mut table).unwrap();
                let pre: &[ChanQ] = bytemuck::cast_slice(&table);
                let mut again = std::vec![0x55i8; outs.len()];
                assert!(grouped_narrow(
                    &p,
                    ins,
                    &input,
                    &w,
                    Some(pre),
                    outs,
                    &mut again
                ));
                super::super::clamp_pass(&mut again, p.quant.clamp);
                assert_eq!(again, want, "prepared, case {case}");
            } else {
                // Declined only outside its range or for a channel off the
                // fast epilogue, and then nothing written.
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                let oc = outs.c as usize;
                let mut table = std::vec![0i32; prepared::conv_len(oc)];
                let taps = filter.len() / oc;
                let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
                prepared::prepare_conv(&w, oc, taps, zi, zo, &mut table).unwrap();
                let slow = table.chunks_exact(4).any(|q| q[1] == 0);
                assert!(slow || !grouped_narrow_covers(&p, ins, outs), "case {case}");
            }
        }
        #[cfg(not(miri))]
        assert!(taken > 1200, "only {taken} cases took the grouped kernel");
    }
}
