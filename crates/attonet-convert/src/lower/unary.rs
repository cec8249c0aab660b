//! Lowering of the element-wise unary ops: one 256-entry table each
//! ([`crate::ops::unary_lut`]).

use super::*;

impl Lowering<'_> {
    pub(super) fn lower_unary(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        func: &UnaryFn,
        numerics: &UnaryNumerics,
    ) -> Result<Layer> {
        let (x, y) = self.read_write(at, op)?;
        let (xin, yout) = (&self.values[x], &self.values[y]);
        if xin.shape != yout.shape {
            return Err(at.invalid(format!(
                "input {:?} and output {:?} shapes differ",
                xin.dims, yout.dims
            )));
        }
        let quant = |v: &Value| unary_lut::Quant {
            scale: v.scale,
            zero_point: v.zero_point,
        };
        let table = unary_lut::table(*func, *numerics, quant(xin), quant(yout))
            .map_err(|m| at.unsupported(m))?;
        Ok(LayerOp::Lookup { func: *func, table }.with(vec![x], y, index))
    }
}
