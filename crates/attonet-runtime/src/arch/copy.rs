//! Byte copies for the fused-block executor and the kernels' short copies.
//!
//! A fused block moves rows every band (its windows shift down, its row
//! buffer goes to the output) and the kernels copy a few taps or a partial
//! block's outputs; `copy_from_slice` calls the compiler's `memcpy`, about
//! one instruction a byte on the Cortex-M4 plus its call. Here: Helium
//! (`attonet_mve`) 16 bytes a `VLDRB.8`/`VSTRB.8` pair under a
//! tail-predicated loop; the DSP cores (`attonet_dsp`) 16 bytes a
//! `LDM`/`STM` pair where both ends are word-aligned, words by `LDR`/`STR`
//! (unaligned access is allowed there) otherwise; every other target
//! `copy_from_slice`. `tests/qemu-kernels` checks each against a byte loop
//! on every alignment.

/// Copies `src` into `dst`: `min(dst.len(), src.len())` bytes (callers pass
/// slices of equal length).
#[inline(always)]
pub(crate) fn copy(dst: &mut [i8], src: &[i8]) {
    let n = dst.len().min(src.len());
    #[cfg(attonet_mve)]
    // SAFETY: `n` bytes readable at `src` and writable at `dst` (both
    // slices hold that many; a `&mut` and a `&` never overlap); the last
    // iteration's predicate covers `n % 16` bytes.
    unsafe {
        core::arch::asm!(
            "wlstp.8 lr, {n}, 2f",
            "1:",
            "vldrb.8 q0, [{s}], #16",
            "vstrb.8 q0, [{d}], #16",
            "letp  lr, 1b",
            "2:",
            n = in(reg) n,
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            out("lr") _,
            out("q0") _,
            options(nostack),
        );
    }
    #[cfg(all(attonet_dsp, not(attonet_mve)))]
    // SAFETY: as above; `LDM`/`STM` only on word-aligned addresses, `LDR`
    // and `STR` unaligned (allowed on these cores), the rest by bytes.
    unsafe {
        core::arch::asm!(
            "orr   r12, r0, r1",
            "tst   r12, #3",
            "bne   3f",
            "lsrs  r12, {n}, #4",
            "beq   3f",
            "2:",
            "ldm   r0!, {{r2, r3, r4, r5}}",
            "stm   r1!, {{r2, r3, r4, r5}}",
            "subs  r12, r12, #1",
            "bne   2b",
            "and   {n}, {n}, #15",
            "3:",
            "lsrs  r12, {n}, #2",
            "beq   5f",
            "4:",
            "ldr   r2, [r0], #4",
            "str   r2, [r1], #4",
            "subs  r12, r12, #1",
            "bne   4b",
            "5:",
            "ands  {n}, {n}, #3",
            "beq   7f",
            "6:",
            "ldrb  r2, [r0], #1",
            "strb  r2, [r1], #1",
            "subs  {n}, {n}, #1",
            "bne   6b",
            "7:",
            n = inout(reg) n => _,
            inout("r0") src.as_ptr() => _,
            inout("r1") dst.as_mut_ptr() => _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r12") _,
            options(nostack),
        );
    }
    #[cfg(not(any(attonet_mve, attonet_dsp)))]
    dst[..n].copy_from_slice(&src[..n]);
}
