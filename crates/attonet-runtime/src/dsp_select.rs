//! Which Cortex-M DSP kernel takes which layer, as plain functions compiled
//! on every target: the DSP kernels decide with them at run time, and the
//! converter with the same code at build time, so that a model's firmware
//! links only the kernels its layers reach ([`crate::plan::kernels`]).
//!
//! * A convolution (any window, groups, stride) goes to the columns kernel
//!   when its window of `kh * kw * in_c / groups` taps is at most
//!   [`CONV_MAX_K`], its input zero point is an `i8` and a block of output
//!   pixels fits the kernel's scratch ([`columns_block`]); a grouped one with
//!   one input and one output channel per group to the depthwise kernel
//!   first, where that kernel is linked ([`depthwise_covers`]).
//! * The columns kernel computes four or five output pixels at a time; the
//!   two are separate routines of about 4.5 KB each. A call's pixels left
//!   after its whole blocks (1 to 4) take a whole block into scratch, or,
//!   where the build links it ([`blocks::TAIL`], about 1.3 KB), a tail
//!   routine that reads and writes only those. A call takes the block that
//!   costs least ([`block_order`]) among those the build links and that
//!   fit, so a build that links only one block size computes the same bits,
//!   a little slower where the other would fit the pixel count better.
//! * An ADD goes through two 256-entry tables of each input's half (a fused
//!   block's shortcut builds them once per run; a single call from
//!   [`ADD_MIN_LEN`] elements on) or computes the halves per element (fewer
//!   elements, or where the build links only that way), when the output
//!   stage fits the fast epilogue ([`add_covers`]).
//! * Whether a block fits depends on the layer alone (window, output
//!   channels a group, whether the epilogue constants come prepared), never
//!   on how many pixels a call computes, so a fused block's row calls are
//!   covered exactly when the whole layer is.

use crate::ops::add::AddParams;
use crate::ops::depthwise::DepthwiseParams;
use crate::ops::{ConvParams, Shape, Window};
use crate::prepared::ChanQ;
use crate::quant::requantize_smaller_than_one;

/// Largest window (`kh * kw * in_c / groups`) the columns kernel takes: a
/// 3x3 window over 64 channels (its columns, four pixels of `2 * CONV_MAX_K`
/// bytes, fill most of the kernel's scratch, [`SCRATCH_BYTES`]).
pub const CONV_MAX_K: usize = 576;

/// Output channels of one batch at most (their outputs and constants share
/// the scratch with the columns).
pub const BATCH: usize = 64;

/// Bytes of the columns kernel's scratch: the columns (`8 * P * chunks`
/// bytes), then the batch's constants (16 bytes a channel), the byte window
/// and the padded last weight row where the layer needs them (`4 * chunks`
/// bytes each), the outputs of a last, partial block (`P` a channel). A 3x3
/// window over 64 channels takes 4608 bytes of columns (four pixels) and
/// leaves room for batches of 38 channels.
pub const SCRATCH_BYTES: usize = 4608 + 768;

/// Words of convolution scratch a call may take: the smallest that gives
/// the blocks and batches of the largest, [`SCRATCH_BYTES`] (1 KB: KWS's
/// 64-channel pointwise layers and its 10x4 stem with prepared constants;
/// 2 KB: the same without them), so that only what the layer needs is on
/// the stack.
pub const SCRATCH_TIERS: [usize; 3] = [256, 512, SCRATCH_BYTES / 4];

/// Words of widened depthwise weights on the stack (1152 bytes): a block of
/// `DW_WORDS / (2 * taps) * 4` channels (64 for a 3x3 window).
pub const DW_WORDS: usize = 288;

/// The columns kernel's pixel blocks, as bits of a set.
pub mod blocks {
    /// Four output pixels a block.
    pub const FOUR: u8 = 1;
    /// Five output pixels a block.
    pub const FIVE: u8 = 2;
    /// Both.
    pub const BOTH: u8 = FOUR | FIVE;
    /// A call's last, partial block through the tail routine, which reads
    /// and writes only its pixels (else a whole block is computed into the
    /// scratch and the pixels copied out).
    pub const TAIL: u8 = 4;

    /// The bit of a block of `pixels` pixels (4 or 5; 0 for anything else).
    pub const fn bit(pixels: usize) -> u8 {
        match pixels {
            4 => FOUR,
            5 => FIVE,
            _ => 0,
        }
    }
}

/// How the columns kernel splits its scratch for a layer (word offsets and
/// lengths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvPlan {
    /// Pixels a block (4 or 5).
    pub pix: usize,
    /// Channels per batch.
    pub batch: usize,
    /// The batch's constants (when computed per call).
    pub tab: usize,
    /// The byte window.
    pub window: usize,
    /// The padded last weight row.
    pub last: usize,
    /// The outputs of a partial block (without the tail routine).
    pub tail: usize,
    /// The layout's end: `tail` plus a block's outputs without the tail
    /// routine, `tail` with it.
    pub end: usize,
}

/// Instructions of the columns kernel's inner loop for one chunk of four
/// taps and one output channel over `pixels` pixels in blocks of `pix`: per
/// block two `SXTB16` of the weights, then per pixel one `LDRD` and two
/// `SMLAD`. A last, partial block costs a whole one, or with `tail` (the
/// tail routine, [`blocks::TAIL`]) its pixels' share and one more
/// instruction for its columns pointer, which it advances by the block's
/// stride.
pub const fn block_cost(pixels: usize, pix: usize, tail: bool) -> usize {
    let rest = pixels % pix;
    if tail {
        pixels / pix * (3 * pix + 2) + if rest > 0 { 3 * rest + 3 } else { 0 }
    } else {
        pixels.div_ceil(pix) * (3 * pix + 2)
    }
}

/// The block sizes in the order a call over `pixels` pixels tries them with
/// the blocks of `allowed`: the cheaper [`block_cost`] first (five on a tie
/// without the tail routine, four with it: fewer, smaller blocks).
pub fn block_order(pixels: usize, allowed: u8) -> [usize; 2] {
    let tail = allowed & blocks::TAIL != 0;
    let (five, four) = (block_cost(pixels, 5, tail), block_cost(pixels, 4, tail));
    if five < four || (five == four && !tail) {
        [5, 4]
    } else {
        [4, 5]
    }
}

/// Words of the byte window: `chunks` where channels per group are not a
/// multiple of 4 (the byte path), else none.
pub(crate) fn window_len(cpg: usize, chunks: usize) -> usize {
    if cpg % 4 != 0 {
        chunks
    } else {
        0
    }
}

/// The scratch layout of `words` words for a window of `k` taps (`cpg`
/// input channels a group), `ocpg` output channels a group and a call over
/// `pixels` pixels, with the blocks of `allowed` ([`blocks`]) in
/// [`block_order`]: the first that leaves room for a batch of at least 16
/// channels (or all of them; four is enough for a block of four); `consts`:
/// whether the batch's constants go there too (not when the converter
/// prepared them); without the tail routine a partial block's outputs too.
/// `None`: no allowed block fits.
pub(crate) fn conv_plan(
    k: usize,
    cpg: usize,
    ocpg: usize,
    pixels: usize,
    words: usize,
    consts: bool,
    allowed: u8,
) -> Option<ConvPlan> {
    let chunks = k.div_ceil(4);
    // Rows are read as `4 * chunks` bytes, and only the filter's last row
    // has a padded copy (`last`): a row of one byte would make the two rows
    // before it read past the filter's end too (found by Miri).
    if k == 1 {
        return None;
    }
    let window = if cpg % 4 != 0 { chunks } else { 0 };
    let last = if k % 4 != 0 { chunks } else { 0 };
    let tail_routine = allowed & blocks::TAIL != 0;
    for pix in block_order(pixels, allowed) {
        if allowed & blocks::bit(pix) == 0 {
            continue;
        }
        let cols = chunks * 2 * pix;
        let Some(room) = words.checked_sub(cols + window + last) else {
            continue;
        };
        // Per channel: 4 words of constants (when computed here) and,
        // without the tail routine, `pix` output bytes.
        let per = if consts { 4 * 4 } else { 0 } + if tail_routine { 0 } else { pix };
        let batch = (room * 4)
            .checked_div(per)
            .unwrap_or(BATCH)
            .min(BATCH)
            .min(ocpg);
        if batch >= ocpg.min(16) || (pix == 4 && batch >= 4) {
            let tab = cols;
            let window = tab + if consts { 4 * batch } else { 0 };
            let last = window + window_len(cpg, chunks);
            let tail = last + if k % 4 != 0 { chunks } else { 0 };
            let end = tail
                + if tail_routine {
                    0
                } else {
                    (pix * batch).div_ceil(4)
                };
            return Some(ConvPlan {
                pix,
                batch,
                tab,
                window,
                last,
                tail,
                end,
            });
        }
    }
    None
}

/// The block the columns kernel computes this convolution with, when it
/// takes it with the blocks of `allowed` ([`blocks`]) linked: `None` when it
/// does not. `prepared`: the layer's epilogue constants come from the
/// converter's table (`ConvTables::prepared` of the right length), which
/// leaves more of the scratch for the columns. `out_shape` is the shape of
/// one call (a fused block calls once per band of rows; the block chosen for
/// a whole layer fits every call).
pub fn columns_block(
    p: &ConvParams,
    in_shape: Shape,
    out_shape: Shape,
    prepared: bool,
    allowed: u8,
) -> Option<usize> {
    let (k, cpg) = columns_window(p, in_shape, out_shape)?;
    let pixels = out_shape.h as usize * out_shape.w as usize;
    let ocpg = out_shape.c as usize / p.groups as usize;
    conv_plan(k, cpg, ocpg, pixels, SCRATCH_BYTES / 4, !prepared, allowed).map(|plan| plan.pix)
}

/// The window (`k` taps, `cpg` input channels a group) of a convolution the
/// columns kernel may take: an `i8` input zero point, 1 to [`CONV_MAX_K`]
/// taps, a non-empty output; whether a block fits is [`conv_plan`]'s.
pub(crate) fn columns_window(
    p: &ConvParams,
    in_shape: Shape,
    out_shape: Shape,
) -> Option<(usize, usize)> {
    let groups = p.groups as usize;
    if groups == 0 || out_shape.h == 0 || out_shape.w == 0 || out_shape.c == 0 {
        return None;
    }
    let cpg = in_shape.c as usize / groups;
    let k = p.window.kh as usize * p.window.kw as usize * cpg;
    if !(-128..=127).contains(&p.quant.input_zero_point) || !(1..=CONV_MAX_K).contains(&k) {
        return None;
    }
    Some((k, cpg))
}

/// Whether the columns kernel takes a convolution whose window is wider
/// than [`CONV_MAX_K`] (`kh * kw * in_c / groups` taps: MobileNet's and wide
/// searched networks' 3x3 over more than 64 channels, 1x1 over more than
/// 576) in slices ([`wide_slices`]): any channels a group, an `i8` input
/// zero point, a non-empty output. Such a layer used to fall to the
/// portable loops at 4 to 7 instructions a MAC on the Cortex-M4.
pub fn columns_wide_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let g = p.groups as usize;
    if g == 0 || out_shape.h == 0 || out_shape.w == 0 || out_shape.c == 0 {
        return false;
    }
    let (ic, oc) = (in_shape.c as usize, out_shape.c as usize);
    if ic % g != 0 || oc % g != 0 {
        return false;
    }
    let cpg = ic / g;
    let k = p.window.kh as usize * p.window.kw as usize * cpg;
    k > CONV_MAX_K && (-128..=127).contains(&p.quant.input_zero_point)
}

/// How the wide columns kernel cuts a window of `k` taps: `(slices,
/// chunks)`, as few slices as [`CONV_MAX_K`] allows, of `chunks` chunks of
/// four taps each (the last one shorter where they do not divide evenly;
/// its last chunk rounded up past `k` where `k` is not a multiple of 4). Each slice is gathered and accumulated in turn into 32-bit
/// partial sums; the epilogue runs after the last.
pub const fn wide_slices(k: usize) -> (usize, usize) {
    let chunks = k.div_ceil(4);
    let slices = chunks.div_ceil(CONV_MAX_K / 4);
    if slices == 0 {
        return (0, 0);
    }
    (slices, chunks.div_ceil(slices))
}

/// Output channels of one batch of the wide columns kernel: what its scratch
/// ([`SCRATCH_BYTES`]) holds beside one slice's columns of four pixels,
/// four partial sums a channel and, unless `prepared`, the channel's four
/// epilogue constants; at most [`BATCH`] and `ocpg`.
pub const fn wide_batch(k: usize, ocpg: usize, prepared: bool) -> usize {
    let (_, chunks) = wide_slices(k);
    let room = SCRATCH_BYTES / 4 - 8 * chunks;
    let per = if prepared { 4 } else { 8 };
    let b = room / per;
    let b = if b < BATCH { b } else { BATCH };
    if b < ocpg {
        b
    } else {
        ocpg
    }
}

/// Most input channels (taps) the narrow pointwise kernel takes.
pub const NARROW_MAX_K: usize = 16;

/// Whether the narrow pointwise kernel takes a convolution: 1x1, one group,
/// no padding, any stride, 4, 8, 12 or 16 input channels, any number of
/// output channels, an `i8` input zero point (and, at run time, every
/// channel on the fast epilogue; else the columns kernel takes it). Its
/// per-output cost (one entry `LDM`ed, `2 * in_c / 4` `SMLAD`s, the
/// epilogue) beats the columns kernel's blocks of pixels on every such
/// layer measured (Cortex-M4, `tests/qemu-kernels`: 8 -> 12 channels 1.98
/// against 3.45 instructions a MAC, 12 -> 24 1.62 against 2.33, 16 -> 32
/// 1.57 against 1.85).
pub fn pointwise_narrow_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let (k, w) = (in_shape.c as usize, &p.window);
    w.kh == 1
        && w.kw == 1
        && p.groups == 1
        && w.pad_top == 0
        && w.pad_left == 0
        && k % 4 == 0
        && (4..=NARROW_MAX_K).contains(&k)
        && out_shape.c >= 1
        && (-128..=127).contains(&p.quant.input_zero_point)
}

/// Whether the narrow pointwise kernel takes a convolution through windows
/// gathered per pixel: one group, a window of more than one pixel and of
/// `kh * kw * in_c` of 2 to [`NARROW_MAX_K`] taps, any stride, dilation and
/// padding, an `i8` input zero point (1-channel 3x3 stems: 9 MACs an
/// output, which the grouped kernel runs at 4.4 instructions a MAC on the
/// Cortex-M4, this way at 3.0). Not 1x1s: those over channels that are not
/// a multiple of 4 run faster in the columns kernel than gathered (AttoNet
/// modules' 1x1s over 6 or 10 channels, called a row at a time in a fused
/// block: 1.5 % more instructions for AttoNet-D gathered).
pub fn narrow_window_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    let k = w.kh as usize * w.kw as usize * in_shape.c as usize;
    p.groups == 1
        && (2..=NARROW_MAX_K).contains(&k)
        && w.kh as usize * w.kw as usize > 1
        && out_shape.h > 0
        && out_shape.w > 0
        && out_shape.c >= 1
        && w.stride_h >= 1
        && w.stride_w >= 1
        && w.dilation_h >= 1
        && w.dilation_w >= 1
        && (-128..=127).contains(&p.quant.input_zero_point)
}

/// Largest window (`kh * kw * in_c / groups` bytes) the Helium (MVE)
/// convolution takes.
pub const MVE_MAX_K: usize = 576;

/// Whether the Helium (MVE) convolution of the Cortex-M55 and M85 takes a
/// convolution: any window, stride, dilation and padding whose window of
/// `kh * kw * in_c / groups` bytes is at most [`MVE_MAX_K`], an `i8` input
/// zero point, and one group or groups of at least 16 input times output
/// channels (fewer, e.g. depthwise-like layers, gather a window per group
/// and output channel: the DSP kernels are faster there). Those cores try
/// it before their DSP kernels.
pub fn helium_conv_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    helium_window(p, in_shape, out_shape).is_some_and(|k| (1..=MVE_MAX_K).contains(&k))
}

/// Whether the Helium (MVE) convolution takes a window wider than
/// [`MVE_MAX_K`] bytes in slices ([`helium_wide_slices`]; the kernel set's
/// [`CONV_WIDE`](crate::plan::kernels::CONV_WIDE)): the rest of
/// [`helium_conv_covers`]' rule, one group or groups of at least 16 input
/// times output channels, an `i8` input zero point, a non-empty output.
pub fn helium_wide_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    helium_window(p, in_shape, out_shape).is_some_and(|k| k > MVE_MAX_K)
}

/// The window length (`kh * kw * in_c / groups` bytes) of a convolution the
/// Helium kernels may take whatever its length: one group or groups of at
/// least 16 input times output channels, an `i8` input zero point, a
/// non-empty output.
fn helium_window(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> Option<usize> {
    let w = &p.window;
    let g = p.groups as usize;
    let ic = in_shape.c as usize;
    if g == 0 || ic % g != 0 || out_shape.c as usize % g != 0 {
        return None;
    }
    let (cpg, ocpg) = (ic / g, out_shape.c as usize / g);
    let ok = (g == 1 || cpg * ocpg >= 16)
        && (-128..=127).contains(&p.quant.input_zero_point)
        && out_shape.c > 0
        && out_shape.h > 0
        && out_shape.w > 0;
    ok.then_some(w.kh as usize * w.kw as usize * cpg)
}

/// How the Helium wide convolution cuts a window of `k` bytes: `(slices,
/// len)`, as few slices as [`MVE_MAX_K`] allows, each `len` bytes (a
/// multiple of 16, the vector loop's step) but the last, which is shorter
/// where they do not divide evenly.
pub const fn helium_wide_slices(k: usize) -> (usize, usize) {
    let slices = k.div_ceil(MVE_MAX_K);
    if slices == 0 {
        return (0, 0);
    }
    (slices, k.div_ceil(slices).div_ceil(16) * 16)
}

/// Whether the Helium (MVE) narrow pointwise kernel takes a convolution
/// (within [`helium_conv_covers`], which it is part of): 1x1, stride 1, no
/// padding, one group, 4, 8 or 12 input channels, output channels a
/// multiple of four, an `i8` input zero point. Per pixel a vector of four
/// output channels takes one input byte at a time (`VMLA` by a scalar):
/// the columns kernel's 16-byte `VMLADAVA` would be mostly empty there.
pub fn helium_narrow_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    let oc = out_shape.c as usize;
    w.kh == 1
        && w.kw == 1
        && w.stride_h == 1
        && w.stride_w == 1
        && w.pad_top == 0
        && w.pad_left == 0
        && p.groups == 1
        && matches!(in_shape.c, 4 | 8 | 12)
        && oc >= 4
        && oc % 4 == 0
        && in_shape.h == out_shape.h
        && in_shape.w == out_shape.w
        && out_shape.h > 0
        && out_shape.w > 0
        && (-128..=127).contains(&p.quant.input_zero_point)
}

/// Whether the Helium (MVE) depthwise 3x3 takes a depthwise convolution
/// (depth multiplier 1, or a grouped one with one input and one output
/// channel a group): 3x3, any stride, any dilation down the rows and none
/// across them, channels a multiple of four (at least four: below, the
/// DSP kernels are not faster either), an `i8` input zero point.
pub fn helium_dw_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let w = &p.window;
    let c = in_shape.c as usize;
    w.kh == 3
        && w.kw == 3
        && w.dilation_w == 1
        && w.stride_w >= 1
        && w.stride_h >= 1
        && w.dilation_h >= 1
        && c >= 4
        && c % 4 == 0
        && out_shape.c == in_shape.c
        && (-128..=127).contains(&p.quant.input_zero_point)
        && out_shape.h > 0
        && out_shape.w > 0
}

/// Words of the grouped kernel's widened input rows on the stack (1 KB,
/// the kernel's only buffer): `kh` rows of a tile of output columns
/// ([`grouped_tile`]; a 3x3 window over 3 channels a group takes rows of 56
/// output columns at once, over 8 channels 17).
pub const GROUPED_RING_WORDS: usize = 256;

/// Input (and output) channels a group the grouped kernel takes at most;
/// wider groups amortize the columns kernel's gather.
pub const GROUPED_MAX_CPG: usize = 8;

/// Words of one widened input row of a tile of `tile` output columns:
/// the tile's input columns (`(tile - 1) * stride + kw`) of `cpg` halfwords,
/// rounded up to words (and one spare halfword).
pub const fn grouped_row_words(tile: usize, stride: usize, kw: usize, cpg: usize) -> usize {
    (((tile - 1) * stride + kw) * cpg + 1).div_ceil(2)
}

/// Output columns the grouped kernel computes per widened row: `ow` where
/// its `kh` rows fit [`GROUPED_RING_WORDS`], else the most that fit rounded
/// down to a multiple of 4 (the kernel's pixel block) where that leaves any
/// (0: not even one column fits).
pub const fn grouped_tile(ow: usize, kh: usize, stride: usize, kw: usize, cpg: usize) -> usize {
    if ow == 0 || kh == 0 || cpg == 0 {
        return 0;
    }
    let per_row = GROUPED_RING_WORDS / kh;
    // ((t - 1) * s + kw) * cpg + 1 <= 2 * per_row
    let halfwords = 2 * per_row;
    if kw * cpg + 1 > halfwords {
        return 0;
    }
    let t = (halfwords - 1 - kw * cpg) / (stride * cpg) + 1;
    if t >= ow {
        ow
    } else if t >= 4 {
        t / 4 * 4
    } else {
        t
    }
}

/// Whether the grouped kernel takes a convolution: groups of 1 to
/// [`GROUPED_MAX_CPG`] input and output channels (one group only where its
/// channels are not whole chunks of four, which the columns kernel would
/// gather byte by byte: stems over 1 to 3 channels), a window of at most
/// 3x3 without dilation, any padding and stride, an `i8` input zero point,
/// a non-empty output (and, at run time, every channel on the fast
/// epilogue; else the columns kernel takes it). AttoNet's grouped 3x3
/// convolutions (4 groups of 2 to 8 channels) and narrow stems.
///
/// Measured on the Cortex-M4 (`tests/qemu-kernels`, instructions a MAC,
/// this kernel against the columns kernel): 4 groups of 3 channels at
/// stride 2, 4.22 against 9.30; a 1-channel 3x3 stem at stride 2, 4.43
/// against 5.24; a 3-channel one, 2.41 against 2.50.
pub fn grouped_narrow_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    let (g, w) = (p.groups as usize, &p.window);
    if g < 1 || in_shape.c as usize % g != 0 || out_shape.c as usize % g != 0 {
        return false;
    }
    let (cpg, ocpg) = (in_shape.c as usize / g, out_shape.c as usize / g);
    // One group of whole chunks: the columns kernel widens its windows
    // straight from the input, and wins (a 3x3 8 -> 8: 1.55 instructions a
    // MAC against 1.73).
    if g == 1 && cpg % 4 == 0 {
        return false;
    }
    let (kh, kw) = (w.kh as usize, w.kw as usize);
    grouped_window_covers(w, cpg, ocpg)
        && out_shape.h > 0
        && out_shape.w > 0
        && grouped_tile(out_shape.w as usize, kh, w.stride_w as usize, kw, cpg) > 0
        && (-128..=127).contains(&p.quant.input_zero_point)
}

/// The window and channel half of [`grouped_narrow_covers`] (what the
/// converter knows before shapes: `attonet_convert`'s `dense_groups` pass
/// leaves these layers grouped).
pub fn grouped_window_covers(w: &Window, cpg: usize, ocpg: usize) -> bool {
    let (kh, kw) = (w.kh as usize, w.kw as usize);
    // (A window of one tap, which the columns kernel declines too, is the
    // portable kernel's: every layer this kernel takes the columns kernel
    // also covers, so `conv_fast_path` and the converter's fallback rule
    // need not know it.)
    (1..=GROUPED_MAX_CPG).contains(&cpg)
        && kh * kw * cpg >= 2
        && (1..=GROUPED_MAX_CPG).contains(&ocpg)
        && (1..=3).contains(&kh)
        && (1..=3).contains(&kw)
        && w.dilation_h == 1
        && w.dilation_w == 1
        && w.stride_h >= 1
        && w.stride_w >= 1
}

/// Whether the columns kernel computes a grouped convolution (`taps`
/// window positions, `cpg` input and `ocpg` output channels a group)
/// faster as the dense convolution with zero weights outside each group
/// (the same bits, `groups` times the MACs; `attonet_convert`'s
/// `passes::dense_groups` rewrites it so for DSP targets). Measured on the
/// Cortex-M4 (AttoNet-D, `bench-qemu --layers`): a grouped layer costs
/// about `1.1 + 60 / (cpg * ocpg)` instructions a MAC (its gather and
/// per-group calls amortized over few channels: 9.3 for 3 x 3 channels a
/// group, 2.8 for 7 x 7), the dense one about 1.2 a dense MAC, but more
/// in a fused block's row calls: rewritten only where the dense layer is
/// estimated at 1.4 a dense MAC and still wins (AttoNet-A's 4 groups of 4
/// channels: 4.69 against 4.57 alone, a loss in its fused block); the dense
/// window must fit the kernel ([`CONV_MAX_K`]), and a depthwise-like
/// layer (one channel in and out a group) has its own kernel. On the DSP
/// cores the grouped kernel ([`grouped_window_covers`]) beats both where it
/// applies, and the converter asks this only for the other layers (and for
/// Helium cores).
pub fn dense_groups_pays(taps: usize, cpg: usize, ocpg: usize, groups: usize) -> bool {
    let (cpg, ocpg, groups) = (cpg as u64, ocpg as u64, groups as u64);
    groups > 1
        && cpg > 0
        && ocpg > 0
        && !(cpg == 1 && ocpg == 1)
        && (taps as u64 * cpg * groups) <= CONV_MAX_K as u64
        && 14 * groups * cpg * ocpg < 11 * cpg * ocpg + 600
}

/// Whether a Helium core computes a grouped convolution faster dense (the
/// block-diagonal weights through the columns kernel): where the dense
/// window (`taps * cpg * groups` bytes) stays within [`MVE_MAX_K`] and the
/// layer is not depthwise-like. The columns kernel per group gathers every
/// pixel's window and runs an epilogue per output channel for 3 to 7
/// channels at a time; dense, one gather serves every channel and a
/// 16-byte `VMLADAVA` is full (AttoNet-D's 8x8 3x3 over 4 groups of 7
/// channels measured 1.37 instructions a real MAC grouped).
pub fn helium_dense_groups_pays(taps: usize, cpg: usize, ocpg: usize, groups: usize) -> bool {
    groups > 1
        && cpg > 0
        && ocpg > 0
        && !(cpg == 1 && ocpg == 1)
        && taps * cpg * groups <= MVE_MAX_K
}

/// Whether the depthwise kernel takes a grouped convolution with one input
/// and one output channel per group (`groups == in_c == out_c`).
pub fn depthwise_like_covers(p: &ConvParams, in_shape: Shape, out_shape: Shape) -> bool {
    p.groups == in_shape.c && in_shape.c == out_shape.c && dw_covers(p, out_shape)
}

/// Whether the depthwise kernel takes a DEPTHWISE_CONV_2D (depth
/// multiplier 1).
pub fn depthwise_covers(p: &DepthwiseParams, out_shape: Shape) -> bool {
    let dp = ConvParams {
        window: p.window,
        groups: 1,
        quant: p.quant,
    };
    p.depth_multiplier == 1 && dw_covers(&dp, out_shape)
}

/// What the depthwise kernels take: a zero point with `x - zp` in a
/// halfword lane, at most `DW_WORDS / 8` taps, a non-empty output.
pub(crate) fn dw_covers(p: &ConvParams, out_shape: Shape) -> bool {
    let taps = p.window.kh as usize * p.window.kw as usize;
    (-32_640..=32_640).contains(&p.quant.input_zero_point)
        && (1..=DW_WORDS / 8).contains(&taps)
        && out_shape.h > 0
        && out_shape.w > 0
        && out_shape.c > 0
}

/// Fewest elements for which the DSP ADD builds its tables where it links
/// both ways (512 entries, about 5,500 instructions on the Cortex-M4);
/// below, computing both halves of every element (about 17 instructions
/// more an element than a table lookup) is cheaper. (A fused block's
/// shortcut builds the tables once for all its bands, whatever their
/// length.)
pub const ADD_MIN_LEN: usize = 320;

/// Whether one SMMLAR computes an ADD input's half exactly for every byte:
/// `(x - zp) << left_shift` below 2^30 in magnitude, a multiplier other
/// than `i32::MIN`, a shift in `-31..=0`.
pub(crate) fn add_half_quick(zp: i32, m: i32, shift: i32, left_shift: i32) -> bool {
    ((128 + (zp as i64).abs()) << left_shift) < 1 << 30
        && m != i32::MIN
        && (-31..=0).contains(&shift)
}

/// The largest `|half|` of one ADD input over every byte.
fn add_half_max(zp: i32, m: i32, shift: i32, left_shift: i32) -> i64 {
    let scale = 1i32 << left_shift;
    (-128i32..=127)
        .map(|v| {
            (requantize_smaller_than_one(v.wrapping_sub(zp).wrapping_mul(scale), m, shift) as i64)
                .abs()
        })
        .max()
        .unwrap_or(0)
}

/// Whether the DSP ADD takes `p` through its tables (`direct == false`) or
/// per element (`direct`): the output stage of the largest sum within the
/// fast epilogue's bounds, and per element both halves quick as well. The
/// kernels decide the same with their own arithmetic (tested equal).
pub fn add_covers(p: &AddParams, direct: bool) -> bool {
    let ls = p.left_shift;
    if !(0..=30).contains(&ls) {
        return false;
    }
    let halves = [
        (p.input1_zero_point, p.input1_multiplier, p.input1_shift),
        (p.input2_zero_point, p.input2_multiplier, p.input2_shift),
    ];
    if direct && !halves.iter().all(|&(z, m, s)| add_half_quick(z, m, s, ls)) {
        return false;
    }
    let max: i64 = halves
        .iter()
        .map(|&(z, m, s)| add_half_max(z, m, s, ls))
        .sum();
    ChanQ::new(
        0,
        p.output_multiplier,
        p.output_shift,
        p.output_zero_point,
        max,
    )
    .is_some()
}

/// Which way an ADD of `n` elements takes with the ways of `tables` and
/// `direct` linked: per element first where only that way is linked or `n`
/// is under [`ADD_MIN_LEN`]; the tables where that way does not cover it.
/// `None`: neither covers it (the portable loop's).
pub fn add_way(p: &AddParams, n: usize, tables: bool, direct: bool) -> Option<bool> {
    if direct && (!tables || n < ADD_MIN_LEN) && add_covers(p, true) {
        return Some(true);
    }
    (tables && add_covers(p, false)).then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wide window is cut into slices of whole chunks of at most
    /// `CONV_MAX_K` taps that cover it exactly, and a batch always fits.
    #[test]
    fn wide_slices_cover_the_window() {
        for k in CONV_MAX_K + 1..=9 * 1024 {
            let (slices, chunks) = wide_slices(k);
            assert!(4 * chunks <= CONV_MAX_K, "k {k}");
            assert!(
                4 * slices * chunks >= k && 4 * (slices - 1) * chunks < k,
                "k {k}"
            );
            for prepared in [false, true] {
                assert!(wide_batch(k, 1024, prepared) >= 24, "k {k}");
            }
        }
    }

    /// The Helium slices: whole 16-byte chunks but the last, at most
    /// `MVE_MAX_K` bytes, none empty, covering the window exactly.
    #[test]
    fn helium_wide_slices_cover_the_window() {
        for k in MVE_MAX_K + 1..=16 * 1024 {
            let (slices, len) = helium_wide_slices(k);
            assert!(len <= MVE_MAX_K && len % 16 == 0, "k {k}");
            assert!(slices * len >= k && (slices - 1) * len < k, "k {k}");
        }
    }

    /// The column kernel reads each filter row as whole words; with a row of
    /// one byte the rows before the last would pass the filter's end, so no
    /// plan is made (the portable kernel runs it). Two and three bytes a row
    /// overrun only through the last row, which `last` pads.
    #[test]
    fn no_column_plan_for_one_byte_rows() {
        assert_eq!(conv_plan(1, 1, 64, 256, 4096, true, u8::MAX), None);
        for k in [2, 3, 4, 9, 27] {
            let plan = conv_plan(k, k, 64, 256, 4096, true, u8::MAX).unwrap();
            assert!(plan.tail > plan.last || k % 4 == 0, "k {k}: {plan:?}");
        }
    }
}
