//! Front ends: one per model format, each producing an [`ir::Graph`](crate::ir::Graph).

pub mod fold;
pub mod onnx;
pub mod tflite;
