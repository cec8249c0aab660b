//! Shapes and joins: RESHAPE, SQUEEZE, EXPAND_DIMS (reshapes whose output
//! shape the op's options say), CONCATENATION, PACK.

use super::super::schema::{self, options_type as ty};
use super::super::{activation, options, Context};
use super::Reading;
use crate::error::Result;
use crate::ir::{Activation, DType, OpKind, UnaryNumerics};

pub(super) fn reshape(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    // The new shape is the output tensor's; ReshapeOptions.new_shape (when
    // present) only repeats it. Still check the union type.
    options(r.cx, r.t, ty::RESHAPE)?;
    Ok(OpKind::Reshape)
}

/// The output tensor's dimensions must be `expected` (what TFLM's prepare
/// computes); the op is then a RESHAPE to them.
fn reshape_to(r: &Reading<'_, '_>, expected: Vec<usize>) -> Result<OpKind> {
    let out = r.output_dims();
    if out.as_deref() != Some(expected.as_slice()) {
        return Err(r.cx.invalid(format!(
            "the output's shape {out:?} is not {expected:?}, what the op gives its input"
        )));
    }
    Ok(OpKind::Reshape)
}

/// SQUEEZE: the input without the size-1 dimensions `squeeze_dims` lists
/// (all of them when it lists none).
pub(super) fn squeeze(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::squeeze as f;
    let cx = r.cx;
    let dims = r.input(0).map(|t| t.shape.clone()).unwrap_or_default();
    let rank = dims.len() as i64;
    let mut listed = Vec::new();
    if let Some(o) = options(cx, r.t, ty::SQUEEZE)? {
        if let Some(v) = o.vector::<i32>(f::SQUEEZE_DIMS).context(|| cx.label())? {
            for a in v.iter() {
                let k = if a < 0 { a as i64 + rank } else { a as i64 };
                if !(0..rank).contains(&k) || dims[k as usize] != 1 {
                    return Err(cx.invalid(format!(
                        "squeeze_dims names dimension {a} of {dims:?}, which is not of size 1"
                    )));
                }
                listed.push(k as usize);
            }
        }
    }
    let expected = dims
        .iter()
        .enumerate()
        .filter(|&(k, &d)| !(d == 1 && (listed.is_empty() || listed.contains(&k))))
        .map(|(_, &d)| d)
        .collect();
    reshape_to(r, expected)
}

/// EXPAND_DIMS: the input with a dimension of 1 inserted at the constant
/// axis (input 1), which the graph then drops (the output shape says it).
pub(super) fn expand_dims(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let cx = r.cx;
    options(cx, r.t, ty::EXPAND_DIMS)?;
    let dims = r.input(0).map(|t| t.shape.clone()).unwrap_or_default();
    let axis = r
        .input(1)
        .filter(|t| t.elements() == 1)
        .and_then(|t| {
            let d = t.data.as_deref()?;
            match t.dtype {
                DType::I32 if d.len() == 4 => {
                    Some(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64)
                }
                DType::I64 if d.len() == 8 => Some(i64::from_le_bytes(d[..8].try_into().ok()?)),
                _ => None,
            }
        })
        .ok_or_else(|| cx.unsupported("the axis must be a constant int32 or int64 scalar"))?;
    let rank = dims.len() as i64 + 1;
    let k = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&k) {
        return Err(cx.invalid(format!("axis {axis} is out of range for rank {rank}")));
    }
    let mut expected = dims;
    expected.insert(k as usize, 1);
    r.inputs.truncate(1);
    reshape_to(r, expected)
}

pub(super) fn concatenation(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::concatenation as f;
    let cx = r.cx;
    let (axis, activation) = match options(cx, r.t, ty::CONCATENATION)? {
        Some(o) => (
            o.scalar::<i32>(f::AXIS, 0).context(|| cx.label())?,
            activation(cx, &o, f::ACTIVATION)?,
        ),
        None => (0, Activation::None),
    };
    let rank = r.rank() as i64;
    let a = if axis < 0 {
        axis as i64 + rank
    } else {
        axis as i64
    };
    if !(0..rank.max(1)).contains(&a) {
        return Err(cx.invalid(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(OpKind::Concat {
        axis: a as usize,
        activation,
        numerics: UnaryNumerics::Tflm,
    })
}

pub(super) fn pack(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::pack as f;
    let cx = r.cx;
    let (count, axis) = match options(cx, r.t, ty::PACK)? {
        Some(o) => (
            Some(o.scalar::<i32>(f::VALUES_COUNT, 0).context(|| cx.label())?),
            o.scalar::<i32>(f::AXIS, 0).context(|| cx.label())?,
        ),
        None => (None, 0),
    };
    if let Some(n) = count.filter(|&n| usize::try_from(n).ok() != Some(r.inputs.len())) {
        return Err(cx.invalid(format!(
            "values_count is {n}, but the op has {} inputs",
            r.inputs.len()
        )));
    }
    // The output's rank is the inputs' plus one.
    let rank = r.rank() as i64 + 1;
    let a = if axis < 0 {
        axis as i64 + rank
    } else {
        axis as i64
    };
    if !(0..rank).contains(&a) {
        return Err(cx.invalid(format!(
            "axis {axis} is out of range for an output of rank {rank}"
        )));
    }
    Ok(OpKind::Pack { axis: a as usize })
}
