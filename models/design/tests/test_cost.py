"""The runtime cost model: the converter's plan and the instruction table
calibrated on QEMU, checked against the exact counts committed for the
shipped models (benches/qemu/results.csv, measured by `cargo xtask
bench-qemu`), and the exploration's budgets in instructions and arena."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from models.design import arch as A
from models.design import cost as C
from models.design import cost_calibration as K
from models.design import explore as X
from models.design import search_space as S
from models.design import requirements as R

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ["attonet_d", "attonet_c", "attonet_b", "attonet_a", "baseline_resnet8",
           "baseline_mobilenet"]


def attonet():
    try:
        return C.find_attonet()
    except C.CostError:
        pytest.fail("the attonet tool is missing: `cargo build --release -p attonet-cli` "
                    "(cargo xtask test-design builds it)")


def qemu_results(board):
    with open(ROOT / "benches" / "qemu" / "results.csv") as f:
        return {r["model"]: r for r in csv.DictReader(f) if r["board"] == board}


def test_nnls_matches_the_constrained_optimum():
    # y = 2 x0 + 0 x1 - 1 x2 + noise-free: the unconstrained solution has a
    # negative coefficient, so the non-negative one sets it to zero and
    # refits the others; compare with a brute-force search over supports.
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 3))
    y = X @ np.array([2.0, 0.0, -1.0]) + 1.5
    X = np.hstack([X, np.ones((40, 1))])
    got = C.nnls(X, y)
    best = None
    for mask in range(1, 16):
        cols = [i for i in range(4) if mask >> i & 1]
        z = np.linalg.lstsq(X[:, cols], y, rcond=None)[0]
        if (z >= 0).all():
            r = np.sum((X[:, cols] @ z - y) ** 2)
            if best is None or r < best[0]:
                best = (r, cols, z)
    want = np.zeros(4)
    want[best[1]] = best[2]
    assert (got >= 0).all()
    np.testing.assert_allclose(got, want, atol=1e-8)


@pytest.mark.parametrize("board", ["mps2-an386", "virt"])
def test_the_committed_table_predicts_the_shipped_models_within_7_percent(board):
    """The shipped networks were trained (real weights) and are not in the
    calibration set; their exact Cortex-M4 and RISC-V counts are committed
    (and the digit detector's, a 96x96 input the candidates never have, on
    the boards its firmware runs on). 7 %, not the held-out candidates' 5 %:
    the M4's assembly narrow 1x1 kernel moved AttoNet-D (channels at the
    search space's lower edge) to -5.4 % and the detector to +6.6 %."""
    table = C.InstructionTable.load(board)
    exe = attonet()
    results = qemu_results(board)
    for name in SHIPPED + [n for n in ["atto_det_a"] if n in results]:
        folder = ROOT / "models" / name.replace("_", "-")
        onnx = next(folder.glob("*.onnx"))
        rep = C.inspect_plan(exe, onnx, folder / "calib.npy", board)
        measured = int(results[name]["instructions"])
        predicted, steps = table.predict(rep)
        err = abs(predicted - measured) / measured
        assert err <= 0.07, f"{name}: predicted {predicted:.0f}, QEMU {measured} ({err:.1%})"
        # The converter's arena is the firmware's activation RAM (which adds
        # a few bytes of the executor's own state, and the detector's
        # firmware its output buffer).
        ram = int(results[name]["ram_static_bytes"])
        out = int(np.prod(rep["output"])) if name == "atto_det_a" else 0
        assert rep["arena_bytes"] <= ram <= rep["arena_bytes"] + out + 64, name
        assert len(steps) == rep["steps"]


@pytest.mark.parametrize("board", ["mps2-an386", "virt"])
def test_the_table_records_its_held_out_error(board):
    fit = json.loads((C.COSTS_DIR / f"{board}.json").read_text())["fit"]
    assert fit["held_out"]["n"] >= 20
    assert fit["held_out"]["mean_abs_error_pct"] <= 5.0
    assert "cost-calibrate" in fit["how"]


def test_runtime_cost_is_the_converters_plan():
    exe = attonet()
    imgs = K.calibration_images()[(32, 32, 3)]
    model = C.RuntimeCost(imgs, attonet=exe)
    spec = A.family_seeds()[0]
    c = model.cost(spec)
    a = A.cost(spec)
    assert (c.macs, c.params) == (a["macs"], a["params"])
    assert c.source == "runtime" and c.board == "mps2-an386"
    # Fused blocks keep intermediates in row windows: the planner's arena is
    # below the analytic whole-tensor estimate.
    assert 0 < c.arena_bytes < R.estimate_deploy(spec)["peak_sram_bytes"]
    assert c.instructions > a["macs"]  # no kernel does a MAC an instruction yet
    assert model.cost(dict(spec, name="renamed")) is c  # cached by what the plan depends on


def test_the_converters_plan_is_the_searched_network():
    """Across the search space (stride-2 stems, depthwise and grouped 3x3s,
    28x28x1 and 32x32x3 inputs), the converter plans exactly the network the
    spec describes: the same MACs and parameters as the analytic count."""
    exe = attonet()
    images = K.calibration_images()
    for spec in K.draw_candidates(8, seed=7):
        c = C.RuntimeCost(images[A.input_shape(spec)], attonet=exe).cost(spec)
        a = A.cost(spec)
        assert (c.macs, c.params) == (a["macs"], a["params"]), spec


def test_a_dense_3x3_over_more_than_64_channels_costs_about_what_64_do():
    """Windows past dsp_select::CONV_MAX_K (576 taps) are a class of their
    own in the table; the runtime now takes them in slices
    (arch/cortex_m_dsp/wide.rs), and the table, calibrated on it, prices
    them like the columns kernel (0.94 a MAC over 64 channels, 1.05 to 1.18
    over 68 to 184), no longer like the portable loops (6 a MAC)."""
    table = C.InstructionTable.load("mps2-an386")

    def row(cin):
        return {"kernel": "grouped_conv3x3", "fused": True, "inputs": [f"8x8x{cin}"],
                "output": f"8x8x{cin}", "macs": 64 * cin * 9 * cin, "step": 0}
    per_mac = [table.step_instructions([row(c)]) / row(c)["macs"] for c in (64, 68, 128, 184)]
    assert all(0.7 < m < 1.5 for m in per_mac), per_mac


def test_instruction_budget_rejects_candidates_before_training(tmp_path):
    imgs = K.calibration_images()[(32, 32, 3)]
    arrays = (imgs, np.zeros(len(imgs), np.int64), imgs, np.zeros(len(imgs), np.int64))
    model = C.RuntimeCost(imgs, attonet=attonet())
    gen = S.encode_seed(A.family_seeds()[0])
    need = model.cost(S.decode(gen))
    cfg = X.load_config(smoke=True)
    for budget, feasible in ((need.instructions * 1.01, True), (need.instructions * 0.99, False)):
        cfg["requirements"] = {"max_instructions": budget}
        ex = X.Explorer(cfg, tmp_path / str(feasible), "cpu", arrays, log=lambda s: None,
                        cost_model=model)
        assert (ex.feasible_spec(gen) is not None) == feasible
    cfg["requirements"] = {"max_arena_bytes": need.arena_bytes - 1}
    ex = X.Explorer(cfg, tmp_path / "arena", "cpu", arrays, log=lambda s: None,
                    cost_model=model)
    assert ex.feasible_spec(gen) is None


def test_instruction_budget_without_the_runtime_cost_model_is_an_error(tmp_path):
    cfg = X.load_config(smoke=True)
    cfg["requirements"] = {"max_instructions": 4e6}
    cfg["cost"] = {"model": "analytic"}
    imgs = K.calibration_images()[(32, 32, 3)]
    with pytest.raises(C.CostError, match="max_instructions"):
        X.Explorer(cfg, tmp_path, "cpu", (imgs, None, imgs, None), log=lambda s: None)


def test_score_counts_instructions_in_place_of_macs():
    c = C.Cost(macs=3_000_000, params=30_000, flash_bytes=40_000, arena_bytes=10_000,
               instructions=6_000_000.0, source="runtime", board="mps2-an386")
    s, v = X.score(80.0, c, R.Requirements())
    assert v == [] and s == pytest.approx(R.netscore(80.0, 30_000, 6_000_000))
    s2, v2 = X.score(80.0, c, R.Requirements(max_instructions=5e6))
    assert len(v2) == 1 and "instructions" in v2[0] and s2 == pytest.approx(s - 100)


def test_requirements_name_what_they_check():
    r = R.Requirements.from_dict({"max_instructions": "4e6", "max_arena_bytes": 16384,
                                  "max_flash_bytes": 65536})
    assert r.max_instructions == 4e6 and r.max_sram_bytes == 16384
    with pytest.raises(R.RequirementsError, match="max_instrs"):
        R.Requirements.from_dict({"max_instrs": 1})
    assert math.isinf(R.Requirements().max_instructions)


def test_taps_inside_the_input():
    # A 3x3 with padding 1: along an axis of 4, the first and last output
    # lose one tap each (10 of 12 inside); stride 2 from 8 to 4 loses only
    # the first output's top tap (11 of 12).
    assert C._valid_taps(4, 4) == pytest.approx(10 / 12)
    assert C._valid_taps(8, 4) == pytest.approx(11 / 12)
    assert C._valid_taps(32, 32, k=1) == 1.0


def test_unknown_kernel_is_a_clear_error():
    table = C.InstructionTable.load("mps2-an386")
    with pytest.raises(C.CostError, match="no layer of kernel 'lstm'"):
        table.step_instructions([{"kernel": "lstm", "fused": False, "inputs": ["1x1x8"],
                                  "output": "1x1x8", "macs": 64}])


def test_a_missing_table_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(C.CostError, match="cost-calibrate --board sifive_e"):
        C.InstructionTable.load("sifive_e", tmp_path / "sifive_e.json")


def test_the_quick_estimate_is_the_table_on_the_converters_plan():
    """analytic_rows reproduces the converter's plan rows closely enough that
    the table gives the same instructions (it lets the generator skip
    candidates far over budget without an export)."""
    exe = attonet()
    images = K.calibration_images()
    for spec in K.draw_candidates(6, seed=11):
        m = C.RuntimeCost(images[A.input_shape(spec)], attonet=exe)
        assert m.estimate_instructions(spec) == pytest.approx(m.cost(spec).instructions,
                                                              rel=1e-9), spec


def test_a_tight_budget_is_reached_by_walking_from_the_seeds(tmp_path):
    """Seeds several times over an instruction budget: the generator walks
    from them (mutants nearer the budget become walkers) and finds networks
    within it; no two proposals build the same network."""
    imgs = K.calibration_images()[(32, 32, 3)]
    arrays = (imgs, np.zeros(len(imgs), np.int64), imgs, np.zeros(len(imgs), np.int64))
    model = C.RuntimeCost(imgs, attonet=attonet())
    seed = model.cost(S.decode(S.encode_seed(A.family_seeds()[0]))).instructions
    cfg = X.load_config(smoke=True)
    cfg["requirements"] = {"max_instructions": seed / 4}
    ex = X.Explorer(cfg, tmp_path, "cpu", arrays, log=lambda s: None, cost_model=model)
    cands = ex.propose(4)
    assert len(cands) == 4
    assert all(model.cost(s).instructions <= seed / 4 for _, s in cands)
    assert len({ex.space.network_key(g) for g, _ in cands}) == 4
