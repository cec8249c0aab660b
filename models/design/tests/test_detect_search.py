"""The detector search (detect_search.py): its candidates are valid specs of
the stated space, the runtime cost model prices them through the converter's
plan, a budget decides what is trained, and bad settings are named errors."""
import csv
import json
import random

import pytest

from models.design import cost as C
from models.design import detect as D
from models.design import detect_search as DS
from models.design import scenes as S


@pytest.fixture(scope="module")
def sets():
    try:
        d = S.splits(None, {"train": 32, "val": 16}, 0)
    except S.SceneError as e:
        pytest.fail(f"the MNIST digits: {e}")
    return d["train"], d["val"]


def attonet():
    try:
        return C.find_attonet()
    except C.CostError:
        pytest.fail("the attonet tool is missing: `cargo build --release -p attonet-cli` "
                    "(the README's test command builds it first)")


def test_candidates_are_specs_of_the_space():
    rng = random.Random(0)
    base = D.default_spec()
    seen = set()
    for _ in range(200):
        spec = DS.sample(rng, base)
        D.check_spec(spec)
        assert D.stride(spec) == 8 and D.grid(spec) == (12, 12)
        assert spec["stem"] in DS.STEMS and spec["head"]["mid"] in DS.HEAD_MID
        strides = [m["stride"] for m in spec["modules"]]
        assert strides.count(2) == 2 and strides[0] == 2 and 3 <= len(strides) <= 6
        for m in spec["modules"]:
            assert m["out"] % 4 == 0 and m["comp"] % 4 == 0
            assert m["comp"] % m["groups"] == 0 and m["comp"] // m["groups"] >= 2
        seen.add(DS.plan_key(spec))
    assert len(seen) > 150  # the space is not a handful of specs


def test_bad_settings_are_named(sets, tmp_path):
    train, val = sets
    with pytest.raises(DS.SearchError, match="at least 1"):
        DS.search(train, val, tmp_path, 8e6, 65536, candidates=0)
    with pytest.raises(DS.SearchError, match="correction"):
        DS.search(train, val, tmp_path, 8e6, 65536, correction=3.0)
    with pytest.raises(DS.SearchError, match="positive"):
        DS.search(train, val, tmp_path, -1, 65536)


def test_the_cost_is_the_converters_plan(sets):
    """The deployed cost of the hand-picked detector: the converter's MACs
    equal the analytic count, and the arena is what the plan needs (the
    shipped detector's plan, models/atto-det-a, holds 29,472 B)."""
    train, _ = sets
    spec = D.default_spec()
    table = C.InstructionTable.load()
    c = DS.deployed_cost(spec, train.images[:8], table, attonet())
    assert c["macs"] == D.cost(spec)["macs"]
    assert 16_000 <= c["arena_bytes"] <= 64 * 1024
    assert 4e6 <= c["instructions"] <= 16e6


def test_a_budget_decides_what_is_trained(sets, tmp_path):
    train, val = sets
    best, rows = DS.search(train, val, tmp_path / "wide", 1e9, 1 << 20, candidates=3,
                           proxies=1, proxy_epochs=1, log=lambda s: None)
    assert len(rows) == 3 and all(r["within_budget"] for r in rows)
    trained = [r for r in rows if r["proxy_map50"] is not None]
    assert len(trained) == 1
    # the largest candidate (most MACs) is the one trained, and it wins
    assert trained[0]["macs"] == max(r["macs"] for r in rows)
    saved = json.loads((tmp_path / "wide" / "best.json").read_text())
    assert saved["modules"] == trained[0]["spec"]["modules"] == best["modules"]
    with open(tmp_path / "wide" / "search.csv") as f:
        assert len(list(csv.DictReader(f))) == 3
    # a budget no candidate meets: a named error, the costed candidates kept
    with pytest.raises(DS.SearchError, match="no candidate fits"):
        DS.search(train, val, tmp_path / "tight", 1e5, 65536, candidates=2, proxies=1,
                  proxy_epochs=1, log=lambda s: None)
    with open(tmp_path / "tight" / "search.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(r["within_budget"] == "False" for r in rows)
    assert not (tmp_path / "tight" / "best.json").exists()
