//! Lowering of the convolutions and matrix products: CONV_2D,
//! DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL, with
//! TFLM's per-channel requantization (`GetQuantizedConvolutionMultipler`).

use super::*;

impl<'g> Lowering<'g> {
    /// Reads a convolution-like op's input, filter and output.
    pub(super) fn conv_io(&mut self, at: &At<'_>, op: &Op) -> Result<ConvIo<'g>> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let (filter_tensor, filter) =
            self.constant_i8(at, self.input_id(at, op, 1, "filter")?, "filter")?;
        let y = self.write(at, self.output_id(at, op)?)?;
        Ok(ConvIo {
            x,
            y,
            xin: self.values[x].clone(),
            yout: self.values[y].clone(),
            filter_shape: filter_tensor.shape.clone(),
            filter_tensor,
            filter,
        })
    }

    pub(super) fn conv_quant(&self, act: Activation, io: &ConvIo<'_>) -> ConvQuant {
        ConvQuant {
            input_zero_point: io.xin.zero_point,
            output_zero_point: io.yout.zero_point,
            clamp: self.clamp(act, &io.yout),
        }
    }

    /// Weights, bias and per-channel requantization of a convolution-like op
    /// whose weight scales run along `axis`.
    pub(super) fn conv_data(
        &self,
        at: &At<'_>,
        op: &Op,
        io: &ConvIo<'_>,
        out_c: usize,
        axis: usize,
    ) -> Result<ConvData> {
        let scales = self.weight_scales(at, io.filter_tensor, out_c, axis)?;
        let (multiplier, shift) = self.conv_requant(at, io.xin.scale, &scales, io.yout.scale)?;
        Ok(ConvData {
            filter: io.filter.clone(),
            bias: self.bias(at, op, out_c)?,
            multiplier,
            shift,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_conv2d(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        padding: &Padding,
        stride_h: &usize,
        stride_w: &usize,
        dilation_h: &usize,
        dilation_w: &usize,
        activation: &Activation,
    ) -> Result<Layer> {
        let io = self.conv_io(at, op)?;
        let [out_c, kh, kw, in_per_group] = io.filter_dims(at)?;
        let in_c = io.xin.shape.c as usize;
        if in_per_group == 0 || in_c % in_per_group != 0 {
            return Err(at.invalid(format!(
                "input has {in_c} channels, which the filter's {in_per_group} input channels do not divide"
            )));
        }
        let groups = in_c / in_per_group;
        if out_c != io.yout.shape.c as usize || out_c % groups != 0 {
            return Err(at.invalid(format!(
                "filter has {out_c} output channels, output has {}, groups {groups}",
                io.yout.shape.c
            )));
        }
        let window = self.window(
            at,
            *padding,
            (kh, kw),
            (*stride_h, *stride_w),
            (*dilation_h, *dilation_w),
            io.xin.shape,
            io.yout.shape,
        )?;
        let quant = self.conv_quant(*activation, &io);
        let mut data = self.conv_data(at, op, &io, out_c, 0)?;
        let taps = kh * kw * in_per_group;
        cover_fast_epilogue(&mut data, &quant, taps, |f, oc| {
            f[oc * taps..][..taps].iter()
        });
        Ok(LayerOp::Conv {
            params: ConvParams {
                window,
                groups: u16_dim(at, "groups", groups)?,
                quant,
            },
            data,
        }
        .with(vec![io.x], io.y, index))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_depthwise(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        padding: &Padding,
        stride_h: &usize,
        stride_w: &usize,
        dilation_h: &usize,
        dilation_w: &usize,
        activation: &Activation,
    ) -> Result<Layer> {
        let io = self.conv_io(at, op)?;
        let [one, kh, kw, out_c] = io.filter_dims(at)?;
        let in_c = io.xin.shape.c as usize;
        if one != 1 || out_c != io.yout.shape.c as usize || in_c == 0 || out_c % in_c != 0 {
            return Err(at.invalid(format!(
                "filter shape {:?} does not fit input channels {in_c} and output channels {}",
                io.filter_shape, io.yout.shape.c
            )));
        }
        let window = self.window(
            at,
            *padding,
            (kh, kw),
            (*stride_h, *stride_w),
            (*dilation_h, *dilation_w),
            io.xin.shape,
            io.yout.shape,
        )?;
        let multiplier = out_c / in_c;
        if multiplier > 1 {
            // A depthwise layer with a channel multiplier is a
            // grouped convolution with one input channel a group
            // (output channel `c * m + j` reads input channel `c`
            // in both; person_detect's stem: 1 -> 8), and TFLM's
            // two kernels compute the same sum, bias and
            // per-channel requantization: the same bits. The
            // convolution kernels block over pixels and output
            // channels, where the depthwise ones (multiplier 1)
            // do not apply. The filter goes from `[1][kh][kw][oc]`
            // to OHWI `[oc][kh][kw][1]`.
            let taps = kh * kw;
            let mut ohwi = vec![0i8; io.filter.len()];
            for (t, row) in io.filter.chunks_exact(out_c).enumerate() {
                for (oc, &w) in row.iter().enumerate() {
                    ohwi[oc * taps + t] = w;
                }
            }
            let mut data = self.conv_data(at, op, &io, out_c, 3)?;
            data.filter = ohwi;
            let quant = self.conv_quant(*activation, &io);
            cover_fast_epilogue(&mut data, &quant, taps, |f, oc| {
                f[oc * taps..][..taps].iter()
            });
            return Ok(LayerOp::Conv {
                params: ConvParams {
                    window,
                    groups: u16_dim(at, "groups", in_c)?,
                    quant,
                },
                data,
            }
            .with(vec![io.x], io.y, index));
        }
        let quant = self.conv_quant(*activation, &io);
        let mut data = self.conv_data(at, op, &io, out_c, 3)?;
        cover_fast_epilogue(&mut data, &quant, kh * kw, |f, oc| {
            f.iter().skip(oc).step_by(out_c)
        });
        Ok(LayerOp::Depthwise {
            params: DepthwiseParams {
                window,
                depth_multiplier: u16_dim(at, "depth multiplier", out_c / in_c)?,
                quant,
            },
            data,
        }
        .with(vec![io.x], io.y, index))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lower_transpose_conv(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        padding: &Padding,
        stride_h: &usize,
        stride_w: &usize,
        activation: &Activation,
    ) -> Result<Layer> {
        if *activation != Activation::None {
            return Err(at.unsupported(format!(
                "fused activation {activation:?}; TFLM's int8 kernel clamps to the whole \
                 int8 range only"
            )));
        }
        // TFLite's order: output shape, filter, input, bias.
        let x = self.read(at, self.input_id(at, op, 2, "input")?)?;
        let (ft, filter) = self.constant_i8(at, self.input_id(at, op, 1, "filter")?, "filter")?;
        let y = self.write(at, self.output_id(at, op)?)?;
        let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
        let &[oc, kh, kw, ic] = ft.shape.as_slice() else {
            return Err(at.invalid(format!(
                "filter '{}' has shape {:?}, expected [out, h, w, in]",
                ft.name, ft.shape
            )));
        };
        if ic != xin.shape.c as usize || oc != yout.shape.c as usize {
            return Err(at.invalid(format!(
                "filter shape {:?} does not fit input channels {} and output channels {}",
                ft.shape, xin.shape.c, yout.shape.c
            )));
        }
        let (ih, iw) = (xin.shape.h as usize, xin.shape.w as usize);
        let (oh, ow) = (yout.shape.h as usize, yout.shape.w as usize);
        // The input is what a convolution of the output would give.
        let eh = padding.out_size(Axis::Vertical, oh, kh, *stride_h, 1);
        let ew = padding.out_size(Axis::Horizontal, ow, kw, *stride_w, 1);
        if (eh, ew) != (ih, iw) {
            return Err(at.invalid(format!(
                "output is {oh}x{ow} and input {ih}x{iw}, but a {kh}x{kw} window with \
                 stride {stride_h}x{stride_w} and {padding:?} padding maps {oh}x{ow} to {eh}x{ew}"
            )));
        }
        // ComputePaddingHeightWidth with the output as the image.
        let pad =
            |axis, o, k, s| padding.before(axis, o, k, s, 1, padding.out_size(axis, o, k, s, 1));
        let pad_top = pad(Axis::Vertical, oh, kh, *stride_h);
        let pad_left = pad(Axis::Horizontal, ow, kw, *stride_w);
        let scales = self.weight_scales(at, ft, oc, 0)?;
        let (multiplier, shift) = self.conv_requant(at, xin.scale, &scales, yout.scale)?;
        Ok(LayerOp::TransposeConv {
            params: TransposeConvParams {
                kh: u8_param(at, "kernel height", kh)?,
                kw: u8_param(at, "kernel width", kw)?,
                stride_h: u8_param(at, "stride", *stride_h)?,
                stride_w: u8_param(at, "stride", *stride_w)?,
                pad_top: u8::try_from(pad_top)
                    .map_err(|_| at.unsupported("padding larger than 255"))?,
                pad_left: u8::try_from(pad_left)
                    .map_err(|_| at.unsupported("padding larger than 255"))?,
                quant: ConvQuant {
                    input_zero_point: xin.zero_point,
                    output_zero_point: yout.zero_point,
                    clamp: Clamp::NONE,
                },
            },
            data: ConvData {
                filter,
                bias: self.bias_at(at, op, 3, oc)?,
                multiplier,
                shift,
            },
        }
        .with(vec![x], y, index))
    }

    pub(super) fn lower_batch_matmul(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        adj_x: &bool,
        adj_y: &bool,
    ) -> Result<Layer> {
        let a = self.read(at, self.input_id(at, op, 0, "left operand")?)?;
        let b = self.read(at, self.input_id(at, op, 1, "right operand")?)?;
        let y = self.write(at, self.output_id(at, op)?)?;
        let (va, vb, vy) = (&self.values[a], &self.values[b], &self.values[y]);
        let g = crate::ops::batch_matmul::geometry(&va.dims, &vb.dims, *adj_x, *adj_y, &vy.dims)
            .map_err(|m| at.invalid(m))?;
        // GetQuantizedConvolutionMultipler: the product in f64 (as
        // FULLY_CONNECTED's).
        let real = va.scale as f64 * vb.scale as f64 / vy.scale as f64;
        let (output_multiplier, output_shift) = quantize_multiplier(real);
        if !attonet_runtime::quant::shift_in_range(output_shift) {
            return Err(at.unsupported(format!(
                "output rescale {real:e} needs shift {output_shift}"
            )));
        }
        let u16_of = |what: &str, v: usize| u16_dim(at, what, v);
        let u32_of = |v: usize| {
            u32::try_from(v).map_err(|_| at.unsupported(format!("stride {v} over 32 bits")))
        };
        let params = BatchMatmulParams {
            batches: [
                u16_of("batch", g.batches[0])?,
                u16_of("batch", g.batches[1])?,
                u16_of("batch", g.batches[2])?,
            ],
            lhs_batch_strides: [
                u32_of(g.lhs_strides[0])?,
                u32_of(g.lhs_strides[1])?,
                u32_of(g.lhs_strides[2])?,
            ],
            rhs_batch_strides: [
                u32_of(g.rhs_strides[0])?,
                u32_of(g.rhs_strides[1])?,
                u32_of(g.rhs_strides[2])?,
            ],
            rows: u16_of("rows", g.rows)?,
            cols: u16_of("columns", g.cols)?,
            depth: u16_of("depth", g.depth)?,
            adj_x: *adj_x,
            adj_y: *adj_y,
            lhs_zero_point: va.zero_point,
            rhs_zero_point: vb.zero_point,
            output_zero_point: vy.zero_point,
            output_multiplier,
            output_shift,
        };
        Ok(LayerOp::BatchMatmul(params).with(vec![a, b], y, index))
    }

    pub(super) fn lower_fully_connected(
        &mut self,
        at: &At<'_>,
        index: usize,
        op: &Op,
        activation: &Activation,
    ) -> Result<Layer> {
        let x = self.read(at, self.input_id(at, op, 0, "input")?)?;
        let (wt, filter) = self.constant_i8(at, self.input_id(at, op, 1, "weights")?, "weights")?;
        let y = self.write(at, self.output_id(at, op)?)?;
        let (xin, yout) = (self.values[x].clone(), self.values[y].clone());
        let [out_f, in_f] = wt.shape[..] else {
            return Err(at.invalid(format!(
                "weights '{}' have rank {}, expected 2",
                wt.name,
                wt.shape.len()
            )));
        };
        if in_f == 0 || xin.shape.len() % in_f != 0 {
            return Err(at.invalid(format!(
                "input has {} elements, not a multiple of the weights' {in_f} input features",
                xin.shape.len()
            )));
        }
        let rows = xin.shape.len() / in_f;
        if yout.shape.len() != rows * out_f {
            return Err(at.invalid(format!(
                "output has {} elements, expected {rows} x {out_f}",
                yout.shape.len()
            )));
        }
        let q = wt.quant.as_ref().ok_or_else(|| {
            at.invalid(format!(
                "weights '{}' have no quantization parameters",
                wt.name
            ))
        })?;
        let filter_zero_point = *q.zero_points.first().unwrap_or(&0);
        if !(-128..=127).contains(&filter_zero_point)
            || q.zero_points.iter().any(|&z| z != filter_zero_point)
        {
            return Err(at.unsupported(format!(
                "weights '{}' zero points {:?}",
                wt.name, q.zero_points
            )));
        }
        let (multiplier, shift) = if q.scales.len() == 1 {
            // TFLite Micro's GetQuantizedConvolutionMultipler. Its source
            // writes the scale product in float, but the shipped
            // interpreter computes it in double (the compiler widens
            // both operands first: cvtss2sd, cvtss2sd, mulsd), and a
            // synthetic model whose scales tell the two apart matches
            // the double product only; so do we.
            let product = xin.scale as f64 * q.scales[0] as f64;
            let (m, s) = quantize_multiplier(product / yout.scale as f64);
            if !attonet_runtime::quant::shift_in_range(s) {
                return Err(at.unsupported(format!("output rescale needs shift {s}")));
            }
            (vec![m], vec![s])
        } else {
            let scales = self.weight_scales(at, wt, out_f, 0)?;
            self.conv_requant(at, xin.scale, &scales, yout.scale)?
        };
        Ok(LayerOp::FullyConnected {
            params: FullyConnectedParams {
                in_features: u16_dim(at, "input features", in_f)?,
                out_features: u16_dim(at, "output features", out_f)?,
                input_zero_point: xin.zero_point,
                filter_zero_point: filter_zero_point as i32,
                output_zero_point: yout.zero_point,
                clamp: self.clamp(*activation, &yout),
            },
            data: ConvData {
                filter,
                bias: self.bias(at, op, out_f)?,
                multiplier,
                shift,
            },
        }
        .with(vec![x], y, index))
    }
}

/// Rewrites the channels of a convolution-like layer that the kernels' fast
/// epilogue does not cover (TensorFlow's dead channels: a bias clamped to
/// `±2^30`, a shift near -26) into covered parameters with the same output
/// for every input ([`crate::fast_epilogue`]); `weights(filter, oc)` gives
/// channel `oc`'s weights, `taps` their count.
pub(super) fn cover_fast_epilogue<'f, W>(
    data: &'f mut ConvData,
    quant: &ConvQuant,
    taps: usize,
    weights: impl Fn(&'f [i8], usize) -> W,
) where
    W: Iterator<Item = &'f i8>,
{
    let layer = fast_epilogue::LayerRequant {
        taps,
        input_zp: quant.input_zero_point,
        output_zp: quant.output_zero_point,
        min: quant.clamp.min,
        max: quant.clamp.max,
    };
    let filter: &'f [i8] = &data.filter;
    fast_epilogue::cover_layer(
        &layer,
        &mut data.bias,
        &mut data.multiplier,
        &mut data.shift,
        |oc| weights(filter, oc),
    );
}
