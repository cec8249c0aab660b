"""Regenerates the ONNX fixtures in tests/onnx/ (PyTorch -> ONNX, onnxruntime).

    python tests/onnx/make_fixtures.py small                 # the small random-weight fixtures
    python tests/onnx/make_fixtures.py conv1d                # the 1-D (NCL) random-weight fixtures
    python tests/onnx/make_fixtures.py shuffle               # the channel-shuffle (reshape) fixtures
    python tests/onnx/make_fixtures.py train --device cuda   # trains CifarNet -> cifar_resnet.pt
    python tests/onnx/make_fixtures.py finish                # cifar_resnet.pt -> .onnx, QDQ, outputs, json
    python tests/onnx/make_fixtures.py all                   # all three (~15 min on 2 CPU cores)

`train` reads CIFAR-10 from .data/cifar10/*.npy or, with --carry DIR, from
the compact form of models/design/data.py (JPEG mosaics, what travels to a GPU
machine); the committed model was trained on the CPU from the .npy arrays
(`train --epochs 6`, seed 0).

Needs numpy, torch (CPU is enough), onnx and onnxruntime, and the CIFAR-10
arrays of `cargo xtask fetch-cifar10` in .data/cifar10 (uint8 [N,32,32,3] HWC
RGB, int64 labels).  Every model's input is float32 NCHW; the CIFAR models
take `pixel / 255`.

Writes:
  cifar_resnet.pt          its trained weights (input of `finish`)
  cifar_resnet_train.json  how it was trained (merged into cifar_resnet.json)
  cifar_resnet.onnx        small residual CNN trained here on CIFAR-10 (Conv with
                           groups 1, 4 and depthwise, BatchNorm, ReLU, ReLU6 (Clip),
                           residual Add, MaxPool, GlobalAveragePool, Flatten,
                           Gemm, Softmax), opset 13
  cifar_resnet_qdq.onnx    the same quantized by onnxruntime's quantize_static
                           (QDQ, per-channel int8 weights, int8 activations,
                           MinMax over 500 training images)
  cifar_resnet.json        provenance and onnxruntime top-1 of both, on the first
                           1000 and on all 10,000 test images
  cifar_resnet_in.npy      test images 0..16 (uint8 [16,32,32,3] HWC, as .data/cifar10)
  cifar_resnet_out.npy     onnxruntime float outputs for them
  small.onnx               random weights: Conv+BatchNorm (kept as a node),
                           depthwise with channel multiplier 2, dilated conv,
                           AveragePool, MaxPool, Reshape of a 8x2x2 map (NCHW
                           flatten order), MatMul+Add, Gemm, Clip
  small_qdq.onnx           small.onnx quantized by quantize_static (QDQ)
  small_in.npy             16 random inputs [16,3,8,8]
  small_out.npy            onnxruntime outputs of small.onnx for them
  small_qdq_out.npy        onnxruntime outputs of small_qdq.onnx for them
  conv1d.onnx              random weights, a 1-D (audio-style) CNN on [1, 8, 64]:
                           Conv1d + BatchNorm1d (kept as a node), strided and
                           depthwise Conv1d, dilated Conv1d, MaxPool1d,
                           AvgPool1d, a per-channel bias Add, ReLU, Sigmoid gate
                           (Mul), GlobalAveragePool, Flatten, Gemm, Softmax
  conv1d_qdq.onnx          conv1d.onnx quantized by quantize_static (QDQ)
  conv1d_in.npy            16 random inputs [16,8,64]
  conv1d_out.npy           onnxruntime outputs of conv1d.onnx for them
  conv1d_qdq_out.npy       onnxruntime outputs of conv1d_qdq.onnx for them
  shuffle.onnx             random weights, reshapes the NHWC graph cannot follow:
                           ShuffleNet's channel shuffle (view to [1, g, C/g, H, W],
                           transpose, view back) between grouped convolutions,
                           then the map as a sequence (flatten(2), transpose to
                           [1, HW, C]) into a Linear per position, Gemm, Softmax
  shuffle_in.npy           16 random inputs [16,4,6,6]
  shuffle_out.npy          onnxruntime outputs of shuffle.onnx for them
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT / ".data" / "cifar10"


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act="relu"):
        super().__init__()
        pad = (k - 1) // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        if self.act == "relu":
            x = F.relu(x)
        elif self.act == "relu6":
            x = F.relu6(x)
        return x


class CifarNet(nn.Module):
    """~29.5 k parameters, ~2.8 M MACs, cheap enough to train on a laptop CPU.
    Every padding is TFLite-SAME-compatible: 3x3 stride-1 convs pad 1; the
    downsampling is a 2x2 stride-2 stem (VALID) and a MaxPool."""

    def __init__(self, c1=32, c3=64):
        super().__init__()
        self.stem = ConvBN(3, c1, 2, stride=2)
        self.dw1 = ConvBN(c1, c1, 3, groups=c1)
        self.pw1 = ConvBN(c1, c1, 1, act=None)
        self.g2 = ConvBN(c1, c1, 3, groups=4)
        self.pw2 = ConvBN(c1, c1, 1, act=None)
        self.pool = nn.MaxPool2d(2)
        self.c3 = ConvBN(c1, c3, 3, act="relu6")
        self.dw3 = ConvBN(c3, c3, 3, groups=c3)
        self.pw3 = ConvBN(c3, c3, 1, act=None)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(c3, 10)

    def forward(self, x, logits=False):
        x = self.stem(x)
        x = F.relu(x + self.pw1(self.dw1(x)))
        x = F.relu(x + self.pw2(self.g2(x)))
        x = self.pool(x)
        x = self.c3(x)
        x = F.relu(x + self.pw3(self.dw3(x)))
        x = self.fc(self.flat(self.gap(x)))
        return x if logits else F.softmax(x, dim=1)


class SmallNet(nn.Module):
    """Random weights; exercises layouts and op variants rather than accuracy."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 8, 3, padding=1, groups=4)  # channel multiplier 2
        self.dil = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.avg = nn.AvgPool2d(2)  # 8x8 -> 4x4
        self.mp = nn.MaxPool2d(2)  # 4x4 -> 2x2
        self.w1 = nn.Parameter(torch.randn(32, 16) * 0.3)  # MatMul weights [in, out]
        self.b1 = nn.Parameter(torch.randn(16) * 0.1)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = torch.clamp(self.dw(x), 0.0, 6.0)
        x = F.relu(self.dil(x))
        x = self.mp(self.avg(x))
        x = x.reshape(x.shape[0], -1)  # NCHW flatten order, 8*2*2
        x = F.relu(torch.matmul(x, self.w1) + self.b1)
        return self.fc2(x)


class Conv1dNet(nn.Module):
    """Random weights; the 1-D (NCL) layers of keyword-spotting and sensor models."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(8, 16, 5, padding=2)
        self.bn1 = nn.BatchNorm1d(16)
        self.down = nn.Conv1d(16, 16, 3, stride=2, padding=1)  # 64 -> 32
        self.dw = nn.Conv1d(16, 16, 3, padding=1, groups=16)
        self.dil = nn.Conv1d(16, 24, 3, padding=2, dilation=2)
        self.gate = nn.Conv1d(24, 24, 1)
        self.bias = nn.Parameter(torch.randn(24, 1) * 0.1)
        self.mp = nn.MaxPool1d(2)  # 32 -> 16
        self.avg = nn.AvgPool1d(3, stride=2, padding=1)  # 16 -> 8
        self.fc = nn.Linear(24, 6)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.down(x))
        x = F.relu(self.dw(x))
        x = self.dil(x)
        x = x * torch.sigmoid(self.gate(x)) + self.bias
        x = self.avg(self.mp(x))
        x = F.adaptive_avg_pool1d(x, 1).flatten(1)
        return F.softmax(self.fc(x), dim=1)


def conv1d(seed=2):
    torch.manual_seed(seed)
    net = Conv1dNet()
    with torch.no_grad():
        net.bn1.running_mean.copy_(torch.randn(16) * 0.2)
        net.bn1.running_var.copy_(torch.rand(16) + 0.5)
        net.bn1.weight.copy_(torch.rand(16) + 0.5)
        net.bn1.bias.copy_(torch.randn(16) * 0.2)
    net.eval()
    export(net, HERE / "conv1d.onnx", (1, 8, 64), keep_bn=True)
    print("conv1d.onnx ops:", [n.op_type for n in onnx.load(str(HERE / "conv1d.onnx")).graph.node])
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (16, 8, 64)).astype(np.float32)
    np.save(HERE / "conv1d_in.npy", x)
    np.save(HERE / "conv1d_out.npy", ort_run_single(HERE / "conv1d.onnx", x))
    calib = rng.uniform(-1, 1, (64, 8, 64)).astype(np.float32)
    qdq(HERE / "conv1d.onnx", HERE / "conv1d_qdq.onnx", calib)
    np.save(HERE / "conv1d_qdq_out.npy", ort_run_single(HERE / "conv1d_qdq.onnx", x))
    print("conv1d_qdq.onnx ops:", [n.op_type for n in onnx.load(str(HERE / "conv1d_qdq.onnx")).graph.node])


class ShuffleNetBits(nn.Module):
    """Random weights; ShuffleNet's channel shuffle and a map read as a sequence."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 12, 3, padding=1, groups=2)
        self.conv2 = nn.Conv2d(12, 12, 1, groups=3)
        self.tok = nn.Linear(12, 5)
        self.fc = nn.Linear(36 * 5, 7)

    @staticmethod
    def shuffle(x, g):
        n, c, h, w = x.shape
        return x.view(n, g, c // g, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.shuffle(x, 3)
        x = F.relu(self.conv2(x))
        x = x.flatten(2).transpose(1, 2)  # [1, 36, 12]: one row per position
        x = F.relu(self.tok(x))
        return F.softmax(self.fc(x.flatten(1)), dim=1)


def shuffle(seed=3):
    torch.manual_seed(seed)
    net = ShuffleNetBits().eval()
    export(net, HERE / "shuffle.onnx", (1, 4, 6, 6))
    print("shuffle.onnx ops:", [n.op_type for n in onnx.load(str(HERE / "shuffle.onnx")).graph.node])
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (16, 4, 6, 6)).astype(np.float32)
    np.save(HERE / "shuffle_in.npy", x)
    np.save(HERE / "shuffle_out.npy", ort_run_single(HERE / "shuffle.onnx", x))


def load_cifar():
    tx = np.load(DATA / "train_x.npy")
    ty = np.load(DATA / "train_y.npy").astype(np.int64)
    vx = np.load(DATA / "test_x.npy")
    vy = np.load(DATA / "test_y.npy").astype(np.int64)
    return tx, ty, vx, vy


def to_nchw(x_u8):
    return np.ascontiguousarray(x_u8.transpose(0, 3, 1, 2)).astype(np.float32) / 255.0


def load_carry_train(d):
    """Training images from the compact 'carry' form (see models/design/data.py)."""
    from PIL import Image
    d = Path(d)
    man = json.loads((d / "manifest.json").read_text())
    parts = []
    for ent in man["train"]:
        m = np.asarray(Image.open(d / ent["file"]).convert("RGB"))
        r = m.shape[0] // 32
        parts.append(m.reshape(r, 32, 100, 32, 3).transpose(0, 2, 1, 3, 4).reshape(r * 100, 32, 32, 3))
    return np.concatenate(parts), np.load(d / "train_y.npy").astype(np.int64)


def train(net, tx, ty, epochs, seed, device="cpu", bs=256, max_lr=0.4):
    torch.manual_seed(seed)
    g = torch.Generator(device=device).manual_seed(seed)
    net.to(device)
    x_all = torch.from_numpy(np.ascontiguousarray(tx.transpose(0, 3, 1, 2))).to(device)  # uint8 NCHW
    y_all = torch.from_numpy(ty).to(device)
    n = len(tx)
    steps_per_epoch = n // bs
    opt = torch.optim.SGD(net.parameters(), lr=max_lr / 10, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.2)
    base = torch.arange(32, device=device)
    net.train()
    t0 = time.time()
    for ep in range(epochs):
        perm = torch.randperm(n, device=device, generator=g)
        correct = 0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            xb = F.pad(x_all[idx].float() / 255.0, (4, 4, 4, 4))
            # per-sample random crop (pad 4) and horizontal flip
            dy = torch.randint(0, 9, (bs,), device=device, generator=g)
            dx = torch.randint(0, 9, (bs,), device=device, generator=g)
            iy = (dy[:, None] + base)[:, None, :, None].expand(bs, 3, 32, 32)
            ix = (dx[:, None] + base)
            flip = torch.rand(bs, device=device, generator=g) < 0.5
            ix = torch.where(flip[:, None], ix.flip(1), ix)[:, None, None, :].expand(bs, 3, 32, 32)
            xb = xb[torch.arange(bs, device=device)[:, None, None, None],
                    torch.arange(3, device=device)[None, :, None, None], iy, ix]
            yb = y_all[idx]
            out = net(xb, logits=True)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            correct += (out.argmax(1) == yb).sum().item()
        print(f"epoch {ep + 1}/{epochs}: train acc {100 * correct / (bs * steps_per_epoch):.2f} %"
              f" ({time.time() - t0:.0f} s)", flush=True)
    net.eval()
    net.to("cpu")
    return time.time() - t0


def export(net, path, shape, keep_bn=False, dynamic_batch=False):
    net.eval()
    torch.onnx.export(
        net, torch.zeros(shape), str(path), dynamo=False, opset_version=13,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "N"}, "output": {0: "N"}} if dynamic_batch else None,
        training=torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL,
        do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)))


def ort_run(path, x, batch=500):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = []
    for i in range(0, len(x), batch):
        outs.append(s.run(None, {"input": x[i:i + batch]})[0])
    return np.concatenate(outs)


def ort_run_single(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


class Reader:
    def __init__(self, x):
        self.it = iter([{"input": x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.it, None)


def qdq(src, dst, calib):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    quantize_static(str(src), str(dst), Reader(calib), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)


def small(seed=1):
    torch.manual_seed(seed)
    net = SmallNet()
    with torch.no_grad():
        net.bn1.running_mean.copy_(torch.randn(4) * 0.2)
        net.bn1.running_var.copy_(torch.rand(4) + 0.5)
        net.bn1.weight.copy_(torch.rand(4) + 0.5)
        net.bn1.bias.copy_(torch.randn(4) * 0.2)
    net.eval()
    export(net, HERE / "small.onnx", (1, 3, 8, 8), keep_bn=True)
    ops = [n.op_type for n in onnx.load(str(HERE / "small.onnx")).graph.node]
    print("small.onnx ops:", ops)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (16, 3, 8, 8)).astype(np.float32)
    np.save(HERE / "small_in.npy", x)
    np.save(HERE / "small_out.npy", ort_run_single(HERE / "small.onnx", x))
    calib = rng.uniform(-1, 1, (64, 3, 8, 8)).astype(np.float32)
    qdq(HERE / "small.onnx", HERE / "small_qdq.onnx", calib)
    np.save(HERE / "small_qdq_out.npy", ort_run_single(HERE / "small_qdq.onnx", x))
    print("small_qdq.onnx ops:", [n.op_type for n in onnx.load(str(HERE / "small_qdq.onnx")).graph.node])


def cifar_train(epochs, seed, device, carry, limit=None):
    if carry:
        tx, ty = load_carry_train(carry)
        source = f"carry form ({carry}: JPEG quality 95 mosaics, PSNR ~40 dB)"
    else:
        tx, ty, _, _ = load_cifar()
        source = ".data/cifar10 npy"
    if limit:
        tx, ty = tx[:limit], ty[:limit]
    torch.manual_seed(seed)
    net = CifarNet()
    seconds = train(net, tx, ty, epochs, seed, device)
    torch.save(net.state_dict(), HERE / "cifar_resnet.pt")
    dev = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    info = {"data": "CIFAR-10 train (50,000) from the " + source + ", random crop (pad 4) + flip",
            "epochs": epochs, "batch": 256,
            "optimizer": "SGD nesterov 0.9, OneCycle max lr 0.4, wd 5e-4, cross-entropy",
            "seed": seed, "device": dev, "seconds": round(seconds), "torch": torch.__version__}
    (HERE / "cifar_resnet_train.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1))


def cifar_finish(seed=0):
    tx, ty, vx, vy = load_cifar()
    net = CifarNet()
    net.load_state_dict(torch.load(HERE / "cifar_resnet.pt"))
    net.eval()
    nparams = sum(p.numel() for p in net.parameters())
    path = HERE / "cifar_resnet.onnx"
    export(net, path, (1, 3, 32, 32), dynamic_batch=True)
    test = to_nchw(vx)
    probs = ort_run(path, test)
    top1 = (probs.argmax(1) == vy)
    np.save(HERE / "cifar_resnet_in.npy", vx[:16])
    np.save(HERE / "cifar_resnet_out.npy", ort_run_single(path, test[:16]))
    # onnxruntime's own static quantization (QDQ) as a second, QDQ-format input
    calib_idx = np.random.default_rng(seed).choice(len(tx), 500, replace=False)
    qpath = HERE / "cifar_resnet_qdq.onnx"
    qdq(path, qpath, to_nchw(tx[calib_idx]))
    qprobs = ort_run(qpath, test)
    qtop1 = (qprobs.argmax(1) == vy)
    info = {
        "model": "cifar_resnet.onnx",
        "made_by": "tests/onnx/make_fixtures.py (CifarNet), exported with PyTorch " + torch.__version__
                   + ", onnx " + onnx.__version__ + ", onnxruntime " + ort.__version__,
        "export": "torch.onnx.export(dynamo=False, opset_version=13, batch dimension 'N'), eval mode (BatchNorm folded by the exporter)",
        "input": "float32 NCHW [1,3,32,32] = pixel / 255 (RGB)",
        "output": "softmax probabilities [1,10]",
        "parameters": int(nparams),
        "training": json.loads((HERE / "cifar_resnet_train.json").read_text()),
        "onnxruntime_float_top1": {"test_first_1000": float(top1[:1000].mean() * 100),
                                   "test_10000": float(top1.mean() * 100)},
        "qdq_model": "cifar_resnet_qdq.onnx: onnxruntime.quantization.quantize_static(QDQ, per_channel, "
                     "QInt8 activations and weights, MinMax calibration on 500 training images "
                     f"chosen by numpy default_rng({seed}).choice(50000, 500, replace=False))",
        "onnxruntime_qdq_top1": {"test_first_1000": float(qtop1[:1000].mean() * 100),
                                 "test_10000": float(qtop1.mean() * 100)},
    }
    (HERE / "cifar_resnet.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["small", "conv1d", "shuffle", "train", "finish", "all"])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--carry", default=None, help="train from the compact carry form in this folder")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke test)")
    a = ap.parse_args()
    if a.stage in ("small", "all"):
        small()
    if a.stage in ("conv1d", "all"):
        conv1d()
    if a.stage in ("shuffle", "all"):
        shuffle()
    if a.stage in ("train", "all"):
        cifar_train(a.epochs, a.seed, a.device, a.carry, a.limit)
    if a.stage in ("finish", "all"):
        cifar_finish(a.seed)


if __name__ == "__main__":
    main()
