//! Op families, one module each: what the converter knows of an op beyond
//! the front ends' readers (its lowering tables, float reference and
//! quantization rule).

pub mod batch_matmul;
pub mod binary;
pub mod movement;
pub mod reduce;
pub mod unary_lut;
