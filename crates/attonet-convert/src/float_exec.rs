//! The float reference executor: runs an [`ir::Graph`](crate::ir::Graph) in
//! `f32`, NHWC, with TFLite's op semantics (SAME padding split with the
//! smaller half on top/left; average pooling divides by the number of
//! in-bounds elements; fused activations clamp the output).
//!
//! It is what post-training quantization calibrates with (every activation's
//! value for a sample) and what the per-layer SQNR of an int8 model is
//! measured against. Constants may be float32, or integers with quantization
//! parameters (dequantized once when the executor is built), so a graph
//! read from a QDQ ONNX model runs too. Plain loops, batch 1, no unsafe.

use crate::error::{ConvertError, Result};
use crate::ir::{
    Activation, Axis, DType, Graph, MoveFn, Op, OpKind, PadValue, Padding, Tensor, TensorId,
};

/// Runs a float graph.
#[derive(Debug, Clone)]
pub struct FloatExecutor<'g> {
    graph: &'g Graph,
    consts: Vec<Option<Vec<f32>>>,
}

/// The value of a constant tensor as `f32`: float32 as is, integers
/// dequantized with their quantization parameters (or taken as they are
/// when they have none).
pub fn constant_f32(t: &Tensor) -> Result<Vec<f32>> {
    let data = t
        .data
        .as_ref()
        .ok_or_else(|| ConvertError::Graph(format!("tensor '{}' is not a constant", t.name)))?;
    let n = t.elements();
    let size = t.dtype.size();
    if size == 0 || data.len() != n.saturating_mul(size) {
        return Err(ConvertError::Graph(format!(
            "constant '{}' ({}) holds {} bytes for shape {:?}",
            t.name,
            t.dtype,
            data.len(),
            t.shape
        )));
    }
    let raw: Vec<f64> = match t.dtype {
        DType::F32 => {
            return Ok(data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        }
        DType::I8 => data.iter().map(|&b| b as i8 as f64).collect(),
        DType::U8 => data.iter().map(|&b| b as f64).collect(),
        DType::I16 => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
            .collect(),
        DType::I32 => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        DType::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64)
            .collect(),
        other => {
            return Err(ConvertError::Graph(format!(
                "constant '{}' is {other}, which the float executor does not read",
                t.name
            )))
        }
    };
    let Some(q) = &t.quant else {
        return Ok(raw.into_iter().map(|v| v as f32).collect());
    };
    if q.scales.is_empty() || q.zero_points.len() != q.scales.len() {
        return Err(ConvertError::Graph(format!(
            "constant '{}' has {} scales and {} zero points",
            t.name,
            q.scales.len(),
            q.zero_points.len()
        )));
    }
    if q.scales.len() == 1 {
        let (s, z) = (q.scales[0] as f64, q.zero_points[0] as f64);
        return Ok(raw.into_iter().map(|v| ((v - z) * s) as f32).collect());
    }
    // Per channel along `axis`.
    let dim = t.shape.get(q.axis).copied().unwrap_or(0);
    if dim != q.scales.len() {
        return Err(ConvertError::Graph(format!(
            "constant '{}' has {} scales along axis {} of shape {:?}",
            t.name,
            q.scales.len(),
            q.axis,
            t.shape
        )));
    }
    let inner: usize = t.shape[q.axis + 1..].iter().product();
    Ok(raw
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / inner.max(1)) % dim;
            ((v - q.zero_points[c] as f64) * q.scales[c] as f64) as f32
        })
        .collect())
}

fn op_err(index: usize, op: &Op, message: impl Into<String>) -> ConvertError {
    ConvertError::Invalid {
        index,
        op: op.kind.name().to_string(),
        message: message.into(),
    }
}

/// `(h, w, c)` of an activation shape (batch 1; rank 1 to 4).
pub fn hwc(shape: &[usize]) -> Option<(usize, usize, usize)> {
    match shape {
        [1, h, w, c] => Some((*h, *w, *c)),
        [1, w, c] => Some((1, *w, *c)),
        [1, c] => Some((1, 1, *c)),
        [c] => Some((1, 1, *c)),
        _ => None,
    }
}

fn activate(act: Activation, v: &mut [f32]) {
    let (lo, hi) = match act {
        Activation::None => return,
        Activation::Relu => (0.0, f32::INFINITY),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    };
    for x in v {
        *x = x.clamp(lo, hi);
    }
}

/// Dot product with 8 independent partial sums (vectorizes without fast-math).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for v in acc {
        s += v;
    }
    s
}

/// Window geometry of one spatial op.
struct Geometry {
    ih: usize,
    iw: usize,
    ic: usize,
    oh: usize,
    ow: usize,
    oc: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    pt: usize,
    pl: usize,
}

impl Geometry {
    /// Input row and column of a window tap, if inside the input.
    #[inline]
    fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let y = (oy * self.sh + ky * self.dh).checked_sub(self.pt)?;
        let x = (ox * self.sw + kx * self.dw).checked_sub(self.pl)?;
        (y < self.ih && x < self.iw).then_some((y, x))
    }
}

impl<'g> FloatExecutor<'g> {
    /// Prepares `graph`: decodes every constant an op reads.
    pub fn new(graph: &'g Graph) -> Result<FloatExecutor<'g>> {
        let mut consts = vec![None; graph.tensors.len()];
        for op in &graph.ops {
            for id in op.inputs.iter().flatten() {
                let t = graph.tensors.get(*id).ok_or_else(|| {
                    ConvertError::Graph(format!("tensor index {id} is out of range"))
                })?;
                if t.data.is_some() && consts[*id].is_none() {
                    consts[*id] = Some(constant_f32(t)?);
                }
            }
        }
        Ok(FloatExecutor { graph, consts })
    }

    /// The graph this executor runs.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Runs one sample (the graph input's elements, in its NHWC order) and
    /// returns the value of every activation tensor (indexed by tensor id;
    /// `None` for constants and tensors nothing computes).
    pub fn run(&self, input: &[f32]) -> Result<Vec<Option<Vec<f32>>>> {
        let g = self.graph;
        let [input_id] = g.inputs[..] else {
            return Err(ConvertError::Graph(format!(
                "the model has {} inputs; exactly one is supported",
                g.inputs.len()
            )));
        };
        let t = g
            .tensors
            .get(input_id)
            .ok_or_else(|| ConvertError::Graph("the model input is out of range".into()))?;
        if t.elements() != input.len() {
            return Err(ConvertError::Graph(format!(
                "the input has {} elements, the model's input '{}' {:?} has {}",
                input.len(),
                t.name,
                t.shape,
                t.elements()
            )));
        }
        let mut values: Vec<Option<Vec<f32>>> = vec![None; g.tensors.len()];
        values[input_id] = Some(input.to_vec());
        for (index, op) in g.ops.iter().enumerate() {
            let outs = self.run_op(index, op, &values)?;
            if outs.len() != op.outputs.len() {
                return Err(op_err(
                    index,
                    op,
                    format!("computes {} outputs, has {}", outs.len(), op.outputs.len()),
                ));
            }
            for (out, &y) in outs.into_iter().zip(&op.outputs) {
                let slot = values
                    .get_mut(y)
                    .ok_or_else(|| op_err(index, op, "output index out of range"))?;
                *slot = Some(out);
            }
        }
        Ok(values)
    }

    /// Runs one sample and returns the graph's (first) output.
    pub fn run_output(&self, input: &[f32]) -> Result<Vec<f32>> {
        self.run_outputs(input)?
            .into_iter()
            .next()
            .ok_or_else(|| ConvertError::Graph("the model has no output".into()))
    }

    /// Runs one sample and returns every graph output, in order.
    pub fn run_outputs(&self, input: &[f32]) -> Result<Vec<Vec<f32>>> {
        let mut values = self.run(input)?;
        self.graph
            .outputs
            .iter()
            .map(|&out| {
                values
                    .get_mut(out)
                    .and_then(Option::take)
                    .ok_or_else(|| ConvertError::Graph("a model output is never computed".into()))
            })
            .collect()
    }

    fn activation<'v>(
        &'v self,
        index: usize,
        op: &Op,
        values: &'v [Option<Vec<f32>>],
        i: usize,
    ) -> Result<(&'v [f32], &'g [usize])> {
        let id = op
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| op_err(index, op, format!("missing input {i}")))?;
        let t = &self.graph.tensors[id];
        let v = match values.get(id).and_then(Option::as_ref) {
            Some(v) => v.as_slice(),
            None => self
                .consts
                .get(id)
                .and_then(Option::as_ref)
                .map(Vec::as_slice)
                .ok_or_else(|| {
                    op_err(
                        index,
                        op,
                        format!("input '{}' is read before it is computed", t.name),
                    )
                })?,
        };
        Ok((v, &t.shape))
    }

    fn constant(&self, index: usize, op: &Op, i: usize) -> Result<Option<(&[f32], &'g [usize])>> {
        let Some(id) = op.inputs.get(i).copied().flatten() else {
            return Ok(None);
        };
        let t = &self.graph.tensors[id];
        match self.consts.get(id).and_then(Option::as_ref) {
            Some(v) => Ok(Some((v.as_slice(), &t.shape))),
            None => Err(op_err(
                index,
                op,
                format!("input '{}' must be a constant", t.name),
            )),
        }
    }

    fn out_shape(&self, index: usize, op: &Op) -> Result<&'g [usize]> {
        let id = *op
            .outputs
            .first()
            .ok_or_else(|| op_err(index, op, "no output"))?;
        self.graph
            .tensors
            .get(id)
            .map(|t| t.shape.as_slice())
            .ok_or_else(|| op_err(index, op, "output index out of range"))
    }

    #[allow(clippy::too_many_arguments)]
    fn geometry(
        &self,
        index: usize,
        op: &Op,
        in_shape: &[usize],
        out_shape: &[usize],
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        padding: Padding,
    ) -> Result<Geometry> {
        let (Some((ih, iw, ic)), Some((oh, ow, oc))) = (hwc(in_shape), hwc(out_shape)) else {
            return Err(op_err(
                index,
                op,
                format!("shapes {in_shape:?} -> {out_shape:?} are not batch-1 NHWC"),
            ));
        };
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(op_err(index, op, "zero window size, stride or dilation"));
        }
        let (eh, ew) = (
            padding.out_size(Axis::Vertical, ih, kh, sh, dh),
            padding.out_size(Axis::Horizontal, iw, kw, sw, dw),
        );
        if (eh, ew) != (oh, ow) {
            return Err(op_err(
                index,
                op,
                format!("output is {oh}x{ow}, the window gives {eh}x{ew}"),
            ));
        }
        Ok(Geometry {
            ih,
            iw,
            ic,
            oh,
            ow,
            oc,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            pt: padding.before(Axis::Vertical, ih, kh, sh, dh, oh),
            pl: padding.before(Axis::Horizontal, iw, kw, sw, dw, ow),
        })
    }

    fn bias(&self, index: usize, op: &Op, n: usize) -> Result<Vec<f32>> {
        match self.constant(index, op, 2)? {
            None => Ok(vec![0.0; n]),
            Some((b, _)) if b.len() == n => Ok(b.to_vec()),
            Some((b, _)) => Err(op_err(
                index,
                op,
                format!("bias has {} elements, expected {n}", b.len()),
            )),
        }
    }

    /// Runs one op: the value of each of its outputs, in order.
    fn run_op(&self, index: usize, op: &Op, values: &[Option<Vec<f32>>]) -> Result<Vec<Vec<f32>>> {
        let out_shape = self.out_shape(index, op)?;
        let out_len: usize = out_shape.iter().product();
        let mut out = match &op.kind {
            OpKind::Conv2d {
                padding,
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                activation,
            } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                let (w, ws) = self
                    .constant(index, op, 1)?
                    .ok_or_else(|| op_err(index, op, "missing filter"))?;
                let &[oc, kh, kw, icg] = ws else {
                    return Err(op_err(index, op, "filter is not rank 4"));
                };
                let g = self.geometry(
                    index,
                    op,
                    xs,
                    out_shape,
                    (kh, kw),
                    (*stride_h, *stride_w),
                    (*dilation_h, *dilation_w),
                    *padding,
                )?;
                if icg == 0 || g.ic % icg != 0 || oc != g.oc || oc % (g.ic / icg) != 0 {
                    return Err(op_err(
                        index,
                        op,
                        "filter does not fit the input and output channels",
                    ));
                }
                let groups = g.ic / icg;
                let ocg = oc / groups;
                let bias = self.bias(index, op, oc)?;
                let mut out = vec![0f32; out_len];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let o = &mut out[(oy * g.ow + ox) * oc..][..oc];
                        o.copy_from_slice(&bias);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let Some((y, xx)) = g.tap(oy, ox, ky, kx) else {
                                    continue;
                                };
                                let px = &x[(y * g.iw + xx) * g.ic..][..g.ic];
                                for (co, acc) in o.iter_mut().enumerate() {
                                    let grp = co / ocg;
                                    let wrow = &w[((co * kh + ky) * kw + kx) * icg..][..icg];
                                    *acc += dot(wrow, &px[grp * icg..][..icg]);
                                }
                            }
                        }
                    }
                }
                activate(*activation, &mut out);
                out
            }
            OpKind::DepthwiseConv2d {
                padding,
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                activation,
                ..
            } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                let (w, ws) = self
                    .constant(index, op, 1)?
                    .ok_or_else(|| op_err(index, op, "missing filter"))?;
                let &[1, kh, kw, oc] = ws else {
                    return Err(op_err(index, op, "filter is not [1, kh, kw, C*m]"));
                };
                let g = self.geometry(
                    index,
                    op,
                    xs,
                    out_shape,
                    (kh, kw),
                    (*stride_h, *stride_w),
                    (*dilation_h, *dilation_w),
                    *padding,
                )?;
                if g.ic == 0 || oc != g.oc || oc % g.ic != 0 {
                    return Err(op_err(index, op, "filter does not fit the channels"));
                }
                let m = oc / g.ic;
                let bias = self.bias(index, op, oc)?;
                let mut out = vec![0f32; out_len];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let o = &mut out[(oy * g.ow + ox) * oc..][..oc];
                        o.copy_from_slice(&bias);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let Some((y, xx)) = g.tap(oy, ox, ky, kx) else {
                                    continue;
                                };
                                let px = &x[(y * g.iw + xx) * g.ic..][..g.ic];
                                let wr = &w[(ky * kw + kx) * oc..][..oc];
                                for (co, acc) in o.iter_mut().enumerate() {
                                    *acc += wr[co] * px[co / m];
                                }
                            }
                        }
                    }
                }
                activate(*activation, &mut out);
                out
            }
            OpKind::TransposeConv {
                padding,
                stride_h,
                stride_w,
                activation,
            } => {
                // TFLite's order: output shape, filter OHWI, input, bias.
                let (x, xs) = self.activation(index, op, values, 2)?;
                let (w, ws) = self
                    .constant(index, op, 1)?
                    .ok_or_else(|| op_err(index, op, "missing filter"))?;
                let (Some((ih, iw, ic)), Some((oh, ow, oc)), &[foc, kh, kw, fic]) =
                    (hwc(xs), hwc(out_shape), ws)
                else {
                    return Err(op_err(index, op, "shapes are not batch-1 NHWC and OHWI"));
                };
                if foc != oc || fic != ic || w.len() != oc * kh * kw * ic {
                    return Err(op_err(index, op, "filter does not fit input and output"));
                }
                let bias = match self.constant(index, op, 3)? {
                    None => vec![0.0; oc],
                    Some((b, _)) if b.len() == oc => b.to_vec(),
                    Some(_) => return Err(op_err(index, op, "bias length")),
                };
                let pad = |axis, o: usize, k: usize, s: usize| {
                    padding.before(axis, o, k, s, 1, padding.out_size(axis, o, k, s, 1))
                };
                let pad_top = pad(Axis::Vertical, oh, kh, *stride_h) as i64;
                let pad_left = pad(Axis::Horizontal, ow, kw, *stride_w) as i64;
                let mut out = vec![0f32; out_len];
                for o in out.chunks_exact_mut(oc) {
                    o.copy_from_slice(&bias);
                }
                // The scatter TFLite's reference runs.
                for iy in 0..ih {
                    for ix in 0..iw {
                        let px = &x[(iy * iw + ix) * ic..][..ic];
                        for ky in 0..kh {
                            let y = (iy * stride_h) as i64 - pad_top + ky as i64;
                            for kx in 0..kw {
                                let xx = (ix * stride_w) as i64 - pad_left + kx as i64;
                                if y < 0 || xx < 0 || y >= oh as i64 || xx >= ow as i64 {
                                    continue;
                                }
                                let o = &mut out[(y as usize * ow + xx as usize) * oc..][..oc];
                                for (co, d) in o.iter_mut().enumerate() {
                                    *d += dot(&w[((co * kh + ky) * kw + kx) * ic..][..ic], px);
                                }
                            }
                        }
                    }
                }
                activate(*activation, &mut out);
                out
            }
            OpKind::BatchMatmul { adj_x, adj_y } => {
                let a = self.activation(index, op, values, 0)?;
                let b = self.activation(index, op, values, 1)?;
                crate::ops::batch_matmul::eval(a, b, *adj_x, *adj_y, out_shape)
                    .map_err(|m| op_err(index, op, m))?
            }
            OpKind::Add { activation } => {
                let a = self.activation(index, op, values, 0)?;
                let b = self.activation(index, op, values, 1)?;
                let mut out = crate::ops::binary::eval(None, a, b, out_shape)
                    .map_err(|m| op_err(index, op, m))?;
                activate(*activation, &mut out);
                out
            }
            OpKind::Binary { func, activation } => {
                let a = self.activation(index, op, values, 0)?;
                let b = self.activation(index, op, values, 1)?;
                let mut out = crate::ops::binary::eval(Some(*func), a, b, out_shape)
                    .map_err(|m| op_err(index, op, m))?;
                activate(*activation, &mut out);
                out
            }
            OpKind::Concat {
                axis, activation, ..
            } => {
                let mut xs = Vec::new();
                for k in 0..op.inputs.len() {
                    xs.push(self.activation(index, op, values, k)?);
                }
                let mut out = crate::ops::binary::concat_eval(&xs, *axis)
                    .map_err(|m| op_err(index, op, m))?;
                activate(*activation, &mut out);
                out
            }
            OpKind::AveragePool2d {
                padding,
                stride_h,
                stride_w,
                filter_h,
                filter_w,
                activation,
            }
            | OpKind::MaxPool2d {
                padding,
                stride_h,
                stride_w,
                filter_h,
                filter_w,
                activation,
            } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                let g = self.geometry(
                    index,
                    op,
                    xs,
                    out_shape,
                    (*filter_h, *filter_w),
                    (*stride_h, *stride_w),
                    (1, 1),
                    *padding,
                )?;
                if g.ic != g.oc {
                    return Err(op_err(index, op, "input and output channels differ"));
                }
                let is_max = matches!(op.kind, OpKind::MaxPool2d { .. });
                let c = g.oc;
                let mut out = vec![0f32; out_len];
                let mut acc = vec![0f32; c];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        acc.fill(if is_max { f32::NEG_INFINITY } else { 0.0 });
                        let mut count = 0usize;
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let Some((y, xx)) = g.tap(oy, ox, ky, kx) else {
                                    continue;
                                };
                                count += 1;
                                let px = &x[(y * g.iw + xx) * c..][..c];
                                if is_max {
                                    for (a, &v) in acc.iter_mut().zip(px) {
                                        *a = a.max(v);
                                    }
                                } else {
                                    for (a, &v) in acc.iter_mut().zip(px) {
                                        *a += v;
                                    }
                                }
                            }
                        }
                        let o = &mut out[(oy * g.ow + ox) * c..][..c];
                        for (d, &a) in o.iter_mut().zip(&acc) {
                            *d = if is_max { a } else { a / count.max(1) as f32 };
                        }
                    }
                }
                activate(*activation, &mut out);
                out
            }
            OpKind::FullyConnected { activation, .. } => {
                let (x, _) = self.activation(index, op, values, 0)?;
                let (w, ws) = self
                    .constant(index, op, 1)?
                    .ok_or_else(|| op_err(index, op, "missing weights"))?;
                let &[of, inf] = ws else {
                    return Err(op_err(index, op, "weights are not rank 2"));
                };
                if inf == 0 || x.len() % inf != 0 || out_len != x.len() / inf * of {
                    return Err(op_err(index, op, "weights do not fit the input and output"));
                }
                let bias = self.bias(index, op, of)?;
                let mut out = vec![0f32; out_len];
                for (row, o) in x.chunks_exact(inf).zip(out.chunks_exact_mut(of)) {
                    for (j, d) in o.iter_mut().enumerate() {
                        *d = bias[j] + dot(&w[j * inf..][..inf], row);
                    }
                }
                activate(*activation, &mut out);
                out
            }
            OpKind::Softmax { beta } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                let depth = *xs.last().unwrap_or(&1);
                if depth == 0 || x.len() != out_len {
                    return Err(op_err(index, op, "input and output shapes differ"));
                }
                let mut out = vec![0f32; out_len];
                for (row, o) in x.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0f64;
                    for (d, &v) in o.iter_mut().zip(row) {
                        let e = ((v - max) as f64 * *beta as f64).exp();
                        *d = e as f32;
                        sum += e;
                    }
                    for d in o.iter_mut() {
                        *d = (*d as f64 / sum) as f32;
                    }
                }
                out
            }
            OpKind::LogSoftmax | OpKind::L2Normalization { .. } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                let depth = *xs.last().unwrap_or(&1);
                if depth == 0 || x.len() != out_len {
                    return Err(op_err(index, op, "input and output shapes differ"));
                }
                let mut out = vec![0f32; out_len];
                for (row, o) in x.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
                    if let OpKind::L2Normalization { .. } = op.kind {
                        // TFLite's float kernel: x / max(sqrt(Σ x^2), 1e-6).
                        let squares: f64 = row.iter().map(|&v| v as f64 * v as f64).sum();
                        let norm = squares.sqrt().max(1e-6);
                        for (d, &v) in o.iter_mut().zip(row) {
                            *d = (v as f64 / norm) as f32;
                        }
                    } else {
                        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
                        let log_sum = sum.ln();
                        for (d, &v) in o.iter_mut().zip(row) {
                            *d = ((v - max) as f64 - log_sum) as f32;
                        }
                    }
                }
                if let OpKind::L2Normalization { activation } = op.kind {
                    activate(activation, &mut out);
                }
                out
            }
            OpKind::Reshape => {
                let (x, _) = self.activation(index, op, values, 0)?;
                if x.len() != out_len {
                    return Err(op_err(index, op, "reshape changes the element count"));
                }
                x.to_vec()
            }
            OpKind::Unary { func, .. } => {
                let (x, _) = self.activation(index, op, values, 0)?;
                if x.len() != out_len {
                    return Err(op_err(index, op, "input and output sizes differ"));
                }
                x.iter()
                    .map(|&v| crate::ops::unary_lut::eval(*func, v as f64) as f32)
                    .collect()
            }
            OpKind::Reduce { func, axes, .. } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                if axes.iter().any(|&a| a >= xs.len()) {
                    return Err(op_err(index, op, "an axis is out of range"));
                }
                let y = crate::ops::reduce::eval(*func, x, xs, axes);
                if y.len() != out_len {
                    return Err(op_err(
                        index,
                        op,
                        "the output does not have the reduced input's size",
                    ));
                }
                y
            }
            OpKind::Move { func, .. } => {
                use crate::ops::movement;
                let (x, xs) = self.activation(index, op, values, 0)?;
                match func {
                    MoveFn::ResizeBilinear {
                        align_corners,
                        half_pixel_centers,
                    } => {
                        let (Some((ih, iw, c)), Some((oh, ow, oc))) = (hwc(xs), hwc(out_shape))
                        else {
                            return Err(op_err(index, op, "shapes are not batch-1 NHWC"));
                        };
                        if c != oc || x.len() != ih * iw * c {
                            return Err(op_err(index, op, "input and output channels differ"));
                        }
                        movement::bilinear_f32(
                            x,
                            (ih, iw, c),
                            (oh, ow),
                            *align_corners,
                            *half_pixel_centers,
                        )
                    }
                    _ => {
                        let g = movement::gather(func, xs, out_shape)
                            .map_err(|m| op_err(index, op, m))?;
                        let fill = match func {
                            MoveFn::Pad {
                                value: PadValue::Float(v),
                                ..
                            } => *v,
                            MoveFn::Pad {
                                value:
                                    PadValue::Quantized {
                                        value,
                                        scale,
                                        zero_point,
                                    },
                                ..
                            } => ((*value as i64 - zero_point) as f64 * *scale as f64) as f32,
                            _ => 0.0,
                        };
                        movement::run(&g, x, fill)
                    }
                }
            }
            OpKind::Svdf { .. } | OpKind::Lstm { .. } => {
                return Err(op_err(
                    index,
                    op,
                    "SVDF and LSTM keep state from one run to the next, which the float \
                     reference (one run from nothing) does not model; int8 models with them \
                     convert as they are",
                ))
            }
            OpKind::Dequantize => {
                let (x, _) = self.activation(index, op, values, 0)?;
                if x.len() != out_len {
                    return Err(op_err(index, op, "input and output sizes differ"));
                }
                x.to_vec()
            }
            OpKind::Arg { func, axis } => {
                // The index along the axis, as f32 (the first on ties).
                let (x, xs) = self.activation(index, op, values, 0)?;
                if *axis >= xs.len() || x.len() != xs.iter().product::<usize>() {
                    return Err(op_err(index, op, "the axis is out of range"));
                }
                let r = xs[*axis];
                let inner: usize = xs[*axis + 1..].iter().product();
                let outer: usize = xs[..*axis].iter().product();
                if outer * inner != out_len || r == 0 {
                    return Err(op_err(
                        index,
                        op,
                        "the output is not the input without the axis",
                    ));
                }
                let mut out = Vec::with_capacity(out_len);
                for o in 0..outer {
                    for k in 0..inner {
                        let at = |i: usize| x[(o * r + i) * inner + k];
                        let mut best = 0;
                        for i in 1..r {
                            let better = match func {
                                crate::ir::ArgFn::Max => at(i) > at(best),
                                crate::ir::ArgFn::Min => at(i) < at(best),
                            };
                            if better {
                                best = i;
                            }
                        }
                        out.push(best as f32);
                    }
                }
                out
            }
            OpKind::Pack { axis } => {
                let mut xs = Vec::new();
                let mut dims = Vec::new();
                for k in 0..op.inputs.len() {
                    let (x, xs_dims) = self.activation(index, op, values, k)?;
                    xs.push(x);
                    dims.push(
                        crate::ops::binary::pack_operand_dims(xs_dims, *axis)
                            .map_err(|m| op_err(index, op, m))?,
                    );
                }
                let operands: Vec<(&[f32], &[usize])> = xs
                    .iter()
                    .zip(&dims)
                    .map(|(x, d)| (*x, d.as_slice()))
                    .collect();
                crate::ops::binary::concat_eval(&operands, *axis)
                    .map_err(|m| op_err(index, op, m))?
            }
            OpKind::Split {
                axis,
                sizes,
                squeeze,
                ..
            } => {
                let (x, xs) = self.activation(index, op, values, 0)?;
                let parts = crate::ops::movement::split_parts(xs, *axis, sizes, *squeeze)
                    .map_err(|m| op_err(index, op, m))?;
                let mut outs = Vec::with_capacity(parts.len());
                for (k, (func, dims)) in parts.iter().enumerate() {
                    let shape = op
                        .outputs
                        .get(k)
                        .and_then(|&id| self.graph.tensors.get(id))
                        .map(|t| t.shape.as_slice());
                    if shape != Some(dims.as_slice()) {
                        return Err(op_err(
                            index,
                            op,
                            format!("output {k} is not part {k}'s shape {dims:?}"),
                        ));
                    }
                    let g = crate::ops::movement::gather(func, xs, dims)
                        .map_err(|m| op_err(index, op, m))?;
                    outs.push(crate::ops::movement::run(&g, x, 0.0));
                }
                return Ok(outs);
            }
        };
        out.truncate(out_len);
        Ok(vec![out])
    }
}

/// Convenience: the ids of every activation tensor an op writes or the graph reads.
pub fn activation_ids(graph: &Graph) -> Vec<TensorId> {
    let mut ids: Vec<TensorId> = graph.inputs.clone();
    for op in &graph.ops {
        ids.extend(op.outputs.iter().copied());
    }
    ids
}
