//! BATCH_MATMUL of two activations: the geometry TFLM's `Prepare` checks
//! (`batch_matmul.cc`: ranks 2 to 5, batch dimensions broadcast, `adj_x` /
//! `adj_y` transposing the last two dimensions of an operand) as the
//! runtime kernel's strides, and the float reference.
//!
//! Quantization (int8): `QuantizeMultiplier(s_lhs * s_rhs / s_out)` with
//! the product in `f64` (TFLM's `GetQuantizedConvolutionMultipler`, as for
//! FULLY_CONNECTED), zero points on both operands, no fused activation.

use attonet_runtime::ops::batch_matmul::BATCH_MATMUL_BATCH_DIMS;

/// The geometry of `lhs x rhs`: output batch extents, each operand's batch
/// strides (0: broadcast), rows, columns and depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Output batch extents, outermost first.
    pub batches: [usize; BATCH_MATMUL_BATCH_DIMS],
    /// Left operand's element strides over the batch dimensions.
    pub lhs_strides: [usize; BATCH_MATMUL_BATCH_DIMS],
    /// Right operand's element strides over the batch dimensions.
    pub rhs_strides: [usize; BATCH_MATMUL_BATCH_DIMS],
    /// Rows of each output matrix.
    pub rows: usize,
    /// Columns of each output matrix.
    pub cols: usize,
    /// The summed dimension.
    pub depth: usize,
}

/// The output dimensions of `lhs x rhs` (TFLM's `ReshapeOutputTensor`: the
/// broadcast batch dimensions, then rows and columns), or why there are none.
pub fn output_dims(
    lhs: &[usize],
    rhs: &[usize],
    adj_x: bool,
    adj_y: bool,
) -> Result<Vec<usize>, String> {
    let rank = lhs.len().max(rhs.len());
    let g = geometry_of(lhs, rhs, adj_x, adj_y)?;
    let mut out: Vec<usize> = g.batches[BATCH_MATMUL_BATCH_DIMS + 2 - rank..].to_vec();
    out.extend([g.rows, g.cols]);
    Ok(out)
}

/// The geometry of `lhs x rhs -> out` (dimensions as the model gives them),
/// or why there is none.
pub fn geometry(
    lhs: &[usize],
    rhs: &[usize],
    adj_x: bool,
    adj_y: bool,
    out: &[usize],
) -> Result<Geometry, String> {
    let expected = output_dims(lhs, rhs, adj_x, adj_y)?;
    if expected != out {
        return Err(format!(
            "{lhs:?} x {rhs:?} (adj_x {adj_x}, adj_y {adj_y}) gives {expected:?}, but the output \
             is {out:?}"
        ));
    }
    geometry_of(lhs, rhs, adj_x, adj_y)
}

fn geometry_of(lhs: &[usize], rhs: &[usize], adj_x: bool, adj_y: bool) -> Result<Geometry, String> {
    if !(2..=5).contains(&lhs.len()) || !(2..=5).contains(&rhs.len()) {
        return Err(format!(
            "operands of shapes {lhs:?} and {rhs:?}; ranks 2 to 5 are supported"
        ));
    }
    // Both extended to five dimensions with leading 1s (TFLM's ExtendedShape).
    let extend = |d: &[usize]| -> [usize; 5] {
        let mut e = [1usize; 5];
        e[5 - d.len()..].copy_from_slice(d);
        e
    };
    let (l, r) = (extend(lhs), extend(rhs));
    let (rows, l_depth) = if adj_x { (l[4], l[3]) } else { (l[3], l[4]) };
    let (r_depth, cols) = if adj_y { (r[4], r[3]) } else { (r[3], r[4]) };
    if l_depth != r_depth {
        return Err(format!(
            "{lhs:?} (adj_x {adj_x}) and {rhs:?} (adj_y {adj_y}) do not agree on the summed \
             dimension ({l_depth} against {r_depth})"
        ));
    }
    let mut batches = [1usize; BATCH_MATMUL_BATCH_DIMS];
    let mut lhs_strides = [0usize; BATCH_MATMUL_BATCH_DIMS];
    let mut rhs_strides = [0usize; BATCH_MATMUL_BATCH_DIMS];
    let (mut ls, mut rs) = (l[3] * l[4], r[3] * r[4]);
    for d in (0..BATCH_MATMUL_BATCH_DIMS).rev() {
        batches[d] = match (l[d], r[d]) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            (a, b) => {
                return Err(format!(
                    "batch dimensions of {lhs:?} and {rhs:?} do not broadcast ({a} against {b})"
                ))
            }
        };
        lhs_strides[d] = if l[d] == 1 { 0 } else { ls };
        rhs_strides[d] = if r[d] == 1 { 0 } else { rs };
        ls *= l[d];
        rs *= r[d];
    }
    Ok(Geometry {
        batches,
        lhs_strides,
        rhs_strides,
        rows,
        cols,
        depth: l_depth,
    })
}

/// The product in float (the reference for calibration and tests).
pub fn eval(
    (lhs, lhs_dims): (&[f32], &[usize]),
    (rhs, rhs_dims): (&[f32], &[usize]),
    adj_x: bool,
    adj_y: bool,
    out: &[usize],
) -> Result<Vec<f32>, String> {
    let g = geometry(lhs_dims, rhs_dims, adj_x, adj_y, out)?;
    let (rows, cols, depth) = (g.rows, g.cols, g.depth);
    let (l_row, l_k) = if adj_x { (1, rows) } else { (depth, 1) };
    let (r_col, r_k) = if adj_y { (depth, 1) } else { (1, cols) };
    let mut y = Vec::with_capacity(g.batches.iter().product::<usize>() * rows * cols);
    for b0 in 0..g.batches[0] {
        for b1 in 0..g.batches[1] {
            for b2 in 0..g.batches[2] {
                let base = |s: &[usize; 3]| b0 * s[0] + b1 * s[1] + b2 * s[2];
                let (lb, rb) = (base(&g.lhs_strides), base(&g.rhs_strides));
                for i in 0..rows {
                    for j in 0..cols {
                        let mut acc = 0f64;
                        for k in 0..depth {
                            let (Some(&a), Some(&b)) = (
                                lhs.get(lb + i * l_row + k * l_k),
                                rhs.get(rb + j * r_col + k * r_k),
                            ) else {
                                return Err("an operand is shorter than its shape".into());
                            };
                            acc += a as f64 * b as f64;
                        }
                        y.push(acc as f32);
                    }
                }
            }
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_broadcasts_batches_and_reads_adjoints() {
        let g = geometry(&[2, 1, 3, 4], &[3, 4, 5], false, false, &[2, 3, 3, 5]).unwrap();
        assert_eq!(g.batches, [1, 2, 3]);
        assert_eq!(g.lhs_strides, [0, 12, 0]);
        assert_eq!(g.rhs_strides, [0, 0, 20]);
        assert_eq!((g.rows, g.cols, g.depth), (3, 5, 4));
        let g = geometry(&[1, 4, 8], &[1, 5, 8], false, true, &[1, 4, 5]).unwrap();
        assert_eq!((g.rows, g.cols, g.depth), (4, 5, 8));
        assert!(geometry(&[1, 4, 8], &[1, 5, 8], false, false, &[1, 4, 5]).is_err());
        assert!(geometry(&[2, 4, 8], &[3, 8, 5], false, false, &[2, 4, 5]).is_err());
        // [[1, 2], [3, 4]] x its transpose.
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = eval((&x, &[2, 2]), (&x, &[2, 2]), false, true, &[2, 2]).unwrap();
        assert_eq!(y, [5.0, 11.0, 11.0, 25.0]);
    }
}
