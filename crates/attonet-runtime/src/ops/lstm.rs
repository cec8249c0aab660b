//! UNIDIRECTIONAL_SEQUENCE_LSTM, int8 in and out with an int16 cell state:
//! TensorFlow Lite Micro's integer LSTM (`lstm_eval.cc`, `EvalLstm<int8,
//! int8, int16, int32>`), exactly as `tests/oracle/lstm_reference.py`
//! specifies it (and proves it against TFLM).
//!
//! Per batch row and time step, from the previous step's hidden state
//! `h_old` (int8) and cell state `c` (int16), for each unit `j`:
//!
//! 1. each gate `g` in `i, f, c, o`: `gx = sat16(MBQM(Σ (Wx - zw)(x - zx) +
//!    bias, Mx, Sx))`, `gh = sat16(MBQM(Σ (Wh - zw)(h_old - zh), Mh, Sh))`,
//!    then `sigmoid16(3 * sat16(gx + gh))` for `i, f, o` and `tanh16` of it
//!    for the cell gate `c` (Q0.15; [`crate::ops::lookup`]'s TFLM tables);
//! 2. `c = sat16(sat16(MBQM(f * c, 2^30, -14)) + sat16(MBQM(i * g, Mic,
//!    Sic)))`, clipped to `±cell_clip` when the model has a clip;
//! 3. `h = clamp(MBQM(tanh16(c) * o, Moh, Soh) + zh, -128, 127)`, written to
//!    the output at `[b][t]` (`[t][b]` time-major) and, once every unit
//!    has it, kept as the hidden state.
//!
//! Rows are independent, so batch-major and time-major runs differ only in
//! where a row's steps are read and written. `MBQM` is
//! `MultiplyByQuantizedMultiplier`; the multipliers are TFLM's Prepare's,
//! computed by the converter. The state (`cell` then `hidden`, see
//! [`LstmParams::state_bytes`]) lives in the arena between runs:
//! [`crate::plan::Model::reset_state`] starts it as TFLM does (hidden at its
//! zero point, cell at 0). Scratch: none (the new hidden row is the output
//! row, copied into the state after the step).

use crate::error::check_len;
use crate::ops::lookup::{sigmoid16, tanh16, SigmoidS16Params};
use crate::ops::saturating_len as bytes;
use crate::quant::{requantize, shift_in_range};
use crate::Error;

/// A multiplier and shift (`MultiplyByQuantizedMultiplier`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rescale {
    /// Q31 multiplier.
    pub multiplier: i32,
    /// Shift, in `-31..=30`.
    pub shift: i32,
}

impl Rescale {
    #[inline(always)]
    fn apply(self, x: i32) -> i32 {
        requantize(x, self.multiplier, self.shift)
    }
}

/// One gate's two fully connected layers (input and recurrent) into its
/// int16 Q3.12 pre-activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LstmGate {
    /// The input weights' zero point (0 as converters write it).
    pub input_weight_zero_point: i32,
    /// The recurrent weights' zero point.
    pub recurrent_weight_zero_point: i32,
    /// `s_x s_wx / 2^-12`.
    pub input: Rescale,
    /// `s_h s_wh / 2^-12`.
    pub recurrent: Rescale,
}

/// The geometry and quantization of one LSTM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LstmParams {
    /// Batch rows (each with its own state).
    pub batch: u16,
    /// Time steps a run.
    pub time: u16,
    /// Input features a step.
    pub inputs: u16,
    /// Units (the hidden and cell state's width).
    pub units: u16,
    /// Input and output are `[time][batch][..]` instead of `[batch][time][..]`.
    pub time_major: bool,
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The hidden state's (and output's) zero point.
    pub hidden_zero_point: i32,
    /// The gates, in TFLite's order: input, forget, cell, output.
    pub gates: [LstmGate; 4],
    /// forget gate x cell state -> cell state (`2^-15`).
    pub forget_cell: Rescale,
    /// input gate x cell gate -> cell state (`2^-30 / s_c`).
    pub input_cell: Rescale,
    /// tanh(cell) x output gate -> hidden state (`2^-30 / s_h`).
    pub output_hidden: Rescale,
    /// The int16 TANH's input scaling of the cell state (its power of two).
    pub cell_tanh: SigmoidS16Params,
    /// Whether the cell state is clipped (the model's `cell_clip > 0`).
    pub clip: bool,
    /// The clip, in cell-state steps (`0..=32767`).
    pub cell_clip: i16,
}

/// The gates' indices in [`LstmParams::gates`] and in the weight and bias
/// tables.
const INPUT: usize = 0;
const FORGET: usize = 1;
const CELL: usize = 2;
const OUTPUT: usize = 3;

impl LstmParams {
    /// Bytes of the state: the int16 cell state (`batch * units` values,
    /// little-endian) then the int8 hidden state (`batch * units`).
    pub const fn state_bytes(&self) -> usize {
        bytes(3 * self.batch as u64 * self.units as u64)
    }

    /// Bytes of the weights: four `[units][inputs]` input matrices, then four
    /// `[units][units]` recurrent ones (gates in TFLite's order).
    pub const fn weight_bytes(&self) -> usize {
        bytes(4 * self.units as u64 * (self.inputs as u64 + self.units as u64))
    }

    /// Elements of the input (`batch * time * inputs`).
    pub const fn input_len(&self) -> usize {
        bytes(self.batch as u64 * self.time as u64 * self.inputs as u64)
    }

    /// Elements of the output (`batch * time * units`).
    pub const fn output_len(&self) -> usize {
        bytes(self.batch as u64 * self.time as u64 * self.units as u64)
    }

    /// Checks the geometry and quantization (not the buffers).
    pub fn check(&self) -> crate::Result {
        if self.batch == 0 || self.time == 0 || self.inputs == 0 || self.units == 0 {
            return Err(Error::Shape("lstm with an empty extent"));
        }
        let zp = |z: i32| (-128..=127).contains(&z);
        let shifts_ok = self.gates.iter().all(|g| {
            zp(g.input_weight_zero_point)
                && zp(g.recurrent_weight_zero_point)
                && shift_in_range(g.input.shift)
                && shift_in_range(g.recurrent.shift)
        }) && [self.forget_cell, self.input_cell, self.output_hidden]
            .iter()
            .all(|r| shift_in_range(r.shift));
        if !zp(self.input_zero_point) || !zp(self.hidden_zero_point) || !shifts_ok {
            return Err(Error::Parameter(
                "lstm zero point outside int8 or shift outside -31..=30",
            ));
        }
        if self.cell_clip < 0 {
            return Err(Error::Parameter("lstm cell clip is negative"));
        }
        self.cell_tanh.scaling().map(|_| ())
    }
}

/// One LSTM run over every time step: reads `input`, updates `state` and
/// writes `output` (every step's hidden state).
///
/// * `weights`: [`LstmParams::weight_bytes`] int8; `bias`: `8 * units`
///   int32, TFLM's effective biases (gates in TFLite's order): the input
///   side's `bias - zx Σ Wx`, then the recurrent side's `-zh Σ Wh`, per
///   gate row (the converter folds the zero points in, as TFLM's Prepare
///   does); `state`: [`LstmParams::state_bytes`].
/// * Constraints: every buffer its length ([`Error::BufferLength`]); see
///   [`LstmParams::check`].
/// * Scratch: none.
pub fn lstm_s8(
    p: &LstmParams,
    input: &[i8],
    weights: &[i8],
    bias: &[i32],
    state: &mut [i8],
    output: &mut [i8],
) -> crate::Result {
    p.check()?;
    let (batch, time, f, u) = (
        p.batch as usize,
        p.time as usize,
        p.inputs as usize,
        p.units as usize,
    );
    check_len("lstm input", input, p.input_len())?;
    check_len("lstm weights", weights, p.weight_bytes())?;
    check_len("lstm bias", bias, 8 * u)?;
    let (input_bias, recurrent_bias) = bias.split_at(4 * u);
    check_len("lstm state", state, p.state_bytes())?;
    check_len("lstm output", output, p.output_len())?;
    let (tanh_m, tanh_s, tanh_round) = p.cell_tanh.scaling()?;
    let (input_w, recurrent_w) = weights.split_at(4 * u * f);
    let (cells, hidden) = state.split_at_mut(2 * batch * u);
    // Where row b's step t lives in the input and the output.
    let at = |b: usize, t: usize| {
        if p.time_major {
            t * batch + b
        } else {
            b * time + t
        }
    };
    for b in 0..batch {
        let h = &mut hidden[b * u..(b + 1) * u];
        let c = &mut cells[2 * b * u..2 * (b + 1) * u];
        for t in 0..time {
            let x = &input[at(b, t) * f..(at(b, t) + 1) * f];
            let y = &mut output[at(b, t) * u..(at(b, t) + 1) * u];
            // Σ (x - zx) and Σ (h - zh): a weight zero point's term.
            let sum_x = x
                .iter()
                .fold(0i32, |a, &v| a.wrapping_add(v as i32 - p.input_zero_point));
            let sum_h = h
                .iter()
                .fold(0i32, |a, &v| a.wrapping_add(v as i32 - p.hidden_zero_point));
            for j in 0..u {
                let pre = |g: usize| -> i32 {
                    let gate = &p.gates[g];
                    let wx = &input_w[(g * u + j) * f..(g * u + j + 1) * f];
                    let acc_x = dot(wx, x)
                        .wrapping_add(input_bias[g * u + j])
                        .wrapping_sub(gate.input_weight_zero_point.wrapping_mul(sum_x));
                    let wh = &recurrent_w[(g * u + j) * u..(g * u + j + 1) * u];
                    let acc_h = dot(wh, h)
                        .wrapping_add(recurrent_bias[g * u + j])
                        .wrapping_sub(gate.recurrent_weight_zero_point.wrapping_mul(sum_h));
                    let gx = sat16(gate.input.apply(acc_x));
                    let gh = sat16(gate.recurrent.apply(acc_h));
                    sat16(gx + gh)
                };
                // Sigmoid and the cell gate's tanh take the Q3.12 sum at
                // multiplier 3, shift 0.
                let forget = sigmoid16(3 * pre(FORGET)) as i32;
                let in_gate = sigmoid16(3 * pre(INPUT)) as i32;
                let cell_gate = tanh16(3 * pre(CELL)) as i32;
                let old = i16::from_le_bytes([c[2 * j] as u8, c[2 * j + 1] as u8]) as i32;
                let kept = sat16(p.forget_cell.apply(forget * old));
                let added = sat16(p.input_cell.apply(in_gate * cell_gate));
                let mut cell = sat16(kept + added);
                if p.clip {
                    let clip = p.cell_clip as i32;
                    cell = cell.clamp(-clip, clip);
                }
                let [lo, hi] = (cell as i16).to_le_bytes();
                c[2 * j] = lo as i8;
                c[2 * j + 1] = hi as i8;
                let out_gate = sigmoid16(3 * pre(OUTPUT)) as i32;
                let th = tanh16((cell * tanh_m + tanh_round) >> tanh_s) as i32;
                let v = p.output_hidden.apply(th * out_gate) as i64 + p.hidden_zero_point as i64;
                y[j] = v.clamp(-128, 127) as i8;
            }
            h.copy_from_slice(y);
        }
    }
    Ok(())
}

/// `Σ w x` (the zero points' terms are in the effective biases).
#[inline(always)]
fn dot(w: &[i8], x: &[i8]) -> i32 {
    w.iter()
        .zip(x)
        .fold(0i32, |a, (&w, &x)| a.wrapping_add(w as i32 * x as i32))
}

#[inline(always)]
fn sat16(v: i32) -> i32 {
    v.clamp(i16::MIN as i32, i16::MAX as i32)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;

    fn params() -> LstmParams {
        let unit = Rescale {
            multiplier: 1 << 30,
            shift: 1,
        };
        let gate = LstmGate {
            input_weight_zero_point: 0,
            recurrent_weight_zero_point: 0,
            input: unit,
            recurrent: unit,
        };
        LstmParams {
            batch: 1,
            time: 3,
            inputs: 2,
            units: 1,
            time_major: false,
            input_zero_point: 0,
            hidden_zero_point: 0,
            gates: [gate; 4],
            forget_cell: Rescale {
                multiplier: 1 << 30,
                shift: -14,
            },
            // 2^-30 / 2^-12 (cell scale 2^-12) = 2^-18.
            input_cell: Rescale {
                multiplier: 1 << 30,
                shift: -17,
            },
            // 2^-30 / 2^-7 (hidden scale 2^-7) = 2^-23.
            output_hidden: Rescale {
                multiplier: 1 << 30,
                shift: -22,
            },
            cell_tanh: SigmoidS16Params {
                input_multiplier: 0,
                input_left_shift: 0,
            },
            clip: false,
            cell_clip: 0,
        }
    }

    /// Zero weights and biases: every gate sees 0 (sigmoid 1/2, tanh 0), the
    /// cell stays 0 and the hidden state is its zero point at every step.
    #[test]
    fn zero_weights_keep_the_state_at_rest() {
        let mut p = params();
        p.hidden_zero_point = 5;
        let mut state = vec![0i8; p.state_bytes()];
        state[2] = 5; // the hidden state at its zero point, as reset
        let mut y = [0i8; 3];
        lstm_s8(
            &p,
            &[9, -9, 3, 4, 1, 2],
            &[0; 12],
            &[0; 8],
            &mut state,
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [5, 5, 5]);
        assert_eq!(state, [0, 0, 5]);
    }

    /// A cell-gate bias alone: the cell grows by i * g each step and decays
    /// by f = 1/2, and the hidden state follows tanh(c) * o.
    #[test]
    fn the_cell_integrates_its_gate_and_the_clip_holds_it() {
        let p = params();
        let mut bias = [0i32; 8];
        bias[CELL] = 4096; // 1.0 in Q3.12: tanh16(3 * 4096) = tanh(1)
        let run = |p: &LstmParams| {
            let mut state = vec![0i8; p.state_bytes()];
            let mut y = [0i8; 3];
            lstm_s8(p, &[0; 6], &[0; 12], &bias, &mut state, &mut y).unwrap();
            (y, i16::from_le_bytes([state[0] as u8, state[1] as u8]))
        };
        let (y, cell) = run(&p);
        // i = 1/2, g = tanh(1) ~ 0.7616: c1 ~ 0.381, c2 ~ 0.571, c3 ~ 0.666
        // in steps of 2^-12; h ~ tanh(c) / 2 in steps of 2^-7.
        let c3 = cell as f64 / 4096.0;
        assert!((c3 - 0.7616 * (0.5 + 0.25 + 0.125)).abs() < 2e-3, "{c3}");
        for (k, c) in [0.5, 0.75, 0.875].iter().enumerate() {
            let want = (0.7616f64 * c).tanh() * 0.5 * 128.0;
            assert!((y[k] as f64 - want).abs() <= 1.0, "{y:?}");
        }
        let mut clipped = p;
        clipped.clip = true;
        clipped.cell_clip = 1000;
        assert_eq!(run(&clipped).1, 1000);
    }

    #[test]
    fn bad_buffers_and_parameters_are_errors() {
        let p = params();
        let mut state = vec![0i8; p.state_bytes()];
        let mut y = [0i8; 3];
        assert!(lstm_s8(&p, &[0; 6], &[0; 12], &[0; 8], &mut state, &mut y).is_ok());
        assert!(lstm_s8(&p, &[0; 5], &[0; 12], &[0; 8], &mut state, &mut y).is_err());
        assert!(lstm_s8(&p, &[0; 6], &[0; 11], &[0; 8], &mut state, &mut y).is_err());
        assert!(lstm_s8(&p, &[0; 6], &[0; 12], &[0; 3], &mut state, &mut y).is_err());
        assert!(lstm_s8(&p, &[0; 6], &[0; 12], &[0; 8], &mut state[1..], &mut y).is_err());
        let mut bad = p;
        bad.cell_tanh.input_left_shift = 13;
        assert!(bad.check().is_err());
        bad = p;
        bad.gates[2].input.shift = 31;
        assert!(bad.check().is_err());
    }
}
