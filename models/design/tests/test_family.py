"""`models.design family`: explorations of several budgets interleaved in one
training pool, each within its own budget, their finalists trained after
them, an exploration carried over from elsewhere resumed (not redone), the
baselines beside them, distillation from one budget's finalist to
another's, a finalist fine-tuned from its own weights with an ensemble of
a finalist and a baseline as the teacher, a stage taught by an earlier
stage's result, and each budget's last stage and the baseline published as
model folders (tiny synthetic data, CPU; a stand-in converter)."""
import json
from pathlib import Path
from types import SimpleNamespace

from models.design import arch as A
from models.design import explore as X
from models.design import search_space as S
from models.design.tests.test_publish import _tool

SHIPPED = Path(__file__).resolve().parents[2]  # models/, the published folders


def args(out, config, **kw):
    base = dict(config=str(config), out=str(out), budgets="A,B", baselines="resnet8",
                deadline_seconds=0.0, final_min_seconds=0.0, final_batch=0, final_lr=0.0,
                no_finalize=True, no_distill=False, smoke=True, device="cpu",
                data_dir="/nonexistent", carry_dir="/nonexistent")
    base.update(kw)
    return SimpleNamespace(**base)


def test_family_smoke(tmp_path, monkeypatch):
    from models.design import data as D
    monkeypatch.setattr(D, "load_any", lambda *a, **k: (D.smoke_data(256, 64), "synthetic"))
    cfg = tmp_path / "family.json"
    cfg.write_text(json.dumps({
        "budgets": {"A": "attonet-d.json", "B": "attonet-c.json"},
        "final_train": {"batch": 64},
        "baselines": ["resnet8"],
        "baseline_train": {"epochs": 1, "batch": 64},
        "distill": [{"name": "A-kd", "student": "A", "teacher": "B", "kd_alpha": 0.5,
                     "epochs": 1, "batch": 64},
                    {"name": "B-ens", "student": "B", "teacher": ["A", "resnet8"],
                     "init": "finalist", "freeze_bn": True, "kd_alpha": 0.8, "epochs": 1,
                     "batch": 64},
                    {"name": "A-ens", "student": "A", "teacher": ["B-ens", "resnet8"],
                     "init": "A-kd", "freeze_bn": True, "epochs": 1, "batch": 64}]}))
    # Budget B's exploration was done elsewhere: one generation, recorded.
    spec = A.family_seeds()[0]
    gen = S.encode_seed(spec)
    rec = {"id": S.genome_id(gen), "name": "g-" + S.genome_id(gen), "genome": gen,
           "stage": "proxy", "generation": 0, "macs": 1, "params": 1, "flash_est": 1,
           "sram_est": 1, "acc": 30.0, "score": 70.0, "violations": []}
    (tmp_path / "out" / "explore" / "B").mkdir(parents=True)
    (tmp_path / "out" / "explore" / "B" / "state.json").write_text(json.dumps(
        {"generation": 5, "records": [rec], "finals": []}))
    monkeypatch.setattr(X, "FAMILY_CONFIG", cfg)
    X.family_cli(args(tmp_path / "out", cfg, no_finalize=False, publish=str(tmp_path / "models"),
                      attonet=_tool(tmp_path)))
    out = tmp_path / "out"
    a = json.loads((out / "explore" / "A" / "state.json").read_text())
    b = json.loads((out / "explore" / "B" / "state.json").read_text())
    assert a["generation"] == 1 and len(a["records"]) == 2      # the smoke exploration ran
    assert len(b["records"]) == 1                                # the carried one was not redone
    assert b["finals"][0]["name"] == "final-" + rec["id"]       # ...and went to its finalist
    assert all(r["macs"] <= 4e6 for r in a["records"])           # smoke budget
    trained = json.loads((out / "trained.json").read_text())
    assert len(trained) == 6, trained  # A and B finalists, the baseline, 3 stages distilled
    assert (out / "baselines" / "resnet8" / "model.pt").exists()
    kd = json.loads((out / "distill" / "A-kd" / "result.json").read_text())
    assert kd["cfg"]["kd_alpha"] == 0.5
    assert kd["spec"]["name"] == a["finals"][0]["name"]          # the student is A's finalist
    ens = json.loads((out / "distill" / "B-ens" / "result.json").read_text())
    assert ens["teachers"] == ["A", "resnet8"] and ens["cfg"]["freeze_bn"]
    assert ens["init"].endswith("final-" + rec["id"] + "/model.pt")  # B's own weights
    late = json.loads((out / "distill" / "A-ens" / "result.json").read_text())
    assert late["teachers"] == ["B-ens", "resnet8"]              # an earlier stage teaches
    assert late["init"].endswith("distill/A-kd/model.pt")
    # --publish: each budget's last stage and the baseline, as model folders
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir()) == ["attonet-a", "attonet-b",
                                                         "baseline-resnet8"]
    card_a = json.loads((models / "attonet-a" / "card.json").read_text())
    assert card_a["title"] == "AttoNet-A" and card_a["spec"] == late["spec"]
    assert "stage `A-ens`" in card_a["training"]["recipe"]
    assert card_a["exploration"]["candidates"] == len(a["records"])
    card_r = json.loads((models / "baseline-resnet8" / "card.json").read_text())
    assert card_r["title"] == "ResNet-8 (baseline)"
    assert "MLPerf Tiny ResNet-8" in (models / "baseline-resnet8" / "README.md").read_text()


def test_family_config_problems_are_found_before_training():
    fam = json.loads(X.FAMILY_CONFIG.read_text())
    assert X.family_config_problems(fam) == []                   # the shipped config
    fashion = json.loads((X.FAMILY_CONFIG.parent / "fashion-family.json").read_text())
    assert X.family_config_problems(fashion) == []               # budgets in instructions
    assert X.family_config_problems({"budgets": {"Z": "no-such.json"}})[0].startswith(
        "budget Z: ")
    fam["distill"] = [
        {"name": "x", "student": "E", "teacher": "D-later", "init": "x", "kd_alpa": 0.5},
        {"name": "D-later", "student": "D", "teacher": ["D", "mobilenet"], "init": "finalist"},
        {"name": "D-later", "student": "D", "teacher": "D-later"},
        {"name": "y", "student": "models/attonet-z", "teacher": str(SHIPPED / "attonet-a"),
         "share": "half"}]
    fam["baseline_share"] = 1.5
    problems = X.family_config_problems(fam)
    assert problems == [
        "distill stage x: student 'E' is not a budget (A, B, C, D) or a model folder",
        "distill stage x: teacher 'D-later' is not a budget, a baseline, a model folder or an "
        "earlier stage",
        "distill stage x: init 'x' is neither \"finalist\" nor an earlier stage",
        "distill stage x: unknown setting(s) kd_alpa",
        "distill stage D-later: the name is used twice",
        "distill stage y: student 'models/attonet-z': no card.json there (a model folder "
        "from `publish`)",
        "distill stage y: share 'half' is not in (0, 1]",
        "baseline_share 1.5 is not in (0, 1]"], problems


def test_distill_from_published_model_folders(tmp_path, monkeypatch):
    """A machine without the family run's checkpoints (a fresh GPU machine)
    distills from the published folders: a student trained from scratch with
    its card's architecture and a folder as teacher, then that result
    teaching the folder's own network fine-tuned from its weights."""
    from models.design import data as D
    monkeypatch.setattr(D, "load_any", lambda *a, **k: (D.smoke_data(256, 64), "synthetic"))
    a_dir, b_dir = str(SHIPPED / "attonet-d"), str(SHIPPED / "attonet-c")
    cfg = tmp_path / "wide.json"
    cfg.write_text(json.dumps({
        "budgets": {}, "baselines": [], "baseline_train": {"epochs": 1},
        "distill": [{"name": "A-new", "student": a_dir, "teacher": [b_dir], "epochs": 1,
                     "batch": 64},
                    {"name": "A-tune", "student": a_dir, "teacher": "A-new", "init": "finalist",
                     "freeze_bn": True, "epochs": 1, "batch": 64}]}))
    X.family_cli(args(tmp_path / "out", cfg, budgets="", baselines=""))
    card = json.loads((SHIPPED / "attonet-d" / "card.json").read_text())
    new = json.loads((tmp_path / "out" / "distill" / "A-new" / "result.json").read_text())
    assert new["spec"] == card["spec"] and new["teachers"] == [b_dir] and new["init"] is None
    tune = json.loads((tmp_path / "out" / "distill" / "A-tune" / "result.json").read_text())
    assert tune["teachers"] == ["A-new"] and tune["init"] == a_dir


def test_deadline_stops_exploring_and_keeps_time_for_finalists(tmp_path, monkeypatch):
    from models.design import data as D
    monkeypatch.setattr(D, "load_any", lambda *a, **k: (D.smoke_data(256, 64), "synthetic"))
    # A deadline already past: no generation starts, nothing is explored, the
    # explorer says why, and there is no finalist to train.
    X.family_cli(args(tmp_path / "out", X.FAMILY_CONFIG, budgets="A", baselines="",
                      deadline_seconds=0.001, final_min_seconds=1000.0, no_distill=True))
    st = json.loads((tmp_path / "out" / "explore" / "A" / "state.json").read_text())
    assert st["records"] == [] and "deadline" in st["stopped_early"]


def test_wide_teacher_config_trains_the_teacher_then_distills_the_shipped_networks(
        tmp_path, monkeypatch):
    """configs/distill-wide.json (for a GPU session): the wide teacher trains
    as a baseline annealing to its share of the deadline, then each shipped
    network's architecture is distilled from it, from scratch, each stage
    with its share of the time left (smoke-sized: 1 epoch, synthetic data)."""
    from models.design import data as D
    monkeypatch.setattr(D, "load_any", lambda *a, **k: (D.smoke_data(256, 64), "synthetic"))
    monkeypatch.chdir(SHIPPED.parent)                 # the config's folders: models/attonet-*
    cfg = X.FAMILY_CONFIG.with_name("distill-wide.json")
    fam = json.loads(cfg.read_text())
    assert X.family_config_problems(fam) == []
    X.family_cli(args(tmp_path / "out", cfg, budgets="", baselines=None, deadline_seconds=1000.0))
    out = tmp_path / "out"
    teacher = json.loads((out / "baselines" / "teacher" / "result.json").read_text())
    assert 400 < teacher["cfg"]["time_budget"] <= 1000 * fam["baseline_share"]
    for st in fam["distill"]:
        res = json.loads((out / "distill" / st["name"] / "result.json").read_text())
        card = json.loads((SHIPPED.parent / st["student"] / "card.json").read_text())
        assert res["spec"] == card["spec"] and res["init"] is None
        assert res["teachers"] == ["teacher"]
        assert res["cfg"]["time_budget"] <= 1000.0 * st.get("share", 1.0)
