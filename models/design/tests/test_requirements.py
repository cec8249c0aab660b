import math

import numpy as np
import pytest

from models.design import arch as A
from models.design import cost as C
from models.design import requirements as R


def test_netscore_formula():
    # a=90 %, p=0.04 M, m=3 M
    v = R.netscore(90.0, 40_000, 3_000_000)
    assert v == pytest.approx(20 * math.log10(90.0 ** 2 / (math.sqrt(0.04) * math.sqrt(3.0))))
    assert R.netscore(0.0, 1, 1) == float("-inf")


def test_netscore_monotone():
    assert R.netscore(88, 30e3, 3e6) > R.netscore(87, 30e3, 3e6)
    assert R.netscore(88, 30e3, 3e6) > R.netscore(88, 40e3, 3e6)
    assert R.netscore(88, 30e3, 3e6) > R.netscore(88, 30e3, 4e6)


def test_family_D_target_checks():
    """The smallest (AttoNet-D): the MLPerf reference's accuracy in 3.1 M MACs."""
    req = R.TARGETS["D"]
    assert R.check(req, acc=87.5, macs=3.0e6, params=38e3) == []
    v = R.check(req, acc=87.0, macs=3.0e6, params=38e3)
    assert len(v) == 1 and "accuracy" in v[0]
    v = R.check(req, acc=88.0, macs=3.2e6, params=38e3)
    assert len(v) == 1 and "MACs" in v[0]
    v = R.check(req, acc=88.0, macs=3.0e6, params=40e3)
    assert len(v) == 1 and "params" in v[0]
    # boundary values are allowed
    assert R.check(req, acc=87.07, macs=3.1e6, params=39e3) == []
    # everything wrong
    assert len(R.check(req, acc=50, macs=9e6, params=99e3)) == 3


def test_family_A_target_checks():
    """The largest (AttoNet-A): 91 % in 12.5 M MACs."""
    req = R.TARGETS["A"]
    assert R.check(req, acc=91.0, macs=12.5e6) == []
    assert R.check(req, acc=90.9, macs=12.5e6)
    assert R.check(req, acc=92, macs=12.6e6)


def test_flash_sram_budgets():
    req = R.Requirements(max_flash_bytes=1000, max_sram_bytes=2000)
    assert R.check(req, flash=1000, sram=2000) == []
    assert len(R.check(req, flash=1001, sram=2001)) == 2
    # cost-only check ignores accuracy when not given
    assert R.check(R.Requirements(min_acc=99), macs=1) == []


def test_requirements_from_dict():
    r = R.Requirements.from_dict({"min_acc": 87.07, "max_macs": "3.1e6"})
    assert r.min_acc == 87.07 and r.max_macs == 3.1e6 and math.isinf(r.max_params)


def test_seed_atto_A_is_within_the_smallest_budget():
    """The seeds keep their first names: `atto-A` is the smallest (AttoNet-D's)."""
    s = A.family_seeds()[0]
    c = A.cost(s)
    assert R.check(R.TARGETS["D"], macs=c["macs"], params=c["params"]) == []
    assert R.feasible_cost(R.TARGETS["D"], s)
    assert not R.feasible_cost(R.TARGETS["D"], A.resnet8())


def test_deployed_figures_fall_back_to_the_estimate(tmp_path):
    """cost.deployed_figures (a finished job's figures): the converter's plan
    where it can make one, else the analytic estimate, marked and saying
    why: a model the converter cannot read, a board without a table."""
    imgs = np.zeros((2, 32, 32, 3), np.uint8)
    d = C.deployed_figures(A.resnet8(), tmp_path / "missing.onnx", imgs)
    assert d["source"] == "estimate" and "missing.onnx" in d["why"], d
    assert d["flash_bytes"] > 0 and d["peak_sram_bytes"] > 0
    d = C.deployed_figures(A.resnet8(), tmp_path / "missing.onnx", imgs, board="no-such-board")
    assert d["source"] == "estimate" and "no-such-board" in d["why"], d
