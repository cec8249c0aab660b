//! Fuses back-to-back 1x1 convolutions (AttoNet's "mix then expand") into one
//! [`LayerOp::PointwisePair`] step, so the intermediate tensor never occupies
//! a full arena buffer: only a line of `mid_c` bytes.

use attonet_runtime::ops::{ConvKernel, ConvParams};

use crate::program::{Layer, LayerOp, Program};

/// Whether a convolution is a plain stride-1 pointwise one the pair kernel takes.
fn is_unit_pointwise(p: &ConvParams) -> bool {
    ConvKernel::select(p) == ConvKernel::Pointwise
        && p.window.stride_h == 1
        && p.window.stride_w == 1
}

/// Fuses every pointwise convolution whose output feeds exactly one other
/// pointwise convolution (and is not the model output). Returns the number of
/// pairs fused.
pub fn run(program: &mut Program) -> usize {
    let mut fused = 0;
    let mut i = 0;
    while i < program.layers.len() {
        if let Some(j) = partner(program, i) {
            let second = program.layers.remove(j);
            let first = &mut program.layers[i];
            let (
                LayerOp::Conv {
                    params: p1,
                    data: d1,
                },
                LayerOp::Conv {
                    params: p2,
                    data: d2,
                },
            ) = (first.op.clone(), second.op)
            else {
                unreachable!("partner() only pairs convolutions");
            };
            let mid_c = program.values[first.output].shape.c;
            let mut sources = first.source_ops.clone();
            sources.extend(second.source_ops);
            *first = Layer {
                op: LayerOp::PointwisePair {
                    first: p1.quant,
                    first_data: d1,
                    second: p2.quant,
                    second_data: d2,
                    mid_c,
                },
                inputs: first.inputs.clone(),
                output: second.output,
                source_ops: sources,
            };
            fused += 1;
        }
        i += 1;
    }
    fused
}

/// The index of the layer that can fuse with layer `i`, if any.
fn partner(program: &Program, i: usize) -> Option<usize> {
    let first = &program.layers[i];
    let LayerOp::Conv { params, .. } = &first.op else {
        return None;
    };
    if !is_unit_pointwise(params) || program.is_output(first.output) {
        return None;
    }
    let consumers = program.consumers(first.output);
    let [j] = consumers[..] else {
        return None;
    };
    let second = &program.layers[j];
    match &second.op {
        LayerOp::Conv { params, .. } if is_unit_pointwise(params) && j > i => {
            // Nothing between the two may be needed at the pair's position:
            // moving the second conv up is safe because its only input is
            // the first conv's output.
            (second.inputs == [first.output]).then_some(j)
        }
        _ => None,
    }
}
