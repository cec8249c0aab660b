//! Shape arithmetic in a TFLite model, folded to constants (see
//! [`frontend::fold`](crate::frontend::fold)).
//!
//! A Keras `Flatten` or `Reshape` whose batch is not fixed is exported as
//! `SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE`. Every tensor's shape is
//! static here (batch 1), so `SHAPE` of a tensor is a constant, and so is
//! every `STRIDED_SLICE`, `SLICE`, `GATHER`, `PACK`, `CONCATENATION`,
//! `RESHAPE`, `SQUEEZE`, `EXPAND_DIMS`, `ADD`, `SUB`, `MUL`, `DIV`,
//! `FLOOR_DIV` or `CAST` whose inputs are all constants and whose output is
//! int32 or int64. Such ops are read here instead of into the graph,
//! each evaluated once the ops that write its inputs are (so a chain folds
//! whole, whatever the order), and their outputs become constant
//! tensors; a `RESHAPE` of an activation whose shape input became constant
//! then converts as any other. One that cannot be folded (an input computed
//! at run time) is an error naming the operator and the input.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::{options, read_op_tensors, Budget, Context, OpCode, OpCtx};
use crate::error::{ConvertError, Result};
use crate::frontend::fold::{self, BinOp, FoldOp, Ints};
use crate::frontend::tflite::flatbuffer::Table;
use crate::ir::{DType, Op, OpKind, Tensor, TensorId};

/// `enum BuiltinOperator` codes of the foldable ops.
mod code {
    pub const ADD: i32 = 0;
    pub const CONCATENATION: i32 = 2;
    pub const MUL: i32 = 18;
    pub const RESHAPE: i32 = 22;
    pub const GATHER: i32 = 36;
    pub const SUB: i32 = 41;
    pub const DIV: i32 = 42;
    pub const SQUEEZE: i32 = 43;
    pub const STRIDED_SLICE: i32 = 45;
    pub const CAST: i32 = 53;
    pub const SLICE: i32 = 65;
    pub const EXPAND_DIMS: i32 = 70;
    pub const SHAPE: i32 = 77;
    pub const PACK: i32 = 83;
    pub const FLOOR_DIV: i32 = 90;
}

/// `union BuiltinOptions` type codes of their options tables, and the slots read.
mod opts {
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const GATHER: u8 = 23;
    pub const SUB: u8 = 28;
    pub const DIV: u8 = 29;
    pub const SQUEEZE: u8 = 30;
    pub const STRIDED_SLICE: u8 = 32;
    pub const PACK: u8 = 59;
    /// `fused_activation_function` of Add/Sub/Mul/Div options, `axis` of
    /// Concatenation and Gather options, `squeeze_dims` / `new_shape`,
    /// `begin_mask`.
    pub const SLOT0: usize = 0;
    /// Concatenation's `fused_activation_function`, Gather's `batch_dims`,
    /// StridedSlice's `end_mask`, Pack's `axis`.
    pub const SLOT1: usize = 1;
    /// StridedSlice's `ellipsis_mask`.
    pub const ELLIPSIS_MASK: usize = 2;
    /// StridedSlice's `new_axis_mask`.
    pub const NEW_AXIS_MASK: usize = 3;
    /// StridedSlice's `shrink_axis_mask`.
    pub const SHRINK_AXIS_MASK: usize = 4;
    /// StridedSlice's `offset`.
    pub const OFFSET: usize = 5;
}

/// A shape-arithmetic operator waiting to be folded.
pub(super) struct Pending {
    cx: OpCtx,
    /// `None` for `SHAPE`.
    op: Option<FoldOp>,
    inputs: Vec<Option<TensorId>>,
    output: TensorId,
}

fn is_int(dtype: DType) -> bool {
    matches!(dtype, DType::I32 | DType::I64)
}

/// Reads operator `index` as shape arithmetic when it is one: `SHAPE`, or a
/// foldable op whose (single) output is int32 or int64. `None` otherwise,
/// and for anything malformed (the regular reader reports it).
pub(super) fn read_candidate(
    index: usize,
    t: &Table<'_>,
    opcodes: &[OpCode],
    tensors: &[Tensor],
    budget: &mut Budget,
) -> Result<Option<Pending>> {
    use super::schema::operator as f;
    let Ok(opcode_index) = t.scalar::<u32>(f::OPCODE_INDEX, 0) else {
        return Ok(None);
    };
    let Some(OpCode::Builtin(c)) = usize::try_from(opcode_index)
        .ok()
        .and_then(|i| opcodes.get(i))
    else {
        return Ok(None);
    };
    let c = *c;
    let foldable = matches!(
        c,
        code::ADD
            | code::CONCATENATION
            | code::MUL
            | code::RESHAPE
            | code::GATHER
            | code::SUB
            | code::DIV
            | code::SQUEEZE
            | code::STRIDED_SLICE
            | code::CAST
            | code::SLICE
            | code::EXPAND_DIMS
            | code::SHAPE
            | code::PACK
            | code::FLOOR_DIV
    );
    if !foldable {
        return Ok(None);
    }
    let cx = OpCtx {
        index,
        name: super::builtin_display_name(c),
    };
    let outputs = read_op_tensors(&cx, t, f::OUTPUTS, "output", tensors.len(), budget)?;
    let [Some(output)] = outputs[..] else {
        return Ok(None);
    };
    if c != code::SHAPE && !is_int(tensors[output].dtype) {
        return Ok(None);
    }
    let inputs = read_op_tensors(&cx, t, f::INPUTS, "input", tensors.len(), budget)?;
    let op = read_fold_op(&cx, c, t)?;
    if let Some(op) = &op {
        let need = op.required_inputs();
        if inputs.len() < need || inputs[..need].iter().any(Option::is_none) {
            return Err(cx.invalid(format!(
                "has {} inputs ({} present), at least {need} are required",
                inputs.len(),
                inputs.iter().flatten().count()
            )));
        }
    } else if inputs.first().copied().flatten().is_none() {
        return Err(cx.invalid("its input is missing"));
    }
    Ok(Some(Pending {
        cx,
        op,
        inputs,
        output,
    }))
}

/// An int option.
fn int(cx: &OpCtx, o: Option<&Table<'_>>, slot: usize) -> Result<i32> {
    match o {
        Some(o) => o.scalar(slot, 0i32).context(|| cx.label()),
        None => Ok(0),
    }
}

/// An int vector option, at most 16 entries (shape vectors are short).
fn ints(cx: &OpCtx, o: Option<&Table<'_>>, slot: usize) -> Result<Option<Vec<i64>>> {
    let Some(o) = o else { return Ok(None) };
    let Some(v) = o.vector::<i32>(slot).context(|| cx.label())? else {
        return Ok(None);
    };
    if v.len() > 16 {
        return Err(cx.invalid(format!("an option vector of {} entries", v.len())));
    }
    Ok(Some(v.iter().map(i64::from).collect()))
}

/// Refuses a fused activation on integer arithmetic.
fn no_activation(cx: &OpCtx, o: Option<&Table<'_>>) -> Result<()> {
    let a: i8 = match o {
        Some(o) => o.scalar(opts::SLOT0, 0i8).context(|| cx.label())?,
        None => 0,
    };
    if a != 0 {
        return Err(cx.unsupported(format!(
            "a fused activation (code {a}) on integer shape arithmetic"
        )));
    }
    Ok(())
}

fn read_fold_op(cx: &OpCtx, c: i32, t: &Table<'_>) -> Result<Option<FoldOp>> {
    Ok(Some(match c {
        code::SHAPE => return Ok(None),
        code::STRIDED_SLICE => {
            let o = options(cx, t, opts::STRIDED_SLICE)?;
            let o = o.as_ref();
            let ellipsis = int(cx, o, opts::ELLIPSIS_MASK)?;
            let new_axis = int(cx, o, opts::NEW_AXIS_MASK)?;
            if ellipsis != 0 || new_axis != 0 {
                return Err(cx.unsupported(format!(
                    "ellipsis_mask {ellipsis} / new_axis_mask {new_axis} in shape arithmetic \
                     (only begin, end and shrink masks are folded)"
                )));
            }
            FoldOp::StridedSlice {
                begin_mask: int(cx, o, opts::SLOT0)?,
                end_mask: int(cx, o, opts::SLOT1)?,
                shrink_axis_mask: int(cx, o, opts::SHRINK_AXIS_MASK)?,
                offset: match o {
                    Some(o) => o.scalar(opts::OFFSET, false).context(|| cx.label())?,
                    None => false,
                },
            }
        }
        code::SLICE => FoldOp::Slice,
        code::GATHER => {
            let o = options(cx, t, opts::GATHER)?;
            if int(cx, o.as_ref(), opts::SLOT1)? != 0 {
                return Err(cx.unsupported("GATHER with batch_dims in shape arithmetic"));
            }
            FoldOp::Gather {
                axis: int(cx, o.as_ref(), opts::SLOT0)?.into(),
            }
        }
        code::PACK => {
            let o = options(cx, t, opts::PACK)?;
            FoldOp::Pack {
                axis: int(cx, o.as_ref(), opts::SLOT1)?.into(),
            }
        }
        code::CONCATENATION => {
            let o = options(cx, t, opts::CONCATENATION)?;
            let a: i8 = match &o {
                Some(o) => o.scalar(opts::SLOT1, 0i8).context(|| cx.label())?,
                None => 0,
            };
            if a != 0 {
                return Err(cx.unsupported(format!(
                    "a fused activation (code {a}) on integer shape arithmetic"
                )));
            }
            FoldOp::Concat {
                axis: int(cx, o.as_ref(), opts::SLOT0)?.into(),
            }
        }
        code::RESHAPE => {
            options(cx, t, opts::RESHAPE)?;
            FoldOp::Reshape { zero_copies: false }
        }
        code::SQUEEZE => {
            let o = options(cx, t, opts::SQUEEZE)?;
            FoldOp::Squeeze {
                axes: Some(ints(cx, o.as_ref(), opts::SLOT0)?.unwrap_or_default()),
            }
        }
        code::EXPAND_DIMS => FoldOp::Unsqueeze { axes: None },
        code::ADD | code::SUB | code::MUL | code::DIV => {
            let (ty, op) = match c {
                code::ADD => (opts::ADD, BinOp::Add),
                code::SUB => (opts::SUB, BinOp::Sub),
                code::MUL => (opts::MUL, BinOp::Mul),
                _ => (opts::DIV, BinOp::Div),
            };
            no_activation(cx, options(cx, t, ty)?.as_ref())?;
            FoldOp::Binary(op)
        }
        code::FLOOR_DIV => FoldOp::Binary(BinOp::FloorDiv),
        // The output tensor's type says what to cast to.
        _ => FoldOp::Cast { to_i32: false },
    }))
}

/// The constant value of tensor `id`, if it has integer data.
fn constant(t: &Tensor) -> Option<Ints> {
    let data = t.data.as_deref()?;
    let values: Vec<i64> = match t.dtype {
        DType::I32 => data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        _ => return None,
    };
    Ints::new(t.shape.clone(), values).ok()
}

/// Folds every pending op, each once all the pending ops that write its
/// inputs are folded (the model's order first), so chains fold in any order
/// and in time linear in their length; the folded outputs become constant
/// tensors. `ops` (at model indices `source`) are the graph's other
/// operators, named in the error when an op's input is computed by one of them.
pub(super) fn fold_all(
    tensors: &mut [Tensor],
    pending: Vec<Pending>,
    ops: &[Op],
    source: &[usize],
    budget: &mut Budget,
) -> Result<()> {
    let n = pending.len();
    // The pending op that writes each tensor (the first, should a corrupt model have several).
    let mut writer: HashMap<TensorId, usize> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        writer.entry(p.output).or_insert(i);
    }
    let mut waits = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, p) in pending.iter().enumerate() {
        for id in p.inputs.iter().flatten() {
            if let Some(&w) = writer.get(id) {
                waits[i] += 1;
                consumers[w].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| waits[i] == 0).map(Reverse).collect();
    let mut done = vec![false; n];
    while let Some(Reverse(i)) = ready.pop() {
        let p = &pending[i];
        let Some(r) = try_fold(p, tensors)? else {
            // Not foldable: the ops that read it stay waiting.
            continue;
        };
        store(p, r, &mut tensors[p.output], budget)?;
        done[i] = true;
        for &c in &consumers[i] {
            waits[c] -= 1;
            if waits[c] == 0 {
                ready.push(Reverse(c));
            }
        }
    }
    // Report the first op that could not be folded for a reason of its own
    // (not merely waiting for another).
    let stuck = (0..n)
        .filter(|&i| !done[i])
        .min_by_key(|&i| (waits[i] > 0, i));
    match stuck {
        None => Ok(()),
        Some(i) => Err(not_foldable(tensors, &pending, i, ops, source)),
    }
}

/// The value of a pending op when all its inputs are known, else `None`.
fn try_fold(p: &Pending, tensors: &[Tensor]) -> Result<Option<Ints>> {
    let Some(op) = &p.op else {
        // SHAPE: the input's (static) dimensions.
        let id = p.inputs[0].unwrap_or_default();
        return Ok(Some(Ints::shape_of(&tensors[id].shape)));
    };
    let values: Vec<Option<Ints>> = p
        .inputs
        .iter()
        .map(|i| i.and_then(|id| constant(&tensors[id])))
        .collect();
    let all = p
        .inputs
        .iter()
        .zip(&values)
        .all(|(i, v)| i.is_none() || v.is_some());
    if !all {
        return Ok(None);
    }
    let refs: Vec<Option<&Ints>> = values.iter().map(Option::as_ref).collect();
    eval(&p.cx, op, &refs, &tensors[p.output]).map(Some)
}

fn eval(cx: &OpCtx, op: &FoldOp, inputs: &[Option<&Ints>], out: &Tensor) -> Result<Ints> {
    let op = match op {
        FoldOp::Cast { .. } => FoldOp::Cast {
            to_i32: out.dtype == DType::I32,
        },
        op => op.clone(),
    };
    fold::eval(&op, inputs).map_err(|e| cx.invalid(format!("folding shape arithmetic: {e}")))
}

/// Writes a folded value into the output tensor as its constant data.
fn store(p: &Pending, r: Ints, t: &mut Tensor, budget: &mut Budget) -> Result<()> {
    let bytes: Vec<u8> = match t.dtype {
        DType::I32 => {
            let mut out = Vec::with_capacity(r.values.len() * 4);
            for &v in &r.values {
                let v = i32::try_from(v).map_err(|_| {
                    p.cx.invalid(format!(
                        "the folded value {v} does not fit the int32 output '{}'",
                        t.name
                    ))
                })?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        }
        DType::I64 => r.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        other => {
            return Err(p.cx.unsupported(format!(
                "its output '{}' is {other}; SHAPE is folded to int32 or int64 only",
                t.name
            )))
        }
    };
    budget.take(bytes.len(), || p.cx.label())?;
    t.shape = r.dims;
    t.data = Some(bytes);
    Ok(())
}

/// The error for pending op `i`, not folded: which input is not a constant, and why.
fn not_foldable(
    tensors: &[Tensor],
    pending: &[Pending],
    i: usize,
    ops: &[Op],
    source: &[usize],
) -> ConvertError {
    let p = &pending[i];
    for (k, id) in p.inputs.iter().enumerate() {
        let Some(id) = *id else { continue };
        let t = &tensors[id];
        if t.data.is_some() && is_int(t.dtype) {
            continue;
        }
        let label = format!("input {k} ('{}')", super::short_name(&t.name));
        let why = if let Some(q) = pending.iter().find(|q| q.output == id) {
            format!(
                "{label} is computed by operator {} ({}), which is not folded",
                q.cx.index, q.cx.name
            )
        } else if let Some(j) = ops.iter().position(|o| o.outputs.contains(&id)) {
            format!(
                "{label} is computed at run time by operator {} ({})",
                source.get(j).copied().unwrap_or(j),
                ops[j].kind.name()
            )
        } else if t.data.is_some() {
            format!("{label} is a {} constant, not an integer one", t.dtype)
        } else {
            format!("{label} is a model input, known only at run time")
        };
        return p.cx.unsupported(format!(
            "{why}; only shape arithmetic on constants (and SHAPE of a tensor) is folded"
        ));
    }
    p.cx.unsupported("its inputs are not constants; only shape arithmetic is folded")
}

/// `ReshapeOptions.new_shape` of a RESHAPE operator, if present.
pub(super) fn new_shape(cx: &OpCtx, t: &Table<'_>) -> Result<Option<Vec<i64>>> {
    let o = options(cx, t, opts::RESHAPE)?;
    ints(cx, o.as_ref(), opts::SLOT0)
}

/// Gives each RESHAPE whose stored output shape does not hold its input's
/// elements (a converter's placeholder) the shape its shape input says: the
/// shape tensor when it is a constant vector (as TFLite decides), else
/// `ReshapeOptions.new_shape`, one `-1` taking what is left. A stored shape
/// that holds the input's elements is kept, as TFLite Micro keeps it.
pub(super) fn settle_reshapes(
    tensors: &mut [Tensor],
    ops: &[Op],
    source: &[usize],
    new_shapes: &[(usize, Vec<i64>)],
) -> Result<()> {
    for (j, op) in ops.iter().enumerate() {
        if op.kind != OpKind::Reshape {
            continue;
        }
        let (Some(Some(x)), Some(&y)) = (op.inputs.first(), op.outputs.first()) else {
            continue;
        };
        let input: Vec<usize> = tensors[*x].shape.clone();
        let total: usize = input.iter().product();
        if tensors[y].elements() == total {
            continue;
        }
        let from_tensor = op
            .inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|s| constant(&tensors[s]))
            .filter(|s| s.dims.len() == 1)
            .map(|s| s.values);
        let from_option = new_shapes
            .iter()
            .find(|(k, _)| *k == j)
            .map(|(_, v)| match v[..] {
                // Legacy converters wrote [0] for a scalar.
                [0] => Vec::new(),
                _ => v.clone(),
            });
        let Some(target) = from_tensor.or(from_option) else {
            continue;
        };
        let index = source.get(j).copied().unwrap_or(j);
        let dims =
            fold::resolve_reshape(&input, &target, false).map_err(|e| ConvertError::Invalid {
                index,
                op: "RESHAPE".into(),
                message: e,
            })?;
        tensors[y].shape = dims;
    }
    Ok(())
}
