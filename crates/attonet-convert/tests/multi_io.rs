//! Models with several inputs and several outputs: lowering, planning (every
//! output kept to the end, every input placed), the host runner's
//! `infer_multi` and the generated code's I/O lists.

use attonet_convert::ir::{Activation, DType, Graph, Op, OpKind, Quantization, Tensor};
use attonet_convert::{assemble, codegen, lower, passes, Assembled, ConvertError};
use attonet_runtime::Error;

fn act(name: &str, scale: f32, zero_point: i64) -> Tensor {
    Tensor {
        variable: false,
        name: name.into(),
        shape: vec![1, 4, 4, 8],
        dtype: DType::I8,
        quant: Some(Quantization {
            scales: vec![scale],
            zero_points: vec![zero_point],
            axis: 0,
        }),
        data: None,
    }
}

fn add(a: usize, b: usize, out: usize) -> Op {
    Op {
        kind: OpKind::Add {
            activation: Activation::None,
        },
        inputs: vec![Some(a), Some(b)],
        outputs: vec![out],
    }
}

/// `s = x0 + x1`, `t = s + x0`; outputs `[s, t]` (`s` is also read by the
/// second ADD, which must not take its bytes in place).
fn two_by_two() -> Graph {
    Graph {
        tensors: vec![
            act("x0", 0.05, -3),
            act("x1", 0.04, 2),
            act("s", 0.08, 1),
            act("t", 0.1, -5),
        ],
        ops: vec![add(0, 1, 2), add(2, 0, 3)],
        inputs: vec![0, 1],
        outputs: vec![2, 3],
        source_ops: vec![],
    }
}

fn build(graph: &Graph) -> Result<Assembled, ConvertError> {
    let mut program = lower::lower(graph, "multi")?;
    passes::optimize(&mut program);
    assemble::assemble(program)
}

fn sample(seed: u64, n: usize) -> Vec<i8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 56) as i8
        })
        .collect()
}

/// One output: `[x0, x1] -> s`, or `[s, x0] -> t`.
fn single(which: usize) -> Assembled {
    let mut g = two_by_two();
    if which == 0 {
        g.ops.truncate(1);
        g.outputs = vec![2];
    } else {
        g.ops = vec![add(2, 0, 3)];
        g.inputs = vec![2, 0];
        g.outputs = vec![3];
    }
    build(&g).unwrap()
}

#[test]
fn two_inputs_two_outputs_equal_the_single_output_models() {
    let a = build(&two_by_two()).unwrap();
    let m = a.model();
    assert_eq!((m.inputs.len(), m.outputs.len()), (2, 2));
    assert_eq!(m.input, m.inputs[0]);
    assert_eq!(m.output, m.outputs[0]);
    assert_eq!(m.inputs[1].scale, 0.04);
    assert_eq!(m.outputs[1].zero_point, -5);
    assert_eq!(m.outputs[1].dims.as_slice(), &[1, 4, 4, 8]);
    m.validate().unwrap();
    // `s` is read by the second ADD and is an output: not computed over.
    let (s, t) = (m.outputs[0].slot, m.outputs[1].slot);
    assert!(s.end() <= t.offset as usize || t.end() <= s.offset as usize);

    let (first, second) = (single(0), single(1));
    let mut arena = vec![0i8; m.arena_bytes as usize];
    for seed in 0..8 {
        let x0 = sample(2 * seed, 128);
        let x1 = sample(2 * seed + 1, 128);
        let (mut s, mut t) = (vec![0i8; 128], vec![0i8; 128]);
        m.infer_multi(&mut arena, &[&x0, &x1], &mut [&mut s, &mut t])
            .unwrap();
        for plan in [first.model(), first.unfused().unwrap().model()] {
            let mut one = vec![0i8; plan.arena_bytes as usize];
            let mut want_s = vec![0i8; 128];
            plan.infer_multi(&mut one, &[&x0, &x1], &mut [&mut want_s])
                .unwrap();
            assert_eq!(s, want_s);
        }
        let m2 = second.model();
        let mut one = vec![0i8; m2.arena_bytes as usize];
        let mut want_t = vec![0i8; 128];
        m2.infer_multi(&mut one, &[&s, &x0], &mut [&mut want_t])
            .unwrap();
        assert_eq!(t, want_t);
    }
    // `infer` is for one input and one output.
    let mut y = vec![0i8; 128];
    assert!(matches!(
        m.infer(&mut arena, &sample(0, 128), &mut y),
        Err(Error::IoCount { .. })
    ));

    // The report and the generated code list every input and output.
    let report = attonet_convert::Report::new(&a);
    assert_eq!(report.inputs.len(), 2);
    assert_eq!(report.outputs, vec![vec![1, 4, 4, 8]; 2]);
    let table = report.table();
    assert!(table.contains("input 1"), "{table}");
    assert!(table.contains("output 1"), "{table}");
    let g = codegen::generate(&a, "multi.tflite", "0");
    for line in [
        "pub const INPUT_LEN: usize = 128;",
        "pub const OUTPUT_LEN: usize = 128;",
        "pub const INPUT_LENS: [usize; 2] = [128, 128];",
        "pub const OUTPUT_LENS: [usize; 2] = [128, 128];",
        "static MODEL_INPUTS: [attonet_runtime::plan::Io; 2] = [",
        "static MODEL_OUTPUTS: [attonet_runtime::plan::Io; 2] = [",
        "    inputs: &MODEL_INPUTS,",
        "    outputs: &MODEL_OUTPUTS,",
    ] {
        assert!(g.rust.contains(line), "missing {line:?} in\n{}", g.rust);
    }
}

#[test]
fn graph_io_errors_are_clear() {
    let message = |g: &Graph| build(g).err().map(|e| e.to_string()).unwrap_or_default();
    let mut g = two_by_two();
    g.outputs = vec![2, 2];
    assert!(
        message(&g).contains("'s' is listed twice"),
        "{}",
        message(&g)
    );
    let mut g = two_by_two();
    g.inputs = vec![0, 0];
    assert!(
        message(&g).contains("'x0' is listed twice"),
        "{}",
        message(&g)
    );
    let mut g = two_by_two();
    g.outputs = vec![2, 1];
    assert!(
        message(&g).contains("'x1' is a model input"),
        "{}",
        message(&g)
    );
    let mut g = two_by_two();
    g.tensors[1].dtype = DType::I64;
    assert!(
        message(&g).contains("int8 or int16 (16x8) is required"),
        "{}",
        message(&g)
    );
    // An int32 (or uint8) model input is taken for a QUANTIZE to read; the
    // ADD reading it here refuses it by name and type.
    let mut g = two_by_two();
    g.tensors[1].dtype = DType::I32;
    assert!(
        message(&g).contains("operator 0 (ADD): tensor 'x1' is int32, but int8 is required"),
        "{}",
        message(&g)
    );
    // An int16 (16x8) input is read, but TFLM's int16 kernels need zero
    // point 0: this one's 2 is refused by name.
    let mut g = two_by_two();
    g.tensors[1].dtype = DType::I16;
    assert!(
        message(&g).contains("'x1' has zero point 2"),
        "{}",
        message(&g)
    );
    let mut g = two_by_two();
    g.outputs.clear();
    assert!(message(&g).contains("at least one"), "{}", message(&g));
}
