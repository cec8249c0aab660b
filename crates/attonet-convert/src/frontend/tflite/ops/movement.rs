//! The movement family's TFLite operators (see [`crate::ops::movement`]):
//! PAD, PADV2, MIRROR_PAD, TRANSPOSE, STRIDED_SLICE, SLICE, SPACE_TO_DEPTH,
//! DEPTH_TO_SPACE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR. Their constant
//! inputs (paddings, permutation, bounds, sizes) are resolved here, as
//! TFLM's prepare and reference kernels resolve them, into an
//! [`OpKind::Move`].

use super::super::flatbuffer::Table;
use super::super::{options, Context, OpCtx};
use super::Reading;
use crate::error::Result;
use crate::ir::{DType, MirrorMode, MoveFn, OpKind, PadValue, Tensor, TensorId};
use crate::ops::movement::tflite_nearest;

/// `enum BuiltinOperator` codes.
pub(super) mod code {
    pub const DEPTH_TO_SPACE: i32 = 5;
    pub const RESIZE_BILINEAR: i32 = 23;
    pub const SPACE_TO_DEPTH: i32 = 26;
    pub const PAD: i32 = 34;
    pub const TRANSPOSE: i32 = 39;
    pub const STRIDED_SLICE: i32 = 45;
    pub const PADV2: i32 = 60;
    pub const SLICE: i32 = 65;
    pub const RESIZE_NEAREST_NEIGHBOR: i32 = 97;
    pub const MIRROR_PAD: i32 = 100;
    pub const SPLIT: i32 = 49;
    pub const UNPACK: i32 = 88;
    pub const SPLIT_V: i32 = 102;
}

/// `union BuiltinOptions` type codes, and the slots read.
mod opts {
    pub const RESIZE_BILINEAR: u8 = 15;
    pub const SPACE_TO_DEPTH: u8 = 19;
    pub const PAD: u8 = 22;
    pub const TRANSPOSE: u8 = 26;
    pub const STRIDED_SLICE: u8 = 32;
    pub const PADV2: u8 = 43;
    pub const SLICE: u8 = 48;
    pub const RESIZE_NEAREST_NEIGHBOR: u8 = 74;
    pub const MIRROR_PAD: u8 = 77;
    pub const DEPTH_TO_SPACE: u8 = 94;
    pub const SPLIT: u8 = 35;
    pub const UNPACK: u8 = 64;
    pub const SPLIT_V: u8 = 79;
}

fn tensor<'t>(
    cx: &OpCtx,
    inputs: &[Option<TensorId>],
    tensors: &'t [Tensor],
    k: usize,
) -> Result<&'t Tensor> {
    inputs
        .get(k)
        .copied()
        .flatten()
        .and_then(|id| tensors.get(id))
        .ok_or_else(|| cx.invalid(format!("missing input {k}")))
}

/// The integers of constant input `k` (int32 or int64).
fn ints(
    cx: &OpCtx,
    inputs: &[Option<TensorId>],
    tensors: &[Tensor],
    k: usize,
    what: &str,
) -> Result<Vec<i64>> {
    let t = tensor(cx, inputs, tensors, k)?;
    let data = t.data.as_deref().ok_or_else(|| {
        cx.unsupported(format!(
            "the {what} (input {k}, '{}') must be a constant",
            t.name
        ))
    })?;
    Ok(match t.dtype {
        DType::I32 => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        DType::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        other => return Err(cx.invalid(format!("the {what} is {other}, not int32 or int64"))),
    })
}

fn inputs_exactly(
    cx: &OpCtx,
    inputs: &[Option<TensorId>],
    n: std::ops::RangeInclusive<usize>,
) -> Result<()> {
    if !n.contains(&inputs.len()) || inputs.iter().any(Option::is_none) {
        return Err(cx.invalid(format!(
            "has {} inputs, but {} to {} (none omitted) are expected",
            inputs.len(),
            n.start(),
            n.end()
        )));
    }
    Ok(())
}

/// Per-axis `[before, after]` pairs of a paddings input `[rank, 2]`.
fn paddings(
    cx: &OpCtx,
    inputs: &[Option<TensorId>],
    tensors: &[Tensor],
    rank: usize,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let p = ints(cx, inputs, tensors, 1, "paddings")?;
    if p.len() != 2 * rank {
        return Err(cx.invalid(format!("{} paddings for an input of rank {rank}", p.len())));
    }
    let mut before = Vec::with_capacity(rank);
    let mut after = Vec::with_capacity(rank);
    for pair in p.chunks_exact(2) {
        let ok = |v: i64| usize::try_from(v).ok().filter(|&v| v <= u16::MAX as usize);
        match (ok(pair[0]), ok(pair[1])) {
            (Some(b), Some(a)) => {
                before.push(b);
                after.push(a);
            }
            _ => return Err(cx.unsupported(format!("paddings {pair:?}"))),
        }
    }
    Ok((before, after))
}

fn block_size(cx: &OpCtx, o: Option<&Table<'_>>) -> Result<usize> {
    let b: i32 = match o {
        Some(o) => o.scalar(0, 0i32).context(|| cx.label())?,
        None => 0,
    };
    usize::try_from(b)
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| cx.invalid(format!("block_size is {b}")))
}

/// An axis option or input resolved against `rank` (negative counts from
/// the end, as TFLM does).
fn resolve_axis(cx: &OpCtx, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank)
        .ok_or_else(|| {
            cx.invalid(format!(
                "axis {axis} is out of range for an input of rank {rank}"
            ))
        })
}

/// Reads SPLIT, SPLIT_V or UNPACK: see [`split`].
pub(super) fn read_split(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let (kind, inputs) = split(r.cx, r.code, r.t, &r.inputs, r.outputs, r.tensors)?;
    r.inputs = inputs;
    Ok(kind)
}

/// Reads SPLIT, SPLIT_V or UNPACK (`outputs` outputs) into an
/// [`OpKind::Split`], with the op's inputs reordered so the activation is
/// input 0 (SPLIT's file order is `[axis, input]`). TFLM's prepare checks
/// are made here: a constant axis in range, sizes that add up to the axis
/// (one SPLIT_V size may be -1, the rest), one output per part.
fn split(
    cx: &OpCtx,
    c: i32,
    t: &Table<'_>,
    inputs: &[Option<TensorId>],
    outputs: usize,
    tensors: &[Tensor],
) -> Result<(OpKind, Vec<Option<TensorId>>)> {
    // A scalar option of the options table `ty` at `slot`.
    let option = |ty: u8, slot: usize| -> Result<Option<i32>> {
        match options(cx, t, ty)? {
            Some(o) => Ok(Some(o.scalar(slot, 0i32).context(|| cx.label())?)),
            None => Ok(None),
        }
    };
    let count_matches = |n: Option<i32>, what: &str| -> Result<()> {
        match n {
            Some(n) if usize::try_from(n).ok() != Some(outputs) => {
                Err(cx.invalid(format!("{what} is {n}, but the op has {outputs} outputs")))
            }
            _ => Ok(()),
        }
    };
    if outputs == 0 {
        return Err(cx.invalid("has no outputs"));
    }
    let scalar_axis = |k: usize| -> Result<i64> {
        let a = ints(cx, inputs, tensors, k, "axis")?;
        match a[..] {
            [a] => Ok(a),
            _ => Err(cx.invalid(format!(
                "the axis (input {k}) holds {} values, not one",
                a.len()
            ))),
        }
    };
    let (kind, reordered) = match c {
        code::SPLIT => {
            count_matches(option(opts::SPLIT, 0)?, "num_splits")?;
            inputs_exactly(cx, inputs, 2..=2)?;
            let dims = &tensor(cx, inputs, tensors, 1)?.shape;
            let axis = resolve_axis(cx, scalar_axis(0)?, dims.len())?;
            if dims[axis] % outputs != 0 {
                return Err(cx.invalid(format!(
                    "axis {axis} of the input {dims:?} does not split into {outputs} equal parts"
                )));
            }
            let kind = OpKind::Split {
                axis,
                sizes: vec![dims[axis] / outputs; outputs],
                squeeze: false,
                name: "SPLIT",
            };
            (kind, vec![inputs[1], inputs[0]])
        }
        code::SPLIT_V => {
            count_matches(option(opts::SPLIT_V, 0)?, "num_splits")?;
            inputs_exactly(cx, inputs, 3..=3)?;
            let dims = &tensor(cx, inputs, tensors, 0)?.shape;
            let axis = resolve_axis(cx, scalar_axis(2)?, dims.len())?;
            let raw = ints(cx, inputs, tensors, 1, "size_splits")?;
            if raw.len() != outputs {
                return Err(cx.invalid(format!("{} size_splits for {outputs} outputs", raw.len())));
            }
            let inferred = raw.iter().filter(|&&s| s == -1).count();
            let known: i64 = raw
                .iter()
                .filter(|&&s| s != -1)
                .try_fold(0i64, |a, &s| (s >= 0).then(|| a.checked_add(s)).flatten())
                .ok_or_else(|| cx.invalid(format!("size_splits {raw:?} has a negative size")))?;
            let n = dims[axis] as i64;
            let rest = n - known;
            if inferred > 1 || rest < 0 || (inferred == 0 && rest != 0) {
                return Err(cx.invalid(format!(
                    "size_splits {raw:?} do not add up to the input's {n} elements along axis {axis}"
                )));
            }
            let sizes = raw
                .iter()
                .map(|&s| if s == -1 { rest as usize } else { s as usize })
                .collect();
            let kind = OpKind::Split {
                axis,
                sizes,
                squeeze: false,
                name: "SPLIT_V",
            };
            (kind, inputs.to_vec())
        }
        _ => {
            let o = options(cx, t, opts::UNPACK)?;
            let (num, axis) = match &o {
                Some(o) => (
                    Some(o.scalar(0, 0i32).context(|| cx.label())?),
                    o.scalar(1, 0i32).context(|| cx.label())?,
                ),
                None => (None, 0),
            };
            count_matches(num, "num")?;
            inputs_exactly(cx, inputs, 1..=1)?;
            let dims = &tensor(cx, inputs, tensors, 0)?.shape;
            let axis = resolve_axis(cx, axis.into(), dims.len())?;
            if dims[axis] != outputs {
                return Err(cx.invalid(format!(
                    "axis {axis} of the input {dims:?} has {} elements, but the op has {outputs} outputs",
                    dims[axis]
                )));
            }
            let kind = OpKind::Split {
                axis,
                sizes: vec![1; outputs],
                squeeze: true,
                name: "UNPACK",
            };
            (kind, inputs.to_vec())
        }
    };
    Ok((kind, reordered))
}

/// Reads one of the family's operators into an [`OpKind::Move`].
pub(super) fn read(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    move_op(r.cx, r.code, r.t, &r.inputs, r.tensors)
}

fn move_op(
    cx: &OpCtx,
    c: i32,
    t: &Table<'_>,
    inputs: &[Option<TensorId>],
    tensors: &[Tensor],
) -> Result<OpKind> {
    let x = tensor(cx, inputs, tensors, 0)?;
    let in_dims = x.shape.clone();
    let rank = in_dims.len();
    let (func, name) = match c {
        code::PAD | code::PADV2 => {
            let v2 = c == code::PADV2;
            options(cx, t, if v2 { opts::PADV2 } else { opts::PAD })?;
            inputs_exactly(cx, inputs, 2..=if v2 { 3 } else { 2 })?;
            let (before, after) = paddings(cx, inputs, tensors, rank)?;
            let value = match inputs.get(2) {
                None => PadValue::Zero,
                Some(_) => {
                    let k = tensor(cx, inputs, tensors, 2)?;
                    let data = k
                        .data
                        .as_deref()
                        .filter(|d| k.elements() == 1 && d.len() == k.dtype.size())
                        .ok_or_else(|| cx.unsupported("the pad value must be a constant scalar"))?;
                    match (k.dtype, &k.quant) {
                        (DType::I8, Some(q)) if q.scales.len() == 1 => PadValue::Quantized {
                            value: data[0] as i8,
                            scale: q.scales[0],
                            zero_point: q.zero_points[0],
                        },
                        (DType::F32, _) => PadValue::Float(f32::from_le_bytes([
                            data[0], data[1], data[2], data[3],
                        ])),
                        (other, _) => {
                            return Err(cx.unsupported(format!(
                                "a pad value of {other} without per-tensor quantization"
                            )))
                        }
                    }
                }
            };
            (
                MoveFn::Pad {
                    before,
                    after,
                    value,
                },
                if v2 { "PADV2" } else { "PAD" },
            )
        }
        code::MIRROR_PAD => {
            let o = options(cx, t, opts::MIRROR_PAD)?;
            inputs_exactly(cx, inputs, 2..=2)?;
            let mode: i8 = match &o {
                Some(o) => o.scalar(0, 0i8).context(|| cx.label())?,
                None => 0,
            };
            let mode = match mode {
                0 => MirrorMode::Reflect,
                1 => MirrorMode::Symmetric,
                other => return Err(cx.unsupported(format!("mirror pad mode {other}"))),
            };
            let (before, after) = paddings(cx, inputs, tensors, rank)?;
            (
                MoveFn::MirrorPad {
                    before,
                    after,
                    mode,
                },
                "MIRROR_PAD",
            )
        }
        code::TRANSPOSE => {
            options(cx, t, opts::TRANSPOSE)?;
            inputs_exactly(cx, inputs, 2..=2)?;
            let p = ints(cx, inputs, tensors, 1, "permutation")?;
            let perm = p
                .iter()
                .map(|&a| usize::try_from(a).ok().filter(|&a| a < rank))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| cx.invalid(format!("permutation {p:?} of a rank-{rank} input")))?;
            (MoveFn::Transpose { perm }, "TRANSPOSE")
        }
        code::SLICE => {
            options(cx, t, opts::SLICE)?;
            inputs_exactly(cx, inputs, 3..=3)?;
            let begin = ints(cx, inputs, tensors, 1, "begin")?;
            let size = ints(cx, inputs, tensors, 2, "size")?;
            if begin.len() != rank || size.len() != rank {
                return Err(cx.invalid(format!(
                    "begin {begin:?} and size {size:?} for an input of rank {rank}"
                )));
            }
            let mut count = Vec::with_capacity(rank);
            for d in 0..rank {
                let n = in_dims[d] as i64;
                let (b, s) = (begin[d], size[d]);
                let s = if s == -1 { n - b } else { s };
                if b < 0 || s < 0 || b + s > n {
                    return Err(cx.invalid(format!(
                        "axis {d} (size {n}): begin {b}, size {} leave the input",
                        size[d]
                    )));
                }
                count.push(s as usize);
            }
            let start = begin.iter().map(|&b| b as usize).collect();
            (
                MoveFn::Slice {
                    start,
                    step: vec![1; rank],
                    count,
                },
                "SLICE",
            )
        }
        code::STRIDED_SLICE => {
            let o = options(cx, t, opts::STRIDED_SLICE)?;
            inputs_exactly(cx, inputs, 4..=4)?;
            let int = |slot: usize| -> Result<i32> {
                match &o {
                    Some(o) => o.scalar(slot, 0i32).context(|| cx.label()),
                    None => Ok(0),
                }
            };
            let (begin_mask, end_mask) = (int(0)?, int(1)?);
            let (ellipsis, new_axis, shrink) = (int(2)?, int(3)?, int(4)?);
            let offset = match &o {
                Some(o) => o.scalar(5, false).context(|| cx.label())?,
                None => false,
            };
            if ellipsis != 0 || new_axis != 0 {
                return Err(cx.unsupported(format!(
                    "ellipsis_mask {ellipsis} / new_axis_mask {new_axis}"
                )));
            }
            let begin = ints(cx, inputs, tensors, 1, "begin")?;
            let end = ints(cx, inputs, tensors, 2, "end")?;
            let strides = ints(cx, inputs, tensors, 3, "strides")?;
            if begin.len() != rank || end.len() != rank || strides.len() != rank || rank > 5 {
                return Err(cx.unsupported(format!(
                    "begin, end and strides of {} values for an input of rank {rank}",
                    begin.len()
                )));
            }
            let (mut start, mut step, mut count) = (vec![], vec![], vec![]);
            for d in 0..rank {
                let n = in_dims[d] as i64;
                let stride = strides[d];
                if stride == 0 {
                    return Err(cx.invalid(format!("stride 0 on axis {d}")));
                }
                let bit = |m: i32| m & (1 << d) != 0;
                // TFLM's StridedSliceStartForAxis / StridedSliceEndForAxis.
                let mut s = begin[d];
                if s < 0 {
                    s += n;
                }
                s = if stride > 0 {
                    s.clamp(0, n)
                } else {
                    s.clamp(-1, n - 1)
                };
                if bit(begin_mask) {
                    s = if stride > 0 { 0 } else { n - 1 };
                }
                let e = if bit(shrink) {
                    if s >= n {
                        s
                    } else {
                        s + 1
                    }
                } else {
                    let mut e = end[d];
                    if offset {
                        e += s;
                    }
                    if e < 0 {
                        e += n;
                    }
                    e = if stride > 0 {
                        e.clamp(0, n)
                    } else {
                        e.clamp(-1, n - 1)
                    };
                    if bit(end_mask) {
                        e = if stride > 0 { n } else { -1 };
                    }
                    e
                };
                let k = if stride > 0 {
                    if e > s {
                        (e - s + stride - 1) / stride
                    } else {
                        0
                    }
                } else if s > e {
                    (s - e + (-stride) - 1) / (-stride)
                } else {
                    0
                };
                start.push(if k > 0 { s as usize } else { 0 });
                step.push(stride);
                count.push(k as usize);
            }
            (MoveFn::Slice { start, step, count }, "STRIDED_SLICE")
        }
        code::SPACE_TO_DEPTH => {
            let o = options(cx, t, opts::SPACE_TO_DEPTH)?;
            inputs_exactly(cx, inputs, 1..=1)?;
            let block = block_size(cx, o.as_ref())?;
            (MoveFn::SpaceToDepth { block }, "SPACE_TO_DEPTH")
        }
        code::DEPTH_TO_SPACE => {
            let o = options(cx, t, opts::DEPTH_TO_SPACE)?;
            inputs_exactly(cx, inputs, 1..=1)?;
            let block = block_size(cx, o.as_ref())?;
            (MoveFn::DepthToSpace { block, crd: false }, "DEPTH_TO_SPACE")
        }
        code::RESIZE_NEAREST_NEIGHBOR | code::RESIZE_BILINEAR => {
            let bilinear = c == code::RESIZE_BILINEAR;
            let o = options(
                cx,
                t,
                if bilinear {
                    opts::RESIZE_BILINEAR
                } else {
                    opts::RESIZE_NEAREST_NEIGHBOR
                },
            )?;
            inputs_exactly(cx, inputs, 2..=2)?;
            // ResizeBilinearOptions: new_height, new_width (deprecated),
            // align_corners, half_pixel_centers.
            let first = if bilinear { 2 } else { 0 };
            let flag = |slot: usize| -> Result<bool> {
                match &o {
                    Some(o) => o.scalar(slot, false).context(|| cx.label()),
                    None => Ok(false),
                }
            };
            let (align_corners, half_pixel_centers) = (flag(first)?, flag(first + 1)?);
            if align_corners && half_pixel_centers {
                return Err(cx.invalid("align_corners and half_pixel_centers are both set"));
            }
            let size = ints(cx, inputs, tensors, 1, "size")?;
            let &[1, ih, iw, _] = in_dims.as_slice() else {
                return Err(cx.unsupported(format!(
                    "input shape {in_dims:?}; [1, height, width, channels] is required"
                )));
            };
            let (oh, ow) = match size[..] {
                [h, w] if h > 0 && w > 0 && h <= u16::MAX as i64 && w <= u16::MAX as i64 => {
                    (h as usize, w as usize)
                }
                _ => return Err(cx.invalid(format!("size {size:?}"))),
            };
            if bilinear {
                (
                    MoveFn::ResizeBilinear {
                        align_corners,
                        half_pixel_centers,
                    },
                    "RESIZE_BILINEAR",
                )
            } else {
                (
                    MoveFn::ResizeNearest {
                        rows: tflite_nearest(ih, oh, align_corners, half_pixel_centers),
                        cols: tflite_nearest(iw, ow, align_corners, half_pixel_centers),
                    },
                    "RESIZE_NEAREST_NEIGHBOR",
                )
            }
        }
        other => {
            return Err(cx.invalid(format!("operator code {other} is not a movement op")));
        }
    };
    Ok(OpKind::Move { func, name })
}
