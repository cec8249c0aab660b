//! Lowering of the movement family: the gathers and resizes
//! (`movement_layer`), RESHAPE, SPLIT / SPLIT_V / UNPACK.

use super::*;

impl Lowering<'_> {
    pub(super) fn lower_move(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        func: &MoveFn,
    ) -> Result<Layer> {
        let x_id = self.input_id(at, op, 0, "input")?;
        let x = self.read(at, x_id)?;
        let y_id = self.output_id(at, op)?;
        let y = self.write(at, y_id)?;
        let (xin, yout) = (&self.values[x], &self.values[y]);
        if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
            return Err(at.unsupported(format!(
                "input (scale {}, zero point {}) and output (scale {}, zero point {}) \
                 quantization differ; data movement does not requantize",
                xin.scale, xin.zero_point, yout.scale, yout.zero_point
            )));
        }
        let in_dims = self.tensor(at, x_id)?.shape.clone();
        let out_dims = self.tensor(at, y_id)?.shape.clone();
        Ok(movement_layer(func, func.name(), &in_dims, &out_dims, yout)
            .map_err(|m| at.unsupported(m))?
            .with(vec![x], y, index))
    }

    pub(super) fn lower_reshape(&mut self, at: &At<'_>, index: usize, op: &Op) -> Result<Layer> {
        let (x, y) = self.read_write(at, op)?;
        let (xin, yout) = (&self.values[x], &self.values[y]);
        if xin.shape.len() != yout.shape.len() {
            return Err(at.invalid(format!(
                "reshape from {:?} ({} elements) to {:?} ({} elements)",
                xin.dims,
                xin.shape.len(),
                yout.dims,
                yout.shape.len()
            )));
        }
        if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
            return Err(at.unsupported("RESHAPE that changes quantization"));
        }
        Ok(LayerOp::Reshape.with(vec![x], y, index))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_split(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        axis: &usize,
        sizes: &[usize],
        squeeze: &bool,
        name: &'static str,
    ) -> Result<Vec<Layer>> {
        let x_id = self.input_id(at, op, 0, "input")?;
        let x = self.read(at, x_id)?;
        let in_dims = self.values[x].dims.clone();
        let parts = ops::movement::split_parts(&in_dims, *axis, sizes, *squeeze)
            .map_err(|m| at.invalid(m))?;
        if parts.len() != op.outputs.len() {
            return Err(at.invalid(format!(
                "has {} outputs for {} parts",
                op.outputs.len(),
                parts.len()
            )));
        }
        let mut layers = Vec::new();
        for (k, ((func, dims), &y_id)) in parts.iter().zip(&op.outputs).enumerate() {
            let y = self.write(at, y_id)?;
            let (xin, yout) = (&self.values[x], &self.values[y]);
            if yout.dims != *dims {
                return Err(at.invalid(format!(
                    "output {k} '{}' has shape {:?}, but part {k} of {:?} is {dims:?}",
                    yout.name, yout.dims, xin.dims
                )));
            }
            if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
                return Err(at.unsupported(format!(
                    "input (scale {}, zero point {}) and output {k} (scale {}, zero \
                     point {}) quantization differ; TFLM's int8 {} copies bytes",
                    xin.scale, xin.zero_point, yout.scale, yout.zero_point, at.op
                )));
            }
            let layer =
                movement_layer(func, name, &in_dims, dims, yout).map_err(|m| at.unsupported(m))?;
            layers.push(layer.with(vec![x], y, index));
        }
        Ok(layers)
    }
}

/// The layer of a movement-family op (see [`crate::ops::movement`]):
/// TFLM's integer bilinear resize, or a gather whose padding holds `fill`,
/// named `name` in reports.
pub(super) fn movement_layer(
    func: &MoveFn,
    name: &'static str,
    in_dims: &[usize],
    out_dims: &[usize],
    out: &Value,
) -> std::result::Result<LayerOp, String> {
    if let MoveFn::ResizeBilinear {
        align_corners,
        half_pixel_centers,
    } = func
    {
        let (&[1, ih, iw, c], &[1, oh, ow, oc]) = (in_dims, out_dims) else {
            return Err(format!(
                "shapes {in_dims:?} -> {out_dims:?}; [1, height, width, channels] is required"
            ));
        };
        if c != oc {
            return Err("input and output channels differ".into());
        }
        if *align_corners && *half_pixel_centers {
            return Err("align_corners and half_pixel_centers together".into());
        }
        return Ok(LayerOp::ResizeBilinear(ops::movement::bilinear_params(
            (ih, iw),
            (oh, ow),
            *align_corners,
            *half_pixel_centers,
        )?));
    }
    let fill = match func {
        // TFLM: PAD writes the output's zero point, PADV2 its constant's
        // byte, which must share the output's scale and zero point.
        MoveFn::Pad { value, .. } => match *value {
            PadValue::Zero => out.zero_point as i8,
            PadValue::Quantized {
                value,
                scale,
                zero_point,
            } => {
                if scale as f64 != out.scale as f64 || zero_point != out.zero_point as i64 {
                    return Err(format!(
                        "the pad value's quantization (scale {scale}, zero point {zero_point}) \
                         is not the output's"
                    ));
                }
                value
            }
            PadValue::Float(v) => {
                let q = (v as f64 / out.scale as f64).round_ties_even() + out.zero_point as f64;
                q.clamp(-128.0, 127.0) as i8
            }
        },
        _ => 0,
    };
    let g = ops::movement::gather(func, in_dims, out_dims)?;
    let (params, tables) = ops::movement::to_runtime(&g, fill)?;
    Ok(LayerOp::Gather {
        name,
        params,
        tables,
    })
}
