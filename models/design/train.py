"""Fast trainer: whole data set lives on the device as uint8; augmentation
(random crop with 4-px zero padding, horizontal flip, optional cutout) is done
with batched tensor ops, so no Python data loader starves the GPU.

The LR schedule is a function of *progress* p in [0,1], where
p = max(epoch / max_epochs, elapsed / time_budget).  A run with a time budget
therefore self-limits: it warms up, anneals (cosine) and stops cleanly when
the budget is spent, whatever the GPU contention (several trainings share one
GPU in the GPU session).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import arch as A


@dataclass
class TrainCfg:
    epochs: int = 30               # max epochs
    time_budget: float = 0.0       # seconds, 0 = unlimited
    batch: int = 512
    lr: float = 0.4
    warmup: float = 0.05           # fraction of progress
    wd: float = 5e-4
    momentum: float = 0.9
    label_smoothing: float = 0.1
    cutout: int = 0                # cutout square size (0 = off)
    flip: bool = True              # random horizontal flips (off for digits, text)
    seed: int = 0
    eval_every: int = 5            # epochs
    ckpt_every: int = 5            # epochs
    kd_alpha: float = 0.0          # knowledge distillation weight
    kd_temp: float = 4.0
    val_split: int = 0             # hold out last N train images as validation
    limit_train: int = 0           # use only first N train images (smoke)
    limit_test: int = 0
    bf16: bool = True
    channels_last: bool = True
    cuda_graph: bool = True        # capture fwd+bwd+SGD step in a CUDA graph
    freeze_bn: bool = False        # batch norms keep their running statistics while training
                                   # (fine-tuning a network imported from ONNX; onnx_import.py)


class DeviceData:
    """Images (uint8 N x H x W x C, any size) and labels on the device;
    `train_batches` augments them: a random crop of the image padded by 4
    zero pixels a side, an optional horizontal flip, optional cutout."""

    PAD = 4

    def __init__(self, x_u8: np.ndarray, y: np.ndarray, device):
        x = torch.from_numpy(np.ascontiguousarray(x_u8)).to(device)
        self.x = x.permute(0, 3, 1, 2).contiguous()          # N,C,H,W uint8
        self.y = torch.from_numpy(y.astype(np.int64)).to(device)
        self.n = len(self.y)
        self.device = device
        self._xp = None

    @property
    def xpad(self):
        if self._xp is None:
            p = self.PAD
            self._xp = F.pad(self.x, (p, p, p, p))           # zeros (raw 0 == normalised 0)
        return self._xp

    def train_batches(self, batch, gen, cutout=0, flip=True):
        perm = torch.randperm(self.n, device=self.device, generator=gen)
        nb = self.n // batch if self.n >= batch else 1
        bs = min(batch, self.n)
        _, C, H, W = self.x.shape
        P = self.PAD
        ar_h = torch.arange(H, device=self.device)
        ar_w = torch.arange(W, device=self.device)
        for i in range(nb):
            idx = perm[i * bs:(i + 1) * bs]
            xb = self.xpad[idx]                                # B,C,H+8,W+8
            B = xb.shape[0]
            dy = torch.randint(0, 2 * P + 1, (B,), device=self.device, generator=gen)
            dx = torch.randint(0, 2 * P + 1, (B,), device=self.device, generator=gen)
            rows = (dy[:, None] + ar_h[None]).view(B, 1, H, 1).expand(B, C, H, W + 2 * P)
            xb = torch.gather(xb, 2, rows)
            cols = (dx[:, None] + ar_w[None]).view(B, 1, 1, W).expand(B, C, H, W)
            xb = torch.gather(xb, 3, cols)
            if flip:
                f = torch.rand(B, device=self.device, generator=gen) < 0.5
                xb = torch.where(f.view(B, 1, 1, 1), xb.flip(3), xb)
            if cutout:
                cy = torch.randint(0, H, (B,), device=self.device, generator=gen)
                cx = torch.randint(0, W, (B,), device=self.device, generator=gen)
                my = (ar_h[None] - cy[:, None]).abs() < cutout // 2 + (cutout % 2)
                mx = (ar_w[None] - cx[:, None]).abs() < cutout // 2 + (cutout % 2)
                m = (my[:, :, None] & mx[:, None, :]).unsqueeze(1)
                xb = xb.masked_fill(m, 0)
            yield xb.float(), self.y[idx]


def _param_groups(model, wd):
    decay, no = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim > 1 else no).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no, "weight_decay": 0.0}]


def lr_at(p, cfg: TrainCfg):
    if p < cfg.warmup:
        return cfg.lr * (0.1 + 0.9 * p / cfg.warmup)
    q = (p - cfg.warmup) / max(1e-9, 1 - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, q)))


def set_training(model, freeze_bn=False):
    """Training mode, with the batch norms left in evaluation mode when
    `freeze_bn` (they then normalise by their running statistics and only
    their affine parameters learn)."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


@torch.no_grad()
def evaluate(model, data: DeviceData, bf16=True, batch=2000):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    correct = 0
    dev = data.device
    use_amp = bf16 and str(dev).startswith("cuda")
    for i in range(0, data.n, batch):
        xb = data.x[i:i + batch].float()
        if getattr(model, "_cl", False):
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            out = model(xb)
        correct += (out.argmax(1) == data.y[i:i + batch]).sum().item()
    for m, training in modes:
        m.train(training)
    return 100.0 * correct / max(1, data.n)


def split_data(arrays, cfg: TrainCfg):
    tx, ty, vx, vy = arrays
    if cfg.limit_train:
        tx, ty = tx[:cfg.limit_train], ty[:cfg.limit_train]
    if cfg.limit_test:
        vx, vy = vx[:cfg.limit_test], vy[:cfg.limit_test]
    if cfg.val_split:
        # validation = held-out tail of train (used for ranking candidates)
        vx, vy = tx[-cfg.val_split:], ty[-cfg.val_split:]
        tx, ty = tx[:-cfg.val_split], ty[:-cfg.val_split]
    return tx, ty, vx, vy


def train_steps(spec, arrays, cfg: TrainCfg, out_dir, device="cuda", resume=False,
                teacher=None, log=print, tag=None, init=None, meta=None, on_checkpoint=None):
    """Generator version of `train`: yields after every optimiser step so that
    several trainings can be interleaved in one process (see train_many);
    returns (result, model) via StopIteration.  Train one architecture.  Returns a result dict (also written to
    out_dir/result.json); checkpoints go to out_dir/ckpt.pt (resumable) and the
    final float state dict to out_dir/model.pt.  `init`: a model.pt of the same
    architecture to start from (fine-tuning) instead of random weights, or a
    published model folder / its ONNX (onnx_import.py; the batch norms are then
    frozen, whatever `cfg.freeze_bn` says).  `teacher`: a network (or
    onnx_import.Ensemble) whose logits the student learns to match.  `meta`:
    more to record in result.json (where the teacher came from, say).
    `on_checkpoint(path)`: called after each checkpoint is written (a Ray
    worker without the shared run folder sends it to the driver there)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = tag or spec.get("name", "net")
    torch.manual_seed(cfg.seed)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    tx, ty, vx, vy = split_data(arrays, cfg)
    trd, ted = DeviceData(tx, ty, dev), DeviceData(vx, vy, dev)
    model = A.build(spec)
    if init is not None:
        from .onnx_import import ModelImportError, load_any
        src, src_spec = load_any(init)
        if A.layers(src_spec) != A.layers(spec):
            raise ModelImportError(f"{init}: its architecture ({src_spec.get('name')}) is not "
                                   f"the one being trained ({spec.get('name')})")
        model.load_state_dict(src.state_dict())
        if getattr(src, "folded", False) and not cfg.freeze_bn:
            import dataclasses
            cfg = dataclasses.replace(cfg, freeze_bn=True)
        log(f"[{tag}] weights from {init}" + (" (batch norms frozen)" if cfg.freeze_bn else ""))
    model = model.to(dev)
    if cfg.channels_last:  # faster on CPUs too (D: 158 s against 231 s an epoch on 2 cores)
        model = model.to(memory_format=torch.channels_last)
        model._cl = True
    params = [p for p in model.parameters()]
    decay = [p.ndim > 1 for p in params]
    bufs = [torch.zeros_like(p) for p in params]
    lr_t = torch.full((), cfg.lr, device=dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(cfg.seed)
    state = dict(epoch=0, elapsed=0.0, best=0.0, history=[], progress=0.0)
    ck = out / "ckpt.pt"
    if resume and ck.exists():
        s = torch.load(ck, map_location=dev, weights_only=False)
        model.load_state_dict(s["model"])
        for b, sb in zip(bufs, s["bufs"]):
            b.copy_(sb)
        state = s["state"]
        # the schedule may have been extended (more epochs / larger budget)
        state["progress"] = min(1.0, max(state["epoch"] / cfg.epochs,
                                         state["elapsed"] / cfg.time_budget if cfg.time_budget else 0))
        try:
            # the data order goes on exactly where it stopped: a run resumed
            # after a fault (a killed worker, see cluster.py) ends as the
            # uninterrupted run would (on CPU; GPU kernels are not deterministic)
            gen.set_state(s["gen"])
        except (KeyError, RuntimeError):
            # a checkpoint from before the state was saved, or from the other device kind
            gen.manual_seed(cfg.seed + 1000 * state["epoch"])
        log(f"[{tag}] resumed at epoch {state['epoch']} elapsed {state['elapsed']:.0f}s")
    cost = A.cost(spec)
    use_amp = cfg.bf16 and dev.type == "cuda"
    crit = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    cl = getattr(model, "_cl", False)
    set_training(model, cfg.freeze_bn)
    if teacher is not None:
        teacher = teacher.to(dev).eval()
        if cl:
            teacher = teacher.to(memory_format=torch.channels_last)

    def sgd_update():
        # SGD, nesterov momentum, decoupled-from-BN weight decay (coupled L2 as
        # in torch SGD); lr is a device tensor so the step can live in a CUDA graph.
        with torch.no_grad():
            for p, b, dcy in zip(params, bufs, decay):
                g = p.grad
                if dcy:
                    g = g.add(p, alpha=cfg.wd)
                b.mul_(cfg.momentum).add_(g)
                p.sub_(g.add(b, alpha=cfg.momentum) * lr_t)

    def fwd_bwd(xb, yb):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp, cache_enabled=False):
            logits = model(xb)
            loss = crit(logits.float(), yb)
            if teacher is not None and cfg.kd_alpha > 0:
                with torch.no_grad():
                    tlog = teacher(xb).float()
                T_ = cfg.kd_temp
                kd = F.kl_div(F.log_softmax(logits.float() / T_, 1), F.softmax(tlog / T_, 1),
                              reduction="batchmean") * T_ * T_
                loss = (1 - cfg.kd_alpha) * loss + cfg.kd_alpha * kd
        loss.backward()
        return loss

    def eager_step(xb, yb):
        for p in params:
            p.grad = None
        loss = fwd_bwd(xb, yb)
        sgd_update()
        return loss.detach()

    graph = None
    use_graph = dev.type == "cuda" and cfg.cuda_graph and trd.n >= cfg.batch
    static = {}

    def capture(xb, yb):
        nonlocal graph
        static["x"] = torch.empty_like(xb)
        static["y"] = torch.empty_like(yb)
        static["x"].copy_(xb)
        static["y"].copy_(yb)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up (real training steps)
                eager_step(static["x"], static["y"])
        torch.cuda.current_stream().wait_stream(side)
        for p in params:
            p.grad = None
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            static["loss"] = fwd_bwd(static["x"], static["y"]).detach()
            sgd_update()
        graph = g

    def save_ckpt():
        torch.save({"model": model.state_dict(), "bufs": bufs, "state": state,
                    "gen": gen.get_state(), "spec": spec, "cfg": asdict(cfg)},
                   ck.with_suffix(".tmp"))
        os.replace(ck.with_suffix(".tmp"), ck)
        if on_checkpoint is not None:
            on_checkpoint(ck)

    t0 = time.time() - state["elapsed"]
    steps_per_epoch = max(1, trd.n // cfg.batch)
    done = state["progress"] >= 1.0
    while not done:
        ep = state["epoch"]
        tl = torch.zeros((), device=dev)
        n = 0
        te = time.time()
        for bi, (xb, yb) in enumerate(trd.train_batches(cfg.batch, gen, cfg.cutout, cfg.flip)):
            el = time.time() - t0
            p = (ep + bi / steps_per_epoch) / cfg.epochs
            if cfg.time_budget > 0:
                p = max(p, el / cfg.time_budget)
            if p >= 1.0:
                done = True
                break
            lr_t.fill_(lr_at(p, cfg))
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if use_graph and graph is None:
                try:
                    capture(xb, yb)
                    log(f"[{tag}] CUDA graph captured")
                except Exception as e:  # fall back to eager
                    log(f"[{tag}] CUDA graph capture failed ({e!r}); eager mode")
                    use_graph, graph = False, None
                    for p_ in params:
                        p_.grad = None
                    torch.cuda.synchronize()
                    continue
            if graph is not None:
                static["x"].copy_(xb)
                static["y"].copy_(yb)
                graph.replay()
                tl += static["loss"]
            else:
                tl += eager_step(xb, yb)
            n += 1
            yield
        if n == 0 and done:
            break
        state["epoch"] = ep + 1
        state["elapsed"] = time.time() - t0
        state["progress"] = min(1.0, max(state["epoch"] / cfg.epochs,
                                         state["elapsed"] / cfg.time_budget if cfg.time_budget else 0))
        if state["progress"] >= 1.0:
            done = True
        rec = {"epoch": state["epoch"], "loss": round(tl.item() / max(1, n), 4),
               "lr": round(lr_t.item(), 4), "elapsed": round(state["elapsed"], 1),
               "epoch_s": round(time.time() - te, 2)}
        if done or state["epoch"] % cfg.eval_every == 0:
            rec["acc"] = evaluate(model, ted, cfg.bf16)
            state["best"] = max(state["best"], rec["acc"])
        state["history"].append(rec)
        if cfg.time_budget:
            eta = max(0.0, cfg.time_budget - state["elapsed"])
        else:
            eta = rec["epoch_s"] * (cfg.epochs - state["epoch"])
        log(f"[{tag}] ep {state['epoch']:3d} loss {rec['loss']:.3f} lr {rec['lr']:.3f} "
            f"acc {rec.get('acc', float('nan')):.2f} best {state['best']:.2f} "
            f"{rec['epoch_s']:.2f}s/ep eta {eta:.0f}s p={state['progress']:.2f}")
        if done or state["epoch"] % cfg.ckpt_every == 0:
            save_ckpt()
    final = evaluate(model, ted, cfg.bf16)
    final32 = evaluate(model, ted, False)
    state["best"] = max(state["best"], final)
    save_ckpt()
    torch.save({"model": model.state_dict(), "spec": spec}, out / "model.pt")
    res = {"name": tag, "spec": spec, "macs": cost["macs"], "params": cost["params"],
           "peak_act_bytes_int8_est": cost["peak_act_bytes_int8"],
           "epochs": state["epoch"], "train_seconds": round(state["elapsed"], 1),
           "final_acc": final, "final_acc_fp32": final32, "best_acc": state["best"],
           "eval_set": "val(train tail %d)" % cfg.val_split if cfg.val_split else "test",
           "n_train": trd.n, "n_eval": ted.n, "cfg": asdict(cfg), "history": state["history"],
           "init": str(init) if init is not None else None, **(meta or {})}
    tmp = out / "result.json.tmp"  # replaced atomically: carry.py copies it at any moment
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(out / "result.json")
    return res, model


def train(*args, **kw):
    """Train one architecture; returns (result dict, model)."""
    g = train_steps(*args, **kw)
    while True:
        try:
            next(g)
        except StopIteration as e:
            return e.value


class TrainPool:
    """Trains several candidates concurrently in ONE process, round-robin, one
    optimiser step each in turn; on a GPU each gets its own CUDA stream (and
    CUDA graph) so their kernels overlap.  (Separate processes on one GPU are
    time-sliced by the driver, which measured about twice as slow for these
    tiny nets.)  Jobs may be added while others run: `add(job, on_done)`
    calls `on_done(result)` when the job ends, and that callback may add
    more (the explorer starts a budget's next generation when its last one
    is scored).  A job is a dict with keys spec, arrays, cfg, out, tag and
    optionally resume, teacher; a failed job's result is {"name", "error"}."""

    def __init__(self, device="cuda", log=print):
        self.dev = torch.device(device)
        self.device = device
        self.log = log
        self.active = []

    def add(self, job, on_done=None):
        g = train_steps(job["spec"], job["arrays"], job["cfg"], job["out"], device=self.device,
                        resume=job.get("resume", False), log=self.log, tag=job.get("tag"),
                        teacher=job.get("teacher"), init=job.get("init"))
        stream = torch.cuda.Stream() if self.dev.type == "cuda" else None
        self.active.append((g, stream, job, on_done))

    def run(self):
        import traceback
        while self.active:
            for entry in list(self.active):
                g, stream, job, on_done = entry
                result = None
                try:
                    if stream is not None:
                        with torch.cuda.stream(stream):
                            next(g)
                    else:
                        next(g)
                    continue
                except StopIteration as e:
                    result = e.value[0]
                except Exception as e:
                    self.log(f"[{job.get('tag')}] FAILED: {e!r}\n{traceback.format_exc()}")
                    result = {"name": job.get("tag"), "error": repr(e)}
                self.active.remove(entry)
                if on_done is not None:
                    on_done(result)
        if self.dev.type == "cuda":
            torch.cuda.synchronize()


def train_many(jobs, device="cuda", log=print, pool=None):
    """Train `jobs` together (in `pool`, by default a TrainPool on `device`);
    returns their result dicts in order."""
    results = [None] * len(jobs)
    pool = pool or TrainPool(device, log)
    for i, j in enumerate(jobs):
        pool.add(j, lambda r, i=i: results.__setitem__(i, r))
    pool.run()
    return results
