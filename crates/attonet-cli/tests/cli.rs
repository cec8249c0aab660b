//! The `attonet` command as users call it: outputs, JSON fields, exit codes,
//! error messages, and no half-written files on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use attonet_convert::npy::Array;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kws() -> PathBuf {
    repo().join("models/mlperf-tiny/kws_dscnn_int8.tflite")
}

fn attonet(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attonet"))
        .args(args)
        .output()
        .expect("the attonet binary runs")
}

fn s(p: &Path) -> &std::ffi::OsStr {
    p.as_os_str()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("attonet-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn inspect_json_has_the_totals() {
    let out = attonet(&["inspect".as_ref(), s(&kws()), "--json".as_ref()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["macs"], 2_656_768);
    assert_eq!(v["params"], 22_604);
    assert_eq!(v["arena_bytes"], 9_600);
    let flash = v["flash_bytes"].as_u64().unwrap();
    assert!(flash > v["weight_bytes"].as_u64().unwrap());
    assert_eq!(v["layers"].as_array().unwrap().len(), 13);
}

#[test]
fn inspect_table_lists_every_layer() {
    let out = attonet(&["inspect".as_ref(), s(&kws())]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("DEPTHWISE_CONV_2D").count(), 4);
    assert!(text.contains("2,656,768"), "{text}");
}

/// `run` over the 1000 KWS perf samples writes [1000, 12] int8 outputs equal
/// to TensorFlow Lite Micro's, and reports its top-1.
#[test]
fn run_writes_the_batch_outputs() {
    let out_path = tmp("kws_out.npy");
    let out = attonet(&[
        "run".as_ref(),
        s(&kws()),
        "--input".as_ref(),
        s(&repo().join("models/mlperf-tiny/kws_perf_samples_x.npy")),
        "--output".as_ref(),
        s(&out_path),
        "--labels".as_ref(),
        s(&repo().join("models/mlperf-tiny/kws_perf_samples_y.npy")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("top-1: 901/1000"));
    let ours = Array::read(&out_path).unwrap();
    let golden =
        Array::read(&repo().join("tests/generated/golden/kws_tflm_perf_samples.npy")).unwrap();
    assert_eq!(ours.shape, vec![1000, 12]);
    assert_eq!(ours.data, golden.data);
}

#[test]
fn run_refuses_a_wrongly_shaped_input_without_writing() {
    let input = tmp("bad_in.npy");
    Array::from_i8(vec![2, 49, 9, 1], &[0; 2 * 49 * 9])
        .write(&input)
        .unwrap();
    let output = tmp("never_written.npy");
    let out = attonet(&[
        "run".as_ref(),
        s(&kws()),
        "--input".as_ref(),
        s(&input),
        "--output".as_ref(),
        s(&output),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[2, 49, 9, 1]") && err.contains("[1, 49, 10, 1]"),
        "{err}"
    );
    assert!(!output.exists());
}

#[test]
fn errors_name_the_problem() {
    let missing = attonet(&["inspect".as_ref(), "/no/such/model.tflite".as_ref()]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/model.tflite"));

    let float = attonet(&[
        "inspect".as_ref(),
        s(&repo().join("models/mlperf-tiny/resnet8_fp32.tflite")),
    ]);
    assert!(String::from_utf8_lossy(&float.stderr).contains("float32"));

    let truncated = tmp("truncated.tflite");
    let bytes = std::fs::read(kws()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out_dir = tmp("convert_truncated");
    let out = attonet(&[
        "convert".as_ref(),
        s(&truncated),
        "--out".as_ref(),
        s(&out_dir),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt model"));
    assert!(!out_dir.exists(), "a failed conversion wrote output");
}

#[test]
fn convert_writes_source_and_blob() {
    let dir = tmp("convert_ok");
    let out = attonet(&[
        "convert".as_ref(),
        s(&kws()),
        "--out".as_ref(),
        s(&dir),
        "--name".as_ref(),
        "kws".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rust = std::fs::read_to_string(dir.join("kws.rs")).unwrap();
    assert!(rust.contains("pub const ARENA_BYTES: usize = 9600;"));
    assert!(rust.contains("include_bytes!(\"kws.bin\")"));
    let blob = std::fs::metadata(dir.join("kws.bin")).unwrap().len();
    assert!(rust.contains(&format!("[u8; {blob}]")));
}

/// A float ONNX model with calibration: `run` takes float32 NCHW input and
/// writes dequantized float32 probabilities; `inspect --json` adds per-layer
/// SQNR.
#[test]
fn onnx_with_calibration_runs_and_reports_sqnr() {
    let onnx = repo().join("tests/onnx/cifar_resnet.onnx");
    let calib = repo().join("tests/onnx/cifar_resnet_calib.npy");
    let out_path = tmp("onnx_out.npy");
    let out = attonet(&[
        "run".as_ref(),
        s(&onnx),
        "--calib".as_ref(),
        s(&calib),
        "--input".as_ref(),
        s(&calib),
        "--output".as_ref(),
        s(&out_path),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probs = Array::read(&out_path).unwrap();
    assert_eq!(probs.shape, vec![16, 10]);
    for row in probs.as_f32().unwrap().chunks_exact(10) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 0.02, "{row:?}");
    }
    let out = attonet(&[
        "inspect".as_ref(),
        s(&onnx),
        "--calib".as_ref(),
        s(&calib),
        "--json".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["macs"].as_u64().unwrap() > 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("sqnr_db"));

    // Without calibration a float model is refused with a pointer to --calib.
    let out = attonet(&["inspect".as_ref(), s(&onnx)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--calib"));
}

/// A model with two inputs: one `--input` each, in order; `inspect` lists
/// both; a missing input is a clear error.
#[test]
fn run_takes_one_input_per_model_input() {
    let dir = repo().join("tests/op-goldens");
    let model = dir.join("add_2in.tflite");
    let (x0, x1) = (dir.join("add_2in_x0.npy"), dir.join("add_2in_x1.npy"));
    let y = tmp("add_2in_y.npy");
    let out = attonet(&[
        "run".as_ref(),
        s(&model),
        "--input".as_ref(),
        s(&x0),
        "--input".as_ref(),
        s(&x1),
        "--output".as_ref(),
        s(&y),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = Array::read(&y).unwrap();
    let golden = Array::read(&dir.join("add_2in_y.npy")).unwrap();
    assert_eq!((ours.shape, ours.data), (golden.shape, golden.data));

    // An output folder takes output0.npy, ...
    let folder = tmp("add_2in_out");
    let out = attonet(&[
        "run".as_ref(),
        s(&model),
        "--input".as_ref(),
        s(&x0),
        "--input".as_ref(),
        s(&x1),
        "--output".as_ref(),
        s(&folder),
        "--output".as_ref(),
        s(&tmp("extra.npy")),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the model has 1 outputs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = attonet(&[
        "run".as_ref(),
        s(&model),
        "--input".as_ref(),
        s(&x0),
        "--output".as_ref(),
        s(&tmp("never.npy")),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the model has 2 inputs"), "{err}");
    assert!(!tmp("never.npy").exists());

    let out = attonet(&["inspect".as_ref(), s(&model)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("input 0") && text.contains("input 1"),
        "{text}"
    );
}

/// `run` on models with other boundary types: a float32 input quantized by
/// the model (read as `<f4`), an int32 ARG_MAX output and a float32
/// DEQUANTIZE output (written as `<i4` and `<f4`), each equal to TensorFlow
/// Lite Micro's outputs; `inspect` names the types.
#[test]
fn run_reads_and_writes_int32_and_float32_tensors() {
    let goldens = repo().join("tests/op-goldens");
    for (case, dtype) in [
        ("quantize_float_in_fc", attonet_convert::npy::NpyType::I8),
        ("arg_max_4d_height", attonet_convert::npy::NpyType::I32),
        (
            "dequantize_float_out_avgpool",
            attonet_convert::npy::NpyType::F32,
        ),
    ] {
        let out_path = tmp(&format!("{case}_y.npy"));
        let model = goldens.join(format!("{case}.tflite"));
        let out = attonet(&[
            "run".as_ref(),
            s(&model),
            "--input".as_ref(),
            s(&goldens.join(format!("{case}_x.npy"))),
            "--output".as_ref(),
            s(&out_path),
        ]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = Array::read(&out_path).unwrap();
        let golden = Array::read(&goldens.join(format!("{case}_y.npy"))).unwrap();
        assert_eq!(ours.dtype, dtype, "{case}");
        assert_eq!(
            (ours.shape, ours.data),
            (golden.shape, golden.data),
            "{case}"
        );
    }
    let out = attonet(&[
        "inspect".as_ref(),
        s(&goldens.join("arg_max_4d_height.tflite")),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[1, 3, 4] int32"), "{text}");
    let out = attonet(&[
        "inspect".as_ref(),
        s(&goldens.join("quantize_float_in_fc.tflite")),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[1, 16] float32"), "{text}");
    // An int8 file where the model takes float32 is refused by name.
    let out = attonet(&[
        "run".as_ref(),
        s(&goldens.join("quantize_float_in_fc.tflite")),
        "--input".as_ref(),
        s(&goldens.join("dequantize_float_out_fc_x.npy")),
        "--output".as_ref(),
        s(&tmp("never.npy")),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be float32"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A reader that stops early (`attonet inspect m.tflite --json | head`)
/// ends the program quietly: status 0, no panic message, when the pipe is
/// closed before the report is written (the read end is dropped at once).
#[test]
fn a_closed_pipe_ends_inspect_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_attonet"))
        .args([s(Path::new("inspect")), s(&kws()), s(Path::new("--json"))])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("attonet starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("attonet ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
