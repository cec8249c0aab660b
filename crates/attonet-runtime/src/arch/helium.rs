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
//! Covered: one group, input channels a multiple of 16 (each tap then is
//! whole 16-byte chunks, copied as such), any window, stride, dilation and
//! padding with `kh * kw * in_c <= MVE_MAX_K`, and an `i8` input zero point.

use crate::ops::{ConvParams, ConvWeights, Shape};
use crate::prepared::{self, ChanQ};
use crate::quant::requantize;
use core::mem::MaybeUninit;

/// Output pixels per block.
const P: usize = 4;
/// The longest window (`kh * kw * in_c`) covered: ResNet-8's 3x3x64.
pub(crate) const MVE_MAX_K: usize = 576;
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
                w = w.add(16);
                c = c.add(64);
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
struct Chan {
    /// 0: `bias - zp * Σ w`, the accumulators' start.
    bias: i32,
    /// 4: the Q31 multiplier.
    mult: i32,
    /// 8: `2^(e-1) + zp_out * 2^e`.
    c0: i32,
    /// 12: `-e`, the arithmetic right shift as `VSHL`'s count.
    neg_e: i32,
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
            w = w.add(16 * run.k.div_ceil(16)).offset(run.wadj);
            let q0 = vmov_lanes(acc);
            let q1 = vadd_i32_scalar(vshr_s32(q0, 31), t.c0);
            let q0 = vadd_i32(q0, q0);
            let q0 = vrmulh_s32(q0, vdup_32(t.mult));
            let q0 = vadd_i32(q0, q1);
            let q0 = vshl_s32_reg(q0, t.neg_e);
            let q0 = vmin_s32(vmax_s32(q0, q5), q6);
            vstrb_32_scatter(q0, out, q7);
            out = out.add(1);
            tab = tab.add(1);
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
            w = w.add(16 * run.k.div_ceil(16)).offset(run.wadj);
            let tt = t.c0.wrapping_sub(((acc as u32) >> 31) as i32);
            let v = ssat8(asr_reg(
                smmlar(acc.wrapping_add(acc), t.mult, tt),
                t.neg_e.wrapping_neg() as u32,
            ));
            *out = v as i8;
            out = out.add(1);
            tab = tab.add(1);
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

/// Whether [`conv_s8`] takes a convolution with these parameters: any
/// window, stride, dilation and padding whose window of `kh * kw * in_c /
/// groups` bytes is at most [`MVE_MAX_K`], an `i8` input zero point, and
/// one group or groups of at least 16 input times output channels (fewer,
/// e.g. depthwise-like layers, gather a window per group and output
/// channel: the DSP kernels are faster there).
pub(crate) fn conv_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    let g = p.groups as usize;
    let ic = in_shape.c as usize;
    if g == 0 || ic % g != 0 || out_shape.c as usize % g != 0 {
        return false;
    }
    let (cpg, ocpg) = (ic / g, out_shape.c as usize / g);
    let k = w.kh as usize * w.kw as usize * cpg;
    (g == 1 || cpg * ocpg >= 16)
        && (1..=MVE_MAX_K).contains(&k)
        && (-128..=127).contains(&p.quant.input_zero_point)
        && out_shape.c > 0
        && out_shape.h > 0
        && out_shape.w > 0
}

/// The convolution through [`block`] (see the module documentation), for
/// arguments [`check_conv_args`](crate::ops::conv::check_conv_args)
/// accepted; `sums` is each output channel's `Σ w` (the plan's
/// `weight_sums`) or empty (then summed here), `prepared` the converter's
/// table of the epilogue constants ([`prepared::prepare_conv`]) or empty.
/// Returns `false`, nothing written, where [`conv_covers`] does not hold.
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
) -> bool {
    if !conv_covers(p, in_shape, out_shape) {
        return false;
    }
    let pre: Option<&[ChanQ]> = (prepared.len() == prepared::conv_len(out_shape.c as usize))
        .then(|| bytemuck::try_cast_slice(prepared).ok())
        .flatten();
    // Whole 16-byte taps (one group, input channels a multiple of 16):
    // the simpler gather, compiled apart.
    if p.groups == 1 && in_shape.c % 16 == 0 {
        conv_blocks::<true>(p, in_shape, input, weights, sums, pre, out_shape, output);
    } else {
        conv_blocks::<false>(p, in_shape, input, weights, sums, pre, out_shape, output);
    }
    true
}

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
    // caller's `P * k` bytes.
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
                dst = dst.add(64 * n);
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
                dst = dst.add(64 * per_tap);
            }
        }
    }
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn conv_blocks<const WHOLE: bool>(
    p: &ConvParams,
    in_shape: Shape,
    input: &[i8],
    weights: &ConvWeights<'_>,
    sums: &[i32],
    pre: Option<&[ChanQ]>,
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
    let mut tab = [Chan {
        bias: 0,
        mult: 0,
        c0: 0,
        neg_e: 0,
    }; BATCH];
    for g in 0..groups {
        let oc_end = (g + 1) * ocpg;
        let mut oc0 = g * ocpg;
        while oc0 < oc_end {
            let nb = BATCH.min(oc_end - oc0);
            let mut slow = 0u64;
            for (i, t) in tab[..nb].iter_mut().enumerate() {
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
                *t = match c {
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
            }
            let tab = &tab[..nb];
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
                let mut rest = slow;
                while rest != 0 {
                    let i = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let oc = oc0 + i;
                    // SAFETY: as for `block`, one channel; slots past `np`
                    // hold earlier pixels' columns (or were never read: only
                    // the first `np` results are kept).
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::test_cases::{out_extent, quant, tables, window, Rng};
    use super::*;
    use crate::ops::conv;
    use crate::ops::Window;

    #[test]
    fn instruction_models() {
        let a: [i8; 16] = core::array::from_fn(|i| (i as i8 - 8) * 16);
        let b: [i8; 16] = core::array::from_fn(|i| 127 - 17 * i as i8);
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
        for case in 0..1500 {
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
            let took = conv_s8(&p, ins, &input, &w, &[], &[], outs, &mut got);
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
            assert!(conv_s8(&p, ins, &input, &w, &sums, &table, outs, &mut got));
            assert_eq!(got, want, "prepared, case {case}");
        }
        assert!(covered > 600, "only {covered} cases covered");
    }
}
