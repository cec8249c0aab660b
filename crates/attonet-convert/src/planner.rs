//! The static memory plan: buffer lifetimes, in-place reuse and arena offsets.
//!
//! Every activation value gets a fixed arena offset. Values that share bytes
//! form one buffer: a RESHAPE's output shares its input's, an ADD whose
//! first or second input is not read again writes its result over that input
//! (so does an element-wise lookup over its input),
//! and a fused block whose input is not read again writes its output rows
//! over input rows it has finished with (starting [`block_lag`] bytes before
//! the input). A fused block's scratch (row windows and row buffers) lives
//! for its one layer, like a pointwise pair's line.
//! Buffers whose lifetimes overlap get disjoint byte ranges; placement is
//! first-fit over several orderings (largest first, as TensorFlow Lite Micro's
//! greedy planner does, and by first use), keeping the smallest arena.

use attonet_runtime::block::{row_buffer_bytes, window_rows_for};
use attonet_runtime::ops::Shape;
use attonet_runtime::plan::{BlockStep, ConvTables, Residual, Slot, Stage, Table};

use crate::program::{ArenaUse, BlockResidual, BlockStage, LayerOp, Program, ValueId};

/// Offsets are multiples of this many bytes (word access for DSP kernels).
pub const ALIGN: usize = 4;

/// The memory plan of a [`Program`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Arena offset of every value.
    pub offsets: Vec<u32>,
    /// Arena offset of each layer's scratch (a pointwise pair's line, a fused
    /// block's windows and row buffers), if any.
    pub scratch: Vec<Option<u32>>,
    /// Arena offset of each layer's state (an SVDF's memory), if any: bytes
    /// no other buffer ever shares, kept from one run to the next.
    pub state: Vec<Option<u32>>,
    /// Rows per pass of each layer (a fused block's [`BlockStep::band`]; 1
    /// elsewhere).
    pub bands: Vec<u16>,
    /// Bytes of arena the plan needs.
    pub arena_bytes: u32,
}

#[derive(Debug, Clone)]
struct Buffer {
    bytes: usize,
    first: usize,
    last: usize,
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Value groups sharing one buffer: a parent and a byte offset relative to it.
struct Groups {
    parent: Vec<ValueId>,
    delta: Vec<i64>,
}

impl Groups {
    /// The group's root and `v`'s offset relative to it.
    fn find(&self, v: ValueId) -> (ValueId, i64) {
        let (mut r, mut d) = (v, 0);
        while self.parent[r] != r {
            d += self.delta[r];
            r = self.parent[r];
        }
        (r, d)
    }

    /// Puts `v` (a root) into `target`'s group at `offset` bytes from `target`.
    fn join(&mut self, v: ValueId, target: ValueId, offset: i64) {
        let (r, d) = self.find(target);
        self.parent[v] = r;
        self.delta[v] = d + offset;
    }
}

/// Bytes a fused block's output must start *before* its input so that every
/// output row lands on input rows the block no longer reads (0 when the
/// output can start where the input starts).
pub fn block_lag(program: &Program, layer: usize, band: u16) -> Option<usize> {
    let l = &program.layers[layer];
    let LayerOp::Block { stages, residual } = &l.op else {
        return None;
    };
    let x = &program.values[l.inputs[0]];
    let y = &program.values[l.output];
    let (step, chain, projection) = runtime_block(stages, residual, x.shape, y.shape, band);
    let in_row = x.shape.w as i64 * x.shape.c as i64;
    let out_row = y.shape.w as i64 * y.shape.c as i64;
    let mut lag = 0i64;
    // Output rows go out a band at a time, once the band's last row is done.
    let band = band.max(1);
    let mut r1 = 0u16;
    while r1 < y.shape.h {
        r1 = y.shape.h.min(r1.saturating_add(band));
        let floor = step.input_floor(&chain, projection.as_ref(), r1 - 1);
        if floor < x.shape.h {
            lag = lag.max(r1 as i64 * out_row - floor as i64 * in_row);
        }
    }
    Some(align(lag as usize))
}

/// The runtime's view of a block (offsets zero), for its schedule arithmetic.
pub(crate) fn runtime_block(
    stages: &[BlockStage],
    residual: &BlockResidual,
    input: Shape,
    output: Shape,
    band: u16,
) -> (BlockStep, Vec<Stage>, Option<Stage>) {
    let stage = |s: &BlockStage, window_rows| Stage {
        op: s.op,
        tables: ConvTables {
            filter: Table { offset: 0, len: 0 },
            bias: Table { offset: 0, len: 0 },
            multiplier: Table { offset: 0, len: 0 },
            shift: Table { offset: 0, len: 0 },
            weight_sums: Table { offset: 0, len: 0 },
            prepared: Table { offset: 0, len: 0 },
        },
        output: s.output,
        window: 0,
        window_rows,
    };
    let chain: Vec<Stage> = stages
        .iter()
        .enumerate()
        .map(|(k, s)| stage(s, block_window_rows(stages, k, band)))
        .collect();
    let (res, projection) = match residual {
        BlockResidual::Absent => (Residual::Absent, None),
        BlockResidual::Identity { add, chain_first } => (
            Residual::Identity {
                add: *add,
                chain_first: *chain_first,
            },
            None,
        ),
        BlockResidual::Projection {
            stage: p,
            add,
            chain_first,
        } => (
            Residual::Projection {
                stage: 0,
                add: *add,
                chain_first: *chain_first,
            },
            Some(stage(p, 0)),
        ),
    };
    let step = BlockStep {
        input: Slot {
            offset: 0,
            shape: input,
        },
        first_stage: 0,
        stages: stages.len() as u8,
        residual: res,
        band,
        row: 0,
        output: Slot {
            offset: 0,
            shape: output,
        },
    };
    (step, chain, projection)
}

/// Rows of stage `k`'s window (0 for the last stage, which writes rows
/// straight to the row buffer).
pub fn block_window_rows(stages: &[BlockStage], k: usize, band: u16) -> u16 {
    match stages.get(k + 1) {
        Some(next) => window_rows_for(&next.op.window(), stages[k].output.h, band),
        None => 0,
    }
}

/// Scratch of a fused block, in layout order: the windows of every stage but
/// the last (each at a multiple of [`ALIGN`]), then the row buffers.
/// Returns each window's offset relative to the scratch start, the row
/// buffers' offset and the total bytes.
pub fn block_scratch(
    stages: &[BlockStage],
    residual: &BlockResidual,
    band: u16,
) -> (Vec<usize>, usize, usize) {
    let mut at = 0;
    let mut windows = Vec::new();
    for (k, s) in stages.iter().enumerate() {
        let rows = block_window_rows(stages, k, band) as usize;
        windows.push(at);
        at = align(at + rows * s.output.w as usize * s.output.c as usize);
    }
    let out = stages
        .last()
        .map(|s| s.output)
        .unwrap_or(Shape::new(0, 0, 0));
    let out_row = out.w as usize * out.c as usize;
    let projection = matches!(residual, BlockResidual::Projection { .. });
    let rows = at;
    (
        windows,
        rows,
        rows + row_buffer_bytes(out_row, band, projection),
    )
}

/// How the planner trades arena for speed in fused blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bands {
    /// Each block computes as many rows per kernel call as fit without
    /// growing the arena past the one-row plan's (the default: speed that
    /// costs no RAM).
    #[default]
    Free,
    /// Every block computes this many rows per call (more RAM, fewer calls).
    Rows(u16),
    /// Rows per call grown block by block, a step at a time, for as long as
    /// the arena stays within this many bytes (at least the one-row plan's):
    /// the fastest plan that fits a RAM budget.
    Budget(u32),
}

/// Plans the arena of `program` with [`Bands::Free`].
pub fn plan(program: &Program) -> MemoryPlan {
    plan_with(program, Bands::Free)
}

/// Plans the arena of `program`, choosing each fused block's rows per pass
/// as `bands` says.
pub fn plan_with(program: &Program, bands: Bands) -> MemoryPlan {
    let blocks: Vec<usize> = (0..program.layers.len())
        .filter(|&i| matches!(program.layers[i].op, LayerOp::Block { .. }))
        .collect();
    let height = |i: usize| program.values[program.layers[i].output].shape.h.max(1);
    let mut band = vec![1u16; program.layers.len()];
    match bands {
        Bands::Rows(n) => {
            for &i in &blocks {
                band[i] = n.clamp(1, height(i));
            }
            plan_bands(program, &band)
        }
        Bands::Free | Bands::Budget(_) => {
            let mut best = plan_bands(program, &band);
            let budget = match bands {
                Bands::Budget(b) => b.max(best.arena_bytes),
                _ => best.arena_bytes,
            };
            // Round robin over the blocks, one more row at a time, so that
            // every block gains before any takes the whole budget.
            let mut open: Vec<usize> = blocks.clone();
            while !open.is_empty() {
                open.retain(|&i| {
                    if band[i] >= height(i) {
                        return false;
                    }
                    band[i] += 1;
                    let p = plan_bands(program, &band);
                    if p.arena_bytes > budget {
                        band[i] -= 1;
                        return false;
                    }
                    best = p.clone();
                    true
                });
            }
            best
        }
    }
}

/// Plans the arena of `program` with the given rows per pass of each layer
/// (used by fused blocks only).
fn plan_bands(program: &Program, band: &[u16]) -> MemoryPlan {
    let nv = program.values.len();
    let nl = program.layers.len();
    let mut groups = Groups {
        parent: (0..nv).collect(),
        delta: vec![0; nv],
    };
    // Last layer that reads each value (the model output is read "after" the end).
    let mut last_use = vec![None::<usize>; nv];
    for (i, layer) in program.layers.iter().enumerate() {
        for &v in &layer.inputs {
            last_use[v] = Some(i);
        }
    }
    for &v in &program.outputs {
        last_use[v] = Some(nl);
    }
    let group_last = |groups: &Groups, v: ValueId| {
        let r = groups.find(v).0;
        (0..nv)
            .filter(|&u| groups.find(u).0 == r)
            .filter_map(|u| last_use[u])
            .max()
    };
    for (i, layer) in program.layers.iter().enumerate() {
        match layer.op.arena_use() {
            ArenaUse::Alias => groups.join(layer.output, layer.inputs[0], 0),
            ArenaUse::InPlace => {
                // In place over an input that dies here (its whole buffer).
                for &candidate in &layer.inputs {
                    let same_size =
                        program.values[candidate].bytes() == program.values[layer.output].bytes();
                    if group_last(&groups, candidate) == Some(i) && same_size {
                        groups.join(layer.output, candidate, 0);
                        break;
                    }
                }
            }
            ArenaUse::Block => {
                // Output rows over input rows the block has finished reading.
                let x = layer.inputs[0];
                if group_last(&groups, x) == Some(i) && !program.is_output(layer.output) {
                    if let Some(lag) = block_lag(program, i, band[i]) {
                        groups.join(layer.output, x, -(lag as i64));
                    }
                }
            }
            ArenaUse::Separate | ArenaUse::Scratch(_) | ArenaUse::State(_) => {}
        }
    }
    // Lifetimes and extents per group.
    let mut def = vec![None::<usize>; nv];
    for (i, layer) in program.layers.iter().enumerate() {
        def[layer.output] = Some(i);
    }
    for &v in &program.inputs {
        def[v] = Some(0);
    }
    let mut buffers: Vec<Option<Buffer>> = vec![None; nv];
    let mut low = vec![0i64; nv];
    let mut high = vec![0i64; nv];
    for v in 0..nv {
        let (r, d) = groups.find(v);
        let (Some(first), bytes) = (def[v], program.values[v].bytes()) else {
            continue; // a value nothing writes and that is not the input: unused
        };
        let last = last_use[v].unwrap_or(first);
        if buffers[r].is_none() {
            low[r] = d;
            high[r] = d + bytes as i64;
        }
        low[r] = low[r].min(d);
        high[r] = high[r].max(d + bytes as i64);
        let b = buffers[r].get_or_insert(Buffer { bytes, first, last });
        b.bytes = (high[r] - low[r]) as usize;
        b.first = b.first.min(first);
        b.last = b.last.max(last);
    }
    let mut items: Vec<(usize, Buffer)> = buffers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.clone().map(|b| (i, b)))
        .collect();
    // Scratch lives for its one layer.
    let scratch_bytes = |i: usize, l: &LayerOp| match (l.arena_use(), l) {
        (ArenaUse::Scratch(bytes), _) => Some(bytes),
        (ArenaUse::Block, LayerOp::Block { stages, residual }) => {
            Some(block_scratch(stages, residual, band[i]).2)
        }
        _ => None,
    };
    // State lives through every layer and beyond: from one run to the next.
    let state_bytes = |l: &LayerOp| match l.arena_use() {
        ArenaUse::State(bytes) => Some(bytes),
        _ => None,
    };
    for (i, layer) in program.layers.iter().enumerate() {
        if let Some(bytes) = state_bytes(&layer.op) {
            items.push((
                nv + nl + i,
                Buffer {
                    bytes,
                    first: 0,
                    last: nl,
                },
            ));
        }
    }
    for (i, layer) in program.layers.iter().enumerate() {
        if let Some(bytes) = scratch_bytes(i, &layer.op) {
            items.push((
                nv + i,
                Buffer {
                    bytes,
                    first: i,
                    last: i,
                },
            ));
        }
    }
    type Order = fn(&(usize, Buffer), &(usize, Buffer)) -> std::cmp::Ordering;
    let orders: [Order; 3] = [
        |a, b| b.1.bytes.cmp(&a.1.bytes).then(a.1.first.cmp(&b.1.first)),
        |a, b| a.1.first.cmp(&b.1.first).then(b.1.bytes.cmp(&a.1.bytes)),
        |a, b| {
            let la = a.1.last - a.1.first;
            let lb = b.1.last - b.1.first;
            lb.cmp(&la).then(b.1.bytes.cmp(&a.1.bytes))
        },
    ];
    let mut best: Option<(usize, Vec<(usize, usize)>)> = None;
    for order in orders {
        let mut sorted = items.clone();
        sorted.sort_by(order);
        let placed = first_fit(&sorted);
        let size = placed
            .iter()
            .map(|&(id, off)| {
                off + sorted
                    .iter()
                    .find(|s| s.0 == id)
                    .map(|s| s.1.bytes)
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        if best.as_ref().is_none_or(|(b, _)| size < *b) {
            best = Some((size, placed));
        }
    }
    let (size, placed) = best.unwrap_or_default();
    let mut offset_of = vec![0u32; nv + 2 * nl];
    for (id, off) in placed {
        offset_of[id] = off as u32;
    }
    let offsets = (0..nv)
        .map(|v| {
            let (r, d) = groups.find(v);
            (offset_of[r] as i64 + d - low[r]) as u32
        })
        .collect();
    let scratch = program
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| scratch_bytes(i, &l.op).map(|_| offset_of[nv + i]))
        .collect();
    let state = program
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| state_bytes(&l.op).map(|_| offset_of[nv + nl + i]))
        .collect();
    MemoryPlan {
        offsets,
        scratch,
        state,
        bands: band.to_vec(),
        arena_bytes: align(size) as u32,
    }
}

/// First-fit placement in the given order: each buffer goes to the lowest
/// aligned offset that does not collide with an already placed buffer whose
/// lifetime overlaps.
fn first_fit(items: &[(usize, Buffer)]) -> Vec<(usize, usize)> {
    let mut placed: Vec<(usize, usize, &Buffer)> = Vec::new();
    for (id, b) in items {
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|(_, _, p)| p.first <= b.last && b.first <= p.last)
            .map(|&(_, off, p)| (off, off + p.bytes))
            .collect();
        conflicts.sort();
        let mut offset = 0;
        for (start, end) in conflicts {
            if offset + b.bytes <= start {
                break;
            }
            offset = offset.max(align(end));
        }
        placed.push((*id, offset, b));
    }
    placed.into_iter().map(|(id, off, _)| (id, off)).collect()
}
