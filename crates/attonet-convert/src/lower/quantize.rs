//! Lowering of the QUANTIZE / DEQUANTIZE family where it changes the element
//! type, with TensorFlow Lite Micro's Prepare arithmetic
//! (`quantize_common.cc`, `dequantize.cc`):
//!
//! * float32 -> int8 or int16: [`LayerOp::QuantizeFloat`] (`AffineQuantize`);
//! * int8, uint8 or int16 -> float32: [`LayerOp::DequantizeFloat`];
//! * between integer types (int16 -> int8, uint8 <-> int8, int8 -> int16,
//!   int16 -> int16, int8/int16 -> int32, int32 -> int8/int16, the pairs
//!   TFLM's kernel takes): [`LayerOp::Requantize`] with
//!   `QuantizeMultiplier(in_scale / out_scale)` in `double`.
//!
//! QUANTIZE from int8 to int8 is not here: it is an element-wise table
//! ([`crate::ops::unary_lut`]). A model input or output of type uint8 or
//! int32 is typed by the QUANTIZE or DEQUANTIZE that reads or writes it;
//! any other op reading such a value is refused by its type.

use attonet_runtime::ops::boundary::BoundaryParams;
use attonet_runtime::ops::requantize::{IntType, RequantizeParams};
use attonet_runtime::plan::ElementType;

use super::{u16_dim, At, Lowering, WithIo};
use crate::error::Result;
use crate::ir::{DType, Op, OpKind, TensorId, UnaryFn};
use crate::program::{Layer, LayerOp, Value, ValueId};
use crate::requantize::quantize_multiplier;

/// The pairs TFLM's QUANTIZE kernel takes between integer types, as
/// `(input, output)` (`PrepareQuantizeReference`, `EvalQuantizeReference`).
const REQUANTIZE_PAIRS: [(IntType, IntType); 10] = [
    (IntType::Int16, IntType::Int8),
    (IntType::Int8, IntType::Int8),
    (IntType::Int8, IntType::UInt8),
    (IntType::UInt8, IntType::Int8),
    (IntType::Int8, IntType::Int16),
    (IntType::Int8, IntType::Int32),
    (IntType::Int16, IntType::Int16),
    (IntType::Int16, IntType::Int32),
    (IntType::Int32, IntType::Int8),
    (IntType::Int32, IntType::Int16),
];

/// The integer element type of a tensor type, if it is one the family takes.
fn int_type(d: DType) -> Option<IntType> {
    match d {
        DType::I8 => Some(IntType::Int8),
        DType::U8 => Some(IntType::UInt8),
        DType::I16 => Some(IntType::Int16),
        DType::I32 => Some(IntType::Int32),
        _ => None,
    }
}

/// The tensor type of an integer type.
fn dtype_of(t: IntType) -> DType {
    match t {
        IntType::Int8 => DType::I8,
        IntType::UInt8 => DType::U8,
        IntType::Int16 => DType::I16,
        IntType::Int32 => DType::I32,
    }
}

/// The plan's element type of an integer type.
pub(super) fn element_type(t: IntType) -> ElementType {
    match t {
        IntType::Int8 => ElementType::Int8,
        IntType::UInt8 => ElementType::UInt8,
        IntType::Int16 => ElementType::Int16,
        IntType::Int32 => ElementType::Int32,
    }
}

/// The integer type of a plan element type (`None` for float32).
fn of_element(t: ElementType) -> Option<IntType> {
    match t {
        ElementType::Int8 => Some(IntType::Int8),
        ElementType::UInt8 => Some(IntType::UInt8),
        ElementType::Int16 => Some(IntType::Int16),
        ElementType::Int32 => Some(IntType::Int32),
        ElementType::Float32 => None,
    }
}

impl Lowering<'_> {
    /// A quantized value of integer type `ty` for tensor `id` (int8 and
    /// int16 as every op makes them; uint8 and int32 with their own scale and
    /// a zero point of their type). Its shape counts channels in bytes.
    pub(super) fn new_int_value(
        &mut self,
        at: &At<'_>,
        id: TensorId,
        ty: IntType,
    ) -> Result<ValueId> {
        match ty {
            IntType::Int8 => self.new_value(at, id),
            IntType::Int16 => self.new_s16_value(at, id),
            IntType::UInt8 | IntType::Int32 => self.new_quantized_value(at, id, ty),
        }
    }

    /// A value of integer type `ty` for tensor `id` with the tensor's own
    /// scale and a zero point anywhere in the type's range: uint8, int32, and
    /// int16 where an op takes a nonzero zero point (SOFTMAX's int16 output,
    /// -32768). Its shape counts channels in bytes.
    pub(super) fn new_quantized_value(
        &mut self,
        at: &At<'_>,
        id: TensorId,
        ty: IntType,
    ) -> Result<ValueId> {
        let t = self.tensor(at, id)?;
        self.require_type(at, t, dtype_of(ty))?;
        if t.data.is_some() {
            return Err(at.unsupported(format!(
                "activation '{}' is a constant; constant activations are not supported",
                t.name
            )));
        }
        if self.by_tensor.contains_key(&id) {
            return Err(at.invalid(format!("output '{}' is written a second time", t.name)));
        }
        let (scale, zp) = self.scale_and_zero_point(at, t)?;
        let (lo, hi) = ty.range();
        if zp < lo as i64 || zp > hi as i64 {
            return Err(at.invalid(format!(
                "tensor '{}' has zero point {zp} outside {}",
                t.name, t.dtype
            )));
        }
        let shape = self.kernel_shape(at, t)?;
        if shape.is_empty() {
            return Err(at.invalid(format!("tensor '{}' has no elements", t.name)));
        }
        let c = u16_dim(at, "channels (bytes)", shape.c as usize * ty.size())?;
        let v = self.values.len();
        self.values.push(Value {
            name: t.name.clone(),
            shape: attonet_runtime::ops::Shape::new(shape.h, shape.w, c),
            dims: t.shape.clone(),
            dtype: element_type(ty),
            scale,
            zero_point: zp as i32,
        });
        self.by_tensor.insert(id, v);
        Ok(v)
    }

    /// The layer of a QUANTIZE or DEQUANTIZE that changes the element
    /// type; `None` for every other op (QUANTIZE int8 -> int8 included).
    pub(super) fn lower_type_change(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
    ) -> Result<Option<Layer>> {
        match op.kind {
            OpKind::Dequantize => self.lower_dequantize(at, index, op).map(Some),
            OpKind::Unary {
                func: UnaryFn::Requantize,
                ..
            } => self.lower_quantize(at, index, op),
            _ => Ok(None),
        }
    }

    /// DEQUANTIZE: an int8, uint8 or int16 value to a float32 output.
    pub(super) fn lower_dequantize(&mut self, at: &At<'_>, index: usize, op: &Op) -> Result<Layer> {
        let x_id = self.input_id(at, op, 0, "input")?;
        let y_id = self.output_id(at, op)?;
        let x = self.read_any(at, x_id)?;
        let x_type = self.values[x].dtype;
        let y_dtype = self.tensor(at, y_id)?.dtype;
        {
            let from = of_element(x_type)
                .filter(|t| *t != IntType::Int32)
                .ok_or_else(|| {
                    at.unsupported(format!(
                        "input of type {}; TFLM dequantizes int8, uint8 and int16",
                        x_type.name()
                    ))
                })?;
            if y_dtype != DType::F32 {
                return Err(at.unsupported(format!(
                    "output of type {y_dtype}; DEQUANTIZE gives float32 (float16 outputs are not taken)"
                )));
            }
            let y = self.new_typed_value(at, y_id, ElementType::Float32)?;
            let (xin, yout) = (&self.values[x], &self.values[y]);
            same_count(at, xin, yout)?;
            Ok(LayerOp::DequantizeFloat(BoundaryParams {
                scale: xin.scale,
                zero_point: xin.zero_point,
                int_type: from,
            })
            .with(vec![x], y, index))
        }
    }

    /// QUANTIZE from float32, or between integer types other than int8 to
    /// int8 (`None`: that one is a table).
    fn lower_quantize(&mut self, at: &At<'_>, index: usize, op: &Op) -> Result<Option<Layer>> {
        let x_id = self.input_id(at, op, 0, "input")?;
        let y_id = self.output_id(at, op)?;
        let x = self.read_any(at, x_id)?;
        let x_type = self.values[x].dtype;
        let y_dtype = self.tensor(at, y_id)?.dtype;
        let Some(to) = int_type(y_dtype) else {
            return Err(at.unsupported(format!(
                "output of type {y_dtype}; QUANTIZE gives int8, uint8, int16 or int32"
            )));
        };
        if x_type == ElementType::Float32 {
            // QUANTIZE of a float model input: TFLM's AffineQuantize.
            if !matches!(to, IntType::Int8 | IntType::Int16) {
                return Err(at.unsupported(format!(
                    "float32 to {y_dtype}; TFLM quantizes float32 to int8 or int16"
                )));
            }
            let y = self.new_int_value(at, y_id, to)?;
            let (xin, yout) = (&self.values[x], &self.values[y]);
            same_count(at, xin, yout)?;
            return Ok(Some(
                LayerOp::QuantizeFloat(BoundaryParams {
                    scale: yout.scale,
                    zero_point: yout.zero_point,
                    int_type: to,
                })
                .with(vec![x], y, index),
            ));
        }
        let from = of_element(x_type).ok_or_else(|| at.invalid("input of no integer type"))?;
        if (from, to) == (IntType::Int8, IntType::Int8) {
            return Ok(None); // a 256-entry table (ops::unary_lut)
        }
        if !REQUANTIZE_PAIRS.contains(&(from, to)) {
            return Err(at.unsupported(format!(
                "{} to {y_dtype}; TFLM's QUANTIZE takes int16 to int8, int16 or int32, int8 to \
                 int8, uint8, int16 or int32, uint8 to int8, and int32 to int8 or int16",
                x_type.name()
            )));
        }
        let y = self.new_int_value(at, y_id, to)?;
        let (xin, yout) = (&self.values[x], &self.values[y]);
        same_count(at, xin, yout)?;
        let (multiplier, shift) = quantize_multiplier(xin.scale as f64 / yout.scale as f64);
        if !(-31..=30).contains(&shift) {
            return Err(at.unsupported(format!(
                "input scale {} over output scale {}: the ratio is out of the fixed-point range",
                xin.scale, yout.scale
            )));
        }
        Ok(Some(
            LayerOp::Requantize(RequantizeParams {
                input_type: from,
                output_type: to,
                input_zero_point: xin.zero_point,
                output_zero_point: yout.zero_point,
                multiplier,
                shift,
            })
            .with(vec![x], y, index),
        ))
    }
}

/// Input and output hold the same number of elements.
fn same_count(at: &At<'_>, xin: &Value, yout: &Value) -> Result<()> {
    let n = |v: &Value| v.dims.iter().product::<usize>();
    if n(xin) != n(yout) {
        return Err(at.invalid(format!(
            "input {:?} and output {:?} shapes differ",
            xin.dims, yout.dims
        )));
    }
    Ok(())
}
