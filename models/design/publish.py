"""Publish a trained network as a model folder of `models/`: the float ONNX,
the calibration samples it is quantized with, and a model card with the
module table and the figures measured by our own converter.

    python -m models.design publish --run .data/explore/A/final/final-XXXX \\
        --title AttoNet-D --out models/attonet-d

Measured, not estimated: parameters, MACs, flash bytes and the arena (the
deployed int8 plan's peak SRAM for activations) come from `attonet inspect
--json` on the ONNX with the calibration file; int8 top-1 from `attonet run`
over all the data set's test images (the firmware's kernels on the host);
float top-1 from onnxruntime on the same images; with `qemu`, the exact
Cortex-M4 instructions, code, RAM and stack of one inference from `cargo
xtask bench-qemu --model-file` on `mps2-an386` (its outputs checked bit for
bit against the host's). `card.json` keeps the
figures for the test that re-measures them
(`crates/attonet-convert/tests/attonet_family.rs`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import arch as A
from .cost import find_attonet
from . import requirements as R

CALIB_COUNT = 200

CIFAR10 = {"name": "CIFAR-10", "what": "32x32 RGB, 10 classes",
           "split": "the official 50,000 training / 10,000 test images"}


def data_card(ds=None):
    """What a card says of its data: datasets.Dataset `ds`, or CIFAR-10."""
    if ds is None:
        return dict(CIFAR10)
    h, w, c = ds.shape
    kind = {1: "grayscale", 3: "RGB"}.get(c, f"{c}-channel")
    return {"name": ds.name, "what": f"{h}x{w} {kind}, {len(ds.classes)} classes",
            "split": ds.split, "source": ds.source}


def qemu_figures(onnx, calib, board="mps2-an386"):
    """One inference on QEMU, exactly (`cargo xtask bench-qemu --model-file`):
    instructions, runtime code bytes, static RAM, stack peak, and whether
    every output matched the host's bit for bit."""
    import csv
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "row.csv"
        r = subprocess.run(["cargo", "xtask", "bench-qemu", "--model-file", str(onnx),
                            "--calib", str(calib), "--board", board, "--out", str(out)],
                           cwd=root, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench-qemu on {onnx} failed: {(r.stdout + r.stderr)[-2000:]}")
        with open(out) as f:
            row = next(csv.DictReader(f))
    return {"board": board, "instructions": int(row["instructions"]),
            "flash_code_bytes": int(row["flash_code_bytes"]),
            "ram_static_bytes": int(row["ram_static_bytes"]),
            "stack_peak_bytes": int(row["stack_peak_bytes"]),
            "outputs_match": row["outputs_match"] == "true"}
CALIB_SEED = 2019


def calibration_samples(train_x: np.ndarray, n=CALIB_COUNT, seed=CALIB_SEED) -> np.ndarray:
    """`n` training images picked with a fixed seed, in the ONNX input's layout
    (NCHW) as raw uint8 pixels: the converter takes uint8 samples as their
    values 0..255, the ONNX input's float32 range (a quarter of the bytes)."""
    n = min(n, len(train_x))  # a small data set: all of it
    idx = np.random.default_rng(seed).choice(len(train_x), size=n, replace=False)
    return np.ascontiguousarray(train_x[np.sort(idx)].transpose(0, 3, 1, 2).astype(np.uint8))


def inspect(attonet, onnx, calib):
    r = subprocess.run([attonet, "inspect", "--json", str(onnx), "--calib", str(calib),
                        "--sqnr-samples", "20"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"attonet inspect failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def int8_correct(attonet, onnx, calib, test_x, test_y):
    """Correct top-1 predictions of the int8 plan over the test set."""
    with tempfile.TemporaryDirectory() as d:
        x = Path(d) / "x.npy"
        y = Path(d) / "y.npy"
        np.save(x, np.ascontiguousarray(test_x.transpose(0, 3, 1, 2).astype(np.uint8)))
        r = subprocess.run([attonet, "run", str(onnx), "--calib", str(calib), "--input", str(x),
                            "--output", str(y)], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"attonet run failed: {r.stderr.strip()}")
        out = np.load(y).reshape(len(test_y), -1)
    return int((out.argmax(1) == test_y).sum())


def module_rows(spec):
    """The paper's Table 1, per module: type, widths, compression, groups, stride."""
    rows = []
    c = spec["stem"]
    for i, m in enumerate(spec["modules"]):
        t = m.get("type", "atto")
        s = m.get("stride", 1)
        if t == "atto":
            kind = "B (1x1 projection)" if (s != 1 or c != m["out"]) else "A (identity)"
            rows.append([i + 1, kind, c, m["out"], m["comp"], m["groups"], m["mix"], s])
        else:
            rows.append([i + 1, t, c, m["out"], "-", "-", "-", s])
        c = m["out"]
    return rows


def exploration_summary(state, spec_name):
    """How the exploration found this network: budget, candidates, proxy rank."""
    cfg = state.get("config", {})
    req = dict(cfg.get("requirements", {}))
    if "max_sram_bytes" in req:  # the arena's older name
        req.setdefault("max_arena_bytes", req.pop("max_sram_bytes"))
    recs = [r for r in state.get("records", []) if r.get("acc") is not None]
    gid = spec_name.split("-", 1)[-1]
    mine = next((r for r in recs if r["id"] == gid), None)
    rank = 1 + sum(r["acc"] > mine["acc"] for r in recs) if mine else None
    proxy = cfg.get("proxy", {})
    return {
        "budget": {k: req.get(k) for k in ("max_instructions", "max_macs", "max_params",
                                           "max_arena_bytes", "max_flash_bytes")
                   if req.get(k) is not None} | ({"board": cfg.get("cost", {}).get("board")}
                                                 if req.get("max_instructions") else {}),
        "generations": state.get("generation"), "candidates": len(recs),
        "proxy_schedule": {k: proxy.get(k) for k in ("epochs", "limit_train", "val_split",
                                                     "batch", "lr")},
        "finalist_proxy_acc": mine["acc"] if mine else None,
        "finalist_proxy_rank": rank,
        "selection": ("within {} point(s) of the best proxy accuracy, then the best "
                      "NetScore".format(cfg.get("final", {}).get("acc_tolerance"))),
        "best_proxy_acc": max((r["acc"] for r in recs), default=None),
    }


def card_text(title, spec, fig, result, onnx_name, intro, recipe, exploration, data=None):
    data = data or CIFAR10
    h, w, c = A.input_shape(spec)
    rows = module_rows(spec)
    table = "\n".join("| " + " | ".join(str(v) for v in r) + " |" for r in rows)
    f = fig
    cfg = result.get("cfg", {})
    teachers = result.get("teachers") or []
    by = (f" from {teachers[0]}" if len(teachers) == 1 else
          f" from the mean logits of {', '.join(teachers)}" if teachers else "")
    kd = (f", distilled{by} (KD weight {cfg['kd_alpha']}, temperature {cfg['kd_temp']})"
          if cfg.get("kd_alpha") else "")
    if result.get("init"):
        kd += (f", starting from the weights of {result['init']}"
               + (" with its batch norms frozen" if cfg.get("freeze_bn") else ""))
    flip = " and horizontal flip" if cfg.get("flip", True) else ""
    sched = (f"{result.get('epochs')} epochs, batch {cfg.get('batch')}, peak LR {cfg.get('lr')} "
             f"(SGD Nesterov momentum {cfg.get('momentum')}, weight decay {cfg.get('wd')}, "
             f"warm-up then cosine), label smoothing {cfg.get('label_smoothing')}, random crop "
             f"(4-pixel padding){flip}{kd}")
    q = fig.get("qemu")
    qemu_rows = (f"| {q['board']} instructions, one inference (QEMU, exact) | "
                 f"{q['instructions']:,} |\n"
                 f"| runtime code, static RAM, stack peak ({q['board']} firmware) | "
                 f"{q['flash_code_bytes']:,} B, {q['ram_static_bytes']:,} B, "
                 f"{q['stack_peak_bytes']:,} B |\n"
                 f"| NetScore (int8 top-1, instructions in place of MACs) | "
                 f"{R.netscore(fig['int8_top1'], fig['params'], q['instructions']):.2f} |\n"
                 if q else "")
    found = ""
    if exploration:
        e = exploration
        b = e["budget"]
        ps = e["proxy_schedule"]
        limits = [f"{b['max_instructions'] / 1e6:.1f} M {b.get('board') or 'Cortex-M4'} "
                  f"instructions" if b.get("max_instructions") else "",
                  f"{b['max_macs'] / 1e6:.1f} M MACs" if b.get("max_macs") else "",
                  f"{b['max_params'] / 1e3:.0f} K parameters" if b.get("max_params") else "",
                  f"{b['max_arena_bytes']:,.0f} B of arena" if b.get("max_arena_bytes") else "",
                  f"{b['max_flash_bytes']:,.0f} B of flash" if b.get("max_flash_bytes") else ""]
        limits = [x for x in limits if x]
        found = f"""
## How it was found

Exploration budget: at most {", ".join(limits) or "nothing"}. {e['generations']} generations, {e['candidates']} candidates, each trained on a
proxy schedule ({ps['epochs']} epochs on {ps['limit_train'] - ps['val_split']:,} training images,
batch {ps['batch']}, LR {ps['lr']}) and scored on {ps['val_split']:,} held-out training
images. This finalist: proxy accuracy {e['finalist_proxy_acc']:.2f} % (rank
{e['finalist_proxy_rank']} of {e['candidates']}; best {e['best_proxy_acc']:.2f} %), chosen
{e['selection']}. Every candidate is in `exploration.csv`.
"""
    return f"""# {title}

{intro} Input: raw pixels, float32 NCHW 1x{c}x{h}x{w} with values
0..255 in the ONNX (normalisation folded into the stem); int8 input pixel - 128
(scale 1, zero point -128) in the deployed plan.

Files: `{onnx_name}` (float ONNX), `calib.npy` ({f.get('calib_images', CALIB_COUNT)} training images,
uint8 NCHW, the calibration set it is quantized with: the converter takes
uint8 samples as their values), `card.json` (the figures below).

## Modules

Stem: 3x3 convolution, {A.input_shape(spec)[2]} -> {spec['stem']} channels, stride {spec.get('stem_stride', 1)}.

| module | type | in | out | compression | groups | mix | stride |
|---|---|---|---|---|---|---|---|
{table}
{found}
## Training

{sched}; {result.get('n_train', 50000):,} {data['name']} training images ({data['split']}).
{recipe}

## Measured

| figure | value |
|---|---|
| parameters | {f['params']:,} |
| MACs | {f['macs']:,} |
| flash (weights + plan) | {f['flash_bytes']:,} B |
| peak SRAM for activations (arena, fused blocks) | {f['arena_bytes']:,} B |
| float top-1 (onnxruntime, {f['test_images']:,} test images) | {f['float_top1']:.2f} % |
| int8 top-1 (`attonet run`, {f['test_images']:,} test images) | {f['int8_top1']:.2f} % |
{qemu_rows}| NetScore (int8 top-1) | {f['netscore_int8']:.2f} |
| NetScore (float top-1) | {f['netscore_float']:.2f} |

Reproduce the int8 figure (the same kernels as the firmware, on the host):

```sh
cargo run --release -p attonet-cli -- inspect {onnx_name} --calib calib.npy
cargo run --release -p attonet-cli -- run {onnx_name} --calib calib.npy --input X.npy --output Y.npy --labels LABELS.npy
```

with `X.npy` the {data['name']} test images as uint8 (or float32) NCHW 0..255; `cargo test -p
attonet-convert --test attonet_family` re-measures it.
"""


ATTONET_INTRO = ("A searched AttoNet for {name} ({what}): the human-designed "
                 "prototype (a 3x3 stem, residual modules, global average pooling, a fully "
                 "connected layer, softmax) with each module's macro- and micro-architecture "
                 "found by `models/design`'s exploration (generator/inquisitor; see "
                 "`models/README.md`). Each module: pointwise compression (1x1) -> grouped 3x3 "
                 "(stride in type B) -> 1x1 mix -> 1x1 expand, plus the shortcut (identity, or a "
                 "strided 1x1 projection in type B).")


class NotBetterError(ValueError):
    """The run's network scores lower int8 top-1 than the same network the
    model folder already holds (the folder is left as it was)."""


BASELINE_CARDS = {
    "resnet8": ("ResNet-8 (baseline)",
                "The MLPerf Tiny ResNet-8 architecture (3x3 stem of 16; residual stacks of 16, "
                "32 stride 2, 64 stride 2 with strided 1x1 shortcuts; average pooling; fully "
                "connected), trained with the AttoNet recipe on the same data: the baseline of "
                "the comparison table in the README. The module table lists its residual "
                "blocks (type basic: two 3x3 convolutions)."),
    "mobilenet": ("MobileNet (baseline)",
                  "A MobileNet-v1-style network (depthwise-separable blocks of 32, 32, 64 "
                  "stride 2, 64, 128 stride 2, 128, 128) of about ResNet-8's MACs, trained with "
                  "the AttoNet recipe on the same data: the second baseline of the comparison "
                  "table in the README."),
}


def family_folders(root, fam, budgets, baselines, final_dirs):
    """What `family --publish` publishes, as (run dir, title, folder name,
    exploration state.json or None, intro or None, stage): per budget the
    last `distill` stage trained for it, else its finalist; per baseline
    its run.  final_dirs: budget -> its finalists' run dirs."""
    root = Path(root)
    out = []
    for b in budgets:
        runs = [(root / "distill" / st["name"], st["name"]) for st in fam.get("distill", [])
                if st["student"] == b]
        runs = [r for r in runs if (r[0] / "model.onnx").exists()]
        finals = [d for d in final_dirs.get(b, []) if (d / "model.onnx").exists()]
        run, stage = runs[-1] if runs else ((finals[0], "finalist") if finals else (None, None))
        if run is not None:
            state = root / "explore" / b / "state.json"
            out.append((run, f"AttoNet-{b}", f"attonet-{b.lower()}",
                        state if state.exists() else None, None, stage))
    for name in baselines:
        run = root / "baselines" / name
        if (run / "model.onnx").exists():
            title, intro = BASELINE_CARDS.get(name, (f"{name} (baseline)", None))
            out.append((run, title, f"baseline-{name}", None, intro, "baseline"))
    return out


def publish(run_dir, title, out_dir, arrays, attonet=None, log=print, intro=None, recipe="",
            exploration=None, allow_worse=False, data=None, qemu=False):
    """run_dir: a trained run (model.onnx, result.json); exploration: the
    exploration's state.json (its candidates go to exploration.csv).  Every
    file is written and measured in a staging folder beside `out_dir` first,
    so a failure (a missing tool, a model the converter refuses) leaves the
    model folder as it was.  A network of the folder trained further that
    measures lower int8 top-1 than the one there raises NotBetterError
    instead of replacing it, unless `allow_worse`. `data`: what the card
    says of the data set (data_card; None: CIFAR-10); `qemu`: also measure
    one inference on QEMU's Cortex-M4 (qemu_figures)."""
    run = Path(run_dir)
    out = Path(out_dir)
    for need in (run / "result.json", run / "model.onnx"):
        if not need.exists():
            raise FileNotFoundError(f"{need}: missing (publish takes a trained and exported run)")
    res = json.loads((run / "result.json").read_text())
    spec = res["spec"]
    attonet = find_attonet(attonet)
    tx, ty, vx, vy = arrays
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as staging:
        previous = json.loads((out / "card.json").read_text()) \
            if (out / "card.json").exists() else {}
        if previous.get("spec") != spec:
            previous = {}  # another network: nothing of the old card carries over
        card = _publish_into(Path(staging), out, run, res, spec, title, attonet, tx, vx, vy,
                             intro, recipe, exploration, previous, data or data_card(), qemu)
        was = previous.get("figures", {}).get("int8_top1")
        now = card["figures"]["int8_top1"]
        if was is not None and now < was and not allow_worse:
            raise NotBetterError(
                f"{out}: this run's network scores {now:.2f} % int8 top-1, the one there "
                f"{was:.2f} %; the folder is left as it was (allow_worse / --allow-worse "
                f"replaces it anyway)")
        out.mkdir(exist_ok=True)
        for f in sorted(Path(staging).iterdir()):
            os.replace(f, out / f.name)
    fig = card["figures"]
    log(f"[publish] {title}: int8 {fig['int8_top1']:.2f}% float {fig['float_top1']:.2f}% "
        f"MACs {fig['macs']:,} params {fig['params']:,} arena {fig['arena_bytes']:,} B -> {out}")
    return card


def _publish_into(stage, out, run, res, spec, title, attonet, tx, vx, vy, intro, recipe,
                  exploration, previous, data, qemu):
    """publish()'s files for the folder `out`, written into `stage`;
    previous: the folder's card if it holds the same network, else {}."""
    onnx_name = out.name.replace("-", "_") + ".onnx"
    shutil.copyfile(run / "model.onnx", stage / onnx_name)
    calib = calibration_samples(tx)
    np.save(stage / "calib.npy", calib)
    rep = inspect(attonet, stage / onnx_name, stage / "calib.npy")
    correct = int8_correct(attonet, stage / onnx_name, stage / "calib.npy", vx, vy)
    int8 = 100.0 * correct / len(vy)
    float_top1 = res.get("onnx_test_acc", res.get("final_acc"))
    fig = {
        "params": rep["params"], "macs": rep["macs"], "flash_bytes": rep["flash_bytes"],
        "arena_bytes": rep["arena_bytes"], "float_top1": float_top1, "int8_top1": int8,
        "int8_correct": correct, "test_images": len(vy), "calib_images": len(calib),
        "netscore_int8": R.netscore(int8, rep["params"], rep["macs"]),
        "netscore_float": R.netscore(float_top1, rep["params"], rep["macs"]),
    }
    if qemu:
        fig["qemu"] = qemu_figures(stage / onnx_name, stage / "calib.npy")
        if not fig["qemu"]["outputs_match"]:
            raise RuntimeError(f"{title}: QEMU's outputs differ from the host's")
    summary = None
    if not exploration and previous.get("exploration"):
        # a network of this folder trained further: how it was found still holds
        # (and exploration.csv stays)
        summary = previous["exploration"]
    if exploration:
        state = json.loads(Path(exploration).read_text())
        summary = exploration_summary(state, spec["name"])
        csv = Path(exploration).with_name("candidates.csv")
        if csv.exists():
            shutil.copyfile(csv, stage / "exploration.csv")
    train = {k: res.get(k) for k in ("epochs", "train_seconds", "n_train")}
    train["cfg"] = res.get("cfg")
    train["recipe"] = recipe
    for k in ("init", "teachers"):
        if res.get(k):
            train[k] = res[k]
    if previous.get("training") and res.get("init"):
        train["before"] = previous["training"]  # the training this run started from
    card = {"title": title, "onnx": onnx_name, "calib": "calib.npy", "spec": spec,
            "data": data, "figures": fig, "analytic_cost": A.cost(spec), "training": train,
            "exploration": summary}
    (stage / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    (stage / "README.md").write_text(card_text(title, spec, fig, res, onnx_name,
                                             intro or ATTONET_INTRO.format(**data), recipe,
                                             summary, data))
    return card
