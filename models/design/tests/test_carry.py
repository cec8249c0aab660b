"""carry.py: a long run's resumable state kept in a repository folder and
restored on a fresh machine (`family --carry-run DIR`)."""
import json
from pathlib import Path

from models.design import carry as K
from models.design import explore as X
from models.design import train as T
from models.design.tests.test_family import args


def _tree(root: Path):
    files = {
        "explore/A/state.json": "{}",
        "explore/A/candidates.csv": "name\n",
        "explore/A/g0-done/ckpt.pt": "w",      # a finished candidate: its result only
        "explore/A/g0-done/model.pt": "w",
        "explore/A/g0-done/result.json": "{}",
        "explore/A/g1-running/ckpt.pt": "w1",  # in progress: its checkpoint
        "explore/A/g1-running/train.log": "log",
        "explore/A/final/f-A/ckpt.pt": "w",    # a finished finalist: weights and result
        "explore/A/final/f-A/model.pt": "wf",
        "explore/A/final/f-A/result.json": "{}",
        "baselines/resnet8/ckpt.pt": "wb",      # a baseline in progress
        "trained.json": "[]",
        "data.npy": "x" * 100,                  # nothing else
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_what_is_carried_and_in_which_order(tmp_path):
    _tree(tmp_path)
    got = [str(p) for p in K.wanted(tmp_path)]
    assert sorted(got) == sorted([
        "baselines/resnet8/ckpt.pt", "explore/A/g1-running/ckpt.pt",
        "explore/A/final/f-A/model.pt", "explore/A/g0-done/result.json",
        "explore/A/final/f-A/result.json", "explore/A/state.json",
        "explore/A/candidates.csv", "trained.json"])
    kind = ["w" if g.endswith(".pt") else "r" if g.endswith("result.json") else "s" for g in got]
    assert kind == sorted(kind, key="wrs".index)  # weights, then results, then states


def test_sync_restore_and_a_run_that_finished_meanwhile(tmp_path, monkeypatch):
    run, repo, fresh = tmp_path / "run", tmp_path / "repo", tmp_path / "fresh"
    _tree(run)
    assert K.sync(run, repo, log=lambda s: None) == (8, 0)
    assert K.sync(run, repo, log=lambda s: None) == (0, 0)  # nothing changed
    # The running candidate finishes: its checkpoint leaves, its result comes.
    (run / "explore/A/g1-running/result.json").write_text('{"acc": 1}')
    assert K.sync(run, repo, log=lambda s: None) == (1, 1)
    assert not (repo / "explore/A/g1-running/ckpt.pt").exists()
    # A file over the limit is left out, and said.
    monkeypatch.setattr(K, "MAX_FILE", 1)
    said = []
    K.sync(run, repo, log=said.append)
    assert any("not carried" in s for s in said) and not (repo / "trained.json").exists()
    monkeypatch.setattr(K, "MAX_FILE", 8 << 20)
    K.sync(run, repo, log=lambda s: None)
    # A fresh machine: everything carried comes back; what it has stays.
    (fresh / "explore/A").mkdir(parents=True)
    (fresh / "explore/A/state.json").write_text('{"newer": true}')
    assert K.restore(repo, fresh, log=lambda s: None) == 7
    assert (fresh / "explore/A/final/f-A/model.pt").read_text() == "wf"
    assert json.loads((fresh / "explore/A/state.json").read_text()) == {"newer": True}


def test_a_family_run_resumes_on_a_fresh_machine_from_the_carry(tmp_path, monkeypatch):
    """A smoke family (exploration A, its finalist, the ResNet-8 baseline) with
    --carry-run; then a fresh run folder with the same carry: nothing is
    trained again, and the states and trained networks are the first run's."""
    from models.design import data as D
    monkeypatch.setattr(D, "load_any", lambda *a, **k: (D.smoke_data(256, 64), "synthetic"))
    cfg = tmp_path / "family.json"
    cfg.write_text(json.dumps({
        "budgets": {"A": "attonet-d.json"}, "final_train": {"batch": 64},
        "baselines": ["resnet8"], "baseline_train": {"epochs": 1, "batch": 64}}))
    monkeypatch.setattr(X, "FAMILY_CONFIG", cfg)
    repo = tmp_path / "repo-carry"
    kw = dict(budgets="A", no_distill=True, carry_run=str(repo), carry_every=3600.0)
    X.family_cli(args(tmp_path / "one", cfg, **kw))
    first = json.loads((tmp_path / "one" / "explore" / "A" / "state.json").read_text())
    assert (repo / "explore" / "A" / "state.json").exists()
    steps = []
    real = T.train_steps

    def counted(*a, **k):  # every optimiser step the second run takes
        g = real(*a, **k)
        while True:
            try:
                next(g)
            except StopIteration as e:
                return e.value
            steps.append(k.get("tag"))
            yield
    monkeypatch.setattr(T, "train_steps", counted)
    X.family_cli(args(tmp_path / "two", cfg, **kw))
    again = json.loads((tmp_path / "two" / "explore" / "A" / "state.json").read_text())
    assert again["records"] == first["records"] and again["finals"] == first["finals"]
    trained = json.loads((tmp_path / "two" / "trained.json").read_text())
    assert [Path(p).name for p in trained] == [Path(p).name for p in json.loads(
        (tmp_path / "one" / "trained.json").read_text())]
    assert steps == [], f"trained again: {sorted(set(steps))}"
