#!/usr/bin/env python3
"""One-off check of AttoNet's UNIDIRECTIONAL_SEQUENCE_LSTM beyond its goldens: for every LSTM case
of tests/op-goldens, VARIANTS models with new quantization (`lstm_reference.requantize`: input,
hidden state and output scales and zero points, the cell state's scale, per-tensor weight scales,
the cell clip, a following FULLY_CONNECTED's), each run by TensorFlow Lite Micro and by AttoNet's
host runner (`attonet run`: the samples in turn on one arena, the state carried as TFLM carries it)
on 8 random int8 inputs, and counts byte-for-byte matches. Exits 1 on a wrong answer (a refusal is
counted, not an error). Not part of the suite (it needs a built CLI):

    cargo build -p attonet-cli
    .venv/bin/python tests/oracle/sweep_lstm.py [VARIANTS]   (default 20)
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lstm_reference as L  # noqa: E402
from tflm_check_ops import run_tflm  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "target" / "debug" / "attonet"


def main(argv):
    variants = int(argv[1]) if len(argv) > 1 else 20
    rng = np.random.default_rng(5)
    exact = wrong = refused = 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for case in L.lstm_cases():
            model_bytes = (L.GOLDENS / f"{case['name']}.tflite").read_bytes()
            for v in range(variants):
                m, _ = L.requantize(model_bytes, rng)
                xs = L.random_inputs(m, rng, 8)
                ys = run_tflm(m, xs, 1)
                (d / "m.tflite").write_bytes(m)
                np.save(d / "x.npy", xs[0])
                r = subprocess.run([str(CLI), "run", str(d / "m.tflite"), "--input", str(d / "x.npy"),
                                    "--output", str(d / "y.npy")], capture_output=True, text=True)
                if r.returncode != 0:
                    refused += 1
                    if v == 0:
                        print(f"{case['name']}: refused: {r.stderr.strip().splitlines()[-1]}")
                    continue
                y = np.load(d / "y.npy")
                if y.tobytes() == ys[0].tobytes():
                    exact += 1
                else:
                    wrong += 1
                    print(f"{case['name']} variant {v}: {int((y != ys[0]).sum())} of {y.size} bytes differ")
    print(f"LSTM variants: {exact} exact, {wrong} wrong, {refused} refused")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
