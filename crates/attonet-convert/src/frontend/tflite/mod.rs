//! TFLite front end: reads a `.tflite` FlatBuffer (schema version 3, file
//! identifier `TFL3`) into an [`ir::Graph`](crate::ir::Graph).
//!
//! Only the main subgraph (subgraph 0) is read; tensor ids in the graph are
//! the subgraph's tensor indices and every message names an op by its
//! operator index (`Graph::source_ops` keeps them for the ops left after
//! shape arithmetic is folded to constants, see `fold.rs`), so every message
//! can be matched against other TFLite tools.
//!
//! Nothing in the file is trusted: every offset and length is checked (see
//! [`flatbuffer`]), and the memory the graph takes is bounded by a multiple of
//! the file size however the file's objects are shared, so a corrupt or
//! hostile file gives an error, never a panic or an unbounded allocation.

pub mod flatbuffer;
mod fold;
mod ops;
pub mod schema;

pub use ops::supported_builtins;

use crate::error::{ConvertError, Result};
use crate::ir::{Activation, DType, Graph, Op, OpKind, Padding, Quantization, Tensor, TensorId};
use flatbuffer::{FbResult, Table, TableVector};

/// Reads a TFLite model from the bytes of a `.tflite` file.
///
/// Errors: [`ConvertError::Format`] when the bytes are not a TFLite file
/// (no `TFL3` identifier, wrong schema version), [`ConvertError::Corrupt`]
/// for structural damage (each message says which subgraph, tensor or
/// operator), [`ConvertError::UnsupportedOp`] for operators, or operator
/// options, that AttoNet does not support, [`ConvertError::Invalid`] for
/// operator options that cannot be right (a stride of 0), and
/// [`ConvertError::Graph`] for tensor features AttoNet does not support
/// (sparse tensors, custom quantization).
pub fn read_tflite(bytes: &[u8]) -> Result<Graph> {
    check_identifier(bytes)?;
    let model = flatbuffer::root(bytes).context(|| "model (root table)".to_string())?;
    let version: u32 = model
        .scalar(schema::model::VERSION, 0)
        .context(|| "model version".to_string())?;
    if version != schema::SCHEMA_VERSION {
        return Err(ConvertError::Format(format!(
            "TFLite schema version {version}, but only version {} is supported",
            schema::SCHEMA_VERSION
        )));
    }

    let mut budget = Budget::new(bytes.len());
    let opcodes = read_operator_codes(&model, &mut budget)?;
    let buffers = model
        .tables(schema::model::BUFFERS)
        .context(|| "model buffers".to_string())?;

    let subgraphs = model
        .tables(schema::model::SUBGRAPHS)
        .context(|| "model subgraphs".to_string())?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConvertError::Corrupt("the model has no subgraphs".to_string()))?;
    let sg = subgraphs.get(0).context(|| "subgraph 0".to_string())?;

    let mut tensors = read_tensors(&sg, buffers, bytes, &mut budget)?;
    let (ops, source_ops) = read_ops(&sg, &opcodes, &mut tensors, &mut budget)?;
    let inputs = read_graph_io(
        &sg,
        schema::subgraph::INPUTS,
        "input",
        tensors.len(),
        &mut budget,
    )?;
    let outputs = read_graph_io(
        &sg,
        schema::subgraph::OUTPUTS,
        "output",
        tensors.len(),
        &mut budget,
    )?;
    Ok(Graph {
        tensors,
        ops,
        inputs,
        outputs,
        source_ops,
    })
}

fn check_identifier(bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Err(ConvertError::Format(
            "the file is empty (a TFLite model is a FlatBuffer with identifier \"TFL3\" at bytes 4..8)"
                .to_string(),
        ));
    }
    match flatbuffer::file_identifier(bytes) {
        None => Err(ConvertError::Format(format!(
            "the file is only {} bytes, too short to hold the TFLite file identifier \"TFL3\" at bytes 4..8",
            bytes.len()
        ))),
        Some(id) if &id == schema::FILE_IDENTIFIER => Ok(()),
        Some(id) => Err(ConvertError::Format(format!(
            "not a TFLite model: expected the file identifier \"TFL3\" at bytes 4..8, found \"{}\"",
            id.escape_ascii()
        ))),
    }
}

/// Attaches context to a FlatBuffers error, making it a [`ConvertError::Corrupt`].
trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for FbResult<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ConvertError::Corrupt(format!("{}: {e}", what())))
    }
}

/// Bounds the memory the graph takes to a multiple of the file size: a
/// FlatBuffer can point many tensors at the same (large) buffer, shape or
/// name, so the checked lengths of its parts alone do not bound the total.
struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    /// Sixteen times the file size plus 1 MiB: real models need about one
    /// times (their constants, copied once, plus small per-tensor records).
    fn new(file_len: usize) -> Self {
        let limit = file_len.saturating_mul(16).saturating_add(1 << 20);
        Budget { left: limit, limit }
    }

    fn take(&mut self, bytes: usize, what: impl FnOnce() -> String) -> Result<()> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(ConvertError::Corrupt(format!(
                "{}: the model would take more than {} bytes of memory (16 times the file size \
                 plus 1 MiB); its objects are shared implausibly often or its lengths are corrupt",
                what(),
                self.limit
            ))),
        }
    }
}

/// An entry of `Model.operator_codes`, resolved.
enum OpCode {
    /// A builtin operator code: `max(deprecated_builtin_code, builtin_code)`.
    Builtin(i32),
    /// A custom operator, by its `custom_code` (None when the name is missing).
    Custom(Option<String>),
}

fn read_operator_codes(model: &Table<'_>, budget: &mut Budget) -> Result<Vec<OpCode>> {
    use schema::operator_code as f;
    let Some(codes) = model
        .tables(schema::model::OPERATOR_CODES)
        .context(|| "model operator codes".to_string())?
    else {
        return Ok(Vec::new());
    };
    budget.take(
        codes.len().saturating_mul(std::mem::size_of::<OpCode>()),
        || "operator codes".to_string(),
    )?;
    let mut out = Vec::with_capacity(codes.len());
    for i in 0..codes.len() {
        let what = || format!("operator code {i}");
        let t = codes.get(i).context(what)?;
        let deprecated: i8 = t.scalar(f::DEPRECATED_BUILTIN_CODE, 0).context(what)?;
        let builtin: i32 = t.scalar(f::BUILTIN_CODE, 0).context(what)?;
        // Converters before schema 3a wrote only the byte-sized field; newer
        // ones write both (the byte saturating at 127 for codes above it).
        let code = builtin.max(i32::from(deprecated));
        if code == schema::op::CUSTOM {
            let name = t.string(f::CUSTOM_CODE).context(what)?;
            let name = name.map(|n| String::from_utf8_lossy(n).into_owned());
            budget.take(name.as_ref().map_or(0, String::len), what)?;
            out.push(OpCode::Custom(name));
        } else {
            out.push(OpCode::Builtin(code));
        }
    }
    Ok(out)
}

/// The name of a builtin operator code for messages.
fn builtin_display_name(code: i32) -> String {
    match schema::builtin_name(code) {
        Some(name) => name.to_string(),
        None => format!("builtin operator code {code}"),
    }
}

fn tensor_label(index: usize, name: &str) -> String {
    format!("subgraph 0, tensor {index} ('{}')", short_name(name))
}

/// A name for messages: control characters escaped, at most 100 characters
/// (a corrupt file can make a "name" of any length and content).
fn short_name(name: &str) -> String {
    const MAX: usize = 100;
    let mut out: String = name
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if name.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

/// A shape for messages, at most 8 dimensions shown.
fn show_dims<T: std::fmt::Display>(dims: impl Iterator<Item = T>) -> String {
    let mut out = String::from("[");
    for (k, d) in dims.enumerate() {
        if k == 8 {
            out.push_str(", ...");
            break;
        }
        if k > 0 {
            out.push_str(", ");
        }
        out.push_str(&d.to_string());
    }
    out.push(']');
    out
}

fn read_tensors(
    sg: &Table<'_>,
    buffers: Option<TableVector<'_>>,
    file: &[u8],
    budget: &mut Budget,
) -> Result<Vec<Tensor>> {
    let Some(list) = sg
        .tables(schema::subgraph::TENSORS)
        .context(|| "subgraph 0 tensors".to_string())?
    else {
        return Ok(Vec::new());
    };
    budget.take(
        list.len().saturating_mul(std::mem::size_of::<Tensor>()),
        || "subgraph 0 tensors".to_string(),
    )?;
    let mut tensors = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        let t = list.get(i).context(|| format!("subgraph 0, tensor {i}"))?;
        tensors.push(read_tensor(i, &t, buffers, file, budget)?);
    }
    Ok(tensors)
}

fn read_tensor(
    index: usize,
    t: &Table<'_>,
    buffers: Option<TableVector<'_>>,
    file: &[u8],
    budget: &mut Budget,
) -> Result<Tensor> {
    use schema::tensor as f;
    let name = t
        .string(f::NAME)
        .context(|| format!("subgraph 0, tensor {index}: name"))?
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    budget.take(name.len(), || format!("subgraph 0, tensor {index}"))?;
    let label = || tensor_label(index, &name);

    let type_code: i8 = t.scalar(f::TYPE, 0).context(label)?;
    let dtype = dtype_from_code(type_code);

    let shape = match t.vector::<i32>(f::SHAPE).context(label)? {
        None => Vec::new(),
        Some(dims) => {
            budget.take(
                dims.len().saturating_mul(std::mem::size_of::<usize>()),
                label,
            )?;
            let mut shape = Vec::with_capacity(dims.len());
            for d in dims.iter() {
                let d = usize::try_from(d).map_err(|_| {
                    ConvertError::Corrupt(format!(
                        "{}: negative dimension {d} in shape {}",
                        label(),
                        show_dims(dims.iter())
                    ))
                })?;
                shape.push(d);
            }
            shape
        }
    };
    // Every later `elements() * size()` must fit: reject shapes whose byte
    // size overflows here, whether or not the tensor has data.
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| {
            n.checked_mul(dtype.size().max(1))
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| {
            ConvertError::Corrupt(format!(
                "{}: shape {} of {dtype} has too many elements",
                label(),
                show_dims(shape.iter())
            ))
        })?;

    if t.table(f::SPARSITY).context(label)?.is_some() {
        return Err(ConvertError::Graph(format!(
            "{}: sparse tensors (SparsityParameters) are not supported",
            label()
        )));
    }

    let quant = match t.table(f::QUANTIZATION).context(label)? {
        None => None,
        Some(q) => read_quantization(&q, &shape, budget, &label)?,
    };

    let buffer_index: u32 = t.scalar(f::BUFFER, 0).context(label)?;
    let data = match buffer_data(buffer_index, buffers, file).context(label)? {
        None | Some([]) => None,
        Some(bytes) => {
            // Types of unknown size (strings, int4, ...) are kept as stored.
            let expected = elements * dtype.size();
            if dtype.size() != 0 && bytes.len() != expected {
                return Err(ConvertError::Corrupt(format!(
                    "{}: constant data (buffer {buffer_index}) is {} bytes, but shape {} of {dtype} needs {expected}",
                    label(),
                    bytes.len(),
                    show_dims(shape.iter())
                )));
            }
            budget.take(bytes.len(), label)?;
            Some(bytes.to_vec())
        }
    };

    let variable: bool = t.scalar(f::IS_VARIABLE, false).context(label)?;
    Ok(Tensor {
        variable,
        name,
        shape,
        dtype,
        quant,
        data,
    })
}

/// Maps a `TensorType` code.
fn dtype_from_code(code: i8) -> DType {
    match code {
        0 => DType::F32,
        1 => DType::F16,
        2 => DType::I32,
        3 => DType::U8,
        4 => DType::I64,
        6 => DType::Bool,
        7 => DType::I16,
        9 => DType::I8,
        other => DType::Other(i32::from(other)),
    }
}

/// The bytes of buffer `index`: its `data` vector, or for models over 2 GB
/// the `size` bytes at file `offset` (when `offset > 1`). `None` when the
/// model has no buffers and `index` is the sentinel 0.
fn buffer_data<'a>(
    index: u32,
    buffers: Option<TableVector<'a>>,
    file: &'a [u8],
) -> FbResult<Option<&'a [u8]>> {
    use schema::buffer as f;
    let count = buffers.map_or(0, |b| b.len());
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    let Some(buffers) = buffers.filter(|_| i < count) else {
        if index == 0 {
            return Ok(None);
        }
        return Err(fb_error(format!(
            "buffer index {index} is out of range (the model has {count} buffers)"
        )));
    };
    let b = buffers
        .get(i)
        .map_err(|e| fb_error(format!("buffer {index}: {e}")))?;
    let data = b
        .vector::<u8>(f::DATA)
        .map_err(|e| fb_error(format!("buffer {index}: {e}")))?;
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        return Ok(Some(data.bytes()));
    }
    let offset: u64 = b
        .scalar(f::OFFSET, 0)
        .map_err(|e| fb_error(format!("buffer {index}: {e}")))?;
    let size: u64 = b
        .scalar(f::SIZE, 0)
        .map_err(|e| fb_error(format!("buffer {index}: {e}")))?;
    if offset <= 1 {
        return Ok(None);
    }
    let range = usize::try_from(offset).ok().and_then(|start| {
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        file.get(start..end)
    });
    match range {
        Some(bytes) => Ok(Some(bytes)),
        None => Err(fb_error(format!(
            "buffer {index}: external data at file offset {offset} ({size} bytes) lies outside the file ({} bytes)",
            file.len()
        ))),
    }
}

fn fb_error(message: String) -> flatbuffer::FbError {
    flatbuffer::FbError::new(message)
}

fn read_quantization(
    q: &Table<'_>,
    shape: &[usize],
    budget: &mut Budget,
    label: &dyn Fn() -> String,
) -> Result<Option<Quantization>> {
    use schema::quantization as f;
    let details: u8 = q.scalar(f::DETAILS_TYPE, 0).context(label)?;
    if details != 0 {
        return Err(ConvertError::Graph(format!(
            "{}: custom quantization (QuantizationDetails type {details}) is not supported",
            label()
        )));
    }
    let scales = match q.vector::<f32>(f::SCALE).context(label)? {
        Some(s) if !s.is_empty() => s,
        // No scales: not quantized (min/max alone are only for re-export).
        _ => return Ok(None),
    };
    let Some(zero_points) = q.vector::<i64>(f::ZERO_POINT).context(label)? else {
        return Err(ConvertError::Corrupt(format!(
            "{}: quantization has {} scales but no zero points",
            label(),
            scales.len()
        )));
    };
    if zero_points.len() != scales.len() {
        return Err(ConvertError::Corrupt(format!(
            "{}: quantization has {} scales but {} zero points",
            label(),
            scales.len(),
            zero_points.len()
        )));
    }
    let dim: i32 = q.scalar(f::QUANTIZED_DIMENSION, 0).context(label)?;
    // TFLM reads `quantized_dimension` only where an op needs it (a filter's
    // output-channel axis), never a bias's, and TensorFlow writes the
    // filter's axis on the biases of depthwise layers (`person_detect.tflite`:
    // dimension 3 on a `[8]` bias). A one-dimensional tensor has only axis 0.
    let dim = if shape.len() == 1 { 0 } else { dim };
    let axis = usize::try_from(dim)
        .ok()
        .filter(|&a| shape.is_empty() || a < shape.len())
        .ok_or_else(|| {
            ConvertError::Corrupt(format!(
                "{}: quantized_dimension {dim} is out of range for shape {}",
                label(),
                show_dims(shape.iter())
            ))
        })?;
    let n = scales.len();
    // One scale (per tensor), or one per channel along `axis`.
    let channels = shape.get(axis).copied().unwrap_or(1);
    if n != 1 && n != channels {
        return Err(ConvertError::Corrupt(format!(
            "{}: {n} quantization scales, but dimension {axis} of shape {} is {channels} \
             (per-axis quantization needs one scale per channel, per-tensor exactly one)",
            label(),
            show_dims(shape.iter()),
        )));
    }
    budget.take(n.saturating_mul(4 + 8), label)?;
    Ok(Some(Quantization {
        scales: scales.iter().collect(),
        zero_points: zero_points.iter().collect(),
        axis,
    }))
}

fn read_graph_io(
    sg: &Table<'_>,
    slot: usize,
    what: &str,
    tensor_count: usize,
    budget: &mut Budget,
) -> Result<Vec<TensorId>> {
    let label = || format!("subgraph 0 {what}s");
    let Some(list) = sg.vector::<i32>(slot).context(label)? else {
        return Ok(Vec::new());
    };
    budget.take(
        list.len().saturating_mul(std::mem::size_of::<TensorId>()),
        label,
    )?;
    let mut ids = Vec::with_capacity(list.len());
    for (k, t) in list.iter().enumerate() {
        let id = usize::try_from(t)
            .ok()
            .filter(|&i| i < tensor_count)
            .ok_or_else(|| {
                ConvertError::Corrupt(format!(
                    "subgraph 0: graph {what} {k} refers to tensor {t}, but the subgraph has {tensor_count} tensors"
                ))
            })?;
        ids.push(id);
    }
    Ok(ids)
}

/// Reads the operators; shape arithmetic is folded to constants (see
/// [`fold`]) and left out. Also gives the model index of each op read.
fn read_ops(
    sg: &Table<'_>,
    opcodes: &[OpCode],
    tensors: &mut [Tensor],
    budget: &mut Budget,
) -> Result<(Vec<Op>, Vec<usize>)> {
    let Some(list) = sg
        .tables(schema::subgraph::OPERATORS)
        .context(|| "subgraph 0 operators".to_string())?
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    budget.take(list.len().saturating_mul(std::mem::size_of::<Op>()), || {
        "subgraph 0 operators".to_string()
    })?;
    let mut ops = Vec::with_capacity(list.len());
    let mut source = Vec::with_capacity(list.len());
    let mut pending = Vec::new();
    let mut new_shapes = Vec::new();
    for index in 0..list.len() {
        let t = list.get(index).context(|| format!("operator {index}"))?;
        if let Some(p) = fold::read_candidate(index, &t, opcodes, tensors, budget)? {
            pending.push(p);
            continue;
        }
        let (op, code) = read_op(index, &t, opcodes, tensors, budget)?;
        if op.kind == OpKind::Dequantize && fold_float16(&op, tensors, budget)? {
            continue;
        }
        if code == schema::op::RESHAPE {
            let cx = OpCtx {
                index,
                name: "RESHAPE".into(),
            };
            if let Some(v) = fold::new_shape(&cx, &t)? {
                new_shapes.push((ops.len(), v));
            }
        }
        ops.push(op);
        source.push(index);
    }
    fold::fold_all(tensors, pending, &ops, &source, budget)?;
    fold::settle_reshapes(tensors, &ops, &source, &new_shapes)?;
    Ok((ops, source))
}

/// A DEQUANTIZE of a constant float16 tensor (TFLite's float16
/// post-training quantization: weights stored as FLOAT16, each read through
/// a DEQUANTIZE) is folded away: its float32 output becomes a constant with
/// the exactly converted values (TFLM's `static_cast<float>` of each half,
/// as the `half` crate converts), and the float model goes on to AttoNet's
/// own int8 quantization as any other. `false` for any other DEQUANTIZE.
fn fold_float16(op: &Op, tensors: &mut [Tensor], budget: &mut Budget) -> Result<bool> {
    let (&[Some(x)], &[y]) = (op.inputs.as_slice(), op.outputs.as_slice()) else {
        return Ok(false);
    };
    let (input, output) = (&tensors[x], &tensors[y]);
    let Some(data) = input.data.as_ref() else {
        return Ok(false);
    };
    if input.dtype != DType::F16 || output.dtype != DType::F32 || output.data.is_some() {
        return Ok(false);
    }
    if input.elements() != output.elements() {
        return Err(ConvertError::Graph(format!(
            "DEQUANTIZE of the float16 constant '{}' {:?} gives '{}' {:?}: their sizes differ",
            input.name, input.shape, output.name, output.shape
        )));
    }
    let values: Vec<u8> = data
        .chunks_exact(2)
        .flat_map(|h| {
            half::f16::from_le_bytes([h[0], h[1]])
                .to_f32()
                .to_le_bytes()
        })
        .collect();
    budget.take(values.len(), || format!("float32 copy of '{}'", input.name))?;
    tensors[y].data = Some(values);
    Ok(true)
}

/// What we know about the operator being read, for messages.
struct OpCtx {
    index: usize,
    name: String,
}

impl OpCtx {
    fn corrupt(&self, message: impl std::fmt::Display) -> ConvertError {
        ConvertError::Corrupt(format!(
            "operator {} ({}): {message}",
            self.index, self.name
        ))
    }

    fn unsupported(&self, detail: impl Into<String>) -> ConvertError {
        ConvertError::UnsupportedOp {
            index: self.index,
            name: self.name.clone(),
            detail: Some(detail.into()),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> ConvertError {
        ConvertError::Invalid {
            index: self.index,
            op: self.name.clone(),
            message: message.into(),
        }
    }

    fn label(&self) -> String {
        format!("operator {} ({})", self.index, self.name)
    }
}

fn read_op(
    index: usize,
    t: &Table<'_>,
    opcodes: &[OpCode],
    tensors: &[Tensor],
    budget: &mut Budget,
) -> Result<(Op, i32)> {
    use schema::operator as f;
    let opcode_index: u32 = t
        .scalar(f::OPCODE_INDEX, 0)
        .context(|| format!("operator {index}"))?;
    let opcode = usize::try_from(opcode_index)
        .ok()
        .and_then(|i| opcodes.get(i))
        .ok_or_else(|| {
            ConvertError::Corrupt(format!(
                "operator {index}: opcode index {opcode_index} is out of range (the model has {} operator codes)",
                opcodes.len()
            ))
        })?;
    let code = match opcode {
        OpCode::Builtin(code) => *code,
        OpCode::Custom(name) => {
            let name = name
                .as_deref()
                .map_or_else(|| "<unnamed>".to_string(), short_name);
            return Err(ConvertError::UnsupportedOp {
                index,
                name: name.clone(),
                detail: Some(format!(
                    "'{name}' is a custom op (not a TFLite builtin operator)"
                )),
            });
        }
    };
    let cx = OpCtx {
        index,
        name: builtin_display_name(code),
    };

    // The op itself first, so an unsupported op is reported as such even when
    // its options would not parse.
    use schema::op;
    let builtin = match code {
        op::CALL | op::IF | op::WHILE | op::CALL_ONCE => {
            return Err(cx.unsupported(
                "control flow runs other subgraphs; only a single-subgraph model is supported",
            ))
        }
        _ => ops::builtin(code).ok_or_else(|| ConvertError::UnsupportedOp {
            index,
            name: cx.name.clone(),
            detail: None,
        })?,
    };

    let inputs = read_op_tensors(&cx, t, f::INPUTS, "input", tensors.len(), budget)?;
    let outputs: Vec<TensorId> =
        read_op_tensors(&cx, t, f::OUTPUTS, "output", tensors.len(), budget)?
            .into_iter()
            .enumerate()
            .map(|(k, o)| o.ok_or_else(|| cx.corrupt(format!("output {k} is omitted (-1)"))))
            .collect::<Result<_>>()?;

    let mut reading = ops::Reading {
        cx: &cx,
        code,
        t,
        inputs,
        outputs: outputs.len(),
        output: outputs.first().copied(),
        tensors,
    };
    let kind = (builtin.read)(&mut reading)?;
    let inputs = reading.inputs;
    check_arity(&cx, &kind, &inputs, &outputs)?;
    Ok((
        Op {
            kind,
            inputs,
            outputs,
        },
        code,
    ))
}

fn read_op_tensors(
    cx: &OpCtx,
    t: &Table<'_>,
    slot: usize,
    what: &str,
    tensor_count: usize,
    budget: &mut Budget,
) -> Result<Vec<Option<TensorId>>> {
    let Some(list) = t
        .vector::<i32>(slot)
        .context(|| format!("{} {what}s", cx.label()))?
    else {
        return Ok(Vec::new());
    };
    budget.take(
        list.len()
            .saturating_mul(std::mem::size_of::<Option<TensorId>>()),
        || cx.label(),
    )?;
    let mut ids = Vec::with_capacity(list.len());
    for (k, id) in list.iter().enumerate() {
        if id == -1 {
            ids.push(None);
            continue;
        }
        let id = usize::try_from(id)
            .ok()
            .filter(|&i| i < tensor_count)
            .ok_or_else(|| {
                cx.corrupt(format!(
                    "{what} {k} refers to tensor {id}, but the subgraph has {tensor_count} tensors"
                ))
            })?;
        ids.push(Some(id));
    }
    Ok(ids)
}

/// The builtin options table, checked to be of the expected union type.
/// `None` when the operator has none.
fn options<'a>(cx: &OpCtx, t: &Table<'a>, expected: u8) -> Result<Option<Table<'a>>> {
    let u = t
        .union(schema::operator::BUILTIN_OPTIONS_TYPE)
        .context(|| format!("{} builtin options", cx.label()))?;
    if u.kind == 0 {
        return Ok(None);
    }
    if u.kind != expected {
        return Err(cx.corrupt(format!(
            "builtin options are of type {} ({}), expected {} ({expected})",
            u.kind,
            schema::options_type::name(u.kind),
            schema::options_type::name(expected)
        )));
    }
    Ok(u.table)
}

fn required_options<'a>(cx: &OpCtx, t: &Table<'a>, expected: u8) -> Result<Table<'a>> {
    options(cx, t, expected)?.ok_or_else(|| {
        cx.corrupt(format!(
            "its {} are missing",
            schema::options_type::name(expected)
        ))
    })
}

fn padding(cx: &OpCtx, o: &Table<'_>, slot: usize) -> Result<Padding> {
    let p: i8 = o.scalar(slot, 0).context(|| cx.label())?;
    match p {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        other => Err(cx.unsupported(format!(
            "padding type {other} (only SAME = 0 and VALID = 1 exist)"
        ))),
    }
}

fn activation(cx: &OpCtx, o: &Table<'_>, slot: usize) -> Result<Activation> {
    let a: i8 = o.scalar(slot, 0).context(|| cx.label())?;
    match a {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        2 => Ok(Activation::ReluN1To1),
        3 => Ok(Activation::Relu6),
        4 => Err(cx.unsupported("fused activation function TANH")),
        5 => Err(cx.unsupported("fused activation function SIGN_BIT")),
        other => Err(cx.unsupported(format!("fused activation function code {other}"))),
    }
}

/// A positive integer option (stride, dilation, window size).
fn positive(cx: &OpCtx, o: &Table<'_>, slot: usize, default: i32, what: &str) -> Result<usize> {
    let v: i32 = o.scalar(slot, default).context(|| cx.label())?;
    usize::try_from(v)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| cx.invalid(format!("{what} is {v}, but must be at least 1")))
}

/// Checks the number of inputs and outputs, and that required inputs are
/// present, so later stages can index them freely.
fn check_arity(
    cx: &OpCtx,
    kind: &OpKind,
    inputs: &[Option<TensorId>],
    outputs: &[TensorId],
) -> Result<()> {
    // (minimum inputs, maximum inputs, how many leading inputs are required)
    let (min, max, required) = match kind {
        OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. } | OpKind::FullyConnected { .. } => {
            (2, 3, 2)
        }
        OpKind::Add { .. } | OpKind::Binary { .. } | OpKind::BatchMatmul { .. } => (2, 2, 2),
        // Output shape, filter, input; the bias is optional.
        OpKind::TransposeConv { .. } => (3, 4, 3),
        OpKind::Concat { .. } => (1, 10, usize::MAX),
        OpKind::Pack { .. } => (1, 64, usize::MAX),
        // Its reader checks its inputs and outputs (movement.rs).
        OpKind::Split { sizes, .. } => {
            if outputs.len() != sizes.len() {
                return Err(cx.invalid(format!(
                    "has {} outputs for {} parts",
                    outputs.len(),
                    sizes.len()
                )));
            }
            return Ok(());
        }
        OpKind::AveragePool2d { .. }
        | OpKind::MaxPool2d { .. }
        | OpKind::Softmax { .. }
        | OpKind::LogSoftmax
        | OpKind::L2Normalization { .. } => (1, 1, 1),
        OpKind::Reshape => (1, 2, 1),
        OpKind::Unary { .. } => (1, 1, 1),
        OpKind::Reduce { .. } | OpKind::Arg { .. } => (2, 2, 2),
        OpKind::Dequantize => (1, 1, 1),
        // The bias (input 3) may be omitted; the state (input 4) may not
        // (the lowering names it).
        OpKind::Svdf { .. } => (5, 5, 3),
        // Which of the 24 are present is the lowering's to check.
        OpKind::Lstm { .. } => (24, 24, 1),
        // The family's reader checks its own inputs (movement.rs).
        OpKind::Move { .. } => (1, 4, 1),
    };
    if inputs.len() < min || inputs.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(cx.invalid(format!(
            "has {} inputs, but {expected} are expected",
            inputs.len()
        )));
    }
    if let Some(k) = inputs.iter().take(required).position(Option::is_none) {
        return Err(cx.invalid(format!("required input {k} is omitted (-1)")));
    }
    if outputs.len() != 1 {
        return Err(cx.invalid(format!("has {} outputs, but 1 is expected", outputs.len())));
    }
    Ok(())
}
