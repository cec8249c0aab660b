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
//! pixel's window is then `kw * cpg` consecutive halfwords: read as words
//! (halfword pairs; unaligned `LDR`s where `cpg * stride` is odd), and, for
//! an odd count, its last halfword alone. The weights are read in place
//! (OHWI: a kernel row's `kw * cpg` bytes are consecutive), two bytes packed
//! into a pair per word of activations; no copy of them is made, so the
//! kernel's stack is its ring alone ([`GROUPED_RING_WORDS`]).
//!
//! # Loop
//! Per output row, four output pixels and one output channel at a time
//! ([`window4`]): per pair, two weight bytes packed (`LDRSB`, `LDRSB`,
//! `PKHBT`), four activation words and four `SMLAD`s; per odd tap, one
//! weight byte, four halfwords and four `SMLABB`s; then the fast epilogue
//! ([`fast_out`]). Rows above or below the input are skipped (their taps
//! are padding). The sums are the portable kernel's (`bias + Σ w (x - zp)`
//! modulo 2^32), so every output is bit-identical.

use super::{fast_channels, fast_out};
use crate::dsp_select::{
    grouped_narrow_covers, grouped_row_words, grouped_tile, GROUPED_MAX_CPG, GROUPED_RING_WORDS,
};
use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::ChanQ;
use core::mem::MaybeUninit;

/// Output pixels computed together (each weight read once for them).
const PIX: usize = 4;

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
    let g = Geo {
        groups,
        cpg: in_shape.c as usize / groups,
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
        let mut ox0 = 0;
        while ox0 < g.out_w {
            let n = tile.min(g.out_w - ox0);
            let t = Tile {
                group,
                ox0,
                n,
                row_words,
            };
            tile_rows(&g, &t, input, filter, consts, ring, output);
            ox0 += n;
        }
    }
    true
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
/// input row widened once, into slot `iy % kh`), then the pixels. `filter`:
/// the group's OHWI weights.
fn tile_rows(
    g: &Geo,
    t: &Tile,
    input: &[i8],
    filter: &[i8],
    consts: &[ChanQ],
    ring: &mut [u32],
    output: &mut [i8],
) {
    // Input row held by each slot (none yet).
    let mut held = [usize::MAX; 3];
    let ix0 = (t.ox0 * g.sw) as isize - g.pad_left;
    let cols = (t.n - 1) * g.sw + g.kw;
    let row = g.kw * g.cpg;
    let taps = g.kh * row;
    let (pairs, odd) = (row / 2, row % 2 == 1);
    let step = g.sw * g.cpg * 2;
    for oy in 0..g.out_h {
        let top = (oy * g.sh) as isize - g.pad_top;
        let ky0 = (-top).max(0) as usize;
        let ky1 = (g.in_h as isize - top).min(g.kh as isize).max(0) as usize;
        if ky1 <= ky0 {
            // Every tap in the padding (a padding at least as tall as the
            // window): the bias alone.
            for x in 0..t.n {
                let at = (oy * g.out_w + t.ox0 + x) * g.out_c + t.group * g.ocpg;
                if let Some(out) = output.get_mut(at..at + g.ocpg) {
                    for (o, q) in out.iter_mut().zip(consts) {
                        *o = fast_out(q.bias, q) as i8;
                    }
                }
            }
            continue;
        }
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
        let out_row = oy * g.out_w;
        let mut x = 0;
        while x < t.n {
            let mut m = PIX.min(t.n - x);
            // A last block of fewer than four pixels is the tile's last
            // four: the overlap is computed again and written with the same
            // values.
            if m < PIX && t.n >= PIX {
                x = t.n - PIX;
                m = PIX;
            }
            // The block's first output: pixel `x`, the group's first channel.
            let at = (out_row + t.ox0 + x) * g.out_c + t.group * g.ocpg;
            let Some(out) = output.get_mut(at..at + (m - 1) * g.out_c + g.ocpg) else {
                return;
            };
            // Each valid kernel row: its pairs, then its odd tap; an end
            // mark. Pixel `i`'s window is `i * step` bytes further.
            let mut list = [Entry {
                x: core::ptr::null(),
                n: 0,
            }; 7];
            let mut k = 0;
            for &r in &rows[ky0..ky1] {
                let base = r + x * step;
                // The `m` pixels' windows lie in their row's slot
                // (`grouped_row_words`).
                debug_assert!(base + (m - 1) * step + 2 * row <= ring_bytes.len());
                // SAFETY: in bounds, as just stated.
                let at = unsafe { ring_bytes.as_ptr().add(base) };
                if pairs > 0 {
                    list[k] = Entry { x: at, n: pairs };
                    k += 1;
                }
                if odd {
                    list[k] = Entry {
                        x: at.wrapping_add(4 * pairs),
                        n: SINGLE,
                    };
                    k += 1;
                }
            }
            let oc = g.out_c;
            if m == PIX {
                let o = out.as_mut_ptr();
                for (j, q) in consts.iter().enumerate() {
                    let Some(w) = filter.get(j * taps + ky0 * row..j * taps + ky1 * row) else {
                        return;
                    };
                    // SAFETY: every entry's four windows are in the ring and
                    // `w` has a weight byte for each of their taps.
                    let acc = unsafe { window4(&list, step, w, q.bias) };
                    // SAFETY: `out` holds `3 * oc + ocpg` bytes (cut above)
                    // and `j < ocpg`.
                    unsafe {
                        *o.add(j) = fast_out(acc[0], q) as i8;
                        *o.add(oc + j) = fast_out(acc[1], q) as i8;
                        *o.add(2 * oc + j) = fast_out(acc[2], q) as i8;
                        *o.add(3 * oc + j) = fast_out(acc[3], q) as i8;
                    }
                }
            } else {
                // Fewer than four output columns in the whole tile.
                for (j, q) in consts.iter().enumerate() {
                    let Some(w) = filter.get(j * taps + ky0 * row..j * taps + ky1 * row) else {
                        return;
                    };
                    for i in 0..m {
                        // SAFETY: pixel `i < m`'s window is in the ring.
                        let a = unsafe { window1(&list, i * step, w, q.bias) };
                        if let Some(o) = out.get_mut(i * oc + j) {
                            *o = fast_out(a, q) as i8;
                        }
                    }
                }
            }
            x += m;
        }
    }
}

/// [`Entry::n`] of a single halfword (an odd kernel row's last tap).
const SINGLE: usize = 1 << 31;

/// A run of a [`window4`] call: where pixel 0's activations start and how
/// many halfword pairs (or [`SINGLE`]: one halfword); 0 ends the list.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    x: *const u8,
    n: usize,
}

/// Four pixels' sums over their windows, from `bias`: for each run of
/// `list` (up to the first with `n == 0`) and each of its pairs `k`, the
/// next two weight bytes of `w` packed as halfwords into `p` and `acc[i] +=
/// SMLAD(word at x + i * step + 4 * k, p)`; for a [`SINGLE`] run, the next
/// weight byte times the halfword at `x + i * step`.
///
/// # Safety
/// Each run's activations for `i < 4` are readable (`x + i * step`, `4 * n`
/// bytes, or 2 for a single); `w` holds a byte for each tap of the list.
#[inline(always)]
unsafe fn window4(list: &[Entry; 7], step: usize, w: &[i8], bias: i32) -> [i32; PIX] {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; the assembly reads only those bytes,
    // `list` and `w`, and writes only the registers it declares.
    unsafe {
        let (mut a0, mut a1, mut a2, mut a3) = (bias, bias, bias, bias);
        core::arch::asm!(
            "3:",
            "ldrd   {x}, {n}, [{e}], #8",
            "cmp    {n}, #0",
            "beq    4f",
            "add    {x2}, {x}, {s}, lsl #1",
            "bmi    5f",
            "2:",
            "ldrsb  {w}, [{wp}], #1",
            "ldrsb  {t}, [{wp}], #1",
            "pkhbt  {w}, {w}, {t}, lsl #16",
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
            "b      3b",
            "4:",
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            e = inout(reg) list.as_ptr() => _,
            s = in(reg) step,
            wp = inout(reg) w.as_ptr() => _,
            x = out(reg) _,
            x2 = out(reg) _,
            n = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
        [a0, a1, a2, a3]
    }
    #[cfg(not(attonet_dsp))]
    {
        let mut acc = [bias; PIX];
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: the caller's contract.
            *a = unsafe { window1(list, i * step, w, bias) };
        }
        acc
    }
}

/// One pixel's sum over its window (at `offset` bytes from pixel 0's): the
/// same arithmetic as [`window4`], in Rust (the DSP instructions through
/// `dsp_prims`).
///
/// # Safety
/// As [`window4`]'s, for this one pixel.
unsafe fn window1(list: &[Entry; 7], offset: usize, w: &[i8], bias: i32) -> i32 {
    use crate::arch::dsp_prims::{smlabb, smlad};
    let mut acc = bias;
    let mut wi = 0;
    for e in list.iter().take_while(|e| e.n != 0) {
        let x = e.x.wrapping_add(offset);
        if e.n == SINGLE {
            // SAFETY: the caller's contract.
            let v = unsafe { core::ptr::read_unaligned(x as *const i16) };
            let Some(&b) = w.get(wi) else {
                return acc;
            };
            acc = smlabb(v as u16 as u32, b as i16 as u16 as u32, acc);
            wi += 1;
        } else {
            for k in 0..e.n {
                // SAFETY: the caller's contract.
                let v = unsafe { core::ptr::read_unaligned(x.add(4 * k) as *const u32) };
                let (Some(&b0), Some(&b1)) = (w.get(wi), w.get(wi + 1)) else {
                    return acc;
                };
                let p = (b0 as i16 as u16 as u32) | (b1 as i16 as u16 as u32) << 16;
                acc = smlad(v, p, acc);
                wi += 2;
            }
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
/// `out` (`n * C` of them).
#[inline(never)]
fn widen_cols<const C: usize>((src, stride, n, zp, out): (&[i8], usize, usize, i32, &mut [u16])) {
    if n == 0 || src.len() < (n - 1) * stride + C || out.len() < n * C {
        return;
    }
    let (mut sp, mut dp) = (src.as_ptr(), out.as_mut_ptr());
    for _ in 0..n {
        // SAFETY: column `k < n` reads `src[k * stride..][..C]` and writes
        // `out[k * C..][..C]`, inside the lengths checked above; the
        // pointers step past the last column only by `wrapping_add`.
        unsafe {
            for i in 0..C {
                *dp.add(i) = (*sp.add(i) as i32 - zp) as u16;
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
            // Strided windows a third of the time (the kernel takes them
            // for an even number of channels a group only).
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
            let groups = r.pick(&[4u16, 2, 3, 4, 8]);
            let cpg = r.range(2, 8) as u16;
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
