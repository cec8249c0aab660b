//! Elementwise ADD of two int8 tensors of the same shape (residual shortcuts).

use crate::error::check_len;
use crate::plan::kernels;
use crate::plan::kernels::KernelSet;
use crate::quant::{requantize_smaller_than_one, Clamp};
use crate::Error;

/// TFLite's int8 ADD parameters (computed by the converter as TFLite's
/// `PrepareGeneralSubOp`/`CalculateOpDataAdd` does: `left_shift = 20`, input
/// multipliers relative to twice the larger input scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
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

/// TFLite's 16x8 ADD parameters: [`AddParams`]' rescaling as TFLM's
/// `CalculateOpDataAdd` computes it for int16 (`left_shift = 15`, the
/// general-scale path, `pot_scale_int16 = false`), with an int16 clamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddS16Params {
    /// Left shift of both inputs before scaling (TFLM: 15).
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
    pub clamp: super::int16::Clamp16,
}

/// Checks the lengths of a 16x8 element-wise op whose operands repeat over
/// the output (`a` and `b` hold `n_a` and `n_b` int16 elements, each
/// dividing the output's `n`): returns `(n_a, n_b, n)`.
pub(crate) fn suffix_broadcast_lens(
    a: &[i8],
    b: &[i8],
    out: &[i8],
) -> crate::Result<(usize, usize, usize)> {
    use super::int16::elements;
    let (na, nb, n) = (
        elements("int16 operand", a)?,
        elements("int16 operand", b)?,
        elements("int16 output", out)?,
    );
    if na == 0 || nb == 0 || n % na != 0 || n % nb != 0 || n != na.max(nb) {
        return Err(Error::Shape(
            "int16 operands must each repeat a whole number of times over the output",
        ));
    }
    Ok((na, nb, n))
}

/// `output[i] = a[i mod n_a] + b[i mod n_b]` in the quantized domain (an
/// operand shorter than the output repeats: a broadcast over the leading
/// dimensions), for int16 tensors with zero point 0.
///
/// TFLite Micro's int16 ADD (`reference_ops::AddGeneralParamScale`, which
/// is `AddElementwise` at `left_shift = 15`; the broadcasting
/// `BroadcastAdd6DSlow` computes the same per element):
/// ```text
/// s1  = requantize_smaller_than_one(x1 << 15, m1, shift1)
/// s2  = requantize_smaller_than_one(x2 << 15, m2, shift2)
/// out = clamp(requantize_smaller_than_one(s1 + s2, m_out, shift_out))
/// ```
///
/// * Layout: flat int16 buffers (two bytes an element); the output's length
///   a multiple of each operand's, and the longer operand's.
/// * Scratch: none. The operands may be the same buffer; the output is apart.
/// * Constraints: `left_shift` in `0..=15`; shifts in `-31..=0`.
pub fn add_s16(p: &AddS16Params, a: &[i8], b: &[i8], output: &mut [i8]) -> crate::Result {
    use super::int16::{load, store};
    p.clamp.check()?;
    if !(0..=15).contains(&p.left_shift)
        || [p.input1_shift, p.input2_shift, p.output_shift]
            .iter()
            .any(|s| !(-31..=0).contains(s))
    {
        return Err(Error::Parameter("int16 ADD shifts out of range"));
    }
    let (na, nb, n) = suffix_broadcast_lens(a, b, output)?;
    for i in 0..n {
        let x1 = (load(a, i % na) as i32) << p.left_shift;
        let x2 = (load(b, i % nb) as i32) << p.left_shift;
        let s1 = requantize_smaller_than_one(x1, p.input1_multiplier, p.input1_shift);
        let s2 = requantize_smaller_than_one(x2, p.input2_multiplier, p.input2_shift);
        let sum = s1.wrapping_add(s2);
        let v = requantize_smaller_than_one(sum, p.output_multiplier, p.output_shift);
        store(output, i, p.clamp.apply(v));
    }
    Ok(())
}

#[cfg(test)]
mod s16_tests {
    use super::*;
    use crate::ops::int16::{load, store, Clamp16};

    /// Equal scales in and out (as `CalculateOpDataAdd` gives them for
    /// scales s, s, s: input multipliers 0.5, output 2s / (2^15 s) = 2^-14):
    /// x + x saturates at 32767 and -32768, and small sums are exact.
    #[test]
    fn saturates_at_the_int16_range() {
        let p = AddS16Params {
            left_shift: 15,
            input1_multiplier: 1 << 30,
            input1_shift: 0,
            input2_multiplier: 1 << 30,
            input2_shift: 0,
            output_multiplier: 1 << 30,
            output_shift: -13,
            clamp: Clamp16::NONE,
        };
        let mut x = [0i8; 6];
        store(&mut x, 0, 20000);
        store(&mut x, 1, -20000);
        store(&mut x, 2, 1234);
        let mut out = [0i8; 6];
        add_s16(&p, &x, &x, &mut out).unwrap();
        assert_eq!(load(&out, 0), i16::MAX);
        assert_eq!(load(&out, 1), i16::MIN);
        assert_eq!(load(&out, 2), 2468);
        // A one-element operand repeats; a two-element one does not fit 3.
        add_s16(&p, &x, &x[..2], &mut out).unwrap();
        assert_eq!(load(&out, 2), 21234);
        assert!(add_s16(&p, &x, &x[..4], &mut out).is_err());
    }
}
