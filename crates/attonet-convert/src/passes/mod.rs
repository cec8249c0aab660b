//! Graph passes over a lowered [`Program`](crate::program::Program), one per file.

pub mod fuse_pointwise_pair;
