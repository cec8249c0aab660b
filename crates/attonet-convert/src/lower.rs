//! Lowering: checks an int8 [`Graph`] and turns each operator into a runtime
//! kernel with its tables and integer requantization parameters, computed as
//! TensorFlow Lite Micro computes them when it prepares the model.

use std::collections::HashMap;

use attonet_runtime::ops::add::AddParams;
use attonet_runtime::ops::batch_matmul::BatchMatmulParams;
use attonet_runtime::ops::depthwise::DepthwiseParams;
use attonet_runtime::ops::fully_connected::FullyConnectedParams;
use attonet_runtime::ops::l2_normalization::{L2NormalizationParams, L2_NORMALIZATION_MAX_DEPTH};
use attonet_runtime::ops::pool::PoolParams;
use attonet_runtime::ops::reduce::{ArgKind, ArgParams, ReduceParams};
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
    Quantization, Tensor, TensorId, UnaryFn, UnaryNumerics,
};
use crate::ops::{binary, movement, reduce, unary_lut};
use crate::program::{ConvData, Layer, LayerOp, Program, Value, ValueId};
mod lstm;
mod quantize;
mod s16;
mod svdf;

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

    /// Reads a convolution-like op's input, filter and output.
    fn conv_io(&mut self, at: &At<'_>, op: &Op) -> Result<ConvIo<'g>> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let (filter_tensor, filter) =
            self.constant_i8(at, self.input_id(at, op, 1, "filter")?, "filter")?;
        let y = self.write(at, self.output_id(at, op)?)?;
        Ok(ConvIo {
            x,
            y,
            xin: self.values[x].clone(),
            yout: self.values[y].clone(),
            filter_shape: filter_tensor.shape.clone(),
            filter_tensor,
            filter,
        })
    }

    fn conv_quant(&self, act: Activation, io: &ConvIo<'_>) -> ConvQuant {
        ConvQuant {
            input_zero_point: io.xin.zero_point,
            output_zero_point: io.yout.zero_point,
            clamp: self.clamp(act, &io.yout),
        }
    }

    /// Weights, bias and per-channel requantization of a convolution-like op
    /// whose weight scales run along `axis`.
    fn conv_data(
        &self,
        at: &At<'_>,
        op: &Op,
        io: &ConvIo<'_>,
        out_c: usize,
        axis: usize,
    ) -> Result<ConvData> {
        let scales = self.weight_scales(at, io.filter_tensor, out_c, axis)?;
        let (multiplier, shift) = self.conv_requant(at, io.xin.scale, &scales, io.yout.scale)?;
        Ok(ConvData {
            filter: io.filter.clone(),
            bias: self.bias(at, op, out_c)?,
            multiplier,
            shift,
        })
    }

    /// Whether both inputs of an ADD are activations of the output's shape
    /// (the `add` kernel's case; anything else runs as a binary op).
    fn same_shape_activations(&self, at: &At<'_>, op: &Op) -> Result<bool> {
        let mut shapes = Vec::new();
        for k in 0..2 {
            let id = self.input_id(at, op, k, "input")?;
            match self.by_tensor.get(&id) {
                Some(&v) => shapes.push(self.values[v].dims.clone()),
                None => return Ok(false),
            }
        }
        let out = self.tensor(at, self.output_id(at, op)?)?;
        Ok(shapes[0] == shapes[1] && shapes[0] == out.shape)
    }

    /// A binary element-wise op (`func` `None`: ADD) whose operands are
    /// activations or int8 constants, with broadcasting.
    fn binary_layer(
        &mut self,
        at: &At<'_>,
        op: &Op,
        func: Option<BinaryFn>,
        activation: Activation,
        index: usize,
    ) -> Result<Layer> {
        let mut activations = Vec::new();
        let mut constants: [Option<Vec<i8>>; 2] = [None, None];
        let mut quants = Vec::new();
        let mut dims = Vec::new();
        for (k, constant) in constants.iter_mut().enumerate() {
            let id = self.input_id(at, op, k, "operand")?;
            if let Some(&v) = self.by_tensor.get(&id) {
                let value = &self.values[v];
                quants.push(unary_lut::Quant {
                    scale: value.scale,
                    zero_point: value.zero_point,
                });
                dims.push(value.dims.clone());
                activations.push(v);
            } else {
                let t = self.tensor(at, id)?;
                if t.data.is_none() {
                    self.read(at, id)?; // the error for a tensor read before it is written
                }
                let (t, bytes) = self.constant_i8(at, id, "constant operand")?;
                let (scale, zero_point) = self.per_tensor(at, t)?;
                quants.push(unary_lut::Quant { scale, zero_point });
                dims.push(t.shape.clone());
                *constant = Some(bytes);
            }
        }
        if activations.is_empty() {
            return Err(at.unsupported("both operands are constants"));
        }
        let y = self.write(at, self.output_id(at, op)?)?;
        let vy = &self.values[y];
        let geometry = binary::geometry(&dims[0], &dims[1], &vy.dims).map_err(|m| at.invalid(m))?;
        let qo = unary_lut::Quant {
            scale: vy.scale,
            zero_point: vy.zero_point,
        };
        let params = binary::params(
            func,
            quants[0],
            quants[1],
            qo,
            self.clamp(activation, vy),
            geometry,
        )
        .map_err(|m| at.unsupported(m))?;
        Ok(LayerOp::Binary {
            func,
            params,
            constants,
        }
        .with(activations, y, index))
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
        if self.reads_s16(op) {
            layers.push(self.lower_s16(&at, index, op)?);
            return Ok(());
        }
        let layer = match &op.kind {
            OpKind::Conv2d {
                padding,
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                activation,
            } => {
                let io = self.conv_io(&at, op)?;
                let [out_c, kh, kw, in_per_group] = io.filter_dims(&at)?;
                let in_c = io.xin.shape.c as usize;
                if in_per_group == 0 || in_c % in_per_group != 0 {
                    return Err(at.invalid(format!(
                        "input has {in_c} channels, which the filter's {in_per_group} input channels do not divide"
                    )));
                }
                let groups = in_c / in_per_group;
                if out_c != io.yout.shape.c as usize || out_c % groups != 0 {
                    return Err(at.invalid(format!(
                        "filter has {out_c} output channels, output has {}, groups {groups}",
                        io.yout.shape.c
                    )));
                }
                let window = self.window(
                    &at,
                    *padding,
                    (kh, kw),
                    (*stride_h, *stride_w),
                    (*dilation_h, *dilation_w),
                    io.xin.shape,
                    io.yout.shape,
                )?;
                let quant = self.conv_quant(*activation, &io);
                let mut data = self.conv_data(&at, op, &io, out_c, 0)?;
                let taps = kh * kw * in_per_group;
                cover_fast_epilogue(&mut data, &quant, taps, |f, oc| {
                    f[oc * taps..][..taps].iter()
                });
                LayerOp::Conv {
                    params: ConvParams {
                        window,
                        groups: u16_dim(&at, "groups", groups)?,
                        quant,
                    },
                    data,
                }
                .with(vec![io.x], io.y, index)
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
                let io = self.conv_io(&at, op)?;
                let [one, kh, kw, out_c] = io.filter_dims(&at)?;
                let in_c = io.xin.shape.c as usize;
                if one != 1 || out_c != io.yout.shape.c as usize || in_c == 0 || out_c % in_c != 0 {
                    return Err(at.invalid(format!(
                        "filter shape {:?} does not fit input channels {in_c} and output channels {}",
                        io.filter_shape, io.yout.shape.c
                    )));
                }
                let window = self.window(
                    &at,
                    *padding,
                    (kh, kw),
                    (*stride_h, *stride_w),
                    (*dilation_h, *dilation_w),
                    io.xin.shape,
                    io.yout.shape,
                )?;
                let multiplier = out_c / in_c;
                if multiplier > 1 {
                    // A depthwise layer with a channel multiplier is a
                    // grouped convolution with one input channel a group
                    // (output channel `c * m + j` reads input channel `c`
                    // in both; person_detect's stem: 1 -> 8), and TFLM's
                    // two kernels compute the same sum, bias and
                    // per-channel requantization: the same bits. The
                    // convolution kernels block over pixels and output
                    // channels, where the depthwise ones (multiplier 1)
                    // do not apply. The filter goes from `[1][kh][kw][oc]`
                    // to OHWI `[oc][kh][kw][1]`.
                    let taps = kh * kw;
                    let mut ohwi = vec![0i8; io.filter.len()];
                    for (t, row) in io.filter.chunks_exact(out_c).enumerate() {
                        for (oc, &w) in row.iter().enumerate() {
                            ohwi[oc * taps + t] = w;
                        }
                    }
                    let mut data = self.conv_data(&at, op, &io, out_c, 3)?;
                    data.filter = ohwi;
                    let quant = self.conv_quant(*activation, &io);
                    cover_fast_epilogue(&mut data, &quant, taps, |f, oc| {
                        f[oc * taps..][..taps].iter()
                    });
                    layers.push(
                        LayerOp::Conv {
                            params: ConvParams {
                                window,
                                groups: u16_dim(&at, "groups", in_c)?,
                                quant,
                            },
                            data,
                        }
                        .with(vec![io.x], io.y, index),
                    );
                    return Ok(());
                }
                let quant = self.conv_quant(*activation, &io);
                let mut data = self.conv_data(&at, op, &io, out_c, 3)?;
                cover_fast_epilogue(&mut data, &quant, kh * kw, |f, oc| {
                    f.iter().skip(oc).step_by(out_c)
                });
                LayerOp::Depthwise {
                    params: DepthwiseParams {
                        window,
                        depth_multiplier: u16_dim(&at, "depth multiplier", out_c / in_c)?,
                        quant,
                    },
                    data,
                }
                .with(vec![io.x], io.y, index)
            }
            OpKind::TransposeConv {
                padding,
                stride_h,
                stride_w,
                activation,
            } => {
                if *activation != Activation::None {
                    return Err(at.unsupported(format!(
                        "fused activation {activation:?}; TFLM's int8 kernel clamps to the whole \
                         int8 range only"
                    )));
                }
                // TFLite's order: output shape, filter, input, bias.
                let x = self.read(&at, self.input_id(&at, op, 2, "input")?)?;
                let (ft, filter) =
                    self.constant_i8(&at, self.input_id(&at, op, 1, "filter")?, "filter")?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                let &[oc, kh, kw, ic] = ft.shape.as_slice() else {
                    return Err(at.invalid(format!(
                        "filter '{}' has shape {:?}, expected [out, h, w, in]",
                        ft.name, ft.shape
                    )));
                };
                if ic != xin.shape.c as usize || oc != yout.shape.c as usize {
                    return Err(at.invalid(format!(
                        "filter shape {:?} does not fit input channels {} and output channels {}",
                        ft.shape, xin.shape.c, yout.shape.c
                    )));
                }
                let (ih, iw) = (xin.shape.h as usize, xin.shape.w as usize);
                let (oh, ow) = (yout.shape.h as usize, yout.shape.w as usize);
                // The input is what a convolution of the output would give.
                let eh = padding.out_size(Axis::Vertical, oh, kh, *stride_h, 1);
                let ew = padding.out_size(Axis::Horizontal, ow, kw, *stride_w, 1);
                if (eh, ew) != (ih, iw) {
                    return Err(at.invalid(format!(
                        "output is {oh}x{ow} and input {ih}x{iw}, but a {kh}x{kw} window with \
                         stride {stride_h}x{stride_w} and {padding:?} padding maps {oh}x{ow} to {eh}x{ew}"
                    )));
                }
                // ComputePaddingHeightWidth with the output as the image.
                let pad = |axis, o, k, s| {
                    padding.before(axis, o, k, s, 1, padding.out_size(axis, o, k, s, 1))
                };
                let pad_top = pad(Axis::Vertical, oh, kh, *stride_h);
                let pad_left = pad(Axis::Horizontal, ow, kw, *stride_w);
                let scales = self.weight_scales(&at, ft, oc, 0)?;
                let (multiplier, shift) = self.conv_requant(&at, xin.scale, &scales, yout.scale)?;
                LayerOp::TransposeConv {
                    params: TransposeConvParams {
                        kh: u8_param(&at, "kernel height", kh)?,
                        kw: u8_param(&at, "kernel width", kw)?,
                        stride_h: u8_param(&at, "stride", *stride_h)?,
                        stride_w: u8_param(&at, "stride", *stride_w)?,
                        pad_top: u8::try_from(pad_top)
                            .map_err(|_| at.unsupported("padding larger than 255"))?,
                        pad_left: u8::try_from(pad_left)
                            .map_err(|_| at.unsupported("padding larger than 255"))?,
                        quant: ConvQuant {
                            input_zero_point: xin.zero_point,
                            output_zero_point: yout.zero_point,
                            clamp: Clamp::NONE,
                        },
                    },
                    data: ConvData {
                        filter,
                        bias: self.bias_at(&at, op, 3, oc)?,
                        multiplier,
                        shift,
                    },
                }
                .with(vec![x], y, index)
            }
            OpKind::BatchMatmul { adj_x, adj_y } => {
                let a = self.read(&at, self.input_id(&at, op, 0, "left operand")?)?;
                let b = self.read(&at, self.input_id(&at, op, 1, "right operand")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (va, vb, vy) = (&self.values[a], &self.values[b], &self.values[y]);
                let g = crate::ops::batch_matmul::geometry(
                    &va.dims, &vb.dims, *adj_x, *adj_y, &vy.dims,
                )
                .map_err(|m| at.invalid(m))?;
                // GetQuantizedConvolutionMultipler: the product in f64 (as
                // FULLY_CONNECTED's).
                let real = va.scale as f64 * vb.scale as f64 / vy.scale as f64;
                let (output_multiplier, output_shift) = quantize_multiplier(real);
                if !attonet_runtime::quant::shift_in_range(output_shift) {
                    return Err(at.unsupported(format!(
                        "output rescale {real:e} needs shift {output_shift}"
                    )));
                }
                let u16_of = |what: &str, v: usize| u16_dim(&at, what, v);
                let u32_of = |v: usize| {
                    u32::try_from(v).map_err(|_| at.unsupported(format!("stride {v} over 32 bits")))
                };
                let params = BatchMatmulParams {
                    batches: [
                        u16_of("batch", g.batches[0])?,
                        u16_of("batch", g.batches[1])?,
                        u16_of("batch", g.batches[2])?,
                    ],
                    lhs_batch_strides: [
                        u32_of(g.lhs_strides[0])?,
                        u32_of(g.lhs_strides[1])?,
                        u32_of(g.lhs_strides[2])?,
                    ],
                    rhs_batch_strides: [
                        u32_of(g.rhs_strides[0])?,
                        u32_of(g.rhs_strides[1])?,
                        u32_of(g.rhs_strides[2])?,
                    ],
                    rows: u16_of("rows", g.rows)?,
                    cols: u16_of("columns", g.cols)?,
                    depth: u16_of("depth", g.depth)?,
                    adj_x: *adj_x,
                    adj_y: *adj_y,
                    lhs_zero_point: va.zero_point,
                    rhs_zero_point: vb.zero_point,
                    output_zero_point: vy.zero_point,
                    output_multiplier,
                    output_shift,
                };
                LayerOp::BatchMatmul(params).with(vec![a, b], y, index)
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
            } => {
                if *activation != Activation::None {
                    return Err(at.unsupported(format!(
                        "fused activation {activation:?}; TFLM requires none"
                    )));
                }
                let mut xs = Vec::new();
                for k in 0..op.inputs.len() {
                    xs.push(self.read(&at, self.input_id(&at, op, k, "input")?)?);
                }
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let vy = &self.values[y];
                let mut tables = Vec::new();
                for &x in &xs {
                    let vx = &self.values[x];
                    let same = vx.scale == vy.scale && vx.zero_point == vy.zero_point;
                    if !same && *numerics == UnaryNumerics::Float {
                        let q = |v: &Value| unary_lut::Quant {
                            scale: v.scale,
                            zero_point: v.zero_point,
                        };
                        tables.push(
                            unary_lut::table(
                                UnaryFn::Requantize,
                                UnaryNumerics::Float,
                                q(vx),
                                q(vy),
                            )
                            .map_err(|m| at.unsupported(m))?,
                        );
                        continue;
                    }
                    tables.push(Vec::new());
                    if !same {
                        return Err(at.unsupported(format!(
                            "input '{}' (scale {}, zero point {}) and the output (scale {}, \
                             zero point {}) are quantized differently; TFLM's int8 \
                             CONCATENATION copies bytes",
                            vx.name, vx.scale, vx.zero_point, vy.scale, vy.zero_point
                        )));
                    }
                }
                let dims: Vec<&[usize]> = xs.iter().map(|&x| &self.values[x].dims[..]).collect();
                let parts =
                    binary::concat_parts(&dims, &vy.dims, *axis).map_err(|m| at.invalid(m))?;
                LayerOp::Concat { parts, tables }.with(xs, y, index)
            }
            OpKind::Add { activation } => {
                let a = self.read(&at, self.input_id(&at, op, 0, "first input")?)?;
                let b = self.read(&at, self.input_id(&at, op, 1, "second input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (va, vb, vy) = (&self.values[a], &self.values[b], &self.values[y]);
                let left_shift = crate::requantize::ADD_LEFT_SHIFT;
                let [m1, m2, mo] = crate::requantize::add_rescale(va.scale, vb.scale, vy.scale);
                let q = |m: f64| {
                    quantize_multiplier_smaller_than_one(m).ok_or_else(|| {
                        at.unsupported(format!("ADD rescale factor {m:e} is not below 1"))
                    })
                };
                let ((im1, is1), (im2, is2), (om, os)) = (q(m1)?, q(m2)?, q(mo)?);
                LayerOp::Add(AddParams {
                    input1_zero_point: va.zero_point,
                    input2_zero_point: vb.zero_point,
                    output_zero_point: vy.zero_point,
                    left_shift,
                    input1_multiplier: im1,
                    input1_shift: is1,
                    input2_multiplier: im2,
                    input2_shift: is2,
                    output_multiplier: om,
                    output_shift: os,
                    clamp: self.clamp(*activation, vy),
                })
                .with(vec![a, b], y, index)
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
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
                    return Err(at.unsupported(
                        "input and output quantization differ; pooling does not requantize",
                    ));
                }
                if xin.shape.c != yout.shape.c {
                    return Err(at.invalid("input and output channel counts differ"));
                }
                let window = self.window(
                    &at,
                    *padding,
                    (*filter_h, *filter_w),
                    (*stride_h, *stride_w),
                    (1, 1),
                    xin.shape,
                    yout.shape,
                )?;
                let params = PoolParams {
                    window,
                    clamp: self.clamp(*activation, &yout),
                };
                if matches!(op.kind, OpKind::AveragePool2d { .. }) {
                    LayerOp::AveragePool(params)
                } else {
                    LayerOp::MaxPool(params)
                }
                .with(vec![x], y, index)
            }
            OpKind::FullyConnected { activation, .. } => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let (wt, filter) =
                    self.constant_i8(&at, self.input_id(&at, op, 1, "weights")?, "weights")?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                let [out_f, in_f] = wt.shape[..] else {
                    return Err(at.invalid(format!(
                        "weights '{}' have rank {}, expected 2",
                        wt.name,
                        wt.shape.len()
                    )));
                };
                if in_f == 0 || xin.shape.len() % in_f != 0 {
                    return Err(at.invalid(format!(
                        "input has {} elements, not a multiple of the weights' {in_f} input features",
                        xin.shape.len()
                    )));
                }
                let rows = xin.shape.len() / in_f;
                if yout.shape.len() != rows * out_f {
                    return Err(at.invalid(format!(
                        "output has {} elements, expected {rows} x {out_f}",
                        yout.shape.len()
                    )));
                }
                let q = wt.quant.as_ref().ok_or_else(|| {
                    at.invalid(format!(
                        "weights '{}' have no quantization parameters",
                        wt.name
                    ))
                })?;
                let filter_zero_point = *q.zero_points.first().unwrap_or(&0);
                if !(-128..=127).contains(&filter_zero_point)
                    || q.zero_points.iter().any(|&z| z != filter_zero_point)
                {
                    return Err(at.unsupported(format!(
                        "weights '{}' zero points {:?}",
                        wt.name, q.zero_points
                    )));
                }
                let (multiplier, shift) = if q.scales.len() == 1 {
                    // TFLite Micro's GetQuantizedConvolutionMultipler. Its source
                    // writes the scale product in float, but the shipped
                    // interpreter computes it in double (the compiler widens
                    // both operands first: cvtss2sd, cvtss2sd, mulsd), and a
                    // synthetic model whose scales tell the two apart matches
                    // the double product only; so do we.
                    let product = xin.scale as f64 * q.scales[0] as f64;
                    let (m, s) = quantize_multiplier(product / yout.scale as f64);
                    if !attonet_runtime::quant::shift_in_range(s) {
                        return Err(at.unsupported(format!("output rescale needs shift {s}")));
                    }
                    (vec![m], vec![s])
                } else {
                    let scales = self.weight_scales(&at, wt, out_f, 0)?;
                    self.conv_requant(&at, xin.scale, &scales, yout.scale)?
                };
                LayerOp::FullyConnected {
                    params: FullyConnectedParams {
                        in_features: u16_dim(&at, "input features", in_f)?,
                        out_features: u16_dim(&at, "output features", out_f)?,
                        input_zero_point: xin.zero_point,
                        filter_zero_point: filter_zero_point as i32,
                        output_zero_point: yout.zero_point,
                        clamp: self.clamp(*activation, &yout),
                    },
                    data: ConvData {
                        filter,
                        bias: self.bias(&at, op, out_f)?,
                        multiplier,
                        shift,
                    },
                }
                .with(vec![x], y, index)
            }
            OpKind::Softmax { beta } => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y_id = self.output_id(&at, op)?;
                // int8 in, int16 out: TFLM's `Softmax<int8_t, int16_t>`.
                let int16_output = self.tensor(&at, y_id)?.dtype == DType::I16;
                let y = if int16_output {
                    if self.by_tensor.contains_key(&y_id) {
                        return Err(at.invalid(format!(
                            "output '{}' is written a second time",
                            self.tensor_name(y_id)
                        )));
                    }
                    self.new_quantized_value(&at, y_id, IntType::Int16)?
                } else {
                    self.write(&at, y_id)?
                };
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.dims != yout.dims {
                    return Err(at.invalid("input and output shapes differ"));
                }
                if int16_output {
                    // TFLM: zero point -32768, scale 1/65536 within 0.1 %.
                    let want = 1.0 / 65536.0;
                    if yout.zero_point != -32768 || (yout.scale - want).abs() > 0.001 * want {
                        return Err(at.unsupported(format!(
                            "int16 SOFTMAX output must have scale 1/65536 and zero point -32768, \
                             it has {} and {}",
                            yout.scale, yout.zero_point
                        )));
                    }
                } else if yout.zero_point != -128
                    || (yout.scale - 1.0 / 256.0).abs() > 1e-8 * yout.scale
                {
                    return Err(at.unsupported(format!(
                        "int8 SOFTMAX output must have scale 1/256 and zero point -128, it has {} and {}",
                        yout.scale, yout.zero_point
                    )));
                }
                let (input_multiplier, input_left_shift, diff_min) =
                    softmax_scaling(*beta as f64, xin.scale as f64, 5).ok_or_else(|| {
                        at.unsupported(format!("beta {beta} with input scale {}", xin.scale))
                    })?;
                LayerOp::Softmax {
                    params: SoftmaxParams {
                        depth: xin.shape.c,
                        input_multiplier,
                        input_left_shift,
                        diff_min,
                    },
                    int16_output,
                }
                .with(vec![x], y, index)
            }
            OpKind::Dequantize => self.lower_dequantize(&at, index, op)?,
            OpKind::Svdf { rank, .. } => self.lower_svdf(&at, index, op, *rank)?,
            OpKind::Lstm {
                fused_activation,
                cell_clip,
                time_major,
            } => self.lower_lstm(&at, index, op, *fused_activation, *cell_clip, *time_major)?,
            OpKind::Arg { func, axis } => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y_id = self.output_id(&at, op)?;
                if self.tensor(&at, y_id)?.dtype == DType::I64 {
                    return Err(at.unsupported(
                        "output_type int64: TFLM's kernel computes int32 indices only (\"Only \
                         int32_t are supported currently\"), and so does AttoNet; convert with \
                         output_type=tf.int32",
                    ));
                }
                let y = self.new_typed_value(&at, y_id, ElementType::Int32)?;
                let (xin, yout) = (&self.values[x], &self.values[y]);
                let dims = &xin.dims;
                if *axis >= dims.len() {
                    return Err(
                        at.invalid(format!("axis {axis} is out of range for input {dims:?}"))
                    );
                }
                let expected = reduce::output_dims(dims, &[*axis], false);
                if expected != yout.dims {
                    return Err(at.invalid(format!(
                        "{} of {dims:?} along axis {axis} gives {expected:?}, but the output is {:?}",
                        at.op, yout.dims
                    )));
                }
                let extent = |v: usize| {
                    u32::try_from(v).map_err(|_| at.unsupported(format!("extent {v} over 2^32")))
                };
                let params = ArgParams {
                    outer: extent(dims[..*axis].iter().product())?,
                    reduce: extent(dims[*axis])?,
                    inner: extent(dims[*axis + 1..].iter().product())?,
                    kind: match func {
                        ArgFn::Max => ArgKind::ArgMax,
                        ArgFn::Min => ArgKind::ArgMin,
                    },
                };
                LayerOp::Arg(params).with(vec![x], y, index)
            }
            OpKind::LogSoftmax => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.dims != yout.dims {
                    return Err(at.invalid("input and output shapes differ"));
                }
                // TFLM checks the output's quantization exactly.
                if yout.zero_point != 127 || yout.scale != 16.0 / 256.0 {
                    return Err(at.unsupported(format!(
                        "int8 LOG_SOFTMAX output must have scale 16/256 and zero point 127, it has {} and {}",
                        yout.scale, yout.zero_point
                    )));
                }
                if xin.shape.c as usize > 1 << 12 {
                    return Err(at.unsupported(format!(
                        "rows of {} elements; TFLM's Q12.19 sum of exponentials takes at most 4,096",
                        xin.shape.c
                    )));
                }
                let (
                    input_multiplier,
                    input_left_shift,
                    reverse_scaling_divisor,
                    reverse_scaling_shift,
                    diff_min,
                ) = log_softmax_scaling(xin.scale as f64)
                    .ok_or_else(|| at.unsupported(format!("input scale {}", xin.scale)))?;
                LayerOp::LogSoftmax(LogSoftmaxParams {
                    depth: xin.shape.c,
                    input_multiplier,
                    input_left_shift,
                    reverse_scaling_divisor,
                    reverse_scaling_shift,
                    diff_min,
                })
                .with(vec![x], y, index)
            }
            OpKind::L2Normalization { activation } => {
                if *activation != Activation::None {
                    return Err(at.unsupported(format!(
                        "fused activation {activation:?}; TFLM requires none"
                    )));
                }
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.dims != yout.dims {
                    return Err(at.invalid("input and output shapes differ"));
                }
                // TFLM's kernel writes units of 1/128 whatever the output's
                // quantization says; TFLite requires these.
                if yout.zero_point != 0 || yout.scale != 1.0 / 128.0 {
                    return Err(at.unsupported(format!(
                        "int8 L2_NORMALIZATION output must have scale 1/128 and zero point 0, it has {} and {}",
                        yout.scale, yout.zero_point
                    )));
                }
                if xin.shape.c as usize > L2_NORMALIZATION_MAX_DEPTH {
                    return Err(at.unsupported(format!(
                        "rows of {} elements; TFLM's int32 sum of squares takes at most {L2_NORMALIZATION_MAX_DEPTH}",
                        xin.shape.c
                    )));
                }
                LayerOp::L2Normalization(L2NormalizationParams {
                    depth: xin.shape.c,
                    input_zero_point: xin.zero_point,
                })
                .with(vec![x], y, index)
            }
            OpKind::Unary { func, numerics } => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (&self.values[x], &self.values[y]);
                if xin.shape != yout.shape {
                    return Err(at.invalid(format!(
                        "input {:?} and output {:?} shapes differ",
                        xin.dims, yout.dims
                    )));
                }
                let quant = |v: &Value| unary_lut::Quant {
                    scale: v.scale,
                    zero_point: v.zero_point,
                };
                let table = unary_lut::table(*func, *numerics, quant(xin), quant(yout))
                    .map_err(|m| at.unsupported(m))?;
                LayerOp::Lookup { func: *func, table }.with(vec![x], y, index)
            }
            OpKind::Reduce {
                func,
                axes,
                keep_dims,
            } => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (&self.values[x], &self.values[y]);
                if axes.iter().any(|&a| a >= xin.dims.len()) {
                    return Err(at.invalid(format!(
                        "axes {axes:?} are out of range for input {:?}",
                        xin.dims
                    )));
                }
                let expected = reduce::output_dims(&xin.dims, axes, *keep_dims);
                if expected != yout.dims {
                    return Err(at.invalid(format!(
                        "reducing {:?} over axes {axes:?} gives {expected:?}, but the output is {:?}",
                        xin.dims, yout.dims
                    )));
                }
                let (outer, count, inner) =
                    reduce::geometry(&xin.dims, axes).map_err(|m| at.unsupported(m))?;
                let quant = |v: &Value| unary_lut::Quant {
                    scale: v.scale,
                    zero_point: v.zero_point,
                };
                let kind = reduce::kind(*func, quant(xin), quant(yout), count)
                    .map_err(|m| at.unsupported(m))?;
                let extent = |v: usize| {
                    u32::try_from(v).map_err(|_| at.unsupported(format!("extent {v} over 2^32")))
                };
                let params = ReduceParams {
                    outer: extent(outer)?,
                    reduce: extent(count)?,
                    inner: extent(inner)?,
                    kind,
                };
                LayerOp::Reduce {
                    func: *func,
                    params,
                }
                .with(vec![x], y, index)
            }
            OpKind::Move { func, .. } => {
                let x_id = self.input_id(&at, op, 0, "input")?;
                let x = self.read(&at, x_id)?;
                let y_id = self.output_id(&at, op)?;
                let y = self.write(&at, y_id)?;
                let (xin, yout) = (&self.values[x], &self.values[y]);
                if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
                    return Err(at.unsupported(format!(
                        "input (scale {}, zero point {}) and output (scale {}, zero point {}) \
                         quantization differ; data movement does not requantize",
                        xin.scale, xin.zero_point, yout.scale, yout.zero_point
                    )));
                }
                let in_dims = self.tensor(&at, x_id)?.shape.clone();
                let out_dims = self.tensor(&at, y_id)?.shape.clone();
                movement_layer(func, func.name(), &in_dims, &out_dims, yout)
                    .map_err(|m| at.unsupported(m))?
                    .with(vec![x], y, index)
            }
            OpKind::Reshape => {
                let x = self.read(&at, self.input_id(&at, op, 0, "input")?)?;
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let (xin, yout) = (&self.values[x], &self.values[y]);
                if xin.shape.len() != yout.shape.len() {
                    return Err(at.invalid(format!(
                        "reshape from {:?} ({} elements) to {:?} ({} elements)",
                        xin.dims,
                        xin.shape.len(),
                        yout.dims,
                        yout.shape.len()
                    )));
                }
                if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
                    return Err(at.unsupported("RESHAPE that changes quantization"));
                }
                LayerOp::Reshape.with(vec![x], y, index)
            }
            OpKind::Pack { axis } => {
                let mut xs = Vec::new();
                for k in 0..op.inputs.len() {
                    xs.push(self.read(&at, self.input_id(&at, op, k, "input")?)?);
                }
                let y = self.write(&at, self.output_id(&at, op)?)?;
                let vy = &self.values[y];
                // PACK is a CONCATENATION along the new axis of the inputs
                // reshaped with a 1 there; TFLM's int8 PACK copies bytes too.
                let mut dims = Vec::new();
                for &x in &xs {
                    let vx = &self.values[x];
                    if vx.scale != vy.scale || vx.zero_point != vy.zero_point {
                        return Err(at.unsupported(format!(
                            "input '{}' (scale {}, zero point {}) and the output (scale {}, \
                             zero point {}) are quantized differently; TFLM's int8 PACK \
                             copies bytes",
                            vx.name, vx.scale, vx.zero_point, vy.scale, vy.zero_point
                        )));
                    }
                    dims.push(
                        binary::pack_operand_dims(&vx.dims, *axis).map_err(|m| at.invalid(m))?,
                    );
                }
                let dims: Vec<&[usize]> = dims.iter().map(Vec::as_slice).collect();
                let parts =
                    binary::concat_parts(&dims, &vy.dims, *axis).map_err(|m| at.invalid(m))?;
                let tables = vec![Vec::new(); xs.len()];
                LayerOp::Concat { parts, tables }.with(xs, y, index)
            }
            OpKind::Split {
                axis,
                sizes,
                squeeze,
                name,
            } => {
                let x_id = self.input_id(&at, op, 0, "input")?;
                let x = self.read(&at, x_id)?;
                let in_dims = self.values[x].dims.clone();
                let parts = movement::split_parts(&in_dims, *axis, sizes, *squeeze)
                    .map_err(|m| at.invalid(m))?;
                if parts.len() != op.outputs.len() {
                    return Err(at.invalid(format!(
                        "has {} outputs for {} parts",
                        op.outputs.len(),
                        parts.len()
                    )));
                }
                for (k, ((func, dims), &y_id)) in parts.iter().zip(&op.outputs).enumerate() {
                    let y = self.write(&at, y_id)?;
                    let (xin, yout) = (&self.values[x], &self.values[y]);
                    if yout.dims != *dims {
                        return Err(at.invalid(format!(
                            "output {k} '{}' has shape {:?}, but part {k} of {:?} is {dims:?}",
                            yout.name, yout.dims, xin.dims
                        )));
                    }
                    if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
                        return Err(at.unsupported(format!(
                            "input (scale {}, zero point {}) and output {k} (scale {}, zero \
                             point {}) quantization differ; TFLM's int8 {} copies bytes",
                            xin.scale, xin.zero_point, yout.scale, yout.zero_point, at.op
                        )));
                    }
                    let layer = movement_layer(func, name, &in_dims, dims, yout)
                        .map_err(|m| at.unsupported(m))?;
                    layers.push(layer.with(vec![x], y, index));
                }
                return Ok(());
            }
        };
        layers.push(layer);
        Ok(())
    }
}

/// The layer of a movement-family op (see [`crate::ops::movement`]):
/// TFLM's integer bilinear resize, or a gather whose padding holds `fill`,
/// named `name` in reports.
fn movement_layer(
    func: &MoveFn,
    name: &'static str,
    in_dims: &[usize],
    out_dims: &[usize],
    out: &Value,
) -> std::result::Result<LayerOp, String> {
    if let MoveFn::ResizeBilinear {
        align_corners,
        half_pixel_centers,
    } = func
    {
        let (&[1, ih, iw, c], &[1, oh, ow, oc]) = (in_dims, out_dims) else {
            return Err(format!(
                "shapes {in_dims:?} -> {out_dims:?}; [1, height, width, channels] is required"
            ));
        };
        if c != oc {
            return Err("input and output channels differ".into());
        }
        if *align_corners && *half_pixel_centers {
            return Err("align_corners and half_pixel_centers together".into());
        }
        return Ok(LayerOp::ResizeBilinear(movement::bilinear_params(
            (ih, iw),
            (oh, ow),
            *align_corners,
            *half_pixel_centers,
        )?));
    }
    let fill = match func {
        // TFLM: PAD writes the output's zero point, PADV2 its constant's
        // byte, which must share the output's scale and zero point.
        MoveFn::Pad { value, .. } => match *value {
            PadValue::Zero => out.zero_point as i8,
            PadValue::Quantized {
                value,
                scale,
                zero_point,
            } => {
                if scale as f64 != out.scale as f64 || zero_point != out.zero_point as i64 {
                    return Err(format!(
                        "the pad value's quantization (scale {scale}, zero point {zero_point}) \
                         is not the output's"
                    ));
                }
                value
            }
            PadValue::Float(v) => {
                let q = (v as f64 / out.scale as f64).round_ties_even() + out.zero_point as f64;
                q.clamp(-128.0, 127.0) as i8
            }
        },
        _ => 0,
    };
    let g = movement::gather(func, in_dims, out_dims)?;
    let (params, tables) = movement::to_runtime(&g, fill)?;
    Ok(LayerOp::Gather {
        name,
        params,
        tables,
    })
}

/// Rewrites the channels of a convolution-like layer that the kernels' fast
/// epilogue does not cover (TensorFlow's dead channels: a bias clamped to
/// `±2^30`, a shift near -26) into covered parameters with the same output
/// for every input ([`crate::fast_epilogue`]); `weights(filter, oc)` gives
/// channel `oc`'s weights, `taps` their count.
fn cover_fast_epilogue<'f, W>(
    data: &'f mut ConvData,
    quant: &ConvQuant,
    taps: usize,
    weights: impl Fn(&'f [i8], usize) -> W,
) where
    W: Iterator<Item = &'f i8>,
{
    let layer = fast_epilogue::LayerRequant {
        taps,
        input_zp: quant.input_zero_point,
        output_zp: quant.output_zero_point,
        min: quant.clamp.min,
        max: quant.clamp.max,
    };
    let filter: &'f [i8] = &data.filter;
    fast_epilogue::cover_layer(
        &layer,
        &mut data.bias,
        &mut data.multiplier,
        &mut data.shift,
        |oc| weights(filter, oc),
    );
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
