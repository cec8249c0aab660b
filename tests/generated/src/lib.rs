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
