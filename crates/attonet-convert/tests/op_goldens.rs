//! The op-level golden suite (`tests/op-goldens`): tiny models made by the
//! real TensorFlow Lite converter, one or a few operators each, with
//! TensorFlow Lite Micro's outputs on a random batch (see that folder's
//! README and `tests/oracle/make_op_models.py`).
//!
//! Every case must either convert and give exactly TFLM's bytes on every
//! sample (the host runner, with the default fused plan and unfused), or be
//! refused with a [`ConvertError`] naming the operator (its builtin name and
//! its index in the model). A model whose operators are all supported may be
//! refused at the graph instead, only for what the runner does not take:
//! a model input or output type it does not take (int16), or a batch
//! dimension other than 1. Models with several inputs or outputs run with
//! every input file (`_x0.npy`, `_x1.npy`, ...) and compare every output
//! (`_y0.npy`, ...); int32 and float32 tensors as their bytes. A
//! wrong answer, a panic, a failed run or any other error fails, unless the
//! case is listed in `known_wrong.txt`; the set of bit-exact cases must be
//! exactly `expected_pass.txt`.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use attonet_convert::npy::{Array, NpyType};
use attonet_convert::{assemble_bytes, Assembled, ConvertError};
use serde_json::Value;

/// A suite folder of the repository's `tests/`.
fn suite_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(name)
}

/// One manifest case, as far as this test needs it.
struct Case {
    name: String,
    op: String,
    dtype: String,
    ops: Vec<String>,
    model: String,
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
    /// The first input's shape.
    input_shape: Vec<u64>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn files(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("an array of files")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().expect("file").to_string(),
                f["dtype"].as_str().expect("dtype").to_string(),
            )
        })
        .collect()
}

fn read_manifest(dir: &Path) -> Vec<Case> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let manifest: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    manifest["cases"]
        .as_array()
        .expect("manifest cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            op: c["op"].as_str().expect("op").to_string(),
            dtype: c["dtype"].as_str().expect("dtype").to_string(),
            ops: strings(&c["ops"]),
            model: c["model"].as_str().expect("model").to_string(),
            inputs: files(&c["inputs"]),
            outputs: files(&c["outputs"]),
            input_shape: c["inputs"][0]["shape"]
                .as_array()
                .expect("input shape")
                .iter()
                .map(|d| d.as_u64().expect("a dimension"))
                .collect(),
        })
        .collect()
}

/// A list file: one case name a line (first word), `#` comments.
fn read_list(path: &Path) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Converted; every output byte equals TFLM's.
    Exact,
    /// Refused with an error naming the operator and its index (the message).
    RefusedOp(String),
    /// Refused at the graph: other input or output types or a larger batch
    /// than the runner takes (the message).
    RefusedGraph(String),
    /// Anything else: a wrong answer, a panic, a failed run, an unexplained refusal.
    Wrong(String),
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// Does a refusal name the operator at that index by its builtin name?
fn names_op(case: &Case, index: usize, name: &str, message: &str) -> Result<(), String> {
    // The lowering's checks of the model input speak as "model input".
    if name == "model input" {
        return Err(format!("refused at the model input: {message}"));
    }
    match case.ops.get(index) {
        Some(op) if op == name && message.contains(&format!("operator {index} ({name})")) => Ok(()),
        Some(op) => Err(format!(
            "refused naming operator {index} ({name}), but operator {index} is {op}: {message}"
        )),
        None => Err(format!(
            "refused naming operator {index} ({name}), but the model has {} operators: {message}",
            case.ops.len()
        )),
    }
}

fn classify_refusal(case: &Case, e: &ConvertError) -> Outcome {
    let message = e.to_string();
    let batch = case.input_shape.first().copied().unwrap_or(1);
    if batch != 1 && message.contains(&format!("has batch size {batch}")) {
        // Plans run one sample at a time.
        return Outcome::RefusedGraph(message);
    }
    let named = match e {
        ConvertError::UnsupportedOp { index, name, .. } => names_op(case, *index, name, &message),
        ConvertError::TensorType { index, op, .. } | ConvertError::Invalid { index, op, .. } => {
            names_op(case, *index, op, &message)
        }
        ConvertError::Graph(_) => {
            let io_type = case
                .inputs
                .iter()
                .chain(&case.outputs)
                .any(|(_, dtype)| dtype != "int8");
            let says_why = io_type && message.contains("int8 or int16 (16x8) is required");
            if says_why {
                return Outcome::RefusedGraph(message);
            }
            Err(format!(
                "refused at the graph without naming an operator: {message}"
            ))
        }
        other => Err(format!("refused with an unexpected error: {other}")),
    };
    match named {
        Ok(()) => Outcome::RefusedOp(message),
        Err(why) => Outcome::Wrong(why),
    }
}

/// Runs every sample through one plan and compares every output with
/// TFLM's bytes.
fn run_plan(dir: &Path, case: &Case, assembled: &Assembled, plan: &str) -> Result<(), String> {
    let model = assembled.model();
    if (model.inputs.len(), model.outputs.len()) != (case.inputs.len(), case.outputs.len()) {
        return Err(format!(
            "converted with {} inputs and {} outputs, but the case has {} and {}",
            model.inputs.len(),
            model.outputs.len(),
            case.inputs.len(),
            case.outputs.len()
        ));
    }
    let read = |file: &str| Array::read(&dir.join(file)).map_err(|e| e.to_string());
    // Every tensor's bytes as the arena holds them: int8, or little-endian
    // int16 / int32 / float32 (the .npy files' `<i2` / `<i4` / `<f4`),
    // compared byte for byte.
    let npy_type = NpyType::of_element;
    let mut xs = Vec::new();
    for ((file, _), io) in case.inputs.iter().zip(model.inputs) {
        let x = read(file)?;
        if x.dtype != npy_type(io.dtype) {
            return Err(format!(
                "converted with a {:?} input, but {file} is {:?}",
                io.dtype, x.dtype
            ));
        }
        let x: Vec<i8> = x.data.iter().map(|&b| b as i8).collect();
        xs.push((file, x, io.len()));
    }
    let mut ys = Vec::new();
    for ((file, _), io) in case.outputs.iter().zip(model.outputs) {
        let y = read(file)?;
        if y.dtype != npy_type(io.dtype) {
            return Err(format!(
                "converted with a {:?} output, but {file} is {:?}",
                io.dtype, y.dtype
            ));
        }
        ys.push((file, y.data, io.len()));
    }
    // The batch: every file holds the same number of samples.
    let samples = xs[0].1.len() / xs[0].2.max(1);
    for (file, bytes, len) in xs
        .iter()
        .map(|(f, x, l)| (f, x.len(), l))
        .chain(ys.iter().map(|(f, y, l)| (f, y.len(), l)))
    {
        if *len == 0 || bytes != samples * len {
            return Err(format!(
                "{plan} plan: a tensor of {len} elements does not fit {samples} samples of {file} ({bytes} bytes)"
            ));
        }
    }
    // The samples run in turn on one arena: a model with state (SVDF)
    // carries it from each sample to the next, as TFLM's interpreter did when
    // it made the goldens, starting where TFLM starts it.
    let mut arena = vec![0i8; model.arena_bytes as usize];
    model
        .reset_state(&mut arena)
        .map_err(|e| format!("{plan} plan: resetting the state failed: {e:?}"))?;
    let mut outs: Vec<Vec<i8>> = ys.iter().map(|(_, _, len)| vec![0i8; *len]).collect();
    let mut wrong = Vec::new();
    for i in 0..samples {
        let inputs: Vec<&[i8]> = xs
            .iter()
            .map(|(_, x, len)| &x[i * len..(i + 1) * len])
            .collect();
        let mut out_refs: Vec<&mut [i8]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        model
            .infer_multi(&mut arena, &inputs, &mut out_refs)
            .map_err(|e| format!("{plan} plan: sample {i}: the run failed: {e:?}"))?;
        for (out, (file, y, len)) in outs.iter().zip(&ys) {
            let golden = &y[i * len..(i + 1) * len];
            let diffs: Vec<usize> = (0..*len).filter(|&k| out[k] as u8 != golden[k]).collect();
            if let Some(&k) = diffs.first() {
                wrong.push(format!(
                    "sample {i} of {file}: {} of {len} bytes differ, first at {k}: ours {} TFLM {}",
                    diffs.len(),
                    out[k],
                    golden[k] as i8
                ));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{plan} plan: WRONG ANSWER: {}", wrong.join("; ")))
    }
}

fn outcome(dir: &Path, case: &Case) -> Outcome {
    let path = dir.join(&case.model);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let converted = catch_unwind(AssertUnwindSafe(|| assemble_bytes(&bytes, "op_case")));
    let assembled = match converted {
        Err(p) => return Outcome::Wrong(format!("PANIC while converting: {}", panic_text(&*p))),
        Ok(Err(e)) => return classify_refusal(case, &e),
        Ok(Ok(a)) => a,
    };
    let ran = catch_unwind(AssertUnwindSafe(|| {
        run_plan(dir, case, &assembled, "fused")?;
        let unfused = assembled
            .unfused()
            .map_err(|e| format!("the unfused plan failed: {e}"))?;
        run_plan(dir, case, &unfused, "unfused")
    }));
    match ran {
        Err(p) => Outcome::Wrong(format!("PANIC while running: {}", panic_text(&*p))),
        Ok(Err(why)) => Outcome::Wrong(why),
        Ok(Ok(())) => Outcome::Exact,
    }
}

#[test]
fn op_goldens_are_bit_exact_or_refused() {
    check_suite(&suite_dir("op-goldens"), 100);
}

/// The models made without the TFLite converter (`tests/op-goldens-built`,
/// `tests/oracle/make_built_models.py`): QUANTIZE between integer types,
/// uint8 and int16 boundaries, SVDF with its state over 16 samples in turn.
#[test]
fn built_op_goldens_are_bit_exact_or_refused() {
    check_suite(&suite_dir("op-goldens-built"), 20);
}

/// Every case of the suite in `dir` (at least `min_cases`) bit-exact or
/// refused as the module says; the bit-exact set equal to the folder's
/// `expected_pass.txt`, the wrong set to its `known_wrong.txt`.
fn check_suite(dir: &Path, min_cases: usize) {
    let cases = read_manifest(dir);
    assert!(
        cases.len() >= min_cases,
        "only {} cases in {}",
        cases.len(),
        dir.display()
    );
    let expected_pass = read_list(&dir.join("expected_pass.txt"));
    let known_wrong = read_list(&dir.join("known_wrong.txt"));

    // (op, dtype) -> [exact, refused at the op, refused at the graph, wrong]
    let mut table: BTreeMap<(String, String), [usize; 4]> = BTreeMap::new();
    let mut exact = BTreeSet::new();
    let mut wrong = BTreeMap::new();
    let mut refusals = Vec::new();
    for case in &cases {
        let o = outcome(dir, case);
        let row = table
            .entry((case.op.clone(), case.dtype.clone()))
            .or_default();
        match o {
            Outcome::Exact => {
                row[0] += 1;
                exact.insert(case.name.clone());
            }
            Outcome::RefusedOp(m) => {
                row[1] += 1;
                refusals.push(format!("refused {}: {m}", case.name));
            }
            Outcome::RefusedGraph(m) => {
                row[2] += 1;
                refusals.push(format!("refused {} (graph): {m}", case.name));
            }
            Outcome::Wrong(why) => {
                row[3] += 1;
                wrong.insert(case.name.clone(), why);
            }
        }
    }

    println!(
        "{:<26} {:<5} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "op", "dtype", "cases", "exact", "ref-op", "ref-gr", "WRONG"
    );
    let mut totals = [0usize; 4];
    for ((op, dtype), row) in &table {
        println!(
            "{op:<26} {dtype:<5} {:>6} {:>6} {:>6} {:>6} {:>6}",
            row.iter().sum::<usize>(),
            row[0],
            row[1],
            row[2],
            row[3]
        );
        for (t, r) in totals.iter_mut().zip(row) {
            *t += r;
        }
    }
    println!(
        "{:<32} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "total",
        cases.len(),
        totals[0],
        totals[1],
        totals[2],
        totals[3]
    );
    println!("(exact: converted, every output byte equals TFLM's; ref-op: refused naming the operator; ref-gr: refused at the graph, other input/output types or a larger batch than the runner takes)");
    for line in &refusals {
        println!("{line}");
    }
    for (name, why) in &wrong {
        println!("WRONG {name}: {why}");
    }

    let mut failures = Vec::new();
    let unexpected_wrong: Vec<_> = wrong
        .iter()
        .filter(|(n, _)| !known_wrong.contains(*n))
        .map(|(n, why)| format!("  {n}: {why}"))
        .collect();
    if !unexpected_wrong.is_empty() {
        failures.push(format!(
            "wrong answers, panics or unexplained refusals:\n{}",
            unexpected_wrong.join("\n")
        ));
    }
    let fixed: Vec<_> = known_wrong
        .iter()
        .filter(|n| !wrong.contains_key(*n))
        .cloned()
        .collect();
    if !fixed.is_empty() {
        failures.push(format!(
            "listed in {}/known_wrong.txt but no longer wrong (remove them): {}",
            dir.display(),
            fixed.join(", ")
        ));
    }
    let regressed: Vec<_> = expected_pass.difference(&exact).cloned().collect();
    if !regressed.is_empty() {
        failures.push(format!(
            "REGRESSION: listed in {}/expected_pass.txt but not bit-exact now: {}",
            dir.display(),
            regressed.join(", ")
        ));
    }
    let new_passes: Vec<_> = exact.difference(&expected_pass).cloned().collect();
    if !new_passes.is_empty() {
        failures.push(format!(
            "new bit-exact cases: add them to {}/expected_pass.txt so they stay passing:\n{}",
            dir.display(),
            new_passes.join("\n")
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
