//! Cortex-M DSP kernels (Armv7E-M, Armv8-M Mainline with the DSP extension):
//! SMLAD on sign-extended halfword pairs.
//!
//! Every entry point takes arguments the portable kernel's checks already
//! accepted, and returns `false` (having written nothing) for parameters it
//! does not cover, so the caller runs the portable loops instead. What it
//! computes is bit-identical to the portable kernel: the accumulator is the
//! same sum modulo 2^32 (`Σ w * (x - input_zp)`, padded taps contributing
//! nothing, `+ bias`), and the epilogue is [`crate::quant::requantize`], the
//! output offset and the clamp, unchanged.
//!
//! # Pair order
//! `SXTB16 x` sign-extends bytes 0 and 2 of a word into two halfwords, and
//! `SXTB16 x, ROR #8` bytes 1 and 3 (CMSIS-NN's `read_and_pad_reordered`).
//! Applying the same two to four weights and to four activations gives pairs
//! `(w0, w2) . (x0, x2)` and `(w1, w3) . (x1, x3)`, whose two SMLADs sum
//! the four products: no byte shuffling is needed on either side.
//!
//! # Convolution ([`conv_s8`])
//! An "im2col" of four output pixels at a time: each pixel's window
//! (`kh * kw * in_c / groups` bytes in OHWI order, the layout of a weight
//! row) is widened to `x - input_zp` halfwords in the pair order above, with
//! padded taps and the round-up to a multiple of four as 0, interleaved as
//! `[k / 4][pixel][2 words]`. Then for each output channel an assembly loop
//! reads its weight row once, four bytes at a time (`LDR`, two `SXTB16`), and
//! accumulates the four pixels (`LDRD` and two `SMLAD` each): 15 instructions
//! per 16 multiply-accumulates. Weight rows are read in place, unaligned
//! (allowed on these cores), so the plan's weight layout is unchanged.
//!
//! # Depthwise ([`depthwise_s8`])
//! Four channels at a time: the weights of a block of channels are widened
//! once per call into pair order on the stack; each tap costs one `LDR` of
//! four activations, two `SXTAB16` (which also subtract the zero point), one
//! `LDRD` of the widened weights and four `SMLAxy`.

use super::dsp_prims::{smlabb, smlad, smlatt, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8};
use crate::ops::add::AddParams;
use crate::ops::conv::tap_range;
use crate::ops::depthwise::DepthwiseParams;
use crate::ops::{ConvParams, ConvQuant, ConvWeights, Shape};
use crate::quant::{requantize, requantize_smaller_than_one};

/// Largest window (`kh * kw * in_c / groups`) [`conv_s8`] takes: a 3x3
/// window over 64 channels. Its column buffer is `8 * CONV_MAX_K` bytes of
/// stack (4.5 KiB).
pub(crate) const CONV_MAX_K: usize = 576;

/// Output pixels per column block.
const PIX: usize = 4;

/// Words of the column buffer: `CONV_MAX_K / 4` chunks of `PIX` pixels of
/// two words.
const COL_WORDS: usize = CONV_MAX_K / 4 * PIX * 2;

/// The column buffer; `LDRD` needs word alignment, 8 keeps pairs together.
#[repr(C, align(8))]
struct Columns([u32; COL_WORDS]);

/// Bytes of the padded window in [`conv_s8`]'s byte-gather path.
const WINDOW_BYTES: usize = CONV_MAX_K;

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
    // SAFETY: every caller passes `i < buf.len()` (column offsets are below
    // `chunks * 8` with `chunks <= CONV_MAX_K / 4`).
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
    /// Whether [`apply`](Self::apply) is exact for this channel:
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

/// The epilogue of four outputs of one channel (a column block), with every
/// constant in one `repr(C)` block for the assembly in
/// [`requant4`](Self::requant4). Same arithmetic as [`Epilogue::apply`];
/// only for channels with [`Epilogue::fast`].
#[repr(C)]
struct Requant4 {
    /// Offsets 0 and 4.
    multiplier: i32,
    right: u32,
    /// Offsets 8 and 12.
    mask: i32,
    half: i32,
    /// Offsets 16, 20, 24.
    zp: i32,
    min: i32,
    max: i32,
}

impl Requant4 {
    #[inline(always)]
    fn new(o: &OutQuant) -> Requant4 {
        Requant4 {
            multiplier: 0,
            right: 0,
            mask: 0,
            half: 0,
            zp: o.zp,
            min: o.min,
            max: o.max,
        }
    }

    #[inline(always)]
    fn set_channel(&mut self, e: &Epilogue) {
        self.multiplier = e.multiplier;
        self.right = e.right;
        self.mask = e.mask;
        self.half = e.half;
    }

    /// The four outputs (as `i32`s in `-128..=127`) of accumulators with the
    /// bias added.
    #[inline(always)]
    fn requant4(&self, acc: [i32; PIX]) -> [i32; PIX] {
        #[cfg(attonet_dsp)]
        {
            let [mut a0, mut a1, mut a2, mut a3] = acc;
            // SAFETY: reads the 28 bytes of the word-aligned `repr(C)`
            // `self` (LDRD needs 4-byte alignment), writes only registers
            // and flags. Per accumulator: `Epilogue::apply`'s arithmetic.
            unsafe {
                core::arch::asm!(
                    "ldrd  {m}, {e}, [{c}]",
                    // a0
                    "smull {l}, {h}, {a0}, {m}",
                    "adds  {l}, {l}, #0x40000000",
                    "adc   {h}, {h}, #0",
                    "lsrs  {l}, {l}, #31",
                    "orr   {a0}, {l}, {h}, lsl #1",
                    "ldrd  {l}, {h}, [{c}, #8]",
                    "and   {l}, {a0}, {l}",
                    "add   {h}, {h}, {a0}, lsr #31",
                    "asr   {a0}, {a0}, {e}",
                    "cmp   {l}, {h}",
                    "it    gt",
                    "addgt {a0}, {a0}, #1",
                    "ldrd  {l}, {h}, [{c}, #16]",
                    "add   {a0}, {a0}, {l}",
                    "cmp   {a0}, {h}",
                    "it    lt",
                    "movlt {a0}, {h}",
                    "ldr   {l}, [{c}, #24]",
                    "cmp   {a0}, {l}",
                    "it    gt",
                    "movgt {a0}, {l}",
                    // a1
                    "smull {l}, {h}, {a1}, {m}",
                    "adds  {l}, {l}, #0x40000000",
                    "adc   {h}, {h}, #0",
                    "lsrs  {l}, {l}, #31",
                    "orr   {a1}, {l}, {h}, lsl #1",
                    "ldrd  {l}, {h}, [{c}, #8]",
                    "and   {l}, {a1}, {l}",
                    "add   {h}, {h}, {a1}, lsr #31",
                    "asr   {a1}, {a1}, {e}",
                    "cmp   {l}, {h}",
                    "it    gt",
                    "addgt {a1}, {a1}, #1",
                    "ldrd  {l}, {h}, [{c}, #16]",
                    "add   {a1}, {a1}, {l}",
                    "cmp   {a1}, {h}",
                    "it    lt",
                    "movlt {a1}, {h}",
                    "ldr   {l}, [{c}, #24]",
                    "cmp   {a1}, {l}",
                    "it    gt",
                    "movgt {a1}, {l}",
                    // a2
                    "smull {l}, {h}, {a2}, {m}",
                    "adds  {l}, {l}, #0x40000000",
                    "adc   {h}, {h}, #0",
                    "lsrs  {l}, {l}, #31",
                    "orr   {a2}, {l}, {h}, lsl #1",
                    "ldrd  {l}, {h}, [{c}, #8]",
                    "and   {l}, {a2}, {l}",
                    "add   {h}, {h}, {a2}, lsr #31",
                    "asr   {a2}, {a2}, {e}",
                    "cmp   {l}, {h}",
                    "it    gt",
                    "addgt {a2}, {a2}, #1",
                    "ldrd  {l}, {h}, [{c}, #16]",
                    "add   {a2}, {a2}, {l}",
                    "cmp   {a2}, {h}",
                    "it    lt",
                    "movlt {a2}, {h}",
                    "ldr   {l}, [{c}, #24]",
                    "cmp   {a2}, {l}",
                    "it    gt",
                    "movgt {a2}, {l}",
                    // a3
                    "smull {l}, {h}, {a3}, {m}",
                    "adds  {l}, {l}, #0x40000000",
                    "adc   {h}, {h}, #0",
                    "lsrs  {l}, {l}, #31",
                    "orr   {a3}, {l}, {h}, lsl #1",
                    "ldrd  {l}, {h}, [{c}, #8]",
                    "and   {l}, {a3}, {l}",
                    "add   {h}, {h}, {a3}, lsr #31",
                    "asr   {a3}, {a3}, {e}",
                    "cmp   {l}, {h}",
                    "it    gt",
                    "addgt {a3}, {a3}, #1",
                    "ldrd  {l}, {h}, [{c}, #16]",
                    "add   {a3}, {a3}, {l}",
                    "cmp   {a3}, {h}",
                    "it    lt",
                    "movlt {a3}, {h}",
                    "ldr   {l}, [{c}, #24]",
                    "cmp   {a3}, {l}",
                    "it    gt",
                    "movgt {a3}, {l}",
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    c = in(reg) self as *const Requant4,
                    m = out(reg) _,
                    e = out(reg) _,
                    l = out(reg) _,
                    h = out(reg) _,
                    options(nostack, readonly),
                );
            }
            [a0, a1, a2, a3]
        }
        #[cfg(not(attonet_dsp))]
        {
            let e = Epilogue {
                multiplier: self.multiplier,
                right: self.right,
                mask: self.mask,
                half: self.half,
                shift: -(self.right as i32),
                fast: true,
            };
            let o = OutQuant {
                zp: self.zp,
                min: self.min,
                max: self.max,
            };
            acc.map(|a| e.apply(a, &o) as i32)
        }
    }
}

// ---------------------------------------------------------------------------
// The dot-product core: one weight row against four gathered pixels.
// ---------------------------------------------------------------------------

/// `acc[p] += Σ_k w[k] * col[p][k]` over the first `4 * chunks` taps, for the
/// four pixel slots of a column block.
///
/// `w` holds at least `4 * chunks` bytes (read unaligned), `col` at least
/// `8 * chunks` words in the `[chunk][pixel][2]` layout.
#[inline(always)]
fn dot_rows(w: &[i8], col: &[u32], chunks: usize, acc: [i32; PIX]) -> [i32; PIX] {
    assert!(w.len() >= 4 * chunks && col.len() >= 8 * chunks);
    #[cfg(attonet_dsp)]
    {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        let mut wp = w.as_ptr();
        let mut xp = col.as_ptr();
        let pairs = chunks / 2;
        if pairs > 0 {
            // SAFETY: the loop reads `8 * pairs` weight bytes from `wp` (LDR,
            // unaligned, allowed on Armv7E-M / Armv8-M Mainline) and
            // `16 * pairs` words from `xp` (LDRD; `col` is word aligned, in
            // a `Columns`), all within the lengths asserted above; it writes
            // only its register operands and the flags.
            unsafe {
                core::arch::asm!(
                    "2:",
                    "ldr    {w}, [{wp}], #4",
                    "ldrd   {xa}, {xb}, [{xp}], #64",
                    "sxtb16 {wa}, {w}",
                    "sxtb16 {w}, {w}, ror #8",
                    "smlad  {a0}, {wa}, {xa}, {a0}",
                    "smlad  {a0}, {w}, {xb}, {a0}",
                    "ldrd   {xa}, {xb}, [{xp}, #-56]",
                    "smlad  {a1}, {wa}, {xa}, {a1}",
                    "smlad  {a1}, {w}, {xb}, {a1}",
                    "ldrd   {xa}, {xb}, [{xp}, #-48]",
                    "smlad  {a2}, {wa}, {xa}, {a2}",
                    "smlad  {a2}, {w}, {xb}, {a2}",
                    "ldrd   {xa}, {xb}, [{xp}, #-40]",
                    "smlad  {a3}, {wa}, {xa}, {a3}",
                    "smlad  {a3}, {w}, {xb}, {a3}",
                    "ldr    {w}, [{wp}], #4",
                    "ldrd   {xa}, {xb}, [{xp}, #-32]",
                    "sxtb16 {wa}, {w}",
                    "sxtb16 {w}, {w}, ror #8",
                    "smlad  {a0}, {wa}, {xa}, {a0}",
                    "smlad  {a0}, {w}, {xb}, {a0}",
                    "ldrd   {xa}, {xb}, [{xp}, #-24]",
                    "smlad  {a1}, {wa}, {xa}, {a1}",
                    "smlad  {a1}, {w}, {xb}, {a1}",
                    "ldrd   {xa}, {xb}, [{xp}, #-16]",
                    "smlad  {a2}, {wa}, {xa}, {a2}",
                    "smlad  {a2}, {w}, {xb}, {a2}",
                    "ldrd   {xa}, {xb}, [{xp}, #-8]",
                    "smlad  {a3}, {wa}, {xa}, {a3}",
                    "smlad  {a3}, {w}, {xb}, {a3}",
                    "subs   {n}, {n}, #1",
                    "bne    2b",
                    wp = inout(reg) wp,
                    xp = inout(reg) xp,
                    n = inout(reg) pairs => _,
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    w = out(reg) _,
                    wa = out(reg) _,
                    xa = out(reg) _,
                    xb = out(reg) _,
                    options(nostack, readonly),
                );
            }
        }
        if chunks & 1 != 0 {
            // SAFETY: one more chunk: 4 weight bytes at `wp` and 8 words at
            // `xp`, the last ones within the asserted lengths.
            unsafe {
                core::arch::asm!(
                    "ldr    {w}, [{wp}]",
                    "ldrd   {xa}, {xb}, [{xp}]",
                    "sxtb16 {wa}, {w}",
                    "sxtb16 {w}, {w}, ror #8",
                    "smlad  {a0}, {wa}, {xa}, {a0}",
                    "smlad  {a0}, {w}, {xb}, {a0}",
                    "ldrd   {xa}, {xb}, [{xp}, #8]",
                    "smlad  {a1}, {wa}, {xa}, {a1}",
                    "smlad  {a1}, {w}, {xb}, {a1}",
                    "ldrd   {xa}, {xb}, [{xp}, #16]",
                    "smlad  {a2}, {wa}, {xa}, {a2}",
                    "smlad  {a2}, {w}, {xb}, {a2}",
                    "ldrd   {xa}, {xb}, [{xp}, #24]",
                    "smlad  {a3}, {wa}, {xa}, {a3}",
                    "smlad  {a3}, {w}, {xb}, {a3}",
                    wp = in(reg) wp,
                    xp = in(reg) xp,
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    w = out(reg) _,
                    wa = out(reg) _,
                    xa = out(reg) _,
                    xb = out(reg) _,
                    options(nostack, readonly, preserves_flags),
                );
            }
        }
        [a0, a1, a2, a3]
    }
    #[cfg(not(attonet_dsp))]
    {
        let mut acc = acc;
        for c in 0..chunks {
            let i = 4 * c;
            let word =
                u32::from_le_bytes([w[i] as u8, w[i + 1] as u8, w[i + 2] as u8, w[i + 3] as u8]);
            acc = dot_word(word, &col[8 * c..8 * c + 8], acc);
        }
        acc
    }
}

/// One chunk: `acc[p] += Σ_j w_j * col[p][j]` for the four weight bytes in
/// `word` (byte `j` is tap `j` of the chunk).
#[inline(always)]
fn dot_word(word: u32, col: &[u32], acc: [i32; PIX]) -> [i32; PIX] {
    let wa = sxtb16(word);
    let wb = sxtb16_ror8(word);
    let [a0, a1, a2, a3] = acc;
    [
        smlad(wb, col[1], smlad(wa, col[0], a0)),
        smlad(wb, col[3], smlad(wa, col[2], a1)),
        smlad(wb, col[5], smlad(wa, col[4], a2)),
        smlad(wb, col[7], smlad(wa, col[6], a3)),
    ]
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
    } else if columns_cover(p, in_shape, out_shape) {
        Some("dsp-columns")
    } else {
        None
    }
}

/// Whether [`conv_s8`] takes these parameters: an `i8` input zero point
/// (padding is gathered as it) and a window of 1 to [`CONV_MAX_K`] taps.
fn columns_cover(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let k = p.window.kh as usize * p.window.kw as usize * (in_shape.c / p.groups.max(1)) as usize;
    (-128..=127).contains(&p.quant.input_zero_point)
        && (1..=CONV_MAX_K).contains(&k)
        && p.groups >= 1
        && out_shape.h > 0
        && out_shape.w > 0
        && out_shape.c > 0
}

/// Convolution through the column kernel: any kernel size, stride, dilation,
/// padding and group count with `kh * kw * in_c / groups <= CONV_MAX_K` and
/// an `i8` input zero point. Arguments as
/// [`check_conv_args`](crate::ops::conv::check_conv_args) accepted them.
/// Returns `false` (nothing written) when the parameters are not covered.
pub(crate) fn conv_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !columns_cover(p, in_shape, out_shape) {
        return false;
    }
    let q = &p.quant;
    let win = &p.window;
    let (ih, iw, ic) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (oh, ow, oc_n) = (
        out_shape.h as usize,
        out_shape.w as usize,
        out_shape.c as usize,
    );
    let groups = p.groups as usize;
    let cpg = ic / groups;
    let (kh, kw) = (win.kh as usize, win.kw as usize);
    let k = kh * kw * cpg;
    let g = ConvGeo {
        ih,
        iw,
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
    };
    let input: &[u8] = bytemuck::cast_slice(input);
    if cpg % 4 == 0 {
        conv_columns::<true>(&g, groups, q, input, weights, oc_n, ow, oh * ow, output);
    } else {
        conv_columns::<false>(&g, groups, q, input, weights, oc_n, ow, oh * ow, output);
    }
    true
}

/// The convolution loops: blocks of [`PIX`] output pixels (raster order),
/// each group's columns gathered once per block, then every output channel
/// of the group through [`dot_rows`]. `DIRECT`: `cpg % 4 == 0`, so every run
/// of window bytes starts on a chunk boundary and is widened straight from
/// the input; otherwise the window is first gathered as bytes.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn conv_columns<const DIRECT: bool>(
    g: &ConvGeo,
    groups: usize,
    q: &ConvQuant,
    input: &[u8],
    weights: &ConvWeights<'_>,
    oc_n: usize,
    out_w: usize,
    pixels: usize,
    output: &mut [i8],
) {
    let mut cols = Columns([0; COL_WORDS]);
    let cols = &mut cols.0[..g.chunks * 8];
    let mut window = [0u8; WINDOW_BYTES + 4];
    let window = &mut window[..g.chunks * 4];
    let zp = q.input_zero_point;
    let off = zp_offset(zp);
    if !DIRECT {
        // The round-up taps of the last chunk read as the zero point: 0.
        window.fill(zp as u8);
    }
    let ocpg = oc_n / groups;
    let oq = OutQuant::new(q);
    let mut rq = Requant4::new(&oq);
    let full = g.k / 4;
    let rem = g.k % 4;
    let filter = weights.filter;

    let mut n0 = 0;
    while n0 < pixels {
        let np = PIX.min(pixels - n0);
        for grp in 0..groups {
            for s in 0..np {
                let n = n0 + s;
                let (oy, ox) = (n / out_w, n % out_w);
                if DIRECT {
                    gather_direct(g, input, cols, s, oy, ox, grp, off);
                } else {
                    gather_bytes(g, input, window, cols, s, oy, ox, grp, zp as u8, off);
                }
            }
            let ocs = grp * ocpg..(grp + 1) * ocpg;
            let tables = weights.bias[ocs.clone()]
                .iter()
                .zip(&weights.multiplier[ocs.clone()])
                .zip(&weights.shift[ocs.clone()]);
            for (oc, ((&bias, &m), &sh)) in ocs.zip(tables) {
                let w = &filter[oc * g.k..];
                let mut acc = [bias, bias, bias, bias];
                if rem == 0 {
                    acc = dot_rows(w, cols, full, acc);
                } else if w.len() >= 4 * (full + 1) {
                    // The round-up taps read the next channels' first
                    // weights; their columns are 0.
                    acc = dot_rows(w, cols, full + 1, acc);
                } else {
                    acc = dot_rows(w, cols, full, acc);
                    let mut word = 0u32;
                    for (i, &b) in w[4 * full..g.k].iter().enumerate() {
                        word |= (b as u8 as u32) << (8 * i);
                    }
                    acc = dot_word(word, &cols[8 * full..8 * full + 8], acc);
                }
                let e = Epilogue::from(m, sh);
                let out = &mut output[n0 * oc_n + oc..];
                if np == PIX && e.fast && out.len() > 3 * oc_n {
                    rq.set_channel(&e);
                    let [r0, r1, r2, r3] = rq.requant4(acc);
                    out[0] = r0 as i8;
                    out[oc_n] = r1 as i8;
                    out[2 * oc_n] = r2 as i8;
                    out[3 * oc_n] = r3 as i8;
                } else {
                    for (o, &a) in out.iter_mut().step_by(oc_n).zip(&acc[..np]) {
                        e.store(a, &oq, o);
                    }
                }
            }
        }
        n0 += np;
    }
}

/// Widens `len` (a multiple of 4) input bytes from `src` into column words
/// from `dst` on, one chunk (8 words apart) per four bytes: words `dst + 8i`
/// and `dst + 8i + 1` get bytes `4i + {0, 2}` and `4i + {1, 3}` as
/// `x - zp` halfwords.
#[inline(always)]
fn widen_run(input: &[u8], src: usize, len: usize, cols: &mut [u32], dst: usize, off: u32) {
    let n = len / 4;
    if n == 0 {
        return;
    }
    assert!(src + 4 * n <= input.len() && dst + 8 * (n - 1) + 2 <= cols.len());
    #[cfg(attonet_dsp)]
    {
        // SAFETY: reads `4 * n` bytes from `input[src..]` (LDR, unaligned
        // allowed on these cores) and writes words `dst + 8i`, `dst + 8i + 1`
        // for `i < n` of `cols` (STRD: `cols` lies in a word-aligned
        // `Columns`), all within the lengths asserted above.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr     {x}, [{s}], #4",
                "sxtab16 {a}, {off}, {x}",
                "sxtab16 {x}, {off}, {x}, ror #8",
                "strd    {a}, {x}, [{d}], #32",
                "subs    {n}, {n}, #1",
                "bne     2b",
                s = inout(reg) input.as_ptr().add(src) => _,
                d = inout(reg) cols.as_mut_ptr().add(dst) => _,
                n = inout(reg) n => _,
                off = in(reg) off,
                x = out(reg) _,
                a = out(reg) _,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_dsp))]
    for i in 0..n {
        let x = load4(input, src + 4 * i);
        put(cols, dst + 8 * i, sxtab16(off, x));
        put(cols, dst + 8 * i + 1, sxtab16_ror8(off, x));
    }
}

/// Gathers the window of output pixel `(oy, ox)`, group `grp`, into pixel
/// slot `s` of the columns, straight from the input (`cpg % 4 == 0`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather_direct(
    g: &ConvGeo,
    input: &[u8],
    cols: &mut [u32],
    s: usize,
    oy: usize,
    ox: usize,
    grp: usize,
    off: u32,
) {
    let iy0 = oy as i32 * g.sh - g.pt;
    let ix0 = ox as i32 * g.sw - g.pl;
    let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
    let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
    if !(ky0 == 0 && ky1 == g.kh && kx0 == 0 && kx1 == g.kw) {
        // Padded taps contribute nothing: zero the slot, then fill what lies
        // inside the input.
        for c in 0..g.chunks {
            put(cols, c * 8 + 2 * s, 0);
            put(cols, c * 8 + 2 * s + 1, 0);
        }
        if ky0 == ky1 || kx0 == kx1 {
            return;
        }
    }
    // One group and dense columns: a kernel row's taps are contiguous.
    let merge = g.dw == 1 && g.cpg == g.ic;
    for ky in ky0..ky1 {
        let iy = (iy0 + (ky * g.dh) as i32) as usize;
        let row = iy * g.iw;
        if merge {
            let ix = (ix0 + kx0 as i32) as usize;
            let k0 = (ky * g.kw + kx0) * g.cpg;
            widen_run(
                input,
                (row + ix) * g.ic,
                (kx1 - kx0) * g.ic,
                cols,
                k0 / 4 * 8 + 2 * s,
                off,
            );
        } else {
            for kx in kx0..kx1 {
                let ix = (ix0 + (kx * g.dw) as i32) as usize;
                let k0 = (ky * g.kw + kx) * g.cpg;
                widen_run(
                    input,
                    (row + ix) * g.ic + grp * g.cpg,
                    g.cpg,
                    cols,
                    k0 / 4 * 8 + 2 * s,
                    off,
                );
            }
        }
    }
}

/// [`gather_direct`] for any `cpg`: the window is first gathered as bytes
/// (padded taps and the round-up as the zero point, which widens to 0), then
/// widened a chunk at a time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather_bytes(
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
    let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
    let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
    if !(ky0 == 0 && ky1 == g.kh && kx0 == 0 && kx1 == g.kw) {
        window[..g.k].fill(zp);
    }
    if ky0 < ky1 && kx0 < kx1 {
        let merge = g.dw == 1 && g.cpg == g.ic;
        for ky in ky0..ky1 {
            let iy = (iy0 + (ky * g.dh) as i32) as usize;
            let row = iy * g.iw;
            if merge {
                let ix = (ix0 + kx0 as i32) as usize;
                let k0 = (ky * g.kw + kx0) * g.cpg;
                let len = (kx1 - kx0) * g.ic;
                let src = (row + ix) * g.ic;
                window[k0..k0 + len].copy_from_slice(&input[src..src + len]);
            } else {
                for kx in kx0..kx1 {
                    let ix = (ix0 + (kx * g.dw) as i32) as usize;
                    let k0 = (ky * g.kw + kx) * g.cpg;
                    let src = (row + ix) * g.ic + grp * g.cpg;
                    window[k0..k0 + g.cpg].copy_from_slice(&input[src..src + g.cpg]);
                }
            }
        }
    }
    for c in 0..g.chunks {
        let x = load4(window, 4 * c);
        put(cols, c * 8 + 2 * s, sxtab16(off, x));
        put(cols, c * 8 + 2 * s + 1, sxtab16_ror8(off, x));
    }
}

// ---------------------------------------------------------------------------
// Depthwise.
// ---------------------------------------------------------------------------

/// Words of widened depthwise weights on the stack (1152 bytes): a block of
/// `DW_WORDS / (2 * taps) * 4` channels (64 for a 3x3 window).
const DW_WORDS: usize = 288;

/// Where a depthwise-like op keeps the weight of tap `t`, channel `c`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DwLayout {
    /// DEPTHWISE_CONV_2D: `[kh][kw][c]`, channel fastest.
    TapMajor,
    /// A grouped CONV_2D with one input and one output channel per group:
    /// OHWI `[c][kh][kw][1]`.
    ChannelMajor,
}

/// Depthwise convolution with depth multiplier 1 (other multipliers return
/// `false`). Arguments as the portable kernel's checks accepted them.
pub(crate) fn depthwise_s8(
    p: &DepthwiseParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
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

/// Whether [`conv_depthwise_like`] takes these parameters.
fn depthwise_like_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    p.groups == in_shape.c && in_shape.c == out_shape.c && dw_covers(p, out_shape)
}

/// Whether [`depthwise_s8`] takes these parameters.
pub(crate) fn depthwise_fast_path(p: &DepthwiseParams, out_shape: Shape) -> Option<&'static str> {
    let dp = ConvParams {
        window: p.window,
        groups: 1,
        quant: p.quant,
    };
    (p.depth_multiplier == 1 && dw_covers(&dp, out_shape)).then_some("dsp-depthwise")
}

/// What [`dw_core`] takes: a zero point with `x - zp` in a halfword lane,
/// at most `DW_WORDS / 2` taps, a non-empty output.
fn dw_covers(p: &ConvParams, out_shape: Shape) -> bool {
    let taps = p.window.kh as usize * p.window.kw as usize;
    (-32_640..=32_640).contains(&p.quant.input_zero_point)
        && (1..=DW_WORDS / 8).contains(&taps)
        && out_shape.h > 0
        && out_shape.w > 0
        && out_shape.c > 0
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

/// Fewest elements for which [`add_s8`] builds its tables (512 entries).
const ADD_MIN_LEN: usize = 512;

/// The per-input halves of TFLite's ADD as tables: `s1(a)` and `s2(b)` (the
/// offset input, shifted left, through its multiplier) depend on one `i8`
/// each, so both are computed once per call for all 256 values with the
/// portable arithmetic itself; each element then costs two loads, an add and
/// the output requantization ([`Epilogue::apply`], exact for the output
/// multiplier unless it is `i32::MIN`, which falls back).
struct AddTables {
    s1: [i32; 256],
    s2: [i32; 256],
    out: Epilogue,
    oq: OutQuant,
}

impl AddTables {
    /// Fills the tables for `p` in place (no copies of the 2 KiB of
    /// tables); `false` when the output stage is not one
    /// `Epilogue::apply` covers.
    #[inline(always)]
    fn fill(&mut self, p: &AddParams) -> bool {
        self.out = Epilogue::from(p.output_multiplier, p.output_shift);
        if !self.out.fast {
            return false;
        }
        self.oq = OutQuant {
            zp: p.output_zero_point,
            min: p.clamp.min as i32,
            max: p.clamp.max as i32,
        };
        let scale = 1i32 << p.left_shift;
        for v in -128i32..=127 {
            let i = (v as u8) as usize;
            self.s1[i] = requantize_smaller_than_one(
                v.wrapping_sub(p.input1_zero_point).wrapping_mul(scale),
                p.input1_multiplier,
                p.input1_shift,
            );
            self.s2[i] = requantize_smaller_than_one(
                v.wrapping_sub(p.input2_zero_point).wrapping_mul(scale),
                p.input2_multiplier,
                p.input2_shift,
            );
        }
        true
    }

    #[inline(always)]
    fn empty() -> AddTables {
        AddTables {
            s1: [0; 256],
            s2: [0; 256],
            out: Epilogue::from(0, 0),
            oq: OutQuant {
                zp: 0,
                min: 0,
                max: 0,
            },
        }
    }

    /// One element, with the output stage passed in registers.
    #[inline(always)]
    fn one(&self, out: &Epilogue, oq: &OutQuant, a: i8, b: i8) -> i8 {
        let sum = self.s1[a as u8 as usize].wrapping_add(self.s2[b as u8 as usize]);
        out.apply(sum, oq)
    }
}

/// ADD through per-input tables, for at least [`ADD_MIN_LEN`] elements.
/// Arguments as `add_s8` checked them (equal lengths, parameters in range).
/// Not inlined: its 2 KiB of tables live on the stack only during the call.
#[inline(never)]
pub(crate) fn add_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) -> bool {
    if input1.len() < ADD_MIN_LEN {
        return false;
    }
    let mut t = AddTables::empty();
    if !t.fill(p) {
        return false;
    }
    let (out, oq) = (t.out, t.oq);
    for ((o, &a), &b) in output.iter_mut().zip(input1).zip(input2) {
        *o = t.one(&out, &oq, a, b);
    }
    true
}

/// [`add_s8`] in place: `acc` holds the first input and gets the output.
#[inline(never)]
pub(crate) fn add_s8_in_place(p: &AddParams, acc: &mut [i8], other: &[i8]) -> bool {
    if acc.len() < ADD_MIN_LEN {
        return false;
    }
    let mut t = AddTables::empty();
    if !t.fill(p) {
        return false;
    }
    let (out, oq) = (t.out, t.oq);
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = t.one(&out, &oq, *a, b);
    }
    true
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

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
        fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
            xs[self.next() as usize % xs.len()]
        }
        fn i8s(&mut self, n: usize) -> Vec<i8> {
            let extreme = self.next() % 4 == 0;
            (0..n)
                .map(|_| {
                    if extreme {
                        self.pick(&[-128i8, 127, -128, 127, 0, -1])
                    } else {
                        self.next() as i8
                    }
                })
                .collect()
        }
    }

    struct Tables {
        bias: Vec<i32>,
        mult: Vec<i32>,
        shift: Vec<i32>,
    }

    fn tables(r: &mut Rng, n: usize) -> Tables {
        Tables {
            bias: (0..n).map(|_| r.range(-70_000, 70_000) as i32).collect(),
            mult: (0..n)
                .map(|_| {
                    if r.next() % 16 == 0 {
                        r.pick(&[i32::MAX, 1 << 30, i32::MIN, -(1 << 30), 1])
                    } else {
                        r.range(1 << 30, i32::MAX as i64) as i32
                    }
                })
                .collect(),
            shift: (0..n)
                .map(|_| {
                    if r.next() % 16 == 0 {
                        r.pick(&[-31, 30, 1, 0, -1])
                    } else {
                        r.range(-12, 1) as i32
                    }
                })
                .collect(),
        }
    }

    fn quant(r: &mut Rng) -> ConvQuant {
        let (a, b) = (r.next() as i8, r.next() as i8);
        ConvQuant {
            input_zero_point: if r.next() % 8 == 0 {
                r.pick(&[-128, 127, 0])
            } else {
                r.range(-128, 127) as i32
            },
            output_zero_point: r.range(-128, 127) as i32,
            clamp: if r.next() % 2 == 0 {
                Clamp::NONE
            } else {
                Clamp {
                    min: a.min(b),
                    max: a.max(b),
                }
            },
        }
    }

    fn window(r: &mut Rng, k: u8) -> Window {
        let kh = if k == 0 { r.range(1, 5) as u8 } else { k };
        let kw = if k == 0 { r.range(1, 5) as u8 } else { k };
        let dil = if k == 0 && r.next() % 4 == 0 { 2 } else { 1 };
        Window {
            kh,
            kw,
            stride_h: r.range(1, 3) as u8,
            stride_w: r.range(1, 3) as u8,
            dilation_h: dil,
            dilation_w: if r.next() % 2 == 0 { dil } else { 1 },
            pad_top: r.range(0, kh as i64) as u8,
            pad_left: r.range(0, kw as i64) as u8,
        }
    }

    fn out_extent(i: u16, k: u8, s: u8, d: u8, pad: u8) -> u16 {
        let eff = (k as i64 - 1) * d as i64 + 1;
        let o = (i as i64 + 2 * pad as i64 - eff) / s as i64 + 1;
        o.max(1) as u16
    }

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
        for i in 0..200_000 {
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
            let q = quant(&mut r);
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
    fn conv_matches_portable() {
        let mut r = Rng(0x1234_5678_9ABC_DEF1);
        let mut covered = 0;
        for case in 0..3000 {
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
                quant: quant(&mut r),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize * cpg as usize);
            let t = tables(&mut r, outs.c as usize);
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
                ("dsp-columns", conv_s8),
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
            assert_eq!(taken, conv_fast_path(&p, ins, outs));
        }
        assert!(covered > 2500, "only {covered} cases took a fast path");
    }

    #[test]
    fn add_matches_portable() {
        use crate::ops::add::{add_in_place_core, add_one, AddParams};
        let mut r = Rng(0x5555_AAAA_1234_9876);
        for case in 0..300 {
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
                output_shift: r.range(-31, 0) as i32,
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
            let mut got = std::vec![0x55i8; n];
            if add_s8(&p, &x, &y, &mut got) {
                assert_eq!(got, want, "case {case}: {p:?}");
            } else {
                assert!(n < ADD_MIN_LEN || p.output_multiplier == i32::MIN);
            }
            let mut acc = x.clone();
            if !add_s8_in_place(&p, &mut acc, &y) {
                add_in_place_core(&p, &mut acc, &y);
            }
            assert_eq!(acc, want, "case {case} in place: {p:?}");
        }
    }

    #[test]
    fn depthwise_matches_portable() {
        let mut r = Rng(0x0F1E_2D3C_4B5A_6978);
        let mut covered = 0;
        for case in 0..2000 {
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
                quant: quant(&mut r),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize);
            let t = tables(&mut r, outs.c as usize);
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
            if depthwise_s8(&p, ins, &input, &w, outs, &mut got) {
                covered += 1;
                assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            } else {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
            }
        }
        assert!(covered > 1400, "only {covered} cases took a fast path");
    }
}
