//! Fuses residual blocks and convolution chains into [`LayerOp::Block`]
//! layers, which the runtime runs row by row ([`attonet_runtime::block`]) so
//! that the intermediates occupy a few rows of arena instead of whole tensors.
//!
//! * Residual blocks: an ADD whose one input is a chain of up to
//!   [`MAX_STAGES`] convolutions starting at a value `X`, and whose other input
//!   is `X` itself (identity shortcut) or a pointwise convolution of `X`
//!   (projection shortcut, strided in down-sampling blocks). This covers a
//!   ResNet basic block and an AttoNet module.
//! * Chains: two or more convolutions (ordinary or depthwise) each feeding
//!   only the next, as in a depthwise-separable network; a chain longer than
//!   [`MAX_STAGES`] is split into blocks of nearly equal length.
//!
//! Every intermediate must have exactly one consumer and must not be the
//! model output; nothing else changes (same kernels, same tables), so the
//! fused model computes the same bits.

use attonet_runtime::block::{StageOp, MAX_STAGES};
use attonet_runtime::ops::ConvKernel;

use crate::program::{BlockResidual, BlockStage, Layer, LayerOp, Program, ValueId};

/// Fuses every residual block, then every remaining chain. Returns the number
/// of blocks formed.
pub fn run(program: &mut Program) -> usize {
    let mut n = 0;
    while let Some(plan) = find_residual(program) {
        apply(program, plan);
        n += 1;
    }
    while let Some(plan) = find_chain(program) {
        apply(program, plan);
        n += 1;
    }
    n
}

struct Plan {
    /// Layer indices of the chain, in execution order.
    chain: Vec<usize>,
    /// The projection layer, if any.
    projection: Option<usize>,
    /// The ADD layer, if any, and whether the chain is its first input.
    add: Option<(usize, bool)>,
}

fn producer(program: &Program, v: ValueId) -> Option<usize> {
    program.layers.iter().position(|l| l.output == v)
}

/// A convolution-like layer a block stage can run.
fn stage_op(layer: &Layer) -> Option<StageOp> {
    match &layer.op {
        LayerOp::Conv { params, .. } => Some(StageOp::Conv(*params)),
        LayerOp::Depthwise { params, .. } => Some(StageOp::Depthwise(*params)),
        _ => None,
    }
}

/// Whether `v` is read by exactly the layer `by` and is not the model output.
fn private_to(program: &Program, v: ValueId, by: usize) -> bool {
    !program.is_output(v) && program.consumers(v) == [by]
}

/// Walks back from `end` through single-consumer convolutions until a layer
/// whose input is `x`: the chain in execution order.
fn chain_back(program: &Program, end: ValueId, x: ValueId, consumer: usize) -> Option<Vec<usize>> {
    let mut chain = Vec::new();
    let mut v = end;
    let mut reader = consumer;
    loop {
        if !private_to(program, v, reader) {
            return None;
        }
        let q = producer(program, v)?;
        stage_op(&program.layers[q])?;
        chain.push(q);
        if chain.len() > MAX_STAGES {
            return None;
        }
        let input = program.layers[q].inputs[0];
        if input == x {
            chain.reverse();
            return Some(chain);
        }
        v = input;
        reader = q;
    }
}

fn find_residual(program: &Program) -> Option<Plan> {
    for (j, layer) in program.layers.iter().enumerate() {
        let LayerOp::Add(_) = layer.op else { continue };
        let [u, v] = layer.inputs[..] else { continue };
        if u == v {
            continue;
        }
        for (chain_out, other, chain_first) in [(u, v, true), (v, u, false)] {
            // Projection: `other` is a private pointwise convolution of X.
            if let Some(p) = producer(program, other) {
                let pl = &program.layers[p];
                if let LayerOp::Conv { params, .. } = &pl.op {
                    if ConvKernel::select(params) == ConvKernel::Pointwise
                        && private_to(program, other, j)
                    {
                        let x = pl.inputs[0];
                        if let Some(chain) = chain_back(program, chain_out, x, j) {
                            return Some(Plan {
                                chain,
                                projection: Some(p),
                                add: Some((j, chain_first)),
                            });
                        }
                    }
                }
            }
            // Identity: `other` is X.
            if program.values[other].shape == program.values[layer.output].shape {
                if let Some(chain) = chain_back(program, chain_out, other, j) {
                    return Some(Plan {
                        chain,
                        projection: None,
                        add: Some((j, chain_first)),
                    });
                }
            }
        }
    }
    None
}

fn find_chain(program: &Program) -> Option<Plan> {
    for i in 0..program.layers.len() {
        if stage_op(&program.layers[i]).is_none() {
            continue;
        }
        let mut chain = vec![i];
        loop {
            let last = *chain.last().unwrap_or(&i);
            let v = program.layers[last].output;
            let consumers = program.consumers(v);
            let [next] = consumers[..] else { break };
            if next <= last
                || program.is_output(v)
                || stage_op(&program.layers[next]).is_none()
                || program.layers[next].inputs != [v]
            {
                break;
            }
            chain.push(next);
        }
        if chain.len() >= 2 {
            // A chain longer than a block takes: split it into nearly equal
            // blocks (no single convolution left over), and take the first.
            let blocks = chain.len().div_ceil(MAX_STAGES);
            chain.truncate(chain.len().div_ceil(blocks));
            return Some(Plan {
                chain,
                projection: None,
                add: None,
            });
        }
    }
    None
}

fn to_stage(program: &Program, layer: &Layer) -> BlockStage {
    let (op, data) = match &layer.op {
        LayerOp::Conv { params, data } => (StageOp::Conv(*params), data.clone()),
        LayerOp::Depthwise { params, data } => (StageOp::Depthwise(*params), data.clone()),
        _ => unreachable!("only convolution layers become stages"),
    };
    BlockStage {
        op,
        data,
        output: program.values[layer.output].shape,
        value: layer.output,
    }
}

/// The program with every fused block expanded back into its layers (the
/// same values and tables): what per-layer analyses run, since a block keeps
/// its intermediates only a few rows at a time.
pub fn unfuse(program: &Program) -> Program {
    let mut out = program.clone();
    out.layers.clear();
    for layer in &program.layers {
        let LayerOp::Block { stages, residual } = &layer.op else {
            out.layers.push(layer.clone());
            continue;
        };
        let conv = |st: &BlockStage, input: ValueId| Layer {
            op: match st.op {
                StageOp::Conv(params) => LayerOp::Conv {
                    params,
                    data: st.data.clone(),
                },
                StageOp::Depthwise(params) => LayerOp::Depthwise {
                    params,
                    data: st.data.clone(),
                },
            },
            inputs: vec![input],
            output: st.value,
            source_ops: layer.source_ops.clone(),
        };
        let x = layer.inputs[0];
        let mut v = x;
        for st in stages {
            out.layers.push(conv(st, v));
            v = st.value;
        }
        let (add, chain_first, other) = match residual {
            BlockResidual::Absent => continue,
            BlockResidual::Identity { add, chain_first } => (*add, *chain_first, x),
            BlockResidual::Projection {
                stage,
                add,
                chain_first,
            } => {
                out.layers.push(conv(stage, x));
                (*add, *chain_first, stage.value)
            }
        };
        out.layers.push(Layer {
            op: LayerOp::Add(add),
            inputs: if chain_first {
                vec![v, other]
            } else {
                vec![other, v]
            },
            output: layer.output,
            source_ops: layer.source_ops.clone(),
        });
    }
    out
}

fn apply(program: &mut Program, plan: Plan) {
    let stages: Vec<BlockStage> = plan
        .chain
        .iter()
        .map(|&i| to_stage(program, &program.layers[i]))
        .collect();
    let chain_end = program.layers[*plan.chain.last().unwrap_or(&0)].output;
    let input = program.layers[plan.chain[0]].inputs[0];
    let (residual, output, position) = match plan.add {
        None => (
            BlockResidual::Absent,
            chain_end,
            *plan.chain.last().unwrap_or(&0),
        ),
        Some((j, chain_first)) => {
            let LayerOp::Add(add) = program.layers[j].op else {
                unreachable!("the plan's ADD is an ADD");
            };
            let residual = match plan.projection {
                None => BlockResidual::Identity { add, chain_first },
                Some(p) => BlockResidual::Projection {
                    stage: to_stage(program, &program.layers[p]),
                    add,
                    chain_first,
                },
            };
            (residual, program.layers[j].output, j)
        }
    };
    let mut members: Vec<usize> = plan.chain.clone();
    members.extend(plan.projection);
    members.extend(plan.add.map(|(j, _)| j));
    let mut source_ops: Vec<usize> = members
        .iter()
        .flat_map(|&i| program.layers[i].source_ops.iter().copied())
        .collect();
    source_ops.sort_unstable();
    let block = Layer {
        op: LayerOp::Block { stages, residual },
        inputs: vec![input],
        output,
        source_ops,
    };
    program.layers[position] = block;
    members.retain(|&i| i != position);
    members.sort_unstable_by(|a, b| b.cmp(a));
    for i in members {
        program.layers.remove(i);
    }
}
