"""Atto-MaskRCNN: torchvision's Mask R-CNN with a searched AttoNet backbone,
against the same Mask R-CNN with a ResNet-50 backbone, trained by the same
recipe on the same generated scenes (scenes.py: MNIST digits on cluttered
96x96 backgrounds, each instance's mask its visible strokes), compared on
parameters, multiply-adds, box AP and mask AP (COCO's, with pycocotools).
The paper's claim (Atto-MaskRCNN on Pascal VOC): 2x fewer parameters and 5x
fewer multiply-adds than the ResNet-50 Mask R-CNN, box and mask AP within a
few points. This runs on the host, not the microcontroller.

Both models (`build`):
- the same heads in proportion to the feature width: torchvision's RPN, box
  head (two FC layers 4x the width wide: 1024 for ResNet-50's 256-channel
  FPN, 256 for the AttoNet's 64), mask head (four 3x3 convs of the width
  and a deconvolution), 11 classes (10 digits and the background), anchors
  and RoI pooling over every level of the feature pyramid, the same caps on
  proposals (100 at test time) and detections (50);
- the backbone: `resnet50` (torchvision's, untrained: no weights are fetched
  here; its FPN over C2..C5, strides 4 to 32), or `atto` (the stem and
  modules of an AttoNet spec, by default the searched detector's,
  models/atto-det-a; an FPN over its stride-4 and stride-8 outputs);
- the grayscale scene repeated to three channels (ResNet-50's stem wants
  three), normalised by the same mean and standard deviation, no resizing
  (`min_size = max_size` = the scene size).

The recipe (`MaskCfg`): SGD with momentum 0.9, weight decay 1e-4, a linear
warm-up then cosine decay, batch 8, horizontal flips off (digits), the same
epochs and seed for both.

`macs` counts the multiply-accumulates of every convolution and linear layer
a forward pass in eval mode executes on one scene (forward hooks; the heads'
share depends on the number of proposals and detections, both capped as
torchvision's defaults are, and is reported apart from the backbone's).

    python -m models.design maskrcnn --backbone atto --out DIR --train 2000 \\
        --epochs 12
    python -m models.design maskrcnn --backbone resnet50 --out DIR2 ...

Each run writes DIR/card.json (parameters, MACs, box and mask AP on the test
scenes, training settings) and keeps DIR/ckpt.pt after every epoch, so a run
resumes where it stopped. On one CPU thread the ResNet-50 model trains at
about 2 s a scene (96x96): a full comparison is a GPU job
(models/design/gpu_session.sh) or a long CPU one.
"""
from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import arch as A
from . import detect as D

BACKBONES = ("atto", "resnet50")
CLASSES = 10
ROOT = Path(__file__).resolve().parents[2]


class MaskError(ValueError):
    """Bad settings or data, named."""


def _tv():
    try:
        import torchvision  # noqa: F401  (models/requirements.txt)
        from torchvision.models import detection
        return detection
    except ImportError as e:
        raise MaskError("torchvision is missing: pip install -r models/requirements.txt") from e


class AttoFeatures(nn.Module):
    """An AttoNet spec's stem and modules as a feature extractor: the
    outputs of the last module at each stride (at most two: the first
    strided module's and the last's), as an OrderedDict for the FPN."""

    def __init__(self, spec):
        super().__init__()
        net = D.build(spec)
        self.register_buffer("in_scale", net.in_scale.clone())
        self.stem, self.mods = net.stem, net.mods
        widths, strides, s = [], [], A.stem_stride(spec)
        for m in spec["modules"]:
            s *= int(m.get("stride", 1))
            widths.append(m["out"])
            strides.append(s)
        # The last module of each stride.
        self.taps = [i for i in range(len(strides))
                     if i + 1 == len(strides) or strides[i + 1] != strides[i]][-2:]
        self.channels = [widths[i] for i in self.taps]
        self.strides = [strides[i] for i in self.taps]

    def forward(self, x):
        # torchvision hands normalised 3-channel images: the first channel
        # is the grayscale scene (the others repeat it).
        x = self.stem(x[:, :1])
        out = OrderedDict()
        for i, m in enumerate(self.mods):
            x = m(x)
            if i in self.taps:
                out[str(len(out))] = x
        return out


class WithFPN(nn.Module):
    def __init__(self, body: AttoFeatures, fpn_channels):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        self.body = body
        self.fpn = FeaturePyramidNetwork(body.channels, fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x):
        return self.fpn(self.body(x))


def default_atto_spec():
    """The searched detector's spec (models/atto-det-a/card.json)."""
    card = ROOT / "models" / "atto-det-a" / "card.json"
    try:
        return json.loads(card.read_text())["spec"]
    except (OSError, ValueError, KeyError) as e:
        raise MaskError(f"{card}: no detector spec ({e})") from e


# The scenes' mean and std (0..1 scale), measured on 2,000 training scenes.
IMAGE_MEAN, IMAGE_STD = 0.23, 0.25


def build(backbone, size=96, spec=None, fpn_channels=64):
    """The Mask R-CNN of `backbone` ('atto' or 'resnet50') for `size` x `size`
    scenes, untrained."""
    det = _tv()
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign
    if backbone not in BACKBONES:
        raise MaskError(f"backbone {backbone!r}: one of {', '.join(BACKBONES)}")
    # Scenes of at most a dozen digits: the same proposal and detection caps
    # for both (torchvision's 1,000 proposals at test time would make the
    # heads 99 % of the work on a 96x96 scene).
    common = dict(num_classes=CLASSES + 1, min_size=size, max_size=size,
                  image_mean=[IMAGE_MEAN] * 3, image_std=[IMAGE_STD] * 3,
                  rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500,
                  rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=100,
                  box_detections_per_img=50)
    if backbone == "resnet50":
        # Anchors one octave smaller than torchvision's (32 to 512 pixels
        # on 800-pixel images; digits here are 17 to 45 pixels).
        anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 5)
        return det.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                         rpn_anchor_generator=anchors, **common)
    spec = spec or default_atto_spec()
    body = AttoFeatures(spec)
    if len(body.taps) == 0:
        raise MaskError("the AttoNet spec has no modules")
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    bb = WithFPN(body, fpn_channels)
    names = list(map(str, range(len(body.taps))))
    sizes = tuple((16 * 2 ** i,) for i in range(len(names)))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(names))
    # The heads in proportion to the feature width, as torchvision's are to
    # its 256 channels (a box representation 4x the width, mask convs of
    # the width).
    return det.MaskRCNN(bb, rpn_anchor_generator=anchors,
                        box_roi_pool=MultiScaleRoIAlign(names, 7, 2),
                        box_head=TwoMLPHead(fpn_channels * 49, 4 * fpn_channels),
                        box_predictor=det.faster_rcnn.FastRCNNPredictor(4 * fpn_channels,
                                                                        CLASSES + 1),
                        mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
                        mask_head=MaskRCNNHeads(fpn_channels, (fpn_channels,) * 4, 1),
                        mask_predictor=MaskRCNNPredictor(fpn_channels, fpn_channels,
                                                         CLASSES + 1),
                        **dict(common, num_classes=None))


def parameters(model):
    return int(sum(p.numel() for p in model.parameters()))


def macs(model, size=96):
    """The multiply-adds of every Conv2d, ConvTranspose2d and Linear one eval
    forward pass executes on a scene of noise: {'backbone': the backbone's
    and FPN's, 'heads': the RPN's and RoI heads' (as many RoIs as the model
    keeps: torchvision's caps, 1,000 proposals, 100 detections), 'total'}."""
    counts = {"backbone": 0, "heads": 0}
    hooks = []

    def hook(part):
        def f(mod, inp, out):
            if isinstance(mod, nn.Linear):
                n = out.numel() // out.shape[-1] * mod.in_features * mod.out_features
            elif isinstance(mod, nn.ConvTranspose2d):
                x = inp[0]
                n = x.numel() // x.shape[1] * mod.in_channels * mod.out_channels \
                    // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            else:
                k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
                n = out.numel() * k
            counts[part] += int(n)
        return f

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            part = "backbone" if name.startswith("backbone.") else "heads"
            hooks.append(mod.register_forward_hook(hook(part)))
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0, 1, (3, size, size)).astype(np.float32))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model([x])
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    counts["total"] = counts["backbone"] + counts["heads"]
    return counts


def targets(ss, idx):
    """torchvision's inputs for scenes `idx` of SceneSet `ss`: images
    (3 x H x W float 0..1) and targets (boxes, labels 1..10, masks)."""
    images, tg = [], []
    for i in idx:
        img = torch.from_numpy(ss.images[i].astype(np.float32) / 255.0).permute(2, 0, 1)
        images.append(img[:1].expand(3, -1, -1).contiguous())
        k = np.nonzero(ss.scene == i)[0]
        tg.append({"boxes": torch.from_numpy(ss.boxes[k].astype(np.float32)).reshape(-1, 4),
                   "labels": torch.from_numpy(ss.cls[k] + 1).long(),
                   "masks": torch.from_numpy(ss.masks[k].astype(np.uint8))})
    return images, tg


@dataclass
class MaskCfg:
    epochs: int = 12
    batch: int = 8
    lr: float = 0.02
    momentum: float = 0.9
    wd: float = 1e-4
    warmup: int = 200
    seed: int = 0
    threads: int = 1

    def check(self):
        for k in ("epochs", "batch", "threads"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 1:
                raise MaskError(f"{k} {getattr(self, k)!r}: a whole number, at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise MaskError(f"lr {self.lr}: positive")


def train(model, ss, cfg: MaskCfg, ckpt=None, log=print):
    """Trains `model` on SceneSet `ss` (resumable from `ckpt` after every
    epoch, where the settings are the same); returns the per-epoch losses."""
    cfg.check()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd)
    n = len(ss.images)
    steps = max(1, n // cfg.batch)
    total = steps * cfg.epochs
    state = {"epoch": 0, "history": []}
    settings = {"cfg": asdict(cfg), "train": n}
    ckpt = Path(ckpt) if ckpt else None
    if ckpt is not None and ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        if saved.get("settings") == settings:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            state = saved["state"]
            log(f"[maskrcnn] resumed after epoch {state['epoch']} from {ckpt}")
    model.train()
    for epoch in range(state["epoch"], cfg.epochs):
        t0, rng = time.time(), np.random.default_rng([cfg.seed, epoch])
        perm, sums = rng.permutation(n), {}
        for b in range(steps):
            step = epoch * steps + b
            lr = (cfg.lr * (step + 1) / cfg.warmup if step < cfg.warmup else
                  0.5 * cfg.lr * (1 + math.cos(math.pi * step / total)))
            for g in opt.param_groups:
                g["lr"] = lr
            images, tg = targets(ss, perm[b * cfg.batch:(b + 1) * cfg.batch])
            losses = model(images, tg)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise MaskError(f"epoch {epoch + 1} step {b}: the loss is {loss.item()} "
                                f"(lower --lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v.item()
        rec = {k: v / steps for k, v in sums.items()}
        rec.update(epoch=epoch + 1, seconds=time.time() - t0)
        state["history"].append(rec)
        state["epoch"] = epoch + 1
        if ckpt is not None:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"settings": settings, "model": model.state_dict(),
                        "opt": opt.state_dict(), "state": state}, tmp)
            tmp.replace(ckpt)
        log(f"[maskrcnn] epoch {epoch + 1}/{cfg.epochs}: loss "
            f"{sum(v for k, v in rec.items() if k.startswith('loss')):.3f} "
            f"({rec['seconds']:.0f} s)")
    return state["history"]


def coco_ap(model, ss, batch=16):
    """COCO box and mask AP (pycocotools) of `model` on SceneSet `ss`:
    {'box': {'ap', 'ap50', 'ap75'}, 'mask': {...}} in percent."""
    from pycocotools import mask as M
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    model.eval()
    h, w = ss.images.shape[1:3]
    gt = {"images": [{"id": i, "height": h, "width": w} for i in range(len(ss.images))],
          "categories": [{"id": c + 1, "name": str(c)} for c in range(CLASSES)],
          "annotations": []}
    for k in range(len(ss.cls)):
        rle = M.encode(np.asfortranarray(ss.masks[k].astype(np.uint8)))
        rle["counts"] = rle["counts"].decode()
        x0, y0, x1, y1 = (float(v) for v in ss.boxes[k])
        gt["annotations"].append({"id": k + 1, "image_id": int(ss.scene[k]),
                                  "category_id": int(ss.cls[k]) + 1,
                                  "bbox": [x0, y0, x1 - x0, y1 - y0],
                                  "area": float(ss.masks[k].sum()), "iscrowd": 0,
                                  "segmentation": rle})
    boxes, segms = [], []
    with torch.no_grad():
        for s in range(0, len(ss.images), batch):
            idx = list(range(s, min(len(ss.images), s + batch)))
            images, _ = targets(ss, idx)
            for i, out in zip(idx, model(images)):
                for b, lab, sc, m in zip(out["boxes"].numpy(), out["labels"].numpy(),
                                         out["scores"].numpy(), out["masks"].numpy()):
                    x0, y0, x1, y1 = (float(v) for v in b)
                    boxes.append({"image_id": i, "category_id": int(lab),
                                  "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(sc)})
                    rle = M.encode(np.asfortranarray((m[0] > 0.5).astype(np.uint8)))
                    rle["counts"] = rle["counts"].decode()
                    segms.append({"image_id": i, "category_id": int(lab),
                                  "segmentation": rle, "score": float(sc)})
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    res = {}
    for kind, dets in (("box", boxes), ("mask", segms)):
        if not dets:
            res[kind] = {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
            continue
        ev = COCOeval(coco, coco.loadRes(dets), "bbox" if kind == "box" else "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        res[kind] = {"ap": round(100 * float(ev.stats[0]), 2),
                     "ap50": round(100 * float(ev.stats[1]), 2),
                     "ap75": round(100 * float(ev.stats[2]), 2)}
    return res


def run_cli(a, log=print):
    from . import scenes as S
    for name in ("train", "test", "epochs", "batch", "threads"):
        if getattr(a, name) < 1:
            raise MaskError(f"--{name} {getattr(a, name)}: at least 1")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise MaskError(f"--out {out}: exists and is not a folder")
    try:
        sets = S.splits(a.mnist, {"train": a.train, "test": a.test}, a.seed)
        train_set, test_set = sets["train"], sets["test"]
    except S.SceneError as e:
        raise MaskError(str(e)) from e
    torch.manual_seed(a.seed)
    model = build(a.backbone, size=train_set.images.shape[1])
    cfg = MaskCfg(epochs=a.epochs, batch=a.batch, lr=a.lr, seed=a.seed, threads=a.threads)
    out.mkdir(parents=True, exist_ok=True)
    n_params, n_macs = parameters(model), macs(model, train_set.images.shape[1])
    log(f"[maskrcnn] {a.backbone}: {n_params / 1e6:.2f} M parameters, "
        f"{n_macs['total'] / 1e6:.1f} M MACs ({n_macs['backbone'] / 1e6:.1f} M backbone + FPN)")
    history = train(model, train_set, cfg, ckpt=out / "ckpt.pt", log=log)
    ap = coco_ap(model, test_set)
    log(f"[maskrcnn] {a.backbone}: box AP {ap['box']['ap']:.1f} (AP50 {ap['box']['ap50']:.1f}), "
        f"mask AP {ap['mask']['ap']:.1f} (AP50 {ap['mask']['ap50']:.1f}) on {a.test} scenes")
    card = {"backbone": a.backbone, "parameters": n_params, "macs": n_macs, "ap": ap,
            "training": {**asdict(cfg), "train_scenes": a.train, "test_scenes": a.test,
                         "scene_seed": a.seed, "history": history},
            "how": f"python -m models.design maskrcnn --backbone {a.backbone} --out DIR "
                   f"--train {a.train} --test {a.test} --epochs {a.epochs} --batch {a.batch} "
                   f"--lr {a.lr} --seed {a.seed}"}
    (out / "card.json").write_text(json.dumps(card, indent=1))
    return card


def cli(a):
    try:
        run_cli(a)
    except MaskError as e:
        raise SystemExit(f"maskrcnn: {e}")
