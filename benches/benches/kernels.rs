//! Host timing of every AttoNet int8 kernel on realistic layer shapes.
//!
//! `cargo bench -p attonet-benches` prints one line per kernel: name, shape,
//! multiply-accumulates (or elements) per call, time per call and throughput.
//! Plain `std::time::Instant`, no framework: each kernel runs for about
//! `ATTONET_BENCH_MS` milliseconds (default 300) after a short warm-up.

use std::hint::black_box;
use std::time::{Duration, Instant};

use attonet_runtime::ops::add::{add_s8, add_s8_in_place, AddParams};
use attonet_runtime::ops::conv::conv2d_s8;
use attonet_runtime::ops::depthwise::{depthwise_conv_s8, DepthwiseParams};
use attonet_runtime::ops::fully_connected::{fully_connected_s8, FullyConnectedParams};
use attonet_runtime::ops::grouped_conv3x3::grouped_conv3x3_s8;
use attonet_runtime::ops::pointwise::pointwise_conv_s8;
use attonet_runtime::ops::pointwise_pair::pointwise_pair_s8;
use attonet_runtime::ops::pool::{average_pool_s8, max_pool_s8, PoolParams};
use attonet_runtime::ops::softmax::{softmax_s8, SoftmaxParams};
use attonet_runtime::ops::{ConvParams, ConvQuant, ConvWeights, Shape, Window};
use attonet_runtime::quant::Clamp;

/// Deterministic filler data (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
}

/// Per-channel tables of a layer with `n` output channels.
struct Tables {
    filter: Vec<i8>,
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
}

impl Tables {
    fn new(rng: &mut Rng, filter_len: usize, n: usize) -> Tables {
        Tables {
            filter: rng.i8s(filter_len),
            bias: (0..n).map(|_| (rng.next() % 2001) as i32 - 1000).collect(),
            mult: (0..n)
                .map(|_| (1 << 30) + (rng.next() % (1 << 30)) as i32)
                .collect(),
            shift: vec![-9; n],
        }
    }

    fn weights(&self) -> ConvWeights<'_> {
        ConvWeights {
            filter: &self.filter,
            bias: &self.bias,
            multiplier: &self.mult,
            shift: &self.shift,
        }
    }
}

const QUANT: ConvQuant = ConvQuant {
    input_zero_point: -3,
    output_zero_point: 5,
    clamp: Clamp {
        min: -128,
        max: 127,
    },
};

fn window(k: u8, stride: u8, pad: u8) -> Window {
    Window {
        kh: k,
        kw: k,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: pad,
        pad_left: pad,
    }
}

fn budget() -> Duration {
    let ms = std::env::var("ATTONET_BENCH_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300u64);
    Duration::from_millis(ms)
}

/// Times `f` and prints one line. `work` is MACs (or elements) per call.
fn bench(name: &str, shape: &str, work: u64, unit: &str, mut f: impl FnMut()) {
    // Warm-up, and a first estimate of the call time.
    let t0 = Instant::now();
    let mut warm = 0u64;
    while t0.elapsed() < Duration::from_millis(30) || warm < 3 {
        f();
        warm += 1;
    }
    let per = t0.elapsed().as_secs_f64() / warm as f64;
    let iters = ((budget().as_secs_f64() / per) as u64).max(5);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    let secs = t.elapsed().as_secs_f64() / iters as f64;
    let (time, tu) = if secs >= 1e-3 {
        (secs * 1e3, "ms")
    } else {
        (secs * 1e6, "us")
    };
    println!(
        "{name:<28} {shape:<34} {work:>10} {unit:<5} {time:>9.2} {tu}/call {rate:>9.1} M{unit}/s",
        rate = work as f64 / secs / 1e6,
    );
}

#[allow(clippy::too_many_arguments)]
fn conv_bench(
    rng: &mut Rng,
    name: &str,
    (ih, iw, ic): (u16, u16, u16),
    oc: u16,
    k: u8,
    stride: u8,
    pad: u8,
    groups: u16,
    general: bool,
) {
    let oh = (ih + 2 * pad as u16 - k as u16) / stride as u16 + 1;
    let ow = (iw + 2 * pad as u16 - k as u16) / stride as u16 + 1;
    let ins = Shape::new(ih, iw, ic);
    let outs = Shape::new(oh, ow, oc);
    let cpg = (ic / groups) as usize;
    let t = Tables::new(
        rng,
        oc as usize * k as usize * k as usize * cpg,
        oc as usize,
    );
    let input = rng.i8s(ins.len());
    let mut out = vec![0i8; outs.len()];
    let p = ConvParams {
        window: window(k, stride, pad),
        groups,
        quant: QUANT,
    };
    let macs = outs.len() as u64 * k as u64 * k as u64 * cpg as u64;
    let shape = format!("{ih}x{iw}x{ic}->{oh}x{ow}x{oc} k{k} s{stride} g{groups}");
    let w = t.weights();
    let f = if general {
        conv2d_s8
    } else if k == 1 {
        pointwise_conv_s8
    } else {
        grouped_conv3x3_s8
    };
    f(&p, ins, &input, &w, outs, &mut out).expect("valid benchmark arguments");
    bench(name, &shape, macs, "MAC", || {
        f(&p, ins, black_box(&input), &w, outs, &mut out).unwrap();
        black_box(&out);
    });
}

fn main() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    println!(
        "{:<28} {:<34} {:>10} {:<5} {:>12} {:>14}",
        "kernel", "shape", "work", "unit", "time", "throughput"
    );

    // ResNet-8 body: 3x3, 16 -> 16 at 32x32.
    conv_bench(
        &mut rng,
        "grouped_conv3x3 (resnet8)",
        (32, 32, 16),
        16,
        3,
        1,
        1,
        1,
        false,
    );
    conv_bench(
        &mut rng,
        "conv2d (resnet8)",
        (32, 32, 16),
        16,
        3,
        1,
        1,
        1,
        true,
    );
    // Stem: 3x3, 3 -> 16 at 32x32.
    conv_bench(
        &mut rng,
        "grouped_conv3x3 (stem)",
        (32, 32, 3),
        16,
        3,
        1,
        1,
        1,
        false,
    );
    conv_bench(&mut rng, "conv2d (stem)", (32, 32, 3), 16, 3, 1, 1, 1, true);
    // Strided 1x1 shortcut.
    conv_bench(
        &mut rng,
        "pointwise (shortcut s2)",
        (32, 32, 16),
        32,
        1,
        2,
        0,
        1,
        false,
    );
    // Grouped and depthwise-as-grouped 3x3.
    conv_bench(
        &mut rng,
        "grouped_conv3x3 (g4)",
        (32, 32, 16),
        16,
        3,
        1,
        1,
        4,
        false,
    );
    conv_bench(
        &mut rng,
        "grouped_conv3x3 (g=C)",
        (32, 32, 16),
        16,
        3,
        1,
        1,
        16,
        false,
    );
    conv_bench(
        &mut rng,
        "conv2d 5x5 (g1)",
        (16, 16, 16),
        16,
        5,
        1,
        2,
        1,
        true,
    );
    // Expansion 1x1.
    conv_bench(
        &mut rng,
        "pointwise (16->64)",
        (16, 16, 16),
        64,
        1,
        1,
        0,
        1,
        false,
    );

    // Pointwise pair 64 -> 16 -> 64 at 16x16.
    {
        let (h, w, ic, mc, oc) = (16u16, 16u16, 64u16, 16u16, 64u16);
        let t1 = Tables::new(&mut rng, (mc * ic) as usize, mc as usize);
        let t2 = Tables::new(&mut rng, (oc * mc) as usize, oc as usize);
        let ins = Shape::new(h, w, ic);
        let outs = Shape::new(h, w, oc);
        let input = rng.i8s(ins.len());
        let mut scratch = vec![0i8; mc as usize];
        let mut out = vec![0i8; outs.len()];
        let (w1, w2) = (t1.weights(), t2.weights());
        let macs = (h as u64 * w as u64) * (mc as u64 * ic as u64 + oc as u64 * mc as u64);
        bench("pointwise_pair", "16x16x64->16->64", macs, "MAC", || {
            pointwise_pair_s8(
                &QUANT,
                &w1,
                &QUANT,
                &w2,
                ins,
                black_box(&input),
                mc,
                &mut scratch,
                outs,
                &mut out,
            )
            .unwrap();
            black_box(&out);
        });
    }

    // Depthwise: KWS DS-CNN 25x5x64, 3x3, and a multiplier-2 variant.
    for (name, dm) in [("depthwise (kws)", 1u16), ("depthwise (kws, dm2)", 2)] {
        let ins = Shape::new(25, 5, 64);
        let outs = Shape::new(25, 5, 64 * dm);
        let t = Tables::new(&mut rng, 9 * outs.c as usize, outs.c as usize);
        let input = rng.i8s(ins.len());
        let mut out = vec![0i8; outs.len()];
        let p = DepthwiseParams {
            window: window(3, 1, 1),
            depth_multiplier: dm,
            quant: QUANT,
        };
        let w = t.weights();
        let shape = format!("25x5x64->25x5x{} k3 s1 dm{dm}", outs.c);
        bench(name, &shape, outs.len() as u64 * 9, "MAC", || {
            depthwise_conv_s8(&p, ins, black_box(&input), &w, outs, &mut out).unwrap();
            black_box(&out);
        });
    }

    // Residual add, 32x32x16.
    {
        let n = 32 * 32 * 16;
        let a = rng.i8s(n);
        let b = rng.i8s(n);
        let mut out = vec![0i8; n];
        let p = AddParams {
            input1_zero_point: -2,
            input2_zero_point: 7,
            output_zero_point: -5,
            left_shift: 20,
            input1_multiplier: 1_518_500_250,
            input1_shift: 0,
            input2_multiplier: 1_140_000_000,
            input2_shift: -1,
            output_multiplier: 1_300_000_000,
            output_shift: -19,
            clamp: Clamp::NONE,
        };
        bench("add", "32x32x16", n as u64, "elem", || {
            add_s8(&p, black_box(&a), black_box(&b), &mut out).unwrap();
            black_box(&out);
        });
        let mut acc = a.clone();
        bench("add_in_place", "32x32x16", n as u64, "elem", || {
            add_s8_in_place(&p, &mut acc, black_box(&b)).unwrap();
            black_box(&acc);
        });
    }

    // Global average pool 8x8x64, and a 2x2 max pool.
    {
        let ins = Shape::new(8, 8, 64);
        let input = rng.i8s(ins.len());
        let outs = Shape::new(1, 1, 64);
        let mut out = vec![0i8; outs.len()];
        let p = PoolParams {
            window: window(8, 1, 0),
            clamp: Clamp::NONE,
        };
        bench(
            "average_pool (global)",
            "8x8x64->1x1x64",
            ins.len() as u64,
            "elem",
            || {
                average_pool_s8(&p, ins, black_box(&input), outs, &mut out).unwrap();
                black_box(&out);
            },
        );
        let ins = Shape::new(32, 32, 16);
        let input = rng.i8s(ins.len());
        let outs = Shape::new(16, 16, 16);
        let mut out = vec![0i8; outs.len()];
        let p = PoolParams {
            window: window(2, 2, 0),
            clamp: Clamp::NONE,
        };
        bench(
            "max_pool 2x2",
            "32x32x16->16x16x16",
            ins.len() as u64,
            "elem",
            || {
                max_pool_s8(&p, ins, black_box(&input), outs, &mut out).unwrap();
                black_box(&out);
            },
        );
    }

    // Classifier head: FC 64 -> 10, softmax 10.
    {
        let t = Tables::new(&mut rng, 640, 10);
        let input = rng.i8s(64);
        let mut out = vec![0i8; 10];
        let p = FullyConnectedParams {
            in_features: 64,
            out_features: 10,
            input_zero_point: -4,
            filter_zero_point: 0,
            output_zero_point: 3,
            clamp: Clamp::NONE,
        };
        let w = t.weights();
        bench("fully_connected", "64->10", 640, "MAC", || {
            fully_connected_s8(&p, black_box(&input), &w, &mut out).unwrap();
            black_box(&out);
        });

        let p = SoftmaxParams {
            depth: 10,
            // beta 1, input scale 0.1: as TFLite's PreprocessSoftmaxScaling.
            input_multiplier: 1_717_986_918,
            input_left_shift: 23,
            diff_min: -248,
        };
        let logits = rng.i8s(10);
        let mut probs = vec![0i8; 10];
        bench("softmax", "10", 10, "elem", || {
            softmax_s8(&p, black_box(&logits), &mut probs).unwrap();
            black_box(&probs);
        });
    }
}
