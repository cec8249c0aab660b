//! Lowering of the normalizations: SOFTMAX (int8 or int16 out), LOG_SOFTMAX,
//! L2_NORMALIZATION, with the output quantizations TFLM's kernels assume.

use super::*;

impl Lowering<'_> {
    pub(super) fn lower_softmax(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        beta: &f32,
    ) -> Result<Layer> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let y_id = self.output_id(at, op)?;
        // int8 in, int16 out: TFLM's `Softmax<int8_t, int16_t>`.
        let int16_output = self.tensor(at, y_id)?.dtype == DType::I16;
        let y = if int16_output {
            if self.by_tensor.contains_key(&y_id) {
                return Err(at.invalid(format!(
                    "output '{}' is written a second time",
                    self.tensor_name(y_id)
                )));
            }
            self.new_quantized_value(at, y_id, IntType::Int16)?
        } else {
            self.write(at, y_id)?
        };
        let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
        if xin.dims != yout.dims {
            return Err(at.invalid("input and output shapes differ"));
        }
        if int16_output {
            // TFLM: zero point -32768, scale 1/65536 within 0.1 %.
            let want = 1.0 / 65536.0;
            if yout.zero_point != -32768 || (yout.scale - want).abs() > 0.001 * want {
                return Err(at.unsupported(format!(
                    "int16 SOFTMAX output must have scale 1/65536 and zero point -32768, \
                     it has {} and {}",
                    yout.scale, yout.zero_point
                )));
            }
        } else if yout.zero_point != -128 || (yout.scale - 1.0 / 256.0).abs() > 1e-8 * yout.scale {
            return Err(at.unsupported(format!(
                "int8 SOFTMAX output must have scale 1/256 and zero point -128, it has {} and {}",
                yout.scale, yout.zero_point
            )));
        }
        let (input_multiplier, input_left_shift, diff_min) =
            softmax_scaling(*beta as f64, xin.scale as f64, 5).ok_or_else(|| {
                at.unsupported(format!(
                    "beta {beta} with input scale {}: TFLM's softmax needs beta * scale * 2^26 \
                     at least 1 (QuantizeMultiplierGreaterThanOne; TFLM itself aborts on such a \
                     model): the logits span too small a range (for example an untrained network \
                     whose batch normalization still has its initial statistics)",
                    xin.scale
                ))
            })?;
        Ok(LayerOp::Softmax {
            params: SoftmaxParams {
                depth: xin.shape.c,
                input_multiplier,
                input_left_shift,
                diff_min,
            },
            int16_output,
        }
        .with(vec![x], y, index))
    }

    pub(super) fn lower_log_softmax(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
    ) -> Result<Layer> {
        let (x, y) = self.read_write(at, op)?;
        let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
        if xin.dims != yout.dims {
            return Err(at.invalid("input and output shapes differ"));
        }
        // TFLM checks the output's quantization exactly.
        if yout.zero_point != 127 || yout.scale != 16.0 / 256.0 {
            return Err(at.unsupported(format!(
                "int8 LOG_SOFTMAX output must have scale 16/256 and zero point 127, it has {} and {}",
                yout.scale, yout.zero_point
            )));
        }
        if xin.shape.c as usize > 1 << 12 {
            return Err(at.unsupported(format!(
                "rows of {} elements; TFLM's Q12.19 sum of exponentials takes at most 4,096",
                xin.shape.c
            )));
        }
        let (
            input_multiplier,
            input_left_shift,
            reverse_scaling_divisor,
            reverse_scaling_shift,
            diff_min,
        ) = log_softmax_scaling(xin.scale as f64)
            .ok_or_else(|| at.unsupported(format!("input scale {}", xin.scale)))?;
        Ok(LayerOp::LogSoftmax(LogSoftmaxParams {
            depth: xin.shape.c,
            input_multiplier,
            input_left_shift,
            reverse_scaling_divisor,
            reverse_scaling_shift,
            diff_min,
        })
        .with(vec![x], y, index))
    }

    pub(super) fn lower_l2_normalization(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        activation: &Activation,
    ) -> Result<Layer> {
        if *activation != Activation::None {
            return Err(at.unsupported(format!(
                "fused activation {activation:?}; TFLM requires none"
            )));
        }
        let (x, y) = self.read_write(at, op)?;
        let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
        if xin.dims != yout.dims {
            return Err(at.invalid("input and output shapes differ"));
        }
        // TFLM's kernel writes units of 1/128 whatever the output's
        // quantization says; TFLite requires these.
        if yout.zero_point != 0 || yout.scale != 1.0 / 128.0 {
            return Err(at.unsupported(format!(
                "int8 L2_NORMALIZATION output must have scale 1/128 and zero point 0, it has {} and {}",
                yout.scale, yout.zero_point
            )));
        }
        if xin.shape.c as usize > L2_NORMALIZATION_MAX_DEPTH {
            return Err(at.unsupported(format!(
                "rows of {} elements; TFLM's int32 sum of squares takes at most {L2_NORMALIZATION_MAX_DEPTH}",
                xin.shape.c
            )));
        }
        Ok(LayerOp::L2Normalization(L2NormalizationParams {
            depth: xin.shape.c,
            input_zero_point: xin.zero_point,
        })
        .with(vec![x], y, index))
    }
}
