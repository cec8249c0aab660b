//! Constant folding of shape arithmetic, shared by both front ends.
//!
//! Exports whose batch is not fixed compute a reshape's target from the
//! input's shape at run time: Keras's `Flatten` and `Reshape` become TFLite
//! `SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE`, PyTorch's
//! `x.view(x.size(0), -1)` becomes ONNX `Shape -> Gather -> Unsqueeze ->
//! Concat -> Reshape`. Every tensor shape is static in our graphs (batch 1),
//! so those values are constants. Each front end maps its shape ops to a
//! [`FoldOp`] and, when all of an op's inputs are constants and its output is
//! an integer tensor, evaluates it here with [`eval`] and drops the op; what
//! cannot be folded stays an error naming the op.
//!
//! Values are held as `i64` whatever the source type (int32 or int64); the
//! front end checks that a result fits the output's type. Every result is
//! bounded to [`MAX_ELEMENTS`] elements, so a hostile model cannot make the
//! folding allocate without bound.

/// The most elements a folded tensor may have (shape arithmetic needs a handful).
pub const MAX_ELEMENTS: usize = 1 << 16;

/// An integer constant: dimensions and row-major values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ints {
    /// Dimensions (empty for a scalar).
    pub dims: Vec<usize>,
    /// The values, `dims.product()` of them.
    pub values: Vec<i64>,
}

impl Ints {
    /// A constant of these dimensions; the value count must match.
    pub fn new(dims: Vec<usize>, values: Vec<i64>) -> Result<Ints, String> {
        let n = elements(&dims)?;
        if n != values.len() {
            return Err(format!(
                "{} values for dimensions {dims:?} ({n} elements)",
                values.len()
            ));
        }
        Ok(Ints { dims, values })
    }

    /// A rank-1 constant.
    pub fn vector(values: Vec<i64>) -> Ints {
        Ints {
            dims: vec![values.len()],
            values,
        }
    }

    /// A tensor's shape as a rank-1 constant (what `SHAPE` / `Shape` give).
    pub fn shape_of(dims: &[usize]) -> Ints {
        Ints::vector(dims.iter().map(|&d| d as i64).collect())
    }

    fn rank(&self) -> usize {
        self.dims.len()
    }

    /// The values of a scalar or rank-1 constant.
    fn list(&self, what: &str) -> Result<&[i64], String> {
        if self.rank() > 1 {
            return Err(format!(
                "{what} has shape {:?}, expected a scalar or a vector",
                self.dims
            ));
        }
        Ok(&self.values)
    }
}

/// The element count of `dims`, at most [`MAX_ELEMENTS`].
fn elements(dims: &[usize]) -> Result<usize, String> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("a result of shape {dims:?} is larger than {MAX_ELEMENTS} elements"))
}

/// Element-wise arithmetic (numpy broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`, rounded toward zero (C, TFLite `DIV`, ONNX `Div` on integers).
    Div,
    /// `floor(a / b)` (TFLite `FLOOR_DIV`).
    FloorDiv,
}

/// How out-of-range slice starts are clamped for a negative step: TensorFlow
/// clamps to `[-1, dim - 1]` (a start before the first element gives an empty
/// slice), ONNX to `[0, dim - 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceRules {
    /// TensorFlow / TFLite `STRIDED_SLICE`.
    Tf,
    /// ONNX `Slice`.
    Onnx,
}

/// A shape-arithmetic op, with its options, over integer constants. The
/// inputs each takes are listed; `None` marks an omitted optional input.
#[derive(Debug, Clone, PartialEq)]
pub enum FoldOp {
    /// TFLite `STRIDED_SLICE`: `[x, begin, end, strides?]` with TensorFlow's masks.
    StridedSlice {
        /// Bit `i`: ignore `begin[i]`, start at the first (last, for a negative stride) element.
        begin_mask: i32,
        /// Bit `i`: ignore `end[i]`, run to the end.
        end_mask: i32,
        /// Bit `i`: axis `i` is taken at `begin[i]` and removed.
        shrink_axis_mask: i32,
        /// `end` counts from `begin` (`end = begin + end`).
        offset: bool,
    },
    /// TFLite `SLICE`: `[x, begin, size]` (`size -1`: to the end).
    Slice,
    /// ONNX `Slice`: `[data, starts, ends, axes?, steps?]`.
    OnnxSlice,
    /// `GATHER` / `Gather` along `axis`: `[data, indices]` (negative indices count from the end).
    Gather {
        /// The axis of `data` that the indices pick from.
        axis: i64,
    },
    /// `CONCATENATION` / `Concat` along `axis`: any number of inputs.
    Concat {
        /// The axis joined along.
        axis: i64,
    },
    /// TFLite `PACK`: stacks its inputs along a new axis.
    Pack {
        /// The new axis.
        axis: i64,
    },
    /// `RESHAPE` / `Reshape`: `[data, shape]` (one `-1` allowed).
    Reshape {
        /// ONNX: a `0` copies the input's dimension (`allowzero = 0`).
        zero_copies: bool,
    },
    /// `SQUEEZE` / `Squeeze`: `[data, axes?]`; without axes (as an option or
    /// an input), every dimension of size 1 is removed.
    Squeeze {
        /// The axes, when an option or attribute gives them.
        axes: Option<Vec<i64>>,
    },
    /// `EXPAND_DIMS` / `Unsqueeze`: `[data, axes?]`, axes of the output.
    Unsqueeze {
        /// The axes, when an attribute gives them (else input 1).
        axes: Option<Vec<i64>>,
    },
    /// Element-wise arithmetic: `[a, b]`.
    Binary(BinOp),
    /// `CAST` / `Cast` to an integer type: `[x]`.
    Cast {
        /// To int32 (values wrap as a C cast does); otherwise to int64.
        to_i32: bool,
    },
    /// ONNX `ConstantOfShape` with an integer value: `[shape]`.
    ConstantOfShape {
        /// The value every element gets.
        value: i64,
    },
}

impl FoldOp {
    /// The inputs an op requires (more may be optional).
    pub fn required_inputs(&self) -> usize {
        match self {
            FoldOp::StridedSlice { .. } | FoldOp::Slice | FoldOp::OnnxSlice => 3,
            FoldOp::Gather { .. } | FoldOp::Reshape { .. } | FoldOp::Binary(_) => 2,
            FoldOp::Unsqueeze { axes: None } => 2,
            FoldOp::Concat { .. } | FoldOp::Pack { .. } => 1,
            FoldOp::Squeeze { .. }
            | FoldOp::Unsqueeze { .. }
            | FoldOp::Cast { .. }
            | FoldOp::ConstantOfShape { .. } => 1,
        }
    }
}

/// Evaluates `op` on constant inputs. `inputs[k]` is `None` for an omitted
/// optional input. The error says what is wrong, without the op's name (the
/// front end adds it).
pub fn eval(op: &FoldOp, inputs: &[Option<&Ints>]) -> Result<Ints, String> {
    let need = op.required_inputs();
    if inputs.len() < need {
        return Err(format!(
            "has {} inputs, at least {need} are required",
            inputs.len()
        ));
    }
    let input = |k: usize| -> Result<&Ints, String> {
        inputs
            .get(k)
            .copied()
            .flatten()
            .ok_or_else(|| format!("required input {k} is omitted"))
    };
    let optional = |k: usize| inputs.get(k).copied().flatten();
    match op {
        FoldOp::StridedSlice {
            begin_mask,
            end_mask,
            shrink_axis_mask,
            offset,
        } => {
            let x = input(0)?;
            let begin = input(1)?.list("begin")?;
            let end = input(2)?.list("end")?;
            let ones;
            let strides = match optional(3) {
                Some(s) => s.list("strides")?,
                None => {
                    ones = vec![1; begin.len()];
                    &ones
                }
            };
            if begin.len() != end.len() || begin.len() != strides.len() {
                return Err(format!(
                    "begin, end and strides have {}, {} and {} elements",
                    begin.len(),
                    end.len(),
                    strides.len()
                ));
            }
            if begin.len() > x.rank() {
                return Err(format!(
                    "{} slice entries for an input of rank {}",
                    begin.len(),
                    x.rank()
                ));
            }
            let bit = |mask: i32, a: usize| a < 32 && mask & (1 << a) != 0;
            let mut picks = Vec::with_capacity(x.rank());
            let mut dims = Vec::with_capacity(x.rank());
            for (a, &dim) in x.dims.iter().enumerate() {
                if a >= begin.len() {
                    picks.push((0..dim).collect::<Vec<_>>());
                    dims.push(dim);
                    continue;
                }
                let dim_i = dim as i64;
                if bit(*shrink_axis_mask, a) {
                    let b = begin[a];
                    let b = if b < 0 { b + dim_i } else { b };
                    if !(0..dim_i).contains(&b) {
                        return Err(format!(
                            "index {} is out of range for axis {a} of size {dim}",
                            begin[a]
                        ));
                    }
                    picks.push(vec![b as usize]);
                    continue;
                }
                let step = strides[a];
                let start = (!bit(*begin_mask, a)).then_some(begin[a]);
                let stop = if bit(*end_mask, a) {
                    None
                } else if *offset {
                    Some(begin[a].saturating_add(end[a]))
                } else {
                    Some(end[a])
                };
                let p = slice_axis(dim, start, stop, step, SliceRules::Tf)
                    .map_err(|e| format!("axis {a}: {e}"))?;
                dims.push(p.len());
                picks.push(p);
            }
            Ok(Ints {
                values: take(x, &picks, &dims)?,
                dims,
            })
        }
        FoldOp::Slice => {
            let x = input(0)?;
            let begin = input(1)?.list("begin")?;
            let size = input(2)?.list("size")?;
            if begin.len() != x.rank() || size.len() != x.rank() {
                return Err(format!(
                    "begin and size have {} and {} elements for an input of rank {}",
                    begin.len(),
                    size.len(),
                    x.rank()
                ));
            }
            let mut picks = Vec::with_capacity(x.rank());
            for (a, &dim) in x.dims.iter().enumerate() {
                let (b, s) = (begin[a], size[a]);
                let len = if s == -1 { dim as i64 - b } else { s };
                if b < 0 || len < 0 || b.saturating_add(len) > dim as i64 {
                    return Err(format!(
                        "begin {b}, size {s} is out of range for axis {a} of size {dim}"
                    ));
                }
                picks.push((b as usize..(b + len) as usize).collect::<Vec<_>>());
            }
            let dims: Vec<usize> = picks.iter().map(Vec::len).collect();
            Ok(Ints {
                values: take(x, &picks, &dims)?,
                dims,
            })
        }
        FoldOp::OnnxSlice => {
            let x = input(0)?;
            let starts = input(1)?.list("starts")?;
            let ends = input(2)?.list("ends")?;
            let n = starts.len();
            let axes: Vec<i64> = match optional(3) {
                Some(a) => a.list("axes")?.to_vec(),
                None => (0..n as i64).collect(),
            };
            let steps: Vec<i64> = match optional(4) {
                Some(s) => s.list("steps")?.to_vec(),
                None => vec![1; n],
            };
            if ends.len() != n || axes.len() != n || steps.len() != n {
                return Err(format!(
                    "starts, ends, axes and steps have {n}, {}, {} and {} elements",
                    ends.len(),
                    axes.len(),
                    steps.len()
                ));
            }
            let mut picks: Vec<Vec<usize>> = x.dims.iter().map(|&d| (0..d).collect()).collect();
            let mut seen = vec![false; x.rank()];
            for k in 0..n {
                let a = axis(axes[k], x.rank())?;
                if std::mem::replace(&mut seen[a], true) {
                    return Err(format!("axis {} is sliced twice", axes[k]));
                }
                picks[a] = slice_axis(
                    x.dims[a],
                    Some(starts[k]),
                    Some(ends[k]),
                    steps[k],
                    SliceRules::Onnx,
                )
                .map_err(|e| format!("axis {a}: {e}"))?;
            }
            let dims: Vec<usize> = picks.iter().map(Vec::len).collect();
            Ok(Ints {
                values: take(x, &picks, &dims)?,
                dims,
            })
        }
        FoldOp::Gather { axis: ax } => {
            let x = input(0)?;
            let indices = input(1)?;
            let a = axis(*ax, x.rank())?;
            let dim = x.dims[a];
            let pick = indices
                .values
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + dim as i64 } else { i };
                    usize::try_from(j).ok().filter(|&j| j < dim).ok_or_else(|| {
                        format!("index {i} is out of range for axis {a} of size {dim}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut picks: Vec<Vec<usize>> = x.dims.iter().map(|&d| (0..d).collect()).collect();
            picks[a] = pick;
            let mut dims = x.dims[..a].to_vec();
            dims.extend_from_slice(&indices.dims);
            dims.extend_from_slice(&x.dims[a + 1..]);
            Ok(Ints {
                values: take(x, &picks, &dims)?,
                dims,
            })
        }
        FoldOp::Concat { axis: ax } => {
            let parts = (0..inputs.len())
                .map(input)
                .collect::<Result<Vec<_>, _>>()?;
            concat(&parts, *ax)
        }
        FoldOp::Pack { axis: ax } => {
            let parts = (0..inputs.len())
                .map(input)
                .collect::<Result<Vec<_>, _>>()?;
            let rank = parts[0].rank() + 1;
            let a = axis(*ax, rank)?;
            let expanded: Vec<Ints> = parts
                .iter()
                .map(|p| {
                    let mut dims = p.dims.clone();
                    dims.insert(a.min(dims.len()), 1);
                    Ints {
                        dims,
                        values: p.values.clone(),
                    }
                })
                .collect();
            if expanded.iter().any(|p| p.rank() != rank) {
                return Err("the inputs' ranks differ".into());
            }
            let refs: Vec<&Ints> = expanded.iter().collect();
            concat(&refs, a as i64)
        }
        FoldOp::Reshape { zero_copies } => {
            let x = input(0)?;
            let target = input(1)?.list("the shape")?;
            let dims = resolve_reshape(&x.dims, target, *zero_copies)?;
            Ok(Ints {
                dims,
                values: x.values.clone(),
            })
        }
        FoldOp::Squeeze { axes } => {
            let x = input(0)?;
            let axes = match (axes, optional(1)) {
                (Some(a), _) => a.clone(),
                (None, Some(a)) => a.list("axes")?.to_vec(),
                (None, None) => Vec::new(),
            };
            let mut drop = vec![axes.is_empty(); x.rank()];
            if axes.is_empty() {
                for (d, &n) in drop.iter_mut().zip(&x.dims) {
                    *d = n == 1;
                }
            }
            for &s in &axes {
                let a = axis(s, x.rank())?;
                if x.dims[a] != 1 {
                    return Err(format!(
                        "axis {s} has size {}, only size-1 axes can be squeezed",
                        x.dims[a]
                    ));
                }
                drop[a] = true;
            }
            let dims = x
                .dims
                .iter()
                .zip(&drop)
                .filter(|(_, &d)| !d)
                .map(|(&n, _)| n)
                .collect();
            Ok(Ints {
                dims,
                values: x.values.clone(),
            })
        }
        FoldOp::Unsqueeze { axes } => {
            let x = input(0)?;
            let axes = match axes {
                Some(a) => a.clone(),
                None => input(1)?.list("axes")?.to_vec(),
            };
            let rank = x.rank() + axes.len();
            let mut new = vec![false; rank];
            for &s in &axes {
                let a = axis(s, rank)?;
                if std::mem::replace(&mut new[a], true) {
                    return Err(format!("axis {s} is given twice"));
                }
            }
            let mut src = x.dims.iter();
            let dims = new
                .iter()
                .map(|&n| if n { 1 } else { *src.next().unwrap_or(&1) })
                .collect();
            Ok(Ints {
                dims,
                values: x.values.clone(),
            })
        }
        FoldOp::Binary(bop) => binary(*bop, input(0)?, input(1)?),
        FoldOp::Cast { to_i32 } => {
            let x = input(0)?;
            let values = if *to_i32 {
                x.values.iter().map(|&v| v as i32 as i64).collect()
            } else {
                x.values.clone()
            };
            Ok(Ints {
                dims: x.dims.clone(),
                values,
            })
        }
        FoldOp::ConstantOfShape { value } => {
            let shape = input(0)?.list("the shape")?;
            let dims = shape
                .iter()
                .map(|&d| {
                    usize::try_from(d).map_err(|_| format!("negative dimension {d} in {shape:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let n = elements(&dims)?;
            Ok(Ints {
                dims,
                values: vec![*value; n],
            })
        }
    }
}

/// A possibly negative axis of a rank-`rank` tensor, checked.
fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let k = if a < 0 { a + r } else { a };
    usize::try_from(k)
        .ok()
        .filter(|&k| k < rank)
        .ok_or_else(|| format!("axis {a} is out of range for rank {rank}"))
}

/// The indices a slice takes along one axis of size `dim`: `start`/`stop`
/// `None` for the whole axis in the step's direction; negative values count
/// from the end; out-of-range values are clamped as `rules` say.
pub(crate) fn slice_axis(
    dim: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
    rules: SliceRules,
) -> Result<Vec<usize>, String> {
    if step == 0 {
        return Err("a step of 0".into());
    }
    let d = dim as i64;
    let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (start, stop) = if step > 0 {
        (
            start.map_or(0, |s| wrap(s).clamp(0, d)),
            stop.map_or(d, |e| wrap(e).clamp(0, d)),
        )
    } else {
        let low = match rules {
            SliceRules::Tf => -1,
            SliceRules::Onnx => 0,
        };
        (
            start.map_or(d - 1, |s| wrap(s).clamp(low, d - 1)),
            stop.map_or(-1, |e| wrap(e).clamp(-1, d - 1)),
        )
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        if out.len() >= MAX_ELEMENTS {
            return Err(format!("more than {MAX_ELEMENTS} elements"));
        }
        out.push(i as usize);
        i = i.saturating_add(step);
    }
    Ok(out)
}

/// The elements of `x` at the cross product of `picks` (one index list per
/// axis), in row-major order; `dims` is the result's shape (its product is
/// the cross product's size).
fn take(x: &Ints, picks: &[Vec<usize>], dims: &[usize]) -> Result<Vec<i64>, String> {
    let total = elements(dims)?;
    if picks.iter().any(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let mut strides = vec![1usize; x.rank()];
    for a in (0..x.rank().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * x.dims[a + 1];
    }
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; picks.len()];
    loop {
        let offset: usize = idx
            .iter()
            .zip(picks)
            .zip(&strides)
            .map(|((&i, p), &s)| p[i] * s)
            .sum();
        out.push(x.values.get(offset).copied().unwrap_or(0));
        // Advance the odometer, innermost axis first.
        let mut a = picks.len();
        loop {
            if a == 0 {
                return Ok(out);
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < picks[a].len() {
                break;
            }
            idx[a] = 0;
        }
    }
}

fn concat(parts: &[&Ints], ax: i64) -> Result<Ints, String> {
    let first = parts.first().ok_or("no inputs")?;
    let a = axis(ax, first.rank())?;
    let mut dims = first.dims.clone();
    dims[a] = 0;
    for p in parts {
        let same_rest =
            p.rank() == first.rank() && (0..p.rank()).all(|k| k == a || p.dims[k] == first.dims[k]);
        if !same_rest {
            return Err(format!(
                "inputs of shapes {:?} and {:?} do not concatenate along axis {ax}",
                first.dims, p.dims
            ));
        }
        dims[a] += p.dims[a];
    }
    let n = elements(&dims)?;
    let outer: usize = dims[..a].iter().product();
    let inner: usize = dims[a + 1..].iter().product();
    let mut values = Vec::with_capacity(n);
    for o in 0..outer {
        for p in parts {
            let chunk = p.dims[a] * inner;
            values.extend_from_slice(&p.values[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(Ints { dims, values })
}

fn binary(op: BinOp, x: &Ints, y: &Ints) -> Result<Ints, String> {
    // numpy broadcasting: align the shapes at the right.
    let rank = x.rank().max(y.rank());
    let pad = |d: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - d.len()];
        v.extend_from_slice(d);
        v
    };
    let (xd, yd) = (pad(&x.dims), pad(&y.dims));
    let mut dims = Vec::with_capacity(rank);
    for (&a, &b) in xd.iter().zip(&yd) {
        dims.push(match (a, b) {
            _ if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    x.dims, y.dims
                ))
            }
        });
    }
    let n = elements(&dims)?;
    let index = |d: &[usize], flat: usize| -> usize {
        // The element of a (broadcast) operand of dims `d` at output position `flat`.
        let (mut rest, mut at, mut stride) = (flat, 0, 1);
        for k in (0..rank).rev() {
            let i = rest % dims[k];
            rest /= dims[k];
            if d[k] != 1 {
                at += i * stride;
            }
            stride *= d[k];
        }
        at
    };
    let mut values = Vec::with_capacity(n);
    for f in 0..n {
        let (a, b) = (x.values[index(&xd, f)], y.values[index(&yd, f)]);
        let v = match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div | BinOp::FloorDiv if b == 0 => return Err("division by zero".into()),
            BinOp::Div => a.checked_div(b),
            BinOp::FloorDiv => a.checked_div(b).map(|q| {
                if (a % b != 0) && ((a < 0) != (b < 0)) {
                    q - 1
                } else {
                    q
                }
            }),
        };
        values.push(v.ok_or_else(|| format!("{a} {op:?} {b} overflows"))?);
    }
    Ok(Ints { dims, values })
}

/// The dimensions a reshape of `input` to `target` gives: one `-1` takes
/// what is left, and with `zero_copies` (ONNX, `allowzero = 0`) a `0` copies
/// the input's dimension at that position. The element count must not change.
pub fn resolve_reshape(
    input: &[usize],
    target: &[i64],
    zero_copies: bool,
) -> Result<Vec<usize>, String> {
    let total: usize = input.iter().product();
    let mut dims: Vec<Option<usize>> = Vec::with_capacity(target.len());
    for (i, &d) in target.iter().enumerate() {
        dims.push(match d {
            -1 => None,
            0 if zero_copies => Some(*input.get(i).ok_or_else(|| {
                format!("shape {target:?} copies dimension {i}, which the input {input:?} lacks")
            })?),
            d => Some(usize::try_from(d).map_err(|_| format!("shape {target:?}: dimension {d}"))?),
        });
    }
    if dims.iter().filter(|d| d.is_none()).count() > 1 {
        return Err(format!("shape {target:?} has more than one -1"));
    }
    let known = dims
        .iter()
        .flatten()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {target:?} overflows"))?;
    let out: Vec<usize> = dims
        .iter()
        .map(|d| match d {
            Some(d) => *d,
            None if known > 0 => total / known,
            None => 0,
        })
        .collect();
    if out.iter().product::<usize>() != total || (known == 0 && dims.contains(&None)) {
        return Err(format!(
            "the input's shape {input:?} ({total} elements) cannot be reshaped to {target:?}"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(values: &[i64]) -> Ints {
        Ints::vector(values.to_vec())
    }

    fn s(value: i64) -> Ints {
        Ints {
            dims: vec![],
            values: vec![value],
        }
    }

    fn run(op: FoldOp, inputs: &[&Ints]) -> Ints {
        let inputs: Vec<Option<&Ints>> = inputs.iter().map(|i| Some(*i)).collect();
        eval(&op, &inputs).unwrap()
    }

    #[test]
    fn keras_flatten_chain() {
        // SHAPE [1, 3, 3, 8] -> STRIDED_SLICE [0:1] shrink -> PACK [batch, 72].
        let shape = Ints::shape_of(&[1, 3, 3, 8]);
        let batch = run(
            FoldOp::StridedSlice {
                begin_mask: 0,
                end_mask: 0,
                shrink_axis_mask: 1,
                offset: false,
            },
            &[&shape, &v(&[0]), &v(&[1]), &v(&[1])],
        );
        assert_eq!(batch, s(1));
        let packed = run(FoldOp::Pack { axis: 0 }, &[&batch, &s(72)]);
        assert_eq!(packed, v(&[1, 72]));
        assert_eq!(
            resolve_reshape(&[1, 3, 3, 8], &[1, -1], false),
            Ok(vec![1, 72])
        );
    }

    #[test]
    fn pytorch_view_chain() {
        // Shape -> Gather(0) -> Unsqueeze(0) -> Concat([batch], [-1]).
        let shape = Ints::shape_of(&[1, 8, 3, 3]);
        let batch = run(FoldOp::Gather { axis: 0 }, &[&shape, &s(0)]);
        assert_eq!(batch, s(1));
        let b = run(
            FoldOp::Unsqueeze {
                axes: Some(vec![0]),
            },
            &[&batch],
        );
        assert_eq!(b, v(&[1]));
        let target = run(FoldOp::Concat { axis: 0 }, &[&b, &v(&[-1])]);
        assert_eq!(target, v(&[1, -1]));
        // Unsqueeze with its axes as an input (opset 13).
        assert_eq!(
            run(FoldOp::Unsqueeze { axes: None }, &[&batch, &v(&[0])]),
            v(&[1])
        );
    }

    #[test]
    fn slices() {
        let x = v(&[10, 11, 12, 13, 14]);
        let ss = |b: i32, e: i32, begin: i64, end: i64, step: i64| {
            run(
                FoldOp::StridedSlice {
                    begin_mask: b,
                    end_mask: e,
                    shrink_axis_mask: 0,
                    offset: false,
                },
                &[&x, &v(&[begin]), &v(&[end]), &v(&[step])],
            )
            .values
        };
        assert_eq!(ss(0, 0, 1, 3, 1), vec![11, 12]);
        assert_eq!(ss(0, 1, 1, 0, 1), vec![11, 12, 13, 14]);
        assert_eq!(ss(1, 1, 0, 0, -1), vec![14, 13, 12, 11, 10]);
        assert_eq!(ss(0, 0, -2, 100, 1), vec![13, 14]);
        assert_eq!(ss(0, 0, 4, 0, -2), vec![14, 12]);
        // Offset: end counts from begin.
        let off = run(
            FoldOp::StridedSlice {
                begin_mask: 0,
                end_mask: 0,
                shrink_axis_mask: 0,
                offset: true,
            },
            &[&x, &v(&[1]), &v(&[2]), &v(&[1])],
        );
        assert_eq!(off.values, vec![11, 12]);
        // SLICE with size -1.
        assert_eq!(
            run(FoldOp::Slice, &[&x, &v(&[2]), &v(&[-1])]).values,
            vec![12, 13, 14]
        );
        // ONNX Slice, INT64_MAX as "to the end", negative steps.
        assert_eq!(
            run(FoldOp::OnnxSlice, &[&x, &v(&[1]), &v(&[i64::MAX])]).values,
            vec![11, 12, 13, 14]
        );
        assert_eq!(
            run(
                FoldOp::OnnxSlice,
                &[&x, &v(&[-1]), &v(&[i64::MIN]), &v(&[0]), &v(&[-2])]
            )
            .values,
            vec![14, 12, 10]
        );
        // 2-D strided slice with a shrunk row.
        let m = Ints::new(vec![2, 3], vec![1, 2, 3, 4, 5, 6]).unwrap();
        let r = run(
            FoldOp::StridedSlice {
                begin_mask: 0,
                end_mask: 2,
                shrink_axis_mask: 1,
                offset: false,
            },
            &[&m, &v(&[1, 1]), &v(&[2, 0]), &v(&[1, 1])],
        );
        assert_eq!(r, v(&[5, 6]));
    }

    #[test]
    fn arithmetic_and_shapes() {
        assert_eq!(
            run(FoldOp::Binary(BinOp::Mul), &[&v(&[2, 3]), &s(4)]),
            v(&[8, 12])
        );
        assert_eq!(run(FoldOp::Binary(BinOp::Div), &[&s(-7), &s(2)]), s(-3));
        assert_eq!(
            run(FoldOp::Binary(BinOp::FloorDiv), &[&s(-7), &s(2)]),
            s(-4)
        );
        assert_eq!(
            run(FoldOp::Binary(BinOp::Sub), &[&v(&[5, 6]), &v(&[1, 2])]),
            v(&[4, 4])
        );
        let e = eval(&FoldOp::Binary(BinOp::Div), &[Some(&s(1)), Some(&s(0))]).unwrap_err();
        assert!(e.contains("division by zero"), "{e}");
        let e = eval(
            &FoldOp::Binary(BinOp::Add),
            &[Some(&v(&[1, 2])), Some(&v(&[1, 2, 3]))],
        )
        .unwrap_err();
        assert!(e.contains("broadcast"), "{e}");
        let e = eval(
            &FoldOp::Binary(BinOp::Mul),
            &[Some(&s(i64::MAX)), Some(&s(2))],
        )
        .unwrap_err();
        assert!(e.contains("overflows"), "{e}");
        assert_eq!(run(FoldOp::Cast { to_i32: true }, &[&s(1 << 32)]), s(0));
        assert_eq!(
            run(FoldOp::ConstantOfShape { value: 7 }, &[&v(&[2])]),
            v(&[7, 7])
        );
        let big = eval(
            &FoldOp::ConstantOfShape { value: 0 },
            &[Some(&v(&[1 << 20, 1 << 20]))],
        )
        .unwrap_err();
        assert!(big.contains("larger than"), "{big}");
        let m = Ints::new(vec![1, 2, 1], vec![3, 4]).unwrap();
        assert_eq!(run(FoldOp::Squeeze { axes: None }, &[&m]), v(&[3, 4]));
        assert_eq!(
            run(
                FoldOp::Squeeze {
                    axes: Some(vec![-1])
                },
                &[&m]
            )
            .dims,
            vec![1, 2]
        );
        assert_eq!(
            run(FoldOp::Reshape { zero_copies: false }, &[&m, &v(&[-1])]),
            v(&[3, 4])
        );
        assert_eq!(
            run(FoldOp::Pack { axis: 1 }, &[&v(&[1, 2]), &v(&[3, 4])]).values,
            vec![1, 3, 2, 4]
        );
        let g = run(FoldOp::Gather { axis: 0 }, &[&v(&[5, 6, 7]), &v(&[-1, 0])]);
        assert_eq!(g, v(&[7, 5]));
    }

    #[test]
    fn reshape_targets() {
        assert_eq!(
            resolve_reshape(&[1, 4, 4, 2], &[-1, 8], false),
            Ok(vec![4, 8])
        );
        assert_eq!(
            resolve_reshape(&[1, 4, 4, 2], &[0, -1], true),
            Ok(vec![1, 32])
        );
        assert!(resolve_reshape(&[1, 4], &[-1, -1], false).is_err());
        assert!(resolve_reshape(&[1, 4], &[3, -1], false).is_err());
        assert!(resolve_reshape(&[1, 4], &[1, 5], false).is_err());
        assert!(resolve_reshape(&[1, 4], &[-2, 2], false).is_err());
    }
}
