//! `attonet`: inspect, run and convert int8 models.

mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use attonet_convert::npy::{Array, NpyType};
use attonet_convert::quantize::{self, FloatModel, Method};
use attonet_runtime::plan::ElementType;
use clap::{Args, Parser, Subcommand};

/// `print!` to standard output that ends the program quietly (status 0)
/// when the reader has gone (`attonet inspect m.tflite | head`), where
/// `print!` would panic on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            stdout_failed(e);
        }
    }};
}

/// `println!` with [`out!`]'s handling of a closed pipe.
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

/// A write to standard output failed: a closed pipe ends the program
/// quietly, anything else with a message.
fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(1);
}

#[derive(Parser)]
#[command(
    name = "attonet",
    version,
    about = "AttoNet: int8 models for microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// --- conversion options: post-training quantization of float models (ONNX, float
// TFLite) and the fused blocks' rows per pass ---
#[derive(Args, Clone)]
struct Calib {
    /// Calibration samples for a float model (.onnx or float .tflite): float32
    /// (or uint8, taken as their values: raw pixels) .npy [N, ...input shape]
    /// in the model's own layout (NCHW for ONNX).
    #[arg(long)]
    calib: Option<PathBuf>,
    /// How activation ranges are chosen: minmax, percentile (99.99 %), percentile:P, mse.
    #[arg(long, default_value_t = Method::default())]
    method: Method,
    /// FULLY_CONNECTED weights per tensor instead of per output channel.
    #[arg(long)]
    fc_per_tensor: bool,
    /// Output rows each fused block computes per kernel call (default: as many
    /// as fit without growing the arena); more rows: faster, more RAM.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "arena_budget")]
    band_rows: Option<u16>,
    /// The fastest plan whose arena fits this many bytes (fused blocks compute
    /// more rows per call while it fits; never below the smallest arena).
    #[arg(long)]
    arena_budget: Option<u32>,
    /// No fused blocks: every layer its own step (the fastest plan, the
    /// largest arena).
    #[arg(long, conflicts_with_all = ["band_rows", "arena_budget"])]
    no_fusion: bool,
    /// Also write the tables the Cortex-M DSP kernels read in place (for
    /// Cortex-M4/M7/M33/M55 firmware): each fused-block stage's constants,
    /// 34 more bytes of flash a 3x3 depthwise channel and 16 an output channel
    /// of another convolution, no per-row set-up in those kernels.
    #[arg(long)]
    dsp_tables: bool,
    /// With `--dsp-tables`: for a Cortex-M55 or M85 (Helium), whose vector
    /// kernels compute narrow grouped convolutions faster as dense ones.
    #[arg(long, requires = "dsp_tables")]
    helium: bool,
}
// --- end conversion options ---

#[derive(Subcommand)]
enum Command {
    /// Per-layer table (op, kernel, shapes, MACs, parameters, bytes) and totals;
    /// for a float model also each layer's SQNR, int8 against float, on the calibration set.
    Inspect {
        /// The model (.tflite int8 or float, .onnx float or QDQ).
        model: PathBuf,
        /// Print JSON (macs, params, flash_bytes, arena_bytes, layers) instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        calib: Calib,
        /// Calibration samples the SQNR is measured on (the first ones).
        #[arg(long, default_value_t = 100)]
        sqnr_samples: usize,
    },
    /// Runs the model on the host over a batch, with the firmware's kernels.
    Run {
        /// The model (.tflite int8 or float, .onnx float or QDQ).
        model: PathBuf,
        /// .npy shaped [N, ...input shape] (a leading 1 of the input shape may be left out):
        /// int8 for an int8 model, int16 for a 16x8 one; float32 (or uint8 raw pixels) in the model's own layout
        /// for a float model, quantized as the int8 plan's input requires. A model with
        /// several inputs takes one `--input` each, in the model's order.
        #[arg(long, required = true)]
        input: Vec<PathBuf>,
        /// Where to write the outputs, shaped [N, ...output shape]: int8 for an int8
        /// model, int16 for a 16x8 one, dequantized float32 (in the model's own layout) for a float model. A
        /// model with several outputs takes one `--output` each, in the model's order, or
        /// one folder that receives `output0.npy`, `output1.npy`, ...
        #[arg(long, required = true)]
        output: Vec<PathBuf>,
        /// Optional integer labels `[N]`: prints top-1 accuracy (of the first output).
        #[arg(long)]
        labels: Option<PathBuf>,
        #[command(flatten)]
        calib: Calib,
    },
    /// Writes the generated Rust source and weight blob into a folder.
    Convert {
        /// The model (.tflite int8 or float, .onnx float or QDQ).
        model: PathBuf,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Base name of the generated files (default: the model's file stem).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        calib: Calib,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect {
            model,
            json,
            calib,
            sqnr_samples,
        } => {
            let loaded = load(&model, &calib)?;
            let report = attonet_convert::Report::new(&loaded.assembled);
            let sqnr = match &loaded.float {
                Some((fm, samples)) if !samples.is_empty() && sqnr_samples > 0 => {
                    let n = sqnr_samples.min(samples.len());
                    Some((
                        quantize::sqnr::layer_sqnr(&fm.graph, &loaded.assembled, &samples[..n])?,
                        n,
                    ))
                }
                _ => None,
            };
            match (json, &sqnr) {
                (true, Some((rows, _))) => {
                    outln!("{}", quantize::sqnr::json_with_sqnr(&report, rows))
                }
                (true, None) => outln!("{}", report.json()),
                (false, _) => {
                    out!("{}", report.table());
                    if let Some((rows, n)) = &sqnr {
                        outln!();
                        outln!(
                            "quantized from float: {} calibration samples, method {}",
                            loaded.float.as_ref().map_or(0, |f| f.1.len()),
                            calib.method
                        );
                        out!("{}", quantize::sqnr::table(rows, *n));
                    }
                }
            }
            Ok(())
        }
        Command::Run {
            model,
            input,
            output,
            labels,
            calib,
        } => run_batch(&model, &input, &output, labels.as_deref(), &calib),
        Command::Convert {
            model,
            out,
            name,
            calib,
        } if is_float_model(&model)? => {
            let name = name.unwrap_or_else(|| attonet_convert::default_name(&model));
            let loaded = load_named(&model, &calib, &name)?;
            let bytes = std::fs::read(&model).with_context(|| model.display().to_string())?;
            let generated = quantize::generate(&loaded.assembled, &model, &bytes);
            attonet_convert::builder::write_generated(&out, &generated)?;
            let report = attonet_convert::Report::new(&loaded.assembled);
            outln!(
                "wrote {}/{name}.rs and {name}.bin: {} steps, flash {} B, arena {} B",
                out.display(),
                report.steps,
                report.flash_bytes,
                report.arena_bytes
            );
            Ok(())
        }
        Command::Convert {
            model,
            out,
            name,
            calib,
        } => {
            let name = name.unwrap_or_else(|| attonet_convert::default_name(&model));
            let mut builder = attonet_convert::Builder::new(&model)
                .name(&name)
                .out_dir(&out)
                .fuse_blocks(!calib.no_fusion)
                .dsp_tables(calib.dsp_tables)
                .helium(calib.helium);
            if let Some(n) = calib.band_rows {
                builder = builder.band_rows(n);
            } else if let Some(b) = calib.arena_budget {
                builder = builder.arena_budget(b);
            }
            let report = builder.build()?;
            outln!(
                "wrote {}/{name}.rs and {name}.bin: {} steps, flash {} B, arena {} B",
                out.display(),
                report.steps,
                report.flash_bytes,
                report.arena_bytes
            );
            Ok(())
        }
    }
}

// --- float models: loading with post-training quantization ---
struct Loaded {
    assembled: attonet_convert::Assembled,
    /// For a float model: the float model and its calibration samples (graph layout).
    float: Option<(FloatModel, Vec<Vec<f32>>)>,
}

fn is_float_model(path: &std::path::Path) -> Result<bool> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    Ok(quantize::float_model_in(&bytes)?.is_some())
}

fn load(path: &std::path::Path, calib: &Calib) -> Result<Loaded> {
    load_named(path, calib, &attonet_convert::default_name(path))
}

fn load_named(path: &std::path::Path, calib: &Calib, name: &str) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let Some(fm) = quantize::float_model_in(&bytes)? else {
        if calib.calib.is_some() {
            eprintln!(
                "note: {} is an int8 model; --calib is not used",
                path.display()
            );
        }
        return Ok(Loaded {
            assembled: replan(attonet_convert::assemble_bytes(&bytes, name)?, calib)?,
            float: None,
        });
    };
    let samples = match &calib.calib {
        Some(p) => quantize::read_samples(&fm, p)?,
        None => Vec::new(),
    };
    let options = quantize::Options {
        method: calib.method,
        fc_per_channel: !calib.fc_per_tensor,
    };
    // Each pass runs the float model over every sample.
    let passes = quantize::calibration_passes(options.method);
    let progress = progress::Progress::stderr(
        &format!("calibration ({passes} passes)"),
        samples.len() * passes,
        "sample runs",
    );
    let q = quantize::quantize_and_assemble_with_progress(&fm, &samples, &options, name, &|| {
        progress.advance()
    });
    progress.finish();
    let q = q.map_err(|e| {
        let e = anyhow::Error::from(e);
        if calib.calib.is_none() {
            e.context(format!(
                "{} is a float model: pass --calib CALIB.npy (float32 or uint8 samples [N, {}] in the model's own layout)",
                path.display(),
                fm.input_dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ))
        } else {
            e
        }
    })?;
    Ok(Loaded {
        assembled: replan(q.assembled, calib)?,
        float: Some((fm, samples)),
    })
}

/// The plan with `--no-fusion`, `--band-rows` or `--arena-budget`, if given.
/// With `--dsp-tables`, the DSP kernels' tables are added last.
fn replan(a: attonet_convert::Assembled, calib: &Calib) -> Result<attonet_convert::Assembled> {
    use attonet_convert::planner::Bands;
    let a = if calib.no_fusion {
        a.unfused()?
    } else {
        match (calib.band_rows, calib.arena_budget) {
            (Some(n), _) => a.replan(Bands::Rows(n))?,
            (None, Some(b)) => a.replan(Bands::Budget(b))?,
            (None, None) => a,
        }
    };
    Ok(if calib.dsp_tables {
        a.with_dsp_tables_for(if calib.helium {
            attonet_convert::DspCore::Helium
        } else {
            attonet_convert::DspCore::Dsp
        })?
    } else {
        a
    })
}

/// `attonet run` on a float model: float32 in, dequantized float32 out
/// (each model output to its own file).
fn run_float_batch(
    loaded: &Loaded,
    fm: &FloatModel,
    input: &std::path::Path,
    outputs: &[PathBuf],
    labels: Option<&std::path::Path>,
) -> Result<()> {
    let model = loaded.assembled.model();
    if model.outputs.len() != fm.outputs.len() {
        bail!(
            "the plan has {} outputs, the float model {}",
            model.outputs.len(),
            fm.outputs.len()
        );
    }
    let batch = Array::read(input)?;
    let samples = fm.samples(&batch, &input.display().to_string())?;
    let n = samples.len();
    let mut arena = vec![0i8; model.arena_bytes as usize];
    model
        .reset_state(&mut arena)
        .context("resetting the state")?;
    let mut q_out: Vec<Vec<i8>> = model.outputs.iter().map(|io| vec![0i8; io.len()]).collect();
    let mut results: Vec<Vec<f32>> = fm
        .outputs
        .iter()
        .map(|o| Vec::with_capacity(n * o.len()))
        .collect();
    let progress = progress::Progress::stderr("run", n, "samples");
    for (i, x) in samples.iter().enumerate() {
        let q = quantize::quantize_values(x, model.input.scale, model.input.zero_point);
        let mut ys: Vec<&mut [i8]> = q_out.iter_mut().map(Vec::as_mut_slice).collect();
        model
            .infer_multi(&mut arena, &[&q], &mut ys)
            .with_context(|| format!("sample {i}"))?;
        for (((r, y), io), o) in results
            .iter_mut()
            .zip(&q_out)
            .zip(model.outputs)
            .zip(&fm.outputs)
        {
            let values: Vec<f32> = match io.dtype {
                // ArgMax's indices (exact in f32 below 2^24).
                ElementType::Int32 => attonet_runtime::plan::i32_values(y)
                    .map(|v| v as f32)
                    .collect(),
                _ => quantize::dequantize_values(y, io.scale, io.zero_point),
            };
            r.extend(o.to_model(&values));
        }
        progress.tick(i + 1);
    }
    progress.finish();
    // Saturation on the user's own data: each layer's int8 output against the
    // float model's value, on the first samples (the SQNR analysis).
    let checked = n.min(100);
    if checked > 0 {
        let rows = quantize::sqnr::layer_sqnr(&fm.graph, &loaded.assembled, &samples[..checked])?;
        for w in quantize::sqnr::clip_warnings(&rows) {
            eprintln!("{w} (the first {checked} samples of {})", input.display());
        }
    }
    let with_batch_one = batch.shape.get(1..) == Some(fm.input_dims.as_slice());
    for (((path, o), io), data) in outputs
        .iter()
        .zip(&fm.outputs)
        .zip(model.outputs)
        .zip(&results)
    {
        let mut shape = vec![n];
        if with_batch_one {
            shape.extend(&o.dims);
        } else {
            shape.extend(o.dims.iter().skip(1));
        }
        match io.dtype {
            // Indices leave as ONNX's int64.
            ElementType::Int32 => Array {
                dtype: NpyType::I64,
                shape,
                data: data
                    .iter()
                    .flat_map(|&v| (v as i64).to_le_bytes())
                    .collect(),
            },
            _ => Array::from_f32(shape, data),
        }
        .write(path)?;
    }
    outln!(
        "ran {n} samples through {} (int8, quantized from float): wrote {}",
        model.name,
        outputs
            .iter()
            .zip(model.outputs)
            .map(|(p, io)| format!(
                "{} ({})",
                p.display(),
                match io.dtype {
                    ElementType::Int32 => "int64 indices",
                    _ => "float32, dequantized",
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let (Some(labels), Some(first), Some(o), Some(io)) = (
        labels,
        results.first(),
        fm.outputs.first(),
        model.outputs.first(),
    ) {
        // Top-1 of the first output: its largest score, or the index an
        // ArgMax already chose.
        let len = o.len();
        let indices = io.dtype == ElementType::Int32 && len == 1;
        print_top1(labels, n, |i| match first.get(i * len..(i + 1) * len) {
            Some(&[index]) if indices => index as usize,
            Some(scores) => argmax(scores),
            None => 0,
        })?;
    }
    Ok(())
}

fn print_top1(
    labels: &std::path::Path,
    n: usize,
    predicted: impl Fn(usize) -> usize,
) -> Result<()> {
    let labels = Array::read(labels)?
        .to_i64()
        .context("labels must be an integer array")?;
    if labels.len() != n {
        bail!("{} labels for {n} samples", labels.len());
    }
    let correct = (0..n).filter(|&i| predicted(i) as i64 == labels[i]).count();
    outln!(
        "top-1: {correct}/{n} = {:.2} %",
        100.0 * correct as f64 / n.max(1) as f64
    );
    Ok(())
}
// --- end float models ---

fn run_batch(
    model_path: &std::path::Path,
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    labels: Option<&std::path::Path>,
    calib: &Calib,
) -> Result<()> {
    let loaded = load(model_path, calib)?;
    if let Some((fm, _)) = &loaded.float {
        let [input] = inputs else {
            bail!("a float model takes one --input ({} given)", inputs.len());
        };
        let paths = output_paths(outputs, fm.outputs.len(), || {
            fm.outputs
                .iter()
                .map(|o| format!("{:?}", o.dims))
                .collect::<Vec<_>>()
                .join(", ")
        })?;
        return run_float_batch(&loaded, fm, input, &paths, labels);
    }
    let assembled = loaded.assembled;
    let model = assembled.model();
    if inputs.len() != model.inputs.len() {
        bail!(
            "the model has {} inputs ({}), {} --input given",
            model.inputs.len(),
            dims_list(model.inputs),
            inputs.len()
        );
    }
    let output_paths = output_paths(outputs, model.outputs.len(), || dims_list(model.outputs))?;
    // Every input file, checked against its model input; every one holds N samples.
    let mut batches = Vec::new();
    let mut n = None;
    let mut with_batch_one = true;
    for (k, (path, io)) in inputs.iter().zip(model.inputs).enumerate() {
        let batch = Array::read(path)?;
        // int8, int16 (a 16x8 model), uint8 or int32 read by a QUANTIZE,
        // or float32 for a float input its model quantizes itself; the
        // arena takes the file's little-endian bytes as they are.
        if NpyType::of_element(io.dtype) != batch.dtype {
            bail!(
                "{}: the input must be {}, it is {:?}",
                path.display(),
                io.dtype.name(),
                batch.dtype
            );
        }
        let data: Vec<i8> = batch.data.iter().map(|&b| b as i8).collect();
        let in_dims: Vec<usize> = io.dims.iter().map(|&d| d as usize).collect();
        let sample_dims = &batch.shape[1.min(batch.shape.len())..];
        let with_one = sample_dims == in_dims.as_slice();
        let without_one = in_dims.first() == Some(&1) && sample_dims == &in_dims[1..];
        if batch.shape.is_empty() || !(with_one || without_one) {
            bail!(
                "{}: shape {:?} is not [N, {}] (model input {k} is {:?})",
                path.display(),
                batch.shape,
                in_dims
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                in_dims
            );
        }
        if k == 0 {
            with_batch_one = with_one;
        }
        match n {
            None => n = Some(batch.shape[0]),
            Some(n) if n != batch.shape[0] => bail!(
                "{}: {} samples, but the first input has {n}",
                path.display(),
                batch.shape[0]
            ),
            Some(_) => {}
        }
        batches.push(data);
    }
    let n = n.unwrap_or(0);
    // The samples run in turn on one arena: a model with state (an SVDF)
    // carries it from each sample to the next, from TFLM's reset state.
    let mut arena = vec![0i8; model.arena_bytes as usize];
    model
        .reset_state(&mut arena)
        .context("resetting the state")?;
    let mut results: Vec<Vec<i8>> = model
        .outputs
        .iter()
        .map(|io| vec![0i8; n * io.len()])
        .collect();
    let progress = progress::Progress::stderr("run", n, "samples");
    for i in 0..n {
        let xs: Vec<&[i8]> = batches
            .iter()
            .zip(model.inputs)
            .map(|(data, io)| &data[i * io.len()..(i + 1) * io.len()])
            .collect();
        let mut ys: Vec<&mut [i8]> = results
            .iter_mut()
            .zip(model.outputs)
            .map(|(r, io)| &mut r[i * io.len()..(i + 1) * io.len()])
            .collect();
        model
            .infer_multi(&mut arena, &xs, &mut ys)
            .with_context(|| format!("sample {i}"))?;
        progress.tick(i + 1);
    }
    progress.finish();
    for ((path, io), data) in output_paths.iter().zip(model.outputs).zip(&results) {
        let mut shape = vec![n];
        if with_batch_one {
            shape.extend(io.dims.iter().map(|&d| d as usize));
        } else {
            shape.extend(io.dims.iter().skip(1).map(|&d| d as usize));
        }
        // int8 or uint8, or the int16 / int32 / float32 little-endian bytes
        // of such an output.
        let dtype = NpyType::of_element(io.dtype);
        Array {
            dtype,
            shape,
            data: data.iter().map(|&b| b as u8).collect(),
        }
        .write(path)?;
    }
    outln!(
        "ran {n} samples through {}: wrote {}",
        model.name,
        output_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(labels) = labels {
        if model.output.dtype != ElementType::Int8 {
            bail!(
                "--labels needs an int8 score output, the model's first output is {:?}",
                model.output.dtype
            );
        }
        let out_len = model.output.len();
        print_top1(labels, n, |i| {
            argmax(&results[0][i * out_len..(i + 1) * out_len])
        })?;
    }
    Ok(())
}

/// `[1, 4], [1, 2]`: the dimensions of each input or output.
/// Where each of `count` model outputs is written: the `--output` paths,
/// one each, or `outputK.npy` in the one folder given.
fn output_paths(
    outputs: &[PathBuf],
    count: usize,
    dims: impl Fn() -> String,
) -> Result<Vec<PathBuf>> {
    Ok(match outputs {
        _ if outputs.len() == count => outputs.to_vec(),
        [folder] => {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("creating {}", folder.display()))?;
            (0..count)
                .map(|k| folder.join(format!("output{k}.npy")))
                .collect()
        }
        _ => bail!(
            "the model has {count} outputs ({}), {} --output given: give one each, or one folder",
            dims(),
            outputs.len()
        ),
    })
}

fn dims_list(ios: &[attonet_runtime::plan::Io]) -> String {
    ios.iter()
        .map(|io| format!("{:?}", io.dims))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Index of the largest score; the first one wins ties (as numpy's argmax).
fn argmax<T: PartialOrd + Copy>(scores: &[T]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}
