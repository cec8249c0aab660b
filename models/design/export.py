"""BN folding, input-normalisation folding and ONNX export.

Input normalisation is x_n = x_raw * s_c with s_c = 1/(255*std_c) and *no*
mean subtraction.  Therefore zero padding in normalised space equals zero
padding in raw space and folding s into the stem conv (W'[:, c] = W[:, c]*s_c)
is exact, borders included.  (With mean subtraction, zero padding in
normalised space would equal padding the raw image with the mean, which a
folded conv on raw pixels cannot reproduce; we avoid the problem by not
subtracting the mean -- the stem BN re-centres activations anyway.)

The exported graph contains only Conv (with bias, any groups), Relu, Add,
GlobalAveragePool, Flatten, Gemm, Softmax.  Input: float32 NCHW 1xCxHxW raw
pixel values 0..255 (the spec's `input`, CIFAR-10's 1x3x32x32 by default);
output: softmax probabilities [1, classes].
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import arch as A


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    g = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, groups=conv.groups, bias=True)
    new.weight.data = (w * g.view(-1, 1, 1, 1)).float()
    new.bias.data = ((b - bn.running_mean.double()) * g + bn.bias.detach().double()).float()
    return new


def _fold_seq(seq):
    """seq = Sequential(conv, bn[, relu]) -> (conv_folded, relu?)"""
    return fold_conv_bn(seq[0], seq[1]), len(seq) > 2


class FBlock(nn.Module):
    def __init__(self, convs, relus, short, residual):
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.relus = relus
        self.short = short
        self.residual = residual

    def forward(self, x):
        y = x
        for c, r in zip(self.convs, self.relus):
            y = c(y)
            if r:
                y = F.relu(y)
        if self.residual:
            s = self.short(x) if self.short is not None else x
            y = F.relu(y + s)
        return y


class FusedNet(nn.Module):
    """BN-folded, normalisation-folded deployable net: raw pixels -> softmax."""

    def __init__(self, net: A.Net, softmax=True):
        super().__init__()
        net = copy.deepcopy(net).float().eval().to(memory_format=torch.contiguous_format)
        stem, _ = _fold_seq(net.stem)
        stem.weight.data = stem.weight.data * net.in_scale.view(1, -1, 1, 1).cpu()
        self.stem = stem
        blocks = []
        for m in net.mods:
            cr = [_fold_seq(s) for s in m.body]
            residual = isinstance(m, (A.AttoModule, A.BasicModule))
            short = None
            if residual and not isinstance(m.short, nn.Identity):
                short = fold_conv_bn(m.short[0], m.short[1])
            blocks.append(FBlock([c for c, _ in cr], [r for _, r in cr], short, residual))
        self.blocks = nn.Sequential(*blocks)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = copy.deepcopy(net.fc)
        self.softmax = softmax

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.blocks(x)
        x = self.fc(self.flat(self.gap(x)))
        return F.softmax(x, 1) if self.softmax else x


ALLOWED_OPS = {"Conv", "Add", "Relu", "GlobalAveragePool", "Flatten", "Reshape", "Gemm",
               "Softmax"}


def export_onnx(net: A.Net, path, opset=13):
    fused = FusedNet(net.cpu()).eval()
    h, w, c = A.input_shape(net.spec)
    dummy = torch.zeros(1, c, h, w)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    kw = dict(input_names=["input"], output_names=["probs"], opset_version=opset,
              do_constant_folding=True)
    try:
        torch.onnx.export(fused, dummy, str(path), dynamo=False, **kw)
    except TypeError:  # older torch without the dynamo kwarg
        torch.onnx.export(fused, dummy, str(path), **kw)
    import onnx
    m = onnx.load(str(path))
    ops = sorted({n.op_type for n in m.graph.node})
    bad = [o for o in ops if o not in ALLOWED_OPS]
    if bad:
        raise RuntimeError(f"exported graph has unsupported ops: {bad}")
    return fused, ops


def verify_onnx(net: A.Net, path, x_raw_u8: np.ndarray, tol=1e-4):
    """Compare onnxruntime(raw pixels) with the PyTorch float model (which
    applies its own normalisation) -- returns (max_abs_diff_probs, argmax_agreement)."""
    import onnxruntime as ort
    net = copy.deepcopy(net).float().cpu().eval().to(memory_format=torch.contiguous_format)
    x = torch.from_numpy(np.ascontiguousarray(x_raw_u8)).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        ref = F.softmax(net(x), 1).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = []
    for i in range(len(x)):  # batch 1 (the graph's input is fixed: 1 x C x H x W)
        outs.append(sess.run(None, {"input": x[i:i + 1].numpy()})[0])
    got = np.concatenate(outs)
    diff = float(np.abs(got - ref).max())
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    return diff, agree, diff <= tol


def onnx_accuracy(path, x_u8, y, limit=None):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    n = len(y) if limit is None else min(limit, len(y))
    x = np.ascontiguousarray(x_u8[:n].transpose(0, 3, 1, 2)).astype(np.float32)
    correct = 0
    for i in range(n):
        p = sess.run(None, {"input": x[i:i + 1]})[0]
        correct += int(p.argmax() == y[i])
    return 100.0 * correct / n


def load_model(ckpt_path, map_location="cpu"):
    s = torch.load(ckpt_path, map_location=map_location, weights_only=False)
    net = A.build(s["spec"])
    sd = {k: v for k, v in s["model"].items()}
    net.load_state_dict(sd)
    return net.eval()
