//! The graph every front end produces: TFLite's vocabulary (NHWC, TFLite op
//! semantics), independent of the file format it came from.

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Boolean.
    Bool,
    /// Anything else, by the source format's own type code.
    Other(i32),
}

impl DType {
    /// Size of one element in bytes (0 when unknown).
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I64 => 8,
            DType::Other(_) => 0,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DType::F32 => write!(f, "float32"),
            DType::F16 => write!(f, "float16"),
            DType::I8 => write!(f, "int8"),
            DType::U8 => write!(f, "uint8"),
            DType::I16 => write!(f, "int16"),
            DType::I32 => write!(f, "int32"),
            DType::I64 => write!(f, "int64"),
            DType::Bool => write!(f, "bool"),
            DType::Other(code) => write!(f, "type code {code}"),
        }
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`, per tensor (one
/// entry) or per channel along `axis`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    /// Scales, one per tensor or per channel.
    pub scales: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_points: Vec<i64>,
    /// The quantized dimension for per-channel quantization.
    pub axis: usize,
}

/// A tensor: activations have no data, constants (weights, biases, shapes) do.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The tensor's name in the source model.
    pub name: String,
    /// Dimensions (TFLite order: NHWC for images, `[out, in]` for FC weights).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Quantization, if any.
    pub quant: Option<Quantization>,
    /// Constant contents, little-endian, `shape.product() * dtype.size()` bytes.
    pub data: Option<Vec<u8>>,
    /// A variable tensor (TFLite's `is_variable`): state an op keeps and
    /// updates from one run to the next (an SVDF's memory), without data.
    pub variable: bool,
}

impl Tensor {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Padding scheme of a sliding-window op. Taps that fall in the padding are
/// skipped (they contribute nothing), whatever the scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, padding split with the smaller half on top/left.
    Same,
    /// No padding.
    Valid,
    /// Explicit padding (as ONNX and PyTorch give it): output size
    /// `(in + before + after - effective_window) / stride + 1`.
    Explicit {
        /// Rows above.
        top: usize,
        /// Columns to the left.
        left: usize,
        /// Rows below.
        bottom: usize,
        /// Columns to the right.
        right: usize,
    },
}

/// The two spatial axes of a window op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Height.
    Vertical,
    /// Width.
    Horizontal,
}

impl Padding {
    /// Output size along `axis` (TFLite's `ComputeOutSize` for SAME and VALID).
    pub fn out_size(
        self,
        axis: Axis,
        input: usize,
        filter: usize,
        stride: usize,
        dilation: usize,
    ) -> usize {
        let effective = filter.saturating_sub(1) * dilation + 1;
        let stride = stride.max(1);
        match self {
            Padding::Same => input.div_ceil(stride),
            Padding::Valid => (input + stride).saturating_sub(effective) / stride,
            Padding::Explicit { .. } => {
                let (before, after) = self.explicit(axis);
                (input + before + after + stride).saturating_sub(effective) / stride
            }
        }
    }

    /// Padding before the input along `axis` (TFLite's `ComputePadding` for SAME).
    pub fn before(
        self,
        axis: Axis,
        input: usize,
        filter: usize,
        stride: usize,
        dilation: usize,
        output: usize,
    ) -> usize {
        match self {
            Padding::Valid => 0,
            Padding::Same => {
                let effective = filter.saturating_sub(1) * dilation + 1;
                let total = (output.saturating_sub(1) * stride + effective) as i64 - input as i64;
                (total / 2).max(0) as usize
            }
            Padding::Explicit { .. } => self.explicit(axis).0,
        }
    }

    fn explicit(self, axis: Axis) -> (usize, usize) {
        match (self, axis) {
            (Padding::Explicit { top, bottom, .. }, Axis::Vertical) => (top, bottom),
            (Padding::Explicit { left, right, .. }, Axis::Horizontal) => (left, right),
            _ => (0, 0),
        }
    }
}

/// A fused activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `clamp(x, -1, 1)`.
    ReluN1To1,
    /// `clamp(x, 0, 6)`.
    Relu6,
}

/// An element-wise function of one tensor: the unary family, which the
/// runtime computes through one 256-entry table per op
/// ([`crate::ops::unary_lut`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryFn {
    /// LOGISTIC / ONNX Sigmoid: `1 / (1 + exp(-x))`.
    Logistic,
    /// TANH / ONNX Tanh.
    Tanh,
    /// HARD_SWISH / ONNX HardSwish: `x * relu6(x + 3) / 6`.
    HardSwish,
    /// ONNX HardSigmoid: `max(0, min(1, alpha * x + beta))`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// RELU / ONNX Relu: `max(x, 0)`.
    Relu,
    /// RELU6: `clamp(x, 0, 6)`.
    Relu6,
    /// RELU_N1_TO_1: `clamp(x, -1, 1)`.
    ReluN1To1,
    /// ONNX Clip with other bounds: `clamp(x, min, max)`.
    Clip {
        /// Lower bound (may be `-inf`).
        min: f32,
        /// Upper bound (may be `inf`).
        max: f32,
    },
    /// LEAKY_RELU / ONNX LeakyRelu: `x` for `x >= 0`, else `alpha * x`.
    LeakyRelu {
        /// Slope of the negative part.
        alpha: f32,
    },
    /// QUANTIZE from int8 to int8 (a requantization): the identity on reals.
    Requantize,
    /// ONNX Exp: `e^x`.
    Exp,
    /// ONNX Neg: `-x`.
    Neg,
    /// ONNX Abs: `|x|`.
    Abs,
    /// ONNX Sqrt: `sqrt(x)`; 0 where `x < 0` (NaN in float, which int8
    /// cannot hold).
    Sqrt,
    /// ONNX Sign: -1, 0 or 1.
    Sign,
    /// ONNX Sin.
    Sin,
    /// ONNX Cos.
    Cos,
    /// ONNX Erf: the error function.
    Erf,
    /// ONNX Softplus: `ln(1 + e^x)`.
    Softplus,
    /// ONNX Softsign: `x / (1 + |x|)`.
    Softsign,
    /// ONNX Mish: `x * tanh(softplus(x))`.
    Mish,
    /// ONNX Elu: `x` for `x > 0`, else `alpha * (e^x - 1)`.
    Elu {
        /// Scale of the negative part.
        alpha: f32,
    },
    /// ONNX Celu: `max(0, x) + min(0, alpha * (e^(x / alpha) - 1))`.
    Celu {
        /// Scale and stretch of the negative part.
        alpha: f32,
    },
    /// ONNX Selu: `gamma * x` for `x > 0`, else `gamma * alpha * (e^x - 1)`.
    Selu {
        /// Scale of the negative part.
        alpha: f32,
        /// Scale of the whole.
        gamma: f32,
    },
    /// ONNX ThresholdedRelu: `x` for `x > alpha`, else 0.
    ThresholdedRelu {
        /// The threshold.
        alpha: f32,
    },
    /// ONNX Gelu: `x * Phi(x)` (`approximate = "none"`, with [`Erf`]) or its
    /// tanh approximation (`approximate = "tanh"`).
    ///
    /// [`Erf`]: UnaryFn::Erf
    Gelu {
        /// The tanh approximation.
        tanh: bool,
    },
}

impl UnaryFn {
    /// The operator's name: TFLite's where TFLite has the op.
    pub fn name(&self) -> &'static str {
        match self {
            UnaryFn::Logistic => "LOGISTIC",
            UnaryFn::Tanh => "TANH",
            UnaryFn::HardSwish => "HARD_SWISH",
            UnaryFn::HardSigmoid { .. } => "HARD_SIGMOID",
            UnaryFn::Relu => "RELU",
            UnaryFn::Relu6 => "RELU6",
            UnaryFn::ReluN1To1 => "RELU_N1_TO_1",
            UnaryFn::Clip { .. } => "CLIP",
            UnaryFn::LeakyRelu { .. } => "LEAKY_RELU",
            UnaryFn::Requantize => "QUANTIZE",
            UnaryFn::Exp => "EXP",
            UnaryFn::Neg => "NEG",
            UnaryFn::Abs => "ABS",
            UnaryFn::Sqrt => "SQRT",
            UnaryFn::Sign => "SIGN",
            UnaryFn::Sin => "SIN",
            UnaryFn::Cos => "COS",
            UnaryFn::Erf => "ERF",
            UnaryFn::Softplus => "SOFTPLUS",
            UnaryFn::Softsign => "SOFTSIGN",
            UnaryFn::Mish => "MISH",
            UnaryFn::Elu { .. } => "ELU",
            UnaryFn::Celu { .. } => "CELU",
            UnaryFn::Selu { .. } => "SELU",
            UnaryFn::ThresholdedRelu { .. } => "THRESHOLDED_RELU",
            UnaryFn::Gelu { .. } => "GELU",
        }
    }
}

/// How the int8 table of a [`UnaryFn`] is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryNumerics {
    /// TensorFlow Lite Micro's integer reference kernel, bit for bit (a
    /// TFLite model's op; the output quantization TFLM requires is checked).
    Tflm,
    /// The float function of each dequantized input, quantized with the
    /// output's scale and zero point (an op our quantizer placed: ONNX).
    Float,
}

/// What a reduction computes over its axes: the reduction family
/// ([`crate::ops::reduce`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceFn {
    /// MEAN / ONNX ReduceMean (Keras GlobalAveragePooling2D).
    Mean,
    /// SUM / ONNX ReduceSum.
    Sum,
    /// REDUCE_MAX / ONNX ReduceMax.
    Max,
}

impl ReduceFn {
    /// The operator's TFLite name.
    pub fn name(&self) -> &'static str {
        match self {
            ReduceFn::Mean => "MEAN",
            ReduceFn::Sum => "SUM",
            ReduceFn::Max => "REDUCE_MAX",
        }
    }
}

/// Which index an index reduction gives ([`OpKind::Arg`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgFn {
    /// ARG_MAX: the index of the largest value (the first on ties).
    Max,
    /// ARG_MIN: the index of the smallest value (the first on ties).
    Min,
}

impl ArgFn {
    /// The operator's TFLite name.
    pub fn name(&self) -> &'static str {
        match self {
            ArgFn::Max => "ARG_MAX",
            ArgFn::Min => "ARG_MIN",
        }
    }
}

/// A binary element-wise function (the binary family,
/// [`crate::ops::binary`]); ADD keeps its own [`OpKind::Add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryFn {
    /// MUL / ONNX Mul (and Div by a constant).
    Mul,
    /// SUB / ONNX Sub.
    Sub,
    /// SQUARED_DIFFERENCE.
    SquaredDifference,
    /// MAXIMUM / ONNX Max.
    Maximum,
    /// MINIMUM / ONNX Min.
    Minimum,
    /// PRELU / ONNX PRelu: `x` for `x >= 0`, else `alpha * x`; the second
    /// operand is `alpha`, broadcast over the first.
    Prelu,
}

impl BinaryFn {
    /// The operator's TFLite name.
    pub fn name(&self) -> &'static str {
        match self {
            BinaryFn::Mul => "MUL",
            BinaryFn::Sub => "SUB",
            BinaryFn::SquaredDifference => "SQUARED_DIFFERENCE",
            BinaryFn::Maximum => "MAXIMUM",
            BinaryFn::Minimum => "MINIMUM",
            BinaryFn::Prelu => "PRELU",
        }
    }
}

/// The value written into padding ([`MoveFn::Pad`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadValue {
    /// Real zero: TFLite PAD (TFLM writes the output's zero point).
    Zero,
    /// TFLite PADV2's int8 constant, as stored (TFLM copies the byte; its
    /// scale and zero point must be the output's).
    Quantized {
        /// The stored byte.
        value: i8,
        /// The constant's scale.
        scale: f32,
        /// The constant's zero point.
        zero_point: i64,
    },
    /// A real value (a float model's constant), quantized with the output's
    /// scale and zero point.
    Float(f32),
}

/// How a mirror pad reads the input beyond its edges ([`MoveFn::MirrorPad`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorMode {
    /// MIRROR_PAD REFLECT / ONNX `reflect`: the edge is not repeated.
    Reflect,
    /// MIRROR_PAD SYMMETRIC: the edge is repeated.
    Symmetric,
    /// ONNX `edge`: the edge element, repeated.
    Edge,
}

/// A data-movement or resampling op of one tensor (the movement family,
/// [`crate::ops::movement`]); every axis and index in the graph's (NHWC)
/// order, resolved by the front end from its constant inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveFn {
    /// PAD / PADV2 / ONNX Pad `constant`: elements before and after each axis.
    Pad {
        /// Elements added before each axis.
        before: Vec<usize>,
        /// Elements added after each axis.
        after: Vec<usize>,
        /// What they hold.
        value: PadValue,
    },
    /// MIRROR_PAD / ONNX Pad `reflect` and `edge`.
    MirrorPad {
        /// Elements added before each axis.
        before: Vec<usize>,
        /// Elements added after each axis.
        after: Vec<usize>,
        /// How the input is mirrored.
        mode: MirrorMode,
    },
    /// TRANSPOSE / ONNX Transpose: output axis `i` is input axis `perm[i]`.
    Transpose {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// SLICE / STRIDED_SLICE / ONNX Slice: along each input axis, `count`
    /// elements from `start` in steps of `step` (negative: backwards); the
    /// output holds them in order (a shrunk axis is one of count 1).
    Slice {
        /// First index of each axis.
        start: Vec<usize>,
        /// Step of each axis (non-zero).
        step: Vec<i64>,
        /// Elements taken along each axis.
        count: Vec<usize>,
    },
    /// SPACE_TO_DEPTH / ONNX SpaceToDepth.
    SpaceToDepth {
        /// Block size.
        block: usize,
    },
    /// DEPTH_TO_SPACE / ONNX DepthToSpace.
    DepthToSpace {
        /// Block size.
        block: usize,
        /// ONNX mode CRD (channel, then row and column of the block);
        /// TFLite's (and ONNX DCR) otherwise.
        crd: bool,
    },
    /// RESIZE_NEAREST_NEIGHBOR / ONNX Resize `nearest`: output row `y` is
    /// input row `rows[y]`, output column `x` input column `cols[x]` (the
    /// front end computes them with the source's rounding rules).
    ResizeNearest {
        /// Input row of each output row.
        rows: Vec<usize>,
        /// Input column of each output column.
        cols: Vec<usize>,
    },
    /// RESIZE_BILINEAR / ONNX Resize `linear` (int8: TFLM's integer kernel).
    ResizeBilinear {
        /// Corner pixels aligned.
        align_corners: bool,
        /// Pixel centres at half-integer coordinates.
        half_pixel_centers: bool,
    },
}

impl MoveFn {
    /// The operator's name: TFLite's.
    pub fn name(&self) -> &'static str {
        match self {
            MoveFn::Pad { .. } => "PAD",
            MoveFn::MirrorPad { .. } => "MIRROR_PAD",
            MoveFn::Transpose { .. } => "TRANSPOSE",
            MoveFn::Slice { .. } => "STRIDED_SLICE",
            MoveFn::SpaceToDepth { .. } => "SPACE_TO_DEPTH",
            MoveFn::DepthToSpace { .. } => "DEPTH_TO_SPACE",
            MoveFn::ResizeNearest { .. } => "RESIZE_NEAREST_NEIGHBOR",
            MoveFn::ResizeBilinear { .. } => "RESIZE_BILINEAR",
        }
    }
}

/// An operator, with its options, in TFLite semantics.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// CONV_2D: inputs `[input, filter OHWI, bias?]` (groups = in_c / filter in_c).
    Conv2d {
        /// Padding scheme.
        padding: Padding,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Vertical dilation.
        dilation_h: usize,
        /// Horizontal dilation.
        dilation_w: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// DEPTHWISE_CONV_2D: inputs `[input, filter 1HW(C*m), bias?]`.
    DepthwiseConv2d {
        /// Padding scheme.
        padding: Padding,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Vertical dilation.
        dilation_h: usize,
        /// Horizontal dilation.
        dilation_w: usize,
        /// Channel multiplier.
        depth_multiplier: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// TRANSPOSE_CONV: inputs `[output shape (int32 constant; omitted from
    /// ONNX), filter OHWI, input, bias?]` (TFLite's order; dilation 1).
    TransposeConv {
        /// Padding scheme, as a convolution from the output to the input
        /// would have it.
        padding: Padding,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// ADD of two tensors: activations of equal shape (the `add` kernel), or
    /// with broadcasting or a constant operand (the binary family).
    Add {
        /// Fused activation.
        activation: Activation,
    },
    /// AVERAGE_POOL_2D.
    AveragePool2d {
        /// Padding scheme.
        padding: Padding,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Window height.
        filter_h: usize,
        /// Window width.
        filter_w: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// MAX_POOL_2D.
    MaxPool2d {
        /// Padding scheme.
        padding: Padding,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Window height.
        filter_h: usize,
        /// Window width.
        filter_w: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// FULLY_CONNECTED: inputs `[input, weights [out, in], bias?]`.
    FullyConnected {
        /// Fused activation.
        activation: Activation,
        /// Whether the output keeps the input's leading dimensions.
        keep_num_dims: bool,
    },
    /// BATCH_MATMUL of two activations: `lhs [.., m, k] x rhs [.., k, n]`
    /// with the batch dimensions broadcast.
    BatchMatmul {
        /// The left operand is stored `[.., k, m]`.
        adj_x: bool,
        /// The right operand is stored `[.., n, k]`.
        adj_y: bool,
    },
    /// SOFTMAX over the innermost dimension.
    Softmax {
        /// Inverse temperature.
        beta: f32,
    },
    /// LOG_SOFTMAX over the innermost dimension (beta 1).
    LogSoftmax,
    /// L2_NORMALIZATION over the innermost dimension: `x / sqrt(Σ x^2)`.
    L2Normalization {
        /// Fused activation (TFLM requires none).
        activation: Activation,
    },
    /// RESHAPE (the new shape is the output tensor's shape).
    Reshape,
    /// An element-wise unary function (LOGISTIC, TANH, HARD_SWISH, RELU,
    /// RELU6, RELU_N1_TO_1, LEAKY_RELU, an int8 QUANTIZE; ONNX activations).
    Unary {
        /// The function.
        func: UnaryFn,
        /// How its int8 table is computed.
        numerics: UnaryNumerics,
    },
    /// A reduction of input 0 over some of its dimensions (MEAN, SUM,
    /// REDUCE_MAX; ONNX ReduceMean, ReduceSum, ReduceMax). A TFLite op keeps
    /// its constant axis tensor as input 1; the front end has resolved it.
    Reduce {
        /// The reduction.
        func: ReduceFn,
        /// The reduced dimensions of input 0, sorted, distinct, in range.
        axes: Vec<usize>,
        /// Whether the output keeps them as dimensions of size 1.
        keep_dims: bool,
    },
    /// A data-movement or resampling op (PAD, PADV2, MIRROR_PAD, TRANSPOSE,
    /// SLICE, STRIDED_SLICE, SPACE_TO_DEPTH, DEPTH_TO_SPACE,
    /// RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR; their ONNX forms). Input 0
    /// is the activation; other inputs are the constants it was read from.
    Move {
        /// What it computes.
        func: MoveFn,
        /// The source model's operator name (PADV2, SLICE, ...).
        name: &'static str,
    },
    /// A binary element-wise op with broadcasting (MUL, SUB,
    /// SQUARED_DIFFERENCE, MAXIMUM, MINIMUM; ONNX Mul, Sub, Div by a
    /// constant, Max, Min). Either input may be a constant.
    Binary {
        /// The function.
        func: BinaryFn,
        /// Fused activation (MUL, SUB; `None` elsewhere).
        activation: Activation,
    },
    /// CONCATENATION of two or more tensors along `axis` (ONNX Concat).
    Concat {
        /// The axis, in `0..rank`.
        axis: usize,
        /// Fused activation (TFLM requires none).
        activation: Activation,
        /// An input quantized unlike the output: refused (TFLM's kernel
        /// copies bytes: a TFLite model's op), or requantized through a
        /// table (an op our quantizer placed: ONNX).
        numerics: UnaryNumerics,
    },
    /// SPLIT, SPLIT_V, UNPACK: input 0 cut along `axis` into consecutive
    /// parts, part `k` (`sizes[k]` elements along the axis) being output
    /// `k`; UNPACK's parts drop the axis (`squeeze`). Each output is a
    /// data-movement copy of its part (the movement family's gather). Other
    /// inputs are the constants the axis and sizes were read from.
    Split {
        /// The axis, in `0..rank` of input 0.
        axis: usize,
        /// Each output's extent along the axis (they add up to the input's).
        sizes: Vec<usize>,
        /// Whether the outputs drop the axis (UNPACK: every size is 1).
        squeeze: bool,
        /// The source model's operator name (SPLIT, SPLIT_V, UNPACK).
        name: &'static str,
    },
    /// ARG_MAX / ARG_MIN of input 0 along `axis`: an int32 output without
    /// the axis. A TFLite op keeps its constant axis tensor as input 1.
    Arg {
        /// Largest or smallest.
        func: ArgFn,
        /// The axis, in `0..rank` of input 0.
        axis: usize,
    },
    /// DEQUANTIZE of an int8 tensor to float32 (a float model's output).
    Dequantize,
    /// SVDF: inputs `[x [batch, inputs], weights_feature [filters, inputs],
    /// weights_time [filters, memory], bias [units] (optional), state
    /// [batch, filters * memory] (a variable tensor)]`, output `[batch,
    /// units]` with `units = filters / rank`.
    Svdf {
        /// Filters a unit.
        rank: usize,
        /// The fused activation's TFLite code: TFLM's int8 kernel ignores
        /// it, and so does the lowering.
        fused_activation: i8,
    },
    /// UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's 24 inputs, in its order:
    /// input, 4 input weights, 4 recurrent weights, 3 peephole weights, 4
    /// biases, projection weights and bias, hidden and cell state (variable
    /// tensors), 4 layer-norm coefficients; absent ones `None`), output
    /// every step's hidden state.
    Lstm {
        /// The cell gate's activation, TFLite's code (TFLM's int8 kernel
        /// takes TANH, 4).
        fused_activation: i8,
        /// Cell state clip (0: none).
        cell_clip: f32,
        /// `[time, batch, ..]` instead of `[batch, time, ..]`.
        time_major: bool,
    },
    /// PACK: the inputs, all of one shape, stacked along a new output axis
    /// `axis` (a concatenation of the inputs reshaped with a 1 there).
    Pack {
        /// The new axis, in `0..=rank` of the inputs.
        axis: usize,
    },
}

impl OpKind {
    /// The operator's TFLite name.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Conv2d { .. } => "CONV_2D",
            OpKind::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            OpKind::TransposeConv { .. } => "TRANSPOSE_CONV",
            OpKind::BatchMatmul { .. } => "BATCH_MATMUL",
            OpKind::Add { .. } => "ADD",
            OpKind::AveragePool2d { .. } => "AVERAGE_POOL_2D",
            OpKind::MaxPool2d { .. } => "MAX_POOL_2D",
            OpKind::FullyConnected { .. } => "FULLY_CONNECTED",
            OpKind::Softmax { .. } => "SOFTMAX",
            OpKind::LogSoftmax => "LOG_SOFTMAX",
            OpKind::L2Normalization { .. } => "L2_NORMALIZATION",
            OpKind::Reshape => "RESHAPE",
            OpKind::Unary { func, .. } => func.name(),
            OpKind::Reduce { func, .. } => func.name(),
            OpKind::Move { name, .. } => name,
            OpKind::Binary { func, .. } => func.name(),
            OpKind::Concat { .. } => "CONCATENATION",
            OpKind::Split { name, .. } => name,
            OpKind::Pack { .. } => "PACK",
            OpKind::Arg { func, .. } => func.name(),
            OpKind::Dequantize => "DEQUANTIZE",
            OpKind::Svdf { .. } => "SVDF",
            OpKind::Lstm { .. } => "UNIDIRECTIONAL_SEQUENCE_LSTM",
        }
    }
}

/// An operator node.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// What it computes.
    pub kind: OpKind,
    /// Input tensors; `None` for an omitted optional input (e.g. no bias).
    pub inputs: Vec<Option<TensorId>>,
    /// Output tensors.
    pub outputs: Vec<TensorId>,
}

/// A model graph: tensors, operators in execution order, inputs and outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// All tensors.
    pub tensors: Vec<Tensor>,
    /// Operators in execution order (an op's index here is the index errors name).
    pub ops: Vec<Op>,
    /// Graph inputs.
    pub inputs: Vec<TensorId>,
    /// Graph outputs.
    pub outputs: Vec<TensorId>,
    /// The source model's index of each op, for messages, when the front end
    /// dropped ops (shape arithmetic it folded); empty when `ops[i]` is the
    /// model's operator `i`.
    pub source_ops: Vec<usize>,
}

impl Graph {
    /// The source model's index of op `i` (see [`Graph::source_ops`]).
    pub fn source_index(&self, i: usize) -> usize {
        self.source_ops.get(i).copied().unwrap_or(i)
    }
}
