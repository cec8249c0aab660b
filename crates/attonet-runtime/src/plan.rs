//! A converted model: step descriptors, the arena contract and the executor.
//!
//! The converter emits a [`Model`] as Rust source: every weight, bias and
//! requantization table is a range of one aligned, flash-resident blob, and
//! every activation lives at a fixed offset of a caller-owned arena whose size
//! is the compile-time constant [`Model::arena_bytes`]. The host runner builds
//! the very same [`Model`] in memory, so host and firmware run identical code.
//!
//! # Arena contract
//! * The arena is one `[i8]` of at least `arena_bytes` bytes, owned by the caller.
//! * Each model input lives at its `inputs[k].slot`, each output at its
//!   `outputs[k].slot` (the first ones are also `input` and `output`); write
//!   the inputs there (or use [`Model::infer`] / [`Model::infer_multi`])
//!   before [`Model::run`]. An output may lie over bytes of an input that
//!   died before it was written.
//! * A step's output never overlaps its inputs, except an ADD or a lookup
//!   whose output slot is exactly one of its inputs (computed in place).
//! * Between runs the arena holds no state: any bytes may be left in it.

pub use crate::block::{BlockStep, Residual, Stage, StageOp};
use crate::error::{Error, Result};
use crate::ops::add::{self, AddParams, AddS16Params};
use crate::ops::batch_matmul::{self, BatchMatmulParams};
use crate::ops::binary::{self, BinaryParams, ConcatParams, MulS16Params};
use crate::ops::boundary::{self, BoundaryParams};
use crate::ops::conv::ConvS16Params;
use crate::ops::depthwise::{self, DepthwiseParams, DepthwiseS16Params};
use crate::ops::fully_connected::{self, FullyConnectedParams, FullyConnectedS16Params};
use crate::ops::l2_normalization::{self, L2NormalizationParams};
use crate::ops::lookup::{self, PiecewiseS16Params, SigmoidS16Params};
use crate::ops::lstm::{self, LstmParams};
use crate::ops::movement::{self, GATHER_DIMS};
pub use crate::ops::movement::{BilinearParams, GatherParams};
use crate::ops::pool::{self, PoolParams, PoolS16Params};
use crate::ops::reduce::{self, ArgParams, ReduceParams};
use crate::ops::requantize::{self, RequantizeParams};
use crate::ops::softmax::{self, LogSoftmaxParams, SoftmaxParams, SoftmaxS16Params};
use crate::ops::svdf::{self, SvdfParams};
use crate::ops::transpose_conv::{self, TransposeConvParams};
use crate::ops::{self, ConvParams, ConvQuant, ConvWeights, Shape};
use kernels::KernelSet;

/// Where a tensor lives in the arena: a byte offset and its NHWC shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Slot {
    /// Byte offset in the arena.
    pub offset: u32,
    /// Shape; the slot spans `shape.len()` bytes.
    pub shape: Shape,
}

impl Slot {
    /// First byte after the slot.
    pub const fn end(&self) -> usize {
        (self.offset as usize).saturating_add(self.shape.len())
    }
}

/// A table in the weight blob: byte offset and number of elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Table {
    /// Byte offset in the blob (a multiple of the element size).
    pub offset: u32,
    /// Number of elements.
    pub len: u32,
}

/// The four tables of a convolution-like op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvTables {
    /// `i8` weights in the op's layout.
    pub filter: Table,
    /// `i32` bias per output channel.
    pub bias: Table,
    /// `i32` Q31 multiplier per output channel.
    pub multiplier: Table,
    /// `i32` shift per output channel.
    pub shift: Table,
    /// `i32` sum of each output channel's weights (`Σ w`, wrapping), or empty:
    /// kernels that fold the input zero point into the bias
    /// (`Σ w (x - zp) = Σ w x - zp Σ w`) read it instead of summing the
    /// filter on every call. Only a convolution's (OHWI) has it.
    pub weight_sums: Table,
    /// `i32` words the converter prepared for a target's fast kernel (see
    /// [`crate::prepared`]), or empty: written only when converting for that
    /// target (the Cortex-M DSP cores: a 3x3 depthwise layer's widened
    /// weights and epilogue constants); other targets ignore it.
    pub prepared: Table,
}

/// A convolution (pointwise, grouped 3x3 or general; see [`ops::ConvKernel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConvStep {
    /// Geometry, groups, quantization.
    pub params: ConvParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor.
    pub output: Slot,
    /// Weights and requantization tables.
    pub tables: ConvTables,
}

/// A depthwise convolution with channel multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DepthwiseStep {
    /// Geometry, multiplier, quantization.
    pub params: DepthwiseParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor.
    pub output: Slot,
    /// Weights and requantization tables.
    pub tables: ConvTables,
}

/// Two back-to-back 1x1 convolutions run as one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PointwisePairStep {
    /// Quantization of the first convolution.
    pub first: ConvQuant,
    /// Tables of the first convolution (`[mid_c][in_c]`).
    pub first_tables: ConvTables,
    /// Quantization of the second convolution.
    pub second: ConvQuant,
    /// Tables of the second convolution (`[out_c][mid_c]`).
    pub second_tables: ConvTables,
    /// Input tensor.
    pub input: Slot,
    /// Channels of the intermediate.
    pub mid_c: u16,
    /// Arena offset of the `mid_c`-byte scratch line.
    pub scratch: u32,
    /// Output tensor.
    pub output: Slot,
}

/// Elementwise addition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AddStep {
    /// Quantization.
    pub params: AddParams,
    /// First input.
    pub input1: Slot,
    /// Second input.
    pub input2: Slot,
    /// Output; may be exactly `input1` or `input2` (in place).
    pub output: Slot,
}

/// A pooling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PoolStep {
    /// Window and clamp.
    pub params: PoolParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor.
    pub output: Slot,
}

/// A fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FullyConnectedStep {
    /// Sizes and quantization.
    pub params: FullyConnectedParams,
    /// Input (flattened: `in_features` per row).
    pub input: Slot,
    /// Output.
    pub output: Slot,
    /// Weights `[out][in]`, bias, multiplier and shift.
    pub tables: ConvTables,
}

/// A softmax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SoftmaxStep {
    /// Scaling.
    pub params: SoftmaxParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor.
    pub output: Slot,
}

/// A TRANSPOSE_CONV ([`crate::ops::transpose_conv::transpose_conv_s8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TransposeConvStep {
    /// Geometry and quantization.
    pub params: TransposeConvParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor (apart from the input).
    pub output: Slot,
    /// Weights (OHWI), bias, multiplier and shift (`weight_sums` and
    /// `prepared` empty).
    pub tables: ConvTables,
}

/// A BATCH_MATMUL of two activations ([`crate::ops::batch_matmul::batch_matmul_s8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BatchMatmulStep {
    /// Geometry and quantization.
    pub params: BatchMatmulParams,
    /// Left operand.
    pub input1: Slot,
    /// Right operand (may be the left one).
    pub input2: Slot,
    /// Output (apart from both operands).
    pub output: Slot,
}

/// A LOG_SOFTMAX ([`crate::ops::softmax::log_softmax_s8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LogSoftmaxStep {
    /// Scaling.
    pub params: LogSoftmaxParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor (apart from the input).
    pub output: Slot,
}

/// An L2_NORMALIZATION ([`crate::ops::l2_normalization::l2_normalization_s8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct L2NormalizationStep {
    /// Row length and input zero point.
    pub params: L2NormalizationParams,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor (apart from the input).
    pub output: Slot,
}

/// An element-wise unary op as a 256-entry table ([`crate::ops::lookup`]):
/// LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, an
/// int8 QUANTIZE, and the ONNX activations of that shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LookupStep {
    /// The `i8` table (256 entries, indexed by the input byte).
    pub table: Table,
    /// Input tensor.
    pub input: Slot,
    /// Output tensor; may be exactly `input` (in place).
    pub output: Slot,
}

/// A reduction over a run of dimensions ([`crate::ops::reduce`]): MEAN,
/// SUM, REDUCE_MAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ReduceStep {
    /// Geometry and arithmetic.
    pub params: ReduceParams,
    /// Input tensor (`outer * reduce * inner` elements).
    pub input: Slot,
    /// Output tensor (`outer * inner` elements).
    pub output: Slot,
}

/// A data-movement op as one strided gather ([`crate::ops::movement`]):
/// PAD, PADV2, MIRROR_PAD, TRANSPOSE, SLICE, STRIDED_SLICE, SPACE_TO_DEPTH,
/// DEPTH_TO_SPACE, RESIZE_NEAREST_NEIGHBOR and their ONNX forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GatherStep {
    /// Counts, strides, run and fill.
    pub params: GatherParams,
    /// Each dimension's `i32` offsets, or empty (its stride).
    pub tables: [Table; GATHER_DIMS],
    /// Input tensor.
    pub input: Slot,
    /// Output tensor (apart from the input).
    pub output: Slot,
}

/// RESIZE_BILINEAR ([`crate::ops::movement::resize_bilinear_s8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ResizeBilinearStep {
    /// Scales and sampling.
    pub params: BilinearParams,
    /// Input image.
    pub input: Slot,
    /// Output image (apart from the input).
    pub output: Slot,
}

/// Where an operand of a [`BinaryStep`] lives: an activation in the arena or
/// a constant `i8` table in the blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Operand {
    /// An activation.
    Arena(Slot),
    /// A constant.
    Blob(Table),
}

// Written as a path, so generated code names the variant without importing it.
impl core::fmt::Debug for Operand {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Operand::Arena(s) => write!(f, "Operand::Arena({s:?})"),
            Operand::Blob(t) => write!(f, "Operand::Blob({t:?})"),
        }
    }
}

/// A binary element-wise op with broadcasting ([`crate::ops::binary`]): ADD
/// with a broadcast or constant operand, SUB, MUL, SQUARED_DIFFERENCE,
/// MAXIMUM, MINIMUM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BinaryStep {
    /// Arithmetic and broadcast geometry.
    pub params: BinaryParams,
    /// First operand.
    pub input1: Operand,
    /// Second operand.
    pub input2: Operand,
    /// Output (apart from both operands).
    pub output: Slot,
}

/// One input's part of a CONCATENATION ([`crate::ops::binary::concat_s8`]);
/// a concatenation of `n` inputs is `n` such steps writing one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConcatStep {
    /// Geometry.
    pub params: ConcatParams,
    /// A 256-entry `i8` requantization table, or empty (a byte copy).
    pub table: Table,
    /// The input.
    pub input: Slot,
    /// The whole output (apart from the input).
    pub output: Slot,
}

/// ARG_MAX or ARG_MIN along one axis ([`crate::ops::reduce::arg_s8_i32`]):
/// an int8 input, an int32 output (four bytes an index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ArgStep {
    /// Geometry and which extreme.
    pub params: ArgParams,
    /// Input tensor (`outer * reduce * inner` bytes).
    pub input: Slot,
    /// Output tensor (`4 * outer * inner` bytes, apart from the input).
    pub output: Slot,
}

/// QUANTIZE between integer element types
/// ([`crate::ops::requantize::requantize_elements`]): int16 to int8, uint8
/// to int8 and the other pairs TFLM takes; element counts equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RequantizeStep {
    /// Element types, zero points and the multiplier.
    pub params: RequantizeParams,
    /// Input tensor (its bytes: elements times the input type's size).
    pub input: Slot,
    /// Output tensor (its bytes), apart from the input.
    pub output: Slot,
}

/// SVDF ([`crate::ops::svdf::svdf_s8`]): int8 in and out, with a state that
/// lives in the arena from one run to the next ([`Model::reset_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SvdfStep {
    /// Geometry and quantization.
    pub params: SvdfParams,
    /// Input tensor (`batch * inputs` bytes).
    pub input: Slot,
    /// Output tensor (`batch * units` bytes), apart from the input.
    pub output: Slot,
    /// The state ([`SvdfParams::state_bytes`]), apart from every tensor: the
    /// planner keeps it for the whole run and no other step writes it.
    pub state: Slot,
    /// `[filters][inputs]` int8 feature weights.
    pub weights_feature: Table,
    /// `[filters][memory]` time weights of the state type, as bytes.
    pub weights_time: Table,
    /// `units` int32 biases (empty: none).
    pub bias: Table,
}

/// UNIDIRECTIONAL_SEQUENCE_LSTM ([`crate::ops::lstm::lstm_s8`]): int8 in and
/// out, with a hidden and a cell state that live in the arena from one run
/// to the next ([`Model::reset_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct LstmStep {
    /// Geometry and quantization.
    pub params: LstmParams,
    /// Input tensor ([`LstmParams::input_len`] bytes).
    pub input: Slot,
    /// Output tensor ([`LstmParams::output_len`] bytes), apart from the input.
    pub output: Slot,
    /// The state ([`LstmParams::state_bytes`]: cell, then hidden), apart
    /// from every tensor.
    pub state: Slot,
    /// The eight weight matrices ([`LstmParams::weight_bytes`]).
    pub weights: Table,
    /// The gates' effective biases ([`lstm::lstm_s8`]: `8 * units` int32).
    pub bias: Table,
}

/// A float model's boundary ([`crate::ops::boundary`]): QUANTIZE of a
/// float32 model input to int8 or int16, or DEQUANTIZE of int8, uint8 or
/// int16 to a float32 model output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BoundaryStep {
    /// The int8 side's scale and zero point.
    pub params: BoundaryParams,
    /// Input tensor (float32: four bytes a value).
    pub input: Slot,
    /// Output tensor (float32: four bytes a value), apart from the input.
    pub output: Slot,
}

/// A 16x8 CONV_2D ([`crate::ops::conv::conv_s16`]): int16 input and output
/// (their slots' shapes count channels in bytes, `2 * c`), int8 weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConvS16Step {
    /// Geometry, groups and clamp.
    pub params: ConvS16Params,
    /// Input tensor (int16).
    pub input: Slot,
    /// Output tensor (int16, apart from the input).
    pub output: Slot,
    /// OHWI weights, the int64 biases as word pairs, multiplier and shift.
    pub tables: ConvTables,
}

/// A 16x8 DEPTHWISE_CONV_2D ([`crate::ops::depthwise::depthwise_s16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DepthwiseS16Step {
    /// Geometry, multiplier and clamp.
    pub params: DepthwiseS16Params,
    /// Input tensor (int16).
    pub input: Slot,
    /// Output tensor (int16, apart from the input).
    pub output: Slot,
    /// `[kh][kw][out_c]` weights, the int64 biases as word pairs,
    /// multiplier and shift.
    pub tables: ConvTables,
}

/// A 16x8 FULLY_CONNECTED ([`crate::ops::fully_connected::fully_connected_s16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FullyConnectedS16Step {
    /// Sizes and clamp.
    pub params: FullyConnectedS16Params,
    /// Input (int16, `in_features` per row).
    pub input: Slot,
    /// Output (int16, apart from the input).
    pub output: Slot,
    /// `[out][in]` weights, the int64 biases as word pairs, multiplier and
    /// shift (one, or one per output feature).
    pub tables: ConvTables,
}

/// A 16x8 ADD ([`crate::ops::add::add_s16`]): int16 operands, activations or
/// constants (a constant's table holds its int16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AddS16Step {
    /// Rescaling and clamp.
    pub params: AddS16Params,
    /// First operand.
    pub input1: Operand,
    /// Second operand (may be the first).
    pub input2: Operand,
    /// Output (apart from both operands).
    pub output: Slot,
}

/// A 16x8 MUL ([`crate::ops::binary::mul_s16`]): int16 operands,
/// activations or constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MulS16Step {
    /// Rescaling and clamp.
    pub params: MulS16Params,
    /// First operand.
    pub input1: Operand,
    /// Second operand (may be the first).
    pub input2: Operand,
    /// Output (apart from both operands).
    pub output: Slot,
}

/// A 16x8 LOGISTIC or TANH ([`crate::ops::lookup::logistic_s16`],
/// [`crate::ops::lookup::tanh_s16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SigmoidS16Step {
    /// Input scaling.
    pub params: SigmoidS16Params,
    /// Input tensor (int16).
    pub input: Slot,
    /// Output tensor (int16, apart from the input).
    pub output: Slot,
}

/// A 16x8 AVERAGE_POOL_2D or MAX_POOL_2D
/// ([`crate::ops::pool::average_pool_s16`], [`crate::ops::pool::max_pool_s16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PoolS16Step {
    /// Window and clamp.
    pub params: PoolS16Params,
    /// Input tensor (int16).
    pub input: Slot,
    /// Output tensor (int16, apart from the input).
    pub output: Slot,
}

/// A 16x8 RELU, RELU6 or LEAKY_RELU ([`crate::ops::lookup::piecewise_s16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PiecewiseS16Step {
    /// Multipliers, zero points, clamp.
    pub params: PiecewiseS16Params,
    /// Input tensor (int16).
    pub input: Slot,
    /// Output tensor (int16, apart from the input).
    pub output: Slot,
}

/// A 16x8 SOFTMAX ([`crate::ops::softmax::softmax_s16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SoftmaxS16Step {
    /// Row length and input scaling.
    pub params: SoftmaxS16Params,
    /// The `exp` table: 513 `i16` ([`softmax::SOFTMAX_S16_LUT_LEN`]), as bytes.
    pub exp_table: Table,
    /// The `1 / (1 + x)` table: 513 `i16`, as bytes.
    pub reciprocal_table: Table,
    /// Input tensor (int16).
    pub input: Slot,
    /// Output tensor (int16, apart from the input).
    pub output: Slot,
}

/// A byte copy (a RESHAPE whose output could not share its input's bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CopyStep {
    /// Source.
    pub input: Slot,
    /// Destination (same length).
    pub output: Slot,
}

/// One step of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Step {
    /// CONV_2D (pointwise, grouped 3x3, general).
    Conv(ConvStep),
    /// DEPTHWISE_CONV_2D.
    Depthwise(DepthwiseStep),
    /// Two fused 1x1 CONV_2D.
    PointwisePair(PointwisePairStep),
    /// ADD.
    Add(AddStep),
    /// AVERAGE_POOL_2D.
    AveragePool(PoolStep),
    /// MAX_POOL_2D.
    MaxPool(PoolStep),
    /// FULLY_CONNECTED.
    FullyConnected(FullyConnectedStep),
    /// SOFTMAX.
    Softmax(SoftmaxStep),
    /// An element-wise unary op through a lookup table.
    Lookup(LookupStep),
    /// MEAN, SUM or REDUCE_MAX.
    Reduce(ReduceStep),
    /// RESHAPE that moves bytes.
    Copy(CopyStep),
    /// A data-movement op (a strided gather).
    Gather(GatherStep),
    /// RESIZE_BILINEAR.
    ResizeBilinear(ResizeBilinearStep),
    /// A chain of convolutions (and a residual ADD) run row by row
    /// ([`crate::block`]).
    Block(BlockStep),
    /// A binary element-wise op with broadcasting.
    Binary(BinaryStep),
    /// One input of a CONCATENATION.
    Concat(ConcatStep),
    /// ARG_MAX or ARG_MIN (an int32 output).
    Arg(ArgStep),
    /// QUANTIZE from a float32 model input.
    QuantizeFloat(BoundaryStep),
    /// DEQUANTIZE to a float32 model output.
    DequantizeFloat(BoundaryStep),
    /// QUANTIZE between integer types.
    Requantize(RequantizeStep),
    /// SVDF (with state).
    Svdf(SvdfStep),
    /// SOFTMAX from int8 to int16 (output slot: two bytes an element).
    SoftmaxS8S16(SoftmaxStep),
    /// UNIDIRECTIONAL_SEQUENCE_LSTM (with state).
    Lstm(LstmStep),
    /// LOG_SOFTMAX.
    LogSoftmax(LogSoftmaxStep),
    /// L2_NORMALIZATION.
    L2Normalization(L2NormalizationStep),
    /// TRANSPOSE_CONV.
    TransposeConv(TransposeConvStep),
    /// BATCH_MATMUL.
    BatchMatmul(BatchMatmulStep),
    /// CONV_2D, 16x8.
    ConvS16(ConvS16Step),
    /// DEPTHWISE_CONV_2D, 16x8.
    DepthwiseS16(DepthwiseS16Step),
    /// FULLY_CONNECTED, 16x8.
    FullyConnectedS16(FullyConnectedS16Step),
    /// ADD, 16x8.
    AddS16(AddS16Step),
    /// MUL, 16x8.
    MulS16(MulS16Step),
    /// SOFTMAX, 16x8.
    SoftmaxS16(SoftmaxS16Step),
    /// LOGISTIC, 16x8.
    LogisticS16(SigmoidS16Step),
    /// TANH, 16x8.
    TanhS16(SigmoidS16Step),
    /// AVERAGE_POOL_2D, 16x8.
    AveragePoolS16(PoolS16Step),
    /// MAX_POOL_2D, 16x8.
    MaxPoolS16(PoolS16Step),
    /// RELU, RELU6 or LEAKY_RELU, 16x8.
    PiecewiseS16(PiecewiseS16Step),
}

impl Step {
    /// The variant's name (`"Conv"`, `"Block"`, ...), for reports such as
    /// the firmware's per-layer profile.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Step::Conv(_) => "Conv",
            Step::Depthwise(_) => "Depthwise",
            Step::PointwisePair(_) => "PointwisePair",
            Step::Add(_) => "Add",
            Step::AveragePool(_) => "AveragePool",
            Step::MaxPool(_) => "MaxPool",
            Step::FullyConnected(_) => "FullyConnected",
            Step::Softmax(_) => "Softmax",
            Step::Lookup(_) => "Lookup",
            Step::Reduce(_) => "Reduce",
            Step::Copy(_) => "Copy",
            Step::Gather(_) => "Gather",
            Step::ResizeBilinear(_) => "ResizeBilinear",
            Step::Binary(_) => "Binary",
            Step::Concat(_) => "Concat",
            Step::Arg(_) => "Arg",
            Step::QuantizeFloat(_) => "QuantizeFloat",
            Step::DequantizeFloat(_) => "DequantizeFloat",
            Step::Requantize(_) => "Requantize",
            Step::Svdf(_) => "Svdf",
            Step::SoftmaxS8S16(_) => "SoftmaxS8S16",
            Step::Lstm(_) => "Lstm",
            Step::LogSoftmax(_) => "LogSoftmax",
            Step::L2Normalization(_) => "L2Normalization",
            Step::TransposeConv(_) => "TransposeConv",
            Step::BatchMatmul(_) => "BatchMatmul",
            Step::ConvS16(_) => "ConvS16",
            Step::DepthwiseS16(_) => "DepthwiseS16",
            Step::FullyConnectedS16(_) => "FullyConnectedS16",
            Step::AddS16(_) => "AddS16",
            Step::MulS16(_) => "MulS16",
            Step::SoftmaxS16(_) => "SoftmaxS16",
            Step::LogisticS16(_) => "LogisticS16",
            Step::TanhS16(_) => "TanhS16",
            Step::AveragePoolS16(_) => "AveragePoolS16",
            Step::MaxPoolS16(_) => "MaxPoolS16",
            Step::PiecewiseS16(_) => "PiecewiseS16",
            Step::Block(_) => "Block",
        }
    }
}

/// Most dimensions a model input or output may have ([`Dims`]).
pub const MAX_RANK: usize = 8;

/// A tensor's dimensions as the source model gives them (e.g. `[1, 10]`),
/// held inline (at most [`MAX_RANK`]) so an [`Io`] borrows nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dims {
    len: u8,
    dims: [u16; MAX_RANK],
}

impl Dims {
    /// The dimensions `dims`, or `None` for more than [`MAX_RANK`].
    pub const fn try_new(dims: &[u16]) -> Option<Dims> {
        if dims.len() > MAX_RANK {
            return None;
        }
        let mut out = [0u16; MAX_RANK];
        let mut i = 0;
        while i < dims.len() {
            out[i] = dims[i];
            i += 1;
        }
        Some(Dims {
            len: dims.len() as u8,
            dims: out,
        })
    }

    /// The dimensions `dims`; a constant of generated code (more than
    /// [`MAX_RANK`] fails to compile).
    pub const fn new(dims: &[u16]) -> Dims {
        match Dims::try_new(dims) {
            Some(d) => d,
            None => panic!("more dimensions than MAX_RANK"),
        }
    }

    /// The dimensions as a slice.
    pub fn as_slice(&self) -> &[u16] {
        self.dims.get(..self.len as usize).unwrap_or(&[])
    }
}

impl core::ops::Deref for Dims {
    type Target = [u16];
    fn deref(&self) -> &[u16] {
        self.as_slice()
    }
}

impl core::fmt::Debug for Dims {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// The element type of a model input or output. Inside an int8 plan every
/// activation is int8; a model's boundary may also be an ARG_MAX's int32
/// indices or a float model's float32 values, and a 16x8 model's
/// activations are int16. Wider values lie in the arena (and in the buffers
/// of [`Model::infer_multi`]) as little-endian bytes, two or four a value, at
/// an offset aligned to the value's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ElementType {
    /// `i8`, quantized with the [`Io`]'s scale and zero point.
    Int8,
    /// `i32` (ARG_MAX / ARG_MIN indices; no quantization).
    Int32,
    /// `f32` (a float model's input or output, real values).
    Float32,
    /// `i16`, quantized with the [`Io`]'s scale and zero point (0): a 16x8
    /// model's activations.
    Int16,
    /// `u8`, quantized with the [`Io`]'s scale and zero point: a model input
    /// or output of a QUANTIZE or DEQUANTIZE (image data, say).
    UInt8,
}

impl ElementType {
    /// Bytes of one element.
    pub const fn size(self) -> usize {
        match self {
            ElementType::Int8 | ElementType::UInt8 => 1,
            ElementType::Int16 => 2,
            ElementType::Int32 | ElementType::Float32 => 4,
        }
    }

    /// The type's name (`"int8"`, `"uint8"`, `"int16"`, `"int32"`,
    /// `"float32"`), for messages and reports.
    pub const fn name(self) -> &'static str {
        match self {
            ElementType::Int8 => "int8",
            ElementType::UInt8 => "uint8",
            ElementType::Int16 => "int16",
            ElementType::Int32 => "int32",
            ElementType::Float32 => "float32",
        }
    }
}

/// The `i32` values held in `bytes` (an int32 output's bytes, as
/// [`Model::infer_multi`] writes them: four little-endian bytes a value; a
/// last partial value is ignored).
pub fn i32_values(bytes: &[i8]) -> impl Iterator<Item = i32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]))
}

/// The `f32` values held in `bytes` (a float32 output's bytes).
pub fn f32_values(bytes: &[i8]) -> impl Iterator<Item = f32> + '_ {
    i32_values(bytes).map(|v| f32::from_bits(v as u32))
}

/// Writes `values` into `bytes` as a float32 input's bytes (four
/// little-endian bytes a value); [`Error::BufferLength`] unless `bytes` holds
/// exactly four bytes a value.
pub fn write_f32_values(values: &[f32], bytes: &mut [i8]) -> Result {
    crate::error::check_len("float32 bytes", bytes, values.len().saturating_mul(4))?;
    for (w, v) in bytes.chunks_exact_mut(4).zip(values) {
        for (d, b) in w.iter_mut().zip(v.to_le_bytes()) {
            *d = b as i8;
        }
    }
    Ok(())
}

/// The `i16` values held in `bytes` (an int16 output's bytes: two
/// little-endian bytes a value; a last odd byte is ignored).
pub fn i16_values(bytes: &[i8]) -> impl Iterator<Item = i16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|w| i16::from_le_bytes([w[0] as u8, w[1] as u8]))
}

/// Writes `values` into `bytes` as an int16 input's bytes (two little-endian
/// bytes a value); [`Error::BufferLength`] unless `bytes` holds exactly two
/// bytes a value.
pub fn write_i16_values(values: &[i16], bytes: &mut [i8]) -> Result {
    crate::error::check_len("int16 bytes", bytes, values.len().saturating_mul(2))?;
    for (w, v) in bytes.chunks_exact_mut(2).zip(values) {
        let [lo, hi] = v.to_le_bytes();
        w[0] = lo as i8;
        w[1] = hi as i8;
    }
    Ok(())
}

/// A model input or output.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Io {
    /// Where it lives in the arena (its bytes: for 4-byte elements the
    /// slot's shape counts channels in bytes, `4 * c`).
    pub slot: Slot,
    /// The tensor's dimensions as the source model gives them (e.g. `[1, 10]`),
    /// in elements.
    pub dims: Dims,
    /// The element type.
    pub dtype: ElementType,
    /// Quantization scale (of the int8 values; for a float32 boundary, of
    /// the int8 tensor it is quantized to or dequantized from).
    pub scale: f32,
    /// Quantization zero point (as `scale`).
    pub zero_point: i32,
}

/// Every field by value; the scale by its bits (for [`Model::checksum`]).
impl core::hash::Hash for Io {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.slot.hash(state);
        self.dims.hash(state);
        self.dtype.hash(state);
        state.write_u32(self.scale.to_bits());
        self.zero_point.hash(state);
    }
}

impl Io {
    /// Bytes of the tensor: its elements times [`ElementType::size`] (what
    /// the buffers of [`Model::infer_multi`] hold).
    pub const fn len(&self) -> usize {
        self.slot.shape.len()
    }

    /// Elements of the tensor.
    pub const fn elements(&self) -> usize {
        self.slot.shape.len() / self.dtype.size()
    }

    /// Whether the tensor has no bytes.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Kernel families, as bits: which ones a plan uses. A model's generated
/// code sets [`Model::dispatch`] to [`dispatch`]`::<KERNELS>` with its own
/// set, so the firmware links only the kernels the model runs (a ResNet
/// leaves the depthwise, pooling-free models the pooling kernels out). The
/// converter decides the finer bits (block sizes, fallbacks, the ADD's
/// ways) with the kernels' own selection functions
/// ([`crate::dsp_select`]), so a layer never needs a kernel its set leaves
/// out; if one did, it would be refused with [`Error::Parameter`], never
/// computed differently. The host runner uses [`DISPATCH_ALL`].
pub mod kernels {
    /// A set of kernel families, one bit each (64 bits: room for the op families to come).
    pub type KernelSet = u64;

    /// Declares the kernel families: a `KernelSet` constant with one bit
    /// each, and [`NAMED`], every family with its name, so a family added
    /// here is named wherever plans report what they link.
    macro_rules! kernel_families {
        ($($(#[$doc:meta])* $name:ident = $bit:literal;)*) => {
            $($(#[$doc])* pub const $name: KernelSet = 1 << $bit;)*
            /// Every kernel family with its name, in bit order.
            pub const NAMED: &[(KernelSet, &str)] = &[$(($name, stringify!($name)),)*];
        };
    }

    kernel_families! {
        /// CONV_2D steps and fused-block convolutions.
        CONV = 0;
        /// Grouped convolutions with one input and one output channel per group
        /// (their depthwise-like fast path).
        CONV_DEPTHWISE_LIKE = 1;
        /// DEPTHWISE_CONV_2D steps and fused-block depthwise convolutions.
        DEPTHWISE = 2;
        /// Fused pairs of 1x1 convolutions.
        POINTWISE_PAIR = 3;
        /// ADD steps (a fused block's shortcut is [`RESIDUAL`]).
        ADD = 4;
        /// AVERAGE_POOL_2D.
        AVERAGE_POOL = 5;
        /// MAX_POOL_2D.
        MAX_POOL = 6;
        /// FULLY_CONNECTED.
        FULLY_CONNECTED = 7;
        /// SOFTMAX.
        SOFTMAX = 8;
        /// Byte copies (RESHAPE that moves bytes).
        COPY = 9;
        /// Fused blocks.
        BLOCK = 10;
        /// The portable convolution loops on a Cortex-M DSP build, for
        /// convolutions its DSP kernels do not take ([`crate::dsp_select`]).
        /// Builds without fast convolution kernels (M0, M3) and RISC-V builds
        /// link the portable loops whatever the set says.
        CONV_FALLBACK = 11;
        /// The portable depthwise loops on a Cortex-M DSP build, for depthwise
        /// convolutions its DSP kernels do not take.
        DEPTHWISE_FALLBACK = 12;
        /// The DSP columns kernel in blocks of four output pixels.
        CONV_BLOCK4 = 13;
        /// The DSP columns kernel in blocks of five output pixels.
        CONV_BLOCK5 = 14;
        /// The shortcut ADD of fused blocks (in place, row by row).
        RESIDUAL = 15;
        /// The DSP columns kernel's exact recomputation of output channels its
        /// fast epilogue does not cover (a multiplier, shift or bias out of its
        /// bounds; see [`crate::prepared`]). Without it such a layer falls back
        /// to the portable loops, or is refused.
        EXACT_CONV = 16;
        /// Before each fused block runs, the checks [`Model::validate`](super::Model::validate) makes of
        /// it: its scratch windows and row buffers inside the arena, apart from
        /// its input, its output and one another, its shapes chained, no band of
        /// output rows over input rows still to be read (1.7 KB of Cortex-M4
        /// code). Generated code leaves them out: the converter
        /// validated the plan it wrote. Every kernel call checks its own input
        /// and output regions either way, so a broken plan never reads or
        /// writes outside the arena; without these checks, windows that overlap
        /// give wrong outputs instead of [`Error::Overlap`](crate::Error::Overlap).
        BLOCK_CHECKS = 17;
        /// The DSP ADD through per-input tables, built per call
        /// ([`crate::dsp_select::add_way`]).
        ADD_TABLES = 18;
        /// The DSP ADD computing each input's half per element.
        ADD_DIRECT = 19;
        /// The portable ADD loop on a Cortex-M DSP build, for additions its DSP
        /// kernel does not take (linked whatever the set says elsewhere).
        ADD_FALLBACK = 20;
        /// AVERAGE_POOL_2D with a window of the whole input only
        /// ([`crate::ops::pool::global_average_pool_s8`]); [`AVERAGE_POOL`]
        /// takes every window.
        GLOBAL_AVERAGE_POOL = 21;
        /// Fused blocks' shortcut ADD through tables built once per run of the
        /// block (2 KiB of stack during it) instead of per band: the Cortex-M
        /// DSP and the RISC-V ADD kernels' tables. The converter sets it where
        /// the DSP tables cover the shortcut ([`crate::dsp_select::add_covers`]);
        /// a RISC-V build whose tables do not cover it adds per band.
        SHORTCUT_TABLES = 22;
        /// Element-wise unary ops through a 256-entry table
        /// ([`crate::ops::lookup`]).
        LOOKUP = 23;
        /// The DSP convolution's narrow pointwise kernel: 1x1 over 4 to 16
        /// input channels into any number of output channels
        /// ([`crate::dsp_select::pointwise_narrow_covers`]; about 1.7 KB of
        /// Cortex-M4 code, linked where those layers hold at least 1/32 of
        /// a model's convolution MACs). Without it the columns kernel takes
        /// those layers.
        CONV_NARROW = 24;
        /// Reductions: MEAN, SUM, REDUCE_MAX ([`crate::ops::reduce`]).
        REDUCE = 25;
        /// The DSP convolution's grouped kernel: 1 to 8 channels a group,
        /// windows up to 3x3 ([`crate::dsp_select::grouped_narrow_covers`];
        /// about 5 KB of Cortex-M4 code, 1.6 KB of stack). Without it the
        /// columns kernel takes those layers. The converter links it for
        /// grouped layers; one-group narrow stems take it where it is.
        CONV_GROUPED = 26;
        /// Data movement as a strided gather ([`crate::ops::movement::gather_s8`]):
        /// PAD, MIRROR_PAD, TRANSPOSE, slices, SPACE_TO_DEPTH, DEPTH_TO_SPACE,
        /// RESIZE_NEAREST_NEIGHBOR.
        GATHER = 27;
        /// RESIZE_BILINEAR ([`crate::ops::movement::resize_bilinear_s8`]).
        RESIZE_BILINEAR = 28;
        /// Binary element-wise ops with broadcasting ([`crate::ops::binary::binary_s8`]):
        /// SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, ADD other than same-shape
        /// activations.
        BINARY = 29;
        /// CONCATENATION ([`crate::ops::binary::concat_s8`]).
        CONCAT = 30;
        /// ARG_MAX and ARG_MIN ([`crate::ops::reduce::arg_s8_i32`]).
        ARG = 31;
        /// QUANTIZE from a float32 model input ([`crate::ops::boundary::quantize_f32_int`]).
        QUANTIZE_FLOAT = 32;
        /// DEQUANTIZE to a float32 model output ([`crate::ops::boundary::dequantize_int_f32`]).
        DEQUANTIZE_FLOAT = 33;
        /// QUANTIZE between integer types ([`crate::ops::requantize::requantize_elements`]).
        REQUANTIZE = 34;
        /// SVDF ([`crate::ops::svdf::svdf_s8`]).
        SVDF = 35;
        /// SOFTMAX from int8 to int16 ([`crate::ops::softmax::softmax_s8_s16`]).
        SOFTMAX_S8_S16 = 36;
        /// UNIDIRECTIONAL_SEQUENCE_LSTM ([`crate::ops::lstm::lstm_s8`]).
        LSTM = 37;
        /// The DSP columns kernel over windows wider than
        /// [`CONV_MAX_K`](crate::dsp_select::CONV_MAX_K) taps, in slices with
        /// 32-bit partial sums ([`crate::dsp_select::columns_wide_covers`];
        /// about 1 KB of Cortex-M4 code). Without it those layers take the
        /// portable loops.
        CONV_WIDE = 38;
        /// LOG_SOFTMAX ([`crate::ops::softmax::log_softmax_s8`]).
        LOG_SOFTMAX = 40;
        /// L2_NORMALIZATION ([`crate::ops::l2_normalization::l2_normalization_s8`]).
        L2_NORMALIZATION = 41;
        /// TRANSPOSE_CONV ([`crate::ops::transpose_conv::transpose_conv_s8`]).
        TRANSPOSE_CONV = 42;
        /// BATCH_MATMUL ([`crate::ops::batch_matmul::batch_matmul_s8`]).
        BATCH_MATMUL = 43;
        /// The DSP columns kernel's tail routine: a call's last, partial
        /// block of pixels computed for those pixels only
        /// ([`crate::dsp_select::blocks::TAIL`]; about 1.3 KB of Cortex-M4
        /// code, linked where it saves at least 1/32 of the kernel's
        /// multiply loops, e.g. rows of 6 and 3 pixels). Without it the
        /// kernel computes a whole block into its scratch.
        CONV_TAIL = 44;
        /// The DSP narrow kernel over windows of one group and at most 16
        /// taps, gathered per pixel (1-channel 3x3 stems;
        /// [`crate::dsp_select::narrow_window_covers`]; about 2.5 KB of
        /// Cortex-M4 code, linked where such layers hold at least 1/64 of
        /// the convolutions' multiply-accumulates). Without it the columns
        /// or grouped kernel takes them.
        CONV_WINDOW = 45;
        /// The RISC-V narrow pointwise kernel: 1x1 over 1 to 8 input channels
        /// into at least 4 output channels
        /// ([`crate::ops::pointwise::riscv_narrow_covers`]; about 3.9 KB of
        /// rv32imac code). Without it the RISC-V columns kernel takes those
        /// layers; other targets ignore it.
        CONV_NARROW_RISCV = 50;
        /// 16x8 CONV_2D ([`crate::ops::conv::conv_s16`]).
        CONV_S16 = 51;
        /// 16x8 DEPTHWISE_CONV_2D ([`crate::ops::depthwise::depthwise_s16`]).
        DEPTHWISE_S16 = 52;
        /// 16x8 FULLY_CONNECTED ([`crate::ops::fully_connected::fully_connected_s16`]).
        FULLY_CONNECTED_S16 = 53;
        /// 16x8 ADD ([`crate::ops::add::add_s16`]).
        ADD_S16 = 54;
        /// 16x8 MUL ([`crate::ops::binary::mul_s16`]).
        MUL_S16 = 55;
        /// 16x8 SOFTMAX ([`crate::ops::softmax::softmax_s16`]).
        SOFTMAX_S16 = 56;
        /// 16x8 LOGISTIC ([`crate::ops::lookup::logistic_s16`]).
        LOGISTIC_S16 = 57;
        /// 16x8 TANH ([`crate::ops::lookup::tanh_s16`]).
        TANH_S16 = 58;
        /// 16x8 AVERAGE_POOL_2D and MAX_POOL_2D ([`crate::ops::pool::average_pool_s16`],
        /// [`crate::ops::pool::max_pool_s16`]).
        POOL_S16 = 59;
        /// 16x8 RELU, RELU6 and LEAKY_RELU ([`crate::ops::lookup::piecewise_s16`]).
        PIECEWISE_S16 = 60;
    }

    /// Every kernel (the host runner's set).
    pub const ALL: KernelSet = KernelSet::MAX;

    /// The DSP columns kernel's block sizes in the set `k`, as
    /// [`crate::dsp_select::blocks`] bits.
    pub const fn conv_blocks(k: KernelSet) -> u8 {
        use crate::dsp_select::blocks;
        (if k & CONV_BLOCK4 != 0 {
            blocks::FOUR
        } else {
            0
        }) | (if k & CONV_BLOCK5 != 0 {
            blocks::FIVE
        } else {
            0
        }) | (if k & CONV_TAIL != 0 { blocks::TAIL } else { 0 })
    }
}

/// What [`dispatch`] says of a step whose op family its kernel set leaves out.
const NOT_LINKED: &str = "the step's kernel is not in this build's kernel set (Model::dispatch)";

/// Checks or runs one step of a model: [`dispatch`] with a kernel set.
pub type Dispatch = fn(&Model<'_>, u16, &Step, Action<'_>) -> Result;

/// What [`dispatch`] does with a step.
#[derive(Debug)]
pub enum Action<'x> {
    /// Only check the step against the blob and arena size
    /// ([`Model::validate`]).
    Check,
    /// Run the step over the arena ([`Model::run`]).
    Run(&'x mut [i8]),
}

/// Checks or runs `step` (index `i`) with the kernels of `K` compiled in
/// (see [`kernels`]); a step whose kernel `K` leaves out is refused with
/// [`Error::Parameter`]. Both the kernels and their plan checks follow `K`, so
/// firmware links neither for the op families its model does not use.
pub fn dispatch<const K: KernelSet>(
    model: &Model<'_>,
    i: u16,
    step: &Step,
    action: Action<'_>,
) -> Result {
    match action {
        Action::Check => model.check_step::<K>(i, step),
        Action::Run(arena) => model.run_step::<K>(i, step, arena),
    }
}

/// [`dispatch`] with every kernel: what the host runner uses.
pub const DISPATCH_ALL: Dispatch = dispatch::<{ kernels::ALL }>;

/// A converted model: the plan, its weight blob and its arena size.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    /// The model's name (its file stem).
    pub name: &'a str,
    /// Runs one step: [`dispatch`] with the kernel set the model uses (or
    /// [`DISPATCH_ALL`]).
    pub dispatch: Dispatch,
    /// All weights, biases and requantization tables; 4-byte aligned.
    pub blob: &'a [u8],
    /// The steps, in execution order.
    pub steps: &'a [Step],
    /// The convolutions of fused blocks ([`Step::Block`] refers to them by index).
    pub stages: &'a [Stage],
    /// Bytes of arena the plan needs.
    pub arena_bytes: u32,
    /// The first input tensor (`inputs[0]`), for one-input models.
    pub input: Io,
    /// The first output tensor (`outputs[0]`), for one-output models.
    pub output: Io,
    /// Every input tensor, in the source model's order (at least one; the
    /// first is [`Model::input`]).
    pub inputs: &'a [Io],
    /// Every output tensor, in the source model's order (at least one; the
    /// first is [`Model::output`]). Each holds its value when the plan ends.
    pub outputs: &'a [Io],
}

impl<'a> Model<'a> {
    /// The CRC-32 of the weight blob and of every field of the plan
    /// ([`crate::integrity`]); the converter writes it beside the model as
    /// `CHECKSUM` (see [`Model::verify`]).
    pub fn checksum(&self) -> u32 {
        use core::hash::Hash;
        let mut crc = crate::integrity::Crc32::new();
        crc.update(self.blob);
        self.steps.hash(&mut crc);
        self.stages.hash(&mut crc);
        self.arena_bytes.hash(&mut crc);
        self.inputs.hash(&mut crc);
        self.outputs.hash(&mut crc);
        crc.value()
    }

    /// Checks that the blob and plan in flash are the ones the converter
    /// wrote: their [`Model::checksum`] must equal `expected` (the generated
    /// `CHECKSUM`). A flipped bit anywhere in the weights, tables or plan
    /// gives [`Error::Checksum`]. Costs one pass over the blob (about 20
    /// instructions a byte on a Cortex-M4) and the plan; call it at boot.
    pub fn verify(&self, expected: u32) -> Result {
        let actual = self.checksum();
        if actual == expected {
            Ok(())
        } else {
            Err(Error::Checksum { expected, actual })
        }
    }

    /// Checks the whole plan once: every table inside the blob and aligned,
    /// every slot inside the arena, no step writing over its own inputs.
    /// [`Model::run`] makes the same checks step by step (each kernel those of
    /// its own step, and this function's a fused block's before it runs,
    /// where [`kernels::BLOCK_CHECKS`] is in the model's set); calling this first
    /// (for example at start-up) reports a broken plan before any input.
    pub fn validate(&self) -> Result {
        let arena = self.arena_bytes as usize;
        if self.inputs.first() != Some(&self.input) || self.outputs.first() != Some(&self.output) {
            return Err(Error::Io(
                "the first of `inputs`/`outputs` differs from `input`/`output`",
            ));
        }
        for io in self.inputs.iter().chain(self.outputs) {
            let s = io.slot;
            if s.end() > arena {
                return Err(Error::ArenaTooSmall {
                    needed: s.end(),
                    given: arena,
                });
            }
            let elements = io
                .dims
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
            if elements.and_then(|n| n.checked_mul(io.dtype.size())) != Some(s.shape.len())
                || s.offset as usize % io.dtype.size() != 0
            {
                return Err(Error::Io(
                    "a model input's or output's dims and slot disagree",
                ));
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            (self.dispatch)(self, i as u16, step, Action::Check)?;
        }
        Ok(())
    }

    /// [`Model::validate`]'s checks of one step, for the op families of `K`
    /// (a step outside `K` is refused as [`Model::run`] would refuse it).
    fn check_step<const K: KernelSet>(&self, i: u16, step: &Step) -> Result {
        use kernels as k;
        let linked = |bits: KernelSet| K & bits == bits;
        let arena = self.arena_bytes as usize;
        // Every slot a step names holds something (see `check_output`) and
        // lies inside the arena.
        let slot_ok = |s: &Slot| -> Result {
            check_output(s)?;
            if s.end() <= arena {
                Ok(())
            } else {
                Err(Error::ArenaTooSmall {
                    needed: s.end(),
                    given: arena,
                })
            }
        };
        let disjoint = |a: &Slot, b: &Slot| -> Result {
            if a.end() <= b.offset as usize || b.end() <= a.offset as usize {
                Ok(())
            } else {
                Err(Error::Overlap { step: i })
            }
        };
        // An int16 input and output: inside the arena, 2-byte aligned,
        // whole elements, apart (unless the same slot is passed twice).
        let s16_slots = |a: &Slot, b: &Slot| -> Result {
            for s in [a, b] {
                slot_ok(s)?;
                if s.offset % 2 != 0 || s.shape.c % 2 != 0 {
                    return Err(Error::Shape("an int16 tensor at an odd offset or length"));
                }
            }
            if a == b {
                Ok(())
            } else {
                disjoint(a, b)
            }
        };
        let tables = |t: &ConvTables| -> Result {
            self.i8_table(i, "filter", t.filter)?;
            self.i32_table(i, "bias", t.bias)?;
            self.i32_table(i, "multiplier", t.multiplier)?;
            self.i32_table(i, "shift", t.shift)?;
            self.i32_table(i, "weight_sums", t.weight_sums)?;
            self.i32_table(i, "prepared", t.prepared)?;
            Ok(())
        };
        match step {
            Step::Conv(s) if linked(k::CONV) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                tables(&s.tables)
            }
            Step::Depthwise(s) if linked(k::DEPTHWISE) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                tables(&s.tables)
            }
            Step::FullyConnected(s) if linked(k::FULLY_CONNECTED) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                tables(&s.tables)
            }
            Step::PointwisePair(s) if linked(k::POINTWISE_PAIR) => {
                let scratch = Slot {
                    offset: s.scratch,
                    shape: Shape::new(1, 1, s.mid_c),
                };
                for slot in [&s.input, &s.output, &scratch] {
                    slot_ok(slot)?;
                }
                disjoint(&s.input, &s.output)?;
                disjoint(&s.input, &scratch)?;
                disjoint(&s.output, &scratch)?;
                tables(&s.first_tables)?;
                tables(&s.second_tables)
            }
            Step::Add(s) if linked(k::ADD) => {
                for slot in [&s.input1, &s.input2, &s.output] {
                    slot_ok(slot)?;
                }
                if s.output != s.input1 {
                    disjoint(&s.input1, &s.output)?;
                }
                if s.output != s.input2 {
                    disjoint(&s.input2, &s.output)?;
                }
                Ok(())
            }
            Step::AveragePool(s) | Step::MaxPool(s)
                if K & (k::AVERAGE_POOL | k::GLOBAL_AVERAGE_POOL | k::MAX_POOL) != 0 =>
            {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)
            }
            Step::Softmax(s) if linked(k::SOFTMAX) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)
            }
            Step::Lstm(s) if linked(k::LSTM) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                slot_ok(&s.state)?;
                s.params.check()?;
                let p = &s.params;
                if s.input.shape.len() != p.input_len()
                    || s.output.shape.len() != p.output_len()
                    || s.state.shape.len() != p.state_bytes()
                {
                    return Err(Error::Shape("lstm tensors do not fit its extents"));
                }
                let w = self.i8_table(i, "lstm weights", s.weights)?;
                let b = self.i32_table(i, "lstm bias", s.bias)?;
                if w.len() != p.weight_bytes() || b.len() != 8 * p.units as usize {
                    return Err(Error::Blob {
                        step: i,
                        what: "lstm weights",
                    });
                }
                disjoint(&s.input, &s.output)?;
                disjoint(&s.state, &s.input)?;
                disjoint(&s.state, &s.output)
            }
            Step::SoftmaxS8S16(s) if linked(k::SOFTMAX_S8_S16) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                if s.input.shape.len().checked_mul(2) != Some(s.output.shape.len()) {
                    return Err(Error::Shape(
                        "int16 softmax: the output is not two bytes an input element",
                    ));
                }
                disjoint(&s.input, &s.output)
            }
            Step::Lookup(s) if linked(k::LOOKUP) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                self.i8_table(i, "lookup table", s.table)?;
                if s.table.len as usize != lookup::TABLE_LEN {
                    return Err(Error::Blob {
                        step: i,
                        what: "lookup table",
                    });
                }
                if s.input == s.output {
                    Ok(())
                } else {
                    disjoint(&s.input, &s.output)
                }
            }
            Step::Reduce(s) if linked(k::REDUCE) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                if s.params.input_bytes() != Some(s.input.shape.len())
                    || s.params.output_bytes() != Some(s.output.shape.len())
                {
                    return Err(Error::Shape("reduce extents do not fit the tensors"));
                }
                disjoint(&s.input, &s.output)
            }
            Step::Gather(s) if linked(k::GATHER) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                let t = |d: usize| self.i32_table(i, "gather table", s.tables[d]);
                let tables = [t(0)?, t(1)?, t(2)?, t(3)?, t(4)?];
                movement::check_gather(
                    &s.params,
                    &tables,
                    s.input.shape.len(),
                    s.output.shape.len(),
                )
                .map(|_| ())
            }
            Step::ResizeBilinear(s) if linked(k::RESIZE_BILINEAR) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)
            }
            Step::Binary(s) if linked(k::BINARY) => {
                slot_ok(&s.output)?;
                let mut lens = [0usize; 2];
                for (k, operand) in [s.input1, s.input2].iter().enumerate() {
                    lens[k] = match operand {
                        Operand::Arena(a) => {
                            slot_ok(a)?;
                            disjoint(a, &s.output)?;
                            a.shape.len()
                        }
                        Operand::Blob(t) => self.i8_table(i, "binary constant", *t)?.len(),
                    };
                }
                binary::check_binary(&s.params, lens[0], lens[1], s.output.shape.len())
            }
            Step::Concat(s) if linked(k::CONCAT) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                let t = self.i8_table(i, "concat table", s.table)?;
                if !matches!(t.len(), 0 | 256) {
                    return Err(Error::Blob {
                        step: i,
                        what: "concat table",
                    });
                }
                disjoint(&s.input, &s.output)
            }
            Step::Copy(s) if linked(k::COPY) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                if s.input == s.output {
                    Ok(())
                } else {
                    disjoint(&s.input, &s.output)
                }
            }
            Step::Arg(s) if linked(k::ARG) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                if s.params.input_len() != Some(s.input.shape.len())
                    || s.params.output_bytes() != Some(s.output.shape.len())
                {
                    return Err(Error::Shape("arg max/min extents do not fit the tensors"));
                }
                disjoint(&s.input, &s.output)
            }
            Step::QuantizeFloat(s) | Step::DequantizeFloat(s)
                if K & (k::QUANTIZE_FLOAT | k::DEQUANTIZE_FLOAT) != 0 =>
            {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                let (int, float) = match step {
                    Step::QuantizeFloat(_) => (&s.output, &s.input),
                    _ => (&s.input, &s.output),
                };
                let size = s.params.int_type.size();
                if int.shape.len() % size != 0
                    || (int.shape.len() / size).checked_mul(4) != Some(float.shape.len())
                {
                    return Err(Error::Shape(
                        "float boundary: the float tensor is not 4 bytes an integer element",
                    ));
                }
                disjoint(&s.input, &s.output)
            }
            Step::Svdf(s) if linked(k::SVDF) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                slot_ok(&s.state)?;
                s.params.check()?;
                let p = &s.params;
                let rows = p.batch as usize;
                if s.input.shape.len() != rows * p.inputs as usize
                    || s.output.shape.len() != rows * p.units()
                    || s.state.shape.len() != p.state_bytes()
                {
                    return Err(Error::Shape("svdf tensors do not fit its extents"));
                }
                self.i8_table(i, "svdf feature weights", s.weights_feature)?;
                self.i8_table(i, "svdf time weights", s.weights_time)?;
                self.i32_table(i, "svdf bias", s.bias)?;
                disjoint(&s.input, &s.output)?;
                disjoint(&s.state, &s.input)?;
                disjoint(&s.state, &s.output)
            }
            Step::Requantize(s) if linked(k::REQUANTIZE) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                s.params.check()?;
                let (a, b) = (s.params.input_type.size(), s.params.output_type.size());
                let n = s.input.shape.len() / a;
                if s.input.shape.len() % a != 0 || n.checked_mul(b) != Some(s.output.shape.len()) {
                    return Err(Error::Shape(
                        "requantize: input and output element counts differ",
                    ));
                }
                disjoint(&s.input, &s.output)
            }
            Step::TransposeConv(s) if linked(k::TRANSPOSE_CONV) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                tables(&s.tables)?;
                transpose_conv::check_transpose_conv(
                    &s.params,
                    s.input.shape,
                    s.input.shape.len(),
                    &self.weights(i, &s.tables)?,
                    s.output.shape,
                    s.output.shape.len(),
                )
            }
            Step::BatchMatmul(s) if linked(k::BATCH_MATMUL) => {
                for slot in [&s.input1, &s.input2, &s.output] {
                    slot_ok(slot)?;
                }
                disjoint(&s.input1, &s.output)?;
                disjoint(&s.input2, &s.output)?;
                batch_matmul::check_batch_matmul(
                    &s.params,
                    s.input1.shape.len(),
                    s.input2.shape.len(),
                    s.output.shape.len(),
                )
            }
            Step::LogSoftmax(s) if linked(k::LOG_SOFTMAX) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                softmax::check_log_softmax(&s.params, s.input.shape.len(), s.output.shape.len())
            }
            Step::L2Normalization(s) if linked(k::L2_NORMALIZATION) => {
                slot_ok(&s.input)?;
                slot_ok(&s.output)?;
                disjoint(&s.input, &s.output)?;
                l2_normalization::check_l2_normalization(
                    &s.params,
                    s.input.shape.len(),
                    s.output.shape.len(),
                )
            }
            Step::ConvS16(s) if linked(k::CONV_S16) => {
                s16_slots(&s.input, &s.output)?;
                tables(&s.tables)
            }
            Step::DepthwiseS16(s) if linked(k::DEPTHWISE_S16) => {
                s16_slots(&s.input, &s.output)?;
                tables(&s.tables)
            }
            Step::FullyConnectedS16(s) if linked(k::FULLY_CONNECTED_S16) => {
                s16_slots(&s.input, &s.output)?;
                tables(&s.tables)
            }
            Step::AddS16(AddS16Step {
                input1,
                input2,
                output,
                ..
            })
            | Step::MulS16(MulS16Step {
                input1,
                input2,
                output,
                ..
            }) if K & (k::ADD_S16 | k::MUL_S16) != 0 => {
                s16_slots(output, output)?;
                for operand in [input1, input2] {
                    match operand {
                        Operand::Arena(a) => {
                            s16_slots(a, output)?;
                            disjoint(a, output)?;
                        }
                        Operand::Blob(t) => {
                            self.i8_table(i, "int16 constant", *t)?;
                        }
                    }
                }
                Ok(())
            }
            Step::SoftmaxS16(s) if linked(k::SOFTMAX_S16) => {
                s16_slots(&s.input, &s.output)?;
                disjoint(&s.input, &s.output)?;
                self.i16_lut(i, "softmax exp table", s.exp_table)?;
                self.i16_lut(i, "softmax reciprocal table", s.reciprocal_table)?;
                Ok(())
            }
            Step::LogisticS16(s) | Step::TanhS16(s) if K & (k::LOGISTIC_S16 | k::TANH_S16) != 0 => {
                s16_slots(&s.input, &s.output)?;
                disjoint(&s.input, &s.output)
            }
            Step::AveragePoolS16(s) | Step::MaxPoolS16(s) if linked(k::POOL_S16) => {
                s16_slots(&s.input, &s.output)?;
                disjoint(&s.input, &s.output)
            }
            Step::PiecewiseS16(s) if linked(k::PIECEWISE_S16) => {
                s16_slots(&s.input, &s.output)?;
                disjoint(&s.input, &s.output)
            }
            Step::Block(b) if linked(k::BLOCK) => {
                slot_ok(&b.input)?;
                slot_ok(&b.output)?;
                let chain = b.chain(i, self.stages)?;
                let projection = b.projection(i, self.stages)?;
                // Shapes chain from the input to the output.
                let mut shape = b.input.shape;
                for st in chain {
                    if crate::block::rows_needed(&st.op.window(), shape.h, 0, 1).1 == 0 {
                        return Err(Error::Shape("fused block stage without input rows"));
                    }
                    shape = st.output;
                }
                if shape != b.output.shape {
                    return Err(Error::Shape("fused block output shape"));
                }
                if let Some(p) = projection {
                    if p.output != b.output.shape {
                        return Err(Error::Shape("fused block projection shape"));
                    }
                    tables(&p.tables)?;
                }
                if matches!(b.residual, Residual::Identity { .. })
                    && b.input.shape != b.output.shape
                {
                    return Err(Error::Shape("fused block identity shortcut shape"));
                }
                // Scratch (windows and row buffers): inside the arena, apart
                // from the input, the output and one another.
                let out_row = b.output.shape.w as usize * b.output.shape.c as usize;
                if b.band == 0 {
                    return Err(Error::Parameter("fused block band of 0 rows"));
                }
                let row_bytes =
                    crate::block::row_buffer_bytes(out_row, b.band, projection.is_some());
                // As words (a Shape's extents are 16-bit).
                let words = u16::try_from(row_bytes.div_ceil(4))
                    .map_err(|_| Error::Shape("fused block row buffers over 256 KiB"))?;
                let rows = Slot {
                    offset: b.row,
                    shape: Shape::new(words, 1, 4),
                };
                let last = chain.len() - 1;
                let mut scratch = [rows; crate::block::MAX_STAGES];
                for (k, st) in chain.iter().enumerate().take(last) {
                    let next = &chain[k + 1];
                    let needed =
                        crate::block::window_rows_for(&next.op.window(), st.output.h, b.band);
                    if st.window_rows < needed {
                        return Err(Error::Shape("fused block window too small"));
                    }
                    scratch[k + 1] = Slot {
                        offset: st.window,
                        shape: Shape::new(st.window_rows, st.output.w, st.output.c),
                    };
                }
                for (k, a) in scratch.iter().enumerate().take(chain.len()) {
                    slot_ok(a)?;
                    disjoint(a, &b.input)?;
                    disjoint(a, &b.output)?;
                    for c in scratch.iter().take(k) {
                        disjoint(a, c)?;
                    }
                }
                for st in chain {
                    tables(&st.tables)?;
                }
                b.check_bands(i, chain, projection)
            }
            _ => Err(Error::Parameter(NOT_LINKED)),
        }
    }

    fn bytes(&self, step: u16, what: &'static str, offset: u32, len: usize) -> Result<&'a [u8]> {
        let start = offset as usize;
        start
            .checked_add(len)
            .and_then(|end| self.blob.get(start..end))
            .ok_or(Error::Blob { step, what })
    }

    fn i8_table(&self, step: u16, what: &'static str, t: Table) -> Result<&'a [i8]> {
        let bytes = self.bytes(step, what, t.offset, t.len as usize)?;
        bytemuck::try_cast_slice(bytes).map_err(|_| Error::Blob { step, what })
    }

    /// A 513-entry `i16` table of an int16 SOFTMAX (stored as its bytes:
    /// `t.len` counts bytes), 2-byte aligned.
    fn i16_lut(
        &self,
        step: u16,
        what: &'static str,
        t: Table,
    ) -> Result<&'a [i16; softmax::SOFTMAX_S16_LUT_LEN]> {
        let bytes = self.bytes(step, what, t.offset, t.len as usize)?;
        let values: &[i16] =
            bytemuck::try_cast_slice(bytes).map_err(|_| Error::Blob { step, what })?;
        values.try_into().map_err(|_| Error::Blob { step, what })
    }

    pub(crate) fn i32_table(&self, step: u16, what: &'static str, t: Table) -> Result<&'a [i32]> {
        let len = (t.len as usize)
            .checked_mul(4)
            .ok_or(Error::Blob { step, what })?;
        let bytes = self.bytes(step, what, t.offset, len)?;
        bytemuck::try_cast_slice(bytes).map_err(|_| Error::Blob { step, what })
    }

    /// A layer's weights and per-channel tables, as views into the blob
    /// (checked to lie inside it, aligned).
    pub fn weights(&self, step: u16, t: &ConvTables) -> Result<ConvWeights<'a>> {
        Ok(ConvWeights {
            filter: self.i8_table(step, "filter", t.filter)?,
            bias: self.i32_table(step, "bias", t.bias)?,
            multiplier: self.i32_table(step, "multiplier", t.multiplier)?,
            shift: self.i32_table(step, "shift", t.shift)?,
        })
    }

    /// The input tensor's bytes in `arena`, to be filled before [`Model::run`].
    pub fn input_mut<'b>(&self, arena: &'b mut [i8]) -> Result<&'b mut [i8]> {
        io_mut(arena, &self.input)
    }

    /// The output tensor's bytes in `arena`, valid after [`Model::run`].
    pub fn output<'b>(&self, arena: &'b [i8]) -> Result<&'b [i8]> {
        io_ref(arena, &self.output)
    }

    /// Input `k`'s bytes in `arena`, to be filled before [`Model::run`].
    pub fn input_mut_at<'b>(&self, arena: &'b mut [i8], k: usize) -> Result<&'b mut [i8]> {
        let io = self
            .inputs
            .get(k)
            .ok_or(Error::Io("no input with that index"))?;
        io_mut(arena, io)
    }

    /// Output `k`'s bytes in `arena`, valid after [`Model::run`].
    pub fn output_at<'b>(&self, arena: &'b [i8], k: usize) -> Result<&'b [i8]> {
        let io = self
            .outputs
            .get(k)
            .ok_or(Error::Io("no output with that index"))?;
        io_ref(arena, io)
    }

    /// Copies `input` into the arena, runs the plan and copies the result into
    /// `output`: for a model with one input and one output (a model with
    /// more is refused with [`Error::IoCount`]; use [`Model::infer_multi`]).
    pub fn infer(&self, arena: &mut [i8], input: &[i8], output: &mut [i8]) -> Result {
        self.infer_multi(arena, &[input], &mut [output])
    }

    /// Copies each of `inputs` into its place in the arena (in the model's
    /// order of [`Model::inputs`]), runs the plan and copies each output into
    /// `outputs` (in the order of [`Model::outputs`]). The counts must be the
    /// model's ([`Error::IoCount`]) and each buffer exactly its tensor's
    /// length ([`Error::BufferLength`]); nothing runs otherwise. A model with
    /// state (SVDF) carries it in `arena` from one call to the next: call
    /// [`Model::reset_state`] once on a new arena first.
    pub fn infer_multi(
        &self,
        arena: &mut [i8],
        inputs: &[&[i8]],
        outputs: &mut [&mut [i8]],
    ) -> Result {
        check_count("inputs", self.inputs.len(), inputs.len())?;
        check_count("outputs", self.outputs.len(), outputs.len())?;
        for (io, x) in self.inputs.iter().zip(inputs) {
            crate::error::check_len("model input", x, io.len())?;
        }
        for (io, y) in self.outputs.iter().zip(outputs.iter()) {
            crate::error::check_len("model output", y, io.len())?;
        }
        for (io, x) in self.inputs.iter().zip(inputs) {
            io_mut(arena, io)?.copy_from_slice(x);
        }
        self.run(arena)?;
        for (io, y) in self.outputs.iter().zip(outputs.iter_mut()) {
            y.copy_from_slice(io_ref(arena, io)?);
        }
        Ok(())
    }

    /// Sets every state the model keeps between runs (an SVDF's memory) to
    /// its start, as TensorFlow Lite Micro's `ResetVariableTensors` does
    /// (int8 state to its zero point, int16 state to 0). Call it once on a
    /// new arena before the first run of a model with state, and again to
    /// start a new stream; [`Model::run`] leaves the state to the next run
    /// and never resets it. A model without state has nothing to reset.
    pub fn reset_state(&self, arena: &mut [i8]) -> Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Svdf(s) => slot_mut(i as u16, arena, &s.state)?.fill(s.params.state_fill()),
                Step::Lstm(s) => {
                    // The int16 cell state at 0, the hidden state at its
                    // zero point.
                    let state = slot_mut(i as u16, arena, &s.state)?;
                    let (cells, hidden) = state
                        .split_at_mut_checked(2 * s.params.batch as usize * s.params.units as usize)
                        .ok_or(Error::Shape("lstm state smaller than its cell state"))?;
                    cells.fill(0);
                    hidden.fill(s.params.hidden_zero_point as i8);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the model keeps state between runs (see [`Model::reset_state`]).
    pub fn has_state(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Svdf(_) | Step::Lstm(_)))
    }

    /// Runs every step over `arena`, whose input slot already holds the input.
    pub fn run(&self, arena: &mut [i8]) -> Result {
        if arena.len() < self.arena_bytes as usize {
            return Err(Error::ArenaTooSmall {
                needed: self.arena_bytes as usize,
                given: arena.len(),
            });
        }
        for (i, step) in self.steps.iter().enumerate() {
            let i = i as u16;
            // The kernels check every slot, table and overlap of their own
            // step; a fused block's windows are checked by `dispatch` (with
            // `kernels::BLOCK_CHECKS`).
            (self.dispatch)(self, i, step, Action::Run(arena)).map_err(|e| match e {
                Error::Step { .. } | Error::Blob { .. } | Error::Overlap { .. } => e,
                other => Error::Step {
                    step: i,
                    kind: other.kind(),
                },
            })?;
        }
        Ok(())
    }

    fn run_step<const K: KernelSet>(&self, i: u16, step: &Step, arena: &mut [i8]) -> Result {
        use kernels as k;
        let linked = |bits: KernelSet| K & bits == bits;
        match step {
            Step::Conv(s) if linked(k::CONV) => {
                let w = self.weights(i, &s.tables)?;
                let sums = self.i32_table(i, "weight_sums", s.tables.weight_sums)?;
                let prepared = self.i32_table(i, "prepared", s.tables.prepared)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                ops::convolve_linked::<K>(
                    &s.params,
                    s.input.shape,
                    input,
                    &w,
                    sums,
                    prepared,
                    false,
                    s.output.shape,
                    output,
                )
            }
            Step::Depthwise(s) if linked(k::DEPTHWISE) => {
                let w = self.weights(i, &s.tables)?;
                let prepared = self.i32_table(i, "prepared", s.tables.prepared)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                depthwise::depthwise_run::<K>(
                    &s.params,
                    s.input.shape,
                    input,
                    &w,
                    prepared,
                    false,
                    s.output.shape,
                    output,
                )
            }
            Step::PointwisePair(s) if linked(k::POINTWISE_PAIR) => {
                let w1 = self.weights(i, &s.first_tables)?;
                let w2 = self.weights(i, &s.second_tables)?;
                let scratch = Slot {
                    offset: s.scratch,
                    shape: Shape::new(1, 1, s.mid_c),
                };
                let (input, scratch, output) = regions3(i, arena, &s.input, &scratch, &s.output)?;
                ops::pointwise_pair::pointwise_pair_s8(
                    &s.first,
                    &w1,
                    &s.second,
                    &w2,
                    s.input.shape,
                    input,
                    s.mid_c,
                    scratch,
                    s.output.shape,
                    output,
                )
            }
            Step::Add(s) if linked(k::ADD) => {
                if s.output == s.input1 || s.output == s.input2 {
                    // In place: the output overwrites one input, element by element.
                    let (params, other) = if s.output == s.input1 {
                        (s.params, s.input2)
                    } else {
                        (swap_add_inputs(&s.params), s.input1)
                    };
                    if other == s.output {
                        // x + x in place: read a copy-free view is impossible, so
                        // compute through the two-buffer kernel one chunk at a time.
                        return add_self_in_place::<K>(&params, slot_mut(i, arena, &s.output)?);
                    }
                    let (acc, other) = regions_mut_ro(i, arena, &s.output, &other)?;
                    add::add_in_place_linked::<K>(&params, acc, other)
                } else {
                    let (a, b, out) = regions_ro2(i, arena, &s.input1, &s.input2, &s.output)?;
                    add::add_linked::<K>(&s.params, a, b, out)
                }
            }
            Step::AveragePool(s) if linked(k::AVERAGE_POOL) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                pool::average_pool_s8(&s.params, s.input.shape, input, s.output.shape, output)
            }
            Step::AveragePool(s) if linked(k::GLOBAL_AVERAGE_POOL) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                pool::global_average_pool_s8(
                    &s.params,
                    s.input.shape,
                    input,
                    s.output.shape,
                    output,
                )
            }
            Step::MaxPool(s) if linked(k::MAX_POOL) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                pool::max_pool_s8(&s.params, s.input.shape, input, s.output.shape, output)
            }
            Step::FullyConnected(s) if linked(k::FULLY_CONNECTED) => {
                let w = self.weights(i, &s.tables)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                fully_connected::fully_connected_s8(&s.params, input, &w, output)
            }
            Step::Softmax(s) if linked(k::SOFTMAX) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                softmax::softmax_s8(&s.params, input, output)
            }
            Step::Lstm(s) if linked(k::LSTM) => {
                let w = self.i8_table(i, "lstm weights", s.weights)?;
                let bias = self.i32_table(i, "lstm bias", s.bias)?;
                let (input, state, output) = regions3(i, arena, &s.input, &s.state, &s.output)?;
                lstm::lstm_s8(&s.params, input, w, bias, state, output)
            }
            Step::SoftmaxS8S16(s) if linked(k::SOFTMAX_S8_S16) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                softmax::softmax_s8_s16(&s.params, input, output)
            }
            Step::Block(b) if linked(k::BLOCK) => {
                if linked(k::BLOCK_CHECKS) {
                    self.check_step::<K>(i, step)?;
                }
                crate::block::run::<K>(self, i, b, arena)
            }
            Step::Lookup(s) if linked(k::LOOKUP) => {
                let table = self.i8_table(i, "lookup table", s.table)?;
                if s.input == s.output {
                    lookup::lookup_s8_in_place(table, slot_mut(i, arena, &s.output)?)
                } else {
                    let (input, output) = regions(i, arena, &s.input, &s.output)?;
                    lookup::lookup_s8(table, input, output)
                }
            }
            Step::Reduce(s) if linked(k::REDUCE) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                reduce::reduce(&s.params, input, output)
            }
            Step::Gather(s) if linked(k::GATHER) => {
                let t = |d: usize| self.i32_table(i, "gather table", s.tables[d]);
                let tables = [t(0)?, t(1)?, t(2)?, t(3)?, t(4)?];
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                movement::gather_s8(&s.params, tables, input, output)
            }
            Step::ResizeBilinear(s) if linked(k::RESIZE_BILINEAR) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                movement::resize_bilinear_s8(
                    &s.params,
                    s.input.shape,
                    input,
                    s.output.shape,
                    output,
                )
            }
            Step::Binary(s) if linked(k::BINARY) => {
                let (left, out, right) = split_out(i, arena, &s.output)?;
                let operand = |o: &Operand| -> Result<&[i8]> {
                    match o {
                        Operand::Arena(a) => view(i, left, right, &s.output, a),
                        Operand::Blob(t) => self.i8_table(i, "binary constant", *t),
                    }
                };
                let (a, b) = (operand(&s.input1)?, operand(&s.input2)?);
                binary::binary_s8(&s.params, a, b, out)
            }
            Step::Concat(s) if linked(k::CONCAT) => {
                let table = self.i8_table(i, "concat table", s.table)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                binary::concat_s8(&s.params, table, input, output)
            }
            Step::Arg(s) if linked(k::ARG) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                reduce::arg_s8_i32(&s.params, input, output)
            }
            Step::QuantizeFloat(s) if linked(k::QUANTIZE_FLOAT) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                boundary::quantize_f32_int(&s.params, input, output)
            }
            Step::DequantizeFloat(s) if linked(k::DEQUANTIZE_FLOAT) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                boundary::dequantize_int_f32(&s.params, input, output)
            }
            Step::Requantize(s) if linked(k::REQUANTIZE) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                requantize::requantize_elements(&s.params, input, output)
            }
            Step::Svdf(s) if linked(k::SVDF) => {
                let wf = self.i8_table(i, "svdf feature weights", s.weights_feature)?;
                let wt = self.i8_table(i, "svdf time weights", s.weights_time)?;
                let bias = self.i32_table(i, "svdf bias", s.bias)?;
                let (input, state, output) = regions3(i, arena, &s.input, &s.state, &s.output)?;
                svdf::svdf_s8(&s.params, input, wf, wt, bias, state, output)
            }
            Step::TransposeConv(s) if linked(k::TRANSPOSE_CONV) => {
                let w = self.weights(i, &s.tables)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                transpose_conv::transpose_conv_s8(
                    &s.params,
                    s.input.shape,
                    input,
                    &w,
                    s.output.shape,
                    output,
                )
            }
            Step::BatchMatmul(s) if linked(k::BATCH_MATMUL) => {
                let (a, b, out) = regions_ro2(i, arena, &s.input1, &s.input2, &s.output)?;
                batch_matmul::batch_matmul_s8(&s.params, a, b, out)
            }
            Step::LogSoftmax(s) if linked(k::LOG_SOFTMAX) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                softmax::log_softmax_s8(&s.params, input, output)
            }
            Step::L2Normalization(s) if linked(k::L2_NORMALIZATION) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                l2_normalization::l2_normalization_s8(&s.params, input, output)
            }
            Step::ConvS16(s) if linked(k::CONV_S16) => {
                let w = self.weights(i, &s.tables)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                ops::conv::conv_s16(
                    &s.params,
                    s16_shape(s.input.shape)?,
                    input,
                    &w,
                    s16_shape(s.output.shape)?,
                    output,
                )
            }
            Step::DepthwiseS16(s) if linked(k::DEPTHWISE_S16) => {
                let w = self.weights(i, &s.tables)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                depthwise::depthwise_s16(
                    &s.params,
                    s16_shape(s.input.shape)?,
                    input,
                    &w,
                    s16_shape(s.output.shape)?,
                    output,
                )
            }
            Step::FullyConnectedS16(s) if linked(k::FULLY_CONNECTED_S16) => {
                let w = self.weights(i, &s.tables)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                fully_connected::fully_connected_s16(&s.params, input, &w, output)
            }
            Step::AddS16(s) if linked(k::ADD_S16) => {
                let (left, out, right) = split_out(i, arena, &s.output)?;
                let operand = |o: &Operand| -> Result<&[i8]> {
                    match o {
                        Operand::Arena(a) => view(i, left, right, &s.output, a),
                        Operand::Blob(t) => self.i8_table(i, "int16 constant", *t),
                    }
                };
                add::add_s16(&s.params, operand(&s.input1)?, operand(&s.input2)?, out)
            }
            Step::MulS16(s) if linked(k::MUL_S16) => {
                let (left, out, right) = split_out(i, arena, &s.output)?;
                let operand = |o: &Operand| -> Result<&[i8]> {
                    match o {
                        Operand::Arena(a) => view(i, left, right, &s.output, a),
                        Operand::Blob(t) => self.i8_table(i, "int16 constant", *t),
                    }
                };
                binary::mul_s16(&s.params, operand(&s.input1)?, operand(&s.input2)?, out)
            }
            Step::SoftmaxS16(s) if linked(k::SOFTMAX_S16) => {
                let exp = self.i16_lut(i, "softmax exp table", s.exp_table)?;
                let recip = self.i16_lut(i, "softmax reciprocal table", s.reciprocal_table)?;
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                softmax::softmax_s16(&s.params, exp, recip, input, output)
            }
            Step::LogisticS16(s) if linked(k::LOGISTIC_S16) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                lookup::logistic_s16(&s.params, input, output)
            }
            Step::TanhS16(s) if linked(k::TANH_S16) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                lookup::tanh_s16(&s.params, input, output)
            }
            Step::PiecewiseS16(s) if linked(k::PIECEWISE_S16) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                lookup::piecewise_s16(&s.params, input, output)
            }
            Step::AveragePoolS16(s) | Step::MaxPoolS16(s) if linked(k::POOL_S16) => {
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                let (is, os) = (s16_shape(s.input.shape)?, s16_shape(s.output.shape)?);
                match step {
                    Step::AveragePoolS16(_) => {
                        pool::average_pool_s16(&s.params, is, input, os, output)
                    }
                    _ => pool::max_pool_s16(&s.params, is, input, os, output),
                }
            }
            Step::Copy(s) if linked(k::COPY) => {
                if s.input == s.output {
                    return Ok(());
                }
                let (input, output) = regions(i, arena, &s.input, &s.output)?;
                crate::error::check_len("copy output", output, input.len())?;
                output.copy_from_slice(input);
                Ok(())
            }
            _ => Err(Error::Parameter(NOT_LINKED)),
        }
    }
}

fn check_count(what: &'static str, expected: usize, actual: usize) -> Result {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::IoCount {
            what,
            expected,
            actual,
        })
    }
}

fn io_mut<'b>(arena: &'b mut [i8], io: &Io) -> Result<&'b mut [i8]> {
    let given = arena.len();
    arena.get_mut(range(&io.slot)).ok_or(Error::ArenaTooSmall {
        needed: io.slot.end(),
        given,
    })
}

fn io_ref<'b>(arena: &'b [i8], io: &Io) -> Result<&'b [i8]> {
    arena.get(range(&io.slot)).ok_or(Error::ArenaTooSmall {
        needed: io.slot.end(),
        given: arena.len(),
    })
}

/// The same addition with the roles of the two inputs exchanged (the sum is
/// symmetric in them), so an output that aliases input 2 can be computed in place.
pub(crate) fn swap_add_inputs(p: &AddParams) -> AddParams {
    AddParams {
        input1_zero_point: p.input2_zero_point,
        input2_zero_point: p.input1_zero_point,
        input1_multiplier: p.input2_multiplier,
        input1_shift: p.input2_shift,
        input2_multiplier: p.input1_multiplier,
        input2_shift: p.input1_shift,
        ..*p
    }
}

/// `x + x` written over `x`: each element depends only on itself, so a small
/// stack copy of each chunk keeps the two-operand kernel usable.
fn add_self_in_place<const K: KernelSet>(p: &AddParams, acc: &mut [i8]) -> Result {
    let mut copy = [0i8; 64];
    for chunk in acc.chunks_mut(64) {
        let n = chunk.len();
        copy[..n].copy_from_slice(chunk);
        add::add_in_place_linked::<K>(p, chunk, &copy[..n])?;
    }
    Ok(())
}

/// The element shape of an int16 slot (whose shape counts channels in bytes).
fn s16_shape(bytes: Shape) -> Result<Shape> {
    if bytes.c % 2 == 0 {
        Ok(Shape::new(bytes.h, bytes.w, bytes.c / 2))
    } else {
        Err(Error::Shape("an int16 tensor of an odd number of bytes"))
    }
}

fn range(s: &Slot) -> core::ops::Range<usize> {
    s.offset as usize..s.end()
}

fn slot_mut<'b>(step: u16, arena: &'b mut [i8], s: &Slot) -> Result<&'b mut [i8]> {
    let given = arena.len();
    let _ = step;
    arena.get_mut(range(s)).ok_or(Error::ArenaTooSmall {
        needed: s.end(),
        given,
    })
}

/// A step's output must hold at least one element (as every slot a step
/// names, checked by [`Model::validate`]). An empty one (a zero extent)
/// leaves nothing to compute, but the kernels' loops over its other
/// extents would still run: up to 2^32 window positions for no bytes, which
/// no real model has and only a damaged descriptor asks for.
fn check_output(out: &Slot) -> Result {
    if out.shape.is_empty() {
        Err(Error::Shape("an empty tensor (a zero extent)"))
    } else {
        Ok(())
    }
}

/// Splits the arena into the mutable output region and the read-only rest,
/// and returns a read-only view of `s` taken from that rest.
fn split_out<'b>(
    step: u16,
    arena: &'b mut [i8],
    out: &Slot,
) -> Result<(&'b [i8], &'b mut [i8], &'b [i8])> {
    check_output(out)?;
    if out.end() > arena.len() {
        return Err(Error::ArenaTooSmall {
            needed: out.end(),
            given: arena.len(),
        });
    }
    let (left, rest) = arena.split_at_mut(out.offset as usize);
    let (mid, right) = rest.split_at_mut(out.shape.len());
    let _ = step;
    Ok((left, mid, right))
}

/// A read-only view of `s` from the parts of the arena left and right of the
/// output region (which starts at `out_start`).
fn view<'b>(step: u16, left: &'b [i8], right: &'b [i8], out: &Slot, s: &Slot) -> Result<&'b [i8]> {
    if s.end() <= out.offset as usize {
        left.get(range(s)).ok_or(Error::Overlap { step })
    } else if s.offset as usize >= out.end() {
        let base = out.end();
        right
            .get(s.offset as usize - base..s.end() - base)
            .ok_or(Error::ArenaTooSmall {
                needed: s.end(),
                given: base + right.len(),
            })
    } else {
        Err(Error::Overlap { step })
    }
}

pub(crate) fn regions<'b>(
    step: u16,
    arena: &'b mut [i8],
    input: &Slot,
    out: &Slot,
) -> Result<(&'b [i8], &'b mut [i8])> {
    let (left, mid, right) = split_out(step, arena, out)?;
    Ok((view(step, left, right, out, input)?, mid))
}

pub(crate) fn regions_mut_ro<'b>(
    step: u16,
    arena: &'b mut [i8],
    out: &Slot,
    other: &Slot,
) -> Result<(&'b mut [i8], &'b [i8])> {
    let (left, mid, right) = split_out(step, arena, out)?;
    Ok((mid, view(step, left, right, out, other)?))
}

fn regions_ro2<'b>(
    step: u16,
    arena: &'b mut [i8],
    a: &Slot,
    b: &Slot,
    out: &Slot,
) -> Result<(&'b [i8], &'b [i8], &'b mut [i8])> {
    let (left, mid, right) = split_out(step, arena, out)?;
    Ok((
        view(step, left, right, out, a)?,
        view(step, left, right, out, b)?,
        mid,
    ))
}

/// Input (read-only), scratch and output (both mutable, disjoint).
fn regions3<'b>(
    step: u16,
    arena: &'b mut [i8],
    input: &Slot,
    scratch: &Slot,
    out: &Slot,
) -> Result<(&'b [i8], &'b mut [i8], &'b mut [i8])> {
    check_output(out)?;
    // Split at the later of the two mutable regions first.
    let (first, second) = if scratch.offset < out.offset {
        (scratch, out)
    } else {
        (out, scratch)
    };
    if first.end() > second.offset as usize || second.end() > arena.len() {
        return Err(Error::Overlap { step });
    }
    let (a, rest) = arena.split_at_mut(first.offset as usize);
    let (first_buf, rest) = rest.split_at_mut(first.shape.len());
    let (b, rest) = rest.split_at_mut(second.offset as usize - first.end());
    let (second_buf, c) = rest.split_at_mut(second.shape.len());
    let inp = if input.end() <= first.offset as usize {
        a.get(range(input))
    } else if input.offset as usize >= first.end() && input.end() <= second.offset as usize {
        b.get(input.offset as usize - first.end()..input.end() - first.end())
    } else if input.offset as usize >= second.end() {
        c.get(input.offset as usize - second.end()..input.end() - second.end())
    } else {
        None
    }
    .ok_or(Error::Overlap { step })?;
    let (scratch_buf, out_buf) = if scratch.offset < out.offset {
        (first_buf, second_buf)
    } else {
        (second_buf, first_buf)
    };
    Ok((inp, scratch_buf, out_buf))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// Each kernel family is one bit of its own, listed once in bit order
    /// with its own name: two families on one bit would link together.
    #[test]
    fn kernel_families_are_distinct_bits() {
        let mut previous = 0;
        for &(bit, name) in kernels::NAMED {
            assert_eq!(bit.count_ones(), 1, "{name}");
            assert!(bit > previous, "{name} is not after the family before it");
            previous = bit;
        }
        assert!(kernels::NAMED
            .iter()
            .any(|&(b, n)| b == kernels::LSTM && n == "LSTM"));
    }

    fn io(offset: u32, c: u16) -> Io {
        Io {
            slot: Slot {
                offset,
                shape: Shape::new(1, 1, c),
            },
            dims: Dims::new(&[1, c]),
            dtype: ElementType::Int8,
            scale: 0.5,
            zero_point: -1,
        }
    }

    const INPUTS: [Io; 2] = [
        Io {
            slot: Slot {
                offset: 0,
                shape: Shape::new(1, 1, 3),
            },
            dims: Dims::new(&[1, 3]),
            dtype: ElementType::Int8,
            scale: 0.5,
            zero_point: -1,
        },
        Io {
            slot: Slot {
                offset: 4,
                shape: Shape::new(1, 1, 2),
            },
            dims: Dims::new(&[1, 2]),
            dtype: ElementType::Int8,
            scale: 0.5,
            zero_point: -1,
        },
    ];

    /// Two inputs (3 and 2 bytes), two outputs: each input copied.
    fn two_by_two<'a>(steps: &'a [Step], outputs: &'a [Io]) -> Model<'a> {
        Model {
            name: "two",
            dispatch: DISPATCH_ALL,
            blob: &[],
            steps,
            stages: &[],
            arena_bytes: 16,
            input: INPUTS[0],
            output: outputs[0],
            inputs: &INPUTS,
            outputs,
        }
    }

    fn copies(outputs: &[Io]) -> [Step; 2] {
        [
            Step::Copy(CopyStep {
                input: INPUTS[1].slot,
                output: outputs[0].slot,
            }),
            Step::Copy(CopyStep {
                input: INPUTS[0].slot,
                output: outputs[1].slot,
            }),
        ]
    }

    /// A step whose output has a zero extent is refused by `validate` and by
    /// `run` (unvalidated) before any kernel loop: the runtime_plan fuzz
    /// target found a 16x8 depthwise step with a 0-channel output of
    /// 18697 x 65535 positions running its window loops for minutes.
    #[test]
    fn empty_outputs_are_refused_before_the_kernels_loop() {
        let none = Table { offset: 0, len: 0 };
        let tables = ConvTables {
            filter: none,
            bias: none,
            multiplier: none,
            shift: none,
            weight_sums: none,
            prepared: none,
        };
        let window = ops::Window {
            kh: 215,
            kw: 73,
            stride_h: 209,
            stride_w: 215,
            dilation_h: 255,
            dilation_w: 253,
            pad_top: 255,
            pad_left: 255,
        };
        let input = Slot {
            offset: 0,
            shape: Shape::new(0, 0, 0),
        };
        let output = Slot {
            offset: 0,
            shape: Shape::new(18697, 65535, 0),
        };
        let s16 = Step::DepthwiseS16(DepthwiseS16Step {
            params: DepthwiseS16Params {
                window,
                depth_multiplier: 255,
                clamp: ops::int16::Clamp16 { min: 0, max: 197 },
            },
            input,
            output,
            tables,
        });
        let s8 = Step::Depthwise(DepthwiseStep {
            params: DepthwiseParams {
                window,
                depth_multiplier: 1,
                quant: ops::ConvQuant {
                    input_zero_point: 0,
                    output_zero_point: 0,
                    clamp: crate::quant::Clamp {
                        min: -128,
                        max: 127,
                    },
                },
            },
            input,
            output,
            tables,
        });
        for step in [s16, s8] {
            let steps = [step];
            let outputs = [io(8, 2)];
            let mut m = two_by_two(&[], &outputs);
            m.steps = &steps;
            m.inputs = &INPUTS[..1];
            // An aligned (empty-table) blob, as generated code has.
            let words = [0u32; 1];
            m.blob = bytemuck::cast_slice(&words);
            let empty = Err(Error::Shape("an empty tensor (a zero extent)"));
            assert_eq!(m.validate(), empty);
            let mut arena = [0i8; 16];
            assert_eq!(
                m.run(&mut arena),
                Err(Error::Step {
                    step: 0,
                    kind: crate::ErrorKind::Shape
                })
            );
        }
    }

    #[test]
    fn infer_multi_copies_every_input_and_output() {
        let outputs = [io(8, 2), io(12, 3)];
        let steps = copies(&outputs);
        let m = two_by_two(&steps, &outputs);
        m.validate().unwrap();
        let mut arena = [0i8; 16];
        let (mut y0, mut y1) = ([0i8; 2], [0i8; 3]);
        m.infer_multi(&mut arena, &[&[1, 2, 3], &[4, 5]], &mut [&mut y0, &mut y1])
            .unwrap();
        assert_eq!((y0, y1), ([4, 5], [1, 2, 3]));
        assert_eq!(m.output_at(&arena, 1).unwrap(), &[1, 2, 3]);
        assert_eq!(m.input_mut_at(&mut arena, 1).unwrap(), &[4, 5]);
        assert!(matches!(m.output_at(&arena, 2), Err(Error::Io(_))));
        assert!(matches!(m.input_mut_at(&mut arena, 2), Err(Error::Io(_))));
    }

    #[test]
    fn infer_multi_refuses_wrong_counts_and_lengths() {
        let outputs = [io(8, 2), io(12, 3)];
        let steps = copies(&outputs);
        let m = two_by_two(&steps, &outputs);
        let mut arena = [0i8; 16];
        let (mut y0, mut y1) = ([0i8; 2], [0i8; 3]);
        let x0: &[i8] = &[1, 2, 3];
        let x1: &[i8] = &[4, 5];
        assert_eq!(
            m.infer_multi(&mut arena, &[x0], &mut [&mut y0, &mut y1]),
            Err(Error::IoCount {
                what: "inputs",
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            m.infer_multi(&mut arena, &[x0, x1, x1], &mut [&mut y0, &mut y1]),
            Err(Error::IoCount {
                what: "inputs",
                expected: 2,
                actual: 3
            })
        );
        assert_eq!(
            m.infer_multi(&mut arena, &[x0, x1], &mut [&mut y0]),
            Err(Error::IoCount {
                what: "outputs",
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            m.infer_multi(&mut arena, &[x1, x0], &mut [&mut y0, &mut y1]),
            Err(Error::BufferLength {
                what: "model input",
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(
            m.infer_multi(&mut arena, &[x0, x1], &mut [&mut y1, &mut y0]),
            Err(Error::BufferLength {
                what: "model output",
                expected: 2,
                actual: 3
            })
        );
        // Nothing ran: the arena is untouched.
        assert_eq!(arena, [0; 16]);
        // `infer` is for one input and one output.
        assert!(matches!(
            m.infer(&mut arena, x0, &mut y1),
            Err(Error::IoCount { .. })
        ));
        let mut small = [0i8; 8];
        assert!(matches!(
            m.infer_multi(&mut small, &[x0, x1], &mut [&mut y0, &mut y1]),
            Err(Error::ArenaTooSmall { .. })
        ));
    }

    #[test]
    fn validate_checks_every_input_and_output() {
        let steps = copies(&[io(8, 2), io(12, 3)]);
        // An output beyond the arena.
        let outputs = [io(8, 2), io(15, 3)];
        let m = two_by_two(&steps, &outputs);
        assert!(matches!(m.validate(), Err(Error::ArenaTooSmall { .. })));
        // `output` not the first of `outputs`.
        let outputs = [io(8, 2), io(12, 3)];
        let mut m = two_by_two(&steps, &outputs);
        m.output = outputs[1];
        assert!(matches!(m.validate(), Err(Error::Io(_))));
        // Dims that disagree with the slot.
        let mut bad = io(8, 2);
        bad.dims = Dims::new(&[1, 5]);
        let outputs = [bad, io(12, 3)];
        assert!(matches!(
            two_by_two(&steps, &outputs).validate(),
            Err(Error::Io(_))
        ));
        assert_eq!(Dims::try_new(&[1; MAX_RANK + 1]), None);
        assert_eq!(Dims::new(&[2, 3]).as_slice(), &[2, 3]);
    }

    /// `validate` follows the kernel set like `run`: a firmware build that
    /// leaves an op family out refuses its steps at validation (and links
    /// none of that family's checks), and the same plan with the family in
    /// validates and runs.
    #[test]
    fn validate_follows_the_kernel_set() {
        let outputs = [io(8, 2), io(12, 3)];
        let steps = copies(&outputs);
        let mut m = two_by_two(&steps, &outputs);
        m.dispatch = dispatch::<{ kernels::CONV | kernels::SOFTMAX }>;
        assert_eq!(m.validate(), Err(Error::Parameter(NOT_LINKED)));
        let mut arena = [0i8; 16];
        assert!(m.run(&mut arena).is_err());
        m.dispatch = dispatch::<{ kernels::COPY }>;
        m.validate().unwrap();
        m.run(&mut arena).unwrap();
    }

    #[test]
    fn typed_bytes_round_trip() {
        let mut bytes = [0i8; 12];
        write_f32_values(&[1.5, -0.0, f32::MIN_POSITIVE], &mut bytes).unwrap();
        let back: std::vec::Vec<f32> = f32_values(&bytes).collect();
        assert_eq!(back[0], 1.5);
        assert!(back[1] == 0.0 && back[1].is_sign_negative());
        assert_eq!(back[2], f32::MIN_POSITIVE);
        assert!(write_f32_values(&[1.0], &mut bytes).is_err());
        let ints: std::vec::Vec<i32> = i32_values(&[1, 0, 0, 0, -1, -1, -1, -1, 7]).collect();
        assert_eq!(ints, [1, -1]);
    }
}
