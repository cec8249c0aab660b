//! 16x8 graphs built by hand (the goldens in `tests/op-goldens` are the
//! proof of the numerics): what the converter refuses, by name and with the
//! reason, instead of computing something TFLM does not, and that an int16
//! chain plans, runs and saturates.

use attonet_convert::ir::UnaryNumerics;
use attonet_convert::ir::{Activation, DType, Graph, Op, OpKind, Quantization, Tensor, UnaryFn};
use attonet_convert::{assemble, lower, passes, Assembled, ConvertError};
use attonet_runtime::plan::{i16_values, write_i16_values, ElementType};

fn quant(scale: f32, zero_point: i64) -> Option<Quantization> {
    Some(Quantization {
        scales: vec![scale],
        zero_points: vec![zero_point],
        axis: 0,
    })
}

fn act16(name: &str, shape: &[usize], scale: f32) -> Tensor {
    Tensor {
        variable: false,
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::I16,
        quant: quant(scale, 0),
        data: None,
    }
}

fn constant(name: &str, shape: &[usize], dtype: DType, data: Vec<u8>, scale: f32) -> Tensor {
    Tensor {
        variable: false,
        name: name.into(),
        shape: shape.to_vec(),
        dtype,
        quant: quant(scale, 0),
        data: Some(data),
    }
}

fn build(graph: &Graph) -> Result<Assembled, ConvertError> {
    let mut program = lower::lower(graph, "int16")?;
    passes::optimize(&mut program);
    assemble::assemble(program)
}

/// `y = FC(x)`, 4 -> 2, weights all 127, the given bias tensor.
fn fc(bias: Tensor) -> Graph {
    Graph {
        tensors: vec![
            act16("x", &[1, 4], 1.0 / 4096.0),
            constant("w", &[2, 4], DType::I8, vec![127; 8], 1.0 / 127.0),
            bias,
            act16("y", &[1, 2], 1.0 / 1024.0),
        ],
        ops: vec![Op {
            kind: OpKind::FullyConnected {
                activation: Activation::Relu,
                keep_num_dims: false,
            },
            inputs: vec![Some(0), Some(1), Some(2)],
            outputs: vec![3],
        }],
        inputs: vec![0],
        outputs: vec![3],
        source_ops: vec![],
    }
}

fn bias64(values: &[i64]) -> Tensor {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    constant(
        "b",
        &[values.len()],
        DType::I64,
        data,
        1.0 / (4096.0 * 127.0),
    )
}

/// A 16x8 FULLY_CONNECTED runs with int16 model input and output: the sum
/// of four 32767s times 127 overflows any int8 path's reach and saturates
/// at 32767; the fused RELU clamps negative sums to 0; the 64-bit bias
/// (here 2^33, past 32 bits) is added whole.
#[test]
fn fully_connected_16x8_runs_and_saturates() {
    let a = build(&fc(bias64(&[0, -(1 << 33)]))).unwrap();
    let model = a.model();
    assert_eq!(model.input.dtype, ElementType::Int16);
    assert_eq!(model.output.dtype, ElementType::Int16);
    assert_eq!(model.input.len(), 8);
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let mut x = [0i8; 8];
    let mut y = [0i8; 4];
    write_i16_values(&[i16::MAX; 4], &mut x).unwrap();
    model.infer(&mut arena, &x, &mut y).unwrap();
    // Channel 0: 4 * 127 * 32767 at scale 1/(4096*127), out scale 1/1024:
    // 32 in real terms, 32768 steps: saturated. Channel 1: the bias wins.
    assert_eq!(i16_values(&y).collect::<Vec<_>>(), [i16::MAX, 0]);
    write_i16_values(&[-4096, 0, 0, 0], &mut x).unwrap();
    model.infer(&mut arena, &x, &mut y).unwrap();
    assert_eq!(i16_values(&y).collect::<Vec<_>>(), [0, 0]);
    write_i16_values(&[4096, 0, 0, 0], &mut x).unwrap();
    model.infer(&mut arena, &x, &mut y).unwrap();
    // One real unit in: 1024 steps out.
    assert_eq!(i16_values(&y).collect::<Vec<_>>(), [1024, 0]);
}

/// An int32 bias is TFLM's 32-bit-accumulator form of 16x8; we refuse it by
/// name rather than accumulate differently.
#[test]
fn int32_bias_is_refused_by_name() {
    let b = constant("b", &[2], DType::I32, vec![0; 8], 1.0);
    let e = build(&fc(b)).unwrap_err().to_string();
    assert!(
        e.contains("FULLY_CONNECTED") && e.contains("int32 bias 'b'"),
        "{e}"
    );
}

/// An int16 tensor with a zero point other than 0 is refused (TFLM's 16x8
/// kernels require 0).
#[test]
fn nonzero_int16_zero_point_is_refused() {
    let mut g = fc(bias64(&[0, 0]));
    g.tensors[3].quant = quant(1.0 / 1024.0, 3);
    let e = build(&g).unwrap_err().to_string();
    assert!(
        e.contains("FULLY_CONNECTED") && e.contains("zero point 3"),
        "{e}"
    );
}

/// An op without an int16 kernel that reads an int16 tensor is refused
/// naming the op; so is an int8 op whose output is int16.
#[test]
fn ops_without_int16_kernels_are_refused_by_name() {
    // LOG_SOFTMAX has an int8 kernel only (as TFLM).
    let g = Graph {
        tensors: vec![
            act16("x", &[1, 8], 1.0 / 4096.0),
            act16("y", &[1, 8], 16.0 / 32768.0),
        ],
        ops: vec![Op {
            kind: OpKind::LogSoftmax,
            inputs: vec![Some(0)],
            outputs: vec![1],
        }],
        inputs: vec![0],
        outputs: vec![1],
        source_ops: vec![],
    };
    let e = build(&g).unwrap_err().to_string();
    assert!(
        e.contains("LOG_SOFTMAX") && e.contains("int16 input (TFLite's 16x8 quantization)"),
        "{e}"
    );
    // HARD_SWISH has an int8 table only.
    let g = Graph {
        tensors: vec![
            act16("x", &[1, 8], 1.0 / 4096.0),
            act16("y", &[1, 8], 1.0 / 32768.0),
        ],
        ops: vec![Op {
            kind: OpKind::Unary {
                func: UnaryFn::HardSwish,
                numerics: UnaryNumerics::Tflm,
            },
            inputs: vec![Some(0)],
            outputs: vec![1],
        }],
        inputs: vec![0],
        outputs: vec![1],
        source_ops: vec![],
    };
    let e = build(&g).unwrap_err().to_string();
    assert!(
        e.contains("HARD_SWISH") && e.contains("int16 kernels for"),
        "{e}"
    );
}

/// An int16 operand that neither fills the output nor repeats over its
/// leading dimensions is refused (the 16x8 ADD/MUL take those two forms).
#[test]
fn other_broadcasts_are_refused() {
    let g = Graph {
        tensors: vec![
            act16("a", &[1, 4, 4, 8], 1.0 / 4096.0),
            act16("b", &[1, 4, 1, 8], 1.0 / 4096.0),
            act16("y", &[1, 4, 4, 8], 1.0 / 2048.0),
        ],
        ops: vec![Op {
            kind: OpKind::Add {
                activation: Activation::None,
            },
            inputs: vec![Some(0), Some(1)],
            outputs: vec![2],
        }],
        inputs: vec![0, 1],
        outputs: vec![2],
        source_ops: vec![],
    };
    let e = build(&g).unwrap_err().to_string();
    assert!(e.contains("ADD") && e.contains("[1, 4, 1, 8]"), "{e}");
}

/// The plan checks of the int16 steps: a kernel set without the 16x8
/// FULLY_CONNECTED bit refuses the step (never runs another kernel), and an
/// int16 model input at an odd arena offset is refused by `validate`.
#[test]
fn plan_checks_follow_the_kernel_bits_and_alignment() {
    use attonet_runtime::plan::{dispatch, kernels};
    let a = build(&fc(bias64(&[0, 0]))).unwrap();
    let mut model = a.model();
    assert!(model.validate().is_ok());
    model.dispatch = dispatch::<{ kernels::FULLY_CONNECTED }>;
    assert!(model.validate().is_err());
    let mut arena = vec![0i8; model.arena_bytes as usize + 2];
    assert!(model.infer(&mut arena, &[0; 8], &mut [0; 4]).is_err());
    let mut model = a.model();
    let mut input = model.input;
    input.slot.offset += 1;
    let inputs = [input];
    model.input = input;
    model.inputs = &inputs;
    model.arena_bytes += 2;
    assert!(model.validate().is_err());
}
