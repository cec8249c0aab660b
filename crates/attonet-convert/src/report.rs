//! The costs everyone asks for: per-layer MACs, parameters and bytes, and the
//! model's totals (what `attonet inspect` prints).

use std::fmt::Write as _;

use crate::assemble::Assembled;
use crate::program::LayerOp;

/// One row of the per-layer table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerRow {
    /// Index of the runtime step (`None` for a reshape that moves no bytes).
    pub step: Option<usize>,
    /// Source operator names, e.g. `CONV_2D` or `CONV_2D+CONV_2D`.
    pub op: String,
    /// Source operator indices.
    pub source_ops: Vec<usize>,
    /// The runtime kernel.
    pub kernel: String,
    /// Input shapes as `HxWxC`.
    pub inputs: Vec<String>,
    /// Output shape as `HxWxC`.
    pub output: String,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Weights plus biases.
    pub params: usize,
    /// Bytes of tables in the weight blob.
    pub weight_bytes: usize,
    /// Arena offset of the output.
    pub output_offset: u32,
}

/// A model's cost report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The model's name.
    pub name: String,
    /// Total multiply-accumulates per inference.
    pub macs: u64,
    /// Total parameters (weights and biases).
    pub params: usize,
    /// Everything the model puts in flash: weight blob, step descriptors, header.
    pub flash_bytes: usize,
    /// Bytes of the weight blob alone.
    pub weight_bytes: usize,
    /// Bytes of RAM the memory plan needs (the arena).
    pub arena_bytes: u32,
    /// Runtime steps.
    pub steps: usize,
    /// Input dimensions.
    pub input: Vec<usize>,
    /// Output dimensions.
    pub output: Vec<usize>,
    /// Per-layer rows.
    pub layers: Vec<LayerRow>,
}

fn shape_text(s: &attonet_runtime::ops::Shape) -> String {
    format!("{}x{}x{}", s.h, s.w, s.c)
}

impl Report {
    /// Builds the report of an assembled model.
    pub fn new(a: &Assembled) -> Report {
        let p = &a.program;
        // Source op names: TFLite's names of the ops each layer implements.
        let layers = p
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let step = a.step_layers.iter().position(|&li| li == i);
                let op = match &l.op {
                    LayerOp::PointwisePair { .. } => "CONV_2D+CONV_2D",
                    LayerOp::Conv { .. } => "CONV_2D",
                    LayerOp::Depthwise { .. } => "DEPTHWISE_CONV_2D",
                    LayerOp::Add(_) => "ADD",
                    LayerOp::AveragePool(_) => "AVERAGE_POOL_2D",
                    LayerOp::MaxPool(_) => "MAX_POOL_2D",
                    LayerOp::FullyConnected { .. } => "FULLY_CONNECTED",
                    LayerOp::Softmax(_) => "SOFTMAX",
                    LayerOp::Reshape => "RESHAPE",
                };
                LayerRow {
                    step,
                    op: op.to_string(),
                    source_ops: l.source_ops.clone(),
                    kernel: l.op.kernel_name().to_string(),
                    inputs: l
                        .inputs
                        .iter()
                        .map(|&v| shape_text(&p.values[v].shape))
                        .collect(),
                    output: shape_text(&p.values[l.output].shape),
                    macs: l.macs(&p.values),
                    params: l.params(),
                    weight_bytes: l.table_bytes(),
                    output_offset: a.memory.offsets[l.output],
                }
            })
            .collect();
        Report {
            name: p.name.clone(),
            macs: p.macs(),
            params: p.params(),
            flash_bytes: a.flash_bytes(),
            weight_bytes: a.blob_len,
            arena_bytes: a.memory.arena_bytes,
            steps: a.steps.len(),
            input: p.values[p.input].dims.clone(),
            output: p.values[p.output].dims.clone(),
            layers,
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>4}  {:<17} {:<16} {:<22} {:<11} {:>11} {:>8} {:>9} {:>7}",
            "step", "op", "kernel", "input", "output", "MACs", "params", "bytes", "arena@"
        );
        for r in &self.layers {
            let _ = writeln!(
                s,
                "{:>4}  {:<17} {:<16} {:<22} {:<11} {:>11} {:>8} {:>9} {:>7}",
                r.step.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                r.op,
                r.kernel,
                r.inputs.join("+"),
                r.output,
                group(r.macs),
                group(r.params as u64),
                group(r.weight_bytes as u64),
                r.output_offset
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "model        {}", self.name);
        let _ = writeln!(s, "input        {:?}", self.input);
        let _ = writeln!(s, "output       {:?}", self.output);
        let _ = writeln!(s, "MACs         {}", group(self.macs));
        let _ = writeln!(s, "parameters   {}", group(self.params as u64));
        let _ = writeln!(
            s,
            "flash        {} B (weights {} B, plan and header {} B)",
            group(self.flash_bytes as u64),
            group(self.weight_bytes as u64),
            group((self.flash_bytes - self.weight_bytes) as u64)
        );
        let _ = writeln!(s, "arena (RAM)  {} B", group(self.arena_bytes as u64));
        s
    }

    /// The report as JSON (`macs`, `params`, `flash_bytes`, `arena_bytes`, ...).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// `12501632` as `12,501,632`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
