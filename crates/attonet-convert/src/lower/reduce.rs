//! Lowering of pooling and reductions: AVERAGE_POOL_2D, MAX_POOL_2D, MEAN,
//! SUM, REDUCE_MAX, ARG_MAX, ARG_MIN.

use super::*;

impl Lowering<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_pool(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        padding: &Padding,
        stride_h: &usize,
        stride_w: &usize,
        filter_h: &usize,
        filter_w: &usize,
        activation: &Activation,
        elem: ElementType,
    ) -> Result<Layer> {
        let x = self.read_elem(at, self.input_id(at, op, 0, "input")?, elem)?;
        let y = self.write_elem(at, self.output_id(at, op)?, elem)?;
        let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
        if xin.scale != yout.scale || xin.zero_point != yout.zero_point {
            return Err(
                at.unsupported("input and output quantization differ; pooling does not requantize")
            );
        }
        // An int16 value's shape counts bytes: the window sees elements.
        let elements = |v: &Value| {
            let c = v.shape.c / elem.size() as u16;
            attonet_runtime::ops::Shape::new(v.shape.h, v.shape.w, c)
        };
        let (is, os) = (elements(&xin), elements(&yout));
        if is.c != os.c {
            return Err(at.invalid("input and output channel counts differ"));
        }
        let window = self.window(
            at,
            *padding,
            (*filter_h, *filter_w),
            (*stride_h, *stride_w),
            (1, 1),
            is,
            os,
        )?;
        let average = matches!(op.kind, OpKind::AveragePool2d { .. });
        let op = match elem {
            // TFLM's int16 pooling: the int8 arithmetic on int16 elements.
            ElementType::Int16 => {
                let params = PoolS16Params {
                    window,
                    clamp: s16::clamp16(*activation, yout.scale),
                };
                LayerOp::S16(if average {
                    S16Layer::AveragePool(params)
                } else {
                    S16Layer::MaxPool(params)
                })
            }
            _ => {
                let params = PoolParams {
                    window,
                    clamp: self.clamp(*activation, &yout),
                };
                if average {
                    LayerOp::AveragePool(params)
                } else {
                    LayerOp::MaxPool(params)
                }
            }
        };
        Ok(op.with(vec![x], y, index))
    }

    pub(super) fn lower_arg(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        func: &ArgFn,
        axis: &usize,
    ) -> Result<Layer> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let y_id = self.output_id(at, op)?;
        if self.tensor(at, y_id)?.dtype == DType::I64 {
            return Err(at.unsupported(
                "output_type int64: TFLM's kernel computes int32 indices only (\"Only \
                 int32_t are supported currently\"), and so does AttoNet; convert with \
                 output_type=tf.int32",
            ));
        }
        let y = self.new_typed_value(at, y_id, ElementType::Int32)?;
        let (xin, yout) = (&self.values[x], &self.values[y]);
        let dims = &xin.dims;
        if *axis >= dims.len() {
            return Err(at.invalid(format!("axis {axis} is out of range for input {dims:?}")));
        }
        let expected = ops::reduce::output_dims(dims, &[*axis], false);
        if expected != yout.dims {
            return Err(at.invalid(format!(
                "{} of {dims:?} along axis {axis} gives {expected:?}, but the output is {:?}",
                at.op, yout.dims
            )));
        }
        let extent = |v: usize| {
            u32::try_from(v).map_err(|_| at.unsupported(format!("extent {v} over 2^32")))
        };
        let params = ArgParams {
            outer: extent(dims[..*axis].iter().product())?,
            reduce: extent(dims[*axis])?,
            inner: extent(dims[*axis + 1..].iter().product())?,
            kind: match func {
                ArgFn::Max => ArgKind::ArgMax,
                ArgFn::Min => ArgKind::ArgMin,
            },
        };
        Ok(LayerOp::Arg(params).with(vec![x], y, index))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_reduce(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        func: &ReduceFn,
        axes: &[usize],
        keep_dims: &bool,
        elem: ElementType,
    ) -> Result<Layer> {
        let x = self.read_elem(at, self.input_id(at, op, 0, "input")?, elem)?;
        let y = self.write_elem(at, self.output_id(at, op)?, elem)?;
        let (xin, yout) = (&self.values[x], &self.values[y]);
        if axes.iter().any(|&a| a >= xin.dims.len()) {
            return Err(at.invalid(format!(
                "axes {axes:?} are out of range for input {:?}",
                xin.dims
            )));
        }
        let expected = ops::reduce::output_dims(&xin.dims, axes, *keep_dims);
        if expected != yout.dims {
            return Err(at.invalid(format!(
                "reducing {:?} over axes {axes:?} gives {expected:?}, but the output is {:?}",
                xin.dims, yout.dims
            )));
        }
        let (outer, count, inner) =
            ops::reduce::geometry(&xin.dims, axes).map_err(|m| at.unsupported(m))?;
        let quant = |v: &Value| unary_lut::Quant {
            scale: v.scale,
            zero_point: v.zero_point,
        };
        let kind = ops::reduce::kind(*func, quant(xin), quant(yout), count)
            .map_err(|m| at.unsupported(m))?;
        // MEAN and SUM of int16 (TFLM's QuantizedMeanOrSum<int16_t>): the
        // same arithmetic on int16 elements.
        let kind = match (elem, kind) {
            (ElementType::Int8, kind) => kind,
            (
                ElementType::Int16,
                ReduceKind::Requantize {
                    multiplier,
                    shift,
                    input_offset,
                    output_zero_point,
                },
            ) => ReduceKind::RequantizeS16 {
                multiplier,
                shift,
                input_offset,
                output_zero_point,
            },
            _ => return Err(at.unsupported(format!("{} of {} elements", at.op, elem.name()))),
        };
        let extent = |v: usize| {
            u32::try_from(v).map_err(|_| at.unsupported(format!("extent {v} over 2^32")))
        };
        let params = ReduceParams {
            outer: extent(outer)?,
            reduce: extent(count)?,
            inner: extent(inner)?,
            kind,
        };
        Ok(LayerOp::Reduce {
            func: *func,
            params,
        }
        .with(vec![x], y, index))
    }
}
