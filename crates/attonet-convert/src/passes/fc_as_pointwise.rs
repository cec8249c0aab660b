//! FULLY_CONNECTED over a single row becomes a 1x1 convolution over a 1x1
//! image.
//!
//! The two compute the same bits: TensorFlow Lite's integer
//! `FullyConnected` (weights' zero point 0, as int8 models have it) and
//! `ConvPerChannel` both form `bias + Σ w * (x - input_zp)` in 32 bits,
//! requantize it with the same rounding-doubling multiply and rounding shift
//! ([`attonet_runtime::quant::requantize`]), add the output zero point and
//! clamp; an FC row `[out][in]` is the OHWI filter `[out][1][1][in]`, and a
//! per-tensor multiplier is the same multiplier for every output channel.
//! A classifier's last layer then runs on the convolution kernels (on the
//! Cortex-M DSP cores the columns kernel: about 2,300 instructions for
//! ResNet-8's 64x10 layer instead of 5,950), and its firmware links no
//! fully connected kernel (about 1 KB of Cortex-M4 code).

use attonet_runtime::ops::{ConvParams, ConvQuant, Shape, Window};

use crate::program::{LayerOp, Program};

/// Rewrites every fully connected layer with one input row, a 1x1xC input
/// and a 1x1xN output and weights without a zero point, in a program that
/// has convolutions anyway; returns how many. A model of fully connected
/// layers alone (a small MLP) keeps its fully connected kernel: there the
/// convolution kernels would be the extra code, and the fully connected
/// kernel is the faster on cores without the DSP columns kernel.
pub fn run(program: &mut Program) -> usize {
    let convolutions = program.layers.iter().any(|l| {
        matches!(
            l.op,
            LayerOp::Conv { .. }
                | LayerOp::Depthwise { .. }
                | LayerOp::PointwisePair { .. }
                | LayerOp::Block { .. }
        )
    });
    if !convolutions {
        return 0;
    }
    let mut n = 0;
    for layer in &mut program.layers {
        let LayerOp::FullyConnected { params, data } = &layer.op else {
            continue;
        };
        let (x, y) = (
            &program.values[layer.inputs[0]],
            &program.values[layer.output],
        );
        let (fin, fout) = (params.in_features, params.out_features);
        if params.filter_zero_point != 0
            || x.shape != Shape::new(1, 1, fin)
            || y.shape != Shape::new(1, 1, fout)
            || data.filter.len() != fin as usize * fout as usize
            || data.bias.len() != fout as usize
        {
            continue;
        }
        let mut data = data.clone();
        // Per tensor: the one multiplier and shift for every channel.
        if data.multiplier.len() == 1 && data.shift.len() == 1 {
            data.multiplier = vec![data.multiplier[0]; fout as usize];
            data.shift = vec![data.shift[0]; fout as usize];
        }
        if data.multiplier.len() != fout as usize || data.shift.len() != fout as usize {
            continue;
        }
        let params = ConvParams {
            window: Window {
                kh: 1,
                kw: 1,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 0,
                pad_left: 0,
            },
            groups: 1,
            quant: ConvQuant {
                input_zero_point: params.input_zero_point,
                output_zero_point: params.output_zero_point,
                clamp: params.clamp,
            },
        };
        layer.op = LayerOp::Conv { params, data };
        n += 1;
    }
    n
}
