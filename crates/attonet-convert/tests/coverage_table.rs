//! The README's operator coverage table lists exactly the TFLite builtins
//! the front end's op table reads (`frontend/tflite/ops`): a builtin added
//! to the table without a README row, or a row for an op the front end
//! refuses, fails here. Rows for shape arithmetic the reader folds to
//! constants, and for ops marked "not yet", are not read ops and are left
//! out of the comparison.

use std::collections::BTreeSet;

/// The first cells of the README's coverage table, each split into its
/// names, with whether the row is exempt (folded or not yet supported).
fn readme_rows() -> Vec<(Vec<String>, bool)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the workspace root");
    let section = readme
        .split("## Operator coverage")
        .nth(1)
        .expect("the README has an 'Operator coverage' section");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in section.lines() {
        if line.starts_with("| TFLite op") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (first, kernel) = (cells[1], cells[3]);
        let exempt = first.contains("not yet") || kernel.starts_with("(folded");
        let names = first
            .split([',', '('])
            .map(str::trim)
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(String::from)
            .collect();
        rows.push((names, exempt));
    }
    rows
}

#[test]
fn readme_coverage_table_matches_the_tflite_op_table() {
    let read: BTreeSet<String> = attonet_convert::frontend::tflite::supported_builtins()
        .map(String::from)
        .collect();
    let rows = readme_rows();
    assert!(
        rows.len() > 40,
        "the table was not found ({} rows)",
        rows.len()
    );
    let listed: BTreeSet<String> = rows
        .iter()
        .filter(|(_, exempt)| !exempt)
        .flat_map(|(names, _)| names.iter().cloned())
        .collect();
    let missing: Vec<_> = read.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&read).collect();
    assert!(
        missing.is_empty(),
        "builtins the front end reads without a README coverage row: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "README coverage rows for builtins the front end does not read: {extra:?}"
    );
}

/// Every ONNX operator the front end reads is named in the table's ONNX
/// column (as itself, or among the ops folded or fused into another).
#[test]
fn readme_coverage_table_names_every_onnx_operator() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the workspace root");
    let section = readme
        .split("## Operator coverage")
        .nth(1)
        .expect("coverage section");
    let words: BTreeSet<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| TFLite op"))
        .filter_map(|l| l.split('|').nth(2))
        .flat_map(|cell| cell.split(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    let missing: Vec<&str> = attonet_convert::frontend::onnx::supported_operators()
        .filter(|op| !words.contains(op))
        .collect();
    assert!(
        missing.is_empty(),
        "ONNX operators the front end reads that the README's coverage table does not name: {missing:?}"
    );
}
