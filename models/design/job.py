"""One complete candidate job: train -> evaluate -> export ONNX -> verify with
onnxruntime -> write result.json.  Used by `train` CLI, the explorer and the
GPU session (one process per candidate)."""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import numpy as np

from . import arch as A
from . import requirements as R


def run_job(spec, arrays, cfg, out_dir, device, resume=False, export=True, log=print,
            onnx_full_test=True, teacher=None):
    from . import export as E
    from . import train as T
    out = Path(out_dir)
    t0 = time.time()
    res, model = T.train(spec, arrays, cfg, out, device=device, resume=resume, log=log,
                         teacher=teacher)
    if export:
        try:
            onnx_path = out / "model.onnx"
            _, ops = E.export_onnx(model, onnx_path)
            tx, ty, vx, vy = arrays
            diff, agree, ok = E.verify_onnx(model, onnx_path, vx[:200])
            res.update(onnx_ops=ops, onnx_max_abs_diff=diff, onnx_argmax_agree=agree,
                       onnx_verified=ok)
            if onnx_full_test:
                n = cfg.limit_test or len(vy)
                res["onnx_test_acc"] = E.onnx_accuracy(onnx_path, vx, vy, limit=n)
                res["onnx_test_n"] = n
        except Exception as e:  # never lose the training result to an export bug
            res["export_error"] = repr(e)
            log(traceback.format_exc())
    acc = res.get("onnx_test_acc", res["final_acc"])
    res["netscore"] = R.netscore(acc, res["params"], res["macs"])
    res["deploy_estimate"] = R.inspect_or_estimate(spec, out / "model.onnx")
    res["job_seconds"] = round(time.time() - t0, 1)
    (out / "result.json").write_text(json.dumps(res, indent=1))
    log(f"[{res['name']}] DONE acc={res['final_acc']:.2f} onnx={res.get('onnx_test_acc')} "
        f"netscore={res['netscore']:.2f} macs={res['macs'] / 1e6:.2f}M params={res['params'] / 1e3:.1f}K "
        f"epochs={res['epochs']}")
    return res, model
