"""The detection pictures (detect_pictures.py): the greedy hit rule, the
sheet drawn from the shipped detector (float beside int8, boxes in the
colours the legend gives), and the errors for bad input."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.design import __main__ as cli
from models.design import detect as D
from models.design import detect_pictures as P
from models.design import scenes as S

ROOT = Path(__file__).resolve().parents[3]
DETECTOR = ROOT / "models" / "atto-det-a"


def _det(cls, score, box):
    return D.Detection(cls, score, *box, 0, 0, 0.0)


def test_hits_are_greedy_by_score_and_class():
    boxes = np.array([[10, 10, 30, 30], [50, 50, 70, 70]])
    classes = np.array([3, 5])
    dets = [_det(3, 0.9, (11, 11, 31, 31)),   # takes box 0
            _det(3, 0.8, (10, 10, 30, 30)),   # box 0 is taken: false
            _det(4, 0.7, (50, 50, 70, 70)),   # wrong class: false
            _det(5, 0.6, (60, 60, 80, 80)),   # IoU 1/7 with box 1: false
            _det(5, 0.5, (52, 50, 70, 70))]   # IoU 0.9 with box 1: hit
    assert D.image_hits(dets, boxes, classes) == [True, False, False, False, True]
    assert D.image_hits(dets[::-1], boxes, classes) == [True, False, False, False, True][::-1]
    assert D.image_hits([], boxes, classes) == []


def _tool():
    from models.design import cost as C
    try:
        return C.find_attonet()
    except C.CostError:
        return None


def test_sheet_of_the_shipped_detector(tmp_path):
    tool = _tool()
    if tool is None:
        pytest.skip("the attonet tool is not built (cargo build --release -p attonet-cli)")
    out = tmp_path / "d.png"
    s = P.sheet(DETECTOR, out, count=2, attonet=tool)
    card = json.loads((DETECTOR / "card.json").read_text())
    assert s["score_threshold"] == card["operating_point"]["score_threshold"]
    # The first two test scenes: the firmware's bundled ones.
    boxes = np.load(ROOT / "examples" / "qemu-detect" / "data" / "scenes_boxes.npy")
    assert s["truth"] == int((boxes[:, 0] < 2).sum())
    names = [k for k in s if isinstance(s[k], dict)]
    assert len(names) == 2 and names[0].startswith("float") and names[1].startswith("int8")
    for k in names:
        assert 0 < s[k]["hits"] <= s[k]["detections"]
    im = Image.open(out)
    w = 96 * P.SCALE
    assert im.size == (2 * w + 8, 2 * (96 * P.SCALE + 16) + 8)
    px = np.asarray(im.convert("RGB")).reshape(-1, 3)
    assert (px == P.HIT).all(1).any() and (px == P.TRUTH).all(1).any()


def test_float_outputs_find_the_digits():
    """onnxruntime is fed the scenes as the model expects (NCHW raw pixels):
    on the first test scenes the float panels' detections hit most of the
    ground truth, which a transposed or rescaled input would not."""
    digits, labels = S.load_mnist(S.fetch_mnist())
    ss = S.generate(digits, labels, "test", 4, 0, S.SceneConfig())
    outs = P.float_outputs(DETECTOR / "detector.onnx", ss.images)
    assert outs.shape == (4, 14, 12, 12) and np.isfinite(outs).all()
    dets = D.decode_all(outs, 8, (96, 96), 0.4, 0.5, max_detections=32)
    hits = sum(sum(D.image_hits(d, b, c)) for d, b, c in zip(dets, *D.scene_truth(ss)))
    assert hits >= len(ss.cls) // 2, f"{hits} of {len(ss.cls)} digits found"


def _main(args):
    with pytest.raises(SystemExit) as e:
        cli.main(["detect-pictures"] + args)
    return str(e.value)


def test_errors_name_the_problem(tmp_path):
    msg = _main(["--model", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert "detector.onnx" in msg and "missing" in msg
    msg = _main(["--model", str(DETECTOR), "--out", str(tmp_path / "x.png"), "--scenes", "0"])
    assert "--scenes 0" in msg
    assert not (tmp_path / "x.png").exists()
    (tmp_path / "detector.onnx").write_bytes(b"")
    (tmp_path / "calib.npy").write_bytes(b"")
    (tmp_path / "card.json").write_text("{}")
    msg = _main(["--model", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert "score_threshold" in msg
