//! The lowered program: the model as a list of runtime kernels with their
//! owned tables, before the memory plan assigns arena offsets.

use attonet_runtime::block::StageOp;
use attonet_runtime::ops::add::{AddParams, AddS16Params};
use attonet_runtime::ops::batch_matmul::BatchMatmulParams;
use attonet_runtime::ops::binary::{BinaryParams, ConcatParams, MulS16Params};
use attonet_runtime::ops::boundary::BoundaryParams;
use attonet_runtime::ops::conv::ConvS16Params;
use attonet_runtime::ops::depthwise::{DepthwiseParams, DepthwiseS16Params};
use attonet_runtime::ops::fully_connected::{FullyConnectedParams, FullyConnectedS16Params};
use attonet_runtime::ops::l2_normalization::L2NormalizationParams;
use attonet_runtime::ops::lookup::{PiecewiseS16Params, SigmoidS16Params};
use attonet_runtime::ops::lstm::LstmParams;
use attonet_runtime::ops::movement::{BilinearParams, GatherParams, GATHER_DIMS};
use attonet_runtime::ops::pool::{PoolParams, PoolS16Params};
use attonet_runtime::ops::reduce::{ArgParams, ReduceParams};
use attonet_runtime::ops::requantize::RequantizeParams;
use attonet_runtime::ops::softmax::{LogSoftmaxParams, SoftmaxParams, SoftmaxS16Params};
use attonet_runtime::ops::svdf::SvdfParams;
use attonet_runtime::ops::transpose_conv::TransposeConvParams;
use attonet_runtime::ops::{ConvKernel, ConvParams, ConvQuant, Shape};
use attonet_runtime::plan::ElementType;

use crate::ir::{BinaryFn, ReduceFn, UnaryFn};

/// Index of a [`Value`] in [`Program::values`].
pub type ValueId = usize;

/// An activation tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The source tensor's name.
    pub name: String,
    /// Shape as the kernels see it (batch 1, NHWC); for wider elements
    /// (`dtype` other than int8) its channels count bytes (`2 * c` for
    /// int16, `4 * c` for int32 and float32), so the shape is the value's
    /// arena bytes everywhere a slot is made of it.
    pub shape: Shape,
    /// The source model's dimensions (e.g. `[1, 10]`), in elements.
    pub dims: Vec<usize>,
    /// The element type: int8 for every activation of an int8 model, int16
    /// for a 16x8 layer's, int32 for an ARG_MAX's indices, float32 for a
    /// float model's input or output.
    pub dtype: ElementType,
    /// Quantization scale (int8; for float32, unused: 1).
    pub scale: f32,
    /// Quantization zero point (int8; otherwise 0).
    pub zero_point: i32,
}

impl Value {
    /// Bytes the value occupies in the arena.
    pub fn bytes(&self) -> usize {
        self.shape.len()
    }
}

/// The four tables of a convolution-like layer, owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConvData {
    /// Weights in the runtime's layout for the op.
    pub filter: Vec<i8>,
    /// One bias per output channel.
    pub bias: Vec<i32>,
    /// One Q31 multiplier per output channel.
    pub multiplier: Vec<i32>,
    /// One shift per output channel.
    pub shift: Vec<i32>,
}

impl ConvData {
    /// Bytes the tables take in the weight blob (unpadded).
    pub fn bytes(&self) -> usize {
        self.filter.len() + 4 * (self.bias.len() + self.multiplier.len() + self.shift.len())
    }

    /// Trainable parameters: weights plus biases.
    pub fn params(&self) -> usize {
        self.filter.len() + self.bias.len()
    }
}

/// What a layer computes.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerOp {
    /// A convolution (the kernel follows from [`ConvKernel::select`]).
    Conv {
        /// Geometry, groups, quantization.
        params: ConvParams,
        /// Tables.
        data: ConvData,
    },
    /// A depthwise convolution.
    Depthwise {
        /// Geometry, multiplier, quantization.
        params: DepthwiseParams,
        /// Tables.
        data: ConvData,
    },
    /// Two 1x1 convolutions fused into one step.
    PointwisePair {
        /// First convolution's quantization.
        first: ConvQuant,
        /// First convolution's tables.
        first_data: ConvData,
        /// Second convolution's quantization.
        second: ConvQuant,
        /// Second convolution's tables.
        second_data: ConvData,
        /// Channels of the intermediate.
        mid_c: u16,
    },
    /// A transposed convolution.
    TransposeConv {
        /// Geometry and quantization.
        params: TransposeConvParams,
        /// Tables (OHWI filter).
        data: ConvData,
    },
    /// A matrix product of two activations (its layer's two inputs, left
    /// then right; possibly the same value twice).
    BatchMatmul(BatchMatmulParams),
    /// Elementwise addition.
    Add(AddParams),
    /// Average pooling.
    AveragePool(PoolParams),
    /// Max pooling.
    MaxPool(PoolParams),
    /// Fully connected.
    FullyConnected {
        /// Sizes and quantization.
        params: FullyConnectedParams,
        /// Tables.
        data: ConvData,
    },
    /// Softmax.
    Softmax {
        /// TFLM's scaling of the input.
        params: SoftmaxParams,
        /// An int16 output (scale 1/65536, zero point -32768) instead of
        /// int8 (1/256, -128).
        int16_output: bool,
    },
    /// Log-softmax.
    LogSoftmax(LogSoftmaxParams),
    /// L2 normalization.
    L2Normalization(L2NormalizationParams),
    /// Reshape: the output shares the input's bytes.
    Reshape,
    /// An element-wise unary op through a 256-entry table
    /// ([`crate::ops::unary_lut`]).
    Lookup {
        /// The function (for reports).
        func: UnaryFn,
        /// Output for each input byte (`table[x as u8]`).
        table: Vec<i8>,
    },
    /// A reduction over a run of dimensions ([`crate::ops::reduce`]).
    Reduce {
        /// The reduction (for reports).
        func: ReduceFn,
        /// Geometry and integer arithmetic.
        params: ReduceParams,
    },
    /// A data-movement op as a strided gather ([`crate::ops::movement`]).
    Gather {
        /// The source operator's name (for reports).
        name: &'static str,
        /// Counts, strides, run and fill.
        params: GatherParams,
        /// Each dimension's offsets (empty: its stride).
        tables: [Vec<i32>; GATHER_DIMS],
    },
    /// A bilinear resize (TFLM's integer kernel).
    ResizeBilinear(BilinearParams),
    /// A binary element-wise op with broadcasting ([`crate::ops::binary`]);
    /// the layer's inputs are its activation operands, in operand order.
    Binary {
        /// The function (`None`: ADD).
        func: Option<BinaryFn>,
        /// Arithmetic and broadcast geometry.
        params: BinaryParams,
        /// Each operand's constant bytes, or `None` for an activation.
        constants: [Option<Vec<i8>>; 2],
    },
    /// CONCATENATION: one part per input, in order.
    Concat {
        /// Each input's place in the output.
        parts: Vec<ConcatParams>,
        /// Each input's requantization table (256 entries), or empty.
        tables: Vec<Vec<i8>>,
    },
    /// ARG_MAX / ARG_MIN: int32 indices along one axis.
    Arg(ArgParams),
    /// QUANTIZE of a float32 model input ([`attonet_runtime::ops::boundary`]).
    QuantizeFloat(BoundaryParams),
    /// DEQUANTIZE to a float32 model output ([`attonet_runtime::ops::boundary`]).
    DequantizeFloat(BoundaryParams),
    /// QUANTIZE between integer types ([`attonet_runtime::ops::requantize`]).
    Requantize(RequantizeParams),
    /// UNIDIRECTIONAL_SEQUENCE_LSTM ([`attonet_runtime::ops::lstm`]), with a
    /// state the planner keeps for the whole run.
    Lstm {
        /// Geometry and quantization.
        params: LstmParams,
        /// The four input then the four recurrent weight matrices, int8.
        weights: Vec<i8>,
        /// The four gates' biases, int32.
        bias: Vec<i32>,
    },
    /// SVDF ([`attonet_runtime::ops::svdf`]), with a state the planner keeps
    /// for the whole run.
    Svdf {
        /// Geometry and quantization.
        params: SvdfParams,
        /// `[filters][inputs]` int8.
        weights_feature: Vec<i8>,
        /// `[filters][memory]` of the state type, as little-endian bytes.
        weights_time: Vec<i8>,
        /// `units` int32, or empty.
        bias: Vec<i32>,
    },
    /// A 16x8 layer (int16 activations, int8 weights).
    S16(S16Layer),
    /// A fused block: a chain of convolutions and its shortcut, run row by row.
    Block {
        /// The chain, in order.
        stages: Vec<BlockStage>,
        /// The shortcut.
        residual: BlockResidual,
    },
}

/// A 16x8 layer: what it computes, with its owned tables. The 64-bit
/// biases lie in [`ConvData::bias`] as two words each (low, high), the form
/// the runtime reads ([`attonet_runtime::ops::int16::bias64`]).
#[derive(Debug, Clone, PartialEq)]
pub enum S16Layer {
    /// CONV_2D.
    Conv {
        /// Geometry, groups, clamp.
        params: ConvS16Params,
        /// Tables (OHWI filter).
        data: ConvData,
    },
    /// DEPTHWISE_CONV_2D.
    Depthwise {
        /// Geometry, multiplier, clamp.
        params: DepthwiseS16Params,
        /// Tables (`[kh][kw][out_c]` filter).
        data: ConvData,
    },
    /// FULLY_CONNECTED.
    FullyConnected {
        /// Sizes and clamp.
        params: FullyConnectedS16Params,
        /// Tables.
        data: ConvData,
    },
    /// ADD; the layer's inputs are its activation operands, in operand order.
    Add {
        /// Rescaling and clamp.
        params: AddS16Params,
        /// Each operand's constant int16 bytes, or `None` for an activation.
        constants: [Option<Vec<i8>>; 2],
    },
    /// MUL; as ADD.
    Mul {
        /// Rescaling and clamp.
        params: MulS16Params,
        /// Each operand's constant int16 bytes, or `None` for an activation.
        constants: [Option<Vec<i8>>; 2],
    },
    /// SOFTMAX.
    Softmax {
        /// Row length and input scaling.
        params: SoftmaxS16Params,
        /// The `exp` table (513 entries).
        exp_lut: Vec<i16>,
        /// The `1 / (1 + x)` table (513 entries).
        reciprocal_lut: Vec<i16>,
    },
    /// LOGISTIC.
    Logistic(SigmoidS16Params),
    /// TANH.
    Tanh(SigmoidS16Params),
    /// AVERAGE_POOL_2D.
    AveragePool(PoolS16Params),
    /// MAX_POOL_2D.
    MaxPool(PoolS16Params),
    /// RELU, RELU6 or LEAKY_RELU (`name`).
    Piecewise {
        /// The TFLite op.
        name: &'static str,
        /// Multipliers, zero points, clamp.
        params: PiecewiseS16Params,
    },
}

impl S16Layer {
    /// The runtime kernel's name.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            S16Layer::Conv { .. } => "conv_s16",
            S16Layer::Depthwise { .. } => "depthwise_s16",
            S16Layer::FullyConnected { .. } => "fully_connected_s16",
            S16Layer::Add { .. } => "add_s16",
            S16Layer::Mul { .. } => "mul_s16",
            S16Layer::Softmax { .. } => "softmax_s16",
            S16Layer::Logistic(_) => "logistic_s16",
            S16Layer::Tanh(_) => "tanh_s16",
            S16Layer::AveragePool(_) => "average_pool_s16",
            S16Layer::MaxPool(_) => "max_pool_s16",
            S16Layer::Piecewise { .. } => "piecewise_s16",
        }
    }

    /// The convolution-like tables, if any.
    pub fn data(&self) -> Option<&ConvData> {
        match self {
            S16Layer::Conv { data, .. }
            | S16Layer::Depthwise { data, .. }
            | S16Layer::FullyConnected { data, .. } => Some(data),
            S16Layer::Add { .. }
            | S16Layer::Mul { .. }
            | S16Layer::Softmax { .. }
            | S16Layer::Logistic(_)
            | S16Layer::Tanh(_)
            | S16Layer::AveragePool(_)
            | S16Layer::MaxPool(_)
            | S16Layer::Piecewise { .. } => None,
        }
    }

    /// Each operand's constant bytes (ADD, MUL).
    pub fn constants(&self) -> &[Option<Vec<i8>>] {
        match self {
            S16Layer::Add { constants, .. } | S16Layer::Mul { constants, .. } => constants,
            S16Layer::Conv { .. }
            | S16Layer::Depthwise { .. }
            | S16Layer::FullyConnected { .. }
            | S16Layer::Softmax { .. }
            | S16Layer::Logistic(_)
            | S16Layer::Tanh(_)
            | S16Layer::AveragePool(_)
            | S16Layer::MaxPool(_)
            | S16Layer::Piecewise { .. } => &[],
        }
    }
}

/// One convolution of a fused block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockStage {
    /// What it computes.
    pub op: StageOp,
    /// Its tables.
    pub data: ConvData,
    /// Its whole output shape.
    pub output: Shape,
    /// The value the unfused layer produced (kept so reports and per-layer
    /// analyses can undo the fusion).
    pub value: ValueId,
}

impl BlockStage {
    /// Multiply-accumulates of the stage over the whole block.
    pub fn macs(&self) -> u64 {
        self.output.h as u64 * self.output.w as u64 * self.data.filter.len() as u64
    }
}

/// How a fused block ends.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockResidual {
    /// No shortcut.
    Absent,
    /// ADD of the chain and the block input.
    Identity {
        /// The ADD's parameters.
        add: AddParams,
        /// Whether the chain output is the ADD's first input.
        chain_first: bool,
    },
    /// ADD of the chain and a pointwise convolution of the block input.
    Projection {
        /// The projection.
        stage: BlockStage,
        /// The ADD's parameters.
        add: AddParams,
        /// Whether the chain output is the ADD's first input.
        chain_first: bool,
    },
}

/// How a layer uses the arena beyond reading its inputs and writing its
/// output: the planner's whole view of an op, decided in one exhaustive
/// match ([`LayerOp::arena_use`]), so a new op has to say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArenaUse {
    /// Its output is written while its inputs are read: a buffer of its own.
    Separate,
    /// Its output is its input's bytes (RESHAPE).
    Alias,
    /// Element by element: its output may take the buffer of an input of
    /// the same size that dies here.
    InPlace,
    /// A fused block: output rows over input rows it has finished reading,
    /// and a scratch window for the layer.
    Block,
    /// A buffer of its own and this many bytes of scratch for the layer.
    Scratch(usize),
    /// A buffer of its own and this many bytes of state, kept from one run
    /// to the next.
    State(usize),
}

impl LayerOp {
    /// How the layer uses the arena (see [`ArenaUse`]).
    pub fn arena_use(&self) -> ArenaUse {
        match self {
            LayerOp::Reshape => ArenaUse::Alias,
            LayerOp::Add(_) | LayerOp::Lookup { .. } => ArenaUse::InPlace,
            LayerOp::Block { .. } => ArenaUse::Block,
            LayerOp::PointwisePair { mid_c, .. } => ArenaUse::Scratch(*mid_c as usize),
            LayerOp::Svdf { params, .. } => ArenaUse::State(params.state_bytes()),
            LayerOp::Lstm { params, .. } => ArenaUse::State(params.state_bytes()),
            LayerOp::Conv { .. }
            | LayerOp::Depthwise { .. }
            | LayerOp::TransposeConv { .. }
            | LayerOp::BatchMatmul(_)
            | LayerOp::AveragePool(_)
            | LayerOp::MaxPool(_)
            | LayerOp::FullyConnected { .. }
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax(_)
            | LayerOp::L2Normalization(_)
            | LayerOp::Reduce { .. }
            | LayerOp::Gather { .. }
            | LayerOp::ResizeBilinear(_)
            | LayerOp::Binary { .. }
            | LayerOp::Concat { .. }
            | LayerOp::Arg(_)
            | LayerOp::QuantizeFloat(_)
            | LayerOp::DequantizeFloat(_)
            | LayerOp::Requantize(_)
            | LayerOp::S16(_) => ArenaUse::Separate,
        }
    }

    /// The name reports print: the runtime kernel that runs the layer.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            LayerOp::Conv { params, .. } => ConvKernel::select(params).name(),
            LayerOp::Depthwise { .. } => "depthwise_conv",
            LayerOp::PointwisePair { .. } => "pointwise_pair",
            LayerOp::TransposeConv { .. } => "transpose_conv",
            LayerOp::BatchMatmul(_) => "batch_matmul",
            LayerOp::Add(_) => "add",
            LayerOp::AveragePool(_) => "average_pool",
            LayerOp::MaxPool(_) => "max_pool",
            LayerOp::FullyConnected { .. } => "fully_connected",
            LayerOp::Softmax { .. } => "softmax",
            LayerOp::LogSoftmax(_) => "log_softmax",
            LayerOp::L2Normalization(_) => "l2_normalization",
            LayerOp::Reshape => "reshape",
            LayerOp::Lookup { .. } => "lookup",
            LayerOp::Reduce { .. } => "reduce",
            LayerOp::Gather { .. } => "gather",
            LayerOp::ResizeBilinear(_) => "resize_bilinear",
            LayerOp::Binary { .. } => "binary",
            LayerOp::Concat { .. } => "concat",
            LayerOp::Arg(_) => "arg_min_max",
            LayerOp::QuantizeFloat(_) => "quantize_float",
            LayerOp::DequantizeFloat(_) => "dequantize_float",
            LayerOp::Requantize(_) => "requantize",
            LayerOp::Svdf { .. } => "svdf",
            LayerOp::Lstm { .. } => "lstm",
            LayerOp::Block { .. } => "fused_block",
            LayerOp::S16(l) => l.kernel_name(),
        }
    }

    /// The owned tables of the layer, in blob order.
    pub fn tables(&self) -> Vec<&ConvData> {
        match self {
            LayerOp::Conv { data, .. }
            | LayerOp::Depthwise { data, .. }
            | LayerOp::FullyConnected { data, .. }
            | LayerOp::TransposeConv { data, .. } => vec![data],
            LayerOp::PointwisePair {
                first_data,
                second_data,
                ..
            } => vec![first_data, second_data],
            LayerOp::Block { stages, residual } => {
                let mut t: Vec<&ConvData> = stages.iter().map(|s| &s.data).collect();
                if let BlockResidual::Projection { stage, .. } = residual {
                    t.push(&stage.data);
                }
                t
            }
            LayerOp::S16(l) => l.data().into_iter().collect(),
            LayerOp::Add(_)
            | LayerOp::BatchMatmul(_)
            | LayerOp::AveragePool(_)
            | LayerOp::MaxPool(_)
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax(_)
            | LayerOp::L2Normalization(_)
            | LayerOp::Reshape
            | LayerOp::Lookup { .. }
            | LayerOp::Reduce { .. }
            | LayerOp::Gather { .. }
            | LayerOp::ResizeBilinear(_)
            | LayerOp::Binary { .. }
            | LayerOp::Concat { .. }
            | LayerOp::Arg(_)
            | LayerOp::QuantizeFloat(_)
            | LayerOp::DequantizeFloat(_)
            | LayerOp::Requantize(_)
            | LayerOp::Svdf { .. }
            | LayerOp::Lstm { .. } => vec![],
        }
    }
}

/// One layer: an op, its input values and its output value.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// What it computes.
    pub op: LayerOp,
    /// Input values (two for ADD; a binary op's activation operands; a
    /// concatenation's inputs).
    pub inputs: Vec<ValueId>,
    /// Output value.
    pub output: ValueId,
    /// Indices of the source model's operators this layer implements.
    pub source_ops: Vec<usize>,
}

impl Layer {
    /// Multiply-accumulates per inference.
    pub fn macs(&self, values: &[Value]) -> u64 {
        let out = &values[self.output].shape;
        let pixels = out.h as u64 * out.w as u64;
        match &self.op {
            LayerOp::Conv { params, data } => {
                let _ = params;
                // filter = out_c * kh * kw * in_c/groups
                pixels * data.filter.len() as u64
            }
            LayerOp::Depthwise { data, .. } => pixels * data.filter.len() as u64,
            LayerOp::BatchMatmul(params) => params.macs(),
            LayerOp::TransposeConv { params, .. } => {
                params.macs(values[self.inputs[0]].shape, out.c)
            }
            LayerOp::PointwisePair {
                first_data,
                second_data,
                ..
            } => pixels * (first_data.filter.len() + second_data.filter.len()) as u64,
            LayerOp::FullyConnected { params, data } => {
                let rows =
                    values[self.inputs[0]].shape.len() as u64 / params.in_features.max(1) as u64;
                rows * data.filter.len() as u64
            }
            LayerOp::Block { stages, residual } => {
                let projection = match residual {
                    BlockResidual::Projection { stage, .. } => stage.macs(),
                    _ => 0,
                };
                stages.iter().map(BlockStage::macs).sum::<u64>() + projection
            }
            LayerOp::S16(S16Layer::Conv { data, .. } | S16Layer::Depthwise { data, .. }) => {
                // The output's shape counts bytes: two an int16 element.
                pixels * data.filter.len() as u64
            }
            LayerOp::S16(S16Layer::FullyConnected { params, data }) => {
                let rows = values[self.inputs[0]].shape.len() as u64
                    / 2
                    / params.in_features.max(1) as u64;
                rows * data.filter.len() as u64
            }
            LayerOp::S16(_) => 0,
            // The feature step, then the time filter over every memory slot.
            LayerOp::Svdf { params: p, .. } => {
                p.batch as u64 * p.filters as u64 * (p.inputs as u64 + p.memory as u64)
            }
            // Four gates' input and recurrent products a step.
            LayerOp::Lstm {
                weights, params: p, ..
            } => p.batch as u64 * p.time as u64 * weights.len() as u64,
            LayerOp::Add(_)
            | LayerOp::AveragePool(_)
            | LayerOp::MaxPool(_)
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax(_)
            | LayerOp::L2Normalization(_)
            | LayerOp::Reshape
            | LayerOp::Lookup { .. }
            | LayerOp::Reduce { .. }
            | LayerOp::Gather { .. }
            | LayerOp::ResizeBilinear(_)
            | LayerOp::Binary { .. }
            | LayerOp::Concat { .. }
            | LayerOp::Arg(_)
            | LayerOp::QuantizeFloat(_)
            | LayerOp::DequantizeFloat(_)
            | LayerOp::Requantize(_) => 0,
        }
    }

    /// Trainable parameters (weights and biases).
    pub fn params(&self) -> usize {
        match &self.op {
            // A 16x8 layer's int64 biases take two words each.
            LayerOp::S16(l) => l.data().map_or(0, |d| d.filter.len() + d.bias.len() / 2),
            LayerOp::Svdf {
                params: p,
                weights_feature,
                bias,
                ..
            } => weights_feature.len() + p.filters as usize * p.memory as usize + bias.len(),
            // The trained biases are half the effective ones (the recurrent
            // side's are derived from the weights).
            LayerOp::Lstm { weights, bias, .. } => weights.len() + bias.len() / 2,
            // Convolution-like layers keep their weights in conv tables.
            LayerOp::Conv { .. }
            | LayerOp::Depthwise { .. }
            | LayerOp::PointwisePair { .. }
            | LayerOp::TransposeConv { .. }
            | LayerOp::FullyConnected { .. }
            | LayerOp::Block { .. } => self.op.tables().iter().map(|t| t.params()).sum(),
            // Lookup tables, gathers' offsets and requantization constants
            // are derived from quantization, not trained.
            LayerOp::BatchMatmul(_)
            | LayerOp::Add(_)
            | LayerOp::AveragePool(_)
            | LayerOp::MaxPool(_)
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax(_)
            | LayerOp::L2Normalization(_)
            | LayerOp::Reshape
            | LayerOp::Lookup { .. }
            | LayerOp::Reduce { .. }
            | LayerOp::Gather { .. }
            | LayerOp::ResizeBilinear(_)
            | LayerOp::Binary { .. }
            | LayerOp::Concat { .. }
            | LayerOp::Arg(_)
            | LayerOp::QuantizeFloat(_)
            | LayerOp::DequantizeFloat(_)
            | LayerOp::Requantize(_) => 0,
        }
    }

    /// Bytes of weight-blob tables (unpadded).
    pub fn table_bytes(&self) -> usize {
        let lookup = match &self.op {
            LayerOp::Lookup { table, .. } => table.len(),
            LayerOp::Gather { tables, .. } => 4 * tables.iter().map(Vec::len).sum::<usize>(),
            LayerOp::Binary { constants, .. } => constants.iter().flatten().map(Vec::len).sum(),
            LayerOp::Concat { tables, .. } => tables.iter().map(Vec::len).sum(),
            LayerOp::S16(S16Layer::Softmax {
                exp_lut,
                reciprocal_lut,
                ..
            }) => 2 * (exp_lut.len() + reciprocal_lut.len()),
            LayerOp::S16(l) => l.constants().iter().flatten().map(Vec::len).sum(),
            LayerOp::Svdf {
                weights_feature,
                weights_time,
                bias,
                ..
            } => weights_feature.len() + weights_time.len() + 4 * bias.len(),
            LayerOp::Lstm { weights, bias, .. } => weights.len() + 4 * bias.len(),
            // Conv tables, counted below; the rest keep nothing in the blob.
            LayerOp::Conv { .. }
            | LayerOp::Depthwise { .. }
            | LayerOp::PointwisePair { .. }
            | LayerOp::TransposeConv { .. }
            | LayerOp::FullyConnected { .. }
            | LayerOp::Block { .. }
            | LayerOp::BatchMatmul(_)
            | LayerOp::Add(_)
            | LayerOp::AveragePool(_)
            | LayerOp::MaxPool(_)
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax(_)
            | LayerOp::L2Normalization(_)
            | LayerOp::Reshape
            | LayerOp::Reduce { .. }
            | LayerOp::ResizeBilinear(_)
            | LayerOp::Arg(_)
            | LayerOp::QuantizeFloat(_)
            | LayerOp::DequantizeFloat(_)
            | LayerOp::Requantize(_) => 0,
        };
        lookup + self.op.tables().iter().map(|t| t.bytes()).sum::<usize>()
    }
}

/// A lowered model: values, layers in execution order, inputs and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The model's name.
    pub name: String,
    /// Activation tensors.
    pub values: Vec<Value>,
    /// Layers in execution order.
    pub layers: Vec<Layer>,
    /// The model inputs, in the source model's order (at least one).
    pub inputs: Vec<ValueId>,
    /// The model outputs, in the source model's order (at least one).
    pub outputs: Vec<ValueId>,
}

impl Program {
    /// Total multiply-accumulates per inference.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs(&self.values)).sum()
    }

    /// Total trainable parameters.
    pub fn params(&self) -> usize {
        self.layers.iter().map(|l| l.params()).sum()
    }

    /// The first model input.
    pub fn input(&self) -> ValueId {
        self.inputs[0]
    }

    /// The first model output.
    pub fn output(&self) -> ValueId {
        self.outputs[0]
    }

    /// Whether `value` is a model output (kept whole until the plan ends).
    pub fn is_output(&self, value: ValueId) -> bool {
        self.outputs.contains(&value)
    }

    /// Layers that read `value`.
    pub fn consumers(&self, value: ValueId) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&i| self.layers[i].inputs.contains(&value))
            .collect()
    }
}
