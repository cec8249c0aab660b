//! The TFLite reader on any bytes: a graph or an error, never a panic, a
//! hang or an allocation past the input's own bounds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attonet_convert::frontend::tflite::read_tflite(data);
});
