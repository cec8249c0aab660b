//! Element-wise ops: the binary family (ADD, MUL, SUB,
//! SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, PRELU; see [`crate::ops::binary`]),
//! the unary family (LOGISTIC, TANH, HARD_SWISH, RELU, RELU6,
//! RELU_N1_TO_1, ELU, ABS, LEAKY_RELU; [`crate::ops::unary_lut`]) and the type
//! changes (QUANTIZE, DEQUANTIZE; `lower/quantize.rs`).

use super::super::schema::{self, op, options_type as ty};
use super::super::{activation, options, Context};
use super::Reading;
use crate::error::Result;
use crate::ir::{Activation, BinaryFn, OpKind, UnaryFn, UnaryNumerics};

pub(super) fn add(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let activation = match options(r.cx, r.t, ty::ADD)? {
        Some(o) => activation(r.cx, &o, schema::add::ACTIVATION)?,
        None => Activation::None,
    };
    Ok(OpKind::Add { activation })
}

/// MUL and SUB (one options layout).
pub(super) fn mul_sub(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let (ty_code, func) = if r.code == op::MUL {
        (ty::MUL, BinaryFn::Mul)
    } else {
        (ty::SUB, BinaryFn::Sub)
    };
    let activation = match options(r.cx, r.t, ty_code)? {
        Some(o) => activation(r.cx, &o, schema::mul_sub::ACTIVATION)?,
        None => Activation::None,
    };
    Ok(OpKind::Binary { func, activation })
}

pub(super) fn squared_difference(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    options(r.cx, r.t, ty::SQUARED_DIFFERENCE)?;
    Ok(OpKind::Binary {
        func: BinaryFn::SquaredDifference,
        activation: Activation::None,
    })
}

pub(super) fn maximum_minimum(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    options(r.cx, r.t, ty::MAXIMUM_MINIMUM)?;
    Ok(OpKind::Binary {
        func: if r.code == op::MAXIMUM {
            BinaryFn::Maximum
        } else {
            BinaryFn::Minimum
        },
        activation: Activation::None,
    })
}

/// No options; input 1 is alpha (a constant in converted models).
pub(super) fn prelu(_: &mut Reading<'_, '_>) -> Result<OpKind> {
    Ok(OpKind::Binary {
        func: BinaryFn::Prelu,
        activation: Activation::None,
    })
}

/// The unary ops without options. TFLM's integer kernels are what the
/// tables reproduce. QUANTIZE is an int8 -> int8 requantization here; the
/// lowering takes the other types (`lower/quantize.rs`).
pub(super) fn unary(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    let func = match r.code {
        op::LOGISTIC => UnaryFn::Logistic,
        op::TANH => UnaryFn::Tanh,
        op::HARD_SWISH => UnaryFn::HardSwish,
        op::RELU => UnaryFn::Relu,
        op::RELU6 => UnaryFn::Relu6,
        op::RELU_N1_TO_1 => UnaryFn::ReluN1To1,
        op::ELU => UnaryFn::Elu { alpha: 1.0 },
        op::ABS => UnaryFn::Abs,
        op::QUANTIZE => UnaryFn::Requantize,
        other => {
            return Err(r
                .cx
                .unsupported(format!("builtin code {other} is not a unary op")))
        }
    };
    Ok(OpKind::Unary {
        func,
        numerics: UnaryNumerics::Tflm,
    })
}

pub(super) fn leaky_relu(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    // Schema default 0.0, also TFLite's value without options.
    let alpha = match options(r.cx, r.t, ty::LEAKY_RELU)? {
        Some(o) => o
            .scalar(schema::leaky_relu::ALPHA, 0.0f32)
            .context(|| r.cx.label())?,
        None => 0.0,
    };
    Ok(OpKind::Unary {
        func: UnaryFn::LeakyRelu { alpha },
        numerics: UnaryNumerics::Tflm,
    })
}

pub(super) fn dequantize(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    options(r.cx, r.t, ty::DEQUANTIZE)?;
    Ok(OpKind::Dequantize)
}
