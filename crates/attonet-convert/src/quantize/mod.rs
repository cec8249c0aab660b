//! Post-training int8 quantization: a float [`Graph`] (NHWC, TFLite op
//! semantics, from any front end) plus calibration samples becomes the int8
//! graph a TFLite int8 model would give, which [`lower`](crate::lower) then
//! turns into the same kernels and requantization tables as the TFLite path.
//!
//! What it produces, as TensorFlow Lite's converter does:
//! * activations: int8, per tensor, asymmetric (`scale = (max - min) / 255`
//!   over a range widened to contain 0, zero point nudged into -128..=127);
//!   the range comes from a [`Method`] over the calibration samples, or from
//!   the model itself where it says (QDQ ONNX: `QuantizeLinear` /
//!   `DequantizeLinear` pairs leave their scale and zero point on the tensor);
//! * the model input: int8 with the min/max of the calibration inputs (so a
//!   0..255 image input gets scale 1, zero point -128, as MLPerf's int8 models);
//! * weights: int8 symmetric per output channel in -127..=127 (CONV_2D axis 0,
//!   DEPTHWISE_CONV_2D axis 3, FULLY_CONNECTED axis 0 or per tensor);
//! * biases: int32 with scale `input_scale * weight_scale` of each channel;
//! * MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE and the movement family (PAD,
//!   TRANSPOSE, slices, resizes, ...) outputs share their input's
//!   quantization; SOFTMAX outputs have scale 1/256 and zero point -128;
//! * the unary family (`crate::ops::unary_lut::output_quantization`):
//!   a TFLite LOGISTIC gets 1/256 and -128, TANH 1/128 and 0, RELU6 its
//!   input's (what TFLM's kernels assume); the others, and every ONNX
//!   activation, their calibrated range;
//! * fused activations need nothing special: the float executor applies
//!   them before ranges are observed, so a ReLU output's range starts at 0.

pub mod observer;
pub mod sqnr;

use std::collections::HashMap;

use crate::error::{ConvertError, Result};
use crate::float_exec::{constant_f32, FloatExecutor};
use crate::ir::{DType, Graph, OpKind, Quantization, Tensor, TensorId};
use crate::npy::Array;
use observer::Stats;

/// How activation ranges are chosen from the calibration values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Smallest and largest value seen (TensorFlow Lite's converter).
    MinMax,
    /// The `1-p` and `p` quantiles, e.g. `Percentile(0.9999)`.
    Percentile(f64),
    /// The clipping range with the least expected squared quantization error.
    Mse,
}

impl Default for Method {
    /// `Percentile(0.9999)`, chosen by measured accuracy on the full CIFAR-10
    /// test set (float / min-max / 99.99 % / 99.9 % / MSE): MLPerf ResNet-8
    /// 87.19 / 86.85 / 87.17 / 86.99 / 87.17 %, the PyTorch fixture
    /// 75.49 / 75.36 / 75.40 / 75.00 / 75.39 % (tests/onnx/README.md).
    fn default() -> Self {
        Method::Percentile(0.9999)
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    /// `minmax`, `mse`, `percentile` (99.99 %) or `percentile:P` (P in percent).
    fn from_str(s: &str) -> std::result::Result<Method, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "minmax" | "min-max" | "min_max" => Ok(Method::MinMax),
            "mse" => Ok(Method::Mse),
            "percentile" => Ok(Method::Percentile(0.9999)),
            _ => {
                if let Some(p) = s.strip_prefix("percentile:") {
                    let p: f64 = p
                        .trim_end_matches('%')
                        .parse()
                        .map_err(|_| format!("'{p}' is not a percentage"))?;
                    if (50.0..=100.0).contains(&p) {
                        return Ok(Method::Percentile(p / 100.0));
                    }
                    return Err(format!("percentile {p} is not between 50 and 100"));
                }
                Err(format!(
                    "unknown calibration method '{s}' (minmax, percentile, percentile:P, mse)"
                ))
            }
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Mse => write!(f, "mse"),
            Method::Percentile(p) => write!(f, "percentile:{}", p * 100.0),
        }
    }
}

/// Quantization options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// How activation ranges are chosen.
    pub method: Method,
    /// FULLY_CONNECTED weights per output channel (true) or per tensor.
    pub fc_per_channel: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::default(),
            fc_per_channel: true,
        }
    }
}

/// How a model's own tensor layout relates to the graph's (NHWC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The same order (TFLite; rank-2 tensors).
    Same,
    /// The model's tensor is `[1, C, H, W]`, the graph's `[1, H, W, C]` (ONNX).
    Nchw,
}

/// A float model ready for quantization: the float graph plus how the
/// source model lays out its input and each of its outputs.
#[derive(Debug, Clone)]
pub struct FloatModel {
    /// The float graph (NHWC, TFLite semantics).
    pub graph: Graph,
    /// The input's dimensions as the source model declares them.
    pub input_dims: Vec<usize>,
    /// The input's layout.
    pub input_layout: Layout,
    /// The outputs, in the order of `graph.outputs` (one or more: a
    /// detector's heads, a segmenter's several maps).
    pub outputs: Vec<FloatOutput>,
}

/// One output of a [`FloatModel`] as the source model declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatOutput {
    /// The output's name in the source model.
    pub name: String,
    /// Its dimensions in the source model's own layout.
    pub dims: Vec<usize>,
    /// Its layout.
    pub layout: Layout,
}

fn nchw_to_nhwc(dims: &[usize], x: &[f32]) -> Vec<f32> {
    // NCL (a 1-D map) is NCHW with H = 1.
    let (c, h, w) = match dims[..] {
        [_, c, h, w] => (c, h, w),
        [_, c, l] => (c, 1, l),
        _ => return x.to_vec(),
    };
    let mut out = vec![0f32; x.len()];
    for ci in 0..c {
        for y in 0..h {
            for xx in 0..w {
                out[(y * w + xx) * c + ci] = x[(ci * h + y) * w + xx];
            }
        }
    }
    out
}

fn nhwc_to_nchw(dims: &[usize], x: &[f32]) -> Vec<f32> {
    // NCL (a 1-D map) is NCHW with H = 1.
    let (c, h, w) = match dims[..] {
        [_, c, h, w] => (c, h, w),
        [_, c, l] => (c, 1, l),
        _ => return x.to_vec(),
    };
    let mut out = vec![0f32; x.len()];
    for ci in 0..c {
        for y in 0..h {
            for xx in 0..w {
                out[(ci * h + y) * w + xx] = x[(y * w + xx) * c + ci];
            }
        }
    }
    out
}

impl FloatModel {
    /// A float graph whose layout is the source model's (TFLite).
    pub fn from_graph(graph: Graph) -> Result<FloatModel> {
        let tensor = |id: TensorId, what: &str| {
            graph
                .tensors
                .get(id)
                .ok_or_else(|| ConvertError::Graph(format!("the model {what} is out of range")))
        };
        let input_dims = match graph.inputs[..] {
            [id] => tensor(id, "input")?.shape.clone(),
            ref other => {
                return Err(ConvertError::Graph(format!(
                    "the float model has {} inputs; exactly one is supported",
                    other.len()
                )))
            }
        };
        if graph.outputs.is_empty() {
            return Err(ConvertError::Graph("the model has no output".into()));
        }
        let outputs = graph
            .outputs
            .iter()
            .map(|&id| {
                let t = tensor(id, "output")?;
                Ok(FloatOutput {
                    name: t.name.clone(),
                    dims: t.shape.clone(),
                    layout: Layout::Same,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FloatModel {
            graph,
            input_dims,
            input_layout: Layout::Same,
            outputs,
        })
    }

    /// Elements of one input sample.
    pub fn input_len(&self) -> usize {
        self.input_dims.iter().product()
    }

    /// One input sample in the model's own layout, reordered into the graph's.
    pub fn sample_to_graph(&self, x: &[f32]) -> Vec<f32> {
        match self.input_layout {
            Layout::Same => x.to_vec(),
            Layout::Nchw => nchw_to_nhwc(&self.input_dims, x),
        }
    }

    /// The first output in the graph's layout, reordered into the model's
    /// own.
    pub fn output_to_model(&self, y: &[f32]) -> Vec<f32> {
        match self.outputs.first() {
            Some(o) => o.to_model(y),
            None => y.to_vec(),
        }
    }

    /// Splits a float32 (or uint8: raw pixels, taken as their values) batch
    /// `[N, ...input dims]` (a leading 1 of the input dims may be left out) in
    /// the model's own layout into samples in the graph's layout. `what` names
    /// the array in errors.
    pub fn samples(&self, batch: &Array, what: &str) -> Result<Vec<Vec<f32>>> {
        let data = batch.to_f32_exact().ok_or_else(|| {
            ConvertError::Graph(format!(
                "{what}: float32 or uint8 samples are required, the array is {:?}",
                batch.dtype
            ))
        })?;
        let dims = &self.input_dims;
        let sample = batch.shape.get(1..).unwrap_or(&[]);
        let fits = sample == dims.as_slice() || (dims.first() == Some(&1) && sample == &dims[1..]);
        if batch.shape.is_empty() || !fits {
            return Err(ConvertError::Graph(format!(
                "{what}: shape {:?} is not [N, {}] (the model input is {:?}, in the model's own layout)",
                batch.shape,
                dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                dims
            )));
        }
        let len = self.input_len();
        if len == 0 {
            return Err(ConvertError::Graph(
                "the model input has no elements".into(),
            ));
        }
        // NaN or infinity would quantize to an arbitrary code (and poison a
        // calibration range): refused, naming the sample and element.
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(ConvertError::Graph(format!(
                "{what}: sample {}, element {} is {} (float input must be finite)",
                i / len,
                i % len,
                data[i]
            )));
        }
        Ok(data
            .chunks_exact(len)
            .map(|s| self.sample_to_graph(s))
            .collect())
    }
}

impl FloatOutput {
    /// Elements of the output.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the output has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The output's values in the graph's layout, reordered into the
    /// model's own.
    pub fn to_model(&self, y: &[f32]) -> Vec<f32> {
        match self.layout {
            Layout::Same => y.to_vec(),
            Layout::Nchw => nhwc_to_nchw(&self.dims, y),
        }
    }
}

/// Whether a graph is a float model (its input is float32).
///
/// A quantized model with float32 boundaries (TFLite's full-integer model
/// whose input is quantized by a QUANTIZE to int8 as its first op) is not a
/// float model: its float input's every reader is such a QUANTIZE.
pub fn is_float(graph: &Graph) -> bool {
    let Some(&input) = graph.inputs.first() else {
        return false;
    };
    if graph
        .tensors
        .get(input)
        .is_none_or(|t| t.dtype != DType::F32)
    {
        return false;
    }
    let quantizes = |op: &crate::ir::Op| {
        matches!(
            op.kind,
            OpKind::Unary {
                func: crate::ir::UnaryFn::Requantize,
                ..
            }
        ) && op
            .outputs
            .iter()
            .all(|&o| graph.tensors.get(o).is_some_and(|t| t.dtype == DType::I8))
    };
    let readers: Vec<&crate::ir::Op> = graph
        .ops
        .iter()
        .filter(|op| op.inputs.contains(&Some(input)))
        .collect();
    readers.is_empty() || !readers.iter().all(|op| quantizes(op))
}

/// TFLite's (gemmlowp's) `ChooseQuantizationParams` for int8: the range is
/// widened to contain 0 and the zero point is nudged to an integer.
pub fn range_quantization(lo: f32, hi: f32) -> Quantization {
    let (qmin, qmax) = (-128f64, 127f64);
    let mut min = (lo as f64).min(0.0);
    let mut max = (hi as f64).max(0.0);
    if !(min.is_finite() && max.is_finite()) {
        min = 0.0;
        max = 0.0;
    }
    if max - min < 1e-9 {
        // A tensor that is always 0: any small scale represents it exactly.
        max = min + 1e-3;
    }
    let scale = (max - min) / (qmax - qmin);
    let zp_from_min = qmin - min / scale;
    let zp_from_max = qmax - max / scale;
    let err_min = qmin.abs() + (min / scale).abs();
    let err_max = qmax.abs() + (max / scale).abs();
    let zp = if err_min < err_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let zp = zp.round().clamp(qmin, qmax) as i64;
    Quantization {
        scales: vec![scale as f32],
        zero_points: vec![zp],
        axis: 0,
    }
}

/// `clamp(round(x / scale) + zero_point)` into int8, as TFLite's QUANTIZE.
pub fn quantize_values(x: &[f32], scale: f32, zero_point: i32) -> Vec<i8> {
    x.iter()
        .map(|&v| {
            let q = (v / scale).round() as i64 + zero_point as i64;
            q.clamp(-128, 127) as i8
        })
        .collect()
}

/// `scale * (q - zero_point)`.
pub fn dequantize_values(q: &[i8], scale: f32, zero_point: i32) -> Vec<f32> {
    q.iter()
        .map(|&v| scale * (v as i32 - zero_point) as f32)
        .collect()
}

/// The activation tensors a graph computes or reads (its inputs and every op output).
fn activations(graph: &Graph) -> Vec<TensorId> {
    let mut ids = graph.inputs.clone();
    for op in &graph.ops {
        ids.extend(op.outputs.iter().copied());
    }
    ids.sort_unstable();
    ids.dedup();
    ids.retain(|&i| graph.tensors.get(i).is_some_and(|t| t.data.is_none()));
    ids
}

/// Runs the float graph over `samples` on every core, folding each
/// activation's values into its [`Stats`] with `observe`.
fn observe_all(
    exec: &FloatExecutor<'_>,
    samples: &[Vec<f32>],
    ids: &[TensorId],
    start: &[Stats],
    observe: fn(&mut Stats, &[f32]),
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Stats>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
        .min(samples.len().max(1));
    let chunk = samples.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Stats>>> = std::thread::scope(|s| {
        let handles: Vec<_> = samples
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<Vec<Stats>> {
                    let mut stats: Vec<Stats> = start
                        .iter()
                        .map(|st| {
                            let mut st = st.clone();
                            st.hist.iter_mut().for_each(|h| *h = 0);
                            st
                        })
                        .collect();
                    for x in part {
                        let values = exec.run(x)?;
                        for (st, &id) in stats.iter_mut().zip(ids) {
                            if let Some(v) = values.get(id).and_then(Option::as_ref) {
                                observe(st, v);
                            }
                        }
                        tick();
                    }
                    Ok(stats)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ConvertError::Graph("a calibration worker panicked".into()))
                })
            })
            .collect()
    });
    let mut merged: Vec<Stats> = start.to_vec();
    merged
        .iter_mut()
        .for_each(|st| st.hist.iter_mut().for_each(|h| *h = 0));
    for r in results {
        for (m, s) in merged.iter_mut().zip(r?) {
            m.merge(&s);
        }
    }
    Ok(merged)
}

/// The range of every activation tensor over the calibration samples
/// (indexed by tensor id; `None` for constants). The graph input always gets
/// its min/max (clipping the input would change what users feed); every
/// other activation gets `method`'s range.
pub fn calibrate(
    graph: &Graph,
    samples: &[Vec<f32>],
    method: Method,
) -> Result<Vec<Option<(f32, f32)>>> {
    calibrate_with_progress(graph, samples, method, &|| {})
}

/// How many times calibration runs the float model over each sample:
/// once for min/max, twice for the histogram methods (min/max, then the
/// histogram over that range).
pub fn calibration_passes(method: Method) -> usize {
    if method == Method::MinMax {
        1
    } else {
        2
    }
}

/// [`calibrate`], calling `tick` (from any worker thread) after each sample
/// of each pass: [`calibration_passes`] times the samples in all.
pub fn calibrate_with_progress(
    graph: &Graph,
    samples: &[Vec<f32>],
    method: Method,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Option<(f32, f32)>>> {
    if samples.is_empty() {
        return Err(ConvertError::Graph(
            "calibration needs at least one sample".into(),
        ));
    }
    let exec = FloatExecutor::new(graph)?;
    let ids = activations(graph);
    let start = vec![Stats::default(); ids.len()];
    let mut stats = observe_all(&exec, samples, &ids, &start, Stats::observe_min_max, tick)?;
    if method != Method::MinMax {
        stats.iter_mut().for_each(Stats::start_histogram);
        let hist = observe_all(&exec, samples, &ids, &stats, Stats::observe_histogram, tick)?;
        for (s, h) in stats.iter_mut().zip(hist) {
            s.hist = h.hist;
        }
    }
    let mut ranges = vec![None; graph.tensors.len()];
    for (st, &id) in stats.iter().zip(&ids) {
        let m = if graph.inputs.contains(&id) {
            Method::MinMax
        } else {
            method
        };
        if st.min <= st.max {
            ranges[id] = Some(st.range(m));
        }
    }
    Ok(ranges)
}

/// Calibrates on `samples` (graph layout) and quantizes.
pub fn quantize(graph: &Graph, samples: &[Vec<f32>], options: &Options) -> Result<Graph> {
    quantize_with_progress(graph, samples, options, &|| {})
}

/// [`quantize`], with calibration's progress (see [`calibrate_with_progress`]).
pub fn quantize_with_progress(
    graph: &Graph,
    samples: &[Vec<f32>],
    options: &Options,
    tick: &(dyn Fn() + Sync),
) -> Result<Graph> {
    let ranges = if samples.is_empty() {
        vec![None; graph.tensors.len()]
    } else {
        calibrate_with_progress(graph, samples, options.method, tick)?
    };
    quantize_with_ranges(graph, &ranges, options)
}

/// Symmetric int8 quantization of a constant, per channel along `axis` (or
/// per tensor when `axis` is `None`), as TFLite's converter: `scale =
/// max|w| / 127`, values rounded and clamped to -127..=127.
pub fn quantize_weights(
    values: &[f32],
    shape: &[usize],
    axis: Option<usize>,
) -> (Vec<i8>, Quantization) {
    let (channels, inner) = match axis {
        Some(a) if a < shape.len() => (shape[a], shape[a + 1..].iter().product::<usize>()),
        _ => (1, values.len()),
    };
    let channels = channels.max(1);
    let inner = inner.max(1);
    let mut max_abs = vec![0f32; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = (i / inner) % channels;
        max_abs[c] = max_abs[c].max(v.abs());
    }
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| {
            if m > 0.0 && m.is_finite() {
                m / 127.0
            } else {
                1.0
            }
        })
        .collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % channels;
            (v / scales[c]).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    (
        q,
        Quantization {
            zero_points: vec![0; scales.len()],
            scales,
            axis: axis.unwrap_or(0),
        },
    )
}

fn q_err(index: usize, kind: &OpKind, message: impl Into<String>) -> ConvertError {
    ConvertError::Invalid {
        index,
        op: kind.name().to_string(),
        message: message.into(),
    }
}

/// A per-tensor activation quantization given by the model (QDQ), checked.
fn given_activation_quant(t: &Tensor) -> Result<Option<Quantization>> {
    let Some(q) = &t.quant else { return Ok(None) };
    if q.scales.len() != 1 || q.zero_points.len() != 1 {
        return Err(ConvertError::Graph(format!(
            "activation '{}' has {} scales; activations are quantized per tensor",
            t.name,
            q.scales.len()
        )));
    }
    if !(q.scales[0].is_finite() && q.scales[0] > 0.0 && (-128..=127).contains(&q.zero_points[0])) {
        return Err(ConvertError::Graph(format!(
            "activation '{}' has scale {} and zero point {}, not an int8 quantization",
            t.name, q.scales[0], q.zero_points[0]
        )));
    }
    Ok(Some(Quantization {
        axis: 0,
        ..q.clone()
    }))
}

/// Quantizes with given activation ranges (indexed by tensor id).
pub fn quantize_with_ranges(
    graph: &Graph,
    ranges: &[Option<(f32, f32)>],
    options: &Options,
) -> Result<Graph> {
    let mut g = graph.clone();
    let ranges = &crate::ops::binary::concat_ranges(graph, ranges);
    let mut act: HashMap<TensorId, Quantization> = HashMap::new();
    let activation_quant = |id: TensorId| -> Result<Quantization> {
        let t = &graph.tensors[id];
        if let Some(q) = given_activation_quant(t)? {
            return Ok(q);
        }
        match ranges.get(id).copied().flatten() {
            Some((lo, hi)) => Ok(range_quantization(lo, hi)),
            None => Err(ConvertError::Graph(format!(
                "tensor '{}' has no quantization range: no calibration samples were given and the model sets none",
                t.name
            ))),
        }
    };
    for &id in &graph.inputs {
        let t = graph
            .tensors
            .get(id)
            .ok_or_else(|| ConvertError::Graph("the model input is out of range".into()))?;
        if t.dtype != DType::F32 || t.data.is_some() {
            return Err(ConvertError::Graph(format!(
                "the model input '{}' is {}, not a float32 activation",
                t.name, t.dtype
            )));
        }
        act.insert(id, activation_quant(id)?);
    }
    // Weights quantized so far: tensor id -> (axis, per-channel scales).
    let mut weights_done: HashMap<TensorId, (Option<usize>, Vec<f32>)> = HashMap::new();
    let mut bias_done: HashMap<TensorId, Vec<f32>> = HashMap::new();
    for (index, op) in graph.ops.iter().enumerate() {
        let kind = &op.kind;
        if let OpKind::Split { .. } = kind {
            // Data movement: every part keeps the input's quantization.
            let x = op.inputs.first().copied().flatten();
            let q = x.and_then(|x| act.get(&x).cloned()).ok_or_else(|| {
                q_err(
                    index,
                    kind,
                    "the input is not an activation computed before this op",
                )
            })?;
            for &out in &op.outputs {
                if graph
                    .tensors
                    .get(out)
                    .is_none_or(|t| t.data.is_some() || t.dtype != DType::F32)
                {
                    return Err(q_err(
                        index,
                        kind,
                        "the outputs must be float32 activations",
                    ));
                }
                let t = &mut g.tensors[out];
                t.dtype = DType::I8;
                t.quant = Some(q.clone());
                act.insert(out, q.clone());
            }
            continue;
        }
        if let OpKind::Arg { .. } = kind {
            // Indices: the input keeps the quantization computed for it (a
            // monotonic map, so the int8 arg is the float arg up to the
            // ties rounding makes), the int32 output has none.
            let (&[Some(x)], &[out]) = (op.inputs.as_slice(), op.outputs.as_slice()) else {
                return Err(q_err(index, kind, "expected one input and one output"));
            };
            if !act.contains_key(&x) {
                return Err(q_err(
                    index,
                    kind,
                    "the input is not an activation computed before this op",
                ));
            }
            if graph
                .tensors
                .get(out)
                .is_none_or(|t| t.data.is_some() || t.dtype != DType::I32)
            {
                return Err(q_err(index, kind, "the output must be int32 indices"));
            }
            continue;
        }
        let &[out] = op.outputs.as_slice() else {
            return Err(q_err(index, kind, "expected exactly one output"));
        };
        if graph
            .tensors
            .get(out)
            .is_none_or(|t| t.data.is_some() || t.dtype != DType::F32)
        {
            return Err(q_err(
                index,
                kind,
                "the output must be a float32 activation",
            ));
        }
        let input_q = |i: usize| -> Result<Quantization> {
            let id = op
                .inputs
                .get(i)
                .copied()
                .flatten()
                .ok_or_else(|| q_err(index, kind, format!("missing input {i}")))?;
            act.get(&id).cloned().ok_or_else(|| {
                q_err(
                    index,
                    kind,
                    format!(
                        "input '{}' is not an activation computed before this op",
                        graph
                            .tensors
                            .get(id)
                            .map(|t| t.name.as_str())
                            .unwrap_or("?")
                    ),
                )
            })
        };
        let out_q = match kind {
            // The movement family keeps its input's quantization (bilinear
            // too, as TFLite's converter does: `crate::ops::movement`).
            OpKind::MaxPool2d { .. }
            | OpKind::AveragePool2d { .. }
            | OpKind::Reshape
            | OpKind::Move { .. } => input_q(0)?,
            // TFLM's fixed output quantizations.
            OpKind::LogSoftmax => {
                input_q(0)?;
                Quantization {
                    scales: vec![16.0 / 256.0],
                    zero_points: vec![127],
                    axis: 0,
                }
            }
            OpKind::L2Normalization { .. } => {
                input_q(0)?;
                Quantization {
                    scales: vec![1.0 / 128.0],
                    zero_points: vec![0],
                    axis: 0,
                }
            }
            OpKind::Softmax { .. } => {
                input_q(0)?;
                Quantization {
                    scales: vec![1.0 / 256.0],
                    zero_points: vec![-128],
                    axis: 0,
                }
            }
            OpKind::Add { .. } | OpKind::Binary { .. } => {
                // The binary family (crate::ops::binary): a constant operand
                // is quantized here, MAXIMUM and MINIMUM keep their
                // activation operand's quantization (TFLM compares bytes).
                let func = match kind {
                    OpKind::Binary { func, .. } => Some(*func),
                    _ => None,
                };
                let operands: Vec<Option<Quantization>> = (0..2).map(|i| input_q(i).ok()).collect();
                let keep = crate::ops::binary::keeps_quantization(func);
                let first = operands.iter().flatten().next().cloned().ok_or_else(|| {
                    q_err(
                        index,
                        kind,
                        "both operands are constants or not yet computed",
                    )
                })?;
                if keep && operands.iter().flatten().any(|q| *q != first) {
                    return Err(q_err(
                        index,
                        kind,
                        "its two activation operands are quantized differently; TFLM's \
                         MAXIMUM and MINIMUM compare bytes",
                    ));
                }
                for (i, q) in operands.iter().enumerate() {
                    if q.is_some() {
                        continue;
                    }
                    let id = op
                        .inputs
                        .get(i)
                        .copied()
                        .flatten()
                        .ok_or_else(|| q_err(index, kind, format!("missing input {i}")))?;
                    let t = &graph.tensors[id];
                    if t.data.is_none() {
                        input_q(i)?; // its error: read before it is computed
                    }
                    let values = constant_f32(t)?;
                    let (data, cq) =
                        crate::ops::binary::quantize_constant(&values, keep.then_some(&first));
                    let t = &mut g.tensors[id];
                    t.dtype = DType::I8;
                    t.data = Some(data.iter().map(|&v| v as u8).collect());
                    t.quant = Some(cq);
                }
                if keep {
                    first
                } else {
                    activation_quant(out)?
                }
            }
            OpKind::Concat { .. } | OpKind::Pack { .. } => {
                for i in 0..op.inputs.len() {
                    input_q(i)?;
                }
                activation_quant(out)?
            }
            OpKind::Unary { func, numerics } => {
                let in_q = input_q(0)?;
                match crate::ops::unary_lut::output_quantization(*func, *numerics, &in_q) {
                    Some(q) => q,
                    None => activation_quant(out)?,
                }
            }
            OpKind::Reduce { func, .. } => {
                let in_q = input_q(0)?;
                match crate::ops::reduce::output_quantization(*func, &in_q) {
                    Some(q) => q,
                    None => activation_quant(out)?,
                }
            }
            // Calibrated outputs: the observed range.
            OpKind::Conv2d { .. }
            | OpKind::DepthwiseConv2d { .. }
            | OpKind::TransposeConv { .. }
            | OpKind::FullyConnected { .. }
            | OpKind::BatchMatmul { .. } => activation_quant(out)?,
            // Handled above: SPLIT's outputs and ARG_MAX's indices.
            OpKind::Split { .. } | OpKind::Arg { .. } => {
                return Err(q_err(index, kind, "handled before the output rule"))
            }
            // Ops only integer TFLite models bring.
            OpKind::Dequantize | OpKind::Svdf { .. } | OpKind::Lstm { .. } => {
                return Err(q_err(
                    index,
                    kind,
                    "post-training quantization of this op in a float model is not supported",
                ))
            }
        };
        // Weights and bias.
        let weight_axis = match kind {
            OpKind::Conv2d { .. } | OpKind::TransposeConv { .. } => Some(Some(0)),
            OpKind::DepthwiseConv2d { .. } => Some(Some(3)),
            OpKind::FullyConnected { .. } => Some(options.fc_per_channel.then_some(0)),
            // No constant weights (a binary op's constant operand is
            // quantized with the activations, above).
            OpKind::Add { .. }
            | OpKind::BatchMatmul { .. }
            | OpKind::AveragePool2d { .. }
            | OpKind::MaxPool2d { .. }
            | OpKind::Softmax { .. }
            | OpKind::LogSoftmax
            | OpKind::L2Normalization { .. }
            | OpKind::Reshape
            | OpKind::Unary { .. }
            | OpKind::Reduce { .. }
            | OpKind::Move { .. }
            | OpKind::Binary { .. }
            | OpKind::Concat { .. }
            | OpKind::Split { .. }
            | OpKind::Arg { .. }
            | OpKind::Dequantize
            | OpKind::Svdf { .. }
            | OpKind::Lstm { .. }
            | OpKind::Pack { .. } => None,
        };
        // Inputs of the activation and the bias (TRANSPOSE_CONV keeps
        // TFLite's order: output shape, weights, input, bias).
        let (act_input, bias_input) = match kind {
            OpKind::TransposeConv { .. } => (2, 3),
            _ => (0, 2),
        };
        if let Some(axis) = weight_axis {
            let in_q = input_q(act_input)?;
            let wid = op
                .inputs
                .get(1)
                .copied()
                .flatten()
                .ok_or_else(|| q_err(index, kind, "missing weights"))?;
            let wt = &graph.tensors[wid];
            if wt.data.is_none() {
                return Err(q_err(
                    index,
                    kind,
                    format!("weights '{}' are not a constant", wt.name),
                ));
            }
            let scales = match weights_done.get(&wid) {
                Some((a, s)) if *a == axis => s.clone(),
                Some(_) => {
                    return Err(q_err(
                        index,
                        kind,
                        format!(
                            "weights '{}' are shared by ops that quantize them differently",
                            wt.name
                        ),
                    ))
                }
                None => {
                    let given = wt.dtype == DType::I8
                        && wt.quant.as_ref().is_some_and(|q| {
                            q.zero_points.len() == q.scales.len()
                                && q.zero_points.iter().all(|&z| z == 0)
                                && q.scales.iter().all(|s| s.is_finite() && *s > 0.0)
                                && (q.scales.len() == 1
                                    || (axis == Some(q.axis)
                                        && wt.shape.get(q.axis) == Some(&q.scales.len())))
                        });
                    let scales = if given {
                        // QDQ weights: keep the model's int8 values and scales.
                        let q = wt.quant.clone().unwrap_or_else(|| Quantization {
                            scales: vec![1.0],
                            zero_points: vec![0],
                            axis: 0,
                        });
                        q.scales.clone()
                    } else {
                        let values = constant_f32(wt)?;
                        let (data, q) = quantize_weights(&values, &wt.shape, axis);
                        let scales = q.scales.clone();
                        let t = &mut g.tensors[wid];
                        t.dtype = DType::I8;
                        t.data = Some(data.iter().map(|&v| v as u8).collect());
                        t.quant = Some(q);
                        scales
                    };
                    weights_done.insert(wid, (axis, scales.clone()));
                    scales
                }
            };
            if let Some(bid) = op.inputs.get(bias_input).copied().flatten() {
                let bt = &graph.tensors[bid];
                let values = constant_f32(bt)?;
                let channels = values.len();
                if scales.len() != 1 && scales.len() != channels {
                    return Err(q_err(
                        index,
                        kind,
                        format!(
                            "bias '{}' has {channels} elements for {} weight scales",
                            bt.name,
                            scales.len()
                        ),
                    ));
                }
                let in_scale = in_q.scales[0];
                let bias_scales: Vec<f32> = (0..channels)
                    .map(|c| in_scale * scales[if scales.len() == 1 { 0 } else { c }])
                    .collect();
                let q: Vec<i32> = values
                    .iter()
                    .zip(&bias_scales)
                    .map(|(&b, &s)| {
                        (b as f64 / s as f64)
                            .round()
                            .clamp(i32::MIN as f64, i32::MAX as f64) as i32
                    })
                    .collect();
                let tensor = Tensor {
                    variable: false,
                    name: bt.name.clone(),
                    shape: bt.shape.clone(),
                    dtype: DType::I32,
                    quant: Some(Quantization {
                        zero_points: vec![0; bias_scales.len()],
                        scales: bias_scales.clone(),
                        axis: 0,
                    }),
                    data: Some(q.iter().flat_map(|v| v.to_le_bytes()).collect()),
                };
                match bias_done.get(&bid) {
                    None => {
                        g.tensors[bid] = tensor;
                        bias_done.insert(bid, bias_scales);
                    }
                    Some(s) if *s == bias_scales => {}
                    Some(_) => {
                        // Shared with an op of other scales: give this op its own copy.
                        g.tensors.push(tensor);
                        let new_id = g.tensors.len() - 1;
                        g.ops[index].inputs[2] = Some(new_id);
                    }
                }
            }
        }
        let t = &mut g.tensors[out];
        t.dtype = DType::I8;
        t.quant = Some(out_q.clone());
        act.insert(out, out_q);
    }
    for &id in &graph.inputs {
        let t = &mut g.tensors[id];
        t.dtype = DType::I8;
        t.quant = act.get(&id).cloned();
    }
    // Float constants no op quantized (unused ones) are left as they were;
    // lowering never reads them.
    Ok(g)
}

/// A quantized model: the int8 graph and its assembled plan.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The int8 graph (same tensor ids and names as the float graph).
    pub graph: Graph,
    /// The assembled plan.
    pub assembled: crate::Assembled,
}

/// Quantizes a float model on `samples` (graph layout), lowers, fuses and assembles it.
pub fn quantize_and_assemble(
    model: &FloatModel,
    samples: &[Vec<f32>],
    options: &Options,
    name: &str,
) -> Result<Quantized> {
    quantize_and_assemble_with_progress(model, samples, options, name, &|| {})
}

/// [`quantize_and_assemble`], with calibration's progress (see
/// [`calibrate_with_progress`]).
pub fn quantize_and_assemble_with_progress(
    model: &FloatModel,
    samples: &[Vec<f32>],
    options: &Options,
    name: &str,
    tick: &(dyn Fn() + Sync),
) -> Result<Quantized> {
    let graph = quantize_with_progress(&model.graph, samples, options, tick)?;
    let mut program = crate::lower::lower(&graph, name)?;
    crate::passes::optimize(&mut program);
    let assembled = crate::assemble::assemble(program)?;
    Ok(Quantized { graph, assembled })
}

/// The float model in a file's bytes, if it is one: ONNX (float or QDQ), or
/// a TFLite file whose input is float32 feeding more than QUANTIZE
/// ([`is_float`]); `None` for an int8 TFLite model.
pub fn float_model_in(bytes: &[u8]) -> Result<Option<FloatModel>> {
    Ok(match crate::detect_format(bytes)? {
        crate::Format::Onnx => Some(crate::frontend::onnx::read_onnx(bytes)?),
        crate::Format::Tflite => {
            let g = crate::frontend::tflite::read_tflite(bytes)?;
            if is_float(&g) {
                Some(FloatModel::from_graph(g)?)
            } else {
                None
            }
        }
    })
}

/// Reads a model file's bytes as a float model (float TFLite or ONNX).
pub fn read_float_model(bytes: &[u8]) -> Result<FloatModel> {
    match crate::detect_format(bytes)? {
        crate::Format::Tflite => {
            FloatModel::from_graph(crate::frontend::tflite::read_tflite(bytes)?)
        }
        crate::Format::Onnx => crate::frontend::onnx::read_onnx(bytes),
    }
}

/// Generated source and blob of a quantized model, named after its source
/// file (the digest in the header is the source model's).
pub fn generate(
    assembled: &crate::Assembled,
    model_path: &std::path::Path,
    model_bytes: &[u8],
) -> crate::codegen::Generated {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(model_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let source = model_path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::codegen::generate(assembled, &source, &digest)
}

/// Reads a calibration `.npy` into samples in the graph's layout.
pub fn read_samples(model: &FloatModel, path: &std::path::Path) -> Result<Vec<Vec<f32>>> {
    let a = Array::read(path)?;
    model.samples(&a, &path.display().to_string())
}
