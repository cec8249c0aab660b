"""Time-boxed GPU session: trains a set of candidates concurrently (one process
each on the same GPU), exports + verifies ONNX, packs everything into <= 8
files in $OUT.

Environment:
  OUT            output dir (required)
  TOTAL_SECONDS  wall clock for the whole session (default 500)
  SMOKE=1        tiny CPU dry run (few hundred images, 1-2 epochs)
  JOBS           comma separated subset of candidate names
  MAX_EPOCHS     epoch cap (default 300)
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


def main():
    out = Path(os.environ["OUT"])
    out.mkdir(parents=True, exist_ok=True)
    smoke = os.environ.get("SMOKE") == "1"
    total = float(os.environ.get("TOTAL_SECONDS", "100" if smoke else "500"))
    max_epochs = int(os.environ.get("MAX_EPOCHS", "2" if smoke else "300"))
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

    jobs = candidates()
    sel = os.environ.get("JOBS") or ("atto-A,resnet8" if smoke else None)
    if sel:
        keep = set(sel.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    # ---- time plan: one training process (all candidates interleaved on
    # CUDA streams), then parallel finalize (ONNX export/verify) processes.
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
    tlog = open(work / "train.log", "w")
    env = dict(os.environ, OMP_NUM_THREADS="2")
    tp = subprocess.Popen(cmd, stdout=tlog, stderr=subprocess.STDOUT, env=env)
    hard_train = total - reserve_tail + (5 if smoke else 20)
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
        if "FAILED" in ln or "Traceback" in ln or "capture failed" in ln:
            log("  " + ln, fh)
    # ---- finalize in parallel (CPU: export, onnxruntime verify + test accuracy)
    procs = []
    for name, spec, over in jobs:
        d = runs / name
        d.mkdir(exist_ok=True)
        (d / "arch.json").write_text(json.dumps(spec))
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
    tars = []
    cur, cur_size, idx = None, 0, 0
    limit = 15.5e6
    for name, p, lf, d in procs:
        files = [d / f for f in ("arch.json", "finalize.log", "result.json", "model.pt",
                                 "model.onnx")]
        if not (d / "model.pt").exists() and (d / "ckpt.pt").exists():
            files.append(d / "ckpt.pt")
        files = [f for f in files if f.exists()]
        sz = sum(f.stat().st_size for f in files)
        if cur is None or cur_size + sz > limit:
            if cur is not None:
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
    if cur is not None:
        cur.close()
    shutil.copy(work / "train.log", out / "train.log")
    for t in tars:
        log(f"packed {t.name} {t.stat().st_size / 1e6:.2f} MB", fh)
    log("session done", fh)
    fh.close()


if __name__ == "__main__":
    main()
