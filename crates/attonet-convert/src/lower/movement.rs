//! Lowering of the movement family: the gathers and resizes
//! (`movement_layer`), RESHAPE, SPLIT / SPLIT_V / UNPACK.
//!
//! The byte movers take int8 and, for TFLite's 16x8 models, int16 tensors
//! alike: an int16 tensor is its elements' little-endian byte pairs, so it
//! moves as an int8 one with a trailing axis of two bytes that every op
//! keeps whole (`byte_view`).

use super::*;

impl Lowering<'_> {
    /// The value of an op input of the movement family's element type.
    pub(super) fn read_elem(
        &self,
        at: &At<'_>,
        id: TensorId,
        elem: ElementType,
    ) -> Result<ValueId> {
        self.read_typed(at, id, elem)
    }

    /// A new value of the movement family's element type for an output.
    pub(super) fn write_elem(
        &mut self,
        at: &At<'_>,
        id: TensorId,
        elem: ElementType,
    ) -> Result<ValueId> {
        match elem {
            ElementType::Int16 => {
                if self.by_tensor.contains_key(&id) {
                    return Err(at.invalid(format!(
                        "output '{}' is written a second time",
                        self.tensor_name(id)
                    )));
                }
                self.new_s16_value(at, id)
            }
            _ => self.write(at, id),
        }
    }

    pub(super) fn lower_move(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        func: &MoveFn,
        elem: ElementType,
    ) -> Result<Layer> {
        let x_id = self.input_id(at, op, 0, "input")?;
        let x = self.read_elem(at, x_id, elem)?;
        let y_id = self.output_id(at, op)?;
        let y = self.write_elem(at, y_id, elem)?;
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
        Ok(
            movement_layer(func, func.name(), &in_dims, &out_dims, yout, elem.size())
                .map_err(|m| at.unsupported(m))?
                .with(vec![x], y, index),
        )
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
        elem: ElementType,
    ) -> Result<Vec<Layer>> {
        let x_id = self.input_id(at, op, 0, "input")?;
        let x = self.read_elem(at, x_id, elem)?;
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
            let y = self.write_elem(at, y_id, elem)?;
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
            let layer = movement_layer(func, name, &in_dims, dims, yout, elem.size())
                .map_err(|m| at.unsupported(m))?;
            layers.push(layer.with(vec![x], y, index));
        }
        Ok(layers)
    }
}

/// `func` over the bytes of elements `size` bytes long, and the input and
/// output dims it then moves: for `size > 1` a trailing axis of `size` bytes
/// that every op keeps whole (padded, transposed, sliced around it), or, for
/// the moves of whole pixels (the space/depth rearrangements, the nearest
/// resize), a pixel's channels as `size` times as many bytes.
pub(super) fn byte_view(
    func: &MoveFn,
    in_dims: &[usize],
    out_dims: &[usize],
    size: usize,
) -> std::result::Result<(MoveFn, Vec<usize>, Vec<usize>), String> {
    if size == 1 {
        return Ok((func.clone(), in_dims.to_vec(), out_dims.to_vec()));
    }
    let append = |d: &[usize]| [d, &[size][..]].concat();
    let widen = |d: &[usize]| {
        let mut v = d.to_vec();
        if let Some(c) = v.last_mut() {
            *c *= size;
        }
        v
    };
    let with = |v: &[usize], x: usize| [v, &[x][..]].concat();
    Ok(match func {
        MoveFn::Pad {
            before,
            after,
            value,
        } => {
            // TFLM pads an int16 tensor with its zero point, 0: zero bytes.
            if *value != PadValue::Zero {
                return Err(format!(
                    "{} with a constant and {size}-byte elements",
                    func.name()
                ));
            }
            let pad = MoveFn::Pad {
                before: with(before, 0),
                after: with(after, 0),
                value: PadValue::Zero,
            };
            (pad, append(in_dims), append(out_dims))
        }
        MoveFn::MirrorPad {
            before,
            after,
            mode,
        } => {
            let pad = MoveFn::MirrorPad {
                before: with(before, 0),
                after: with(after, 0),
                mode: *mode,
            };
            (pad, append(in_dims), append(out_dims))
        }
        MoveFn::Transpose { perm } => (
            MoveFn::Transpose {
                perm: with(perm, perm.len()),
            },
            append(in_dims),
            append(out_dims),
        ),
        MoveFn::Slice { start, step, count } => (
            MoveFn::Slice {
                start: with(start, 0),
                step: [step, &[1][..]].concat(),
                count: with(count, size),
            },
            append(in_dims),
            append(out_dims),
        ),
        MoveFn::SpaceToDepth { .. }
        | MoveFn::DepthToSpace { crd: false, .. }
        | MoveFn::ResizeNearest { .. } => (func.clone(), widen(in_dims), widen(out_dims)),
        MoveFn::DepthToSpace { crd: true, .. } | MoveFn::ResizeBilinear { .. } => {
            return Err(format!("{} with {size}-byte elements", func.name()))
        }
    })
}

/// The layer of a movement-family op (see [`crate::ops::movement`]) on
/// elements `size` bytes long ([`byte_view`]): TFLM's integer bilinear
/// resize, or a gather whose padding holds `fill`, named `name` in reports.
pub(super) fn movement_layer(
    func: &MoveFn,
    name: &'static str,
    in_dims: &[usize],
    out_dims: &[usize],
    out: &Value,
    size: usize,
) -> std::result::Result<LayerOp, String> {
    let (func, in_dims, out_dims) = byte_view(func, in_dims, out_dims, size)?;
    let (func, in_dims, out_dims) = (&func, &in_dims[..], &out_dims[..]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An int16 transpose moves byte pairs: the gather of the byte view
    /// equals the int8 gather of the element indices, each index `i` taken
    /// as bytes `2i, 2i + 1`.
    #[test]
    fn byte_view_moves_whole_elements() {
        let func = MoveFn::Transpose {
            perm: vec![0, 2, 1],
        };
        let (dims, out) = ([1, 3, 4], [1, 4, 3]);
        let elements = ops::movement::gather(&func, &dims, &out).unwrap();
        let (bytes_func, bin, bout) = byte_view(&func, &dims, &out, 2).unwrap();
        assert_eq!((bin, bout.clone()), (vec![1, 3, 4, 2], vec![1, 4, 3, 2]));
        let bytes = ops::movement::gather(&bytes_func, &[1, 3, 4, 2], &bout).unwrap();
        // Each output position's input offset: the sum of its axes' offsets.
        let sources = |g: &ops::movement::Gather| -> Vec<Option<i64>> {
            let mut out = vec![Some(0i64)];
            for axis in &g.axes {
                out = out
                    .iter()
                    .flat_map(|&base| axis.iter().map(move |&a| Some(base? + a?)))
                    .collect();
            }
            out
        };
        let want: Vec<Option<i64>> = sources(&elements)
            .into_iter()
            .flat_map(|i| [i.map(|i| 2 * i), i.map(|i| 2 * i + 1)])
            .collect();
        assert_eq!(want.len(), 24);
        assert_eq!(sources(&bytes), want);
        // Sizes of one byte are the op itself.
        assert_eq!(byte_view(&func, &dims, &out, 1).unwrap().0, func);
    }

    /// What int16 elements cannot do is refused by name: PADV2's int8
    /// constant, ONNX's CRD depth-to-space, the bilinear resize.
    #[test]
    fn byte_view_refuses_what_bytes_cannot_do() {
        let padv2 = MoveFn::Pad {
            before: vec![0, 1],
            after: vec![0, 1],
            value: PadValue::Quantized {
                value: 3,
                scale: 0.5,
                zero_point: 0,
            },
        };
        let e = byte_view(&padv2, &[1, 4], &[1, 6], 2).unwrap_err();
        assert!(e.contains("PADV2") || e.contains("PAD"), "{e}");
        let crd = MoveFn::DepthToSpace {
            block: 2,
            crd: true,
        };
        assert!(byte_view(&crd, &[1, 2, 2, 8], &[1, 4, 4, 2], 2).is_err());
        let bilinear = MoveFn::ResizeBilinear {
            align_corners: false,
            half_pixel_centers: true,
        };
        let e = byte_view(&bilinear, &[1, 2, 2, 3], &[1, 4, 4, 3], 2).unwrap_err();
        assert!(e.contains("RESIZE_BILINEAR"), "{e}");
    }
}
