#!/usr/bin/env python3
"""Run TensorFlow Lite Micro (the reference AttoNet must match bit for bit) over a batch.

    python tests/oracle/tflm_run.py MODEL.tflite IN.npy OUT.npy [--dump-layers DIR] [--limit N]
        [--labels Y.npy] [--print-allocations] [--arena-size BYTES]

IN is int8 [N, ...model input shape without its batch dimension of 1]; OUT is written as int8
[N, ...output shape without the batch dimension]. Use the venv from `cargo xtask setup-python`.

--dump-layers DIR   also run the first sample with kPreserveAllTensors and write every tensor of
                    subgraph 0 (activations, weights, biases) as DIR/t{index}_{name}.npy, plus
                    DIR/tensors.json (name, shape, dtype, scales, zero points, producing op) and the
                    operator list, for layer-by-layer mismatch hunting.
--labels Y.npy      print top-1 accuracy of OUT against these labels.
--print-allocations print TFLM's RecordingMicroAllocator arena report (captured from C stderr)
                    and the total arena size in bytes.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime

schema_fb = runtime.schema_fb
OP_NAMES = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if k.isupper()}
TYPE_NAMES = {v: k for k, v in vars(schema_fb.TensorType).items() if k.isupper()}


def save_npy(path, array):
    """np.save to `path` atomically (temporary file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def capture_c_stderr(fn):
    """Runs fn() and returns what it wrote to file descriptor 2 (C-level stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode(errors="replace")


def make_interpreter(model_bytes, arena_size, config):
    return runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size, intrepreter_config=config)


def safe_name(name, limit=120):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:limit].strip("_") or "unnamed"


def quant_dict(q):
    if q is None or q.scale is None:
        return None
    return {
        "scales": [float(s) for s in q.scale],
        "zero_points": [int(z) for z in q.zeroPoint],
        "quantized_dimension": int(q.quantizedDimension),
    }


def dump_layers(model_bytes, arena_size, sample, in_shape, out_dir):
    """Runs one sample keeping every tensor and writes them all to out_dir."""
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    if len(model.subgraphs) != 1:
        print(f"warning: model has {len(model.subgraphs)} subgraphs; dumping subgraph 0 only", file=sys.stderr)
    sg = model.subgraphs[0]
    interp = make_interpreter(model_bytes, arena_size, runtime.InterpreterConfig.kPreserveAllTensors)
    interp.set_input(sample.reshape(in_shape), 0)
    interp.invoke()

    producers = {}
    ops = []
    for i, op in enumerate(sg.operators or []):
        code = runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
        name = OP_NAMES.get(code, str(code))
        inputs = [int(t) for t in op.inputs]
        outputs = [int(t) for t in op.outputs]
        ops.append({"index": i, "op": name, "inputs": inputs, "outputs": outputs})
        for t in outputs:
            producers[t] = i

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = []
    for i, t in enumerate(sg.tensors):
        name = t.name.decode(errors="replace") if isinstance(t.name, bytes) else str(t.name)
        info = interp.GetTensor(i, 0)
        data = np.array(info["tensor_data"], copy=True)
        fname = f"t{i}_{safe_name(name)}.npy"
        np.save(out_dir / fname, data)
        buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        tensors.append({
            "index": i,
            "name": name,
            "file": fname,
            "shape": [int(d) for d in data.shape],
            "dtype": TYPE_NAMES.get(t.type, str(t.type)),
            "quantization": quant_dict(t.quantization),
            "constant": bool(buf is not None and buf.data is not None and len(buf.data) > 0),
            "produced_by_op": producers.get(i),
        })
    meta = {
        "inputs": [int(t) for t in sg.inputs],
        "outputs": [int(t) for t in sg.outputs],
        "operators": ops,
        "tensors": tensors,
    }
    (out_dir / "tensors.json").write_text(json.dumps(meta, indent=1))
    print(f"dumped {len(tensors)} tensors of sample 0 to {out_dir}", file=sys.stderr)
    return np.array(interp.get_output(0), copy=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help=".tflite model")
    ap.add_argument("inputs", help="int8 .npy [N, ...input shape]")
    ap.add_argument("outputs", help="int8 .npy to write [N, ...output shape]")
    ap.add_argument("--dump-layers", metavar="DIR", help="dump every tensor of the first sample here")
    ap.add_argument("--limit", type=int, metavar="N", help="run only the first N samples")
    ap.add_argument("--labels", metavar="Y.npy", help="labels [N] to report top-1 accuracy against")
    ap.add_argument("--print-allocations", action="store_true", help="print TFLM's arena report")
    ap.add_argument("--arena-size", type=int, help="tensor arena bytes (default: TFLM's 10x model size)")
    args = ap.parse_args()

    model_bytes = Path(args.model).read_bytes()
    x = np.load(args.inputs)
    if args.limit is not None:
        x = x[: args.limit]

    interp = make_interpreter(model_bytes, args.arena_size, runtime.InterpreterConfig.kAllocationRecording)
    in_det, out_det = interp.get_input_details(0), interp.get_output_details(0)
    in_shape = tuple(int(d) for d in in_det["shape"])
    out_shape = tuple(int(d) for d in out_det["shape"])
    if in_shape[0] != 1 or out_shape[0] != 1:
        sys.exit(f"error: expected batch-1 model, input {in_shape}, output {out_shape}")
    if x.dtype != in_det["dtype"] or x.shape[1:] != in_shape[1:]:
        sys.exit(f"error: {args.inputs}: expected {np.dtype(in_det['dtype'])} [N, {', '.join(map(str, in_shape[1:]))}], "
                 f"found {x.dtype} {list(x.shape)}")
    n = x.shape[0]

    out = np.empty((n,) + out_shape[1:], dtype=out_det["dtype"])
    t0 = time.perf_counter()
    for i in range(n):
        interp.set_input(x[i].reshape(in_shape), 0)
        interp.invoke()
        out[i] = interp.get_output(0).reshape(out_shape[1:])
    elapsed = time.perf_counter() - t0
    save_npy(args.outputs, out)
    per = 1000 * elapsed / n if n else 0.0
    print(f"{args.model}: {n} samples in {elapsed:.1f} s ({per:.2f} ms each) -> {args.outputs}")

    if args.print_allocations:
        if n == 0:
            sys.exit("error: --print-allocations needs at least one sample")
        report = capture_c_stderr(interp.print_allocations)
        sys.stderr.write(report)
        m = re.search(r"Arena allocation total (\d+) bytes", report)
        print(f"arena: {m.group(1) if m else 'unknown'} bytes")

    if args.dump_layers and n:
        first = dump_layers(model_bytes, args.arena_size, x[0], in_shape, args.dump_layers)
        if not np.array_equal(first.reshape(out_shape[1:]), out[0]):
            sys.exit("error: kPreserveAllTensors output of sample 0 differs from the batch run")

    if args.labels:
        y = np.load(args.labels)[:n]
        if y.shape != (n,):
            sys.exit(f"error: {args.labels}: expected [{n}] labels, found {list(y.shape)}")
        pred = out.reshape(n, -1).argmax(axis=1)
        correct = int((pred == y).sum())
        print(f"top-1: {correct}/{n} = {100.0 * correct / n:.2f} %")


if __name__ == "__main__":
    main()
