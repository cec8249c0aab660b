//! Data movement and resampling: one strided gather for every op that only
//! moves bytes, and TensorFlow Lite Micro's integer bilinear resize.
//!
//! # The gather ([`gather_s8`])
//! PAD, PADV2, MIRROR_PAD, TRANSPOSE, SLICE, STRIDED_SLICE, SPACE_TO_DEPTH,
//! DEPTH_TO_SPACE and RESIZE_NEAREST_NEIGHBOR (and their ONNX forms) copy
//! input bytes to output positions, some of them filled with a constant
//! byte. The converter describes each as up to [`GATHER_DIMS`] nested output
//! dimensions around a contiguous innermost run:
//!
//! ```text
//! for i0 < counts[0], .., i4 < counts[4]:
//!     src = base + off0(i0) + off1(i1) + off2(i2) + off3(i3) + off4(i4)
//!     out[next run bytes] = in[src .. src + run]    (or `fill`, see below)
//! offd(i) = tables[d][i]  where dimension d has a table,
//!           i * strides[d] otherwise
//! ```
//!
//! A table entry [`FILL`] marks an output position outside the input (the
//! padding): every run it touches is `fill`. Tables carry what strides cannot
//! (a mirror's reflection, padding, a nearest-neighbour resize's rows and
//! columns); strides carry the rest (a transpose, a slice, negative steps).
//! The converter computes every index exactly as TFLM's reference kernels do,
//! so the kernel only copies bytes.
//!
//! * Layout: any (the offsets are the layout).
//! * Speed: one word copy a run ([`copy_s8`]: a PAD or SLICE copies whole
//!   rows of channels, a resize whole pixels); runs of one byte (a transpose
//!   that moves the channels) a byte at a time in a loop of their own.
//! * Checks, once a call before any byte moves: the output length is
//!   `counts.product() * run`, each table has `counts[d]` entries, and the
//!   smallest and largest offsets any run can read lie inside the input.
//!
//! # Bilinear resize ([`resize_bilinear_s8`])
//! TFLM's `ResizeBilinearInteger` (int8): 10-bit fixed-point source
//! coordinates, four corner weights, the sum rounded half away from zero at
//! bit 20. No requantization: the output keeps the input's scale and zero
//! point.

use crate::error::check_len;
use crate::ops::Shape;
use crate::Error;

/// Nested output dimensions of a gather (around its innermost run).
pub const GATHER_DIMS: usize = 5;

/// A table entry for an output position that lies in the padding.
pub const FILL: i32 = i32::MIN;

/// The shape of a gather (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GatherParams {
    /// Output extent of each nested dimension, outermost first.
    pub counts: [u16; GATHER_DIMS],
    /// Input element step of each dimension that has no table.
    pub strides: [i32; GATHER_DIMS],
    /// Input element offset of the first run (before the tables' offsets).
    pub base: i32,
    /// Contiguous bytes copied at each position (at least 1).
    pub run: u16,
    /// The byte written where a table says [`FILL`].
    pub fill: i8,
}

impl GatherParams {
    /// Output bytes the gather writes, or `None` when the product does not
    /// fit a `usize` (a corrupt plan; on a 32-bit target two large counts
    /// suffice).
    pub const fn output_len(&self) -> Option<usize> {
        let mut n = self.run as usize;
        let mut d = 0;
        while d < GATHER_DIMS {
            n = match n.checked_mul(self.counts[d] as usize) {
                Some(n) => n,
                None => return None,
            };
            d += 1;
        }
        Some(n)
    }
}

/// Offset of position `i` along dimension `d`: its table entry, else `i * stride`.
#[inline(always)]
fn offset(p: &GatherParams, tables: &[&[i32]; GATHER_DIMS], d: usize, i: usize) -> i32 {
    match tables[d].get(i) {
        Some(&t) => t,
        None => (i as i32).wrapping_mul(p.strides[d]),
    }
}

/// The smallest and largest offset dimension `d` contributes to a read, or
/// `None` when every position of it is [`FILL`] (nothing is read at all).
fn extent(p: &GatherParams, tables: &[&[i32]; GATHER_DIMS], d: usize) -> Option<(i64, i64)> {
    let n = p.counts[d] as usize;
    if tables[d].is_empty() {
        let last = (n as i64 - 1) * p.strides[d] as i64;
        return Some((last.min(0), last.max(0)));
    }
    tables[d]
        .iter()
        .filter(|&&t| t != FILL)
        .fold(None, |acc, &t| {
            let t = t as i64;
            Some(match acc {
                None => (t, t),
                Some((lo, hi)) => (lo.min(t), hi.max(t)),
            })
        })
}

/// Checks a gather's arguments; `Ok(false)` when no byte is read (the whole
/// output is fill).
pub fn check_gather(
    p: &GatherParams,
    tables: &[&[i32]; GATHER_DIMS],
    input_len: usize,
    output_len: usize,
) -> crate::Result<bool> {
    if p.run == 0 {
        return Err(Error::Parameter("gather run of 0 bytes"));
    }
    let Some(expected) = p.output_len() else {
        return Err(Error::Parameter("gather output larger than memory"));
    };
    if output_len != expected {
        return Err(Error::BufferLength {
            what: "gather output",
            expected,
            actual: output_len,
        });
    }
    for (d, t) in tables.iter().enumerate() {
        if !t.is_empty() && t.len() != p.counts[d] as usize {
            return Err(Error::BufferLength {
                what: "gather table",
                expected: p.counts[d] as usize,
                actual: t.len(),
            });
        }
    }
    if output_len == 0 {
        return Ok(false);
    }
    let (mut lo, mut hi) = (p.base as i64, p.base as i64 + p.run as i64 - 1);
    for d in 0..GATHER_DIMS {
        match extent(p, tables, d) {
            Some((a, b)) => {
                lo += a;
                hi += b;
            }
            None => return Ok(false),
        }
    }
    if lo < 0 || hi >= input_len as i64 {
        return Err(Error::Parameter("gather reads outside its input"));
    }
    Ok(true)
}

/// Runs a gather (see the [module](self) documentation): `tables[d]` is
/// dimension `d`'s table of offsets, or empty for `i * strides[d]`.
///
/// * Constraints: `run >= 1`, `output.len() == counts.product() * run`, each
///   non-empty table `counts[d]` long ([`Error::BufferLength`]), every offset
///   read inside `input` ([`Error::Parameter`]). `output` must not overlap
///   `input` (the borrows ensure it).
pub fn gather_s8(
    p: &GatherParams,
    tables: [&[i32]; GATHER_DIMS],
    input: &[i8],
    output: &mut [i8],
) -> crate::Result {
    if !check_gather(p, &tables, input.len(), output.len())? {
        output.fill(p.fill);
        return Ok(());
    }
    let run = p.run as usize;
    let [n0, n1, n2, n3, n4] = p.counts.map(|c| c as usize);
    let (t4, s4) = (tables[4], p.strides[4]);
    // Each (i0, i1, i2, i3) writes one row of `n4` runs.
    let mut rows = output.chunks_exact_mut((n4 * run).max(1));
    for i0 in 0..n0 {
        let o0 = offset(p, &tables, 0, i0);
        for i1 in 0..n1 {
            let o1 = offset(p, &tables, 1, i1);
            for i2 in 0..n2 {
                let o2 = offset(p, &tables, 2, i2);
                for i3 in 0..n3 {
                    let o3 = offset(p, &tables, 3, i3);
                    let Some(row) = rows.next() else {
                        return Err(Error::Shape("gather output ended early"));
                    };
                    if o0 == FILL || o1 == FILL || o2 == FILL || o3 == FILL {
                        row.fill(p.fill);
                        continue;
                    }
                    let o0123 = p
                        .base
                        .wrapping_add(o0)
                        .wrapping_add(o1)
                        .wrapping_add(o2)
                        .wrapping_add(o3);
                    gather_row(input, row, o0123, run, t4, s4, p.fill)?;
                }
            }
        }
    }
    Ok(())
}

/// One row of a gather: `row.len() / run` runs, run `i` from `at + off(i)`
/// (`off` the innermost dimension's table, else `i * stride`). Runs of one
/// byte (a transpose that moves the channels, a resize of one channel) move
/// a byte at a time without a call; longer runs go through the target's
/// word copy ([`copy_s8`]).
#[inline(always)]
fn gather_row(
    input: &[i8],
    row: &mut [i8],
    at: i32,
    run: usize,
    table: &[i32],
    stride: i32,
    fill: i8,
) -> crate::Result {
    // In range: `check_gather` bounded every sum of non-FILL offsets; `get`
    // keeps it panic-free anyway.
    let outside = Error::Parameter("gather reads outside its input");
    match (run, table.is_empty()) {
        (1, true) => {
            let mut src = at;
            for d in row.iter_mut() {
                *d = *input.get(src as usize).ok_or(outside)?;
                src = src.wrapping_add(stride);
            }
        }
        (1, false) => {
            for (d, &t) in row.iter_mut().zip(table) {
                *d = if t == FILL {
                    fill
                } else {
                    *input.get(at.wrapping_add(t) as usize).ok_or(outside)?
                };
            }
        }
        _ => {
            for (i, dst) in row.chunks_exact_mut(run).enumerate() {
                let o = match table.get(i) {
                    Some(&FILL) => {
                        dst.fill(fill);
                        continue;
                    }
                    Some(&t) => t,
                    None => (i as i32).wrapping_mul(stride),
                };
                let src = at.wrapping_add(o) as usize;
                let from = input.get(src..src + run).ok_or(outside)?;
                crate::arch::copy::copy(dst, from);
            }
        }
    }
    Ok(())
}

/// The parameters of a bilinear resize, as TFLM's prepare computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BilinearParams {
    /// Input rows per output row, in 1/1024 (`((1024 * in_h + out_h / 2) /
    /// out_h`, or with `in_h - 1` and `out_h - 1` for `align_corners`).
    pub height_scale_10: i32,
    /// Input columns per output column, in 1/1024.
    pub width_scale_10: i32,
    /// Sample at pixel centres (TFLite's `half_pixel_centers`).
    pub half_pixel_centers: bool,
}

/// TFLM's `ComputeInterpolationValuesInteger`: the 10-bit source coordinate
/// and the two source indices, checked to lie in `0..input_size`.
fn interpolation(
    value: usize,
    scale_10: i32,
    half_pixel: bool,
    input_size: usize,
) -> crate::Result<(i32, usize, usize)> {
    let scale = scale_10 as i64;
    let scaled = if half_pixel {
        value as i64 * scale + scale / 2 - (1 << 9)
    } else {
        value as i64 * scale
    };
    // Integer division truncates toward zero, as C's.
    let lower = (scaled / 1024).max(0);
    let upper = ((scaled + 1023) / 1024).min(input_size as i64 - 1);
    if lower >= input_size as i64 || upper < 0 || scaled > (1 << 30) {
        return Err(Error::Parameter(
            "bilinear resize samples outside its input",
        ));
    }
    Ok((scaled as i32, lower as usize, upper as usize))
}

/// RESIZE_BILINEAR over an NHWC int8 image (batch 1), bit-exact with TFLM's
/// `ResizeBilinearInteger` (without `TFLITE_SINGLE_ROUNDING`).
///
/// * Constraints: equal channel counts ([`Error::Shape`]), buffers of their
///   shapes' lengths ([`Error::BufferLength`]), non-negative scales whose
///   samples fall inside the input ([`Error::Parameter`]).
pub fn resize_bilinear_s8(
    p: &BilinearParams,
    in_shape: Shape,
    input: &[i8],
    out_shape: Shape,
    output: &mut [i8],
) -> crate::Result {
    check_len("resize input", input, in_shape.len())?;
    check_len("resize output", output, out_shape.len())?;
    if in_shape.c != out_shape.c {
        return Err(Error::Shape("resize input and output channels differ"));
    }
    if p.height_scale_10 < 0 || p.width_scale_10 < 0 {
        return Err(Error::Parameter("negative bilinear resize scale"));
    }
    if output.is_empty() {
        return Ok(());
    }
    let (iw, c) = (in_shape.w as usize, in_shape.c as usize);
    let (oh, ow) = (out_shape.h as usize, out_shape.w as usize);
    // Validate every column once, so the pixel loop has no error path left.
    for x in 0..ow {
        interpolation(x, p.width_scale_10, p.half_pixel_centers, iw)?;
    }
    let mut out = output.chunks_exact_mut(c);
    for y in 0..oh {
        let (in_y, y0, y1) = interpolation(
            y,
            p.height_scale_10,
            p.half_pixel_centers,
            in_shape.h as usize,
        )?;
        let dy = in_y - 1024 * y0 as i32;
        for x in 0..ow {
            let (in_x, x0, x1) = interpolation(x, p.width_scale_10, p.half_pixel_centers, iw)?;
            let dx = in_x - 1024 * x0 as i32;
            let row0 = &input[y0 * iw * c..][..iw * c];
            let row1 = &input[y1 * iw * c..][..iw * c];
            let (p00, p01) = (&row0[x0 * c..][..c], &row0[x1 * c..][..c]);
            let (p10, p11) = (&row1[x0 * c..][..c], &row1[x1 * c..][..c]);
            let Some(dst) = out.next() else {
                return Err(Error::Shape("resize output ended early"));
            };
            // TFLM sums in 64 bits; 32 suffice: `dy` and `dx` lie in
            // -512..=1023 (see `interpolation`), so each pair of weights has
            // magnitudes summing to at most 2048 and |sum| <= 128 * 2^22.
            let (wy0, wx0) = (1024 - dy, 1024 - dx);
            let (wy1, wx1) = (dy, dx);
            for k in 0..c {
                let sum = p00[k] as i32 * wy0 * wx0
                    + p10[k] as i32 * wy1 * wx0
                    + p01[k] as i32 * wy0 * wx1
                    + p11[k] as i32 * wy1 * wx1;
                let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                dst[k] = ((sum + round) / (1 << 20)) as i8;
            }
        }
    }
    Ok(())
}

/// Copies `src` into `dst` with this target's fast byte copy (the one
/// fused blocks move their rows with: Helium vector loads and stores, the
/// DSP cores' `LDM`/`STM`, `copy_from_slice` elsewhere).
///
/// * Checks: `dst` as long as `src` (nothing copied otherwise).
pub fn copy_s8(dst: &mut [i8], src: &[i8]) -> crate::Result {
    check_len("copy destination", dst, src.len())?;
    crate::arch::copy::copy(dst, src);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row loops give the module documentation's definition, run by
    /// run: innermost dimensions by stride and by table (with FILL entries),
    /// runs of one byte and longer, negative strides.
    #[test]
    fn rows_follow_the_definition() {
        extern crate std;
        use std::vec::Vec;
        let input: Vec<i8> = (0..400).map(|i| (i * 7 % 251) as i8).collect();
        let fill_table: Vec<i32> = std::vec![FILL, 3, 0, FILL, 9];
        let plain_table: Vec<i32> = std::vec![4, 0, 8, 2, 6];
        for run in [1u16, 2, 3, 8] {
            for (strides, base) in [
                ([60, 0, 0, 12, 1], 0),
                ([60, 0, 0, 12, -1], 10),
                ([0, 0, 0, 5, 13], 3),
            ] {
                for t4 in [&[][..], &plain_table[..], &fill_table[..]] {
                    let p = params([3, 1, 1, 4, 5], strides, base, run);
                    let tables: [&[i32]; GATHER_DIMS] = [&[], &[], &[], &[], t4];
                    let mut out = std::vec![0i8; p.output_len().unwrap()];
                    gather_s8(&p, tables, &input, &mut out).unwrap();
                    let mut want = Vec::new();
                    for i0 in 0..3usize {
                        for i3 in 0..4usize {
                            for i4 in 0..5usize {
                                let o4 = t4.get(i4).copied().unwrap_or(i4 as i32 * strides[4]);
                                for r in 0..run as i32 {
                                    want.push(if o4 == FILL {
                                        p.fill
                                    } else {
                                        let src = base
                                            + i0 as i32 * strides[0]
                                            + i3 as i32 * strides[3]
                                            + o4
                                            + r;
                                        input[src as usize]
                                    });
                                }
                            }
                        }
                    }
                    assert_eq!(out, want, "run {run} strides {strides:?} table {t4:?}");
                }
            }
        }
    }

    /// Found by the `runtime_plan` fuzz target: counts whose product does not
    /// fit a `usize` overflowed (a panic in tests, a wrapped length in
    /// release). Now a parameter error.
    #[test]
    fn a_gather_larger_than_memory_is_refused() {
        let p = params([u16::MAX; 5], [1; 5], 0, u16::MAX);
        assert_eq!(p.output_len(), None);
        let tables: [&[i32]; GATHER_DIMS] = [&[]; GATHER_DIMS];
        assert_eq!(
            check_gather(&p, &tables, 16, 16),
            Err(Error::Parameter("gather output larger than memory"))
        );
    }

    fn params(counts: [u16; 5], strides: [i32; 5], base: i32, run: u16) -> GatherParams {
        GatherParams {
            counts,
            strides,
            base,
            run,
            fill: -7,
        }
    }

    #[test]
    fn transpose_by_strides() {
        // [2, 3] -> [3, 2].
        let x = [1i8, 2, 3, 4, 5, 6];
        let p = params([1, 1, 1, 3, 2], [0, 0, 0, 1, 3], 0, 1);
        let mut y = [0i8; 6];
        gather_s8(&p, [&[], &[], &[], &[], &[]], &x, &mut y).unwrap();
        assert_eq!(y, [1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn pad_rows_with_tables_and_runs() {
        // A 2x2 image of 2 channels, one row of padding above, one column left.
        let x = [1i8, 2, 3, 4, 5, 6, 7, 8];
        let rows = [FILL, 0, 4];
        let cols = [FILL, 0, 2];
        let p = params([1, 1, 1, 3, 3], [0, 0, 0, 0, 0], 0, 2);
        let mut y = [0i8; 18];
        gather_s8(&p, [&[], &[], &[], &rows, &cols], &x, &mut y).unwrap();
        assert_eq!(
            y,
            [-7, -7, -7, -7, -7, -7, -7, -7, 1, 2, 3, 4, -7, -7, 5, 6, 7, 8]
        );
    }

    #[test]
    fn negative_strides_reverse() {
        let x = [1i8, 2, 3, 4];
        let p = params([1, 1, 1, 1, 4], [0, 0, 0, 0, -1], 3, 1);
        let mut y = [0i8; 4];
        gather_s8(&p, [&[], &[], &[], &[], &[]], &x, &mut y).unwrap();
        assert_eq!(y, [4, 3, 2, 1]);
    }

    #[test]
    fn all_fill_reads_nothing() {
        let p = params([1, 1, 1, 1, 3], [0, 0, 0, 0, 0], 0, 1);
        let mut y = [0i8; 3];
        gather_s8(&p, [&[], &[], &[], &[], &[FILL, FILL, FILL]], &[], &mut y).unwrap();
        assert_eq!(y, [-7; 3]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let x = [0i8; 6];
        let mut y = [0i8; 6];
        let none: [&[i32]; 5] = [&[], &[], &[], &[], &[]];
        // Reads past the end (stride 2 over 6 bytes).
        let p = params([1, 1, 1, 1, 6], [0, 0, 0, 0, 2], 0, 1);
        assert!(matches!(
            gather_s8(&p, none, &x, &mut y),
            Err(Error::Parameter(_))
        ));
        // Reads before the start.
        let p = params([1, 1, 1, 1, 6], [0, 0, 0, 0, -1], 4, 1);
        assert!(gather_s8(&p, none, &x, &mut y).is_err());
        // Output length.
        let p = params([1, 1, 1, 1, 5], [0, 0, 0, 0, 1], 0, 1);
        assert!(matches!(
            gather_s8(&p, none, &x, &mut y),
            Err(Error::BufferLength { .. })
        ));
        // Table length.
        let p = params([1, 1, 1, 1, 6], [0, 0, 0, 0, 1], 0, 1);
        assert!(gather_s8(&p, [&[], &[], &[], &[], &[0, 1]], &x, &mut y).is_err());
        // A table entry out of range.
        assert!(gather_s8(&p, [&[], &[], &[], &[], &[0, 1, 2, 3, 4, 6]], &x, &mut y).is_err());
        // Run 0.
        let p = params([1, 1, 1, 1, 6], [0, 0, 0, 0, 1], 0, 0);
        assert!(gather_s8(&p, none, &x, &mut y).is_err());
        // Huge strides do not overflow.
        let p = params([1, 1, 1, 2, 3], [0, 0, 0, i32::MAX, i32::MIN + 1], 0, 1);
        assert!(gather_s8(&p, none, &x, &mut y).is_err());
        // Empty output.
        let p = params([1, 1, 1, 1, 0], [0, 0, 0, 0, 1], 0, 1);
        assert!(gather_s8(&p, none, &x, &mut []).is_ok());
    }

    #[test]
    fn bilinear_identity_and_doubling() {
        // Same size: the input back.
        let s = Shape::new(2, 3, 2);
        let x: [i8; 12] = core::array::from_fn(|i| (i as i8) * 10 - 60);
        let p = BilinearParams {
            height_scale_10: 1024,
            width_scale_10: 1024,
            half_pixel_centers: false,
        };
        let mut y = [0i8; 12];
        resize_bilinear_s8(&p, s, &x, s, &mut y).unwrap();
        assert_eq!(x, y);
        // 1x2 -> 1x4 without half pixels: 0, 50, 100, 100 (the last clamps).
        let p = BilinearParams {
            height_scale_10: 1024,
            width_scale_10: 512,
            half_pixel_centers: false,
        };
        let mut y = [0i8; 4];
        resize_bilinear_s8(
            &p,
            Shape::new(1, 2, 1),
            &[0, 100],
            Shape::new(1, 4, 1),
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [0, 50, 100, 100]);
        // Rounding half away from zero: -1 and 0 halfway is -1 (-0.5 -> -1).
        let mut y = [0i8; 4];
        resize_bilinear_s8(
            &p,
            Shape::new(1, 2, 1),
            &[-1, 0],
            Shape::new(1, 4, 1),
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [-1, -1, 0, 0]);
    }

    #[test]
    fn bilinear_bad_arguments_are_errors() {
        let p = BilinearParams {
            height_scale_10: 1024,
            width_scale_10: 1024,
            half_pixel_centers: false,
        };
        let s = Shape::new(2, 2, 1);
        let mut y = [0i8; 4];
        assert!(resize_bilinear_s8(&p, s, &[0; 3], s, &mut y).is_err());
        assert!(resize_bilinear_s8(&p, s, &[0; 4], Shape::new(2, 2, 2), &mut [0; 8]).is_err());
        // A scale that samples past the input.
        let big = BilinearParams {
            width_scale_10: 4096,
            ..p
        };
        assert!(matches!(
            resize_bilinear_s8(&big, s, &[0; 4], s, &mut y),
            Err(Error::Parameter(_))
        ));
        let neg = BilinearParams {
            height_scale_10: -1,
            ..p
        };
        assert!(resize_bilinear_s8(&neg, s, &[0; 4], s, &mut y).is_err());
        let huge = BilinearParams {
            height_scale_10: i32::MAX,
            ..p
        };
        assert!(resize_bilinear_s8(&huge, s, &[0; 4], s, &mut y).is_err());
    }
}
