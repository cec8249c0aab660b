"""Atto-MaskRCNN (maskrcnn.py): the AttoNet-backbone Mask R-CNN is the
paper's factor smaller than the ResNet-50 one in parameters and
multiply-adds, a short training runs and resumes from its checkpoint, and
the COCO evaluation scores perfect predictions 100 and wrong ones 0."""
import numpy as np
import pytest
import torch

from models.design import maskrcnn as MR
from models.design import scenes as S



@pytest.fixture(scope="module")
def sets():
    try:
        d = S.splits(None, {"train": 8, "test": 6}, 0)
    except S.SceneError as e:
        pytest.fail(f"the MNIST digits: {e}")
    return d["train"], d["test"]


def test_the_atto_backbone_is_the_papers_factor_smaller():
    atto, r50 = MR.build("atto"), MR.build("resnet50")
    pa, pr = MR.parameters(atto), MR.parameters(r50)
    ma, mr = MR.macs(atto), MR.macs(r50)
    assert pr >= 2 * pa, (pa, pr)
    assert mr["total"] >= 5 * ma["total"], (ma, mr)
    assert mr["backbone"] >= 5 * ma["backbone"]
    # ResNet-50's backbone and FPN: about 1.3 G multiply-adds on 96x96.
    assert 1.0e9 <= mr["backbone"] <= 1.6e9


class Oracle(torch.nn.Module):
    """Predicts a SceneSet's own boxes and masks (or shifted ones)."""

    def __init__(self, ss, shift=0):
        super().__init__()
        self.ss, self.shift, self.next = ss, shift, 0

    def forward(self, images):
        out = []
        for _ in images:
            i = self.next
            self.next += 1
            k = np.nonzero(self.ss.scene == i)[0]
            boxes = torch.from_numpy(self.ss.boxes[k].astype(np.float32)) + self.shift
            masks = torch.from_numpy(np.roll(self.ss.masks[k], self.shift, axis=(1, 2)))
            out.append({"boxes": boxes, "labels": torch.from_numpy(self.ss.cls[k] + 1),
                        "scores": torch.ones(len(k)),
                        "masks": masks[:, None].float()})
        return out


def test_coco_ap_scores_truth_100_and_misses_0(sets):
    _, test = sets
    ap = MR.coco_ap(Oracle(test), test)
    assert ap["box"]["ap"] == pytest.approx(100.0) and ap["mask"]["ap"] == pytest.approx(100.0)
    ap = MR.coco_ap(Oracle(test, shift=40), test)
    assert ap["box"]["ap50"] < 5.0 and ap["mask"]["ap50"] < 5.0


def test_a_short_training_runs_and_resumes(sets, tmp_path):
    train, test = sets
    cfg = MR.MaskCfg(epochs=1, batch=4, warmup=2)
    torch.manual_seed(0)
    model = MR.build("atto")
    logs = []
    hist = MR.train(model, train, cfg, ckpt=tmp_path / "ckpt.pt", log=logs.append)
    assert len(hist) == 1 and np.isfinite(hist[0]["loss_mask"])
    again = MR.build("atto")
    hist2 = MR.train(again, train, cfg, ckpt=tmp_path / "ckpt.pt", log=logs.append)
    assert hist2 == hist and any("resumed after epoch 1" in s for s in logs)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    ap = MR.coco_ap(again, test)
    assert set(ap) == {"box", "mask"} and all(0.0 <= v["ap"] <= 100.0 for v in ap.values())


def test_bad_settings_are_named():
    with pytest.raises(MR.MaskError, match="backbone"):
        MR.build("vgg")
    with pytest.raises(MR.MaskError, match="epochs"):
        MR.MaskCfg(epochs=0).check()
    with pytest.raises(MR.MaskError, match="lr"):
        MR.MaskCfg(lr=float("nan")).check()
