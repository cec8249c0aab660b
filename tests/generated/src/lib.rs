//! The reference models, converted at build time into `static` plans.
#![no_std]

/// MLPerf Tiny ResNet-8 (CIFAR-10).
#[allow(missing_docs, clippy::all)]
pub mod resnet8 {
    include!(concat!(env!("OUT_DIR"), "/resnet8.rs"));
}

/// MLPerf Tiny DS-CNN keyword spotting.
#[allow(missing_docs, clippy::all)]
pub mod kws {
    include!(concat!(env!("OUT_DIR"), "/kws.rs"));
}

/// A small PyTorch-trained CIFAR-10 network exported to ONNX, quantized at
/// build time (`tests/onnx/cifar_resnet.onnx`).
#[allow(missing_docs, clippy::all)]
pub mod cifar_resnet {
    include!(concat!(env!("OUT_DIR"), "/cifar_resnet.rs"));
}

/// TensorFlow Lite Micro's person detector (MobileNetV1 0.25, 96x96 grayscale).
#[allow(missing_docs, clippy::all)]
pub mod person_detect {
    include!(concat!(env!("OUT_DIR"), "/person_detect.rs"));
}

/// TensorFlow Lite Micro's micro_speech keyword model (yes / no).
#[allow(missing_docs, clippy::all)]
pub mod micro_speech {
    include!(concat!(env!("OUT_DIR"), "/micro_speech.rs"));
}

/// TensorFlow Lite Micro's hello_world sine model.
#[allow(missing_docs, clippy::all)]
pub mod hello_world {
    include!(concat!(env!("OUT_DIR"), "/hello_world.rs"));
}

/// HARD_SWISH alone (`tests/op-goldens/hard_swish.tflite`): one lookup table.
#[allow(missing_docs, clippy::all)]
pub mod hard_swish {
    include!(concat!(env!("OUT_DIR"), "/hard_swish.rs"));
}

/// MEAN over H and W (`tests/op-goldens/mean_hw.tflite`): one reduction.
#[allow(missing_docs, clippy::all)]
pub mod mean_hw {
    include!(concat!(env!("OUT_DIR"), "/mean_hw.rs"));
}

/// REDUCE_MAX over the channels (`tests/op-goldens/reduce_max_channels.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod reduce_max_channels {
    include!(concat!(env!("OUT_DIR"), "/reduce_max_channels.rs"));
}

/// LOGISTIC alone (`tests/op-goldens/logistic.tflite`): one lookup table.
#[allow(missing_docs, clippy::all)]
pub mod logistic {
    include!(concat!(env!("OUT_DIR"), "/logistic.rs"));
}

/// ADD of two model inputs (`tests/op-goldens/add_2in.tflite`): a model with
/// several inputs (`INPUT_LENS`, `MODEL.infer_multi`).
#[allow(missing_docs, clippy::all)]
pub mod add_2in {
    include!(concat!(env!("OUT_DIR"), "/add_2in.rs"));
}

/// SPLIT of the height into three model outputs (`tests/op-goldens/split_height_3out.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod split_height_3out {
    include!(concat!(env!("OUT_DIR"), "/split_height_3out.rs"));
}

/// ARG_MAX over the height: an int32 model output (`tests/op-goldens/arg_max_4d_height.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod arg_max_4d_height {
    include!(concat!(env!("OUT_DIR"), "/arg_max_4d_height.rs"));
}

/// A float32 model input quantized by the model's QUANTIZE (`tests/op-goldens/quantize_float_in_fc.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod quantize_float_in_fc {
    include!(concat!(env!("OUT_DIR"), "/quantize_float_in_fc.rs"));
}

/// A float32 model output dequantized by the model's DEQUANTIZE (`tests/op-goldens/dequantize_float_out_avgpool.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod dequantize_float_out_avgpool {
    include!(concat!(env!("OUT_DIR"), "/dequantize_float_out_avgpool.rs"));
}

/// PRELU with a per-channel alpha (`tests/op-goldens/prelu_per_channel.tflite`): the binary kernel.
#[allow(missing_docs, clippy::all)]
pub mod prelu_per_channel {
    include!(concat!(env!("OUT_DIR"), "/prelu_per_channel.rs"));
}

/// LOG_SOFTMAX over the channels (`tests/op-goldens/log_softmax_4d.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod log_softmax_4d {
    include!(concat!(env!("OUT_DIR"), "/log_softmax_4d.rs"));
}

/// L2_NORMALIZATION over the channels (`tests/op-goldens/l2_normalization_channels.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod l2_normalization_channels {
    include!(concat!(env!("OUT_DIR"), "/l2_normalization_channels.rs"));
}

/// TRANSPOSE_CONV 3x3, stride 2, SAME (`tests/op-goldens/transpose_conv_3x3_s2_same.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod transpose_conv_3x3_s2_same {
    include!(concat!(env!("OUT_DIR"), "/transpose_conv_3x3_s2_same.rs"));
}

/// BATCH_MATMUL of the input by its own transpose (`tests/op-goldens/batch_matmul_self_gram.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod batch_matmul_self_gram {
    include!(concat!(env!("OUT_DIR"), "/batch_matmul_self_gram.rs"));
}

/// 16x8 MEAN over H and W (`tests/op-goldens/mean_hw_16x8.tflite`): the int16 reduction.
#[allow(missing_docs, clippy::all)]
pub mod mean_hw_16x8 {
    include!(concat!(env!("OUT_DIR"), "/mean_hw_16x8.rs"));
}

/// 16x8 AVERAGE_POOL_2D 3x3, stride 2, SAME (`tests/op-goldens/avgpool_3x3_s2_same_16x8.tflite`).
#[allow(missing_docs, clippy::all)]
pub mod avgpool_3x3_s2_same_16x8 {
    include!(concat!(env!("OUT_DIR"), "/avgpool_3x3_s2_same_16x8.rs"));
}

/// 16x8 LEAKY_RELU (`tests/op-goldens/leaky_relu_0p2_16x8.tflite`): the piecewise kernel.
#[allow(missing_docs, clippy::all)]
pub mod leaky_relu_0p2_16x8 {
    include!(concat!(env!("OUT_DIR"), "/leaky_relu_0p2_16x8.rs"));
}

/// 16x8 TRANSPOSE of H and W (`tests/op-goldens/transpose_hw_16x8.tflite`): byte pairs gathered.
#[allow(missing_docs, clippy::all)]
pub mod transpose_hw_16x8 {
    include!(concat!(env!("OUT_DIR"), "/transpose_hw_16x8.rs"));
}
