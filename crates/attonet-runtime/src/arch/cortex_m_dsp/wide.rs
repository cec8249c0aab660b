//! Convolutions whose window is wider than the columns kernel's
//! ([`CONV_MAX_K`] taps: a 3x3 over more than 64 channels a group, a 1x1
//! over more than 576), on the Cortex-M DSP extension.
//!
//! The columns kernel keeps a whole window of four or five pixels in its
//! scratch; past [`CONV_MAX_K`] taps it does not fit, and such layers used
//! to take the portable loops (5 to 7 instructions a MAC on the Cortex-M4,
//! against about 1 for the columns kernel). This kernel cuts the window
//! into slices of whole chunks ([`wide_slices`]) and, per block of four
//! output pixels and batch of output channels, gathers one slice at a time
//! into the same column layout and accumulates it into 32-bit partial sums
//! ([`block_sum4`]: the columns kernel's chunk loops, [`p4_chunk_loops`],
//! between a load and a store of the four sums). After the last slice each
//! sum goes through the fast epilogue ([`fast_out`]), or through the exact
//! one for a channel outside its bounds: the sums are the portable
//! kernel's (`bias + Σ w (x - zp)` modulo 2^32, padded taps contributing
//! nothing), so every output is bit-identical.
//!
//! # Scratch
//! [`SCRATCH_BYTES`] on the stack: one slice's columns of four pixels
//! (`8 * chunks` words, at most 4608 bytes), then a batch's partial sums
//! (four words a channel) and, without the converter's prepared table, the
//! batch's epilogue constants (four words a channel): [`wide_batch`]. Where
//! a group's channels are not whole chunks of four, two [`CONV_MAX_K`]-byte
//! buffers more: the slice's bytes before they are widened, and the last
//! weight row's last slice padded to whole chunks.

use super::{copy_bytes, fast_out, put, widen_run, zp_offset, ConvGeo, Epilogue, OutQuant, Words};
use crate::dsp_select::{columns_wide_covers, wide_batch, wide_slices, CONV_MAX_K, SCRATCH_BYTES};
use crate::ops::conv::tap_range;
use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::{self, ChanQ};

/// Pixels a block.
const P: usize = 4;

/// Words of scratch.
const WORDS: usize = SCRATCH_BYTES / 4;

/// One call of [`block_sum4`]; offsets as the assembly reads them (those
/// of the chunk loops, [`p4_chunk_loops`], as in the columns kernel's
/// block).
#[repr(C)]
struct SumBlock {
    /// 0: the first channel's four partial sums.
    acc: *mut i32,
    /// 4: one past the last channel's.
    acc_end: *mut i32,
    /// 8: the columns (chunk `j` of pixel `p` at word `8j + 2p`).
    cols: *const u32,
    /// 12: groups of four chunks.
    quads: u32,
    /// 16: chunks after them (0 to 3).
    rem: u32,
    /// 20: bytes added to the weight pointer after each channel.
    wskip: i32,
}

#[cfg(attonet_dsp)]
const _: () = assert!(core::mem::size_of::<SumBlock>() == 24);

/// For each channel of `b.acc..b.acc_end` (four sums each): `4 * quads +
/// rem` chunks of the columns against the channel's weights read from `wp`
/// four bytes a chunk, added to its four sums; `wp += wskip`.
///
/// # Safety
/// `cols` holds `4 * quads + rem` chunks of four pixels, word aligned; `wp`
/// has `4 * (4 * quads + rem)` bytes readable per channel (the rows
/// advanced by `wskip`); `acc..acc_end` is a multiple of four `i32`s,
/// readable and writable, word aligned.
#[inline(never)]
unsafe fn block_sum4(b: &mut SumBlock, wp: *const i8) {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; r6 and r7 (reserved by LLVM) are saved
    // and restored around the loop; everything else the assembly writes is
    // declared.
    unsafe {
        core::arch::asm!(
            "push   {{r6, r7}}",
            "ldr    r7, [lr]",
            "2:",
            "ldm    r7, {{r0, r1, r2, r3}}",
            "ldr    r11, [lr, #8]",
            "ldr    r12, [lr, #12]",
            p4_chunk_loops!(),
            "ldr    r9, [lr, #20]",
            "add    r10, r10, r9",
            "stm    r7!, {{r0, r1, r2, r3}}",
            "ldr    r9, [lr, #4]",
            "cmp    r7, r9",
            "bne    2b",
            "pop    {{r6, r7}}",
            inout("r10") wp => _,
            inout("lr") b as *mut SumBlock => _,
            out("r0") _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r11") _,
            out("r12") _,
        );
    }
    #[cfg(not(attonet_dsp))]
    {
        use super::{smlad, sxtb16, sxtb16_ror8};
        // The same loops in Rust, on the modelled instructions.
        let mut wp = wp;
        let mut acc = b.acc;
        while acc != b.acc_end {
            // SAFETY (all reads and writes below): the caller's contract.
            let mut sums: [i32; P] = core::array::from_fn(|p| unsafe { *acc.add(p) });
            for j in 0..(4 * b.quads + b.rem) as usize {
                let w = unsafe { core::ptr::read_unaligned(wp as *const u32) };
                wp = wp.wrapping_add(4);
                let (wa, wb) = (sxtb16(w), sxtb16_ror8(w));
                for (p, a) in sums.iter_mut().enumerate() {
                    let x = b.cols.wrapping_add(j * 2 * P + 2 * p);
                    let (x0, x1) = unsafe { (*x, *x.add(1)) };
                    *a = smlad(wb, x1, smlad(wa, x0, *a));
                }
            }
            wp = wp.wrapping_offset(b.wskip as isize);
            for (p, &a) in sums.iter().enumerate() {
                unsafe { *acc.add(p) = a };
            }
            acc = acc.wrapping_add(P);
        }
    }
}

/// Taps `t0..t1` (`t0` a multiple of 4) of output pixel `(oy, ox)`'s window
/// in group `grp`, widened into the columns of pixel slot `s` (chunk `j` of
/// the slice at words `8j + 2s`, `8j + 2s + 1`); taps outside the input,
/// and those rounding `t1` up to a whole chunk, as 0. With whole chunks of
/// four channels a tap each input run is widened in place; otherwise the
/// slice's bytes are copied into `window` first (padded taps as the zero
/// point `zp`, which widens to 0) and widened from there.
#[allow(clippy::too_many_arguments)]
fn gather_slice(
    g: &ConvGeo,
    input: &[u8],
    cols: &mut [u32],
    window: &mut [u8],
    s: usize,
    (oy, ox): (usize, usize),
    grp: usize,
    (zp, off): (u8, u32),
    (t0, t1): (usize, usize),
) {
    let iy0 = oy as i32 * g.sh - g.pt;
    let ix0 = ox as i32 * g.sw - g.pl;
    let inside = (iy0 as u32) < g.y_lim && (ix0 as u32) < g.x_lim;
    let chunks = (t1 - t0).div_ceil(4);
    let bytes = g.cpg % 4 != 0;
    if bytes {
        window[..4 * chunks].fill(zp);
    } else if !inside {
        for j in 0..chunks {
            put(cols, j * 2 * P + 2 * s, 0);
            put(cols, j * 2 * P + 2 * s + 1, 0);
        }
    }
    let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
    let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
    if ky0 >= ky1 || kx0 >= kx1 {
        if bytes {
            widen_run::<P>(window, 0, 4 * chunks, cols, 2 * s, off);
        }
        return;
    }
    // An input run of `n` taps from input byte `src`, tap `lo` on.
    let mut run = |src: usize, lo: usize, n: usize| {
        if bytes {
            copy_bytes(window, lo - t0, input, src, n);
        } else {
            widen_run::<P>(input, src, n, cols, (lo - t0) / 4 * 2 * P + 2 * s, off);
        }
    };
    let cpg = g.cpg;
    let row_taps = g.kw * cpg;
    // One group and no horizontal dilation: a kernel row's taps inside the
    // input are one run of input bytes.
    let merge = g.dw == 1 && cpg == g.ic;
    for ky in ky0.max(t0 / row_taps)..ky1.min((t1 - 1) / row_taps + 1) {
        let row = (iy0 + (ky * g.dh) as i32) as usize * g.iw;
        let first = ky * row_taps;
        if merge {
            let lo = t0.max(first + kx0 * cpg);
            let hi = t1.min(first + kx1 * cpg);
            if lo < hi {
                // Tap `first + kx * cpg + c` is input column `ix0 + kx`.
                let ix = (ix0 + kx0 as i32) as usize;
                run((row + ix) * g.ic + (lo - first - kx0 * cpg), lo, hi - lo);
            }
        } else {
            for kx in kx0..kx1 {
                let p0 = first + kx * cpg;
                let (lo, hi) = (t0.max(p0), t1.min(p0 + cpg));
                if lo < hi {
                    let ix = (ix0 + (kx * g.dw) as i32) as usize;
                    run((row + ix) * g.ic + grp * cpg + (lo - p0), lo, hi - lo);
                }
            }
        }
    }
    if bytes {
        widen_run::<P>(window, 0, 4 * chunks, cols, 2 * s, off);
    }
}

/// The convolution through slices (see the module), or `false` (nothing
/// written) where [`columns_wide_covers`] does not take it. `pre`: the
/// converter's epilogue constants of every output channel, where it wrote
/// them. Arguments as the portable kernel's checks accepted them.
pub(super) fn conv_wide(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    pre: Option<&[ChanQ]>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !columns_wide_covers(p, in_shape, out_shape) {
        return false;
    }
    let g = ConvGeo::new(p, in_shape);
    let groups = p.groups as usize;
    let oc_n = out_shape.c as usize;
    let ocpg = oc_n / groups;
    let out_w = out_shape.w as usize;
    let pixels = out_shape.h as usize * out_w;
    let (k, zp) = (g.k, p.quant.input_zero_point);
    let (slices, chunks) = wide_slices(k);
    let batch = wide_batch(k, ocpg, pre.is_some());
    let ncols = 8 * chunks;
    // Four partial sums a channel, and its four constants unless prepared.
    let (per, consts_words) = if pre.is_some() {
        (4, 0)
    } else {
        (8, 4 * batch)
    };
    if weights.filter.len() < oc_n * k || batch == 0 || ncols + per * batch > WORDS {
        return false;
    }
    let out_q = OutQuant::new(&p.quant);
    let input: &[u8] = bytemuck::cast_slice(input);
    let off = zp_offset(zp);
    let mut scratch = Words([0u32; WORDS]);
    let (cols, rest) = scratch.0.split_at_mut(ncols);
    let (sums, consts) = rest.split_at_mut(4 * batch);
    let sums: &mut [i32] = bytemuck::cast_slice_mut(sums);
    let consts: &mut [ChanQ] = bytemuck::cast_slice_mut(&mut consts[..consts_words]);
    // Windows that are not whole chunks: the slice's bytes, and the
    // filter's last row padded to whole chunks (its last slice would read
    // past the filter's end).
    let mut window = [0u8; CONV_MAX_K];
    let mut last = Words([0u32; CONV_MAX_K / 4]);
    if k % 4 != 0 {
        // The last slice's part of the last row (taps `t0..k`).
        let t0 = (slices - 1) * 4 * chunks;
        let row = &weights.filter[(oc_n - 1) * k..oc_n * k];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut last.0);
        bytes[..k - t0].copy_from_slice(bytemuck::cast_slice(&row[t0..]));
    }

    for grp in 0..groups {
        let mut cb = 0;
        while cb < ocpg {
            let nb = batch.min(ocpg - cb);
            let oc0 = grp * ocpg + cb;
            let tab: &[ChanQ] = match pre {
                Some(pre) => &pre[oc0..oc0 + nb],
                None => {
                    let words: &mut [i32] = bytemuck::cast_slice_mut(&mut consts[..nb]);
                    prepared::conv_consts(weights, oc0, k, zp, p.quant.output_zero_point, words);
                    &consts[..nb]
                }
            };
            let sums = &mut sums[..4 * nb];
            let mut n0 = 0;
            while n0 < pixels {
                let np = P.min(pixels - n0);
                for (c, s) in sums.chunks_exact_mut(P).enumerate() {
                    s.fill(weights.bias[oc0 + c]);
                }
                for slice in 0..slices {
                    let t0 = slice * 4 * chunks;
                    let t1 = k.min(t0 + 4 * chunks);
                    let here = (t1 - t0).div_ceil(4);
                    for s in 0..np {
                        let n = n0 + s;
                        let at = (n / out_w, n % out_w);
                        let zp = (zp as u8, off);
                        gather_slice(&g, input, cols, &mut window, s, at, grp, zp, (t0, t1));
                    }
                    // The filter's last row, where this slice reads past
                    // its end, from the padded copy.
                    let padded = oc0 + nb == oc_n && t0 + 4 * here > k;
                    let n_main = nb - padded as usize;
                    let range = sums.as_mut_ptr_range();
                    let mut b = SumBlock {
                        acc: range.start,
                        acc_end: range.start.wrapping_add(P * n_main),
                        cols: cols.as_ptr(),
                        quads: (here / 4) as u32,
                        rem: (here % 4) as u32,
                        wskip: k as i32 - 4 * here as i32,
                    };
                    // SAFETY: `cols` holds `here` chunks of four pixels (the
                    // slots past `np` hold an earlier block's, whose sums are
                    // not used); rows `oc0..oc0 + n_main` of the filter are
                    // read from tap `t0` on, `4 * here` bytes each, `k`
                    // bytes apart: within the filter (`oc_n * k` bytes,
                    // checked above; past a row's end only into the next
                    // row, and the last row's slice that would pass the
                    // filter's end is read from `last`, `4 * here` bytes);
                    // `sums` is `4 * nb` words of the scratch.
                    unsafe {
                        if n_main > 0 {
                            block_sum4(&mut b, weights.filter[oc0 * k + t0..].as_ptr());
                        }
                        if padded {
                            b.acc = b.acc_end;
                            b.acc_end = range.end;
                            block_sum4(&mut b, last.0.as_ptr() as *const i8);
                        }
                    }
                }
                for (c, (q, s)) in tab.iter().zip(sums.chunks_exact(P)).enumerate() {
                    let oc = oc0 + c;
                    for (i, &acc) in s[..np].iter().enumerate() {
                        let y = if q.mult != 0 {
                            fast_out(acc, q) as i8
                        } else {
                            Epilogue::from(weights.multiplier[oc], weights.shift[oc])
                                .exact(acc, &out_q)
                        };
                        output[(n0 + i) * oc_n + oc] = y;
                    }
                }
                n0 += np;
            }
            cb += nb;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::super::conv_s8;
    use super::*;
    use crate::arch::test_cases::*;
    use crate::plan::kernels::{self, KernelSet};

    /// Windows past `CONV_MAX_K` (`WideCase`: 3x3, 1x1 and any windows,
    /// whole chunks of four channels or not; strides, dilation, padding, two
    /// groups; channels outside the fast epilogue, with and without the
    /// converter's prepared constants) give the portable kernel's bytes; a
    /// build without `CONV_WIDE` declines them, writing nothing.
    #[test]
    fn wide_windows_match_portable() {
        let mut r = Rng(0x51DE_C0DE_0000_0001);
        let mut covered = 0;
        for case in 0..cases(300) {
            let c = WideCase::draw(&mut r, case);
            let (p, ins, outs, k) = (c.p, c.ins, c.outs, c.k);
            // (Windows within `CONV_MAX_K` are the columns kernel's.)
            let takes = k > CONV_MAX_K;
            assert_eq!(columns_wide_covers(&p, ins, outs), takes, "case {case}");
            if !takes {
                continue;
            }
            let w = c.weights();
            let oc = outs.c as usize;
            let mut table = std::vec![0i32; prepared::conv_len(oc)];
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            let prepared_ok = prepared::prepare_conv(&w, oc, k, zi, zo, &mut table).is_some();
            for pre in [&[][..], &table[..]] {
                if !pre.is_empty() && !prepared_ok {
                    continue;
                }
                let mut got = std::vec![0x55i8; outs.len()];
                let took = conv_s8::<{ kernels::ALL }>(&p, ins, &c.input, &w, pre, outs, &mut got);
                assert!(took, "case {case}");
                covered += 1;
                assert_eq!(got, c.want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            }
            const NO_WIDE: KernelSet = kernels::ALL & !kernels::CONV_WIDE;
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(!conv_s8::<NO_WIDE>(
                &p,
                ins,
                &c.input,
                &w,
                &[],
                outs,
                &mut got
            ));
            assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
        }
        #[cfg(not(miri))]
        assert!(covered > 300, "only {covered} calls took the wide path");
    }
}
