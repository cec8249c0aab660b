"""Time-boxed GPU session: trains networks concurrently in one process on the
GPU, exports + verifies ONNX, packs everything into <= 8 files in $OUT.

Modes (env MODE):
  family      (default) `python -m models.design family` under a deadline:
              the explorations of every budget (configs/family.json), their
              finalists and the baselines, interleaved on the GPU.  An
              exploration already done elsewhere (CPU) travels as
              $CARRY_DIR/explore/<budget>/state.json and goes straight to
              its finalist.  Finalists and baselines train with batch 512,
              peak LR 0.4 (FINAL_BATCH / FINAL_LR), their cosine schedule
              annealing to the deadline.
  candidates  the hand-written candidates of arch.py on a short schedule.

Environment:
  OUT            output dir (required)
  TOTAL_SECONDS  wall clock for the whole session (default 500)
  SMOKE=1        tiny CPU dry run (few hundred images, 1-2 epochs)
  FINAL_MIN_SECONDS  (family) time kept for the finalists (default 220)
  CONFIG         (family) another family config, e.g.
                 models/design/configs/distill-wide.json (a wide teacher,
                 then the shipped networks distilled from scratch)
  JOBS           (candidates) comma separated subset of candidate names
  MAX_EPOCHS     (candidates) epoch cap (default 300)
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

T0 = float(os.environ.get("SESSION_T0", time.time()))


def now():
    return time.time() - T0


def log(msg, fh=None):
    line = f"[session {now():6.1f}s] {msg}"
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


def candidates():
    from . import arch as A
    fam = A.family_seeds()
    var = A.family_variants()
    jobs = []
    for s in fam + var + [A.resnet8(), A.mobilenet_baseline()]:
        jobs.append((s["name"], s, {}))
    if os.environ.get("EXTRA_WD_PROBE") == "1":
        a = dict(fam[0])
        a["name"] = "atto-A-wd1e-4"
        jobs.append((a["name"], a, {"wd": 1e-4}))
    return jobs


def _monitor(cmd, work, total, hard_train, smoke, fh):
    """Run the training process, echo each run's latest line now and then,
    kill it at `hard_train` seconds (checkpoints stay)."""
    tlog = open(work / "train.log", "w")
    env = dict(os.environ, OMP_NUM_THREADS="2")
    tp = subprocess.Popen(cmd, stdout=tlog, stderr=subprocess.STDOUT, env=env)
    last = 0
    while tp.poll() is None:
        if now() > hard_train:
            log("deadline: killing training process (checkpoints kept)", fh)
            tp.kill()
            break
        if now() - last > (10 if smoke else 30):
            last = now()
            lines = (work / "train.log").read_text().splitlines()
            latest = {}
            for ln in lines:
                if ln.startswith("[") and "]" in ln:
                    latest[ln[1:ln.index("]")]] = ln
            for ln in latest.values():
                log("  " + ln, fh)
        time.sleep(1)
    tp.wait()
    tlog.close()
    log(f"training process rc={tp.returncode}", fh)
    for ln in (work / "train.log").read_text().splitlines():
        if "FAILED" in ln or "Traceback" in ln or "capture failed" in ln or "[explore]" in ln:
            log("  " + ln, fh)


def train_candidates(work, npy, dev, total, smoke, fh):
    """MODE=candidates: arch.py's hand-written candidates, one time budget."""
    max_epochs = int(os.environ.get("MAX_EPOCHS", "2" if smoke else "300"))
    jobs = candidates()
    sel = os.environ.get("JOBS") or ("atto-A,resnet8" if smoke else None)
    if sel:
        keep = set(sel.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    reserve_tail = 25 if smoke else 75
    startup = 5 if smoke else 25
    budget = max(10.0, total - now() - reserve_tail - startup)
    log(f"training {len(jobs)} candidates in one process, budget {budget:.0f}s, "
        f"max_epochs {max_epochs}", fh)
    runs = work / "runs"
    runs.mkdir()
    (work / "jobs.json").write_text(json.dumps(
        [{"name": n, "spec": sp, "overrides": ov} for n, sp, ov in jobs]))
    cmd = [sys.executable, "-u", "-m", "models.design", "train-many", "--jobs",
           str(work / "jobs.json"), "--data-dir", str(npy), "--out", str(runs), "--device", dev,
           "--epochs", str(max_epochs), "--time-budget", str(budget),
           "--eval-every", "10", "--ckpt-every", "10"]
    if smoke:
        cmd += ["--limit-train", "512", "--limit-test", "256", "--batch", "128"]
    _monitor(cmd, work, total, total - reserve_tail + (5 if smoke else 20), smoke, fh)
    out = []
    for name, spec, _ in jobs:
        d = runs / name
        d.mkdir(exist_ok=True)
        (d / "arch.json").write_text(json.dumps(spec))
        out.append((name, d))
    return out, []


def train_family(work, npy, dev, total, smoke, fh):
    """MODE=family: `models.design family` under a deadline (see the module doc)."""
    fam = work / "family"
    carry = Path(os.environ.get("CARRY_DIR") or ".data/carry")
    for st in sorted((carry / "explore").glob("*/state.json")):
        dest = fam / "explore" / st.parent.name / "state.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(st, dest)
        log(f"exploration {st.parent.name}: resumed from {st}", fh)
    reserve_tail = 25 if smoke else 80
    deadline = max(20.0, total - now() - reserve_tail)
    final_min = float(os.environ.get("FINAL_MIN_SECONDS", "10" if smoke else "220"))
    cmd = [sys.executable, "-u", "-m", "models.design", "family", "--out", str(fam),
           "--data-dir", str(npy), "--device", dev, "--deadline-seconds", f"{deadline:.0f}",
           "--final-min-seconds", f"{final_min:.0f}", "--no-finalize"]
    if os.environ.get("CONFIG"):
        cmd += ["--config", os.environ["CONFIG"]]
    if smoke:
        cmd += ["--smoke"]
    else:
        cmd += ["--final-batch", os.environ.get("FINAL_BATCH", "512"),
                "--final-lr", os.environ.get("FINAL_LR", "0.4")]
    log(f"family: deadline {deadline:.0f}s after start, finalists keep >= {final_min:.0f}s", fh)
    _monitor(cmd, work, total, total - reserve_tail + (5 if smoke else 20), smoke, fh)
    # runs killed at the deadline keep their ckpt.pt (packed instead of model.pt)
    runs = (sorted(fam.glob("explore/*/final/*/ckpt.pt")) + sorted(fam.glob("baselines/*/ckpt.pt"))
            + sorted(fam.glob("distill/*/ckpt.pt")))
    out = []
    for m in runs:
        d = m.parent
        res = json.loads((d / "result.json").read_text()) if (d / "result.json").exists() else {}
        if "spec" in res:
            (d / "arch.json").write_text(json.dumps(res["spec"]))
        name = (f"{d.parent.parent.name}/{d.name}" if d.parent.name == "final"
                else f"{d.parent.name}/{d.name}")  # baselines/<name>, distill/<stage>
        out.append((name, d))
    extra = sorted(fam.glob("explore/*/state.json")) + sorted(fam.glob("explore/*/candidates.csv"))
    return out, [(f"explore/{p.parent.name}/{p.name}", p) for p in extra]


def main():
    out = Path(os.environ["OUT"])
    out.mkdir(parents=True, exist_ok=True)
    smoke = os.environ.get("SMOKE") == "1"
    total = float(os.environ.get("TOTAL_SECONDS", "100" if smoke else "500"))
    work = Path(os.environ.get("WORK", "/tmp/attonet_gpu_session"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    fh = open(work / "session.log", "w")
    import numpy as np
    import torch
    dev = "cuda" if torch.cuda.is_available() and not smoke else "cpu"
    log(f"torch {torch.__version__} device={dev} "
        f"{torch.cuda.get_device_name(0) if dev == 'cuda' else ''} total={total}s", fh)

    # ---- data: decode once into npy for the workers
    from . import data as D
    if smoke:
        try:
            arrays, src = D.load_any(os.environ.get("DATA_DIR"), os.environ.get("CARRY_DIR"))
        except FileNotFoundError:
            arrays, src = D.smoke_data(), "synthetic"
    else:
        arrays, src = D.load_any(os.environ.get("DATA_DIR"), os.environ.get("CARRY_DIR"))
    npy = work / "data"
    npy.mkdir()
    for n, a in zip(["train_x", "train_y", "test_x", "test_y"], arrays):
        np.save(npy / f"{n}.npy", a)
    log(f"data from {src}: train {arrays[0].shape} test {arrays[2].shape}", fh)
    del arrays

    mode = os.environ.get("MODE", "family")
    if mode == "family":
        runs, extra_files = train_family(work, npy, dev, total, smoke, fh)
    elif mode == "candidates":
        runs, extra_files = train_candidates(work, npy, dev, total, smoke, fh)
    else:
        raise SystemExit(f"MODE must be family or candidates, not {mode!r}")
    # ---- finalize in parallel (CPU: export, onnxruntime verify + test accuracy)
    procs = []
    for name, d in runs:
        lf = open(d / "finalize.log", "w")
        if (d / "model.pt").exists() and (d / "result.json").exists():
            c = [sys.executable, "-m", "models.design", "finalize", "--dir", str(d), "--data-dir",
                 str(npy)] + (["--limit-test", "256"] if smoke else [])
            p = subprocess.Popen(c, stdout=lf, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, OMP_NUM_THREADS="1"))
        else:
            p = None
        procs.append((name, p, lf, d))
    hard = total - (8 if smoke else 15)
    while any(p is not None and p.poll() is None for _, p, _, _ in procs):
        if now() > hard:
            for name, p, _, _ in procs:
                if p is not None and p.poll() is None:
                    log(f"deadline: killing finalize of {name}", fh)
                    p.kill()
            break
        time.sleep(0.5)
    # ---- collect
    results = []
    for name, p, lf, d in procs:
        lf.close()
        r = d / "result.json"
        if r.exists():
            res = json.loads(r.read_text())
            res["finalize_rc"] = p.returncode if p is not None else None
        else:
            res = {"name": name, "error": "no result"}
            ck = d / "ckpt.pt"
            if ck.exists():
                res["note"] = "killed; ckpt.pt kept in archive"
        results.append(res)
    (out / "results.json").write_text(json.dumps({"device": dev, "data": src, "results": results},
                                                 indent=1))
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "macs", "params", "epochs", "train_s", "final_acc", "onnx_test_acc",
                    "onnx_verified", "onnx_max_abs_diff", "netscore", "flash_est", "sram_est"])
        for r in results:
            de = r.get("deploy_estimate", {})
            w.writerow([r.get("name"), r.get("macs"), r.get("params"), r.get("epochs"),
                        r.get("train_seconds"), r.get("final_acc"), r.get("onnx_test_acc"),
                        r.get("onnx_verified"), r.get("onnx_max_abs_diff"),
                        round(r.get("netscore", float("nan")), 3) if "netscore" in r else "",
                        de.get("flash_bytes"), de.get("peak_sram_bytes")])
    for r in sorted(results, key=lambda r: r.get("macs", 0)):
        log(f"RESULT {r.get('name'):14s} macs={r.get('macs', 0) / 1e6:6.2f}M "
            f"params={r.get('params', 0) / 1e3:6.1f}K ep={r.get('epochs')} "
            f"acc={r.get('final_acc')} onnx={r.get('onnx_test_acc')} "
            f"verified={r.get('onnx_verified')} ns={r.get('netscore')}", fh)
    # ---- pack artifacts (model.pt, model.onnx, arch.json, train.log; ckpt only if no model)
    tars = [out / "artifacts_0.tar.gz"]
    cur, cur_size, idx = tarfile.open(tars[0], "w:gz"), 0, 1
    limit = 15.5e6
    for arc, f in extra_files:  # exploration records
        cur.add(f, arcname=arc)
        cur_size += f.stat().st_size
    for name, p, lf, d in procs:
        files = [d / f for f in ("arch.json", "finalize.log", "result.json", "model.pt",
                                 "model.onnx")]
        if not (d / "model.pt").exists() and (d / "ckpt.pt").exists():
            files.append(d / "ckpt.pt")
        files = [f for f in files if f.exists()]
        sz = sum(f.stat().st_size for f in files)
        if cur_size + sz > limit:
            cur.close()
            if idx >= 3:
                log(f"no room left for {name}", fh)
                continue
            tp = out / f"artifacts_{idx}.tar.gz"
            cur, cur_size = tarfile.open(tp, "w:gz"), 0
            tars.append(tp)
            idx += 1
        for f in files:
            cur.add(f, arcname=f"{name}/{f.name}")
        cur_size += sz
    cur.close()
    shutil.copy(work / "train.log", out / "train.log")
    for t in tars:
        log(f"packed {t.name} {t.stat().st_size / 1e6:.2f} MB", fh)
    log("session done", fh)
    fh.close()


if __name__ == "__main__":
    main()
