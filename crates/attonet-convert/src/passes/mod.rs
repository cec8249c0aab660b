//! Graph passes over a lowered [`Program`], one per file.

pub mod dense_groups;
pub mod fc_as_pointwise;
pub mod fuse_blocks;
pub mod fuse_pointwise_pair;

use crate::program::Program;

/// The passes every conversion runs, in order: a one-row fully connected
/// layer becomes a 1x1 convolution (the same bits), residual blocks and
/// chains become row-streamed blocks, then remaining back-to-back 1x1
/// convolutions become pointwise pairs.
pub fn optimize(program: &mut Program) {
    fc_as_pointwise::run(program);
    fuse_blocks::run(program);
    fuse_pointwise_pair::run(program);
}
