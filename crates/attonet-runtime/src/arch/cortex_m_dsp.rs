//! Cortex-M DSP kernels (Armv7E-M, Armv8-M Mainline with the DSP extension):
//! SMLAD on sign-extended halfword pairs, requantization by SMMLAR.
//!
//! Every entry point takes arguments the portable kernel's checks already
//! accepted, and returns `false` (having written nothing) for parameters it
//! does not cover, so the caller runs the portable loops instead. What it
//! computes is bit-identical to the portable kernel: the accumulator is the
//! same sum modulo 2^32 (`Σ w * (x - input_zp)`, padded taps contributing
//! nothing, `+ bias`), and the epilogue equals [`crate::quant::requantize`],
//! the output offset and the clamp (see below for how, and for the channels
//! that take the exact path instead).
//!
//! # Pair order
//! `SXTB16 x` sign-extends bytes 0 and 2 of a word into two halfwords, and
//! `SXTB16 x, ROR #8` bytes 1 and 3 (CMSIS-NN's `read_and_pad_reordered`).
//! Applying the same two to four weights and to four activations gives pairs
//! `(w0, w2) . (x0, x2)` and `(w1, w3) . (x1, x3)`, whose two SMLADs sum
//! the four products: no byte shuffling is needed on either side.
//!
//! # The epilogue ([`ChanQ`], `fast_out`)
//! Five instructions per output (`SUB`, `ADD`, `SMMLAR`, `ASR`, `SSAT`)
//! instead of TFLite's doubling high multiply and rounding shift: with
//! `|acc| < 2^30`, a positive multiplier and a right shift of 1 to 22, the
//! two roundings fold into one `SMMLAR` whose accumulator term carries the
//! rounding constant, the output zero point and the sign correction
//! (derivation at [`ChanQ`]; exhaustive-ish tests against `requantize`).
//! Channels outside those bounds (never seen in real models) get their
//! outputs recomputed by the exact portable arithmetic; a clamp narrower
//! than `-128..=127` is one more pass over the output.
//!
//! # Convolution ([`conv_s8`])
//! An "im2col" of five (four for the largest windows) output pixels at a
//! time, in raster order: each pixel's window (`kh * kw * in_c / groups`
//! bytes in OHWI order, the layout of a weight row) is widened to
//! `x - input_zp` halfwords in the pair order above, with padded taps and
//! the round-up to a multiple of four as 0, interleaved as
//! `[k / 4][pixel][2 words]`, straight from the input where the window's
//! rows are whole chunks, else through a byte window. Then one assembly
//! routine ([`block`]) runs every output channel of a batch: it reads the
//! channel's weight row once, four bytes at a time (`LDR`, two `SXTB16`),
//! accumulates the pixels (`LDRD` and two `SMLAD` each; 18 instructions per
//! 20 multiply-accumulates, four chunks an iteration), applies the epilogue
//! and stores the outputs. Weight rows are read in place, unaligned (allowed
//! on these cores), so the plan's weight layout is unchanged. The batch's
//! epilogue constants come from the converter's prepared table where there
//! is one ([`prepared`]). Stack: the smallest of [`SCRATCH_TIERS`] (1 KB to
//! [`SCRATCH_BYTES`](crate::dsp_select::SCRATCH_BYTES)) that gives the
//! layer the blocks and batches of the largest (columns, the batch's constants unless prepared, the byte
//! window, a padded copy of the last weight row, a partial block's outputs).
//!
//! # Grouped convolutions with few channels a group (`grouped`)
//! 1 to 8 channels a group, windows up to 3x3 (AttoNet's grouped 3x3, and
//! 1- to 3-channel stems): each input row widened once per group into a
//! 1 KB ring, a pixel's kernel row read straight from it as halfword pairs,
//! four pixels per weight pair, the weights widened once per group where
//! the call has pixels enough (see the module).
//!
//! # Depthwise 3x3 ([`dw3`])
//! Blocks of up to 32 channels: the input rows a row of outputs reads are
//! widened once into a ring of three padded row buffers (`[group][column][2
//! words]`, padding as the zero point, which is folded into the bias; 1.5 KB
//! or 4 KB of stack), the weights widened once per block (or read from the
//! converter's prepared table); per output pixel and four channels, nine
//! taps of one `LDRD` of activations, one `LDRD` of weights and four
//! `SMLAxy`, all in one assembly loop over the row. Other depthwise windows
//! take [`dw_core`] (Rust, four channels a tap).
//!
//! # ADD ([`add_s8`])
//! The per-input halves of TFLite's ADD as two 256-entry tables (doubled for
//! the epilogue's `2 * acc`); per element two byte loads, two table loads,
//! an add and the epilogue: about 10.5 instructions. A fused block's
//! shortcut builds them once per run ([`AddPrepared`], 2 KiB of its stack)
//! for all its bands of rows. A single call under [`ADD_MIN_LEN`] elements
//! computes the halves per element instead ([`AddDirect`]): building the
//! tables (about 5,500 instructions) would cost more. The kernel set says
//! which ways a firmware links ([`crate::dsp_select::add_way`]).

#[cfg(not(attonet_dsp))]
use super::dsp_prims::smlad;
use super::dsp_prims::{
    asr_reg, smlabb, smlatt, smmlar, ssat8, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8,
};
use crate::dsp_select::{
    add_half_quick, block_order, blocks, columns_block, columns_wide_covers, columns_window,
    conv_plan, depthwise_covers, depthwise_like_covers, narrow_window_covers,
    pointwise_narrow_covers, ConvPlan, ADD_MIN_LEN, BATCH, DW_WORDS, NARROW_MAX_K, SCRATCH_TIERS,
};
use crate::ops::add::AddParams;
use crate::ops::conv::tap_range;
use crate::ops::depthwise::DepthwiseParams;
use crate::ops::{ConvParams, ConvQuant, ConvWeights, Shape};
use crate::plan::kernels;
use crate::plan::kernels::KernelSet;
use crate::prepared::{self, ChanQ, DwLayout, DW3_CONST_WORDS, DW3_WEIGHT_WORDS};
use crate::quant::{requantize, requantize_smaller_than_one, Clamp};
use core::mem::MaybeUninit;

mod grouped;

/// Reads four bytes at `i` as a little-endian word (one unaligned `LDR`).
#[inline(always)]
fn load4(bytes: &[u8], i: usize) -> u32 {
    debug_assert!(i + 4 <= bytes.len());
    // SAFETY: every caller passes `i + 4 <= bytes.len()` (window and channel
    // ranges derived from lengths the portable checks validated); the read is
    // unaligned-safe.
    unsafe { core::ptr::read_unaligned(bytes.as_ptr().add(i) as *const u32) }
}

/// Writes `v` to `buf[i]`.
#[inline(always)]
fn put(buf: &mut [u32], i: usize, v: u32) {
    debug_assert!(i < buf.len());
    // SAFETY: every caller passes `i < buf.len()` (column and row-buffer
    // offsets computed from the lengths those buffers were cut to).
    unsafe { *buf.get_unchecked_mut(i) = v }
}

/// The output epilogue of one channel: bias, [`requantize`], output offset,
/// clamp. Exactly the portable kernels' `finish` on the same sum, with the
/// per-channel constants derived once:
///
/// * `requantize(x, m, s)` is `rdbp(srdhm(x << max(s, 0), m), max(-s, 0))`;
/// * `srdhm(a, b)`, gemmlowp's `(a * b + nudge) / 2^31` with the nudge
///   `2^30` or `1 - 2^30` by sign and a truncating division, equals
///   `floor((a * b + 2^30) / 2^31)` for every product (for a negative
///   product `p`: `trunc((p + 1 - 2^30) / 2^31) = ceil(...) =
///   floor((p + 2^30) / 2^31)`), except that gemmlowp saturates `i32::MIN *
///   i32::MIN` to `i32::MAX`: a channel with `m == i32::MIN` takes
///   [`requantize`] itself;
/// * `rdbp(x, e)` is `(x >> e) + ((x & mask) > (mask >> 1) + (x < 0))`
///   with `mask = 2^e - 1`, gemmlowp's formula.
#[derive(Clone, Copy)]
#[repr(C)]
struct Epilogue {
    /// Offset 0 (read by the assembly in [`store`](Self::store)).
    multiplier: i32,
    /// Offset 4: `-shift`, the rounding right shift, for channels with
    /// `shift <= 0`.
    right: u32,
    /// Offset 8: `2^right - 1`.
    mask: i32,
    /// Offset 12: `mask >> 1`.
    half: i32,
    shift: i32,
    /// Whether `apply` is exact for this channel:
    /// `shift <= 0` and `multiplier != i32::MIN` (else [`exact`](Self::exact)).
    fast: bool,
}

/// The per-layer part of the epilogue: output zero point and clamp (read by
/// the assembly in [`Epilogue::store`]: `zp` at offset 0, `min` 4, `max` 8).
#[derive(Clone, Copy)]
#[repr(C)]
struct OutQuant {
    zp: i32,
    min: i32,
    max: i32,
}

impl OutQuant {
    #[inline(always)]
    fn new(q: &ConvQuant) -> OutQuant {
        OutQuant {
            zp: q.output_zero_point,
            min: q.clamp.min as i32,
            max: q.clamp.max as i32,
        }
    }
}

impl Epilogue {
    #[inline(always)]
    fn from(multiplier: i32, shift: i32) -> Epilogue {
        let right = (shift.wrapping_neg().max(0) as u32) & 31;
        let mask = ((1u32 << right) - 1) as i32;
        Epilogue {
            multiplier,
            right,
            mask,
            half: mask >> 1,
            shift,
            fast: shift <= 0 && multiplier != i32::MIN,
        }
    }

    #[inline(always)]
    fn new(w: &ConvWeights<'_>, oc: usize) -> Epilogue {
        Epilogue::from(w.multiplier[oc], w.shift[oc])
    }

    /// The epilogue of `acc` (the sum with the bias added) for a channel
    /// with `fast`.
    #[cfg(not(attonet_dsp))]
    #[inline(always)]
    fn apply(&self, acc: i32, o: &OutQuant) -> i8 {
        let hi = ((acc as i64 * self.multiplier as i64 + (1 << 30)) >> 31) as i32;
        let neg = ((hi as u32) >> 31) as i32;
        let q = (hi >> self.right) + ((hi & self.mask) > self.half + neg) as i32;
        q.wrapping_add(o.zp).max(o.min).min(o.max) as i8
    }

    /// The epilogue through [`requantize`] itself (any channel; `acc` with
    /// the bias added).
    #[inline(never)]
    fn exact(&self, acc: i32, o: &OutQuant) -> i8 {
        let v = requantize(acc, self.multiplier, self.shift).wrapping_add(o.zp);
        v.max(o.min).min(o.max) as i8
    }

    /// `*out = ` the epilogue of `acc` (with the bias added), any channel.
    #[inline(always)]
    fn store(&self, acc: i32, o: &OutQuant, out: &mut i8) {
        if !self.fast {
            *out = self.exact(acc, o);
            return;
        }
        #[cfg(attonet_dsp)]
        // SAFETY: reads the `repr(C)` fields of `self` (offsets 0..16) and
        // `o` (0..12), both word aligned (LDRD needs 4), and writes the one
        // byte `out`; registers and flags only otherwise. The arithmetic is
        // `apply`'s, instruction for instruction (see its comments).
        unsafe {
            core::arch::asm!(
                "ldrd  {m}, {e}, [{c}]",
                "smull {l}, {h}, {a}, {m}",
                "adds  {l}, {l}, #0x40000000",
                "adc   {h}, {h}, #0",
                "lsrs  {l}, {l}, #31",
                "orr   {a}, {l}, {h}, lsl #1",
                "ldrd  {l}, {h}, [{c}, #8]",
                "and   {l}, {a}, {l}",
                "add   {h}, {h}, {a}, lsr #31",
                "asr   {a}, {a}, {e}",
                "cmp   {l}, {h}",
                "it    gt",
                "addgt {a}, {a}, #1",
                "ldrd  {l}, {h}, [{q}]",
                "add   {a}, {a}, {l}",
                "cmp   {a}, {h}",
                "it    lt",
                "movlt {a}, {h}",
                "ldr   {l}, [{q}, #8]",
                "cmp   {a}, {l}",
                "it    gt",
                "movgt {a}, {l}",
                "strb  {a}, [{o}]",
                a = inout(reg) acc => _,
                c = in(reg) self as *const Epilogue,
                q = in(reg) o as *const OutQuant,
                o = in(reg) out as *mut i8,
                m = out(reg) _,
                e = out(reg) _,
                l = out(reg) _,
                h = out(reg) _,
                options(nostack),
            );
        }
        #[cfg(not(attonet_dsp))]
        {
            *out = self.apply(acc, o);
        }
    }
}

// ---------------------------------------------------------------------------
// The fast epilogue.
// ---------------------------------------------------------------------------

/// The output of accumulator `acc` (bias included) of a channel with
/// constants `q`, saturated to `-128..=127` (the clamp, when narrower, is a
/// separate pass): the five instructions
/// `SUB t, c0, acc, LSR #31; ADD a, acc, acc; SMMLAR a, a, mult, t;
/// ASR a, a, e; SSAT a, #8, a`. Equal to `requantize(acc, mult, -e) + zp`,
/// saturated, for the channels [`ChanQ::new`] accepts:
///
/// * TFLite's `SaturatingRoundingDoublingHighMul(acc, m)` is
///   `hi = floor((acc * m + 2^30) / 2^31)` (see [`Epilogue`]), and
///   `SMMLAR(2 * acc, m, t)` is `floor((2 * acc * m + 2^31) / 2^32) + t
///   = hi + t` (`2 * acc` does not overflow: `|acc| < 2^30`);
/// * `RoundingDivideByPOT(hi, e)` is `floor((hi + 2^(e-1) - [hi < 0]) /
///   2^e)` (the remainder test of gemmlowp, rewritten), so with `t = 2^(e-1)
///   + zp * 2^e - [hi < 0]` an arithmetic shift by `e` gives the requantized
///   value plus `zp`;
/// * `[hi < 0]` is `[acc * m < -2^30]`; the sign of `acc` (what the
///   kernel uses; `m > 0`) differs from it only where `-2^30 <= acc * m <
///   0`, i.e. `hi == 0`, and there both give 0 (`e >= 1`).
#[inline(always)]
fn fast_out(acc: i32, q: &ChanQ) -> i32 {
    let t = q.c0.wrapping_sub(((acc as u32) >> 31) as i32);
    ssat8(asr_reg(smmlar(acc.wrapping_add(acc), q.mult, t), q.e))
}

/// Each of `oc_n` output channels' fast-epilogue constants (from the
/// converter's table `pre` where it wrote one, else derived from the
/// per-channel tables for windows of `taps` taps), as a closure, or `None`
/// where the tables are short or a channel needs the exact path: the
/// kernels that have no exact path check every channel before writing
/// anything. A generic closure, not `dyn Fn`: the kernels make no indirect
/// call, so `cargo xtask stack-bound` bounds their stack from the call
/// graph alone.
#[inline(always)]
fn fast_channels<'a>(
    weights: &'a ConvWeights<'_>,
    pre: Option<&'a [ChanQ]>,
    oc_n: usize,
    taps: usize,
    q: &ConvQuant,
) -> Option<impl Fn(usize) -> Option<ChanQ> + 'a> {
    if weights.bias.len() < oc_n || weights.multiplier.len() < oc_n || weights.shift.len() < oc_n {
        return None;
    }
    let limits = ChanQ::limits(
        q.output_zero_point,
        prepared::sum_bound(taps, q.input_zero_point),
    );
    let chan = move |oc: usize| match pre {
        Some(t) => t.get(oc).copied().filter(|q| q.mult != 0),
        None => ChanQ::within(
            *weights.bias.get(oc)?,
            *weights.multiplier.get(oc)?,
            *weights.shift.get(oc)?,
            limits,
        ),
    };
    (0..oc_n).all(|oc| chan(oc).is_some()).then_some(chan)
}

/// Applies a clamp narrower than `-128..=127` to outputs the fast kernels
/// saturated to that range (a no-op for the full range).
#[inline(never)]
fn clamp_pass(out: &mut [i8], c: Clamp) {
    if c.min > i8::MIN || c.max < i8::MAX {
        for o in out {
            *o = (*o).clamp(c.min, c.max);
        }
    }
}

// ---------------------------------------------------------------------------
// The block kernel: every output channel of a batch against four or five
// pixels' widened windows.
// ---------------------------------------------------------------------------

/// Output channels per batch at most (the [`ChanQ`] table).
/// Word storage read with `LDRD` and written with `STRD` (8-byte aligned).
#[repr(C, align(8))]
struct Words<const N: usize>([u32; N]);

// SAFETY: `ChanQ` is four `i32`/`u32` fields, `repr(C)`, no padding; every
// bit pattern is a value.
unsafe impl bytemuck::Zeroable for ChanQ {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for ChanQ {}

/// The chunk loops of a block of four pixels, shared by [`block`] and
/// [`wide`]'s accumulating block: `r12` groups of four chunks, then `[lr,
/// #16]` single chunks; per chunk one weight word from `r10` (post-
/// incremented; two `SXTB16`), per pixel one `LDRD` of the columns from
/// `r11` (two words a pixel, four pixels a chunk) and two `SMLAD` into
/// `r0`..`r3`. Clobbers `r4`, `r5`, `r8`, `r9`, `r11`, `r12`.
#[cfg_attr(not(attonet_dsp), allow(unused_macros))]
macro_rules! p4_chunk_loops {
    () => {
        concat!(
            "cmp    r12, #0\n",
            "beq    5f\n",
            "4:\n",
            "ldr    r4, [r10], #4\n",
            "ldrd   r8, r9, [r11], #128\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r4, r4, ror #8\n",
            "smlad  r0, r5, r8, r0\n",
            "smlad  r0, r4, r9, r0\n",
            "ldrd   r8, r9, [r11, #-120]\n",
            "smlad  r1, r5, r8, r1\n",
            "smlad  r1, r4, r9, r1\n",
            "ldrd   r8, r9, [r11, #-112]\n",
            "smlad  r2, r5, r8, r2\n",
            "smlad  r2, r4, r9, r2\n",
            "ldrd   r8, r9, [r11, #-104]\n",
            "smlad  r3, r5, r8, r3\n",
            "smlad  r3, r4, r9, r3\n",
            "ldr    r4, [r10], #4\n",
            "ldrd   r8, r9, [r11, #-96]\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r4, r4, ror #8\n",
            "smlad  r0, r5, r8, r0\n",
            "smlad  r0, r4, r9, r0\n",
            "ldrd   r8, r9, [r11, #-88]\n",
            "smlad  r1, r5, r8, r1\n",
            "smlad  r1, r4, r9, r1\n",
            "ldrd   r8, r9, [r11, #-80]\n",
            "smlad  r2, r5, r8, r2\n",
            "smlad  r2, r4, r9, r2\n",
            "ldrd   r8, r9, [r11, #-72]\n",
            "smlad  r3, r5, r8, r3\n",
            "smlad  r3, r4, r9, r3\n",
            "ldr    r4, [r10], #4\n",
            "ldrd   r8, r9, [r11, #-64]\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r4, r4, ror #8\n",
            "smlad  r0, r5, r8, r0\n",
            "smlad  r0, r4, r9, r0\n",
            "ldrd   r8, r9, [r11, #-56]\n",
            "smlad  r1, r5, r8, r1\n",
            "smlad  r1, r4, r9, r1\n",
            "ldrd   r8, r9, [r11, #-48]\n",
            "smlad  r2, r5, r8, r2\n",
            "smlad  r2, r4, r9, r2\n",
            "ldrd   r8, r9, [r11, #-40]\n",
            "smlad  r3, r5, r8, r3\n",
            "smlad  r3, r4, r9, r3\n",
            "ldr    r4, [r10], #4\n",
            "ldrd   r8, r9, [r11, #-32]\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r4, r4, ror #8\n",
            "smlad  r0, r5, r8, r0\n",
            "smlad  r0, r4, r9, r0\n",
            "ldrd   r8, r9, [r11, #-24]\n",
            "smlad  r1, r5, r8, r1\n",
            "smlad  r1, r4, r9, r1\n",
            "ldrd   r8, r9, [r11, #-16]\n",
            "smlad  r2, r5, r8, r2\n",
            "smlad  r2, r4, r9, r2\n",
            "ldrd   r8, r9, [r11, #-8]\n",
            "smlad  r3, r5, r8, r3\n",
            "smlad  r3, r4, r9, r3\n",
            "subs   r12, r12, #1\n",
            "bne    4b\n",
            "5:\n",
            "ldr    r12, [lr, #16]\n",
            "cmp    r12, #0\n",
            "beq    7f\n",
            "6:\n",
            "ldr    r4, [r10], #4\n",
            "ldrd   r8, r9, [r11], #32\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r4, r4, ror #8\n",
            "smlad  r0, r5, r8, r0\n",
            "smlad  r0, r4, r9, r0\n",
            "ldrd   r8, r9, [r11, #-24]\n",
            "smlad  r1, r5, r8, r1\n",
            "smlad  r1, r4, r9, r1\n",
            "ldrd   r8, r9, [r11, #-16]\n",
            "smlad  r2, r5, r8, r2\n",
            "smlad  r2, r4, r9, r2\n",
            "ldrd   r8, r9, [r11, #-8]\n",
            "smlad  r3, r5, r8, r3\n",
            "smlad  r3, r4, r9, r3\n",
            "subs   r12, r12, #1\n",
            "bne    6b\n",
            "7:\n"
        )
    };
}

mod wide;

/// One call of the block kernel ([`block`]); offsets as the assembly reads
/// them.
#[repr(C)]
struct Block {
    /// 0: the first channel's constants.
    tab: *const ChanQ,
    /// 4: one past the last channel's.
    tab_end: *const ChanQ,
    /// 8: the columns: chunk `j` of pixel `p` at word `j * 2P + 2p` (two
    /// words: taps `{0, 2}` and `{1, 3}` of the chunk as `x - zp`
    /// halfwords).
    cols: *const u32,
    /// 12: groups of four chunks.
    quads: u32,
    /// 16: chunks after them (0 to 3).
    rem: u32,
    /// 20: bytes added to the weight pointer after each channel.
    wskip: i32,
    /// 24: the first channel's output for pixel 0; advanced by one per
    /// channel.
    out: *mut i8,
    /// 28: bytes between the outputs of consecutive pixels.
    ostride: usize,
}

#[cfg(attonet_dsp)]
const _: () = assert!(core::mem::size_of::<Block>() == 32);

/// For each channel of `b.tab..b.tab_end`: the accumulators of `P` pixels
/// (4 or 5) from the bias, then `4 * quads + rem` chunks of the columns
/// against the channel's weights read from `wp` four bytes a chunk (two
/// `SXTB16`, then per pixel one `LDRD` and two `SMLAD`); `wp += wskip`; the
/// outputs through `fast_out` to `out + p * ostride`; `out += 1`.
///
/// # Safety
/// `cols` holds `4 * quads + rem` chunks of `P` pixels, word aligned; `wp`
/// has `4 * (4 * quads + rem)` bytes readable per channel (the rows
/// advanced by `wskip`); `out + c + p * ostride` is writable for every
/// channel `c` and pixel `p < P`.
#[inline(always)]
unsafe fn block<const P: usize>(b: &mut Block, wp: *const i8) {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; r6 and r7 (reserved by LLVM) are saved
    // and restored around the loop; everything else the assembly writes is
    // declared.
    unsafe {
        if P == 5 {
            core::arch::asm!(
                "push   {{r6, r7}}",
                "ldr    r7, [lr]",
                "2:",
                "ldr    r0, [r7], #4",
                "mov    r1, r0",
                "mov    r2, r0",
                "mov    r3, r0",
                "mov    r4, r0",
                "ldr    r11, [lr, #8]",
                "ldr    r12, [lr, #12]",
                "cmp    r12, #0",
                "beq    5f",
                "4:",
                "ldr    r5, [r10], #4",
                "ldrd   r8, r9, [r11], #160",
                "sxtb16 r6, r5",
                "sxtb16 r5, r5, ror #8",
                "smlad  r0, r6, r8, r0",
                "smlad  r0, r5, r9, r0",
                "ldrd   r8, r9, [r11, #-152]",
                "smlad  r1, r6, r8, r1",
                "smlad  r1, r5, r9, r1",
                "ldrd   r8, r9, [r11, #-144]",
                "smlad  r2, r6, r8, r2",
                "smlad  r2, r5, r9, r2",
                "ldrd   r8, r9, [r11, #-136]",
                "smlad  r3, r6, r8, r3",
                "smlad  r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #-128]",
                "smlad  r4, r6, r8, r4",
                "smlad  r4, r5, r9, r4",
                "ldr    r5, [r10], #4",
                "ldrd   r8, r9, [r11, #-120]",
                "sxtb16 r6, r5",
                "sxtb16 r5, r5, ror #8",
                "smlad  r0, r6, r8, r0",
                "smlad  r0, r5, r9, r0",
                "ldrd   r8, r9, [r11, #-112]",
                "smlad  r1, r6, r8, r1",
                "smlad  r1, r5, r9, r1",
                "ldrd   r8, r9, [r11, #-104]",
                "smlad  r2, r6, r8, r2",
                "smlad  r2, r5, r9, r2",
                "ldrd   r8, r9, [r11, #-96]",
                "smlad  r3, r6, r8, r3",
                "smlad  r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #-88]",
                "smlad  r4, r6, r8, r4",
                "smlad  r4, r5, r9, r4",
                "ldr    r5, [r10], #4",
                "ldrd   r8, r9, [r11, #-80]",
                "sxtb16 r6, r5",
                "sxtb16 r5, r5, ror #8",
                "smlad  r0, r6, r8, r0",
                "smlad  r0, r5, r9, r0",
                "ldrd   r8, r9, [r11, #-72]",
                "smlad  r1, r6, r8, r1",
                "smlad  r1, r5, r9, r1",
                "ldrd   r8, r9, [r11, #-64]",
                "smlad  r2, r6, r8, r2",
                "smlad  r2, r5, r9, r2",
                "ldrd   r8, r9, [r11, #-56]",
                "smlad  r3, r6, r8, r3",
                "smlad  r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #-48]",
                "smlad  r4, r6, r8, r4",
                "smlad  r4, r5, r9, r4",
                "ldr    r5, [r10], #4",
                "ldrd   r8, r9, [r11, #-40]",
                "sxtb16 r6, r5",
                "sxtb16 r5, r5, ror #8",
                "smlad  r0, r6, r8, r0",
                "smlad  r0, r5, r9, r0",
                "ldrd   r8, r9, [r11, #-32]",
                "smlad  r1, r6, r8, r1",
                "smlad  r1, r5, r9, r1",
                "ldrd   r8, r9, [r11, #-24]",
                "smlad  r2, r6, r8, r2",
                "smlad  r2, r5, r9, r2",
                "ldrd   r8, r9, [r11, #-16]",
                "smlad  r3, r6, r8, r3",
                "smlad  r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #-8]",
                "smlad  r4, r6, r8, r4",
                "smlad  r4, r5, r9, r4",
                "subs   r12, r12, #1",
                "bne    4b",
                "5:",
                "ldr    r12, [lr, #16]",
                "cmp    r12, #0",
                "beq    7f",
                "6:",
                "ldr    r5, [r10], #4",
                "ldrd   r8, r9, [r11], #40",
                "sxtb16 r6, r5",
                "sxtb16 r5, r5, ror #8",
                "smlad  r0, r6, r8, r0",
                "smlad  r0, r5, r9, r0",
                "ldrd   r8, r9, [r11, #-32]",
                "smlad  r1, r6, r8, r1",
                "smlad  r1, r5, r9, r1",
                "ldrd   r8, r9, [r11, #-24]",
                "smlad  r2, r6, r8, r2",
                "smlad  r2, r5, r9, r2",
                "ldrd   r8, r9, [r11, #-16]",
                "smlad  r3, r6, r8, r3",
                "smlad  r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #-8]",
                "smlad  r4, r6, r8, r4",
                "smlad  r4, r5, r9, r4",
                "subs   r12, r12, #1",
                "bne    6b",
                "7:",
                "ldr    r9, [lr, #20]",
                "add    r10, r10, r9",
                "ldm    r7!, {{r5, r6, r8}}",
                "sub    r9, r6, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r5, r9",
                "asr    r0, r0, r8",
                "ssat   r0, #8, r0",
                "sub    r9, r6, r1, lsr #31",
                "add    r1, r1, r1",
                "smmlar r1, r1, r5, r9",
                "asr    r1, r1, r8",
                "ssat   r1, #8, r1",
                "sub    r9, r6, r2, lsr #31",
                "add    r2, r2, r2",
                "smmlar r2, r2, r5, r9",
                "asr    r2, r2, r8",
                "ssat   r2, #8, r2",
                "sub    r9, r6, r3, lsr #31",
                "add    r3, r3, r3",
                "smmlar r3, r3, r5, r9",
                "asr    r3, r3, r8",
                "ssat   r3, #8, r3",
                "sub    r9, r6, r4, lsr #31",
                "add    r4, r4, r4",
                "smmlar r4, r4, r5, r9",
                "asr    r4, r4, r8",
                "ssat   r4, #8, r4",
                "ldr    r11, [lr, #24]",
                "ldr    r12, [lr, #28]",
                "strb   r0, [r11]",
                "strb   r1, [r11, r12]",
                "add    r9, r11, r12, lsl #1",
                "strb   r2, [r9]",
                "strb   r3, [r9, r12]",
                "add    r9, r9, r12, lsl #1",
                "strb   r4, [r9]",
                "add    r11, r11, #1",
                "str    r11, [lr, #24]",
                "ldr    r9, [lr, #4]",
                "cmp    r7, r9",
                "bne    2b",
                "pop    {{r6, r7}}",
                inout("r10") wp => _,
                inout("lr") b as *mut Block => _,
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
        } else {
            core::arch::asm!(
                "push   {{r6, r7}}",
                "ldr    r7, [lr]",
                "2:",
                "ldr    r0, [r7], #4",
                "mov    r1, r0",
                "mov    r2, r0",
                "mov    r3, r0",
                "ldr    r11, [lr, #8]",
                "ldr    r12, [lr, #12]",
                p4_chunk_loops!(),
                "ldr    r9, [lr, #20]",
                "add    r10, r10, r9",
                "ldm    r7!, {{r4, r5, r8}}",
                "sub    r9, r5, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r4, r9",
                "asr    r0, r0, r8",
                "ssat   r0, #8, r0",
                "sub    r9, r5, r1, lsr #31",
                "add    r1, r1, r1",
                "smmlar r1, r1, r4, r9",
                "asr    r1, r1, r8",
                "ssat   r1, #8, r1",
                "sub    r9, r5, r2, lsr #31",
                "add    r2, r2, r2",
                "smmlar r2, r2, r4, r9",
                "asr    r2, r2, r8",
                "ssat   r2, #8, r2",
                "sub    r9, r5, r3, lsr #31",
                "add    r3, r3, r3",
                "smmlar r3, r3, r4, r9",
                "asr    r3, r3, r8",
                "ssat   r3, #8, r3",
                "ldr    r11, [lr, #24]",
                "ldr    r12, [lr, #28]",
                "strb   r0, [r11]",
                "strb   r1, [r11, r12]",
                "add    r9, r11, r12, lsl #1",
                "strb   r2, [r9]",
                "strb   r3, [r9, r12]",
                "add    r11, r11, #1",
                "str    r11, [lr, #24]",
                "ldr    r9, [lr, #4]",
                "cmp    r7, r9",
                "bne    2b",
                "pop    {{r6, r7}}",
                inout("r10") wp => _,
                inout("lr") b as *mut Block => _,
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
    }
    #[cfg(not(attonet_dsp))]
    // SAFETY: the caller's contract.
    unsafe {
        block_model::<P>(b, wp, P)
    }
}

/// [`block`] and [`block_tail`] in Rust, on the modelled instructions (the
/// host's build; the assembly is proven equal to it on QEMU): the first
/// `np` pixels of a block laid out for `P`.
///
/// # Safety
/// As [`block`], for pixels `p < np`.
#[cfg(not(attonet_dsp))]
unsafe fn block_model<const P: usize>(b: &mut Block, wp: *const i8, np: usize) {
    let mut wp = wp;
    let mut tab = b.tab;
    while tab != b.tab_end {
        // SAFETY (all reads and writes below): the caller's contract.
        let q = unsafe { *tab };
        let mut acc = [q.bias; 5];
        for j in 0..(4 * b.quads + b.rem) as usize {
            let w = unsafe { core::ptr::read_unaligned(wp as *const u32) };
            wp = wp.wrapping_add(4);
            let (wa, wb) = (sxtb16(w), sxtb16_ror8(w));
            for (p, a) in acc[..np].iter_mut().enumerate() {
                let x = b.cols.wrapping_add(j * 2 * P + 2 * p);
                let (x0, x1) = unsafe { (*x, *x.add(1)) };
                *a = smlad(wb, x1, smlad(wa, x0, *a));
            }
        }
        wp = wp.wrapping_offset(b.wskip as isize);
        for (p, &a) in acc[..np].iter().enumerate() {
            unsafe { *b.out.add(p * b.ostride) = fast_out(a, &q) as i8 };
        }
        b.out = b.out.wrapping_add(1);
        tab = tab.wrapping_add(1);
    }
}

/// One chunk of a tail block of 1 to 4 pixels ([`block_tail`]): the weight
/// word from `r10` (post-incremented; two `SXTB16` into `r5`, `r4`), then
/// per pixel `p` one `LDRD` of the columns at byte `$o + 8p` from `r11` (an
/// assembler expression) and two `SMLAD` into `r<p>`. Clobbers `r4`, `r5`,
/// `r8`, `r9`.
#[cfg_attr(not(attonet_dsp), allow(unused_macros))]
macro_rules! tail_chunk {
    (1, $o:literal) => {
        concat!(
            "ldr    r4, [r10], #4\n",
            "ldrd   r8, r9, [r11, #",
            $o,
            "]\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r4, r4, ror #8\n",
            "smlad  r0, r5, r8, r0\n",
            "smlad  r0, r4, r9, r0\n",
        )
    };
    (2, $o:literal) => {
        concat!(
            tail_chunk!(1, $o),
            "ldrd   r8, r9, [r11, #",
            $o,
            "+8]\n",
            "smlad  r1, r5, r8, r1\n",
            "smlad  r1, r4, r9, r1\n",
        )
    };
    (3, $o:literal) => {
        concat!(
            tail_chunk!(2, $o),
            "ldrd   r8, r9, [r11, #",
            $o,
            "+16]\n",
            "smlad  r2, r5, r8, r2\n",
            "smlad  r2, r4, r9, r2\n",
        )
    };
    (4, $o:literal) => {
        concat!(
            tail_chunk!(3, $o),
            "ldrd   r8, r9, [r11, #",
            $o,
            "+24]\n",
            "smlad  r3, r5, r8, r3\n",
            "smlad  r3, r4, r9, r3\n",
        )
    };
}

/// The fast epilogue ([`fast_out`]) of the accumulator in register `$r`,
/// with the channel's `mult`, `c0` and `e` in `r4`, `r5`, `r8`; clobbers
/// `r9`.
#[cfg_attr(not(attonet_dsp), allow(unused_macros))]
macro_rules! tail_out {
    ($r:literal) => {
        concat!(
            "sub    r9, r5, ",
            $r,
            ", lsr #31\n",
            "add    ",
            $r,
            ", ",
            $r,
            ", ",
            $r,
            "\n",
            "smmlar ",
            $r,
            ", ",
            $r,
            ", r4, r9\n",
            "asr    ",
            $r,
            ", ",
            $r,
            ", r8\n",
            "ssat   ",
            $r,
            ", #8, ",
            $r,
            "\n",
        )
    };
}

/// [`block_tail`]'s assembly for `$np` pixels of a block laid out for `P`
/// (the columns' chunk stride `8 * P` bytes): per channel the accumulators
/// from the bias, groups of four chunks (`[lr, #12]`) then single chunks
/// (`[lr, #16]`), `wp += wskip`, the epilogue, `$np` stores at `out + p *
/// ostride`, `out += 1`.
#[cfg_attr(not(attonet_dsp), allow(unused_macros))]
macro_rules! tail_asm {
    ($b:expr, $wp:expr, $P:ident, $np:tt, [$($mov:literal),*], [$($acc:literal),*], [$($st:literal),*]) => {
        core::arch::asm!(
            "push   {{r6, r7}}",
            "ldr    r7, [lr]",
            "2:",
            "ldr    r0, [r7], #4",
            $($mov,)*
            "ldr    r11, [lr, #8]",
            "ldr    r12, [lr, #12]",
            "cmp    r12, #0",
            "beq    5f",
            "4:",
            tail_chunk!($np, "0"),
            tail_chunk!($np, "{j1}"),
            tail_chunk!($np, "{j2}"),
            tail_chunk!($np, "{j3}"),
            "add    r11, r11, #{j4}",
            "subs   r12, r12, #1",
            "bne    4b",
            "5:",
            "ldr    r12, [lr, #16]",
            "cmp    r12, #0",
            "beq    7f",
            "6:",
            tail_chunk!($np, "0"),
            "add    r11, r11, #{j1}",
            "subs   r12, r12, #1",
            "bne    6b",
            "7:",
            "ldr    r9, [lr, #20]",
            "add    r10, r10, r9",
            "ldm    r7!, {{r4, r5, r8}}",
            $(tail_out!($acc),)*
            "ldr    r11, [lr, #24]",
            "ldr    r12, [lr, #28]",
            $($st,)*
            "add    r11, r11, #1",
            "str    r11, [lr, #24]",
            "ldr    r9, [lr, #4]",
            "cmp    r7, r9",
            "bne    2b",
            "pop    {{r6, r7}}",
            j1 = const 8 * $P,
            j2 = const 16 * $P,
            j3 = const 24 * $P,
            j4 = const 32 * $P,
            inout("r10") $wp => _,
            inout("lr") $b as *mut Block => _,
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
        )
    };
}

/// [`block`] for the last `np < P` pixels of a call (1 to 4) in a block
/// laid out for `P` pixels: the same sums and epilogue, only `np` pixels'
/// columns read and `np` outputs written, instead of a whole block whose
/// extra outputs are thrown away (a fused block's row of 6 pixels in blocks
/// of four cost as much as 8: MobileNet's 6x6 and 3x3 layers). Chunk loop
/// per chunk: one `LDR`, two `SXTB16`, `np` times one `LDRD` and two
/// `SMLAD`, plus one `ADD` per four chunks. Not inlined: one call per row.
///
/// # Safety
/// As [`block`], for pixels `p < np`.
#[inline(never)]
unsafe fn block_tail<const P: usize>(b: &mut Block, wp: *const i8, np: usize) {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; r6 and r7 (reserved by LLVM) are saved
    // and restored around the loop; everything else the assembly writes is
    // declared.
    unsafe {
        match np {
            1 => tail_asm!(b, wp, P, 1, [], ["r0"], ["strb   r0, [r11]"]),
            2 => tail_asm!(
                b,
                wp,
                P,
                2,
                ["mov    r1, r0"],
                ["r0", "r1"],
                ["strb   r0, [r11]", "strb   r1, [r11, r12]"]
            ),
            3 => tail_asm!(
                b,
                wp,
                P,
                3,
                ["mov    r1, r0", "mov    r2, r0"],
                ["r0", "r1", "r2"],
                [
                    "strb   r0, [r11]",
                    "strb   r1, [r11, r12]",
                    "add    r9, r11, r12, lsl #1",
                    "strb   r2, [r9]"
                ]
            ),
            _ => tail_asm!(
                b,
                wp,
                P,
                4,
                ["mov    r1, r0", "mov    r2, r0", "mov    r3, r0"],
                ["r0", "r1", "r2", "r3"],
                [
                    "strb   r0, [r11]",
                    "strb   r1, [r11, r12]",
                    "add    r9, r11, r12, lsl #1",
                    "strb   r2, [r9]",
                    "strb   r3, [r9, r12]"
                ]
            ),
        }
    }
    #[cfg(not(attonet_dsp))]
    // SAFETY: the caller's contract.
    unsafe {
        block_model::<P>(b, wp, np)
    }
}

// ---------------------------------------------------------------------------
// Convolution.
// ---------------------------------------------------------------------------

/// Window geometry of one convolution call.
struct ConvGeo {
    ih: usize,
    iw: usize,
    ic: usize,
    kh: usize,
    kw: usize,
    dh: usize,
    dw: usize,
    sh: i32,
    sw: i32,
    pt: i32,
    pl: i32,
    cpg: usize,
    /// Window length `kh * kw * cpg`.
    k: usize,
    /// `ceil(k / 4)`.
    chunks: usize,
    /// One group, horizontal dilation 1 and `kw * ic % 4 == 0`: a kernel row
    /// of a window inside the input is one run of input bytes starting on a
    /// chunk boundary, widened straight from the input.
    rows_direct: bool,
    /// Pixels per block (4 or 5).
    pix: usize,
    /// A window starting at input row `iy0` (column `ix0`) lies inside the
    /// input iff `(iy0 as u32) < y_lim` (`(ix0 as u32) < x_lim`; negative
    /// origins cast to values above every limit).
    y_lim: u32,
    x_lim: u32,
}

impl ConvGeo {
    fn new(p: &ConvParams, in_shape: Shape) -> ConvGeo {
        let win = &p.window;
        let ic = in_shape.c as usize;
        let cpg = ic / p.groups as usize;
        let (kh, kw) = (win.kh as usize, win.kw as usize);
        let k = kh * kw * cpg;
        ConvGeo {
            ih: in_shape.h as usize,
            iw: in_shape.w as usize,
            ic,
            kh,
            kw,
            dh: win.dilation_h as usize,
            dw: win.dilation_w as usize,
            sh: win.stride_h as i32,
            sw: win.stride_w as i32,
            pt: win.pad_top as i32,
            pl: win.pad_left as i32,
            cpg,
            k,
            chunks: k.div_ceil(4),
            rows_direct: p.groups == 1 && win.dilation_w == 1 && (kw * ic) % 4 == 0,
            pix: 4,
            y_lim: inside_lim(in_shape.h as usize, kh, win.dilation_h as usize),
            x_lim: inside_lim(in_shape.w as usize, kw, win.dilation_w as usize),
        }
    }

    /// [`conv_plan`] for this window.
    fn plan(
        &self,
        ocpg: usize,
        pixels: usize,
        words: usize,
        consts: bool,
        allowed: u8,
    ) -> Option<ConvPlan> {
        conv_plan(self.k, self.cpg, ocpg, pixels, words, consts, allowed)
    }
}

/// How many window origins along an axis put every tap inside the input
/// (`0..lim`): `extent - (k - 1) * dilation`, or 0.
fn inside_lim(extent: usize, k: usize, d: usize) -> u32 {
    (extent + 1).saturating_sub((k - 1) * d + 1) as u32
}

/// Halfword pair `(-zp, -zp)`: `SXTAB16` with it widens `x` to `x - zp`.
#[inline(always)]
fn zp_offset(zp: i32) -> u32 {
    let n = (zp.wrapping_neg() as u32) & 0xFFFF;
    n | n << 16
}

/// Which fast kernel a convolution with these parameters runs (`None`: the
/// portable one). The same predicates the entry points below apply.
pub(crate) fn conv_fast_path(
    p: &ConvParams,
    in_shape: Shape,
    out_shape: Shape,
) -> Option<&'static str> {
    if depthwise_like_covers(p, in_shape, out_shape) {
        Some("dsp-depthwise")
    } else if columns_window(p, in_shape, out_shape).is_some()
        && (pointwise_narrow_covers(p, in_shape, out_shape)
            || narrow_window_covers(p, in_shape, out_shape))
    {
        Some("dsp-narrow")
    } else if columns_block(p, in_shape, out_shape, false, blocks::BOTH).is_some() {
        Some("dsp-columns")
    } else if columns_wide_covers(p, in_shape, out_shape) {
        Some("dsp-columns-wide")
    } else {
        None
    }
}

/// Convolution through the block kernel: any kernel size, stride, dilation,
/// padding and group count with `kh * kw * in_c / groups <= CONV_MAX_K` and
/// an `i8` input zero point, in blocks of the sizes `K` links
/// ([`kernels::conv_blocks`]; see [`crate::dsp_select`]). Arguments as
/// [`check_conv_args`](crate::ops::conv::check_conv_args) accepted them.
/// Returns `false` (nothing written) when the parameters are not covered.
///
/// `prepared`: the converter's table of the layer's epilogue constants
/// ([`prepared::prepare_conv`]), or empty (then filled per batch, by the
/// same function).
pub(crate) fn conv_s8<const K: KernelSet>(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    let allowed = kernels::conv_blocks(K);
    // The converter's constants of every output channel, where it wrote them.
    let pre: Option<&[ChanQ]> = (prepared.len() == prepared::conv_len(out_shape.c as usize))
        .then(|| bytemuck::try_cast_slice(prepared).ok())
        .flatten();
    // Covered exactly where `columns_block` says (its plan is the largest
    // tier's, below).
    if columns_window(p, in_shape, out_shape).is_none() {
        // Wider windows, in slices (where the build links them).
        let done = K & kernels::CONV_WIDE != 0
            && wide::conv_wide(p, in_shape, input, weights, pre, out_shape, output);
        if done {
            clamp_pass(output, p.quant.clamp);
        }
        return done;
    }
    // (Only what may be narrow asks the narrow kernels: a fused block calls
    // this a row at a time.)
    let taps = p.window.kh as usize * p.window.kw as usize;
    if if taps == 1 {
        K & kernels::CONV_NARROW != 0
            && pointwise_narrow(p, in_shape, input, weights, pre, out_shape, output)
    } else {
        K & kernels::CONV_WINDOW != 0
            && p.groups == 1
            && taps * in_shape.c as usize <= NARROW_MAX_K
            && window_narrow(p, in_shape, input, weights, pre, out_shape, output)
    } {
        clamp_pass(output, p.quant.clamp);
        return true;
    }
    if K & kernels::CONV_GROUPED != 0
        && grouped::grouped_narrow(p, in_shape, input, weights, pre, out_shape, output)
    {
        clamp_pass(output, p.quant.clamp);
        return true;
    }
    let mut g = ConvGeo::new(p, in_shape);
    let pixels = out_shape.h as usize * out_shape.w as usize;
    let ocpg = (out_shape.c / p.groups) as usize;
    let consts = pre.is_none();
    // The smallest scratch that gives the blocks and batches the largest one
    // would (the preferred linked block, every channel of a group in a batch
    // of at most `BATCH`: nothing more to gain).
    let best = block_order(pixels, allowed)
        .into_iter()
        .find(|&b| allowed & blocks::bit(b) != 0);
    let full = |s: &ConvPlan| Some(s.pix) == best && s.batch == ocpg.min(BATCH);
    let mut tier = 0;
    let mut plan = None;
    for (k, words) in SCRATCH_TIERS.into_iter().enumerate() {
        plan = g.plan(ocpg, pixels, words, consts, allowed);
        tier = k;
        if plan.as_ref().is_some_and(full) {
            break;
        }
    }
    let Some(plan) = plan else {
        return false;
    };
    g.pix = plan.pix;
    let input: &[u8] = bytemuck::cast_slice(input);
    let a = (&g, &plan, p, input, weights, pre, out_shape, &mut *output);
    const T0: usize = SCRATCH_TIERS[0];
    const T1: usize = SCRATCH_TIERS[1];
    const T2: usize = SCRATCH_TIERS[2];
    // Only the linked block sizes are compiled in (`allowed` is a constant
    // of `K`; the plan never picks another).
    let done = if plan.pix == 5 && allowed & blocks::FIVE != 0 {
        match tier {
            0 => conv_tier::<K, 5, T0>(a),
            1 => conv_tier::<K, 5, T1>(a),
            _ => conv_tier::<K, 5, T2>(a),
        }
    } else if plan.pix == 4 && allowed & blocks::FOUR != 0 {
        match tier {
            0 => conv_tier::<K, 4, T0>(a),
            1 => conv_tier::<K, 4, T1>(a),
            _ => conv_tier::<K, 4, T2>(a),
        }
    } else {
        false
    };
    if done {
        clamp_pass(output, p.quant.clamp);
    }
    done
}

// ---------------------------------------------------------------------------
// Pointwise over few input channels.
// ---------------------------------------------------------------------------

/// A 1x1 convolution (one group, no padding, any stride) over 4, 8, 12 or 16
/// input channels: the columns kernel's gather and per-block setup cost
/// more than such a pixel's few multiply-accumulates (AttoNet-D's 4- and
/// 8-channel layers: 5.8 to 10.4 instructions a MAC), so each batch of
/// output channels keeps its weights widened once, and every pixel is one
/// or a few words widened, then per channel two `SMLAD`s a chunk and the
/// fast epilogue. `false` (nothing written) where the layer is not such a
/// convolution or a channel needs the exact path (the columns kernel then
/// takes it).
fn pointwise_narrow(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    pre: Option<&[ChanQ]>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    let k = in_shape.c as usize;
    if !pointwise_narrow_covers(p, in_shape, out_shape) {
        return false;
    }
    let oc_n = out_shape.c as usize;
    let (sh, sw) = (p.window.stride_h as usize, p.window.stride_w as usize);
    let (oh, ow, iw) = (
        out_shape.h as usize,
        out_shape.w as usize,
        in_shape.w as usize,
    );
    if oh == 0 || ow == 0 || weights.filter.len() < oc_n * k {
        return false;
    }
    // Every pixel's input and outputs lie within the slices (the reads of
    // the last pixel end at `last + k`).
    let last = ((oh - 1) * sh * iw + (ow - 1) * sw) * k;
    if input.len() < last + k || output.len() < oh * ow * oc_n {
        return false;
    }
    let Some(chan) = fast_channels(weights, pre, oc_n, k, &p.quant) else {
        return false;
    };
    let input: &[u8] = bytemuck::cast_slice(input);
    let filter: &[u8] = bytemuck::cast_slice(weights.filter);
    let ch = k / 4;
    let per = narrow_words(ch);
    let batch = NARROW_TABLE_WORDS / per;
    // One run over the whole layer where consecutive pixels' inputs are
    // `k` bytes apart across rows too.
    let (runs, run_len) = if sw == 1 && sh == 1 && ow == iw {
        (1, oh * ow)
    } else {
        (oh, ow)
    };
    // Not zeroed (a fused block calls this once per row): every entry read
    // is written first.
    let mut words = MaybeUninit::<[u32; NARROW_TABLE_WORDS]>::uninit();
    let base = words.as_mut_ptr() as *mut u32;
    let mut oc0 = 0;
    while oc0 < oc_n {
        let nb = batch.min(oc_n - oc0);
        for c in 0..nb {
            let q = chan(oc0 + c).unwrap_or(ChanQ::SLOW);
            // SAFETY: entry `c < nb <= batch` is words `c * per..(c + 1) *
            // per` of the table (`batch * per <= NARROW_TABLE_WORDS`),
            // written in the order of [`narrow_words`]. (Not through
            // [`narrow_table`]: a fused block calls this a row at a time,
            // and its chunks are whole.)
            unsafe {
                let e = base.add(c * per);
                e.write(q.bias as u32);
                for j in 0..ch {
                    let word = load4(filter, (oc0 + c) * k + 4 * j);
                    e.add(1 + 2 * j).write(sxtb16(word));
                    e.add(2 + 2 * j).write(sxtb16_ror8(word));
                }
                let t = e.add(1 + 2 * ch);
                t.write(q.mult as u32);
                t.add(1).write(q.c0 as u32);
                t.add(2).write(q.e);
            }
        }
        for row in 0..runs {
            let (Some(x), Some(out)) = (
                input.get(row * sh * iw * k..),
                output.get_mut(row * ow * oc_n + oc0..),
            ) else {
                return false;
            };
            let mut run = NarrowRun {
                tab: base,
                tab_end: base.wrapping_add(nb * per),
                x: x.as_ptr(),
                xstep: sw * k,
                out: out.as_mut_ptr(),
                ostride: oc_n,
                n: run_len,
                off: zp_offset(p.quant.input_zero_point),
            };
            // SAFETY: `nb >= 1` entries of `ch` chunks written above, word
            // aligned; pixel `i` of the run reads `k` bytes at `x + i *
            // xstep` and writes `nb` at `out + i * oc_n` (`oc0 + nb <=
            // oc_n`), all within the slices (checked above).
            unsafe { narrow_run_any(ch, &mut run) };
        }
        oc0 += nb;
    }
    true
}

/// Writes the entries of output channels `oc0..oc0 + nb` ([`narrow_words`]
/// each) from weight rows of `k` bytes, read as `ch` chunks of four with
/// the bytes past `k` as 0 (a gathered window's padding to whole chunks).
///
/// # Safety
/// `base` is valid for writes of `nb * narrow_words(ch)` words; the filter
/// holds `(oc0 + nb) * k` bytes and `k <= 4 * ch`.
unsafe fn narrow_table(
    base: *mut u32,
    filter: &[u8],
    k: usize,
    ch: usize,
    oc0: usize,
    nb: usize,
    chan: &impl Fn(usize) -> Option<ChanQ>,
) {
    let per = narrow_words(ch);
    for c in 0..nb {
        let q = chan(oc0 + c).unwrap_or(ChanQ::SLOW);
        let row = (oc0 + c) * k;
        // SAFETY: entry `c < nb` is words `c * per..(c + 1) * per` (the
        // caller's contract), written in the order of [`narrow_words`].
        unsafe {
            let e = base.add(c * per);
            e.write(q.bias as u32);
            for j in 0..ch {
                let word = if 4 * j + 4 <= k {
                    load4(filter, row + 4 * j)
                } else {
                    (4 * j..k).fold(0u32, |w, i| {
                        let b = filter.get(row + i).copied().unwrap_or(0);
                        w | (b as u32) << (8 * (i - 4 * j))
                    })
                };
                e.add(1 + 2 * j).write(sxtb16(word));
                e.add(2 + 2 * j).write(sxtb16_ror8(word));
            }
            let t = e.add(1 + 2 * ch);
            t.write(q.mult as u32);
            t.add(1).write(q.c0 as u32);
            t.add(2).write(q.e);
        }
    }
}

/// Bytes of [`window_narrow`]'s gathered windows on the stack (a run of
/// pixels at a time: 32 of a 3x3's 12-byte windows).
const NARROW_COLS_BYTES: usize = 384;

/// Words of [`window_narrow`]'s table: one batch for up to 16 output
/// channels of a 1-channel 3x3 (more rewrite the table per run of pixels).
const WINDOW_TABLE_WORDS: usize = 160;

/// A convolution of one group whose window (`kh * kw * in_c` taps, more
/// than one pixel) is 2 to 16 bytes ([`narrow_window_covers`]): 1-channel
/// 3x3 stems (the detector's, `person_detect`'s, MNIST-sized models'),
/// which the grouped kernel runs at 4.4 instructions a MAC, epilogue-bound
/// (9 MACs an output). The windows of a run of output pixels (in raster
/// order, across rows) are gathered as whole chunks (padding taps as the
/// zero point, the bytes past the window under zero weights: they add
/// nothing), then go through the narrow pointwise kernel's loops
/// ([`narrow_run`]). `false` (nothing written) where not covered or a
/// channel needs the exact path.
fn window_narrow(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    pre: Option<&[ChanQ]>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !narrow_window_covers(p, in_shape, out_shape) {
        return false;
    }
    let w = &p.window;
    let (kh, kw, cin) = (w.kh as usize, w.kw as usize, in_shape.c as usize);
    let k = kh * kw * cin;
    let (ih, iw) = (in_shape.h as usize, in_shape.w as usize);
    let (oh, ow, oc_n) = (
        out_shape.h as usize,
        out_shape.w as usize,
        out_shape.c as usize,
    );
    if weights.filter.len() < oc_n * k
        || input.len() < ih * iw * cin
        || output.len() < oh * ow * oc_n
    {
        return false;
    }
    let Some(chan) = fast_channels(weights, pre, oc_n, k, &p.quant) else {
        return false;
    };
    let input: &[u8] = bytemuck::cast_slice(input);
    let filter: &[u8] = bytemuck::cast_slice(weights.filter);
    let zp = p.quant.input_zero_point as u8;
    let ch = k.div_ceil(4);
    // (Never so: `narrow_window_covers`. Saying so lets the divisions below
    // go without their panic checks.)
    if ow == 0 || !(1..=4).contains(&ch) {
        return false;
    }
    let per = narrow_words(ch);
    let batch = WINDOW_TABLE_WORDS / per;
    let run_px = NARROW_COLS_BYTES / (4 * ch);
    let (sh, sw) = (w.stride_h as isize, w.stride_w as isize);
    let (dh, dw) = (w.dilation_h as isize, w.dilation_w as isize);
    let (pt, pl) = (w.pad_top as isize, w.pad_left as isize);
    let mut words = MaybeUninit::<[u32; WINDOW_TABLE_WORDS]>::uninit();
    let base = words.as_mut_ptr() as *mut u32;
    // The gathered windows and 4 spare bytes (see `gather_windows`).
    let mut cols = [0u32; NARROW_COLS_BYTES / 4 + 1];
    let geo = WindowGeo {
        ih,
        iw,
        cin,
        kh,
        kw,
        sh,
        sw,
        dh,
        dw,
        pt,
        pl,
        step: 4 * ch,
        zp,
    };
    // The windows are gathered once for all output channels: with more
    // channels than one table holds, each batch's entries are rewritten
    // per run of pixels (a few instructions a channel, against a gather
    // of every window per batch).
    let single = oc_n <= batch;
    if single {
        // SAFETY: `oc_n <= batch` entries of `per` words fit the table; the
        // filter holds `oc_n * k` bytes (checked above).
        unsafe { narrow_table(base, filter, k, ch, 0, oc_n, &chan) };
    }
    // Runs of `run_px` output pixels in raster order, across rows (the
    // outputs of consecutive pixels are `oc_n` bytes apart, whatever their
    // row), so short rows do not make short runs.
    let pixels = oh * ow;
    let mut p0 = 0;
    while p0 < pixels {
        let n = run_px.min(pixels - p0);
        let mut q = p0;
        while q < p0 + n {
            let (oy, ox) = (q / ow, q % ow);
            let m = (ow - ox).min(p0 + n - q);
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut cols);
            if let Some(dst) = bytes.get_mut((q - p0) * 4 * ch..) {
                gather_windows(&geo, input, oy, ox, m, dst);
            }
            q += m;
        }
        let mut oc0 = 0;
        while oc0 < oc_n {
            let nb = batch.min(oc_n - oc0);
            if !single {
                // SAFETY: as above, `nb <= batch` entries.
                unsafe { narrow_table(base, filter, k, ch, oc0, nb, &chan) };
            }
            let Some(out) = output.get_mut(p0 * oc_n + oc0..) else {
                return false;
            };
            let mut run = NarrowRun {
                tab: base,
                tab_end: base.wrapping_add(nb * per),
                x: cols.as_ptr() as *const u8,
                xstep: 4 * ch,
                out: out.as_mut_ptr(),
                ostride: oc_n,
                n,
                off: zp_offset(p.quant.input_zero_point),
            };
            // SAFETY: `nb >= 1` entries of `ch` chunks written above, word
            // aligned; pixel `i < n` reads `4 * ch` bytes of `cols` at `i *
            // 4 * ch` (`n * 4 * ch <= NARROW_COLS_BYTES`) and writes `nb` at
            // `out + i * oc_n` (`p0 + n <= oh * ow`, `oc0 + nb <= oc_n`),
            // within `output` (checked above).
            unsafe { narrow_run_any(ch, &mut run) };
            oc0 += nb;
        }
        p0 += n;
    }
    true
}

/// [`window_narrow`]'s window geometry.
struct WindowGeo {
    ih: usize,
    iw: usize,
    cin: usize,
    kh: usize,
    kw: usize,
    sh: isize,
    sw: isize,
    dh: isize,
    dw: isize,
    pt: isize,
    pl: isize,
    /// Bytes of one pixel's gathered window (whole chunks).
    step: usize,
    zp: u8,
}

/// The windows of output pixels `ox0..ox0 + n` of row `oy` into `cols`
/// (`step` bytes each: the taps in HWC order, padding taps as the zero
/// point; the bytes past the window are left as they are, the weights
/// there being 0). A window wholly inside the input (dilation 1 across)
/// moves each of its rows as whole words, unaligned: a row's last word may
/// carry bytes past it, which the next row (or, past the last row, the
/// next pixel's window or `cols`' 4 spare bytes) overwrites or the zero
/// weights ignore. Others go tap by tap.
fn gather_windows(g: &WindowGeo, input: &[u8], oy: usize, ox0: usize, n: usize, cols: &mut [u8]) {
    let len = g.kw * g.cin;
    let words = len.div_ceil(4);
    let (iw, cin, step) = (g.iw as isize, g.cin, g.step);
    // (A stride or a channel count below 1 never reaches here:
    // `narrow_window_covers`. Saying so lets the divisions and chunks below
    // go without their panic checks.)
    if cols.len() < n * step + 4 || g.sw < 1 || cin < 1 {
        return;
    }
    let y0 = oy as isize * g.sh - g.pt;
    let y_last = y0 + (g.kh as isize - 1) * g.dh;
    // The pixels whose windows lie wholly inside the input: a run `lo..hi`
    // (the window's first column grows with the pixel).
    let (mut lo, mut hi) = (0, 0);
    if y0 >= 0 && y_last < g.ih as isize && g.dw == 1 && g.kw as isize <= iw {
        let first = g.pl - ox0 as isize * g.sw;
        lo = if first <= 0 {
            0
        } else {
            ((first + g.sw - 1) / g.sw) as usize
        };
        let last = (iw - g.kw as isize + g.pl) / g.sw - ox0 as isize;
        hi = if last < 0 {
            0
        } else {
            (last as usize + 1).min(n)
        };
        // The last rows' words must not read past the input.
        let end = |i: usize| {
            let x0 = (ox0 + i) as isize * g.sw - g.pl;
            (y_last as usize * g.iw + x0 as usize) * cin + 4 * words
        };
        while hi > lo && end(hi - 1) > input.len() {
            hi -= 1;
        }
        lo = lo.min(hi);
    }
    if lo < hi {
        let x_lo = (ox0 + lo) as isize * g.sw - g.pl;
        let rstride = g.dh as usize * g.iw * cin;
        let pstride = g.sw as usize * cin;
        // SAFETY: pixel `i` in `lo..hi` reads rows `ky < kh` at `(y0 + ky *
        // dh) * iw * cin + x0(i) * cin`, `4 * words` bytes each, the last
        // of which ends within the input (`end(hi - 1)`, and earlier
        // pixels end earlier); it writes `cols[i * step + ky * len ..]`,
        // `4 * words` bytes, ending at most 3 bytes past `(i + 1) * step <=
        // n * step`, within `cols` (`n * step + 4` bytes, checked above).
        unsafe {
            let s = input
                .as_ptr()
                .add((y0 as usize * g.iw + x_lo as usize) * cin);
            let d = cols.as_mut_ptr().add(lo * step);
            let m = WindowMoves {
                n: hi - lo,
                rstride,
                pstride,
                len,
                step,
            };
            // The common shapes with their loops unrolled (a 1-channel 3x3:
            // three words a pixel), others through the loop over rows.
            match (g.kh, words) {
                (3, 1) => move_windows::<3, 1>(s, d, &m),
                (2, 1) => move_windows::<2, 1>(s, d, &m),
                (2, 2) => move_windows::<2, 2>(s, d, &m),
                (1, 2) => move_windows::<1, 2>(s, d, &m),
                (1, 3) => move_windows::<1, 3>(s, d, &m),
                (1, 4) => move_windows::<1, 4>(s, d, &m),
                _ => move_windows_any(s, d, &m, g.kh, words),
            }
        }
    }
    for i in (0..lo).chain(hi..n) {
        let x0 = (ox0 + i) as isize * g.sw - g.pl;
        let Some(win) = cols.get_mut(i * step..(i + 1) * step) else {
            return;
        };
        for ky in 0..g.kh {
            let iy = y0 + ky as isize * g.dh;
            let Some(dst) = win.get_mut(ky * len..(ky + 1) * len) else {
                return;
            };
            for (kx, d) in dst.chunks_exact_mut(cin).enumerate() {
                let ix = x0 + kx as isize * g.dw;
                let inside = iy >= 0 && iy < g.ih as isize && ix >= 0 && ix < iw;
                let src = if inside {
                    let at = (iy as usize * g.iw + ix as usize) * cin;
                    input.get(at..at + cin)
                } else {
                    None
                };
                match src {
                    Some(src) => copy_few(d, src),
                    None => fill_bytes(d, g.zp),
                }
            }
        }
    }
}

/// The pixel runs [`gather_windows`] moves as whole words: `n` pixels,
/// `pstride` input bytes apart; `rstride` between a window's input rows;
/// a row of `len` bytes; `step` bytes a gathered window.
struct WindowMoves {
    n: usize,
    rstride: usize,
    pstride: usize,
    len: usize,
    step: usize,
}

/// [`move_windows_any`] with the rows (`KH`) and words a row (`W`) known:
/// the loops unrolled, no call to `memcpy`.
///
/// # Safety
/// As [`move_windows_any`] with `kh = KH`, `words = W`.
#[inline(always)]
unsafe fn move_windows<const KH: usize, const W: usize>(
    mut s: *const u8,
    mut d: *mut u8,
    m: &WindowMoves,
) {
    for _ in 0..m.n {
        for ky in 0..KH {
            for w in 0..W {
                // SAFETY: the caller's contract. Rows are written in
                // order, so each overwrites the bytes the last one carried
                // past its end.
                unsafe {
                    let v = core::ptr::read_unaligned(s.add(ky * m.rstride + 4 * w) as *const u32);
                    core::ptr::write_unaligned(d.add(ky * m.len + 4 * w) as *mut u32, v);
                }
            }
        }
        s = s.wrapping_add(m.pstride);
        d = d.wrapping_add(m.step);
    }
}

/// Moves `m.n` windows of `kh` rows, `words` words a row, from `s` (pixel
/// `i`'s row `ky` at `s + i * pstride + ky * rstride`) to `d` (at `d + i *
/// step + ky * len`), in order of pixels and rows.
///
/// # Safety
/// Every read lies within one input slice, every write within one output
/// slice (a row's last word may run 3 bytes past its `len`).
unsafe fn move_windows_any(s: *const u8, d: *mut u8, m: &WindowMoves, kh: usize, words: usize) {
    let (mut s, mut d) = (s, d);
    for _ in 0..m.n {
        let (mut ss, mut dd) = (s, d);
        for _ in 0..kh {
            for w in 0..words {
                // SAFETY: the caller's contract; volatile so the compiler
                // does not make the loop a `memcpy` call.
                unsafe {
                    let v = core::ptr::read_volatile(ss.add(4 * w) as *const [u8; 4]);
                    core::ptr::write_volatile(dd.add(4 * w) as *mut [u8; 4], v);
                }
            }
            ss = ss.wrapping_add(m.rstride);
            dd = dd.wrapping_add(m.len);
        }
        s = s.wrapping_add(m.pstride);
        d = d.wrapping_add(m.step);
    }
}

/// `dst = src` for the few bytes of a window's row (at most 16): byte moves,
/// where the compiler's `memcpy` call would cost more than the copy.
#[inline(always)]
fn copy_few(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        // SAFETY: both point at valid bytes; a volatile read keeps the
        // loop from being turned into a `memcpy` call.
        *d = unsafe { core::ptr::read_volatile(s) };
    }
}

/// `dst` filled with `v`, byte by byte (at most 16 bytes; see
/// [`copy_few`]).
#[inline(always)]
fn fill_bytes(dst: &mut [u8], v: u8) {
    for d in dst {
        // SAFETY: `d` is a valid byte; a volatile write keeps the loop from
        // being turned into a `memset` call.
        unsafe { core::ptr::write_volatile(d, v) };
    }
}

/// [`narrow_run`] for `ch` chunks (1 to 4).
///
/// # Safety
/// As [`narrow_run`].
unsafe fn narrow_run_any(ch: usize, run: &mut NarrowRun) {
    // SAFETY: the caller's contract.
    unsafe {
        match ch {
            1 => narrow_run::<1>(run),
            2 => narrow_run::<2>(run),
            3 => narrow_run::<3>(run),
            _ => narrow_run::<4>(run),
        }
    }
}

/// Words of [`pointwise_narrow`]'s table of entries on the stack.
const NARROW_TABLE_WORDS: usize = 128;

/// Words of one output channel's entry in [`pointwise_narrow`]'s table,
/// for `ch` chunks of four input channels, in the order its assembly reads
/// them: the bias, the weights widened (per chunk taps `{0, 2}` then `{1,
/// 3}` as halfword pairs), then the fast epilogue's `mult`, `c0` and `e`
/// ([`ChanQ`]). A batch of output channels is as many entries as
/// [`NARROW_TABLE_WORDS`] hold (21 channels of 4 input channels, 10 of 16).
const fn narrow_words(ch: usize) -> usize {
    4 + 2 * ch
}

/// One run of [`narrow_run`]: pixels whose inputs are `xstep` bytes apart
/// and whose outputs `ostride` bytes apart, against a batch of channels;
/// offsets as the assembly reads them. `x`, `out` and `n` advance as the
/// run goes.
#[repr(C)]
struct NarrowRun {
    /// 0: the batch's first entry ([`narrow_words`]).
    tab: *mut u32,
    /// 4: one past its last.
    tab_end: *mut u32,
    /// 8: the next pixel's `4 * CH` input bytes (read as words, unaligned).
    x: *const u8,
    /// 12: bytes between consecutive pixels' inputs.
    xstep: usize,
    /// 16: the next pixel's first output (of the batch's channels).
    out: *mut i8,
    /// 20: bytes between consecutive pixels' outputs.
    ostride: usize,
    /// 24: pixels left.
    n: usize,
    /// 28: `-input_zp` in both halfwords ([`zp_offset`]).
    off: u32,
}

#[cfg(attonet_dsp)]
const _: () = assert!(core::mem::size_of::<NarrowRun>() == 32);

/// `asm!` with [`narrow_run`]'s operands: the run's pointer in `r0` (pushed
/// and reloaded by the template), every other register it uses clobbered.
#[cfg(attonet_dsp)]
macro_rules! narrow_asm {
    ($($line:literal,)* $r:ident) => {
        core::arch::asm!(
            $($line,)*
            inout("r0") $r => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        )
    };
}

/// The pixels of a run against every channel of its batch
/// ([`NarrowRun`]): per pixel its `CH` input words widened once (`x - zp`
/// halfword pairs), then per channel `2 * CH` `SMLAD`s, the fast epilogue
/// and one store. Four input channels take pixels in pairs, each channel's
/// entry read once for both (21 instructions per channel and pair); more
/// take one pixel a step with its widened input in registers throughout
/// (14, 17 and 21 instructions per channel for 8, 12 and 16). Entries are
/// read with `LDM`, so each field lands in the register the epilogue wants.
///
/// # Safety
/// `tab..tab_end` holds at least one entry of `CH` chunks
/// ([`narrow_words`]), word aligned; for `i < n`, `x + i * xstep` has `4 *
/// CH` bytes readable and `out + i * ostride` as many bytes writable as the
/// batch has channels.
#[inline(never)]
unsafe fn narrow_run<const CH: usize>(r: &mut NarrowRun) {
    #[cfg(attonet_dsp)]
    // SAFETY: the caller's contract; r6 and r7 (reserved by LLVM) are saved
    // and restored with the run's pointer (the loops reload it from the
    // stack); everything else the assembly writes is declared.
    unsafe {
        let r = r as *mut NarrowRun;
        match CH {
            1 => narrow_asm!(
                "push   {{r0, r6, r7}}",
                "0:",
                "ldr    lr, [sp]",
                "ldr    r0, [lr, #24]",
                "cmp    r0, #2",
                "blo    8f",
                "subs   r0, r0, #2",
                "str    r0, [lr, #24]",
                "ldrd   r12, r9, [lr, #8]",
                "ldr    r2, [lr, #28]",
                "ldr    r3, [r12]",
                "ldr    r6, [r12, r9]",
                "add    r12, r12, r9, lsl #1",
                "str    r12, [lr, #8]",
                "sxtab16 r4, r2, r3",
                "sxtab16 r5, r2, r3, ror #8",
                "sxtab16 r7, r2, r6, ror #8",
                "sxtab16 r6, r2, r6",
                "ldrd   r10, r11, [lr, #16]",
                "add    r12, r10, r11, lsl #1",
                "str    r12, [lr, #16]",
                "ldrd   r8, r9, [lr]",
                "1:",
                "ldm    r8!, {{r0, r2, r3}}",
                "mov    r1, r0",
                "smlad  r0, r4, r2, r0",
                "smlad  r0, r5, r3, r0",
                "smlad  r1, r6, r2, r1",
                "smlad  r1, r7, r3, r1",
                "ldm    r8!, {{r2, r3, r12}}",
                "sub    lr, r3, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r2, lr",
                "asr    r0, r0, r12",
                "ssat   r0, #8, r0",
                "sub    lr, r3, r1, lsr #31",
                "add    r1, r1, r1",
                "smmlar r1, r1, r2, lr",
                "asr    r1, r1, r12",
                "ssat   r1, #8, r1",
                "strb   r1, [r10, r11]",
                "strb   r0, [r10], #1",
                "cmp    r8, r9",
                "bne    1b",
                "b      0b",
                "8:",
                "cmp    r0, #0",
                "beq    9f",
                "ldr    r12, [lr, #8]",
                "ldr    r2, [lr, #28]",
                "ldr    r3, [r12]",
                "sxtab16 r4, r2, r3",
                "sxtab16 r5, r2, r3, ror #8",
                "ldr    r10, [lr, #16]",
                "ldrd   r8, r9, [lr]",
                "2:",
                "ldm    r8!, {{r0, r2, r3}}",
                "smlad  r0, r4, r2, r0",
                "smlad  r0, r5, r3, r0",
                "ldm    r8!, {{r2, r3, r12}}",
                "sub    r3, r3, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r2, r3",
                "asr    r0, r0, r12",
                "ssat   r0, #8, r0",
                "strb   r0, [r10], #1",
                "cmp    r8, r9",
                "bne    2b",
                "9:",
                "pop    {{r0, r6, r7}}",
                r
            ),
            2 => narrow_asm!(
                "push   {{r0, r6, r7}}",
                "ldr    lr, [sp]",
                "0:",
                "ldr    r0, [lr, #24]",
                "cmp    r0, #0",
                "beq    9f",
                "subs   r0, r0, #1",
                "str    r0, [lr, #24]",
                "ldrd   r12, r9, [lr, #8]",
                "ldr    r2, [lr, #28]",
                "ldr    r3, [r12]",
                "ldr    r1, [r12, #4]",
                "add    r12, r12, r9",
                "str    r12, [lr, #8]",
                "sxtab16 r4, r2, r3",
                "sxtab16 r5, r2, r3, ror #8",
                "sxtab16 r6, r2, r1",
                "sxtab16 r7, r2, r1, ror #8",
                "ldrd   r10, r11, [lr, #16]",
                "add    r12, r10, r11",
                "str    r12, [lr, #16]",
                "ldrd   r8, r9, [lr]",
                "1:",
                "ldm    r8!, {{r0, r1, r2, r3, r12}}",
                "smlad  r0, r4, r1, r0",
                "smlad  r0, r5, r2, r0",
                "smlad  r0, r6, r3, r0",
                "smlad  r0, r7, r12, r0",
                "ldm    r8!, {{r1, r2, r3}}",
                "sub    r2, r2, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r1, r2",
                "asr    r0, r0, r3",
                "ssat   r0, #8, r0",
                "strb   r0, [r10], #1",
                "cmp    r8, r9",
                "bne    1b",
                "b      0b",
                "9:",
                "pop    {{r0, r6, r7}}",
                r
            ),
            3 => narrow_asm!(
                "push   {{r0, r6, r7}}",
                "ldr    lr, [sp]",
                "0:",
                "ldr    r0, [lr, #24]",
                "cmp    r0, #0",
                "beq    9f",
                "subs   r0, r0, #1",
                "str    r0, [lr, #24]",
                "ldrd   r12, r9, [lr, #8]",
                "ldr    r0, [lr, #28]",
                "ldr    r1, [r12]",
                "ldr    r11, [r12, #4]",
                "ldr    r8, [r12, #8]",
                "add    r12, r12, r9",
                "str    r12, [lr, #8]",
                "sxtab16 r2, r0, r1",
                "sxtab16 r3, r0, r1, ror #8",
                "sxtab16 r4, r0, r11",
                "sxtab16 r5, r0, r11, ror #8",
                "sxtab16 r6, r0, r8",
                "sxtab16 r7, r0, r8, ror #8",
                "ldrd   r10, r11, [lr, #16]",
                "add    r12, r10, r11",
                "str    r12, [lr, #16]",
                "ldrd   r8, r9, [lr]",
                "1:",
                "ldm    r8!, {{r0, r1, r11, r12}}",
                "smlad  r0, r2, r1, r0",
                "smlad  r0, r3, r11, r0",
                "smlad  r0, r4, r12, r0",
                "ldm    r8!, {{r1, r11, r12}}",
                "smlad  r0, r5, r1, r0",
                "smlad  r0, r6, r11, r0",
                "smlad  r0, r7, r12, r0",
                "ldm    r8!, {{r1, r11, r12}}",
                "sub    r11, r11, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r1, r11",
                "asr    r0, r0, r12",
                "ssat   r0, #8, r0",
                "strb   r0, [r10], #1",
                "cmp    r8, r9",
                "bne    1b",
                "b      0b",
                "9:",
                "pop    {{r0, r6, r7}}",
                r
            ),
            _ => narrow_asm!(
                "push   {{r0, r6, r7}}",
                "sub    sp, sp, #8",
                "0:",
                "ldr    lr, [sp, #8]",
                "ldr    r0, [lr, #24]",
                "cmp    r0, #0",
                "beq    9f",
                "subs   r0, r0, #1",
                "str    r0, [lr, #24]",
                "ldrd   r12, r9, [lr, #8]",
                "ldr    r0, [lr, #28]",
                "ldr    r8, [r12]",
                "ldr    r10, [r12, #4]",
                "sxtab16 r1, r0, r8",
                "sxtab16 r2, r0, r8, ror #8",
                "sxtab16 r3, r0, r10",
                "sxtab16 r4, r0, r10, ror #8",
                "ldr    r8, [r12, #8]",
                "ldr    r10, [r12, #12]",
                "sxtab16 r5, r0, r8",
                "sxtab16 r6, r0, r8, ror #8",
                "sxtab16 r7, r0, r10",
                "sxtab16 r11, r0, r10, ror #8",
                "add    r12, r12, r9",
                "str    r12, [lr, #8]",
                "ldrd   r10, r9, [lr, #16]",
                "add    r12, r10, r9",
                "str    r12, [lr, #16]",
                "ldrd   r8, r9, [lr]",
                "str    r9, [sp]",
                "1:",
                "ldm    r8!, {{r0, r9, r12, lr}}",
                "smlad  r0, r1, r9, r0",
                "smlad  r0, r2, r12, r0",
                "smlad  r0, r3, lr, r0",
                "ldm    r8!, {{r9, r12, lr}}",
                "smlad  r0, r4, r9, r0",
                "smlad  r0, r5, r12, r0",
                "smlad  r0, r6, lr, r0",
                "ldm    r8!, {{r9, r12}}",
                "smlad  r0, r7, r9, r0",
                "smlad  r0, r11, r12, r0",
                "ldm    r8!, {{r9, r12, lr}}",
                "sub    r12, r12, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r9, r12",
                "asr    r0, r0, lr",
                "ssat   r0, #8, r0",
                "strb   r0, [r10], #1",
                "ldr    r9, [sp]",
                "cmp    r8, r9",
                "bne    1b",
                "b      0b",
                "9:",
                "add    sp, sp, #8",
                "pop    {{r0, r6, r7}}",
                r
            ),
        }
    }
    #[cfg(not(attonet_dsp))]
    // SAFETY: the caller's contract.
    unsafe {
        narrow_run_model::<CH>(r)
    }
}

/// [`narrow_run`] in Rust, on the modelled instructions (the host's build;
/// the assembly is proven equal to it on QEMU).
///
/// # Safety
/// As [`narrow_run`].
#[cfg(not(attonet_dsp))]
unsafe fn narrow_run_model<const CH: usize>(r: &mut NarrowRun) {
    let per = narrow_words(CH);
    let channels = (r.tab_end as usize - r.tab as usize) / (4 * per);
    while r.n > 0 {
        // SAFETY (all reads and writes below): the caller's contract.
        let xs: [[u32; 2]; CH] = core::array::from_fn(|j| {
            let x = unsafe { core::ptr::read_unaligned(r.x.add(4 * j) as *const u32) };
            [sxtab16(r.off, x), sxtab16_ror8(r.off, x)]
        });
        for c in 0..channels {
            let e = unsafe { core::slice::from_raw_parts(r.tab.add(c * per), per) };
            let mut acc = e[0] as i32;
            for (j, x) in xs.iter().enumerate() {
                acc = smlad(x[1], e[2 + 2 * j], smlad(x[0], e[1 + 2 * j], acc));
            }
            let q = ChanQ {
                bias: e[0] as i32,
                mult: e[1 + 2 * CH] as i32,
                c0: e[2 + 2 * CH] as i32,
                e: e[3 + 2 * CH],
            };
            unsafe { *r.out.add(c) = fast_out(acc, &q) as i8 };
        }
        r.x = r.x.wrapping_add(r.xstep);
        r.out = r.out.wrapping_add(r.ostride);
        r.n -= 1;
    }
}

/// [`conv_columns`]'s arguments but its scratch.
type ColumnsArgs<'a, 'b> = (
    &'a ConvGeo,
    &'a ConvPlan,
    &'a ConvParams,
    &'a [u8],
    &'a ConvWeights<'b>,
    Option<&'a [ChanQ]>,
    Shape,
    &'a mut [i8],
);

/// [`conv_columns`] with `W` words of scratch on this function's stack.
#[inline(never)]
fn conv_tier<const K: KernelSet, const P: usize, const W: usize>(a: ColumnsArgs<'_, '_>) -> bool {
    let mut scratch = MaybeUninit::<Words<W>>::uninit();
    let (g, plan, p, input, weights, pre, out_shape, output) = a;
    // SAFETY: `scratch` is `W` words, 8-byte aligned (`Words`), used by
    // nothing else; `plan` was made for `W` words (`conv_s8`).
    unsafe {
        conv_columns::<K, P>(
            g,
            plan,
            p,
            input,
            weights,
            pre,
            out_shape,
            output,
            scratch.as_mut_ptr() as *mut u32,
            W,
        )
    }
}

/// The convolution loops: for each group and batch of output channels,
/// blocks of `P` output pixels (raster order), each pixel's window gathered
/// once as columns, then every channel of the batch through [`block`].
/// Channels the fast epilogue does not cover are recomputed by
/// [`exact_output`] where `K` links it ([`kernels::EXACT_CONV`]; else the
/// call returns `false` at the first such batch, its outputs unfinished,
/// for the caller's fallback to overwrite); a last block of fewer than `P`
/// pixels writes through the scratch's tail.
///
/// # Safety
/// `base` is valid for reads and writes of `words` words, 8-byte aligned,
/// used by nothing else during the call, and `plan` was made for `words`
/// words and for `pre` (constants in the scratch exactly when `pre` is
/// `None`).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn conv_columns<const K: KernelSet, const P: usize>(
    g: &ConvGeo,
    plan: &ConvPlan,
    p: &ConvParams,
    input: &[u8],
    weights: &ConvWeights<'_>,
    pre: Option<&[ChanQ]>,
    out_shape: Shape,
    output: &mut [i8],
    base: *mut u32,
    words: usize,
) -> bool {
    let q = &p.quant;
    let groups = p.groups as usize;
    let oc_n = out_shape.c as usize;
    let out_w = out_shape.w as usize;
    let pixels = out_shape.h as usize * out_w;
    // The partial block's outputs only where a call has one and the tail
    // routine is not linked.
    let tail_routine = kernels::conv_blocks(K) & blocks::TAIL != 0;
    let used = if pixels % P != 0 && !tail_routine {
        plan.end
    } else {
        plan.tail
    }
    .min(words);
    let ncols = (g.chunks * 2 * P).min(plan.tab);
    // The batch constants' part only where they are computed here.
    let ntab = if pre.is_some() {
        0
    } else {
        plan.window - plan.tab
    };
    // SAFETY: `[0, ncols)`, `[tab, tab + ntab)` and `[window, used)` lie in
    // the scratch (`ncols <= tab <= window <= used <= words`: `plan`'s
    // layout, clamped above) without overlapping; each is zeroed before the
    // slice over exactly it is made, and these slices are the only access
    // to `scratch` (a fused block calls this once per row: zeroing only what
    // is used saves about 300 instructions a call).
    let (cols, tab, rest) = unsafe {
        core::ptr::write_bytes(base, 0, ncols);
        core::ptr::write_bytes(base.add(plan.tab), 0, ntab);
        core::ptr::write_bytes(base.add(plan.window), 0, used - plan.window);
        (
            core::slice::from_raw_parts_mut(base, ncols),
            core::slice::from_raw_parts_mut(base.add(plan.tab), ntab),
            core::slice::from_raw_parts_mut(base.add(plan.window), used - plan.window),
        )
    };
    let tab: &mut [ChanQ] = bytemuck::cast_slice_mut(tab);
    let (window, rest) = rest.split_at_mut(plan.last - plan.window);
    let window: &mut [u8] = bytemuck::cast_slice_mut(window);
    let (last, tail) = rest.split_at_mut((plan.tail - plan.last).min(rest.len()));
    let tail: &mut [i8] = bytemuck::cast_slice_mut(tail);
    let zp = q.input_zero_point;
    // The round-up taps of the last chunk read as the zero point: 0.
    window.fill(zp as u8);
    let off = zp_offset(zp);
    let ocpg = oc_n / groups;
    let filter = weights.filter;
    // Each channel's row is read as `4 * chunks` bytes: the last row of the
    // filter, when that passes the end, from a padded copy.
    let over = 4 * g.chunks - g.k;
    if over > 0 {
        let last: &mut [i8] = bytemuck::cast_slice_mut(last);
        last[..g.k].copy_from_slice(&filter[(oc_n - 1) * g.k..]);
    }
    let last = last.as_ptr() as *const i8;

    for grp in 0..groups {
        let mut cb = 0;
        while cb < ocpg {
            let nb = plan.batch.min(ocpg - cb);
            let oc0 = grp * ocpg + cb;
            let (tab, slow): (&[ChanQ], u64) = match pre {
                Some(pre) => {
                    let t = &pre[oc0..oc0 + nb];
                    let mut slow = 0u64;
                    for (i, c) in t.iter().enumerate() {
                        if c.mult == 0 {
                            slow |= 1 << i;
                        }
                    }
                    (t, slow)
                }
                None => {
                    let words: &mut [i32] = bytemuck::cast_slice_mut(&mut tab[..nb]);
                    let slow =
                        prepared::conv_consts(weights, oc0, g.k, zp, q.output_zero_point, words);
                    (&tab[..nb], slow)
                }
            };
            if slow != 0 && K & kernels::EXACT_CONV == 0 {
                return false;
            }
            let last_here = over > 0 && oc0 + nb == oc_n;
            let n_main = nb - last_here as usize;
            let mut n0 = 0;
            while n0 < pixels {
                let np = P.min(pixels - n0);
                let (mut oy, mut ox) = (n0 / out_w, n0 % out_w);
                for s in 0..np {
                    gather::<P>(g, input, window, cols, s, oy, ox, grp, zp as u8, off);
                    ox += 1;
                    if ox == out_w {
                        ox = 0;
                        oy += 1;
                    }
                }
                let (out, ostride) = if np == P || tail_routine {
                    (output[n0 * oc_n + oc0..].as_mut_ptr(), oc_n)
                } else {
                    (tail.as_mut_ptr(), nb)
                };
                // Both ends from one pointer over the batch's `nb` entries
                // (the last channel's entry is read through it too: a
                // pointer from `tab[..n_main]` would not cover it).
                let entries = tab[..nb].as_ptr_range();
                let mut b = Block {
                    tab: entries.start,
                    tab_end: entries.start.wrapping_add(n_main),
                    cols: cols.as_ptr(),
                    quads: (g.chunks / 4) as u32,
                    rem: (g.chunks % 4) as u32,
                    wskip: g.k as i32 - 4 * g.chunks as i32,
                    out,
                    ostride,
                };
                // SAFETY: `cols` holds `chunks` chunks of `P` pixels (word
                // aligned in `Scratch`); rows `oc0..oc0 + n_main` of the
                // filter are read as `4 * chunks` bytes each, within the
                // filter (the last one, when that would pass its end, comes
                // from `last`); the outputs `out + c + p * ostride` for `c <
                // nb` and `p < P` are within `output` for a whole block,
                // `p < np` for the tail routine, within the `P * nb` bytes
                // of `tail` for a partial block without it.
                unsafe {
                    let rows = filter[oc0 * g.k..].as_ptr();
                    if np == P || !tail_routine {
                        if n_main > 0 {
                            block::<P>(&mut b, rows);
                        }
                        if last_here {
                            b.tab = b.tab_end;
                            b.tab_end = entries.end;
                            block::<P>(&mut b, last);
                        }
                    } else {
                        if n_main > 0 {
                            block_tail::<P>(&mut b, rows, np);
                        }
                        if last_here {
                            b.tab = b.tab_end;
                            b.tab_end = entries.end;
                            block_tail::<P>(&mut b, last, np);
                        }
                    }
                }
                if np < P && !tail_routine {
                    for s in 0..np {
                        crate::arch::copy::copy(
                            &mut output[(n0 + s) * oc_n + oc0..][..nb],
                            &tail[s * nb..][..nb],
                        );
                    }
                }
                let mut rest = slow;
                while rest != 0 {
                    let i = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let oc = oc0 + i;
                    for n in n0..n0 + np {
                        output[n * oc_n + oc] =
                            exact_output(g, grp, input, weights, q, oc, n / out_w, n % out_w);
                    }
                }
                n0 += np;
            }
            cb += nb;
        }
    }
    true
}

/// One output exactly as the portable kernel computes it (for channels the
/// fast epilogue does not cover).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn exact_output(
    g: &ConvGeo,
    grp: usize,
    input: &[u8],
    weights: &ConvWeights<'_>,
    q: &ConvQuant,
    oc: usize,
    oy: usize,
    ox: usize,
) -> i8 {
    let row = &weights.filter[oc * g.k..][..g.k];
    let iy0 = oy as i32 * g.sh - g.pt;
    let ix0 = ox as i32 * g.sw - g.pl;
    let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
    let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
    let zp = q.input_zero_point;
    let mut acc = weights.bias[oc];
    for ky in ky0..ky1 {
        let iy = (iy0 + (ky * g.dh) as i32) as usize;
        for kx in kx0..kx1 {
            let ix = (ix0 + (kx * g.dw) as i32) as usize;
            let src = &input[(iy * g.iw + ix) * g.ic + grp * g.cpg..][..g.cpg];
            let w = &row[(ky * g.kw + kx) * g.cpg..][..g.cpg];
            for (&x, &w) in src.iter().zip(w) {
                acc = acc.wrapping_add(w as i32 * (x as i8 as i32 - zp));
            }
        }
    }
    Epilogue::from(weights.multiplier[oc], weights.shift[oc]).exact(acc, &OutQuant::new(q))
}

/// Widens `len` (a multiple of 4) input bytes from `src` into column words
/// from `dst` on, one chunk (`2 * P` words apart) per four bytes: words
/// `dst + 2Pi` and `dst + 2Pi + 1` get bytes `4i + {0, 2}` and
/// `4i + {1, 3}` as `x - zp` halfwords.
#[inline(always)]
fn widen_run<const P: usize>(
    input: &[u8],
    src: usize,
    len: usize,
    cols: &mut [u32],
    dst: usize,
    off: u32,
) {
    let n = len / 4;
    if n == 0 {
        return;
    }
    assert!(src + 4 * n <= input.len() && dst + 2 * P * (n - 1) + 2 <= cols.len());
    #[cfg(attonet_dsp)]
    {
        // SAFETY: reads `4 * n` bytes from `input[src..]` (LDR, unaligned
        // allowed on these cores) and writes words `dst + 2Pi`, `dst + 2Pi +
        // 1` for `i < n` of `cols` (STRD: `cols` is word aligned, in a
        // `Scratch`), all within the lengths asserted above.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr     {x}, [{s}], #4",
                "sxtab16 {a}, {off}, {x}",
                "sxtab16 {x}, {off}, {x}, ror #8",
                "strd    {a}, {x}, [{d}], #{st}",
                "subs    {n}, {n}, #1",
                "bne     2b",
                s = inout(reg) input.as_ptr().add(src) => _,
                d = inout(reg) cols.as_mut_ptr().add(dst) => _,
                n = inout(reg) n => _,
                off = in(reg) off,
                x = out(reg) _,
                a = out(reg) _,
                st = const 8 * P,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_dsp))]
    for i in 0..n {
        let x = load4(input, src + 4 * i);
        put(cols, dst + 2 * P * i, sxtab16(off, x));
        put(cols, dst + 2 * P * i + 1, sxtab16_ror8(off, x));
    }
}

/// The window of a pixel inside the input with [`ConvGeo::rows_direct`]:
/// `kh` runs of `kw * ic` bytes, from `src` on, `dh` input rows apart,
/// widened into the columns from word `dst` on (chunk stride `2 * P`
/// words), two chunks an iteration where a run has an even number of them.
#[inline(always)]
fn widen_rows<const P: usize>(
    g: &ConvGeo,
    input: &[u8],
    src: usize,
    cols: &mut [u32],
    dst: usize,
    off: u32,
) {
    let cpr = g.kw * g.ic / 4;
    let stride = g.dh * g.iw * g.ic;
    assert!(
        g.kh >= 1
            && cpr >= 1
            && src + (g.kh - 1) * stride + 4 * cpr <= input.len()
            && dst + 2 * P * (g.kh * cpr - 1) + 2 <= cols.len()
    );
    #[cfg(attonet_dsp)]
    {
        let skip = stride - 4 * cpr;
        // SAFETY: reads `kh` runs of `4 * cpr` bytes, `stride` apart, from
        // `input[src..]` (LDR, unaligned allowed) and writes words `dst +
        // 2Pi`, `dst + 2Pi + 1` for `i < kh * cpr` of `cols` (STRD, word
        // aligned in a `Scratch`): within the lengths asserted above.
        unsafe {
            if cpr % 2 == 0 {
                core::arch::asm!(
                    "2:",
                    "mov     {n}, {h}",
                    "3:",
                    "ldr     {x}, [{s}], #4",
                    "sxtab16 {a}, {off}, {x}",
                    "sxtab16 {x}, {off}, {x}, ror #8",
                    "strd    {a}, {x}, [{d}], #{st}",
                    "ldr     {x}, [{s}], #4",
                    "sxtab16 {a}, {off}, {x}",
                    "sxtab16 {x}, {off}, {x}, ror #8",
                    "strd    {a}, {x}, [{d}], #{st}",
                    "subs    {n}, {n}, #1",
                    "bne     3b",
                    "add     {s}, {s}, {skip}",
                    "subs    {rows}, {rows}, #1",
                    "bne     2b",
                    s = inout(reg) input.as_ptr().add(src) => _,
                    d = inout(reg) cols.as_mut_ptr().add(dst) => _,
                    rows = inout(reg) g.kh => _,
                    h = in(reg) cpr / 2,
                    skip = in(reg) skip,
                    off = in(reg) off,
                    n = out(reg) _,
                    x = out(reg) _,
                    a = out(reg) _,
                    st = const 8 * P,
                    options(nostack),
                );
            } else {
                core::arch::asm!(
                    "2:",
                    "mov     {n}, {h}",
                    "3:",
                    "ldr     {x}, [{s}], #4",
                    "sxtab16 {a}, {off}, {x}",
                    "sxtab16 {x}, {off}, {x}, ror #8",
                    "strd    {a}, {x}, [{d}], #{st}",
                    "subs    {n}, {n}, #1",
                    "bne     3b",
                    "add     {s}, {s}, {skip}",
                    "subs    {rows}, {rows}, #1",
                    "bne     2b",
                    s = inout(reg) input.as_ptr().add(src) => _,
                    d = inout(reg) cols.as_mut_ptr().add(dst) => _,
                    rows = inout(reg) g.kh => _,
                    h = in(reg) cpr,
                    skip = in(reg) skip,
                    off = in(reg) off,
                    n = out(reg) _,
                    x = out(reg) _,
                    a = out(reg) _,
                    st = const 8 * P,
                    options(nostack),
                );
            }
        }
    }
    #[cfg(not(attonet_dsp))]
    for r in 0..g.kh {
        widen_run::<P>(
            input,
            src + r * stride,
            4 * cpr,
            cols,
            dst + r * cpr * 2 * P,
            off,
        );
    }
}

/// The window of a pixel inside the input, one group, horizontal dilation
/// 1: `kh` runs of `kw * ic` bytes, `dh` input rows apart from `src` on,
/// copied into `window` (its round-up bytes stay the zero point), then
/// widened into the columns from word `dst` on, in one assembly routine.
#[inline(always)]
fn widen_window<const P: usize>(
    g: &ConvGeo,
    input: &[u8],
    src: usize,
    window: &mut [u8],
    cols: &mut [u32],
    dst: usize,
    off: u32,
) {
    let run = g.kw * g.ic;
    let stride = g.dh * g.iw * g.ic;
    assert!(
        g.kh >= 1
            && run >= 1
            && src + (g.kh - 1) * stride + run <= input.len()
            && g.kh * run <= window.len()
            && window.len() == 4 * g.chunks
            && dst + 2 * P * (g.chunks - 1) + 2 <= cols.len()
    );
    #[cfg(attonet_dsp)]
    {
        // SAFETY: reads `kh` runs of `run` bytes, `stride` apart, from
        // `input[src..]`, writes the first `kh * run` bytes of `window`,
        // then reads its `4 * chunks` bytes and writes words `dst + 2Pi`,
        // `dst + 2Pi + 1` for `i < chunks` of `cols` (STRD, word aligned):
        // within the lengths asserted above. Unaligned LDR/STR are allowed.
        unsafe {
            core::arch::asm!(
                // Copy: per row `run / 4` words, then `run % 4` bytes.
                "mov     {w}, {win}",
                "2:",
                "lsrs    {n}, {run}, #2",
                "beq     4f",
                "3:",
                "ldr     {x}, [{s}], #4",
                "str     {x}, [{w}], #4",
                "subs    {n}, {n}, #1",
                "bne     3b",
                "4:",
                "ands    {n}, {run}, #3",
                "beq     6f",
                "5:",
                "ldrb    {x}, [{s}], #1",
                "strb    {x}, [{w}], #1",
                "subs    {n}, {n}, #1",
                "bne     5b",
                "6:",
                "add     {s}, {s}, {skip}",
                "subs    {rows}, {rows}, #1",
                "bne     2b",
                // Widen the `chunks` words of the window.
                "7:",
                "ldr     {x}, [{win}], #4",
                "sxtab16 {n}, {off}, {x}",
                "sxtab16 {x}, {off}, {x}, ror #8",
                "strd    {n}, {x}, [{d}], #{st}",
                "subs    {chunks}, {chunks}, #1",
                "bne     7b",
                s = inout(reg) input.as_ptr().add(src) => _,
                win = inout(reg) window.as_mut_ptr() => _,
                d = inout(reg) cols.as_mut_ptr().add(dst) => _,
                rows = inout(reg) g.kh => _,
                chunks = inout(reg) g.chunks => _,
                run = in(reg) run,
                skip = in(reg) stride - run,
                off = in(reg) off,
                w = out(reg) _,
                n = out(reg) _,
                x = out(reg) _,
                st = const 8 * P,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_dsp))]
    {
        for r in 0..g.kh {
            window[r * run..][..run].copy_from_slice(&input[src + r * stride..][..run]);
        }
        widen_run::<P>(window, 0, 4 * g.chunks, cols, dst, off);
    }
}

/// `dst[d..d + n] = src[s..s + n]`, a word at a time (short runs: a few
/// window taps; a loop LLVM would turn into a `memcpy` call).
#[inline(always)]
fn copy_bytes(dst: &mut [u8], d: usize, src: &[u8], s: usize, n: usize) {
    let (dst, src) = (&mut dst[d..d + n], &src[s..s + n]);
    #[cfg(attonet_dsp)]
    // SAFETY: copies the `n` bytes of `src` to the `n` bytes of `dst` (both
    // slices of exactly that length; LDR/STR unaligned, allowed here).
    unsafe {
        core::arch::asm!(
            "lsrs   {w}, {n}, #2",
            "beq    3f",
            "2:",
            "ldr    {t}, [{s}], #4",
            "str    {t}, [{d}], #4",
            "subs   {w}, {w}, #1",
            "bne    2b",
            "3:",
            "ands   {n}, {n}, #3",
            "beq    5f",
            "4:",
            "ldrb   {t}, [{s}], #1",
            "strb   {t}, [{d}], #1",
            "subs   {n}, {n}, #1",
            "bne    4b",
            "5:",
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            n = inout(reg) n => _,
            w = out(reg) _,
            t = out(reg) _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_dsp))]
    dst.copy_from_slice(src);
}

/// Gathers the window of output pixel `(oy, ox)`, group `grp`, into column
/// slot `s`. With channels per group a multiple of 4 every tap starts on a
/// chunk boundary and is widened straight from the input (padded taps are
/// zeroed); otherwise the window is first gathered as bytes into `window`
/// (padded taps and the round-up as the zero point, which widens to 0),
/// except for windows inside the input with [`ConvGeo::rows_direct`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather<const P: usize>(
    g: &ConvGeo,
    input: &[u8],
    window: &mut [u8],
    cols: &mut [u32],
    s: usize,
    oy: usize,
    ox: usize,
    grp: usize,
    zp: u8,
    off: u32,
) {
    let iy0 = oy as i32 * g.sh - g.pt;
    let ix0 = ox as i32 * g.sw - g.pl;
    // Inside: every tap within the input (one compare per axis).
    let inside = (iy0 as u32) < g.y_lim && (ix0 as u32) < g.x_lim;
    if inside && g.rows_direct {
        let src = (iy0 as usize * g.iw + ix0 as usize) * g.ic;
        widen_rows::<P>(g, input, src, cols, 2 * s, off);
        return;
    }
    if inside && g.cpg % 4 != 0 && g.dw == 1 && g.cpg == g.ic {
        let src = (iy0 as usize * g.iw + ix0 as usize) * g.ic;
        widen_window::<P>(g, input, src, window, cols, 2 * s, off);
        return;
    }
    let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
    let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
    let merge = g.dw == 1 && g.cpg == g.ic;
    if g.cpg % 4 == 0 {
        if !inside {
            for c in 0..g.chunks {
                put(cols, c * 2 * P + 2 * s, 0);
                put(cols, c * 2 * P + 2 * s + 1, 0);
            }
        }
        if ky0 < ky1 && kx0 < kx1 {
            for ky in ky0..ky1 {
                let row = (iy0 + (ky * g.dh) as i32) as usize * g.iw;
                if merge {
                    let ix = (ix0 + kx0 as i32) as usize;
                    let k0 = (ky * g.kw + kx0) * g.cpg;
                    let dst = k0 / 4 * 2 * P + 2 * s;
                    widen_run::<P>(input, (row + ix) * g.ic, (kx1 - kx0) * g.ic, cols, dst, off);
                } else {
                    for kx in kx0..kx1 {
                        let ix = (ix0 + (kx * g.dw) as i32) as usize;
                        let k0 = (ky * g.kw + kx) * g.cpg;
                        let src = (row + ix) * g.ic + grp * g.cpg;
                        widen_run::<P>(input, src, g.cpg, cols, k0 / 4 * 2 * P + 2 * s, off);
                    }
                }
            }
        }
        return;
    }
    if !inside {
        window[..g.k].fill(zp);
    }
    if ky0 < ky1 && kx0 < kx1 {
        for ky in ky0..ky1 {
            let row = (iy0 + (ky * g.dh) as i32) as usize * g.iw;
            if merge {
                let ix = (ix0 + kx0 as i32) as usize;
                let k0 = (ky * g.kw + kx0) * g.cpg;
                copy_bytes(window, k0, input, (row + ix) * g.ic, (kx1 - kx0) * g.ic);
            } else {
                for kx in kx0..kx1 {
                    let ix = (ix0 + (kx * g.dw) as i32) as usize;
                    let k0 = (ky * g.kw + kx) * g.cpg;
                    copy_bytes(window, k0, input, (row + ix) * g.ic + grp * g.cpg, g.cpg);
                }
            }
        }
    }
    widen_run::<P>(window, 0, 4 * g.chunks, cols, 2 * s, off);
}

// ---------------------------------------------------------------------------
// Depthwise 3x3: padded rows, four channels per group, one pixel per call.
// ---------------------------------------------------------------------------

/// Channels per 3x3 depthwise block at most.
const DW3_CB: usize = 32;

/// Bytes of the 3x3 depthwise row buffers: a ring of three widened input
/// rows, each `cols * cb * 2` bytes, padding columns as the zero point (a
/// row above or below the input is the zero point all along, in the slot
/// it maps to).
const DW3_BUF: usize = 4096;

/// What the 3x3 depthwise assembly reads and updates for one output row
/// (offsets as the assembly reads them).
#[repr(C)]
struct Dw3 {
    /// 0, 4, 8: the current pixel's three kernel rows: its leftmost tap,
    /// group 0, in the row buffers (advanced by `step` a pixel).
    rows: [*const u32; 3],
    /// 12: widened weights, `[group][tap][2 words]` (pair order).
    w: *const u32,
    /// 16: per group of four channels, `[bias; 4]` then `[mult, c0, e]` of
    /// each channel (16 words, see [`ChanQ`]).
    tab: *const i32,
    /// 20: the output of the current pixel's and group's channel 0
    /// (advanced by 4 a group, then by `out_adjust`).
    out: *mut i8,
    /// 24: `groups * gstride`.
    end: u32,
    /// 28: bytes between two groups of a row buffer (`cols * 8`).
    gstride: u32,
    /// 32: bytes between two output pixels' windows (`stride_w * 8`).
    step: u32,
    /// 36: `channels - cb`: from one pixel's block to the next.
    out_adjust: u32,
    /// 40: output pixels left in the row (counted down).
    npix: u32,
}

#[cfg(attonet_dsp)]
const _: () = assert!(core::mem::size_of::<Dw3>() == 44);

/// One output row of a block of `end / gstride` groups of four channels:
/// per pixel and group the biases, nine taps (one `LDRD` of four widened
/// activations, one `LDRD` of widened weights, four `SMLAxy`), the fast
/// epilogue (`fast_out`) four times, one word stored.
///
/// # Safety
/// For every pixel `i < npix` and group `g`: `rows[r] + i * step + g *
/// gstride` has 24 readable bytes (word aligned); `w` holds 18 words per
/// group, `tab` 16; `out + i * (4 * groups + out_adjust) + 4 * g` has 4
/// writable bytes.
#[inline(always)]
unsafe fn dw3_row(d: &mut Dw3) {
    #[cfg(attonet_dsp)]
    {
        // SAFETY: the caller's contract; r6 and r7 are saved and restored.
        unsafe {
            core::arch::asm!(
                "push   {{r6, r7}}",
                "ldr    r12, [lr, #28]",
                "2:",
                "ldr    r10, [lr, #12]",
                "ldr    r7, [lr, #16]",
                "movs   r6, #0",
                "3:",
                "ldm    r7!, {{r0, r1, r2, r3}}",
                "ldr    r11, [lr, #0]",
                "add    r11, r11, r6",
                "ldrd   r8, r9, [r11, #0]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #8]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #16]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldr    r11, [lr, #4]",
                "add    r11, r11, r6",
                "ldrd   r8, r9, [r11, #0]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #8]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #16]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldr    r11, [lr, #8]",
                "add    r11, r11, r6",
                "ldrd   r8, r9, [r11, #0]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #8]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldrd   r8, r9, [r11, #16]",
                "ldrd   r4, r5, [r10], #8",
                "smlabb r0, r4, r8, r0",
                "smlatt r2, r4, r8, r2",
                "smlabb r1, r5, r9, r1",
                "smlatt r3, r5, r9, r3",
                "ldm    r7!, {{r4, r5, r8}}",
                "sub    r9, r5, r0, lsr #31",
                "add    r0, r0, r0",
                "smmlar r0, r0, r4, r9",
                "asr    r0, r0, r8",
                "ssat   r0, #8, r0",
                "ldm    r7!, {{r4, r5, r8}}",
                "sub    r9, r5, r1, lsr #31",
                "add    r1, r1, r1",
                "smmlar r1, r1, r4, r9",
                "asr    r1, r1, r8",
                "ssat   r1, #8, r1",
                "ldm    r7!, {{r4, r5, r8}}",
                "sub    r9, r5, r2, lsr #31",
                "add    r2, r2, r2",
                "smmlar r2, r2, r4, r9",
                "asr    r2, r2, r8",
                "ssat   r2, #8, r2",
                "ldm    r7!, {{r4, r5, r8}}",
                "sub    r9, r5, r3, lsr #31",
                "add    r3, r3, r3",
                "smmlar r3, r3, r4, r9",
                "asr    r3, r3, r8",
                "ssat   r3, #8, r3",
                "bfi    r0, r1, #8, #8",
                "bfi    r0, r2, #16, #8",
                "bfi    r0, r3, #24, #8",
                "ldr    r11, [lr, #20]",
                "str    r0, [r11], #4",
                "str    r11, [lr, #20]",
                "add    r6, r6, r12",
                "ldr    r9, [lr, #24]",
                "cmp    r6, r9",
                "bne    3b",
                "ldr    r9, [lr, #32]",
                "ldr    r11, [lr, #0]",
                "add    r11, r11, r9",
                "str    r11, [lr, #0]",
                "ldr    r11, [lr, #4]",
                "add    r11, r11, r9",
                "str    r11, [lr, #4]",
                "ldr    r11, [lr, #8]",
                "add    r11, r11, r9",
                "str    r11, [lr, #8]",
                "ldr    r11, [lr, #20]",
                "ldr    r9, [lr, #36]",
                "add    r11, r11, r9",
                "str    r11, [lr, #20]",
                "ldr    r9, [lr, #40]",
                "subs   r9, r9, #1",
                "str    r9, [lr, #40]",
                "bne    2b",
                "pop    {{r6, r7}}",
                inout("lr") d as *mut Dw3 => _,
                out("r0") _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
            );
        }
    }
    #[cfg(not(attonet_dsp))]
    {
        while d.npix > 0 {
            let mut w = d.w;
            let mut tab = d.tab;
            let mut g = 0;
            while g < d.end {
                // SAFETY (all accesses below): the caller's contract.
                let mut a: [i32; 4] = unsafe { core::array::from_fn(|i| *tab.add(i)) };
                tab = tab.wrapping_add(4);
                for r in d.rows {
                    let r = (r as *const u8).wrapping_add(g as usize) as *const u32;
                    for t in 0..3 {
                        let (xa, xb) = unsafe { (*r.add(2 * t), *r.add(2 * t + 1)) };
                        let (wa, wb) = unsafe { (*w, *w.add(1)) };
                        w = w.wrapping_add(2);
                        a[0] = smlabb(wa, xa, a[0]);
                        a[2] = smlatt(wa, xa, a[2]);
                        a[1] = smlabb(wb, xb, a[1]);
                        a[3] = smlatt(wb, xb, a[3]);
                    }
                }
                for (i, &acc) in a.iter().enumerate() {
                    let q = unsafe {
                        ChanQ {
                            bias: 0,
                            mult: *tab,
                            c0: *tab.add(1),
                            e: *tab.add(2) as u32,
                        }
                    };
                    tab = tab.wrapping_add(3);
                    unsafe { *d.out.add(i) = fast_out(acc, &q) as i8 };
                }
                d.out = d.out.wrapping_add(4);
                g += d.gstride;
            }
            for r in d.rows.iter_mut() {
                *r = (*r as *const u8).wrapping_add(d.step as usize) as *const u32;
            }
            d.out = d.out.wrapping_add(d.out_adjust as usize);
            d.npix -= 1;
        }
    }
}

/// Widens `n` input pixels of `4 * groups` channels (`src`, `step` bytes
/// apart) into a row buffer (`[group][column][2 words]`, `gw` words a
/// group) of `row_len` words at `row`, columns from word `dst` on.
///
/// # Safety
/// `row` is valid for writes of `row_len` words, word aligned, and nothing
/// else refers to them during the call (the words may be uninitialized:
/// only the ones written are read afterwards).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn dw3_fill(
    input: &[u8],
    src: usize,
    step: usize,
    row: *mut u32,
    row_len: usize,
    dst: usize,
    n: usize,
    groups: usize,
    gw: usize,
) {
    assert!(
        n >= 1
            && groups >= 1
            && src + (n - 1) * step + 4 * groups <= input.len()
            && dst + 2 * (n - 1) + (groups - 1) * gw + 2 <= row_len
    );
    #[cfg(attonet_dsp)]
    // SAFETY: reads `4 * groups` bytes at `src + i * step` and writes words
    // `dst + 2i + g * gw` and the next one, for `i < n`, `g < groups`,
    // within the lengths asserted above (STRD: the buffer is word aligned).
    unsafe {
        core::arch::asm!(
            "2:",
            "mov     r8, r0",
            "mov     r9, r1",
            "mov     r10, r3",
            "3:",
            "ldr     r11, [r8], #4",
            "sxtb16  r12, r11",
            "sxtb16  r11, r11, ror #8",
            "strd    r12, r11, [r9]",
            "add     r9, r9, r5",
            "subs    r10, r10, #1",
            "bne     3b",
            "add     r0, r0, r4",
            "add     r1, r1, #8",
            "subs    r2, r2, #1",
            "bne     2b",
            inout("r0") input.as_ptr().add(src) => _,
            inout("r1") row.add(dst) => _,
            inout("r2") n => _,
            in("r3") groups,
            in("r4") step,
            in("r5") gw * 4,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_dsp))]
    for i in 0..n {
        for g in 0..groups {
            let x = load4(input, src + i * step + 4 * g);
            // SAFETY: within `row_len` (asserted above), the caller's contract.
            unsafe {
                row.add(dst + 2 * i + g * gw).write(sxtb16(x));
                row.add(dst + 2 * i + g * gw + 1).write(sxtb16_ror8(x));
            }
        }
    }
}

/// Where [`dw3`] reads its widened weights and epilogue constants from: the
/// converter's prepared table (all groups' weights, all groups' constants),
/// or its own buffers, filled per channel block.
enum Dw3Tables<'a> {
    Prepared(&'a [i32], &'a [i32]),
    Own(
        &'a mut [u32; DW3_CB / 4 * DW3_WEIGHT_WORDS],
        &'a mut [i32; DW3_CB / 4 * DW3_CONST_WORDS],
    ),
}

/// The geometry the 3x3 depthwise path takes, or `None`: a 3x3 window with
/// dilation 1, an `i8` input zero point (padding is stored as it), at least
/// four channels, and padded rows narrow enough for four channels in
/// [`DW3_BUF`]. Returns the padded row width in pixels.
fn dw3_cols(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> Option<usize> {
    let w = &p.window;
    if w.kh != 3 || w.kw != 3 || w.dilation_h != 1 || w.dilation_w != 1 {
        return None;
    }
    if !(-128..=127).contains(&p.quant.input_zero_point) || in_shape.c < 4 {
        return None;
    }
    let ow = out_shape.w as usize;
    let cols = (w.pad_left as usize + in_shape.w as usize).max((ow - 1) * w.stride_w as usize + 3);
    (3 * cols * 4 * 2 <= DW3_BUF).then_some(cols)
}

/// Bytes of the smaller 3x3 depthwise row buffers, taken where they hold
/// as many channels a block as [`DW3_BUF`] (KWS: 32 channels of 7 padded
/// columns): 2.5 KB less stack.
const DW3_BUF_SMALL: usize = 1536;

/// [`dw3`] with its row buffers (`W` words, the smaller size where that
/// costs nothing) and, without a prepared table, its own weight and
/// constant buffers on this function's stack, so that only what the layer
/// uses is on the stack.
#[allow(clippy::too_many_arguments)]
fn dw3_entry(
    p: &ConvParams,
    layout: DwLayout,
    cols: usize,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) {
    let c_n = in_shape.c as usize;
    let small = dw3_cb_max(DW3_BUF_SMALL, cols, c_n) == dw3_cb_max(DW3_BUF, cols, c_n);
    let groups = c_n / 4;
    let pre = (prepared.len() == prepared::dw3_len(c_n))
        .then(|| prepared.split_at(groups * DW3_WEIGHT_WORDS));
    let a = (p, layout, cols, in_shape, input, weights, out_shape, output);
    match (small, pre) {
        (true, Some(t)) => dw3_prepared::<{ DW3_BUF_SMALL / 4 }>(a, t),
        (false, Some(t)) => dw3_prepared::<{ DW3_BUF / 4 }>(a, t),
        (true, None) => dw3_own::<{ DW3_BUF_SMALL / 4 }>(a),
        (false, None) => dw3_own::<{ DW3_BUF / 4 }>(a),
    }
}

/// [`dw3`]'s arguments but its buffers and tables.
type Dw3Args<'a, 'b> = (
    &'a ConvParams,
    DwLayout,
    usize,
    Shape,
    &'a [i8],
    &'a ConvWeights<'b>,
    Shape,
    &'a mut [i8],
);

/// [`dw3`] with `W` words of row buffers and the converter's tables.
#[inline(never)]
fn dw3_prepared<const W: usize>(a: Dw3Args<'_, '_>, (w, t): (&[i32], &[i32])) {
    dw3_buffered::<W>(a, Dw3Tables::Prepared(w, t));
}

/// [`dw3`] with `W` words of row buffers and weight and constant buffers of
/// its own (filled per channel block).
#[inline(never)]
fn dw3_own<const W: usize>(a: Dw3Args<'_, '_>) {
    let mut own_w = [0u32; DW3_CB / 4 * DW3_WEIGHT_WORDS];
    let mut own_t = [0i32; DW3_CB / 4 * DW3_CONST_WORDS];
    dw3_buffered::<W>(a, Dw3Tables::Own(&mut own_w, &mut own_t));
}

/// [`dw3`] with `W` words of row buffers on the caller's frame.
#[inline(always)]
fn dw3_buffered<const W: usize>(a: Dw3Args<'_, '_>, tables: Dw3Tables<'_>) {
    let mut buf = MaybeUninit::<Words<W>>::uninit();
    let (p, layout, cols, in_shape, input, weights, out_shape, output) = a;
    // SAFETY: `buf` is `W` words, 8-byte aligned (`Words`), used by nothing else.
    unsafe {
        dw3(
            p,
            layout,
            cols,
            in_shape,
            input,
            weights,
            out_shape,
            output,
            buf.as_mut_ptr() as *mut u32,
            W,
            tables,
        )
    };
}

/// Channels a block of the 3x3 depthwise kernel takes with `bytes` of row
/// buffers (three rows of `cols` padded columns, 8 bytes a column and four
/// channels).
fn dw3_cb_max(bytes: usize, cols: usize, channels: usize) -> usize {
    (bytes / (3 * cols * 2) / 4 * 4)
        .min(DW3_CB)
        .min(channels / 4 * 4)
}

/// Depthwise 3x3 (channel `c` of the output reads channel `c` of the
/// input): channel blocks of at most [`DW3_CB`]; per block the widened
/// weights and the constants (the zero point folded into the bias:
/// `Σ w (x - zp) = Σ w x - zp Σ w`, the padding stored as the zero point),
/// then per output row the three input rows it reads, widened into a ring
/// of row buffers (`[group][column][2 words]`), and [`dw3_row`]. Channels
/// the fast epilogue does not cover, and the last `c % 4`, are computed
/// exactly.
///
/// # Safety
/// `buf` is valid for reads and writes of `buf_words` words, 8-byte
/// aligned, and nothing else uses it during the call (it may be
/// uninitialized: every word the kernel reads it writes first).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn dw3(
    p: &ConvParams,
    layout: DwLayout,
    cols: usize,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
    buf: *mut u32,
    buf_words: usize,
    mut tables: Dw3Tables<'_>,
) {
    let win = &p.window;
    let q = &p.quant;
    let zp = q.input_zero_point;
    let (ih, iw, c_n) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (oh, ow) = (out_shape.h as usize, out_shape.w as usize);
    let (sh, sw) = (win.stride_h as usize, win.stride_w as usize);
    let (pt, pl) = (win.pad_top as usize, win.pad_left as usize);
    let c4 = c_n / 4 * 4;
    let cb_max = dw3_cb_max(4 * buf_words, cols, c_n);
    let input_u8: &[u8] = bytemuck::cast_slice(input);
    let zp4 = (zp as u8 as u32) * 0x0101_0101;
    let (zpa, zpb) = (sxtb16(zp4), sxtb16_ror8(zp4));

    let mut c0 = 0;
    while c0 < c4 {
        let cb = cb_max.min(c4 - c0);
        let ng = cb / 4;
        // Words of one row buffer and of one group's part of it.
        let (row_words, gw) = (cols * 2 * ng, cols * 2);
        // Weights and constants of the block, and the channels the fast
        // epilogue does not cover (a zero multiplier).
        let (wp, tp, slow): (*const u32, *const i32, u64) = match &mut tables {
            Dw3Tables::Prepared(w, t) => {
                let t = &t[c0 / 4 * DW3_CONST_WORDS..][..ng * DW3_CONST_WORDS];
                let mut slow = 0u64;
                for (g, consts) in t.chunks_exact(DW3_CONST_WORDS).enumerate() {
                    for i in 0..4 {
                        if consts[4 + 3 * i] == 0 {
                            slow |= 1 << (4 * g + i);
                        }
                    }
                }
                (
                    w[c0 / 4 * DW3_WEIGHT_WORDS..].as_ptr() as *const u32,
                    t.as_ptr(),
                    slow,
                )
            }
            Dw3Tables::Own(wbuf, tab) => {
                let slow = prepared::dw3_groups(
                    layout,
                    weights,
                    c_n,
                    c0 / 4,
                    zp,
                    q.output_zero_point,
                    &mut wbuf[..ng * DW3_WEIGHT_WORDS],
                    &mut tab[..ng * DW3_CONST_WORDS],
                );
                (wbuf.as_ptr(), tab.as_ptr(), slow)
            }
        };
        // The input columns a row buffer holds: `j0..j1`.
        let j0 = pl.min(cols);
        let j1 = (pl + iw).min(cols);
        // What the kernel reads and `dw3_fill` does not write is the zero
        // point: the padding columns of the three slots (input rows `iy %
        // 3`), and a whole slot for a row above or below the input (filled
        // when one is read). Only those words are filled (a fused block
        // calls this once per row: filling every slot cost more than a
        // row's multiply-accumulates).
        //
        // The three slots' groups are `3 * ng` consecutive runs of `cols`
        // pairs (`row_words = ng * gw`, `gw = 2 * cols`), so one run's
        // right padding and the next one's left padding are adjacent: one
        // short loop per run (about 10 instructions, where a loop per side,
        // slot and group took 28).
        let bp = buf as *mut [u32; 2];
        let right = j1.max(j0);
        let runs = 3 * ng;
        let between = cols - right + j0;
        // SAFETY: every pair written is below `runs * cols` pairs, i.e.
        // `3 * row_words <= buf_words` words of `buf` (`dw3_cb_max`), which
        // is 8-byte aligned (the caller): the left padding `[0, j0)` of run
        // 0, for each later run `r` the pairs `[(r - 1) * cols + right, r *
        // cols + j0)`, and the right padding `[right, cols)` of the last.
        unsafe {
            for j in 0..j0 {
                bp.add(j).write([zpa, zpb]);
            }
            for r in 1..runs {
                let gap = bp.add((r - 1) * cols + right);
                for j in 0..between {
                    gap.add(j).write([zpa, zpb]);
                }
            }
            let last = bp.add((runs - 1) * cols);
            for j in right..cols {
                last.add(j).write([zpa, zpb]);
            }
        }
        let bw = buf;
        // The input row each slot holds (`ZP_ROW`: the zero point all along).
        const ZP_ROW: usize = usize::MAX - 1;
        let mut held = [usize::MAX; 3];
        for oy in 0..oh {
            let mut rows = [0usize; 3];
            for (ky, row) in rows.iter_mut().enumerate() {
                // An output row reads three consecutive input rows: three
                // slots, also for rows above or below the input (`iy`
                // negative or past the end), which read as the zero point.
                let iy = (oy * sh + ky) as isize - pt as isize;
                let slot = iy.rem_euclid(3) as usize;
                *row = slot * row_words;
                if iy < 0 || iy as usize >= ih {
                    if held[slot] != ZP_ROW {
                        held[slot] = ZP_ROW;
                        for i in 0..row_words / 2 {
                            // SAFETY: pairs of slot `slot < 3`, words below
                            // `3 * row_words <= buf_words` (`dw3_cb_max`).
                            unsafe { bp.add(slot * row_words / 2 + i).write([zpa, zpb]) };
                        }
                    }
                    continue;
                }
                let iy = iy as usize;
                if held[slot] != iy && j0 < j1 {
                    held[slot] = iy;
                    let src = (iy * iw + j0 - pl) * c_n + c0;
                    // SAFETY: slot `slot < 3` is `row_words` words of
                    // `buf` (`3 * row_words <= buf_words`), word
                    // aligned; no reference to `buf` exists.
                    unsafe {
                        dw3_fill(
                            input_u8,
                            src,
                            c_n,
                            bw.add(slot * row_words),
                            row_words,
                            2 * j0,
                            j1 - j0,
                            ng,
                            gw,
                        )
                    };
                }
            }
            let out0 = oy * ow * c_n + c0;
            let mut d = Dw3 {
                rows: rows.map(|r| bw.wrapping_add(r) as *const u32),
                w: wp,
                tab: tp,
                out: output[out0..(oy + 1) * ow * c_n].as_mut_ptr(),
                end: (ng * gw * 4) as u32,
                gstride: (gw * 4) as u32,
                step: (sw * 8) as u32,
                out_adjust: (c_n - cb) as u32,
                npix: ow as u32,
            };
            // SAFETY: pixel `i`'s window starts at column `i * sw` of each
            // row buffer and reads columns up to `i * sw + 2 < cols`, in
            // every group (`g * gw` words in), all written: the input
            // columns by `dw3_fill`, the padding columns above, and a slot
            // of a row outside the input wholly; `wbuf` and `tab` hold `ng`
            // groups; pixel `i`'s outputs are the `cb` bytes at `out + i *
            // c_n`, within the output row.
            unsafe { dw3_row(&mut d) };
            let mut rest = slow;
            while rest != 0 {
                let i = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                for ox in 0..ow {
                    output[(oy * ow + ox) * c_n + c0 + i] =
                        dw_exact(p, layout, in_shape, input, weights, c0 + i, oy, ox);
                }
            }
        }
        c0 += cb;
    }
    for c in c4..c_n {
        for oy in 0..oh {
            for ox in 0..ow {
                output[(oy * ow + ox) * c_n + c] =
                    dw_exact(p, layout, in_shape, input, weights, c, oy, ox);
            }
        }
    }
    clamp_pass(output, q.clamp);
}

/// One depthwise output exactly as the portable kernel computes it.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn dw_exact(
    p: &ConvParams,
    layout: DwLayout,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    c: usize,
    oy: usize,
    ox: usize,
) -> i8 {
    let win = &p.window;
    let (ih, iw, c_n) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (dh, dw) = (win.dilation_h as usize, win.dilation_w as usize);
    let iy0 = oy as i32 * win.stride_h as i32 - win.pad_top as i32;
    let ix0 = ox as i32 * win.stride_w as i32 - win.pad_left as i32;
    let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
    let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
    let mut acc = weights.bias[c];
    for ky in ky0..ky1 {
        let iy = (iy0 + (ky * dh) as i32) as usize;
        for kx in kx0..kx1 {
            let ix = (ix0 + (kx * dw) as i32) as usize;
            let t = ky * kw + kx;
            let w = match layout {
                DwLayout::TapMajor => weights.filter[t * c_n + c],
                DwLayout::ChannelMajor => weights.filter[c * kh * kw + t],
            };
            let x = input[(iy * iw + ix) * c_n + c] as i32;
            acc = acc.wrapping_add(w as i32 * (x - p.quant.input_zero_point));
        }
    }
    Epilogue::from(weights.multiplier[c], weights.shift[c]).exact(acc, &OutQuant::new(&p.quant))
}

// ---------------------------------------------------------------------------
// Depthwise, any window.
// ---------------------------------------------------------------------------

/// Depthwise convolution with depth multiplier 1 (other multipliers return
/// `false`). Arguments as the portable kernel's checks accepted them.
pub(crate) fn depthwise_s8(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if depthwise_fast_path(p, out_shape).is_none() {
        return false;
    }
    let dp = ConvParams {
        window: p.window,
        groups: in_shape.c,
        quant: p.quant,
    };
    if let Some(cols) = dw3_cols(&dp, in_shape, out_shape) {
        let layout = DwLayout::TapMajor;
        dw3_entry(
            &dp, layout, cols, in_shape, input, weights, prepared, out_shape, output,
        );
        return true;
    }
    dw_core(
        &dp,
        DwLayout::TapMajor,
        in_shape,
        input,
        weights,
        out_shape,
        output,
    )
}

/// Whether [`depthwise_s8`] takes these parameters (through [`dw3`] where
/// [`dw3_cols`] allows, else [`dw_core`]).
pub(crate) fn depthwise_fast_path(p: &DepthwiseParams, out_shape: Shape) -> Option<&'static str> {
    depthwise_covers(p, out_shape).then_some("dsp-depthwise")
}

/// A grouped convolution with one input and one output channel per group
/// (`groups == in_c == out_c`) through the depthwise kernel.
pub(crate) fn conv_depthwise_like(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !depthwise_like_covers(p, in_shape, out_shape) {
        return false;
    }
    if let Some(cols) = dw3_cols(p, in_shape, out_shape) {
        let layout = DwLayout::ChannelMajor;
        dw3_entry(
            p,
            layout,
            cols,
            in_shape,
            input,
            weights,
            &[],
            out_shape,
            output,
        );
        return true;
    }
    dw_core(
        p,
        DwLayout::ChannelMajor,
        in_shape,
        input,
        weights,
        out_shape,
        output,
    )
}

/// Channels per depthwise block at most (their epilogue constants live on
/// the stack).
const DW_BLOCK: usize = 64;

/// The depthwise loops (channel `c` of the output reads channel `c` of the
/// input), blocks of channels whose widened weights fit [`DW_WORDS`].
#[inline(never)]
fn dw_core(
    p: &ConvParams,
    layout: DwLayout,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    let win = &p.window;
    let q = &p.quant;
    let izp = q.input_zero_point;
    let (ih, iw, c_n) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (oh, ow) = (out_shape.h as usize, out_shape.w as usize);
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let (dh, dw) = (win.dilation_h as usize, win.dilation_w as usize);
    let (sh, sw) = (win.stride_h as i32, win.stride_w as i32);
    let (pt, pl) = (win.pad_top as i32, win.pad_left as i32);
    let taps = kh * kw;
    // Callers checked `dw_covers`: `1 <= taps <= DW_WORDS / 8`, so `block >= 4`.
    let block = (DW_WORDS / (2 * taps) * 4).min(DW_BLOCK);
    let input: &[u8] = bytemuck::cast_slice(input);
    let filter = weights.filter;
    let off = zp_offset(izp);
    let c4 = c_n / 4 * 4;
    let oq = OutQuant::new(q);
    let mut wbuf = [0u32; DW_WORDS];
    let mut epi = [Epilogue::from(0, 0); DW_BLOCK];
    let mut bias = [0i32; DW_BLOCK];
    // Input offsets of the taps of a window that lies wholly inside.
    let mut tap_off = [0usize; DW_WORDS / 8];
    for ky in 0..kh {
        for kx in 0..kw {
            tap_off[ky * kw + kx] = (ky * dh * iw + kx * dw) * c_n;
        }
    }
    let tap_off = &tap_off[..taps];

    let mut c0 = 0;
    while c0 < c4 {
        let cb = block.min(c4 - c0);
        let groups4 = cb / 4;
        // Widen the block's weights: `wbuf[(j * taps + t) * 2 ..][..2]` holds
        // channels `c0 + 4j ..+ 4` of tap `t` in pair order.
        for j in 0..groups4 {
            let c = c0 + 4 * j;
            for t in 0..taps {
                let word = match layout {
                    DwLayout::TapMajor => load4(bytemuck::cast_slice(filter), t * c_n + c),
                    DwLayout::ChannelMajor => u32::from_le_bytes([
                        filter[c * taps + t] as u8,
                        filter[(c + 1) * taps + t] as u8,
                        filter[(c + 2) * taps + t] as u8,
                        filter[(c + 3) * taps + t] as u8,
                    ]),
                };
                wbuf[(j * taps + t) * 2] = sxtb16(word);
                wbuf[(j * taps + t) * 2 + 1] = sxtb16_ror8(word);
            }
        }
        for i in 0..cb {
            epi[i] = Epilogue::new(weights, c0 + i);
            bias[i] = weights.bias[c0 + i];
        }
        for oy in 0..oh {
            let iy0 = oy as i32 * sh - pt;
            let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
            for ox in 0..ow {
                let ix0 = ox as i32 * sw - pl;
                let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
                let out_px = &mut output[(oy * ow + ox) * c_n + c0..][..cb];
                let inside = ky0 == 0 && ky1 == kh && kx0 == 0 && kx1 == kw;
                for (j, ((out4, epi4), bias4)) in out_px
                    .chunks_exact_mut(4)
                    .zip(epi.chunks_exact(4))
                    .zip(bias.chunks_exact(4))
                    .enumerate()
                {
                    let c = c0 + 4 * j;
                    let wj = &wbuf[j * taps * 2..(j + 1) * taps * 2];
                    // Lanes: `xa` holds channels c, c + 2; `xb` c + 1, c + 3.
                    let (mut a0, mut a1, mut a2, mut a3) = (bias4[0], bias4[1], bias4[2], bias4[3]);
                    let mut tap = |x: u32, wa: u32, wb: u32| {
                        let xa = sxtab16(off, x);
                        let xb = sxtab16_ror8(off, x);
                        a0 = smlabb(wa, xa, a0);
                        a2 = smlatt(wa, xa, a2);
                        a1 = smlabb(wb, xb, a1);
                        a3 = smlatt(wb, xb, a3);
                    };
                    if inside {
                        let base = (iy0 as usize * iw + ix0 as usize) * c_n + c;
                        for (&to, w) in tap_off.iter().zip(wj.chunks_exact(2)) {
                            tap(load4(input, base + to), w[0], w[1]);
                        }
                    } else {
                        for ky in ky0..ky1 {
                            let iy = (iy0 + (ky * dh) as i32) as usize;
                            for kx in kx0..kx1 {
                                let ix = (ix0 + (kx * dw) as i32) as usize;
                                let t = ky * kw + kx;
                                tap(
                                    load4(input, (iy * iw + ix) * c_n + c),
                                    wj[2 * t],
                                    wj[2 * t + 1],
                                );
                            }
                        }
                    }
                    let [o0, o1, o2, o3] = out4 else {
                        unreachable!()
                    };
                    epi4[0].store(a0, &oq, o0);
                    epi4[1].store(a1, &oq, o1);
                    epi4[2].store(a2, &oq, o2);
                    epi4[3].store(a3, &oq, o3);
                }
            }
        }
        c0 += cb;
    }
    // The last `c_n % 4` channels, one at a time.
    if c4 < c_n {
        for oy in 0..oh {
            let iy0 = oy as i32 * sh - pt;
            let (ky0, ky1) = tap_range(iy0, kh, dh, ih);
            for ox in 0..ow {
                let ix0 = ox as i32 * sw - pl;
                let (kx0, kx1) = tap_range(ix0, kw, dw, iw);
                let out_px = (oy * ow + ox) * c_n;
                for c in c4..c_n {
                    let mut acc = weights.bias[c];
                    for ky in ky0..ky1 {
                        let iy = (iy0 + (ky * dh) as i32) as usize;
                        for kx in kx0..kx1 {
                            let ix = (ix0 + (kx * dw) as i32) as usize;
                            let t = ky * kw + kx;
                            let w = match layout {
                                DwLayout::TapMajor => filter[t * c_n + c],
                                DwLayout::ChannelMajor => filter[c * taps + t],
                            };
                            let x = input[(iy * iw + ix) * c_n + c] as i8 as i32;
                            acc = acc.wrapping_add((w as i32) * (x - izp));
                        }
                    }
                    Epilogue::new(weights, c).store(acc, &oq, &mut output[out_px + c]);
                }
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------
// ADD.
// ---------------------------------------------------------------------------

/// The per-input halves of TFLite's ADD as tables: `s1(a)` and `s2(b)` (the
/// offset input, shifted left, through its multiplier) depend on one `i8`
/// each, so both are computed once per call for all 256 values
/// (`requantize_smaller_than_one`, or its one-`SMMLAR` equivalent
/// [`small_requantize`] where that is exact) and stored doubled (the `2 *
/// acc` of the fast epilogue); each element then costs two byte loads, two
/// table loads, an add and the output stage (the fast epilogue less its
/// doubling).
#[repr(C)]
struct AddTables {
    s1: [i32; 256],
    s2: [i32; 256],
}

impl AddTables {
    /// Fills the tables for `p` in place (no copies of the 2 KiB of
    /// tables); the output stage's constants, or `None` where the fast
    /// epilogue does not cover it (or a sum of two entries could reach
    /// `2^30`).
    #[inline(always)]
    fn fill(&mut self, p: &AddParams) -> Option<ChanQ> {
        let scale = 1i32 << p.left_shift;
        let mut max = 0i64;
        for (t, zp, m, shift) in [
            (
                &mut self.s1,
                p.input1_zero_point,
                p.input1_multiplier,
                p.input1_shift,
            ),
            (
                &mut self.s2,
                p.input2_zero_point,
                p.input2_multiplier,
                p.input2_shift,
            ),
        ] {
            let x0 = (-128i32).wrapping_sub(zp).wrapping_mul(scale);
            // `(x - zp) << left_shift` below 2^30 in magnitude for every
            // byte: `requantize_smaller_than_one` through one SMMLAR.
            let quick = add_half_quick(zp, m, shift, p.left_shift);
            let half = |x: i32| {
                if quick {
                    small_requantize(x, m, -shift)
                } else {
                    requantize_smaller_than_one(x, m, shift)
                }
            };
            if quick {
                fill_quick(t, x0, scale, m, -shift);
                // No `x` wraps here, so a half is monotonic in the byte (one
                // multiplier, rounding shifts): its largest magnitude is at
                // an end of the range.
                let x1 = 127i32.wrapping_sub(zp).wrapping_mul(scale);
                max += (half(x0) as i64).abs().max((half(x1) as i64).abs());
            } else {
                let (mut x, mut most) = (x0, 0i64);
                for i in 0..256 {
                    let s = half(x);
                    most = most.max((s as i64).abs());
                    t[(i + 128) & 255] = s.wrapping_mul(2);
                    x = x.wrapping_add(scale);
                }
                max += most;
            }
        }
        ChanQ::new(
            0,
            p.output_multiplier,
            p.output_shift,
            p.output_zero_point,
            max,
        )
    }
}

/// One table of [`AddTables`] where [`small_requantize`] is exact: entry
/// `(v as u8)` is `2 * small_requantize(x0 + (v + 128) * scale, m, e)` for
/// every byte `v`, the rounding of the shift by `e` hoisted out of the loop
/// (about 10 instructions an entry).
#[inline(always)]
fn fill_quick(t: &mut [i32; 256], x0: i32, scale: i32, m: i32, e: i32) {
    let mut x = x0;
    if e == 0 {
        for i in 0..256 {
            t[(i + 128) & 255] = smmlar(x.wrapping_add(x), m, 0).wrapping_mul(2);
            x = x.wrapping_add(scale);
        }
    } else {
        let round = 1i32 << (e - 1);
        for i in 0..256 {
            let hi = smmlar(x.wrapping_add(x), m, 0);
            // `hi + round - [hi < 0]`: `|hi| < 2^30`, no overflow.
            t[(i + 128) & 255] = ((hi + round + (hi >> 31)) >> e).wrapping_mul(2);
            x = x.wrapping_add(scale);
        }
    }
}

/// One element of [`add_loop`].
#[cfg(all(attonet_dsp, not(attonet_mve)))]
macro_rules! add_one {
    () => {
        concat!(
            "ldrb   r4, [r0], #1\n",
            "ldrb   r5, [r1], #1\n",
            "ldr    r4, [r2, r4, lsl #2]\n",
            "ldr    r5, [r3, r5, lsl #2]\n",
            "add    r4, r4, r5\n",
            "sub    r5, r8, r4, lsr #31\n",
            "smmlar r4, r4, r9, r5\n",
            "asr    r4, r4, r10\n",
            "ssat   r4, #8, r4\n",
            "strb   r4, [r11], #1"
        )
    };
}

/// `requantize_smaller_than_one(x, m, -e)` for `|x| < 2^30`, `m !=
/// i32::MIN`, `e` in `0..=31`: the doubling high multiply is `SMMLAR(2x,
/// m, 0)` (see [`ChanQ`]), the rounding shift gemmlowp's, rewritten as
/// `(hi + 2^(e-1) - [hi < 0]) >> e`.
#[inline(always)]
fn small_requantize(x: i32, m: i32, e: i32) -> i32 {
    let hi = smmlar(x.wrapping_add(x), m, 0);
    if e == 0 {
        return hi;
    }
    // `|hi| < 2^30`: the sum stays below 2^31.
    (hi + (1 << (e - 1)) - (hi < 0) as i32) >> e
}

/// `out[i] = ` the output stage of `t.s1[a[i]] + t.s2[b[i]]`, `n` elements
/// (`a` may be `out`: each element is read before it is written).
///
/// # Safety
/// `a`, `b` readable and `out` writable for `n` bytes.
#[inline(always)]
unsafe fn add_loop(t: &AddTables, q: &ChanQ, a: *const u8, b: *const u8, out: *mut i8, n: usize) {
    // Helium: the same, four elements an iteration.
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; the tables have 256 entries each.
    unsafe {
        crate::arch::helium::add_tables(
            t.s1.as_ptr(),
            t.s2.as_ptr(),
            q.mult,
            q.c0,
            q.e,
            a,
            b,
            out,
            n,
        )
    };
    #[cfg(all(attonet_dsp, not(attonet_mve)))]
    {
        // SAFETY: the caller's contract; the tables have 256 entries each
        // and every index is a byte.
        unsafe {
            core::arch::asm!(
                "lsrs   r12, {n}, #2",
                "beq    3f",
                "2:",
                add_one!(),
                add_one!(),
                add_one!(),
                add_one!(),
                "subs   r12, r12, #1",
                "bne    2b",
                "3:",
                "ands   r12, {n}, #3",
                "beq    5f",
                "4:",
                add_one!(),
                "subs   r12, r12, #1",
                "bne    4b",
                "5:",
                n = in(reg) n,
                inout("r0") a => _,
                inout("r1") b => _,
                in("r2") t.s1.as_ptr(),
                in("r3") t.s2.as_ptr(),
                in("r8") q.c0,
                in("r9") q.mult,
                in("r10") q.e,
                inout("r11") out => _,
                out("r4") _,
                out("r5") _,
                out("r12") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_dsp))]
    for i in 0..n {
        // SAFETY: the caller's contract.
        unsafe {
            let s = t.s1[*a.add(i) as usize].wrapping_add(t.s2[*b.add(i) as usize]);
            // `fast_out` of the undoubled sum (the tables are doubled).
            let half = ChanQ { bias: 0, ..*q };
            let r = ssat8(asr_reg(
                smmlar(
                    s,
                    half.mult,
                    half.c0.wrapping_sub(((s as u32) >> 31) as i32),
                ),
                half.e,
            ));
            *out.add(i) = r as i8;
        }
    }
}

/// One input's half of [`AddTables`] computed per element: `zp`, `m`,
/// `-shift` where [`small_requantize`] is exact for every byte (the tables'
/// `quick` case), with the largest `|s|` (at `-128` or `127`: `s` is
/// monotonic in the byte).
fn add_half(zp: i32, m: i32, shift: i32, left_shift: i32) -> Option<(i32, i32, i32, i64)> {
    if !add_half_quick(zp, m, shift, left_shift) {
        return None;
    }
    let scale = 1i32 << left_shift;
    let s = |v: i32| small_requantize(v.wrapping_sub(zp).wrapping_mul(scale), m, -shift) as i64;
    Some((zp, m, -shift, s(-128).abs().max(s(127).abs())))
}

/// ADD without tables (fewer than [`ADD_MIN_LEN`] elements): per element
/// both halves through [`small_requantize`], doubled, then the tables'
/// output stage; the same bits as [`add_loop`] over the tables
/// [`AddTables::fill`] makes.
struct AddDirect {
    h1: (i32, i32, i32),
    h2: (i32, i32, i32),
    scale: i32,
    q: ChanQ,
}

impl AddDirect {
    /// `None` where an input's half needs the exact path, or the output
    /// stage the fast epilogue does not cover (as [`AddTables::fill`]).
    fn new(p: &AddParams) -> Option<AddDirect> {
        let ls = p.left_shift;
        let (z1, m1, e1, max1) =
            add_half(p.input1_zero_point, p.input1_multiplier, p.input1_shift, ls)?;
        let (z2, m2, e2, max2) =
            add_half(p.input2_zero_point, p.input2_multiplier, p.input2_shift, ls)?;
        let q = ChanQ::new(
            0,
            p.output_multiplier,
            p.output_shift,
            p.output_zero_point,
            max1 + max2,
        )?;
        Some(AddDirect {
            h1: (z1, m1, e1),
            h2: (z2, m2, e2),
            scale: 1 << ls,
            q,
        })
    }

    /// One output element (before the clamp pass).
    #[inline(always)]
    fn one(&self, x: i8, y: i8) -> i8 {
        let half = |(zp, m, e): (i32, i32, i32), v: i8| {
            small_requantize((v as i32).wrapping_sub(zp).wrapping_mul(self.scale), m, e)
                .wrapping_mul(2)
        };
        let s = half(self.h1, x).wrapping_add(half(self.h2, y));
        // The fast epilogue of the undoubled sum (the halves are doubled).
        let q = &self.q;
        ssat8(asr_reg(
            smmlar(s, q.mult, q.c0.wrapping_sub(((s as u32) >> 31) as i32)),
            q.e,
        )) as i8
    }
}

/// ADD of `n` elements: per element ([`AddDirect`]) or through per-input
/// tables, the way [`add_way`] gives for the ways `K` links
/// ([`kernels::ADD_DIRECT`], [`kernels::ADD_TABLES`]); `false` (nothing
/// written) where neither covers `p`. Arguments as `add_s8` checked them
/// (equal lengths, parameters in range). `a` may be `out` (in place: each
/// element is read before it is written).
///
/// # Safety
/// `a`, `b` readable and `out` writable for `n` bytes.
#[inline(always)]
unsafe fn add_any<const K: KernelSet>(
    p: &AddParams,
    a: *const u8,
    b: *const u8,
    out: *mut i8,
    n: usize,
) -> bool {
    let tables = K & kernels::ADD_TABLES != 0;
    let direct = K & kernels::ADD_DIRECT != 0;
    if direct && (!tables || n < ADD_MIN_LEN) {
        if let Some(d) = AddDirect::new(p) {
            for i in 0..n {
                // SAFETY: the caller's contract; `i < n`.
                unsafe { *out.add(i) = d.one(*a.add(i) as i8, *b.add(i) as i8) };
            }
            return true;
        }
    }
    if !tables {
        return false;
    }
    let mut t = AddTables {
        s1: [0; 256],
        s2: [0; 256],
    };
    let Some(q) = t.fill(p) else {
        return false;
    };
    // SAFETY: the caller's contract.
    unsafe { add_loop(&t, &q, a, b, out, n) };
    true
}

/// An ADD's tables built once for many calls: a fused block adds its
/// shortcut a band of rows at a time with the same parameters, so it builds
/// them once per run (2 KiB on its stack) instead of once per band (about
/// 5,500 instructions each) or computing both halves of every element.
pub(crate) struct AddPrepared {
    t: AddTables,
    q: ChanQ,
}

impl AddPrepared {
    /// Empty tables, to be filled in place by [`AddPrepared::prepare`] (2
    /// KiB: built where they stay, not returned by value).
    #[inline(always)]
    pub(crate) fn empty() -> AddPrepared {
        AddPrepared {
            t: AddTables {
                s1: [0; 256],
                s2: [0; 256],
            },
            q: ChanQ::SLOW,
        }
    }

    /// Fills the tables for `p` (parameters `add_s8`'s checks accepted);
    /// `false` where they do not cover it
    /// ([`crate::dsp_select::add_covers`]).
    pub(crate) fn prepare(&mut self, p: &AddParams) -> bool {
        match self.t.fill(p) {
            Some(q) => {
                self.q = q;
                true
            }
            None => false,
        }
    }

    /// [`add_s8_in_place`] through these tables (`p` the parameters they
    /// were built for); `false` (nothing written) on unequal lengths.
    pub(crate) fn in_place(&self, p: &AddParams, acc: &mut [i8], other: &[i8]) -> bool {
        let n = acc.len();
        if other.len() != n {
            return false;
        }
        let a = acc.as_mut_ptr();
        // SAFETY: `acc` and `other` have `n` bytes; element `i` of `acc` is
        // read before it is written.
        unsafe {
            add_loop(
                &self.t,
                &self.q,
                a as *const u8,
                other.as_ptr() as *const u8,
                a,
                n,
            )
        };
        clamp_pass(acc, p.clamp);
        true
    }
}

/// [`add_any`] over three buffers. Not inlined: its 2 KiB of tables live
/// on the stack only during the call.
#[inline(never)]
pub(crate) fn add_s8<const K: KernelSet>(
    p: &AddParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> bool {
    let n = input1.len();
    if input2.len() != n || output.len() != n {
        return false;
    }
    let (a, b) = (input1.as_ptr() as *const u8, input2.as_ptr() as *const u8);
    // SAFETY: three buffers of `n` bytes.
    let done = unsafe { add_any::<K>(p, a, b, output.as_mut_ptr(), n) };
    if done {
        clamp_pass(output, p.clamp);
    }
    done
}

/// [`add_s8`] in place: `acc` holds the first input and gets the output.
#[inline(never)]
pub(crate) fn add_s8_in_place<const K: KernelSet>(
    p: &AddParams,
    acc: &mut [i8],
    other: &[i8],
) -> bool {
    let n = acc.len();
    if other.len() != n {
        return false;
    }
    let a = acc.as_mut_ptr();
    // SAFETY: `acc` and `other` have `n` bytes; element `i` of `acc` is read
    // before it is written.
    let done = unsafe { add_any::<K>(p, a as *const u8, other.as_ptr() as *const u8, a, n) };
    if done {
        clamp_pass(acc, p.clamp);
    }
    done
}

/// The kernels above, with each DSP instruction modelled in Rust on the host,
/// against the portable kernels on random cases (the QEMU firmware in
/// `tests/qemu-kernels` repeats this with the real instructions).
#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::ops::{conv, depthwise, Window};
    use crate::quant::Clamp;

    use super::super::test_cases::*;

    #[test]
    fn epilogue_matches_requantize() {
        let mut r = Rng(0xDEAD_BEEF_1234_5678);
        let specials = [
            0,
            1,
            -1,
            i32::MIN,
            i32::MAX,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            12345,
            -12345,
        ];
        for i in 0..cases(200_000) {
            let acc = if i % 3 == 0 {
                r.pick(&specials)
            } else {
                r.next() as i32 >> r.range(0, 31)
            };
            let bias = if i % 5 == 0 {
                r.pick(&specials)
            } else {
                r.range(-100_000, 100_000) as i32
            };
            let m = if i % 7 == 0 {
                r.pick(&specials)
            } else {
                r.next() as i32
            };
            let shift = r.range(-31, 30) as i32;
            let q = quant(&mut r, false);
            let (b, mm, sh) = ([bias], [m], [shift]);
            let w = ConvWeights {
                filter: &[],
                bias: &b,
                multiplier: &mm,
                shift: &sh,
            };
            let e = Epilogue::new(&w, 0);
            let o = OutQuant::new(&q);
            let want = crate::ops::conv::finish(acc, 0, bias, m, shift, &q);
            let a = acc.wrapping_add(bias);
            let mut got = 0i8;
            e.store(a, &o, &mut got);
            assert_eq!(got, want, "acc {acc} bias {bias} m {m} shift {shift} {q:?}");
            assert_eq!(e.exact(a, &o), want);
            if shift <= 0 && m != i32::MIN {
                assert_eq!(e.apply(a, &o), want);
            }
        }
    }

    #[test]
    fn fast_epilogue_matches_requantize() {
        let mut r = Rng(0x7777_1234_ABCD_0001);
        let mut covered = 0;
        for i in 0..cases(400_000) {
            let bound = r.pick(&[0i64, 1000, 18_801_000, 1 << 29]);
            let bias = if i % 9 == 0 {
                r.pick(&[0, -1, 1, (1 << 30) - 1, -(1 << 30) + 1, i32::MAX, i32::MIN])
            } else {
                r.range(-200_000, 200_000) as i32
            };
            let m = if i % 11 == 0 {
                r.pick(&[1, i32::MAX, 1 << 30, 0, -5, i32::MIN])
            } else {
                r.range(1 << 30, i32::MAX as i64) as i32
            };
            let shift = if i % 13 == 0 {
                r.pick(&[0, 1, -1, -22, -23, -31])
            } else {
                r.range(-14, -1) as i32
            };
            let zp = if i % 17 == 0 {
                r.pick(&[-128, 127, 128, -129])
            } else {
                r.range(-128, 127) as i32
            };
            let Some(q) = ChanQ::new(bias, m, shift, zp, bound) else {
                continue;
            };
            covered += 1;
            // Any accumulator the layer can form: bias plus a sum within the bound.
            let sum = if i % 3 == 0 {
                r.pick(&[bound, -bound, 0, bound.min(1), -bound.min(1)])
            } else if bound == 0 {
                0
            } else {
                r.range(-bound, bound)
            };
            let acc = bias.wrapping_add(sum as i32);
            let want = requantize(acc, m, shift).wrapping_add(zp).clamp(-128, 127);
            assert_eq!(
                fast_out(acc, &q),
                want,
                "acc {acc} m {m} shift {shift} zp {zp}"
            );
        }
        #[cfg(not(miri))]
        assert!(covered > 250_000, "{covered}");
        // Ties in both directions, the cases the sign correction is for.
        for e in 1..=22 {
            for m in [1 << 30, (1 << 30) + 1, i32::MAX] {
                let q = ChanQ::new(0, m, -e, -3, 1 << 20).unwrap();
                for hi in -70i64..70 {
                    for d in [-1i64, 0, 1] {
                        let acc = ((hi << e) * (1 << 31) / m as i64 + d).clamp(-(1 << 20), 1 << 20)
                            as i32;
                        let want = requantize(acc, m, -e).wrapping_add(-3).clamp(-128, 127);
                        assert_eq!(fast_out(acc, &q), want, "acc {acc} m {m} e {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn conv_matches_portable() {
        let mut r = Rng(0x1234_5678_9ABC_DEF1);
        let (mut covered, mut prepared_covered) = (0, 0);
        for case in 0..cases(3000) {
            let kind = case % 4; // 0: 1x1, 1: 3x3, 2: any, 3: grouped 3x3
            let win = match kind {
                0 => Window {
                    pad_top: 0,
                    pad_left: 0,
                    ..window(&mut r, 1)
                },
                1 | 3 => window(&mut r, 3),
                _ => window(&mut r, 0),
            };
            let groups = if kind == 3 {
                r.pick(&[1u16, 2, 4, 3])
            } else if kind == 2 && r.next() % 3 == 0 {
                2
            } else {
                1
            };
            let cpg = r.pick(&[1u16, 2, 3, 4, 8, 12, 16, 5, 32]);
            let ocpg = r.pick(&[1u16, 2, 3, 4, 5, 8]);
            let ins = Shape::new(r.range(1, 9) as u16, r.range(1, 9) as u16, cpg * groups);
            let outs = Shape::new(
                out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
                out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
                ocpg * groups,
            );
            let p = ConvParams {
                window: win,
                groups,
                quant: quant(&mut r, false),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize * cpg as usize);
            let t = tables(&mut r, outs.c as usize, false);
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let mut want = std::vec![0i8; outs.len()];
            conv::check_conv_args(&p, ins, &input, &w, outs, &want).unwrap();
            conv::conv_core(&p, ins, &input, &w, outs, &mut want);
            let mut taken = None;
            type Fast = fn(&ConvParams, Shape, &[i8], &ConvWeights<'_>, Shape, &mut [i8]) -> bool;
            let fast: [(&str, Fast); 2] = [
                ("dsp-depthwise", conv_depthwise_like),
                ("dsp-columns", |p, i, x, w, o, y| {
                    conv_s8::<{ kernels::ALL }>(p, i, x, w, &[], o, y)
                }),
            ];
            for (name, f) in fast {
                let mut got = std::vec![0x55i8; outs.len()];
                if f(&p, ins, &input, &w, outs, &mut got) {
                    taken = taken.or(Some(name));
                    covered += 1;
                    assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
                } else {
                    assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                }
            }
            // (`conv_s8` takes windows past `CONV_MAX_K` in slices.)
            let taken = taken.map(|n| match n {
                "dsp-columns"
                    if columns_window(&p, ins, outs).is_some()
                        && (pointwise_narrow_covers(&p, ins, outs)
                            || narrow_window_covers(&p, ins, outs)) =>
                {
                    "dsp-narrow"
                }
                "dsp-columns" if columns_wide_covers(&p, ins, outs) => "dsp-columns-wide",
                n => n,
            });
            assert_eq!(taken, conv_fast_path(&p, ins, outs));
            // A build that links one block size: the same outputs where the
            // layer fits that block, declined (nothing written) exactly
            // where `dsp_select` says it does not.
            type Only = fn(&ConvParams, Shape, &[i8], &ConvWeights<'_>, Shape, &mut [i8]) -> bool;
            const K4: KernelSet = kernels::CONV | kernels::CONV_BLOCK4 | kernels::EXACT_CONV;
            const K5: KernelSet = kernels::CONV | kernels::CONV_BLOCK5 | kernels::EXACT_CONV;
            const NO_EXACT: KernelSet = kernels::CONV | kernels::CONV_BLOCK4 | kernels::CONV_BLOCK5;
            let only: [(u8, Only); 2] = [
                (blocks::FOUR, |p, i, x, w, o, y| {
                    conv_s8::<K4>(p, i, x, w, &[], o, y)
                }),
                (blocks::FIVE, |p, i, x, w, o, y| {
                    conv_s8::<K5>(p, i, x, w, &[], o, y)
                }),
            ];
            for (b, f) in only {
                let mut got = std::vec![0x55i8; outs.len()];
                let took = f(&p, ins, &input, &w, outs, &mut got);
                assert_eq!(took, columns_block(&p, ins, outs, false, b).is_some());
                if took {
                    assert_eq!(got, want, "block bit {b}, case {case}");
                } else {
                    assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                }
            }
            // Without the exact path: declined where a channel needs it (the
            // converter then links it), else the same outputs.
            let oc = outs.c as usize;
            let mut consts = std::vec![0i32; prepared::conv_len(oc)];
            let taps = filter.len() / oc.max(1);
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            let slow = prepared::prepare_conv(&w, oc, taps, zi, zo, &mut consts).is_none()
                || consts.chunks_exact(4).any(|q| q[1] == 0);
            let mut got = std::vec![0x55i8; outs.len()];
            let took = conv_s8::<NO_EXACT>(&p, ins, &input, &w, &[], outs, &mut got);
            let covered = columns_block(&p, ins, outs, false, blocks::BOTH).is_some();
            assert_eq!(took, covered && !slow, "case {case}");
            if took {
                assert_eq!(got, want, "without the exact path, case {case}");
            }
            // The converter's prepared constants: the same outputs.
            let oc = outs.c as usize;
            let mut table = std::vec![0i32; prepared::conv_len(oc)];
            let taps = filter.len() / oc.max(1);
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            if prepared::prepare_conv(&w, oc, taps, zi, zo, &mut table).is_some() {
                let mut got = std::vec![0x55i8; outs.len()];
                if conv_s8::<{ kernels::ALL }>(&p, ins, &input, &w, &table, outs, &mut got) {
                    prepared_covered += 1;
                    assert_eq!(
                        got, want,
                        "prepared, case {case}: {p:?} {ins:?} -> {outs:?}"
                    );
                }
            }
        }
        #[cfg(not(miri))]
        assert!(covered > 2500, "only {covered} cases took a fast path");
        #[cfg(not(miri))]
        assert!(
            prepared_covered > 1000,
            "only {prepared_covered} cases with a prepared table"
        );
    }

    #[test]
    fn small_requantize_matches() {
        use crate::quant::requantize_smaller_than_one;
        let mut r = Rng(0x1357_9BDF_2468_ACE0);
        for i in 0..cases(300_000) {
            let x = if i % 5 == 0 {
                r.pick(&[
                    0,
                    1,
                    -1,
                    (1 << 30) - 1,
                    -(1 << 30) + 1,
                    255 << 20,
                    -255 << 20,
                ])
            } else {
                (r.next() as i32) >> r.range(2, 31)
            };
            let m = if i % 7 == 0 {
                r.pick(&[1, -1, i32::MAX, 1 << 30, -(1 << 30), i32::MIN + 1, 0])
            } else {
                r.next() as i32
            };
            let e = r.range(0, 31) as i32;
            assert_eq!(
                small_requantize(x, m, e),
                requantize_smaller_than_one(x, m, -e),
                "x {x} m {m} e {e}"
            );
        }
    }

    #[test]
    fn add_matches_portable() {
        use crate::ops::add::{add_in_place_core, add_one, AddParams};
        let mut r = Rng(0x5555_AAAA_1234_9876);
        let (mut covered, mut per_element) = (0, 0u32);
        for case in 0..cases(300) {
            let mult = |r: &mut Rng| {
                if r.next() % 10 == 0 {
                    r.pick(&[i32::MIN, i32::MAX, 1 << 30, 0])
                } else {
                    r.range(1 << 30, i32::MAX as i64) as i32
                }
            };
            let (a, b) = (r.next() as i8, r.next() as i8);
            let p = AddParams {
                input1_zero_point: r.range(-128, 127) as i32,
                input2_zero_point: r.range(-128, 127) as i32,
                output_zero_point: r.range(-128, 127) as i32,
                left_shift: if case % 7 == 0 {
                    r.range(0, 30) as i32
                } else {
                    20
                },
                input1_multiplier: mult(&mut r),
                input1_shift: r.range(-31, 0) as i32,
                input2_multiplier: mult(&mut r),
                input2_shift: r.range(-31, 0) as i32,
                output_multiplier: mult(&mut r),
                output_shift: if case % 3 == 0 {
                    r.range(-31, 0) as i32
                } else {
                    r.range(-20, -15) as i32
                },
                clamp: if r.next() % 2 == 0 {
                    Clamp::NONE
                } else {
                    Clamp {
                        min: a.min(b),
                        max: a.max(b),
                    }
                },
            };
            let n = r.range(0, 2000) as usize;
            let x = r.i8s(n);
            let y = r.i8s(n);
            let want: Vec<i8> = x.iter().zip(&y).map(|(&a, &b)| add_one(&p, a, b)).collect();
            // Both ways linked (the host runner's set), then each alone: the
            // same outputs where taken, declined (nothing written) exactly
            // where `dsp_select::add_way` says so, as the converter predicts.
            type Add = fn(&AddParams, &[i8], &[i8], &mut [i8]) -> bool;
            type InPlace = fn(&AddParams, &mut [i8], &[i8]) -> bool;
            const T: KernelSet = kernels::ADD_TABLES;
            const D: KernelSet = kernels::ADD_DIRECT;
            let ways: [(bool, bool, Add, InPlace); 3] = [
                (
                    true,
                    true,
                    add_s8::<{ kernels::ALL }>,
                    add_s8_in_place::<{ kernels::ALL }>,
                ),
                (true, false, add_s8::<T>, add_s8_in_place::<T>),
                (false, true, add_s8::<D>, add_s8_in_place::<D>),
            ];
            for (k, (tables, direct, add, in_place)) in ways.into_iter().enumerate() {
                let way = crate::dsp_select::add_way(&p, n, tables, direct);
                let mut got = std::vec![0x55i8; n];
                let took = add(&p, &x, &y, &mut got);
                assert_eq!(took, way.is_some(), "case {case} ways {k}: {p:?}");
                if took {
                    if k == 0 {
                        covered += 1;
                        per_element += (way == Some(true)) as u32;
                    }
                    assert_eq!(got, want, "case {case} ways {k}: {p:?}");
                } else {
                    assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                }
                let mut acc = x.clone();
                let took = in_place(&p, &mut acc, &y);
                assert_eq!(took, way.is_some(), "case {case} ways {k} in place");
                if !took {
                    assert_eq!(acc, x, "declined but wrote");
                    add_in_place_core(&p, &mut acc, &y);
                }
                assert_eq!(acc, want, "case {case} ways {k} in place: {p:?}");
            }
            // Tables built once for many calls (a fused block's shortcut).
            let mut t = AddPrepared::empty();
            let ready = t.prepare(&p);
            assert_eq!(ready, crate::dsp_select::add_covers(&p, false));
            if ready {
                for _ in 0..2 {
                    let mut acc = x.clone();
                    assert!(t.in_place(&p, &mut acc, &y));
                    assert_eq!(acc, want, "case {case} prepared: {p:?}");
                }
            }
        }
        #[cfg(not(miri))]
        assert!(covered > 120, "only {covered} cases took the fast path");
        #[cfg(not(miri))]
        assert!(per_element > 30, "only {per_element} cases without tables");
    }

    #[test]
    fn depthwise_matches_portable() {
        let mut r = Rng(0x0F1E_2D3C_4B5A_6978);
        let (mut covered, mut prepared_covered) = (0, 0);
        for case in 0..cases(2000) {
            let win = window(&mut r, if case % 2 == 0 { 3 } else { 0 });
            let dm = if case % 5 == 0 { 2 } else { 1 };
            let ins = Shape::new(
                r.range(1, 9) as u16,
                r.range(1, 9) as u16,
                r.range(1, 70) as u16,
            );
            let outs = Shape::new(
                out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
                out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
                ins.c * dm,
            );
            let p = depthwise::DepthwiseParams {
                window: win,
                depth_multiplier: dm,
                quant: quant(&mut r, false),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize);
            let t = tables(&mut r, outs.c as usize, false);
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let mut want = std::vec![0i8; outs.len()];
            depthwise::check_depthwise_args(&p, ins, &input, &w, outs, &want).unwrap();
            depthwise::depthwise_core(&p, ins, &input, &w, outs, &mut want);
            let mut got = std::vec![0x55i8; outs.len()];
            if depthwise_s8(&p, ins, &input, &w, &[], outs, &mut got) {
                covered += 1;
                assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            } else {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
            }
            // The converter's prepared table: the same outputs.
            let c = outs.c as usize;
            let mut table = std::vec![0i32; prepared::dw3_len(c)];
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            if dm == 1
                && prepared::prepare_dw3(DwLayout::TapMajor, &w, c, zi, zo, &mut table).is_some()
            {
                let mut got = std::vec![0x55i8; outs.len()];
                if depthwise_s8(&p, ins, &input, &w, &table, outs, &mut got) {
                    prepared_covered += 1;
                    assert_eq!(
                        got, want,
                        "prepared, case {case}: {p:?} {ins:?} -> {outs:?}"
                    );
                }
            }
        }
        #[cfg(not(miri))]
        assert!(covered > 1400, "only {covered} cases took a fast path");
        #[cfg(not(miri))]
        assert!(
            prepared_covered > 100,
            "only {prepared_covered} cases with a prepared table"
        );
    }
}
