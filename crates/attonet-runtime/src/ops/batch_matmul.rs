//! BATCH_MATMUL of two int8 activations, TensorFlow Lite Micro's reference
//! kernel (`micro/kernels/batch_matmul.cc` over
//! `reference/batch_matmul.h`), bit for bit.
//!
//! Per output element of batch `b`: `acc = Σ_k (lhs[b][i][k] -
//! lhs_zero_point) * (rhs[b][k][j] - rhs_zero_point)` (int32, wrapping as
//! TFLM's does), then `clamp(requantize(acc, output_multiplier,
//! output_shift) + output_zero_point)` to the whole int8 range (BATCH_MATMUL
//! has no fused activation). TFLM transposes its operands into persistent
//! buffers first (the left one with `adj_x`, the right one without `adj_y`);
//! this kernel reads them in place through their strides instead, the same
//! products summed, no scratch. Where both operands' rows are contiguous
//! (`adj_y` without `adj_x`: a matrix times the transpose of another, as a
//! Gram matrix or attention scores) each output is one dot product of two
//! rows with the zero points folded in after.
//!
//! * Layout: `lhs` is `[batch][rows][depth]` (`adj_x`: `[batch][depth][rows]`),
//!   `rhs` `[batch][depth][cols]` (`adj_y`: `[batch][cols][depth]`), output
//!   `[batch][rows][cols]`; up to three batch dimensions, each operand's
//!   broadcast (stride 0) where its extent is 1, as TFLM broadcasts them.
//! * Scratch: none.
//! * Constraints: [`check_batch_matmul`]; nothing is written when they fail.

use crate::ops::conv::dot_s8;
use crate::quant::{requantize, shift_in_range};
use crate::Error;

/// Batch dimensions of a [`BatchMatmulParams`] (TFLM: ranks up to 5).
pub const BATCH_MATMUL_BATCH_DIMS: usize = 3;

/// Geometry and quantization of a BATCH_MATMUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchMatmulParams {
    /// Output batch extents, outermost first.
    pub batches: [u16; BATCH_MATMUL_BATCH_DIMS],
    /// Element strides of the left operand's batch dimensions (0: broadcast).
    pub lhs_batch_strides: [u32; BATCH_MATMUL_BATCH_DIMS],
    /// Element strides of the right operand's batch dimensions (0: broadcast).
    pub rhs_batch_strides: [u32; BATCH_MATMUL_BATCH_DIMS],
    /// Rows of each output matrix (of the left operand).
    pub rows: u16,
    /// Columns of each output matrix (of the right operand).
    pub cols: u16,
    /// The summed dimension.
    pub depth: u16,
    /// The left operand is stored transposed (`[depth][rows]`).
    pub adj_x: bool,
    /// The right operand is stored transposed (`[cols][depth]`).
    pub adj_y: bool,
    /// Zero point of the left operand.
    pub lhs_zero_point: i32,
    /// Zero point of the right operand.
    pub rhs_zero_point: i32,
    /// Zero point of the output.
    pub output_zero_point: i32,
    /// Q31 multiplier of `lhs_scale * rhs_scale / output_scale`.
    pub output_multiplier: i32,
    /// Its shift (`-31..=30`).
    pub output_shift: i32,
}

impl BatchMatmulParams {
    /// Output matrices (`None` on overflow).
    fn batch_count(&self) -> Option<usize> {
        self.batches
            .iter()
            .try_fold(1usize, |n, &b| n.checked_mul(b as usize))
    }

    /// Elements of the output (`None` on overflow).
    pub fn output_len(&self) -> Option<usize> {
        self.batch_count()?
            .checked_mul(self.rows as usize)?
            .checked_mul(self.cols as usize)
    }

    /// Multiply-accumulates of one run.
    pub fn macs(&self) -> u64 {
        self.batches.iter().map(|&b| b as u64).product::<u64>()
            * self.rows as u64
            * self.cols as u64
            * self.depth as u64
    }

    /// One more than the largest element index an operand with `strides`
    /// and `matrix` elements per matrix is read at (`None` on overflow).
    fn extent(&self, strides: &[u32; BATCH_MATMUL_BATCH_DIMS], matrix: usize) -> Option<usize> {
        let mut last = 0usize;
        for (&b, &s) in self.batches.iter().zip(strides) {
            if b == 0 {
                return Some(0);
            }
            last = last.checked_add((b as usize - 1).checked_mul(s as usize)?)?;
        }
        last.checked_add(matrix)
    }
}

/// Checks a BATCH_MATMUL's parameters against its operand and output lengths.
pub fn check_batch_matmul(
    p: &BatchMatmulParams,
    lhs_len: usize,
    rhs_len: usize,
    output_len: usize,
) -> crate::Result {
    let n = p
        .output_len()
        .ok_or(Error::Shape("batch_matmul output extents overflow"))?;
    if n != output_len {
        return Err(Error::BufferLength {
            what: "batch_matmul output",
            expected: n,
            actual: output_len,
        });
    }
    let depth = p.depth as usize;
    for (strides, matrix, len, what) in [
        (
            &p.lhs_batch_strides,
            p.rows as usize * depth,
            lhs_len,
            "batch_matmul lhs",
        ),
        (
            &p.rhs_batch_strides,
            p.cols as usize * depth,
            rhs_len,
            "batch_matmul rhs",
        ),
    ] {
        let e = p
            .extent(strides, matrix)
            .ok_or(Error::Shape("batch_matmul strides overflow"))?;
        if e > len {
            return Err(Error::BufferLength {
                what,
                expected: e,
                actual: len,
            });
        }
    }
    if !shift_in_range(p.output_shift) {
        return Err(Error::Parameter(
            "batch_matmul output shift outside -31..=30",
        ));
    }
    Ok(())
}

/// `output = lhs x rhs` per batch (see the module docs).
pub fn batch_matmul_s8(
    p: &BatchMatmulParams,
    lhs: &[i8],
    rhs: &[i8],
    output: &mut [i8],
) -> crate::Result {
    check_batch_matmul(p, lhs.len(), rhs.len(), output.len())?;
    let (rows, cols, depth) = (p.rows as usize, p.cols as usize, p.depth as usize);
    if output.is_empty() {
        return Ok(());
    }
    // Element strides of row i / column j / depth k inside one matrix.
    let (l_row, l_k) = if p.adj_x { (1, rows) } else { (depth, 1) };
    let (r_col, r_k) = if p.adj_y { (depth, 1) } else { (1, cols) };
    let [d0, d1, d2] = p.batches.map(|b| b as usize);
    let ls = p.lhs_batch_strides.map(|s| s as usize);
    let rs = p.rhs_batch_strides.map(|s| s as usize);
    let mut out = output.chunks_exact_mut(rows * cols);
    for b0 in 0..d0 {
        for b1 in 0..d1 {
            for b2 in 0..d2 {
                let lb = b0 * ls[0] + b1 * ls[1] + b2 * ls[2];
                let rb = b0 * rs[0] + b1 * rs[1] + b2 * rs[2];
                // In range: check_batch_matmul bounded every index below.
                let (Some(lm), Some(rm), Some(om)) = (
                    lhs.get(lb..lb + rows * depth),
                    rhs.get(rb..rb + cols * depth),
                    out.next(),
                ) else {
                    return Err(Error::Shape("batch_matmul operand shorter than checked"));
                };
                if !p.adj_x && p.adj_y {
                    // Rows of both operands contiguous: one dot product each,
                    // the zero points folded in after (`Σ (a - za)(b - zb) =
                    // Σ ab - zb Σ a - za Σ b + n za zb`, modulo 2^32 as TFLM's).
                    let (za, zb) = (p.lhs_zero_point, p.rhs_zero_point);
                    let n_zz = (depth as i32).wrapping_mul(za).wrapping_mul(zb);
                    for (a, orow) in lm.chunks_exact(depth).zip(om.chunks_exact_mut(cols)) {
                        let sa = a.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32));
                        let row_term = n_zz.wrapping_sub(zb.wrapping_mul(sa));
                        for (b, o) in rm.chunks_exact(depth).zip(orow.iter_mut()) {
                            let (sab, sb) = dot_s8(b, a);
                            let acc = sab.wrapping_sub(za.wrapping_mul(sb)).wrapping_add(row_term);
                            let v = requantize(acc, p.output_multiplier, p.output_shift)
                                .wrapping_add(p.output_zero_point);
                            *o = v.clamp(-128, 127) as i8;
                        }
                    }
                    continue;
                }
                for (i, orow) in om.chunks_exact_mut(cols).enumerate() {
                    for (j, o) in orow.iter_mut().enumerate() {
                        let mut acc = 0i32;
                        for k in 0..depth {
                            let a = lm[i * l_row + k * l_k] as i32 - p.lhs_zero_point;
                            let b = rm[j * r_col + k * r_k] as i32 - p.rhs_zero_point;
                            acc = acc.wrapping_add(a * b);
                        }
                        let v = requantize(acc, p.output_multiplier, p.output_shift)
                            .wrapping_add(p.output_zero_point);
                        *o = v.clamp(-128, 127) as i8;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(adj_x: bool, adj_y: bool) -> BatchMatmulParams {
        BatchMatmulParams {
            batches: [1, 2, 1],
            lhs_batch_strides: [0, 6, 0],
            rhs_batch_strides: [0, 0, 0],
            rows: 2,
            cols: 2,
            depth: 3,
            adj_x,
            adj_y,
            lhs_zero_point: 1,
            rhs_zero_point: -2,
            output_zero_point: 3,
            output_multiplier: 1 << 30,
            output_shift: 0,
        }
    }

    /// A worked example: two left matrices against one broadcast right
    /// matrix, stored plain or transposed, against sums done by hand.
    #[test]
    fn products_match_hand_sums_in_every_layout() {
        // lhs - 1: [[1, 2, 3], [4, 5, 6]] and [[-1, 0, 1], [2, 2, 2]].
        let lhs = [2i8, 3, 4, 5, 6, 7, 0, 1, 2, 3, 3, 3];
        // rhs + 2: [[1, 0], [0, 1], [1, 1]] (depth x cols).
        let rhs = [-1i8, -2, -2, -1, -1, -1];
        // Products: [[4, 5], [10, 11]] and [[0, 1], [4, 4]], halved
        // (multiplier 1/2, rounding half away from zero) plus 3.
        let want = [5i8, 6, 8, 9, 3, 4, 5, 5];
        let mut out = [0i8; 8];
        batch_matmul_s8(&params(false, false), &lhs, &rhs, &mut out).unwrap();
        assert_eq!(out, want);
        // The same operands stored transposed.
        let lhs_t = [2i8, 5, 3, 6, 4, 7, 0, 3, 1, 3, 2, 3];
        let rhs_t = [-1i8, -2, -1, -2, -1, -1];
        batch_matmul_s8(&params(true, true), &lhs_t, &rhs_t, &mut out).unwrap();
        assert_eq!(out, want);
        // Left plain, right transposed (the contiguous dot-product path).
        batch_matmul_s8(&params(false, true), &lhs, &rhs_t, &mut out).unwrap();
        assert_eq!(out, want);
        batch_matmul_s8(&params(true, false), &lhs_t, &rhs, &mut out).unwrap();
        assert_eq!(out, want);
        // A right operand too short for its geometry is refused.
        assert!(batch_matmul_s8(&params(false, false), &lhs, &rhs[..5], &mut out).is_err());
    }
}
