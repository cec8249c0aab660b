"""The way back from a shipped model to a trainable PyTorch network.

Checkpoints (`model.pt`) stay on the machine that trained them; what the
repository keeps is each model folder in `models/`: the float ONNX (BN and the
input normalisation folded into the convolutions, see export.py) and
`card.json`, whose `spec` is the architecture. `net_from_onnx` rebuilds the
`arch.Net` of that spec with the ONNX weights, so a shipped model can be
fine-tuned (`train --init models/attonet-a`) or used as a distillation teacher
(`train --teacher models/baseline-mobilenet`) without its checkpoint.

Each folded convolution (weight W', bias b') becomes the spec's convolution
with weight W' and a batch norm that is the identity plus b': gamma 1, beta b',
running mean 0, running variance 1 - eps (so 1/sqrt(var + eps) is exactly 1).
The stem's weight is divided back by the input scale the network applies
first. The network computes what the ONNX computes (up to float rounding;
`tests/test_onnx_import.py` checks it). Train such a network with frozen batch
norms (`TrainCfg.freeze_bn`): in training mode a batch norm would normalise by
the batch's statistics, which these identity norms were not built for.

Conv nodes are matched to the spec's convolutions in execution order (stem;
per module its body, then its shortcut; the FC last), and every weight's shape,
group count and stride must agree: a model that is not of the spec is refused
with the first convolution that differs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import arch as A


class ModelImportError(ValueError):
    """A model that cannot be read back into its spec's network."""


def _conv_bn_pairs(net: A.Net):
    """(name, conv, bn) in the order the exported graph computes them."""
    pairs = [("stem", net.stem[0], net.stem[1])]
    for i, m in enumerate(net.mods):
        for j, seq in enumerate(m.body):
            pairs.append((f"module {i + 1} body conv {j + 1}", seq[0], seq[1]))
        short = getattr(m, "short", None)
        if short is not None and not isinstance(short, nn.Identity):
            pairs.append((f"module {i + 1} shortcut", short[0], short[1]))
    return pairs


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else a.i
    return default


def resolve(path) -> tuple[Path, dict]:
    """A model folder (with card.json) or an ONNX file beside a card.json ->
    (onnx path, spec)."""
    p = Path(path)
    if p.is_dir():
        card = p / "card.json"
        if not card.exists():
            raise ModelImportError(f"{p}: no card.json (a model folder from `publish` has one)")
        c = json.loads(card.read_text())
        return p / c["onnx"], c["spec"]
    if p.suffix == ".onnx":
        card = p.parent / "card.json"
        if not card.exists():
            raise ModelImportError(f"{p}: no card.json beside it to give the architecture")
        return p, json.loads(card.read_text())["spec"]
    raise ModelImportError(f"{p}: neither a model folder nor an .onnx file")


def net_from_onnx(spec: dict, onnx_path) -> A.Net:
    """The spec's network carrying the folded weights of `onnx_path`."""
    import onnx
    from onnx import numpy_helper

    path = Path(onnx_path)
    if not path.exists():
        raise ModelImportError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # a corrupt file: say which
        raise ModelImportError(f"{path}: not a readable ONNX model ({e})") from e
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    net = A.build(spec).eval()
    pairs = _conv_bn_pairs(net)
    if len(convs) != len(pairs):
        raise ModelImportError(f"{path}: {len(convs)} convolutions, but the spec "
                           f"{spec.get('name')!r} has {len(pairs)}")
    if len(gemms) != 1:
        raise ModelImportError(f"{path}: expected one Gemm (the classifier), found {len(gemms)}")

    def weights(node, what):
        try:
            w = init[node.input[1]]
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
        except KeyError as e:
            raise ModelImportError(f"{path}: {what}'s weights are not constants ({e})") from e
        return w.astype(np.float32), b.astype(np.float32)

    with torch.no_grad():
        for node, (name, conv, bn) in zip(convs, pairs):
            w, b = weights(node, name)
            groups = _attr(node, "group", 1)
            stride = _attr(node, "strides", [1, 1])
            if (tuple(w.shape) != tuple(conv.weight.shape) or groups != conv.groups
                    or tuple(stride) != tuple(conv.stride)):
                raise ModelImportError(
                    f"{path}: {name} is {list(w.shape)} groups {groups} stride {stride} in the "
                    f"ONNX but {list(conv.weight.shape)} groups {conv.groups} stride "
                    f"{list(conv.stride)} in the spec")
            wt = torch.from_numpy(w)
            if name == "stem":
                wt = wt / net.in_scale.view(1, 3, 1, 1)
            conv.weight.copy_(wt)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        w, b = weights(gemms[0], "the classifier")
        if _attr(gemms[0], "transB", 0) != 1:
            w = w.T
        if tuple(w.shape) != tuple(net.fc.weight.shape):
            raise ModelImportError(f"{path}: classifier is {list(w.shape)} in the ONNX but "
                               f"{list(net.fc.weight.shape)} in the spec")
        net.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
        net.fc.bias.copy_(torch.from_numpy(b))
    return net


def load_any(path) -> tuple[A.Net, dict]:
    """A trainable network and its spec from a model.pt / ckpt.pt, a model
    folder or an ONNX beside its card.json. The flag `folded` on the network
    says whether its batch norms are the identity ones of an import."""
    p = Path(path)
    if p.suffix == ".pt":
        if not p.exists():
            raise ModelImportError(f"{p}: no such file")
        from .export import load_model
        net = load_model(p)
        net.folded = False
        return net, net.spec
    onnx_path, spec = resolve(p)
    net = net_from_onnx(spec, onnx_path)
    net.folded = True
    return net, spec


class Ensemble(nn.Module):
    """Several networks as one teacher: the mean of their logits."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x):
        out = self.nets[0](x)
        for n in self.nets[1:]:
            out = out + n(x)
        return out / len(self.nets)


def teacher_from(paths) -> nn.Module:
    """One teacher from one or several model.pt files / model folders, each
    with its batch norms folded (export.FusedNet: the teacher only infers,
    and the folded form is a third faster on a CPU)."""
    from .export import FusedNet
    nets = [FusedNet(load_any(p)[0], softmax=False).eval() for p in paths]
    for n in nets:
        for q in n.parameters():
            q.requires_grad_(False)
    return nets[0] if len(nets) == 1 else Ensemble(nets).eval()
