//! The runtime's `Model` built from fuzzed descriptors and a fuzzed blob:
//! `validate` refuses it, or it runs inside its arena; `run` without
//! `validate` must also only ever return an error (every kernel checks its
//! own regions). Never a panic, never an access outside the slices.
#![no_main]

use arbitrary::Arbitrary;
use attonet_runtime::plan::{Io, Model, Stage, Step, DISPATCH_ALL};

#[derive(Debug, Arbitrary)]
struct Plan {
    blob: Vec<u8>,
    steps: Vec<Step>,
    stages: Vec<Stage>,
    arena_bytes: u16,
    input: Io,
    output: Io,
    run_unvalidated: bool,
}

libfuzzer_sys::fuzz_target!(|plan: Plan| {
    // The blob's tables are read as i32 words: keep it 4-byte aligned, as
    // generated code does.
    let words: Vec<u32> = plan
        .blob
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect();
    let blob: &[u8] = bytemuck::cast_slice(&words);
    let inputs = [plan.input];
    let outputs = [plan.output];
    let model = Model {
        name: "fuzz",
        dispatch: DISPATCH_ALL,
        blob,
        steps: &plan.steps,
        stages: &plan.stages,
        arena_bytes: plan.arena_bytes as u32,
        input: plan.input,
        output: plan.output,
        inputs: &inputs,
        outputs: &outputs,
    };
    let mut arena = vec![0i8; plan.arena_bytes as usize];
    if model.validate().is_ok() || plan.run_unvalidated {
        let _ = model.run(&mut arena);
    }
    let _ = model.checksum();
});
