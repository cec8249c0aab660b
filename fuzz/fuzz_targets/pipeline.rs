//! The whole converter on any bytes: an int8 TFLite (or QDQ ONNX) model in,
//! a validated plan out, then one inference on an input made of the same
//! bytes. Every stage must answer with an error or run inside its arena.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(assembled) = attonet_convert::assemble_bytes(data, "fuzz") else {
        return;
    };
    let model = assembled.model();
    // The converter validated its plan: a refusal here is a converter bug.
    model
        .validate()
        .expect("the converter wrote a plan validate refuses");
    // Bounded memory: a fuzzed model may ask for a large arena.
    if model.arena_bytes > 1 << 22 {
        return;
    }
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let inputs: Vec<Vec<i8>> = model
        .inputs
        .iter()
        .map(|io| {
            (0..io.len())
                .map(|i| data.get(i % data.len().max(1)).copied().unwrap_or(0) as i8)
                .collect()
        })
        .collect();
    let mut outputs: Vec<Vec<i8>> = model.outputs.iter().map(|io| vec![0; io.len()]).collect();
    let xs: Vec<&[i8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut ys: Vec<&mut [i8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    let _ = model.infer_multi(&mut arena, &xs, &mut ys);
});
