//! The converter's error type: every message names what is wrong and where.

use std::path::PathBuf;

/// Why a model could not be read, checked, planned or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The model file is truncated or its structure is corrupt.
    #[error("corrupt model: {0}")]
    Corrupt(String),
    /// The file is not a format we read.
    #[error("unrecognised model format: {0}")]
    Format(String),
    /// An operator we do not support.
    #[error("operator {index} ({name}) is not supported{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    UnsupportedOp {
        /// The operator's index in the model's execution order.
        index: usize,
        /// The operator's name in the source format (e.g. `TANH`).
        name: String,
        /// What exactly is unsupported, when it is an option rather than the op.
        detail: Option<String>,
    },
    /// A tensor of a type the op does not take (float, uint8, int16 where int8 is required).
    #[error("operator {index} ({op}): tensor '{tensor}' is {found}, but {expected} is required")]
    TensorType {
        /// The operator's index.
        index: usize,
        /// The operator's name.
        op: String,
        /// The tensor's name.
        tensor: String,
        /// The type found.
        found: String,
        /// The type required.
        expected: String,
    },
    /// Shapes that do not fit together, or quantization parameters that cannot be right.
    #[error("operator {index} ({op}): {message}")]
    Invalid {
        /// The operator's index.
        index: usize,
        /// The operator's name.
        op: String,
        /// What is inconsistent.
        message: String,
    },
    /// A problem with the graph as a whole (inputs, outputs, size limits).
    #[error("{0}")]
    Graph(String),
}

/// Shorthand for converter results.
pub type Result<T, E = ConvertError> = std::result::Result<T, E>;
