//! The TFLite builtins AttoNet reads, one row each in [`BUILTINS`]: the
//! builtin's `BuiltinOperator` code and its reader, which checks the
//! operator's options union and constant inputs and gives the graph's
//! [`OpKind`]. The table is the allow-list: a builtin without a row is
//! refused by name (`UnsupportedOp`), one with a row is read by its family's
//! module, so the two cannot drift apart. The number and presence of inputs
//! and outputs each [`OpKind`] takes is checked after the reader, by an
//! exhaustive match (`check_arity` in the parent module).
//!
//! Families, as `crate::ops` and the runtime's `ops` group them:
//! [`conv`] (convolutions and matrix products), [`elementwise`] (binary and
//! unary element-wise ops, QUANTIZE, DEQUANTIZE), [`reduce`] (pooling,
//! reductions, ARG_MAX/ARG_MIN), [`normalize`] (SOFTMAX, LOG_SOFTMAX,
//! L2_NORMALIZATION), [`shape`] (RESHAPE, CONCATENATION, PACK),
//! [`movement`] (pads, slices, transposes, resizes, splits) and
//! [`recurrent`] (SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM).

mod conv;
mod elementwise;
pub(super) mod movement;
mod normalize;
mod recurrent;
mod reduce;
mod shape;

use super::flatbuffer::Table;
use super::schema::op;
use super::OpCtx;
use crate::error::Result;
use crate::ir::{OpKind, Tensor, TensorId};
use movement::code as mv;

/// One operator being read: what a reader sees.
pub(super) struct Reading<'r, 'a> {
    /// The operator's index and name, for messages.
    pub cx: &'r OpCtx,
    /// Its `BuiltinOperator` code (one reader may serve several).
    pub code: i32,
    /// The operator table (its options union).
    pub t: &'r Table<'a>,
    /// Its input tensors (`None`: an omitted optional input). A reader may
    /// reorder them (SPLIT's file order is `[axis, input]`).
    pub inputs: Vec<Option<TensorId>>,
    /// How many outputs it has.
    pub outputs: usize,
    /// Its first output, when it has one.
    pub output: Option<TensorId>,
    /// The subgraph's tensors.
    pub tensors: &'r [Tensor],
}

impl Reading<'_, '_> {
    /// Input `k`'s tensor, when present.
    pub fn input(&self, k: usize) -> Option<&Tensor> {
        self.inputs
            .get(k)
            .copied()
            .flatten()
            .and_then(|id| self.tensors.get(id))
    }

    /// The dimensions of output 0, when it exists.
    pub fn output_dims(&self) -> Option<Vec<usize>> {
        self.output
            .and_then(|id| self.tensors.get(id))
            .map(|t| t.shape.clone())
    }

    /// The rank of input 0 (0 when it is absent; the arity check names it).
    pub fn rank(&self) -> usize {
        self.input(0).map_or(0, |t| t.shape.len())
    }
}

/// Reads one operator's options and constant inputs into its [`OpKind`].
pub(super) type Reader = fn(&mut Reading<'_, '_>) -> Result<OpKind>;

/// A builtin AttoNet reads.
pub(super) struct Builtin {
    /// Its `BuiltinOperator` code.
    pub code: i32,
    /// Its reader.
    pub read: Reader,
}

const fn row(code: i32, read: Reader) -> Builtin {
    Builtin { code, read }
}

/// Every builtin AttoNet reads, by family.
pub(super) static BUILTINS: &[Builtin] = &[
    // Convolutions and matrix products.
    row(op::CONV_2D, conv::conv_2d),
    row(op::DEPTHWISE_CONV_2D, conv::depthwise_conv_2d),
    row(op::TRANSPOSE_CONV, conv::transpose_conv),
    row(op::FULLY_CONNECTED, conv::fully_connected),
    row(op::BATCH_MATMUL, conv::batch_matmul),
    // Element-wise: binary.
    row(op::ADD, elementwise::add),
    row(op::MUL, elementwise::mul_sub),
    row(op::SUB, elementwise::mul_sub),
    row(op::SQUARED_DIFFERENCE, elementwise::squared_difference),
    row(op::MAXIMUM, elementwise::maximum_minimum),
    row(op::MINIMUM, elementwise::maximum_minimum),
    row(op::PRELU, elementwise::prelu),
    // Element-wise: unary, and the type changes.
    row(op::LOGISTIC, elementwise::unary),
    row(op::TANH, elementwise::unary),
    row(op::HARD_SWISH, elementwise::unary),
    row(op::RELU, elementwise::unary),
    row(op::RELU6, elementwise::unary),
    row(op::RELU_N1_TO_1, elementwise::unary),
    row(op::ELU, elementwise::unary),
    row(op::ABS, elementwise::unary),
    row(op::LEAKY_RELU, elementwise::leaky_relu),
    row(op::QUANTIZE, elementwise::unary),
    row(op::DEQUANTIZE, elementwise::dequantize),
    // Pooling and reductions.
    row(op::AVERAGE_POOL_2D, reduce::pool_2d),
    row(op::MAX_POOL_2D, reduce::pool_2d),
    row(op::MEAN, reduce::reducer),
    row(op::SUM, reduce::reducer),
    row(op::REDUCE_MAX, reduce::reducer),
    row(op::ARG_MAX, reduce::arg),
    row(op::ARG_MIN, reduce::arg),
    // Normalizations.
    row(op::SOFTMAX, normalize::softmax),
    row(op::LOG_SOFTMAX, normalize::log_softmax),
    row(op::L2_NORMALIZATION, normalize::l2_normalization),
    // Shapes and joins.
    row(op::RESHAPE, shape::reshape),
    row(op::SQUEEZE, shape::squeeze),
    row(op::EXPAND_DIMS, shape::expand_dims),
    row(op::CONCATENATION, shape::concatenation),
    row(op::PACK, shape::pack),
    // Data movement.
    row(mv::PAD, movement::read),
    row(mv::PADV2, movement::read),
    row(mv::MIRROR_PAD, movement::read),
    row(mv::TRANSPOSE, movement::read),
    row(mv::SLICE, movement::read),
    row(mv::STRIDED_SLICE, movement::read),
    row(mv::SPACE_TO_DEPTH, movement::read),
    row(mv::DEPTH_TO_SPACE, movement::read),
    row(mv::RESIZE_NEAREST_NEIGHBOR, movement::read),
    row(mv::RESIZE_BILINEAR, movement::read),
    row(mv::SPLIT, movement::read_split),
    row(mv::SPLIT_V, movement::read_split),
    row(mv::UNPACK, movement::read_split),
    // Recurrent.
    row(op::SVDF, recurrent::svdf),
    row(op::UNIDIRECTIONAL_SEQUENCE_LSTM, recurrent::lstm),
];

/// The row of builtin `code`, if AttoNet reads it.
pub(super) fn builtin(code: i32) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.code == code)
}

/// The names of the builtins AttoNet reads, in the op table's order.
pub fn supported_builtins() -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .map(|b| super::schema::builtin_name(b.code).unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row is a distinct, named builtin: a code listed twice would
    /// make the second reader dead, one without a name a typo.
    #[test]
    fn rows_are_distinct_named_builtins() {
        for (i, b) in BUILTINS.iter().enumerate() {
            assert!(
                super::super::schema::builtin_name(b.code).is_some(),
                "row {i}: code {} has no name",
                b.code
            );
            assert!(
                BUILTINS[..i].iter().all(|a| a.code != b.code),
                "row {i}: code {} listed twice",
                b.code
            );
        }
    }
}
