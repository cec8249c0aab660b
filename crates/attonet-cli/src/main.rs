//! `attonet`: inspect, run and convert int8 models.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use attonet_convert::npy::Array;
use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// Per-layer table (op, kernel, shapes, MACs, parameters, bytes) and totals.
    Inspect {
        /// The model (.tflite, int8).
        model: PathBuf,
        /// Print JSON (macs, params, flash_bytes, arena_bytes, layers) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Runs the model on the host over a batch, with the firmware's kernels.
    Run {
        /// The model (.tflite, int8).
        model: PathBuf,
        /// int8 .npy shaped [N, ...input shape] (a leading 1 of the input shape may be left out).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the int8 outputs, shaped [N, ...output shape].
        #[arg(long)]
        output: PathBuf,
        /// Optional integer labels [N]: prints top-1 accuracy.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Writes the generated Rust source and weight blob into a folder.
    Convert {
        /// The model (.tflite, int8).
        model: PathBuf,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Base name of the generated files (default: the model's file stem).
        #[arg(long)]
        name: Option<String>,
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
        Command::Inspect { model, json } => {
            let assembled = attonet_convert::load(&model)?;
            let report = attonet_convert::Report::new(&assembled);
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
        Command::Run {
            model,
            input,
            output,
            labels,
        } => run_batch(&model, &input, &output, labels.as_deref()),
        Command::Convert { model, out, name } => {
            let name = name.unwrap_or_else(|| attonet_convert::default_name(&model));
            let report = attonet_convert::Builder::new(&model)
                .name(&name)
                .out_dir(&out)
                .build()?;
            println!(
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

fn run_batch(
    model_path: &std::path::Path,
    input: &std::path::Path,
    output: &std::path::Path,
    labels: Option<&std::path::Path>,
) -> Result<()> {
    let assembled = attonet_convert::load(model_path)?;
    let model = assembled.model();
    let batch = Array::read(input)?;
    let Some(data) = batch.as_i8() else {
        bail!(
            "{}: the input must be int8, it is {:?}",
            input.display(),
            batch.dtype
        );
    };
    let in_dims: Vec<usize> = model.input.dims.iter().map(|&d| d as usize).collect();
    let out_dims: Vec<usize> = model.output.dims.iter().map(|&d| d as usize).collect();
    let sample_dims = &batch.shape[1.min(batch.shape.len())..];
    let with_batch_one = sample_dims == in_dims.as_slice();
    let without_batch_one = in_dims.first() == Some(&1) && sample_dims == &in_dims[1..];
    if batch.shape.is_empty() || !(with_batch_one || without_batch_one) {
        bail!(
            "{}: shape {:?} is not [N, {}] (the model input is {:?})",
            input.display(),
            batch.shape,
            in_dims
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            in_dims
        );
    }
    let n = batch.shape[0];
    let in_len = model.input.slot.shape.len();
    let out_len = model.output.slot.shape.len();
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let mut results = vec![0i8; n * out_len];
    for (i, (sample, out)) in data
        .chunks_exact(in_len)
        .zip(results.chunks_exact_mut(out_len))
        .enumerate()
    {
        model
            .infer(&mut arena, sample, out)
            .with_context(|| format!("sample {i}"))?;
    }
    let mut shape = vec![n];
    if with_batch_one {
        shape.extend(&out_dims);
    } else {
        shape.extend(out_dims.iter().skip(1));
    }
    Array::from_i8(shape, &results).write(output)?;
    println!(
        "ran {n} samples through {}: wrote {}",
        model.name,
        output.display()
    );
    if let Some(labels) = labels {
        let labels = Array::read(labels)?
            .to_i64()
            .context("labels must be an integer array")?;
        if labels.len() != n {
            bail!("{} labels for {n} samples", labels.len());
        }
        let correct = results
            .chunks_exact(out_len)
            .zip(&labels)
            .filter(|(scores, &label)| argmax(scores) as i64 == label)
            .count();
        println!(
            "top-1: {correct}/{n} = {:.2} %",
            100.0 * correct as f64 / n.max(1) as f64
        );
    }
    Ok(())
}

/// Index of the largest score; the first one wins ties (as numpy's argmax).
fn argmax(scores: &[i8]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}
