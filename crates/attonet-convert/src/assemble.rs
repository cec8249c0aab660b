//! Assembly: packs every table into one aligned weight blob and turns the
//! program plus its memory plan into the runtime's [`Step`] list, the form
//! both the host runner and the generated firmware code execute.

use attonet_runtime::ops::depthwise::DepthwiseParams;
use attonet_runtime::ops::{ConvParams, ConvWeights, Shape};
use attonet_runtime::plan::{
    AddS16Step, AddStep, ArgStep, BatchMatmulStep, BinaryStep, BlockStep, BoundaryStep, ConcatStep,
    ConvS16Step, ConvStep, ConvTables, CopyStep, DepthwiseS16Step, DepthwiseStep, Dims,
    FullyConnectedS16Step, FullyConnectedStep, GatherStep, Io, L2NormalizationStep, LogSoftmaxStep,
    LookupStep, LstmStep, Model, MulS16Step, Operand, PiecewiseS16Step, PointwisePairStep,
    PoolS16Step, PoolStep, ReduceStep, RequantizeStep, Residual, ResizeBilinearStep,
    SigmoidS16Step, Slot, SoftmaxS16Step, SoftmaxStep, Stage, StageOp, Step, SvdfStep, Table,
    TransposeConvStep,
};
use attonet_runtime::prepared::{self, DwLayout};

use crate::error::{ConvertError, Result};
use crate::planner::{self, MemoryPlan};
use crate::program::{BlockResidual, BlockStage, ConvData, LayerOp, Program, S16Layer, ValueId};

/// A model ready to run or to write out: program, memory plan, blob, steps.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The lowered program (for reports).
    pub program: Program,
    /// Its memory plan.
    pub memory: MemoryPlan,
    /// The weight blob, as 32-bit words so it is 4-byte aligned in memory.
    blob_words: Vec<u32>,
    /// Length of the blob in bytes (a multiple of 4).
    pub blob_len: usize,
    /// The runtime steps, in order.
    pub steps: Vec<Step>,
    /// The stages of fused blocks.
    pub stages: Vec<Stage>,
    /// For each step, the index of the program layer it runs.
    pub step_layers: Vec<usize>,
    /// The model inputs, in order, where the memory plan put them.
    inputs: Vec<Io>,
    /// The model outputs, in order.
    outputs: Vec<Io>,
    /// The rows per pass it was planned with.
    bands: planner::Bands,
    /// The core its DSP tables are for ([`Assembled::with_dsp_tables_for`]),
    /// `None` without them.
    core: Option<DspCore>,
}

struct BlobWriter {
    bytes: Vec<u8>,
}

impl BlobWriter {
    fn pad(&mut self) {
        while self.bytes.len() % 4 != 0 {
            self.bytes.push(0);
        }
    }

    fn i8s(&mut self, data: &[i8]) -> Table {
        self.pad();
        let offset = self.bytes.len() as u32;
        self.bytes.extend(data.iter().map(|&v| v as u8));
        Table {
            offset,
            len: data.len() as u32,
        }
    }

    fn i32s(&mut self, data: &[i32]) -> Table {
        self.pad();
        let offset = self.bytes.len() as u32;
        for v in data {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        Table {
            offset,
            len: data.len() as u32,
        }
    }

    /// Tables of a depthwise, fully connected or pointwise-pair layer.
    fn conv(&mut self, d: &ConvData) -> ConvTables {
        ConvTables {
            filter: self.i8s(&d.filter),
            bias: self.i32s(&d.bias),
            multiplier: self.i32s(&d.multiplier),
            shift: self.i32s(&d.shift),
            weight_sums: Table { offset: 0, len: 0 },
            prepared: Table { offset: 0, len: 0 },
        }
    }

    /// Tables of a convolution (OHWI filter), with each output channel's
    /// weight sum for the kernels that fold the input zero point into the
    /// bias.
    fn conv_with_sums(&mut self, d: &ConvData) -> ConvTables {
        let per_channel = d.filter.len() / d.bias.len().max(1);
        let sums: Vec<i32> = d
            .filter
            .chunks(per_channel.max(1))
            .map(|row| row.iter().fold(0i32, |a, &w| a.wrapping_add(w as i32)))
            .collect();
        ConvTables {
            weight_sums: self.i32s(&sums),
            ..self.conv(d)
        }
    }
}

/// A block stage with its tables written to the blob.
fn stage(blob: &mut BlobWriter, s: &BlockStage, window: u32, window_rows: u16) -> Stage {
    Stage {
        op: s.op,
        tables: match s.op {
            StageOp::Conv(_) => blob.conv_with_sums(&s.data),
            StageOp::Depthwise(_) => blob.conv(&s.data),
        },
        output: s.output,
        window,
        window_rows,
    }
}

fn dims_u16(dims: &[usize]) -> Vec<u16> {
    dims.iter()
        .map(|&d| d.min(u16::MAX as usize) as u16)
        .collect()
}

/// The steps of layer `i` (none for a reshape whose output the planner put
/// over its input, one per input for a concatenation, else one), its tables
/// written to `blob`, a fused block's stages to `stages`.
///
/// A function of its own, and followed by [`check_slots`]: with this `match`
/// inline in `assemble_with`'s loop, rustc 1.95's MIR destination
/// propagation once gave an ADD step an output offset that was nowhere in
/// the memory plan (bits of a heap address; `-Zmir-enable-passes=
/// -DestinationPropagation` made it right).
#[inline(never)]
fn layer_step(
    program: &Program,
    memory: &MemoryPlan,
    blob: &mut BlobWriter,
    stages: &mut Vec<Stage>,
    i: usize,
) -> Result<Vec<Step>> {
    let layer = &program.layers[i];
    let slot = |v: ValueId| Slot {
        offset: memory.offsets[v],
        shape: program.values[v].shape,
    };
    let input = slot(layer.inputs[0]);
    let output = slot(layer.output);
    let step = match &layer.op {
        LayerOp::Conv { params, data } => Step::Conv(ConvStep {
            params: *params,
            input,
            output,
            tables: blob.conv_with_sums(data),
        }),
        LayerOp::Depthwise { params, data } => Step::Depthwise(DepthwiseStep {
            params: *params,
            input,
            output,
            tables: blob.conv(data),
        }),
        LayerOp::PointwisePair {
            first,
            first_data,
            second,
            second_data,
            mid_c,
        } => Step::PointwisePair(PointwisePairStep {
            first: *first,
            first_tables: blob.conv(first_data),
            second: *second,
            second_tables: blob.conv(second_data),
            input,
            mid_c: *mid_c,
            scratch: memory.scratch[i].ok_or_else(|| {
                ConvertError::Graph(format!("layer {i}: pointwise pair without scratch"))
            })?,
            output,
        }),
        LayerOp::Add(params) => Step::Add(AddStep {
            params: *params,
            input1: input,
            input2: slot(layer.inputs[1]),
            output,
        }),
        LayerOp::AveragePool(params) => Step::AveragePool(PoolStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::MaxPool(params) => Step::MaxPool(PoolStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::FullyConnected { params, data } => Step::FullyConnected(FullyConnectedStep {
            params: *params,
            input,
            output,
            tables: blob.conv(data),
        }),
        LayerOp::Softmax {
            params,
            int16_output,
        } => {
            let s = SoftmaxStep {
                params: *params,
                input,
                output,
            };
            if *int16_output {
                Step::SoftmaxS8S16(s)
            } else {
                Step::Softmax(s)
            }
        }
        LayerOp::TransposeConv { params, data } => Step::TransposeConv(TransposeConvStep {
            params: *params,
            input,
            output,
            tables: blob.conv(data),
        }),
        LayerOp::BatchMatmul(params) => Step::BatchMatmul(BatchMatmulStep {
            params: *params,
            input1: input,
            input2: slot(*layer.inputs.get(1).ok_or_else(|| {
                ConvertError::Graph(format!("layer {i}: batch matmul without a right operand"))
            })?),
            output,
        }),
        LayerOp::LogSoftmax(params) => Step::LogSoftmax(LogSoftmaxStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::L2Normalization(params) => Step::L2Normalization(L2NormalizationStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::Block {
            stages: chain,
            residual,
        } => {
            let scratch = memory.scratch[i].ok_or_else(|| {
                ConvertError::Graph(format!("layer {i}: fused block without scratch"))
            })? as usize;
            let band = memory.bands.get(i).copied().unwrap_or(1);
            let (windows, rows, _) = planner::block_scratch(chain, residual, band);
            let index = |n: usize| {
                u16::try_from(n)
                    .map_err(|_| ConvertError::Graph("more than 65,535 fused block stages".into()))
            };
            let first_stage = index(stages.len())?;
            for (k, st) in chain.iter().enumerate() {
                let window_rows = planner::block_window_rows(chain, k, band);
                stages.push(stage(blob, st, (scratch + windows[k]) as u32, window_rows));
            }
            let residual = match residual {
                BlockResidual::Absent => Residual::Absent,
                BlockResidual::Identity { add, chain_first } => Residual::Identity {
                    add: *add,
                    chain_first: *chain_first,
                },
                BlockResidual::Projection {
                    stage: p,
                    add,
                    chain_first,
                } => {
                    let index = index(stages.len())?;
                    stages.push(stage(blob, p, 0, 0));
                    Residual::Projection {
                        stage: index,
                        add: *add,
                        chain_first: *chain_first,
                    }
                }
            };
            Step::Block(BlockStep {
                input,
                first_stage,
                stages: chain.len() as u8,
                residual,
                band,
                row: (scratch + rows) as u32,
                output,
            })
        }
        LayerOp::Lookup { table, .. } => Step::Lookup(LookupStep {
            table: blob.i8s(table),
            input,
            output,
        }),
        LayerOp::Reduce { params, .. } => Step::Reduce(ReduceStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::Arg(params) => Step::Arg(ArgStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::QuantizeFloat(params) => Step::QuantizeFloat(BoundaryStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::DequantizeFloat(params) => Step::DequantizeFloat(BoundaryStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::Requantize(params) => Step::Requantize(RequantizeStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::Lstm {
            params,
            weights,
            bias,
        } => {
            let offset = memory.state[i].ok_or_else(|| {
                ConvertError::Graph(format!("internal error: layer {i} (LSTM) has no state"))
            })?;
            // A row of bytes a batch row (the runtime splits the whole into
            // the int16 cell state and the int8 hidden state).
            let state = Slot {
                offset,
                shape: Shape::new(1, params.batch, 3 * params.units),
            };
            Step::Lstm(LstmStep {
                params: *params,
                input,
                output,
                state,
                weights: blob.i8s(weights),
                bias: blob.i32s(bias),
            })
        }
        LayerOp::Svdf {
            params,
            weights_feature,
            weights_time,
            bias,
        } => {
            let offset = memory.state[i].ok_or_else(|| {
                ConvertError::Graph(format!("internal error: layer {i} (SVDF) has no state"))
            })?;
            // [batch * filters] rows of one filter's memory.
            let state = Slot {
                offset,
                shape: Shape::new(
                    1,
                    params.batch * params.filters,
                    params.memory * params.state_type.size() as u16,
                ),
            };
            Step::Svdf(SvdfStep {
                params: *params,
                input,
                output,
                state,
                weights_feature: blob.i8s(weights_feature),
                weights_time: blob.i8s(weights_time),
                bias: blob.i32s(bias),
            })
        }
        LayerOp::Gather { params, tables, .. } => Step::Gather(GatherStep {
            params: *params,
            tables: [
                blob.i32s(&tables[0]),
                blob.i32s(&tables[1]),
                blob.i32s(&tables[2]),
                blob.i32s(&tables[3]),
                blob.i32s(&tables[4]),
            ],
            input,
            output,
        }),
        LayerOp::ResizeBilinear(params) => Step::ResizeBilinear(ResizeBilinearStep {
            params: *params,
            input,
            output,
        }),
        LayerOp::S16(S16Layer::Conv { params, data }) => Step::ConvS16(ConvS16Step {
            params: *params,
            input,
            output,
            tables: blob.conv(data),
        }),
        LayerOp::S16(S16Layer::Depthwise { params, data }) => {
            Step::DepthwiseS16(DepthwiseS16Step {
                params: *params,
                input,
                output,
                tables: blob.conv(data),
            })
        }
        LayerOp::S16(S16Layer::FullyConnected { params, data }) => {
            Step::FullyConnectedS16(FullyConnectedS16Step {
                params: *params,
                input,
                output,
                tables: blob.conv(data),
            })
        }
        LayerOp::S16(S16Layer::Add { params, constants }) => {
            let [input1, input2] = s16_operands(blob, constants, &layer.inputs, &slot, i)?;
            Step::AddS16(AddS16Step {
                params: *params,
                input1,
                input2,
                output,
            })
        }
        LayerOp::S16(S16Layer::Softmax {
            params,
            exp_lut,
            reciprocal_lut,
        }) => {
            let bytes = |lut: &[i16]| -> Vec<i8> {
                lut.iter()
                    .flat_map(|v| v.to_le_bytes())
                    .map(|b| b as i8)
                    .collect()
            };
            Step::SoftmaxS16(SoftmaxS16Step {
                params: *params,
                exp_table: blob.i8s(&bytes(exp_lut)),
                reciprocal_table: blob.i8s(&bytes(reciprocal_lut)),
                input,
                output,
            })
        }
        LayerOp::S16(S16Layer::Logistic(params)) => Step::LogisticS16(SigmoidS16Step {
            params: *params,
            input,
            output,
        }),
        LayerOp::S16(S16Layer::Tanh(params)) => Step::TanhS16(SigmoidS16Step {
            params: *params,
            input,
            output,
        }),
        LayerOp::S16(S16Layer::AveragePool(params)) => Step::AveragePoolS16(PoolS16Step {
            params: *params,
            input,
            output,
        }),
        LayerOp::S16(S16Layer::MaxPool(params)) => Step::MaxPoolS16(PoolS16Step {
            params: *params,
            input,
            output,
        }),
        LayerOp::S16(S16Layer::Piecewise { params, .. }) => Step::PiecewiseS16(PiecewiseS16Step {
            params: *params,
            input,
            output,
        }),
        LayerOp::S16(S16Layer::Mul { params, constants }) => {
            let [input1, input2] = s16_operands(blob, constants, &layer.inputs, &slot, i)?;
            Step::MulS16(MulS16Step {
                params: *params,
                input1,
                input2,
                output,
            })
        }
        LayerOp::Binary {
            params, constants, ..
        } => {
            let mut activations = layer.inputs.iter();
            let mut operand = |k: usize| -> Result<Operand> {
                Ok(match &constants[k] {
                    Some(c) => Operand::Blob(blob.i8s(c)),
                    None => Operand::Arena(slot(*activations.next().ok_or_else(|| {
                        ConvertError::Graph(format!("layer {i}: binary op without operand {k}"))
                    })?)),
                })
            };
            let (input1, input2) = (operand(0)?, operand(1)?);
            Step::Binary(BinaryStep {
                params: *params,
                input1,
                input2,
                output,
            })
        }
        LayerOp::Concat { parts, tables } => {
            if parts.len() != layer.inputs.len() || tables.len() != parts.len() {
                return Err(ConvertError::Graph(format!(
                    "layer {i}: {} concatenation parts for {} inputs",
                    parts.len(),
                    layer.inputs.len()
                )));
            }
            return Ok(parts
                .iter()
                .zip(tables)
                .zip(&layer.inputs)
                .map(|((p, t), &v)| {
                    Step::Concat(ConcatStep {
                        params: *p,
                        table: blob.i8s(t),
                        input: slot(v),
                        output,
                    })
                })
                .collect());
        }
        LayerOp::Reshape => {
            if input.offset == output.offset {
                return Ok(vec![]); // the planner let the output share the input's bytes
            }
            Step::Copy(CopyStep { input, output })
        }
    };
    Ok(vec![step])
}

/// The two operands of a 16x8 ADD or MUL: each constant's bytes written to
/// `blob`, each activation (the layer's inputs, in order) its slot.
fn s16_operands(
    blob: &mut BlobWriter,
    constants: &[Option<Vec<i8>>; 2],
    inputs: &[ValueId],
    slot: &dyn Fn(ValueId) -> Slot,
    i: usize,
) -> Result<[Operand; 2]> {
    let mut activations = inputs.iter();
    let mut operand = |k: usize| -> Result<Operand> {
        Ok(match &constants[k] {
            Some(c) => Operand::Blob(blob.i8s(c)),
            None => Operand::Arena(slot(*activations.next().ok_or_else(|| {
                ConvertError::Graph(format!("layer {i}: int16 op without operand {k}"))
            })?)),
        })
    };
    Ok([operand(0)?, operand(1)?])
}

/// Every step's slots against the memory plan and the program (an internal
/// check: see [`layer_step`]).
fn check_slots(
    program: &Program,
    memory: &MemoryPlan,
    steps: &[Step],
    step_layers: &[usize],
) -> Result<()> {
    for (k, (step, &i)) in steps.iter().zip(step_layers).enumerate() {
        let layer = &program.layers[i];
        let slot = |v: ValueId| Slot {
            offset: memory.offsets[v],
            shape: program.values[v].shape,
        };
        let (input, output) = (slot(layer.inputs[0]), slot(layer.output));
        let got = match step {
            Step::Conv(s) => (s.input, s.output),
            Step::Depthwise(s) => (s.input, s.output),
            Step::PointwisePair(s) => (s.input, s.output),
            Step::Add(s) => {
                if s.input2 != slot(layer.inputs[1]) {
                    return Err(ConvertError::Graph(format!(
                        "internal error: step {k} (layer {i}) reads its second input at {:?}, \
                         the plan has {:?}",
                        s.input2,
                        slot(layer.inputs[1])
                    )));
                }
                (s.input1, s.output)
            }
            Step::AveragePool(s) | Step::MaxPool(s) => (s.input, s.output),
            Step::FullyConnected(s) => (s.input, s.output),
            Step::Softmax(s) | Step::SoftmaxS8S16(s) => (s.input, s.output),
            Step::LogSoftmax(s) => (s.input, s.output),
            Step::TransposeConv(s) => (s.input, s.output),
            Step::BatchMatmul(s) => {
                if s.input2 != slot(layer.inputs[1]) {
                    return Err(ConvertError::Graph(format!(
                        "internal error: step {k} (layer {i}) reads its right operand at {:?}, \
                         the plan has {:?}",
                        s.input2,
                        slot(layer.inputs[1])
                    )));
                }
                (s.input1, s.output)
            }
            Step::L2Normalization(s) => (s.input, s.output),
            Step::Lookup(s) => (s.input, s.output),
            Step::Reduce(s) => (s.input, s.output),
            Step::Arg(s) => (s.input, s.output),
            Step::QuantizeFloat(s) | Step::DequantizeFloat(s) => (s.input, s.output),
            Step::Requantize(s) => (s.input, s.output),
            Step::Svdf(s) => (s.input, s.output),
            Step::Lstm(s) => (s.input, s.output),
            Step::Copy(s) => (s.input, s.output),
            Step::Gather(s) => (s.input, s.output),
            Step::ResizeBilinear(s) => (s.input, s.output),
            Step::Block(s) => (s.input, s.output),
            Step::ConvS16(s) => (s.input, s.output),
            Step::DepthwiseS16(s) => (s.input, s.output),
            Step::FullyConnectedS16(s) => (s.input, s.output),
            Step::SoftmaxS16(s) => (s.input, s.output),
            Step::LogisticS16(s) | Step::TanhS16(s) => (s.input, s.output),
            Step::AveragePoolS16(s) | Step::MaxPoolS16(s) => (s.input, s.output),
            Step::PiecewiseS16(s) => (s.input, s.output),
            Step::AddS16(AddS16Step {
                input1,
                input2,
                output,
                ..
            })
            | Step::MulS16(MulS16Step {
                input1,
                input2,
                output,
                ..
            })
            | Step::Binary(BinaryStep {
                input1,
                input2,
                output,
                ..
            }) => {
                let arena: Vec<Slot> = [input1, input2]
                    .iter()
                    .filter_map(|o| match o {
                        Operand::Arena(a) => Some(*a),
                        Operand::Blob(_) => None,
                    })
                    .collect();
                let planned: Vec<Slot> = layer.inputs.iter().map(|&v| slot(v)).collect();
                if arena != planned {
                    return Err(ConvertError::Graph(format!(
                        "internal error: step {k} (layer {i}) reads {arena:?}, the plan has \
                         {planned:?}"
                    )));
                }
                (input, *output)
            }
            Step::Concat(s) => {
                if !layer.inputs.iter().any(|&v| slot(v) == s.input) {
                    return Err(ConvertError::Graph(format!(
                        "internal error: step {k} (layer {i}) reads {:?}, not an input",
                        s.input
                    )));
                }
                (input, s.output)
            }
        };
        if got != (input, output) {
            return Err(ConvertError::Graph(format!(
                "internal error: step {k} (layer {i}) has slots {got:?}, the plan {:?}",
                (input, output)
            )));
        }
    }
    Ok(())
}

/// Plans memory for `program` (fused blocks with as many rows per pass as
/// cost no arena: [`planner::Bands::Free`]) and assembles it.
pub fn assemble(program: Program) -> Result<Assembled> {
    assemble_with(program, planner::Bands::Free)
}

/// Plans memory for `program` with the given rows per pass of fused blocks
/// and assembles it.
pub fn assemble_with(program: Program, bands: planner::Bands) -> Result<Assembled> {
    let memory = planner::plan_with(&program, bands);
    let mut blob = BlobWriter { bytes: Vec::new() };
    let mut steps = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut step_layers = Vec::new();
    for i in 0..program.layers.len() {
        for step in layer_step(&program, &memory, &mut blob, &mut stages, i)? {
            steps.push(step);
            step_layers.push(i);
        }
    }
    check_slots(&program, &memory, &steps, &step_layers)?;
    blob.pad();
    let blob_len = blob.bytes.len();
    if blob_len > u32::MAX as usize {
        return Err(ConvertError::Graph(format!(
            "weights of {blob_len} bytes exceed 4 GiB"
        )));
    }
    let blob_words = blob
        .bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let io = |v: ValueId| -> Result<Io> {
        let value = &program.values[v];
        let dims = Dims::try_new(&dims_u16(&value.dims)).ok_or_else(|| {
            ConvertError::Graph(format!(
                "the model input or output '{}' has {} dimensions; at most {} are supported",
                value.name,
                value.dims.len(),
                attonet_runtime::plan::MAX_RANK
            ))
        })?;
        Ok(Io {
            slot: Slot {
                offset: memory.offsets[v],
                shape: value.shape,
            },
            dims,
            dtype: value.dtype,
            scale: value.scale,
            zero_point: value.zero_point,
        })
    };
    let inputs = program
        .inputs
        .iter()
        .map(|&v| io(v))
        .collect::<Result<Vec<_>>>()?;
    let outputs = program
        .outputs
        .iter()
        .map(|&v| io(v))
        .collect::<Result<Vec<_>>>()?;
    let assembled = Assembled {
        program,
        memory,
        blob_words,
        blob_len,
        steps,
        stages,
        step_layers,
        inputs,
        outputs,
        bands,
        core: None,
    };
    assembled.model().validate().map_err(|e| {
        ConvertError::Graph(format!(
            "internal error, the assembled plan is invalid: {e}"
        ))
    })?;
    Ok(assembled)
}

/// The kind of Cortex-M core a model with DSP tables is for
/// ([`Assembled::with_dsp_tables_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DspCore {
    /// Armv7E-M or Armv8-M Mainline with the DSP extension (Cortex-M4, M7,
    /// M33): its grouped kernel takes 2 to 8 channels a group as they are.
    #[default]
    Dsp,
    /// Armv8.1-M with the M-profile Vector Extension (Cortex-M55, M85): its
    /// Helium convolution computes narrow grouped layers faster dense
    /// (AttoNet-D on the Cortex-M55: 5.78 M instructions dense, 5.95 M
    /// grouped).
    Helium,
}

impl Assembled {
    /// The same program planned again with other rows per pass for its fused
    /// blocks (the weights and steps are the same; windows, row buffers and
    /// the arena change).
    pub fn replan(&self, bands: planner::Bands) -> Result<Assembled> {
        assemble_with(self.program.clone(), bands)
    }

    /// The same model without fused blocks: every layer its own step, every
    /// intermediate whole in the arena (more RAM; no per-row kernel calls).
    pub fn unfused(&self) -> Result<Assembled> {
        assemble(crate::passes::fuse_blocks::unfuse(&self.program))
    }

    /// This model with the tables the Cortex-M DSP kernels read in place
    /// (Armv7E-M, Armv8-M Mainline with DSP; [`attonet_runtime::prepared`])
    /// appended to the blob for every stage of a fused block, which calls its
    /// kernels once per row (a layer run whole derives them once, which costs
    /// nothing worth the flash): a 3x3 depthwise stage with depth multiplier 1
    /// and an `i8` input zero point gets its widened weights and epilogue
    /// constants (34 bytes a channel), any other convolution its epilogue
    /// constants (16 bytes an output channel). Other targets ignore
    /// the tables: convert with them only for those cores. Call it last
    /// ([`replan`](Assembled::replan) and [`unfused`](Assembled::unfused)
    /// assemble afresh, without them).
    ///
    /// First, grouped convolutions that the DSP kernels compute faster dense
    /// become dense ones with zero weights outside their groups (the same
    /// bits; [`crate::passes::dense_groups`]) and the model is planned again.
    pub fn with_dsp_tables(self) -> Result<Assembled> {
        self.with_dsp_tables_for(DspCore::Dsp)
    }

    /// [`with_dsp_tables`](Assembled::with_dsp_tables) for the given kind
    /// of core: which grouped convolutions become dense depends on the
    /// kernels it runs ([`DspCore`]).
    pub fn with_dsp_tables_for(self, core: DspCore) -> Result<Assembled> {
        let mut program = self.program.clone();
        let grouped_kernel = core == DspCore::Dsp;
        let mut this = if crate::passes::dense_groups::run(&mut program, grouped_kernel) > 0 {
            // The steps run the rewrite; `program` stays the model as
            // converted (same layers, values and shapes), so reports count
            // its own MACs and parameters.
            let mut dense = assemble_with(program, self.bands)?;
            dense.program = self.program;
            dense
        } else {
            self
        };
        this.core = Some(core);
        this.append_dsp_tables()?;
        Ok(this)
    }

    fn append_dsp_tables(&mut self) -> Result<()> {
        let mut blob = BlobWriter {
            bytes: self.blob().to_vec(),
        };
        let bytes = &blob.bytes;
        let stage_tables = self
            .stages
            .iter()
            .map(|stage| match stage.op {
                StageOp::Depthwise(p) => {
                    let channels = stage.output.c / p.depth_multiplier.max(1);
                    dw3_table(bytes, &p, channels, &stage.tables, self.core)
                }
                StageOp::Conv(p) => conv_table(bytes, &p, stage.output, &stage.tables, self.core),
            })
            .collect::<Result<Vec<_>>>()?;
        for (stage, words) in self.stages.iter_mut().zip(stage_tables) {
            if let Some(words) = words {
                stage.tables.prepared = blob.i32s(&words);
            }
        }
        blob.pad();
        if blob.bytes.len() > u32::MAX as usize {
            return Err(ConvertError::Graph(format!(
                "weights of {} bytes exceed 4 GiB",
                blob.bytes.len()
            )));
        }
        self.blob_len = blob.bytes.len();
        self.blob_words = blob
            .bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // Generated code runs fused blocks without their run-time checks
        // (`kernels::BLOCK_CHECKS`): every plan it is given was validated.
        self.model().validate().map_err(|e| {
            ConvertError::Graph(format!(
                "internal error, the plan with DSP tables is invalid: {e}"
            ))
        })?;
        Ok(())
    }

    /// The weight blob's bytes (little-endian tables, 4-byte aligned).
    pub fn blob(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.blob_words)[..self.blob_len]
    }

    /// The runtime model over this assembly's memory: the host runner runs
    /// exactly what the firmware runs.
    pub fn model(&self) -> Model<'_> {
        let p = &self.program;
        Model {
            name: &p.name,
            dispatch: attonet_runtime::plan::DISPATCH_ALL,
            blob: self.blob(),
            steps: &self.steps,
            stages: &self.stages,
            arena_bytes: self.memory.arena_bytes,
            input: self.inputs[0],
            output: self.outputs[0],
            inputs: &self.inputs,
            outputs: &self.outputs,
        }
    }

    /// Bytes the model puts in flash: the blob, the step descriptors and the
    /// small model header (name and I/O dimensions).
    pub fn flash_bytes(&self) -> usize {
        self.blob_len
            + self.steps.len() * core::mem::size_of::<Step>()
            + self.stages.len() * core::mem::size_of::<Stage>()
            + 2 * (self.inputs.iter().chain(&self.outputs))
                .map(|io| io.dims.len())
                .sum::<usize>()
            + self.program.name.len()
    }

    /// The kernel families the plan uses ([`attonet_runtime::plan::kernels`]
    /// bits), and their names: what the generated code compiles in. The
    /// convolutions' bits follow the DSP kernels' own choices
    /// ([`attonet_runtime::dsp_select`]): the depthwise-like kernel where a
    /// grouped convolution has one channel per group, the columns kernel's
    /// block sizes the layers prefer, and the portable fallbacks only where a
    /// layer is left that those kernels do not take (a DSP build then links
    /// no portable convolution loops; other builds link them whatever the
    /// bits say). Never [`kernels::BLOCK_CHECKS`](attonet_runtime::plan::kernels::BLOCK_CHECKS):
    /// every plan an [`Assembled`] holds has passed `Model::validate`.
    pub fn kernels(&self) -> (attonet_runtime::plan::kernels::KernelSet, Vec<&'static str>) {
        use attonet_runtime::dsp_select::{self as sel, blocks};
        use attonet_runtime::ops::ConvKernel;
        use attonet_runtime::plan::kernels as k;
        /// One convolution as the kernels are called with it: parameters,
        /// input shape, the output of one call, whether its epilogue
        /// constants come prepared.
        struct Call {
            p: ConvParams,
            input: Shape,
            output: Shape,
            prepared: bool,
            /// Calls a run makes (a fused block's bands).
            calls: u64,
            /// Its weights and per-channel tables.
            tables: ConvTables,
        }
        let prepared =
            |t: &ConvTables, c: u16| t.prepared.len as usize == prepared::conv_len(c as usize);
        let mut bits = 0;
        let mut calls = Vec::new();
        let mut depthwise = Vec::new();
        // Fused-block stages with their input shape and band of rows.
        let mut stages: Vec<(&Stage, Shape, u16)> = Vec::new();
        // Every ADD call that decides its way per call: parameters and
        // elements; and whether a fused block's shortcut uses the tables.
        let mut adds = Vec::new();
        let mut shortcut_tables = false;
        for step in &self.steps {
            match step {
                Step::Conv(s) => calls.push(Call {
                    p: s.params,
                    input: s.input.shape,
                    output: s.output.shape,
                    prepared: prepared(&s.tables, s.output.shape.c),
                    calls: 1,
                    tables: s.tables,
                }),
                Step::Depthwise(s) => {
                    bits |= k::DEPTHWISE;
                    depthwise.push((s.params, s.output.shape));
                }
                Step::PointwisePair(_) => bits |= k::POINTWISE_PAIR,
                Step::Add(a) => {
                    bits |= k::ADD;
                    let n = a.output.shape.len();
                    if a.input1 == a.output && a.input2 == a.output {
                        // `x + x` in place runs in chunks of 64.
                        adds.push((a.params, n.min(64)));
                        adds.push((a.params, n % 64));
                    } else {
                        adds.push((a.params, n));
                    }
                }
                Step::AveragePool(s) => {
                    bits |= if attonet_runtime::ops::pool::is_global(
                        &s.params,
                        s.input.shape,
                        s.output.shape,
                    ) {
                        k::GLOBAL_AVERAGE_POOL
                    } else {
                        k::AVERAGE_POOL
                    }
                }
                Step::MaxPool(_) => bits |= k::MAX_POOL,
                Step::FullyConnected(_) => bits |= k::FULLY_CONNECTED,
                Step::Softmax(_) => bits |= k::SOFTMAX,
                Step::SoftmaxS8S16(_) => bits |= k::SOFTMAX_S8_S16,
                Step::LogSoftmax(_) => bits |= k::LOG_SOFTMAX,
                Step::TransposeConv(_) => bits |= k::TRANSPOSE_CONV,
                Step::BatchMatmul(_) => bits |= k::BATCH_MATMUL,
                Step::L2Normalization(_) => bits |= k::L2_NORMALIZATION,
                Step::Lookup(_) => bits |= k::LOOKUP,
                Step::Reduce(_) => bits |= k::REDUCE,
                Step::Copy(_) => bits |= k::COPY,
                Step::Gather(_) => bits |= k::GATHER,
                Step::ResizeBilinear(_) => bits |= k::RESIZE_BILINEAR,
                Step::Binary(_) => bits |= k::BINARY,
                Step::Concat(_) => bits |= k::CONCAT,
                Step::Arg(_) => bits |= k::ARG,
                Step::QuantizeFloat(_) => bits |= k::QUANTIZE_FLOAT,
                Step::DequantizeFloat(_) => bits |= k::DEQUANTIZE_FLOAT,
                Step::Requantize(_) => bits |= k::REQUANTIZE,
                Step::Svdf(_) => bits |= k::SVDF,
                Step::Lstm(_) => bits |= k::LSTM,
                Step::ConvS16(_) => bits |= k::CONV_S16,
                Step::DepthwiseS16(_) => bits |= k::DEPTHWISE_S16,
                Step::FullyConnectedS16(_) => bits |= k::FULLY_CONNECTED_S16,
                Step::AddS16(_) => bits |= k::ADD_S16,
                Step::MulS16(_) => bits |= k::MUL_S16,
                Step::SoftmaxS16(_) => bits |= k::SOFTMAX_S16,
                Step::LogisticS16(_) => bits |= k::LOGISTIC_S16,
                Step::TanhS16(_) => bits |= k::TANH_S16,
                Step::AveragePoolS16(_) | Step::MaxPoolS16(_) => bits |= k::POOL_S16,
                Step::PiecewiseS16(_) => bits |= k::PIECEWISE_S16,
                Step::Block(b) => {
                    bits |= k::BLOCK;
                    let first = b.first_stage as usize;
                    let mut input = b.input.shape;
                    for st in self.stages.iter().skip(first).take(b.stages as usize) {
                        stages.push((st, input, b.band));
                        input = st.output;
                    }
                    if let Residual::Projection { stage: i, .. } = b.residual {
                        if let Some(st) = self.stages.get(i as usize) {
                            stages.push((st, b.input.shape, b.band));
                        }
                    }
                    if let Residual::Identity { add, .. } | Residual::Projection { add, .. } =
                        b.residual
                    {
                        bits |= k::RESIDUAL;
                        if sel::add_covers(&add, false) {
                            // The block builds the tables once per run.
                            shortcut_tables = true;
                        } else {
                            // One call per band of output rows, the last
                            // maybe shorter.
                            let (h, band) = (b.output.shape.h, b.band.max(1));
                            let row = b.output.shape.w as usize * b.output.shape.c as usize;
                            adds.push((add, row * band.min(h) as usize));
                            adds.push((add, row * (h % band) as usize));
                        }
                    }
                }
            }
        }
        for (st, input, band) in stages {
            // A fused block calls its stages once per band of output rows.
            let mut output = st.output;
            output.h = output.h.min(band.max(1));
            match st.op {
                StageOp::Conv(p) => calls.push(Call {
                    p,
                    input,
                    output,
                    prepared: prepared(&st.tables, st.output.c),
                    calls: st.output.h.div_ceil(output.h.max(1)) as u64,
                    tables: st.tables,
                }),
                StageOp::Depthwise(p) => {
                    bits |= k::DEPTHWISE;
                    depthwise.push((p, output));
                }
            }
        }
        // Which kernel each convolution reaches, as the runtime decides.
        let depthwise_like =
            |c: &Call| c.p.groups > 1 && c.p.groups == c.input.c && c.input.c == c.output.c;
        if !calls.is_empty() {
            bits |= k::CONV;
        }
        if calls.iter().any(depthwise_like) {
            bits |= k::CONV_DEPTHWISE_LIKE;
        }
        let dw_like_linked = bits & k::CONV_DEPTHWISE_LIKE != 0;
        let takes_depthwise_like = |c: &Call| {
            dw_like_linked
                && ConvKernel::select(&c.p) != ConvKernel::Pointwise
                && sel::depthwise_like_covers(&c.p, c.input, c.output)
        };
        let columns = |c: &Call, allowed: u8| {
            sel::columns_block(&c.p, c.input, c.output, c.prepared, allowed)
        };
        // One block size where the layers allow it (each is a routine of
        // about 4.5 KB): the one the fewest instructions need (per call and
        // output channel and chunk of four taps, `sel::block_cost`, what
        // `sel::block_order` ranks by); both only where some layer fits
        // one and another layer only the other.
        let mut forced = 0;
        let mut cost = [0u64; 2];
        for c in calls.iter().filter(|c| !takes_depthwise_like(c)) {
            let fits = [blocks::FOUR, blocks::FIVE].map(|b| columns(c, b).is_some());
            match fits {
                [true, true] => {
                    let pixels = c.output.h as usize * c.output.w as usize;
                    let chunks = (c.p.window.kh as u64 * c.p.window.kw as u64 * c.input.c as u64
                        / c.p.groups.max(1) as u64)
                        .div_ceil(4);
                    for (i, pix) in [4, 5].into_iter().enumerate() {
                        cost[i] += c.calls
                            * sel::block_cost(pixels, pix, false) as u64
                            * chunks
                            * c.output.c as u64;
                    }
                }
                [true, false] => forced |= blocks::FOUR,
                [false, true] => forced |= blocks::FIVE,
                [false, false] => {}
            }
        }
        let allowed = if forced != 0 {
            forced
        } else if cost == [0, 0] {
            0
        } else if cost[1] < cost[0] {
            blocks::FIVE
        } else {
            blocks::FOUR
        };
        bits |= if allowed & blocks::FOUR != 0 {
            k::CONV_BLOCK4
        } else {
            0
        } | if allowed & blocks::FIVE != 0 {
            k::CONV_BLOCK5
        } else {
            0
        };
        // Windows past the columns kernel's, in slices; what neither takes,
        // the portable loops.
        let helium = self.core == Some(DspCore::Helium);
        let wide = |c: &Call| {
            sel::columns_wide_covers(&c.p, c.input, c.output)
                || (helium && sel::helium_wide_covers(&c.p, c.input, c.output))
        };
        let unblocked = |c: &&Call| !takes_depthwise_like(c) && columns(c, allowed).is_none();
        if calls.iter().filter(unblocked).any(wide) {
            bits |= k::CONV_WIDE;
        }
        if calls.iter().filter(unblocked).any(|c| !wide(c)) {
            bits |= k::CONV_FALLBACK;
        }
        // Channels outside the fast epilogue's bounds (its constants, as
        // the kernel derives them, have a zero multiplier).
        let model = self.model();
        let slow = |c: &Call| {
            let oc = c.output.c as usize;
            let taps = c.p.window.kh as usize * c.p.window.kw as usize * c.input.c as usize
                / c.p.groups.max(1) as usize;
            let mut words = vec![0i32; prepared::conv_len(oc)];
            // The step index only labels errors; the tables were checked
            // when the blob was written.
            match model.weights(0, &c.tables) {
                Ok(w) => {
                    let (zi, zo) = (c.p.quant.input_zero_point, c.p.quant.output_zero_point);
                    prepared::prepare_conv(&w, oc, taps, zi, zo, &mut words).is_none()
                        || words.chunks_exact(4).any(|q| q[1] == 0)
                }
                Err(_) => true,
            }
        };
        if calls
            .iter()
            .any(|c| !takes_depthwise_like(c) && columns(c, allowed).is_some() && slow(c))
        {
            bits |= k::EXACT_CONV;
        }
        // The narrow pointwise kernel (about 1.7 KB) where its layers hold
        // at least 1/32 of the convolutions' multiply-accumulates: ResNet-8's
        // two 1x1 shortcuts over 16 and 32 channels (2 %) would gain 13k of
        // its 15 M instructions; AttoNets, whose 1x1 layers over 4 to 16
        // channels are most of their work, gain 8 to 10 %.
        let macs = |c: &Call| {
            c.calls
                * c.output.len() as u64
                * (c.p.window.kh as u64 * c.p.window.kw as u64)
                * (c.input.c / c.p.groups.max(1)) as u64
        };
        // (On a Helium core its convolution takes these layers first: they
        // do not count, and a Cortex-M55 does not link code it never runs.)
        let covered = |f: fn(&ConvParams, Shape, Shape) -> bool| -> u64 {
            calls
                .iter()
                .filter(|c| {
                    !takes_depthwise_like(c)
                        && f(&c.p, c.input, c.output)
                        && !(helium && sel::helium_conv_covers(&c.p, c.input, c.output))
                })
                .map(macs)
                .sum()
        };
        let all: u64 = calls.iter().map(macs).sum();
        let narrow = covered(sel::pointwise_narrow_covers);
        if narrow > 0 && narrow * 32 >= all {
            bits |= k::CONV_NARROW;
        }
        // Its windows gathered per pixel (about 2.5 KB more) where they hold
        // at least 1/64: a 1-channel 3x3 stem runs at 3.0 instead of 4.4
        // instructions a MAC, `person_detect`'s (2.3 % of its MACs) saving
        // 2.9 % of its instructions, the detector's (3.5 %) 2.5 %.
        let window = covered(sel::narrow_window_covers);
        if window > 0 && window * 64 >= all {
            bits |= k::CONV_WINDOW;
        }
        let narrow_covers = |c: &Call| {
            (bits & k::CONV_NARROW != 0 && sel::pointwise_narrow_covers(&c.p, c.input, c.output))
                || (bits & k::CONV_WINDOW != 0
                    && sel::narrow_window_covers(&c.p, c.input, c.output))
        };
        // The columns kernel's tail routine where it saves at least 1/32 of
        // the kernel's multiply loops (`sel::block_cost` without and with
        // it, over the layers the kernel takes): rows of 6 and 3 pixels
        // (MobileNets at 96x96) in blocks of four; not ResNet-8's rows of
        // 32, which blocks of four fill.
        let (mut whole, mut saved) = (0u64, 0u64);
        for c in calls
            .iter()
            .filter(|c| !takes_depthwise_like(c) && !narrow_covers(c))
        {
            let (Some(pix), Some(pix_tail)) =
                (columns(c, allowed), columns(c, allowed | blocks::TAIL))
            else {
                continue;
            };
            let pixels = c.output.h as usize * c.output.w as usize;
            let per = c.calls
                * (c.p.window.kh as u64 * c.p.window.kw as u64 * c.input.c as u64
                    / c.p.groups.max(1) as u64)
                    .div_ceil(4)
                * c.output.c as u64;
            let before = per * sel::block_cost(pixels, pix, false) as u64;
            let after = per * sel::block_cost(pixels, pix_tail, true) as u64;
            whole += before;
            saved += before.saturating_sub(after);
        }
        if saved > 0 && saved * 32 >= whole {
            bits |= k::CONV_TAIL;
        }
        // The grouped kernel, where a grouped layer reaches it: a Helium
        // core tries its vector convolution first. One-group layers it
        // covers (narrow stems) take it where it is linked, but do not link
        // it alone: about 5 KB of code for a stem's 1 % of a model
        // (person_detect's 96x96 stem, 870k -> 735k of 14.4 M).
        if calls.iter().any(|c| {
            !takes_depthwise_like(c)
                && c.p.groups > 1
                && sel::grouped_narrow_covers(&c.p, c.input, c.output)
                && !(helium && sel::helium_conv_covers(&c.p, c.input, c.output))
        }) {
            bits |= k::CONV_GROUPED;
        }
        // The RISC-V narrow pointwise kernel (depthwise-like layers have
        // 3x3 windows: it never takes them).
        if calls
            .iter()
            .any(|c| attonet_runtime::ops::pointwise::riscv_narrow_covers(&c.p, c.input, c.output))
        {
            bits |= k::CONV_NARROW_RISCV;
        }
        // The DSP ADD's ways: the tables for fused blocks' shortcuts (built
        // once per run) and for calls from its table size on; per element
        // for shorter calls; the portable loop where neither covers a call.
        adds.retain(|&(_, n)| n > 0);
        let direct = adds
            .iter()
            .any(|(p, n)| *n < sel::ADD_MIN_LEN && sel::add_covers(p, true));
        if shortcut_tables {
            bits |= k::SHORTCUT_TABLES;
        }
        let tables = adds.iter().any(|(p, n)| {
            (*n >= sel::ADD_MIN_LEN || !sel::add_covers(p, true)) && sel::add_covers(p, false)
        });
        bits |= if direct { k::ADD_DIRECT } else { 0 } | if tables { k::ADD_TABLES } else { 0 };
        if adds
            .iter()
            .any(|(p, n)| sel::add_way(p, *n, tables, direct).is_none())
        {
            bits |= k::ADD_FALLBACK;
        }
        if depthwise
            .iter()
            .any(|(p, out)| !sel::depthwise_covers(p, *out))
        {
            bits |= k::DEPTHWISE_FALLBACK;
        }
        let names = k::NAMED
            .iter()
            .copied()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| n)
            .collect();
        (bits, names)
    }

    /// The input's shape as the kernels see it.
    pub fn input_shape(&self) -> Shape {
        self.program.values[self.program.input()].shape
    }
}

/// The filter, bias, multiplier and shift tables of `t`, read back from the
/// blob.
struct PlainTables {
    filter: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl PlainTables {
    fn read(blob: &[u8], t: &ConvTables) -> Result<PlainTables> {
        let bytes = |t: Table, size: usize| -> Result<&[u8]> {
            blob.get(t.offset as usize..t.offset as usize + t.len as usize * size)
                .ok_or_else(|| ConvertError::Graph("a table outside the blob".into()))
        };
        let i32s = |t: Table| -> Result<Vec<i32>> {
            Ok(bytes(t, 4)?
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        Ok(PlainTables {
            filter: bytes(t.filter, 1)?.iter().map(|&b| b as i8).collect(),
            bias: i32s(t.bias)?,
            multiplier: i32s(t.multiplier)?,
            shift: i32s(t.shift)?,
        })
    }

    fn weights(&self) -> ConvWeights<'_> {
        ConvWeights {
            filter: &self.filter,
            bias: &self.bias,
            multiplier: &self.multiplier,
            shift: &self.shift,
        }
    }
}

/// The prepared table of a convolution with output `output`: for `core`
/// Helium, where its convolution takes the layer, the Helium table
/// ([`attonet_runtime::prepared::prepare_conv_mve`]), otherwise the DSP
/// kernels' ([`attonet_runtime::prepared::prepare_conv`]); `None` for one
/// the kernels run as depthwise (one input and one output channel per
/// group).
fn conv_table(
    blob: &[u8],
    p: &ConvParams,
    output: Shape,
    t: &ConvTables,
    core: Option<DspCore>,
) -> Result<Option<Vec<i32>>> {
    let oc = output.c as usize;
    let taps = t.filter.len as usize / oc.max(1);
    let window = p.window.kh as usize * p.window.kw as usize;
    let (zi, zo) = (p.quant.input_zero_point, p.quant.output_zero_point);
    let depthwise_like = p.groups as usize == oc && taps == window && oc > 1;
    if depthwise_like
        && core == Some(DspCore::Helium)
        && attonet_runtime::dsp_select::helium_dw_covers(p, output, output)
    {
        // The Helium depthwise kernel's table (channel-major weights).
        let plain = PlainTables::read(blob, t)?;
        let mut words = vec![0i32; prepared::dw3_mve_len(oc)];
        let done = prepared::prepare_dw3_mve(
            DwLayout::ChannelMajor,
            &plain.weights(),
            oc,
            zi,
            zo,
            &mut words,
        );
        return Ok(done.map(|()| words));
    }
    if oc == 0 || depthwise_like {
        return Ok(None);
    }
    let plain = PlainTables::read(blob, t)?;
    // The Helium convolution's own table where it takes the layer (the
    // input's height and width do not matter to it).
    let in_c = (taps / window.max(1)) * p.groups as usize;
    let input = Shape::new(1, 1, u16::try_from(in_c).unwrap_or(0));
    if core == Some(DspCore::Helium)
        && (attonet_runtime::dsp_select::helium_conv_covers(p, input, output)
            || attonet_runtime::dsp_select::helium_wide_covers(p, input, output))
    {
        let mut words = vec![0i32; prepared::conv_mve_len(oc)];
        let done = prepared::prepare_conv_mve(&plain.weights(), oc, taps, zi, zo, &mut words);
        return Ok(done.map(|()| words));
    }
    let mut words = vec![0i32; prepared::conv_len(oc)];
    let done = prepared::prepare_conv(&plain.weights(), oc, taps, zi, zo, &mut words);
    Ok(done.map(|()| words))
}

/// The prepared table of a depthwise layer with `channels` input channels:
/// for `core` Helium, where its depthwise kernel takes the layer, the
/// Helium table ([`attonet_runtime::prepared::prepare_dw3_mve`]), otherwise
/// the DSP kernels' ([`attonet_runtime::prepared::prepare_dw3`]); `None`
/// where the layer does not qualify.
fn dw3_table(
    blob: &[u8],
    p: &DepthwiseParams,
    channels: u16,
    t: &ConvTables,
    core: Option<DspCore>,
) -> Result<Option<Vec<i32>>> {
    let w = &p.window;
    let zi = p.quant.input_zero_point;
    let c = channels as usize;
    let shape = Shape::new(1, 1, channels);
    let as_conv = ConvParams {
        window: p.window,
        groups: channels,
        quant: p.quant,
    };
    if p.depth_multiplier == 1
        && core == Some(DspCore::Helium)
        && attonet_runtime::dsp_select::helium_dw_covers(&as_conv, shape, shape)
    {
        // The Helium depthwise kernel's table.
        let plain = PlainTables::read(blob, t)?;
        let mut words = vec![0i32; prepared::dw3_mve_len(c)];
        let zo = p.quant.output_zero_point;
        let done =
            prepared::prepare_dw3_mve(DwLayout::TapMajor, &plain.weights(), c, zi, zo, &mut words);
        return Ok(done.map(|()| words));
    }
    if p.depth_multiplier != 1
        || !prepared::dw3_applies(w.kh, w.kw, (w.dilation_h, w.dilation_w), zi, c)
    {
        return Ok(None);
    }
    let plain = PlainTables::read(blob, t)?;
    let weights = plain.weights();
    let mut words = vec![0i32; prepared::dw3_len(c)];
    let done = prepared::prepare_dw3(
        DwLayout::TapMajor,
        &weights,
        c,
        zi,
        p.quant.output_zero_point,
        &mut words,
    );
    Ok(done.map(|()| words))
}
