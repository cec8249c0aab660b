//! Helium (M-profile Vector Extension, MVE) kernels: Cortex-M55, Cortex-M85.
//!
//! Compiled for builds with cfg `attonet_mve` (set by `build.rs` for
//! `-C target-cpu=cortex-m55|cortex-m85` or `-C target-feature=+mve`; these
//! cores also have the DSP extension, so the DSP kernels are there too and
//! take what this module declines), and for the host unit tests, where each
//! MVE instruction is a plain-Rust model ([`mve`]) and the loops run the same
//! sequence of instructions.
//!
//! Every entry point takes arguments the portable kernel's checks already
//! accepted and returns `false` (nothing written) for parameters it does not
//! cover; what it computes is bit-identical to the portable kernel.
//!
//! # Convolution ([`conv_s8`])
//! As CMSIS-NN's MVE convolution: the accumulator `Σ w * (x - zp) + bias`
//! is formed as `Σ w * x + (bias - zp * Σ w)` (equal modulo 2^32, as the
//! portable kernel's `int32` arithmetic is), with `Σ w * x` by
//! `VMLADAVA.S8` (16 multiply-accumulates an instruction) on the raw int8
//! bytes, and padded taps read as the zero point (`zp * w - zp * w = 0`).
//! Blocks of four output pixels in raster order: each pixel's window
//! (`kh * kw * in_c` bytes in OHWI order, the weight row's layout) is copied
//! once into columns interleaved as `[k / 16][pixel][16 bytes]`; then for
//! every output channel one tail-predicated low-overhead loop (`WLSTP.8` /
//! `LETP`) reads the channel's weight row in place, 16 bytes an iteration,
//! and the four pixels' 16 bytes each, for four `VMLADAVA.S8`: ten
//! instructions per 64 multiply-accumulates. The last iteration's predicate
//! covers `k % 16` lanes, so a weight row is read exactly. The epilogue
//! works on the four accumulators at once: the DSP kernels' fast epilogue
//! (`ChanQ`, `fast_out` there) with `VRMULH.S32` for `SMMLAR`, `VSHL` for
//! the shift, `VMAX`/`VMIN` for the clamp and one scatter store
//! (`VSTRB.32`), with `bias - zp * Σ w` for the bias (the plan's weight sums
//! where given). Leftover pixels of a call (fewer than four) take a
//! one-pixel loop ([`block1`]) with the scalar epilogue; channels the fast
//! epilogue does not cover take [`requantize`] on the same accumulator.
//!
//! Covered: [`crate::dsp_select::helium_conv_covers`] (the rule the
//! converter writes the Helium table, `prepared::prepare_conv_mve`, by).
//!
//! # The other kernels
//! * Narrow pointwise ([`pointwise_narrow`], 4, 8 or 12 input channels):
//!   four output channels a vector, `VMLA` by one input byte at a time.
//! * Depthwise 3x3 ([`depthwise3x3`], channels a multiple of four): the
//!   three input rows a tile reads transposed once into `[group of 4
//!   channels][column][kernel row][4]`, every tap an immediate offset from a
//!   pixel's pointer, blocks of one to four pixels.
//! * ADD ([`add_tables`]): the DSP kernels' per-input tables read by
//!   `VLDRW` gathers, four elements a vector.
//! * Global average pooling ([`channel_sums`]): four channels a vector.

use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::{self, ChanQ, DwLayout};
use crate::quant::requantize;
use core::mem::MaybeUninit;

/// Output pixels per block.
const P: usize = 4;
// The longest window (`kh * kw * in_c`) covered: ResNet-8's 3x3x64.
pub(crate) use crate::dsp_select::MVE_MAX_K;
/// Output channels whose constants are derived at a time.
const BATCH: usize = 64;

/// The MVE instructions the kernels use: inline assembly on `attonet_mve`
/// builds (inside the kernels' loops), and a plain-Rust model of each for
/// the host tests, with the predication of a tail-predicated loop
/// (`WLSTP.8`/`LETP`: iteration `i` of a loop over `n` bytes has lanes
/// `0..min(16, n - 16 * i)` active; inactive lanes are not read and add
/// nothing).
#[cfg_attr(attonet_mve, allow(dead_code))]
pub(crate) mod mve {
    /// A `Q` register as 16 byte lanes.
    pub(crate) type Q8 = [i8; 16];

    /// `VLDRB.8 q, [p]` under a tail predicate of `active` lanes: the
    /// active bytes, zeros in the others (which are not read).
    ///
    /// # Safety
    /// `p` is valid for reads of `min(active, 16)` bytes.
    #[inline(always)]
    pub(crate) unsafe fn vldrb_8(p: *const i8, active: usize) -> Q8 {
        let mut q = [0i8; 16];
        for (i, v) in q.iter_mut().enumerate().take(active.min(16)) {
            // SAFETY: the caller's contract.
            *v = unsafe { *p.add(i) };
        }
        q
    }

    /// `VMLADAVA.S8 rda, qn, qm`: `rda` plus the sum of the 16 lane
    /// products of signed bytes (inactive lanes add nothing: their loaded
    /// values are zero in the model), wrapping in 32 bits.
    #[inline(always)]
    pub(crate) fn vmladava_s8(rda: i32, n: &Q8, m: &Q8) -> i32 {
        let s: i32 = n.iter().zip(m).map(|(&a, &b)| a as i32 * b as i32).sum();
        rda.wrapping_add(s)
    }

    /// A `Q` register as four 32-bit lanes.
    pub(crate) type Q32 = [i32; 4];

    /// `VSTRB.8 q, [p]`: the 16 bytes.
    ///
    /// # Safety
    /// `p` is valid for writes of 16 bytes.
    #[inline(always)]
    pub(crate) unsafe fn vstrb_8(q: Q8, p: *mut i8) {
        for (i, &v) in q.iter().enumerate() {
            // SAFETY: the caller's contract.
            unsafe { *p.add(i) = v };
        }
    }

    /// `VDUP.32 q, r`.
    pub(crate) fn vdup_32(r: i32) -> Q32 {
        [r; 4]
    }

    /// `VIDUP.U32 q, rn, #imm`: `rn + i * imm` in lane `i`.
    pub(crate) fn vidup_u32(rn: i32, imm: i32) -> Q32 {
        core::array::from_fn(|i| rn.wrapping_add(i as i32 * imm))
    }

    /// `VMOV q[2], q[0], ra, rb` (lane 0 = `ra`, lane 2 = `rb`: the first
    /// register goes to the lower lane, whatever the order of the lane
    /// operands) and `VMOV q[3], q[1], rc, rd`: four registers into the
    /// lanes, `r[i]` into lane `i`.
    pub(crate) fn vmov_lanes(r: [i32; 4]) -> Q32 {
        r
    }

    /// `VMUL.I32 q, q, r` (wrapping).
    pub(crate) fn vmul_i32_scalar(q: Q32, r: i32) -> Q32 {
        q.map(|v| v.wrapping_mul(r))
    }

    /// `VADD.I32 q, q, r` (wrapping).
    pub(crate) fn vadd_i32_scalar(q: Q32, r: i32) -> Q32 {
        q.map(|v| v.wrapping_add(r))
    }

    /// `VADD.I32 q, a, b` (wrapping).
    pub(crate) fn vadd_i32(a: Q32, b: Q32) -> Q32 {
        core::array::from_fn(|i| a[i].wrapping_add(b[i]))
    }

    /// `VSHR.S32 q, a, #n` (arithmetic, `1 <= n <= 32`).
    pub(crate) fn vshr_s32(a: Q32, n: u32) -> Q32 {
        a.map(|v| ((v as i64) >> n) as i32)
    }

    /// `VRMULH.S32 q, a, b`: `(a * b + 2^31) >> 32` per lane, the rounded
    /// high word of the 64-bit product.
    pub(crate) fn vrmulh_s32(a: Q32, b: Q32) -> Q32 {
        core::array::from_fn(|i| ((a[i] as i64 * b[i] as i64 + (1 << 31)) >> 32) as i32)
    }

    /// `VSHL.S32 q, r`: each lane shifted left by the signed low byte of
    /// `r`, right (arithmetic, truncating) where it is negative.
    pub(crate) fn vshl_s32_reg(a: Q32, r: i32) -> Q32 {
        let n = r as i8 as i32;
        a.map(|v| {
            if n >= 0 {
                if n >= 32 {
                    0
                } else {
                    v.wrapping_shl(n as u32)
                }
            } else {
                ((v as i64) >> (-n).min(32)) as i32
            }
        })
    }

    /// `VMAX.S32 q, a, b`.
    pub(crate) fn vmax_s32(a: Q32, b: Q32) -> Q32 {
        core::array::from_fn(|i| a[i].max(b[i]))
    }

    /// `VMIN.S32 q, a, b`.
    pub(crate) fn vmin_s32(a: Q32, b: Q32) -> Q32 {
        core::array::from_fn(|i| a[i].min(b[i]))
    }

    /// `VSTRB.32 q, [p, offsets]`: the low byte of lane `i` to `p +
    /// offsets[i]`.
    ///
    /// # Safety
    /// Each `p + offsets[i]` is valid for a write of one byte.
    pub(crate) unsafe fn vstrb_32_scatter(q: Q32, p: *mut i8, offsets: Q32) {
        for i in 0..4 {
            // SAFETY: the caller's contract.
            unsafe { *p.add(offsets[i] as u32 as usize) = q[i] as i8 };
        }
    }

    /// `VLDRB.S32 q, [p, offsets]`: the signed byte at `p + offsets[i]` in
    /// lane `i` (also the contiguous `VLDRB.S32 q, [p]` with offsets `[0, 1,
    /// 2, 3]`).
    ///
    /// # Safety
    /// Each `p + offsets[i]` is readable.
    pub(crate) unsafe fn vldrb_s32_gather(p: *const i8, offsets: Q32) -> Q32 {
        // SAFETY: the caller's contract.
        core::array::from_fn(|i| unsafe { *p.offset(offsets[i] as isize) } as i32)
    }

    /// `VLDRW.U32 q, [p, offsets]` (byte offsets, here multiples of four:
    /// `p` is a word pointer, `offsets[i] / 4` words on).
    ///
    /// # Safety
    /// Each `p + offsets[i] / 4` is readable.
    pub(crate) unsafe fn vldrw_u32_gather(p: *const i32, offsets: Q32) -> Q32 {
        // SAFETY: the caller's contract.
        core::array::from_fn(|i| unsafe { *p.offset(offsets[i] as isize / 4) })
    }

    /// `VMUL.I32 q, a, b` (wrapping).
    pub(crate) fn vmul_i32(a: Q32, b: Q32) -> Q32 {
        core::array::from_fn(|i| a[i].wrapping_mul(b[i]))
    }

    /// `VNEG.S32 q, a` (wrapping).
    pub(crate) fn vneg_s32(a: Q32) -> Q32 {
        a.map(i32::wrapping_neg)
    }

    /// `VSHL.S32 q, a, b`: lane `i` of `a` shifted by the signed low byte
    /// of lane `i` of `b` (as [`vshl_s32_reg`]).
    pub(crate) fn vshl_s32_vec(a: Q32, b: Q32) -> Q32 {
        core::array::from_fn(|i| vshl_s32_reg([a[i]; 4], b[i])[0])
    }

    /// `VADDVA.S8 rda, qm`: `rda` plus the sum of the 16 signed bytes.
    #[inline(always)]
    pub(crate) fn vaddva_s8(rda: i32, m: &Q8) -> i32 {
        rda.wrapping_add(m.iter().map(|&a| a as i32).sum::<i32>())
    }
}

/// `acc + Σ w[0..k]`: one tail-predicated loop of `VLDRB.8` and
/// `VADDVA.S8`.
///
/// # Safety
/// `w` is valid for reads of `k` bytes.
#[inline(always)]
unsafe fn row_sum(w: *const i8, k: usize, acc: i32) -> i32 {
    #[cfg(attonet_mve)]
    {
        let mut acc = acc;
        // SAFETY: the loop reads `k` bytes from `w` (the tail predicate
        // covers the last `k % 16`); registers and flags only otherwise.
        unsafe {
            core::arch::asm!(
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vaddva.s8 r0, q0",
                "letp lr, 1b",
                "2:",
                w = inout(reg) w => _,
                k = in(reg) k,
                inout("r0") acc,
                out("lr") _,
                out("q0") _,
                options(nostack, readonly),
            );
        }
        acc
    }
    #[cfg(not(attonet_mve))]
    {
        let mut acc = acc;
        let mut i = 0;
        while i < k {
            // SAFETY: `i < k` bytes, the caller's contract.
            let q = unsafe { mve::vldrb_8(w.add(i), k - i) };
            acc = mve::vaddva_s8(acc, &q);
            i += 16;
        }
        acc
    }
}

/// The four pixels' accumulators `acc[p] + Σ_t w[t] * x_p[t]` over `k`
/// bytes, pixel `p`'s byte `t` at `cols[(t / 16) * 64 + p * 16 + t % 16]`:
/// per 16 bytes one weight load, four column loads, four `VMLADAVA.S8`
/// (the loop of [`block`]; here for the channels the fast epilogue does
/// not cover).
///
/// # Safety
/// `w` is valid for reads of `k` bytes, `cols` for `64 * ceil(k / 16)`.
#[inline(never)]
unsafe fn dot4(w: *const i8, cols: *const i8, k: usize, acc: [i32; 4]) -> [i32; 4] {
    #[cfg(attonet_mve)]
    {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: the loop reads `k` bytes from `w` and 16 bytes of each
        // pixel per iteration from `cols` (the caller's bounds); the tail
        // predicate limits the last iteration to `k % 16` lanes. Registers
        // only otherwise (q4 is callee-saved: declared, so saved by the
        // compiler).
        unsafe {
            core::arch::asm!(
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vldrb.8 q1, [{c}, #16]",
                "vldrb.8 q2, [{c}, #32]",
                "vldrb.8 q3, [{c}, #48]",
                "vldrb.8 q4, [{c}], #64",
                "vmladava.s8 r0, q0, q4",
                "vmladava.s8 r2, q0, q1",
                "vmladava.s8 r4, q0, q2",
                "vmladava.s8 r8, q0, q3",
                "letp lr, 1b",
                "2:",
                w = inout(reg) w => _,
                c = inout(reg) cols => _,
                k = in(reg) k,
                inout("r0") a0,
                inout("r2") a1,
                inout("r4") a2,
                inout("r8") a3,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                out("q4") _,
                options(nostack, readonly),
            );
        }
        [a0, a1, a2, a3]
    }
    #[cfg(not(attonet_mve))]
    {
        let mut acc = acc;
        let (mut w, mut c) = (w, cols);
        let mut left = k;
        while left > 0 {
            // SAFETY: the caller's bounds; an iteration reads `min(left, 16)`
            // bytes of `w` and of each pixel's 16.
            unsafe {
                let q0 = mve::vldrb_8(w, left);
                for (p, a) in acc.iter_mut().enumerate() {
                    let x = mve::vldrb_8(c.add(16 * p), left);
                    *a = mve::vmladava_s8(*a, &q0, &x);
                }
                w = w.wrapping_add(16);
                c = c.wrapping_add(64);
            }
            left = left.saturating_sub(16);
        }
        acc
    }
}

/// One output channel's constants for a call, read by [`block`]'s assembly:
/// the fast epilogue's ([`ChanQ`]) with the input zero point folded into the
/// bias and the shift negated; all but the bias zero for a channel the fast
/// epilogue does not cover (its outputs are recomputed exactly).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Chan {
    /// 0: `bias - zp * Σ w`, the accumulators' start.
    bias: i32,
    /// 4: the Q31 multiplier.
    mult: i32,
    /// 8: `2^(e-1) + zp_out * 2^e`.
    c0: i32,
    /// 12: `-e`, the arithmetic right shift as `VSHL`'s count.
    neg_e: i32,
}

// SAFETY: four `i32`s, `repr(C)`: no padding, every bit pattern valid (the
// converter's Helium table, `prepared::prepare_conv_mve`, is read as them).
unsafe impl bytemuck::Zeroable for Chan {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for Chan {}

/// A convolution's per-channel constants as a call finds them.
#[derive(Clone, Copy)]
enum Consts<'a> {
    /// The converter's Helium table ([`prepared::prepare_conv_mve`]): read
    /// in place; whether some channel is outside the fast epilogue.
    Ready(&'a [Chan], bool),
    /// The DSP kernels' table ([`prepared::prepare_conv`]) or none, and
    /// the plan's weight sums (or none): derived per call.
    Derive(Option<&'a [ChanQ]>),
}

/// One call of [`block`]; offsets as its assembly reads them.
#[repr(C)]
struct Run {
    /// 0: the columns (`[k / 16][P][16]` bytes).
    cols: *const i8,
    /// 4: window length.
    k: usize,
    /// 8: one past the last channel's constants.
    tab_end: *const Chan,
    /// 12, 16: the clamp.
    lo: i32,
    hi: i32,
    /// 20: bytes between consecutive pixels' outputs.
    ostride: usize,
    /// 24: `k - 16 * ceil(k / 16)`: added to the weight pointer after a
    /// channel's loop (which steps 16 bytes an iteration) for the next row.
    wadj: isize,
}

/// For each channel `tab..run.tab_end` (at least one), weight rows from
/// `w` (`k` bytes each, consecutive): the four pixels' accumulators from the
/// channel's bias, `Σ w * x` over the columns ([`dot4`]'s loop), then the
/// fast epilogue on all four at once (`VMOV` into one vector; `VSHR`,
/// `VADD` for `c0 - [acc < 0]`; `VADD` doubling, `VRMULH` the rounded high
/// word, which is `SMMLAR` without its accumulator, `VADD` it; `VSHL` by
/// `-e`; `VMAX`/`VMIN` to the clamp) and a scatter store (`VSTRB.32` with
/// offsets `p * ostride`) to `out + p * ostride`; `out += 1`.
///
/// `ADJ` (for `k` not a multiple of 16) adds `run.wadj` to the weight
/// pointer after each channel's loop, which steps whole 16-byte vectors.
///
/// # Safety
/// `tab < run.tab_end`, both in one table; `w` has `k` readable bytes per
/// channel; `run.cols` `64 * k / 16` readable bytes; `out + c + p *
/// ostride` is writable for every channel `c` and pixel `p < 4`.
#[inline(always)]
unsafe fn block<const ADJ: bool>(run: &Run, tab: *const Chan, w: *const i8, out: *mut i8) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; everything the assembly writes besides
    // the outputs is declared (q4..q7 are callee-saved: the compiler saves
    // them).
    unsafe {
        if ADJ {
            core::arch::asm!(
                "ldrd  {c}, {k}, [{b}, #12]",
                "vdup.32 q5, {c}",
                "vdup.32 q6, {k}",
                "movs  r0, #0",
                "vidup.u32 q7, r0, #1",
                "ldr   {c}, [{b}, #20]",
                "vmul.i32 q7, q7, {c}",
                "3:",
                "ldr   r0, [{tab}]",
                "mov   r2, r0",
                "mov   r4, r0",
                "mov   r8, r0",
                "ldrd  {c}, {k}, [{b}]",
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vldrb.8 q1, [{c}, #16]",
                "vldrb.8 q2, [{c}, #32]",
                "vldrb.8 q3, [{c}, #48]",
                "vldrb.8 q4, [{c}], #64",
                "vmladava.s8 r0, q0, q4",
                "vmladava.s8 r2, q0, q1",
                "vmladava.s8 r4, q0, q2",
                "vmladava.s8 r8, q0, q3",
                "letp  lr, 1b",
                "2:",
                "ldr   {c}, [{b}, #24]",
                "add   {w}, {c}",
                "vmov  q0[2], q0[0], r0, r4",
                "vmov  q0[3], q0[1], r2, r8",
                "ldrd  {c}, {k}, [{tab}, #4]",
                "vshr.s32 q1, q0, #31",
                "vadd.i32 q1, q1, {k}",
                "vadd.i32 q0, q0, q0",
                "vdup.32 q2, {c}",
                "ldr   {k}, [{tab}, #12]",
                "adds  {tab}, #16",
                "vrmulh.s32 q0, q0, q2",
                "vadd.i32 q0, q0, q1",
                "vshl.s32 q0, {k}",
                "vmax.s32 q0, q0, q5",
                "vmin.s32 q0, q0, q6",
                "vstrb.32 q0, [{out}, q7]",
                "adds  {out}, #1",
                "ldr   {c}, [{b}, #8]",
                "cmp   {tab}, {c}",
                "bne   3b",
                b = in(reg) run as *const Run,
                tab = inout(reg) tab => _,
                w = inout(reg) w => _,
                out = inout(reg) out => _,
                c = out(reg) _,
                k = out(reg) _,
                out("r0") _,
                out("r2") _,
                out("r4") _,
                out("r8") _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                out("q4") _,
                out("q5") _,
                out("q6") _,
                out("q7") _,
                options(nostack),
            );
        } else {
            core::arch::asm!(
                "ldrd  {c}, {k}, [{b}, #12]",
                "vdup.32 q5, {c}",
                "vdup.32 q6, {k}",
                "movs  r0, #0",
                "vidup.u32 q7, r0, #1",
                "ldr   {c}, [{b}, #20]",
                "vmul.i32 q7, q7, {c}",
                "3:",
                "ldr   r0, [{tab}]",
                "mov   r2, r0",
                "mov   r4, r0",
                "mov   r8, r0",
                "ldrd  {c}, {k}, [{b}]",
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vldrb.8 q1, [{c}, #16]",
                "vldrb.8 q2, [{c}, #32]",
                "vldrb.8 q3, [{c}, #48]",
                "vldrb.8 q4, [{c}], #64",
                "vmladava.s8 r0, q0, q4",
                "vmladava.s8 r2, q0, q1",
                "vmladava.s8 r4, q0, q2",
                "vmladava.s8 r8, q0, q3",
                "letp  lr, 1b",
                "2:",
                "vmov  q0[2], q0[0], r0, r4",
                "vmov  q0[3], q0[1], r2, r8",
                "ldrd  {c}, {k}, [{tab}, #4]",
                "vshr.s32 q1, q0, #31",
                "vadd.i32 q1, q1, {k}",
                "vadd.i32 q0, q0, q0",
                "vdup.32 q2, {c}",
                "ldr   {k}, [{tab}, #12]",
                "adds  {tab}, #16",
                "vrmulh.s32 q0, q0, q2",
                "vadd.i32 q0, q0, q1",
                "vshl.s32 q0, {k}",
                "vmax.s32 q0, q0, q5",
                "vmin.s32 q0, q0, q6",
                "vstrb.32 q0, [{out}, q7]",
                "adds  {out}, #1",
                "ldr   {c}, [{b}, #8]",
                "cmp   {tab}, {c}",
                "bne   3b",
                b = in(reg) run as *const Run,
                tab = inout(reg) tab => _,
                w = inout(reg) w => _,
                out = inout(reg) out => _,
                c = out(reg) _,
                k = out(reg) _,
                out("r0") _,
                out("r2") _,
                out("r4") _,
                out("r8") _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                out("q4") _,
                out("q5") _,
                out("q6") _,
                out("q7") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_mve))]
    // SAFETY: the caller's contract; the same instructions, modelled.
    unsafe {
        use mve::*;
        let q5 = vdup_32(run.lo);
        let q6 = vdup_32(run.hi);
        let q7 = vmul_i32_scalar(vidup_u32(0, 1), run.ostride as i32);
        let (mut tab, mut w, mut out) = (tab, w, out);
        loop {
            let t = &*tab;
            let acc = dot4(w, run.cols, run.k, [t.bias; 4]);
            w = w
                .wrapping_add(16 * run.k.div_ceil(16))
                .wrapping_offset(run.wadj);
            let q0 = vmov_lanes(acc);
            let q1 = vadd_i32_scalar(vshr_s32(q0, 31), t.c0);
            let q0 = vadd_i32(q0, q0);
            let q0 = vrmulh_s32(q0, vdup_32(t.mult));
            let q0 = vadd_i32(q0, q1);
            let q0 = vshl_s32_reg(q0, t.neg_e);
            let q0 = vmin_s32(vmax_s32(q0, q5), q6);
            vstrb_32_scatter(q0, out, q7);
            out = out.wrapping_add(1);
            tab = tab.wrapping_add(1);
            if tab == run.tab_end {
                break;
            }
        }
    }
}

/// [`block`] for one pixel (the last pixels of a call that do not fill a
/// block of four): its columns at `run.cols` (slot `s` of the block's,
/// 64 bytes a chunk), per channel one `VLDRB.8` pair and one `VMLADAVA.S8`
/// per 16 bytes, then the DSP kernels' scalar fast epilogue (`SUB`, `ADD`,
/// `SMMLAR`, `ASR`, `SSAT`) saturated to `i8` (the caller applies a
/// narrower clamp) and stored to `out`, `out += 1`.
///
/// # Safety
/// As [`block`], with the outputs `out + c` for every channel `c`.
#[inline(always)]
unsafe fn block1<const ADJ: bool>(run: &Run, tab: *const Chan, w: *const i8, out: *mut i8) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; everything the assembly writes besides
    // the outputs is declared.
    unsafe {
        if ADJ {
            core::arch::asm!(
                "3:",
                "ldr   r0, [{tab}]",
                "ldrd  {c}, {k}, [{b}]",
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vldrb.8 q1, [{c}], #64",
                "vmladava.s8 r0, q0, q1",
                "letp  lr, 1b",
                "2:",
                "ldr   {c}, [{b}, #24]",
                "add   {w}, {c}",
                "ldrd  {c}, {k}, [{tab}, #4]",
                "sub   {k}, {k}, r0, lsr #31",
                "add   r0, r0, r0",
                "smmlar r0, r0, {c}, {k}",
                "ldr   {c}, [{tab}, #12]",
                "rsbs  {c}, {c}, #0",
                "asrs  r0, r0, {c}",
                "ssat  r0, #8, r0",
                "strb  r0, [{out}], #1",
                "adds  {tab}, #16",
                "ldr   {c}, [{b}, #8]",
                "cmp   {tab}, {c}",
                "bne   3b",
                b = in(reg) run as *const Run,
                tab = inout(reg) tab => _,
                w = inout(reg) w => _,
                out = inout(reg) out => _,
                c = out(reg) _,
                k = out(reg) _,
                out("r0") _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(nostack),
            );
        } else {
            core::arch::asm!(
                "3:",
                "ldr   r0, [{tab}]",
                "ldrd  {c}, {k}, [{b}]",
                "wlstp.8 lr, {k}, 2f",
                "1:",
                "vldrb.8 q0, [{w}], #16",
                "vldrb.8 q1, [{c}], #64",
                "vmladava.s8 r0, q0, q1",
                "letp  lr, 1b",
                "2:",
                "ldrd  {c}, {k}, [{tab}, #4]",
                "sub   {k}, {k}, r0, lsr #31",
                "add   r0, r0, r0",
                "smmlar r0, r0, {c}, {k}",
                "ldr   {c}, [{tab}, #12]",
                "rsbs  {c}, {c}, #0",
                "asrs  r0, r0, {c}",
                "ssat  r0, #8, r0",
                "strb  r0, [{out}], #1",
                "adds  {tab}, #16",
                "ldr   {c}, [{b}, #8]",
                "cmp   {tab}, {c}",
                "bne   3b",
                b = in(reg) run as *const Run,
                tab = inout(reg) tab => _,
                w = inout(reg) w => _,
                out = inout(reg) out => _,
                c = out(reg) _,
                k = out(reg) _,
                out("r0") _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(attonet_mve))]
    // SAFETY: the caller's contract; the same instructions, modelled.
    unsafe {
        use super::dsp_prims::{asr_reg, smmlar, ssat8};
        let (mut tab, mut w, mut out) = (tab, w, out);
        loop {
            let t = &*tab;
            let mut acc = t.bias;
            let mut left = run.k;
            let c = run.cols;
            let mut i = 0;
            while left > 0 {
                let q0 = mve::vldrb_8(w.add(16 * i), left);
                let q1 = mve::vldrb_8(c.add(64 * i), left);
                acc = mve::vmladava_s8(acc, &q0, &q1);
                left = left.saturating_sub(16);
                i += 1;
            }
            w = w
                .wrapping_add(16 * run.k.div_ceil(16))
                .wrapping_offset(run.wadj);
            let tt = t.c0.wrapping_sub(((acc as u32) >> 31) as i32);
            let v = ssat8(asr_reg(
                smmlar(acc.wrapping_add(acc), t.mult, tt),
                t.neg_e.wrapping_neg() as u32,
            ));
            *out = v as i8;
            out = out.wrapping_add(1);
            tab = tab.wrapping_add(1);
            if tab == run.tab_end {
                break;
            }
        }
    }
}

/// Copies `n` 16-byte chunks from `src` (consecutive) to `dst` (64 bytes
/// apart): `VLDRB.8`, `VSTRB.8` under a low-overhead loop.
///
/// # Safety
/// `src` readable for `16 * n` bytes; `dst + 64 * i` writable for 16 bytes,
/// `i < n`.
#[inline(always)]
unsafe fn copy_chunks(dst: *mut i8, src: *const i8, n: usize) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; registers otherwise.
    unsafe {
        core::arch::asm!(
            "wls   lr, {n}, 2f",
            "1:",
            "vldrb.8 q0, [{s}], #16",
            "vstrb.8 q0, [{d}], #64",
            "le    lr, 1b",
            "2:",
            d = inout(reg) dst => _,
            s = inout(reg) src => _,
            n = in(reg) n,
            out("lr") _,
            out("q0") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    for i in 0..n {
        // SAFETY: the caller's contract.
        unsafe {
            let q = mve::vldrb_8(src.add(16 * i), 16);
            mve::vstrb_8(q, dst.add(64 * i));
        }
    }
}

/// Fills `n` 16-byte chunks at `dst` (64 bytes apart) with `v`.
///
/// # Safety
/// `dst + 64 * i` writable for 16 bytes, `i < n`.
#[inline(always)]
unsafe fn fill_chunks(dst: *mut i8, v: i8, n: usize) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; registers otherwise.
    unsafe {
        core::arch::asm!(
            "vdup.8 q0, {v}",
            "wls   lr, {n}, 2f",
            "1:",
            "vstrb.8 q0, [{d}], #64",
            "le    lr, 1b",
            "2:",
            d = inout(reg) dst => _,
            v = in(reg) v as i32,
            n = in(reg) n,
            out("lr") _,
            out("q0") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    for i in 0..n {
        // SAFETY: the caller's contract.
        unsafe { mve::vstrb_8([v; 16], dst.add(64 * i)) };
    }
}

/// Whether [`conv_s8`] takes a convolution with these parameters
/// ([`crate::dsp_select::helium_conv_covers`], the rule the converter
/// links kernels by).
pub(crate) fn conv_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    crate::dsp_select::helium_conv_covers(p, in_shape, out_shape)
}

/// The convolution through [`block`] (see the module documentation), for
/// arguments [`check_conv_args`](crate::ops::conv::check_conv_args)
/// accepted; `sums` is each output channel's `Σ w` (the plan's
/// `weight_sums`) or empty (then summed here), `prepared` the converter's
/// table of the epilogue constants ([`prepared::prepare_conv`]) or empty.
/// `wide`: windows past [`MVE_MAX_K`] are taken in slices (`wide.rs`,
/// where the kernel set links [`CONV_WIDE`](crate::plan::kernels::CONV_WIDE)).
/// Returns `false`, nothing written, where neither [`conv_covers`] nor
/// (with `wide`) [`crate::dsp_select::helium_wide_covers`] holds.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_s8(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
    wide: bool,
) -> bool {
    let covered = conv_covers(p, in_shape, out_shape);
    let sliced = wide && crate::dsp_select::helium_wide_covers(p, in_shape, out_shape);
    if !(covered || sliced) {
        return false;
    }
    let oc = out_shape.c as usize;
    let ready = match prepared.split_at_checked(4) {
        Some((head, chans)) if prepared.len() == prepared::conv_mve_len(oc) => {
            bytemuck::try_cast_slice(chans)
                .ok()
                .map(|t| Consts::Ready(t, head[0] != 0))
        }
        _ => None,
    };
    let pre = ready.unwrap_or_else(|| {
        Consts::Derive(
            (prepared.len() == prepared::conv_len(oc))
                .then(|| bytemuck::try_cast_slice(prepared).ok())
                .flatten(),
        )
    });
    if !covered {
        return wide::conv_wide(p, in_shape, input, weights, sums, pre, out_shape, output);
    }
    if narrow_covers(p, in_shape, out_shape) {
        pointwise_narrow(p, in_shape, input, weights, sums, pre, out_shape, output);
        return true;
    }
    // Whole 16-byte taps (one group, input channels a multiple of 16):
    // the simpler gather, compiled apart.
    if p.groups == 1 && in_shape.c % 16 == 0 {
        conv_blocks::<true>(p, in_shape, input, weights, sums, pre, out_shape, output);
    } else {
        conv_blocks::<false>(p, in_shape, input, weights, sums, pre, out_shape, output);
    }
    true
}

mod wide;

/// Bytes of one block's columns: `P` pixels' windows, interleaved by 16
/// bytes.
const COLS: usize = P * MVE_MAX_K;

/// Columns storage.
#[repr(C, align(16))]
struct Cols([i8; COLS]);

/// Copies `n <= 16` bytes from `src` to `dst`: `VCTP.8` then a predicated
/// `VLDRB.8`/`VSTRB.8` pair (inactive lanes neither read nor written).
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes.
#[inline(always)]
unsafe fn copy_part(dst: *mut i8, src: *const i8, n: usize) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; registers and flags otherwise.
    unsafe {
        core::arch::asm!(
            "vctp.8 {n}",
            "vpstt",
            "vldrbt.u8 q0, [{s}]",
            "vstrbt.8 q0, [{d}]",
            d = in(reg) dst,
            s = in(reg) src,
            n = in(reg) n,
            out("q0") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    // SAFETY: the caller's contract.
    unsafe {
        let q = mve::vldrb_8(src, n);
        for (i, &v) in q.iter().enumerate().take(n.min(16)) {
            *dst.add(i) = v;
        }
    }
}

/// Writes `v` to `n <= 16` bytes at `dst`: `VDUP.8`, `VCTP.8`, a
/// predicated `VSTRB.8`.
///
/// # Safety
/// `dst` writable for `n` bytes.
#[inline(always)]
unsafe fn fill_part(dst: *mut i8, v: i8, n: usize) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; registers and flags otherwise.
    unsafe {
        core::arch::asm!(
            "vdup.8 q0, {v}",
            "vctp.8 {n}",
            "vpst",
            "vstrbt.8 q0, [{d}]",
            d = in(reg) dst,
            v = in(reg) v as i32,
            n = in(reg) n,
            out("q0") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    for i in 0..n.min(16) {
        // SAFETY: the caller's contract.
        unsafe { *dst.add(i) = v };
    }
}

/// Where the next window byte of one slot of the columns goes: byte `t` of
/// the window at `slot + (t / 16) * 64 + t % 16`.
struct Put {
    /// The slot's first byte (`cols + 16 * s`).
    slot: *mut i8,
    /// Window bytes written so far.
    t: usize,
}

impl Put {
    /// Appends `n` bytes from `src` (`None`: `n` copies of `zp`): whole
    /// 16-byte chunks as such ([`copy_chunks`], [`fill_chunks`]) where the
    /// window position is chunk-aligned, else pieces up to the next chunk
    /// ([`copy_part`], [`fill_part`]).
    ///
    /// # Safety
    /// `src` readable for `n` bytes; the slot's chunks up to window byte `t
    /// + n` writable.
    #[inline(always)]
    unsafe fn put(&mut self, src: Option<*const i8>, zp: i8, n: usize) {
        let mut n = n;
        let mut src = src;
        // SAFETY (all below): the caller's contract, piece by piece.
        unsafe {
            while n > 0 {
                let o = self.t % 16;
                let dst = self.slot.add((self.t / 16) * 64 + o);
                let m = if o == 0 && n >= 16 {
                    let c = n / 16;
                    match src {
                        Some(s) => copy_chunks(dst, s, c),
                        None => fill_chunks(dst, zp, c),
                    }
                    16 * c
                } else {
                    let m = (16 - o).min(n);
                    match src {
                        Some(s) => copy_part(dst, s, m),
                        None => fill_part(dst, zp, m),
                    }
                    m
                };
                self.t += m;
                n -= m;
                src = src.map(|s| s.add(m));
            }
        }
    }
}

/// Copies group `g`'s window of output pixel `(oy, ox)` into slot `s` of
/// the columns at `cols` (window byte `t` at `cols + (t / 16) * 64 + s *
/// 16 + t % 16`; `kh * kw * cpg` bytes, taps in OHWI order), padded taps
/// as the zero point.
///
/// # Safety
/// `cols` is writable for `P * MVE_MAX_K` bytes and the window is at most
/// [`MVE_MAX_K`] bytes; `input` holds the input (`check_conv_args`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gather(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    cols: *mut i8,
    s: usize,
    g: usize,
    oy: usize,
    ox: usize,
    zp: i8,
) {
    let w = &p.window;
    let (ih, iw, ic) = (
        in_shape.h as isize,
        in_shape.w as isize,
        in_shape.c as usize,
    );
    let cpg = ic / p.groups as usize;
    let (kh, kw) = (w.kh as isize, w.kw as isize);
    let (dh, dw) = (w.dilation_h as isize, w.dilation_w as isize);
    let iy0 = oy as isize * w.stride_h as isize - w.pad_top as isize;
    let ix0 = ox as isize * w.stride_w as isize - w.pad_left as isize;
    // SAFETY (all the pointer arithmetic below): a tap inside the input
    // reads its group's `cpg` bytes at `((iy * iw + ix) * ic + g * cpg)`,
    // within `input` (a whole kernel row of `kw * ic` bytes where there is
    // one group); the window's `kh * kw * cpg <= MVE_MAX_K` bytes go to
    // slot `s`, within the caller's `P * MVE_MAX_K` bytes.
    let x = unsafe { input.as_ptr().add(g * cpg) };
    let mut put = Put {
        slot: unsafe { cols.add(s * 16) },
        t: 0,
    };
    let inside_x = ix0 >= 0 && ix0 + (kw - 1) * dw < iw;
    let row_run = inside_x && dw == 1 && cpg == ic;
    for ky in 0..kh {
        let iy = iy0 + ky * dh;
        let row_in = (0..ih).contains(&iy);
        if row_in && row_run {
            unsafe {
                put.put(
                    Some(x.add((iy * iw + ix0) as usize * ic)),
                    zp,
                    kw as usize * ic,
                )
            };
            continue;
        }
        if !row_in {
            unsafe { put.put(None, zp, kw as usize * cpg) };
            continue;
        }
        for kx in 0..kw {
            let ix = ix0 + kx * dw;
            unsafe {
                if (0..iw).contains(&ix) {
                    put.put(Some(x.add((iy * iw + ix) as usize * ic)), zp, cpg);
                } else {
                    put.put(None, zp, cpg);
                }
            }
        }
    }
}

/// [`gather`] for one group and input channels a multiple of 16 (each
/// tap whole chunks): copies the window of output pixel `(oy, ox)` into slot `s` of the
/// columns at `cols` (16-byte chunk `j` of the window at `cols + j * 64 + s
/// * 16`), padded taps as the zero point. `in_c` is a multiple of 16.
///
/// # Safety
/// `cols` is writable for `P * k` bytes; `input` holds the input
/// (`check_conv_args`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gather16(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    cols: *mut i8,
    s: usize,
    oy: usize,
    ox: usize,
    zp: i8,
) {
    let w = &p.window;
    let (ih, iw, ic) = (
        in_shape.h as isize,
        in_shape.w as isize,
        in_shape.c as usize,
    );
    let (kh, kw) = (w.kh as isize, w.kw as isize);
    let (dh, dw) = (w.dilation_h as isize, w.dilation_w as isize);
    let iy0 = oy as isize * w.stride_h as isize - w.pad_top as isize;
    let ix0 = ox as isize * w.stride_w as isize - w.pad_left as isize;
    let per_tap = ic / 16;
    let x = input.as_ptr();
    // SAFETY (all the pointer arithmetic below): a tap inside the input reads
    // its `ic` bytes at `((iy * iw + ix) * ic)`, within `input`; chunk `j <
    // k / 16` of slot `s` is written at `j * 64 + s * 16`, within the
    // caller's `P * k` bytes. The pointers step past a run with
    // `wrapping_add` (after the last chunk they point past the buffer and
    // are not used: found by Miri).
    let mut dst = unsafe { cols.add(s * 16) };
    let inside_x = ix0 >= 0 && ix0 + (kw - 1) * dw < iw;
    for ky in 0..kh {
        let iy = iy0 + ky * dh;
        let row_in = (0..ih).contains(&iy);
        if row_in && inside_x && dw == 1 {
            // The kernel row is one run of `kw * ic` input bytes.
            let n = kw as usize * per_tap;
            unsafe {
                copy_chunks(dst, x.add((iy * iw + ix0) as usize * ic), n);
                dst = dst.wrapping_add(64 * n);
            }
            continue;
        }
        for kx in 0..kw {
            let ix = ix0 + kx * dw;
            unsafe {
                if row_in && (0..iw).contains(&ix) {
                    copy_chunks(dst, x.add((iy * iw + ix) as usize * ic), per_tap);
                } else {
                    fill_chunks(dst, zp, per_tap);
                }
                dst = dst.wrapping_add(64 * per_tap);
            }
        }
    }
}

/// The per-channel constants of output channels `oc0..oc0 + nb` (of
/// `oc_n`) for one call, and the mask of those the fast epilogue does not
/// cover: the converter's Helium table read in place, or derived into
/// `buf` from the DSP kernels' table or the plain tables (`k` a channel's
/// window length, `zp` the input zero point, `limits` the fast epilogue's).
/// The tables as [`check_conv_args`](crate::ops::conv::check_conv_args)
/// accepted them; `nb <= BATCH`.
#[inline(always)]
fn chans<'a>(
    pre: Consts<'a>,
    weights: &ConvWeights<'_>,
    sums: &[i32],
    (oc0, nb, oc_n): (usize, usize, usize),
    (k, zp, limits): (usize, i32, (i32, u32)),
    buf: &'a mut MaybeUninit<[Chan; BATCH]>,
) -> (&'a [Chan], u64) {
    let filter = weights.filter;
    let nb = nb.min(BATCH);
    let tab_ptr = buf.as_mut_ptr() as *mut Chan;
    let mut slow = 0u64;
    // The plan's constants and weight sums: a tight loop (this runs
    // on every call, and a fused block calls once a row).
    let ready = match pre {
        Consts::Ready(t, any_slow) => {
            let t = &t[oc0..oc0 + nb];
            if any_slow {
                for (i, c) in t.iter().enumerate() {
                    if c.mult == 0 {
                        slow |= 1 << i;
                    }
                }
            }
            Some(t)
        }
        Consts::Derive(_) => None,
    };
    match pre {
        Consts::Ready(..) => {}
        Consts::Derive(Some(pre)) if sums.len() == oc_n => {
            let (pre, sums) = (&pre[oc0..oc0 + nb], &sums[oc0..oc0 + nb]);
            let bias = &weights.bias[oc0..oc0 + nb];
            for (i, ((c, &sw), &b)) in pre.iter().zip(sums).zip(bias).enumerate() {
                if c.mult == 0 {
                    slow |= 1 << i;
                }
                // SAFETY: `i < nb <= BATCH`, within the buffer. A slow
                // channel's constants are zeros (`ChanQ::SLOW`).
                unsafe {
                    tab_ptr.add(i).write(Chan {
                        bias: b.wrapping_sub(zp.wrapping_mul(sw)),
                        mult: c.mult,
                        c0: c.c0,
                        neg_e: -(c.e as i32),
                    })
                };
            }
        }
        Consts::Derive(pre) => {
            for i in 0..nb {
                let oc = oc0 + i;
                let c = match pre {
                    Some(pre) => Some(pre[oc]).filter(|c| c.mult != 0),
                    None => ChanQ::within(
                        weights.bias[oc],
                        weights.multiplier[oc],
                        weights.shift[oc],
                        limits,
                    ),
                };
                let sw = match sums.get(oc) {
                    Some(&sw) if sums.len() == oc_n => sw,
                    // SAFETY: row `oc` of the filter is `k` bytes
                    // (`check_conv_args`).
                    _ => unsafe { row_sum(filter[oc * k..][..k].as_ptr(), k, 0) },
                };
                let bias = weights.bias[oc].wrapping_sub(zp.wrapping_mul(sw));
                let t = match c {
                    Some(c) => Chan {
                        bias,
                        mult: c.mult,
                        c0: c.c0,
                        neg_e: -(c.e as i32),
                    },
                    None => {
                        slow |= 1 << i;
                        Chan {
                            bias,
                            mult: 0,
                            c0: 0,
                            neg_e: 0,
                        }
                    }
                };
                // SAFETY: `i < nb <= BATCH`, within the buffer.
                unsafe { tab_ptr.add(i).write(t) };
            }
        }
    }
    // SAFETY: the first `nb` channels were written just above
    // (where not read in place).
    let tab =
        ready.unwrap_or_else(|| unsafe { core::slice::from_raw_parts(tab_ptr as *const Chan, nb) });
    (tab, slow)
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn conv_blocks<const WHOLE: bool>(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    pre: Consts<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let q = &p.quant;
    let zp = q.input_zero_point;
    let w = &p.window;
    let groups = p.groups as usize;
    let k = w.kh as usize * w.kw as usize * (in_shape.c as usize / groups);
    let oc_n = out_shape.c as usize;
    let ocpg = oc_n / groups;
    let out_w = out_shape.w as usize;
    let pixels = out_shape.h as usize * out_w;
    let filter = weights.filter;
    let limits = ChanQ::limits(q.output_zero_point, prepared::sum_bound(k, zp));
    let mut cols = MaybeUninit::<Cols>::uninit();
    let cols = cols.as_mut_ptr() as *mut i8;
    // Not zeroed (1 KB a call): each batch writes its channels before
    // reading them.
    let mut tab_buf = MaybeUninit::<[Chan; BATCH]>::uninit();
    for g in 0..groups {
        let oc_end = (g + 1) * ocpg;
        let mut oc0 = g * ocpg;
        while oc0 < oc_end {
            let nb = BATCH.min(oc_end - oc0);
            let (tab, slow) = chans(
                pre,
                weights,
                sums,
                (oc0, nb, oc_n),
                (k, zp, limits),
                &mut tab_buf,
            );
            let w0 = filter[oc0 * k..(oc0 + nb) * k].as_ptr();
            let mut n0 = 0;
            while n0 < pixels {
                let np = P.min(pixels - n0);
                for s in 0..np {
                    let n = n0 + s;
                    // SAFETY: `cols` is `P * MVE_MAX_K` bytes, `k <=
                    // MVE_MAX_K` (`conv_covers`).
                    unsafe {
                        let (oy, ox) = (n / out_w, n % out_w);
                        if WHOLE {
                            gather16(p, in_shape, input, cols, s, oy, ox, zp as i8);
                        } else {
                            gather(p, in_shape, input, cols, s, g, oy, ox, zp as i8);
                        }
                    };
                }
                let mut run = Run {
                    cols,
                    k,
                    tab_end: tab.as_ptr_range().end,
                    lo: q.clamp.min as i32,
                    hi: q.clamp.max as i32,
                    ostride: oc_n,
                    wadj: k as isize - 16 * k.div_ceil(16) as isize,
                };
                if np == P {
                    // SAFETY: `tab` has `nb >= 1` channels, whose weight
                    // rows are `w0 + i * k` (within the filter); the
                    // columns are written (every slot, `k` bytes; the last
                    // chunk's tail is not read: the loop's tail predicate);
                    // the outputs are `out + c + p * oc_n` for `c < nb`, `p
                    // < P`: pixel `n0 + p`, channel `oc0 + c`, within
                    // `output`.
                    unsafe {
                        let out = output[n0 * oc_n + oc0..].as_mut_ptr();
                        if k % 16 == 0 {
                            block::<false>(&run, tab.as_ptr(), w0, out)
                        } else {
                            block::<true>(&run, tab.as_ptr(), w0, out)
                        }
                    };
                } else {
                    for s in 0..np {
                        // SAFETY: as above, slot `s` only (64 bytes a chunk
                        // from `cols + 16 * s`); the outputs `out + c`, `c <
                        // nb`: pixel `n0 + s`, channel `oc0 + c`.
                        unsafe {
                            run.cols = cols.add(16 * s);
                            let out = output[(n0 + s) * oc_n + oc0..][..nb].as_mut_ptr();
                            if k % 16 == 0 {
                                block1::<false>(&run, tab.as_ptr(), w0, out);
                            } else {
                                block1::<true>(&run, tab.as_ptr(), w0, out);
                            }
                        }
                        let c = q.clamp;
                        if c.min > i8::MIN || c.max < i8::MAX {
                            for o in &mut output[(n0 + s) * oc_n + oc0..][..nb] {
                                *o = (*o).clamp(c.min, c.max);
                            }
                        }
                    }
                }
                if slow != 0 && np < P {
                    // The slow channels' `dot4` reads all four pixel slots:
                    // those past `np` may never have been gathered in this
                    // call (found by Miri), so they are zeroed (their results
                    // are dropped).
                    for s in np..P {
                        for j in 0..k.div_ceil(16) {
                            // SAFETY: chunk `j` of slot `s` is the 16 bytes
                            // at `j * 64 + s * 16`, within `cols` (`P *
                            // MVE_MAX_K` bytes, `k <= MVE_MAX_K`).
                            unsafe { core::ptr::write_bytes(cols.add(j * 64 + s * 16), 0, 16) };
                        }
                    }
                }
                let mut rest = slow;
                while rest != 0 {
                    let i = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let oc = oc0 + i;
                    // SAFETY: as for `block`, one channel; slots past `np`
                    // hold earlier pixels' columns or zeros (only the first
                    // `np` results are kept).
                    let acc =
                        unsafe { dot4(filter[oc * k..][..k].as_ptr(), cols, k, [tab[i].bias; 4]) };
                    for (s, &a) in acc.iter().enumerate().take(np) {
                        let v = requantize(a, weights.multiplier[oc], weights.shift[oc])
                            .wrapping_add(q.output_zero_point);
                        output[(n0 + s) * oc_n + oc] = q.clamp.apply(v);
                    }
                }
                n0 += np;
            }
            oc0 += nb;
        }
    }
}
// ---------------------------------------------------------------------------
// Narrow pointwise.
// ---------------------------------------------------------------------------

/// Output channels of one [`pointwise_narrow`] batch.
const NARROW_OC: usize = 64;
/// Input channels [`pointwise_narrow`] takes at most.
const NARROW_IC: usize = 12;

/// Whether [`pointwise_narrow`] takes a convolution
/// ([`crate::dsp_select::helium_narrow_covers`]).
pub(crate) fn narrow_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    crate::dsp_select::helium_narrow_covers(p, in_shape, out_shape)
}

/// One batch's constants for [`narrow_rows`], group-major: per group of four
/// output channels their `bias - zp * Σ w`, `mult`, `c0`, `-e` as four
/// vectors of four (16 words).
#[repr(C, align(16))]
struct NarrowConsts([i32; NARROW_OC * 4]);

/// One batch's weights for [`narrow_rows`]: per group of four output
/// channels, per input channel, the four channels' weights (`[g][ic][4]`).
#[repr(C, align(16))]
struct NarrowWeights([i8; NARROW_OC * NARROW_IC]);

/// [`narrow_rows`]' arguments; offsets as its assembly reads them.
#[repr(C)]
struct NarrowRun {
    /// 0: the weights ([`NarrowWeights`]).
    w: *const i8,
    /// 4: the constants ([`NarrowConsts`]).
    c: *const i32,
    /// 8: groups of four output channels.
    groups: usize,
    /// 12: bytes from a pixel's last group's outputs to the next pixel's
    /// first (the layer's channels less the batch's).
    ostep: usize,
}

/// `pixels` pixels of `IC` input channels (raw bytes, consecutive from
/// `x`) into the batch's outputs (from `out`, `run.ostep` more bytes a
/// pixel): per pixel and group of four output channels the accumulators
/// from the group's biases (`VLDRW`), per input channel the byte (`LDRSB`,
/// a scalar), the four weights (`VLDRB.S32`) and `VMLA.S32` (vector by
/// scalar, four multiply-accumulates); then the fast epilogue (as the
/// convolution's: `VRMULH`, `c0` less the sign, `VSHL` by `-e`), the clamp
/// `[lo, hi]` and a `VSTRB.32` of the group's four outputs.
///
/// # Safety
/// `pixels >= 1`, `run.groups >= 1`; `x` readable for `pixels * IC` bytes;
/// `run.w` holds `run.groups * IC * 4` bytes, `run.c` `run.groups * 16`
/// words; `out` writable for the `run.groups * 4` bytes of each pixel,
/// `4 * run.groups + run.ostep` bytes apart.
#[inline(never)]
unsafe fn narrow_rows<const IC: usize>(
    run: &NarrowRun,
    x: *const i8,
    pixels: usize,
    out: *mut i8,
    lo: i32,
    hi: i32,
) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; everything the assembly writes besides
    // the outputs is declared. The widening load and the narrowing store
    // take low registers (r0, r1).
    unsafe {
        core::arch::asm!(
            "vdup.32 q6, {lo}",
            "vdup.32 q7, {hi}",
            "1:",
            "ldr   r0, [{b}]",
            "ldr   {ct}, [{b}, #4]",
            "ldr   lr, [{b}, #8]",
            "2:",
            "vldrw.u32 q0, [{ct}]",
            "vldrw.u32 q3, [{ct}, #16]",
            "vldrw.u32 q4, [{ct}, #32]",
            "vldrw.u32 q5, [{ct}, #48]",
            "adds  {ct}, #64",
            "mov   {xp}, {x}",
            ".rept {ic}",
            "ldrsb {xv}, [{xp}], #1",
            "vldrb.s32 q1, [r0], #4",
            "vmla.s32 q0, q1, {xv}",
            ".endr",
            "vshr.s32 q1, q0, #31",
            "vadd.i32 q1, q1, q4",
            "vadd.i32 q0, q0, q0",
            "vrmulh.s32 q0, q0, q3",
            "vadd.i32 q0, q0, q1",
            "vshl.s32 q0, q0, q5",
            "vmax.s32 q0, q0, q6",
            "vmin.s32 q0, q0, q7",
            "vstrb.32 q0, [r1], #4",
            "subs  lr, #1",
            "bne   2b",
            "adds  {x}, #{ic}",
            "ldr   {xv}, [{b}, #12]",
            "add   r1, {xv}",
            "subs  {np}, #1",
            "bne   1b",
            ic = const IC,
            b = in(reg) run as *const NarrowRun,
            x = inout(reg) x => _,
            np = inout(reg) pixels => _,
            inout("r1") out => _,
            lo = in(reg) lo,
            hi = in(reg) hi,
            out("r0") _,
            ct = out(reg) _,
            xp = out(reg) _,
            xv = out(reg) _,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            out("q3") _,
            out("q4") _,
            out("q5") _,
            out("q6") _,
            out("q7") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    // SAFETY: the caller's contract; the same instructions, modelled.
    unsafe {
        use mve::*;
        let (mut x, mut out) = (x, out);
        for _ in 0..pixels {
            let (mut w, mut c) = (run.w, run.c);
            for _ in 0..run.groups {
                let ld = |c: *const i32| -> Q32 { core::array::from_fn(|i| *c.add(i)) };
                let (mut acc, mult, c0, ne) = (ld(c), ld(c.add(4)), ld(c.add(8)), ld(c.add(12)));
                c = c.add(16);
                for i in 0..IC {
                    let xv = *x.add(i) as i32;
                    let q1 = vldrb_s32_gather(w, [0, 1, 2, 3]);
                    w = w.add(4);
                    acc = vadd_i32(acc, vmul_i32_scalar(q1, xv));
                }
                let q1 = vadd_i32(vshr_s32(acc, 31), c0);
                let q = vadd_i32(acc, acc);
                let q = vadd_i32(vrmulh_s32(q, mult), q1);
                let q = vshl_s32_vec(q, ne);
                let q = vmin_s32(vmax_s32(q, vdup_32(lo)), vdup_32(hi));
                vstrb_32_scatter(q, out, [0, 1, 2, 3]);
                out = out.add(4);
            }
            x = x.add(IC);
            out = out.wrapping_add(run.ostep);
        }
    }
}

/// A 1x1 convolution with few input channels (see
/// [`crate::dsp_select::helium_narrow_covers`]), for arguments
/// [`check_conv_args`](crate::ops::conv::check_conv_args) accepted: per
/// batch of up to 64 output channels their constants ([`chans`]) and
/// weights rearranged group-major, then [`narrow_rows`] over every pixel;
/// channels the fast epilogue does not cover are recomputed exactly.
// Not inlined: its buffers (about 2.8 KB) stay off the callers' frames.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn pointwise_narrow(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    pre: Consts<'_>,
    out_shape: Shape,
    output: &mut [i8],
) {
    let ic = in_shape.c as usize;
    let oc_n = out_shape.c as usize;
    let pixels = out_shape.h as usize * out_shape.w as usize;
    let q = &p.quant;
    let zp = q.input_zero_point;
    let limits = ChanQ::limits(q.output_zero_point, prepared::sum_bound(ic, zp));
    let mut tab_buf = MaybeUninit::<[Chan; BATCH]>::uninit();
    let mut cst = MaybeUninit::<NarrowConsts>::uninit();
    let mut wts = MaybeUninit::<NarrowWeights>::uninit();
    let (cp, wp) = (cst.as_mut_ptr() as *mut i32, wts.as_mut_ptr() as *mut i8);
    let mut oc0 = 0;
    while oc0 < oc_n {
        let nb = NARROW_OC.min(oc_n - oc0);
        let groups = nb / 4;
        let (tab, slow) = chans(
            pre,
            weights,
            sums,
            (oc0, nb, oc_n),
            (ic, zp, limits),
            &mut tab_buf,
        );
        for (j, t) in tab.iter().enumerate() {
            let at = (j / 4) * 16 + j % 4;
            // SAFETY: `j < nb <= NARROW_OC`: word `at + 12 < 4 * NARROW_OC`.
            unsafe {
                cp.add(at).write(t.bias);
                cp.add(at + 4).write(t.mult);
                cp.add(at + 8).write(t.c0);
                cp.add(at + 12).write(t.neg_e);
            }
            let row = &weights.filter[(oc0 + j) * ic..][..ic];
            for (i, &v) in row.iter().enumerate() {
                // SAFETY: `((j / 4) * ic + i) * 4 + j % 4 < nb * ic <=
                // NARROW_OC * NARROW_IC`.
                unsafe { wp.add(((j / 4) * ic + i) * 4 + j % 4).write(v) };
            }
        }
        let run = NarrowRun {
            w: wp,
            c: cp,
            groups,
            ostep: oc_n - nb,
        };
        let out = output[oc0..].as_mut_ptr();
        let (lo, hi) = (q.clamp.min as i32, q.clamp.max as i32);
        // SAFETY: `pixels >= 1` and `groups >= 1` (the rule); the input
        // holds `pixels * ic` bytes, the output `pixels * oc_n` (checked by
        // the callers); the batch's tables written above.
        unsafe {
            match ic {
                4 => narrow_rows::<4>(&run, input.as_ptr(), pixels, out, lo, hi),
                8 => narrow_rows::<8>(&run, input.as_ptr(), pixels, out, lo, hi),
                _ => narrow_rows::<12>(&run, input.as_ptr(), pixels, out, lo, hi),
            }
        }
        let mut rest = slow;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let oc = oc0 + i;
            let row = &weights.filter[oc * ic..][..ic];
            for n in 0..pixels {
                let x = &input[n * ic..][..ic];
                let acc = row.iter().zip(x).fold(weights.bias[oc], |a, (&w, &v)| {
                    a.wrapping_add(w as i32 * (v as i32 - zp))
                });
                let v = requantize(acc, weights.multiplier[oc], weights.shift[oc])
                    .wrapping_add(q.output_zero_point);
                output[n * oc_n + oc] = q.clamp.apply(v);
            }
        }
        oc0 += nb;
    }
}

// ---------------------------------------------------------------------------
// Depthwise 3x3.
// ---------------------------------------------------------------------------

/// Channels of one depthwise batch (sixteen groups of four).
const DW_CB: usize = 64;
/// Bytes of one tile's transposed input rows ([`DwRows`]).
const DW_ROWS: usize = 3072;

/// Whether [`depthwise3x3`] takes a depthwise convolution
/// ([`crate::dsp_select::helium_dw_covers`], the rule the converter writes
/// tables by).
pub(crate) fn dw_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    crate::dsp_select::helium_dw_covers(p, in_shape, out_shape)
}

/// [`dw_block`]'s constants; offsets as its assembly reads them.
#[repr(C, align(16))]
struct DwRun {
    /// 0: the weight gather's byte offsets of the four channels of a group
    /// (`[0, 1, 2, 3]` tap-major, `[0, 9, 18, 27]` channel-major).
    woff: [i32; 4],
    /// 16: the constants' gather offsets, `[0, 12, 24, 36]` (each channel's
    /// `mult`, `c0`, `e` are three words).
    coff: [i32; 4],
    /// 32: bytes from one tap's weights to the next's.
    wstep: isize,
    /// 36: from the ninth tap's weights to the next group's first.
    wnext: isize,
    /// 40, 44: the clamp.
    lo: i32,
    hi: i32,
    /// 48: bytes from one group's transposed rows to the next's.
    gs: i32,
    /// 52: bytes of an output pixel (the channels).
    oc: i32,
    /// 56: from the block's last pixel's outputs back to the first pixel's
    /// next group (`(np - 1) * oc - 4`).
    oback: i32,
    /// 60: blocks left in this call (counted down by the assembly).
    blocks: i32,
    /// 64: the first group's weights.
    w0: *const i8,
    /// 68: the first group's constants.
    c0: *const i32,
    /// 72: groups of four channels.
    groups: i32,
    /// 76: from the pixels' pointers after the last group to the next
    /// block's (`4 * stride * 12 - groups * gs`).
    padv: i32,
    /// 80: from the output after the last group to the next block's first
    /// pixel (`4 * oc - 4 * groups`).
    oadv: i32,
}

/// The transposed input of one tile: per group of four channels, per input
/// column, per kernel row the group's four bytes (`[group][column][row][4]`,
/// [`DwRun::gs`] bytes a group), so that tap `(ky, kx)` of a pixel whose
/// window starts at column `j` is at `12 * (j + kx) + 4 * ky`: an
/// immediate offset from the pixel's pointer.
#[repr(C, align(16))]
struct DwRows([i8; DW_ROWS]);

/// `run.blocks` blocks of `NP` (1 to 4) output pixels of one row, each
/// over `run.groups` groups of four channels (the next block's pixels and
/// outputs `run.padv` and `run.oadv` on): per group the accumulators from the prepared biases (`bias -
/// zp * Σ w`), per tap a weight gather (`VLDRB.S32` with `run.woff`) and
/// per pixel `VLDRB.S32` of the tap's four channels at an immediate offset
/// from the pixel's pointer `px[p]` into the transposed rows, `VMUL.I32`,
/// `VADD.I32`; then the fast epilogue with per-lane constants (gathered by
/// `VLDRW.U32` with `run.coff`: `VRMULH`, `VSHL` by the negated shift), the
/// clamp, and a `VSTRB.32` of four channels to each pixel's output (`out +
/// p * run.oc`, four bytes a group).
///
/// # Safety
/// `run.blocks >= 1`, `run.groups >= 1`; `px[p]` (`p < NP`) the first
/// block's pixel's window in [`DwRows`], each group `run.gs` bytes on, each
/// block as `run.padv` says; `run.w0` the first group's weights as `run`
/// steps through them; `run.c0` `16 * run.groups` words (the prepared
/// layout); each block's `out + p * run.oc` writable for `4 * run.groups`
/// bytes; `run.oback` as documented.
#[inline(never)]
unsafe fn dw_block<const NP: usize>(run: *mut DwRun, px: [*const i8; 4], out: *mut i8) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; everything the assembly writes besides
    // the outputs is declared (q4..q7 callee-saved: saved by the compiler).
    // The narrowing stores and widening loads take a low base register.
    unsafe {
        macro_rules! pixel {
            ($r:literal, $q:literal, $off:literal) => {
                concat!(
                    "vldrb.s32 q5, [",
                    $r,
                    ", #",
                    $off,
                    "]\n",
                    "vmul.i32 q6, q5, q4\n",
                    "vadd.i32 ",
                    $q,
                    ", ",
                    $q,
                    ", q6\n",
                )
            };
        }
        macro_rules! tap {
            ($off:literal) => {
                concat!(
                    "vldrb.s32 q4, [{w}, q7]\n",
                    "add {w}, {ws}\n",
                    pixel!("r0", "q0", $off),
                    ".if {np} > 1\n",
                    pixel!("r1", "q1", $off),
                    ".endif\n",
                    ".if {np} > 2\n",
                    pixel!("r2", "q2", $off),
                    ".endif\n",
                    ".if {np} > 3\n",
                    pixel!("r3", "q3", $off),
                    ".endif\n",
                )
            };
        }
        macro_rules! epi {
            ($q:literal) => {
                concat!(
                    "vshr.s32 q7, ",
                    $q,
                    ", #31\n",
                    "vadd.i32 q7, q7, q5\n",
                    "vadd.i32 ",
                    $q,
                    ", ",
                    $q,
                    ", ",
                    $q,
                    "\n",
                    "vrmulh.s32 ",
                    $q,
                    ", ",
                    $q,
                    ", q4\n",
                    "vadd.i32 ",
                    $q,
                    ", ",
                    $q,
                    ", q7\n",
                    "vshl.s32 ",
                    $q,
                    ", ",
                    $q,
                    ", q6\n",
                )
            };
        }
        macro_rules! clamp {
            ($q:literal) => {
                concat!(
                    "vmax.s32 ",
                    $q,
                    ", ",
                    $q,
                    ", q4\n",
                    "vmin.s32 ",
                    $q,
                    ", ",
                    $q,
                    ", q5\n",
                )
            };
        }
        macro_rules! upto {
            ($n:literal, $($s:expr),*) => {
                concat!(".if {np} > ", $n, "\n", $($s,)* ".endif\n")
            };
        }
        let [p0, p1, p2, p3] = px;
        core::arch::asm!(
            "ldr   {ws}, [{b}, #32]",
            "3:",
            "ldr   lr, [{b}, #72]",
            "ldr   {w}, [{b}, #64]",
            "ldr   {c}, [{b}, #68]",
            "1:",
            "vldrw.u32 q7, [{b}]",
            "vldrw.u32 q0, [{c}]",
            upto!("1", "vmov q1, q0\n"),
            upto!("2", "vmov q2, q0\n"),
            upto!("3", "vmov q3, q0\n"),
            tap!("0"), tap!("12"), tap!("24"),
            tap!("4"), tap!("16"), tap!("28"),
            tap!("8"), tap!("20"), tap!("32"),
            "ldr   r5, [{b}, #36]",
            "add   {w}, r5",
            "ldr   r5, [{b}, #48]",
            "add   r0, r5",
            upto!("1", "add r1, r5\n"),
            upto!("2", "add r2, r5\n"),
            upto!("3", "add r3, r5\n"),
            "vldrw.u32 q7, [{b}, #16]",
            "adds  r5, {c}, #16",
            "vldrw.u32 q4, [r5, q7]",
            "adds  r5, #4",
            "vldrw.u32 q5, [r5, q7]",
            "adds  r5, #4",
            "vldrw.u32 q6, [r5, q7]",
            "vneg.s32 q6, q6",
            "adds  {c}, #64",
            epi!("q0"),
            upto!("1", epi!("q1")),
            upto!("2", epi!("q2")),
            upto!("3", epi!("q3")),
            "ldr   r5, [{b}, #40]",
            "vdup.32 q4, r5",
            "ldr   r5, [{b}, #44]",
            "vdup.32 q5, r5",
            clamp!("q0"),
            upto!("1", clamp!("q1")),
            upto!("2", clamp!("q2")),
            upto!("3", clamp!("q3")),
            "ldr   r5, [{b}, #52]",
            "vstrb.32 q0, [r4]",
            upto!("1", "add r4, r5\n", "vstrb.32 q1, [r4]\n"),
            upto!("2", "add r4, r5\n", "vstrb.32 q2, [r4]\n"),
            upto!("3", "add r4, r5\n", "vstrb.32 q3, [r4]\n"),
            "ldr   r5, [{b}, #56]",
            "subs  r4, r4, r5",
            "subs  lr, #1",
            "bne   1b",
            "ldr   r5, [{b}, #76]",
            "add   r0, r5",
            upto!("1", "add r1, r5\n"),
            upto!("2", "add r2, r5\n"),
            upto!("3", "add r3, r5\n"),
            "ldr   r5, [{b}, #80]",
            "add   r4, r5",
            "ldr   r5, [{b}, #60]",
            "subs  r5, #1",
            "str   r5, [{b}, #60]",
            "bne   3b",
            np = const NP,
            b = in(reg) run,
            out("lr") _,
            inout("r0") p0 => _,
            inout("r1") p1 => _,
            inout("r2") p2 => _,
            inout("r3") p3 => _,
            inout("r4") out => _,
            out("r5") _,
            w = out(reg) _,
            c = out(reg) _,
            ws = out(reg) _,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q4") _,
            out("q5") _,
            out("q6") _,
            out("q7") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    // SAFETY: the caller's contract; the same instructions, modelled.
    unsafe {
        use mve::*;
        let run = &mut *run;
        let (mut px, mut out) = (px, out);
        loop {
            let (mut w, mut c) = (run.w0, run.c0);
            for _ in 0..run.groups {
                let bias: Q32 = core::array::from_fn(|i| *c.add(i));
                let mut acc = [bias; NP];
                for t in 0..9 {
                    let off = 12 * (t % 3) + 4 * (t / 3);
                    let q4 = vldrb_s32_gather(w, run.woff);
                    w = w.wrapping_offset(run.wstep);
                    for (a, p) in acc.iter_mut().zip(px) {
                        let q5 = vldrb_s32_gather(p.add(off), [0, 1, 2, 3]);
                        *a = vadd_i32(*a, vmul_i32(q5, q4));
                    }
                }
                w = w.wrapping_offset(run.wnext);
                for p in px.iter_mut().take(NP) {
                    *p = p.wrapping_offset(run.gs as isize);
                }
                let q4 = vldrw_u32_gather(c.add(4), run.coff);
                let q5 = vldrw_u32_gather(c.add(5), run.coff);
                let q6 = vneg_s32(vldrw_u32_gather(c.add(6), run.coff));
                c = c.wrapping_add(16);
                for a in acc.iter() {
                    let q7 = vadd_i32(vshr_s32(*a, 31), q5);
                    let q = vadd_i32(*a, *a);
                    let q = vrmulh_s32(q, q4);
                    let q = vadd_i32(q, q7);
                    let q = vshl_s32_vec(q, q6);
                    let q = vmin_s32(vmax_s32(q, vdup_32(run.lo)), vdup_32(run.hi));
                    vstrb_32_scatter(q, out, [0, 1, 2, 3]);
                    out = out.wrapping_offset(run.oc as isize);
                }
                out = out
                    .wrapping_offset(-(run.oc as isize))
                    .wrapping_offset(-(run.oback as isize));
            }
            for p in px.iter_mut().take(NP) {
                *p = p.wrapping_offset(run.padv as isize);
            }
            out = out.wrapping_offset(run.oadv as isize);
            run.blocks -= 1;
            if run.blocks == 0 {
                break;
            }
        }
    }
}

/// Transposes `n >= 1` pixels of `cb` channels (a multiple of four), the
/// pixel `i`'s bytes at `src + i * stride`, into the rows: group `g` of
/// pixel `i` to `dst + g * gs + 12 * i`. Per pixel `cb / 16` iterations of
/// a low-overhead loop (`VLDRB.8`, a `VSTRW.32` scatter with offsets `[0,
/// 1, 2, 3] * gs`), then, where `TAIL` (`cb % 16 != 0`), the last `cb % 16`
/// bytes under `VCTP.32`. With `stride` 0 it fills the pixels with one
/// pixel's bytes (the zero points of the padding).
///
/// # Safety
/// `src + i * stride` readable for `cb` bytes; `dst + g * gs + 12 * i`
/// writable for 4 bytes (`g < cb / 4`, `i < n`) and 4-byte aligned.
#[inline(always)]
unsafe fn dw_pixels<const TAIL: bool>(
    dst: *mut i8,
    src: *const i8,
    n: usize,
    stride: usize,
    cb: usize,
    gs: usize,
) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; registers and flags otherwise (`VIDUP`
    // takes an even register: r12).
    unsafe {
        core::arch::asm!(
            "movs  r12, #0",
            "vidup.u32 q1, r12, #1",
            "vmul.i32 q1, q1, {gs}",
            "lsls  {gs}, {gs}, #2",
            "1:",
            "mov   {s1}, {s}",
            "mov   {d1}, {d}",
            "wls   lr, {ch}, 3f",
            "2:",
            "vldrb.u8 q0, [{s1}], #16",
            "vstrw.32 q0, [{d1}, q1]",
            "add   {d1}, {gs}",
            "le    lr, 2b",
            "3:",
            ".if {tail}",
            "vctp.32 {rem}",
            "vpstt",
            "vldrbt.u8 q0, [{s1}]",
            "vstrwt.32 q0, [{d1}, q1]",
            ".endif",
            "add   {s}, {stride}",
            "adds  {d}, #12",
            "subs  {n}, #1",
            "bne   1b",
            tail = const TAIL as u8,
            d = inout(reg) dst => _,
            s = inout(reg) src => _,
            n = inout(reg) n => _,
            gs = inout(reg) gs => _,
            ch = in(reg) cb / 16,
            rem = in(reg) cb % 16 / 4,
            stride = in(reg) stride,
            s1 = out(reg) _,
            d1 = out(reg) _,
            out("r12") _,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    for i in 0..n {
        for g in 0..cb / 4 {
            // SAFETY: the caller's contract.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    src.add(i * stride + 4 * g),
                    dst.add(g * gs + 12 * i),
                    4,
                )
            };
        }
    }
}

/// Transposes `words` consecutive words from `src` (whole pixels of 4, 8 or
/// 16 channels, every channel: four words at a time span one to four
/// pixels) into the rows: word `i` to `dst + offs[i % 4] + (i / 4) *
/// step`. One `VLDRB.8` and one `VSTRW.32` scatter per four words, the last
/// partial vector under `VCTP.32`.
///
/// # Safety
/// `src` readable for `4 * words` bytes; every word's destination writable
/// and 4-byte aligned.
#[inline(always)]
unsafe fn dw_spread(dst: *mut i8, src: *const i8, words: usize, offs: &[i32; 4], step: usize) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; registers and flags otherwise.
    unsafe {
        core::arch::asm!(
            "vldrw.u32 q1, [{o}]",
            "lsrs  {k}, {n}, #2",
            "wls   lr, {k}, 2f",
            "1:",
            "vldrb.u8 q0, [{s}], #16",
            "vstrw.32 q0, [{d}, q1]",
            "add   {d}, {step}",
            "le    lr, 1b",
            "2:",
            "ands  {n}, {n}, #3",
            "beq   3f",
            "vctp.32 {n}",
            "vpstt",
            "vldrbt.u8 q0, [{s}]",
            "vstrwt.32 q0, [{d}, q1]",
            "3:",
            o = in(reg) offs.as_ptr(),
            d = inout(reg) dst => _,
            s = inout(reg) src => _,
            n = inout(reg) words => _,
            step = in(reg) step,
            k = out(reg) _,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    for i in 0..words {
        // SAFETY: the caller's contract.
        unsafe {
            core::ptr::copy_nonoverlapping(
                src.add(4 * i),
                dst.offset(offs[i % 4] as isize + ((i / 4) * step) as isize),
                4,
            )
        };
    }
}

/// Output of channel `c` at pixel `(oy, ox)` exactly (`bias + Σ w (x - zp)`,
/// the portable requantization): for the channels the fast epilogue does
/// not cover.
#[allow(clippy::too_many_arguments)]
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
        in_shape.h as isize,
        in_shape.w as isize,
        in_shape.c as usize,
    );
    let q = &p.quant;
    let mut acc = weights.bias[c];
    for ky in 0..3isize {
        let iy = oy as isize * win.stride_h as isize - win.pad_top as isize
            + ky * win.dilation_h as isize;
        for kx in 0..3isize {
            let ix = ox as isize * win.stride_w as isize - win.pad_left as isize
                + kx * win.dilation_w as isize;
            if !(0..ih).contains(&iy) || !(0..iw).contains(&ix) {
                continue;
            }
            let t = (ky * 3 + kx) as usize;
            let w = match layout {
                DwLayout::TapMajor => weights.filter[t * c_n + c],
                DwLayout::ChannelMajor => weights.filter[c * 9 + t],
            };
            let x = input[(iy * iw + ix) as usize * c_n + c] as i32;
            acc = acc.wrapping_add(w as i32 * (x - q.input_zero_point));
        }
    }
    let v =
        requantize(acc, weights.multiplier[c], weights.shift[c]).wrapping_add(q.output_zero_point);
    q.clamp.apply(v)
}

/// One kernel row of a tile into the transposed rows at `dst` (the row's
/// `4 * ky` offset applied): `cols` input columns from `ix0`, those outside
/// the input (and the whole row where `iy` is outside it) from `zrow`.
#[allow(clippy::too_many_arguments)]
fn dw_tile_row(
    dst: *mut i8,
    input: &[i8],
    in_shape: Shape,
    (iy, ix0, cols): (isize, isize, usize),
    (cb0, cb): (usize, usize),
    gs: usize,
    zrow: &[i8; DW_CB],
) {
    let (ih, iw, c_n) = (
        in_shape.h as isize,
        in_shape.w as isize,
        in_shape.c as usize,
    );
    let pixels = |dst: *mut i8, src: *const i8, n: usize, stride: usize| {
        // SAFETY: the callers below: `src` holds `n` pixels `stride` apart of
        // `cb` readable bytes, `dst` the rows of `n` columns of `cb / 4`
        // groups (`DwRows`, 16-byte aligned; `gs` and 12 multiples of 4).
        unsafe {
            if cb % 16 == 0 {
                dw_pixels::<false>(dst, src, n, stride, cb, gs)
            } else {
                dw_pixels::<true>(dst, src, n, stride, cb, gs)
            }
        }
    };
    if !(0..ih).contains(&iy) {
        pixels(dst, zrow.as_ptr(), cols, 0);
        return;
    }
    let ja = (-ix0).clamp(0, cols as isize) as usize;
    let jb = (iw - ix0).clamp(ja as isize, cols as isize) as usize;
    if ja > 0 {
        pixels(dst, zrow.as_ptr(), ja, 0);
    }
    if jb > ja {
        let n = jb - ja;
        let at = (iy * iw + ix0 + ja as isize) as usize * c_n + cb0;
        let src = input[at..at + (n - 1) * c_n + cb].as_ptr();
        // SAFETY: as above; column `ja` of the rows.
        let d = unsafe { dst.add(12 * ja) };
        if cb == c_n && 16 % cb == 0 {
            // Whole pixels, contiguous: four words span 16 / cb pixels.
            let g = cb / 4;
            let offs: [i32; 4] = core::array::from_fn(|i| ((i % g) * gs + (i / g) * 12) as i32);
            // SAFETY: `src` holds `n * cb` bytes (`cb == c_n`); word `i`
            // goes to group `i % g` of column `ja + i / g`.
            unsafe { dw_spread(d, src, n * g, &offs, 48 / g) };
        } else {
            pixels(d, src, n, c_n);
        }
    }
    if cols > jb {
        // SAFETY: column `jb` of the rows.
        pixels(unsafe { dst.add(12 * jb) }, zrow.as_ptr(), cols - jb, 0);
    }
}

/// Depthwise 3x3 (see [`dw_covers`]) through [`dw_block`]: per batch of up
/// to 64 channels the prepared constants ([`prepared::dw3_len`] words, the
/// DSP kernels' table: its constants are read, its widened weights not; or
/// derived here, [`prepared::dw3_groups`]), then per output row and tile of
/// output columns the three input rows the tile reads are transposed into
/// [`DwRows`] (padding as the zero point), and [`dw_block`] runs on blocks
/// of four output pixels, the row's last one to three pixels in a block of
/// their own. Channels the fast epilogue does not cover are recomputed
/// exactly ([`dw_exact`]). Returns `false`, nothing written, where
/// [`dw_covers`] does not hold.
// Not inlined: its buffers (about 4.6 KB) stay off the callers' frames.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise3x3(
    p: &ConvParams,
    layout: DwLayout,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    prepared: &[i32],
    out_shape: Shape,
    output: &mut [i8],
) -> bool {
    if !dw_covers(p, in_shape, out_shape) {
        return false;
    }
    let c_n = in_shape.c as usize;
    let win = &p.window;
    let q = &p.quant;
    let zp = q.input_zero_point;
    let (out_h, out_w) = (out_shape.h as usize, out_shape.w as usize);
    let (sh, sw) = (win.stride_h as isize, win.stride_w as usize);
    let ng = c_n / 4;
    // The constants: the converter's Helium table (with the count of
    // channels outside the fast epilogue), the DSP kernels' table (scanned
    // for them), or none (derived per batch).
    let (pre, any_slow) = if prepared.len() == prepared::dw3_mve_len(c_n) {
        (Some(&prepared[8..]), prepared[0] != 0)
    } else if prepared.len() == prepared::dw3_len(c_n) {
        (Some(&prepared[ng * prepared::DW3_WEIGHT_WORDS..]), true)
    } else {
        (None, true)
    };
    let (woff, wstep, gstep) = match layout {
        DwLayout::TapMajor => ([0, 1, 2, 3], c_n as isize, 4isize),
        DwLayout::ChannelMajor => ([0, 9, 18, 27], 1, 36),
    };
    let mut run = DwRun {
        woff,
        coff: [0, 12, 24, 36],
        wstep,
        wnext: gstep - 9 * wstep,
        lo: q.clamp.min as i32,
        hi: q.clamp.max as i32,
        gs: 0,
        oc: c_n as i32,
        oback: 0,
        blocks: 0,
        w0: core::ptr::null(),
        c0: core::ptr::null(),
        groups: 0,
        padv: 0,
        oadv: 0,
    };
    let zrow = [zp as i8; DW_CB];
    // The constants derived here where the plan has none (not zeroed
    // otherwise: 2.2 KB a call).
    let mut own: Option<(
        [u32; DW_CB / 4 * prepared::DW3_WEIGHT_WORDS],
        [i32; DW_CB / 4 * 16],
    )> = None;
    let mut rows = MaybeUninit::<DwRows>::uninit();
    let rows = rows.as_mut_ptr() as *mut i8;
    let mut cb0 = 0;
    while cb0 < c_n {
        let cb = DW_CB.min(c_n - cb0);
        let g0 = cb0 / 4;
        let groups = cb / 4;
        let (consts, slow): (&[i32], u64) = match pre {
            Some(t) => {
                let t = &t[g0 * 16..][..cb * 4];
                let mut slow = 0u64;
                let scan = if any_slow { t } else { &[] };
                for (i, chunk) in scan.chunks_exact(16).enumerate() {
                    // A zero multiplier marks a channel the fast epilogue
                    // does not cover (rare: checked four at once first).
                    if chunk[4] != 0 && chunk[7] != 0 && chunk[10] != 0 && chunk[13] != 0 {
                        continue;
                    }
                    for j in 0..4 {
                        if chunk[4 + 3 * j] == 0 {
                            slow |= 1 << (4 * i + j);
                        }
                    }
                }
                (t, slow)
            }
            None => {
                let (own_w, own_c) = own.get_or_insert(([0; _], [0; _]));
                let slow = prepared::dw3_groups(
                    layout,
                    weights,
                    c_n,
                    g0,
                    zp,
                    q.output_zero_point,
                    &mut own_w[..groups * prepared::DW3_WEIGHT_WORDS],
                    &mut own_c[..cb * 4],
                );
                (&own_c[..cb * 4], slow)
            }
        };
        let w0 = match layout {
            DwLayout::TapMajor => weights.filter[cb0..].as_ptr(),
            DwLayout::ChannelMajor => weights.filter[cb0 * 9..].as_ptr(),
        };
        // Output columns a tile: as many as the rows hold input columns
        // for (at least 16 columns of 16 groups).
        let cols_max = DW_ROWS / (12 * groups);
        let tile = (cols_max - 3) / sw + 1;
        for oy in 0..out_h {
            let iy0 = oy as isize * sh - win.pad_top as isize;
            let mut ox0 = 0;
            while ox0 < out_w {
                let tw = tile.min(out_w - ox0);
                let cols = (tw - 1) * sw + 3;
                let gs = 12 * cols;
                run.gs = gs as i32;
                let ix0 = (ox0 * sw) as isize - win.pad_left as isize;
                for ky in 0..3 {
                    let iy = iy0 + ky as isize * win.dilation_h as isize;
                    // SAFETY: row `ky`'s four bytes of the first column.
                    let dst = unsafe { rows.add(4 * ky) };
                    dw_tile_row(dst, input, in_shape, (iy, ix0, cols), (cb0, cb), gs, &zrow);
                }
                // The tile's whole blocks of four pixels in one call, then
                // its last one to three pixels in a block of their own.
                run.w0 = w0;
                run.c0 = consts.as_ptr();
                run.groups = groups as i32;
                run.padv = (48 * sw) as i32 - gs as i32 * groups as i32;
                run.oadv = (4 * c_n) as i32 - 4 * groups as i32;
                let mut b0 = 0;
                while b0 < tw {
                    let np = (tw - b0).min(P);
                    let blocks = if np == P { (tw - b0) / P } else { 1 };
                    // SAFETY: columns of the tile's rows (a pixel past `np`
                    // repeats the last; its pointer is not read).
                    let px: [*const i8; 4] = core::array::from_fn(|s| unsafe {
                        rows.add(12 * (b0 + s.min(np - 1)) * sw) as *const i8
                    });
                    let at = ((oy * out_w + ox0 + b0) * c_n + cb0).min(output.len());
                    let out = output[at..].as_mut_ptr();
                    run.oback = ((np - 1) * c_n) as i32 - 4;
                    run.blocks = blocks as i32;
                    // SAFETY: `blocks >= 1`, `groups >= 1`; the pixels'
                    // windows transposed above, `gs` bytes a group, block
                    // `k`'s `48 * sw * k` bytes on; the weights from `w0`
                    // stepped as `run` says stay within the filter's `9 *
                    // c_n` bytes; `consts` `4 * cb` words; pixel `s < np` of
                    // block `k` writes `cb` bytes at `out + (4 * k + s) *
                    // c_n`, within the output (pixel `(oy, ox0 + b0 + 4 * k
                    // + s)` of the image).
                    unsafe {
                        match np {
                            1 => dw_block::<1>(&mut run, px, out),
                            2 => dw_block::<2>(&mut run, px, out),
                            3 => dw_block::<3>(&mut run, px, out),
                            _ => dw_block::<4>(&mut run, px, out),
                        }
                    }
                    b0 += np * blocks;
                }
                ox0 += tw;
            }
        }
        let pixels = out_h * out_w;
        let mut rest = slow;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let c = cb0 + i;
            for n in 0..pixels {
                output[n * c_n + c] =
                    dw_exact(p, layout, in_shape, input, weights, c, n / out_w, n % out_w);
            }
        }
        cb0 += cb;
    }
    true
}

// ---------------------------------------------------------------------------
// Channel sums (global average pooling).
// ---------------------------------------------------------------------------

/// `sums[j] = Σ x[p * stride + j]` over `pixels` pixels, for `j <
/// sums.len()` (at most 64 channels of a `stride`-channel image starting at
/// `x`): four channels a vector, per pixel `VLDRB.S32` and `VADD.I32`, the
/// last vector under `VCTP.32`. Every sum of bytes over fewer than 2^24
/// pixels fits an `i32`; nothing is written where `x` is too short.
pub(crate) fn channel_sums(x: &[i8], pixels: usize, stride: usize, sums: &mut [i32]) {
    let n = sums.len();
    if n == 0 || n > stride || pixels == 0 || x.len() < (pixels - 1) * stride + n {
        return;
    }
    let mut j = 0;
    while j < n {
        let lanes = (n - j).min(4);
        #[cfg(attonet_mve)]
        // SAFETY: pixel `p`'s `lanes` bytes at `x + j + p * stride` lie in
        // `x` (checked above), the lanes past `lanes` are neither read nor
        // written; `sums[j..j + lanes]` writable.
        unsafe {
            core::arch::asm!(
                "vctp.32 {l}",
                "vmov.i32 q0, #0",
                "dls   lr, {np}",
                "1:",
                "vpst",
                "vldrbt.s32 q1, [r0]",
                "vadd.i32 q0, q0, q1",
                "add   r0, {st}",
                "le    lr, 1b",
                "vpst",
                "vstrwt.32 q0, [{s}]",
                l = in(reg) lanes,
                np = in(reg) pixels,
                // The widening load takes a low register.
                inout("r0") x.as_ptr().add(j) => _,
                st = in(reg) stride,
                s = in(reg) sums.as_mut_ptr().add(j),
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(nostack),
            );
        }
        #[cfg(not(attonet_mve))]
        for (k, s) in sums[j..j + lanes].iter_mut().enumerate() {
            *s = (0..pixels).fold(0i32, |a, p| a.wrapping_add(x[p * stride + j + k] as i32));
        }
        j += lanes;
    }
}

// ---------------------------------------------------------------------------
// ADD through per-input tables.
// ---------------------------------------------------------------------------

/// The DSP kernels' table ADD (`add_loop` there) four elements at a time:
/// per four elements two `VLDRB.U32` of the input bytes (as table indices),
/// two `VLDRW.U32` gathers from the tables `s1`, `s2` (256 words each: the
/// per-input halves, doubled), `VADD`, then the fast epilogue of the sum
/// (`VRMULH` by `mult`, plus `c0` less the sum's sign, `VSHL` right by `e`)
/// saturated to `i8` (`VMAX`/`VMIN`) and a `VSTRB.32`, in a tail-predicated
/// low-overhead loop (`WLSTP.32`/`LETP`). `a` may be `out` (each vector is
/// read before it is written).
///
/// # Safety
/// `s1`, `s2` readable for 256 words; `a`, `b` readable and `out` writable
/// for `n` bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn add_tables(
    s1: *const i32,
    s2: *const i32,
    mult: i32,
    c0: i32,
    e: u32,
    a: *const u8,
    b: *const u8,
    out: *mut i8,
    n: usize,
) {
    #[cfg(attonet_mve)]
    // SAFETY: the caller's contract; every index is a byte, within the
    // tables; registers and flags otherwise declared.
    unsafe {
        core::arch::asm!(
            "vdup.32 q5, {m}",
            "vmvn.i32 q6, #0x7f",
            "vmov.i32 q7, #0x7f",
            "wlstp.32 lr, {n}, 2f",
            "1:",
            "vldrb.u32 q0, [r0], #4",
            "vldrb.u32 q1, [r1], #4",
            "vldrw.u32 q2, [{t1}, q0, uxtw #2]",
            "vldrw.u32 q3, [{t2}, q1, uxtw #2]",
            "vadd.i32 q2, q2, q3",
            "vshr.s32 q3, q2, #31",
            "vadd.i32 q3, q3, {c0}",
            "vrmulh.s32 q2, q2, q5",
            "vadd.i32 q2, q2, q3",
            "vshl.s32 q2, {ne}",
            "vmax.s32 q2, q2, q6",
            "vmin.s32 q2, q2, q7",
            "vstrb.32 q2, [r2], #4",
            "letp  lr, 1b",
            "2:",
            m = in(reg) mult,
            c0 = in(reg) c0,
            ne = in(reg) (e as i32).wrapping_neg(),
            t1 = in(reg) s1,
            t2 = in(reg) s2,
            // The widening loads and the narrowing store take low registers.
            inout("r0") a => _,
            inout("r1") b => _,
            inout("r2") out => _,
            n = in(reg) n,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q5") _,
            out("q6") _,
            out("q7") _,
            options(nostack),
        );
    }
    #[cfg(not(attonet_mve))]
    {
        use mve::*;
        let mut i = 0;
        while i < n {
            let active = (n - i).min(4);
            // SAFETY: the caller's contract; lanes past `active` are not
            // read or written (the tail predicate).
            unsafe {
                let x: Q32 =
                    core::array::from_fn(|l| if l < active { *a.add(i + l) as i32 } else { 0 });
                let y: Q32 =
                    core::array::from_fn(|l| if l < active { *b.add(i + l) as i32 } else { 0 });
                let q2 = vldrw_u32_gather(s1, x.map(|v| v * 4));
                let q3 = vldrw_u32_gather(s2, y.map(|v| v * 4));
                let s = vadd_i32(q2, q3);
                let q3 = vadd_i32_scalar(vshr_s32(s, 31), c0);
                let q = vadd_i32(vrmulh_s32(s, vdup_32(mult)), q3);
                let q = vshl_s32_reg(q, (e as i32).wrapping_neg());
                let q = vmin_s32(vmax_s32(q, vdup_32(-128)), vdup_32(127));
                for (l, &v) in q.iter().enumerate().take(active) {
                    *out.add(i + l) = v as i8;
                }
            }
            i += active;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::test_cases::{cases, out_extent, quant, tables, window, Rng};
    use super::*;
    use crate::ops::conv;
    use crate::ops::Window;

    #[test]
    fn instruction_models() {
        let a: [i8; 16] = core::array::from_fn(|i| (i as i8 - 8) * 16);
        let b: [i8; 16] = core::array::from_fn(|i| 127i8.wrapping_sub(17i8.wrapping_mul(i as i8)));
        let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
        assert_eq!(mve::vmladava_s8(5, &a, &b), want + 5);
        assert_eq!(
            mve::vmladava_s8(i32::MAX, &[1; 16], &[1; 16]),
            i32::MIN + 15
        );
        assert_eq!(mve::vaddva_s8(1, &[-128; 16]), 1 - 2048);
        // SAFETY: `a` has 16 bytes.
        let t = unsafe { mve::vldrb_8(a.as_ptr(), 3) };
        assert_eq!(&t[..3], &a[..3]);
        assert!(t[3..].iter().all(|&v| v == 0));
    }

    #[test]
    fn conv_matches_portable() {
        let mut r = Rng(0x4D56_4531_2024_0017);
        let mut covered = 0;
        for case in 0..cases(1500) {
            let win = match case % 3 {
                0 => Window {
                    pad_top: 0,
                    pad_left: 0,
                    ..window(&mut r, 1)
                },
                1 => window(&mut r, 3),
                _ => window(&mut r, 0),
            };
            let groups = if case % 7 == 0 { 2 } else { 1 };
            let cpg = r.pick(&[16u16, 32, 48, 64, 3, 8]);
            let ocpg = r.pick(&[1u16, 2, 3, 5, 16, 70]);
            let ins = Shape::new(r.range(1, 7) as u16, r.range(1, 7) as u16, cpg * groups);
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
            let mut got = std::vec![0x55i8; outs.len()];
            let took = conv_s8(&p, ins, &input, &w, &[], &[], outs, &mut got, false);
            assert_eq!(took, conv_covers(&p, ins, outs));
            if !took {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                continue;
            }
            covered += 1;
            assert_eq!(got, want, "case {case}: {p:?} {ins:?} -> {outs:?}");
            // With the converter's prepared constants.
            let oc = outs.c as usize;
            let mut table = std::vec![0i32; prepared::conv_len(oc)];
            let taps = filter.len() / oc;
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            prepared::prepare_conv(&w, oc, taps, zi, zo, &mut table).unwrap();
            let sums: std::vec::Vec<i32> = filter
                .chunks(taps)
                .map(|r| r.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32)))
                .collect();
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(conv_s8(
                &p, ins, &input, &w, &sums, &table, outs, &mut got, false
            ));
            assert_eq!(got, want, "prepared, case {case}");
            // With the converter's Helium table (read in place).
            let mut table = std::vec![0i32; prepared::conv_mve_len(oc)];
            prepared::prepare_conv_mve(&w, oc, taps, zi, zo, &mut table).unwrap();
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(conv_s8(
                &p,
                ins,
                &input,
                &w,
                &[],
                &table,
                outs,
                &mut got,
                false
            ));
            assert_eq!(got, want, "Helium table, case {case}");
        }
        #[cfg(not(miri))]
        assert!(covered > 600, "only {covered} cases covered");
    }

    /// The narrow pointwise kernel (through `conv_s8`) against the portable
    /// convolution: 4, 8 and 12 input channels, 4 to 132 output channels
    /// (batches of 64), without tables, with the DSP table and with the
    /// Helium table; channels outside the fast epilogue included.
    #[test]
    fn narrow_pointwise_matches_portable() {
        let mut r = Rng(0x4D56_4531_2024_0001);
        let mut covered = 0;
        for case in 0..cases(600) {
            let ic = r.pick(&[4u16, 8, 12]);
            let oc = r.pick(&[4u16, 8, 12, 24, 68, 132]);
            let ins = Shape::new(r.range(1, 6) as u16, r.range(1, 40) as u16, ic);
            let outs = Shape::new(ins.h, ins.w, oc);
            let p = ConvParams {
                window: Window {
                    kh: 1,
                    kw: 1,
                    stride_h: 1,
                    stride_w: 1,
                    dilation_h: 1,
                    dilation_w: 1,
                    pad_top: 0,
                    pad_left: 0,
                },
                groups: 1,
                quant: quant(&mut r, true),
            };
            let input = r.i8s(ins.len());
            let filter = r.i8s(oc as usize * ic as usize);
            let t = tables(&mut r, oc as usize, case % 2 == 0);
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let mut want = std::vec![0i8; outs.len()];
            conv::check_conv_args(&p, ins, &input, &w, outs, &want).unwrap();
            conv::conv_core(&p, ins, &input, &w, outs, &mut want);
            // Only an `i8` input zero point is left out.
            let i8_zp = (-128..=127).contains(&p.quant.input_zero_point);
            assert_eq!(narrow_covers(&p, ins, outs), i8_zp);
            if !i8_zp {
                continue;
            }
            covered += 1;
            let (oc, taps) = (oc as usize, ic as usize);
            let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
            let mut dsp = std::vec![0i32; prepared::conv_len(oc)];
            prepared::prepare_conv(&w, oc, taps, zi, zo, &mut dsp).unwrap();
            let mut mve = std::vec![0i32; prepared::conv_mve_len(oc)];
            prepared::prepare_conv_mve(&w, oc, taps, zi, zo, &mut mve).unwrap();
            for (name, table) in [
                ("no table", &[][..]),
                ("DSP table", &dsp),
                ("Helium table", &mve),
            ] {
                let mut got = std::vec![0x55i8; outs.len()];
                assert!(conv_s8(
                    &p,
                    ins,
                    &input,
                    &w,
                    &[],
                    table,
                    outs,
                    &mut got,
                    false
                ));
                assert_eq!(got, want, "{name}, case {case}: {p:?} {ins:?} -> {outs:?}");
            }
        }
        #[cfg(not(miri))]
        assert!(covered > 300, "only {covered} cases covered");
    }

    /// The channel sums of global pooling against a plain fold: 1 to 64
    /// channels of wider images, any pixel count.
    #[test]
    fn channel_sums_match_fold() {
        let mut r = Rng(0x4D56_4531_2024_0500);
        for case in 0..cases(300) {
            let stride = r.range(1, 80) as usize;
            let n = r.range(1, stride.min(64) as i64) as usize;
            let pixels = r.range(1, 60) as usize;
            let x = r.i8s(pixels * stride);
            let want: std::vec::Vec<i32> = (0..n)
                .map(|j| (0..pixels).map(|p| x[p * stride + j] as i32).sum())
                .collect();
            let mut got = std::vec![7i32; n];
            channel_sums(&x, pixels, stride, &mut got);
            assert_eq!(got, want, "case {case}");
        }
    }

    /// The table ADD four elements at a time against the DSP kernels'
    /// per-element output stage (`add_loop` there), on random tables,
    /// constants and lengths (tails of 1 to 3), in place too.
    #[test]
    fn add_tables_matches_dsp() {
        use crate::arch::dsp_prims::{asr_reg, smmlar, ssat8};
        let mut r = Rng(0x4D56_4531_2024_0ADD);
        for case in 0..cases(400) {
            let s1: std::vec::Vec<i32> = (0..256)
                .map(|_| r.range(0, 1 << 30) as i32 - (1 << 29))
                .collect();
            let s2: std::vec::Vec<i32> = (0..256)
                .map(|_| r.range(0, 1 << 30) as i32 - (1 << 29))
                .collect();
            let mult = r.range(1 << 30, (1i64 << 31) - 1) as i32;
            let e = r.range(1, 23) as u32;
            let c0 = (1i32 << (e - 1)) + (r.range(0, 256) as i32 - 128) * (1 << e);
            let n = r.range(0, 70) as usize;
            let a = r.i8s(n);
            let b = r.i8s(n);
            let want: std::vec::Vec<i8> = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| {
                    let s = s1[x as u8 as usize].wrapping_add(s2[y as u8 as usize]);
                    let c = c0.wrapping_sub(((s as u32) >> 31) as i32);
                    ssat8(asr_reg(smmlar(s, mult, c), e)) as i8
                })
                .collect();
            let mut got = std::vec![0x55i8; n];
            let (pa, pb) = (a.as_ptr() as *const u8, b.as_ptr() as *const u8);
            // SAFETY: 256-word tables, `n`-byte buffers.
            unsafe {
                add_tables(
                    s1.as_ptr(),
                    s2.as_ptr(),
                    mult,
                    c0,
                    e,
                    pa,
                    pb,
                    got.as_mut_ptr(),
                    n,
                )
            };
            assert_eq!(got, want, "case {case}");
            let mut acc = a.clone();
            let pa = acc.as_mut_ptr();
            // SAFETY: as above, in place.
            unsafe {
                add_tables(
                    s1.as_ptr(),
                    s2.as_ptr(),
                    mult,
                    c0,
                    e,
                    pa as *const u8,
                    pb,
                    pa,
                    n,
                )
            };
            assert_eq!(acc, want, "in place, case {case}");
        }
    }

    #[test]
    fn depthwise_matches_portable() {
        use crate::ops::depthwise::{self, DepthwiseParams};
        let mut r = Rng(0x4D56_4531_2024_0D03);
        let mut covered = 0;
        for case in 0..cases(1200) {
            let win = window(&mut r, 3);
            let c = r.pick(&[4u16, 8, 12, 16, 20, 24, 40, 64, 68, 132, 72, 66]);
            // Rows wider than one tile's columns now and then (16 input
            // columns of 64 channels, 128 of 8).
            let iw = if case % 5 == 0 {
                r.range(9, 140)
            } else {
                r.range(1, 9)
            };
            let ins = Shape::new(r.range(1, 9) as u16, iw as u16, c);
            let outs = Shape::new(
                out_extent(ins.h, 3, win.stride_h, win.dilation_h, win.pad_top),
                out_extent(ins.w, 3, win.stride_w, win.dilation_w, win.pad_left),
                c,
            );
            let quant = quant(&mut r, true);
            let input = r.i8s(ins.len());
            let filter = r.i8s(9 * c as usize);
            let t = tables(&mut r, c as usize, case % 2 == 0);
            let w = ConvWeights {
                filter: &filter,
                bias: &t.bias,
                multiplier: &t.mult,
                shift: &t.shift,
            };
            let cp = ConvParams {
                window: win,
                groups: c,
                quant,
            };
            let dp = DepthwiseParams {
                window: win,
                depth_multiplier: 1,
                quant,
            };
            // Tap-major (DEPTHWISE_CONV_2D), with and without the prepared
            // table.
            let mut want = std::vec![0i8; outs.len()];
            if depthwise::check_depthwise_args(&dp, ins, &input, &w, outs, &want).is_err() {
                continue;
            }
            depthwise::depthwise_core(&dp, ins, &input, &w, outs, &mut want);
            let mut got = std::vec![0x55i8; outs.len()];
            let took = depthwise3x3(
                &cp,
                DwLayout::TapMajor,
                ins,
                &input,
                &w,
                &[],
                outs,
                &mut got,
            );
            assert_eq!(took, dw_covers(&cp, ins, outs));
            if !took {
                assert!(got.iter().all(|&v| v == 0x55), "declined but wrote");
                continue;
            }
            covered += 1;
            assert_eq!(got, want, "case {case}: {cp:?} {ins:?} -> {outs:?}");
            let mut table = std::vec![0i32; prepared::dw3_len(c as usize)];
            let (zi, zo) = (quant.input_zero_point, quant.output_zero_point);
            prepared::prepare_dw3(DwLayout::TapMajor, &w, c as usize, zi, zo, &mut table).unwrap();
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(depthwise3x3(
                &cp,
                DwLayout::TapMajor,
                ins,
                &input,
                &w,
                &table,
                outs,
                &mut got
            ));
            assert_eq!(got, want, "prepared, case {case}");
            let mut mve_table = std::vec![0i32; prepared::dw3_mve_len(c as usize)];
            let l = DwLayout::TapMajor;
            prepared::prepare_dw3_mve(l, &w, c as usize, zi, zo, &mut mve_table).unwrap();
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(depthwise3x3(
                &cp,
                DwLayout::TapMajor,
                ins,
                &input,
                &w,
                &mve_table,
                outs,
                &mut got
            ));
            assert_eq!(got, want, "Helium table, case {case}");
            // Channel-major (a grouped CONV_2D): the same weights reordered.
            let cm: std::vec::Vec<i8> = (0..9 * c as usize)
                .map(|i| filter[(i % 9) * c as usize + i / 9])
                .collect();
            let w2 = ConvWeights { filter: &cm, ..w };
            let mut want2 = std::vec![0i8; outs.len()];
            conv::conv_core(&cp, ins, &input, &w2, outs, &mut want2);
            assert_eq!(want2, want);
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(depthwise3x3(
                &cp,
                DwLayout::ChannelMajor,
                ins,
                &input,
                &w2,
                &[],
                outs,
                &mut got
            ));
            assert_eq!(got, want, "channel-major, case {case}");
            let l = DwLayout::ChannelMajor;
            prepared::prepare_dw3_mve(l, &w2, c as usize, zi, zo, &mut mve_table).unwrap();
            let mut got = std::vec![0x55i8; outs.len()];
            assert!(depthwise3x3(
                &cp,
                DwLayout::ChannelMajor,
                ins,
                &input,
                &w2,
                &mve_table,
                outs,
                &mut got
            ));
            assert_eq!(got, want, "channel-major, Helium table, case {case}");
        }
        #[cfg(not(miri))]
        assert!(covered > 300, "only {covered} cases covered");
    }
}
