//! Lowering: checks an int8 [`Graph`] and turns each operator into a runtime
//! kernel with its tables and integer requantization parameters, computed as
//! TensorFlow Lite Micro computes them when it prepares the model.
//!
//! This module holds what every op shares (values, their types and shapes,
//! weights, biases and windows) and the dispatch, one arm per [`OpKind`]
//! (no wildcard: a new kind does not compile until it is lowered); each op
//! family's lowering is a module of its own, as in the front ends and the
//! runtime: `conv` (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
//! FULLY_CONNECTED, BATCH_MATMUL), `binary` (ADD and the broadcast binary
//! ops, CONCATENATION, PACK), `reduce` (pooling, reductions, ARG_MAX and
//! ARG_MIN), `normalize` (SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION),
//! `unary` (the table ops), `movement` (gathers, resizes, RESHAPE,
//! splits), `quantize` (QUANTIZE and DEQUANTIZE between types), `svdf`,
//! `lstm`, and `s16` (the 16x8 ops).

use std::collections::HashMap;

use attonet_runtime::ops::add::AddParams;
use attonet_runtime::ops::batch_matmul::BatchMatmulParams;
use attonet_runtime::ops::depthwise::DepthwiseParams;
use attonet_runtime::ops::fully_connected::FullyConnectedParams;
use attonet_runtime::ops::l2_normalization::{L2NormalizationParams, L2_NORMALIZATION_MAX_DEPTH};
use attonet_runtime::ops::pool::{PoolParams, PoolS16Params};
use attonet_runtime::ops::reduce::{ArgKind, ArgParams, ReduceKind, ReduceParams};
use attonet_runtime::ops::requantize::IntType;
use attonet_runtime::ops::softmax::{LogSoftmaxParams, SoftmaxParams};
use attonet_runtime::ops::transpose_conv::TransposeConvParams;
use attonet_runtime::ops::{ConvParams, ConvQuant, Shape, Window};
use attonet_runtime::plan::ElementType;
use attonet_runtime::quant::Clamp;

use crate::error::{ConvertError, Result};
use crate::fast_epilogue;
use crate::ir::{
    Activation, ArgFn, Axis, BinaryFn, DType, Graph, MoveFn, Op, OpKind, PadValue, Padding,
    Quantization, ReduceFn, Tensor, TensorId, UnaryFn, UnaryNumerics,
};
use crate::ops::{self, unary_lut};
use crate::program::{ConvData, Layer, LayerOp, Program, S16Layer, Value, ValueId};
mod binary;
mod conv;
mod lstm;
mod movement;
mod normalize;
mod quantize;
mod reduce;
mod s16;
mod svdf;
mod unary;

use crate::requantize::{
    activation_range, log_softmax_scaling, quantize_multiplier,
    quantize_multiplier_smaller_than_one, softmax_scaling,
};

/// Lowers a graph in TFLite int8 semantics into a [`Program`].
pub fn lower(graph: &Graph, name: &str) -> Result<Program> {
    if graph.inputs.is_empty() || graph.outputs.is_empty() {
        return Err(ConvertError::Graph(format!(
            "the model has {} inputs and {} outputs; at least one of each is required",
            graph.inputs.len(),
            graph.outputs.len()
        )));
    }
    if graph.ops.is_empty() {
        return Err(ConvertError::Graph("the model has no operators".into()));
    }
    let mut l = Lowering {
        graph,
        values: Vec::new(),
        by_tensor: HashMap::new(),
    };
    let mut inputs = Vec::with_capacity(graph.inputs.len());
    for &id in &graph.inputs {
        if l.by_tensor.contains_key(&id) {
            return Err(ConvertError::Graph(format!(
                "the model input '{}' is listed twice",
                l.tensor_name(id)
            )));
        }
        inputs.push(l.value_of_graph_input(id)?);
    }
    let mut layers = Vec::new();
    for (index, op) in graph.ops.iter().enumerate() {
        l.lower_op(graph.source_index(index), op, &mut layers)?;
    }
    let mut outputs = Vec::with_capacity(graph.outputs.len());
    for &id in &graph.outputs {
        let v = *l.by_tensor.get(&id).ok_or_else(|| {
            ConvertError::Graph(format!(
                "the model output '{}' is not produced by any operator",
                l.tensor_name(id)
            ))
        })?;
        if inputs.contains(&v) {
            return Err(ConvertError::Graph(format!(
                "the model output '{}' is a model input; no operator computes it",
                l.tensor_name(id)
            )));
        }
        if outputs.contains(&v) {
            return Err(ConvertError::Graph(format!(
                "the model output '{}' is listed twice",
                l.tensor_name(id)
            )));
        }
        // Values are typed as their tensors (int8 activations; int32 only
        // from ARG_MAX / ARG_MIN, float32 only from DEQUANTIZE).
        outputs.push(v);
    }
    Ok(Program {
        name: name.to_string(),
        values: l.values,
        layers,
        inputs,
        outputs,
    })
}

struct Lowering<'g> {
    graph: &'g Graph,
    values: Vec<Value>,
    by_tensor: HashMap<TensorId, ValueId>,
}

/// Context for errors about one operator.
struct At<'a> {
    index: usize,
    op: &'a str,
}

impl At<'_> {
    fn invalid(&self, message: impl Into<String>) -> ConvertError {
        ConvertError::Invalid {
            index: self.index,
            op: self.op.to_string(),
            message: message.into(),
        }
    }

    fn unsupported(&self, detail: impl Into<String>) -> ConvertError {
        ConvertError::UnsupportedOp {
            index: self.index,
            name: self.op.to_string(),
            detail: Some(detail.into()),
        }
    }
}

fn u8_param(at: &At<'_>, what: &str, v: usize) -> Result<u8> {
    if v == 0 {
        return Err(at.invalid(format!("{what} is 0")));
    }
    u8::try_from(v).map_err(|_| at.unsupported(format!("{what} {v} is larger than 255")))
}

fn u16_dim(at: &At<'_>, what: &str, v: usize) -> Result<u16> {
    u16::try_from(v).map_err(|_| at.unsupported(format!("{what} {v} is larger than 65535")))
}

impl<'g> Lowering<'g> {
    fn tensor(&self, at: &At<'_>, id: TensorId) -> Result<&'g Tensor> {
        self.graph
            .tensors
            .get(id)
            .ok_or_else(|| at.invalid(format!("tensor index {id} is out of range")))
    }

    fn tensor_name(&self, id: TensorId) -> String {
        self.graph
            .tensors
            .get(id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }

    fn input_id(&self, at: &At<'_>, op: &Op, i: usize, what: &str) -> Result<TensorId> {
        op.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| at.invalid(format!("missing {what} (input {i})")))
    }

    fn output_id(&self, at: &At<'_>, op: &Op) -> Result<TensorId> {
        match op.outputs.as_slice() {
            [one] => Ok(*one),
            other => Err(at.invalid(format!("has {} outputs, expected 1", other.len()))),
        }
    }

    /// The value input 0 reads and the value the single output writes: the
    /// start of every one-in, one-out op's lowering.
    fn read_write(&mut self, at: &At<'_>, op: &Op) -> Result<(ValueId, ValueId)> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let y = self.write(at, self.output_id(at, op)?)?;
        Ok((x, y))
    }

    fn require_type(&self, at: &At<'_>, t: &Tensor, want: DType) -> Result<()> {
        if t.dtype == want {
            Ok(())
        } else {
            Err(ConvertError::TensorType {
                index: at.index,
                op: at.op.to_string(),
                tensor: t.name.clone(),
                found: t.dtype.to_string(),
                expected: want.to_string(),
            })
        }
    }

    /// Per-tensor scale and zero point of an activation.
    fn per_tensor(&self, at: &At<'_>, t: &Tensor) -> Result<(f32, i32)> {
        let (scale, zp) = self.scale_and_zero_point(at, t)?;
        if !(-128..=127).contains(&zp) {
            return Err(at.invalid(format!(
                "tensor '{}' has zero point {zp} outside int8",
                t.name
            )));
        }
        Ok((scale, zp as i32))
    }

    /// The one scale (finite, positive) and zero point of a tensor quantized
    /// per tensor; the zero point's range is the element type's to check.
    pub(crate) fn scale_and_zero_point(&self, at: &At<'_>, t: &Tensor) -> Result<(f32, i64)> {
        let q = t.quant.as_ref().ok_or_else(|| {
            at.invalid(format!(
                "tensor '{}' has no quantization parameters",
                t.name
            ))
        })?;
        if q.scales.len() != 1 || q.zero_points.len() != 1 {
            return Err(at.invalid(format!(
                "tensor '{}' must be quantized per tensor, it has {} scales",
                t.name,
                q.scales.len()
            )));
        }
        let scale = q.scales[0];
        if !(scale.is_finite() && scale > 0.0) {
            return Err(at.invalid(format!("tensor '{}' has scale {scale}", t.name)));
        }
        Ok((scale, q.zero_points[0]))
    }

    fn kernel_shape(&self, at: &At<'_>, t: &Tensor) -> Result<Shape> {
        let dims = &t.shape;
        let batch_one = |n: usize| -> Result<()> {
            if n == 1 {
                Ok(())
            } else {
                Err(at.unsupported(format!(
                    "tensor '{}' has batch size {n}; plans run one sample at a time",
                    t.name
                )))
            }
        };
        let (h, w, c) = match dims.as_slice() {
            [n, h, w, c] => {
                batch_one(*n)?;
                (*h, *w, *c)
            }
            // Rank 3: a sequence or a stack of matrices (`[batch, time,
            // features]`, a time-major `[time, batch, features]`, BATCH_MATMUL's
            // `[batch, rows, cols]`): the ops that read one go by its
            // dimensions (an image is rank 4), so a leading extent above 1
            // is as many rows.
            [n, w, c] => (*n, *w, *c),
            // A matrix: `n` rows of `c` (one row: a batch-1 vector). Its
            // kernels (FULLY_CONNECTED's rows, SOFTMAX's rows, the
            // element-wise and dims-based ones) read it as `n` pixels of
            // `c` channels; the one-row fast paths check for `1x1xC`.
            [n, c] => (1, *n, *c),
            [c] => (1, 1, *c),
            // Rank 5 (ShuffleNet's [1, g, C/g, H, W], a 5-D transpose): only
            // the dims-based ops (gathers, element-wise) read it, from the
            // graph's dimensions; its slot holds a*b rows.
            [n, a, b, w, c] => {
                batch_one(*n)?;
                (a.checked_mul(*b).unwrap_or(usize::MAX), *w, *c)
            }
            _ => {
                return Err(at.unsupported(format!(
                    "tensor '{}' has rank {}; ranks 1 to 5 are supported",
                    t.name,
                    dims.len()
                )))
            }
        };
        Ok(Shape::new(
            u16_dim(at, "height", h)?,
            u16_dim(at, "width", w)?,
            u16_dim(at, "channels", c)?,
        ))
    }

    fn new_value(&mut self, at: &At<'_>, id: TensorId) -> Result<ValueId> {
        let t = self.tensor(at, id)?;
        self.require_type(at, t, DType::I8)?;
        if t.data.is_some() {
            return Err(at.unsupported(format!(
                "activation '{}' is a constant; constant activations are not supported",
                t.name
            )));
        }
        let (scale, zero_point) = self.per_tensor(at, t)?;
        let shape = self.kernel_shape(at, t)?;
        if shape.is_empty() {
            return Err(at.invalid(format!("tensor '{}' has no elements", t.name)));
        }
        let v = self.values.len();
        self.values.push(Value {
            name: t.name.clone(),
            shape,
            dims: t.shape.clone(),
            dtype: ElementType::Int8,
            scale,
            zero_point,
        });
        self.by_tensor.insert(id, v);
        Ok(v)
    }

    fn value_of_graph_input(&mut self, id: TensorId) -> Result<ValueId> {
        let at = At {
            index: 0,
            op: "model input",
        };
        let t = self.tensor(&at, id)?;
        match t.dtype {
            DType::I8 => self.new_value(&at, id),
            // A 16x8 model's input.
            DType::I16 if t.data.is_none() => self.new_s16_value(&at, id),
            // A float model input: only a QUANTIZE may read it (`read`).
            DType::F32 if t.data.is_none() => self.new_typed_value(&at, id, ElementType::Float32),
            // uint8 (image data) or int32: only a QUANTIZE or DEQUANTIZE
            // may read it (other ops refuse it by its type).
            DType::U8 if t.data.is_none() => self.new_int_value(&at, id, IntType::UInt8),
            DType::I32 if t.data.is_none() => self.new_int_value(&at, id, IntType::Int32),
            _ => Err(ConvertError::Graph(format!(
                "the model input '{}' is {}, but int8 or int16 (16x8) is required (or float32, \
                 uint8 or int32 read by QUANTIZE ops; convert float models with post-training \
                 quantization first)",
                t.name, t.dtype
            ))),
        }
    }

    /// A value of 4-byte elements (`dtype` int32 or float32) for tensor
    /// `id`, of that type: its shape counts channels in bytes, so every slot
    /// made of it spans its bytes; no quantization (scale 1, zero point 0).
    fn new_typed_value(
        &mut self,
        at: &At<'_>,
        id: TensorId,
        dtype: ElementType,
    ) -> Result<ValueId> {
        let t = self.tensor(at, id)?;
        let want = match dtype {
            ElementType::Int8 => return self.new_value(at, id),
            ElementType::Int16 => return self.new_s16_value(at, id),
            ElementType::UInt8 => DType::U8,
            ElementType::Int32 => DType::I32,
            ElementType::Float32 => DType::F32,
        };
        self.require_type(at, t, want)?;
        if self.by_tensor.contains_key(&id) {
            return Err(at.invalid(format!("output '{}' is written a second time", t.name)));
        }
        let shape = self.kernel_shape(at, t)?;
        if shape.is_empty() {
            return Err(at.invalid(format!("tensor '{}' has no elements", t.name)));
        }
        let c = shape.c as usize * dtype.size();
        let shape = Shape::new(shape.h, shape.w, u16_dim(at, "channels (bytes)", c)?);
        let v = self.values.len();
        self.values.push(Value {
            name: t.name.clone(),
            shape,
            dims: t.shape.clone(),
            dtype,
            scale: 1.0,
            zero_point: 0,
        });
        self.by_tensor.insert(id, v);
        Ok(v)
    }

    /// The value of an op input of element type `dtype`.
    fn read_typed(&self, at: &At<'_>, id: TensorId, dtype: ElementType) -> Result<ValueId> {
        let v = self.read_any(at, id)?;
        let value = &self.values[v];
        if value.dtype != dtype {
            let name = |d: ElementType| d.name();
            return Err(ConvertError::TensorType {
                index: at.index,
                op: at.op.to_string(),
                tensor: value.name.clone(),
                found: name(value.dtype).to_string(),
                expected: name(dtype).to_string(),
            });
        }
        Ok(v)
    }

    /// The value of an int8 op input: it must already be produced.
    fn read(&self, at: &At<'_>, id: TensorId) -> Result<ValueId> {
        self.read_typed(at, id, ElementType::Int8)
    }

    /// The value of an op input, of any element type.
    fn read_any(&self, at: &At<'_>, id: TensorId) -> Result<ValueId> {
        if let Some(&v) = self.by_tensor.get(&id) {
            return Ok(v);
        }
        let t = self.tensor(at, id)?;
        if t.data.is_some() {
            Err(at.unsupported(format!(
                "input '{}' is a constant; this op needs an activation there",
                t.name
            )))
        } else {
            Err(at.invalid(format!(
                "input '{}' is read before any operator writes it",
                t.name
            )))
        }
    }

    fn write(&mut self, at: &At<'_>, id: TensorId) -> Result<ValueId> {
        if self.by_tensor.contains_key(&id) {
            return Err(at.invalid(format!(
                "output '{}' is written a second time",
                self.tensor_name(id)
            )));
        }
        self.new_value(at, id)
    }

    fn constant_i8(&self, at: &At<'_>, id: TensorId, what: &str) -> Result<(&'g Tensor, Vec<i8>)> {
        let t = self.tensor(at, id)?;
        self.require_type(at, t, DType::I8)?;
        let data = t
            .data
            .as_ref()
            .ok_or_else(|| at.unsupported(format!("{what} '{}' is not a constant", t.name)))?;
        if data.len() != t.elements() {
            return Err(at.invalid(format!(
                "{what} '{}' holds {} bytes for {} elements",
                t.name,
                data.len(),
                t.elements()
            )));
        }
        Ok((t, data.iter().map(|&b| b as i8).collect()))
    }

    fn bias(&self, at: &At<'_>, op: &Op, out_c: usize) -> Result<Vec<i32>> {
        self.bias_at(at, op, 2, out_c)
    }

    /// The int32 bias at input `k` (zeros when omitted).
    fn bias_at(&self, at: &At<'_>, op: &Op, k: usize, out_c: usize) -> Result<Vec<i32>> {
        let Some(id) = op.inputs.get(k).copied().flatten() else {
            return Ok(vec![0; out_c]);
        };
        let t = self.tensor(at, id)?;
        self.require_type(at, t, DType::I32)?;
        self.bias_words(at, t, out_c, 4)
    }

    /// A constant bias of `out_c` elements of `bytes` bytes each (int32: 4;
    /// int64: 8, as the runtime's word pairs), as little-endian words.
    pub(crate) fn bias_words(
        &self,
        at: &At<'_>,
        t: &Tensor,
        out_c: usize,
        bytes: usize,
    ) -> Result<Vec<i32>> {
        let data = t
            .data
            .as_ref()
            .ok_or_else(|| at.unsupported(format!("bias '{}' is not a constant", t.name)))?;
        if t.elements() != out_c || data.len() != out_c * bytes {
            return Err(at.invalid(format!(
                "bias '{}' has {} elements, the op has {out_c} output channels",
                t.name,
                t.elements()
            )));
        }
        Ok(data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Per-channel weight scales, broadcast to `out_c`; zero points must be 0.
    fn weight_scales(
        &self,
        at: &At<'_>,
        t: &Tensor,
        out_c: usize,
        axis: usize,
    ) -> Result<Vec<f32>> {
        let q: &Quantization = t.quant.as_ref().ok_or_else(|| {
            at.invalid(format!(
                "weights '{}' have no quantization parameters",
                t.name
            ))
        })?;
        if q.zero_points.iter().any(|&z| z != 0) {
            return Err(at.unsupported(format!(
                "weights '{}' have a nonzero zero point; int8 weights must be symmetric",
                t.name
            )));
        }
        let scales = match q.scales.len() {
            1 => vec![q.scales[0]; out_c],
            n if n == out_c && (q.axis == axis || n == 1) => q.scales.clone(),
            n => {
                return Err(at.invalid(format!(
                "weights '{}' have {n} scales along axis {}, the op has {out_c} output channels",
                t.name, q.axis
            )))
            }
        };
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(at.invalid(format!("weights '{}' have scale {s}", t.name)));
        }
        Ok(scales)
    }

    /// Per-channel (multiplier, shift) as TFLite's `PopulateConvolutionQuantizationParams`.
    fn conv_requant(
        &self,
        at: &At<'_>,
        input_scale: f32,
        weight_scales: &[f32],
        output_scale: f32,
    ) -> Result<(Vec<i32>, Vec<i32>)> {
        let mut mult = Vec::with_capacity(weight_scales.len());
        let mut shift = Vec::with_capacity(weight_scales.len());
        for &ws in weight_scales {
            let effective = input_scale as f64 * ws as f64 / output_scale as f64;
            let (m, s) = quantize_multiplier(effective);
            if !attonet_runtime::quant::shift_in_range(s) {
                return Err(at.unsupported(format!(
                    "effective output scale {effective:e} needs shift {s}, outside -31..=30"
                )));
            }
            mult.push(m);
            shift.push(s);
        }
        Ok((mult, shift))
    }

    fn clamp(&self, act: Activation, out: &Value) -> Clamp {
        let (min, max) = activation_range(act, out.scale, out.zero_point);
        Clamp { min, max }
    }

    #[allow(clippy::too_many_arguments)]
    fn window(
        &self,
        at: &At<'_>,
        padding: Padding,
        (kh, kw): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        (dilation_h, dilation_w): (usize, usize),
        input: Shape,
        output: Shape,
    ) -> Result<Window> {
        let (ih, iw) = (input.h as usize, input.w as usize);
        let (oh, ow) = (output.h as usize, output.w as usize);
        if stride_h == 0
            || stride_w == 0
            || dilation_h == 0
            || dilation_w == 0
            || kh == 0
            || kw == 0
        {
            return Err(at.invalid("zero stride, dilation or window size"));
        }
        let eh = padding.out_size(Axis::Vertical, ih, kh, stride_h, dilation_h);
        let ew = padding.out_size(Axis::Horizontal, iw, kw, stride_w, dilation_w);
        if (eh, ew) != (oh, ow) {
            return Err(at.invalid(format!(
                "output is {oh}x{ow}, but a {kh}x{kw} window with stride {stride_h}x{stride_w} over {ih}x{iw} with {padding:?} padding gives {eh}x{ew}"
            )));
        }
        Ok(Window {
            kh: u8_param(at, "kernel height", kh)?,
            kw: u8_param(at, "kernel width", kw)?,
            stride_h: u8_param(at, "stride", stride_h)?,
            stride_w: u8_param(at, "stride", stride_w)?,
            dilation_h: u8_param(at, "dilation", dilation_h)?,
            dilation_w: u8_param(at, "dilation", dilation_w)?,
            pad_top: u8::try_from(padding.before(Axis::Vertical, ih, kh, stride_h, dilation_h, oh))
                .map_err(|_| at.unsupported("padding larger than 255"))?,
            pad_left: u8::try_from(padding.before(
                Axis::Horizontal,
                iw,
                kw,
                stride_w,
                dilation_w,
                ow,
            ))
            .map_err(|_| at.unsupported("padding larger than 255"))?,
        })
    }

    /// Lowers `op` into `layers`: one layer, or one per output (SPLIT,
    /// SPLIT_V, UNPACK: each output its own value, written by its own copy).
    fn lower_op(&mut self, index: usize, op: &Op, layers: &mut Vec<Layer>) -> Result<()> {
        let at = At {
            index,
            op: op.kind.name(),
        };
        if let Some(layer) = self.lower_type_change(&at, index, op)? {
            layers.push(layer);
            return Ok(());
        }
        // The families whose lowering takes the element type (the byte
        // movers, pooling, MEAN and SUM: lower/movement.rs, lower/reduce.rs)
        // run int16 below with the int8 code; the other 16x8 layers have
        // their own (lower/s16.rs).
        let elem = if self.reads_s16(op) {
            let element_generic = matches!(
                op.kind,
                OpKind::Move { .. }
                    | OpKind::Concat { .. }
                    | OpKind::Pack { .. }
                    | OpKind::Split { .. }
                    | OpKind::AveragePool2d { .. }
                    | OpKind::MaxPool2d { .. }
                    | OpKind::Reduce {
                        func: ReduceFn::Mean | ReduceFn::Sum,
                        ..
                    }
            );
            if !element_generic {
                layers.push(self.lower_s16(&at, index, op)?);
                return Ok(());
            }
            ElementType::Int16
        } else {
            ElementType::Int8
        };
        let layer = match &op.kind {
            OpKind::Conv2d {
                padding,
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                activation,
            } => self.lower_conv2d(
                &at, index, op, padding, stride_h, stride_w, dilation_h, dilation_w, activation,
            )?,
            OpKind::DepthwiseConv2d {
                padding,
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                activation,
                ..
            } => self.lower_depthwise(
                &at, index, op, padding, stride_h, stride_w, dilation_h, dilation_w, activation,
            )?,
            OpKind::TransposeConv {
                padding,
                stride_h,
                stride_w,
                activation,
            } => {
                self.lower_transpose_conv(&at, index, op, padding, stride_h, stride_w, activation)?
            }
            OpKind::BatchMatmul { adj_x, adj_y } => {
                self.lower_batch_matmul(&at, index, op, adj_x, adj_y)?
            }
            OpKind::Add { activation } if !self.same_shape_activations(&at, op)? => {
                self.binary_layer(&at, op, None, *activation, index)?
            }
            OpKind::Binary { func, activation } => {
                self.binary_layer(&at, op, Some(*func), *activation, index)?
            }
            OpKind::Concat {
                axis,
                activation,
                numerics,
            } => self.lower_concat(&at, index, op, axis, activation, numerics, elem)?,
            OpKind::Add { activation } => self.lower_add(&at, index, op, activation)?,
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
            } => self.lower_pool(
                &at, index, op, padding, stride_h, stride_w, filter_h, filter_w, activation, elem,
            )?,
            OpKind::FullyConnected { activation, .. } => {
                self.lower_fully_connected(&at, index, op, activation)?
            }
            OpKind::Softmax { beta } => self.lower_softmax(&at, index, op, beta)?,
            OpKind::Dequantize => self.lower_dequantize(&at, index, op)?,
            OpKind::Svdf { rank, .. } => self.lower_svdf(&at, index, op, *rank)?,
            OpKind::Lstm {
                fused_activation,
                cell_clip,
                time_major,
            } => self.lower_lstm(&at, index, op, *fused_activation, *cell_clip, *time_major)?,
            OpKind::Arg { func, axis } => self.lower_arg(&at, index, op, func, axis)?,
            OpKind::LogSoftmax => self.lower_log_softmax(&at, index, op)?,
            OpKind::L2Normalization { activation } => {
                self.lower_l2_normalization(&at, index, op, activation)?
            }
            OpKind::Unary { func, numerics } => self.lower_unary(&at, index, op, func, numerics)?,
            OpKind::Reduce {
                func,
                axes,
                keep_dims,
            } => self.lower_reduce(&at, index, op, func, axes, keep_dims, elem)?,
            OpKind::Move { func, .. } => self.lower_move(&at, index, op, func, elem)?,
            OpKind::Reshape => self.lower_reshape(&at, index, op)?,
            OpKind::Pack { axis } => self.lower_pack(&at, index, op, axis, elem)?,
            OpKind::Split {
                axis,
                sizes,
                squeeze,
                name,
            } => {
                layers.extend(self.lower_split(&at, index, op, axis, sizes, squeeze, name, elem)?);
                return Ok(());
            }
        };
        layers.push(layer);
        Ok(())
    }
}

/// The tensors of a convolution-like op: input and output values, the
/// filter tensor and its weights.
struct ConvIo<'g> {
    x: ValueId,
    y: ValueId,
    xin: Value,
    yout: Value,
    filter_tensor: &'g Tensor,
    filter_shape: Vec<usize>,
    filter: Vec<i8>,
}

impl ConvIo<'_> {
    /// The filter's four dimensions.
    fn filter_dims(&self, at: &At<'_>) -> Result<[usize; 4]> {
        <[usize; 4]>::try_from(self.filter_shape.as_slice()).map_err(|_| {
            at.invalid(format!(
                "filter '{}' has rank {}, expected 4",
                self.filter_tensor.name,
                self.filter_shape.len()
            ))
        })
    }
}

trait WithIo {
    fn with(self, inputs: Vec<ValueId>, output: ValueId, index: usize) -> Layer;
}

impl WithIo for LayerOp {
    fn with(self, inputs: Vec<ValueId>, output: ValueId, index: usize) -> Layer {
        Layer {
            op: self,
            inputs,
            output,
            source_ops: vec![index],
        }
    }
}
