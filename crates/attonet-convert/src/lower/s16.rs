//! Lowering of TFLite's 16x8 layers (int16 activations, int8 weights) to the
//! runtime's int16 kernels, with the parameters TensorFlow Lite Micro's
//! Prepare computes for them. Every int16 tensor has zero point 0 (TFLM
//! requires it of these kernels); conv-like layers take int64 biases. A
//! layer that reads an int16 value and has no int16 kernel here is refused,
//! naming the op.

use attonet_runtime::ops::add::AddS16Params;
use attonet_runtime::ops::binary::MulS16Params;
use attonet_runtime::ops::conv::ConvS16Params;
use attonet_runtime::ops::depthwise::DepthwiseS16Params;
use attonet_runtime::ops::fully_connected::FullyConnectedS16Params;
use attonet_runtime::ops::int16::{shift64_in_range, Clamp16};
use attonet_runtime::ops::lookup::{PiecewiseS16Params, SigmoidS16Params};
use attonet_runtime::ops::requantize::IntType;
use attonet_runtime::ops::softmax::{SoftmaxS16Params, SOFTMAX_S16_LUT_LEN};
use attonet_runtime::ops::Shape;
use attonet_runtime::plan::ElementType;

use super::{u16_dim, At, Lowering, WithIo};
use crate::error::{ConvertError, Result};
use crate::ir::{Activation, BinaryFn, DType, Op, OpKind, TensorId, UnaryFn};
use crate::program::{ConvData, Layer, LayerOp, S16Layer, Value, ValueId};
use crate::requantize::{quantize_multiplier, quantize_multiplier_smaller_than_one};

/// The ops with an int16 kernel, for refusals.
const S16_OPS: &str = "CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MUL, SOFTMAX, \
                       LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, AVERAGE_POOL_2D, MAX_POOL_2D, \
                       MEAN, SUM, RESHAPE (SQUEEZE, EXPAND_DIMS) and the byte movers \
                       (CONCATENATION, PACK, PAD, TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, \
                       SPLIT_V, UNPACK, RESIZE_NEAREST_NEIGHBOR)";

/// The int16 clamp of a fused activation: TFLM's
/// `CalculateActivationRangeQuantized` for an int16 output with zero point 0.
pub(super) fn clamp16(act: Activation, scale: f32) -> Clamp16 {
    let q = |x: f32| -> i32 { (x / scale).round() as i32 };
    let (lo, hi) = match act {
        Activation::None => (i16::MIN as i32, i16::MAX as i32),
        Activation::Relu => (q(0.0), i16::MAX as i32),
        Activation::Relu6 => (q(0.0), q(6.0)),
        Activation::ReluN1To1 => (q(-1.0), q(1.0)),
    };
    let c = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
    Clamp16 {
        min: c(lo),
        max: c(hi),
    }
}

/// The element shape of an int16 value (its shape counts bytes).
fn elements(v: &Value) -> Shape {
    Shape::new(v.shape.h, v.shape.w, v.shape.c / 2)
}

impl Lowering<'_> {
    /// A new int16 value for tensor `id`: per-tensor quantized with zero
    /// point 0; its shape counts channels in bytes (`2 * c`).
    pub(super) fn new_s16_value(&mut self, at: &At<'_>, id: TensorId) -> Result<ValueId> {
        let t = self.tensor(at, id)?;
        self.require_type(at, t, DType::I16)?;
        // The 16x8 kernels' rule (zero point 0) first; the rest is every
        // quantized integer value's (`new_quantized_value`).
        if t.data.is_none() && !self.by_tensor.contains_key(&id) {
            self.per_tensor_s16(at, id)?;
        }
        self.new_quantized_value(at, id, IntType::Int16)
    }

    /// Scale and zero point (0) of an int16 tensor.
    fn per_tensor_s16(&self, at: &At<'_>, id: TensorId) -> Result<(f32, i32)> {
        let t = self.tensor(at, id)?;
        let (scale, zp) = self.scale_and_zero_point(at, t)?;
        if zp != 0 {
            return Err(at.unsupported(format!(
                "int16 tensor '{}' has zero point {zp}; TFLM's 16x8 kernels require 0",
                t.name
            )));
        }
        Ok((scale, 0))
    }

    /// Whether `op` reads an int16 value (a 16x8 layer).
    pub(super) fn reads_s16(&self, op: &Op) -> bool {
        op.inputs.iter().flatten().any(|id| {
            self.by_tensor
                .get(id)
                .is_some_and(|&v| self.values[v].dtype == ElementType::Int16)
        })
    }

    /// The int16 value of input `k` of `op`.
    fn read_s16(&self, at: &At<'_>, op: &Op, k: usize, what: &str) -> Result<ValueId> {
        let id = self.input_id(at, op, k, what)?;
        self.read_typed(at, id, ElementType::Int16)
    }

    /// The int16 output of `op` (its tensor must be int16).
    fn write_s16(&mut self, at: &At<'_>, op: &Op) -> Result<ValueId> {
        let id = self.output_id(at, op)?;
        self.new_s16_value(at, id)
    }

    /// The int64 bias at input `k` (zeros when omitted), as the runtime's
    /// word pairs (low, high).
    fn bias64(&self, at: &At<'_>, op: &Op, k: usize, out_c: usize) -> Result<Vec<i32>> {
        let Some(id) = op.inputs.get(k).copied().flatten() else {
            return Ok(vec![0; 2 * out_c]);
        };
        let t = self.tensor(at, id)?;
        if t.dtype == DType::I32 {
            return Err(at.unsupported(format!(
                "16x8 with the int32 bias '{}': TFLM accumulates such a layer in 32 bits; \
                 AttoNet runs the converter's default form, an int64 bias",
                t.name
            )));
        }
        self.require_type(at, t, DType::I64)?;
        self.bias_words(at, t, out_c, 8)
    }

    /// Per-channel multipliers and shifts for the 64-bit requantization
    /// (shifts must be at most 7).
    fn requant64(
        &self,
        at: &At<'_>,
        input_scale: f32,
        weight_scales: &[f32],
        output_scale: f32,
    ) -> Result<(Vec<i32>, Vec<i32>)> {
        let (m, s) = self.conv_requant(at, input_scale, weight_scales, output_scale)?;
        check_shift64(at, &s)?;
        Ok((m, s))
    }

    /// Lowers a 16x8 op (one that reads an int16 value).
    pub(super) fn lower_s16(&mut self, at: &At<'_>, index: usize, op: &Op) -> Result<Layer> {
        let layer = match &op.kind {
            OpKind::Conv2d {
                padding,
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                activation,
            } => {
                let x = self.read_s16(at, op, 0, "input")?;
                let (ft, filter) =
                    self.constant_i8(at, self.input_id(at, op, 1, "filter")?, "filter")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                let (is, os) = (elements(&xin), elements(&yout));
                let &[out_c, kh, kw, in_g] = ft.shape.as_slice() else {
                    return Err(at.invalid(format!("filter '{}' is not 4-D", ft.name)));
                };
                let in_c = is.c as usize;
                if in_g == 0 || in_c % in_g != 0 {
                    return Err(at.invalid(format!(
                        "input has {in_c} channels, which the filter's {in_g} input channels do not divide"
                    )));
                }
                let groups = in_c / in_g;
                if out_c != os.c as usize || out_c % groups != 0 {
                    return Err(at.invalid(format!(
                        "filter has {out_c} output channels, output has {}, groups {groups}",
                        os.c
                    )));
                }
                let window = self.window(
                    at,
                    *padding,
                    (kh, kw),
                    (*stride_h, *stride_w),
                    (*dilation_h, *dilation_w),
                    is,
                    os,
                )?;
                let scales = self.weight_scales(at, ft, out_c, 0)?;
                let (multiplier, shift) = self.requant64(at, xin.scale, &scales, yout.scale)?;
                S16Layer::Conv {
                    params: ConvS16Params {
                        window,
                        groups: u16_dim(at, "groups", groups)?,
                        clamp: clamp16(*activation, yout.scale),
                    },
                    data: ConvData {
                        filter,
                        bias: self.bias64(at, op, 2, out_c)?,
                        multiplier,
                        shift,
                    },
                }
                .with(vec![x], y, index)
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
                let x = self.read_s16(at, op, 0, "input")?;
                let (ft, filter) =
                    self.constant_i8(at, self.input_id(at, op, 1, "filter")?, "filter")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                let (is, os) = (elements(&xin), elements(&yout));
                let &[one, kh, kw, out_c] = ft.shape.as_slice() else {
                    return Err(at.invalid(format!("filter '{}' is not 4-D", ft.name)));
                };
                let in_c = is.c as usize;
                if one != 1 || out_c != os.c as usize || in_c == 0 || out_c % in_c != 0 {
                    return Err(at.invalid(format!(
                        "filter shape {:?} does not fit input channels {in_c} and output channels {}",
                        ft.shape, os.c
                    )));
                }
                let window = self.window(
                    at,
                    *padding,
                    (kh, kw),
                    (*stride_h, *stride_w),
                    (*dilation_h, *dilation_w),
                    is,
                    os,
                )?;
                let scales = self.weight_scales(at, ft, out_c, 3)?;
                let (multiplier, shift) = self.requant64(at, xin.scale, &scales, yout.scale)?;
                S16Layer::Depthwise {
                    params: DepthwiseS16Params {
                        window,
                        depth_multiplier: u16_dim(at, "depth multiplier", out_c / in_c)?,
                        clamp: clamp16(*activation, yout.scale),
                    },
                    data: ConvData {
                        filter,
                        bias: self.bias64(at, op, 2, out_c)?,
                        multiplier,
                        shift,
                    },
                }
                .with(vec![x], y, index)
            }
            OpKind::FullyConnected { activation, .. } => {
                let x = self.read_s16(at, op, 0, "input")?;
                let (wt, filter) =
                    self.constant_i8(at, self.input_id(at, op, 1, "weights")?, "weights")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                let [out_f, in_f] = wt.shape[..] else {
                    return Err(at.invalid(format!(
                        "weights '{}' have rank {}, expected 2",
                        wt.name,
                        wt.shape.len()
                    )));
                };
                let (n_in, n_out) = (elements(&xin).len(), elements(&yout).len());
                if in_f == 0 || n_in % in_f != 0 || n_out != n_in / in_f * out_f {
                    return Err(at.invalid(format!(
                        "input of {n_in} and output of {n_out} elements do not fit weights \
                         [{out_f}, {in_f}]"
                    )));
                }
                let q = wt.quant.as_ref().ok_or_else(|| {
                    at.invalid(format!(
                        "weights '{}' have no quantization parameters",
                        wt.name
                    ))
                })?;
                let (multiplier, shift) = if q.scales.len() == 1 {
                    if q.zero_points.iter().any(|&z| z != 0) {
                        return Err(at.unsupported(format!(
                            "16x8 weights '{}' with zero point {:?}; AttoNet takes symmetric \
                             int8 weights",
                            wt.name, q.zero_points
                        )));
                    }
                    // GetQuantizedConvolutionMultipler, the product in
                    // double (as the int8 FULLY_CONNECTED's).
                    let product = xin.scale as f64 * q.scales[0] as f64;
                    let (m, s) = quantize_multiplier(product / yout.scale as f64);
                    check_shift64(at, &[s])?;
                    (vec![m], vec![s])
                } else {
                    let scales = self.weight_scales(at, wt, out_f, 0)?;
                    self.requant64(at, xin.scale, &scales, yout.scale)?
                };
                S16Layer::FullyConnected {
                    params: FullyConnectedS16Params {
                        in_features: u16_dim(at, "input features", in_f)?,
                        out_features: u16_dim(at, "output features", out_f)?,
                        clamp: clamp16(*activation, yout.scale),
                    },
                    data: ConvData {
                        filter,
                        bias: self.bias64(at, op, 2, out_f)?,
                        multiplier,
                        shift,
                    },
                }
                .with(vec![x], y, index)
            }
            OpKind::Add { activation } => {
                let (xs, scales, constants, y) = self.s16_operands(at, op)?;
                let so = self.values[y].scale;
                // CalculateOpDataAdd for int16: left shift 15, the input
                // multipliers relative to twice the larger input scale.
                let left_shift = 15;
                let twice_max = 2.0 * scales[0].max(scales[1]) as f64;
                let q = |m: f64| {
                    quantize_multiplier_smaller_than_one(m).ok_or_else(|| {
                        at.unsupported(format!("ADD rescale factor {m:e} is not below 1"))
                    })
                };
                let (m1, s1) = q(scales[0] as f64 / twice_max)?;
                let (m2, s2) = q(scales[1] as f64 / twice_max)?;
                let (mo, s_out) = q(twice_max / ((1i64 << left_shift) as f64 * so as f64))?;
                S16Layer::Add {
                    params: AddS16Params {
                        left_shift,
                        input1_multiplier: m1,
                        input1_shift: s1,
                        input2_multiplier: m2,
                        input2_shift: s2,
                        output_multiplier: mo,
                        output_shift: s_out,
                        clamp: clamp16(*activation, so),
                    },
                    constants,
                }
                .with(xs, y, index)
            }
            OpKind::Binary {
                func: BinaryFn::Mul,
                activation,
            } => {
                let (xs, scales, constants, y) = self.s16_operands(at, op)?;
                let so = self.values[y].scale;
                let real = scales[0] as f64 * scales[1] as f64 / so as f64;
                let (m, s) = quantize_multiplier(real);
                if !attonet_runtime::quant::shift_in_range(s) {
                    return Err(at.unsupported(format!("MUL rescale {real:e} needs shift {s}")));
                }
                S16Layer::Mul {
                    params: MulS16Params {
                        output_multiplier: m,
                        output_shift: s,
                        clamp: clamp16(*activation, so),
                    },
                    constants,
                }
                .with(xs, y, index)
            }
            OpKind::Softmax { beta } => {
                let x = self.read_s16(at, op, 0, "input")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.dims != yout.dims {
                    return Err(at.invalid("input and output shapes differ"));
                }
                // CalculateSoftmaxParams for int16: the output is Q0.15.
                let want = 1.0f32 / 32768.0;
                if (yout.scale - want).abs() > 0.001 * want {
                    return Err(at.unsupported(format!(
                        "int16 SOFTMAX output must have scale 1/32768 and zero point 0, it has \
                         scale {}",
                        yout.scale
                    )));
                }
                let real = xin.scale as f64 * *beta as f64 / (10.0 / 65535.0);
                let (input_multiplier, input_shift) = quantize_multiplier(real);
                if !attonet_runtime::quant::shift_in_range(input_shift) {
                    return Err(at.unsupported(format!(
                        "beta {beta} with input scale {} needs shift {input_shift}",
                        xin.scale
                    )));
                }
                S16Layer::Softmax {
                    params: SoftmaxS16Params {
                        depth: u16_dim(at, "row length", elements(&xin).c as usize)?,
                        input_multiplier,
                        input_shift,
                    },
                    exp_lut: gen_lut_s16(|v| v.exp(), -10.0, 0.0),
                    reciprocal_lut: gen_lut_s16(|v| 1.0 / (1.0 + v), 0.0, 1.0),
                }
                .with(vec![x], y, index)
            }
            OpKind::Unary {
                func: func @ (UnaryFn::Logistic | UnaryFn::Tanh),
                ..
            } => {
                let x = self.read_s16(at, op, 0, "input")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.dims != yout.dims {
                    return Err(at.invalid("input and output shapes differ"));
                }
                let tanh = matches!(func, UnaryFn::Tanh);
                let params = sigmoid_scaling(xin.scale, tanh);
                match checked_log2(yout.scale) {
                    Some(-15) => {}
                    _ => {
                        return Err(at.unsupported(format!(
                            "int16 {} output must have scale 2^-15, it has {}",
                            at.op, yout.scale
                        )))
                    }
                }
                if tanh {
                    S16Layer::Tanh(params)
                } else {
                    S16Layer::Logistic(params)
                }
                .with(vec![x], y, index)
            }
            // RELU, RELU6, LEAKY_RELU: TFLM's int16 activations, one
            // piecewise rescale and clamp (ops::lookup::piecewise_s16).
            OpKind::Unary {
                func: func @ (UnaryFn::Relu | UnaryFn::Relu6 | UnaryFn::LeakyRelu { .. }),
                ..
            } => {
                let x = self.read_s16(at, op, 0, "input")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
                if xin.dims != yout.dims {
                    return Err(at.invalid("input and output shapes differ"));
                }
                let (zi, zo) = (xin.zero_point, yout.zero_point);
                let multiplier = |real: f64, what: &str| -> Result<(i32, i32)> {
                    let (m, s) = quantize_multiplier(real);
                    if m <= 0 || !attonet_runtime::quant::shift_in_range(s) {
                        return Err(at.unsupported(format!(
                            "int16 {} {what} {real:e} has no multiplier TFLM's kernel takes",
                            at.op
                        )));
                    }
                    Ok((m, s))
                };
                // MultiplyByQuantizedMultiplier(v, 2^30, 1) == v.
                const IDENTITY: (i32, i32) = (1 << 30, 1);
                let (name, params) = match func {
                    // CalculateReluOpData<int16_t>: QuantizeMultiplier(in /
                    // out) in double, the range from the output's zero.
                    UnaryFn::Relu => {
                        let m = multiplier(xin.scale as f64 / yout.scale as f64, "rescale")?;
                        let clamp = Clamp16 {
                            min: zo.clamp(i16::MIN as i32, i16::MAX as i32) as i16,
                            max: i16::MAX,
                        };
                        ("RELU", (zi, zo, m, m, clamp))
                    }
                    // Relu6Prepare: the input's values themselves between
                    // its zero and FloatToQuantizedType<int16_t>(6, scale,
                    // zero point); TFLM reads no output quantization here.
                    UnaryFn::Relu6 => {
                        let six = ((6.0f32 / xin.scale).round() as f64 + zi as f64)
                            .clamp(i16::MIN as f64, i16::MAX as f64)
                            as i16;
                        let zero = zi.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                        let clamp = Clamp16 {
                            min: zero,
                            max: six.max(zero),
                        };
                        // No rescale, no zero point taken or added.
                        ("RELU6", (0, 0, IDENTITY, IDENTITY, clamp))
                    }
                    // CalculateOpDataLeakyRelu: the products in float.
                    UnaryFn::LeakyRelu { alpha } => {
                        let identity = multiplier((xin.scale / yout.scale) as f64, "rescale")?;
                        let negative =
                            multiplier((xin.scale * alpha / yout.scale) as f64, "alpha")?;
                        ("LEAKY_RELU", (zi, zo, identity, negative, Clamp16::NONE))
                    }
                    _ => return Err(at.invalid("not a piecewise activation")),
                };
                let (input_zero_point, output_zero_point, positive, negative, clamp) = params;
                S16Layer::Piecewise {
                    name,
                    params: PiecewiseS16Params {
                        input_zero_point,
                        output_zero_point,
                        positive,
                        negative,
                        clamp,
                    },
                }
                .with(vec![x], y, index)
            }
            // The same bytes under other dims (SQUEEZE and EXPAND_DIMS
            // are reshapes too): an alias, as for int8.
            OpKind::Reshape => {
                let x = self.read_s16(at, op, 0, "input")?;
                let y = self.write_s16(at, op)?;
                let (xin, yout) = (&self.values[x], &self.values[y]);
                if xin.shape.len() != yout.shape.len() {
                    return Err(at.invalid(format!(
                        "reshape from {:?} to {:?}: the element counts differ",
                        xin.dims, yout.dims
                    )));
                }
                if xin.scale != yout.scale {
                    return Err(at.unsupported("RESHAPE that changes quantization"));
                }
                LayerOp::Reshape.with(vec![x], y, index)
            }
            _ => {
                return Err(at.unsupported(format!(
                    "int16 input (TFLite's 16x8 quantization): AttoNet has int16 kernels for \
                     {S16_OPS} only"
                )))
            }
        };
        Ok(layer)
    }

    /// The two operands of a 16x8 ADD or MUL (activations or int16
    /// constants, zero point 0) and its output: the activations, both
    /// scales, each constant's bytes, the output value. Each operand must
    /// fill the output or repeat over its leading dimensions.
    #[allow(clippy::type_complexity)]
    fn s16_operands(
        &mut self,
        at: &At<'_>,
        op: &Op,
    ) -> Result<(Vec<ValueId>, [f32; 2], [Option<Vec<i8>>; 2], ValueId)> {
        let mut xs = Vec::new();
        let mut scales = [0f32; 2];
        let mut constants: [Option<Vec<i8>>; 2] = [None, None];
        let mut dims = Vec::new();
        for k in 0..2 {
            let id = self.input_id(at, op, k, "operand")?;
            if self.by_tensor.contains_key(&id) {
                let v = self.read_typed(at, id, ElementType::Int16)?;
                scales[k] = self.values[v].scale;
                dims.push(self.values[v].dims.clone());
                xs.push(v);
            } else {
                let t = self.tensor(at, id)?;
                let Some(data) = t.data.as_ref() else {
                    return Err(at.invalid(format!(
                        "input '{}' is read before any operator writes it",
                        t.name
                    )));
                };
                self.require_type(at, t, DType::I16)?;
                if data.len() != t.elements() * 2 {
                    return Err(at.invalid(format!(
                        "constant '{}' holds {} bytes for {} int16 elements",
                        t.name,
                        data.len(),
                        t.elements()
                    )));
                }
                scales[k] = self.per_tensor_s16(at, id)?.0;
                dims.push(t.shape.clone());
                constants[k] = Some(data.iter().map(|&b| b as i8).collect());
            }
        }
        if xs.is_empty() {
            return Err(at.unsupported("both operands are constants"));
        }
        let y = self.write_s16(at, op)?;
        let out = self.values[y].dims.clone();
        let n: usize = out.iter().product();
        if !dims.iter().any(|d| d.iter().product::<usize>() == n) {
            return Err(at.invalid(format!(
                "operands {dims:?} are both smaller than the output {out:?}"
            )));
        }
        for d in &dims {
            if !repeats_over(d, &out) {
                return Err(at.unsupported(format!(
                    "int16 operand {d:?} against output {out:?}: the 16x8 kernels take an operand \
                     of the output's shape or one repeated over its leading dimensions"
                )));
            }
        }
        Ok((xs, scales, constants, y))
    }
}

/// Whether an operand of dims `d` fills `out` or repeats over its leading
/// dimensions (`d` without its leading 1s is a suffix of `out`).
fn repeats_over(d: &[usize], out: &[usize]) -> bool {
    let first = d.iter().position(|&n| n != 1).unwrap_or(d.len());
    let core = &d[first..];
    core.len() <= out.len() && out.ends_with(core)
}

/// TFLM's `CheckedLog2` (in `float`): the rounded base-2 logarithm of `x`
/// when `x` is within 0.1 % (of an octave) of a power of two.
fn checked_log2(x: f32) -> Option<i32> {
    let log2 = x.ln() * (1.0f32 / 2.0f32.ln());
    let rounded = log2.round();
    ((log2 - rounded).abs() < 1e-3).then_some(rounded as i32)
}

/// The input scaling of an int16 LOGISTIC (`tanh`: TANH), as TFLM's
/// Prepare computes it: a power-of-two scale of 2^-12 (TANH: also 2^-13)
/// takes the table directly (`input_multiplier` 0); any other a multiplier
/// to steps of 1 / (3 * 4096), doubled below 2^14 with the shift counting.
fn sigmoid_scaling(scale: f32, tanh: bool) -> SigmoidS16Params {
    const INPUT_INTEGER_BITS: i32 = 3;
    if let Some(log2) = checked_log2(scale) {
        let shift = (15 - INPUT_INTEGER_BITS) + log2;
        if shift == 0 || (tanh && shift == 1) {
            return SigmoidS16Params {
                input_multiplier: 0,
                input_left_shift: shift,
            };
        }
    }
    let mut multiplier = scale as f64 * 4096.0 * 3.0;
    let mut shift = 0;
    while multiplier <= 32767.0 / 2.0 && shift <= 30 {
        shift += 1;
        multiplier *= 2.0;
    }
    SigmoidS16Params {
        input_multiplier: multiplier as i32,
        input_left_shift: shift,
    }
}

/// TFLM's `gen_lut<float, int16_t, int16_t>` with output range [-1, 1]: 512
/// steps of `f` over `[min, max]` and the value at `max`, in Q0.15, each
/// step's sample nudged by half its midpoint's interpolation error; the
/// arithmetic in `f32`, as TFLM's.
fn gen_lut_s16(f: impl Fn(f32) -> f32, min: f32, max: f32) -> Vec<i16> {
    const STEPS: usize = SOFTMAX_S16_LUT_LEN - 1;
    let step = (max - min) / STEPS as f32;
    let half_step = step / 2.0;
    let scaling = 65536.0f32 / 2.0;
    let clamp = |v: f32| v.clamp(-32768.0, 32767.0) as i16;
    let mut lut = Vec::with_capacity(SOFTMAX_S16_LUT_LEN);
    for i in 0..STEPS {
        let val = f(min + i as f32 * step);
        let val_midpoint = f(min + i as f32 * step + half_step);
        let val_next = f(min + (i + 1) as f32 * step);
        let sample = (val * scaling).round();
        let midpoint_interp = ((val_next * scaling + (val * scaling).round()) / 2.0).round();
        let midpoint = (val_midpoint * scaling).round();
        let bias = ((midpoint_interp - midpoint) / 2.0).round();
        lut.push(clamp(sample - bias));
    }
    lut.push(clamp((f(max) * scaling).round()));
    lut
}

fn check_shift64(at: &At<'_>, shifts: &[i32]) -> Result<()> {
    match shifts.iter().find(|&&s| !shift64_in_range(s)) {
        Some(s) => Err(ConvertError::UnsupportedOp {
            index: at.index,
            name: at.op.to_string(),
            detail: Some(format!(
                "16x8 output rescale needs shift {s}; TFLM's 64-bit requantization takes -31..=7"
            )),
        }),
        None => Ok(()),
    }
}

impl WithIo for S16Layer {
    fn with(self, inputs: Vec<ValueId>, output: ValueId, index: usize) -> Layer {
        LayerOp::S16(self).with(inputs, output, index)
    }
}
