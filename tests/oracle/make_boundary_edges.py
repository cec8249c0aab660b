"""Edge cases of the float model boundaries (QUANTIZE float32 -> int8, DEQUANTIZE int8 -> float32)
through TensorFlow Lite Micro, for `crates/attonet-convert/tests/float_boundaries.rs`.

Cuts two op-golden models down to their boundary op alone (QUANTIZE of
`quantize_float_in_avgpool`, DEQUANTIZE of `dequantize_float_out_fc`), so every output byte is one
op's answer, and runs TFLM (the pinned `tflite-micro` of `requirements.txt`, the oracle venv) on:

* QUANTIZE: values at and next to every rounding tie `(k + 1/2) * scale` and every integer
  multiple `k * scale` for k in -300..300, infinities, NaN, signed zeros, the smallest
  subnormals, values beyond the int32 range of `x / scale`, 2000 normal samples and 2000 random
  bit patterns (any float32);
* DEQUANTIZE: all 256 int8 values.

Writes `tests/boundary-edges/{quantize,dequantize}_only.tflite`, `*_x.npy` and TFLM's `*_y.npy`;
with `--check`, writes nothing and fails unless TFLM reproduces the committed `*_y.npy` byte for
byte from the committed models and inputs (what CI can run, as for the op goldens).

    .venv/bin/python tests/oracle/make_boundary_edges.py [--check]
"""
import sys
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime

ROOT = Path(__file__).resolve().parents[2]
GOLDENS = ROOT / "tests/op-goldens"
OUT = ROOT / "tests/boundary-edges"


def load(name):
    return runtime.convert_bytearray_to_object(bytearray((GOLDENS / name).read_bytes()))


def save(model, path):
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))


def run(path, xs):
    interp = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=1 << 16)
    ys = []
    for x in xs:
        interp.set_input(x, 0)
        interp.invoke()
        ys.append(interp.get_output(0).copy())
    return np.stack(ys)


def check():
    bad = []
    for case in ["quantize_only", "dequantize_only"]:
        x = np.load(OUT / f"{case}_x.npy")
        y = np.load(OUT / f"{case}_y.npy")
        got = run(OUT / f"{case}.tflite", x)
        if got.dtype != y.dtype or got.shape != y.shape or got.tobytes() != y.tobytes():
            bad.append(case)
    if bad:
        sys.exit(f"TFLM does not reproduce {', '.join(bad)} in {OUT}")
    print(f"TFLM reproduces every output in {OUT}")


def main():
    if "--check" in sys.argv[1:]:
        return check()
    OUT.mkdir(exist_ok=True)
    # QUANTIZE alone: the model output is the QUANTIZE's output.
    m = load("quantize_float_in_avgpool.tflite")
    sg = m.subgraphs[0]
    q = sg.operators[0]
    sg.operators = [q]
    sg.outputs = np.array([q.outputs[0]], dtype=np.int32)
    path = OUT / "quantize_only.tflite"
    save(m, path)
    s = np.float32(sg.tensors[q.outputs[0]].quantization.scale[0])
    shape = [int(d) for d in sg.tensors[q.inputs[0]].shape]
    rng = np.random.default_rng(20261206)
    vals = []
    for k in range(-300, 300):
        tie = np.float32(k + 0.5) * s
        vals += [tie, np.nextafter(tie, np.float32(np.inf)), np.nextafter(tie, np.float32(-np.inf))]
        vals.append(np.float32(k) * s)
    vals += [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e30, -1e30, 3.4e38, -3.4e38, 1e-45, -1e-45]
    vals += [np.float32(2.0**31) * s, np.float32(-(2.0**31)) * s, np.float32(2.0**24) * s]
    vals += list(rng.standard_normal(2000).astype(np.float32) * 3)
    vals += list(rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32).view(np.float32))
    per = int(np.prod(shape))
    v = np.array(vals, dtype=np.float32)
    v = np.concatenate([v, np.zeros(-len(v) % per, dtype=np.float32)])
    x = v.reshape(-1, *shape)
    np.save(OUT / "quantize_only_x.npy", x)
    np.save(OUT / "quantize_only_y.npy", run(path, x))
    # DEQUANTIZE alone: the model input is the DEQUANTIZE's input.
    m = load("dequantize_float_out_fc.tflite")
    sg = m.subgraphs[0]
    d = sg.operators[1]
    sg.operators = [d]
    sg.inputs = np.array([d.inputs[0]], dtype=np.int32)
    path = OUT / "dequantize_only.tflite"
    save(m, path)
    shape = [int(d) for d in sg.tensors[d.inputs[0]].shape]
    x = np.arange(-128, 128, dtype=np.int8).reshape(-1, *shape)
    np.save(OUT / "dequantize_only_x.npy", x)
    np.save(OUT / "dequantize_only_y.npy", run(path, x))
    print(f"wrote {OUT}: {v.size} QUANTIZE inputs, 256 DEQUANTIZE inputs")


if __name__ == "__main__":
    main()
