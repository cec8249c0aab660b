#!/usr/bin/env python3
"""Re-run TensorFlow Lite Micro on every case of the op-level golden suite and compare its outputs
byte for byte with the committed goldens.

    .venv/bin/python tests/oracle/tflm_check_ops.py [DIR]    (default tests/op-goldens)

Needs only the oracle venv (`cargo xtask setup-python`), not TensorFlow. For every case of
DIR/manifest.json: the model's builtin op list must be the manifest's, the inputs' dtypes and
shapes the manifest's, and TFLM's outputs on the committed inputs exactly the committed
`_y*.npy` (dtype, shape and bytes). Files in DIR that no case names are errors too. Exits 1
naming every mismatch; `cargo xtask test` runs it. The generator (make_op_models.py) produces the
goldens with `run_tflm` below, so both run TFLM the same way.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "tests" / "op-goldens"
# Explicit so the arena never depends on the model size (TFLM's default is 10x the model).
ARENA_BYTES = 1 << 20

schema_fb = runtime.schema_fb
OP_NAMES = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if k.isupper()}


def builtin_ops(model_bytes):
    """The builtin op names of every operator of every subgraph, in order."""
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    return [
        OP_NAMES.get(code, f"BUILTIN_{code}")
        for sg in model.subgraphs
        for op in sg.operators or []
        for code in [runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])]
    ]


def run_tflm(model_bytes, xs, n_out):
    """TFLM's outputs for a batch: xs holds one [N, *shape] array per model input; returns one
    [N, *shape] array per model output. One interpreter runs the N samples in turn."""
    interp = runtime.Interpreter.from_bytes(model_bytes, arena_size=ARENA_BYTES)
    n = xs[0].shape[0]
    out_det = [interp.get_output_details(k) for k in range(n_out)]
    ys = [np.empty((n, *[int(v) for v in d["shape"]]), dtype=d["dtype"]) for d in out_det]
    for i in range(n):
        for k, x in enumerate(xs):
            interp.set_input(x[i], k)
        interp.invoke()
        for k in range(n_out):
            ys[k][i] = interp.get_output(k).reshape(ys[k].shape[1:])
    return ys


def check_case(d, case):
    """The list of problems with one case (empty when TFLM reproduces it exactly)."""
    name = case["name"]
    problems = []
    model = (d / case["model"]).read_bytes()
    ops = builtin_ops(model)
    if ops != case["ops"]:
        problems.append(f"{name}: the model's ops are {ops}, the manifest says {case['ops']}")
    xs = []
    for spec in case["inputs"]:
        x = np.load(d / spec["file"])
        if str(x.dtype) != spec["dtype"] or list(x.shape[1:]) != spec["shape"]:
            problems.append(f"{name}: {spec['file']} is {x.dtype} {list(x.shape)}, "
                            f"the manifest says {spec['dtype']} [N, {spec['shape']}]")
        xs.append(x)
    try:
        ys = run_tflm(model, xs, len(case["outputs"]))
    except Exception as e:  # noqa: BLE001 - reported as a mismatch
        return problems + [f"{name}: TFLM failed: {type(e).__name__}: {e}"]
    for spec, y in zip(case["outputs"], ys):
        golden = np.load(d / spec["file"])
        if golden.dtype != y.dtype or golden.shape != y.shape:
            problems.append(f"{name}: TFLM gives {y.dtype} {list(y.shape)}, {spec['file']} is "
                            f"{golden.dtype} {list(golden.shape)}")
        elif golden.tobytes() != y.tobytes():
            diff = int(np.count_nonzero(golden.reshape(-1) != y.reshape(-1)))
            problems.append(f"{name}: TFLM's output differs from {spec['file']} in {diff} of {y.size} elements")
    return problems


def main(argv):
    d = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    manifest = json.loads((d / "manifest.json").read_text())
    t0 = time.perf_counter()
    problems, named = [], {"manifest.json", "README.md", "expected_pass.txt", "known_wrong.txt"}
    bad = 0
    for case in manifest["cases"]:
        named.add(case["model"])
        named.update(s["file"] for s in case["inputs"] + case["outputs"])
        found = check_case(d, case)
        bad += bool(found)
        problems += found
    stray = sorted(p.name for p in d.iterdir() if p.name not in named)
    if stray:
        problems.append(f"files no case names: {', '.join(stray)}")
    for p in problems:
        print(f"MISMATCH {p}", file=sys.stderr)
    n = len(manifest["cases"])
    print(f"{d}: {n} op cases, {n - bad} reproduced exactly by TFLM "
          f"{manifest['versions']['tflite-micro']} in {time.perf_counter() - t0:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
