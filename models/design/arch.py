"""Architecture specs (JSON-serialisable dicts), PyTorch model builder and the
analytic cost model (MACs, params, activation sizes).

Spec format::

    {"name": "A", "stem": 16, "stem_stride": 1,
     "modules": [{"type": "atto", "out": 16, "comp": 8, "groups": 2,
                  "mix": 8, "stride": 1}, ...],
     "classes": 10,
     "input": [32, 32, 3], "in_std": [0.2470, 0.2435, 0.2616]}

`stem_stride` (1 when absent, or 2) is the stem 3x3's stride. `input`
(height, width, channels of the raw uint8 image) and `in_std` (the
per-channel standard deviation of the training pixels on a 0..1 scale, the
input's only normalisation) come from the data set (datasets.py); a spec
without them is CIFAR-10's (32x32x3 and its std).

Module types
  atto      pointwise compress (in->comp, BN, ReLU) -> grouped 3x3 (comp->comp,
            groups, stride, BN, ReLU) -> 1x1 mix (comp->mix, BN, ReLU) ->
            1x1 expand (mix->out, BN) + shortcut (identity, or strided 1x1
            conv + BN = "type B") -> add -> ReLU.
  basic     ResNet basic block (3x3 -> 3x3) + shortcut (ResNet-8 baseline).
  dw        MobileNet-v1 block: depthwise 3x3 (stride) -> 1x1, no shortcut.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import CIFAR_STD


def input_shape(spec):
    """(height, width, channels) of the network's raw input."""
    h, w, c = spec.get("input", (32, 32, 3))
    return int(h), int(w), int(c)


def stem_stride(spec):
    s = int(spec.get("stem_stride", 1))
    if s not in (1, 2):
        raise ValueError(f"{spec.get('name')}: stem_stride {s} (1 or 2)")
    return s


def input_std(spec):
    """The per-channel pixel std (0..1 scale) the input is divided by."""
    c = input_shape(spec)[2]
    std = spec.get("in_std")
    if std is None:
        if c != 3:
            raise ValueError(f"{spec.get('name')}: a {c}-channel input needs its `in_std` "
                             f"(one per channel; datasets.py computes it)")
        std = CIFAR_STD
    if len(std) != c or not all(x > 0 for x in std):
        raise ValueError(f"{spec.get('name')}: in_std {list(std)} is not {c} positive values")
    return tuple(float(x) for x in std)


# ----------------------------------------------------------------------------
# cost model
def _conv(name, hin, win, cin, cout, k, stride, groups=1, bias=True):
    ho = (hin + 2 * (k // 2) - k) // stride + 1
    wo = (win + 2 * (k // 2) - k) // stride + 1
    macs = ho * wo * cout * k * k * cin // groups
    params = k * k * cin // groups * cout + (cout if bias else 0)
    return dict(name=name, op="conv", k=k, stride=stride, groups=groups, cin=cin, cout=cout,
                hin=hin, win=win, hout=ho, wout=wo, macs=macs, params=params,
                in_act=hin * win * cin, out_act=ho * wo * cout)


def layers(spec):
    """Deployed (BN-folded) layer list with per-layer MACs/params/activations."""
    L = []
    h, w, cin = input_shape(spec)
    c = spec["stem"]
    L.append(_conv("stem", h, w, cin, c, 3, stem_stride(spec)))
    h, w = L[-1]["hout"], L[-1]["wout"]
    for i, m in enumerate(spec["modules"]):
        t = m.get("type", "atto")
        s = m.get("stride", 1)
        o = m["out"]
        mod_in = h * w * c
        if t == "atto":
            seq = [_conv(f"m{i}.compress", h, w, c, m["comp"], 1, 1),
                   None]
            seq[1] = _conv(f"m{i}.group3x3", h, w, m["comp"], m["comp"], 3, s, m["groups"])
            ho, wo = seq[1]["hout"], seq[1]["wout"]
            seq.append(_conv(f"m{i}.mix", ho, wo, m["comp"], m["mix"], 1, 1))
            seq.append(_conv(f"m{i}.expand", ho, wo, m["mix"], o, 1, 1))
        elif t == "basic":
            seq = [_conv(f"m{i}.conv1", h, w, c, o, 3, s)]
            ho, wo = seq[0]["hout"], seq[0]["wout"]
            seq.append(_conv(f"m{i}.conv2", ho, wo, o, o, 3, 1))
        elif t == "dw":
            seq = [_conv(f"m{i}.dw", h, w, c, c, 3, s, c)]
            ho, wo = seq[0]["hout"], seq[0]["wout"]
            seq.append(_conv(f"m{i}.pw", ho, wo, c, o, 1, 1))
        else:
            raise ValueError(t)
        residual = t in ("atto", "basic")
        for l in seq:
            l["live_extra"] = mod_in if residual else 0
        L += seq
        if residual and (s != 1 or c != o):
            sc = _conv(f"m{i}.shortcut", h, w, c, o, 1, s)
            sc["live_extra"] = 0
            L.append(sc)
        if residual:
            L.append(dict(name=f"m{i}.add", op="add", macs=0, params=0,
                          in_act=2 * ho * wo * o, out_act=ho * wo * o, live_extra=0))
        h, w, c = ho, wo, o
    L.append(dict(name="gap", op="gap", macs=0, params=0, in_act=h * w * c, out_act=c,
                  live_extra=0))
    nc = spec.get("classes", 10)
    L.append(dict(name="fc", op="fc", macs=c * nc, params=c * nc + nc, in_act=c,
                  out_act=nc, live_extra=0))
    return L


def cost(spec):
    L = layers(spec)
    macs = sum(l["macs"] for l in L)
    params = sum(l["params"] for l in L)
    n_bias = sum(l.get("cout", 0) for l in L if l["op"] == "conv") + spec.get("classes", 10)
    peak = max(l["in_act"] + l["out_act"] + l.get("live_extra", 0) for l in L)
    return dict(macs=macs, params=params, n_out_channels=n_bias, peak_act_bytes_int8=peak,
                n_layers=len(L))


def describe(spec):
    c = cost(spec)
    return (f"{spec.get('name', '?')}: {c['macs'] / 1e6:.2f}M MACs, {c['params'] / 1e3:.1f}K params, "
            f"{len(spec['modules'])} modules")


# ----------------------------------------------------------------------------
# PyTorch model
def _cbr(cin, cout, k, stride=1, groups=1, relu=True):
    layers_ = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
               nn.BatchNorm2d(cout)]
    if relu:
        layers_.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers_)


class AttoModule(nn.Module):
    def __init__(self, cin, m):
        super().__init__()
        s, o = m.get("stride", 1), m["out"]
        self.body = nn.Sequential(
            _cbr(cin, m["comp"], 1),
            _cbr(m["comp"], m["comp"], 3, s, m["groups"]),
            _cbr(m["comp"], m["mix"], 1),
            _cbr(m["mix"], o, 1, relu=False))
        self.short = _cbr(cin, o, 1, s, relu=False) if (s != 1 or cin != o) else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class BasicModule(nn.Module):
    def __init__(self, cin, m):
        super().__init__()
        s, o = m.get("stride", 1), m["out"]
        self.body = nn.Sequential(_cbr(cin, o, 3, s), _cbr(o, o, 3, 1, relu=False))
        self.short = _cbr(cin, o, 1, s, relu=False) if (s != 1 or cin != o) else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class DWModule(nn.Module):
    def __init__(self, cin, m):
        super().__init__()
        s, o = m.get("stride", 1), m["out"]
        self.body = nn.Sequential(_cbr(cin, cin, 3, s, cin), _cbr(cin, o, 1))

    def forward(self, x):
        return self.body(x)


MODULES = {"atto": AttoModule, "basic": BasicModule, "dw": DWModule}


class Net(nn.Module):
    """Float model.  Input: raw pixels (0..255) as float NCHW.  The first op is
    a per-channel scale x / (255*std) (no mean subtraction; exact to fold into
    the stem conv, see export.py).  Output: logits (softmax added at export)."""

    def __init__(self, spec):
        super().__init__()
        self.spec = copy.deepcopy(spec)
        cin = input_shape(spec)[2]
        self.register_buffer("in_scale", torch.tensor([1.0 / (255.0 * s) for s in input_std(spec)])
                             .view(1, cin, 1, 1))
        c = spec["stem"]
        self.stem = _cbr(cin, c, 3, stem_stride(spec))
        mods = []
        for m in spec["modules"]:
            mods.append(MODULES[m.get("type", "atto")](c, m))
            c = m["out"]
        self.mods = nn.Sequential(*mods)
        self.fc = nn.Linear(c, spec.get("classes", 10))
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        # zero-init last BN of each residual body (helps deep/narrow nets train)
        for mod in self.mods:
            if isinstance(mod, (AttoModule, BasicModule)):
                nn.init.zeros_(mod.body[-1][1].weight)

    def forward(self, x):
        x = x * self.in_scale
        x = self.mods(self.stem(x))
        x = x.mean((2, 3))
        return self.fc(x)


def build(spec) -> Net:
    return Net(spec)


# ----------------------------------------------------------------------------
# reference / seed architectures
def atto(name, stem, mods):
    """mods: list of (out, comp, groups, mix, stride)."""
    return {"name": name, "stem": stem, "classes": 10,
            "modules": [{"type": "atto", "out": o, "comp": c, "groups": g, "mix": mx,
                         "stride": s} for (o, c, g, mx, s) in mods]}


def resnet8():
    """MLPerf-Tiny ResNet-8 (conv3x3-16; stacks 16, 32/s2, 64/s2)."""
    return {"name": "resnet8", "stem": 16, "classes": 10,
            "modules": [{"type": "basic", "out": 16, "stride": 1},
                        {"type": "basic", "out": 32, "stride": 2},
                        {"type": "basic", "out": 64, "stride": 2}]}


def mobilenet_baseline():
    """MobileNet-v1 style depthwise-separable baseline, ~ResNet-8 MACs."""
    cfg = [(32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1)]
    return {"name": "mobilenet", "stem": 16, "classes": 10,
            "modules": [{"type": "dw", "out": o, "stride": s} for o, s in cfg]}


def probe_net():
    """The hand-picked probe from the issue (stem 16, five modules 16/32/64, g=4)."""
    return atto("probe", 16, [(16, 16, 4, 16, 1), (32, 32, 4, 32, 2), (32, 32, 4, 32, 1),
                              (64, 64, 4, 64, 2), (64, 64, 4, 64, 1)])


def family_seeds():
    """Hand-designed seeds for the family (the human prototype + scalings).
    Principle: thin 32x32 stage (expensive per channel), most parameters in
    the 8x8 stage (cheap in MACs), grouped 3x3 with a mix layer.

    The seeds keep the names they had when the family ran from the smallest
    (A) to the largest (D): `atto-A` is the smallest seed, the one the
    smallest budget (AttoNet-D now, as in the paper) starts from, and
    `atto-D` the largest. Configs and carried runs name seeds by these
    strings, so they stay."""
    A = atto("atto-A", 8, [(12, 8, 4, 8, 1),
                           (24, 12, 4, 12, 2), (24, 12, 4, 12, 1),
                           (64, 32, 4, 32, 2), (64, 32, 4, 32, 1), (64, 32, 4, 32, 1)])
    B = atto("atto-B", 12, [(16, 8, 4, 8, 1),
                            (32, 16, 4, 16, 2), (32, 16, 4, 16, 1),
                            (96, 48, 4, 48, 2), (96, 48, 4, 48, 1), (96, 48, 4, 48, 1)])
    C = atto("atto-C", 16, [(16, 12, 4, 12, 1),
                            (48, 24, 4, 24, 2), (48, 24, 4, 24, 1),
                            (128, 64, 4, 64, 2), (128, 64, 4, 64, 1), (128, 64, 4, 64, 1)])
    D = atto("atto-D", 16, [(24, 16, 4, 16, 1),
                            (48, 24, 4, 24, 2), (48, 24, 4, 24, 1),
                            (144, 64, 4, 64, 2), (144, 64, 4, 64, 1), (144, 64, 4, 64, 1)])
    return [A, B, C, D]


def family_variants():
    """Extra hand variants probed in the first GPU session."""
    Aw = atto("atto-A-w8", 8, [(12, 8, 4, 8, 1),
                               (24, 12, 4, 12, 2), (24, 12, 4, 12, 1),
                               (80, 40, 8, 40, 2), (80, 40, 8, 40, 1), (80, 40, 8, 40, 1)])
    Ad = atto("atto-A-deep", 8, [(12, 8, 4, 8, 1),
                                 (24, 12, 4, 12, 2), (24, 12, 4, 12, 1), (24, 12, 4, 12, 1),
                                 (56, 28, 4, 28, 2), (56, 28, 4, 28, 1), (56, 28, 4, 28, 1),
                                 (56, 28, 4, 28, 1)])
    return [Aw, Ad]


def teacher():
    """Wider basic-block ResNet used as a distillation teacher."""
    return {"name": "teacher", "stem": 64, "classes": 10,
            "modules": [{"type": "basic", "out": 64, "stride": 1},
                        {"type": "basic", "out": 128, "stride": 2},
                        {"type": "basic", "out": 256, "stride": 2},
                        {"type": "basic", "out": 256, "stride": 1}]}


if __name__ == "__main__":
    for s in family_seeds() + family_variants() + [resnet8(), mobilenet_baseline(), probe_net(), teacher()]:
        c = cost(s)
        print(f"{describe(s)}  peakact={c['peak_act_bytes_int8'] / 1024:.1f}KiB")
