//! AttoNet runtime: `no_std`, heap-free int8 kernels for compact classifiers
//! and the executor that runs a converted model's static plan.
//!
//! * [`quant`] writes down the fixed-point rules (TensorFlow Lite Micro's)
//!   that every kernel follows.
//! * [`fixedpoint`] holds gemmlowp's fixed-point functions (exp, logistic,
//!   tanh) that SOFTMAX uses and the converter fills LOGISTIC and TANH tables with.
//! * [`ops`] holds the kernels, one module per op family.
//! * [`dsp_select`] says which Cortex-M DSP kernel takes which layer (the
//!   converter links only those a model reaches).
//! * [`block`] runs a chain of convolutions and its residual ADD row by row
//!   (fused blocks: the arena holds a few rows of each intermediate).
//! * [`integrity`] computes the CRC-32 that proves a model's blob and plan
//!   in flash unchanged ([`plan::Model::verify`]).
//! * [`plan`] holds the step descriptors the converter emits and the executor
//!   that runs them over a caller-owned arena.
//!
//! No allocation, no panicking paths on bad input: kernels and the executor
//! return [`Error`] values.
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_code)]

// The architecture-specific fast paths: the one place with `unsafe` (inline
// assembly and unchecked indexing, each block with its `SAFETY:` argument).
#[allow(unsafe_code)]
mod arch;
pub mod block;
pub mod dsp_select;
pub mod error;
pub mod fixedpoint;
pub mod integrity;
pub mod ops;
pub mod plan;
pub mod prepared;
pub mod quant;

pub use error::{Error, ErrorKind, Result};
