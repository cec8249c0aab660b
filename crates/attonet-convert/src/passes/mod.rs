//! Graph passes over a lowered [`Program`], one per file.

pub mod fuse_blocks;
pub mod fuse_pointwise_pair;

use crate::program::Program;

/// The passes every conversion runs, in order: residual blocks and chains
/// become row-streamed blocks first, then remaining back-to-back 1x1
/// convolutions become pointwise pairs.
pub fn optimize(program: &mut Program) {
    fuse_blocks::run(program);
    fuse_pointwise_pair::run(program);
}
