#!/usr/bin/env python3
"""Build int8 input batches (and their labels) for the TFLM reference oracle.

    python tests/oracle/make_inputs.py cifar OUT_X.npy [--split test|train] [--src DIR] [--limit N]
    python tests/oracle/make_inputs.py kws   OUT_X.npy [--src DIR] [--limit N]
    python tests/oracle/make_inputs.py person OUT_X.npy [--src DIR] [--limit N]
    python tests/oracle/make_inputs.py random OUT_X.npy --shape D0,D1,... --limit N [--seed S]
    python tests/oracle/make_inputs.py sweep  OUT_X.npy

cifar: from `.data/cifar10/{split}_x.npy` (written by `cargo xtask fetch-cifar10`), uint8 pixels
       H, W, RGB -> int8 `pixel - 128`, shape [N, 32, 32, 3] (the ResNet-8 input is scale 1.0,
       zero point -128).
kws:   the MLPerf Tiny / EEMBC KWS perf samples (`*.bin`, 490 int8 bytes each), sorted by file
       name -> int8 [N, 49, 10, 1]. Labels come from `y_labels.csv` (`file,classes,label`) when
       present, else from the file name's trailing `_<label>.bin`; when both exist they must agree.

person: CIFAR-10 images as `person_detect.tflite` takes them (96x96 grayscale): luma
       `(299 R + 587 G + 114 B + 500) // 1000` in integers, each pixel repeated 3x3, then
       `pixel - 128` -> int8 [N, 96, 96, 1]; the CIFAR labels are written beside them.
random: N samples of shape D0,D1,... of int8 drawn uniformly from the whole range by splitmix64
       (seed S, default 1): byte k of the batch is the low byte of the k-th output, so the Rust
       tests regenerate the same batch (`attonet_generated_tests` has the twin). No labels.
sweep: every int8 value once, [256, 1] (-128 first), for single-input models. No labels.

Labels are written as uint8 [N] next to OUT_X: `foo_x.npy` -> `foo_y.npy`, otherwise
`foo.npy` -> `foo_labels.npy` (or --labels-out PATH).
"""

import argparse
import csv
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CIFAR = REPO / ".data" / "cifar10"
DEFAULT_KWS = REPO.parent / "shared" / "data" / "mlperf-tiny" / "kws" / "perf_samples"
KWS_SHAPE = (49, 10, 1)


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


def labels_path(out_x):
    out_x = Path(out_x)
    if out_x.name.endswith("_x.npy"):
        return out_x.with_name(out_x.name[: -len("_x.npy")] + "_y.npy")
    return out_x.with_name(out_x.stem + "_labels.npy")


def cifar(src, split):
    xp, yp = Path(src) / f"{split}_x.npy", Path(src) / f"{split}_y.npy"
    for p in (xp, yp):
        if not p.is_file():
            sys.exit(f"error: {p} not found; run `cargo xtask fetch-cifar10` first")
    x, y = np.load(xp), np.load(yp)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        sys.exit(f"error: {xp}: expected uint8 [N,32,32,3], found {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        sys.exit(f"error: {yp}: expected [{x.shape[0]}] labels, found {y.shape}")
    q = (x.astype(np.int16) - 128).astype(np.int8)
    return q, y.astype(np.uint8)


def kws(src):
    src = Path(src)
    files = sorted(p for p in src.glob("*.bin"))
    if not files:
        sys.exit(f"error: no *.bin files in {src}")
    csv_labels = {}
    csv_path = src / "y_labels.csv"
    if csv_path.is_file():
        with open(csv_path, newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 3 and row[0].endswith(".bin"):
                    csv_labels[row[0]] = int(row[2])
    xs, ys = [], []
    for p in files:
        data = p.read_bytes()
        if len(data) != int(np.prod(KWS_SHAPE)):
            sys.exit(f"error: {p}: expected {int(np.prod(KWS_SHAPE))} bytes, found {len(data)}")
        xs.append(np.frombuffer(data, dtype=np.int8).reshape(KWS_SHAPE))
        m = re.search(r"_(\d+)\.bin$", p.name)
        from_name = int(m.group(1)) if m else None
        label = csv_labels.get(p.name, from_name)
        if label is None:
            sys.exit(f"error: no label for {p.name} (not in y_labels.csv, none in the file name)")
        if from_name is not None and label != from_name:
            sys.exit(f"error: {p.name}: y_labels.csv says {label}, the file name says {from_name}")
        ys.append(label)
    return np.stack(xs), np.array(ys, dtype=np.uint8)


def person(src, split):
    x, y = cifar(src, split)
    rgb = (x.astype(np.int16) + 128).astype(np.int32)
    luma = (299 * rgb[..., 0] + 587 * rgb[..., 1] + 114 * rgb[..., 2] + 500) // 1000
    big = np.repeat(np.repeat(luma, 3, axis=1), 3, axis=2)
    return (big - 128).astype(np.int8)[..., None], y


MASK64 = (1 << 64) - 1


def splitmix64_bytes(seed, count):
    """The low bytes of `count` successive splitmix64 outputs from `seed`."""
    out = np.empty(count, dtype=np.uint8)
    state = seed & MASK64
    for k in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out[k] = (z ^ (z >> 31)) & 0xFF
    return out.view(np.int8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["cifar", "kws", "person", "random", "sweep"])
    ap.add_argument("out_x", help="output .npy of int8 inputs [N, ...]")
    ap.add_argument("--src", help="source directory (default: .data/cifar10 or ../shared/data/.../kws/perf_samples)")
    ap.add_argument("--split", choices=["test", "train"], default="test", help="cifar split (default test)")
    ap.add_argument("--limit", type=int, help="keep only the first N samples")
    ap.add_argument("--labels-out", help="labels .npy path (default: next to OUT_X)")
    ap.add_argument("--shape", help="random: one sample's shape, comma-separated")
    ap.add_argument("--seed", type=int, default=1, help="random: splitmix64 seed (default 1)")
    args = ap.parse_args()

    y = None
    if args.mode == "cifar":
        x, y = cifar(args.src or DEFAULT_CIFAR, args.split)
    elif args.mode == "person":
        x, y = person(args.src or DEFAULT_CIFAR, args.split)
    elif args.mode == "kws":
        x, y = kws(args.src or DEFAULT_KWS)
    elif args.mode == "sweep":
        x = np.arange(-128, 128, dtype=np.int16).astype(np.int8).reshape(256, 1)
    else:
        if not args.shape or args.limit is None:
            sys.exit("error: random needs --shape and --limit")
        try:
            shape = tuple(int(d) for d in args.shape.split(","))
        except ValueError:
            sys.exit(f"error: --shape {args.shape!r}: expected comma-separated integers")
        if any(d <= 0 for d in shape) or args.limit <= 0:
            sys.exit("error: random: every dimension and --limit must be positive")
        n = args.limit * int(np.prod(shape))
        x = splitmix64_bytes(args.seed, n).reshape((args.limit,) + shape)
    if args.limit is not None:
        x = x[: args.limit]
        y = None if y is None else y[: args.limit]

    save_npy(args.out_x, x)
    if y is None:
        print(f"wrote {args.out_x} int8 {list(x.shape)}")
        return
    out_y = Path(args.labels_out) if args.labels_out else labels_path(args.out_x)
    save_npy(out_y, y)
    print(f"wrote {args.out_x} int8 {list(x.shape)} and {out_y} uint8 {list(y.shape)}")


if __name__ == "__main__":
    main()
