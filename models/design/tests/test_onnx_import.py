"""onnx_import: a published model read back into its spec's network computes
what its ONNX computes, fine-tunes with frozen batch norms, and teaches; and a
model that is not of the spec is refused by name."""
import json

import numpy as np
import pytest
import torch

from models.design import arch as A
from models.design import data as D
from models.design import export as E
from models.design import onnx_import as I
from models.design.tests.nets import trained_like
from models.design.train import TrainCfg, train

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def _publish_like(net, folder):
    """What `publish` leaves for the importer: the ONNX and card.json's spec."""
    folder.mkdir(parents=True, exist_ok=True)
    E.export_onnx(net, folder / "m.onnx")
    (folder / "card.json").write_text(json.dumps({"onnx": "m.onnx", "spec": net.spec}))
    return folder


def _pixels(n=6, seed=1):
    x = np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32)).astype(np.float32)
    return torch.from_numpy(x)


@pytest.mark.parametrize("spec", [A.family_seeds()[1], A.resnet8(), A.mobilenet_baseline()],
                         ids=lambda s: s["name"])
def test_round_trip_computes_the_same_logits(spec, tmp_path):
    net = trained_like(spec)
    folder = _publish_like(net, tmp_path / "model")
    back, back_spec = I.load_any(folder)
    assert back_spec == net.spec and back.folded
    x = _pixels()
    with torch.no_grad():
        want, got = net(x), back.eval()(x)
    assert torch.allclose(want, got, atol=1e-3, rtol=1e-4), (want - got).abs().max()
    # and exporting the imported network gives the ONNX back (weights to float rounding)
    refolded = E.FusedNet(back, softmax=False)
    with torch.no_grad():
        assert torch.allclose(refolded(x), want, atol=1e-3, rtol=1e-4)


def test_shipped_model_matches_onnxruntime():
    import onnxruntime as ort
    folder = REPO / "models" / "attonet-d"
    net, _ = I.load_any(folder)
    onnx_path, _ = I.resolve(folder)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = _pixels(4)
    want = np.concatenate([sess.run(None, {"input": x[i:i + 1].numpy()})[0] for i in range(4)])
    with torch.no_grad():
        got = torch.softmax(net(x), 1).numpy()
    assert np.abs(want - got).max() < 1e-5


def test_a_model_of_another_architecture_is_refused_by_its_first_differing_conv(tmp_path):
    folder = _publish_like(trained_like(A.family_seeds()[0]), tmp_path / "a")
    onnx_path, _ = I.resolve(folder)
    other = json.loads(json.dumps(A.family_seeds()[0]))
    other["modules"][1]["groups"] = 2
    with pytest.raises(I.ModelImportError, match="module 2 body conv 2"):
        I.net_from_onnx(other, onnx_path)
    with pytest.raises(I.ModelImportError, match="convolutions"):
        I.net_from_onnx(A.resnet8(), onnx_path)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(I.ModelImportError, match="no card.json"):
        I.load_any(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps({"onnx": "m.onnx",
                                                    "spec": A.family_seeds()[0]}))
    with pytest.raises(I.ModelImportError, match="no such file"):
        I.load_any(tmp_path)
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07 not a protobuf model")
    with pytest.raises(I.ModelImportError, match="not a readable ONNX"):
        I.load_any(tmp_path)


def test_fine_tuning_an_import_freezes_batch_norms_and_distills(tmp_path):
    spec = A.family_seeds()[0]
    folder = _publish_like(trained_like(spec), tmp_path / "student")
    teacher = I.teacher_from([_publish_like(trained_like(A.resnet8(), 3), tmp_path / "t1"),
                              _publish_like(trained_like(A.mobilenet_baseline(), 4),
                                            tmp_path / "t2")])
    assert isinstance(teacher, I.Ensemble) and len(teacher.nets) == 2
    cfg = TrainCfg(epochs=1, batch=32, lr=0.01, kd_alpha=0.5, eval_every=1, ckpt_every=1)
    res, model = train(spec, D.smoke_data(64, 16), cfg, tmp_path / "run", device="cpu",
                       teacher=teacher, init=folder)
    assert res["cfg"]["freeze_bn"], "an ONNX import trains with frozen batch norms"
    start, _ = I.load_any(folder)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    for a, b in zip(bns, [m for m in start.modules() if isinstance(m, torch.nn.BatchNorm2d)]):
        assert torch.equal(a.running_mean, b.running_mean)
        assert torch.equal(a.running_var, b.running_var)
    with torch.no_grad():
        moved = sum(float((p - q).abs().sum())
                    for p, q in zip(model.parameters(), start.parameters()))
    assert moved > 0, "the weights trained"
    with pytest.raises(I.ModelImportError, match="not the one being trained"):
        train(A.resnet8(), D.smoke_data(64, 16), cfg, tmp_path / "bad", device="cpu",
              init=folder)
