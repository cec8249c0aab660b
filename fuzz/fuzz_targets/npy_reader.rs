//! The `.npy` reader (calibration samples, inputs, labels) on any bytes,
//! and every conversion of what it accepts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(a) = attonet_convert::npy::Array::parse(data, "fuzz.npy") {
        let _ = a.as_i8();
        let _ = a.as_f32();
        let _ = a.to_i64();
        let _ = a.to_f32_exact();
        let _ = a.to_bytes();
    }
});
