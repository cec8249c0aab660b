//! AttoNet converter: reads an int8 TFLite model and produces a static plan
//! for the `attonet-runtime` crate, as Rust source plus an aligned weight
//! blob, or runs it on the host.
//!
//! The way data travels:
//! ```text
//! model file -> frontend (one per format) -> ir::Graph
//!            -> lower (checks, integer requantization parameters) -> program::Program
//!            -> passes (fusion) -> planner (arena offsets) -> assemble (blob + steps)
//!            -> codegen (Rust source) | host runner (the same runtime Model in memory)
//! ```
#![deny(missing_docs)]

pub mod assemble;
pub mod builder;
pub mod codegen;
pub mod error;
pub mod fast_epilogue;
pub mod float_exec;
pub mod frontend;
pub mod ir;
pub mod lower;
pub mod npy;
pub mod ops;
pub mod passes;
pub mod planner;
pub mod program;
pub mod quantize;
pub mod report;
pub mod requantize;

use std::path::Path;

pub use assemble::{Assembled, DspCore};
pub use builder::Builder;
pub use error::{ConvertError, Result};
pub use report::Report;

/// The model formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TensorFlow Lite flatbuffer (`.tflite`), int8.
    Tflite,
    /// ONNX protobuf (`.onnx`), float or QDQ: needs [`quantize`] (calibration).
    Onnx,
}

/// Recognises a model format from the file's bytes.
pub fn detect_format(bytes: &[u8]) -> Result<Format> {
    if bytes.len() >= 8 && &bytes[4..8] == b"TFL3" {
        Ok(Format::Tflite)
    } else if frontend::onnx::proto::looks_like_onnx(bytes) {
        Ok(Format::Onnx)
    } else if bytes.len() < 8 {
        Err(ConvertError::Format(format!(
            "the file is {} bytes long, too short to be a model",
            bytes.len()
        )))
    } else {
        Err(ConvertError::Format(
            "neither a TFLite flatbuffer (no 'TFL3' identifier at byte 4) nor an ONNX model".into(),
        ))
    }
}

/// Parses, checks, lowers, fuses, plans and assembles a model held in memory.
pub fn assemble_bytes(bytes: &[u8], name: &str) -> Result<Assembled> {
    let graph = match detect_format(bytes)? {
        Format::Tflite => frontend::tflite::read_tflite(bytes)?,
        // A float ONNX model needs calibration samples (quantize::quantize_and_assemble);
        // a QDQ model whose every activation is annotated converts without.
        Format::Onnx => quantize::quantize(
            &frontend::onnx::read_onnx(bytes)?.graph,
            &[],
            &quantize::Options::default(),
        )?,
    };
    let mut program = lower::lower(&graph, name)?;
    passes::optimize(&mut program);
    assemble::assemble(program)
}

/// Reads a model file and assembles it; the name defaults to the file stem.
pub fn load(path: &Path) -> Result<Assembled> {
    let bytes = read(path)?;
    assemble_bytes(&bytes, &default_name(path))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ConvertError::Io {
        path: path.to_path_buf(),
        error: source,
    })
}

/// Converts a model file into generated source (no I/O beyond reading it).
pub fn convert_file(path: &Path, name: &str) -> Result<(codegen::Generated, Report)> {
    let bytes = read(path)?;
    let assembled = assemble_bytes(&bytes, name)?;
    let generated = quantize::generate(&assembled, path, &bytes);
    Ok((generated, Report::new(&assembled)))
}

/// A model's default name: its file stem as a lower-case identifier.
pub fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "model_");
    }
    name
}
