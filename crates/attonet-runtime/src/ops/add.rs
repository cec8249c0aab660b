//! Elementwise ADD of two int8 tensors of the same shape (residual shortcuts).

use crate::error::check_len;
use crate::plan::kernels;
use crate::plan::kernels::KernelSet;
use crate::quant::{requantize_smaller_than_one, Clamp};
use crate::Error;

/// TFLite's int8 ADD parameters (computed by the converter as TFLite's
/// `PrepareGeneralSubOp`/`CalculateOpDataAdd` does: `left_shift = 20`, input
/// multipliers relative to twice the larger input scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddParams {
    /// Zero point of the first input.
    pub input1_zero_point: i32,
    /// Zero point of the second input.
    pub input2_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Left shift applied to both offset inputs before scaling (TFLite: 20).
    pub left_shift: i32,
    /// Q31 multiplier of the first input.
    pub input1_multiplier: i32,
    /// Shift (`<= 0`) of the first input.
    pub input1_shift: i32,
    /// Q31 multiplier of the second input.
    pub input2_multiplier: i32,
    /// Shift (`<= 0`) of the second input.
    pub input2_shift: i32,
    /// Q31 multiplier of the sum.
    pub output_multiplier: i32,
    /// Shift (`<= 0`) of the sum.
    pub output_shift: i32,
    /// Fused activation.
    pub clamp: Clamp,
}

/// `output[i] = input1[i] + input2[i]` in the quantized domain.
///
/// TFLite's `reference_integer_ops::AddElementwise`, exactly:
/// ```text
/// s1  = requantize_smaller_than_one((x1 - zp1) << left_shift, m1, shift1)
/// s2  = requantize_smaller_than_one((x2 - zp2) << left_shift, m2, shift2)
/// out = clamp(requantize_smaller_than_one(s1 + s2, m_out, shift_out) + zp_out)
/// ```
///
/// * Layout: three flat buffers of the same length (any shape; no
///   broadcasting).
/// * Scratch: none.
/// * Constraints: `left_shift` in `0..=30`; the three shifts in `-31..=0`;
///   `clamp.min <= clamp.max`.
pub fn add_s8(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) -> crate::Result {
    add_linked::<{ kernels::ALL }>(p, input1, input2, output)
}

/// [`add_s8`] with the kernels of `K` ([`crate::plan::kernels`]): on a
/// Cortex-M DSP build the ways of its DSP kernel that `K` links, the
/// portable loop only with [`kernels::ADD_FALLBACK`] (refused, nothing
/// written, where it would be needed and is not linked).
pub(crate) fn add_linked<const K: KernelSet>(
    p: &AddParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> crate::Result {
    check_add_params(p)?;
    check_len("input2", input2, input1.len())?;
    check_len("output", output, input1.len())?;
    #[cfg(attonet_dsp)]
    {
        if crate::arch::cortex_m_dsp::add_s8::<K>(p, input1, input2, output) {
            return Ok(());
        }
        if K & kernels::ADD_FALLBACK == 0 {
            return Err(crate::ops::conv::fallback_not_linked());
        }
    }
    #[cfg(attonet_riscv)]
    if crate::arch::riscv::add_s8(p, input1, input2, output) {
        return Ok(());
    }
    add_core(p, input1, input2, output);
    Ok(())
}

/// The portable loop of [`add_s8`], for checked arguments.
pub(crate) fn add_core(p: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    for ((o, &a), &b) in output.iter_mut().zip(input1).zip(input2) {
        *o = add_one(p, a, b);
    }
}

/// In-place variant: `acc[i] = acc[i] + other[i]`, where `acc` holds the
/// first input on entry and the output on return.
///
/// Same arithmetic and constraints as [`add_s8`] (`acc` is the first input);
/// `other.len()` must equal `acc.len()`.
pub fn add_s8_in_place(p: &AddParams, acc: &mut [i8], other: &[i8]) -> crate::Result {
    add_in_place_linked::<{ kernels::ALL }>(p, acc, other)
}

/// [`add_s8_in_place`] with the kernels of `K` (as [`add_linked`]).
pub(crate) fn add_in_place_linked<const K: KernelSet>(
    p: &AddParams,
    acc: &mut [i8],
    other: &[i8],
) -> crate::Result {
    check_add_params(p)?;
    check_len("other", other, acc.len())?;
    #[cfg(attonet_dsp)]
    {
        if crate::arch::cortex_m_dsp::add_s8_in_place::<K>(p, acc, other) {
            return Ok(());
        }
        if K & kernels::ADD_FALLBACK == 0 {
            return Err(crate::ops::conv::fallback_not_linked());
        }
    }
    #[cfg(attonet_riscv)]
    if crate::arch::riscv::add_s8_in_place(p, acc, other) {
        return Ok(());
    }
    add_in_place_core(p, acc, other);
    Ok(())
}

/// An ADD made ready once for many in-place calls with the same parameters
/// (a fused block adds its shortcut a band of rows at a time): on a
/// Cortex-M DSP or RISC-V build whose kernel set links them
/// ([`kernels::SHORTCUT_TABLES`]) it builds the ADD's tables here, once;
/// elsewhere, or where
/// the tables do not cover the parameters, each call is
/// [`add_s8_in_place`]'s (with the kernels of `K`).
pub(crate) struct ResidualAdd {
    params: AddParams,
    #[cfg(attonet_dsp)]
    tables: crate::arch::cortex_m_dsp::AddPrepared,
    #[cfg(attonet_riscv)]
    rv_tables: crate::arch::riscv::AddPrepared,
    #[cfg(any(attonet_dsp, attonet_riscv))]
    ready: bool,
}

impl ResidualAdd {
    /// `p`, not prepared yet ([`ResidualAdd::prepare`]); built in place by
    /// the caller (on the DSP cores it holds 2 KiB of tables).
    #[inline(always)]
    pub(crate) fn new(p: &AddParams) -> ResidualAdd {
        ResidualAdd {
            params: *p,
            #[cfg(attonet_dsp)]
            tables: crate::arch::cortex_m_dsp::AddPrepared::empty(),
            #[cfg(attonet_riscv)]
            rv_tables: crate::arch::riscv::AddPrepared::empty(),
            #[cfg(any(attonet_dsp, attonet_riscv))]
            ready: false,
        }
    }

    /// Checks the parameters and builds the tables where `K` links them.
    pub(crate) fn prepare<const K: KernelSet>(&mut self) -> crate::Result {
        check_add_params(&self.params)?;
        #[cfg(attonet_dsp)]
        {
            self.ready = K & kernels::SHORTCUT_TABLES != 0 && self.tables.prepare(&self.params);
        }
        #[cfg(all(attonet_riscv, not(attonet_dsp)))]
        {
            self.ready = K & kernels::SHORTCUT_TABLES != 0 && self.rv_tables.prepare(&self.params);
        }
        Ok(())
    }

    /// `acc[i] = acc[i] + other[i]` ([`add_s8_in_place`]).
    pub(crate) fn in_place<const K: KernelSet>(
        &self,
        acc: &mut [i8],
        other: &[i8],
    ) -> crate::Result {
        #[cfg(attonet_dsp)]
        if self.ready {
            check_len("other", other, acc.len())?;
            self.tables.in_place(&self.params, acc, other);
            return Ok(());
        }
        #[cfg(all(attonet_riscv, not(attonet_dsp)))]
        if self.ready {
            check_len("other", other, acc.len())?;
            self.rv_tables.in_place(acc, other);
            return Ok(());
        }
        // A DSP build that links no per-call ADD has no other way.
        #[cfg(attonet_dsp)]
        if K & (kernels::ADD_TABLES | kernels::ADD_DIRECT | kernels::ADD_FALLBACK) == 0 {
            return Err(crate::ops::conv::fallback_not_linked());
        }
        add_in_place_linked::<K>(&self.params, acc, other)
    }
}

/// The portable loop of [`add_s8_in_place`], for checked arguments.
pub(crate) fn add_in_place_core(p: &AddParams, acc: &mut [i8], other: &[i8]) {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = add_one(p, *a, b);
    }
}

pub(crate) fn check_add_params(p: &AddParams) -> crate::Result {
    if !(0..=30).contains(&p.left_shift) {
        return Err(Error::Parameter("add left shift outside 0..=30"));
    }
    for s in [p.input1_shift, p.input2_shift, p.output_shift] {
        if !(-31..=0).contains(&s) {
            return Err(Error::Parameter("add shift outside -31..=0"));
        }
    }
    if p.clamp.min > p.clamp.max {
        return Err(Error::Parameter("activation clamp has min > max"));
    }
    Ok(())
}

/// One element: TFLite's `AddElementwise` arithmetic.
#[inline(always)]
pub(crate) fn add_one(p: &AddParams, a: i8, b: i8) -> i8 {
    let scale = 1i32 << p.left_shift;
    let v1 = (a as i32)
        .wrapping_sub(p.input1_zero_point)
        .wrapping_mul(scale);
    let v2 = (b as i32)
        .wrapping_sub(p.input2_zero_point)
        .wrapping_mul(scale);
    let s1 = requantize_smaller_than_one(v1, p.input1_multiplier, p.input1_shift);
    let s2 = requantize_smaller_than_one(v2, p.input2_multiplier, p.input2_shift);
    let raw = requantize_smaller_than_one(s1.wrapping_add(s2), p.output_multiplier, p.output_shift)
        .wrapping_add(p.output_zero_point);
    p.clamp.apply(raw)
}
