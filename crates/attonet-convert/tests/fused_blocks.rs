//! Fused blocks (`attonet_runtime::block`): the same models planned with and
//! without them compute the same bits, the fused plans need a fraction of the
//! arena, and a block plan that would overwrite input rows still to be read
//! is refused instead of computing garbage.

use attonet_convert::planner::Bands;
use attonet_convert::program::{LayerOp, Program};
use attonet_convert::{assemble, passes, Assembled};
use attonet_runtime::plan::{Model, Step};
use attonet_runtime::Error;

fn load(path: &str) -> Assembled {
    let p = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    attonet_convert::load(std::path::Path::new(&p)).unwrap()
}

fn unfused(a: &Assembled) -> Assembled {
    assemble::assemble(passes::fuse_blocks::unfuse(&a.program)).unwrap()
}

fn run(m: &Model<'_>, input: &[i8]) -> Vec<i8> {
    let mut arena = vec![0x55u8 as i8; m.arena_bytes as usize];
    let mut out = vec![0i8; m.output.slot.shape.len()];
    m.infer(&mut arena, input, &mut out).unwrap();
    out
}

/// Inputs: real samples where the repository has them, else pseudo-random
/// images (the claim is equality of two executions, for any input).
fn inputs(len: usize, n: usize, seed: u64) -> Vec<Vec<i8>> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 24) as i8
                })
                .collect()
        })
        .collect()
}

fn blocks(p: &Program) -> usize {
    p.layers
        .iter()
        .filter(|l| matches!(l.op, LayerOp::Block { .. }))
        .count()
}

/// Fused (with the default rows per pass, and with each of `bands`) and
/// unfused plans of the model at `path` give the same outputs; returns the
/// default fused and the unfused arena.
fn check_equal(path: &str, samples: &[Vec<i8>], bands: &[u16]) -> (u32, u32) {
    let fused = load(path);
    let plain = unfused(&fused);
    assert!(blocks(&fused.program) > 0, "{path}: nothing fused");
    assert_eq!(blocks(&plain.program), 0);
    assert_eq!(fused.program.macs(), plain.program.macs());
    assert_eq!(fused.program.params(), plain.program.params());
    let want: Vec<Vec<i8>> = samples.iter().map(|x| run(&plain.model(), x)).collect();
    let mut plans = vec![("default".to_string(), fused.clone())];
    for &n in bands {
        plans.push((format!("{n} rows"), fused.replan(Bands::Rows(n)).unwrap()));
    }
    let mut arena = Vec::new();
    for (what, plan) in &plans {
        for (i, (x, want)) in samples.iter().zip(&want).enumerate() {
            assert_eq!(
                &run(&plan.model(), x),
                want,
                "{path}, {what}: sample {i} differs"
            );
        }
        arena.push(plan.memory.arena_bytes);
    }
    // More rows per pass never need less arena.
    assert!(
        arena[1..].windows(2).all(|w| w[0] <= w[1]),
        "{path}: {arena:?}"
    );
    (fused.memory.arena_bytes, plain.memory.arena_bytes)
}

/// ResNet-8: identity and strided-projection residual blocks (two 3x3 convs,
/// SAME padding), one to 32 rows per pass. The arena falls from three
/// 32x32x16 tensors to about one plus the stem input.
#[test]
fn resnet8_fused_equals_unfused() {
    let (fused, plain) = check_equal(
        "models/mlperf-tiny/resnet8_int8.tflite",
        &inputs(32 * 32 * 3, 4, 0x1234),
        &[1, 2, 3, 5, 8, 32],
    );
    assert_eq!(plain, 49_152);
    assert_eq!(fused, 19_456);
}

/// DS-CNN KWS: plain chains (a 10x4 stride-2 stem, depthwise 3x3, pointwise)
/// split into three blocks, each written over its own input with a lag;
/// every band height from one row to the whole 25.
#[test]
fn kws_fused_equals_unfused() {
    let x = attonet_convert::npy::Array::read(std::path::Path::new(&format!(
        "{}/../../models/mlperf-tiny/kws_perf_samples_x.npy",
        env!("CARGO_MANIFEST_DIR")
    )))
    .unwrap();
    let samples: Vec<Vec<i8>> = x
        .as_i8()
        .unwrap()
        .chunks(490)
        .take(20)
        .map(|c| c.to_vec())
        .collect();
    let bands: Vec<u16> = (1..=25).collect();
    let (fused, plain) = check_equal("models/mlperf-tiny/kws_dscnn_int8.tflite", &samples, &bands);
    assert_eq!(plain, 16_000);
    assert_eq!(fused, 9_600);
}

/// A PyTorch-exported residual network (explicit padding, 1x1 projection
/// shortcuts) converted from ONNX.
#[test]
fn onnx_resnet_fused_equals_unfused() {
    let (fused, plain) = check_equal(
        "tests/onnx/cifar_resnet_qdq.onnx",
        &inputs(32 * 32 * 3, 4, 99),
        &[1, 3, 4, 16],
    );
    assert!(fused < plain, "{fused} >= {plain}");
}

/// Moving a block's output one row further over its input makes the first
/// row land on input rows the block still reads: the run is refused.
#[test]
fn block_overwriting_live_input_is_refused() {
    let a = load("models/mlperf-tiny/resnet8_int8.tflite");
    let mut steps = a.steps.clone();
    let i = steps
        .iter()
        .position(|s| matches!(s, Step::Block(b) if b.input.offset == b.output.offset))
        .expect("an in-place block");
    let Step::Block(b) = &mut steps[i] else {
        unreachable!()
    };
    let row = b.output.shape.w as u32 * b.output.shape.c as u32;
    b.output.offset += row;
    let m = Model {
        steps: &steps,
        arena_bytes: a.memory.arena_bytes + row,
        ..a.model()
    };
    let mut arena = vec![0i8; m.arena_bytes as usize];
    let input = vec![0i8; m.input.slot.shape.len()];
    let mut out = vec![0i8; m.output.slot.shape.len()];
    let err = m.infer(&mut arena, &input, &mut out).unwrap_err();
    assert!(
        matches!(err, Error::Overlap { step } if step as usize == i),
        "{err:?}"
    );
}

/// A window smaller than the next convolution's kernel is refused by
/// validation, before anything runs.
#[test]
fn block_window_too_small_is_refused() {
    let a = load("models/mlperf-tiny/resnet8_int8.tflite");
    let mut stages = a.stages.clone();
    let k = stages
        .iter()
        .position(|s| s.window_rows == 3)
        .expect("a 3-row window");
    stages[k].window_rows = 2;
    let m = Model {
        stages: &stages,
        ..a.model()
    };
    assert!(
        matches!(m.validate(), Err(Error::Shape(_))),
        "{:?}",
        m.validate()
    );
}

/// Corrupted fused-block descriptors (offsets, shapes, band heights, stage
/// ranges and windows set to random values) give errors or run, and never
/// panic (overflow checks are on in tests) or touch memory outside the
/// arena.
#[test]
fn corrupt_block_descriptors_give_errors_not_panics() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for path in [
        "models/mlperf-tiny/resnet8_int8.tflite",
        "models/mlperf-tiny/kws_dscnn_int8.tflite",
    ] {
        let a = load(path);
        let blocks: Vec<usize> = (0..a.steps.len())
            .filter(|&i| matches!(a.steps[i], Step::Block(_)))
            .collect();
        let input = vec![3i8; a.model().input.slot.shape.len()];
        for _ in 0..300 {
            let mut steps = a.steps.clone();
            let mut stages = a.stages.clone();
            let i = blocks[next() as usize % blocks.len()];
            let Step::Block(b) = &mut steps[i] else {
                unreachable!()
            };
            let r = next();
            let small = |r: u64| (r >> 8) as u16 % 70;
            match r % 9 {
                0 => b.band = small(next()),
                1 => b.input.offset = (next() % 70_000) as u32,
                2 => b.output.offset = (next() % 70_000) as u32,
                3 => b.row = (next() % 70_000) as u32,
                4 => b.stages = (next() % 7) as u8,
                5 => b.first_stage = (next() % 12) as u16,
                6 => b.output.shape.h = small(next()),
                7 => {
                    let k = next() as usize % stages.len();
                    stages[k].window_rows = small(next());
                }
                _ => {
                    let k = next() as usize % stages.len();
                    stages[k].output.h = small(next());
                }
            }
            let m = Model {
                steps: &steps,
                stages: &stages,
                ..a.model()
            };
            let mut arena = vec![0i8; m.arena_bytes as usize];
            let mut out = vec![0i8; m.output.slot.shape.len()];
            let _ = m.validate();
            let _ = m.infer(&mut arena, &input, &mut out);
        }
    }
}

/// A fused block checks its stages' per-channel tables once per run (its
/// kernels then check only each row's shapes): a stage whose shift table
/// holds a shift outside `-31..=30` is refused with an error, through
/// `Model::run` and through the dispatch function alone, never a panic.
#[test]
fn block_stage_with_bad_shift_is_refused() {
    let a = load("models/mlperf-tiny/kws_dscnn_int8.tflite");
    let input = vec![3i8; a.model().input.slot.shape.len()];
    for k in 0..a.stages.len() {
        let mut blob = a.blob().to_vec();
        let t = a.stages[k].tables.shift;
        let at = t.offset as usize + 4 * (t.len as usize - 1);
        blob[at..at + 4].copy_from_slice(&31i32.to_le_bytes());
        let m = Model {
            blob: &blob,
            ..a.model()
        };
        let mut arena = vec![0i8; m.arena_bytes as usize];
        let mut out = vec![0i8; m.output.slot.shape.len()];
        let err = m.infer(&mut arena, &input, &mut out).unwrap_err();
        assert!(
            matches!(err, Error::Step { .. }),
            "stage {k}: expected a step error, got {err:?}"
        );
        let (i, step) = a
            .steps
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s, Step::Block(b) if (b.first_stage as usize..b.first_stage as usize + b.stages as usize).contains(&k)))
            .expect("the stage's block");
        assert!(
            (m.dispatch)(
                &m,
                i as u16,
                step,
                attonet_runtime::plan::Action::Run(&mut arena)
            )
            .is_err(),
            "stage {k}: dispatch alone"
        );
    }
}

/// The Cortex-M DSP tables change nothing but the blob: the same outputs on
/// the host (whose kernels ignore them), a plan that validates, and the
/// flash figure grows by the tables alone (KWS: 34 bytes a channel of its
/// four 3x3 depthwise stages and 16 an output channel of its five other
/// convolution stages).
#[test]
fn dsp_tables_keep_the_outputs() {
    let a = load("models/mlperf-tiny/kws_dscnn_int8.tflite");
    let t = a.clone().with_dsp_tables().unwrap();
    t.model().validate().unwrap();
    let samples = inputs(a.model().input.slot.shape.len(), 3, 0x5EED);
    for x in &samples {
        assert_eq!(run(&a.model(), x), run(&t.model(), x));
    }
    let prepared: usize = t
        .stages
        .iter()
        .map(|s| s.tables.prepared.len as usize * 4)
        .sum();
    assert_eq!(prepared, 4 * 64 * 34 + 5 * 64 * 16);
    assert_eq!(t.flash_bytes(), a.flash_bytes() + prepared);
}
