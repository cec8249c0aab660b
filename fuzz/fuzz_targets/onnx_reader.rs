//! The ONNX reader (protobuf, graph, shape folding) on any bytes: a float
//! model or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attonet_convert::frontend::onnx::read_onnx(data);
});
