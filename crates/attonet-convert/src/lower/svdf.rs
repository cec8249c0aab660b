//! Lowering of SVDF (int8 in and out, an int16 or int8 time filter and
//! state) with TensorFlow Lite Micro's `PrepareSvdf` arithmetic: the two
//! scales `in * wf / state` and `state * wt / out` as `f32` products then
//! `QuantizeMultiplier`, the bias scale `state * wt` (within 1e-5), the
//! shapes it checks. The state is a variable tensor no other op reads or
//! writes; the planner keeps its bytes for the whole run
//! ([`crate::planner`]), and the runtime's `Model::reset_state` starts it.

use attonet_runtime::ops::requantize::IntType;
use attonet_runtime::ops::svdf::SvdfParams;

use super::{At, Lowering, WithIo};
use crate::error::Result;
use crate::ir::{DType, Op};
use crate::program::{Layer, LayerOp};
use crate::requantize::quantize_multiplier;

impl Lowering<'_> {
    pub(super) fn lower_svdf(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        rank: usize,
    ) -> Result<Layer> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let xin = self.values[x].clone();
        let [batch, inputs] = xin.dims[..] else {
            return Err(at.invalid(format!("input {:?} is not [batch, inputs]", xin.dims)));
        };
        let (wf_t, wf) = self.constant_i8(
            at,
            self.input_id(at, op, 1, "weights_feature")?,
            "weights_feature",
        )?;
        let [filters, wf_inputs] = wf_t.shape[..] else {
            return Err(at.invalid(format!(
                "weights_feature {:?} is not [filters, inputs]",
                wf_t.shape
            )));
        };
        if wf_inputs != inputs {
            return Err(at.invalid(format!(
                "weights_feature has {wf_inputs} inputs, the input {inputs}"
            )));
        }
        if filters % rank != 0 {
            return Err(at.invalid(format!("rank {rank} does not divide the {filters} filters")));
        }
        let units = filters / rank;
        let (wf_scale, _) = self.scale_and_zero_point(at, wf_t)?;

        // The time filter and the state: int16 (the converter's form) or int8.
        let wt_t = self.tensor(at, self.input_id(at, op, 2, "weights_time")?)?;
        let state_type = match wt_t.dtype {
            DType::I16 => IntType::Int16,
            DType::I8 => IntType::Int8,
            other => {
                return Err(at.unsupported(format!(
                    "weights_time '{}' is {other}; TFLM's int8 SVDF takes int16 or int8",
                    wt_t.name
                )))
            }
        };
        let Some(wt) = wt_t.data.clone() else {
            return Err(at.unsupported(format!("weights_time '{}' is not a constant", wt_t.name)));
        };
        let [wt_filters, memory] = wt_t.shape[..] else {
            return Err(at.invalid(format!(
                "weights_time {:?} is not [filters, memory]",
                wt_t.shape
            )));
        };
        if wt_filters != filters || memory == 0 || wt.len() != filters * memory * state_type.size()
        {
            return Err(at.invalid(format!(
                "weights_time {:?} does not fit {filters} filters",
                wt_t.shape
            )));
        }
        let (wt_scale, _) = self.scale_and_zero_point(at, wt_t)?;

        let state_id = self.input_id(at, op, 4, "activation state")?;
        let state_t = self.tensor(at, state_id)?;
        if !state_t.variable || state_t.data.is_some() {
            return Err(at.invalid(format!(
                "activation state '{}' must be a variable tensor without data",
                state_t.name
            )));
        }
        if self.by_tensor.contains_key(&state_id) {
            return Err(at.unsupported(format!(
                "activation state '{}' is also a model input or another op's output",
                state_t.name
            )));
        }
        if state_t.dtype != wt_t.dtype {
            return Err(at.unsupported(format!(
                "activation state '{}' is {}, weights_time {}; TFLM reads the state as the time \
                 filter's type",
                state_t.name, state_t.dtype, wt_t.dtype
            )));
        }
        if state_t.shape[..] != [batch, memory * filters] {
            return Err(at.invalid(format!(
                "activation state {:?} is not [batch {batch}, memory {memory} x filters {filters}]",
                state_t.shape
            )));
        }
        let (state_scale, state_zp) = self.scale_and_zero_point(at, state_t)?;
        let (lo, hi) = state_type.range();
        if state_zp < lo as i64 || state_zp > hi as i64 {
            return Err(at.invalid(format!(
                "activation state '{}' has zero point {state_zp} outside {}",
                state_t.name, state_t.dtype
            )));
        }

        let bias = match op.inputs.get(3).copied().flatten() {
            None => Vec::new(),
            Some(id) => {
                let t = self.tensor(at, id)?;
                self.require_type(at, t, DType::I32)?;
                let (bias_scale, _) = self.scale_and_zero_point(at, t)?;
                // TFLM: |bias scale - state scale * time scale| < 1e-5.
                let want = (state_scale * wt_scale) as f64;
                if (bias_scale as f64 - want).abs() >= 1e-5 {
                    return Err(at.unsupported(format!(
                        "bias scale {bias_scale}; TFLM requires the state scale times the time \
                         weights' scale, {want}"
                    )));
                }
                self.bias_words(at, t, units, 4)?
            }
        };

        let y = self.write(at, self.output_id(at, op)?)?;
        let yout = self.values[y].clone();
        if yout.dims[..] != [batch, units] {
            return Err(at.invalid(format!(
                "output {:?} is not [batch {batch}, units {units}]",
                yout.dims
            )));
        }
        // TFLM's Prepare: float products, then QuantizeMultiplier in double.
        let scale1 = (xin.scale * wf_scale / state_scale) as f64;
        let scale2 = (state_scale * wt_scale / yout.scale) as f64;
        let (feature_multiplier, feature_shift) = quantize_multiplier(scale1);
        let (output_multiplier, output_shift) = quantize_multiplier(scale2);
        for (what, s) in [("feature", feature_shift), ("output", output_shift)] {
            if !(-31..=30).contains(&s) {
                return Err(at.unsupported(format!(
                    "the {what} scale is out of the fixed-point range (shift {s})"
                )));
            }
        }
        let extent = |what: &str, v: usize| {
            u16::try_from(v).map_err(|_| at.unsupported(format!("{what} {v} over 65535")))
        };
        let params = SvdfParams {
            batch: extent("batch", batch)?,
            inputs: extent("inputs", inputs)?,
            filters: extent("filters", filters)?,
            memory: extent("memory", memory)?,
            rank: extent("rank", rank)?,
            state_type,
            input_zero_point: xin.zero_point,
            state_zero_point: state_zp as i32,
            output_zero_point: yout.zero_point,
            feature_multiplier,
            feature_shift,
            output_multiplier,
            output_shift,
        };
        // The state's bytes must fit one arena slot (u16 extents).
        extent("state bytes a filter row", memory * state_type.size())?;
        extent("state rows", batch * filters)?;
        Ok(LayerOp::Svdf {
            params,
            weights_feature: wf,
            weights_time: wt.iter().map(|&b| b as i8).collect(),
            bias,
        }
        .with(vec![x], y, index))
    }
}
