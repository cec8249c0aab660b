//! Shape arithmetic in an ONNX model, folded to constants (see
//! [`frontend::fold`](crate::frontend::fold)).
//!
//! PyTorch exports `x.view(x.size(0), -1)` as `Shape -> Gather -> Unsqueeze
//! -> Concat -> Reshape`, and other shape computations with `Slice`, `Cast`,
//! `Squeeze`, `ConstantOfShape`, `Add`, `Sub`, `Mul` and `Div`. An
//! activation's shape is static here (batch 1), so `Shape` of it is a
//! constant, and so is any of those ops whose inputs are all integer
//! constants: the converter evaluates it and defines its output as a
//! constant, which a `Reshape` then takes as its target. Anything else (an
//! input computed at run time, a float constant) is an error naming the node
//! and the input.

use super::proto::{self, AttrValue, TensorData};
use super::{short, Const, Converter, Ctx, Val};
use crate::error::Result;
use crate::frontend::fold::{self, BinOp, FoldOp, Ints};

/// The most values all folded constants of a model may hold together, so a
/// hostile model of many small nodes cannot make them take unbounded memory.
const MAX_FOLDED_ELEMENTS: usize = 1 << 20;

fn is_int(elem: i32) -> bool {
    matches!(
        elem,
        proto::data_type::INT64
            | proto::data_type::INT32
            | proto::data_type::INT16
            | proto::data_type::INT8
            | proto::data_type::UINT8
            | proto::data_type::UINT16
    )
}

impl Converter {
    /// Folds a shape-arithmetic node (`Shape`, `Gather`, `Unsqueeze`,
    /// `Squeeze`, `Concat`, `Slice`, `Cast`, `ConstantOfShape`, `Reshape` of
    /// a constant, and `Add`, `Sub`, `Mul`, `Div` of constants).
    pub(super) fn fold(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let op_type = cx.node.op_type;
        let out_name = self.output_name(cx)?;
        if op_type == "Shape" {
            cx.only_attrs(&["start", "end"])?;
            let dims = match self.input(cx, 0)? {
                Val::Act(a) => a.dims.clone(),
                Val::Const(k) => k.dims.clone(),
            };
            let rank = dims.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
            let start = clamp(cx.attr_int("start", 0)?);
            let end = clamp(cx.attr_int("end", rank)?);
            let dims = dims.get(start..end.max(start)).unwrap_or(&[]);
            let k = Ints::shape_of(dims);
            return self.define_ints(cx, out_name, k, proto::data_type::INT64);
        }
        let (op, attrs): (FoldOp, &[&str]) = match op_type {
            "Gather" => (
                FoldOp::Gather {
                    axis: cx.attr_int("axis", 0)?,
                },
                &["axis"],
            ),
            "Concat" => {
                let Some(axis) = cx.node.attr("axis").map(|_| cx.attr_int("axis", 0)) else {
                    return Err(cx.invalid("missing attribute 'axis'"));
                };
                (FoldOp::Concat { axis: axis? }, &["axis"])
            }
            "Unsqueeze" => (
                FoldOp::Unsqueeze {
                    axes: cx.attr_ints("axes")?,
                },
                &["axes"],
            ),
            "Squeeze" => (
                FoldOp::Squeeze {
                    axes: cx.attr_ints("axes")?,
                },
                &["axes"],
            ),
            "Slice" => (FoldOp::OnnxSlice, &[]),
            "Reshape" => (
                FoldOp::Reshape {
                    zero_copies: cx.attr_int("allowzero", 0)? == 0,
                },
                &["allowzero"],
            ),
            "Add" => (FoldOp::Binary(BinOp::Add), &[]),
            "Sub" => (FoldOp::Binary(BinOp::Sub), &[]),
            "Mul" => (FoldOp::Binary(BinOp::Mul), &[]),
            "Div" => (FoldOp::Binary(BinOp::Div), &[]),
            "Cast" => {
                let to = cx.attr_int("to", 0)? as i32;
                if !matches!(to, proto::data_type::INT32 | proto::data_type::INT64) {
                    return Err(cx.unsupported(format!(
                        "Cast to {}: only shape arithmetic (integer constants cast to int32 or \
                         int64) is folded, and Cast is not supported otherwise",
                        proto::data_type::name(to)
                    )));
                }
                (
                    FoldOp::Cast {
                        to_i32: to == proto::data_type::INT32,
                    },
                    &["to", "saturate"],
                )
            }
            "ConstantOfShape" => {
                let (value, elem) = match cx.node.attr("value") {
                    None => (TensorData::F32(vec![0.0]), proto::data_type::FLOAT),
                    Some(AttrValue::Tensor(t)) => {
                        let k = Const::from_proto(t, &format!("node[{}] value", cx.index))?;
                        (k.data, k.elem)
                    }
                    Some(_) => return Err(cx.invalid("attribute 'value' is not a tensor")),
                };
                let value = match value {
                    TensorData::Int(v) if v.len() == 1 && is_int(elem) => v[0],
                    _ => {
                        let what = proto::data_type::name(elem);
                        return Err(cx.unsupported(format!(
                            "a ConstantOfShape of {what}: only integer ones are folded"
                        )));
                    }
                };
                cx.only_attrs(&["value"])?;
                let shape = self.fold_input(cx, 0)?;
                let r = fold::eval(&FoldOp::ConstantOfShape { value }, &[Some(&shape.0)])
                    .map_err(|e| cx.invalid(format!("folding shape arithmetic: {e}")))?;
                return self.define_ints(cx, out_name, r, elem);
            }
            _ => return Err(cx.unsupported("not a shape-arithmetic op")),
        };
        cx.only_attrs(attrs)?;
        let mut values = Vec::with_capacity(cx.node.inputs.len());
        let mut elem = None;
        for k in 0..cx.node.inputs.len() {
            if cx.node.inputs[k].is_empty() {
                values.push(None);
                continue;
            }
            let (v, e) = self.fold_input(cx, k)?;
            elem.get_or_insert(e);
            values.push(Some(v));
        }
        let refs: Vec<Option<&Ints>> = values.iter().map(Option::as_ref).collect();
        let r = fold::eval(&op, &refs)
            .map_err(|e| cx.invalid(format!("folding shape arithmetic: {e}")))?;
        let elem = match op {
            FoldOp::Cast { to_i32: true } => proto::data_type::INT32,
            FoldOp::Cast { to_i32: false } => proto::data_type::INT64,
            _ => elem.unwrap_or(proto::data_type::INT64),
        };
        self.define_ints(cx, out_name, r, elem)
    }

    /// Input `k` as an integer constant, or the error that says why it is not one.
    fn fold_input(&self, cx: &Ctx<'_>, k: usize) -> Result<(Ints, i32)> {
        let name = short(cx.node.inputs.get(k).copied().unwrap_or(""));
        let why = match self.input(cx, k)? {
            Val::Const(c) => match &c.data {
                TensorData::Int(v) if is_int(c.elem) => {
                    return Ints::new(c.dims.clone(), v.clone())
                        .map(|i| (i, c.elem))
                        .map_err(|e| cx.invalid(format!("input {k} ('{name}'): {e}")));
                }
                _ => format!(
                    "input {k} ('{name}') is a {} constant, not an integer one",
                    proto::data_type::name(c.elem)
                ),
            },
            Val::Act(_) => format!("input {k} ('{name}') is computed at run time"),
        };
        Err(cx.unsupported(format!(
            "{why}; the ONNX operator {} is supported only as shape arithmetic on integer \
             constants (and Shape of a tensor), which is folded",
            cx.node.op_type
        )))
    }

    /// Folds a Concat of float constants (PyTorch's unfolded exports build
    /// a Resize's scales this way, `[1, 1] ++ [2, 2]`) into one constant.
    pub(super) fn fold_float_concat(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["axis"])?;
        let Some(axis) = cx.node.attr("axis").map(|_| cx.attr_int("axis", 0)) else {
            return Err(cx.invalid("missing attribute 'axis'"));
        };
        let axis = axis?;
        let mut parts = Vec::new();
        for i in 0..cx.node.inputs.len() {
            match self.input(cx, i)? {
                Val::Const(k) if k.q.is_none() && matches!(k.data, TensorData::F32(_)) => {
                    parts.push((k.dims.clone(), k.f32s()))
                }
                _ => {
                    return Err(cx.unsupported(format!(
                        "input {i} is not a float constant; a Concat of constants folds only \
                         when all are integer or all float"
                    )))
                }
            }
        }
        let Some((first, _)) = parts.first() else {
            return Err(cx.invalid("no inputs"));
        };
        let rank = first.len() as i64;
        let a = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&a) {
            return Err(cx.invalid(format!("axis {axis} out of range for rank {rank}")));
        }
        let a = a as usize;
        let mut dims = first.clone();
        dims[a] = 0;
        for (d, _) in &parts {
            let same_elsewhere = d.len() == first.len()
                && d.iter()
                    .zip(first)
                    .enumerate()
                    .all(|(k, (x, y))| k == a || x == y);
            if !same_elsewhere {
                return Err(cx.invalid(format!(
                    "input shapes {d:?} and {first:?} do not concatenate on axis {a}"
                )));
            }
            dims[a] += d[a];
        }
        let outer: usize = first[..a].iter().product();
        let mut values = Vec::with_capacity(dims.iter().product());
        for o in 0..outer {
            for (d, v) in &parts {
                let run: usize = d[a..].iter().product();
                values.extend_from_slice(v.get(o * run..(o + 1) * run).unwrap_or(&[]));
            }
        }
        self.folded_elements += values.len();
        if self.folded_elements > MAX_FOLDED_ELEMENTS {
            return Err(cx.unsupported(format!(
                "the model's constant arithmetic folds to more than {MAX_FOLDED_ELEMENTS} values"
            )));
        }
        let name = self.output_name(cx)?;
        self.define(
            cx,
            name,
            Val::Const(Const {
                dims,
                data: TensorData::F32(values),
                elem: proto::data_type::FLOAT,
                q: None,
            }),
        )
    }

    fn define_ints(&mut self, cx: &Ctx<'_>, name: &str, r: Ints, elem: i32) -> Result<()> {
        self.folded_elements += r.values.len();
        if self.folded_elements > MAX_FOLDED_ELEMENTS {
            return Err(cx.unsupported(format!(
                "the model's shape arithmetic folds to more than {MAX_FOLDED_ELEMENTS} values"
            )));
        }
        if elem == proto::data_type::INT32 {
            if let Some(v) = r.values.iter().find(|v| i32::try_from(**v).is_err()) {
                return Err(cx.invalid(format!("the folded value {v} does not fit int32")));
            }
        }
        self.define(
            cx,
            name,
            Val::Const(Const {
                dims: r.dims,
                data: TensorData::Int(r.values),
                elem,
                q: None,
            }),
        )
    }
}
