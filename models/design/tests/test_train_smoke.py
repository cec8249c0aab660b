import json

import numpy as np

from models.design import arch as A
from models.design import data as D
from models.design import search_space as S
from models.design.job import run_job
from models.design.train import TrainCfg, train_many


def test_augmentation_shapes_and_flip():
    import torch
    x, y, _, _ = D.smoke_data(64, 8)
    dd = __import__("models.design.train", fromlist=["DeviceData"]).DeviceData(x, y, "cpu")
    g = torch.Generator().manual_seed(0)
    xb, yb = next(dd.train_batches(32, g, cutout=8))
    assert xb.shape == (32, 3, 32, 32) and yb.shape == (32,)
    assert xb.dtype == torch.float32 and xb.max() <= 255


def test_train_export_resume(tmp_path):
    arrays = D.smoke_data(256, 64)
    spec = A.family_seeds()[0]
    cfg = TrainCfg(epochs=1, batch=64, lr=0.05, eval_every=1, ckpt_every=1)
    res, _ = run_job(spec, arrays, cfg, tmp_path / "r", "cpu")
    assert res["onnx_verified"] and res["epochs"] == 1
    assert (tmp_path / "r" / "model.onnx").exists()
    # The trained model's deployed figures: the converter's plan of its ONNX
    # (arena, flash) and the M4 table's instructions, not the analytic guess.
    de = res["deploy_estimate"]
    assert de["source"] == "attonet inspect", de
    assert de["board"] == "mps2-an386" and de["macs"] == res["macs"]
    assert 0 < de["arena_bytes"] < 64 * 1024 and de["flash_bytes"] > res["params"]
    assert 0.8 * de["macs"] < de["instructions"] < 10 * de["macs"]
    # resume with more epochs continues from the checkpoint
    cfg2 = TrainCfg(epochs=2, batch=64, lr=0.05, eval_every=1, ckpt_every=1)
    res2, _ = run_job(spec, arrays, cfg2, tmp_path / "r", "cpu", resume=True, export=False)
    assert res2["epochs"] == 2


def test_train_many_cpu(tmp_path):
    arrays = D.smoke_data(128, 32)
    cfg = TrainCfg(epochs=1, batch=64)
    jobs = [dict(spec=s, arrays=arrays, cfg=cfg, out=tmp_path / s["name"], tag=s["name"])
            for s in (A.family_seeds()[0], A.mobilenet_baseline())]
    res = train_many(jobs, "cpu")
    assert all("final_acc" in r for r in res)


def test_genome_roundtrip_and_mutation():
    import random
    seed = A.family_seeds()[0]
    gen = S.encode_seed(seed)
    spec = S.decode(gen)
    assert A.cost(spec)["macs"] == A.cost(seed)["macs"]
    rng = random.Random(0)
    for _ in range(50):
        child = S.mutate(gen, rng)
        s = S.decode(child)
        for m in s["modules"]:
            assert m["comp"] % m["groups"] == 0
    sens = np.zeros(len(S.GENES))
    sens[S.GENES.index("w3")] = 1.0
    ups = sum(S.mutate(gen, random.Random(i), sens)["w3"] > gen["w3"] for i in range(200))
    downs = sum(S.mutate(gen, random.Random(i), sens)["w3"] < gen["w3"] for i in range(200))
    assert ups > downs


def test_carry_roundtrip(tmp_path):
    x, y, vx, vy = D.smoke_data(200, 100)
    npy = tmp_path / "npy"
    npy.mkdir()
    for n, a in zip(["train_x", "train_y", "test_x", "test_y"], (x, y, vx, vy)):
        np.save(npy / f"{n}.npy", a)
    D.pack_carry(npy, tmp_path / "carry", chunk=100)
    tx, ty, ex, ey = D.load_carry(tmp_path / "carry")
    assert np.array_equal(ex, vx)  # test split is lossless
    assert tx.shape == x.shape and np.array_equal(ty, y)
    man = json.loads((tmp_path / "carry" / "manifest.json").read_text())
    assert all(e["psnr"] > 30 for e in man["train"])
