//! Converts the reference models into `OUT_DIR` exactly as a firmware build script would.

fn main() {
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/mlperf-tiny");
    for (file, name) in [
        ("resnet8_int8.tflite", "resnet8"),
        ("kws_dscnn_int8.tflite", "kws"),
    ] {
        attonet_convert::Builder::new(format!("{models}/{file}"))
            .name(name)
            .build()
            .unwrap_or_else(|e| panic!("converting {file}: {e}"));
    }
    // TensorFlow Lite Micro's own example models, as a user brings them.
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tflm-examples");
    for (file, name) in [
        ("person_detect.tflite", "person_detect"),
        ("micro_speech_quantized.tflite", "micro_speech"),
        ("hello_world_int8.tflite", "hello_world"),
    ] {
        attonet_convert::Builder::new(format!("{examples}/{file}"))
            .name(name)
            .build()
            .unwrap_or_else(|e| panic!("converting {file}: {e}"));
    }
    // Unary ops (lookup tables) from the op-level goldens.
    let ops = concat!(env!("CARGO_MANIFEST_DIR"), "/../op-goldens");
    for (file, name) in [
        ("hard_swish.tflite", "hard_swish"),
        ("logistic.tflite", "logistic"),
        // Reductions (a global average, a max over the channels).
        ("mean_hw.tflite", "mean_hw"),
        ("reduce_max_channels.tflite", "reduce_max_channels"),
        // Two model inputs (an ADD of two activations).
        ("add_2in.tflite", "add_2in"),
        // Three outputs of one SPLIT; an int32 ARG_MAX output; float32
        // model boundaries (QUANTIZE in, DEQUANTIZE out).
        ("split_height_3out.tflite", "split_height_3out"),
        ("arg_max_4d_height.tflite", "arg_max_4d_height"),
        ("quantize_float_in_fc.tflite", "quantize_float_in_fc"),
        (
            "dequantize_float_out_avgpool.tflite",
            "dequantize_float_out_avgpool",
        ),
        // The compute ops of issue 16, one kernel each.
        ("prelu_per_channel.tflite", "prelu_per_channel"),
        ("log_softmax_4d.tflite", "log_softmax_4d"),
        (
            "l2_normalization_channels.tflite",
            "l2_normalization_channels",
        ),
        (
            "transpose_conv_3x3_s2_same.tflite",
            "transpose_conv_3x3_s2_same",
        ),
        ("batch_matmul_self_gram.tflite", "batch_matmul_self_gram"),
        // The 16x8 kernels of the element-type work: a reduction, a pool,
        // a piecewise activation, an int16 gather.
        ("mean_hw_16x8.tflite", "mean_hw_16x8"),
        (
            "avgpool_3x3_s2_same_16x8.tflite",
            "avgpool_3x3_s2_same_16x8",
        ),
        ("leaky_relu_0p2_16x8.tflite", "leaky_relu_0p2_16x8"),
        ("transpose_hw_16x8.tflite", "transpose_hw_16x8"),
    ] {
        attonet_convert::Builder::new(format!("{ops}/{file}"))
            .name(name)
            .build()
            .unwrap_or_else(|e| panic!("converting {file}: {e}"));
    }
    // A float ONNX model, quantized at build time from calibration samples.
    let onnx = concat!(env!("CARGO_MANIFEST_DIR"), "/../onnx");
    attonet_convert::Builder::new(format!("{onnx}/cifar_resnet.onnx"))
        .calibration(format!("{onnx}/cifar_resnet_calib.npy"))
        .name("cifar_resnet")
        .build()
        .unwrap_or_else(|e| panic!("converting cifar_resnet.onnx: {e}"));
}
