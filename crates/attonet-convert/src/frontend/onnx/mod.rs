//! ONNX front end: reads a float (or QDQ) `.onnx` model into a float
//! [`ir::Graph`](crate::ir::Graph) in TFLite's vocabulary (NHWC), ready for
//! [`quantize`](crate::quantize).
//!
//! * Layout: ONNX activations are NCHW; the graph's are NHWC. Weights are
//!   reordered (OIHW to OHWI; a convolution with `group == C_in` to a
//!   depthwise `[1, kh, kw, C*m]`), and a `Flatten`/`Reshape` of a `C x H x W`
//!   map (`H*W > 1`) keeps the graph's HWC order: the `Gemm`/`MatMul` that
//!   reads it gets its weight columns permuted to match.
//! * Fusion: `BatchNormalization` is folded into the convolution before it
//!   (or becomes a 1x1 depthwise convolution); `Relu` and `Clip` (0..6, 0..inf,
//!   -1..1) become the producer's fused activation; `MatMul` + `Add` of a
//!   constant becomes one FULLY_CONNECTED with bias; an `Add` of a per-channel
//!   constant after a convolution joins its bias.
//! * QDQ: `DequantizeLinear` of an integer constant is that constant
//!   (int8 symmetric weights are kept as they are); a `QuantizeLinear` /
//!   `DequantizeLinear` pair on an activation leaves its scale and zero point
//!   on the tensor (uint8 ones moved to int8), which the quantizer then uses.
//! * Padding: SAME_UPPER and VALID map to TFLite's schemes, explicit pads
//!   that equal them too; any other explicit pads (PyTorch's 3x3 stride-2
//!   pad-1 on an even size, 7x7 stride-2 pad-3 stems, padded pooling with
//!   `ceil_mode`) become `Padding::Explicit`, which the runtime's window
//!   geometry runs directly. SAME_LOWER with an odd total is an error naming
//!   the node.
//! * Shape arithmetic (`Shape`, `Gather`, `Unsqueeze`, `Concat`, `Slice`,
//!   `Cast`, ... on constants, as PyTorch exports `x.view(x.size(0), -1)`) is
//!   folded to constants (`fold.rs`), so such a `Reshape` gets a
//!   constant target.
//!
//! Every error names the node (index in the ONNX graph, op type, node name).

mod fold;
mod movement;
mod ops;
pub mod proto;

pub use ops::supported_operators;

use std::collections::HashMap;

use crate::error::{ConvertError, Result};
use crate::ir::{
    Activation, ArgFn, BinaryFn, DType, Graph, MoveFn, Op, OpKind, PadValue, Padding, Quantization,
    ReduceFn, Tensor, TensorId, UnaryFn, UnaryNumerics,
};
use crate::quantize::{FloatModel, FloatOutput, Layout};
use proto::{AttrValue, Dim, ModelProto, Node, TensorData, TensorProto};

/// Oldest default-domain opset accepted: opset 7 dropped the legacy
/// `broadcast` and `consumed_inputs` attributes; older forms of the ops that
/// changed since (Upsample's attribute scales, Resize-10's inputs, Clip's
/// attribute bounds, Split's and Squeeze's attribute axes) are read as their
/// opset says, and any attribute a reader does not know is refused by name.
pub const MIN_OPSET: i64 = 7;

/// Reads an ONNX model from the bytes of a `.onnx` file.
pub fn read_onnx(bytes: &[u8]) -> Result<FloatModel> {
    let model = ModelProto::parse(bytes).map_err(|e| ConvertError::Corrupt(e.to_string()))?;
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .ok_or_else(|| {
            ConvertError::Format("the ONNX model imports no default-domain opset".into())
        })?;
    if opset < MIN_OPSET {
        return Err(ConvertError::Format(format!(
            "ONNX opset {opset}; opsets {MIN_OPSET} and later are supported (export with opset_version=13)"
        )));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ConvertError::Corrupt("the ONNX model has no graph".into()))?;
    if graph.sparse_initializers {
        return Err(ConvertError::Graph(
            "sparse initializers are not supported".into(),
        ));
    }
    let mut c = Converter {
        opset,
        values: HashMap::new(),
        uses: HashMap::new(),
        tensors: Vec::new(),
        ops: Vec::new(),
        producer: Vec::new(),
        folded_elements: 0,
    };
    for (i, t) in graph.initializers.iter().enumerate() {
        let at = format!("graph.initializer[{i}]");
        let k = Const::from_proto(t, &at)?;
        c.values.insert(t.name.to_string(), Val::Const(k));
    }
    for n in &graph.nodes {
        // Shape reads no values: it does not stop its input's producer from
        // taking a fused activation or a folded BatchNormalization.
        if n.op_type == "Shape" {
            continue;
        }
        for i in &n.inputs {
            if !i.is_empty() {
                *c.uses.entry(i.to_string()).or_default() += 1;
            }
        }
    }
    for o in &graph.outputs {
        *c.uses.entry(o.name.to_string()).or_default() += 1;
    }
    // The graph input: the one input that is not an initializer.
    let real_inputs: Vec<_> = graph
        .inputs
        .iter()
        .filter(|v| !c.values.contains_key(v.name))
        .collect();
    let [input] = real_inputs[..] else {
        return Err(ConvertError::Graph(format!(
            "the ONNX graph has {} inputs; exactly one is supported",
            real_inputs.len()
        )));
    };
    if input.elem_type != proto::data_type::FLOAT {
        return Err(ConvertError::Graph(format!(
            "the ONNX input '{}' is {}; float32 is required",
            input.name,
            proto::data_type::name(input.elem_type)
        )));
    }
    let dims = input_dims(input)?;
    let (ir_shape, layout) = match dims[..] {
        [n, ch, h, w] => {
            if n != 1 {
                return Err(ConvertError::Graph(format!(
                    "the ONNX input '{}' has batch {n}; plans run one sample at a time",
                    input.name
                )));
            }
            (vec![1, h, w, ch], ActLayout::Nchw)
        }
        [1, f] => (vec![1, f], ActLayout::Plain),
        // A sequence: channels and length for 1-D convolutions and pooling
        // (NCL, kept as NCHW with H = 1: graph [1, 1, L, C]), or a matrix.
        [1, ch, l] if feeds_a_window(graph, input.name) => (vec![1, 1, l, ch], ActLayout::Nchw),
        [1, rows, cols] => (vec![1, rows, cols], ActLayout::Plain),
        _ => {
            return Err(ConvertError::Graph(format!(
                "the ONNX input '{}' has shape {dims:?}; [1, C, H, W], [1, C, L] or [1, F] is supported",
                input.name
            )))
        }
    };
    let input_id = c.new_tensor(input.name, ir_shape);
    let exclusive = c.uses.get(input.name).copied().unwrap_or(0) <= 1;
    c.values.insert(
        input.name.to_string(),
        Val::Act(Act {
            id: input_id,
            dims: dims.clone(),
            layout,
            quantized: None,
            exclusive,
        }),
    );
    for (index, node) in graph.nodes.iter().enumerate() {
        c.node(index, node)?;
    }
    if graph.outputs.is_empty() {
        return Err(ConvertError::Graph("the ONNX graph has no output".into()));
    }
    let mut outputs = Vec::with_capacity(graph.outputs.len());
    let mut output_ids = Vec::with_capacity(graph.outputs.len());
    for (k, output) in graph.outputs.iter().enumerate() {
        if graph.outputs[..k].iter().any(|o| o.name == output.name) {
            return Err(ConvertError::Graph(format!(
                "the ONNX output '{}' is listed twice",
                output.name
            )));
        }
        let out = match c.values.get(output.name) {
            Some(Val::Act(a)) => a.clone(),
            Some(Val::Const(_)) => {
                return Err(ConvertError::Graph(format!(
                    "the ONNX output '{}' is a constant",
                    output.name
                )))
            }
            None => {
                return Err(ConvertError::Graph(format!(
                    "the ONNX output '{}' is not computed by any node",
                    output.name
                )))
            }
        };
        // A flattened map leaves in ONNX's C x H x W order (one gather).
        let out = match out.layout {
            ActLayout::Flat { .. } => c.onnx_order(output.name, &out)?,
            _ => out,
        };
        if out.id == input_id {
            return Err(ConvertError::Graph(format!(
                "the ONNX output '{}' is the graph input: nothing computes it",
                output.name
            )));
        }
        if output_ids.contains(&out.id) {
            return Err(ConvertError::Graph(format!(
                "the ONNX output '{}' is another output's value under a second name",
                output.name
            )));
        }
        output_ids.push(out.id);
        outputs.push(FloatOutput {
            name: output.name.to_string(),
            layout: match out.layout {
                ActLayout::Nchw => Layout::Nchw,
                ActLayout::Plain | ActLayout::Flat { .. } => Layout::Same,
            },
            dims: out.dims,
        });
    }
    if c.tensors[input_id].data.is_some() {
        return Err(ConvertError::Graph(
            "the ONNX graph computes nothing from its input".into(),
        ));
    }
    let graph_ir = Graph {
        tensors: c.tensors,
        ops: c.ops,
        inputs: vec![input_id],
        outputs: output_ids,
        source_ops: Vec::new(),
    };
    Ok(FloatModel {
        graph: graph_ir,
        input_dims: dims,
        input_layout: match layout {
            ActLayout::Nchw => Layout::Nchw,
            _ => Layout::Same,
        },
        outputs,
    })
}

/// Whether a node that reads `name` first is a convolution, pooling or
/// batch normalization (looking through QDQ pairs): a `[1, C, L]` input is
/// then a 1-D feature map.
fn feeds_a_window(graph: &proto::GraphProto<'_>, name: &str) -> bool {
    let mut names = vec![name];
    // Each step follows one node; a graph has finitely many.
    for _ in 0..graph.nodes.len().min(16) {
        let mut next = Vec::new();
        for n in graph
            .nodes
            .iter()
            .filter(|n| n.inputs.first().is_some_and(|first| names.contains(first)))
        {
            match n.op_type {
                "Conv" | "MaxPool" | "AveragePool" | "BatchNormalization" | "GlobalAveragePool"
                | "GlobalMaxPool" => return true,
                "QuantizeLinear" | "DequantizeLinear" | "Identity" => {
                    next.extend(n.outputs.iter().copied())
                }
                _ => {}
            }
        }
        if next.is_empty() {
            return false;
        }
        names = next;
    }
    false
}

/// The graph axis of ONNX axis `a` of an NCHW activation of rank 4, or of
/// an NCL one of rank 3 (kept as NCHW with H = 1: graph `[1, 1, L, C]`).
pub(super) fn nchw_graph_axis(rank: usize, a: usize) -> Option<usize> {
    match rank {
        4 => [0, 3, 1, 2].get(a).copied(),
        3 => [0, 3, 2].get(a).copied(),
        _ => None,
    }
}

/// `[1, C, H, W]` as (C, H, W), and `[1, C, L]` as (C, 1, L).
fn chw(dims: &[usize]) -> Option<(usize, usize, usize)> {
    match *dims {
        [1, c, h, w] => Some((c, h, w)),
        [1, c, l] => Some((c, 1, l)),
        _ => None,
    }
}

fn input_dims(v: &proto::ValueInfo<'_>) -> Result<Vec<usize>> {
    let shape = v
        .shape
        .as_ref()
        .ok_or_else(|| ConvertError::Graph(format!("the ONNX input '{}' has no shape", v.name)))?;
    let dims = shape
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dim::Value(n) if *n > 0 && *n <= u16::MAX as i64 => Ok(*n as usize),
            // A symbolic or unknown batch dimension: plans run batch 1.
            Dim::Param(_) | Dim::Unknown if i == 0 => Ok(1),
            other => Err(ConvertError::Graph(format!(
                "the ONNX input '{}' has dimension {i} = {other:?}; fixed sizes are required",
                v.name
            ))),
        })
        .collect::<Result<Vec<usize>>>()?;
    // Every later size is a product of these: bound it once here.
    match dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n <= i32::MAX as usize => Ok(dims),
        _ => Err(ConvertError::Graph(format!(
            "the ONNX input '{}' of shape {dims:?} has more elements than a plan can address",
            v.name
        ))),
    }
}

/// How an activation's ONNX layout maps onto its graph tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActLayout {
    /// ONNX `[1, C, H, W]`, graph `[1, H, W, C]`.
    Nchw,
    /// ONNX `[1, C*H*W]` in CHW order, graph `[1, H*W*C]` in HWC order.
    Flat { c: usize, h: usize, w: usize },
    /// The same order (rank 2).
    Plain,
}

/// An activation value.
#[derive(Debug, Clone)]
struct Act {
    /// The graph tensor holding it.
    id: TensorId,
    /// ONNX dimensions.
    dims: Vec<usize>,
    layout: ActLayout,
    /// Set on a `QuantizeLinear` output: (scale, int8 zero point).
    quantized: Option<(f32, i64)>,
    /// Whether every ONNX name holding this tensor so far has exactly one
    /// use (so a producer's output can be changed by fusion).
    exclusive: bool,
}

/// Integer contents of a constant and their quantization (from `DequantizeLinear`).
#[derive(Debug, Clone)]
struct ConstQuant {
    values: Vec<i64>,
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    axis: usize,
    /// ONNX element type of the integers.
    elem: i32,
}

/// A constant value (ONNX layout).
#[derive(Debug, Clone)]
struct Const {
    dims: Vec<usize>,
    data: TensorData,
    elem: i32,
    q: Option<ConstQuant>,
}

impl Const {
    fn from_proto(t: &TensorProto<'_>, at: &str) -> Result<Const> {
        let corrupt = |e: proto::WireError| ConvertError::Corrupt(e.to_string());
        let dims = t.shape(at).map_err(corrupt)?;
        let data = t.data(at).map_err(corrupt)?;
        Ok(Const {
            dims,
            data,
            elem: t.data_type,
            q: None,
        })
    }

    fn f32s(&self) -> Vec<f32> {
        self.data.to_f32()
    }

    fn ints(&self) -> Option<Vec<i64>> {
        match &self.data {
            TensorData::Int(v) => Some(v.clone()),
            TensorData::F32(_) => None,
        }
    }

    fn len(&self) -> usize {
        self.data.len()
    }
}

#[derive(Debug, Clone)]
enum Val {
    Const(Const),
    Act(Act),
}

struct Converter {
    opset: i64,
    values: HashMap<String, Val>,
    uses: HashMap<String, usize>,
    tensors: Vec<Tensor>,
    ops: Vec<Op>,
    /// The op that writes each tensor.
    producer: Vec<Option<usize>>,
    /// Elements of the constants folded so far (bounded, see `fold.rs`).
    folded_elements: usize,
}

/// Error context for one node.
struct Ctx<'n> {
    index: usize,
    node: &'n Node<'n>,
}

impl Ctx<'_> {
    fn label(&self) -> String {
        if self.node.name.is_empty() {
            self.node.op_type.to_string()
        } else {
            format!("{} '{}'", self.node.op_type, short(self.node.name))
        }
    }

    fn unsupported(&self, detail: impl Into<String>) -> ConvertError {
        ConvertError::UnsupportedOp {
            index: self.index,
            name: format!("ONNX node {}", self.label()),
            detail: Some(detail.into()),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> ConvertError {
        ConvertError::Invalid {
            index: self.index,
            op: format!("ONNX node {}", self.label()),
            message: message.into(),
        }
    }

    fn attr_int(&self, name: &str, default: i64) -> Result<i64> {
        match self.node.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(_) => Err(self.invalid(format!("attribute '{name}' is not an integer"))),
        }
    }

    fn attr_float(&self, name: &str, default: f32) -> Result<f32> {
        match self.node.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(AttrValue::Int(v)) => Ok(*v as f32),
            Some(_) => Err(self.invalid(format!("attribute '{name}' is not a float"))),
        }
    }

    fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.invalid(format!("attribute '{name}' is not a list of integers"))),
        }
    }

    fn attr_floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.invalid(format!("attribute '{name}' is not a list of floats"))),
        }
    }

    fn attr_string(&self, name: &str, default: &str) -> Result<String> {
        match self.node.attr(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::String(s)) => Ok(String::from_utf8_lossy(s).into_owned()),
            Some(_) => Err(self.invalid(format!("attribute '{name}' is not a string"))),
        }
    }

    /// Rejects attributes the converter does not know for this op.
    fn only_attrs(&self, known: &[&str]) -> Result<()> {
        for a in &self.node.attributes {
            if !known.contains(&a.name) {
                return Err(
                    self.unsupported(format!("attribute '{}' is not supported", short(a.name)))
                );
            }
        }
        Ok(())
    }

    /// A two-element spatial attribute (`[h, w]`), or its default.
    /// A window attribute as (H, W); for a 1-D window (`one_d`: a `[1, C, L]`
    /// input) ONNX gives one value, W, and H is 1.
    fn window_pair(&self, name: &str, default: usize, one_d: bool) -> Result<(usize, usize)> {
        if !one_d {
            return self.pair(name, default);
        }
        match self.attr_ints(name)? {
            None => Ok((1, default)),
            Some(v) => match v[..] {
                [x] => match usize::try_from(x).ok().filter(|&x| x > 0 && x <= 255) {
                    Some(x) => Ok((1, x)),
                    None => {
                        Err(self.invalid(format!("attribute '{name}' = {v:?} is out of range")))
                    }
                },
                _ => Err(self.invalid(format!(
                    "attribute '{name}' = {v:?} for a 1-D window (one value expected)"
                ))),
            },
        }
    }

    /// `pads` as the 2-D `[top, left, bottom, right]`; a 1-D window's
    /// `[begin, end]` pads W only.
    fn window_pads(&self, one_d: bool) -> Result<Option<Vec<i64>>> {
        match (self.attr_ints("pads")?, one_d) {
            (Some(p), true) => match p[..] {
                [b, e] => Ok(Some(vec![0, b, 0, e])),
                _ => {
                    Err(self.invalid(format!("pads {p:?} for a 1-D window (two values expected)")))
                }
            },
            (pads, _) => Ok(pads),
        }
    }

    fn pair(&self, name: &str, default: usize) -> Result<(usize, usize)> {
        match self.attr_ints(name)? {
            None => Ok((default, default)),
            Some(v) if v.len() == 2 => {
                let ok = |x: i64| usize::try_from(x).ok().filter(|&x| x > 0 && x <= 255);
                match (ok(v[0]), ok(v[1])) {
                    (Some(a), Some(b)) => Ok((a, b)),
                    _ => Err(self.invalid(format!("attribute '{name}' = {v:?} is out of range"))),
                }
            }
            Some(v) => Err(self.unsupported(format!(
                "attribute '{name}' = {v:?}: only 2-D (NCHW) windows are supported"
            ))),
        }
    }
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn read_f32s(t: &Tensor) -> Vec<f32> {
    t.data
        .as_deref()
        .unwrap_or(&[])
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Window geometry that ONNX attributes describe, mapped to TFLite padding.
#[allow(clippy::too_many_arguments)]
fn map_padding(
    cx: &Ctx<'_>,
    auto_pad: &str,
    pads: Option<&[i64]>,
    (ih, iw): (usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    ceil_mode: bool,
) -> Result<(Padding, usize, usize)> {
    let eh = (kh - 1) * dh + 1;
    let ew = (kw - 1) * dw + 1;
    let same = (ih.div_ceil(sh), iw.div_ceil(sw));
    let same_pad = |i: usize, k: usize, s: usize, o: usize| -> (usize, usize) {
        let total = ((o.saturating_sub(1)) * s + k).saturating_sub(i);
        (total / 2, total - total / 2)
    };
    let (pth, pbh) = same_pad(ih, eh, sh, same.0);
    let (ptw, pbw) = same_pad(iw, ew, sw, same.1);
    match auto_pad {
        "SAME_UPPER" => return Ok((Padding::Same, same.0, same.1)),
        "SAME_LOWER" => {
            if pth == pbh && ptw == pbw {
                return Ok((Padding::Same, same.0, same.1));
            }
            return Err(cx.unsupported(
                "auto_pad SAME_LOWER with an odd total padding (TFLite pads the extra row at the end)",
            ));
        }
        "VALID" | "NOTSET" | "" => {}
        other => return Err(cx.invalid(format!("auto_pad '{other}'"))),
    }
    let p: [i64; 4] = match (auto_pad, pads) {
        ("VALID", _) | (_, None) => [0; 4],
        (_, Some(p)) if p.len() == 4 => [p[0], p[1], p[2], p[3]],
        (_, Some(p)) => {
            return Err(cx.unsupported(format!("pads {p:?}: only 2-D windows are supported")))
        }
    };
    if p.iter().any(|&x| !(0..=255).contains(&x)) {
        return Err(cx.invalid(format!("pads {p:?} are out of range")));
    }
    let [pt, pl, pb, pr] = p.map(|x| x as usize);
    let out = |i: usize, a: usize, b: usize, e: usize, s: usize| -> Option<usize> {
        let span = (i + a + b).checked_sub(e)?;
        Some(
            if ceil_mode {
                span.div_ceil(s)
            } else {
                span / s
            } + 1,
        )
    };
    let (Some(oh), Some(ow)) = (out(ih, pt, pb, eh, sh), out(iw, pl, pr, ew, sw)) else {
        return Err(cx.invalid(format!(
            "the {kh}x{kw} window (dilation {dh}x{dw}) is larger than the padded {ih}x{iw} input"
        )));
    };
    if p == [0; 4] {
        let valid = ((ih - eh) / sh + 1, (iw - ew) / sw + 1);
        if (oh, ow) == valid {
            return Ok((Padding::Valid, oh, ow));
        }
    }
    if (oh, ow) == same && pt == pth && pl == ptw {
        // The bottom/right padding may exceed what the last window reads; it is never touched.
        return Ok((Padding::Same, oh, ow));
    }
    // Explicit pads TFLite's SAME does not reproduce (PyTorch's 3x3 stride-2
    // pad-1 on an even size, 7x7 stride-2 pad-3 stems). With `ceil_mode` the
    // last window may reach past the given padding: taps there are skipped
    // just like padded ones, so extend the bottom/right padding to cover it.
    let after = |i: usize, before: usize, after: usize, e: usize, s: usize, o: usize| -> usize {
        after.max(((o - 1) * s + e).saturating_sub(i + before))
    };
    Ok((
        Padding::Explicit {
            top: pt,
            left: pl,
            bottom: after(ih, pt, pb, eh, sh, oh),
            right: after(iw, pl, pr, ew, sw, ow),
        },
        oh,
        ow,
    ))
}

impl Converter {
    fn new_tensor(&mut self, name: &str, shape: Vec<usize>) -> TensorId {
        self.tensors.push(Tensor {
            variable: false,
            name: name.to_string(),
            shape,
            dtype: DType::F32,
            quant: None,
            data: None,
        });
        self.producer.push(None);
        self.tensors.len() - 1
    }

    fn new_const(&mut self, name: &str, shape: Vec<usize>, values: &[f32]) -> TensorId {
        self.tensors.push(Tensor {
            variable: false,
            name: name.to_string(),
            shape,
            dtype: DType::F32,
            quant: None,
            data: Some(f32_bytes(values)),
        });
        self.producer.push(None);
        self.tensors.len() - 1
    }

    fn push_op(&mut self, kind: OpKind, inputs: Vec<Option<TensorId>>, output: TensorId) -> usize {
        self.ops.push(Op {
            kind,
            inputs,
            outputs: vec![output],
        });
        let i = self.ops.len() - 1;
        self.producer[output] = Some(i);
        i
    }

    /// An op with several outputs (SPLIT).
    fn push_op_outputs(
        &mut self,
        kind: OpKind,
        inputs: Vec<Option<TensorId>>,
        outputs: Vec<TensorId>,
    ) -> usize {
        let i = self.ops.len();
        for &o in &outputs {
            self.producer[o] = Some(i);
        }
        self.ops.push(Op {
            kind,
            inputs,
            outputs,
        });
        i
    }

    fn exclusive(&self, name: &str) -> bool {
        self.uses.get(name).copied().unwrap_or(0) <= 1
    }

    fn define(&mut self, cx: &Ctx<'_>, name: &str, v: Val) -> Result<()> {
        if name.is_empty() {
            return Ok(());
        }
        if self.values.contains_key(name) {
            return Err(cx.invalid(format!("value '{}' is defined twice", short(name))));
        }
        self.values.insert(name.to_string(), v);
        Ok(())
    }

    fn define_act(
        &mut self,
        cx: &Ctx<'_>,
        name: &str,
        id: TensorId,
        dims: Vec<usize>,
        layout: ActLayout,
    ) -> Result<()> {
        let exclusive = self.exclusive(name);
        self.define(
            cx,
            name,
            Val::Act(Act {
                id,
                dims,
                layout,
                quantized: None,
                exclusive,
            }),
        )
    }

    /// An alias: `name` holds the same tensor as `a` (Identity, fused ops, Q/DQ).
    fn alias(&mut self, cx: &Ctx<'_>, name: &str, a: &Act) -> Result<()> {
        let mut b = a.clone();
        b.exclusive = a.exclusive && self.exclusive(name);
        self.define(cx, name, Val::Act(b))
    }

    /// A graph tensor of shape `shape` holding `x` (same bytes): RESHAPE.
    fn reshaped(&mut self, name: &str, x: TensorId, shape: Vec<usize>) -> TensorId {
        if self.tensors[x].shape == shape {
            return x;
        }
        let y = self.new_tensor(name, shape);
        self.push_op(OpKind::Reshape, vec![Some(x)], y);
        y
    }

    /// A graph tensor holding `x` transposed by `perm` (of the graph axes): a
    /// TRANSPOSE gather.
    fn transposed(&mut self, name: &str, x: TensorId, perm: Vec<usize>) -> TensorId {
        let shape = perm.iter().map(|&a| self.tensors[x].shape[a]).collect();
        let y = self.new_tensor(name, shape);
        self.push_op(
            OpKind::Move {
                func: MoveFn::Transpose { perm },
                name: "TRANSPOSE",
            },
            vec![Some(x)],
            y,
        );
        y
    }

    /// `x` in ONNX's element order, as a tensor whose graph shape is its ONNX
    /// dimensions (layout Plain): an NCHW or NCL map or a flattened one is
    /// transposed back (one gather), a Plain one is itself. For reshapes the
    /// graph's layouts cannot follow.
    fn onnx_order(&mut self, name: &str, x: &Act) -> Result<Act> {
        let (c, h, w) = match (x.layout, chw(&x.dims)) {
            (ActLayout::Plain, _) => return Ok(x.clone()),
            (ActLayout::Flat { c, h, w }, _) | (ActLayout::Nchw, Some((c, h, w))) => (c, h, w),
            (ActLayout::Nchw, None) => {
                return Err(ConvertError::Graph(format!(
                    "'{}': an NCHW activation of shape {:?}",
                    short(name),
                    x.dims
                )))
            }
        };
        let nhwc = self.reshaped(&format!("{name}/nhwc"), x.id, vec![1, h, w, c]);
        let nchw = self.transposed(&format!("{name}/nchw"), nhwc, vec![0, 3, 1, 2]);
        let dims = match x.layout {
            ActLayout::Flat { .. } => vec![1, c * h * w],
            _ => x.dims.clone(),
        };
        let id = self.reshaped(&format!("{name}/onnx_order"), nchw, dims.clone());
        Ok(Act {
            id,
            dims,
            layout: ActLayout::Plain,
            quantized: None,
            exclusive: true,
        })
    }

    /// Input `i` as an NCHW (or NCL) map: a rank-4 activation in ONNX order
    /// (Plain, after a general Reshape or Transpose) is transposed to the
    /// graph's NHWC (one gather); other layouts are left to the op to check.
    fn map_input(&mut self, cx: &Ctx<'_>, i: usize) -> Result<Act> {
        let x = self.act(cx, i)?;
        match (x.layout, &x.dims[..]) {
            (ActLayout::Plain, &[1, c, h, w]) if h * w > 1 && c > 1 => {
                let name = format!("{}/nhwc", cx.node.inputs.get(i).copied().unwrap_or("x"));
                let id = self.transposed(&name, x.id, vec![0, 2, 3, 1]);
                Ok(Act {
                    id,
                    layout: ActLayout::Nchw,
                    ..x
                })
            }
            (ActLayout::Plain, &[1, c, h, w]) => {
                // One of C or H * W is 1: the bytes are already NHWC.
                let name = format!("{}/nhwc", cx.node.inputs.get(i).copied().unwrap_or("x"));
                let id = self.reshaped(&name, x.id, vec![1, h, w, c]);
                Ok(Act {
                    id,
                    layout: ActLayout::Nchw,
                    ..x
                })
            }
            _ => Ok(x),
        }
    }

    /// Input `i` of a convolution, pooling or normalization: [`map_input`],
    /// and a `[1, C, L]` matrix in ONNX order (a sequence transposed to
    /// channels first, `[1, L, C] -> [1, C, L]`) becomes an NCL map (one
    /// gather).
    ///
    /// [`map_input`]: Converter::map_input
    fn window_input(&mut self, cx: &Ctx<'_>, i: usize) -> Result<Act> {
        let x = self.map_input(cx, i)?;
        match (x.layout, &x.dims[..]) {
            (ActLayout::Plain, &[1, c, l]) => {
                let name = format!("{}/nlc", cx.node.inputs.get(i).copied().unwrap_or("x"));
                let t = self.transposed(&name, x.id, vec![0, 2, 1]);
                let id = self.reshaped(&format!("{name}/nhwc"), t, vec![1, 1, l, c]);
                Ok(Act {
                    id,
                    layout: ActLayout::Nchw,
                    ..x
                })
            }
            _ => Ok(x),
        }
    }

    fn input<'s>(&'s self, cx: &Ctx<'_>, i: usize) -> Result<&'s Val> {
        let name = cx
            .node
            .inputs
            .get(i)
            .copied()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| cx.invalid(format!("missing input {i}")))?;
        self.values.get(name).ok_or_else(|| {
            cx.invalid(format!(
                "input '{}' is not defined before this node (the graph must be topologically sorted)",
                short(name)
            ))
        })
    }

    fn optional_input<'s>(&'s self, cx: &Ctx<'_>, i: usize) -> Result<Option<&'s Val>> {
        match cx.node.inputs.get(i) {
            None | Some(&"") => Ok(None),
            Some(_) => self.input(cx, i).map(Some),
        }
    }

    fn act(&self, cx: &Ctx<'_>, i: usize) -> Result<Act> {
        match self.input(cx, i)? {
            Val::Act(a) if a.quantized.is_none() => Ok(a.clone()),
            Val::Act(_) => Err(cx.unsupported(format!(
                "input {i} is the integer output of a QuantizeLinear; only QuantizeLinear -> DequantizeLinear pairs are supported"
            ))),
            Val::Const(_) => Err(cx.unsupported(format!(
                "input {i} is a constant; this op needs an activation there"
            ))),
        }
    }

    fn constant(&self, cx: &Ctx<'_>, i: usize) -> Result<Const> {
        match self.input(cx, i)? {
            Val::Const(k) => Ok(k.clone()),
            Val::Act(_) => Err(cx.unsupported(format!(
                "input {i} must be a constant (an initializer or Constant), it is computed"
            ))),
        }
    }

    fn output_name<'n>(&self, cx: &Ctx<'n>) -> Result<&'n str> {
        match cx.node.outputs.as_slice() {
            [o, rest @ ..]
                if !o.is_empty()
                    && rest
                        .iter()
                        .all(|r| r.is_empty() || !self.uses.contains_key(*r)) =>
            {
                Ok(o)
            }
            [_, ..] => Err(cx.unsupported("only the first output may be used")),
            [] => Err(cx.invalid("the node has no output")),
        }
    }

    fn node(&mut self, index: usize, node: &Node<'_>) -> Result<()> {
        let cx = Ctx { index, node };
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(ConvertError::UnsupportedOp {
                index,
                name: format!("ONNX node {}", cx.label()),
                detail: Some(format!("operator domain '{}'", short(node.domain))),
            });
        }
        // ArgMax's int32 indices only leave the graph (Shape reads no
        // values, Identity renames).
        if !matches!(node.op_type, "Shape" | "Identity") {
            for (i, name) in node.inputs.iter().enumerate() {
                if let Some(Val::Act(a)) = self.values.get(*name) {
                    if self
                        .tensors
                        .get(a.id)
                        .is_some_and(|t| t.dtype == DType::I32)
                    {
                        return Err(cx.unsupported(format!(
                            "input {i} holds the int32 indices of an ArgMax or ArgMin; only a graph output may"
                        )));
                    }
                }
            }
        }
        match ops::handler(node.op_type) {
            Some(handle) => handle(self, &cx),
            None => Err(ConvertError::UnsupportedOp {
                index,
                name: format!("ONNX node {}", cx.label()),
                detail: Some(format!(
                    "the ONNX operator {} is not supported",
                    short(node.op_type)
                )),
            }),
        }
    }

    fn conv(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ])?;
        let x = self.window_input(cx, 0)?;
        let w = self.constant(cx, 1)?;
        let b = match self.optional_input(cx, 2)? {
            None => None,
            Some(Val::Const(k)) => Some(k.clone()),
            Some(Val::Act(_)) => return Err(cx.unsupported("the bias must be a constant")),
        };
        let Some((ic, ih, iw)) = chw(&x.dims) else {
            return Err(cx.unsupported(format!(
                "input shape {:?}: only 1-D (NCL) and 2-D (NCHW) convolutions are supported",
                x.dims
            )));
        };
        if x.layout != ActLayout::Nchw {
            return Err(cx.unsupported("the input is not an NCHW activation"));
        }
        let one_d = x.dims.len() == 3;
        let (oc, icg, kh, kw) = match (one_d, &w.dims[..]) {
            (false, &[oc, icg, kh, kw]) => (oc, icg, kh, kw),
            (true, &[oc, icg, k]) => (oc, icg, 1, k),
            _ => {
                return Err(cx.unsupported(format!(
                "weights of shape {:?} for input {:?}: only 1-D and 2-D convolutions are supported",
                w.dims, x.dims
            )))
            }
        };
        if cx.attr_ints("kernel_shape")?.is_some() {
            let ks = cx.window_pair("kernel_shape", 1, one_d)?;
            if ks != (kh, kw) {
                return Err(cx.invalid(format!(
                    "kernel_shape {ks:?} does not match the weights {:?}",
                    w.dims
                )));
            }
        }
        let group = cx.attr_int("group", 1)?;
        let group = usize::try_from(group)
            .ok()
            .filter(|&g| g > 0 && icg * g == ic && oc % g == 0)
            .ok_or_else(|| {
                cx.invalid(format!(
                    "group {group} does not fit {ic} input channels, weights {:?}",
                    w.dims
                ))
            })?;
        if kh == 0 || kw == 0 || kh > 255 || kw > 255 || oc == 0 {
            return Err(cx.invalid(format!("weights of shape {:?}", w.dims)));
        }
        let strides = cx.window_pair("strides", 1, one_d)?;
        let dilations = cx.window_pair("dilations", 1, one_d)?;
        let auto_pad = cx.attr_string("auto_pad", "NOTSET")?;
        let pads = cx.window_pads(one_d)?;
        let (padding, oh, ow) = map_padding(
            cx,
            &auto_pad,
            pads.as_deref(),
            (ih, iw),
            (kh, kw),
            strides,
            dilations,
            false,
        )?;
        let bias = match &b {
            None => None,
            Some(k) if k.len() == oc => Some(k.f32s()),
            Some(k) => {
                return Err(cx.invalid(format!(
                    "bias has {} elements for {oc} output channels",
                    k.len()
                )))
            }
        };
        let depthwise = group > 1 && group == ic && icg == 1;
        let wf = w.f32s();
        let out_name = self.output_name(cx)?;
        // Reorder the weights (and their integers, when QDQ gave int8 symmetric ones).
        // `order[i]`: the ONNX index of graph element `i`.
        let (shape, order): (Vec<usize>, Vec<usize>) = if depthwise {
            // [oc, 1, kh, kw] -> [1, kh, kw, oc]
            let mut order = vec![0; oc * kh * kw];
            for o in 0..oc {
                for y in 0..kh {
                    for xx in 0..kw {
                        order[(y * kw + xx) * oc + o] = (o * kh + y) * kw + xx;
                    }
                }
            }
            (vec![1, kh, kw, oc], order)
        } else {
            // OIHW -> OHWI
            let mut order = vec![0; oc * kh * kw * icg];
            for o in 0..oc {
                for i in 0..icg {
                    for y in 0..kh {
                        for xx in 0..kw {
                            order[((o * kh + y) * kw + xx) * icg + i] =
                                ((o * icg + i) * kh + y) * kw + xx;
                        }
                    }
                }
            }
            (vec![oc, kh, kw, icg], order)
        };
        let w_name = cx.node.inputs.get(1).copied().unwrap_or("weights");
        let wid = self.weight_tensor(
            w_name,
            shape,
            &wf,
            &order,
            &w,
            0,
            if depthwise { 3 } else { 0 },
        );
        let bid = bias.map(|bv| {
            let name = cx.node.inputs.get(2).copied().unwrap_or("bias");
            self.new_const(name, vec![oc], &bv)
        });
        let y = self.new_tensor(out_name, vec![1, oh, ow, oc]);
        let kind = if depthwise {
            OpKind::DepthwiseConv2d {
                padding,
                stride_h: strides.0,
                stride_w: strides.1,
                dilation_h: dilations.0,
                dilation_w: dilations.1,
                depth_multiplier: oc / ic,
                activation: Activation::None,
            }
        } else {
            OpKind::Conv2d {
                padding,
                stride_h: strides.0,
                stride_w: strides.1,
                dilation_h: dilations.0,
                dilation_w: dilations.1,
                activation: Activation::None,
            }
        };
        self.push_op(kind, vec![Some(x.id), Some(wid), bid], y);
        let dims = if one_d {
            vec![1, oc, ow]
        } else {
            vec![1, oc, oh, ow]
        };
        self.define_act(cx, out_name, y, dims, ActLayout::Nchw)
    }

    /// ConvTranspose (2-D NCHW, one group, no dilation): TRANSPOSE_CONV
    /// with explicit padding, the weights `[C_in, C_out, kh, kw]` reordered
    /// to OHWI. No output-shape tensor (input 0 is omitted).
    fn conv_transpose(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "output_padding",
            "output_shape",
            "pads",
            "strides",
        ])?;
        let x = self.window_input(cx, 0)?;
        let w = self.constant(cx, 1)?;
        let b = match self.optional_input(cx, 2)? {
            None => None,
            Some(Val::Const(k)) => Some(k.clone()),
            Some(Val::Act(_)) => return Err(cx.unsupported("the bias must be a constant")),
        };
        let (&[1, ic, ih, iw], ActLayout::Nchw) = (&x.dims[..], x.layout) else {
            return Err(cx.unsupported(format!(
                "input shape {:?}: only 2-D NCHW transposed convolutions are supported",
                x.dims
            )));
        };
        let [wic, oc, kh, kw] = w.dims[..] else {
            return Err(cx.unsupported(format!(
                "weights of shape {:?}: only 2-D transposed convolutions are supported",
                w.dims
            )));
        };
        if cx.attr_int("group", 1)? != 1 {
            return Err(cx.unsupported("grouped ConvTranspose"));
        }
        if wic != ic || oc == 0 || kh == 0 || kw == 0 || kh > 255 || kw > 255 {
            return Err(cx.invalid(format!(
                "weights of shape {:?} for {ic} input channels",
                w.dims
            )));
        }
        if let Some(ks) = cx.attr_ints("kernel_shape")? {
            if ks != [kh as i64, kw as i64] {
                return Err(cx.invalid(format!(
                    "kernel_shape {ks:?} does not match the weights {:?}",
                    w.dims
                )));
            }
        }
        if cx.pair("dilations", 1)? != (1, 1) {
            return Err(cx.unsupported("dilated ConvTranspose"));
        }
        let (sh, sw) = cx.pair("strides", 1)?;
        let output_padding = match cx.attr_ints("output_padding")? {
            None => (0, 0),
            Some(v) if v.len() == 2 && v.iter().all(|&p| p >= 0) => (v[0] as usize, v[1] as usize),
            Some(v) => return Err(cx.invalid(format!("output_padding {v:?}"))),
        };
        if output_padding.0 >= sh || output_padding.1 >= sw {
            return Err(cx.invalid(format!(
                "output_padding {output_padding:?} is not below the strides ({sh}, {sw})"
            )));
        }
        let auto_pad = cx.attr_string("auto_pad", "NOTSET")?;
        let [top, left, bottom, right] = match (auto_pad.as_str(), cx.attr_ints("pads")?) {
            ("NOTSET", None) | ("VALID", _) => [0usize; 4],
            ("NOTSET", Some(p)) if p.len() == 4 && p.iter().all(|&v| (0..=255).contains(&v)) => {
                [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
            }
            (mode, pads) => {
                return Err(cx.unsupported(format!(
                    "auto_pad {mode} with pads {pads:?}; explicit pads (NOTSET) and VALID are \
                     supported"
                )))
            }
        };
        // ONNX: out = stride (in - 1) + output_padding + kernel - pads.
        let full_h = sh * (ih - 1) + output_padding.0 + kh;
        let full_w = sw * (iw - 1) + output_padding.1 + kw;
        let (Some(oh), Some(ow)) = (
            full_h.checked_sub(top + bottom).filter(|&o| o > 0),
            full_w.checked_sub(left + right).filter(|&o| o > 0),
        ) else {
            return Err(cx.invalid("the pads remove the whole output"));
        };
        if let Some(shape) = cx.attr_ints("output_shape")? {
            let tail: Vec<i64> = shape.iter().rev().take(2).rev().copied().collect();
            if tail != [oh as i64, ow as i64] {
                return Err(cx.unsupported(format!(
                    "output_shape {shape:?} other than the {oh}x{ow} the pads give"
                )));
            }
        }
        let bias = match &b {
            None => None,
            Some(k) if k.len() == oc => Some(k.f32s()),
            Some(k) => {
                return Err(cx.invalid(format!(
                    "bias has {} elements for {oc} output channels",
                    k.len()
                )))
            }
        };
        // [C_in, C_out, kh, kw] -> OHWI [C_out, kh, kw, C_in].
        let mut order = vec![0; oc * kh * kw * ic];
        for o in 0..oc {
            for y in 0..kh {
                for xx in 0..kw {
                    for i in 0..ic {
                        order[((o * kh + y) * kw + xx) * ic + i] =
                            ((i * oc + o) * kh + y) * kw + xx;
                    }
                }
            }
        }
        let out_name = self.output_name(cx)?;
        let w_name = cx.node.inputs.get(1).copied().unwrap_or("weights");
        let wf = w.f32s();
        let wid = self.weight_tensor(w_name, vec![oc, kh, kw, ic], &wf, &order, &w, 1, 0);
        let bid = bias.map(|bv| {
            let name = cx.node.inputs.get(2).copied().unwrap_or("bias");
            self.new_const(name, vec![oc], &bv)
        });
        let y = self.new_tensor(out_name, vec![1, oh, ow, oc]);
        self.push_op(
            OpKind::TransposeConv {
                padding: Padding::Explicit {
                    top,
                    left,
                    bottom,
                    right,
                },
                stride_h: sh,
                stride_w: sw,
                activation: Activation::None,
            },
            vec![None, Some(wid), Some(x.id), bid],
            y,
        );
        self.define_act(cx, out_name, y, vec![1, oc, oh, ow], ActLayout::Nchw)
    }

    /// A weight tensor in the graph's layout: `order[i]` is the ONNX index of
    /// graph element `i`. Int8 symmetric QDQ weights whose channel axis
    /// (`onnx_axis`) becomes `ir_axis` stay int8 with their scales.
    #[allow(clippy::too_many_arguments)]
    fn weight_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        values: &[f32],
        order: &[usize],
        k: &Const,
        onnx_axis: usize,
        ir_axis: usize,
    ) -> TensorId {
        if let Some(q) = &k.q {
            let per_tensor = q.scales.len() == 1;
            let fits = q.elem == proto::data_type::INT8
                && q.zero_points.iter().all(|&z| z == 0)
                && (per_tensor || q.axis == onnx_axis)
                && q.values.len() == values.len();
            if fits {
                self.tensors.push(Tensor {
                    variable: false,
                    name: name.to_string(),
                    shape,
                    dtype: DType::I8,
                    quant: Some(Quantization {
                        scales: q.scales.clone(),
                        zero_points: q.zero_points.clone(),
                        axis: if per_tensor { 0 } else { ir_axis },
                    }),
                    data: Some(
                        order
                            .iter()
                            .map(|&i| q.values.get(i).map_or(0, |&v| v as i8 as u8))
                            .collect(),
                    ),
                });
                self.producer.push(None);
                return self.tensors.len() - 1;
            }
        }
        let reordered: Vec<f32> = order
            .iter()
            .map(|&i| values.get(i).copied().unwrap_or(0.0))
            .collect();
        self.new_const(name, shape, &reordered)
    }

    /// The producing op of `a` if its output may be changed (fusion).
    fn fusable_producer(&self, a: &Act) -> Option<usize> {
        if !a.exclusive {
            return None;
        }
        self.producer.get(a.id).copied().flatten()
    }

    fn batch_norm(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["epsilon", "momentum", "training_mode", "spatial"])?;
        if cx.attr_int("training_mode", 0)? != 0 {
            return Err(cx.unsupported("training_mode = 1"));
        }
        let x = self.window_input(cx, 0)?;
        let (Some((c, h, w)), ActLayout::Nchw) = (chw(&x.dims), x.layout) else {
            return Err(cx.unsupported(format!(
                "input shape {:?}: only NCHW and NCL are supported",
                x.dims
            )));
        };
        let eps = cx.attr_float("epsilon", 1e-5)?;
        let mut p = Vec::new();
        for i in 1..5 {
            let k = self.constant(cx, i)?;
            if k.len() != c {
                return Err(cx.invalid(format!(
                    "parameter {i} has {} elements for {c} channels",
                    k.len()
                )));
            }
            p.push(k.f32s());
        }
        let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
        let scale: Vec<f32> = (0..c)
            .map(|i| (gamma[i] as f64 / (var[i] as f64 + eps as f64).sqrt()) as f32)
            .collect();
        let shift: Vec<f32> = (0..c)
            .map(|i| (beta[i] as f64 - mean[i] as f64 * scale[i] as f64) as f32)
            .collect();
        let out_name = self.output_name(cx)?;
        // Fold into the convolution before, when nothing else reads its output.
        if let Some(pi) = self.fusable_producer(&x) {
            let op = self.ops[pi].clone();
            let conv_axis = match op.kind {
                OpKind::Conv2d {
                    activation: Activation::None,
                    ..
                } => Some(0),
                OpKind::DepthwiseConv2d {
                    activation: Activation::None,
                    ..
                } => Some(3),
                _ => None,
            };
            if let (Some(axis), Some(Some(wid))) = (conv_axis, op.inputs.get(1).copied()) {
                let wt = &self.tensors[wid];
                let mut wv = crate::float_exec::constant_f32(wt)?;
                let shape = wt.shape.clone();
                let inner: usize = shape[axis + 1..].iter().product::<usize>().max(1);
                for (i, v) in wv.iter_mut().enumerate() {
                    *v *= scale[(i / inner) % c];
                }
                let old_bias = match op.inputs.get(2).copied().flatten() {
                    Some(bid) => read_f32s(&self.tensors[bid]),
                    None => vec![0.0; c],
                };
                let bias: Vec<f32> = (0..c).map(|i| old_bias[i] * scale[i] + shift[i]).collect();
                let wname = self.tensors[wid].name.clone();
                let new_w = self.new_const(&wname, shape, &wv);
                let new_b = self.new_const(out_name, vec![c], &bias);
                self.ops[pi].inputs = vec![op.inputs[0], Some(new_w), Some(new_b)];
                // The convolution's output now holds the normalized values: a
                // QDQ range observed before the normalization no longer applies.
                self.tensors[x.id].quant = None;
                return self.alias(cx, out_name, &x);
            }
        }
        // Otherwise a 1x1 depthwise convolution computes it.
        let wid = self.new_const(out_name, vec![1, 1, 1, c], &scale);
        let bid = self.new_const(out_name, vec![c], &shift);
        let y = self.new_tensor(out_name, vec![1, h, w, c]);
        self.push_op(
            OpKind::DepthwiseConv2d {
                padding: Padding::Valid,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                depth_multiplier: 1,
                activation: Activation::None,
            },
            vec![Some(x.id), Some(wid), Some(bid)],
            y,
        );
        self.define_act(cx, out_name, y, x.dims.clone(), ActLayout::Nchw)
    }

    fn activation(&mut self, cx: &Ctx<'_>, act: Activation) -> Result<()> {
        let x = self.act(cx, 0)?;
        let out_name = self.output_name(cx)?;
        if let Some(pi) = self.fusable_producer(&x) {
            let slot = match &mut self.ops[pi].kind {
                OpKind::Conv2d { activation, .. }
                | OpKind::DepthwiseConv2d { activation, .. }
                | OpKind::Add { activation }
                | OpKind::Binary {
                    func: BinaryFn::Mul | BinaryFn::Sub,
                    activation,
                }
                | OpKind::AveragePool2d { activation, .. }
                | OpKind::MaxPool2d { activation, .. }
                | OpKind::FullyConnected { activation, .. } => Some(activation),
                OpKind::Softmax { .. }
                | OpKind::LogSoftmax
                | OpKind::L2Normalization { .. }
                | OpKind::TransposeConv { .. }
                | OpKind::BatchMatmul { .. }
                | OpKind::Reshape
                | OpKind::Unary { .. }
                | OpKind::Reduce { .. }
                | OpKind::Move { .. }
                | OpKind::Binary {
                    func:
                        BinaryFn::SquaredDifference
                        | BinaryFn::Maximum
                        | BinaryFn::Minimum
                        | BinaryFn::Prelu,
                    ..
                }
                | OpKind::Concat { .. }
                | OpKind::Pack { .. }
                | OpKind::Split { .. }
                | OpKind::Arg { .. }
                | OpKind::Dequantize
                | OpKind::Svdf { .. }
                | OpKind::Lstm { .. } => None,
            };
            if let Some(slot) = slot {
                let merged = match (*slot, act) {
                    (Activation::None, a) => Some(a),
                    (a, b) if a == b => Some(a),
                    (Activation::Relu, Activation::Relu6)
                    | (Activation::Relu6, Activation::Relu) => Some(Activation::Relu6),
                    _ => None,
                };
                if let Some(m) = merged {
                    *slot = m;
                    return self.alias(cx, out_name, &x);
                }
            }
        }
        // Standalone (the model input, an input also read elsewhere, or one
        // computed by an op without a fused activation): a lookup table.
        let func = match act {
            Activation::None => return self.alias(cx, out_name, &x),
            Activation::Relu => UnaryFn::Relu,
            Activation::Relu6 => UnaryFn::Relu6,
            Activation::ReluN1To1 => UnaryFn::ReluN1To1,
        };
        self.unary(cx, func)
    }

    /// An element-wise function of input 0 (the unary family: one lookup
    /// table at run time, computed from the float function once the
    /// quantizer has chosen the scales).
    fn unary(&mut self, cx: &Ctx<'_>, func: UnaryFn) -> Result<()> {
        let x = self.act(cx, 0)?;
        let out_name = self.output_name(cx)?;
        let shape = self.tensors[x.id].shape.clone();
        let y = self.new_tensor(out_name, shape);
        self.push_op(
            OpKind::Unary {
                func,
                numerics: UnaryNumerics::Float,
            },
            vec![Some(x.id)],
            y,
        );
        self.define_act(cx, out_name, y, x.dims.clone(), x.layout)
    }

    /// `Mul(x, HardSigmoid(x))` with HardSigmoid's `alpha = 1/6`, `beta =
    /// 1/2` (how PyTorch exports `hardswish` before opset 14) is HardSwish
    /// of `x`: the HardSigmoid op, read by nothing else, becomes it and the
    /// Mul's output names it (one table instead of a table and a MUL).
    /// `false` where the pattern does not hold.
    fn fuse_hard_swish(&mut self, cx: &Ctx<'_>) -> Result<bool> {
        if cx.node.inputs.len() != 2 {
            return Ok(false);
        }
        let (Val::Act(a), Val::Act(b)) = (self.input(cx, 0)?.clone(), self.input(cx, 1)?.clone())
        else {
            return Ok(false);
        };
        for (x, gate) in [(&a, &b), (&b, &a)] {
            let Some(p) = self.producer.get(gate.id).copied().flatten() else {
                continue;
            };
            let op = &self.ops[p];
            let OpKind::Unary {
                func: UnaryFn::HardSigmoid { alpha, beta },
                ..
            } = op.kind
            else {
                continue;
            };
            let sixth = (alpha - 1.0 / 6.0).abs() <= 1e-6;
            if !(sixth && beta == 0.5 && gate.exclusive && op.inputs[..] == [Some(x.id)]) {
                continue;
            }
            self.ops[p].kind = OpKind::Unary {
                func: UnaryFn::HardSwish,
                numerics: UnaryNumerics::Float,
            };
            let out_name = self.output_name(cx)?;
            self.alias(cx, out_name, gate)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn clip(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["min", "max"])?;
        let bound = |s: &Self, i: usize, attr: &str, default: f32| -> Result<f32> {
            if let Some(v) = s.optional_input(cx, i)? {
                let Val::Const(k) = v else {
                    return Err(cx.unsupported("computed Clip bounds"));
                };
                let f = k.f32s();
                return match f[..] {
                    [v] => Ok(v),
                    _ => Err(cx.invalid("a Clip bound is not a scalar")),
                };
            }
            cx.attr_float(attr, default)
        };
        let lo = bound(self, 1, "min", f32::NEG_INFINITY)?;
        let hi = bound(self, 2, "max", f32::INFINITY)?;
        let act = if lo == 0.0 && hi == 6.0 {
            Activation::Relu6
        } else if lo == 0.0 && hi == f32::INFINITY {
            Activation::Relu
        } else if lo == -1.0 && hi == 1.0 {
            Activation::ReluN1To1
        } else if lo.is_nan() || hi.is_nan() {
            return Err(cx.invalid(format!("Clip({lo}, {hi})")));
        } else {
            return self.unary(cx, UnaryFn::Clip { min: lo, max: hi });
        };
        self.activation(cx, act)
    }

    fn add(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[])?;
        let out_name = self.output_name(cx)?;
        let (a, b) = (self.input(cx, 0)?.clone(), self.input(cx, 1)?.clone());
        match (a, b) {
            (Val::Act(a), Val::Act(b)) => {
                if a.quantized.is_some() || b.quantized.is_some() {
                    return Err(
                        cx.unsupported("an input is the integer output of a QuantizeLinear")
                    );
                }
                if a.dims != b.dims || a.layout != b.layout {
                    return self.binary(cx, None, false);
                }
                let shape = self.tensors[a.id].shape.clone();
                let y = self.new_tensor(out_name, shape);
                self.push_op(
                    OpKind::Add {
                        activation: Activation::None,
                    },
                    vec![Some(a.id), Some(b.id)],
                    y,
                );
                self.define_act(cx, out_name, y, a.dims.clone(), a.layout)
            }
            (Val::Act(x), Val::Const(k)) | (Val::Const(k), Val::Act(x)) => {
                if x.quantized.is_some() {
                    return Err(
                        cx.unsupported("an input is the integer output of a QuantizeLinear")
                    );
                }
                self.add_bias(cx, out_name, &x, &k)
            }
            (Val::Const(_), Val::Const(_)) => self.fold(cx),
        }
    }

    /// `x + constant`: joins the bias of the convolution or FULLY_CONNECTED
    /// that computes `x`, when the constant is per channel.
    fn add_bias(&mut self, cx: &Ctx<'_>, out_name: &str, x: &Act, k: &Const) -> Result<()> {
        let channels = match (x.layout, &x.dims[..]) {
            (ActLayout::Nchw, [1, c, _, _] | [1, c, _]) => *c,
            (ActLayout::Plain, [1, f] | [1, _, f]) => *f,
            _ => 0,
        };
        let per_channel = channels > 0
            && k.len() == channels
            && match (x.layout, x.dims.len()) {
                // [C], [1, C] for rank 2; [C, 1, 1] or [1, C, 1, 1] for NCHW;
                // [C, 1] or [1, C, 1] for NCL.
                (ActLayout::Plain, _) => {
                    matches!(k.dims[..], [f] | [1, f] | [1, 1, f] if f == channels)
                }
                (_, 3) => matches!(k.dims[..], [c, 1] | [1, c, 1] if c == channels),
                _ => matches!(k.dims[..], [c, 1, 1] | [1, c, 1, 1] if c == channels),
            };
        if per_channel {
            if let Some(pi) = self.fusable_producer(x) {
                let op = self.ops[pi].clone();
                let ok = matches!(
                    op.kind,
                    OpKind::Conv2d {
                        activation: Activation::None,
                        ..
                    } | OpKind::DepthwiseConv2d {
                        activation: Activation::None,
                        ..
                    } | OpKind::FullyConnected {
                        activation: Activation::None,
                        ..
                    }
                );
                if ok {
                    let add = k.f32s();
                    let old = match op.inputs.get(2).copied().flatten() {
                        Some(bid) => read_f32s(&self.tensors[bid]),
                        None => vec![0.0; channels],
                    };
                    let bias: Vec<f32> = old.iter().zip(&add).map(|(a, b)| a + b).collect();
                    let bid = self.new_const(out_name, vec![channels], &bias);
                    let mut inputs = op.inputs.clone();
                    inputs.resize(3, None);
                    inputs[2] = Some(bid);
                    self.ops[pi].inputs = inputs;
                    self.tensors[x.id].quant = None;
                    return self.alias(cx, out_name, x);
                }
            }
        }
        let _ = (out_name, k);
        self.binary(cx, None, false)
    }

    /// Whether any of the node's inputs is an activation.
    fn any_act(&self, cx: &Ctx<'_>) -> Result<bool> {
        for i in 0..cx.node.inputs.len() {
            if matches!(self.optional_input(cx, i)?, Some(Val::Act(_))) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A binary element-wise node (`func` `None`: Add) with NumPy
    /// broadcasting; a constant operand is laid out as the activation
    /// (NCHW to NHWC); `reciprocal`: Div by a constant, as MUL by `1 / c`
    /// (as TFLite's converter rewrites it).
    fn binary(&mut self, cx: &Ctx<'_>, func: Option<BinaryFn>, reciprocal: bool) -> Result<()> {
        if cx.node.inputs.len() != 2 {
            return Err(cx.unsupported(format!(
                "{} inputs; exactly 2 are supported",
                cx.node.inputs.len()
            )));
        }
        let out_name = self.output_name(cx)?;
        let vals = [self.input(cx, 0)?.clone(), self.input(cx, 1)?.clone()];
        let layout = vals
            .iter()
            .find_map(|v| match v {
                Val::Act(a) => Some(a.layout),
                Val::Const(_) => None,
            })
            .ok_or_else(|| cx.unsupported("both inputs are constants"))?;
        let mut onnx_dims = Vec::new();
        for v in &vals {
            match v {
                Val::Act(a) if a.quantized.is_some() => {
                    return Err(cx.unsupported("an input is the integer output of a QuantizeLinear"))
                }
                Val::Act(a) if a.layout != layout => {
                    return Err(cx.unsupported("the two activations have different layouts"))
                }
                Val::Act(a) => onnx_dims.push(a.dims.clone()),
                Val::Const(k) => onnx_dims.push(k.dims.clone()),
            }
        }
        let out_dims = crate::ops::binary::broadcast_dims(&onnx_dims[0], &onnx_dims[1])
            .map_err(|m| cx.invalid(m))?;
        let nhwc = |d: &[usize]| -> Option<Vec<usize>> {
            match (layout, d) {
                (ActLayout::Nchw, [n, c, h, w]) => Some(vec![*n, *h, *w, *c]),
                (ActLayout::Nchw, [n, c, l]) => Some(vec![*n, 1, *l, *c]),
                (ActLayout::Nchw, _) => None,
                (ActLayout::Plain, d) => Some(d.to_vec()),
                (ActLayout::Flat { .. }, d) => Some(d.to_vec()),
            }
        };
        let out_shape = nhwc(&out_dims)
            .ok_or_else(|| cx.unsupported(format!("output {out_dims:?} is not NCHW")))?;
        let mut ids = Vec::new();
        for (i, v) in vals.iter().enumerate() {
            match v {
                Val::Act(a) => {
                    if matches!(layout, ActLayout::Flat { .. }) && a.dims != out_dims {
                        return Err(cx.unsupported("broadcasting a flattened activation"));
                    }
                    ids.push(a.id)
                }
                Val::Const(k) => {
                    if reciprocal && i == 0 {
                        return Err(cx.unsupported("Div of a constant by an activation"));
                    }
                    let mut values = k.f32s();
                    if reciprocal {
                        values.iter_mut().for_each(|v| *v = 1.0 / *v);
                    }
                    let (shape, values) = match layout {
                        ActLayout::Nchw => {
                            // Right-aligned to the output's rank (an NCL one
                            // gains H = 1 before L), then NCHW -> NHWC.
                            let rank = out_dims.len();
                            if k.dims.len() > rank {
                                return Err(cx.unsupported(format!(
                                    "a constant of rank {} with a rank-{rank} activation",
                                    k.dims.len()
                                )));
                            }
                            let mut d = vec![1usize; rank - k.dims.len()];
                            d.extend(&k.dims);
                            if rank == 3 {
                                d.insert(2, 1);
                            }
                            let [n, c, h, w] = d[..] else { unreachable!() };
                            let mut t = vec![0f32; values.len()];
                            for (idx, &v) in values.iter().enumerate() {
                                let (x, rest) = (idx % w, idx / w);
                                let (y, rest) = (rest % h, rest / h);
                                let (ch, b) = (rest % c, rest / c);
                                t[((b * h + y) * w + x) * c + ch] = v;
                            }
                            (vec![n, h, w, c], t)
                        }
                        ActLayout::Plain => (k.dims.clone(), values),
                        ActLayout::Flat { .. } if values.len() == 1 => (vec![], values),
                        ActLayout::Flat { .. } => {
                            return Err(
                                cx.unsupported("a non-scalar constant with a flattened activation")
                            )
                        }
                    };
                    ids.push(self.new_const(&format!("{out_name}/operand{i}"), shape, &values));
                }
            }
        }
        let y = self.new_tensor(out_name, out_shape);
        let kind = match func {
            None => OpKind::Add {
                activation: Activation::None,
            },
            Some(func) => OpKind::Binary {
                func,
                activation: Activation::None,
            },
        };
        self.push_op(kind, vec![Some(ids[0]), Some(ids[1])], y);
        self.define_act(cx, out_name, y, out_dims, layout)
    }

    /// Concat of activations of one layout (a constant input is refused).
    fn concat(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis"])?;
        let out_name = self.output_name(cx)?;
        let mut acts = Vec::new();
        for i in 0..cx.node.inputs.len() {
            acts.push(self.act(cx, i)?);
        }
        let layout = acts[0].layout;
        if acts.iter().any(|a| a.layout != layout) {
            return Err(cx.unsupported("inputs of different layouts"));
        }
        let rank = acts[0].dims.len() as i64;
        let axis = cx.attr_int("axis", 0)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) {
            return Err(cx.invalid(format!("axis {axis} for rank {rank}")));
        }
        let graph_axis = match layout {
            ActLayout::Nchw => nchw_graph_axis(rank as usize, axis as usize)
                .ok_or_else(|| cx.unsupported(format!("concatenating rank-{rank} activations")))?,
            ActLayout::Plain => axis as usize,
            ActLayout::Flat { .. } => {
                return Err(cx.unsupported("concatenating flattened activations"))
            }
        };
        let dims: Vec<&[usize]> = acts.iter().map(|a| &a.dims[..]).collect();
        let out_dims =
            crate::ops::binary::concat_dims(&dims, axis as usize).map_err(|m| cx.invalid(m))?;
        let shapes: Vec<&[usize]> = acts.iter().map(|a| &self.tensors[a.id].shape[..]).collect();
        let out_shape =
            crate::ops::binary::concat_dims(&shapes, graph_axis).map_err(|m| cx.invalid(m))?;
        let y = self.new_tensor(out_name, out_shape);
        self.push_op(
            OpKind::Concat {
                axis: graph_axis,
                activation: Activation::None,
                numerics: UnaryNumerics::Float,
            },
            acts.iter().map(|a| Some(a.id)).collect(),
            y,
        );
        self.define_act(cx, out_name, y, out_dims, layout)
    }

    /// Split (opset 13+: sizes from input 1 or, without it, equal parts,
    /// the last one smaller where opset 18's `num_outputs` does not divide
    /// the axis; the opset 11 `split` attribute too) into one SPLIT with an
    /// output per part, each a gather of the input at run time.
    fn split(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis", "num_outputs", "split"])?;
        let x = self.act(cx, 0)?;
        let outputs = cx.node.outputs.clone();
        if outputs.is_empty() || outputs.iter().any(|o| o.is_empty()) {
            return Err(cx.unsupported("Split with an omitted output"));
        }
        let rank = x.dims.len() as i64;
        let axis = cx.attr_int("axis", 0)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) {
            return Err(cx.invalid(format!("axis {axis} for rank {rank}")));
        }
        let axis = axis as usize;
        let graph_axis = match x.layout {
            ActLayout::Nchw => nchw_graph_axis(x.dims.len(), axis)
                .ok_or_else(|| cx.unsupported(format!("splitting {:?}", x.dims)))?,
            ActLayout::Plain => axis,
            ActLayout::Flat { .. } => {
                return Err(cx.unsupported("splitting a flattened activation"))
            }
        };
        let n = x.dims[axis];
        let raw: Vec<i64> = match self.optional_input(cx, 1)? {
            Some(_) => self
                .constant(cx, 1)?
                .ints()
                .ok_or_else(|| cx.invalid("the split sizes must be integers"))?,
            None => match cx.attr_ints("split")? {
                Some(v) => v,
                None => {
                    let parts = cx.attr_int("num_outputs", outputs.len() as i64)?;
                    if parts != outputs.len() as i64 || parts < 1 {
                        return Err(cx.invalid(format!(
                            "num_outputs {parts}, but the node has {} outputs",
                            outputs.len()
                        )));
                    }
                    let chunk = n.div_ceil(outputs.len()) as i64;
                    let mut v = vec![chunk; outputs.len()];
                    let last = n as i64 - chunk * (outputs.len() as i64 - 1);
                    if last < 1 {
                        return Err(cx.invalid(format!(
                            "axis {axis} of {:?} does not split into {} parts",
                            x.dims,
                            outputs.len()
                        )));
                    }
                    if let Some(l) = v.last_mut() {
                        *l = last;
                    }
                    v
                }
            },
        };
        if raw.len() != outputs.len() {
            return Err(cx.invalid(format!(
                "{} split sizes for {} outputs",
                raw.len(),
                outputs.len()
            )));
        }
        let sizes = raw
            .iter()
            .map(|&v| usize::try_from(v).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| cx.invalid(format!("split sizes {raw:?} include a negative one")))?;
        let in_shape = self.tensors[x.id].shape.clone();
        let parts = crate::ops::movement::split_parts(&in_shape, graph_axis, &sizes, false)
            .map_err(|m| cx.invalid(m))?;
        let mut ids = Vec::with_capacity(parts.len());
        for ((_, shape), name) in parts.into_iter().zip(&outputs) {
            ids.push(self.new_tensor(name, shape));
        }
        self.push_op_outputs(
            OpKind::Split {
                axis: graph_axis,
                sizes: sizes.clone(),
                squeeze: false,
                name: "SPLIT",
            },
            vec![Some(x.id)],
            ids.clone(),
        );
        for ((name, id), size) in outputs.iter().zip(ids).zip(sizes) {
            let mut dims = x.dims.clone();
            dims[axis] = size;
            self.define_act(cx, name, id, dims, x.layout)?;
        }
        Ok(())
    }

    /// FULLY_CONNECTED from weights `[out, in]` in ONNX column order.
    #[allow(clippy::too_many_arguments)]
    fn fully_connected(
        &mut self,
        cx: &Ctx<'_>,
        x: &Act,
        out_f: usize,
        in_f: usize,
        w_onnx_index: &dyn Fn(usize, usize) -> usize,
        w: &Const,
        onnx_out_axis: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<()> {
        // A vector, or a matrix in ONNX order (rows of features: a sequence,
        // a map read as [1, positions, channels]) multiplied row by row.
        let (rows, feat, out_dims) = match (x.layout, &x.dims[..]) {
            (_, &[1, f]) => (1, f, vec![1, out_f]),
            (ActLayout::Plain, &[1, r, f]) => (r, f, vec![1, r, out_f]),
            _ => {
                return Err(cx.unsupported(format!(
                "input shape {:?}: only [1, features] and [1, rows, features] inputs are supported",
                x.dims
            )))
            }
        };
        if feat != in_f {
            return Err(cx.invalid(format!("input has {feat} features, the weights {in_f}")));
        }
        // Graph column j holds ONNX feature col(j).
        let col = |j: usize| -> usize {
            match x.layout {
                ActLayout::Flat { c, h, w } => {
                    let (pix, ch) = (j / c, j % c);
                    ch * h * w + pix
                }
                _ => j,
            }
        };
        let wf = w.f32s();
        let mut order = vec![0usize; out_f * in_f];
        for o in 0..out_f {
            for j in 0..in_f {
                order[o * in_f + j] = w_onnx_index(o, col(j));
            }
        }
        let out_name = self.output_name(cx)?;
        let w_name = cx.node.inputs.get(1).copied().unwrap_or("weights");
        let wid = self.weight_tensor(w_name, vec![out_f, in_f], &wf, &order, w, onnx_out_axis, 0);
        let bid = bias.map(|b| {
            let name = cx.node.inputs.get(2).copied().unwrap_or("bias");
            self.new_const(name, vec![out_f], &b)
        });
        let y = self.new_tensor(out_name, out_dims.clone());
        self.push_op(
            OpKind::FullyConnected {
                activation: Activation::None,
                keep_num_dims: rows > 1,
            },
            vec![Some(x.id), Some(wid), bid],
            y,
        );
        self.define_act(cx, out_name, y, out_dims, ActLayout::Plain)
    }

    fn gemm(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["alpha", "beta", "transA", "transB"])?;
        if cx.attr_int("transA", 0)? != 0 {
            return Err(cx.unsupported("transA = 1"));
        }
        let alpha = cx.attr_float("alpha", 1.0)?;
        let beta = cx.attr_float("beta", 1.0)?;
        let trans_b = cx.attr_int("transB", 0)? != 0;
        let x = self.act(cx, 0)?;
        let mut w = self.constant(cx, 1)?;
        let [d0, d1] = w.dims[..] else {
            return Err(cx.invalid(format!("B has shape {:?}, expected rank 2", w.dims)));
        };
        let (out_f, in_f) = if trans_b { (d0, d1) } else { (d1, d0) };
        if alpha != 1.0 {
            w.data = TensorData::F32(w.f32s().iter().map(|v| v * alpha).collect());
            w.q = None;
        }
        let bias = match self.optional_input(cx, 2)? {
            None => None,
            Some(Val::Const(k)) => {
                let f = k.f32s();
                let f: Vec<f32> = match (&k.dims[..], f.len()) {
                    (_, n) if n == out_f => f,
                    (_, 1) => vec![f[0]; out_f],
                    _ => return Err(cx.unsupported(format!("C of shape {:?}", k.dims))),
                };
                Some(f.iter().map(|v| v * beta).collect())
            }
            Some(Val::Act(_)) => return Err(cx.unsupported("C must be a constant")),
        };
        let index = move |o: usize, i: usize| if trans_b { o * in_f + i } else { i * out_f + o };
        let axis = if trans_b { 0 } else { 1 };
        self.fully_connected(cx, &x, out_f, in_f, &index, &w, axis, bias)
    }

    fn matmul(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[])?;
        if let Val::Act(_) = self.input(cx, 1)? {
            return self.matmul_activations(cx);
        }
        let x = self.act(cx, 0)?;
        let w = self.constant(cx, 1)?;
        let [in_f, out_f] = w.dims[..] else {
            return Err(cx.unsupported(format!(
                "B of shape {:?}: only a rank-2 constant is supported",
                w.dims
            )));
        };
        let index = move |o: usize, i: usize| i * out_f + o;
        self.fully_connected(cx, &x, out_f, in_f, &index, &w, 1, None)
    }

    /// MatMul of two activations in their ONNX order (NumPy's `matmul` of
    /// ranks 2 to 5, batch dimensions broadcast): BATCH_MATMUL.
    fn matmul_activations(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let (a, b) = (self.act(cx, 0)?, self.act(cx, 1)?);
        if a.layout != ActLayout::Plain || b.layout != ActLayout::Plain {
            return Err(cx.unsupported(format!(
                "MatMul of two activations of shapes {:?} and {:?}: both must keep their ONNX \
                 order (not an NCHW image or its flattening)",
                a.dims, b.dims
            )));
        }
        let dims = crate::ops::batch_matmul::output_dims(&a.dims, &b.dims, false, false)
            .map_err(|m| cx.unsupported(m))?;
        let out_name = self.output_name(cx)?;
        let y = self.new_tensor(out_name, dims.clone());
        self.push_op(
            OpKind::BatchMatmul {
                adj_x: false,
                adj_y: false,
            },
            vec![Some(a.id), Some(b.id)],
            y,
        );
        self.define_act(cx, out_name, y, dims, ActLayout::Plain)
    }

    fn pool(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let is_max = cx.node.op_type == "MaxPool";
        if is_max {
            cx.only_attrs(&[
                "auto_pad",
                "ceil_mode",
                "dilations",
                "kernel_shape",
                "pads",
                "storage_order",
                "strides",
            ])?;
        } else {
            cx.only_attrs(&[
                "auto_pad",
                "ceil_mode",
                "count_include_pad",
                "kernel_shape",
                "pads",
                "strides",
            ])?;
        }
        let x = self.window_input(cx, 0)?;
        let (Some((c, ih, iw)), ActLayout::Nchw) = (chw(&x.dims), x.layout) else {
            return Err(cx.unsupported(format!(
                "input shape {:?}: only 1-D (NCL) and 2-D (NCHW) pooling is supported",
                x.dims
            )));
        };
        let one_d = x.dims.len() == 3;
        let kernel = match cx.attr_ints("kernel_shape")? {
            Some(_) => cx.window_pair("kernel_shape", 1, one_d)?,
            None => return Err(cx.invalid("missing kernel_shape")),
        };
        let strides = cx.window_pair("strides", 1, one_d)?;
        if cx.window_pair("dilations", 1, one_d)? != (1, 1) {
            return Err(cx.unsupported("dilated pooling"));
        }
        let auto_pad = cx.attr_string("auto_pad", "NOTSET")?;
        let pads = cx.window_pads(one_d)?;
        let ceil_mode = cx.attr_int("ceil_mode", 0)? != 0;
        let (padding, oh, ow) = map_padding(
            cx,
            &auto_pad,
            pads.as_deref(),
            (ih, iw),
            kernel,
            strides,
            (1, 1),
            ceil_mode,
        )?;
        let padded = padding != Padding::Valid
            && ((oh - 1) * strides.0 + kernel.0 > ih || (ow - 1) * strides.1 + kernel.1 > iw);
        let out_name = self.output_name(cx)?;
        let mut input = x.id;
        let mut padding = padding;
        if !is_max && padded && cx.attr_int("count_include_pad", 0)? != 0 {
            // PyTorch's default: the padding counts as zeros in each average
            // (TFLite averages only the input's elements). Pad with zeros
            // first, then average over VALID windows: the same sums and the
            // same count in every window.
            if ceil_mode {
                return Err(cx.unsupported(
                    "count_include_pad = 1 with ceil_mode = 1 (a window past the padding counts fewer elements)",
                ));
            }
            let (pt, pl, pb, pr) = match padding {
                Padding::Explicit {
                    top,
                    left,
                    bottom,
                    right,
                } => (top, left, bottom, right),
                Padding::Same => {
                    let total = |i: usize, k: usize, s: usize, o: usize| {
                        ((o - 1) * s + k).saturating_sub(i)
                    };
                    let (th, tw) = (
                        total(ih, kernel.0, strides.0, oh),
                        total(iw, kernel.1, strides.1, ow),
                    );
                    (th / 2, tw / 2, th - th / 2, tw - tw / 2)
                }
                Padding::Valid => (0, 0, 0, 0),
            };
            let shape = vec![1, ih + pt + pb, iw + pl + pr, c];
            let p = self.new_tensor(&format!("{out_name}/padded"), shape);
            self.push_op(
                OpKind::Move {
                    func: MoveFn::Pad {
                        before: vec![0, pt, pl, 0],
                        after: vec![0, pb, pr, 0],
                        value: PadValue::Zero,
                    },
                    name: "PAD",
                },
                vec![Some(x.id)],
                p,
            );
            input = p;
            padding = Padding::Valid;
        }
        let y = self.new_tensor(out_name, vec![1, oh, ow, c]);
        let (filter_h, filter_w) = kernel;
        let kind = if is_max {
            OpKind::MaxPool2d {
                padding,
                stride_h: strides.0,
                stride_w: strides.1,
                filter_h,
                filter_w,
                activation: Activation::None,
            }
        } else {
            OpKind::AveragePool2d {
                padding,
                stride_h: strides.0,
                stride_w: strides.1,
                filter_h,
                filter_w,
                activation: Activation::None,
            }
        };
        self.push_op(kind, vec![Some(input)], y);
        let dims = if one_d {
            vec![1, c, ow]
        } else {
            vec![1, c, oh, ow]
        };
        self.define_act(cx, out_name, y, dims, ActLayout::Nchw)
    }

    fn global_pool(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[])?;
        let x = self.window_input(cx, 0)?;
        let (Some((c, h, w)), ActLayout::Nchw) = (chw(&x.dims), x.layout) else {
            return Err(cx.unsupported(format!(
                "input shape {:?}: only NCHW and NCL are supported",
                x.dims
            )));
        };
        if h > 255 || w > 255 {
            return Err(
                cx.unsupported(format!("a {h}x{w} global pooling window (at most 255x255)"))
            );
        }
        let out_name = self.output_name(cx)?;
        let y = self.new_tensor(out_name, vec![1, 1, 1, c]);
        let kind = if cx.node.op_type == "GlobalMaxPool" {
            OpKind::MaxPool2d {
                padding: Padding::Valid,
                stride_h: 1,
                stride_w: 1,
                filter_h: h,
                filter_w: w,
                activation: Activation::None,
            }
        } else {
            OpKind::AveragePool2d {
                padding: Padding::Valid,
                stride_h: 1,
                stride_w: 1,
                filter_h: h,
                filter_w: w,
                activation: Activation::None,
            }
        };
        self.push_op(kind, vec![Some(x.id)], y);
        // ONNX keeps the rank: [1, C, 1, 1], or [1, C, 1] for NCL.
        let mut dims = vec![1; x.dims.len()];
        dims[1] = c;
        self.define_act(cx, out_name, y, dims, ActLayout::Nchw)
    }

    /// ReduceMean, ReduceSum, ReduceMax: axes from the attribute (before
    /// opset 18; ReduceSum before 13) or the constant input 1; no axes mean
    /// all of them, or the identity with `noop_with_empty_axes`. The graph's
    /// reduction runs over the same dimensions of its NHWC tensor; without
    /// `keepdims` the result must keep ONNX's element order (a reduction
    /// over H and W, or over C alone, or to one dimension).
    fn reduce(&mut self, cx: &Ctx<'_>, func: ReduceFn) -> Result<()> {
        cx.only_attrs(&["axes", "keepdims", "noop_with_empty_axes"])?;
        let x = self.act(cx, 0)?;
        let keep_dims = cx.attr_int("keepdims", 1)? != 0;
        let noop = cx.attr_int("noop_with_empty_axes", 0)? != 0;
        let raw = match self.optional_input(cx, 1)? {
            Some(_) => {
                let k = self.constant(cx, 1)?;
                k.ints()
                    .ok_or_else(|| cx.invalid("axes must be integers"))?
            }
            None => cx.attr_ints("axes")?.unwrap_or_default(),
        };
        let rank = x.dims.len();
        let onnx_axes: Vec<usize> = if raw.is_empty() {
            if noop {
                let out_name = self.output_name(cx)?;
                return self.alias(cx, out_name, &x);
            }
            (0..rank).collect()
        } else {
            crate::ops::reduce::resolve_axes(&raw, rank).map_err(|m| cx.invalid(m))?
        };
        // Without keepdims, the kept dimensions larger than 1 must come in
        // ONNX's order in the graph tensor; when an NCHW map's do not (a
        // reduction over H alone), reduce the map in ONNX order instead.
        let x = if x.layout == ActLayout::Nchw && !keep_dims && {
            let order: Vec<usize> = (0..rank)
                .filter(|a| !onnx_axes.contains(a) && x.dims[*a] > 1)
                .filter_map(|a| nchw_graph_axis(rank, a))
                .collect();
            order.windows(2).any(|w| w[0] > w[1])
        } {
            let name = self.output_name(cx)?;
            self.onnx_order(name, &x)?
        } else {
            x
        };
        // Each ONNX axis's dimension of the graph tensor.
        let graph_axis = |a: usize| -> Option<usize> {
            match x.layout {
                ActLayout::Nchw => nchw_graph_axis(rank, a),
                ActLayout::Plain => Some(a),
                ActLayout::Flat { .. } => None,
            }
        };
        let Some(mut axes) = onnx_axes
            .iter()
            .map(|&a| graph_axis(a))
            .collect::<Option<Vec<_>>>()
        else {
            return Err(cx.unsupported(format!(
                "{} of a flattened input {:?}",
                cx.node.op_type, x.dims
            )));
        };
        axes.sort_unstable();
        let in_shape = self.tensors[x.id].shape.clone();
        let out_shape = crate::ops::reduce::output_dims(&in_shape, &axes, keep_dims);
        let onnx_dims = crate::ops::reduce::output_dims(&x.dims, &onnx_axes, keep_dims);
        let layout = match x.layout {
            ActLayout::Nchw if keep_dims => ActLayout::Nchw,
            _ => {
                // The kept dimensions larger than 1, in ONNX order, must
                // come in the same order in the graph tensor.
                let order: Vec<usize> = (0..rank)
                    .filter(|a| !onnx_axes.contains(a) && x.dims[*a] > 1)
                    .filter_map(graph_axis)
                    .collect();
                if order.windows(2).any(|w| w[0] > w[1]) {
                    return Err(cx.unsupported(format!(
                        "{} over axes {onnx_axes:?} of {:?} without keepdims (the result would be transposed)",
                        cx.node.op_type, x.dims
                    )));
                }
                ActLayout::Plain
            }
        };
        let out_name = self.output_name(cx)?;
        let y = self.new_tensor(out_name, out_shape);
        self.push_op(
            OpKind::Reduce {
                func,
                axes,
                keep_dims,
            },
            vec![Some(x.id)],
            y,
        );
        self.define_act(cx, out_name, y, onnx_dims, layout)
    }

    /// ArgMax / ArgMin: TFLite's ARG_MAX / ARG_MIN along one axis (the
    /// first index on ties, so `select_last_index = 1` is refused), int32
    /// indices where ONNX has int64. The indices may only leave the graph:
    /// [`Converter::node`] refuses a node that reads them.
    fn arg(&mut self, cx: &Ctx<'_>, func: ArgFn) -> Result<()> {
        cx.only_attrs(&["axis", "keepdims", "select_last_index"])?;
        if cx.attr_int("select_last_index", 0)? != 0 {
            return Err(cx.unsupported(
                "select_last_index = 1 (the kernel takes the first index on ties, as TFLite's does)",
            ));
        }
        let keep_dims = cx.attr_int("keepdims", 1)? != 0;
        let x = self.act(cx, 0)?;
        let rank = x.dims.len();
        let [a] = crate::ops::reduce::resolve_axes(&[cx.attr_int("axis", 0)?], rank)
            .map_err(|m| cx.invalid(m))?[..]
        else {
            return Err(cx.invalid("one axis is required"));
        };
        if x.dims[a] == 0 {
            return Err(cx.invalid(format!("axis {a} of {:?} is empty", x.dims)));
        }
        // The indices leave in ONNX's order: the kept dimensions larger
        // than 1 must come in that order in the graph tensor (an NCHW map's
        // do over C; over H or W the map is put in ONNX order first).
        let in_order = |x: &Act| match x.layout {
            ActLayout::Nchw => {
                let order: Vec<usize> = (0..rank)
                    .filter(|&k| k != a && x.dims[k] > 1)
                    .filter_map(|k| nchw_graph_axis(rank, k))
                    .collect();
                order.windows(2).all(|w| w[0] < w[1])
            }
            ActLayout::Plain => true,
            ActLayout::Flat { .. } => false,
        };
        let x = if in_order(&x) {
            x
        } else {
            let name = self.output_name(cx)?;
            self.onnx_order(name, &x)?
        };
        let axis = match x.layout {
            ActLayout::Nchw => nchw_graph_axis(rank, a),
            ActLayout::Plain => Some(a),
            ActLayout::Flat { .. } => None,
        }
        .ok_or_else(|| cx.unsupported(format!("{} of {:?}", cx.node.op_type, x.dims)))?;
        let in_shape = self.tensors[x.id].shape.clone();
        let out_shape = crate::ops::reduce::output_dims(&in_shape, &[axis], false);
        let onnx_dims = crate::ops::reduce::output_dims(&x.dims, &[a], keep_dims);
        let out_name = self.output_name(cx)?;
        let y = self.new_tensor(out_name, out_shape);
        self.tensors[y].dtype = DType::I32;
        self.push_op(OpKind::Arg { func, axis }, vec![Some(x.id)], y);
        self.define_act(cx, out_name, y, onnx_dims, ActLayout::Plain)
    }

    /// Flattens `x` to `[1, F]`.
    fn flatten_into(&mut self, cx: &Ctx<'_>, out_name: &str, x: &Act) -> Result<()> {
        match (x.layout, &x.dims[..]) {
            (ActLayout::Plain | ActLayout::Flat { .. }, [1, _]) => self.alias(cx, out_name, x),
            (ActLayout::Plain, [1, rows, cols]) => {
                let y = self.new_tensor(out_name, vec![1, rows * cols]);
                self.push_op(OpKind::Reshape, vec![Some(x.id)], y);
                self.define_act(cx, out_name, y, vec![1, rows * cols], ActLayout::Plain)
            }
            (ActLayout::Nchw, d) if chw(d).is_some() => {
                let Some((c, h, w)) = chw(d) else {
                    return Err(cx.unsupported(format!("flattening shape {d:?}")));
                };
                let f = c * h * w;
                let y = self.new_tensor(out_name, vec![1, f]);
                self.push_op(OpKind::Reshape, vec![Some(x.id)], y);
                let layout = if h * w == 1 || c == 1 {
                    ActLayout::Plain
                } else {
                    ActLayout::Flat { c, h, w }
                };
                self.define_act(cx, out_name, y, vec![1, f], layout)
            }
            _ => Err(cx.unsupported(format!("flattening shape {:?}", x.dims))),
        }
    }

    fn flatten(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis"])?;
        let x = self.act(cx, 0)?;
        let rank = x.dims.len() as i64;
        let mut axis = cx.attr_int("axis", 1)?;
        if axis < 0 {
            axis += rank;
        }
        // Batch 1: axis 0 and axis 1 give the same [1, F].
        if axis != 0 && axis != 1 {
            return Err(cx.unsupported(format!(
                "Flatten with axis {axis}: only axis 1 is supported"
            )));
        }
        let out_name = self.output_name(cx)?;
        self.flatten_into(cx, out_name, &x)
    }

    fn reshape(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["allowzero"])?;
        if let Val::Const(_) = self.input(cx, 0)? {
            return self.fold(cx);
        }
        let x = self.act(cx, 0)?;
        let shape = self.constant(cx, 1)?;
        let Some(target) = shape.ints() else {
            return Err(cx.invalid("the shape is not an integer tensor"));
        };
        let total: usize = x.dims.iter().product();
        let allow_zero = cx.attr_int("allowzero", 0)? != 0;
        let mut dims: Vec<i64> = Vec::with_capacity(target.len());
        for (i, &d) in target.iter().enumerate() {
            dims.push(if d == 0 && !allow_zero {
                *x.dims
                    .get(i)
                    .ok_or_else(|| cx.invalid("shape copies a missing dimension"))?
                    as i64
            } else {
                d
            });
        }
        // Checked: the target shape comes from the file and its product may overflow.
        let known = dims
            .iter()
            .filter(|&&d| d != -1)
            .try_fold(1i64, |n, &d| n.checked_mul(d));
        let unknown = dims.iter().filter(|&&d| d == -1).count();
        let known = match known {
            Some(k) if k > 0 && unknown <= 1 && dims.iter().all(|&d| d >= -1) => k,
            _ => return Err(cx.invalid(format!("shape {target:?}"))),
        };
        let dims: Vec<usize> = dims
            .iter()
            .map(|&d| {
                if d == -1 {
                    total / known as usize
                } else {
                    d as usize
                }
            })
            .collect();
        if dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) != Some(total) {
            return Err(cx.invalid(format!("reshape of {:?} to {target:?}", x.dims)));
        }
        self.reshape_act(cx, &x, dims)
    }

    /// Squeeze or Unsqueeze of an activation (of constants they are folded):
    /// a reshape to the dimensions they give.
    fn squeeze_act(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axes"])?;
        let x = self.act(cx, 0)?;
        let raw = match self.optional_input(cx, 1)? {
            Some(_) => self
                .constant(cx, 1)?
                .ints()
                .ok_or_else(|| cx.invalid("axes must be integers"))?,
            None => cx.attr_ints("axes")?.unwrap_or_default(),
        };
        let unsqueeze = cx.node.op_type == "Unsqueeze";
        let rank = x.dims.len() + if unsqueeze { raw.len() } else { 0 };
        let mut axes = Vec::with_capacity(raw.len());
        for &a in &raw {
            let k = if a < 0 { a + rank as i64 } else { a };
            match usize::try_from(k).ok().filter(|&k| k < rank) {
                Some(k) if !axes.contains(&k) => axes.push(k),
                _ => return Err(cx.invalid(format!("axes {raw:?} for rank {rank}"))),
            }
        }
        let dims: Vec<usize> = if unsqueeze {
            let mut rest = x.dims.iter();
            (0..rank)
                .map(|k| {
                    if axes.contains(&k) {
                        1
                    } else {
                        rest.next().copied().unwrap_or(1)
                    }
                })
                .collect()
        } else if axes.is_empty() {
            x.dims.iter().copied().filter(|&d| d != 1).collect()
        } else {
            if axes.iter().any(|&a| x.dims[a] != 1) {
                return Err(cx.invalid(format!("Squeeze of axes {raw:?} of {:?}", x.dims)));
            }
            (0..rank)
                .filter(|k| !axes.contains(k))
                .map(|k| x.dims[k])
                .collect()
        };
        if dims.first() != Some(&1) {
            return Err(cx.unsupported(format!(
                "{} of {:?} to {dims:?}: the batch dimension must stay first and 1",
                cx.node.op_type, x.dims
            )));
        }
        self.reshape_act(cx, &x, dims)
    }

    /// `x` under the ONNX dimensions `dims` (the same element count).
    fn reshape_act(&mut self, cx: &Ctx<'_>, x: &Act, dims: Vec<usize>) -> Result<()> {
        let x = x.clone();
        let out_name = self.output_name(cx)?;
        match &dims[..] {
            [1, _] => self.flatten_into(cx, out_name, &x),
            &[1, c, 1, 1] if matches!(x.layout, ActLayout::Plain) || x.dims == [1, c, 1, 1] => {
                if x.layout == ActLayout::Nchw {
                    return self.alias(cx, out_name, &x);
                }
                let y = self.new_tensor(out_name, vec![1, 1, 1, c]);
                self.push_op(OpKind::Reshape, vec![Some(x.id)], y);
                self.define_act(cx, out_name, y, dims.clone(), ActLayout::Nchw)
            }
            _ if dims == x.dims => self.alias(cx, out_name, &x),
            // A matrix (or a batch of them) from a vector in ONNX order.
            [1, _, _] if x.layout == ActLayout::Plain => {
                let y = self.new_tensor(out_name, dims.clone());
                self.push_op(OpKind::Reshape, vec![Some(x.id)], y);
                self.define_act(cx, out_name, y, dims.clone(), ActLayout::Plain)
            }
            // Any other shape (ShuffleNet's [1, g, C/g, H, W] channel
            // shuffle, a [1, C, H*W] sequence): the bytes in ONNX order, then
            // the same bytes under the new shape, in ONNX order (Plain); an op
            // that needs an NCHW map later transposes it back (`map_input`).
            _ if dims.len() <= 5 => {
                let p = self.onnx_order(out_name, &x)?;
                let y = self.new_tensor(out_name, dims.clone());
                self.push_op(OpKind::Reshape, vec![Some(p.id)], y);
                self.define_act(cx, out_name, y, dims.clone(), ActLayout::Plain)
            }
            _ => Err(cx.unsupported(format!(
                "Reshape of {:?} to {dims:?}: at most 5 dimensions are supported",
                x.dims
            ))),
        }
    }

    /// Softmax or LogSoftmax (`kind`) over the channels.
    fn softmax(&mut self, cx: &Ctx<'_>, kind: OpKind) -> Result<()> {
        cx.only_attrs(&["axis"])?;
        let x = self.map_input(cx, 0)?;
        let rank = x.dims.len() as i64;
        let default_axis = if self.opset >= 13 { -1 } else { 1 };
        let mut axis = cx.attr_int("axis", default_axis)?;
        if axis < 0 {
            axis += rank;
        }
        let ok = match (x.layout, &x.dims[..]) {
            (ActLayout::Plain, [1, _]) => axis == 1,
            (ActLayout::Nchw, [1, _, h, w]) => {
                // Opset 13+: over C alone; before: over C*H*W, the same when H*W == 1.
                axis == 1 && (self.opset >= 13 || h * w == 1)
            }
            (ActLayout::Nchw, [1, _, l]) => axis == 1 && (self.opset >= 13 || *l == 1),
            _ => false,
        };
        let out_name = self.output_name(cx)?;
        if !ok && axis == rank - 1 && !matches!(x.layout, ActLayout::Flat { .. }) {
            // Over the last ONNX axis (the rows of a sequence, W of a map):
            // the rows of the tensor in ONNX order.
            let p = self.onnx_order(out_name, &x)?;
            let y = self.new_tensor(out_name, p.dims.clone());
            self.push_op(kind, vec![Some(p.id)], y);
            return self.define_act(cx, out_name, y, p.dims, ActLayout::Plain);
        }
        if !ok {
            return Err(cx.unsupported(format!(
                "{} over axis {axis} of shape {:?}: only over the channels is supported",
                cx.node.op_type, x.dims
            )));
        }
        let shape = self.tensors[x.id].shape.clone();
        let y = self.new_tensor(out_name, shape);
        self.push_op(kind, vec![Some(x.id)], y);
        self.define_act(cx, out_name, y, x.dims.clone(), x.layout)
    }

    /// LpNormalization with `p = 2` over the channels: L2_NORMALIZATION.
    fn lp_normalization(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis", "p"])?;
        let x = self.map_input(cx, 0)?;
        let p = cx.attr_int("p", 2)?;
        if p != 2 {
            return Err(cx.unsupported(format!("p = {p}; only the L2 norm (p = 2) is supported")));
        }
        let rank = x.dims.len() as i64;
        let mut axis = cx.attr_int("axis", -1)?;
        if axis < 0 {
            axis += rank;
        }
        let ok = match (x.layout, &x.dims[..]) {
            (ActLayout::Plain, [1, _]) => axis == 1,
            (ActLayout::Nchw, [1, _, _, _] | [1, _, _]) => axis == 1,
            _ => false,
        };
        if !ok {
            return Err(cx.unsupported(format!(
                "LpNormalization over axis {axis} of shape {:?}: only over the channels is supported",
                x.dims
            )));
        }
        let out_name = self.output_name(cx)?;
        let shape = self.tensors[x.id].shape.clone();
        let y = self.new_tensor(out_name, shape);
        self.push_op(
            OpKind::L2Normalization {
                activation: Activation::None,
            },
            vec![Some(x.id)],
            y,
        );
        self.define_act(cx, out_name, y, x.dims.clone(), x.layout)
    }

    fn identity(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let out_name = self.output_name(cx)?;
        match self.input(cx, 0)?.clone() {
            Val::Act(a) => self.alias(cx, out_name, &a),
            Val::Const(k) => self.define(cx, out_name, Val::Const(k)),
        }
    }

    fn constant_node(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let out_name = self.output_name(cx)?;
        let k = match cx.node.attributes.first().map(|a| (a.name, &a.value)) {
            Some(("value", AttrValue::Tensor(t))) => {
                Const::from_proto(t, &format!("node[{}] value", cx.index))?
            }
            Some(("value_float", AttrValue::Float(v))) => Const {
                dims: vec![],
                data: TensorData::F32(vec![*v]),
                elem: proto::data_type::FLOAT,
                q: None,
            },
            Some(("value_floats", AttrValue::Floats(v))) => Const {
                dims: vec![v.len()],
                data: TensorData::F32(v.clone()),
                elem: proto::data_type::FLOAT,
                q: None,
            },
            Some(("value_int", AttrValue::Int(v))) => Const {
                dims: vec![],
                data: TensorData::Int(vec![*v]),
                elem: proto::data_type::INT64,
                q: None,
            },
            Some(("value_ints", AttrValue::Ints(v))) => Const {
                dims: vec![v.len()],
                data: TensorData::Int(v.clone()),
                elem: proto::data_type::INT64,
                q: None,
            },
            _ => return Err(cx.unsupported("a Constant that is not a dense tensor or number")),
        };
        if cx.node.attributes.len() != 1 {
            return Err(cx.invalid("a Constant must have exactly one attribute"));
        }
        self.define(cx, out_name, Val::Const(k))
    }

    /// Scale and zero point inputs of Q/DQ, and the integer type.
    fn qparams(&self, cx: &Ctx<'_>) -> Result<(Vec<f32>, Vec<i64>, i32)> {
        let s = self.constant(cx, 1)?;
        let scales = s.f32s();
        let (zps, elem) = match self.optional_input(cx, 2)? {
            None => (vec![0; scales.len()], proto::data_type::UINT8),
            Some(Val::Const(z)) => (
                z.ints()
                    .ok_or_else(|| cx.invalid("the zero point is not an integer"))?,
                z.elem,
            ),
            Some(Val::Act(_)) => return Err(cx.unsupported("a computed zero point")),
        };
        if scales.is_empty() || zps.len() != scales.len() {
            return Err(cx.invalid(format!(
                "{} scales and {} zero points",
                scales.len(),
                zps.len()
            )));
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(cx.invalid(format!("scale {s}")));
        }
        Ok((scales, zps, elem))
    }

    fn quantize_linear(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis", "saturate"])?;
        let (scales, zps, elem) = self.qparams(cx)?;
        let out_name = self.output_name(cx)?;
        match self.input(cx, 0)?.clone() {
            Val::Act(a) => {
                if a.quantized.is_some() {
                    return Err(cx.invalid("QuantizeLinear of an integer tensor"));
                }
                let (&[s], &[z]) = (&scales[..], &zps[..]) else {
                    return Err(cx.unsupported("per-axis quantization of an activation"));
                };
                let z = match elem {
                    proto::data_type::INT8 => z,
                    proto::data_type::UINT8 => z - 128,
                    other => {
                        return Err(cx.unsupported(format!(
                            "quantization to {}; int8 and uint8 are supported",
                            proto::data_type::name(other)
                        )))
                    }
                };
                let mut b = a.clone();
                b.quantized = Some((s, z));
                b.exclusive = a.exclusive && self.exclusive(out_name);
                self.define(cx, out_name, Val::Act(b))
            }
            Val::Const(k) => {
                // Quantize a float constant now; a DequantizeLinear follows.
                let axis = self.q_axis(cx, &k.dims, scales.len())?;
                let inner: usize = k
                    .dims
                    .get(axis + 1..)
                    .map_or(1, |d| d.iter().product())
                    .max(1);
                let n = scales.len();
                let (lo, hi) = match elem {
                    proto::data_type::INT8 => (-128i64, 127i64),
                    proto::data_type::UINT8 => (0, 255),
                    proto::data_type::INT32 => (i32::MIN as i64, i32::MAX as i64),
                    other => {
                        return Err(cx.unsupported(format!(
                            "quantization to {}",
                            proto::data_type::name(other)
                        )))
                    }
                };
                let q: Vec<i64> = k
                    .f32s()
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let c = if n == 1 { 0 } else { (i / inner) % n };
                        ((v / scales[c]).round_ties_even() as i64 + zps[c]).clamp(lo, hi)
                    })
                    .collect();
                self.define(
                    cx,
                    out_name,
                    Val::Const(Const {
                        dims: k.dims.clone(),
                        data: TensorData::Int(q),
                        elem,
                        q: None,
                    }),
                )
            }
        }
    }

    fn q_axis(&self, cx: &Ctx<'_>, dims: &[usize], n: usize) -> Result<usize> {
        if n == 1 {
            return Ok(0);
        }
        let rank = dims.len() as i64;
        let mut axis = cx.attr_int("axis", 1)?;
        if axis < 0 {
            axis += rank;
        }
        let axis = usize::try_from(axis)
            .ok()
            .filter(|&a| a < dims.len() && dims[a] == n)
            .ok_or_else(|| cx.invalid(format!("{n} scales along axis {axis} of shape {dims:?}")))?;
        Ok(axis)
    }

    fn dequantize_linear(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis"])?;
        let (scales, zps, _) = self.qparams(cx)?;
        let out_name = self.output_name(cx)?;
        match self.input(cx, 0)?.clone() {
            Val::Act(a) => {
                let Some((s, z)) = a.quantized else {
                    return Err(cx.unsupported("DequantizeLinear of a float activation"));
                };
                if scales.len() != 1 {
                    return Err(cx.unsupported("per-axis dequantization of an activation"));
                }
                let t = &mut self.tensors[a.id];
                // A pair's scale and zero point describe the tensor; the first pair wins.
                if t.quant.is_none() {
                    t.quant = Some(Quantization {
                        scales: vec![s],
                        zero_points: vec![z],
                        axis: 0,
                    });
                }
                let mut b = a.clone();
                b.quantized = None;
                b.exclusive = a.exclusive && self.exclusive(out_name);
                self.define(cx, out_name, Val::Act(b))
            }
            Val::Const(k) => {
                let Some(ints) = k.ints() else {
                    return Err(cx.invalid("DequantizeLinear of a float constant"));
                };
                let axis = self.q_axis(cx, &k.dims, scales.len())?;
                let inner: usize = k
                    .dims
                    .get(axis + 1..)
                    .map_or(1, |d| d.iter().product())
                    .max(1);
                let n = scales.len();
                let f: Vec<f32> = ints
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let c = if n == 1 { 0 } else { (i / inner) % n };
                        ((v - zps[c]) as f64 * scales[c] as f64) as f32
                    })
                    .collect();
                self.define(
                    cx,
                    out_name,
                    Val::Const(Const {
                        dims: k.dims.clone(),
                        data: TensorData::F32(f),
                        elem: proto::data_type::FLOAT,
                        q: Some(ConstQuant {
                            values: ints,
                            scales,
                            zero_points: zps,
                            axis,
                            elem: k.elem,
                        }),
                    }),
                )
            }
        }
    }
}
