//! Field slots and enum codes of the TFLite schema
//! (`tensorflow/compiler/mlir/lite/schema/schema.fbs`, file identifier `TFL3`,
//! schema version 3) for the parts this front end reads.
//!
//! A field's slot is its 0-based position in its table's declaration; a union
//! field occupies two slots (its `_type` byte, then the value offset).

/// The schema version this front end reads (`Model.version`).
pub const SCHEMA_VERSION: u32 = 3;

/// The file identifier at bytes 4..8.
pub const FILE_IDENTIFIER: &[u8; 4] = b"TFL3";

/// `table Model`.
pub mod model {
    /// `version:uint`.
    pub const VERSION: usize = 0;
    /// `operator_codes:[OperatorCode]`.
    pub const OPERATOR_CODES: usize = 1;
    /// `subgraphs:[SubGraph]`.
    pub const SUBGRAPHS: usize = 2;
    /// `description:string`.
    pub const DESCRIPTION: usize = 3;
    /// `buffers:[Buffer]`.
    pub const BUFFERS: usize = 4;
}

/// `table OperatorCode`.
pub mod operator_code {
    /// `deprecated_builtin_code:byte` (codes up to 127, saturating at
    /// `PLACEHOLDER_FOR_GREATER_OP_CODES`).
    pub const DEPRECATED_BUILTIN_CODE: usize = 0;
    /// `custom_code:string`.
    pub const CUSTOM_CODE: usize = 1;
    /// `version:int = 1`.
    pub const VERSION: usize = 2;
    /// `builtin_code:BuiltinOperator` (int32; 0 in files from converters
    /// that predate it, which is why the code is the maximum of both fields).
    pub const BUILTIN_CODE: usize = 3;
}

/// `table SubGraph`.
pub mod subgraph {
    /// `tensors:[Tensor]`.
    pub const TENSORS: usize = 0;
    /// `inputs:[int]`.
    pub const INPUTS: usize = 1;
    /// `outputs:[int]`.
    pub const OUTPUTS: usize = 2;
    /// `operators:[Operator]`.
    pub const OPERATORS: usize = 3;
    /// `name:string`.
    pub const NAME: usize = 4;
}

/// `table Tensor`.
pub mod tensor {
    /// `shape:[int]`.
    pub const SHAPE: usize = 0;
    /// `type:TensorType` (byte).
    pub const TYPE: usize = 1;
    /// `buffer:uint` (0 = the empty sentinel buffer).
    pub const BUFFER: usize = 2;
    /// `name:string`.
    pub const NAME: usize = 3;
    /// `quantization:QuantizationParameters`.
    pub const QUANTIZATION: usize = 4;
    /// `is_variable:bool = false`.
    pub const IS_VARIABLE: usize = 5;
    /// `sparsity:SparsityParameters`.
    pub const SPARSITY: usize = 6;
    /// `shape_signature:[int]` (-1 for unknown dimensions).
    pub const SHAPE_SIGNATURE: usize = 7;
}

/// `table QuantizationParameters`.
pub mod quantization {
    /// `min:[float]`.
    pub const MIN: usize = 0;
    /// `max:[float]`.
    pub const MAX: usize = 1;
    /// `scale:[float]`.
    pub const SCALE: usize = 2;
    /// `zero_point:[long]`.
    pub const ZERO_POINT: usize = 3;
    /// `details:QuantizationDetails` (union: type at 4, value at 5).
    pub const DETAILS_TYPE: usize = 4;
    /// `quantized_dimension:int`.
    pub const QUANTIZED_DIMENSION: usize = 6;
}

/// `table Buffer`.
pub mod buffer {
    /// `data:[ubyte]`.
    pub const DATA: usize = 0;
    /// `offset:ulong` (models over 2 GB: data outside the FlatBuffer,
    /// relative to the start of the file; valid only when > 1).
    pub const OFFSET: usize = 1;
    /// `size:ulong`.
    pub const SIZE: usize = 2;
}

/// `table Operator`.
pub mod operator {
    /// `opcode_index:uint`.
    pub const OPCODE_INDEX: usize = 0;
    /// `inputs:[int]` (-1 = omitted optional input).
    pub const INPUTS: usize = 1;
    /// `outputs:[int]`.
    pub const OUTPUTS: usize = 2;
    /// `builtin_options:BuiltinOptions` (union: type at 3, value at 4).
    pub const BUILTIN_OPTIONS_TYPE: usize = 3;
    /// `custom_options:[ubyte]`.
    pub const CUSTOM_OPTIONS: usize = 5;
}

/// `union BuiltinOptions` type codes.
pub mod options_type {
    /// `Conv2DOptions`.
    pub const CONV_2D: u8 = 1;
    /// `DepthwiseConv2DOptions`.
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    /// `Pool2DOptions`.
    pub const POOL_2D: u8 = 5;
    /// `FullyConnectedOptions`.
    pub const FULLY_CONNECTED: u8 = 8;
    /// `SoftmaxOptions`.
    pub const SOFTMAX: u8 = 9;
    /// `AddOptions`.
    pub const ADD: u8 = 11;
    /// `ConcatenationOptions`.
    pub const CONCATENATION: u8 = 10;
    /// `ReshapeOptions`.
    pub const RESHAPE: u8 = 17;
    /// `MulOptions`.
    pub const MUL: u8 = 21;
    /// `SubOptions`.
    pub const SUB: u8 = 28;
    /// `MaximumMinimumOptions`.
    pub const MAXIMUM_MINIMUM: u8 = 39;
    /// `SquaredDifferenceOptions`.
    pub const SQUARED_DIFFERENCE: u8 = 76;
    /// `ReducerOptions` (MEAN, SUM, REDUCE_MAX, ...).
    pub const REDUCER: u8 = 27;
    /// `LeakyReluOptions`.
    pub const LEAKY_RELU: u8 = 75;
    /// `PackOptions`.
    pub const PACK: u8 = 59;
    /// `DequantizeOptions`.
    pub const DEQUANTIZE: u8 = 38;
    /// `SVDFOptions`.
    pub const SVDF: u8 = 6;
    /// `UnidirectionalSequenceLSTMOptions`.
    pub const UNIDIRECTIONAL_SEQUENCE_LSTM: u8 = 71;
    /// `ArgMaxOptions`.
    pub const ARG_MAX: u8 = 40;
    /// `ArgMinOptions`.
    pub const ARG_MIN: u8 = 57;
    /// `TransposeConvOptions`.
    pub const TRANSPOSE_CONV: u8 = 49;
    /// `BatchMatMulOptions`.
    pub const BATCH_MATMUL: u8 = 101;
    /// `L2NormOptions`.
    pub const L2_NORM: u8 = 12;
    /// `LogSoftmaxOptions`.
    pub const LOG_SOFTMAX: u8 = 36;
    /// `SqueezeOptions`.
    pub const SQUEEZE: u8 = 30;
    /// `ExpandDimsOptions`.
    pub const EXPAND_DIMS: u8 = 52;

    /// The name of an options table type, for messages.
    pub fn name(code: u8) -> &'static str {
        match code {
            0 => "NONE",
            CONV_2D => "Conv2DOptions",
            DEPTHWISE_CONV_2D => "DepthwiseConv2DOptions",
            POOL_2D => "Pool2DOptions",
            FULLY_CONNECTED => "FullyConnectedOptions",
            SOFTMAX => "SoftmaxOptions",
            ADD => "AddOptions",
            RESHAPE => "ReshapeOptions",
            CONCATENATION => "ConcatenationOptions",
            MUL => "MulOptions",
            SUB => "SubOptions",
            MAXIMUM_MINIMUM => "MaximumMinimumOptions",
            SQUARED_DIFFERENCE => "SquaredDifferenceOptions",
            REDUCER => "ReducerOptions",
            LEAKY_RELU => "LeakyReluOptions",
            PACK => "PackOptions",
            DEQUANTIZE => "DequantizeOptions",
            SVDF => "SVDFOptions",
            UNIDIRECTIONAL_SEQUENCE_LSTM => "UnidirectionalSequenceLSTMOptions",
            ARG_MAX => "ArgMaxOptions",
            ARG_MIN => "ArgMinOptions",
            L2_NORM => "L2NormOptions",
            BATCH_MATMUL => "BatchMatMulOptions",
            TRANSPOSE_CONV => "TransposeConvOptions",
            LOG_SOFTMAX => "LogSoftmaxOptions",
            SQUEEZE => "SqueezeOptions",
            EXPAND_DIMS => "ExpandDimsOptions",
            _ => "another options table",
        }
    }
}

/// `table Conv2DOptions`.
pub mod conv2d {
    /// `padding:Padding`.
    pub const PADDING: usize = 0;
    /// `stride_w:int`.
    pub const STRIDE_W: usize = 1;
    /// `stride_h:int`.
    pub const STRIDE_H: usize = 2;
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 3;
    /// `dilation_w_factor:int = 1`.
    pub const DILATION_W: usize = 4;
    /// `dilation_h_factor:int = 1`.
    pub const DILATION_H: usize = 5;
}

/// `table DepthwiseConv2DOptions`.
pub mod depthwise_conv2d {
    /// `padding:Padding`.
    pub const PADDING: usize = 0;
    /// `stride_w:int`.
    pub const STRIDE_W: usize = 1;
    /// `stride_h:int`.
    pub const STRIDE_H: usize = 2;
    /// `depth_multiplier:int` (default 0; redundant, newer runtimes ignore it).
    pub const DEPTH_MULTIPLIER: usize = 3;
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 4;
    /// `dilation_w_factor:int = 1`.
    pub const DILATION_W: usize = 5;
    /// `dilation_h_factor:int = 1`.
    pub const DILATION_H: usize = 6;
}

/// `table Pool2DOptions`.
pub mod pool2d {
    /// `padding:Padding`.
    pub const PADDING: usize = 0;
    /// `stride_w:int`.
    pub const STRIDE_W: usize = 1;
    /// `stride_h:int`.
    pub const STRIDE_H: usize = 2;
    /// `filter_width:int`.
    pub const FILTER_WIDTH: usize = 3;
    /// `filter_height:int`.
    pub const FILTER_HEIGHT: usize = 4;
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 5;
}

/// `table FullyConnectedOptions`.
pub mod fully_connected {
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 0;
    /// `weights_format:FullyConnectedOptionsWeightsFormat = DEFAULT`.
    pub const WEIGHTS_FORMAT: usize = 1;
    /// `keep_num_dims:bool`.
    pub const KEEP_NUM_DIMS: usize = 2;
    /// `asymmetric_quantize_inputs:bool` (hybrid float/int8 ops only).
    pub const ASYMMETRIC_QUANTIZE_INPUTS: usize = 3;
}

/// `table SVDFOptions`.
pub mod svdf {
    /// `rank:int`.
    pub const RANK: usize = 0;
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 1;
    /// `asymmetric_quantize_inputs:bool` (hybrid float/int8 only).
    pub const ASYMMETRIC_QUANTIZE_INPUTS: usize = 2;
}

/// `table UnidirectionalSequenceLSTMOptions`.
pub mod unidirectional_sequence_lstm {
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 0;
    /// `cell_clip:float`.
    pub const CELL_CLIP: usize = 1;
    /// `proj_clip:float` (projection: not taken).
    pub const PROJ_CLIP: usize = 2;
    /// `time_major:bool`.
    pub const TIME_MAJOR: usize = 3;
}

/// `table SoftmaxOptions`.
pub mod softmax {
    /// `beta:float` (schema default 0.0).
    pub const BETA: usize = 0;
}

/// `table ReducerOptions`.
pub mod reducer {
    /// `keep_dims:bool` (schema default false).
    pub const KEEP_DIMS: usize = 0;
}

/// `table LeakyReluOptions`.
pub mod leaky_relu {
    /// `alpha:float` (schema default 0.0).
    pub const ALPHA: usize = 0;
}

/// `table TransposeConvOptions`.
pub mod transpose_conv {
    /// `padding:Padding`.
    pub const PADDING: usize = 0;
    /// `stride_w:int`.
    pub const STRIDE_W: usize = 1;
    /// `stride_h:int`.
    pub const STRIDE_H: usize = 2;
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 3;
}

/// `table BatchMatMulOptions`.
pub mod batch_matmul {
    /// `adj_x:bool`.
    pub const ADJ_X: usize = 0;
    /// `adj_y:bool`.
    pub const ADJ_Y: usize = 1;
}

/// `table L2NormOptions`.
pub mod l2_norm {
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 0;
}

/// `table AddOptions`.
pub mod add {
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 0;
    /// `pot_scale_int16:bool = true` (int16 kernels only).
    pub const POT_SCALE_INT16: usize = 1;
}

/// `table MulOptions` and `table SubOptions`.
pub mod mul_sub {
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 0;
}

/// `table SqueezeOptions`.
pub mod squeeze {
    /// `squeeze_dims:[int]`.
    pub const SQUEEZE_DIMS: usize = 0;
}

/// `table PackOptions`.
pub mod pack {
    /// `values_count:int`.
    pub const VALUES_COUNT: usize = 0;
    /// `axis:int`.
    pub const AXIS: usize = 1;
}

/// `table ConcatenationOptions`.
pub mod concatenation {
    /// `axis:int`.
    pub const AXIS: usize = 0;
    /// `fused_activation_function:ActivationFunctionType`.
    pub const ACTIVATION: usize = 1;
}

/// `enum BuiltinOperator` codes the front end maps.
pub mod op {
    /// `ADD`.
    pub const ADD: i32 = 0;
    /// `CONCATENATION`.
    pub const CONCATENATION: i32 = 2;
    /// `MUL`.
    pub const MUL: i32 = 18;
    /// `SUB`.
    pub const SUB: i32 = 41;
    /// `MAXIMUM`.
    pub const MAXIMUM: i32 = 55;
    /// `MINIMUM`.
    pub const MINIMUM: i32 = 57;
    /// `SQUARED_DIFFERENCE`.
    pub const SQUARED_DIFFERENCE: i32 = 99;
    /// `PRELU` (no options).
    pub const PRELU: i32 = 54;
    /// `LOG_SOFTMAX` (no options).
    pub const LOG_SOFTMAX: i32 = 50;
    /// `L2_NORMALIZATION`.
    pub const L2_NORMALIZATION: i32 = 11;
    /// `TRANSPOSE_CONV`.
    pub const TRANSPOSE_CONV: i32 = 67;
    /// `BATCH_MATMUL`.
    pub const BATCH_MATMUL: i32 = 126;
    /// `AVERAGE_POOL_2D`.
    pub const AVERAGE_POOL_2D: i32 = 1;
    /// `CONV_2D`.
    pub const CONV_2D: i32 = 3;
    /// `DEPTHWISE_CONV_2D`.
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    /// `FULLY_CONNECTED`.
    pub const FULLY_CONNECTED: i32 = 9;
    /// `LOGISTIC`.
    pub const LOGISTIC: i32 = 14;
    /// `MAX_POOL_2D`.
    pub const MAX_POOL_2D: i32 = 17;
    /// `RELU`.
    pub const RELU: i32 = 19;
    /// `RELU_N1_TO_1`.
    pub const RELU_N1_TO_1: i32 = 20;
    /// `RELU6`.
    pub const RELU6: i32 = 21;
    /// `RESHAPE`.
    pub const RESHAPE: i32 = 22;
    /// `SOFTMAX`.
    pub const SOFTMAX: i32 = 25;
    /// `MEAN`.
    pub const MEAN: i32 = 40;
    /// `ARG_MAX`.
    pub const ARG_MAX: i32 = 56;
    /// `SUM`.
    pub const SUM: i32 = 74;
    /// `ARG_MIN`.
    pub const ARG_MIN: i32 = 79;
    /// `REDUCE_MAX`.
    pub const REDUCE_MAX: i32 = 82;
    /// `PACK`.
    pub const PACK: i32 = 83;
    /// `DEQUANTIZE`.
    pub const DEQUANTIZE: i32 = 6;
    /// `SVDF`.
    pub const SVDF: i32 = 27;
    /// `UNIDIRECTIONAL_SEQUENCE_LSTM`.
    pub const UNIDIRECTIONAL_SEQUENCE_LSTM: i32 = 44;
    /// `CALL` (control flow).
    pub const CALL: i32 = 31;
    /// `TANH`.
    pub const TANH: i32 = 28;
    /// `CUSTOM`: the operator code's `custom_code` names the op.
    pub const CUSTOM: i32 = 32;
    /// `LEAKY_RELU`.
    pub const LEAKY_RELU: i32 = 98;
    /// `QUANTIZE`.
    pub const QUANTIZE: i32 = 114;
    /// `HARD_SWISH`.
    pub const HARD_SWISH: i32 = 117;
    /// `IF` (control flow).
    pub const IF: i32 = 118;
    /// `WHILE` (control flow).
    pub const WHILE: i32 = 119;
    /// `CALL_ONCE` (control flow).
    pub const CALL_ONCE: i32 = 129;
    /// `SQUEEZE`.
    pub const SQUEEZE: i32 = 43;
    /// `EXPAND_DIMS`.
    pub const EXPAND_DIMS: i32 = 70;
    /// `ELU` (no options).
    pub const ELU: i32 = 111;
    /// `ABS` (no options).
    pub const ABS: i32 = 101;
}

/// Names of `enum BuiltinOperator`, indexed by code (0..=206). Codes above
/// 206 differ between the TensorFlow and LiteRT copies of the schema
/// (TensorFlow: 207 = COMPLEX; LiteRT: 207 = STABLEHLO_SHIFT_LEFT, 208 =
/// STABLEHLO_CBRT, 209 = STABLEHLO_CASE), so they are reported by number.
pub const BUILTIN_NAMES: [&str; 207] = [
    // 0
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    // 4
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    // 8
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    // 12
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    // 16
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    // 20
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    // 24
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    // 28
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    // 32
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    // 36
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    // 40
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    // 44
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    // 48
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    // 52
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    // 56
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    // 60
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    // 64
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    // 68
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    // 72
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    // 76
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    // 80
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    // 84
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    // 88
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    // 92
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    // 96
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    // 100
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    // 104
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    // 108
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    // 112
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    // 116
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    // 120
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    // 124
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    // 128
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    // 132
    "CONV_3D",
    "IMAG",
    "REAL",
    "COMPLEX_ABS",
    // 136
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    // 140
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    // 144
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    // 148
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    // 152
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    // 156
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "SIGN",
    "BITCAST",
    // 160
    "BITWISE_XOR",
    "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC",
    "STABLEHLO_ADD",
    // 164
    "STABLEHLO_DIVIDE",
    "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE",
    // 168
    "STABLEHLO_CLAMP",
    "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION",
    // 172
    "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL",
    "STABLEHLO_REDUCE",
    "STABLEHLO_ABS",
    // 176
    "STABLEHLO_AND",
    "STABLEHLO_COSINE",
    "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR",
    // 180
    "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM",
    "STABLEHLO_NEGATE",
    "STABLEHLO_OR",
    // 184
    "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER",
    "STABLEHLO_RSQRT",
    "STABLEHLO_SELECT",
    // 188
    "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH",
    "STABLEHLO_SCATTER",
    "STABLEHLO_COMPARE",
    // 192
    "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE",
    "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD",
    // 196
    "STABLEHLO_IOTA",
    "STABLEHLO_DOT_GENERAL",
    "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT",
    // 200
    "STABLEHLO_WHILE",
    "STABLEHLO_GATHER",
    "STABLEHLO_TRANSPOSE",
    "DILATE",
    // 204
    "STABLEHLO_RNG_BIT_GENERATOR",
    "REDUCE_WINDOW",
    "STABLEHLO_COMPOSITE",
];

/// The schema name of a builtin operator code, when it is unambiguous.
pub fn builtin_name(code: i32) -> Option<&'static str> {
    usize::try_from(code)
        .ok()
        .and_then(|i| BUILTIN_NAMES.get(i))
        .copied()
}

/// The name of a `TensorType` code, for messages.
pub fn tensor_type_name(code: i8) -> Option<&'static str> {
    const NAMES: [&str; 20] = [
        "FLOAT32",
        "FLOAT16",
        "INT32",
        "UINT8",
        "INT64",
        "STRING",
        "BOOL",
        "INT16",
        "COMPLEX64",
        "INT8",
        "FLOAT64",
        "COMPLEX128",
        "UINT64",
        "RESOURCE",
        "VARIANT",
        "UINT32",
        "UINT16",
        "INT4",
        "BFLOAT16",
        "INT2",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}
