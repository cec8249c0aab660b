//! SVDF (a rank-`r` factorized 1-D convolution over time, keyword models'
//! layer), int8 in and out with an int16 or int8 time filter and state:
//! TensorFlow Lite Micro's `svdf_common.cc` `EvalIntegerSvdfReference`.
//!
//! Per call, for each batch row `b`:
//! 1. the state (`[batch][filters][memory]`, the last `memory` feature
//!    values of each filter) moves one element towards the start, over the
//!    whole buffer as TFLM's loop does (each row's newest slot is then
//!    overwritten, so nothing crosses rows);
//! 2. feature: `state[b][f][memory - 1] = clamp(MultiplyByQuantizedMultiplier(
//!    sum_c wf[f][c] * (x[b][c] - in_zp), m1, s1)) + state_zp`, clamped to
//!    the state type's range and then offset, the sum narrowed to the state
//!    type with wraparound: the order of the pinned TFLM (later TFLM moves
//!    the zero point before the clamp; the two differ only for int8 state
//!    with a nonzero zero point, which `tests/op-goldens-built`'s
//!    `svdf_int8_state` pins down);
//! 3. time: for each unit `u` (filters `u * rank .. u * rank + rank`),
//!    `acc = bias[u] + sum_f sum_j wt[f][j] * (state[b][f][j] - state_zp)`,
//!    then `y[b][u] = clamp(MultiplyByQuantizedMultiplier(acc, m2, s2) +
//!    out_zp, -128, 127)`. TFLM keeps the per-filter sums in a scratch
//!    buffer and adds them per unit afterwards; with 32-bit wrapping sums the
//!    order does not change a bit, so no scratch is needed here.
//!
//! `m1, s1` is TFLM's `QuantizeMultiplier(in_scale * wf_scale / state_scale)`
//! and `m2, s2` of `state_scale * wt_scale / out_scale` (both products in
//! `f32`, as TFLM's Prepare), computed by the converter. TFLM's int8 path
//! applies no fused activation; neither does this. The weights' zero points
//! are not read (TFLM's are 0).
//!
//! The state is the caller's: it lives in the arena between calls (see
//! [`crate::plan::Model::reset_state`], which fills it as TFLM's
//! `ResetVariableTensors` does: the zero point for int8 state, 0 for int16).
//! int16 values are little-endian, read byte-wise.

use crate::error::check_len;
use crate::ops::conv::dot_s8;
use crate::ops::requantize::IntType;
use crate::ops::saturating_len as bytes;
use crate::quant::{requantize, shift_in_range};
use crate::Error;

/// The geometry and quantization of one SVDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SvdfParams {
    /// Batch rows (each with its own state).
    pub batch: u16,
    /// Input features a row.
    pub inputs: u16,
    /// Filters (`rank` a unit).
    pub filters: u16,
    /// Time steps each filter remembers.
    pub memory: u16,
    /// Filters summed into one output unit; divides `filters`.
    pub rank: u16,
    /// The time filter's and the state's element type: int16 or int8.
    pub state_type: IntType,
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The state's zero point (0 for int16 state).
    pub state_zero_point: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// Feature step: `QuantizeMultiplier(in * wf / state scale)`.
    pub feature_multiplier: i32,
    /// Its shift, in `-31..=30`.
    pub feature_shift: i32,
    /// Output step: `QuantizeMultiplier(state * wt / out scale)`.
    pub output_multiplier: i32,
    /// Its shift, in `-31..=30`.
    pub output_shift: i32,
}

impl SvdfParams {
    /// Output units a row: `filters / rank`.
    pub const fn units(&self) -> usize {
        if self.rank == 0 {
            0
        } else {
            self.filters as usize / self.rank as usize
        }
    }

    /// Bytes of the state: `batch * filters * memory` elements.
    pub const fn state_bytes(&self) -> usize {
        bytes(
            self.batch as u64
                * self.filters as u64
                * self.memory as u64
                * self.state_type.size() as u64,
        )
    }

    /// Bytes of the time filter: `filters * memory` elements.
    pub const fn time_bytes(&self) -> usize {
        bytes(self.filters as u64 * self.memory as u64 * self.state_type.size() as u64)
    }

    /// The value [`crate::plan::Model::reset_state`] fills the state with.
    pub const fn state_fill(&self) -> i8 {
        match self.state_type {
            IntType::Int8 => self.state_zero_point as i8,
            _ => 0,
        }
    }

    /// Checks the geometry and quantization (not the buffers).
    pub fn check(&self) -> crate::Result {
        if self.batch == 0 || self.inputs == 0 || self.memory == 0 {
            return Err(Error::Shape("svdf with an empty extent"));
        }
        if self.rank == 0 || self.filters == 0 || self.filters % self.rank != 0 {
            return Err(Error::Shape("svdf rank does not divide the filters"));
        }
        if !matches!(self.state_type, IntType::Int8 | IntType::Int16) {
            return Err(Error::Parameter("svdf state neither int8 nor int16"));
        }
        if !IntType::Int8.holds(self.input_zero_point)
            || !IntType::Int8.holds(self.output_zero_point)
            || !self.state_type.holds(self.state_zero_point)
        {
            return Err(Error::Parameter("svdf zero point outside its type"));
        }
        if !shift_in_range(self.feature_shift) || !shift_in_range(self.output_shift) {
            return Err(Error::Parameter("requantization shift outside -31..=30"));
        }
        Ok(())
    }
}

/// One SVDF call: reads `input` (`batch * inputs`), updates `state` and
/// writes `output` (`batch * units`).
///
/// * `weights_feature`: `[filters][inputs]` int8; `weights_time`:
///   `[filters][memory]` of the state type, as bytes; `bias`: `units`
///   values, or empty for none.
/// * Constraints: every buffer its length ([`Error::BufferLength`]); see
///   [`SvdfParams::check`].
/// * Scratch: none.
pub fn svdf_s8(
    p: &SvdfParams,
    input: &[i8],
    weights_feature: &[i8],
    weights_time: &[i8],
    bias: &[i32],
    state: &mut [i8],
    output: &mut [i8],
) -> crate::Result {
    p.check()?;
    let (batch, inputs, filters, memory, rank) = (
        p.batch as usize,
        p.inputs as usize,
        p.filters as usize,
        p.memory as usize,
        p.rank as usize,
    );
    let units = p.units();
    check_len("svdf input", input, batch * inputs)?;
    check_len("svdf feature weights", weights_feature, filters * inputs)?;
    check_len("svdf time weights", weights_time, p.time_bytes())?;
    if !bias.is_empty() {
        check_len("svdf bias", bias, units)?;
    }
    check_len("svdf state", state, p.state_bytes())?;
    check_len("svdf output", output, batch * units)?;
    let ty = p.state_type;
    let size = ty.size();
    let (lo, hi) = ty.range();

    // 1. Every element one place towards the start.
    state.copy_within(size.., 0);

    // 2. The newest feature value of each filter: `Σ w * x - zp * Σ w`
    //    (exact modulo 2^32, as TFLM's int32 sum).
    for b in 0..batch {
        let x = &input[b * inputs..(b + 1) * inputs];
        for (f, w) in weights_feature.chunks_exact(inputs).enumerate() {
            let (sxw, sw) = dot_s8(w, x);
            let dot = sxw.wrapping_sub(p.input_zero_point.wrapping_mul(sw));
            let v = requantize(dot, p.feature_multiplier, p.feature_shift).clamp(lo, hi);
            // `store` keeps the low bytes: the wrapping narrowing of TFLM's
            // `static_cast<T>`.
            ty.store(
                state,
                (b * filters + f) * memory + memory - 1,
                v.wrapping_add(p.state_zero_point),
            );
        }
    }

    // 3. The time filter over each filter's memory, summed per unit.
    let row_bytes = memory * size;
    for b in 0..batch {
        let rows = &state[b * filters * row_bytes..(b + 1) * filters * row_bytes];
        for u in 0..units {
            let mut acc = bias.get(u).copied().unwrap_or(0);
            for f in u * rank..(u + 1) * rank {
                let wt = &weights_time[f * row_bytes..(f + 1) * row_bytes];
                let s = &rows[f * row_bytes..(f + 1) * row_bytes];
                acc = acc.wrapping_add(match ty {
                    IntType::Int16 => time_dot_s16(wt, s, p.state_zero_point),
                    _ => time_dot_s8(wt, s, p.state_zero_point),
                });
            }
            let y = requantize(acc, p.output_multiplier, p.output_shift) as i64
                + p.output_zero_point as i64;
            output[b * units + u] = y.clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

/// `Σ wt * (s - zp)` of one filter's int16 time weights and state
/// (little-endian bytes), as `Σ wt * s - zp * Σ wt` (exact modulo 2^32).
#[inline(always)]
fn time_dot_s16(wt: &[i8], s: &[i8], zp: i32) -> i32 {
    let v = |p: &[i8]| i16::from_le_bytes([p[0] as u8, p[1] as u8]) as i32;
    let pairs = wt.chunks_exact(2).zip(s.chunks_exact(2));
    if zp == 0 {
        // TFLM's int16 state (zero point 0): no weight sum to keep.
        return pairs.fold(0i32, |acc, (w, x)| {
            acc.wrapping_add(v(w).wrapping_mul(v(x)))
        });
    }
    let (sxw, sw) = pairs.fold((0i32, 0i32), |(sxw, sw), (w, x)| {
        (
            sxw.wrapping_add(v(w).wrapping_mul(v(x))),
            sw.wrapping_add(v(w)),
        )
    });
    sxw.wrapping_sub(zp.wrapping_mul(sw))
}

/// `Σ wt * (s - zp)` of one filter's int8 time weights and state.
#[inline(always)]
fn time_dot_s8(wt: &[i8], s: &[i8], zp: i32) -> i32 {
    let (sxw, sw) = dot_s8(wt, s);
    sxw.wrapping_sub(zp.wrapping_mul(sw))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// The identity scale: `2^30 * 2^1 / 2^31`.
    const ONE: (i32, i32) = (1 << 30, 1);

    fn params(state_type: IntType, rank: u16) -> SvdfParams {
        SvdfParams {
            batch: 1,
            inputs: 2,
            filters: 2,
            memory: 3,
            rank,
            state_type,
            input_zero_point: 1,
            state_zero_point: 0,
            output_zero_point: -2,
            feature_multiplier: ONE.0,
            feature_shift: ONE.1,
            output_multiplier: ONE.0,
            output_shift: ONE.1,
        }
    }

    fn bytes16(v: &[i16]) -> Vec<i8> {
        v.iter()
            .flat_map(|x| x.to_le_bytes())
            .map(|b| b as i8)
            .collect()
    }

    #[test]
    fn state_remembers_the_last_memory_feature_values() {
        // Two filters over two inputs, rank 1 (two units), memory 3, unit
        // scales: the state holds each filter's last three dot products and
        // the output is the time filter's weighted sum of them.
        let p = params(IntType::Int16, 1);
        let wf = [1i8, 0, 0, 1]; // filter 0 reads x0, filter 1 reads x1
        let wt = bytes16(&[1, 10, 100, 1, 1, 1]); // filter 0 weighs oldest..newest
        let bias = [5i32, 0];
        let mut state = std::vec![0i8; p.state_bytes()];
        let mut y = [0i8; 2];
        let mut outs = Vec::new();
        for x in [[2i8, 4], [3, 5], [4, 6], [5, 7]] {
            svdf_s8(&p, &x, &wf, &wt, &bias, &mut state, &mut y).unwrap();
            outs.push(y);
        }
        // Inputs minus zero point 1: filter 0 sees 1, 2, 3, 4; filter 1 3, 4, 5, 6.
        // Unit 0: 5 + 1*oldest + 10*middle + 100*newest, saturating at 127 - (-2).
        // Unit 1: the sum of the last three.
        let expect = |s0: [i32; 3], s1: [i32; 3]| {
            let u0 = 5 + s0[0] + 10 * s0[1] + 100 * s0[2] - 2;
            let u1 = s1.iter().sum::<i32>() - 2;
            [u0.clamp(-128, 127) as i8, u1.clamp(-128, 127) as i8]
        };
        assert_eq!(outs[0], expect([0, 0, 1], [0, 0, 3]));
        assert_eq!(outs[1], expect([0, 1, 2], [0, 3, 4]));
        assert_eq!(outs[2], expect([1, 2, 3], [3, 4, 5]));
        assert_eq!(outs[3], expect([2, 3, 4], [4, 5, 6]));
    }

    #[test]
    fn rank_two_sums_two_filters_a_unit_and_int8_state_keeps_its_zero_point() {
        let mut p = params(IntType::Int8, 2);
        p.state_zero_point = 10;
        let wf = [1i8, 1, 2, 0];
        let wt = [0i8, 0, 1, 0, 0, 1]; // only each filter's newest value
        let mut state = std::vec![p.state_fill(); p.state_bytes()];
        let mut y = [0i8; 1];
        svdf_s8(&p, &[3, -1], &wf, &wt, &[], &mut state, &mut y).unwrap();
        // x - 1 = [2, -2]: filter 0 gives 0, filter 1 gives 4; stored with
        // the zero point (10, 14), read back without it.
        assert_eq!(state, [10, 10, 10, 10, 10, 14]);
        assert_eq!(y, [4 - 2]);
        // The feature value saturates at the state type, then takes the zero
        // point and wraps (TFLM's order): 127 + 10 is stored as -119.
        let mut big = std::vec![p.state_fill(); p.state_bytes()];
        svdf_s8(
            &p,
            &[127, 127],
            &[127, 127, 127, 127],
            &wt,
            &[],
            &mut big,
            &mut y,
        )
        .unwrap();
        assert_eq!(big[2], -119);
    }

    #[test]
    fn bad_buffers_and_parameters_are_errors() {
        let p = params(IntType::Int16, 1);
        let wt = bytes16(&[0; 6]);
        let mut state = std::vec![0i8; p.state_bytes()];
        let mut y = [0i8; 2];
        let ok = svdf_s8(&p, &[0, 0], &[0; 4], &wt, &[], &mut state, &mut y);
        assert!(ok.is_ok());
        assert!(svdf_s8(&p, &[0], &[0; 4], &wt, &[], &mut state, &mut y).is_err());
        assert!(svdf_s8(&p, &[0, 0], &[0; 4], &wt[1..], &[], &mut state, &mut y).is_err());
        assert!(svdf_s8(&p, &[0, 0], &[0; 4], &wt, &[1], &mut state, &mut y).is_err());
        assert!(svdf_s8(&p, &[0, 0], &[0; 4], &wt, &[], &mut state[1..], &mut y).is_err());
        let bad_rank = SvdfParams { rank: 3, ..p };
        assert!(matches!(
            svdf_s8(&bad_rank, &[0, 0], &[0; 4], &wt, &[], &mut state, &mut y),
            Err(Error::Shape(_))
        ));
        let bad_type = SvdfParams {
            state_type: IntType::Int32,
            ..p
        };
        assert!(bad_type.check().is_err());
    }
}
