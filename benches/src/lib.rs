//! Host benchmarks of the AttoNet kernels live in `benches/kernels.rs`.
