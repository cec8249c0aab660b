//! Lowering of UNIDIRECTIONAL_SEQUENCE_LSTM (int8, int16 cell state) with
//! TensorFlow Lite Micro's Prepare arithmetic (`lstm_eval_common.cc`), as
//! `tests/oracle/lstm_reference.py` specifies it: the gates' fully connected
//! layers into Q3.12 (`float(s_x s_w)` widened, over 2^-12), the three
//! element-wise products' multipliers in `double`, the cell state's power
//! of two from `CheckedLog2` and its clip. The hidden and cell states are
//! variable tensors no other op reads or writes; the planner keeps their
//! bytes for the whole run and the runtime's `Model::reset_state` starts
//! them. Refused by name: peephole, projection and layer-norm inputs, a cell
//! gate activation other than TANH, per-channel weights.

use attonet_runtime::ops::lookup::SigmoidS16Params;
use attonet_runtime::ops::lstm::{LstmGate, LstmParams, Rescale};

use super::{At, Lowering, WithIo};
use crate::error::Result;
use crate::ir::{DType, Op, TensorId};
use crate::program::{Layer, LayerOp};
use crate::requantize::quantize_multiplier;

/// The gates' names, in TFLite's order.
const GATES: [&str; 4] = ["input", "forget", "cell", "output"];

/// 2^-12 and 2^-15, TFLM's float literals (exact).
const Q12: f32 = 1.0 / 4096.0;
const Q15: f32 = 1.0 / 32768.0;

impl Lowering<'_> {
    pub(super) fn lower_lstm(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        fused_activation: i8,
        cell_clip: f32,
        time_major: bool,
    ) -> Result<Layer> {
        let input = |k: usize| op.inputs.get(k).copied().flatten();
        for (k, what) in [
            (9, "peephole (cell to input) weights"),
            (10, "peephole (cell to forget) weights"),
            (11, "peephole (cell to output) weights"),
            (16, "projection weights"),
            (17, "projection bias"),
            (20, "input layer-norm coefficients"),
            (21, "forget layer-norm coefficients"),
            (22, "cell layer-norm coefficients"),
            (23, "output layer-norm coefficients"),
        ] {
            if input(k).is_some() {
                return Err(at.unsupported(format!(
                    "{what} (input {k}); TFLM's integer LSTM takes none"
                )));
            }
        }
        if fused_activation != 4 {
            return Err(at.unsupported(format!(
                "cell gate activation code {fused_activation}; TFLM's integer LSTM takes TANH (4)"
            )));
        }
        if cell_clip.is_nan() || cell_clip < 0.0 {
            return Err(at.invalid(format!("cell_clip {cell_clip}; it must be >= 0")));
        }

        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let xin = self.values[x].clone();
        let [d0, d1, features] = xin.dims[..] else {
            return Err(at.invalid(format!("input {:?} is not rank 3", xin.dims)));
        };
        let (batch, time) = if time_major { (d1, d0) } else { (d0, d1) };

        // The states: variable tensors of their own.
        let state = |k: usize, what: &str, want: DType| -> Result<TensorId> {
            let id = self.input_id(at, op, k, what)?;
            let t = self.tensor(at, id)?;
            self.require_type(at, t, want)?;
            if !t.variable || t.data.is_some() || self.by_tensor.contains_key(&id) {
                return Err(at.invalid(format!(
                    "{what} '{}' must be a variable tensor without data that no op writes",
                    t.name
                )));
            }
            Ok(id)
        };
        let hidden = self.tensor(at, state(18, "hidden state", DType::I8)?)?;
        let cell = self.tensor(at, state(19, "cell state", DType::I16)?)?;
        let units = hidden.shape.last().copied().unwrap_or(0);
        if hidden.elements() != batch * units || cell.elements() != batch * units || units == 0 {
            return Err(at.invalid(format!(
                "hidden state {:?} and cell state {:?} are not batch {batch} x units",
                hidden.shape, cell.shape
            )));
        }
        let (s_h, z_h) = self.scale_and_zero_point(at, hidden)?;
        let (s_c, _) = self.scale_and_zero_point(at, cell)?;
        if !(-128..=127).contains(&z_h) {
            return Err(at.invalid(format!("hidden state zero point {z_h} outside int8")));
        }

        // The eight weight matrices and four biases, gate by gate.
        let mut weights = Vec::with_capacity(4 * units * (features + units));
        let mut scales = [[0f32; 2]; 4];
        let mut zero_points = [[0i32; 2]; 4];
        for (side, (first, cols)) in [(1usize, features), (5, units)].into_iter().enumerate() {
            for (g, name) in GATES.iter().enumerate() {
                let what = format!("{name} gate's {} weights", ["input", "recurrent"][side]);
                let id = self.input_id(at, op, first + g, &what)?;
                let (t, w) = self.constant_i8(at, id, &what)?;
                if t.shape[..] != [units, cols] {
                    return Err(
                        at.invalid(format!("{what} {:?}; [{units}, {cols}] expected", t.shape))
                    );
                }
                let (scale, zp) = self.scale_and_zero_point(at, t)?;
                if !(-128..=127).contains(&zp) {
                    return Err(at.invalid(format!("{what} zero point {zp} outside int8")));
                }
                scales[g][side] = scale;
                zero_points[g][side] = zp as i32;
                weights.extend(w);
            }
        }
        let mut bias = Vec::with_capacity(4 * units);
        for (g, name) in GATES.iter().enumerate() {
            let what = format!("{name} gate's bias");
            let id = self.input_id(at, op, 12 + g, &what)?;
            let t = self.tensor(at, id)?;
            self.require_type(at, t, DType::I32)?;
            bias.extend(self.bias_words(at, t, units, 4)?);
        }

        let y = self.write(at, self.output_id(at, op)?)?;
        let want = if time_major {
            [time, batch, units]
        } else {
            [batch, time, units]
        };
        if self.values[y].dims[..] != want {
            return Err(at.invalid(format!(
                "output {:?}; {want:?} expected",
                self.values[y].dims
            )));
        }

        // TFLM's Prepare.
        let rescale = |what: &str, real: f64| -> Result<Rescale> {
            let (multiplier, shift) = quantize_multiplier(real);
            if !(-31..=30).contains(&shift) {
                return Err(at.unsupported(format!(
                    "the {what} scale {real:e} is out of the fixed-point range"
                )));
            }
            Ok(Rescale { multiplier, shift })
        };
        let gate_fc = |what: &str, s_in: f32, s_w: f32| -> Result<Rescale> {
            let product = s_in * s_w;
            rescale(what, product as f64 / Q12 as f64)
        };
        let mut gates = [LstmGate {
            input_weight_zero_point: 0,
            recurrent_weight_zero_point: 0,
            input: Rescale {
                multiplier: 0,
                shift: 0,
            },
            recurrent: Rescale {
                multiplier: 0,
                shift: 0,
            },
        }; 4];
        for (g, gate) in gates.iter_mut().enumerate() {
            *gate = LstmGate {
                input_weight_zero_point: zero_points[g][0],
                recurrent_weight_zero_point: zero_points[g][1],
                input: gate_fc(GATES[g], xin.scale, scales[g][0])?,
                recurrent: gate_fc(GATES[g], s_h, scales[g][1])?,
            };
        }
        let mul = |what: &str, a: f32, b: f32, out: f32| -> Result<Rescale> {
            rescale(what, a as f64 * b as f64 / out as f64)
        };
        // CheckedLog2 in float (its "is a power of two" verdict is ignored).
        let power = (s_c.ln() * (1.0f32 / 2.0f32.ln())).round() as i32;
        let shift = 12 + power;
        let cell_tanh = if shift < 0 {
            SigmoidS16Params {
                input_multiplier: 3,
                input_left_shift: -shift,
            }
        } else {
            SigmoidS16Params {
                input_multiplier: 0,
                input_left_shift: shift,
            }
        };
        if !(-31..=12).contains(&shift) {
            return Err(at.unsupported(format!(
                "cell state scale {s_c} (2^{power}): TFLM's int16 TANH takes 2^-43 to 2^0"
            )));
        }
        let clip = (cell_clip as f64 / s_c as f64)
            .clamp(-32768.0, 32767.0)
            .trunc() as i16;
        let extent = |what: &str, v: usize| {
            u16::try_from(v).map_err(|_| at.unsupported(format!("{what} {v} over 65535")))
        };
        let params = LstmParams {
            batch: extent("batch", batch)?,
            time: extent("time steps", time)?,
            inputs: extent("features", features)?,
            units: extent("units", units)?,
            time_major,
            input_zero_point: xin.zero_point,
            hidden_zero_point: z_h as i32,
            gates,
            forget_cell: mul("forget x cell", Q15, s_c, s_c)?,
            input_cell: mul("input x cell gate", Q15, Q15, s_c)?,
            output_hidden: mul("tanh(cell) x output gate", Q15, Q15, s_h)?,
            cell_tanh,
            clip: cell_clip > 0.0,
            cell_clip: clip,
        };
        // The state must fit one arena slot (u16 extents).
        extent("state rows", batch)?;
        extent("state bytes a row", 3 * units)?;
        // TFLM's effective biases (its Prepare folds the activations' zero
        // points into them): `bias - zx Σ Wx` for the input side, then
        // `-zh Σ Wh` for the recurrent side, each row's sum once here
        // instead of at every step (wrapping, as the kernel's sums wrap).
        let (input_w, recurrent_w) = weights.split_at(4 * units * features);
        let row_sum = |w: &[i8]| w.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32));
        let mut effective = Vec::with_capacity(8 * units);
        for (row, &b) in input_w.chunks_exact(features.max(1)).zip(&bias) {
            effective.push(b.wrapping_sub(xin.zero_point.wrapping_mul(row_sum(row))));
        }
        for row in recurrent_w.chunks_exact(units.max(1)) {
            effective.push((z_h as i32).wrapping_neg().wrapping_mul(row_sum(row)));
        }
        if effective.len() != 8 * units {
            return Err(at.invalid("weights and biases do not fit the units"));
        }
        let bias = effective;
        Ok(LayerOp::Lstm {
            params,
            weights,
            bias,
        }
        .with(vec![x], y, index))
    }
}
