//! The static memory plan: buffer lifetimes, in-place reuse and arena offsets.
//!
//! Every activation value gets a fixed arena offset. Values that share bytes
//! form one buffer: a RESHAPE's output shares its input's, and an ADD whose
//! first or second input is not read again writes its result over that input.
//! Buffers whose lifetimes overlap get disjoint byte ranges; placement is
//! first-fit over several orderings (largest first, as TensorFlow Lite Micro's
//! greedy planner does, and by first use), keeping the smallest arena.

use crate::program::{LayerOp, Program, ValueId};

/// Offsets are multiples of this many bytes (word access for DSP kernels).
pub const ALIGN: usize = 4;

/// The memory plan of a [`Program`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Arena offset of every value.
    pub offsets: Vec<u32>,
    /// Arena offset of each layer's scratch line (pointwise pairs), if any.
    pub scratch: Vec<Option<u32>>,
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

/// Plans the arena of `program`.
pub fn plan(program: &Program) -> MemoryPlan {
    let nv = program.values.len();
    let nl = program.layers.len();
    // Union of values into buffers.
    let mut root: Vec<ValueId> = (0..nv).collect();
    fn find(root: &mut [ValueId], v: ValueId) -> ValueId {
        let mut r = v;
        while root[r] != r {
            r = root[r];
        }
        root[v] = r;
        r
    }
    // Last layer that reads each value (the model output is read "after" the end).
    let mut last_use = vec![None::<usize>; nv];
    for (i, layer) in program.layers.iter().enumerate() {
        for &v in &layer.inputs {
            last_use[v] = Some(i);
        }
    }
    last_use[program.output] = Some(nl);
    for (i, layer) in program.layers.iter().enumerate() {
        match &layer.op {
            LayerOp::Reshape => {
                let r = find(&mut root, layer.inputs[0]);
                root[layer.output] = r;
            }
            LayerOp::Add(_) => {
                // In place over an input that dies here (its whole buffer).
                for &candidate in &layer.inputs {
                    let r = find(&mut root, candidate);
                    let group_last = (0..nv)
                        .filter(|&v| find(&mut root, v) == r)
                        .filter_map(|v| last_use[v])
                        .max();
                    let same_size =
                        program.values[candidate].bytes() == program.values[layer.output].bytes();
                    if group_last == Some(i) && same_size {
                        root[layer.output] = r;
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    // Lifetimes per buffer.
    let mut def = vec![None::<usize>; nv];
    for (i, layer) in program.layers.iter().enumerate() {
        def[layer.output] = Some(i);
    }
    def[program.input] = Some(0);
    let mut buffers: Vec<Option<Buffer>> = vec![None; nv];
    for v in 0..nv {
        let r = find(&mut root, v);
        let (Some(first), bytes) = (def[v], program.values[v].bytes()) else {
            continue; // a value nothing writes and that is not the input: unused
        };
        let last = last_use[v].unwrap_or(first);
        let b = buffers[r].get_or_insert(Buffer { bytes, first, last });
        b.bytes = b.bytes.max(bytes);
        b.first = b.first.min(first);
        b.last = b.last.max(last);
    }
    let mut items: Vec<(usize, Buffer)> = buffers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.clone().map(|b| (i, b)))
        .collect();
    // Scratch lines live for their one layer.
    let mut scratch_items = Vec::new();
    for (i, layer) in program.layers.iter().enumerate() {
        if let LayerOp::PointwisePair { mid_c, .. } = layer.op {
            scratch_items.push((
                nv + i,
                Buffer {
                    bytes: mid_c as usize,
                    first: i,
                    last: i,
                },
            ));
        }
    }
    items.extend(scratch_items);

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
    let mut offset_of = vec![0u32; nv + nl];
    for (id, off) in placed {
        offset_of[id] = off as u32;
    }
    let offsets = (0..nv).map(|v| offset_of[find(&mut root, v)]).collect();
    let scratch = program
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| matches!(l.op, LayerOp::PointwisePair { .. }).then(|| offset_of[nv + i]))
        .collect();
    MemoryPlan {
        offsets,
        scratch,
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
