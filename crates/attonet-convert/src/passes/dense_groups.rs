//! Narrow grouped convolutions as dense ones with block-diagonal weights,
//! for the Cortex-M DSP and Helium kernels.
//!
//! The DSP columns kernel gathers each group's window of every output pixel
//! separately, tap by tap where a group has fewer than four (or not a
//! multiple of four) channels, and amortizes that over the group's few
//! output channels: AttoNet-D's 3x3 convolutions of 12 channels in 4 groups
//! (3 in, 3 out a group) cost 9.3 instructions a MAC on the Cortex-M4. The
//! same layer as a dense convolution whose weights are zero outside each
//! output channel's group computes the same sums (a zero weight adds
//! nothing), so the same bits, with 4 times the MACs at 1.3 instructions
//! each: 5.2 a real MAC, 1.8 times faster. Wider groups lose (7 channels a
//! group: 2.8 against 4.3), so [`attonet_runtime::dsp_select::dense_groups_pays`]
//! decides per layer; layers the DSP grouped kernel takes
//! ([`attonet_runtime::dsp_select::grouped_window_covers`]: 1 to 8 channels a
//! group, any stride) stay grouped, at less than half the dense cost. On
//! Helium cores the columns kernel's 16-byte `VMLADAVA` is mostly empty over
//! a narrow group, and each group's gather and per-channel epilogue serve 3
//! to 7 channels: there every narrow grouped layer whose dense window fits
//! the columns kernel goes dense
//! ([`attonet_runtime::dsp_select::helium_dense_groups_pays`]; AttoNet-C on
//! the Cortex-M55 5.07 M -> 3.97 M instructions, its weights 4 times larger
//! in those layers). Only for DSP and Helium targets (the converter runs
//! this pass where it writes their tables): elsewhere MACs cost the same
//! whatever the gather, and the rewrite would be a loss.

use attonet_runtime::dsp_select::{
    dense_groups_pays, grouped_window_covers, helium_dense_groups_pays,
};
use attonet_runtime::ops::ConvParams;

use crate::program::{ConvData, LayerOp, Program};
use attonet_runtime::block::StageOp;

/// Rewrites every grouped convolution (layers and fused-block stages) the
/// DSP kernels compute faster dense. `grouped_kernel`: the target runs the
/// DSP grouped kernel (not a Helium core), so the layers it takes stay
/// grouped. Returns how many it rewrote.
pub fn run(program: &mut Program, grouped_kernel: bool) -> usize {
    let mut rewritten = 0;
    for layer in &mut program.layers {
        match &mut layer.op {
            LayerOp::Conv { params, data } => {
                rewritten += rewrite(params, data, grouped_kernel) as usize
            }
            LayerOp::Block { stages, .. } => {
                for stage in stages {
                    if let StageOp::Conv(params) = &mut stage.op {
                        rewritten += rewrite(params, &mut stage.data, grouped_kernel) as usize;
                    }
                }
            }
            LayerOp::Depthwise { .. }
            | LayerOp::PointwisePair { .. }
            | LayerOp::Add(_)
            | LayerOp::AveragePool(_)
            | LayerOp::MaxPool(_)
            | LayerOp::FullyConnected { .. }
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax(_)
            | LayerOp::TransposeConv { .. }
            | LayerOp::BatchMatmul(_)
            | LayerOp::L2Normalization(_)
            | LayerOp::Reshape
            | LayerOp::Lookup { .. }
            | LayerOp::Reduce { .. }
            | LayerOp::Gather { .. }
            | LayerOp::ResizeBilinear(_)
            | LayerOp::Binary { .. }
            | LayerOp::Concat { .. }
            | LayerOp::Arg(_)
            | LayerOp::QuantizeFloat(_)
            | LayerOp::DequantizeFloat(_)
            | LayerOp::Requantize(_)
            | LayerOp::Svdf { .. }
            | LayerOp::Lstm { .. }
            | LayerOp::S16(_) => {}
        }
    }
    rewritten
}

/// One convolution, in place, where [`dense_groups_pays`] says so: OHWI
/// weights `[oc][kh][kw][cpg]` to `[oc][kh][kw][groups * cpg]`, zero
/// outside the channel's group.
fn rewrite(params: &mut ConvParams, data: &mut ConvData, grouped_kernel: bool) -> bool {
    let groups = params.groups as usize;
    let out_c = data.bias.len();
    let taps = params.window.kh as usize * params.window.kw as usize;
    if groups < 2 || out_c == 0 || out_c % groups != 0 || taps == 0 {
        return false;
    }
    let per_channel = data.filter.len() / out_c;
    if per_channel == 0 || per_channel % taps != 0 || data.filter.len() != out_c * per_channel {
        return false;
    }
    let cpg = per_channel / taps;
    let ocpg = out_c / groups;
    // The DSP grouped kernel computes these as they are, faster than dense.
    let pays = if grouped_kernel {
        dense_groups_pays(taps, cpg, ocpg, groups)
    } else {
        helium_dense_groups_pays(taps, cpg, ocpg, groups)
    };
    if grouped_kernel && grouped_window_covers(&params.window, cpg, ocpg) || !pays {
        return false;
    }
    let in_c = cpg * groups;
    let mut dense = vec![0i8; out_c * taps * in_c];
    for (oc, row) in data.filter.chunks_exact(per_channel).enumerate() {
        let g = oc / ocpg;
        for (t, w) in row.chunks_exact(cpg).enumerate() {
            let at = (oc * taps + t) * in_c + g * cpg;
            dense[at..at + cpg].copy_from_slice(w);
        }
    }
    data.filter = dense;
    params.groups = 1;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use attonet_runtime::ops::{convolve_s8, ConvQuant, ConvWeights, Shape, Window};
    use attonet_runtime::quant::Clamp;

    /// A grouped convolution and its dense rewrite give the same bytes
    /// (3x3, 4 groups of 3 channels in and out, stride 1 and 2, padding).
    #[test]
    fn dense_rewrite_computes_the_same_bytes() {
        let mut state = 0x9e37_79b9u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for (stride, pad) in [(1u8, 1u8), (2, 1), (2, 0)] {
            let (groups, cpg, ocpg) = (4usize, 3usize, 3usize);
            let window = Window {
                kh: 3,
                kw: 3,
                stride_h: stride,
                stride_w: stride,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: pad,
                pad_left: pad,
            };
            let mut params = ConvParams {
                window,
                groups: groups as u16,
                quant: ConvQuant {
                    input_zero_point: -3,
                    output_zero_point: 5,
                    clamp: Clamp {
                        min: -128,
                        max: 127,
                    },
                },
            };
            let out_c = groups * ocpg;
            let mut data = ConvData {
                filter: (0..out_c * 9 * cpg).map(|_| next() as i8).collect(),
                bias: (0..out_c).map(|_| (next() % 2000) as i32 - 1000).collect(),
                multiplier: (0..out_c)
                    .map(|_| (1 << 30) + (next() >> 2) as i32)
                    .collect(),
                shift: (0..out_c).map(|_| -8 - (next() % 4) as i32).collect(),
            };
            let ins = Shape::new(7, 6, (groups * cpg) as u16);
            let extent = |i: u16| (i + 2 * pad as u16 - 3) / stride as u16 + 1;
            let outs = Shape::new(extent(7), extent(6), out_c as u16);
            let input: Vec<i8> = (0..ins.len()).map(|_| next() as i8).collect();
            let run = |p: &ConvParams, d: &ConvData| {
                let mut out = vec![0i8; outs.len()];
                let w = ConvWeights {
                    filter: &d.filter,
                    bias: &d.bias,
                    multiplier: &d.multiplier,
                    shift: &d.shift,
                };
                convolve_s8(p, ins, &input, &w, outs, &mut out).unwrap();
                out
            };
            let grouped = run(&params, &data);
            // The DSP grouped kernel takes 3 channels a group as they are,
            // at any stride; a Helium core's build rewrites it.
            assert!(!rewrite(&mut params.clone(), &mut data.clone(), true));
            assert!(rewrite(&mut params, &mut data, false), "stride {stride}");
            assert_eq!(params.groups, 1);
            assert_eq!(data.filter.len(), out_c * 9 * groups * cpg);
            assert_eq!(run(&params, &data), grouped, "stride {stride}, pad {pad}");
        }
    }

    /// Groups of 7 channels stay grouped; depthwise-like layers too.
    #[test]
    fn wide_groups_stay() {
        assert!(dense_groups_pays(9, 3, 3, 4));
        assert!(!dense_groups_pays(9, 7, 7, 4));
        assert!(!dense_groups_pays(9, 1, 1, 16));
        assert!(!dense_groups_pays(9, 16, 16, 8));
    }

    /// On Helium every narrow grouped 3x3 whose dense window fits the
    /// columns kernel goes dense (groups of 7 too); depthwise-like layers
    /// and dense windows past `MVE_MAX_K` stay grouped.
    #[test]
    fn helium_rule() {
        assert!(helium_dense_groups_pays(9, 3, 3, 4));
        assert!(helium_dense_groups_pays(9, 7, 7, 4));
        assert!(!helium_dense_groups_pays(9, 1, 1, 16));
        assert!(!helium_dense_groups_pays(9, 16, 16, 8));
        assert!(!helium_dense_groups_pays(9, 8, 8, 1));
    }
}
