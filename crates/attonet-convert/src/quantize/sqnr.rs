//! Per-layer signal-to-quantization-noise ratio of an int8 plan against its
//! float model: every runtime step is run on its own over the arena (the
//! same kernels the firmware runs), its output dequantized and compared with
//! the float executor's value of the same tensor, summed over the samples.

use attonet_runtime::plan::Model;

use crate::assemble::Assembled;
use crate::error::{ConvertError, Result};
use crate::float_exec::FloatExecutor;
use crate::ir::Graph;

use super::{dequantize_values, quantize_values};

/// The SQNR of one layer's output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerSqnr {
    /// Runtime step.
    pub step: usize,
    /// Program layer.
    pub layer: usize,
    /// The output tensor's name.
    pub tensor: String,
    /// `10 log10(sum f^2 / sum (f - q)^2)` in dB over the samples
    /// (`f64::INFINITY` when int8 and float agree exactly).
    pub sqnr_db: f64,
    /// The fraction of samples on which the layer's int8 output saturates:
    /// more than one element in a thousand (any, for a tensor of fewer than
    /// 1,000) has a float value beyond what the int8 output can represent
    /// (half a step past -128 or 127). Percentile calibration clips the
    /// rarest values on purpose (0.01 % at its default); this counts samples
    /// clipped ten times more than that.
    pub clipped: f64,
    /// Whether this layer's output is a model output.
    pub model_output: bool,
}

/// A sample saturates a layer when more than `len / this` of its elements
/// lie outside the int8 range (see [`LayerSqnr::clipped`]).
const SATURATED_PER_MILLE_DIVISOR: usize = 1000;

/// A model output that saturates on more than this fraction of samples gets
/// a warning (`attonet run` and `attonet inspect` on a float model).
pub const CLIP_WARNING_FRACTION: f64 = 0.05;

/// Any other layer that saturates on more than this fraction of samples
/// gets a warning too (the first such layer).
pub const CLIP_LAYER_WARNING_FRACTION: f64 = 0.5;

/// Per-step SQNR of `assembled` (quantized from `float_graph`) over `samples`
/// (graph layout). Steps whose output tensor has no float counterpart
/// (matched by name) or is not int8 (an ARG_MAX's indices) are left out.
pub fn layer_sqnr(
    float_graph: &Graph,
    assembled: &Assembled,
    samples: &[Vec<f32>],
) -> Result<Vec<LayerSqnr>> {
    let exec = FloatExecutor::new(float_graph)?;
    // Fused blocks hold their intermediates a few rows at a time: analyse the
    // same layers unfused, so every layer's output exists whole.
    let unfused =
        crate::assemble::assemble(crate::passes::fuse_blocks::unfuse(&assembled.program))?;
    let assembled = &unfused;
    let program = &assembled.program;
    let model = assembled.model();
    // Float tensor of each step's output, by name (unique names only).
    let mut by_name = std::collections::HashMap::new();
    for (i, t) in float_graph.tensors.iter().enumerate() {
        if t.data.is_none() {
            by_name
                .entry(t.name.as_str())
                .and_modify(|v| *v = None)
                .or_insert(Some(i));
        }
    }
    let steps: Vec<(usize, usize, Option<usize>)> = assembled
        .step_layers
        .iter()
        .enumerate()
        .map(|(s, &l)| {
            let v = &program.values[program.layers[l].output];
            let float = match v.dtype {
                attonet_runtime::plan::ElementType::Int8 => {
                    by_name.get(v.name.as_str()).copied().flatten()
                }
                _ => None,
            };
            (s, l, float)
        })
        .collect();
    let mut signal = vec![0f64; steps.len()];
    let mut noise = vec![0f64; steps.len()];
    let mut clipped = vec![0usize; steps.len()];
    let mut arena = vec![0i8; model.arena_bytes as usize];
    for x in samples {
        let float = exec.run(x)?;
        let input = quantize_values(x, model.input.scale, model.input.zero_point);
        model
            .input_mut(&mut arena)
            .map_err(|e| ConvertError::Graph(format!("running the plan: {e}")))?
            .copy_from_slice(&input);
        for &(s, l, f) in &steps {
            let one = Model {
                steps: &model.steps[s..s + 1],
                ..model
            };
            one.run(&mut arena)
                .map_err(|e| ConvertError::Graph(format!("running step {s}: {e}")))?;
            let Some(fid) = f else { continue };
            let Some(fv) = float.get(fid).and_then(Option::as_ref) else {
                continue;
            };
            let value = &program.values[program.layers[l].output];
            let off = assembled.memory.offsets[program.layers[l].output] as usize;
            let Some(q) = arena.get(off..off + value.bytes()) else {
                continue;
            };
            if q.len() != fv.len() {
                continue;
            }
            let d = dequantize_values(q, value.scale, value.zero_point);
            for (a, b) in fv.iter().zip(&d) {
                signal[s] += (*a as f64) * (*a as f64);
                noise[s] += (*a as f64 - *b as f64).powi(2);
            }
            let (step, zp) = (value.scale as f64, value.zero_point as f64);
            let (lo, hi) = ((-128.5 - zp) * step, (127.5 - zp) * step);
            let outside = fv
                .iter()
                .filter(|&&a| (a as f64) < lo || (a as f64) > hi)
                .count();
            if outside * SATURATED_PER_MILLE_DIVISOR > fv.len() {
                clipped[s] += 1;
            }
        }
    }
    Ok(steps
        .iter()
        .filter(|(_, _, f)| f.is_some())
        .map(|&(s, l, _)| LayerSqnr {
            step: s,
            layer: l,
            tensor: program.values[program.layers[l].output].name.clone(),
            sqnr_db: if noise[s] == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (signal[s] / noise[s]).log10()
            },
            clipped: clipped[s] as f64 / samples.len().max(1) as f64,
            model_output: float_graph.outputs.iter().any(|&o| {
                float_graph.tensors.get(o).map(|t| t.name.as_str())
                    == Some(program.values[program.layers[l].output].name.as_str())
            }),
        })
        .collect())
}

/// The SQNR rows as a table (appended to `attonet inspect`'s).
pub fn table(rows: &[LayerSqnr], samples: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "per-layer SQNR, int8 against float over {samples} calibration samples:"
    );
    let _ = writeln!(
        s,
        "{:>4}  {:>9}  {:>9}  tensor",
        "step", "SQNR dB", "clipped"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:>4}  {:>9.2}  {:>8.1}%  {}",
            r.step,
            r.sqnr_db,
            100.0 * r.clipped,
            r.tensor
        );
    }
    for w in clip_warnings(rows) {
        let _ = writeln!(s, "{w}");
    }
    s
}

/// Warnings about saturation on these samples, each naming the layer: a
/// model output that saturates on more than [`CLIP_WARNING_FRACTION`] of
/// them (its dequantized value is clipped there), and the first other layer
/// that saturates on more than [`CLIP_LAYER_WARNING_FRACTION`] (the inputs
/// are out of the range calibration saw; later layers follow from it).
/// Rarer saturation inside the network is left to `attonet inspect`'s
/// column: percentile calibration clips the rarest values on purpose.
pub fn clip_warnings(rows: &[LayerSqnr]) -> Vec<String> {
    let advice = "calibrate with samples like these, or with a wider method (--method minmax)";
    let mut warnings = Vec::new();
    let inner: Vec<&LayerSqnr> = rows
        .iter()
        .filter(|r| !r.model_output && r.clipped > CLIP_LAYER_WARNING_FRACTION)
        .collect();
    if let Some(first) = inner.first() {
        warnings.push(format!(
            "warning: step {} ({}) saturates on {:.0} % of the samples, and {} later layers on more \
             than {:.0} %: these inputs lie outside the range calibration saw; {advice}",
            first.step,
            first.tensor,
            100.0 * first.clipped,
            inner.len() - 1,
            100.0 * CLIP_LAYER_WARNING_FRACTION
        ));
    }
    for r in rows
        .iter()
        .filter(|r| r.model_output && r.clipped > CLIP_WARNING_FRACTION)
    {
        warnings.push(format!(
            "warning: the model output of step {} ({}) saturates on {:.1} % of the samples \
             (more than {} %): the dequantized output is clipped there; {advice}",
            r.step,
            r.tensor,
            100.0 * r.clipped,
            100.0 * CLIP_WARNING_FRACTION
        ));
    }
    warnings
}

/// `report`'s JSON with an `sqnr` array added (and `sqnr_db` on each layer row).
pub fn json_with_sqnr(report: &crate::Report, rows: &[LayerSqnr]) -> String {
    let mut v = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    if let Some(layers) = v.get_mut("layers").and_then(|l| l.as_array_mut()) {
        for layer in layers {
            let step = layer.get("step").and_then(|s| s.as_u64());
            if let Some(r) = rows.iter().find(|r| Some(r.step as u64) == step) {
                layer["sqnr_db"] = finite(r.sqnr_db);
            }
        }
    }
    v["sqnr"] = serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "step": r.step, "layer": r.layer, "tensor": r.tensor, "sqnr_db": finite(r.sqnr_db),
                    "clipped": r.clipped
                })
            })
            .collect(),
    );
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn finite(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!((x * 100.0).round() / 100.0)
    } else {
        serde_json::Value::Null
    }
}
