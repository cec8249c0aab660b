//! RISC-V kernels for rv32 cores with the M extension (rv32imc, rv32imac,
//! rv32imafc): byte loads, register blocking and unrolling, since the ISA
//! has no multiply-accumulate and no packed SIMD to lean on.
//!
//! Every entry point takes arguments the portable kernel's checks already
//! accepted and returns `false` (having written nothing) for parameters it
//! does not cover, so the caller runs the portable loops instead. What it
//! computes is bit-identical to the portable kernel: each accumulator is the
//! same sum modulo 2^32 (`bias + Σ w * (x - input_zp)` over the taps inside
//! the input), and the epilogue is [`requantize`]'s arithmetic, the output
//! offset and the clamp.
//!
//! # Convolution ([`conv_s8`])
//! An "im2col" of four output pixels at a time: each pixel's window (`kh * kw
//! * in_c / groups` bytes in OHWI order, the layout of a weight row) is copied
//! as raw `i8` into one of four rows [`PITCH`] bytes apart (longer windows in
//! segments of `PITCH` taps), padded taps as the input zero point. The zero
//! point is folded into the bias instead of being subtracted from every tap:
//! `Σ w * (x - zp) = Σ w * x - zp * Σ w`, with `Σ w` over the whole weight
//! row, which is exact (modulo 2^32, like the reference) because a padded tap
//! holds `zp` and so contributes `w * zp - zp * w = 0`.
//!
//! The inner loop ([`mac_blocks`]) forms 4 output channels x 4 pixels = 16
//! accumulators: per tap it loads 4 activations and 4 weights (`lb`) and does
//! 16 `mul` and 16 `add`, eight taps per iteration, so a multiply-accumulate
//! costs 2.5 instructions plus 6 of loop per 128. It is assembly: it needs 28
//! registers (16 accumulators, 4 activations, a weight, a product, 4 weight
//! row pointers, the column pointer and its end), two more than `asm!`
//! operands can name, and LLVM spills when it is written in Rust. Weight rows
//! are read in place (the plan's OHWI layout is unchanged). The epilogue
//! ([`requant_block`], assembly too) costs about 16 instructions an output
//! (see *Requantization*). Grouped convolutions gather the windows of as
//! many whole groups as fit 32 output channels and [`PITCH`] taps side by
//! side in each row, once per block of pixels ([`gather_groups`]), then run
//! each group's channel blocks on its segment (AttoNet's grouped 3x3s with
//! 3 to 16 channels a group: 4 to 30 % fewer instructions than a gather and
//! a pass per group). It covers any kernel size, stride, dilation, padding
//! and group count with an `i8` input zero point and at least four output
//! channels (others take the portable loops); stack: about 3.5 KiB (the
//! column rows, and the sums and epilogue constants of up to 32 output
//! channels).
//!
//! # Narrow pointwise ([`pointwise_narrow`])
//! A 1x1 convolution over 1 to 8 input channels (AttoNet's compressions,
//! mixes and expansions: 4 to 8 multiply-accumulates an output) spends more
//! on the columns kernel's per-output and per-call work than on its
//! products. This kernel reads the activations in place, holds two pixels x
//! four output channels in registers (two taps an iteration: 2 activation
//! and 4 weight loads, 8 `mul`, 8 `add` a tap), the four channels' weights
//! interleaved tap by tap on the stack, and requantizes per channel over
//! eight pixels with the constants loaded once; 1x1 8->4 at 32x32 costs 7.0
//! instructions a MAC instead of 11.1, 4->4 10.8 instead of 19.9. Linked
//! only for models with such a layer (kernel bit
//! [`CONV_NARROW_RISCV`](crate::plan::kernels::CONV_NARROW_RISCV), the
//! converter's test being [`riscv_narrow_covers`](crate::ops::pointwise::riscv_narrow_covers)),
//! and only when every channel has the [`ChanQ`] epilogue (else the columns
//! kernel takes the layer).
//!
//! # Depthwise ([`depthwise_s8`], [`conv_depthwise_like`])
//! 3x3 windows with dilation 1 and horizontal stride 1 or 2 ([`dw3x3`]):
//! per output row, the three input rows it reads are copied to a small
//! zero-point-padded strip for a block of 16 channels; each channel's nine
//! weights then sweep the row two output pixels at a time in registers
//! (stride 1: 12 activation loads for 18 multiply-accumulates), the zero
//! point folded into the bias as above. Other depthwise parameters take the
//! portable kernel.
//!
//! # ADD ([`add_s8`], [`add_s8_in_place`])
//! The per-input halves of TFLite's ADD depend on one `i8` each, so they are
//! tabulated once per call (256 entries each, with the portable arithmetic's
//! results, 2 KiB of stack); an element then costs two table loads, an add
//! and the output requantization ([`ChanQ`]'s where it covers the output
//! stage: the tables bound the sum). For at least 512 elements and a
//! positive output multiplier.
//!
//! # Requantization
//! `requantize(x, m, s)` with `s <= 0` and `m > 0` (every channel of a real
//! model) is computed as `rdbp(floor((x * m + 2^30) / 2^31), -s)`: gemmlowp's
//! rounding doubling high multiply equals that floor for every product
//! except `i32::MIN * i32::MIN` (which it saturates; `m > 0` excludes it),
//! and `rdbp` is gemmlowp's rounding divide by a power of two. On rv32 the
//! floor is `mulhsu(x, 2m) + (mul(x, 2m) >> 31)` (see [`Epilogue::fast`]).
//! Other channels take [`requantize`] itself.
//!
//! The convolution, narrow pointwise, depthwise and ADD kernels use the
//! Cortex-M kernels' form of it for the channels [`ChanQ::within`] accepts
//! (`|bias| + the layer's largest sum < 2^30`, shift `-22..=-1`, multiplier
//! `> 0`; the converter rewrites the channels it can into such ones,
//! `attonet_convert::fast_epilogue`): `(hi + c0 - [acc < 0]) >> e` with the
//! rounding term and the output zero point folded into `c0` ([`chanq_out`]),
//! 10 instructions before the clamp instead of 13.

use crate::ops::add::AddParams;
use crate::ops::conv::tap_range;
use crate::ops::depthwise::DepthwiseParams;
use crate::ops::{ConvParams, ConvQuant, ConvWeights, Shape, Window};
use crate::prepared::{sum_bound, ChanQ};
use crate::quant::requantize;

/// Bytes between the four pixel rows of the column buffer, and the longest
/// window segment: a multiple of 8 (word-aligned rows, whole unrolled
/// iterations), and `3 * PITCH + 7` fits a 12-bit load offset, so the inner
/// loop addresses all four rows from one register. 576 holds a 3x3 window of
/// 64 channels in one segment. The offsets are spelled out in
/// [`mac_blocks`]' assembly (`PITCH`, `2 * PITCH`, `3 * PITCH`, plus 0..8).
const PITCH: usize = 576;
const _: () = assert!(PITCH == 576, "update the offsets in mac_blocks");

/// Output channels whose epilogue constants live on the stack at once.
const CH_CHUNK: usize = 32;

/// The column buffer: four pixel rows of [`PITCH`] bytes, word aligned.
#[repr(C, align(4))]
struct Columns([i8; 4 * PITCH]);

// ---------------------------------------------------------------------------
// Requantization.
// ---------------------------------------------------------------------------

/// Output zero point and clamp of a layer.
#[derive(Clone, Copy)]
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

    /// Offset and clamp of a requantized value.
    #[inline(always)]
    fn out(&self, v: i32) -> i8 {
        let v = v.wrapping_add(self.zp);
        #[cfg(attonet_riscv)]
        {
            let mut v = v;
            // SAFETY: registers only (two compares, two moves). LLVM's
            // selects take three instructions a bound, these branches one
            // when the value is inside.
            unsafe {
                core::arch::asm!(
                    "bge  {v}, {lo}, 2f",
                    "mv   {v}, {lo}",
                    "2:",
                    "bge  {hi}, {v}, 3f",
                    "mv   {v}, {hi}",
                    "3:",
                    v = inout(reg) v,
                    lo = in(reg) self.min,
                    hi = in(reg) self.max,
                    options(pure, nomem, nostack),
                );
            }
            v as i8
        }
        #[cfg(not(attonet_riscv))]
        {
            v.max(self.min).min(self.max) as i8
        }
    }
}

/// One channel's requantization constants (see the module docs).
#[derive(Clone, Copy)]
struct Epilogue {
    /// `2 * multiplier` as an unsigned word (for `fast` channels).
    m2: u32,
    /// `-shift`, the rounding right shift (for `fast` channels).
    right: u32,
    /// `2^right - 1`.
    mask: i32,
    /// `mask >> 1`.
    half: i32,
    multiplier: i32,
    shift: i32,
    /// `shift <= 0 && multiplier > 0`: [`Self::fast`] is exact.
    fast: bool,
}

impl Epilogue {
    #[inline(always)]
    fn new(multiplier: i32, shift: i32) -> Epilogue {
        let right = (shift.wrapping_neg().max(0) as u32) & 31;
        let mask = ((1u32 << right) - 1) as i32;
        Epilogue {
            m2: (multiplier as u32) << 1,
            right,
            mask,
            half: mask >> 1,
            multiplier,
            shift,
            fast: shift <= 0 && multiplier > 0,
        }
    }

    /// `requantize(acc, multiplier, shift)` for a `fast` channel.
    #[inline(always)]
    fn fast(&self, acc: i32) -> i32 {
        // With `m2 = 2 * multiplier < 2^32` (`multiplier > 0`), the high
        // word of `acc * m2` (`mulhsu`) is floor(P / 2^31) for P = acc *
        // multiplier, and bit 31 of its low word (`mul`) is bit 30 of P, so
        // their sum is floor((P + 2^30) / 2^31), which fits an i32.
        let m2 = self.m2;
        let lo = acc.wrapping_mul(m2 as i32) as u32;
        let hi = ((acc as i64 * m2 as i64) >> 32) as i32;
        let r = hi.wrapping_add((lo >> 31) as i32);
        let neg = ((r as u32) >> 31) as i32;
        r.wrapping_shr(self.right) + ((r & self.mask) > self.half + neg) as i32
    }

    /// `requantize(acc, multiplier, shift)`, any channel.
    #[inline(always)]
    fn requantize(&self, acc: i32) -> i32 {
        if self.fast {
            self.fast(acc)
        } else {
            requantize(acc, self.multiplier, self.shift)
        }
    }
}

// ---------------------------------------------------------------------------
// The convolution's inner loop and epilogue.
// ---------------------------------------------------------------------------

/// One tap of [`mac_blocks`]' loops: the four activations at the given
/// offsets from `a5` (pixel rows 0-3), then each weight row's byte at the
/// first offset, times the four (see the register map there).
#[cfg(attonet_riscv)]
macro_rules! mac_tap {
    ($o0:literal, $o1:literal, $o2:literal, $o3:literal) => {
        concat!(
            "lb   t0, ",
            $o0,
            "(a5)\n",
            "lb   t1, ",
            $o1,
            "(a5)\n",
            "lb   t2, ",
            $o2,
            "(a5)\n",
            "lb   ra, ",
            $o3,
            "(a5)\n",
            "lb   s0, ",
            $o0,
            "(a1)\n",
            "mul  s1, s0, t0\n",
            "add  s2, s2, s1\n",
            "mul  s1, s0, t1\n",
            "add  s3, s3, s1\n",
            "mul  s1, s0, t2\n",
            "add  s4, s4, s1\n",
            "mul  s1, s0, ra\n",
            "add  s5, s5, s1\n",
            "lb   s0, ",
            $o0,
            "(a2)\n",
            "mul  s1, s0, t0\n",
            "add  s6, s6, s1\n",
            "mul  s1, s0, t1\n",
            "add  s7, s7, s1\n",
            "mul  s1, s0, t2\n",
            "add  s8, s8, s1\n",
            "mul  s1, s0, ra\n",
            "add  s9, s9, s1\n",
            "lb   s0, ",
            $o0,
            "(a3)\n",
            "mul  s1, s0, t0\n",
            "add  s10, s10, s1\n",
            "mul  s1, s0, t1\n",
            "add  s11, s11, s1\n",
            "mul  s1, s0, t2\n",
            "add  t3, t3, s1\n",
            "mul  s1, s0, ra\n",
            "add  t4, t4, s1\n",
            "lb   s0, ",
            $o0,
            "(a4)\n",
            "mul  s1, s0, t0\n",
            "add  t5, t5, s1\n",
            "mul  s1, s0, t1\n",
            "add  t6, t6, s1\n",
            "mul  s1, s0, t2\n",
            "add  a6, a6, s1\n",
            "mul  s1, s0, ra\n",
            "add  a7, a7, s1\n",
        )
    };
}

/// Sums of `blocks` blocks of four output channels against four pixel rows
/// of the column buffer (`col`: the buffer from some offset of its first
/// row; row `j` starts `j * PITCH` bytes later): for block `b`, channel
/// `r`, pixel `j`, `sums[4 * b + r][j] (+)= Σ_{k < n} w[(4 * b + r) *
/// stride + k] * col[j * PITCH + k]` (wrapping `i32` sums), added to what
/// `sums` holds when `accumulate`, else replacing it.
///
/// Panics (a bug of this module) unless `n <= PITCH`, `col` holds `3 *
/// PITCH + n` bytes, `sums` has room for the blocks and `w` holds every row
/// read. Not inlined: one copy of the unrolled loop serves every call.
#[inline(never)]
fn mac_blocks(
    w: &[i8],
    stride: usize,
    blocks: usize,
    col: &[i8],
    n: usize,
    sums: &mut [[i32; 4]],
    accumulate: bool,
) {
    if blocks == 0 {
        return;
    }
    let rows = 4 * blocks;
    assert!(
        n <= PITCH
            && col.len() >= 3 * PITCH + n
            && sums.len() >= rows
            && (rows - 1) * stride + n <= w.len()
    );
    #[cfg(attonet_riscv)]
    {
        // SAFETY: for each block it reads `n` bytes from each of its four
        // weight rows (the last byte read, `(rows - 1) * stride + n - 1`,
        // is inside `w`, asserted above) and `n` bytes from each of the
        // four column rows at `j * PITCH` (inside `col`, asserted above), and
        // reads (when accumulating) and writes the 16 words of
        // `sums[4 * b..4 * b + 4]` (inside `sums`, asserted above). It keeps
        // its state and `s0`, `s1` (which `asm!` cannot name) in a 48-byte
        // frame below `sp` and restores them and `sp` before it ends; every
        // other register it writes is an operand or declared clobbered.
        // Registers in the tap loops: a1-a4 the block's weight rows, a5 the
        // column pointer, a0 its end, t0 t1 t2 ra the four activations, s0 a
        // weight, s1 a product; accumulators s2-s5 (channel 0, pixels 0-3),
        // s6-s9 (channel 1), s10 s11 t3 t4 (channel 2), t5 t6 a6 a7 (channel
        // 3). Frame: 0 s0, 4 s1, 8 the block's sums, 12 the end of the taps,
        // 16 the end of the unrolled taps (a multiple of 8), 20 blocks left,
        // 24 the row stride, 28 the column rows, 32 the next block's first
        // row, 36 accumulate.
        unsafe {
            core::arch::asm!(
                "addi sp, sp, -48",
                "sw   s0, 0(sp)",
                "sw   s1, 4(sp)",
                "sw   a0, 8(sp)",
                "add  t0, a3, a4",
                "sw   t0, 12(sp)",
                "andi a4, a4, -8",
                "add  t0, a3, a4",
                "sw   t0, 16(sp)",
                "sw   a5, 20(sp)",
                "sw   a2, 24(sp)",
                "sw   a3, 28(sp)",
                "sw   a1, 32(sp)",
                "sw   a6, 36(sp)",
                // One block of four channels.
                "5:",
                "lw   a1, 32(sp)",
                "lw   t0, 24(sp)",
                "add  a2, a1, t0",
                "add  a3, a2, t0",
                "add  a4, a3, t0",
                "add  t1, a4, t0",
                "sw   t1, 32(sp)",
                "lw   t0, 36(sp)",
                "beqz t0, 6f",
                "lw   a0, 8(sp)",
                "lw   s2, 0(a0)", "lw   s3, 4(a0)", "lw   s4, 8(a0)", "lw   s5, 12(a0)",
                "lw   s6, 16(a0)", "lw   s7, 20(a0)", "lw   s8, 24(a0)", "lw   s9, 28(a0)",
                "lw   s10, 32(a0)", "lw   s11, 36(a0)", "lw   t3, 40(a0)", "lw   t4, 44(a0)",
                "lw   t5, 48(a0)", "lw   t6, 52(a0)", "lw   a6, 56(a0)", "lw   a7, 60(a0)",
                "j    7f",
                "6:",
                "li   s2, 0", "li   s3, 0", "li   s4, 0", "li   s5, 0",
                "li   s6, 0", "li   s7, 0", "li   s8, 0", "li   s9, 0",
                "li   s10, 0", "li   s11, 0", "li   t3, 0", "li   t4, 0",
                "li   t5, 0", "li   t6, 0", "li   a6, 0", "li   a7, 0",
                "7:",
                "lw   a5, 28(sp)",
                "lw   a0, 16(sp)",
                "beq  a5, a0, 2f",
                // Eight taps per iteration.
                "1:",
                mac_tap!("0", "576", "1152", "1728"),
                mac_tap!("1", "577", "1153", "1729"),
                mac_tap!("2", "578", "1154", "1730"),
                mac_tap!("3", "579", "1155", "1731"),
                mac_tap!("4", "580", "1156", "1732"),
                mac_tap!("5", "581", "1157", "1733"),
                mac_tap!("6", "582", "1158", "1734"),
                mac_tap!("7", "583", "1159", "1735"),
                "addi a1, a1, 8",
                "addi a2, a2, 8",
                "addi a3, a3, 8",
                "addi a4, a4, 8",
                "addi a5, a5, 8",
                "bne  a5, a0, 1b",
                // The last n % 8 taps.
                "2:",
                "lw   a0, 12(sp)",
                "beq  a5, a0, 4f",
                "3:",
                mac_tap!("0", "576", "1152", "1728"),
                "addi a1, a1, 1",
                "addi a2, a2, 1",
                "addi a3, a3, 1",
                "addi a4, a4, 1",
                "addi a5, a5, 1",
                "bne  a5, a0, 3b",
                "4:",
                "lw   a0, 8(sp)",
                "sw   s2, 0(a0)", "sw   s3, 4(a0)", "sw   s4, 8(a0)", "sw   s5, 12(a0)",
                "sw   s6, 16(a0)", "sw   s7, 20(a0)", "sw   s8, 24(a0)", "sw   s9, 28(a0)",
                "sw   s10, 32(a0)", "sw   s11, 36(a0)", "sw   t3, 40(a0)", "sw   t4, 44(a0)",
                "sw   t5, 48(a0)", "sw   t6, 52(a0)", "sw   a6, 56(a0)", "sw   a7, 60(a0)",
                "addi a0, a0, 64",
                "sw   a0, 8(sp)",
                "lw   t0, 20(sp)",
                "addi t0, t0, -1",
                "sw   t0, 20(sp)",
                "bnez t0, 5b",
                "lw   s0, 0(sp)",
                "lw   s1, 4(sp)",
                "addi sp, sp, 48",
                inout("a0") sums.as_mut_ptr() => _,
                inout("a1") w.as_ptr() => _,
                inout("a2") stride => _,
                inout("a3") col.as_ptr() => _,
                inout("a4") n => _,
                inout("a5") blocks => _,
                inout("a6") accumulate as usize => _,
                out("a7") _,
                out("t0") _,
                out("t1") _,
                out("t2") _,
                out("t3") _,
                out("t4") _,
                out("t5") _,
                out("t6") _,
                out("ra") _,
                out("s2") _,
                out("s3") _,
                out("s4") _,
                out("s5") _,
                out("s6") _,
                out("s7") _,
                out("s8") _,
                out("s9") _,
                out("s10") _,
                out("s11") _,
            );
        }
    }
    #[cfg(not(attonet_riscv))]
    {
        for (i, s) in sums[..rows].iter_mut().enumerate() {
            let row = &w[i * stride..i * stride + n];
            for (j, v) in s.iter_mut().enumerate() {
                let x = &col[j * PITCH..j * PITCH + n];
                let dot = row
                    .iter()
                    .zip(x)
                    .fold(0i32, |a, (&w, &x)| a.wrapping_add(w as i32 * x as i32));
                *v = if accumulate { v.wrapping_add(dot) } else { dot };
            }
        }
    }
}

/// A channel's epilogue constants for [`requant_block`]'s assembly
/// (`repr(C)`: it reads the four words at offsets 0 to 12): [`ChanQ`]'s, for
/// a channel [`ChanQ::within`] accepts.
#[derive(Clone, Copy)]
#[repr(C)]
struct ChannelEpi {
    /// `bias - input_zp * Σ w` (wrapping): what the raw sum is offset by.
    folded: i32,
    /// `2 * mult` as an unsigned word.
    m2: u32,
    /// [`ChanQ`]'s `c0` and `e`.
    c0: i32,
    e: u32,
}

impl ChannelEpi {
    /// The constants of a channel with these tables; `None` where the
    /// [`ChanQ`] epilogue does not cover it (the constants are then
    /// `folded` and zeros).
    #[inline(always)]
    fn new(
        folded: i32,
        bias: i32,
        mult: i32,
        shift: i32,
        limits: (i32, u32),
    ) -> (ChannelEpi, bool) {
        match ChanQ::within(bias, mult, shift, limits) {
            Some(q) => (
                ChannelEpi {
                    folded,
                    m2: (q.mult as u32) << 1,
                    c0: q.c0,
                    e: q.e,
                },
                true,
            ),
            None => (
                ChannelEpi {
                    folded,
                    m2: 0,
                    c0: 0,
                    e: 0,
                },
                false,
            ),
        }
    }

    /// The [`ChanQ`] these constants came from (its `bias` unused).
    #[cfg(not(attonet_riscv))]
    #[inline(always)]
    fn chanq(&self) -> ChanQ {
        ChanQ {
            bias: 0,
            mult: (self.m2 >> 1) as i32,
            c0: self.c0,
            e: self.e,
        }
    }
}

/// One output of [`requant_block`]'s loop: the sum at `$o(a0)` requantized
/// with the channel's constants in t1-t4 ([`chanq_out`]), clamped, in t6
/// (see the register map there).
#[cfg(attonet_riscv)]
macro_rules! requant_one {
    ($o:literal) => {
        concat!(
            "lw   t6, ",
            $o,
            "(a0)\n",
            "add  t6, t6, t1\n",
            "mul  s2, t6, t2\n",
            "mulhsu s3, t6, t2\n",
            "srli s2, s2, 31\n",
            "add  s3, s3, s2\n",
            "srli s2, t6, 31\n",
            "sub  s2, t3, s2\n",
            "add  s3, s3, s2\n",
            "sra  t6, s3, t4\n",
            "bge  t6, a6, 8f\n",
            "mv   t6, a6\n",
            "8:\n",
            "bge  a7, t6, 9f\n",
            "mv   t6, a7\n",
            "9:\n",
        )
    };
}

/// Requantizes and stores four pixels' sums for channels [`ChanQ`] covers: channel
/// `i` (sums `sums[i]`, constants `chan[i]`) of pixel `j` goes to `out[j *
/// stride + i]`.
///
/// Panics (a bug of this module) unless `sums` and `chan` have the same
/// length `n` and `out` holds `3 * stride + n` bytes.
#[inline(always)]
fn requant_block(
    sums: &[[i32; 4]],
    chan: &[ChannelEpi],
    oq: &OutQuant,
    out: &mut [i8],
    stride: usize,
) {
    let n = chan.len();
    if n == 0 {
        return;
    }
    assert!(sums.len() == n && out.len() >= 3 * stride + n);
    #[cfg(attonet_riscv)]
    {
        // SAFETY: reads `n` sums (16 bytes each, inside `sums`) and `n`
        // channel records (16 bytes each, inside `chan`), writes bytes
        // `out[j * stride + i]` for `j < 4`, `i < n`, whose last, `3 *
        // stride + n - 1`, is inside `out` (asserted above). Registers
        // otherwise, each an operand or clobbered. Registers: a0 the
        // channel's sums, a1 its record, a2 its output byte of pixel 0, a3
        // stride, a4 the records' end, a6 a7 the clamp's min and max; t0 3
        // * stride; t1-t4 the record (folded bias, m2, c0, e); t6 s2 s3 s4
        // scratch. Per output: `chanq_out`'s arithmetic, then the clamp.
        unsafe {
            core::arch::asm!(
                "slli t0, a3, 1",
                "add  t0, t0, a3",
                "1:",
                "lw   t1, 0(a1)",
                "lw   t2, 4(a1)",
                "lw   t3, 8(a1)",
                "lw   t4, 12(a1)",
                requant_one!("0"),
                "sb   t6, 0(a2)",
                requant_one!("4"),
                "add  s4, a2, a3",
                "sb   t6, 0(s4)",
                requant_one!("8"),
                "add  s4, s4, a3",
                "sb   t6, 0(s4)",
                requant_one!("12"),
                "add  s4, a2, t0",
                "sb   t6, 0(s4)",
                "addi a0, a0, 16",
                "addi a1, a1, 16",
                "addi a2, a2, 1",
                "bne  a1, a4, 1b",
                inout("a0") sums.as_ptr() => _,
                inout("a1") chan.as_ptr() => _,
                inout("a2") out.as_mut_ptr() => _,
                in("a3") stride,
                in("a4") chan.as_ptr().wrapping_add(n),
                in("a6") oq.min,
                in("a7") oq.max,
                out("t0") _,
                out("t1") _,
                out("t2") _,
                out("t3") _,
                out("t4") _,
                out("t6") _,
                out("s2") _,
                out("s3") _,
                out("s4") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_riscv))]
    {
        for (i, (s, c)) in sums.iter().zip(chan).enumerate() {
            let q = c.chanq();
            for (j, &a) in s.iter().enumerate() {
                out[j * stride + i] = clamp_out(oq, chanq_out(a.wrapping_add(c.folded), &q));
            }
        }
    }
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(ChannelEpi, folded) == 0);
    assert!(offset_of!(ChannelEpi, m2) == 4);
    assert!(offset_of!(ChannelEpi, c0) == 8);
    assert!(offset_of!(ChannelEpi, e) == 12);
    assert!(size_of::<ChannelEpi>() == 16);
    assert!(size_of::<[i32; 4]>() == 16);
};

// ---------------------------------------------------------------------------
// Convolution.
// ---------------------------------------------------------------------------

/// Window geometry of a convolution.
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
    /// Input channels per group.
    cpg: usize,
    /// `kh * kw * cpg`, the length of a window (and of a weight row).
    k: usize,
    /// One group and horizontal dilation 1: a kernel row's taps are one
    /// contiguous run of the input.
    merge: bool,
    /// The input is word aligned and `cpg % 4 == 0`: runs of whole taps
    /// start on words.
    words: bool,
    /// A 1x1 window, one group, no padding: a window is one input pixel's
    /// channels.
    unit: bool,
}

impl ConvGeo {
    fn new(win: &Window, groups: usize, in_shape: Shape, input: &[i8]) -> ConvGeo {
        let ic = in_shape.c as usize;
        let cpg = ic / groups;
        let (kh, kw) = (win.kh as usize, win.kw as usize);
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
            k: kh * kw * cpg,
            merge: groups == 1 && win.dilation_w == 1,
            words: input.as_ptr() as usize % 4 == 0 && cpg % 4 == 0,
            unit: kh == 1 && kw == 1 && groups == 1 && win.pad_top == 0 && win.pad_left == 0,
        }
    }
}

/// Which fast kernel a convolution with these parameters runs (`None`: the
/// portable one). The same predicates the entry points below apply.
pub(crate) fn conv_fast_path(
    p: &ConvParams,
    in_shape: Shape,
    out_shape: Shape,
) -> Option<&'static str> {
    if depthwise_like_covers(p, in_shape, out_shape) {
        Some("riscv-depthwise")
    } else if narrow_pointwise_covers(p, in_shape, out_shape) {
        Some("riscv-pointwise-narrow")
    } else if columns_cover(p, in_shape, out_shape) {
        Some("riscv-columns")
    } else {
        None
    }
}

/// Whether [`conv_s8`] takes these parameters: an `i8` input zero point
/// (padding is gathered as it), a window of at least one tap, at least four
/// output channels in all and a non-empty output.
fn columns_cover(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    (-128..=127).contains(&p.quant.input_zero_point)
        && p.groups >= 1
        && in_shape.c >= p.groups
        && out_shape.c >= 4
        && out_shape.h > 0
        && out_shape.w > 0
}

/// Convolution through the column kernel: any kernel size, stride, dilation,
/// padding and group count, an `i8` input zero point and at least four
/// output channels. Arguments as
/// [`check_conv_args`](crate::ops::conv::check_conv_args) accepted them.
/// Returns `false` (nothing written) when the parameters are not covered.
/// `sums`: each output channel's weight sum, or empty (then summed here).
/// `narrow`: the narrow pointwise kernel is linked (the model's kernel set
/// has [`kernels::CONV_NARROW_RISCV`](crate::plan::kernels::CONV_NARROW_RISCV))
/// and takes the layers it covers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    out_shape: Shape,
    output: &mut [i8],
    narrow: bool,
) -> bool {
    if !columns_cover(p, in_shape, out_shape) {
        return false;
    }
    let groups = p.groups as usize;
    let g = ConvGeo::new(&p.window, groups, in_shape, input);
    if narrow
        && narrow_pointwise_covers(p, in_shape, out_shape)
        && pointwise_narrow(&g, &p.quant, input, weights, sums, out_shape, output)
    {
        return true;
    }
    conv_columns(
        &g, groups, &p.quant, input, weights, sums, out_shape, output,
    );
    true
}

// ---------------------------------------------------------------------------
// Narrow pointwise convolution.
// ---------------------------------------------------------------------------

/// Most input channels [`pointwise_narrow`] takes: past these the column
/// kernel's 4x4 register block costs less per multiply-accumulate than its
/// 2x4 one, and its per-output costs weigh less.
const NARROW_MAX_IC: usize = 8;
/// Output pixels whose sums [`pointwise_narrow`] forms before it requantizes
/// them (a channel's constants are loaded once per block).
const NARROW_PIX: usize = 8;

/// Whether [`pointwise_narrow`] takes these parameters: a 1x1 window, one
/// group, no padding, 1 to [`NARROW_MAX_IC`] input channels, at least four
/// output channels, an `i8` input zero point, a non-empty output (the
/// predicate the converter links the kernel by).
fn narrow_pointwise_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    crate::ops::pointwise::riscv_narrow_covers(p, in_shape, out_shape)
}
const _: () = assert!(
    NARROW_MAX_IC == 8,
    "update ops::pointwise::riscv_narrow_covers"
);

/// The offset and clamp of a value that already holds the output zero
/// point ([`ChanQ`]'s constants add it).
#[inline(always)]
fn clamp_out(oq: &OutQuant, v: i32) -> i8 {
    OutQuant { zp: 0, ..*oq }.out(v)
}

/// `requantize(acc, mult, -e) + zp` for a channel [`ChanQ::within`] accepted
/// (`|acc| < 2^30`, `mult > 0`, `e` in `1..=22`): the Cortex-M kernels'
/// five-instruction epilogue (`fast_out` there, where the derivation is)
/// on rv32: `hi = floor((acc * 2 * mult + 2^31) / 2^32)` is `mulhsu` plus
/// bit 31 of `mul`, then `(hi + c0 - [acc < 0]) >> e`.
#[inline(always)]
fn chanq_out(acc: i32, q: &ChanQ) -> i32 {
    let m2 = (q.mult as u32) << 1;
    let p = acc as i64 * m2 as i64;
    let hi = ((p >> 32) as i32).wrapping_add(((p as u32) >> 31) as i32);
    let t = q.c0.wrapping_sub(((acc as u32) >> 31) as i32);
    hi.wrapping_add(t) >> q.e
}

/// One tap of [`dot_2x4`].
#[inline(always)]
fn tap_2x4(a: &mut [i32; 8], w: &[i8; 4], x0: i8, x1: i8) {
    let (x0, x1) = (x0 as i32, x1 as i32);
    let (w0, w1, w2, w3) = (w[0] as i32, w[1] as i32, w[2] as i32, w[3] as i32);
    a[0] = a[0].wrapping_add(w0 * x0);
    a[1] = a[1].wrapping_add(w1 * x0);
    a[2] = a[2].wrapping_add(w2 * x0);
    a[3] = a[3].wrapping_add(w3 * x0);
    a[4] = a[4].wrapping_add(w0 * x1);
    a[5] = a[5].wrapping_add(w1 * x1);
    a[6] = a[6].wrapping_add(w2 * x1);
    a[7] = a[7].wrapping_add(w3 * x1);
}

/// Sums of two pixels (`xa`, `xb`) against four output channels whose
/// weights `w` holds tap by tap: `[a0..a3]` for `xa`, `[a4..a7]` for `xb`.
/// Two taps per iteration (the release profile's `opt-level = "s"` does
/// not unroll).
#[inline(always)]
fn dot_2x4(w: &[[i8; 4]], xa: &[i8], xb: &[i8]) -> [i32; 8] {
    let mut a = [0i32; 8];
    let mut w2 = w.chunks_exact(2);
    let mut xa2 = xa.chunks_exact(2);
    let mut xb2 = xb.chunks_exact(2);
    for ((w, x0), x1) in (&mut w2).zip(&mut xa2).zip(&mut xb2) {
        tap_2x4(&mut a, &w[0], x0[0], x1[0]);
        tap_2x4(&mut a, &w[1], x0[1], x1[1]);
    }
    if let ([w], [x0], [x1]) = (w2.remainder(), xa2.remainder(), xb2.remainder()) {
        tap_2x4(&mut a, w, *x0, *x1);
    }
    a
}

/// A 1x1 convolution with few input channels (AttoNet's compressions,
/// mixes and expansions): per block of four output channels (the last block
/// overlaps the one before it when `out_c % 4 != 0`: its channels are
/// computed twice, to the same bytes) the weights interleaved tap by tap on
/// the stack; then per [`NARROW_PIX`] output pixels, two pixels at a time
/// against the four channels in registers (the activations read in place),
/// then each channel's [`ChanQ`] epilogue over the block's pixels, its
/// constants loaded once. Returns `false`, having written nothing, when the
/// [`ChanQ`] epilogue does not cover every channel (the columns kernel then
/// takes the layer). Stack: about 0.2 KiB.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn pointwise_narrow(
    g: &ConvGeo,
    q: &ConvQuant,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums_given: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    let ic = g.ic;
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    let pixels = out_shape.h as usize * ow;
    let zp = q.input_zero_point;
    let oq = OutQuant::new(q);
    let filter = weights.filter;
    let limits = ChanQ::limits(q.output_zero_point, sum_bound(ic, zp));
    let tables = weights
        .bias
        .iter()
        .zip(weights.multiplier)
        .zip(weights.shift);
    if !tables
        .take(oc_n)
        .all(|((&b, &m), &sh)| ChanQ::within(b, m, sh, limits).is_some())
    {
        return false;
    }
    let pad = [zp as i8; NARROW_MAX_IC];
    let mut w4 = [[0i8; 4]; NARROW_MAX_IC];
    let w4 = &mut w4[..ic];
    // Per pair of output pixels of a block, the eight sums of `dot_2x4`.
    let mut sums = [[0i32; 8]; NARROW_PIX / 2];
    // Stride 1 over the whole input: output pixel `p` reads input pixel `p`.
    let dense = g.sh == 1 && g.sw == 1 && ow == g.iw && out_shape.h as usize <= g.ih;
    // The input pixel of output pixel `(oy, ox)` (the zero-point row
    // outside the input).
    let src = |oy: usize, ox: usize| -> &[i8] {
        let (iy, ix) = (oy * g.sh as usize, ox * g.sw as usize);
        if iy < g.ih && ix < g.iw {
            let at = (iy * g.iw + ix) * ic;
            &input[at..at + ic]
        } else {
            &pad[..ic]
        }
    };
    let mut c = 0;
    while c < oc_n {
        let c0 = c.min(oc_n - 4);
        for (t, w) in w4.iter_mut().enumerate() {
            for (r, v) in w.iter_mut().enumerate() {
                *v = filter[(c0 + r) * ic + t];
            }
        }
        let mut chan = [(0i32, ChanQ::SLOW); 4];
        for (r, ch) in chan.iter_mut().enumerate() {
            let oc = c0 + r;
            let sum = match sums_given.get(oc) {
                Some(&s) if sums_given.len() == oc_n => s,
                _ => filter[oc * ic..(oc + 1) * ic]
                    .iter()
                    .fold(0i32, |a, &w| a.wrapping_add(w as i32)),
            };
            let (bias, m, sh) = (weights.bias[oc], weights.multiplier[oc], weights.shift[oc]);
            *ch = (
                bias.wrapping_sub(zp.wrapping_mul(sum)),
                ChanQ::within(bias, m, sh, limits).unwrap_or(ChanQ::SLOW),
            );
        }
        let (mut oy, mut ox) = (0, 0);
        let mut next = || {
            let x = src(oy, ox);
            ox += 1;
            if ox == ow {
                ox = 0;
                oy += 1;
            }
            x
        };
        let mut p0 = 0;
        while p0 < pixels {
            let np = NARROW_PIX.min(pixels - p0);
            if dense {
                // Pairs of consecutive input pixels, read in place; an odd
                // last pixel is paired with itself.
                let blk = &input[p0 * ic..(p0 + np) * ic];
                for (x, pair) in blk.chunks(2 * ic).zip(sums.iter_mut()) {
                    let (xa, xb) = x.split_at(ic);
                    let xb = if xb.is_empty() { xa } else { xb };
                    *pair = dot_2x4(w4, xa, xb);
                }
            } else {
                for (j, pair) in sums.iter_mut().take(np.div_ceil(2)).enumerate() {
                    let p = p0 + 2 * j;
                    let xa = next();
                    let xb = if p + 1 < p0 + np { next() } else { xa };
                    *pair = dot_2x4(w4, xa, xb);
                }
            }
            let out = &mut output[p0 * oc_n..(p0 + np) * oc_n];
            let whole = np / 2;
            for (r, (folded, fq)) in chan.iter().enumerate() {
                let at = c0 + r;
                let out_of = |a: i32| clamp_out(&oq, chanq_out(a.wrapping_add(*folded), fq));
                for (o, s) in out.chunks_exact_mut(2 * oc_n).zip(&sums[..whole]) {
                    o[at] = out_of(s[r]);
                    o[oc_n + at] = out_of(s[4 + r]);
                }
                if np % 2 == 1 {
                    out[2 * whole * oc_n + at] = out_of(sums[whole][r]);
                }
            }
            p0 += np;
        }
        c += 4;
    }
    true
}

/// Requantizes and stores the sums of one block of output pixels: channel
/// `i` (sums `sums[i]`, constants `chan[i]`, multiplier and shift
/// `mult[i]`, `shift[i]`) of pixel `j < np` goes to `out[j * stride + i]`.
/// `all_fast`: every channel's epilogue is `fast` (`chan` holds its
/// constants).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn store_block(
    sums: &[[i32; 4]],
    chan: &[ChannelEpi],
    (mult, shift): (&[i32], &[i32]),
    oq: &OutQuant,
    out: &mut [i8],
    np: usize,
    stride: usize,
    all_fast: bool,
) {
    let n = chan.len();
    if np == 4 && all_fast && out.len() >= 3 * stride + n {
        requant_block(sums, chan, oq, out, stride);
        return;
    }
    for (i, ((s, c), (&m, &sh))) in sums
        .iter()
        .zip(chan)
        .zip(mult.iter().zip(shift))
        .enumerate()
    {
        let e = Epilogue::new(m, sh);
        for (j, &a) in s[..np].iter().enumerate() {
            out[j * stride + i] = oq.out(e.requantize(a.wrapping_add(c.folded)));
        }
    }
}

/// The convolution loops: per chunk of output channels (up to [`CH_CHUNK`]
/// of one group, or as many whole groups as fit [`CH_CHUNK`] channels and
/// [`PITCH`] taps), the folded biases and epilogue constants; then blocks
/// of four output pixels (raster order), each window (segment) gathered
/// once, the groups of a chunk side by side ([`gather_groups`]), and
/// multiplied with every block of four channels of its group
/// ([`mac_blocks`]), then requantized.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn conv_columns(
    g: &ConvGeo,
    groups: usize,
    q: &ConvQuant,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums_given: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) {
    let (ow, oc_n) = (out_shape.w as usize, out_shape.c as usize);
    let pixels = out_shape.h as usize * ow;
    let ocpg = oc_n / groups;
    let k = g.k;
    let zp = q.input_zero_point;
    let oq = OutQuant::new(q);
    let filter = weights.filter;
    let mut cols = Columns([0; 4 * PITCH]);
    let mut chan = [ChannelEpi {
        folded: 0,
        m2: 0,
        c0: 0,
        e: 0,
    }; CH_CHUNK];
    let limits = ChanQ::limits(q.output_zero_point, sum_bound(k, zp));
    let mut sums = [[0i32; 4]; CH_CHUNK];
    let mut tail = [[0i32; 4]; 4];
    // Groups per chunk: whole groups whose channels and windows fit.
    let gpc = if ocpg <= CH_CHUNK && k <= PITCH {
        (CH_CHUNK / ocpg).min(PITCH / k).min(groups)
    } else {
        1
    };
    let mut grp = 0;
    while grp < groups {
        let ng = gpc.min(groups - grp);
        let mut c0 = 0;
        while c0 < ocpg {
            // Channels of the chunk, and of each of its groups.
            let per = if ng > 1 {
                ocpg
            } else {
                CH_CHUNK.min(ocpg - c0)
            };
            let nc = ng * per;
            let oc0 = grp * ocpg + c0;
            let chan = &mut chan[..nc];
            let mut all_fast = true;
            for (i, c) in chan.iter_mut().enumerate() {
                let oc = oc0 + i;
                // The converter's table when it has one entry a channel.
                let sum = match sums_given.get(oc) {
                    Some(&s) if sums_given.len() == oc_n => s,
                    _ => filter[oc * k..(oc + 1) * k]
                        .iter()
                        .fold(0i32, |a, &w| a.wrapping_add(w as i32)),
                };
                let bias = weights.bias[oc];
                let (epi, fast) = ChannelEpi::new(
                    bias.wrapping_sub(zp.wrapping_mul(sum)),
                    bias,
                    weights.multiplier[oc],
                    weights.shift[oc],
                    limits,
                );
                all_fast &= fast;
                *c = epi;
            }
            let tables = (
                &weights.multiplier[oc0..oc0 + nc],
                &weights.shift[oc0..oc0 + nc],
            );
            // A group's channels past its last whole block of four: the
            // four rows from `base` (earlier channels, or later ones of
            // other groups, when the group has fewer than four) hold them
            // from `t0 - base`.
            let (full, rem) = (per / 4, per % 4);
            let mut n0 = 0;
            let (mut oy, mut ox) = (0, 0);
            while n0 < pixels {
                let np = 4.min(pixels - n0);
                let mut k0 = 0;
                while k0 < k {
                    let len = PITCH.min(k - k0);
                    let (mut y, mut x) = (oy, ox);
                    let mut next = || {
                        let at = (y, x);
                        x += 1;
                        if x == ow {
                            x = 0;
                            y += 1;
                        }
                        at
                    };
                    // Rows past `np` keep what they held: their sums are
                    // not stored. One loop per kind of window.
                    let rows = cols.0.chunks_exact_mut(PITCH).take(np);
                    if g.unit && len == k {
                        for row in rows {
                            let (y, x) = next();
                            gather_unit(g, input, row, y, x, zp as i8);
                        }
                    } else if ng > 1 {
                        for row in rows {
                            let (y, x) = next();
                            gather_groups(g, input, row, y, x, grp, ng, zp as i8);
                        }
                    } else {
                        for row in rows {
                            let (y, x) = next();
                            gather(g, input, row, y, x, grp, zp as i8, k0, len);
                        }
                    }
                    let more = k0 > 0;
                    for gi in 0..ng {
                        let s0 = gi * per;
                        let first = oc0 + s0;
                        let col = &cols.0[gi * k..];
                        mac_blocks(
                            &filter[first * k + k0..],
                            k,
                            full,
                            col,
                            len,
                            &mut sums[s0..],
                            more,
                        );
                        if rem > 0 {
                            let t0 = first + 4 * full;
                            let base = t0.min(oc_n - 4);
                            mac_blocks(&filter[base * k + k0..], k, 1, col, len, &mut tail, more);
                            if k0 + len == k {
                                let from = t0 - base;
                                sums[s0 + 4 * full..s0 + per]
                                    .copy_from_slice(&tail[from..from + rem]);
                            }
                        }
                    }
                    k0 += len;
                }
                let out = &mut output[n0 * oc_n + oc0..];
                store_block(&sums[..nc], chan, tables, &oq, out, np, oc_n, all_fast);
                n0 += np;
                ox += np;
                while ox >= ow {
                    ox -= ow;
                    oy += 1;
                }
            }
            c0 += per;
        }
        grp += ng;
    }
}

/// Copies the window of output pixel `(oy, ox)` of a 1x1 convolution
/// without padding ([`ConvGeo::unit`]) to `row[..ic]`: one input pixel's
/// channels, or `zp` where the pixel is outside the input.
#[inline(always)]
fn gather_unit(g: &ConvGeo, input: &[i8], row: &mut [i8], oy: usize, ox: usize, zp: i8) {
    let (iy, ix) = (oy * g.sh as usize, ox * g.sw as usize);
    let row = &mut row[..g.ic];
    if iy < g.ih && ix < g.iw {
        let at = (iy * g.iw + ix) * g.ic;
        copy(row, &input[at..at + g.ic], g.words);
    } else {
        row.fill(zp);
    }
}

/// Copies the whole windows of output pixel `(oy, ox)` for `ng` groups from
/// `g0` side by side to `row` (group `g0 + i`'s window, OHWI order, at
/// `i * k`), taps outside the input as `zp`. Needs `ng * k <= row.len()`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn gather_groups(
    g: &ConvGeo,
    input: &[i8],
    row: &mut [i8],
    oy: usize,
    ox: usize,
    g0: usize,
    ng: usize,
    zp: i8,
) {
    let iy0 = oy as i32 * g.sh - g.pt;
    let ix0 = ox as i32 * g.sw - g.pl;
    let (k, cpg) = (g.k, g.cpg);
    let row = &mut row[..ng * k];
    let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
    let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
    if ky0 != 0 || ky1 != g.kh || kx0 != 0 || kx1 != g.kw {
        row.fill(zp);
    }
    let span = ng * cpg;
    for ky in ky0..ky1 {
        let iy = (iy0 + (ky * g.dh) as i32) as usize;
        for kx in kx0..kx1 {
            let ix = (ix0 + (kx * g.dw) as i32) as usize;
            let src = (iy * g.iw + ix) * g.ic + g0 * cpg;
            let src = &input[src..src + span];
            let t = (ky * g.kw + kx) * cpg;
            for (dst, s) in row[t..].chunks_mut(k).zip(src.chunks_exact(cpg)) {
                copy(&mut dst[..cpg], s, g.words);
            }
        }
    }
}

/// Copies taps `k0..k0 + len` of the window of output pixel `(oy, ox)`,
/// group `grp` (OHWI order), to `row[..len]`, taps outside the input as
/// `zp`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather(
    g: &ConvGeo,
    input: &[i8],
    row: &mut [i8],
    oy: usize,
    ox: usize,
    grp: usize,
    zp: i8,
    k0: usize,
    len: usize,
) {
    let iy0 = oy as i32 * g.sh - g.pt;
    let ix0 = ox as i32 * g.sw - g.pl;
    let row = &mut row[..len];
    if k0 == 0 && len == g.k {
        // The whole window.
        if g.merge
            && iy0 >= 0
            && ix0 >= 0
            && iy0 as usize + (g.kh - 1) * g.dh < g.ih
            && ix0 as usize + g.kw <= g.iw
        {
            // Inside the input: each kernel row is one run, `step` apart.
            let run = g.kw * g.ic;
            let step = g.dh * g.iw * g.ic;
            let at = (iy0 as usize * g.iw + ix0 as usize) * g.ic;
            let src = &input[at..at + (g.kh - 1) * step + run];
            if g.words {
                if let (Ok(d), Ok(s)) = (
                    bytemuck::try_cast_slice_mut::<i8, u32>(row),
                    bytemuck::try_cast_slice::<i8, u32>(src),
                ) {
                    let (run, step) = (run / 4, step / 4);
                    for ky in 0..g.kh {
                        copy4(&mut d[ky * run..][..run], &s[ky * step..][..run]);
                    }
                    return;
                }
            }
            for ky in 0..g.kh {
                copy4(&mut row[ky * run..][..run], &src[ky * step..][..run]);
            }
            return;
        }
        let (ky0, ky1) = tap_range(iy0, g.kh, g.dh, g.ih);
        let (kx0, kx1) = tap_range(ix0, g.kw, g.dw, g.iw);
        if ky0 != 0 || ky1 != g.kh || kx0 != 0 || kx1 != g.kw {
            row.fill(zp);
        }
        if kx0 == kx1 {
            return;
        }
        let run = g.kw * g.cpg;
        for ky in ky0..ky1 {
            let iy = (iy0 + (ky * g.dh) as i32) as usize;
            let dst = &mut row[ky * run..(ky + 1) * run];
            if g.merge {
                let ix = (ix0 + kx0 as i32) as usize;
                let src = (iy * g.iw + ix) * g.ic;
                let n = (kx1 - kx0) * g.ic;
                copy(
                    &mut dst[kx0 * g.ic..kx0 * g.ic + n],
                    &input[src..src + n],
                    g.words,
                );
            } else {
                for kx in kx0..kx1 {
                    let ix = (ix0 + (kx * g.dw) as i32) as usize;
                    let src = (iy * g.iw + ix) * g.ic + grp * g.cpg;
                    copy(
                        &mut dst[kx * g.cpg..(kx + 1) * g.cpg],
                        &input[src..src + g.cpg],
                        g.words,
                    );
                }
            }
        }
        return;
    }
    // A segment of a long window: tap by tap (each tap's channels are
    // contiguous in the input).
    let end = k0 + len;
    for t in k0 / g.cpg..end.div_ceil(g.cpg) {
        let (ky, kx) = (t / g.kw, t % g.kw);
        let lo = k0.max(t * g.cpg);
        let hi = end.min((t + 1) * g.cpg);
        let dst = &mut row[lo - k0..hi - k0];
        let iy = iy0 + (ky * g.dh) as i32;
        let ix = ix0 + (kx * g.dw) as i32;
        if (0..g.ih as i32).contains(&iy) && (0..g.iw as i32).contains(&ix) {
            let src = (iy as usize * g.iw + ix as usize) * g.ic + grp * g.cpg + lo - t * g.cpg;
            copy(dst, &input[src..src + (hi - lo)], false);
        } else {
            dst.fill(zp);
        }
    }
}

/// `dst.copy_from_slice(src)` (equal lengths) inline: a word at a time when
/// `words` and both are word aligned with a length a multiple of 4, else a
/// byte at a time. Several stores per iteration, so LLVM keeps the loop
/// rather than calling `memcpy` (whose call costs more than these runs).
#[inline(always)]
fn copy(dst: &mut [i8], src: &[i8], words: bool) {
    if words {
        if let (Ok(d), Ok(s)) = (
            bytemuck::try_cast_slice_mut::<i8, u32>(dst),
            bytemuck::try_cast_slice::<i8, u32>(src),
        ) {
            copy4(d, s);
            return;
        }
    }
    copy4(dst, src);
}

/// `dst.copy_from_slice(src)`, four elements per iteration.
#[inline(always)]
fn copy4<T: Copy>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(4);
    let mut s = src.chunks_exact(4);
    for (d, s) in (&mut d).zip(&mut s) {
        d[0] = s[0];
        d[1] = s[1];
        d[2] = s[2];
        d[3] = s[3];
    }
    // At most three left: not a loop (LLVM would make it a `memcpy` call).
    match (d.into_remainder(), s.remainder()) {
        ([d0, d1, d2], [s0, s1, s2]) => (*d0, *d1, *d2) = (*s0, *s1, *s2),
        ([d0, d1], [s0, s1]) => (*d0, *d1) = (*s0, *s1),
        ([d0], [s0]) => *d0 = *s0,
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Depthwise.
// ---------------------------------------------------------------------------

/// Where a depthwise-like op keeps the weight of tap `t`, channel `c`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DwLayout {
    /// DEPTHWISE_CONV_2D: `[kh][kw][c]`, channel fastest.
    TapMajor,
    /// A grouped CONV_2D with one input and one output channel per group:
    /// OHWI `[c][kh][kw][1]`.
    ChannelMajor,
}

/// What [`dw3x3`] takes: 3x3, dilation 1, horizontal stride 1 or 2, an
/// `i8` input zero point (padding is copied as it) and a non-empty output.
fn dw_covers(win: &Window, q: &ConvQuant, out_shape: Shape) -> bool {
    win.kh == 3
        && win.kw == 3
        && win.dilation_h == 1
        && win.dilation_w == 1
        && (1..=2).contains(&win.stride_w)
        && (-128..=127).contains(&q.input_zero_point)
        && out_shape.h > 0
        && out_shape.w > 0
        && out_shape.c > 0
}

/// Whether [`conv_depthwise_like`] takes these parameters.
fn depthwise_like_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    p.groups == in_shape.c && in_shape.c == out_shape.c && dw_covers(&p.window, &p.quant, out_shape)
}

/// Whether [`depthwise_s8`] takes these parameters.
pub(crate) fn depthwise_fast_path(p: &DepthwiseParams, out_shape: Shape) -> Option<&'static str> {
    (p.depth_multiplier == 1 && dw_covers(&p.window, &p.quant, out_shape))
        .then_some("riscv-depthwise")
}

/// 3x3 depthwise convolution with depth multiplier 1, dilation 1 and
/// horizontal stride 1 or 2 (other parameters return `false`). Arguments as
/// the portable kernel's checks accepted them.
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
    dw3x3(
        &p.window,
        &p.quant,
        DwLayout::TapMajor,
        in_shape,
        input,
        weights,
        out_shape,
        output,
    );
    true
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
    dw3x3(
        &p.window,
        &p.quant,
        DwLayout::ChannelMajor,
        in_shape,
        input,
        weights,
        out_shape,
        output,
    );
    true
}

/// Channels per block of [`dw3x3`] (the strip's column pitch).
const S_CB: usize = 16;
/// Output columns per strip of [`dw3x3`].
const S_OX: usize = 16;
/// Columns of a strip at most (stride 2).
const S_COLS: usize = (S_OX - 1) * 2 + 3;

/// Copies the columns of one strip row from the input: column `i` (`cb`
/// channels at `src[i * c_n..]`) to `dst[i * S_CB..]`, a word at a time when
/// `words` (word-aligned input, `c_n % 4 == 0`; `c0`, `cb` multiples of 4
/// then, but for the last block) and `cb` is a multiple of 4.
#[inline(always)]
fn strip_copy(dst: &mut [i8], src: &[i8], c_n: usize, cb: usize, words: bool) {
    if words && cb == 4 {
        if let (Ok(d), Ok(s)) = (
            bytemuck::try_cast_slice_mut::<i8, u32>(dst),
            bytemuck::try_cast_slice::<i8, u32>(src),
        ) {
            // One word a column.
            for (d, s) in d
                .iter_mut()
                .step_by(S_CB / 4)
                .zip(s.iter().step_by(c_n / 4))
            {
                *d = *s;
            }
            return;
        }
    }
    for (d, s) in dst.chunks_exact_mut(S_CB).zip(src.chunks(c_n)) {
        copy(&mut d[..cb], &s[..cb], words);
    }
}

/// One channel's 3x3 weights as `i32`s, row-major.
type W9 = [i32; 9];

/// Sums of output pixels `p` and `p + 1` of one channel over one kernel
/// row: `x` holds the row's strip from pixel `p`'s first column, the
/// channel at every `S_CB`-th byte; pixel `p + 1` starts `SW` columns later.
#[inline(always)]
fn dw3x3_row<const SW: usize, const N: usize>(
    x: &[i8; N],
    (w0, w1, w2): (i32, i32, i32),
    (a0, a1): (i32, i32),
) -> (i32, i32) {
    let x0 = x[0] as i32;
    let x1 = x[S_CB] as i32;
    let x2 = x[2 * S_CB] as i32;
    let x3 = x[3 * S_CB] as i32;
    let a0 = a0
        .wrapping_add(w0 * x0)
        .wrapping_add(w1 * x1)
        .wrapping_add(w2 * x2);
    let a1 = if SW == 1 {
        a1.wrapping_add(w0 * x1)
            .wrapping_add(w1 * x2)
            .wrapping_add(w2 * x3)
    } else {
        let x4 = x[(4 * S_CB).min(N - 1)] as i32;
        a1.wrapping_add(w0 * x2)
            .wrapping_add(w1 * x3)
            .wrapping_add(w2 * x4)
    };
    (a0, a1)
}

/// `&r[..N]` as an array (one bounds check; loads from it then use
/// constant offsets).
#[inline(always)]
fn row<const N: usize>(r: &[i8]) -> &[i8; N] {
    match <&[i8; N]>::try_from(&r[..N]) {
        Ok(a) => a,
        Err(_) => unreachable!(),
    }
}

/// Sums of output pixels `p` and `p + 1` of one channel: `rows[ky]` holds
/// kernel row `ky`'s strip from the channel's byte of pixel `p`'s first
/// column.
#[inline(always)]
fn dw3x3_pair<const SW: usize, const N: usize>(rows: [&[i8]; 3], w: &W9) -> (i32, i32) {
    let mut acc = (0, 0);
    acc = dw3x3_row::<SW, N>(row(rows[0]), (w[0], w[1], w[2]), acc);
    acc = dw3x3_row::<SW, N>(row(rows[1]), (w[3], w[4], w[5]), acc);
    dw3x3_row::<SW, N>(row(rows[2]), (w[6], w[7], w[8]), acc)
}

/// 3x3 depthwise with dilation 1 and horizontal stride 1 or 2 (any
/// vertical stride and padding): blocks of [`S_CB`] channels; per output
/// row and run of up to [`S_OX`] output columns, the three input rows the
/// run reads are copied to a strip `[row][column][channel]` (padding as the
/// input zero point, which the folded bias cancels, as in the convolution),
/// then each channel's nine weights, held in registers, sweep the run two
/// output pixels at a time (stride 1: 12 activation loads for 18
/// multiply-accumulates).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn dw3x3(
    win: &Window,
    q: &ConvQuant,
    layout: DwLayout,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let zp = q.input_zero_point;
    let (ih, iw, c_n) = (
        in_shape.h as usize,
        in_shape.w as usize,
        in_shape.c as usize,
    );
    let (oh, ow) = (out_shape.h as usize, out_shape.w as usize);
    let (sh, sw) = (win.stride_h as i32, win.stride_w as usize);
    let (pt, pl) = (win.pad_top as i32, win.pad_left as i32);
    let filter = weights.filter;
    let oq = OutQuant::new(q);
    let words = input.as_ptr() as usize % 4 == 0 && c_n % 4 == 0;
    let mut strip = [[zp as i8; S_COLS * S_CB]; 3];
    let mut wt = [[0i32; 9]; S_CB];
    let mut folded = [0i32; S_CB];
    let mut epi = [Epilogue::new(0, 0); S_CB];
    let mut chanq = [None; S_CB];
    let limits = ChanQ::limits(q.output_zero_point, sum_bound(9, zp));
    let mut sums = [0i32; S_OX];

    let mut c0 = 0;
    while c0 < c_n {
        let cb = S_CB.min(c_n - c0);
        for (i, (((w, f), e), fq)) in wt
            .iter_mut()
            .zip(&mut folded)
            .zip(&mut epi)
            .zip(&mut chanq)
            .take(cb)
            .enumerate()
        {
            let c = c0 + i;
            for (t, v) in w.iter_mut().enumerate() {
                *v = match layout {
                    DwLayout::TapMajor => filter[t * c_n + c],
                    DwLayout::ChannelMajor => filter[c * 9 + t],
                } as i32;
            }
            let sum = w.iter().fold(0i32, |a, &v| a.wrapping_add(v));
            *f = weights.bias[c].wrapping_sub(zp.wrapping_mul(sum));
            *e = Epilogue::new(weights.multiplier[c], weights.shift[c]);
            *fq = ChanQ::within(
                weights.bias[c],
                weights.multiplier[c],
                weights.shift[c],
                limits,
            );
        }
        for oy in 0..oh {
            let iy0 = oy as i32 * sh - pt;
            let mut ox0 = 0;
            while ox0 < ow {
                let nx = S_OX.min(ow - ox0);
                let pairs = nx.div_ceil(2);
                let cols = (2 * pairs - 1) * sw + 3;
                let ix0 = (ox0 * sw) as i32 - pl;
                for (ky, row) in strip.iter_mut().enumerate() {
                    let iy = iy0 + ky as i32;
                    let row = &mut row[..cols * S_CB];
                    if !(0..ih as i32).contains(&iy) {
                        row.fill(zp as i8);
                        continue;
                    }
                    let line = iy as usize * iw;
                    // Columns `lo..hi` of the strip are inside the input.
                    let lo = (-ix0).clamp(0, cols as i32) as usize;
                    let hi = (iw as i32 - ix0).clamp(lo as i32, cols as i32) as usize;
                    let (left, rest) = row.split_at_mut(lo * S_CB);
                    let right = &mut rest[(hi - lo) * S_CB..];
                    for dst in left
                        .chunks_exact_mut(S_CB)
                        .chain(right.chunks_exact_mut(S_CB))
                    {
                        dst[..cb].fill(zp as i8);
                    }
                    if lo < hi {
                        let at = (line + (ix0 + lo as i32) as usize) * c_n + c0;
                        let src = &input[at..at + (hi - lo - 1) * c_n + cb];
                        let dst = &mut row[lo * S_CB..hi * S_CB];
                        strip_copy(dst, src, c_n, cb, words);
                    }
                }
                let out0 = (oy * ow + ox0) * c_n + c0;
                for (c, (((w, &f), e), fq)) in wt
                    .iter()
                    .zip(&folded)
                    .zip(&epi)
                    .zip(&chanq)
                    .take(cb)
                    .enumerate()
                {
                    let (r0, r1, r2) = (&strip[0][c..], &strip[1][c..], &strip[2][c..]);
                    // The run's sums first (nine weights in registers),
                    // then their epilogues.
                    let w: W9 = *w;
                    for (p, pair) in sums.chunks_exact_mut(2).take(pairs).enumerate() {
                        let b = 2 * p * sw * S_CB;
                        let rows = [&r0[b..], &r1[b..], &r2[b..]];
                        let (a0, a1) = if sw == 1 {
                            dw3x3_pair::<1, { 3 * S_CB + 1 }>(rows, &w)
                        } else {
                            dw3x3_pair::<2, { 4 * S_CB + 1 }>(rows, &w)
                        };
                        pair[0] = a0;
                        pair[1] = a1;
                    }
                    let out = &mut output[out0 + c..];
                    if let Some(cq) = fq {
                        let cq = *cq;
                        for (o, &a) in out.iter_mut().step_by(c_n).zip(&sums[..nx]) {
                            *o = clamp_out(&oq, chanq_out(a.wrapping_add(f), &cq));
                        }
                    } else {
                        for (o, &a) in out.iter_mut().step_by(c_n).zip(&sums[..nx]) {
                            *o = oq.out(e.requantize(a.wrapping_add(f)));
                        }
                    }
                }
                ox0 += nx;
            }
        }
        c0 += cb;
    }
}

// ---------------------------------------------------------------------------
// ADD.
// ---------------------------------------------------------------------------

/// Fewest elements for which [`add_s8`] builds its tables (512 entries).
const ADD_MIN_LEN: usize = 512;

/// The per-input halves of TFLite's ADD, `s1(a)` and `s2(b)`, for all 256
/// values of each input.
struct AddTables {
    s1: [i32; 256],
    s2: [i32; 256],
}

impl AddTables {
    #[inline(always)]
    fn empty() -> AddTables {
        AddTables {
            s1: [0; 256],
            s2: [0; 256],
        }
    }

    /// The tables of `p`, in place; returns the largest `|s1(a) + s2(b)|`.
    #[inline(always)]
    fn fill(&mut self, p: &AddParams) -> i64 {
        let t = self;
        let scale = 1i32 << p.left_shift;
        // `requantize_smaller_than_one(x, m, s)` is `requantize(x, m, s)`
        // for the shifts ADD takes (`s <= 0`).
        let e1 = Epilogue::new(p.input1_multiplier, p.input1_shift);
        let e2 = Epilogue::new(p.input2_multiplier, p.input2_shift);
        let (mut m1, mut m2) = (0i64, 0i64);
        for v in -128i32..=127 {
            let i = (v as u8) as usize;
            t.s1[i] = e1.requantize(v.wrapping_sub(p.input1_zero_point).wrapping_mul(scale));
            t.s2[i] = e2.requantize(v.wrapping_sub(p.input2_zero_point).wrapping_mul(scale));
            m1 = m1.max((t.s1[i] as i64).abs());
            m2 = m2.max((t.s2[i] as i64).abs());
        }
        m1 + m2
    }
}

/// The output stage of an ADD whose table sums stay under `bound`: the
/// [`ChanQ`] epilogue where it covers the output multiplier and shift (the
/// sum is the accumulator, with no bias), else [`Epilogue::fast`].
#[derive(Clone, Copy)]
enum AddOut {
    ChanQ(ChanQ, OutQuant),
    Fast(Epilogue, OutQuant),
}

impl AddOut {
    #[inline(always)]
    fn new(p: &AddParams, bound: i64) -> Option<AddOut> {
        let (e, o) = add_epilogue(p)?;
        let limits = ChanQ::limits(p.output_zero_point, bound);
        Some(
            match ChanQ::within(0, p.output_multiplier, p.output_shift, limits) {
                Some(q) => AddOut::ChanQ(q, o),
                None => AddOut::Fast(e, o),
            },
        )
    }

    /// `acc[i] = ADD(acc[i], other[i])` through the tables `t` (one copy of
    /// the loops for every caller).
    #[inline(never)]
    fn run_in_place(&self, t: &AddTables, acc: &mut [i8], other: &[i8]) {
        match *self {
            AddOut::ChanQ(q, o) => {
                for (a, &b) in acc.iter_mut().zip(other) {
                    let sum = t.s1[*a as u8 as usize].wrapping_add(t.s2[b as u8 as usize]);
                    *a = clamp_out(&o, chanq_out(sum, &q));
                }
            }
            AddOut::Fast(e, o) => {
                for (a, &b) in acc.iter_mut().zip(other) {
                    let sum = t.s1[*a as u8 as usize].wrapping_add(t.s2[b as u8 as usize]);
                    *a = o.out(e.fast(sum));
                }
            }
        }
    }
}

/// The output stage of ADD for parameters [`Epilogue::fast`] covers.
#[inline(always)]
fn add_epilogue(p: &AddParams) -> Option<(Epilogue, OutQuant)> {
    let e = Epilogue::new(p.output_multiplier, p.output_shift);
    let o = OutQuant {
        zp: p.output_zero_point,
        min: p.clamp.min as i32,
        max: p.clamp.max as i32,
    };
    e.fast.then_some((e, o))
}

/// ADD through per-input tables, for at least [`ADD_MIN_LEN`] elements and
/// a positive output multiplier. Arguments as `add_s8` checked
/// them (equal lengths, parameters in range). Not inlined: its 2 KiB of
/// tables live on the stack only during the call.
#[inline(never)]
pub(crate) fn add_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) -> bool {
    if input1.len() < ADD_MIN_LEN {
        return false;
    }
    if add_epilogue(p).is_none() {
        return false;
    }
    let mut t = AddTables::empty();
    let bound = t.fill(p);
    let Some(run) = AddOut::new(p, bound) else {
        return false;
    };
    // In place over a copy of the first input: one copy of the loops.
    copy(output, input1, true);
    run.run_in_place(&t, output, input2);
    true
}

/// An ADD's tables built once for many in-place calls (a fused block's
/// shortcut, a band of rows a call, any number of elements): 2 KiB on the
/// block's stack instead of the portable arithmetic per element under
/// [`ADD_MIN_LEN`] or the tables per call from there on.
pub(crate) struct AddPrepared {
    t: AddTables,
    out: Option<AddOut>,
}

impl AddPrepared {
    /// Empty tables, filled in place by [`AddPrepared::prepare`].
    #[inline(always)]
    pub(crate) fn empty() -> AddPrepared {
        AddPrepared {
            t: AddTables::empty(),
            out: None,
        }
    }

    /// Fills the tables for `p` (parameters `add_s8`'s checks accepted);
    /// `false` where the output stage is not the fast one.
    pub(crate) fn prepare(&mut self, p: &AddParams) -> bool {
        self.out = None;
        if add_epilogue(p).is_some() {
            let bound = self.t.fill(p);
            self.out = AddOut::new(p, bound);
        }
        self.out.is_some()
    }

    /// [`add_s8_in_place`] through these tables; `false` (nothing written)
    /// when they were not prepared or the lengths differ.
    pub(crate) fn in_place(&self, acc: &mut [i8], other: &[i8]) -> bool {
        let Some(run) = &self.out else {
            return false;
        };
        if other.len() != acc.len() {
            return false;
        }
        run.run_in_place(&self.t, acc, other);
        true
    }
}

/// [`add_s8`] in place: `acc` holds the first input and gets the output.
#[inline(never)]
pub(crate) fn add_s8_in_place(p: &AddParams, acc: &mut [i8], other: &[i8]) -> bool {
    if acc.len() < ADD_MIN_LEN {
        return false;
    }
    if add_epilogue(p).is_none() {
        return false;
    }
    let mut t = AddTables::empty();
    let bound = t.fill(p);
    let Some(run) = AddOut::new(p, bound) else {
        return false;
    };
    run.run_in_place(&t, acc, other);
    true
}

/// The kernels above against the portable ones on random cases, on the host
/// with [`mac_blocks`]' loops in Rust (the QEMU firmware in
/// `tests/qemu-kernels-riscv` repeats this with the assembly).
#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::ops::{conv, depthwise};
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
        for i in 0..cases(300_000) {
            let acc = if i % 3 == 0 {
                r.pick(&specials)
            } else {
                r.next() as i32 >> r.range(0, 31)
            };
            let m = if i % 7 == 0 {
                r.pick(&specials)
            } else {
                r.next() as i32
            };
            let shift = r.range(-31, 30) as i32;
            let e = Epilogue::new(m, shift);
            let want = requantize(acc, m, shift);
            assert_eq!(e.requantize(acc), want, "acc {acc} m {m} shift {shift}");
            if shift <= 0 && m > 0 {
                assert!(e.fast);
                assert_eq!(e.fast(acc), want, "acc {acc} m {m} shift {shift}");
            }
        }
    }

    #[test]
    fn chanq_out_matches_requantize() {
        let mut r = Rng(0x0BAD_CAFE_5EED_0042);
        let mut covered = 0;
        for i in 0..cases(300_000) {
            let taps = r.range(1, 600) as usize;
            let (izp, ozp) = (r.range(-128, 127) as i32, r.range(-128, 127) as i32);
            let limits = ChanQ::limits(ozp, sum_bound(taps, izp));
            let bias = if i % 5 == 0 {
                r.next() as i32 >> r.range(0, 31)
            } else {
                r.range(-70_000, 70_000) as i32
            };
            let m = if i % 11 == 0 {
                r.pick(&[1, i32::MAX, 1 << 30, -5, 0])
            } else {
                r.range(1 << 30, i32::MAX as i64) as i32
            };
            let shift = r.range(-31, 2) as i32;
            let Some(q) = ChanQ::within(bias, m, shift, limits) else {
                assert!(m <= 0 || !(-22..=-1).contains(&shift) || bias.unsigned_abs() >= limits.1);
                continue;
            };
            covered += 1;
            let bound = sum_bound(taps, izp);
            for _ in 0..4 {
                let acc = (bias as i64 + r.range(-bound, bound)) as i32;
                let want = requantize(acc, m, shift) + ozp;
                assert_eq!(
                    chanq_out(acc, &q),
                    want,
                    "acc {acc} m {m} shift {shift} zp {ozp}"
                );
            }
        }
        #[cfg(not(miri))]
        assert!(covered > 100_000, "only {covered} covered channels");
    }

    #[test]
    fn mac_blocks_matches_scalar_sums() {
        let mut r = Rng(0x0123_4567_89AB_CDEF);
        let mut cols = Columns([0; 4 * PITCH]);
        for _ in 0..cases(300) {
            let n = r.pick(&[0usize, 1, 2, 3, 7, 8, 9, 27, 144, PITCH - 1, PITCH]);
            let blocks = r.range(0, 3) as usize;
            let stride = n + r.pick(&[0usize, 0, 1, 5]);
            let accumulate = r.next() % 2 == 0;
            let w = r.i8s((4 * blocks).max(1) * stride + n);
            let x = r.i8s(4 * PITCH);
            cols.0.copy_from_slice(&x);
            let start: Vec<[i32; 4]> = (0..4 * blocks + 1)
                .map(|_| [0; 4].map(|_: i32| r.next() as i32))
                .collect();
            let mut sums = start.clone();
            let at = r.range(0, (PITCH - n) as i64) as usize;
            mac_blocks(&w, stride, blocks, &cols.0[at..], n, &mut sums, accumulate);
            for (i, s) in sums.iter().enumerate() {
                for (j, &v) in s.iter().enumerate() {
                    let want = if i < 4 * blocks {
                        let dot = (0..n).fold(0i32, |a, k| {
                            a.wrapping_add(w[i * stride + k] as i32 * x[at + j * PITCH + k] as i32)
                        });
                        if accumulate {
                            start[i][j].wrapping_add(dot)
                        } else {
                            dot
                        }
                    } else {
                        start[i][j]
                    };
                    assert_eq!(v, want, "n {n} blocks {blocks} row {i} pixel {j}");
                }
            }
        }
    }

    #[test]
    fn requant_block_matches_epilogue() {
        let mut r = Rng(0x7777_1234_ABCD_0001);
        for _ in 0..cases(500) {
            let n = r.range(1, 9) as usize;
            let stride = n + r.range(0, 3) as usize;
            let q = quant(&mut r, true);
            let oq = OutQuant::new(&q);
            let t = tables(&mut r, n, true);
            let taps = r.range(1, 600) as usize;
            let limits = ChanQ::limits(q.output_zero_point, sum_bound(taps, 0));
            // Covered channels: shifts -22..=-1, biases inside the limit.
            let (mult, shift): (Vec<i32>, Vec<i32>) = (0..n)
                .map(|i| (t.mult[i].max(1), t.shift[i].clamp(-22, -1)))
                .unzip();
            let bias: Vec<i32> = t.bias.iter().map(|&b| b.clamp(-70_000, 70_000)).collect();
            let chan: Vec<ChannelEpi> = (0..n)
                .map(|i| {
                    let (c, fast) = ChannelEpi::new(bias[i], bias[i], mult[i], shift[i], limits);
                    assert!(fast || limits.1 == 0);
                    c
                })
                .collect();
            if limits.1 == 0 {
                continue;
            }
            // Sums within the layer's bound (what ChanQ assumes).
            let bound = sum_bound(taps, 0);
            let sums: Vec<[i32; 4]> = (0..n)
                .map(|_| [0; 4].map(|_: i32| r.range(-bound, bound) as i32))
                .collect();
            let mut out = std::vec![0x55i8; 3 * stride + n + 2];
            requant_block(&sums, &chan, &oq, &mut out, stride);
            for (i, (s, c)) in sums.iter().zip(&chan).enumerate() {
                let (m, sh) = (mult[i], shift[i]);
                for (j, &a) in s.iter().enumerate() {
                    let want = conv::finish(a, 0, c.folded, m, sh, &q);
                    assert_eq!(out[j * stride + i], want);
                }
            }
            assert_eq!(&out[3 * stride + n..], &[0x55, 0x55]);
        }
    }

    #[test]
    fn pointwise_narrow_matches_portable() {
        let mut r = Rng(0x5EED_0BAD_F00D_0017);
        let mut taken = 0;
        for case in 0..cases(2000) {
            let (sh, sw) = (r.range(1, 2) as u8, r.range(1, 2) as u8);
            let ins = Shape::new(
                r.range(1, 9) as u16,
                r.range(1, 9) as u16,
                r.range(1, NARROW_MAX_IC as i64) as u16,
            );
            // Output extents up to one past the input's (pixels outside
            // it read the zero point only).
            let outs = Shape::new(
                ((ins.h as u8 - 1) / sh + r.range(1, 2) as u8) as u16,
                ((ins.w as u8 - 1) / sw + r.range(1, 2) as u8) as u16,
                r.range(4, 13) as u16,
            );
            let p = ConvParams {
                window: Window {
                    kh: 1,
                    kw: 1,
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: 1,
                    dilation_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                },
                groups: 1,
                quant: quant(&mut r, false),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * ins.c as usize);
            let mut t = tables(&mut r, outs.c as usize, false);
            // Mostly channels the ChanQ epilogue covers (else it declines).
            if case % 4 != 0 {
                for (m, s) in t.mult.iter_mut().zip(&mut t.shift) {
                    *m = (*m).max(1);
                    *s = (*s).clamp(-22, -1);
                }
            }
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let mut want = std::vec![0i8; outs.len()];
            conv::check_conv_args(&p, ins, &input, &w, outs, &want).unwrap();
            conv::conv_core(&p, ins, &input, &w, outs, &mut want);
            assert!(narrow_pointwise_covers(&p, ins, outs));
            let g = ConvGeo::new(&p.window, 1, ins, &input);
            let mut got = std::vec![0x55i8; outs.len()];
            if pointwise_narrow(&g, &p.quant, &input, &w, &[], outs, &mut got) {
                taken += 1;
                assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            } else {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
            }
        }
        // Coverage outside Miri only (it draws a hundredth of the cases).
        #[cfg(not(miri))]
        assert!(taken > 1000, "only {taken} cases took the narrow kernel");
        #[cfg(miri)]
        let _ = taken;
    }

    #[test]
    fn unit_gather_outside_the_input_matches_portable() {
        // 1x1 windows past the narrow kernel's channels (the columns
        // kernel's unit gather), output extents past the input's.
        let mut r = Rng(0x0DD5_CA1E_0000_0019);
        for case in 0..cases(500) {
            let (sh, sw) = (r.range(1, 3) as u8, r.range(1, 3) as u8);
            let ins = Shape::new(
                r.range(1, 6) as u16,
                r.range(1, 6) as u16,
                r.range(NARROW_MAX_IC as i64 + 1, 40) as u16,
            );
            let outs = Shape::new(
                ((ins.h as u8 - 1) / sh + r.range(1, 3) as u8) as u16,
                ((ins.w as u8 - 1) / sw + r.range(1, 3) as u8) as u16,
                r.range(4, 12) as u16,
            );
            let p = ConvParams {
                window: Window {
                    kh: 1,
                    kw: 1,
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: 1,
                    dilation_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                },
                groups: 1,
                quant: quant(&mut r, false),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * ins.c as usize);
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
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(conv_s8(&p, ins, &input, &w, &[], outs, &mut got, true));
            assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
        }
    }

    #[test]
    fn conv_matches_portable() {
        let mut r = Rng(0x1234_5678_9ABC_DEF1);
        let mut covered = 0;
        let mut narrow = 0;
        for case in 0..cases(4000) {
            // 0: 1x1, 1: 3x3, 2: any, 3: grouped 3x3, 4: depthwise-like,
            // 5: long windows (segments) and many channels, 6: 1x1 with
            // many input channels (segments).
            let kind = case % 7;
            let win = match kind {
                0 | 6 => Window {
                    pad_top: 0,
                    pad_left: 0,
                    ..window(&mut r, 1)
                },
                1 | 3 | 4 | 5 => window(&mut r, 3),
                _ => window(&mut r, 0),
            };
            let groups = match kind {
                3 => r.pick(&[1u16, 2, 4, 3]),
                2 if r.next() % 3 == 0 => 2,
                4 => r.pick(&[1u16, 3, 4, 8, 16, 17, 33]),
                _ => 1,
            };
            let cpg = match kind {
                4 => 1,
                5 => r.pick(&[64u16, 72, 74, 75, 80, 130]),
                6 => r.pick(&[575u16, 576, 577, 600, 1152, 1300]),
                _ => r.pick(&[1u16, 2, 3, 4, 8, 12, 16, 5, 32]),
            };
            let ocpg = match kind {
                4 => 1,
                5 | 6 => r.pick(&[1u16, 4, 5, 31, 32, 33, 65, 70]),
                _ => r.pick(&[1u16, 2, 3, 4, 5, 8, 16]),
            };
            let (hmax, wmax) = if kind >= 5 { (4, 4) } else { (9, 9) };
            let ins = Shape::new(
                r.range(1, hmax) as u16,
                r.range(1, wmax) as u16,
                cpg * groups,
            );
            let outs = Shape::new(
                out_extent(ins.h, win.kh, win.stride_h, win.dilation_h, win.pad_top),
                out_extent(ins.w, win.kw, win.stride_w, win.dilation_w, win.pad_left),
                ocpg * groups,
            );
            let p = ConvParams {
                window: win,
                groups,
                quant: quant(&mut r, true),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize * cpg as usize);
            let t = tables(&mut r, outs.c as usize, true);
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
            let fast: [(&str, Fast); 3] = [
                ("riscv-depthwise", conv_depthwise_like),
                // Summing the filter itself, and reading the converter's sums.
                ("riscv-columns", |p, i, x, w, o, y| {
                    conv_s8(p, i, x, w, &[], o, y, true)
                }),
                ("riscv-columns", |p, i, x, w, o, y| {
                    let k = w.filter.len() / o.c as usize;
                    let sums: std::vec::Vec<i32> = w
                        .filter
                        .chunks(k)
                        .map(|r| r.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32)))
                        .collect();
                    conv_s8(p, i, x, w, &sums, o, y, true)
                }),
            ];
            for (name, f) in fast {
                let mut got = std::vec![0x55i8; outs.len()];
                if f(&p, ins, &input, &w, outs, &mut got) {
                    taken = taken.or(Some(name));
                    covered += 1;
                    assert_eq!(got, want, "case {case} {name}: {p:?} {ins:?} -> {outs:?}");
                } else {
                    assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                }
            }
            // The column entry point runs the narrow pointwise kernel
            // where that covers the parameters.
            let path = conv_fast_path(&p, ins, outs);
            let columns = matches!(path, Some("riscv-columns" | "riscv-pointwise-narrow"));
            assert_eq!(
                taken,
                path.map(|n| if columns { "riscv-columns" } else { n })
            );
            narrow += (path == Some("riscv-pointwise-narrow")) as usize;
        }
        #[cfg(not(miri))]
        {
            assert!(narrow > 4000 / 20, "only {narrow} narrow pointwise cases");
            assert!(
                covered > 4000 * 7 / 10,
                "only {covered} cases took a fast path"
            );
        }
    }

    #[test]
    fn depthwise_matches_portable() {
        let mut r = Rng(0x0F1E_2D3C_4B5A_6978);
        let mut covered = 0;
        for case in 0..cases(3000) {
            let win = window(&mut r, if case % 4 == 0 { 0 } else { 3 });
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
                quant: quant(&mut r, true),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(outs.c as usize * win.kh as usize * win.kw as usize);
            let t = tables(&mut r, outs.c as usize, true);
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
            let taken = depthwise_s8(&p, ins, &input, &w, outs, &mut got);
            if taken {
                covered += 1;
                assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            } else {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
            }
            assert_eq!(
                depthwise_fast_path(&p, outs).is_some(),
                taken,
                "case {case}"
            );
        }
        #[cfg(not(miri))]
        assert!(covered > 1000, "only {covered} cases took a fast path");
    }

    #[test]
    fn add_matches_portable() {
        use crate::ops::add::{add_one, AddParams};
        let mut r = Rng(0x5555_AAAA_1234_9876);
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
                assert!(n < ADD_MIN_LEN || p.output_multiplier <= 0);
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
            }
            let mut acc = x.clone();
            if add_s8_in_place(&p, &mut acc, &y) {
                assert_eq!(acc, want, "case {case} in place: {p:?}");
            } else {
                assert_eq!(acc, x, "declined but wrote");
            }
            // Tables prepared once (a fused block's shortcut), any length.
            let mut t = AddPrepared::empty();
            let ready = t.prepare(&p);
            assert_eq!(ready, add_epilogue(&p).is_some());
            for _ in 0..2 {
                let mut acc = x.clone();
                if t.in_place(&mut acc, &y) {
                    assert_eq!(acc, want, "case {case} prepared: {p:?}");
                } else {
                    assert!(!ready);
                    assert_eq!(acc, x, "declined but wrote");
                }
            }
        }
    }
}
