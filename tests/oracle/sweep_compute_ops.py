#!/usr/bin/env python3
"""One-off check of the compute ops (PRELU, LOG_SOFTMAX, L2_NORMALIZATION, TRANSPOSE_CONV,
BATCH_MATMUL) beyond their goldens: rewrites the quantization of their op-golden models (random
scales and zero points of the activations, of PRELU's alpha and of TRANSPOSE_CONV's per-channel
weights; LOG_SOFTMAX's and L2_NORMALIZATION's outputs keep the quantization TFLM requires), runs
TensorFlow Lite Micro and AttoNet's host runner (`attonet run`) on 16 random inputs each, and
counts byte-for-byte matches. Not part of the suite (it needs a built CLI):

    cargo build -p attonet-cli
    .venv/bin/python tests/oracle/sweep_compute_ops.py [MODELS_PER_CASE]   (default 20)
"""

import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime

REPO = Path(__file__).resolve().parents[2]
GOLDENS = REPO / "tests" / "op-goldens"
CLI = REPO / "target" / "debug" / "attonet"
schema_fb = runtime.schema_fb

CASES = [
    "prelu_per_channel", "prelu_shared", "log_softmax_10", "log_softmax_4d",
    "l2_normalization_2d", "l2_normalization_channels", "transpose_conv_3x3_s2_same",
    "transpose_conv_2x2_s2_valid", "transpose_conv_3x3_s1_same", "batch_matmul_2in",
    "batch_matmul_2in_adj_y", "batch_matmul_self_gram",
]
FIXED_OUTPUT = {"log_softmax": (16.0 / 256.0, 127), "l2_normalization": (1.0 / 128.0, 0)}


def rewrite(model_bytes, case, rng):
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    t = sg.tensors
    op = sg.operators[0]

    def set_q(i, scales, zps):
        t[i].quantization.scale = np.asarray(scales, dtype=np.float32)
        t[i].quantization.zeroPoint = np.asarray(zps, dtype=np.int64)

    def act_q():
        return [np.float32(10 ** rng.uniform(-3, 0))], [int(rng.integers(-128, 128))]

    ins = [int(i) for i in op.inputs]
    out = int(op.outputs[0])
    if case.startswith("transpose_conv"):
        set_q(ins[2], *act_q())
        w = ins[1]
        n = len(t[w].quantization.scale)
        set_q(w, (10 ** rng.uniform(-3, -1, n)).astype(np.float32), [0] * n)
        if len(ins) > 3 and ins[3] >= 0:  # the bias scale follows input x weight
            s_in = t[ins[2]].quantization.scale[0]
            set_q(ins[3], (s_in * t[w].quantization.scale).astype(np.float32), [0] * n)
    else:
        # Activations and PRELU's constant alpha alike (its stored bytes then
        # mean other reals; both sides read the same bytes). An operand given
        # twice (the self product) keeps one quantization.
        for i in sorted(set(i for i in ins if i >= 0)):
            set_q(i, *act_q())
    fixed = [v for k, v in FIXED_OUTPUT.items() if case.startswith(k)]
    if fixed:
        set_q(out, [np.float32(fixed[0][0])], [fixed[0][1]])
    else:
        set_q(out, *act_q())
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tflm(model_bytes, xs):
    interp = runtime.Interpreter.from_bytes(model_bytes, arena_size=1 << 20)
    d = interp.get_output_details(0)
    ys = np.empty((xs[0].shape[0], *[int(v) for v in d["shape"]]), dtype=np.int8)
    for n in range(xs[0].shape[0]):
        for k, x in enumerate(xs):
            interp.set_input(x[n], k)
        interp.invoke()
        ys[n] = interp.get_output(0).reshape(ys.shape[1:])
    return ys


def main():
    per_case = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    total = {"match": 0, "differ": 0, "refused": 0, "tflm_failed": 0}
    inner = [0, 0]  # output bytes strictly inside (-128, 127), all output bytes
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in CASES:
            base = (GOLDENS / f"{case}.tflite").read_bytes()
            rng = np.random.default_rng(zlib.crc32(case.encode()))
            counts = {k: 0 for k in total}
            for trial in range(per_case):
                m = rewrite(base, case, rng)
                interp = runtime.Interpreter.from_bytes(m, arena_size=1 << 20)
                shapes = [tuple(int(v) for v in interp.get_input_details(k)["shape"])
                          for k in range(len(runtime.convert_bytearray_to_object(bytearray(m)).subgraphs[0].inputs))]
                xs = [rng.integers(-128, 128, (16, *s), dtype=np.int8) for s in shapes]
                try:
                    want = tflm(m, xs)
                except Exception:
                    counts["tflm_failed"] += 1
                    continue
                mp = tmp / f"{case}_{trial}.tflite"
                mp.write_bytes(m)
                args = [str(CLI), "run", str(mp)]
                for k, x in enumerate(xs):
                    p = tmp / f"x{k}.npy"
                    np.save(p, x)
                    args += ["--input", str(p)]
                args += ["--output", str(tmp / "y.npy")]
                r = subprocess.run(args, capture_output=True, text=True)
                if r.returncode != 0:
                    counts["refused"] += 1
                    print(f"  {case} #{trial}: refused: {r.stderr.strip()[:200]}")
                    continue
                got = np.load(tmp / "y.npy").reshape(want.shape)
                inner[0] += int(((want > -128) & (want < 127)).sum())
                inner[1] += want.size
                if np.array_equal(got, want):
                    counts["match"] += 1
                else:
                    counts["differ"] += 1
                    diff = np.abs(got.astype(int) - want.astype(int))
                    print(f"  {case} #{trial}: DIFFERS at {int((diff > 0).sum())} of {diff.size} bytes, max {diff.max()}")
            print(f"{case}: {counts}")
            for k in total:
                total[k] += counts[k]
    print(f"total: {total}; {inner[0]} of {inner[1]} output bytes unsaturated")
    return 1 if total["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
