//! Normalizations over the innermost dimension: SOFTMAX, LOG_SOFTMAX,
//! L2_NORMALIZATION.

use super::super::schema::{self, options_type as ty};
use super::super::{activation, options, Context};
use super::Reading;
use crate::error::Result;
use crate::ir::{Activation, OpKind};

pub(super) fn softmax(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    // Schema default 0.0, which is also what TFLite uses when the options
    // table is missing (converters always write beta).
    let beta = match options(r.cx, r.t, ty::SOFTMAX)? {
        Some(o) => o
            .scalar(schema::softmax::BETA, 0.0f32)
            .context(|| r.cx.label())?,
        None => 0.0,
    };
    Ok(OpKind::Softmax { beta })
}

pub(super) fn log_softmax(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    options(r.cx, r.t, ty::LOG_SOFTMAX)?;
    Ok(OpKind::LogSoftmax)
}

pub(super) fn l2_normalization(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    Ok(OpKind::L2Normalization {
        activation: match options(r.cx, r.t, ty::L2_NORM)? {
            Some(o) => activation(r.cx, &o, schema::l2_norm::ACTIVATION)?,
            None => Activation::None,
        },
    })
}
