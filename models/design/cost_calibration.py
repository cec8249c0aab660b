"""Calibrating the runtime cost model on exact QEMU counts, and checking it.

`python -m models.design cost-calibrate --board mps2-an386 --samples 96`:

1. draws candidates from the exploration's search space (seeded, so the
   same command draws the same ones), each at one of the inputs the tool is
   used with (CIFAR-10's 32x32x3, and 28x28x1 grayscale);
2. exports each untrained (cost.untrained_onnx), plans it with the converter
   (`attonet inspect --json`) and measures it on QEMU with `cargo xtask
   bench-qemu --model-file ... --layers` (exact instructions per step and for
   all of Model::infer; the firmware checks its outputs bit for bit against
   the host's);
3. fits the instruction table on three quarters of the candidates and
   reports its error on the held-out quarter and on the shipped models
   (models/*/ with an ONNX file: trained weights the fit never saw); the
   table, with those figures, goes to models/design/costs/<board>.json.

Every measurement is kept in the work folder (`--work`) with a fingerprint
of the sources that decide it (the runtime's kernels and the converter's
plan, `runtime_fingerprint`), so a second run measures only what is new or
what a change of those sources may have moved, and `--fit-only` refits
without QEMU (on the kept measurements, whatever their fingerprint).
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import subprocess
import time
from pathlib import Path

import numpy as np

from . import arch as A
from . import cost as C
from . import search_space as S

ROOT = Path(__file__).resolve().parents[2]
GRAY_STD = (0.3529,)  # Fashion-MNIST's pixel std (datasets.py); any positive value plans alike


def calibration_images():
    """Real CIFAR-10 images committed with AttoNet-D (its calibration set),
    NHWC uint8, and their 28x28 grayscale crops for one-channel inputs."""
    x = np.load(ROOT / "models" / "attonet-d" / "calib.npy").transpose(0, 2, 3, 1)
    gray = (x[:, 2:30, 2:30].astype(np.float32) @ np.array([0.299, 0.587, 0.114],
                                                             np.float32)).round()
    scenes = np.load(ROOT / "models" / "atto-det-a" / "calib.npy").transpose(0, 2, 3, 1)
    return {(32, 32, 3): np.ascontiguousarray(x[:16]),
            (28, 28, 1): np.ascontiguousarray(gray[:16, :, :, None].astype(np.uint8)),
            (96, 96, 1): np.ascontiguousarray(scenes[:16])}


def random_genome(rng: random.Random):
    """A genome drawn uniformly from the search space (search_space.RANGES)."""
    g = {}
    for k in S.GENES:
        lo, hi, step = S.RANGES[k]
        if k.startswith("g"):
            g[k] = rng.choice([c for c in S.GROUP_CHOICES if c <= hi])
        elif isinstance(step, int):
            g[k] = rng.randrange(lo, hi + 1, step)
        else:
            g[k] = S._round(rng.uniform(lo, hi), lo, hi, step)
    return g


MAX_MACS = 30e6  # the exploration's budgets are a few million MACs; draws above are skipped


def draw_candidates(n, seed=0):
    """`n` specs: a quarter at 28x28x1, the rest at 32x32x3; genomes whose
    network is empty or above MAX_MACS are skipped."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        gen = random_genome(rng)
        gray = len(out) % 4 == 1
        fields = ({"input": [28, 28, 1], "in_std": list(GRAY_STD)} if gray else None)
        spec = S.decode(gen, f"cal{len(out):03d}", fields)
        if spec["modules"] and A.cost(spec)["macs"] <= MAX_MACS:
            out.append(spec)
    return out


def draw_detectors(n, seed=0):
    """`n` specs of the detector search's space (detect_search.sample: 96x96x1
    scenes, 48x48 to 12x12 feature maps, a 1-channel stem at stride 2),
    which the classifiers' inputs never reach."""
    from . import detect as D
    from . import detect_search as DS
    rng = random.Random(1000 + seed)
    base = D.default_spec(in_std=GRAY_STD)
    out = []
    for i in range(n):
        spec = DS.sample(rng, base)
        spec["name"] = f"det{i:03d}"
        out.append(spec)
    return out


def export_untrained(spec, onnx_path, images):
    """A candidate exported untrained: a classifier, or a detector (`task`
    `detect`) through its own network and export."""
    if spec.get("task") == "detect":
        from . import detect as D
        C.untrained_onnx(spec, onnx_path, images, build=D.build, export=D.export_onnx)
    else:
        C.untrained_onnx(spec, onnx_path, images)


def measure_qemu(onnx_path, calib_path, board, layers_csv, log=print):
    """Exact counts of one model on QEMU: ({step: instructions}, Model::infer
    instructions), from `cargo xtask bench-qemu --model-file ... --layers`."""
    cmd = ["cargo", "xtask", "bench-qemu", "--model-file", str(onnx_path), "--calib",
           str(calib_path), "--board", board, "--layers", str(layers_csv)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    text = r.stdout + r.stderr
    if r.returncode != 0:
        raise C.CostError(f"bench-qemu on {onnx_path} failed:\n{text[-3000:]}")
    m = re.search(r"Model::infer (\d+)", text)
    if not m:
        raise C.CostError(f"bench-qemu on {onnx_path}: no Model::infer total in its output")
    steps = {}
    with open(layers_csv) as f:
        for row in csv.DictReader(f):
            steps[int(row["step"])] = int(row["instructions"])
    return steps, int(m.group(1))


# The sources whose changes move a model's counts: the runtime's kernels and
# plan, the converter's lowering, passes and kernel selection.
FINGERPRINT_DIRS = ("crates/attonet-runtime/src", "crates/attonet-convert/src")


def runtime_fingerprint(root=ROOT):
    """A hash of every file under FINGERPRINT_DIRS (paths and contents): a
    kept measurement with another fingerprint was made by other kernels."""
    h = hashlib.sha256()
    for d in FINGERPRINT_DIRS:
        for f in sorted((Path(root) / d).rglob("*")):
            if f.is_file():
                h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def measure(spec_or_onnx, work, board, images, attonet, log=print, fingerprint=None,
            keep_any=False):
    """Plan and measure one model (a spec, exported untrained, or an
    (onnx, calib) pair of a shipped model), cached in `work` under
    `fingerprint` (`runtime_fingerprint()` by default): a kept sample is
    reused where its fingerprint is the same (or, `keep_any`, whatever it
    is), measured again otherwise."""
    work.mkdir(parents=True, exist_ok=True)
    fingerprint = fingerprint or runtime_fingerprint()
    done = work / "sample.json"
    if done.exists():
        kept = json.loads(done.read_text())
        if keep_any or kept.get("fingerprint") == fingerprint:
            # The plan is read again (a second): the counts are kept, the
            # report is the converter's of today (its kernel list, which
            # the table's classes read).
            pair = ((work / "model.onnx", work / "calib.npy") if isinstance(spec_or_onnx, dict)
                    else spec_or_onnx)
            if Path(pair[0]).exists() and Path(pair[1]).exists():
                kept["report"] = C.inspect_plan(attonet, pair[0], pair[1], board)
            return kept
        log(f"[cost-calibrate] {work.name}: measured by other kernels "
            f"({kept.get('fingerprint', 'no fingerprint')}), again")
    if isinstance(spec_or_onnx, dict):
        spec = spec_or_onnx
        onnx_path, calib_path = work / "model.onnx", work / "calib.npy"
        imgs = images[A.input_shape(spec)]
        export_untrained(spec, onnx_path, imgs)
        C.calib_file(imgs, calib_path)
    else:
        spec = None
        onnx_path, calib_path = spec_or_onnx
    report = C.inspect_plan(attonet, onnx_path, calib_path, board)
    steps, total = measure_qemu(onnx_path, calib_path, board, work / "layers.csv", log)
    sample = {"name": spec["name"] if spec else work.name, "spec": spec, "report": report,
              "measured": {str(k): v for k, v in steps.items()}, "infer": total,
              "fingerprint": fingerprint}
    tmp = work / "sample.json.tmp"
    tmp.write_text(json.dumps(sample))
    tmp.replace(done)
    return sample


def shipped_models():
    """(name, onnx, calib) of the repository's trained models with an ONNX file."""
    out = []
    for d in sorted((ROOT / "models").iterdir()):
        onnx = sorted(d.glob("*.onnx")) if d.is_dir() else []
        if onnx and (d / "calib.npy").exists():
            out.append((d.name, onnx[0], d / "calib.npy"))
    return out


def _triple(s):
    return s["report"], {int(k): v for k, v in s["measured"].items()}, s["infer"]


def errors(table, samples):
    """Per sample: predicted and measured Model::infer instructions, % error."""
    rows = []
    for s in samples:
        pred, _ = table.predict(s["report"])
        rows.append({"name": s["name"], "measured": s["infer"], "predicted": int(round(pred)),
                     "error_pct": round(100.0 * (pred - s["infer"]) / s["infer"], 2)})
    return rows


def summary(rows):
    e = np.array([abs(r["error_pct"]) for r in rows]) if rows else np.zeros(1)
    return {"n": len(rows), "mean_abs_error_pct": round(float(e.mean()), 2),
            "max_abs_error_pct": round(float(e.max()), 2),
            "within_5pct": int((e <= 5.0).sum())}


def calibrate(board, n, work, out, seed=0, fit_only=False, attonet=None, log=print,
              detectors=0):
    work = Path(work)
    attonet = C.find_attonet(attonet)
    images = calibration_images()
    cands = draw_candidates(n, seed)
    # The detector's candidates, interleaved (every fourth of them held out
    # like the others' fourth).
    for i, spec in enumerate(draw_detectors(detectors, seed)):
        cands.insert(min(len(cands), 5 * i + 3), spec)
    fp = runtime_fingerprint()
    samples, t0 = [], time.time()
    for i, spec in enumerate(cands):
        d = work / board / f"{spec['name']}-{C.spec_key(spec)}"
        if fit_only and not (d / "sample.json").exists():
            continue
        s = measure(spec, d, board, images, attonet, log, fp, keep_any=fit_only)
        samples.append(s)
        log(f"[cost-calibrate] {i + 1}/{len(cands)} {spec['name']} "
            f"{A.input_shape(spec)} {s['report']['macs'] / 1e6:.2f}M MACs: "
            f"{s['infer'] / 1e6:.3f}M instructions ({time.time() - t0:.0f} s)")
    shipped = []
    for name, onnx, calib in shipped_models():
        d = work / board / f"shipped-{name}"
        if fit_only and not (d / "sample.json").exists():
            continue
        s = measure((onnx, calib), d, board, images, attonet, log, fp, keep_any=fit_only)
        s["name"] = name
        shipped.append(s)
    train = [s for i, s in enumerate(samples) if i % 4 != 3]
    held = [s for i, s in enumerate(samples) if i % 4 == 3]
    if len(train) < 8:
        raise C.CostError(f"{len(train)} calibration candidates: too few to fit (use --samples 32 "
                          f"or more)")
    table = C.InstructionTable.fit(board, [_triple(s) for s in train])
    fit = {"samples": len(samples), "seed": seed, "train": summary(errors(table, train)),
           "held_out": summary(errors(table, held)),
           "held_out_rows": errors(table, held),
           "shipped": errors(table, shipped), "shipped_summary": summary(errors(table, shipped)),
           "how": f"python -m models.design cost-calibrate --board {board} --samples {n} "
                  f"--seed {seed}" + (f" --detectors {detectors}" if detectors else ""),
           "fingerprints": sorted({s.get("fingerprint", "none") for s in samples + shipped})}
    table.fit_info = fit
    out = Path(out) if out else C.COSTS_DIR / f"{board}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    tmp.replace(out)
    log(f"[cost-calibrate] fit on {len(train)} candidates; held out {len(held)}: "
        f"{fit['held_out']}; shipped models: {fit['shipped_summary']}")
    for r in fit["shipped"] + fit["held_out_rows"]:
        log(f"  {r['name']:<22} measured {r['measured']:>10,} predicted {r['predicted']:>10,} "
            f"({r['error_pct']:+.2f} %)")
    log(f"[cost-calibrate] wrote {out}")
    return table


def cli(a):
    try:
        calibrate(a.board, a.samples, a.work, a.out, seed=a.seed, fit_only=a.fit_only,
                  attonet=a.attonet, log=lambda s: print(s, flush=True),
                  detectors=a.detectors)
    except C.CostError as e:
        raise SystemExit(f"cost-calibrate: {e}")
