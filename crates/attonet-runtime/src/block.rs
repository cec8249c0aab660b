//! Fused blocks: a chain of convolutions, optionally closed by a residual
//! ADD, run row by row so that its intermediate tensors never exist whole.
//!
//! A ResNet basic block (3x3, 3x3, shortcut, ADD) or an AttoNet module
//! (pointwise compression, grouped 3x3, mix, expand, shortcut, ADD) run as
//! separate steps needs its input, every intermediate and its output in the
//! arena at once. Run as one [`BlockStep`], each intermediate lives in a
//! *window* of a few rows (as many as the next convolution's kernel is tall),
//! the last convolution produces one output row at a time into a row buffer,
//! the shortcut (the block input itself, or a strided 1x1 "projection" of it)
//! is added to that row, and the row is copied to its place in the output.
//!
//! # Schedule
//! Output row `r` is produced after every row it depends on; a stage computes
//! its rows lazily, in increasing order, each exactly once, the moment a
//! consumer needs them, and a window drops rows no consumer needs again. The
//! rows each stage has computed after output row `r` therefore follow from
//! the geometry alone ([`BlockStep::input_floor`]), which is what lets the
//! converter place the output *over* the input: output row `r` may overwrite
//! input rows no later step of the schedule reads. The executor checks this
//! for every row it writes and refuses ([`Error::Overlap`]) a plan that
//! breaks it.
//!
//! # Bit-exactness
//! Every stage is computed by the same kernel, with the same tables, as the
//! unfused op; a band of rows is an ordinary call whose input is the band's
//! rows and whose top padding is shifted so that every output pixel sees
//! exactly the taps it would see in the whole tensor (taps outside the band
//! are outside the tensor). The ADD is the same elementwise kernel. So a
//! fused block's output equals, bit for bit, the unfused steps' output.

use crate::error::{Error, Result};
use crate::ops::add::{AddParams, ResidualAdd};
use crate::ops::depthwise::{self, DepthwiseParams};
use crate::ops::{self, ConvParams, Shape, Window};
use crate::plan::kernels::KernelSet;
use crate::plan::{kernels, ConvTables, Model, Slot};

/// Convolutions in one block's chain at most.
pub const MAX_STAGES: usize = 4;

/// The operation of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum StageOp {
    /// A convolution (pointwise, grouped 3x3 or general).
    Conv(ConvParams),
    /// A depthwise convolution.
    Depthwise(DepthwiseParams),
}

impl StageOp {
    /// The op's window (kernel, stride, dilation, padding).
    pub const fn window(&self) -> Window {
        match self {
            StageOp::Conv(p) => p.window,
            StageOp::Depthwise(p) => p.window,
        }
    }
}

/// One convolution of a fused block (in [`Model::stages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Stage {
    /// What the stage computes.
    pub op: StageOp,
    /// Its weights and requantization tables.
    pub tables: ConvTables,
    /// The stage's whole output shape (the rows it produces over the block).
    pub output: Shape,
    /// Arena offset of the stage's window of output rows (unused, 0, for the
    /// last stage of a chain and for a projection).
    pub window: u32,
    /// Rows the window holds (0 where unused).
    pub window_rows: u16,
}

impl Stage {
    fn row_bytes(&self) -> usize {
        self.output.w as usize * self.output.c as usize
    }

    fn window_slot(&self) -> Slot {
        Slot {
            offset: self.window,
            shape: Shape::new(self.window_rows, self.output.w, self.output.c),
        }
    }
}

/// How a block ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Residual {
    /// No shortcut: the block is the chain alone.
    Absent,
    /// `ADD(chain, input)`; `chain_first` says whether the chain's output is
    /// the ADD's first input.
    Identity {
        /// The ADD's quantization.
        add: AddParams,
        /// Whether the chain output is input 1 of the ADD.
        chain_first: bool,
    },
    /// `ADD(chain, projection(input))` with a pointwise (usually strided)
    /// convolution `stage` (an index in [`Model::stages`]).
    Projection {
        /// Index of the projection's [`Stage`] in [`Model::stages`].
        stage: u16,
        /// The ADD's quantization.
        add: AddParams,
        /// Whether the chain output is input 1 of the ADD.
        chain_first: bool,
    },
}

/// A fused block (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BlockStep {
    /// The block input.
    pub input: Slot,
    /// Index of the chain's first [`Stage`] in [`Model::stages`].
    pub first_stage: u16,
    /// Number of stages in the chain (1 to [`MAX_STAGES`]).
    pub stages: u8,
    /// The shortcut.
    pub residual: Residual,
    /// Output rows computed per pass (at least 1): every stage computes up
    /// to this many rows per kernel call. More rows per call cost arena
    /// (taller windows and row buffers) and save the kernels' per-call work.
    pub band: u16,
    /// Arena offset of the row buffer: `band` output rows, then (for a
    /// projection) as many again at the next multiple of 4.
    pub row: u32,
    /// The block output; may overlap the input (see [`BlockStep::input_floor`]).
    pub output: Slot,
}

/// Input rows `[a, b)` that output rows `[r0, r1)` of a window over an input
/// of `in_h` rows read.
pub const fn rows_needed(w: &Window, in_h: u16, r0: u16, r1: u16) -> (u16, u16) {
    let s = w.stride_h as i32;
    let span = (w.kh as i32 - 1) * w.dilation_h as i32 + 1;
    let a = r0 as i32 * s - w.pad_top as i32;
    let b = (r1 as i32 - 1) * s - w.pad_top as i32 + span;
    let h = in_h as i32;
    let a = if a < 0 {
        0
    } else if a > h {
        h
    } else {
        a
    };
    let b = if b < a {
        a
    } else if b > h {
        h
    } else {
        b
    };
    (a as u16, b as u16)
}

/// Rows a window must hold so its consumer can compute `band` rows at once.
pub const fn window_rows_for(consumer: &Window, in_h: u16, band: u16) -> u16 {
    let span = (consumer.kh as u32 - 1) * consumer.dilation_h as u32 + 1;
    let band = if band == 0 { 1 } else { band as u32 };
    let rows = (band - 1) * consumer.stride_h as u32 + span;
    if rows < in_h as u32 {
        rows as u16
    } else {
        in_h
    }
}

impl BlockStep {
    /// The chain's stages, or a [`Error::Blob`] naming the step.
    pub fn chain<'s>(&self, step: u16, stages: &'s [Stage]) -> Result<&'s [Stage]> {
        let first = self.first_stage as usize;
        let n = self.stages as usize;
        if n == 0 || n > MAX_STAGES {
            return Err(Error::Blob {
                step,
                what: "block stage count",
            });
        }
        stages.get(first..first + n).ok_or(Error::Blob {
            step,
            what: "block stages",
        })
    }

    /// The projection stage, if the residual has one.
    pub fn projection<'s>(&self, step: u16, stages: &'s [Stage]) -> Result<Option<&'s Stage>> {
        match self.residual {
            Residual::Projection { stage, .. } => {
                stages.get(stage as usize).map(Some).ok_or(Error::Blob {
                    step,
                    what: "block projection stage",
                })
            }
            _ => Ok(None),
        }
    }

    /// Checks that no band of output rows is written over input rows the
    /// schedule still reads ([`input_floor`](Self::input_floor)):
    /// [`Error::Overlap`] names the step otherwise. Part of
    /// [`Model::validate`](crate::plan::Model::validate) and of the block
    /// checks before a run ([`kernels::BLOCK_CHECKS`]).
    pub fn check_bands(&self, step: u16, chain: &[Stage], projection: Option<&Stage>) -> Result {
        let out = &self.output;
        let out_row = out.shape.w as usize * out.shape.c as usize;
        let in_row = self.input.shape.w as usize * self.input.shape.c as usize;
        let band = self.band.max(1);
        let mut r0 = 0;
        while r0 < out.shape.h {
            let r1 = out.shape.h.min(r0.saturating_add(band));
            let floor = self.input_floor(chain, projection, r1 - 1);
            let dst = out.offset as usize + r0 as usize * out_row;
            let dst_end = dst + (r1 - r0) as usize * out_row;
            let live_start = self.input.offset as usize + floor as usize * in_row;
            if live_start < self.input.end() && dst < self.input.end() && dst_end > live_start {
                return Err(Error::Overlap { step });
            }
            r0 = r1;
        }
        Ok(())
    }

    /// The first input row that the schedule may still read once output row
    /// `r` has been computed (the input's height if none). Output rows are
    /// written a band at a time, after the band's last row is computed: the
    /// converter may place a band over input rows above the floor of its
    /// last row.
    pub fn input_floor(&self, chain: &[Stage], projection: Option<&Stage>, r: u16) -> u16 {
        let in_h = self.input.shape.h;
        let Some(last) = chain.len().checked_sub(1) else {
            return 0;
        };
        // Highest row of each stage computed by the time output row r is done.
        let mut hi = r;
        let mut k = last;
        while k > 0 {
            let (_, b) = rows_needed(&chain[k].op.window(), chain[k - 1].output.h, hi, hi + 1);
            hi = b.saturating_sub(1);
            k -= 1;
        }
        let next0 = hi + 1;
        let mut floor = if next0 < chain[0].output.h {
            rows_needed(&chain[0].op.window(), in_h, next0, next0 + 1).0
        } else {
            in_h
        };
        let next = r + 1;
        if next < self.output.shape.h {
            let res = match (self.residual, projection) {
                (Residual::Identity { .. }, _) => next,
                (Residual::Projection { .. }, Some(p)) => {
                    rows_needed(&p.op.window(), in_h, next, next + 1).0
                }
                _ => in_h,
            };
            floor = floor.min(res);
        }
        floor
    }
}

/// Per-stage window state: the first row held and how many.
struct Windows {
    lo: [u16; MAX_STAGES],
    len: [u16; MAX_STAGES],
}

struct Ctx<'m, 'a, const K: KernelSet> {
    model: &'m Model<'a>,
    step: u16,
    block: &'m BlockStep,
    chain: &'m [Stage],
}

impl<const K: KernelSet> Ctx<'_, '_, K> {
    fn in_shape(&self, k: usize) -> Shape {
        if k == 0 {
            self.block.input.shape
        } else {
            self.chain[k - 1].output
        }
    }

    /// Runs `stage` for its output rows `[r0, r1)`, reading input rows
    /// `[a, b)` stored contiguously at `in_offset`, writing at `out_offset`.
    #[allow(clippy::too_many_arguments)]
    fn band(
        &self,
        arena: &mut [i8],
        stage: &Stage,
        in_shape: Shape,
        in_offset: usize,
        (a, b): (u16, u16),
        (r0, r1): (u16, u16),
        out_offset: usize,
    ) -> Result {
        let mut w = stage.op.window();
        let pad = w.pad_top as i32 + a as i32 - r0 as i32 * w.stride_h as i32;
        w.pad_top = u8::try_from(pad).map_err(|_| Error::Parameter("fused block band padding"))?;
        if b <= a {
            return Err(Error::Shape("fused block row without input rows"));
        }
        let in_slot = Slot {
            offset: in_offset as u32,
            shape: Shape::new(b - a, in_shape.w, in_shape.c),
        };
        let out_slot = Slot {
            offset: out_offset as u32,
            shape: Shape::new(r1 - r0, stage.output.w, stage.output.c),
        };
        let weights = self.model.weights(self.step, &stage.tables)?;
        let sums = self
            .model
            .i32_table(self.step, "weight_sums", stage.tables.weight_sums)?;
        let prepared = self
            .model
            .i32_table(self.step, "prepared", stage.tables.prepared)?;
        let (input, output) = crate::plan::regions(self.step, arena, &in_slot, &out_slot)?;
        match stage.op {
            StageOp::Conv(mut p) if K & kernels::CONV != 0 => {
                p.window = w;
                ops::convolve_linked::<K>(
                    &p,
                    in_slot.shape,
                    input,
                    &weights,
                    sums,
                    prepared,
                    true,
                    out_slot.shape,
                    output,
                )
            }
            StageOp::Depthwise(mut p) if K & kernels::DEPTHWISE != 0 => {
                p.window = w;
                depthwise::depthwise_run::<K>(
                    &p,
                    in_slot.shape,
                    input,
                    &weights,
                    prepared,
                    true,
                    out_slot.shape,
                    output,
                )
            }
            _ => Err(Error::Parameter(
                "the stage's kernel is not in this build's kernel set (Model::dispatch)",
            )),
        }
    }

    /// Where input rows `[a, b)` of stage `k` live: the block input, or
    /// stage `k - 1`'s window after it has been brought up to date.
    fn source(
        &self,
        arena: &mut [i8],
        win: &mut Windows,
        k: usize,
        a: u16,
        b: u16,
    ) -> Result<usize> {
        let shape = self.in_shape(k);
        let row = shape.w as usize * shape.c as usize;
        if k == 0 {
            Ok(self.block.input.offset as usize + a as usize * row)
        } else {
            self.fill(arena, win, k - 1, a, b)?;
            let prev = &self.chain[k - 1];
            Ok(prev.window as usize + (a - win.lo[k - 1]) as usize * row)
        }
    }

    /// Brings stage `k`'s window to hold its rows `[a, b)`.
    fn fill(&self, arena: &mut [i8], win: &mut Windows, k: usize, a: u16, b: u16) -> Result {
        let stage = &self.chain[k];
        let row = stage.row_bytes();
        let (lo, len) = (win.lo[k], win.len[k]);
        if a > lo {
            let drop = (a - lo).min(len);
            let keep = len - drop;
            if keep > 0 {
                let slot = stage.window_slot();
                let w = arena.get_mut(slot.offset as usize..slot.end()).ok_or(
                    Error::ArenaTooSmall {
                        needed: slot.end(),
                        given: 0,
                    },
                )?;
                shift_down(w, drop as usize * row, keep as usize * row);
            }
            win.lo[k] = a;
            win.len[k] = keep;
        }
        if b - win.lo[k] > stage.window_rows {
            return Err(Error::Shape("fused block window too small"));
        }
        // At most `band` rows per call: the previous stage's window holds
        // the input rows of that many, not more.
        let in_shape = self.in_shape(k);
        let mut r = win.lo[k] + win.len[k];
        while r < b {
            let r1 = b.min(r.saturating_add(self.block.band.max(1)));
            let rows = rows_needed(&stage.op.window(), in_shape.h, r, r1);
            let src = self.source(arena, win, k, rows.0, rows.1)?;
            let dst = stage.window as usize + (r - win.lo[k]) as usize * row;
            self.band(arena, stage, in_shape, src, rows, (r, r1), dst)?;
            win.len[k] = r1 - win.lo[k];
            r = r1;
        }
        Ok(())
    }
}

/// Moves `w[d..d + n]` to `w[..n]` (`d > 0`) by copies of at most `d`
/// bytes, none of which overlaps itself: `copy_within` would link a
/// memmove of 1.5 KB into the firmware for this alone.
fn shift_down(w: &mut [i8], d: usize, n: usize) {
    let mut off = 0;
    while off < n && d > 0 {
        let len = d.min(n - off);
        let Some((dst, src)) = w.split_at_mut_checked(off + d) else {
            return;
        };
        if let (Some(dst), Some(src)) = (dst.get_mut(off..off + len), src.get(..len)) {
            crate::arch::copy::copy(dst, src);
        }
        off += len;
    }
}

/// Runs a fused block over `arena`.
pub(crate) fn run<const K: KernelSet>(
    model: &Model<'_>,
    step: u16,
    block: &BlockStep,
    arena: &mut [i8],
) -> Result {
    let chain = block.chain(step, model.stages)?;
    let projection = block.projection(step, model.stages)?;
    // The per-channel tables once for all rows (the kernels then check only
    // each call's shapes).
    for st in chain.iter().chain(projection) {
        let weights = model.weights(step, &st.tables)?;
        crate::ops::conv::check_channel_tables(&weights, st.output.c as usize)?;
    }
    let ctx = Ctx::<K> {
        model,
        step,
        block,
        chain,
    };
    match block.residual {
        Residual::Absent => rows(&ctx, arena, projection, None),
        Residual::Identity { add, chain_first }
        | Residual::Projection {
            add, chain_first, ..
        } => {
            if K & kernels::RESIDUAL == 0 {
                return Err(Error::Parameter(
                    "the block's shortcut ADD is not in this build's kernel set (Model::dispatch)",
                ));
            }
            with_shortcut(&ctx, arena, projection, &add, chain_first)
        }
    }
}

/// [`rows`] with the block's shortcut ADD prepared once for all bands (on
/// the DSP cores its tables: 2 KiB on this function's stack, during
/// residual blocks only). `chain_first`: the chain's output is the ADD's
/// first input.
#[inline(never)]
fn with_shortcut<const K: KernelSet>(
    ctx: &Ctx<'_, '_, K>,
    arena: &mut [i8],
    projection: Option<&Stage>,
    add: &AddParams,
    chain_first: bool,
) -> Result {
    let params = if chain_first {
        *add
    } else {
        crate::plan::swap_add_inputs(add)
    };
    let mut shortcut = ResidualAdd::new(&params);
    shortcut.prepare::<K>()?;
    rows(ctx, arena, projection, Some(&shortcut))
}

/// The block's output rows, a band at a time: the chain's last stage into
/// the row buffer, the shortcut added there (`shortcut`: the block's ADD,
/// `None` without one), the band copied to the output.
#[inline(never)]
fn rows<const K: KernelSet>(
    ctx: &Ctx<'_, '_, K>,
    arena: &mut [i8],
    projection: Option<&Stage>,
    shortcut: Option<&ResidualAdd>,
) -> Result {
    let (block, chain, step) = (ctx.block, ctx.chain, ctx.step);
    let last = chain.len() - 1;
    let out = block.output;
    let band = block.band.max(1);
    let out_row = out.shape.w as usize * out.shape.c as usize;
    let in_row = block.input.shape.w as usize * block.input.shape.c as usize;
    let mut win = Windows {
        lo: [0; MAX_STAGES],
        len: [0; MAX_STAGES],
    };
    let stage = &chain[last];
    let in_shape = ctx.in_shape(last);
    let mut r0 = 0;
    while r0 < out.shape.h {
        let r1 = out.shape.h.min(r0.saturating_add(band));
        let n = r1 - r0;
        let rows_slot = Slot {
            offset: block.row,
            shape: Shape::new(n, out.shape.w, out.shape.c),
        };
        let rows2 = Slot {
            offset: second_row(block.row, band as usize * out_row),
            shape: rows_slot.shape,
        };
        let rows = rows_needed(&stage.op.window(), in_shape.h, r0, r1);
        let src = ctx.source(arena, &mut win, last, rows.0, rows.1)?;
        ctx.band(
            arena,
            stage,
            in_shape,
            src,
            rows,
            (r0, r1),
            rows_slot.offset as usize,
        )?;
        match (block.residual, shortcut) {
            (_, None) | (Residual::Absent, _) => {}
            (Residual::Identity { .. }, Some(add)) => {
                let other = Slot {
                    offset: (block.input.offset as usize + r0 as usize * in_row) as u32,
                    shape: rows_slot.shape,
                };
                add_into_rows::<K>(step, arena, add, &rows_slot, &other)?;
            }
            (Residual::Projection { .. }, Some(add)) => {
                let p = projection.ok_or(Error::Blob {
                    step,
                    what: "block projection stage",
                })?;
                let prow = rows_needed(&p.op.window(), block.input.shape.h, r0, r1);
                let src = block.input.offset as usize + prow.0 as usize * in_row;
                ctx.band(
                    arena,
                    p,
                    block.input.shape,
                    src,
                    prow,
                    (r0, r1),
                    rows2.offset as usize,
                )?;
                add_into_rows::<K>(step, arena, add, &rows_slot, &rows2)?;
            }
        }
        // The rows' destination holds no input rows still to be read
        // (`BlockStep::check_bands`, in `Model::validate`).
        let dst = Slot {
            offset: (out.offset as usize + r0 as usize * out_row) as u32,
            shape: rows_slot.shape,
        };
        let (src, dst) = crate::plan::regions(step, arena, &rows_slot, &dst)?;
        crate::arch::copy::copy(dst, src);
        r0 = r1;
    }
    Ok(())
}

/// Arena offset of a block's second row buffer.
pub const fn second_row(row: u32, out_row_bytes: usize) -> u32 {
    ((row as usize + out_row_bytes).div_ceil(4) * 4) as u32
}

/// Bytes of a block's row buffers (`band` output rows of `out_row_bytes`,
/// twice with a projection).
pub const fn row_buffer_bytes(out_row_bytes: usize, band: u16, projection: bool) -> usize {
    let rows = out_row_bytes * if band == 0 { 1 } else { band as usize };
    if projection {
        second_row(0, rows) as usize + rows
    } else {
        rows
    }
}

fn add_into_rows<const K: KernelSet>(
    step: u16,
    arena: &mut [i8],
    add: &ResidualAdd,
    row: &Slot,
    other: &Slot,
) -> Result {
    let (acc, other) = crate::plan::regions_mut_ro(step, arena, row, other)?;
    add.in_place::<K>(acc, other)
}

#[cfg(test)]
mod tests {
    use super::shift_down;

    /// `shift_down` is `copy_within(d..d + n, 0)` for every distance and
    /// length, including distances shorter than the run (overlapping).
    /// Miri's quick pass stops at 20 bytes (past the word copies' edges).
    #[test]
    fn shift_down_matches_copy_within() {
        let longest = if crate::arch::test_cases::miri_quick() {
            20
        } else {
            40
        };
        for len in 1..longest {
            for d in 1..len {
                for n in 0..=len - d {
                    let init: [i8; 40] = core::array::from_fn(|i| i as i8);
                    let (mut a, mut b) = (init, init);
                    a[..len].copy_within(d..d + n, 0);
                    shift_down(&mut b[..len], d, n);
                    assert_eq!(a, b, "len {len} d {d} n {n}");
                }
            }
        }
    }
}
