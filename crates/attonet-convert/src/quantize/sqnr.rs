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
}

/// Per-step SQNR of `assembled` (quantized from `float_graph`) over `samples`
/// (graph layout). Steps whose output tensor has no float counterpart
/// (matched by name) are left out.
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
            let v = program.layers[l].output;
            (
                s,
                l,
                by_name
                    .get(program.values[v].name.as_str())
                    .copied()
                    .flatten(),
            )
        })
        .collect();
    let mut signal = vec![0f64; steps.len()];
    let mut noise = vec![0f64; steps.len()];
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
    let _ = writeln!(s, "{:>4}  {:>9}  tensor", "step", "SQNR dB");
    for r in rows {
        let _ = writeln!(s, "{:>4}  {:>9.2}  {}", r.step, r.sqnr_db, r.tensor);
    }
    s
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
                    "step": r.step, "layer": r.layer, "tensor": r.tensor, "sqnr_db": finite(r.sqnr_db)
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
