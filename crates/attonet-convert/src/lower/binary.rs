//! Lowering of the binary family: ADD of two activations of one shape (the
//! `add` kernel), the broadcast and constant-operand ops (`binary_layer`:
//! ADD, SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, PRELU;
//! [`crate::ops::binary`]), CONCATENATION, PACK.

use super::*;

impl Lowering<'_> {
    /// Whether both inputs of an ADD are activations of the output's shape
    /// (the `add` kernel's case; anything else runs as a binary op).
    pub(super) fn same_shape_activations(&self, at: &At<'_>, op: &Op) -> Result<bool> {
        let mut shapes = Vec::new();
        for k in 0..2 {
            let id = self.input_id(at, op, k, "input")?;
            match self.by_tensor.get(&id) {
                Some(&v) => shapes.push(self.values[v].dims.clone()),
                None => return Ok(false),
            }
        }
        let out = self.tensor(at, self.output_id(at, op)?)?;
        Ok(shapes[0] == shapes[1] && shapes[0] == out.shape)
    }

    /// A binary element-wise op (`func` `None`: ADD) whose operands are
    /// activations or int8 constants, with broadcasting.
    pub(super) fn binary_layer(
        &mut self,
        at: &At<'_>,
        op: &Op,
        func: Option<BinaryFn>,
        activation: Activation,
        index: usize,
    ) -> Result<Layer> {
        let mut activations = Vec::new();
        let mut constants: [Option<Vec<i8>>; 2] = [None, None];
        let mut quants = Vec::new();
        let mut dims = Vec::new();
        for (k, constant) in constants.iter_mut().enumerate() {
            let id = self.input_id(at, op, k, "operand")?;
            if let Some(&v) = self.by_tensor.get(&id) {
                let value = &self.values[v];
                quants.push(unary_lut::Quant {
                    scale: value.scale,
                    zero_point: value.zero_point,
                });
                dims.push(value.dims.clone());
                activations.push(v);
            } else {
                let t = self.tensor(at, id)?;
                if t.data.is_none() {
                    self.read(at, id)?; // the error for a tensor read before it is written
                }
                let (t, bytes) = self.constant_i8(at, id, "constant operand")?;
                let (scale, zero_point) = self.per_tensor(at, t)?;
                quants.push(unary_lut::Quant { scale, zero_point });
                dims.push(t.shape.clone());
                *constant = Some(bytes);
            }
        }
        if activations.is_empty() {
            return Err(at.unsupported("both operands are constants"));
        }
        let y = self.write(at, self.output_id(at, op)?)?;
        let vy = &self.values[y];
        let geometry =
            ops::binary::geometry(&dims[0], &dims[1], &vy.dims).map_err(|m| at.invalid(m))?;
        let qo = unary_lut::Quant {
            scale: vy.scale,
            zero_point: vy.zero_point,
        };
        let params = ops::binary::params(
            func,
            quants[0],
            quants[1],
            qo,
            self.clamp(activation, vy),
            geometry,
        )
        .map_err(|m| at.unsupported(m))?;
        Ok(LayerOp::Binary {
            func,
            params,
            constants,
        }
        .with(activations, y, index))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_concat(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        axis: &usize,
        activation: &Activation,
        numerics: &UnaryNumerics,
        elem: ElementType,
    ) -> Result<Layer> {
        if *activation != Activation::None {
            return Err(at.unsupported(format!(
                "fused activation {activation:?}; TFLM requires none"
            )));
        }
        let mut xs = Vec::new();
        for k in 0..op.inputs.len() {
            xs.push(self.read_elem(at, self.input_id(at, op, k, "input")?, elem)?);
        }
        let y = self.write_elem(at, self.output_id(at, op)?, elem)?;
        let vy = &self.values[y];
        let mut tables = Vec::new();
        for &x in &xs {
            let vx = &self.values[x];
            let same = vx.scale == vy.scale && vx.zero_point == vy.zero_point;
            if !same && *numerics == UnaryNumerics::Float && elem == ElementType::Int8 {
                let q = |v: &Value| unary_lut::Quant {
                    scale: v.scale,
                    zero_point: v.zero_point,
                };
                tables.push(
                    unary_lut::table(UnaryFn::Requantize, UnaryNumerics::Float, q(vx), q(vy))
                        .map_err(|m| at.unsupported(m))?,
                );
                continue;
            }
            tables.push(Vec::new());
            if !same {
                return Err(at.unsupported(format!(
                    "input '{}' (scale {}, zero point {}) and the output (scale {}, \
                     zero point {}) are quantized differently; TFLM's int8 \
                     CONCATENATION copies bytes",
                    vx.name, vx.scale, vx.zero_point, vy.scale, vy.zero_point
                )));
            }
        }
        let dims: Vec<Vec<usize>> = xs
            .iter()
            .map(|&x| byte_dims(&self.values[x].dims, elem))
            .collect();
        let dims: Vec<&[usize]> = dims.iter().map(Vec::as_slice).collect();
        let parts = ops::binary::concat_parts(&dims, &byte_dims(&vy.dims, elem), *axis)
            .map_err(|m| at.invalid(m))?;
        Ok(LayerOp::Concat { parts, tables }.with(xs, y, index))
    }

    pub(super) fn lower_add(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        activation: &Activation,
    ) -> Result<Layer> {
        let a = self.read(at, self.input_id(at, op, 0, "first input")?)?;
        let b = self.read(at, self.input_id(at, op, 1, "second input")?)?;
        let y = self.write(at, self.output_id(at, op)?)?;
        let (va, vb, vy) = (&self.values[a], &self.values[b], &self.values[y]);
        let left_shift = crate::requantize::ADD_LEFT_SHIFT;
        let [m1, m2, mo] = crate::requantize::add_rescale(va.scale, vb.scale, vy.scale);
        let q = |m: f64| {
            quantize_multiplier_smaller_than_one(m)
                .ok_or_else(|| at.unsupported(format!("ADD rescale factor {m:e} is not below 1")))
        };
        let ((im1, is1), (im2, is2), (om, os)) = (q(m1)?, q(m2)?, q(mo)?);
        Ok(LayerOp::Add(AddParams {
            input1_zero_point: va.zero_point,
            input2_zero_point: vb.zero_point,
            output_zero_point: vy.zero_point,
            left_shift,
            input1_multiplier: im1,
            input1_shift: is1,
            input2_multiplier: im2,
            input2_shift: is2,
            output_multiplier: om,
            output_shift: os,
            clamp: self.clamp(*activation, vy),
        })
        .with(vec![a, b], y, index))
    }

    pub(super) fn lower_pack(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        axis: &usize,
        elem: ElementType,
    ) -> Result<Layer> {
        let mut xs = Vec::new();
        for k in 0..op.inputs.len() {
            xs.push(self.read_elem(at, self.input_id(at, op, k, "input")?, elem)?);
        }
        let y = self.write_elem(at, self.output_id(at, op)?, elem)?;
        let vy = &self.values[y];
        // PACK is a CONCATENATION along the new axis of the inputs
        // reshaped with a 1 there; TFLM's int8 PACK copies bytes too.
        let mut dims = Vec::new();
        for &x in &xs {
            let vx = &self.values[x];
            if vx.scale != vy.scale || vx.zero_point != vy.zero_point {
                return Err(at.unsupported(format!(
                    "input '{}' (scale {}, zero point {}) and the output (scale {}, \
                     zero point {}) are quantized differently; TFLM's int8 PACK \
                     copies bytes",
                    vx.name, vx.scale, vx.zero_point, vy.scale, vy.zero_point
                )));
            }
            let operand =
                ops::binary::pack_operand_dims(&vx.dims, *axis).map_err(|m| at.invalid(m))?;
            dims.push(byte_dims(&operand, elem));
        }
        let dims: Vec<&[usize]> = dims.iter().map(Vec::as_slice).collect();
        let parts = ops::binary::concat_parts(&dims, &byte_dims(&vy.dims, elem), *axis)
            .map_err(|m| at.invalid(m))?;
        let tables = vec![Vec::new(); xs.len()];
        Ok(LayerOp::Concat { parts, tables }.with(xs, y, index))
    }
}

/// `dims` of a tensor of `elem` as the bytes a concatenation moves: an
/// int16 tensor's elements are byte pairs, a trailing axis of 2 that the
/// join never cuts (its axis indexes the leading dims unchanged).
fn byte_dims(dims: &[usize], elem: ElementType) -> Vec<usize> {
    match elem.size() {
        1 => dims.to_vec(),
        n => [dims, &[n][..]].concat(),
    }
}
