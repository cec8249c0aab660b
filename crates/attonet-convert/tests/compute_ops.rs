//! The steps of the compute ops (PRELU's binary step, LOG_SOFTMAX,
//! L2_NORMALIZATION, TRANSPOSE_CONV, BATCH_MATMUL) against broken plans:
//! a slot outside the arena or over the step's own input, and parameters
//! that do not fit the tensors, are refused by `Model::validate` and by the
//! run with an error; random corruptions of the descriptors give errors or
//! run, never a panic (overflow checks are on in tests) nor an access
//! outside the arena.

use attonet_convert::Assembled;
use attonet_runtime::plan::{Model, Slot, Step};
use attonet_runtime::Error;

fn load(name: &str) -> Assembled {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/op-goldens")
        .join(format!("{name}.tflite"));
    attonet_convert::assemble_bytes(&std::fs::read(path).unwrap(), name).unwrap()
}

const CASES: [&str; 6] = [
    "prelu_per_channel",
    "log_softmax_4d",
    "l2_normalization_channels",
    "transpose_conv_3x3_s2_same",
    "batch_matmul_self_gram",
    "batch_matmul_2in_adj_y",
];

/// The input and output slots of the case's one step.
fn slots(step: &mut Step) -> (&mut Slot, &mut Slot) {
    match step {
        Step::Binary(s) => match &mut s.input1 {
            attonet_runtime::plan::Operand::Arena(a) => (a, &mut s.output),
            attonet_runtime::plan::Operand::Blob(_) => panic!("PRELU's input is an activation"),
        },
        Step::LogSoftmax(s) => (&mut s.input, &mut s.output),
        Step::L2Normalization(s) => (&mut s.input, &mut s.output),
        Step::TransposeConv(s) => (&mut s.input, &mut s.output),
        Step::BatchMatmul(s) => (&mut s.input1, &mut s.output),
        other => panic!("unexpected step {other:?}"),
    }
}

fn run(m: &Model<'_>) -> attonet_runtime::Result {
    let mut arena = vec![0i8; m.arena_bytes as usize];
    let inputs: Vec<Vec<i8>> = m.inputs.iter().map(|io| vec![5i8; io.len()]).collect();
    let refs: Vec<&[i8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outputs: Vec<Vec<i8>> = m.outputs.iter().map(|io| vec![0i8; io.len()]).collect();
    let mut outs: Vec<&mut [i8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    m.infer_multi(&mut arena, &refs, &mut outs)
}

#[test]
fn broken_compute_steps_are_refused() {
    for name in CASES {
        let a = load(name);
        let [step] = a.steps.as_slice() else {
            panic!("{name}: one step expected, {:?}", a.steps)
        };
        // The plan as converted validates and runs.
        a.model().validate().unwrap();
        run(&a.model()).unwrap();

        // The output moved past the end of the arena.
        let mut s = *step;
        slots(&mut s).1.offset = a.memory.arena_bytes;
        let steps = [s];
        let m = Model {
            steps: &steps,
            ..a.model()
        };
        assert!(
            matches!(m.validate(), Err(Error::ArenaTooSmall { .. })),
            "{name}: {:?}",
            m.validate()
        );
        assert!(
            run(&m).is_err(),
            "{name}: ran with its output outside the arena"
        );

        // The output over the input (whichever moves keeps both inside).
        let mut s = *step;
        let (input, output) = slots(&mut s);
        if output.offset as usize + input.shape.len() <= a.memory.arena_bytes as usize {
            input.offset = output.offset;
        } else {
            output.offset = input.offset;
        }
        assert!(input.end().max(output.end()) <= a.memory.arena_bytes as usize);
        let steps = [s];
        let m = Model {
            steps: &steps,
            ..a.model()
        };
        assert!(
            matches!(m.validate(), Err(Error::Overlap { step: 0 })),
            "{name}: {:?}",
            m.validate()
        );
        assert!(
            matches!(run(&m), Err(Error::Overlap { step: 0 })),
            "{name}: {:?}",
            run(&m)
        );

        // Parameters that do not fit the tensors.
        let mut s = *step;
        match &mut s {
            Step::Binary(b) => b.params.dims[3] += 1,
            Step::LogSoftmax(l) => l.params.depth += 3,
            Step::L2Normalization(l) => l.params.depth += 3,
            Step::TransposeConv(t) => t.params.kh += 1,
            Step::BatchMatmul(b) => b.params.depth += 1,
            other => panic!("{other:?}"),
        }
        let steps = [s];
        let m = Model {
            steps: &steps,
            ..a.model()
        };
        assert!(m.validate().is_err(), "{name}: parameters unchecked");
        assert!(
            matches!(run(&m), Err(Error::Step { step: 0, .. })),
            "{name}: {:?}",
            run(&m)
        );
    }
}

#[test]
fn corrupt_compute_descriptors_give_errors_not_panics() {
    let mut seed = 0x5DEE_CE66_D1CE_4E5Bu64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in CASES {
        let a = load(name);
        for _ in 0..400 {
            let mut s = a.steps[0];
            let small = |r: u64| (r >> 8) as u16 % 40;
            let wide = |r: u64| (r >> 8) as u32 % 5_000;
            let r = next();
            match r % 4 {
                0 => slots(&mut s).0.offset = wide(next()),
                1 => slots(&mut s).1.offset = wide(next()),
                2 => slots(&mut s).1.shape.c = small(next()),
                _ => match &mut s {
                    Step::Binary(b) => {
                        b.params.strides2[(next() % 4) as usize] = wide(next());
                        b.params.input1_shift = (next() % 80) as i32 - 40;
                    }
                    Step::LogSoftmax(l) => {
                        l.params.depth = small(next());
                        l.params.input_left_shift = (next() % 40) as i32 - 5;
                        l.params.diff_min = -((next() % 1_000_000) as i32);
                    }
                    Step::L2Normalization(l) => {
                        l.params.depth = small(next());
                        l.params.input_zero_point = (next() % 400) as i32 - 200;
                    }
                    Step::TransposeConv(t) => {
                        t.params.kh = small(next()) as u8;
                        t.params.stride_w = small(next()) as u8;
                        t.params.pad_top = small(next()) as u8;
                    }
                    Step::BatchMatmul(b) => {
                        b.params.rows = small(next());
                        b.params.rhs_batch_strides[(next() % 3) as usize] = wide(next());
                        b.params.batches[(next() % 3) as usize] = small(next());
                        b.params.output_shift = (next() % 80) as i32 - 40;
                    }
                    other => panic!("{other:?}"),
                },
            }
            let steps = [s];
            let m = Model {
                steps: &steps,
                ..a.model()
            };
            let _ = m.validate();
            let _ = run(&m);
        }
    }
}
