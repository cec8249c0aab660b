//! The generated `static` plans against the host runner and against
//! TensorFlow Lite Micro's outputs.
//!
//! Golden outputs in `tests/generated/golden/` were produced by the
//! TensorFlow Lite Micro Python interpreter (`tests/oracle/tflm_run.py`; see
//! `golden/README.md` for versions and commands). `cargo xtask test` re-runs
//! the interpreter and checks the goldens still equal its outputs.

use std::path::{Path, PathBuf};

use attonet_convert::npy::Array;
use attonet_generated_tests::{hello_world, kws, micro_speech, person_detect, resnet8};
use attonet_runtime::plan::Model;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn host(file: &str, name: &str) -> attonet_convert::Assembled {
    let bytes = std::fs::read(repo().join("models").join(file)).unwrap();
    attonet_convert::assemble_bytes(&bytes, name).unwrap()
}

fn run_all(model: &Model<'_>, inputs: &[i8]) -> Vec<i8> {
    let in_len = model.input.slot.shape.len();
    let out_len = model.output.slot.shape.len();
    let mut arena = vec![0i8; model.arena_bytes as usize];
    let mut out = vec![0i8; inputs.len() / in_len * out_len];
    for (x, y) in inputs
        .chunks_exact(in_len)
        .zip(out.chunks_exact_mut(out_len))
    {
        model.infer(&mut arena, x, y).unwrap();
    }
    out
}

fn read_i8(path: &Path) -> Array {
    Array::read(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The generated code is the host plan, table for table.
#[test]
fn generated_plans_equal_host_plans() {
    for (generated, file, name) in [
        (
            &resnet8::MODEL,
            "mlperf-tiny/resnet8_int8.tflite",
            "resnet8",
        ),
        (&kws::MODEL, "mlperf-tiny/kws_dscnn_int8.tflite", "kws"),
        (
            &person_detect::MODEL,
            "tflm-examples/person_detect.tflite",
            "person_detect",
        ),
        (
            &micro_speech::MODEL,
            "tflm-examples/micro_speech_quantized.tflite",
            "micro_speech",
        ),
        (
            &hello_world::MODEL,
            "tflm-examples/hello_world_int8.tflite",
            "hello_world",
        ),
    ] {
        let assembled = host(file, name);
        let hosted = assembled.model();
        assert_eq!(generated.steps, hosted.steps, "{name}: steps differ");
        assert_eq!(generated.blob, hosted.blob, "{name}: blobs differ");
        assert_eq!(generated.arena_bytes, hosted.arena_bytes);
        assert_eq!(generated.input, hosted.input);
        assert_eq!(generated.output, hosted.output);
        generated.validate().unwrap();
    }
    assert_eq!(resnet8::ARENA_BYTES, resnet8::MODEL.arena_bytes as usize);
}

/// The generated `CHECKSUM` is the CRC-32 of the generated model as
/// compiled (host and converter agree), and any single flipped bit of the
/// blob, or a changed field of the plan, is caught by `Model::verify`.
#[test]
fn flash_integrity_catches_flipped_bits() {
    use attonet_runtime::Error;
    for (model, checksum) in [
        (&resnet8::MODEL, resnet8::CHECKSUM),
        (&kws::MODEL, kws::CHECKSUM),
        (&person_detect::MODEL, person_detect::CHECKSUM),
        (&micro_speech::MODEL, micro_speech::CHECKSUM),
        (&hello_world::MODEL, hello_world::CHECKSUM),
    ] {
        let name = model.name;
        model
            .verify(checksum)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Bits spread over the whole blob: weights, biases and tables.
        let mut blob = model.blob.to_vec();
        let positions = (0..blob.len() * 8).step_by(blob.len() * 8 / 257 + 1);
        for bit in positions {
            blob[bit / 8] ^= 1 << (bit % 8);
            let corrupt = Model {
                blob: &blob,
                ..*model
            };
            match corrupt.verify(checksum) {
                Err(Error::Checksum { expected, actual }) => {
                    assert_eq!(expected, checksum);
                    assert_ne!(actual, checksum);
                }
                other => panic!("{name}: blob bit {bit} flipped, verify gave {other:?}"),
            }
            blob[bit / 8] ^= 1 << (bit % 8);
        }
        // The plan: the arena size, one input's zero point, one step dropped.
        let bigger = Model {
            arena_bytes: model.arena_bytes ^ 4,
            ..*model
        };
        assert!(bigger.verify(checksum).is_err(), "{name}: arena size");
        let mut input = model.input;
        input.zero_point ^= 1;
        let inputs = [input];
        let shifted = Model {
            inputs: &inputs,
            input,
            ..*model
        };
        assert!(
            shifted.verify(checksum).is_err(),
            "{name}: input zero point"
        );
        let fewer = Model {
            steps: &model.steps[1..],
            ..*model
        };
        assert!(fewer.verify(checksum).is_err(), "{name}: a step dropped");
    }
}

/// Generated unary-op plans (a lookup table each, linked alone through
/// `KERNELS`) give TensorFlow Lite Micro's bytes on the op-level goldens.
#[test]
fn generated_lookup_plans_match_tflite_micro() {
    use attonet_generated_tests::{hard_swish, logistic};
    for (generated, kernels, name) in [
        (&hard_swish::MODEL, hard_swish::KERNELS, "hard_swish"),
        (&logistic::MODEL, logistic::KERNELS, "logistic"),
    ] {
        assert_eq!(kernels, attonet_runtime::plan::kernels::LOOKUP, "{name}");
        let dir = repo().join("tests/op-goldens");
        let x = read_i8(&dir.join(format!("{name}_x.npy")));
        let y = read_i8(&dir.join(format!("{name}_y.npy")));
        let ours = run_all(generated, &x.as_i8().unwrap());
        assert_eq!(ours, y.as_i8().unwrap(), "{name}");
    }
}

/// Generated reduction plans (linked alone through `KERNELS`) give
/// TensorFlow Lite Micro's bytes on the op-level goldens.
#[test]
fn generated_reduce_plans_match_tflite_micro() {
    use attonet_generated_tests::{mean_hw, reduce_max_channels};
    for (generated, kernels, name) in [
        (&mean_hw::MODEL, mean_hw::KERNELS, "mean_hw"),
        (
            &reduce_max_channels::MODEL,
            reduce_max_channels::KERNELS,
            "reduce_max_channels",
        ),
    ] {
        assert_eq!(kernels, attonet_runtime::plan::kernels::REDUCE, "{name}");
        let dir = repo().join("tests/op-goldens");
        let x = read_i8(&dir.join(format!("{name}_x.npy")));
        let y = read_i8(&dir.join(format!("{name}_y.npy")));
        let ours = run_all(generated, &x.as_i8().unwrap());
        assert_eq!(ours, y.as_i8().unwrap(), "{name}");
    }
}

/// Generated plans of the compute ops (PRELU, LOG_SOFTMAX, L2_NORMALIZATION,
/// TRANSPOSE_CONV, BATCH_MATMUL), each linked alone through `KERNELS`,
/// give TensorFlow Lite Micro's bytes on their op-level goldens.
#[test]
fn generated_compute_plans_match_tflite_micro() {
    use attonet_generated_tests::{
        batch_matmul_self_gram, l2_normalization_channels, log_softmax_4d, prelu_per_channel,
        transpose_conv_3x3_s2_same,
    };
    use attonet_runtime::plan::kernels as k;
    for (generated, kernels, expected, name) in [
        (
            &prelu_per_channel::MODEL,
            prelu_per_channel::KERNELS,
            k::BINARY,
            "prelu_per_channel",
        ),
        (
            &log_softmax_4d::MODEL,
            log_softmax_4d::KERNELS,
            k::LOG_SOFTMAX,
            "log_softmax_4d",
        ),
        (
            &l2_normalization_channels::MODEL,
            l2_normalization_channels::KERNELS,
            k::L2_NORMALIZATION,
            "l2_normalization_channels",
        ),
        (
            &transpose_conv_3x3_s2_same::MODEL,
            transpose_conv_3x3_s2_same::KERNELS,
            k::TRANSPOSE_CONV,
            "transpose_conv_3x3_s2_same",
        ),
        (
            &batch_matmul_self_gram::MODEL,
            batch_matmul_self_gram::KERNELS,
            k::BATCH_MATMUL,
            "batch_matmul_self_gram",
        ),
    ] {
        assert_eq!(kernels, expected, "{name}");
        let dir = repo().join("tests/op-goldens");
        let x = read_i8(&dir.join(format!("{name}_x.npy")));
        let y = read_i8(&dir.join(format!("{name}_y.npy")));
        let ours = run_all(generated, &x.as_i8().unwrap());
        assert_eq!(ours, y.as_i8().unwrap(), "{name}");
    }
}

/// Generated plans of the 16x8 kernels (MEAN, AVERAGE_POOL_2D, LEAKY_RELU
/// and an int16 TRANSPOSE), each linked alone through `KERNELS`, give
/// TensorFlow Lite Micro's int16 bytes on their op-level goldens: the
/// generated code names every parameter type these steps carry.
#[test]
fn generated_16x8_plans_match_tflite_micro() {
    use attonet_generated_tests::{
        avgpool_3x3_s2_same_16x8, leaky_relu_0p2_16x8, mean_hw_16x8, transpose_hw_16x8,
    };
    use attonet_runtime::plan::kernels as k;
    for (generated, kernels, expected, name) in [
        (
            &mean_hw_16x8::MODEL,
            mean_hw_16x8::KERNELS,
            k::REDUCE,
            "mean_hw_16x8",
        ),
        (
            &avgpool_3x3_s2_same_16x8::MODEL,
            avgpool_3x3_s2_same_16x8::KERNELS,
            k::POOL_S16,
            "avgpool_3x3_s2_same_16x8",
        ),
        (
            &leaky_relu_0p2_16x8::MODEL,
            leaky_relu_0p2_16x8::KERNELS,
            k::PIECEWISE_S16,
            "leaky_relu_0p2_16x8",
        ),
        (
            &transpose_hw_16x8::MODEL,
            transpose_hw_16x8::KERNELS,
            k::GATHER,
            "transpose_hw_16x8",
        ),
    ] {
        assert_eq!(kernels, expected, "{name}");
        generated.validate().unwrap();
        let dir = repo().join("tests/op-goldens");
        let bytes = |a: Array| -> Vec<i8> { a.data.iter().map(|&b| b as i8).collect() };
        let x = bytes(read_i8(&dir.join(format!("{name}_x.npy"))));
        let y = bytes(read_i8(&dir.join(format!("{name}_y.npy"))));
        assert_eq!(run_all(generated, &x), y, "{name}");
    }
}

/// A generated plan with two model inputs lists both (`INPUT_LENS`,
/// `MODEL.inputs`), equals the host plan and gives TensorFlow Lite Micro's
/// bytes through `infer_multi`.
#[test]
fn generated_two_input_plan_matches_tflite_micro() {
    use attonet_generated_tests::add_2in;
    let m = &add_2in::MODEL;
    m.validate().unwrap();
    assert_eq!(add_2in::INPUT_LENS.len(), 2);
    assert_eq!(add_2in::OUTPUT_LENS, [add_2in::OUTPUT_LEN]);
    assert_eq!(add_2in::INPUT_LEN, add_2in::INPUT_LENS[0]);
    for (io, &len) in m.inputs.iter().zip(&add_2in::INPUT_LENS) {
        assert_eq!(io.len(), len);
    }
    let dir = repo().join("tests/op-goldens");
    let bytes = std::fs::read(dir.join("add_2in.tflite")).unwrap();
    let host = attonet_convert::assemble_bytes(&bytes, "add_2in").unwrap();
    let hosted = host.model();
    assert_eq!(m.steps, hosted.steps);
    assert_eq!(m.inputs, hosted.inputs);
    assert_eq!(m.outputs, hosted.outputs);
    let x0 = read_i8(&dir.join("add_2in_x0.npy")).as_i8().unwrap();
    let x1 = read_i8(&dir.join("add_2in_x1.npy")).as_i8().unwrap();
    let y = read_i8(&dir.join("add_2in_y.npy")).as_i8().unwrap();
    let [l0, l1] = add_2in::INPUT_LENS;
    let out_len = add_2in::OUTPUT_LEN;
    let mut arena = [0i8; add_2in::ARENA_BYTES];
    let mut out = vec![0i8; out_len];
    for (i, golden) in y.chunks_exact(out_len).enumerate() {
        let (a, b) = (&x0[i * l0..(i + 1) * l0], &x1[i * l1..(i + 1) * l1]);
        m.infer_multi(&mut arena, &[a, b], &mut [&mut out]).unwrap();
        assert_eq!(out, golden, "sample {i}");
    }
    assert!(m.infer(&mut arena, &x0[..l0], &mut out).is_err());
}

/// Generated plans with several outputs (SPLIT), an int32 output
/// (ARG_MAX) and float32 boundaries (QUANTIZE in, DEQUANTIZE out) equal the
/// host plans, list their outputs' bytes and element types, link only their
/// kernels and give TensorFlow Lite Micro's bytes through `infer_multi`
/// (int32 and float32 as their little-endian bytes).
#[test]
fn generated_multi_output_and_typed_plans_match_tflite_micro() {
    use attonet_generated_tests::{
        arg_max_4d_height, dequantize_float_out_avgpool, quantize_float_in_fc, split_height_3out,
    };
    use attonet_runtime::plan::{kernels as k, ElementType};
    // (model, input bytes, output bytes, arena, kernels, name, output file suffixes)
    type Case<'a> = (
        &'a Model<'a>,
        &'a [usize],
        &'a [usize],
        usize,
        u64,
        &'a str,
        &'a [&'a str],
    );
    let cases: [Case<'_>; 4] = [
        (
            &split_height_3out::MODEL,
            &split_height_3out::INPUT_LENS,
            &split_height_3out::OUTPUT_LENS,
            split_height_3out::ARENA_BYTES,
            split_height_3out::KERNELS,
            "split_height_3out",
            &["_y0", "_y1", "_y2"],
        ),
        (
            &arg_max_4d_height::MODEL,
            &arg_max_4d_height::INPUT_LENS,
            &arg_max_4d_height::OUTPUT_LENS,
            arg_max_4d_height::ARENA_BYTES,
            arg_max_4d_height::KERNELS,
            "arg_max_4d_height",
            &["_y"],
        ),
        (
            &quantize_float_in_fc::MODEL,
            &quantize_float_in_fc::INPUT_LENS,
            &quantize_float_in_fc::OUTPUT_LENS,
            quantize_float_in_fc::ARENA_BYTES,
            quantize_float_in_fc::KERNELS,
            "quantize_float_in_fc",
            &["_y"],
        ),
        (
            &dequantize_float_out_avgpool::MODEL,
            &dequantize_float_out_avgpool::INPUT_LENS,
            &dequantize_float_out_avgpool::OUTPUT_LENS,
            dequantize_float_out_avgpool::ARENA_BYTES,
            dequantize_float_out_avgpool::KERNELS,
            "dequantize_float_out_avgpool",
            &["_y"],
        ),
    ];
    assert_eq!(split_height_3out::KERNELS, k::GATHER);
    assert_eq!(arg_max_4d_height::KERNELS, k::ARG);
    assert_eq!(
        quantize_float_in_fc::KERNELS & k::QUANTIZE_FLOAT,
        k::QUANTIZE_FLOAT
    );
    assert_eq!(
        dequantize_float_out_avgpool::KERNELS & k::DEQUANTIZE_FLOAT,
        k::DEQUANTIZE_FLOAT
    );
    assert_eq!(arg_max_4d_height::MODEL.output.dtype, ElementType::Int32);
    assert_eq!(
        quantize_float_in_fc::MODEL.input.dtype,
        ElementType::Float32
    );
    assert_eq!(
        dequantize_float_out_avgpool::MODEL.output.dtype,
        ElementType::Float32
    );
    let dir = repo().join("tests/op-goldens");
    for (m, input_lens, output_lens, arena_bytes, kernels, name, outs) in cases {
        m.validate().unwrap();
        let host = host(&format!("../tests/op-goldens/{name}.tflite"), name);
        let hosted = host.model();
        assert_eq!(m.steps, hosted.steps, "{name}");
        assert_eq!(m.inputs, hosted.inputs, "{name}");
        assert_eq!(m.outputs, hosted.outputs, "{name}");
        assert_eq!(kernels, host.kernels().0, "{name}");
        assert_eq!(arena_bytes, m.arena_bytes as usize, "{name}");
        for (io, &len) in m.outputs.iter().zip(output_lens) {
            assert_eq!(io.len(), len, "{name}");
            assert_eq!(io.len(), io.elements() * io.dtype.size(), "{name}");
        }
        let bytes = |file: String| -> Vec<i8> {
            Array::read(&dir.join(file))
                .unwrap()
                .data
                .iter()
                .map(|&b| b as i8)
                .collect()
        };
        let x = bytes(format!("{name}_x.npy"));
        let ys: Vec<Vec<i8>> = outs
            .iter()
            .map(|o| bytes(format!("{name}{o}.npy")))
            .collect();
        let samples = x.len() / input_lens[0];
        let mut arena = vec![0i8; arena_bytes];
        let mut got: Vec<Vec<i8>> = output_lens.iter().map(|&l| vec![0i8; l]).collect();
        for i in 0..samples {
            let input = &x[i * input_lens[0]..(i + 1) * input_lens[0]];
            let mut refs: Vec<&mut [i8]> = got.iter_mut().map(|g| g.as_mut_slice()).collect();
            m.infer_multi(&mut arena, &[input], &mut refs).unwrap();
            for (k, (g, y)) in got.iter().zip(&ys).enumerate() {
                let l = output_lens[k];
                assert_eq!(
                    g.as_slice(),
                    &y[i * l..(i + 1) * l],
                    "{name} output {k} sample {i}"
                );
            }
        }
    }
}

/// A float ONNX model quantized by the build script is the plan the host
/// quantizer produces from the same calibration samples.
#[test]
fn build_script_quantizes_onnx_like_the_host() {
    use attonet_convert::quantize;
    let onnx = repo().join("tests/onnx");
    let bytes = std::fs::read(onnx.join("cifar_resnet.onnx")).unwrap();
    let model = quantize::read_float_model(&bytes).unwrap();
    let samples = quantize::read_samples(&model, &onnx.join("cifar_resnet_calib.npy")).unwrap();
    let q = quantize::quantize_and_assemble(&model, &samples, &Default::default(), "cifar_resnet")
        .unwrap();
    let hosted = q.assembled.model();
    let generated = &attonet_generated_tests::cifar_resnet::MODEL;
    assert_eq!(generated.steps, hosted.steps);
    assert_eq!(generated.blob, hosted.blob);
    assert_eq!(generated.input, hosted.input);
}

/// All 1000 KWS perf samples: the generated plan's int8 outputs equal
/// TensorFlow Lite Micro's element for element, and top-1 is TFLM's 90.1 %.
#[test]
fn kws_matches_tflite_micro_on_all_perf_samples() {
    let x = read_i8(&repo().join("models/mlperf-tiny/kws_perf_samples_x.npy"));
    let labels = read_i8(&repo().join("models/mlperf-tiny/kws_perf_samples_y.npy"))
        .to_i64()
        .unwrap();
    let golden = read_i8(&repo().join("tests/generated/golden/kws_tflm_perf_samples.npy"));
    let ours = run_all(&kws::MODEL, &x.as_i8().unwrap());
    let theirs = golden.as_i8().unwrap();
    assert_eq!(ours.len(), theirs.len());
    let mismatched = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(
        mismatched,
        0,
        "{mismatched} of {} outputs differ from TFLM",
        ours.len()
    );
    let correct = ours
        .chunks_exact(12)
        .zip(&labels)
        .filter(|(s, &l)| argmax(s) as i64 == l)
        .count();
    assert_eq!(correct, 901, "TFLM gets 901/1000 = 90.1 %");
}

/// The full CIFAR-10 test set (fetched by `cargo xtask fetch-cifar10`):
/// every int8 output equals TensorFlow Lite Micro's, and top-1 is 87.07 %.
#[test]
fn resnet8_matches_tflite_micro_on_cifar10_test_set() {
    let x_path = repo().join(".data/cifar10/test_x.npy");
    assert!(
        x_path.exists(),
        "{} is missing: run `cargo xtask fetch-cifar10` (or `cargo xtask test`, which does)",
        x_path.display()
    );
    let pixels = Array::read(&x_path).unwrap();
    let labels = Array::read(&repo().join(".data/cifar10/test_y.npy"))
        .unwrap()
        .to_i64()
        .unwrap();
    // int8 input = pixel - 128.
    let x: Vec<i8> = pixels
        .data
        .iter()
        .map(|&p| (p as i16 - 128) as i8)
        .collect();
    let golden = read_i8(&repo().join("tests/generated/golden/resnet8_tflm_cifar10_test.npy"));
    let ours = run_all(&resnet8::MODEL, &x);
    let theirs = golden.as_i8().unwrap();
    assert_eq!(ours.len(), theirs.len());
    let mismatched = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(
        mismatched,
        0,
        "{mismatched} of {} outputs differ from TFLM",
        ours.len()
    );
    let correct = ours
        .chunks_exact(10)
        .zip(&labels)
        .filter(|(s, &l)| argmax(s) as i64 == l)
        .count();
    assert_eq!(correct, 8707, "TFLM gets 8707/10000 = 87.07 %");
}

/// Every output byte of `ours` equals TFLM's `golden` (same length).
fn assert_bit_exact(name: &str, ours: &[i8], golden: &str) {
    let theirs = read_i8(&repo().join("tests/generated/golden").join(golden))
        .as_i8()
        .unwrap();
    assert_eq!(ours.len(), theirs.len(), "{name}: output count");
    let mismatched = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(
        mismatched,
        0,
        "{name}: {mismatched} of {} outputs differ from TFLM",
        ours.len()
    );
}

/// TFLM's person detector (as TFLM ships it: its biases carry the filter's
/// `quantized_dimension` 3, which TFLM ignores) on the first 1,000 CIFAR-10
/// test images made into its 96x96 grayscale input exactly as
/// `tests/oracle/make_inputs.py person` does: integer luma, each pixel
/// repeated 3x3, `pixel - 128`. Every output equals TFLM's.
#[test]
fn person_detect_matches_tflite_micro() {
    let x_path = repo().join(".data/cifar10/test_x.npy");
    assert!(
        x_path.exists(),
        "{} is missing: run `cargo xtask fetch-cifar10` (or `cargo xtask test`, which does)",
        x_path.display()
    );
    let pixels = Array::read(&x_path).unwrap();
    let mut x = Vec::with_capacity(1000 * 96 * 96);
    for image in pixels.data.chunks_exact(32 * 32 * 3).take(1000) {
        for row in 0..96 {
            for col in 0..96 {
                let p = &image[((row / 3) * 32 + col / 3) * 3..][..3];
                let luma = (299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32 + 500) / 1000;
                x.push((luma as i16 - 128) as i8);
            }
        }
    }
    assert_eq!(x.len(), 1000 * 96 * 96);
    let ours = run_all(&person_detect::MODEL, &x);
    assert_bit_exact(
        "person_detect",
        &ours,
        "person_detect_tflm_cifar10_gray.npy",
    );
}

/// The low bytes of successive splitmix64 outputs from `seed`: the twin of
/// `tests/oracle/make_inputs.py random`.
fn splitmix64_bytes(seed: u64, count: usize) -> Vec<i8> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8 as i8
        })
        .collect()
}

/// TFLM's micro_speech model on 200 inputs drawn uniformly over the whole
/// int8 range (`make_inputs.py random --shape 1960 --limit 200 --seed 1`):
/// every output equals TFLM's, saturating corners included.
#[test]
fn micro_speech_matches_tflite_micro() {
    let x = splitmix64_bytes(1, 200 * 1960);
    let ours = run_all(&micro_speech::MODEL, &x);
    assert_bit_exact("micro_speech", &ours, "micro_speech_tflm_random.npy");
}

/// TFLM's hello_world sine model on every int8 input.
#[test]
fn hello_world_matches_tflite_micro_on_every_input() {
    let x: Vec<i8> = (-128..=127).collect();
    let ours = run_all(&hello_world::MODEL, &x);
    assert_bit_exact("hello_world", &ours, "hello_world_tflm_sweep.npy");
}

/// The arena beats TensorFlow Lite Micro's (55,984 B for ResNet-8, 24,272 B
/// for KWS) and never grows past today's plan with fused blocks (19,456 B and
/// 9,600 B; 49,152 B and 16,000 B unfused): a memory regression fails the
/// build, since the arena size is a constant.
const _: () = {
    assert!(resnet8::ARENA_BYTES < 55_984 && resnet8::ARENA_BYTES <= 19_456);
    assert!(kws::ARENA_BYTES < 24_272 && kws::ARENA_BYTES <= 9_600);
    // TFLM's arenas (print_allocations): 85,264 B, 7,584 B and 1,504 B.
    assert!(person_detect::ARENA_BYTES < 85_264);
    assert!(micro_speech::ARENA_BYTES < 7_584);
    assert!(hello_world::ARENA_BYTES < 1_504);
};

fn argmax(s: &[i8]) -> usize {
    let mut best = 0;
    for (i, &v) in s.iter().enumerate() {
        if v > s[best] {
            best = i;
        }
    }
    best
}
