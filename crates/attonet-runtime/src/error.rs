//! The runtime's error type.

use core::fmt;

/// What went wrong when preparing or running a plan, or when a kernel was
/// called with arguments that do not fit together.
///
/// Kernels check every argument before touching memory and return one of these
/// instead of panicking or writing out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A buffer's length is not what the shapes call for.
    BufferLength {
        /// Which buffer (for example `"input"`, `"filter"`, `"bias"`).
        what: &'static str,
        /// The length the shapes imply.
        expected: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// Shapes or parameters that contradict each other (for example an input
    /// channel count that the group count does not divide).
    Shape(&'static str),
    /// A parameter outside the range the kernel supports (for example a zero
    /// stride, or a requantization shift outside `-31..=30`).
    Parameter(&'static str),
    /// The arena passed to [`crate::plan::Model::run`] is smaller than the plan needs.
    ArenaTooSmall {
        /// Bytes the plan needs.
        needed: usize,
        /// Bytes that were given.
        given: usize,
    },
    /// A plan refers to bytes outside its weight blob, or to a misaligned table.
    Blob {
        /// Index of the step in the plan.
        step: u16,
        /// Which table.
        what: &'static str,
    },
    /// Two arena regions that a step needs to be distinct overlap.
    Overlap {
        /// Index of the step in the plan.
        step: u16,
    },
    /// The number of model inputs or outputs passed is not the model's.
    IoCount {
        /// `"inputs"` or `"outputs"`.
        what: &'static str,
        /// How many the model has.
        expected: usize,
        /// How many were passed.
        actual: usize,
    },
    /// A model's inputs or outputs contradict its plan.
    Io(&'static str),
    /// The blob or plan in flash is not what the converter wrote: its
    /// CRC-32 ([`crate::plan::Model::checksum`]) differs from the one
    /// generated beside it.
    Checksum {
        /// The converter's checksum (`CHECKSUM`).
        expected: u32,
        /// The checksum of what is in memory now.
        actual: u32,
    },
    /// A step failed; `step` is its index, `inner` the kernel's error.
    Step {
        /// Index of the step in the plan.
        step: u16,
        /// The kernel's own error, without its step context.
        kind: ErrorKind,
    },
}

/// The kind of an [`Error`], without its context (kept `Copy` and small so a
/// step can wrap its kernel's error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::BufferLength`].
    BufferLength,
    /// See [`Error::Shape`].
    Shape,
    /// See [`Error::Parameter`].
    Parameter,
    /// Anything else.
    Other,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BufferLength { .. } => ErrorKind::BufferLength,
            Error::Shape(_) => ErrorKind::Shape,
            Error::Parameter(_) => ErrorKind::Parameter,
            Error::Step { kind, .. } => *kind,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BufferLength {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what} buffer holds {actual} elements, the shapes need {expected}"
            ),
            Error::Shape(msg) => write!(f, "inconsistent shapes: {msg}"),
            Error::Parameter(msg) => write!(f, "unsupported parameter: {msg}"),
            Error::ArenaTooSmall { needed, given } => {
                write!(
                    f,
                    "arena of {given} bytes is too small, the plan needs {needed}"
                )
            }
            Error::Blob { step, what } => write!(
                f,
                "step {step}: its {what} table lies outside the weight blob or is misaligned"
            ),
            Error::Overlap { step } => {
                write!(
                    f,
                    "step {step}: arena regions that must be distinct overlap"
                )
            }
            Error::IoCount {
                what,
                expected,
                actual,
            } => write!(f, "the model has {expected} {what}, {actual} were given"),
            Error::Io(msg) => write!(f, "model inputs and outputs: {msg}"),
            Error::Checksum { expected, actual } => write!(
                f,
                "the model in flash is corrupt: its CRC-32 is {actual:#010x}, the converter wrote {expected:#010x}"
            ),
            Error::Step { step, kind } => write!(f, "step {step} failed: {kind:?}"),
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand for kernel results.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// Checks that `buf` holds exactly `expected` elements.
#[inline]
pub(crate) fn check_len<T>(what: &'static str, buf: &[T], expected: usize) -> Result {
    if buf.len() == expected {
        Ok(())
    } else {
        Err(Error::BufferLength {
            what,
            expected,
            actual: buf.len(),
        })
    }
}
