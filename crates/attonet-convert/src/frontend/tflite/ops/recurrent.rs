//! Recurrent ops with state: SVDF (`lower/svdf.rs`),
//! UNIDIRECTIONAL_SEQUENCE_LSTM (`lower/lstm.rs`).

use super::super::schema::{self, options_type as ty};
use super::super::{required_options, Context};
use super::Reading;
use crate::error::Result;
use crate::ir::OpKind;

pub(super) fn svdf(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::svdf as f;
    let cx = r.cx;
    let o = required_options(cx, r.t, ty::SVDF)?;
    let rank: i32 = o.scalar(f::RANK, 0).context(|| cx.label())?;
    let rank = usize::try_from(rank)
        .ok()
        .filter(|&r| r > 0)
        .ok_or_else(|| cx.invalid(format!("rank {rank}; it must be positive")))?;
    Ok(OpKind::Svdf {
        rank,
        fused_activation: o.scalar(f::ACTIVATION, 0).context(|| cx.label())?,
    })
}

pub(super) fn lstm(r: &mut Reading<'_, '_>) -> Result<OpKind> {
    use schema::unidirectional_sequence_lstm as f;
    let cx = r.cx;
    let o = required_options(cx, r.t, ty::UNIDIRECTIONAL_SEQUENCE_LSTM)?;
    Ok(OpKind::Lstm {
        fused_activation: o.scalar(f::ACTIVATION, 0).context(|| cx.label())?,
        cell_clip: o.scalar(f::CELL_CLIP, 0.0f32).context(|| cx.label())?,
        time_major: o.scalar(f::TIME_MAJOR, false).context(|| cx.label())?,
    })
}
