"""One complete candidate job: train -> evaluate -> export ONNX -> verify with
onnxruntime -> write result.json.  Used by the `train` CLI, the explorer and
the GPU session."""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

from . import cost as C
from . import requirements as R


def finalize(out_dir, arrays, model=None, log=print, onnx_full_test=True, limit_test=0):
    """Export out_dir/model.pt to out_dir/model.onnx (raw-pixel input, BN and
    normalisation folded), verify against PyTorch with onnxruntime, measure
    ONNX top-1 on the eval set, add NetScore + deployment estimate to
    out_dir/result.json."""
    from . import export as E
    out = Path(out_dir)
    res = json.loads((out / "result.json").read_text())
    t0 = time.time()
    if model is None:
        model = E.load_model(out / "model.pt")
    tx, ty, vx, vy = arrays
    if res.get("cfg", {}).get("val_split"):
        k = res["cfg"]["val_split"]
        vx, vy = tx[-k:], ty[-k:]
    n = limit_test or res.get("n_eval") or len(vy)
    try:
        onnx_path = out / "model.onnx"
        _, ops = E.export_onnx(model, onnx_path)
        diff, agree, ok = E.verify_onnx(model, onnx_path, vx[:200])
        res.update(onnx_ops=ops, onnx_max_abs_diff=diff, onnx_argmax_agree=agree,
                   onnx_verified=ok)
        if onnx_full_test:
            res["onnx_test_acc"] = E.onnx_accuracy(onnx_path, vx, vy, limit=n)
            res["onnx_test_n"] = n
    except Exception as e:  # never lose the training result to an export bug
        res["export_error"] = repr(e)
        log(traceback.format_exc())
    acc = res.get("onnx_test_acc", res["final_acc"])
    res["netscore"] = R.netscore(acc, res["params"], res["macs"])
    board = (res.get("cfg", {}).get("cost") or {}).get("board", C.DEFAULT_BOARD)
    res["deploy_estimate"] = C.deployed_figures(res["spec"], out / "model.onnx", vx[:16], board)
    res["finalize_seconds"] = round(time.time() - t0, 1)
    (out / "result.json").write_text(json.dumps(res, indent=1))
    log(f"[{res['name']}] DONE acc={res['final_acc']:.2f} onnx={res.get('onnx_test_acc')} "
        f"verified={res.get('onnx_verified')} netscore={res['netscore']:.2f} "
        f"macs={res['macs'] / 1e6:.2f}M params={res['params'] / 1e3:.1f}K epochs={res['epochs']}")
    return res


def run_job(spec, arrays, cfg, out_dir, device, resume=False, export=True, log=print,
            onnx_full_test=True, teacher=None, init=None, meta=None):
    from . import train as T
    res, model = T.train(spec, arrays, cfg, out_dir, device=device, resume=resume, log=log,
                         teacher=teacher, init=init, meta=meta)
    if export:
        res = finalize(out_dir, arrays, model, log=log, onnx_full_test=onnx_full_test)
    return res, model
