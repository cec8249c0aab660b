//! The movement family's ONNX operators (see [`crate::ops::movement`]):
//! `Pad` (constant, reflect, edge), `Transpose`, `Slice` of an activation
//! (constant starts, ends, axes, steps), `Resize` (nearest with any
//! coordinate transformation and rounding mode; linear with the modes
//! TFLite's RESIZE_BILINEAR has), `DepthToSpace` (DCR, CRD) and
//! `SpaceToDepth`. ONNX axes are mapped to the graph's NHWC ones.

use super::proto::TensorData;
use super::{Act, ActLayout, Converter, Ctx, Val};
use crate::error::Result;
use crate::frontend::fold::{slice_axis, SliceRules};
use crate::ir::{MirrorMode, MoveFn, OpKind, PadValue};

/// The graph axis of ONNX axis `a` of an activation.
fn ir_axis(x: &Act, a: usize) -> Option<usize> {
    match (x.layout, x.dims.len()) {
        (ActLayout::Nchw, n) => super::nchw_graph_axis(n, a),
        (ActLayout::Plain, n) if a < n => Some(a),
        _ => None,
    }
}

/// The graph dimensions of ONNX dimensions in `layout`.
fn ir_dims(layout: ActLayout, dims: &[usize]) -> Vec<usize> {
    match (layout, dims) {
        (ActLayout::Nchw, &[n, c, h, w]) => vec![n, h, w, c],
        (ActLayout::Nchw, &[n, c, l]) => vec![n, 1, l, c],
        _ => dims.to_vec(),
    }
}

fn axis(cx: &Ctx<'_>, a: i64, rank: usize) -> Result<usize> {
    let k = if a < 0 { a + rank as i64 } else { a };
    usize::try_from(k)
        .ok()
        .filter(|&k| k < rank)
        .ok_or_else(|| cx.invalid(format!("axis {a} of a rank-{rank} input")))
}

impl Converter {
    /// An activation the family can read: NCHW, or rank 2.
    fn movement_input(&self, cx: &Ctx<'_>) -> Result<Act> {
        let x = self.act(cx, 0)?;
        if ir_axis(&x, 0).is_none() {
            return Err(cx.unsupported(format!(
                "input of shape {:?} in a layout the graph does not keep (flattened C x H x W)",
                x.dims
            )));
        }
        Ok(x)
    }

    fn ints_input(&self, cx: &Ctx<'_>, i: usize, what: &str) -> Result<Option<Vec<i64>>> {
        match self.optional_input(cx, i)? {
            None => Ok(None),
            Some(Val::Const(k)) => k
                .ints()
                .map(Some)
                .ok_or_else(|| cx.invalid(format!("the {what} are not integers"))),
            Some(Val::Act(_)) => Err(cx.unsupported(format!("computed {what}"))),
        }
    }

    fn push_move(
        &mut self,
        cx: &Ctx<'_>,
        x: &Act,
        func: MoveFn,
        name: &'static str,
        out_dims: Vec<usize>,
    ) -> Result<()> {
        if out_dims.first() != Some(&1) {
            return Err(cx.unsupported(format!(
                "an output of shape {out_dims:?}; plans run batch 1"
            )));
        }
        if out_dims.contains(&0) {
            return Err(cx.unsupported(format!("an empty output {out_dims:?}")));
        }
        let out_name = self.output_name(cx)?;
        let y = self.new_tensor(out_name, ir_dims(x.layout, &out_dims));
        self.push_op(OpKind::Move { func, name }, vec![Some(x.id)], y);
        self.define_act(cx, out_name, y, out_dims, x.layout)
    }

    pub(super) fn pad(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["mode"])?;
        let x = self.movement_input(cx)?;
        let rank = x.dims.len();
        let pads = self
            .ints_input(cx, 1, "pads")?
            .ok_or_else(|| cx.invalid("missing pads"))?;
        let axes: Vec<usize> = match self.ints_input(cx, 3, "axes")? {
            None => (0..rank).collect(),
            Some(a) => a
                .iter()
                .map(|&a| axis(cx, a, rank))
                .collect::<Result<_>>()?,
        };
        if pads.len() != 2 * axes.len() {
            return Err(cx.invalid(format!("{} pads for {} axes", pads.len(), axes.len())));
        }
        // Indexed by graph axis (an NCL map has one more than its ONNX rank).
        let graph_rank = self.tensors[x.id].shape.len();
        let (mut before, mut after) = (vec![0; graph_rank], vec![0; graph_rank]);
        let mut out = x.dims.clone();
        for (k, &a) in axes.iter().enumerate() {
            let (b, e) = (pads[k], pads[k + axes.len()]);
            let ok = |v: i64| usize::try_from(v).ok().filter(|&v| v <= u16::MAX as usize);
            let (Some(b), Some(e)) = (ok(b), ok(e)) else {
                return Err(cx.unsupported(format!("pads {pads:?}: negative pads (cropping)")));
            };
            let g = ir_axis(&x, a).ok_or_else(|| cx.unsupported("the input's layout"))?;
            before[g] = b;
            after[g] = e;
            out[a] += b + e;
        }
        let mode = cx.attr_string("mode", "constant")?;
        let func = match mode.as_str() {
            "constant" => {
                let value = match self.optional_input(cx, 2)? {
                    None => PadValue::Zero,
                    Some(Val::Const(k)) => match k.f32s()[..] {
                        [v] => PadValue::Float(v),
                        _ => return Err(cx.invalid("constant_value is not a scalar")),
                    },
                    Some(Val::Act(_)) => return Err(cx.unsupported("a computed constant_value")),
                };
                MoveFn::Pad {
                    before,
                    after,
                    value,
                }
            }
            "reflect" | "edge" => MoveFn::MirrorPad {
                before,
                after,
                mode: if mode == "edge" {
                    MirrorMode::Edge
                } else {
                    MirrorMode::Reflect
                },
            },
            other => return Err(cx.unsupported(format!("mode '{other}'"))),
        };
        let name = match func {
            MoveFn::MirrorPad { .. } => "MIRROR_PAD",
            _ => "PAD",
        };
        self.push_move(cx, &x, func, name, out)
    }

    pub(super) fn transpose(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["perm"])?;
        if let Val::Const(k) = self.input(cx, 0)? {
            let k = k.clone();
            return self.transpose_const(cx, k);
        }
        let x = self.movement_input(cx)?;
        let rank = x.dims.len();
        if x.layout == ActLayout::Nchw && rank != 4 {
            return Err(cx.unsupported(format!(
                "Transpose of the 1-D feature map {:?} (NCL)",
                x.dims
            )));
        }
        let p: Vec<usize> = match cx.attr_ints("perm")? {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| axis(cx, a, rank))
                .collect::<Result<_>>()?,
        };
        let out: Vec<usize> = p.iter().map(|&a| x.dims[a]).collect();
        // Graph axis j is ONNX axis q[j]; the output's graph axis j reads
        // the input's ONNX axis p[q[j]], its graph axis qinv[p[q[j]]].
        let (q, qinv): (Vec<usize>, Vec<usize>) = match x.layout {
            ActLayout::Nchw => (vec![0, 2, 3, 1], vec![0, 3, 1, 2]),
            _ => ((0..rank).collect(), (0..rank).collect()),
        };
        if p.len() != rank {
            return Err(cx.invalid(format!("perm {p:?} of a rank-{rank} input")));
        }
        let perm = q.iter().map(|&j| qinv[p[j]]).collect();
        self.push_move(cx, &x, MoveFn::Transpose { perm }, "TRANSPOSE", out)
    }

    /// Transpose of a constant (old PyTorch exports write a Linear without
    /// bias as `MatMul(x, Transpose(W))`): the constant, transposed now.
    fn transpose_const(&mut self, cx: &Ctx<'_>, k: super::Const) -> Result<()> {
        if k.q.is_some() {
            return Err(cx.unsupported("Transpose of a quantized (QDQ) constant"));
        }
        let rank = k.dims.len();
        let perm: Vec<usize> = match cx.attr_ints("perm")? {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| axis(cx, a, rank))
                .collect::<Result<_>>()?,
        };
        let mut seen = vec![false; rank];
        if perm.len() != rank || perm.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
            return Err(cx.invalid(format!("perm {perm:?} of a rank-{rank} constant")));
        }
        let dims: Vec<usize> = perm.iter().map(|&a| k.dims[a]).collect();
        // Element `i` of the output reads the input at the permuted index.
        let mut in_strides = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            in_strides[d] = in_strides[d + 1] * k.dims[d + 1];
        }
        let n: usize = dims.iter().product();
        let source = |i: usize| -> usize {
            let (mut rest, mut at) = (i, 0);
            for d in (0..rank).rev() {
                at += (rest % dims[d]) * in_strides[perm[d]];
                rest /= dims[d];
            }
            at
        };
        let short = || {
            cx.invalid(format!(
                "a constant of shape {:?} with fewer values",
                k.dims
            ))
        };
        let data = match &k.data {
            TensorData::F32(v) => TensorData::F32(
                (0..n)
                    .map(|i| v.get(source(i)).copied())
                    .collect::<Option<_>>()
                    .ok_or_else(short)?,
            ),
            TensorData::Int(v) => TensorData::Int(
                (0..n)
                    .map(|i| v.get(source(i)).copied())
                    .collect::<Option<_>>()
                    .ok_or_else(short)?,
            ),
        };
        let out_name = self.output_name(cx)?;
        self.define(
            cx,
            out_name,
            Val::Const(super::Const {
                dims,
                data,
                elem: k.elem,
                q: None,
            }),
        )
    }

    /// `Slice` of an activation (of constants it is folded).
    pub(super) fn slice(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[])?;
        let x = self.movement_input(cx)?;
        let rank = x.dims.len();
        let starts = self
            .ints_input(cx, 1, "starts")?
            .ok_or_else(|| cx.invalid("missing starts"))?;
        let ends = self
            .ints_input(cx, 2, "ends")?
            .ok_or_else(|| cx.invalid("missing ends"))?;
        let axes: Vec<usize> = match self.ints_input(cx, 3, "axes")? {
            None => (0..starts.len()).collect(),
            Some(a) => a
                .iter()
                .map(|&a| axis(cx, a, rank))
                .collect::<Result<_>>()?,
        };
        let steps = self
            .ints_input(cx, 4, "steps")?
            .unwrap_or_else(|| vec![1; axes.len()]);
        if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
            return Err(cx.invalid("starts, ends, axes and steps differ in length"));
        }
        // Indexed by graph axis (an NCL map has one more than its ONNX rank).
        let mut count = self.tensors[x.id].shape.clone();
        let mut start = vec![0; count.len()];
        let mut step = vec![1; count.len()];
        let mut out = x.dims.clone();
        for (k, &a) in axes.iter().enumerate() {
            let idx = slice_axis(
                x.dims[a],
                Some(starts[k]),
                Some(ends[k]),
                steps[k],
                SliceRules::Onnx,
            )
            .map_err(|m| cx.invalid(format!("axis {a}: {m}")))?;
            let g = ir_axis(&x, a).ok_or_else(|| cx.unsupported("the input's layout"))?;
            start[g] = idx.first().copied().unwrap_or(0);
            step[g] = steps[k];
            count[g] = idx.len();
            out[a] = idx.len();
        }
        self.push_move(cx, &x, MoveFn::Slice { start, step, count }, "SLICE", out)
    }

    pub(super) fn depth_space(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let to_space = cx.node.op_type == "DepthToSpace";
        cx.only_attrs(if to_space {
            &["blocksize", "mode"]
        } else {
            &["blocksize"]
        })?;
        let x = self.map_input(cx, 0)?;
        let (&[1, c, h, w], ActLayout::Nchw) = (x.dims.as_slice(), x.layout) else {
            return Err(cx.unsupported(format!("input shape {:?}: NCHW is required", x.dims)));
        };
        let b = usize::try_from(cx.attr_int("blocksize", 0)?)
            .ok()
            .filter(|b| (1..=255).contains(b))
            .ok_or_else(|| cx.invalid("blocksize is missing or out of range"))?;
        let (func, name, out) = if to_space {
            let crd = match cx.attr_string("mode", "DCR")?.as_str() {
                "DCR" => false,
                "CRD" => true,
                other => return Err(cx.unsupported(format!("mode '{other}'"))),
            };
            if c % (b * b) != 0 {
                return Err(cx.invalid(format!("{c} channels for block {b}")));
            }
            (
                MoveFn::DepthToSpace { block: b, crd },
                "DEPTH_TO_SPACE",
                vec![1, c / (b * b), h * b, w * b],
            )
        } else {
            if h % b != 0 || w % b != 0 {
                return Err(cx.invalid(format!("{h}x{w} for block {b}")));
            }
            (
                MoveFn::SpaceToDepth { block: b },
                "SPACE_TO_DEPTH",
                vec![1, c * b * b, h / b, w / b],
            )
        };
        self.push_move(cx, &x, func, name, out)
    }

    pub(super) fn resize(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&[
            "mode",
            "coordinate_transformation_mode",
            "nearest_mode",
            "cubic_coeff_a",
            "exclude_outside",
            "extrapolation_value",
        ])?;
        if cx.attr_int("exclude_outside", 0)? != 0 {
            return Err(cx.unsupported("exclude_outside = 1"));
        }
        let mode = cx.attr_string("mode", "nearest")?;
        if self.opset < 11 {
            // Resize-10: inputs X, scales; Upsample's arithmetic.
            let scales = self.scales_input(cx, 1)?;
            return self.resize_to(cx, Some(scales), None, "asymmetric", &mode, "floor");
        }
        // Inputs: X, roi, scales, sizes (opset 11+).
        let scales = match self.optional_input(cx, 2)? {
            Some(Val::Const(k)) if k.len() > 0 => Some(k.f32s()),
            Some(Val::Act(_)) => return Err(cx.unsupported("computed scales")),
            _ => None,
        };
        let sizes = self.ints_input(cx, 3, "sizes")?.filter(|s| !s.is_empty());
        let ctm = cx.attr_string("coordinate_transformation_mode", "half_pixel")?;
        let nearest = cx.attr_string("nearest_mode", "round_prefer_floor")?;
        self.resize_to(cx, scales, sizes, &ctm, &mode, &nearest)
    }

    /// Upsample (opsets 7 to 9; deprecated by Resize, still in older
    /// exports): `scales` as input 1 or (opset 7) an attribute, `mode`
    /// nearest (with floor) or linear, asymmetric coordinates (ONNX
    /// Runtime's Upsample).
    pub(super) fn upsample(&mut self, cx: &Ctx<'_>) -> Result<()> {
        cx.only_attrs(&["mode", "scales"])?;
        let scales = match cx.node.inputs.get(1).filter(|n| !n.is_empty()) {
            Some(_) => self.scales_input(cx, 1)?,
            None => cx
                .attr_floats("scales")?
                .ok_or_else(|| cx.invalid("no scales (input 1 or attribute)"))?,
        };
        if scales.iter().any(|&s| s < 1.0) {
            return Err(cx.unsupported(format!(
                "scales {scales:?} below 1 (Upsample only enlarges)"
            )));
        }
        let mode = match cx.attr_string("mode", "nearest")?.as_str() {
            "bilinear" => "linear".to_string(),
            other => other.to_string(),
        };
        self.resize_to(cx, Some(scales), None, "asymmetric", &mode, "floor")
    }

    /// A constant float scales input.
    fn scales_input(&self, cx: &Ctx<'_>, i: usize) -> Result<Vec<f32>> {
        match self.input(cx, i)? {
            Val::Const(k) if k.len() > 0 => Ok(k.f32s()),
            Val::Const(_) => Err(cx.invalid("empty scales")),
            Val::Act(_) => Err(cx.unsupported("computed scales")),
        }
    }

    /// A resize of input 0 to the `sizes` (N, C, H, W), else by the
    /// `scales`, with ONNX's coordinate mapping `ctm`, `mode` nearest (with
    /// `nearest` rounding) or linear.
    fn resize_to(
        &mut self,
        cx: &Ctx<'_>,
        scales: Option<Vec<f32>>,
        sizes: Option<Vec<i64>>,
        ctm: &str,
        mode: &str,
        nearest: &str,
    ) -> Result<()> {
        let x = self.map_input(cx, 0)?;
        let (&[1, c, ih, iw], ActLayout::Nchw) = (x.dims.as_slice(), x.layout) else {
            return Err(cx.unsupported(format!("input shape {:?}: NCHW is required", x.dims)));
        };
        let (oh, ow, sh, sw) = match (&scales, &sizes) {
            (_, Some(s)) => match s[..] {
                [1, n, h, w] if n == c as i64 && h > 0 && w > 0 => {
                    let (h, w) = (h as usize, w as usize);
                    (h, w, h as f32 / ih as f32, w as f32 / iw as f32)
                }
                _ => return Err(cx.unsupported(format!("sizes {s:?}: only H and W may change"))),
            },
            (Some(s), None) => match s[..] {
                [a, b, h, w] if a == 1.0 && b == 1.0 && h > 0.0 && w > 0.0 => (
                    (ih as f32 * h).floor() as usize,
                    (iw as f32 * w).floor() as usize,
                    h,
                    w,
                ),
                _ => return Err(cx.unsupported(format!("scales {s:?}: only H and W may change"))),
            },
            (None, None) => return Err(cx.invalid("neither scales nor sizes are given")),
        };
        if oh == 0 || ow == 0 || oh > u16::MAX as usize || ow > u16::MAX as usize {
            return Err(cx.unsupported(format!("an output of {oh}x{ow}")));
        }
        let out = vec![1, c, oh, ow];
        match mode {
            "nearest" => {
                let rows = onnx_nearest(cx, ctm, nearest, ih, oh, sh)?;
                let cols = onnx_nearest(cx, ctm, nearest, iw, ow, sw)?;
                self.push_move(
                    cx,
                    &x,
                    MoveFn::ResizeNearest { rows, cols },
                    "RESIZE_NEAREST_NEIGHBOR",
                    out,
                )
            }
            "linear" => {
                // TFLite's bilinear uses in/out as its scale: the given
                // scales must be exactly out/in.
                if (oh as f32 / ih as f32) != sh || (ow as f32 / iw as f32) != sw {
                    return Err(cx.unsupported(format!(
                        "scales {sh} x {sw} that do not give whole output sizes exactly"
                    )));
                }
                let (align_corners, half_pixel_centers) = match ctm {
                    "asymmetric" => (false, false),
                    "align_corners" => (true, false),
                    "half_pixel" => (false, true),
                    "pytorch_half_pixel" if oh > 1 && ow > 1 => (false, true),
                    other => {
                        return Err(cx.unsupported(format!(
                            "linear resize with coordinate_transformation_mode '{other}' \
                             (TFLite's RESIZE_BILINEAR has asymmetric, align_corners and half_pixel)"
                        )))
                    }
                };
                self.push_move(
                    cx,
                    &x,
                    MoveFn::ResizeBilinear {
                        align_corners,
                        half_pixel_centers,
                    },
                    "RESIZE_BILINEAR",
                    out,
                )
            }
            other => Err(cx.unsupported(format!("mode '{other}'"))),
        }
    }
}

/// ONNX Resize `nearest`: the input index of each output position of one
/// axis (`scale`: output over input size), in `f32` as ONNX Runtime.
fn onnx_nearest(
    cx: &Ctx<'_>,
    ctm: &str,
    nearest: &str,
    in_size: usize,
    out_size: usize,
    scale: f32,
) -> Result<Vec<usize>> {
    let mut v = Vec::with_capacity(out_size);
    for o in 0..out_size {
        let x = o as f32;
        let orig = match ctm {
            "half_pixel" => (x + 0.5) / scale - 0.5,
            "pytorch_half_pixel" => {
                if out_size > 1 {
                    (x + 0.5) / scale - 0.5
                } else {
                    0.0
                }
            }
            "align_corners" => {
                if out_size == 1 {
                    0.0
                } else {
                    x * (in_size as f32 - 1.0) / (out_size as f32 - 1.0)
                }
            }
            "asymmetric" => x / scale,
            "tf_half_pixel_for_nn" => (x + 0.5) / scale,
            other => {
                return Err(cx.unsupported(format!("coordinate_transformation_mode '{other}'")))
            }
        };
        let i = match nearest {
            "round_prefer_floor" => {
                if orig == orig.floor() + 0.5 {
                    orig.floor()
                } else {
                    orig.round()
                }
            }
            "round_prefer_ceil" => {
                if orig == orig.floor() + 0.5 {
                    orig.ceil()
                } else {
                    orig.round()
                }
            }
            "floor" => orig.floor(),
            "ceil" => orig.ceil(),
            other => return Err(cx.unsupported(format!("nearest_mode '{other}'"))),
        };
        v.push((i as i64).clamp(0, in_size as i64 - 1) as usize);
    }
    Ok(v)
}
