//! The ONNX operators AttoNet reads (domain `ai.onnx`), one row each in
//! [`OPERATORS`]: the op type and its handler. The table is the allow-list:
//! an op type without a row is refused by name. Handlers that take an op on
//! activations or, on constants, fold it as shape arithmetic (`Mul`,
//! `Concat`, `Slice`, `Squeeze`, ...) decide by their inputs.

use super::proto::TensorData;
use super::{Converter, Ctx, Val};
use crate::error::Result;
use crate::ir::{Activation, ArgFn, BinaryFn, OpKind, ReduceFn, UnaryFn};

/// Reads one node into the graph (or folds it).
pub(super) type Handler = fn(&mut Converter, &Ctx<'_>) -> Result<()>;

/// Every ONNX operator AttoNet reads, by family.
pub(super) static OPERATORS: &[(&str, Handler)] = &[
    // Convolutions and matrix products (BatchNormalization folds into them).
    ("Conv", Converter::conv),
    ("ConvTranspose", Converter::conv_transpose),
    ("BatchNormalization", Converter::batch_norm),
    ("Gemm", Converter::gemm),
    ("MatMul", Converter::matmul),
    // Activations fused into their producer where they can be.
    ("Relu", relu),
    ("Clip", Converter::clip),
    // Element-wise unary functions: a table each (crate::ops::unary_lut).
    ("Sigmoid", unary),
    ("Tanh", unary),
    ("HardSwish", unary),
    ("HardSigmoid", hard_sigmoid),
    ("LeakyRelu", leaky_relu),
    ("Exp", unary),
    ("Neg", unary),
    ("Abs", unary),
    ("Sqrt", unary),
    ("Sign", unary),
    ("Sin", unary),
    ("Cos", unary),
    ("Erf", unary),
    ("Softplus", unary),
    ("Softsign", unary),
    ("Mish", unary),
    ("Elu", elu_like),
    ("Celu", elu_like),
    ("ThresholdedRelu", elu_like),
    ("Selu", selu),
    ("Gelu", gelu),
    // Element-wise binary (crate::ops::binary); on constants, folded.
    ("PRelu", prelu),
    ("Add", Converter::add),
    ("Mul", arithmetic),
    ("Sub", arithmetic),
    ("Div", arithmetic),
    ("Max", max_min),
    ("Min", max_min),
    // Pooling and reductions.
    ("MaxPool", Converter::pool),
    ("AveragePool", Converter::pool),
    ("GlobalAveragePool", Converter::global_pool),
    ("GlobalMaxPool", Converter::global_pool),
    ("ReduceMean", reduce_mean),
    ("ReduceSum", reduce_sum),
    ("ReduceMax", reduce_max),
    ("ArgMax", arg_max),
    ("ArgMin", arg_min),
    // Normalizations.
    ("Softmax", softmax),
    ("LogSoftmax", log_softmax),
    ("LpNormalization", Converter::lp_normalization),
    // Shapes, joins and splits.
    ("Flatten", Converter::flatten),
    ("Reshape", Converter::reshape),
    ("Concat", concat),
    ("Split", Converter::split),
    ("Unsqueeze", squeeze),
    ("Squeeze", squeeze),
    ("Identity", Converter::identity),
    ("Dropout", Converter::identity),
    // Data movement (movement.rs); a Slice of constants is folded.
    ("Pad", Converter::pad),
    ("Transpose", Converter::transpose),
    ("Slice", slice),
    ("Resize", Converter::resize),
    ("Upsample", Converter::upsample),
    ("DepthToSpace", Converter::depth_space),
    ("SpaceToDepth", Converter::depth_space),
    // Constants and shape arithmetic on them, folded (fold.rs).
    ("Constant", Converter::constant_node),
    ("Shape", Converter::fold),
    ("Gather", Converter::fold),
    ("Cast", Converter::fold),
    ("ConstantOfShape", Converter::fold),
    // Quantize-dequantize pairs (QDQ models).
    ("QuantizeLinear", Converter::quantize_linear),
    ("DequantizeLinear", Converter::dequantize_linear),
];

/// The handler of op type `op_type`, if AttoNet reads it.
pub(super) fn handler(op_type: &str) -> Option<Handler> {
    OPERATORS
        .iter()
        .find(|(name, _)| *name == op_type)
        .map(|&(_, h)| h)
}

/// The ONNX op types AttoNet reads, in the op table's order.
pub fn supported_operators() -> impl Iterator<Item = &'static str> {
    OPERATORS.iter().map(|&(name, _)| name)
}

fn relu(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&[])?;
    c.activation(cx, Activation::Relu)
}

/// The unary functions without attributes.
fn unary(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&[])?;
    let func = match cx.node.op_type {
        "Sigmoid" => UnaryFn::Logistic,
        "Tanh" => UnaryFn::Tanh,
        "HardSwish" => UnaryFn::HardSwish,
        "Exp" => UnaryFn::Exp,
        "Neg" => UnaryFn::Neg,
        "Abs" => UnaryFn::Abs,
        "Sqrt" => UnaryFn::Sqrt,
        "Sign" => UnaryFn::Sign,
        "Sin" => UnaryFn::Sin,
        "Cos" => UnaryFn::Cos,
        "Erf" => UnaryFn::Erf,
        "Softplus" => UnaryFn::Softplus,
        "Softsign" => UnaryFn::Softsign,
        "Mish" => UnaryFn::Mish,
        other => return Err(cx.unsupported(format!("{other} is not a unary function"))),
    };
    c.unary(cx, func)
}

fn hard_sigmoid(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&["alpha", "beta"])?;
    let alpha = cx.attr_float("alpha", 0.2)?;
    let beta = cx.attr_float("beta", 0.5)?;
    c.unary(cx, UnaryFn::HardSigmoid { alpha, beta })
}

fn leaky_relu(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&["alpha"])?;
    let alpha = cx.attr_float("alpha", 0.01)?;
    c.unary(cx, UnaryFn::LeakyRelu { alpha })
}

/// Elu, Celu, ThresholdedRelu: one `alpha` each.
fn elu_like(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&["alpha"])?;
    let alpha = cx.attr_float("alpha", 1.0)?;
    if !alpha.is_finite() || (cx.node.op_type == "Celu" && alpha == 0.0) {
        return Err(cx.invalid(format!("alpha {alpha}")));
    }
    let func = match cx.node.op_type {
        "Elu" => UnaryFn::Elu { alpha },
        "Celu" => UnaryFn::Celu { alpha },
        _ => UnaryFn::ThresholdedRelu { alpha },
    };
    c.unary(cx, func)
}

fn selu(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&["alpha", "gamma"])?;
    let alpha = cx.attr_float("alpha", 1.673_263_2)?;
    let gamma = cx.attr_float("gamma", 1.050_701)?;
    if !alpha.is_finite() || !gamma.is_finite() {
        return Err(cx.invalid(format!("alpha {alpha}, gamma {gamma}")));
    }
    c.unary(cx, UnaryFn::Selu { alpha, gamma })
}

fn gelu(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&["approximate"])?;
    let tanh = match cx.attr_string("approximate", "none")?.as_str() {
        "none" => false,
        "tanh" => true,
        other => return Err(cx.invalid(format!("approximate = {other:?}"))),
    };
    c.unary(cx, UnaryFn::Gelu { tanh })
}

fn prelu(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    cx.only_attrs(&[])?;
    c.binary(cx, Some(BinaryFn::Prelu), false)
}

/// Mul, Sub, Div: the binary family on an activation (Div by a constant as
/// a Mul by its reciprocal); on constants only, shape arithmetic, folded.
fn arithmetic(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    if !c.any_act(cx)? {
        return c.fold(cx);
    }
    cx.only_attrs(&[])?;
    if cx.node.op_type == "Mul" && c.fuse_hard_swish(cx)? {
        return Ok(());
    }
    let func = match cx.node.op_type {
        "Sub" => BinaryFn::Sub,
        _ => BinaryFn::Mul,
    };
    c.binary(cx, Some(func), cx.node.op_type == "Div")
}

/// Max, Min of an activation and another operand.
fn max_min(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    if !c.any_act(cx)? {
        return Err(cx.unsupported("an operator on constants only (not shape arithmetic)"));
    }
    cx.only_attrs(&[])?;
    let func = match cx.node.op_type {
        "Max" => BinaryFn::Maximum,
        _ => BinaryFn::Minimum,
    };
    c.binary(cx, Some(func), false)
}

fn reduce_mean(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.reduce(cx, ReduceFn::Mean)
}

fn reduce_sum(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.reduce(cx, ReduceFn::Sum)
}

fn reduce_max(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.reduce(cx, ReduceFn::Max)
}

fn arg_max(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.arg(cx, ArgFn::Max)
}

fn arg_min(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.arg(cx, ArgFn::Min)
}

fn softmax(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.softmax(cx, OpKind::Softmax { beta: 1.0 })
}

fn log_softmax(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    c.softmax(cx, OpKind::LogSoftmax)
}

/// Concat of activations; of constants, folded (integer shape arithmetic,
/// or float constants such as a Resize's scales).
fn concat(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    if c.any_act(cx)? {
        return c.concat(cx);
    }
    let float = |v: &Val| matches!(v, Val::Const(k) if matches!(k.data, TensorData::F32(_)));
    if (0..cx.node.inputs.len()).any(|i| c.input(cx, i).is_ok_and(float)) {
        c.fold_float_concat(cx)
    } else {
        c.fold(cx)
    }
}

/// Slice of an activation; of a constant, folded.
fn slice(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    if matches!(c.input(cx, 0)?, Val::Act(_)) {
        c.slice(cx)
    } else {
        c.fold(cx)
    }
}

/// Squeeze, Unsqueeze of an activation (a reshape); of a constant, folded.
fn squeeze(c: &mut Converter, cx: &Ctx<'_>) -> Result<()> {
    if matches!(c.input(cx, 0)?, Val::Act(_)) {
        c.squeeze_act(cx)
    } else {
        c.fold(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::OPERATORS;

    /// Each op type has one row: a second would be dead.
    #[test]
    fn each_op_type_has_one_row() {
        for (i, (name, _)) in OPERATORS.iter().enumerate() {
            assert!(
                OPERATORS[..i].iter().all(|(n, _)| n != name),
                "{name} listed twice"
            );
        }
    }
}
