"""Your model on your board, step 1: a small PyTorch CNN for CIFAR-10, trained
for a short while on the CPU and exported to ONNX, with the files AttoNet's
tools take beside it.

    python examples/guide/export_pytorch.py --out target/guide

writes, under --out:
  tiny_cnn.onnx  the float model (opset 13, input NCHW float32 [1, 3, 32, 32], pixels / 255)
  calib.npy      float32 [200, 3, 32, 32]: training images for post-training quantization
  test_x.npy     float32 [1000, 3, 32, 32]: the first 1,000 CIFAR-10 test images
  test_y.npy     uint8 [1000]: their labels

Reads the CIFAR-10 arrays of `cargo xtask fetch-cifar10` (.data/cifar10). Seeded:
the same machine gives the same model. Put your own network in `TinyCnn` and your
own data in `load`; everything after the export is the same for any model.
"""

import argparse
import warnings
import pathlib

import numpy as np
import torch
from torch import nn


class TinyCnn(nn.Module):
    """Three 3x3 convolutions (batch norm folded by the converter), global
    average pooling and a linear classifier: 2.2 M MACs."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(3, 16, 1), *block(16, 32, 2), *block(32, 32, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def load(data: pathlib.Path, split: str, n: int):
    """The first `n` images of a split as float32 NCHW in [0, 1], and labels."""
    x = np.load(data / f"{split}_x.npy", mmap_mode="r")[:n]
    y = np.load(data / f"{split}_y.npy")[:n]
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    return x, y.astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, required=True)
    ap.add_argument("--data", type=pathlib.Path, default=pathlib.Path(".data/cifar10"))
    ap.add_argument("--train-images", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    for f in ("train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"):
        if not (args.data / f).is_file():
            ap.error(f"{args.data / f} is missing: run `cargo xtask fetch-cifar10` first")
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    torch.set_num_threads(2)
    x, y = load(args.data, "train", args.train_images)
    test_x, test_y = load(args.data, "test", 1000)
    net = TinyCnn()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 128):
            idx = order[i : i + 128]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.3f}, float top-1 on 1,000 test images {100 * acc:.2f} %")

    net.eval()
    path = args.out / "tiny_cnn.onnx"
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=13, do_constant_folding=True)
    # The TorchScript exporter (dynamo=False) gives plain opset-13 graphs; newer
    # torch warns that it is no longer the default.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        torch.onnx.export(net, torch.zeros(1, 3, 32, 32), str(path), dynamo=False, **kw)
    except TypeError:  # torch without the dynamo keyword
        torch.onnx.export(net, torch.zeros(1, 3, 32, 32), str(path), **kw)
    np.save(args.out / "calib.npy", x[:200])
    np.save(args.out / "test_x.npy", test_x)
    np.save(args.out / "test_y.npy", test_y)
    print(f"wrote {path}, calib.npy, test_x.npy and test_y.npy under {args.out}")


if __name__ == "__main__":
    main()
