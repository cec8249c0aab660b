import numpy as np
import pytest
import torch

from models.design import arch as A
from models.design import export as E
from models.design.tests.nets import trained_like


def test_resnet8_cost_matches_mlperf():
    c = A.cost(A.resnet8())
    # MLPerf Tiny ResNet-8: ~12.5 M MACs, ~78 K params
    assert 12.0e6 < c["macs"] < 13.0e6
    assert 75e3 < c["params"] < 80e3


def test_conv_mac_formula():
    spec = {"name": "t", "stem": 8, "classes": 10,
            "modules": [{"type": "atto", "out": 8, "comp": 4, "groups": 2, "mix": 4, "stride": 1}]}
    L = {l["name"]: l for l in A.layers(spec)}
    assert L["stem"]["macs"] == 32 * 32 * 8 * 9 * 3
    assert L["m0.group3x3"]["macs"] == 32 * 32 * 4 * 9 * 4 // 2
    assert L["fc"]["macs"] == 80
    assert "m0.shortcut" not in L  # identity shortcut


# The search space's corners: a stride-2 stem and depthwise 3x3s (one
# channel a group) inside AttoNet modules.
STRIDED_DEPTHWISE = dict(A.atto("strided-depthwise", 12, [(16, 8, 8, 8, 1), (32, 16, 16, 16, 2)]),
                         stem_stride=2)


def test_stem_stride_halves_the_network():
    L = {l["name"]: l for l in A.layers(STRIDED_DEPTHWISE)}
    assert (L["stem"]["hout"], L["stem"]["macs"]) == (16, 16 * 16 * 12 * 9 * 3)
    assert L["m0.group3x3"]["macs"] == 16 * 16 * 8 * 9  # depthwise: 9 MACs an output
    assert L["m1.group3x3"]["hout"] == 8


@pytest.mark.parametrize("spec", [A.family_seeds()[0], A.resnet8(), A.mobilenet_baseline(),
                                  STRIDED_DEPTHWISE], ids=lambda s: s["name"])
def test_params_match_torch_and_export_is_exact(spec, tmp_path):
    net = trained_like(spec)
    p = tmp_path / "m.onnx"
    fused, ops = E.export_onnx(net, p)
    assert set(ops) <= E.ALLOWED_OPS
    assert sum(q.numel() for q in fused.parameters()) == A.cost(spec)["params"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    # fused torch model on raw pixels == original on raw pixels (incl. borders)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        a = torch.softmax(net(xt), 1)
        b = fused(xt)
        la, lb = net(xt), E.FusedNet(net, softmax=False)(xt)
    assert torch.allclose(la, lb, atol=1e-3, rtol=1e-4)
    assert torch.allclose(a, b, atol=1e-5)
    diff, agree, ok = E.verify_onnx(net, p, x)
    assert ok and agree == 1.0, diff
