//! Architecture-specific fast paths of the kernels.
//!
//! The portable kernels in [`crate::ops`] are the reference and the fallback.
//! A fast path here computes exactly the same bits (the requantization is
//! [`crate::quant::requantize`] itself) and only changes how the
//! accumulators are formed; the ops call it, selected by `cfg` alone, after
//! their argument checks, and fall back to the portable loops for the
//! parameters it does not cover (each fast entry point returns `false`
//! then, having written nothing).
//!
//! * `cortex_m_dsp` (cfg `attonet_dsp`, set by `build.rs` for Armv7E-M and
//!   for Armv8-M Mainline built with the DSP extension): SMLAD-based
//!   convolution and depthwise kernels through `core::arch::asm!`.
//! * `riscv` (cfg `attonet_riscv`, set by `build.rs` for rv32 targets with
//!   the M extension, not RV32E): register-blocked convolution (its inner
//!   loop in `core::arch::asm!`), depthwise and ADD kernels.
//! * `helium` (cfg `attonet_mve`, set by `build.rs` for Armv8.1-M cores
//!   with the M-profile Vector Extension: Cortex-M55, M85): `VMLADAVA`-based
//!   convolution through `core::arch::asm!`, tried before the DSP kernels
//!   (which these cores also have, and which take what it declines).
//!
//! * `copy`: the byte copies of the fused-block executor and the kernels,
//!   per target.
//!
//! Host builds of the crate's own unit tests compile the DSP kernels too,
//! with each DSP instruction emulated in plain Rust (`dsp_prims`), so
//! `cargo test` checks their indexing and arithmetic against the portable
//! kernels; the QEMU firmware in `tests/qemu-kernels` checks the real
//! instructions. Likewise the RISC-V kernels, with their assembly loops
//! written out in Rust on the host; `tests/qemu-kernels-riscv` checks the
//! real ones on QEMU `virt`.

pub(crate) mod copy;
#[cfg(any(attonet_dsp, test))]
pub(crate) mod cortex_m_dsp;
#[cfg(any(attonet_dsp, test))]
pub(crate) mod dsp_prims;
#[cfg(any(attonet_mve, test))]
pub(crate) mod helium;
#[cfg(any(attonet_riscv, test))]
pub(crate) mod riscv;

#[cfg(test)]
pub(crate) mod test_cases;
