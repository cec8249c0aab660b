//! The movement family: PAD, PADV2, MIRROR_PAD, TRANSPOSE, SLICE,
//! STRIDED_SLICE, SPACE_TO_DEPTH, DEPTH_TO_SPACE, RESIZE_NEAREST_NEIGHBOR and
//! RESIZE_BILINEAR (and the ONNX ops that map to them).
//!
//! Every op but the bilinear resize only moves bytes: [`gather`] describes
//! it as nested output axes, each a list of input offsets (`None` for
//! padding), computed exactly as TensorFlow Lite Micro's reference kernels
//! index (a mirror pad's `GetInputDimension`, a nearest resize's
//! `GetNearestNeighbor` in `f32`, a strided slice's clamped bounds, which the
//! front end resolves). The same description runs the float reference
//! ([`run`]) and becomes the runtime's strided gather ([`to_runtime`]:
//! affine axes become strides, adjacent ones merge, the innermost contiguous
//! axis becomes the run that is copied whole). The bilinear resize is TFLM's
//! integer kernel at run time ([`bilinear_params`]) and TFLite's float
//! formula in the reference ([`bilinear_f32`]).
//!
//! Quantization: the output keeps the input's scale and zero point (TFLite
//! does the same for all of them, bilinear included); the lowering refuses a
//! model whose tensors say otherwise.

use attonet_runtime::ops::movement::{BilinearParams, GatherParams, FILL, GATHER_DIMS};

use crate::ir::{MirrorMode, MoveFn};

/// A gather in the converter's form: output axes, outermost first; each
/// holds the input element offset of each of its positions, `None` where
/// the output is padding. The output is every combination, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// The axes.
    pub axes: Vec<Vec<Option<i64>>>,
}

impl Gather {
    /// Output elements.
    pub fn len(&self) -> usize {
        self.axes.iter().map(Vec::len).product()
    }

    /// Whether the output is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Row-major element strides of `dims`.
fn strides(dims: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; dims.len()];
    for d in (0..dims.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * dims[d + 1] as i64;
    }
    s
}

/// TFLM's `GetInputDimension` (mirror_pad.cc): the input index of padded
/// position `p` (offset 1 for REFLECT, 0 for SYMMETRIC).
fn mirror_index(p: i64, left: i64, n: i64, offset: i64) -> i64 {
    if p < left {
        let original = left + offset - 1;
        return original - p.min(original - offset);
    }
    let p = p - left;
    if p >= n {
        let p = p - n;
        let original = n - (1 + offset);
        return original - p.min(original);
    }
    p
}

fn nhwc(dims: &[usize], what: &str) -> Result<(usize, usize, usize), String> {
    match dims {
        [1, h, w, c] => Ok((*h, *w, *c)),
        _ => Err(format!(
            "{what} has shape {dims:?}; [1, height, width, channels] is required"
        )),
    }
}

/// The gather that computes `f` from an input of dimensions `in_dims` into
/// an output of `out_dims` (both as the graph gives them; checked).
pub fn gather(f: &MoveFn, in_dims: &[usize], out_dims: &[usize]) -> Result<Gather, String> {
    let st = strides(in_dims);
    let rank = in_dims.len();
    let axes: Vec<Vec<Option<i64>>> = match f {
        MoveFn::Pad { before, after, .. } | MoveFn::MirrorPad { before, after, .. } => {
            if before.len() != rank || after.len() != rank || out_dims.len() != rank {
                return Err(format!(
                    "{} paddings for an input of rank {rank} and an output of rank {}",
                    before.len(),
                    out_dims.len()
                ));
            }
            let mut axes = Vec::with_capacity(rank);
            for d in 0..rank {
                let n = in_dims[d];
                if out_dims[d] != n + before[d] + after[d] {
                    return Err(format!(
                        "output dimension {d} is {}, the input's {n} padded by {} and {} gives {}",
                        out_dims[d],
                        before[d],
                        after[d],
                        n + before[d] + after[d]
                    ));
                }
                let (b, n_i) = (before[d] as i64, n as i64);
                let mut axis = Vec::with_capacity(out_dims[d]);
                for p in 0..out_dims[d] as i64 {
                    let i = match f {
                        MoveFn::MirrorPad { mode, .. } => Some(match mode {
                            MirrorMode::Reflect => mirror_index(p, b, n_i, 1),
                            MirrorMode::Symmetric => mirror_index(p, b, n_i, 0),
                            MirrorMode::Edge => (p - b).clamp(0, n_i - 1),
                        }),
                        _ => Some(p - b).filter(|i| (0..n_i).contains(i)),
                    };
                    if let Some(i) = i {
                        if !(0..n_i).contains(&i) {
                            return Err(format!(
                                "padding {} and {} of axis {d} (size {n}) mirror outside the input",
                                before[d], after[d]
                            ));
                        }
                    }
                    axis.push(i.map(|i| i * st[d]));
                }
                axes.push(axis);
            }
            axes
        }
        MoveFn::Transpose { perm } => {
            let mut seen = vec![false; rank];
            if perm.len() != rank
                || perm
                    .iter()
                    .any(|&a| a >= rank || std::mem::replace(&mut seen[a], true))
            {
                return Err(format!(
                    "permutation {perm:?} does not fit an input of rank {rank}"
                ));
            }
            let want: Vec<usize> = perm.iter().map(|&a| in_dims[a]).collect();
            if want != out_dims {
                return Err(format!(
                    "output shape {out_dims:?}, the permutation {perm:?} of {in_dims:?} gives {want:?}"
                ));
            }
            perm.iter()
                .map(|&a| (0..in_dims[a] as i64).map(|i| Some(i * st[a])).collect())
                .collect()
        }
        MoveFn::Slice { start, step, count } => {
            if start.len() != rank || step.len() != rank || count.len() != rank {
                return Err(format!(
                    "a slice of {} axes for an input of rank {rank}",
                    start.len()
                ));
            }
            let mut axes = Vec::with_capacity(rank);
            for d in 0..rank {
                let n = in_dims[d] as i64;
                let (s, k, c) = (start[d] as i64, step[d], count[d] as i64);
                if c > 0 && (k == 0 || !(0..n).contains(&s) || !(0..n).contains(&(s + (c - 1) * k)))
                {
                    return Err(format!(
                        "axis {d} (size {n}): {c} elements from {s} in steps of {k} leave the input"
                    ));
                }
                axes.push((0..c).map(|i| Some((s + i * k) * st[d])).collect());
            }
            let n: usize = count.iter().product();
            if n != out_dims.iter().product::<usize>() {
                return Err(format!(
                    "the slice takes {count:?} elements, the output has shape {out_dims:?}"
                ));
            }
            axes
        }
        MoveFn::SpaceToDepth { block } => {
            let b = *block;
            let (h, w, c) = nhwc(in_dims, "the input")?;
            if b == 0 || h % b != 0 || w % b != 0 || out_dims != [1, h / b, w / b, c * b * b] {
                return Err(format!(
                    "block {b} does not take {in_dims:?} to {out_dims:?}"
                ));
            }
            let (w_, c_) = (w as i64, c as i64);
            let bi = b as i64;
            vec![
                (0..(h / b) as i64)
                    .map(|i| Some(i * bi * w_ * c_))
                    .collect(),
                (0..(w / b) as i64).map(|i| Some(i * bi * c_)).collect(),
                (0..bi).map(|i| Some(i * w_ * c_)).collect(),
                (0..bi).map(|i| Some(i * c_)).collect(),
                (0..c_).map(Some).collect(),
            ]
        }
        MoveFn::DepthToSpace { block, crd } => {
            let b = *block;
            let (h, w, c) = nhwc(in_dims, "the input")?;
            if b == 0 || c % (b * b) != 0 || out_dims != [1, h * b, w * b, c / (b * b)] {
                return Err(format!(
                    "block {b} does not take {in_dims:?} to {out_dims:?}"
                ));
            }
            let (w_, c_, bi) = (w as i64, c as i64, b as i64);
            let co = c_ / (bi * bi);
            // Input channel of output channel `k` at block position (i, j):
            // DCR (TFLite) `(i * b + j) * co + k`, CRD `k * b * b + i * b + j`.
            let (si, sj, sk) = if *crd {
                (bi, 1, bi * bi)
            } else {
                (bi * co, co, 1)
            };
            vec![
                (0..h as i64).map(|i| Some(i * w_ * c_)).collect(),
                (0..bi).map(|i| Some(i * si)).collect(),
                (0..w_).map(|i| Some(i * c_)).collect(),
                (0..bi).map(|j| Some(j * sj)).collect(),
                (0..co).map(|k| Some(k * sk)).collect(),
            ]
        }
        MoveFn::ResizeNearest { rows, cols } => {
            let (h, w, c) = nhwc(in_dims, "the input")?;
            if out_dims != [1, rows.len(), cols.len(), c] {
                return Err(format!(
                    "output shape {out_dims:?}, a {}x{} resize of {in_dims:?}",
                    rows.len(),
                    cols.len()
                ));
            }
            if rows.iter().any(|&r| r >= h) || cols.iter().any(|&x| x >= w) {
                return Err("a resize index lies outside the input".into());
            }
            let (w_, c_) = (w as i64, c as i64);
            vec![
                rows.iter().map(|&r| Some(r as i64 * w_ * c_)).collect(),
                cols.iter().map(|&x| Some(x as i64 * c_)).collect(),
                (0..c_).map(Some).collect(),
            ]
        }
        MoveFn::ResizeBilinear { .. } => {
            return Err("a bilinear resize is not a gather".into());
        }
    };
    let g = Gather { axes };
    if g.len() != out_dims.iter().product::<usize>() {
        return Err(format!(
            "the op gives {} elements, the output has shape {out_dims:?}",
            g.len()
        ));
    }
    Ok(g)
}

/// The parts of a SPLIT, SPLIT_V or UNPACK of an input of dimensions
/// `in_dims` along `axis` into consecutive pieces of `sizes` elements: each
/// part's slice (a [`MoveFn::Slice`], which [`gather`] turns into the copy)
/// and its output dimensions (without the axis when `squeeze`, UNPACK's).
/// Sizes that do not add up to the axis, an axis out of range or a squeeze
/// of parts wider than 1 are errors (TFLM's prepare refuses them too).
pub fn split_parts(
    in_dims: &[usize],
    axis: usize,
    sizes: &[usize],
    squeeze: bool,
) -> Result<Vec<(MoveFn, Vec<usize>)>, String> {
    let rank = in_dims.len();
    if axis >= rank {
        return Err(format!(
            "axis {axis} is out of range for an input of rank {rank}"
        ));
    }
    if sizes.is_empty() {
        return Err("no outputs".into());
    }
    let total = sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s));
    if total != Some(in_dims[axis]) {
        return Err(format!(
            "the sizes {sizes:?} do not add up to the input's {} elements along axis {axis} \
             (input {in_dims:?})",
            in_dims[axis]
        ));
    }
    if squeeze && sizes.iter().any(|&s| s != 1) {
        return Err(format!(
            "unpacking axis {axis} of {in_dims:?} into parts {sizes:?}"
        ));
    }
    let mut start = 0usize;
    let mut parts = Vec::with_capacity(sizes.len());
    for &size in sizes {
        let mut first = vec![0usize; rank];
        first[axis] = start;
        let mut count = in_dims.to_vec();
        count[axis] = size;
        let mut dims = count.clone();
        if squeeze {
            dims.remove(axis);
        }
        parts.push((
            MoveFn::Slice {
                start: first,
                step: vec![1; rank],
                count,
            },
            dims,
        ));
        start += size;
    }
    Ok(parts)
}

/// Runs a gather over `input` (the float reference, and the tests' oracle).
pub fn run<T: Copy>(g: &Gather, input: &[T], fill: T) -> Vec<T> {
    let mut out = Vec::with_capacity(g.len());
    if g.is_empty() {
        return out;
    }
    let mut idx = vec![0usize; g.axes.len()];
    loop {
        let mut src = Some(0i64);
        for (axis, &i) in g.axes.iter().zip(&idx) {
            src = src.zip(axis[i]).map(|(a, b)| a + b);
        }
        out.push(
            src.and_then(|s| input.get(usize::try_from(s).ok()?).copied())
                .unwrap_or(fill),
        );
        // Odometer, innermost axis fastest.
        let mut d = idx.len();
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < g.axes[d].len() {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// One axis on its way to the runtime form.
enum Axis {
    /// `i * stride` (the first offset already moved into the base).
    Affine {
        count: usize,
        stride: i64,
    },
    Table(Vec<Option<i64>>),
}

/// The runtime's strided gather for `g`, writing `fill` into padding: its
/// parameters and the four dimensions' tables (empty where a stride does).
pub fn to_runtime(g: &Gather, fill: i8) -> Result<(GatherParams, [Vec<i32>; GATHER_DIMS]), String> {
    let mut base = 0i64;
    let mut axes: Vec<Axis> = Vec::new();
    for a in &g.axes {
        let affine = a.iter().all(Option::is_some) && {
            let v: Vec<i64> = a.iter().flatten().copied().collect();
            v.len() < 2 || v.windows(2).all(|w| w[1] - w[0] == v[1] - v[0])
        };
        if affine {
            let first = a.first().copied().flatten().unwrap_or(0);
            let stride = match (a.first(), a.get(1)) {
                (Some(Some(x)), Some(Some(y))) => y - x,
                _ => 0,
            };
            base += first;
            if a.len() != 1 {
                axes.push(Axis::Affine {
                    count: a.len(),
                    stride,
                });
            }
        } else {
            axes.push(Axis::Table(a.clone()));
        }
    }
    // Merge adjacent affine axes that walk the input as one.
    let mut merged: Vec<Axis> = Vec::new();
    for a in axes {
        if let (
            Some(Axis::Affine {
                count: oc,
                stride: os,
            }),
            Axis::Affine { count, stride },
        ) = (merged.last_mut(), &a)
        {
            if *os == stride * *count as i64 {
                *oc *= count;
                *os = *stride;
                continue;
            }
        }
        merged.push(a);
    }
    let run = match merged.last() {
        Some(Axis::Affine { count, stride: 1 }) => {
            let n = *count;
            merged.pop();
            n
        }
        _ => 1,
    };
    if merged.len() > GATHER_DIMS {
        return Err(format!(
            "the op moves data over {} dimensions; the gather takes {GATHER_DIMS} and a run",
            merged.len()
        ));
    }
    let too_big = |what: &str| format!("{what} does not fit the gather's fields");
    let mut params = GatherParams {
        counts: [1; GATHER_DIMS],
        strides: [0; GATHER_DIMS],
        base: i32::try_from(base).map_err(|_| too_big("the base offset"))?,
        run: u16::try_from(run).map_err(|_| too_big("the run"))?,
        fill,
    };
    let mut tables: [Vec<i32>; GATHER_DIMS] = Default::default();
    let skip = GATHER_DIMS - merged.len();
    for (k, a) in merged.into_iter().enumerate() {
        let d = skip + k;
        match a {
            Axis::Affine { count, stride } => {
                params.counts[d] = u16::try_from(count).map_err(|_| too_big("a count"))?;
                params.strides[d] = i32::try_from(stride).map_err(|_| too_big("a stride"))?;
            }
            Axis::Table(t) => {
                params.counts[d] = u16::try_from(t.len()).map_err(|_| too_big("a count"))?;
                tables[d] = t
                    .iter()
                    .map(|o| match o {
                        None => Ok(FILL),
                        Some(v) => i32::try_from(*v)
                            .ok()
                            .filter(|&v| v != FILL)
                            .ok_or_else(|| too_big("an offset")),
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
    }
    Ok((params, tables))
}

/// TFLM's `GetNearestNeighbor` for every output position of one axis.
pub fn tflite_nearest(
    in_size: usize,
    out_size: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> Vec<usize> {
    let scale = if align_corners && out_size > 1 {
        (in_size as i32 - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    };
    let offset = if half_pixel_centers { 0.5f32 } else { 0.0 };
    (0..out_size)
        .map(|v| {
            let x = (v as f32 + offset) * scale;
            let i = if align_corners {
                x.round() as i32
            } else {
                x.floor() as i32
            };
            let mut i = i.min(in_size as i32 - 1);
            if half_pixel_centers {
                i = i.max(0);
            }
            i.max(0) as usize
        })
        .collect()
}

/// TFLM's integer bilinear parameters (`ResizeBilinearInteger`).
pub fn bilinear_params(
    (in_h, in_w): (usize, usize),
    (out_h, out_w): (usize, usize),
    align_corners: bool,
    half_pixel_centers: bool,
) -> Result<BilinearParams, String> {
    let scale = |i: usize, o: usize| -> Result<i32, String> {
        if o == 0 {
            return Err("an empty output".into());
        }
        let (i, o) = (i as i64, o as i64);
        let s = if align_corners && o > 1 {
            ((1 << 10) * (i - 1) + (o - 1) / 2) / (o - 1)
        } else {
            ((1 << 10) * i + o / 2) / o
        };
        i32::try_from(s).map_err(|_| format!("a scale of {s}/1024"))
    };
    Ok(BilinearParams {
        height_scale_10: scale(in_h, out_h)?,
        width_scale_10: scale(in_w, out_w)?,
        half_pixel_centers,
    })
}

/// TFLite's float `ResizeBilinear` (the reference for calibration): NHWC,
/// batch 1.
pub fn bilinear_f32(
    input: &[f32],
    (in_h, in_w, c): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
    align_corners: bool,
    half_pixel_centers: bool,
) -> Vec<f32> {
    let scale = |i: usize, o: usize| {
        if align_corners && o > 1 {
            (i as f32 - 1.0) / (o - 1) as f32
        } else {
            i as f32 / o as f32
        }
    };
    let (sh, sw) = (scale(in_h, out_h), scale(in_w, out_w));
    let coord = |v: usize, s: f32, n: usize| {
        let x = if half_pixel_centers {
            (v as f32 + 0.5) * s - 0.5
        } else {
            v as f32 * s
        };
        let lo = (x.floor() as i64).max(0) as usize;
        let hi = (x.ceil() as i64).min(n as i64 - 1).max(0) as usize;
        (x, lo.min(n.saturating_sub(1)), hi)
    };
    let at =
        |y: usize, x: usize, k: usize| input.get((y * in_w + x) * c + k).copied().unwrap_or(0.0);
    let mut out = Vec::with_capacity(out_h * out_w * c);
    for y in 0..out_h {
        let (iy, y0, y1) = coord(y, sh, in_h);
        let fy = iy - y0 as f32;
        for x in 0..out_w {
            let (ix, x0, x1) = coord(x, sw, in_w);
            let fx = ix - x0 as f32;
            for k in 0..c {
                out.push(
                    at(y0, x0, k) * (1.0 - fy) * (1.0 - fx)
                        + at(y1, x0, k) * fy * (1.0 - fx)
                        + at(y0, x1, k) * (1.0 - fy) * fx
                        + at(y1, x1, k) * fy * fx,
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::PadValue;

    #[test]
    fn split_parts_cut_the_axis_in_order() {
        // [1, 5, 2] along axis 1 into 2 + 3: element (0, h, w) = h * 2 + w.
        let x: Vec<i8> = (0..10).collect();
        let parts = split_parts(&[1, 5, 2], 1, &[2, 3], false).unwrap();
        let outs: Vec<Vec<i8>> = parts
            .iter()
            .map(|(f, d)| run(&gather(f, &[1, 5, 2], d).unwrap(), &x, 0))
            .collect();
        assert_eq!(parts[1].1, [1, 3, 2]);
        assert_eq!(outs, [vec![0, 1, 2, 3], vec![4, 5, 6, 7, 8, 9]]);
        // UNPACK of the last axis: the columns, without the axis.
        let parts = split_parts(&[1, 5, 2], 2, &[1, 1], true).unwrap();
        assert_eq!(parts[0].1, [1, 5]);
        let odd = run(
            &gather(&parts[1].0, &[1, 5, 2], &parts[1].1).unwrap(),
            &x,
            0,
        );
        assert_eq!(odd, [1, 3, 5, 7, 9]);
        // Bad input: sizes that do not add up, an axis out of range, a
        // squeeze of a wide part, sizes that overflow.
        assert!(split_parts(&[1, 5, 2], 1, &[2, 2], false).is_err());
        assert!(split_parts(&[1, 5, 2], 3, &[1], false).is_err());
        assert!(split_parts(&[1, 5, 2], 1, &[2, 3], true).is_err());
        assert!(split_parts(&[1, 5, 2], 1, &[usize::MAX, 6], false).is_err());
        assert!(split_parts(&[1, 5, 2], 1, &[], false).is_err());
    }

    fn check(f: &MoveFn, in_dims: &[usize], out_dims: &[usize]) -> Vec<i8> {
        let n: usize = in_dims.iter().product();
        let x: Vec<i8> = (0..n).map(|i| (i % 251) as i8).collect();
        let g = gather(f, in_dims, out_dims).unwrap();
        let want = run(&g, &x, -99i8);
        let (p, t) = to_runtime(&g, -99).unwrap();
        let mut got = vec![0i8; want.len()];
        attonet_runtime::ops::movement::gather_s8(
            &p,
            [&t[0], &t[1], &t[2], &t[3], &t[4]],
            &x,
            &mut got,
        )
        .unwrap();
        assert_eq!(got, want, "{f:?}");
        want
    }

    #[test]
    fn runtime_form_matches_the_reference() {
        let pad = MoveFn::Pad {
            before: vec![0, 1, 2, 0],
            after: vec![0, 1, 1, 0],
            value: PadValue::Zero,
        };
        check(&pad, &[1, 4, 4, 3], &[1, 6, 7, 3]);
        let pad_c = MoveFn::Pad {
            before: vec![0, 0, 0, 2],
            after: vec![0, 0, 0, 2],
            value: PadValue::Zero,
        };
        check(&pad_c, &[1, 3, 3, 4], &[1, 3, 3, 8]);
        for mode in [MirrorMode::Reflect, MirrorMode::Symmetric, MirrorMode::Edge] {
            let m = MoveFn::MirrorPad {
                before: vec![0, 2, 1, 0],
                after: vec![0, 1, 2, 0],
                mode,
            };
            check(&m, &[1, 4, 4, 3], &[1, 7, 7, 3]);
        }
        for perm in [[0, 3, 1, 2], [0, 2, 1, 3], [0, 1, 2, 3], [0, 2, 3, 1]] {
            let out: Vec<usize> = perm.iter().map(|&a| [1, 3, 4, 5][a]).collect();
            check(
                &MoveFn::Transpose {
                    perm: perm.to_vec(),
                },
                &[1, 3, 4, 5],
                &out,
            );
        }
        let s = MoveFn::Slice {
            start: vec![0, 4, 1, 0],
            step: vec![1, -1, 2, 1],
            count: vec![1, 5, 2, 3],
        };
        check(&s, &[1, 5, 4, 3], &[1, 5, 2, 3]);
        check(
            &MoveFn::SpaceToDepth { block: 2 },
            &[1, 4, 6, 3],
            &[1, 2, 3, 12],
        );
        for crd in [false, true] {
            check(
                &MoveFn::DepthToSpace { block: 2, crd },
                &[1, 3, 4, 8],
                &[1, 6, 8, 2],
            );
        }
        let r = MoveFn::ResizeNearest {
            rows: tflite_nearest(3, 7, false, true),
            cols: tflite_nearest(5, 9, false, true),
        };
        check(&r, &[1, 3, 5, 4], &[1, 7, 9, 4]);
    }

    #[test]
    fn known_layouts() {
        // Transpose of [1, 2, 3] to [1, 3, 2].
        let y = check(
            &MoveFn::Transpose {
                perm: vec![0, 2, 1],
            },
            &[1, 2, 3],
            &[1, 3, 2],
        );
        assert_eq!(y, [0, 3, 1, 4, 2, 5]);
        // SpaceToDepth of a 2x2 single channel: one pixel of 4.
        let y = check(
            &MoveFn::SpaceToDepth { block: 2 },
            &[1, 2, 2, 1],
            &[1, 1, 1, 4],
        );
        assert_eq!(y, [0, 1, 2, 3]);
        let y = check(
            &MoveFn::DepthToSpace {
                block: 2,
                crd: false,
            },
            &[1, 1, 1, 4],
            &[1, 2, 2, 1],
        );
        assert_eq!(y, [0, 1, 2, 3]);
        // Reflect of [0, 1, 2] by 2 both sides: 2 1 | 0 1 2 | 1 0.
        let y = check(
            &MoveFn::MirrorPad {
                before: vec![2],
                after: vec![2],
                mode: MirrorMode::Reflect,
            },
            &[3],
            &[7],
        );
        assert_eq!(y, [2, 1, 0, 1, 2, 1, 0]);
        let y = check(
            &MoveFn::MirrorPad {
                before: vec![2],
                after: vec![2],
                mode: MirrorMode::Symmetric,
            },
            &[3],
            &[7],
        );
        assert_eq!(y, [1, 0, 0, 1, 2, 2, 1]);
    }

    #[test]
    fn bad_descriptions_are_errors() {
        let bad_perm = MoveFn::Transpose {
            perm: vec![0, 1, 1],
        };
        assert!(gather(&bad_perm, &[1, 2, 3], &[1, 2, 2]).is_err());
        let reflect_too_far = MoveFn::MirrorPad {
            before: vec![3],
            after: vec![0],
            mode: MirrorMode::Reflect,
        };
        assert!(gather(&reflect_too_far, &[3], &[6]).is_err());
        let out_of_range = MoveFn::Slice {
            start: vec![2],
            step: vec![1],
            count: vec![3],
        };
        assert!(gather(&out_of_range, &[4], &[3]).is_err());
        assert!(gather(
            &MoveFn::SpaceToDepth { block: 2 },
            &[1, 3, 4, 1],
            &[1, 1, 2, 4]
        )
        .is_err());
    }

    #[test]
    fn nearest_indices_as_tflm() {
        assert_eq!(tflite_nearest(4, 8, false, false), [0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(tflite_nearest(4, 7, true, false), [0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(tflite_nearest(2, 4, false, true), [0, 0, 1, 1]);
    }
}
