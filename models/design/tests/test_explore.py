"""The explorer's finalist selection: budgets are hard, and with an accuracy
tolerance only candidates near the best proxy accuracy may go on."""
from models.design.explore import finalists


def rec(name, acc, score, violations=()):
    return {"name": name, "acc": acc, "score": score, "violations": list(violations)}


def test_budget_violations_and_unscored_are_never_finalists():
    recs = [rec("ok", 40.0, 75.0), rec("over", 45.0, -25.0, ["MACs 4e6 > budget"]),
            {"name": "crashed", "acc": None, "score": None}]
    assert [r["name"] for r in finalists(recs)] == ["ok"]


def test_tolerance_keeps_only_candidates_near_the_best_accuracy():
    recs = [rec("lean", 38.0, 77.0), rec("strong", 41.5, 75.9), rec("close", 40.8, 76.2)]
    assert {r["name"] for r in finalists(recs)} == {"lean", "strong", "close"}
    near = finalists(recs, acc_tolerance=1.0)
    assert {r["name"] for r in near} == {"strong", "close"}
    # The best NetScore among them is what the explorer trains.
    assert max(near, key=lambda r: r["score"])["name"] == "close"
