"""publish: a model folder changes only when every figure was measured, a
network of the folder trained further keeps how it was found and records the
training it started from, and does not replace a better-scoring one unasked.  The converter is stood in for by a small script
(`attonet inspect` figures, `attonet run` predicting class 0), so these tests
check publish's bookkeeping; the real figures are re-measured by
crates/attonet-convert/tests/attonet_family.rs."""
import json
import stat
import sys

import numpy as np
import pytest

from models.design import arch as A
from models.design import data as D
from models.design import export as E
from models.design.publish import NotBetterError, publish
from models.design.tests.nets import trained_like

FAKE = """#!{python}
import json, sys
import numpy as np
args = sys.argv[1:]
if {fail!r}:
    sys.stderr.write("model refused: unsupported op\\n")
    sys.exit(2)
if args[0] == "inspect":
    print(json.dumps({{"params": 1000, "macs": 2000000, "flash_bytes": 3000,
                      "arena_bytes": 4096}}))
else:
    x = np.load(args[args.index("--input") + 1])
    out = np.zeros((len(x), 10), np.int8)
    out[:, 0] = 1
    np.save(args[args.index("--output") + 1], out)
"""


def _tool(tmp_path, fail=False):
    p = tmp_path / ("attonet-fails" if fail else "attonet")
    p.write_text(FAKE.format(python=sys.executable, fail=fail))
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return str(p)


def _run(tmp_path, name, spec, **extra):
    """A trained run as `train` leaves it: model.onnx and result.json."""
    run = tmp_path / name
    run.mkdir()
    E.export_onnx(trained_like(spec), run / "model.onnx")
    res = {"name": spec["name"], "spec": spec, "epochs": 1, "n_train": 64,
           "onnx_test_acc": 50.0, "cfg": {"batch": 64, "lr": 0.1}, **extra}
    (run / "result.json").write_text(json.dumps(res))
    return run


def test_a_failed_measurement_leaves_the_folder_as_it_was(tmp_path):
    spec = A.family_seeds()[0]
    arrays = D.smoke_data(256, 32)
    out = tmp_path / "models" / "attonet-x"
    publish(_run(tmp_path, "r1", spec), "AttoNet-X", out, arrays, attonet=_tool(tmp_path),
            log=lambda s: None)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    assert set(before) == {"attonet_x.onnx", "calib.npy", "card.json", "README.md"}
    card = json.loads(before["card.json"])
    assert card["figures"]["int8_correct"] == int((arrays[3] == 0).sum())
    with pytest.raises(RuntimeError, match="unsupported op"):
        publish(_run(tmp_path, "r2", spec), "AttoNet-X", out, arrays,
                attonet=_tool(tmp_path, fail=True), log=lambda s: None)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert [p.name for p in out.parent.iterdir()] == ["attonet-x"], "no staging left behind"
    with pytest.raises(FileNotFoundError, match="result.json: missing"):
        publish(tmp_path / "nothing", "AttoNet-X", out, arrays, attonet=_tool(tmp_path))


def test_further_training_keeps_the_exploration_and_the_earlier_training(tmp_path):
    spec = A.family_seeds()[0]
    arrays = D.smoke_data(256, 32)
    out = tmp_path / "attonet-x"
    publish(_run(tmp_path, "r1", spec), "AttoNet-X", out, arrays, attonet=_tool(tmp_path),
            log=lambda s: None, recipe="first")
    card = json.loads((out / "card.json").read_text())
    card["exploration"] = {"budget": {"max_macs": 3.1e6, "max_params": 39e3},
                           "generations": 3, "candidates": 18,
                           "proxy_schedule": {"epochs": 4, "limit_train": 20000,
                                              "val_split": 5000, "batch": 128, "lr": 0.1},
                           "finalist_proxy_acc": 41.0, "finalist_proxy_rank": 1,
                           "best_proxy_acc": 41.0, "selection": "the best"}
    (out / "card.json").write_text(json.dumps(card))
    (out / "exploration.csv").write_text("id,acc\n")
    tuned = _run(tmp_path, "r2", spec, init=str(out), teachers=["models/a", "models/b"],
                 cfg={"batch": 128, "lr": 0.02, "kd_alpha": 0.8, "kd_temp": 4.0,
                      "freeze_bn": True})
    publish(tuned, "AttoNet-X", out, arrays, attonet=_tool(tmp_path), log=lambda s: None,
            recipe="second")
    new = json.loads((out / "card.json").read_text())
    assert new["exploration"] == card["exploration"]
    assert (out / "exploration.csv").exists()
    assert new["training"]["teachers"] == ["models/a", "models/b"]
    assert new["training"]["before"]["recipe"] == "first"
    text = (out / "README.md").read_text()
    assert "## How it was found" in text
    assert "mean logits of models/a, models/b" in text and "batch norms frozen" in text


def test_a_network_that_scores_lower_does_not_replace_the_one_there(tmp_path):
    spec = A.family_seeds()[0]
    tx, ty, vx, vy = D.smoke_data(256, 32)
    out = tmp_path / "attonet-x"
    tool = _tool(tmp_path)  # predicts class 0: int8 top-1 = the share of test label 0
    vy = vy.copy()
    vy[:8] = 0
    publish(_run(tmp_path, "r1", spec), "AttoNet-X", out, (tx, ty, vx, vy), attonet=tool,
            log=lambda s: None)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    was = json.loads(before["card.json"])["figures"]["int8_top1"]
    worse = (tx, ty, vx, vy.copy())
    worse[3][0] = 1                                  # one fewer right answer
    tuned = _run(tmp_path, "r2", spec, init=str(out))
    with pytest.raises(NotBetterError, match=f"{was - 100 / 32:.2f} % int8 top-1, the one "
                       f"there {was:.2f} %"):
        publish(tuned, "AttoNet-X", out, worse, attonet=tool, log=lambda s: None)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
    publish(tuned, "AttoNet-X", out, worse, attonet=tool, log=lambda s: None, allow_worse=True)
    assert json.loads((out / "card.json").read_text())["figures"]["int8_top1"] < was
    # another architecture in the folder is a new network, not a worse one
    other = A.family_seeds()[1]
    publish(_run(tmp_path, "r3", other), "AttoNet-X", out, (tx, ty, vx, np.ones_like(vy)),
            attonet=tool, log=lambda s: None)
    assert json.loads((out / "card.json").read_text())["figures"]["int8_top1"] == 0.0


def test_a_card_for_the_users_data_with_its_exact_cortex_m4_figures(tmp_path):
    """Another data set's card (its name, shape, classes and split, not
    CIFAR-10's), with one inference measured on QEMU's Cortex-M4 by the real
    converter and firmware (`cargo xtask bench-qemu --model-file`)."""
    import shutil

    from models.design import cost as C
    from models.design.datasets import Dataset
    from models.design.publish import data_card
    if not shutil.which("qemu-system-arm"):
        pytest.fail("QEMU is missing (cargo xtask test installs it)")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (96, 20, 24, 1), dtype=np.uint8)
    y = np.arange(96) % 3
    ds = Dataset("toy-shapes", x[:64], y[:64], x[64:], y[64:], classes=["a", "b", "c"],
                 flip=False, source="generated in the test", split="the last 32 images")
    spec = dict(A.atto("toy", 8, [(8, 4, 4, 4, 1), (16, 8, 8, 8, 2)]), **ds.spec_fields())
    out = tmp_path / "toy"
    card = publish(_run(tmp_path, "r1", spec), "Toy", out, ds.arrays(),
                   attonet=C.find_attonet(), log=lambda s: None, data=data_card(ds), qemu=True)
    q = card["figures"]["qemu"]
    assert q["board"] == "mps2-an386" and q["outputs_match"]
    assert q["instructions"] > card["figures"]["macs"] > 0
    assert card["figures"]["arena_bytes"] <= q["ram_static_bytes"]
    assert card["data"]["what"] == "20x24 grayscale, 3 classes"
    text = (out / "README.md").read_text()
    assert "float32 NCHW 1x1x20x24" in text and "toy-shapes training images" in text
    assert "CIFAR" not in text
    assert f"| mps2-an386 instructions, one inference (QEMU, exact) | {q['instructions']:,} |" \
        in text
