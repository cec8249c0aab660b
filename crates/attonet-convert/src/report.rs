//! The costs everyone asks for: per-layer MACs, parameters and bytes, and the
//! model's totals (what `attonet inspect` prints).

use std::fmt::Write as _;

use crate::assemble::Assembled;
use attonet_runtime::block::StageOp;
use attonet_runtime::ops::reduce::ArgKind;
use attonet_runtime::ops::{ConvKernel, Shape};
use attonet_runtime::plan::{ElementType, Step};

use crate::program::{BlockResidual, BlockStage, LayerOp, S16Layer};

/// One row of the per-layer table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerRow {
    /// Index of the runtime step (`None` for a reshape that moves no bytes).
    pub step: Option<usize>,
    /// Whether the row is part of a fused block (several rows share its
    /// step; intermediates live in windows of a few rows).
    pub fused: bool,
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
    /// Arena offset of the output (of a fused stage: of its row window).
    pub output_offset: u32,
}

/// The rows of a fused block: one per convolution, then the ADD.
fn block_rows(
    a: &Assembled,
    layer: usize,
    step: Option<usize>,
    stages: &[BlockStage],
    residual: &BlockResidual,
) -> Vec<LayerRow> {
    let p = &a.program;
    let l = &p.layers[layer];
    let x = p.values[l.inputs[0]].shape;
    let windows = match step.map(|s| a.steps[s]) {
        Some(Step::Block(b)) => a
            .stages
            .get(b.first_stage as usize..b.first_stage as usize + stages.len())
            .map(|st| st.iter().map(|s| s.window).collect::<Vec<_>>()),
        _ => None,
    }
    .unwrap_or_default();
    let row = |op: &StageOp, st: &BlockStage, input: Shape, offset: u32| {
        let (name, kernel) = match op {
            StageOp::Conv(params) => ("CONV_2D", ConvKernel::select(params).name()),
            StageOp::Depthwise(_) => ("DEPTHWISE_CONV_2D", "depthwise_conv"),
        };
        LayerRow {
            step,
            fused: true,
            op: name.to_string(),
            source_ops: l.source_ops.clone(),
            kernel: kernel.to_string(),
            inputs: vec![shape_text(&input)],
            output: shape_text(&st.output),
            macs: st.macs(),
            params: st.data.params(),
            weight_bytes: st.data.bytes(),
            output_offset: offset,
        }
    };
    let mut rows = Vec::new();
    let mut input = x;
    let last = stages.len().saturating_sub(1);
    for (k, st) in stages.iter().enumerate() {
        let offset = if k == last {
            a.memory.offsets[l.output]
        } else {
            windows.get(k).copied().unwrap_or(0)
        };
        rows.push(row(&st.op, st, input, offset));
        input = st.output;
    }
    if let BlockResidual::Projection { stage, .. } = residual {
        rows.push(row(&stage.op, stage, x, a.memory.offsets[l.output]));
    }
    if !matches!(residual, BlockResidual::Absent) {
        let out = shape_text(&p.values[l.output].shape);
        rows.push(LayerRow {
            step,
            fused: true,
            op: "ADD".to_string(),
            source_ops: l.source_ops.clone(),
            kernel: "add".to_string(),
            inputs: vec![out.clone(), out.clone()],
            output: out,
            macs: 0,
            params: 0,
            weight_bytes: 0,
            output_offset: a.memory.offsets[l.output],
        });
    }
    rows
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
    /// Input dimensions (the first input's).
    pub input: Vec<usize>,
    /// Output dimensions (the first output's).
    pub output: Vec<usize>,
    /// Every input's dimensions, in the model's order.
    pub inputs: Vec<Vec<usize>>,
    /// Every output's dimensions, in the model's order.
    pub outputs: Vec<Vec<usize>>,
    /// Every input's element type (`int8`, or `float32` for a float input
    /// the model quantizes itself), in order.
    pub input_types: Vec<String>,
    /// Every output's element type (`int8`, `int32` for ARG_MAX, `float32`
    /// for a DEQUANTIZE), in order.
    pub output_types: Vec<String>,
    /// Per-layer rows.
    pub layers: Vec<LayerRow>,
    /// The kernel families the plan runs (all a firmware links of the runtime).
    pub kernels: Vec<String>,
}

fn shape_text(s: &attonet_runtime::ops::Shape) -> String {
    format!("{}x{}x{}", s.h, s.w, s.c)
}

/// A value's shape in elements, with its type when it is not int8
/// (`1x3x4 int32`; its arena shape counts bytes).
fn value_text(v: &crate::program::Value) -> String {
    match v.dtype {
        ElementType::Int8 => shape_text(&v.shape),
        t => {
            let c = v.shape.c as usize / t.size().max(1);
            format!("{}x{}x{c} {}", v.shape.h, v.shape.w, t.name())
        }
    }
}

impl Report {
    /// Builds the report of an assembled model.
    pub fn new(a: &Assembled) -> Report {
        let p = &a.program;
        // Source op names: TFLite's names of the ops each layer implements.
        let mut layers = Vec::new();
        for (i, l) in p.layers.iter().enumerate() {
            let step = a.step_layers.iter().position(|&li| li == i);
            let op = match &l.op {
                LayerOp::PointwisePair { .. } => "CONV_2D+CONV_2D",
                LayerOp::Conv { .. } => "CONV_2D",
                LayerOp::Depthwise { .. } => "DEPTHWISE_CONV_2D",
                LayerOp::Add(_) => "ADD",
                LayerOp::AveragePool(_) => "AVERAGE_POOL_2D",
                LayerOp::MaxPool(_) => "MAX_POOL_2D",
                LayerOp::FullyConnected { .. } => "FULLY_CONNECTED",
                LayerOp::Softmax { .. } => "SOFTMAX",
                LayerOp::LogSoftmax(_) => "LOG_SOFTMAX",
                LayerOp::TransposeConv { .. } => "TRANSPOSE_CONV",
                LayerOp::BatchMatmul(_) => "BATCH_MATMUL",
                LayerOp::L2Normalization(_) => "L2_NORMALIZATION",
                LayerOp::Reshape => "RESHAPE",
                LayerOp::Lookup { func, .. } => func.name(),
                LayerOp::Reduce { func, .. } => func.name(),
                LayerOp::Gather { name, .. } => name,
                LayerOp::ResizeBilinear(_) => "RESIZE_BILINEAR",
                LayerOp::Binary { func, .. } => func.map_or("ADD", |f| f.name()),
                LayerOp::Concat { .. } => "CONCATENATION",
                LayerOp::Arg(p) => match p.kind {
                    ArgKind::ArgMax => "ARG_MAX",
                    ArgKind::ArgMin => "ARG_MIN",
                },
                LayerOp::QuantizeFloat(_) => "QUANTIZE",
                LayerOp::DequantizeFloat(_) => "DEQUANTIZE",
                LayerOp::Requantize(_) => "QUANTIZE",
                LayerOp::Svdf { .. } => "SVDF",
                LayerOp::Lstm { .. } => "UNIDIRECTIONAL_SEQUENCE_LSTM",
                LayerOp::S16(l) => match l {
                    S16Layer::Conv { .. } => "CONV_2D",
                    S16Layer::Depthwise { .. } => "DEPTHWISE_CONV_2D",
                    S16Layer::FullyConnected { .. } => "FULLY_CONNECTED",
                    S16Layer::Add { .. } => "ADD",
                    S16Layer::Mul { .. } => "MUL",
                    S16Layer::Softmax { .. } => "SOFTMAX",
                    S16Layer::Logistic(_) => "LOGISTIC",
                    S16Layer::Tanh(_) => "TANH",
                    S16Layer::AveragePool(_) => "AVERAGE_POOL_2D",
                    S16Layer::MaxPool(_) => "MAX_POOL_2D",
                    S16Layer::Piecewise { name, .. } => name,
                },
                LayerOp::Block { stages, residual } => {
                    layers.extend(block_rows(a, i, step, stages, residual));
                    continue;
                }
            };
            layers.push(LayerRow {
                step,
                fused: false,
                op: op.to_string(),
                source_ops: l.source_ops.clone(),
                kernel: l.op.kernel_name().to_string(),
                inputs: l.inputs.iter().map(|&v| value_text(&p.values[v])).collect(),
                output: value_text(&p.values[l.output]),
                macs: l.macs(&p.values),
                params: l.params(),
                weight_bytes: l.table_bytes(),
                output_offset: a.memory.offsets[l.output],
            });
        }
        Report {
            name: p.name.clone(),
            macs: p.macs(),
            params: p.params(),
            flash_bytes: a.flash_bytes(),
            weight_bytes: a.blob_len,
            arena_bytes: a.memory.arena_bytes,
            steps: a.steps.len(),
            input: p.values[p.input()].dims.clone(),
            output: p.values[p.output()].dims.clone(),
            inputs: p.inputs.iter().map(|&v| p.values[v].dims.clone()).collect(),
            outputs: p
                .outputs
                .iter()
                .map(|&v| p.values[v].dims.clone())
                .collect(),
            input_types: p
                .inputs
                .iter()
                .map(|&v| p.values[v].dtype.name().to_string())
                .collect(),
            output_types: p
                .outputs
                .iter()
                .map(|&v| p.values[v].dtype.name().to_string())
                .collect(),
            layers,
            kernels: a.kernels().1.iter().map(|s| s.to_string()).collect(),
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
                match (r.step, r.fused) {
                    (Some(i), true) => format!("{i}*"),
                    (Some(i), false) => i.to_string(),
                    (None, _) => "-".into(),
                },
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
        if self.layers.iter().any(|r| r.fused) {
            let _ = writeln!(
                s,
                "  * rows with the same step are one fused block, run row by row; arena@ of an intermediate is its window of a few rows"
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "model        {}", self.name);
        for (what, list, types) in [
            ("input", &self.inputs, &self.input_types),
            ("output", &self.outputs, &self.output_types),
        ] {
            // The element type where it is not int8.
            let ty = |k: usize| match types.get(k).map(String::as_str) {
                Some("int8") | None => String::new(),
                Some(t) => format!(" {t}"),
            };
            if list.len() == 1 {
                let _ = writeln!(s, "{what:<13}{:?}{}", list[0], ty(0));
            } else {
                for (k, dims) in list.iter().enumerate() {
                    let _ = writeln!(s, "{:<13}{dims:?}{}", format!("{what} {k}"), ty(k));
                }
            }
        }
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
        let _ = writeln!(s, "kernels      {}", self.kernels.join(", "));
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
