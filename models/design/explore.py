"""Design exploration: a practical reading of generative synthesis.

generator   proposes genomes (stem width, per-stage depth / width /
            compression ratio / mix ratio / groups) -> decoded into module
            specs (first module of stages 2,3 downsamples: type-B shortcut).
            Candidates that violate cost budgets are rejected before any
            training: MACs and parameters (exact), and what the deployed
            plan costs (cost.py: the converter's arena and flash, and the
            target's instructions from a table calibrated on QEMU; or the
            analytic estimate with `"cost": {"model": "analytic"}`).
inquisitor  trains each candidate on a short proxy schedule (held-out
            validation slice of train), scores it (NetScore subject to the
            requirements) and fits a ridge regression of score on the
            normalised genome -> a sensitivity vector ("insight": which
            knobs raise NetScore per unit change, and which cost the most).
            NetScore here counts the target's instructions in place of MACs
            when the cost model knows them (the paper's, with MACs, is kept
            beside it in every record).
loop        the next generation mutates the best feasible genomes, biasing
            each mutation's direction by the sign/magnitude of the
            sensitivity; repeat for G generations (or until the time budget);
            the top-k feasible finalists are trained on the full schedule and
            exported.
All state lives in OUT/state.json (+ one run dir per candidate) so
`--resume` continues where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from pathlib import Path

import numpy as np

from . import arch as A
from . import cost as C
from . import requirements as R
from .search_space import AttoSpace, SensitivityGenerator

DEFAULT_CONFIG = {
    "requirements": {"min_acc": 0.0, "max_macs": 3.1e6, "max_params": 39e3},
    "generations": 4, "population": 8, "elite": 3,
    "proxy": {"epochs": 15, "time_budget": 0, "val_split": 5000, "limit_train": 0,
              "batch": 512, "lr": 0.4},
    "final": {"top_k": 2, "epochs": 200, "batch": 512, "lr": 0.4},
    "seed": 0,
}

SMOKE_CONFIG = {
    "requirements": {"min_acc": 0.0, "max_macs": 4e6, "max_params": 60e3,
                     "max_instructions": 12e6, "max_arena_bytes": 32768},
    "cost": {"model": "runtime", "board": "mps2-an386"},
    "generations": 1, "population": 2, "elite": 1,
    "proxy": {"epochs": 1, "val_split": 128, "limit_train": 512, "batch": 128, "lr": 0.1},
    "final": {"top_k": 0},
    "seed": 0,
}


def violations(req: R.Requirements, cost: C.Cost, acc=None):
    """The requirements a candidate's cost (and accuracy, when given) breaks."""
    return R.check(req, acc=acc, macs=cost.macs, params=cost.params, flash=cost.flash_bytes,
                   sram=cost.arena_bytes, instructions=cost.instructions)


def score(acc, cost: C.Cost, req: R.Requirements):
    """NetScore with the target's instructions in place of MACs (the paper's,
    with MACs, when the cost model has no instructions), minus a large
    penalty per violated requirement."""
    viol = violations(req, cost, acc)
    work = cost.instructions if cost.instructions is not None else cost.macs
    return R.netscore(acc, cost.params, work) - 100.0 * len(viol), viol


def finalists(records, acc_tolerance=None):
    """Candidates eligible for full training: scored, within every budget,
    and (with `acc_tolerance`) within that many points of the best proxy
    accuracy. The hard accuracy requirement (e.g. the ResNet-8 reference's
    87.07 %) cannot be checked on a few-epoch proxy; holding the finalists
    to the proxy's best keeps NetScore from trading most of the accuracy
    away for a few parameters, which the final schedule would not win back."""
    ok = [r for r in records if r.get("score") is not None and not r.get("violations")]
    if acc_tolerance is not None and ok:
        best = max(r["acc"] for r in ok)
        ok = [r for r in ok if r["acc"] >= best - acc_tolerance]
    return ok


def rng_state_to_json(st):
    """random.Random's state as one JSON-friendly value (625 words in hex)."""
    version, words, gauss = st
    return {"version": version, "words": np.array(words, dtype=np.uint32).tobytes().hex(),
            "gauss": gauss}


def rng_state_from_json(d):
    words = np.frombuffer(bytes.fromhex(d["words"]), dtype=np.uint32)
    return d["version"], tuple(int(w) for w in words), d["gauss"]


class Explorer:
    def __init__(self, cfg, out, device, arrays, log=print, budget_minutes=None, resume=False,
                 pool=None, data=None, cost_model=None, space=None, generator=None):
        """`pool`: where candidates train (TrainPool's interface; None: a
        TrainPool on `device` in this process, or cluster.RayPool). `data`:
        the data set's spec fields (datasets.Dataset.spec_fields; None:
        CIFAR-10's), given to every candidate. `cost_model`: what a
        candidate costs (cost.CostModel; None: the one the config's "cost"
        names, cost.from_config). `space` and `generator`: the search space
        and the generator's rule (search_space.py; None: AttoSpace and
        SensitivityGenerator with the config's "elite"). Raises
        cost.CostError when the requirements need instructions the cost
        model cannot give."""
        self.cfg = cfg
        self.space = space or AttoSpace()
        self.generator = generator or SensitivityGenerator(cfg.get("elite", 3))
        self.pool = pool
        self.data = data
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.arrays = arrays
        self.log = log
        self.req = R.Requirements.from_dict(cfg.get("requirements"))
        if cost_model is None:
            cost_model = C.from_config(cfg, arrays[0][:16], cache_dir=self.out / "cost-cache",
                                       log=log)
        self.cost_model = cost_model
        log(f"[cost] {cost_model.describe()}")
        if self.req.needs_instructions() and not isinstance(cost_model, C.RuntimeCost):
            raise C.CostError(f"the requirements set max_instructions, which the "
                              f"{cost_model.name} cost model cannot check: the runtime cost "
                              f"model needs the attonet tool and the board's instruction table")
        self.deadline = time.time() + 60 * budget_minutes if budget_minutes else None
        self.rng = random.Random(cfg.get("seed", 0))
        self.state_path = self.out / "state.json"
        if resume and self.state_path.exists():
            self.state = json.loads(self.state_path.read_text())
            log(f"[explore] resumed: generation {self.state['generation']}, "
                f"{len(self.state['records'])} candidates evaluated")
            self.state["config"] = cfg  # what this run's choices (finalists) follow
            if "rng" in self.state:  # the generator goes on as if never stopped
                self.rng.setstate(rng_state_from_json(self.state["rng"]))
        else:
            self.state = {"generation": 0, "records": [], "finals": [], "config": cfg}

    def save(self):
        """state.json, replaced atomically (a driver stopped mid-write leaves
        the previous one), with the generator's random state so that a
        resumed exploration proposes what the uninterrupted one would."""
        self.state["rng"] = rng_state_to_json(self.rng.getstate())
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, default=float))
        tmp.replace(self.state_path)

    def over_budget(self, gen):
        """(spec, excess): the decoded candidate and how far it is over its
        cost budgets (the largest cost / budget ratio less 1; 0 within every
        one). MACs and parameters first (exact and free), then the cost
        model's quick instruction estimate where it has one (a candidate far
        over that budget is not worth an export and a plan), then the cost
        model. An empty network: (spec, inf)."""
        spec = self.space.decode(gen, data=self.data)
        if not spec["modules"]:
            return spec, math.inf
        req = self.req
        c = A.cost(spec)

        def excess(*pairs):
            return max([0.0] + [v / lim - 1.0 for v, lim in pairs
                                if v is not None and lim > 0 and math.isfinite(lim)])
        over = excess((c["macs"], req.max_macs), (c["params"], req.max_params))
        if over > 0:
            return spec, over
        quick = getattr(self.cost_model, "estimate_instructions", None)
        if quick and req.needs_instructions():
            est = quick(spec)
            if est > 1.1 * req.max_instructions:
                return spec, est / req.max_instructions - 1.0
        cost = self.cost_model.cost(spec)
        return spec, excess((cost.instructions, req.max_instructions),
                            (cost.arena_bytes, req.max_sram_bytes),
                            (cost.flash_bytes, req.max_flash_bytes))

    def feasible_spec(self, gen):
        """The decoded candidate if it is within every cost budget, else None."""
        spec, over = self.over_budget(gen)
        return spec if over == 0 else None

    def propose(self, n):
        """The next generation: the generator's proposals, feasible ones only;
        the inquisitor's insight (sensitivity per gene) goes into the state."""
        recs = self.state["records"]
        sens, insight = self.generator.insight(self.space, recs)
        if insight is not None:
            self.state.setdefault("insight", []).append(
                {"generation": self.state["generation"], "sensitivity": insight})
        seeds = [] if recs else self.space.seeds(self.cfg.get("seeds"))
        out = self.generator.propose(self.space, recs, n, self.over_budget, self.rng, seeds,
                                     sens)
        if not out:
            self.log("[generator] no new candidate within the budgets in 2,000 proposals: "
                     "relax the budgets or give seeds nearer to them")
        return out

    def _train_cfg(self, d):
        from .train import TrainCfg
        fields = {f.name for f in dataclasses.fields(TrainCfg)}
        return TrainCfg(**{k: v for k, v in d.items() if k in fields})

    def jobs(self, cands, stage="proxy", overrides=None, time_budget=None):
        """Training jobs for `cands` on the `stage` schedule of the config
        (`overrides`: TrainCfg fields to replace, e.g. a GPU's batch size;
        `time_budget`: seconds, for a schedule that must end by a deadline)."""
        tcfg = self._train_cfg(self.cfg[stage])
        if overrides:
            tcfg = dataclasses.replace(tcfg, **overrides)
        if time_budget:
            tcfg = dataclasses.replace(tcfg, time_budget=time_budget)
        elif self.deadline and tcfg.time_budget == 0 and stage == "proxy":
            left = self.deadline - time.time()
            tcfg = dataclasses.replace(tcfg, time_budget=max(5.0, left / max(1, self.gens_left())))
        return [dict(spec=s, arrays=self.arrays, cfg=tcfg, tag=f"{self.out.name}/{s['name']}",
                     out=self.out / stage / s["name"], resume=True) for _, s in cands]

    def records(self, cands, results, stage="proxy"):
        """Score trained candidates (the inquisitor's verdicts)."""
        recs = []
        for (gen, spec), res in zip(cands, results):
            res = res or {}
            c = self.cost_model.cost(spec)
            acc = res.get("final_acc")
            rec = {"id": self.space.genome_id(gen), "name": spec["name"], "genome": gen,
                   "stage": stage,
                   "generation": self.state["generation"], **c.as_record(),
                   "acc": acc, "epochs": res.get("epochs")}
            if acc is not None:
                rec["score"], rec["violations"] = score(acc, c, self.req)
                rec["netscore"] = R.netscore(acc, c.params, c.macs)
                if c.instructions is not None:
                    rec["netscore_instructions"] = R.netscore(acc, c.params, c.instructions)
            else:
                rec["score"], rec["error"] = None, res.get("error")
            recs.append(rec)
            instr = (f" {c.board} instructions={c.instructions / 1e6:.2f}M"
                     if c.instructions is not None else "")
            self.log(f"[inquisitor] {spec['name']} acc={acc} macs={c.macs / 1e6:.2f}M{instr} "
                     f"arena={c.arena_bytes}B params={c.params / 1e3:.1f}K score={rec['score']}")
        return recs

    def inquire(self, cands, stage="proxy"):
        """Train candidates concurrently (in this process with CUDA streams, or
        on a Ray cluster) and score."""
        from .train import train_many
        results = train_many(self.jobs(cands, stage), self.device, log=self.log, pool=self.pool)
        return self.records(cands, results, stage)

    def gens_left(self):
        return max(1, self.cfg["generations"] - self.state["generation"])

    def log_progress(self, t0, g0):
        """Generations done of the configured number, time per generation and
        the time left (by the mean so far, capped by the deadline)."""
        g, total = self.state["generation"], self.cfg["generations"]
        per = (time.time() - t0) / max(1, g - g0)
        left = per * max(0, total - g)
        if self.deadline:
            left = min(left, max(0.0, self.deadline - time.time()))
        self.log(f"[explore] {self.out.name}: generation {g}/{total} done, "
                 f"{per:.0f} s a generation, about {left:.0f} s left")

    def exploring_done(self):
        return self.state["generation"] >= self.cfg["generations"]

    def next_generation(self):
        """The generator's proposals for the next generation ([] = nothing new to try)."""
        cands = self.propose(self.cfg["population"])
        self.log(f"[generator] {self.out.name} generation {self.state['generation']}: "
                 f"{len(cands)} candidates")
        return cands

    def add_generation(self, recs):
        self.state["records"] += recs
        self.state["generation"] += 1
        self.save()

    def stop_exploring(self, why):
        self.log(f"[explore] {self.out.name}: {why}; finalists from "
                 f"{len(self.state['records'])} candidates")
        self.state["stopped_early"] = why
        self.state["generation"] = max(self.state["generation"], self.cfg["generations"])
        self.save()

    def final_candidates(self):
        """The finalists to train on the full schedule: [] when the config asks
        for none or they are already trained."""
        fin = self.cfg.get("final", {})
        k = fin.get("top_k", 0)
        if not k or self.state["finals"]:
            return []
        ranked = sorted(finalists(self.state["records"], fin.get("acc_tolerance")),
                        key=lambda r: -r["score"])[:k]
        return [(r["genome"], self.space.decode(r["genome"], "final-" + r["id"], self.data))
                for r in ranked]

    def add_finals(self, recs):
        self.state["finals"] = recs
        self.save()

    def final_dirs(self):
        return [self.out / "final" / r["name"] for r in self.state["finals"]
                if (self.out / "final" / r["name"] / "model.pt").exists()]

    def run(self):
        t0, g0 = time.time(), self.state["generation"]
        while not self.exploring_done():
            if self.deadline and time.time() > self.deadline:
                self.log("[explore] time budget spent")
                break
            cands = self.next_generation()
            if not cands:
                break
            self.add_generation(self.inquire(cands))
            self.log_progress(t0, g0)
        cands = self.final_candidates()
        if cands:
            self.add_finals(self.inquire(cands, "final"))
            from .job import finalize
            for d in self.final_dirs():
                finalize(d, self.arrays, log=self.log)
        self.write_report()
        return self.state

    def write_report(self):
        rows = sorted(self.state["records"] + self.state["finals"],
                      key=lambda r: (r["stage"] != "final", -(r.get("score") or -1e9)))
        lines = ["stage,name,generation,macs,params,instructions,board,arena_bytes,flash_bytes,"
                 "cost_source,acc,netscore,netscore_instructions,score,violations"]
        for r in rows:
            ns_i = r.get("netscore_instructions")
            lines.append(",".join(str(x) for x in [
                r["stage"], r["name"], r["generation"], r["macs"], r["params"],
                r.get("instructions", ""), r.get("board", ""),
                r.get("arena_bytes", r.get("sram_est")), r.get("flash_bytes", r.get("flash_est")),
                r.get("cost_source", "estimate"), r.get("acc"), round(r.get("netscore") or 0, 3),
                round(ns_i, 3) if ns_i is not None else "",
                round(r["score"], 3) if r.get("score") is not None else "",
                "|".join(r.get("violations") or [])]))
        (self.out / "candidates.csv").write_text("\n".join(lines) + "\n")
        self.log(f"[explore] wrote {self.out / 'candidates.csv'} ({len(rows)} rows)")


def load_data(a):
    """The data for the `explore`, `family` and `publish` commands: (arrays,
    source, spec fields, flip, what a model card says of it). `--dataset`
    (datasets.py) names it; without it CIFAR-10 (see load_arrays) and spec
    fields None (CIFAR-10's). With `--smoke`, a data set's first 1,024 / 256
    images."""
    from .publish import data_card
    name = getattr(a, "dataset", None)
    if not name or name == "cifar10":
        arrays, src = load_arrays(a)
        return arrays, src, None, True, data_card()
    from .datasets import DatasetError, load
    try:
        ds = load(name)
    except DatasetError as e:
        raise SystemExit(f"--dataset: {e}")
    arrays = ds.arrays()
    if getattr(a, "smoke", False):
        arrays = (arrays[0][:1024], arrays[1][:1024], arrays[2][:256], arrays[3][:256])
    return arrays, ds.describe(), ds.spec_fields(), ds.flip, data_card(ds)


def load_arrays(a):
    """CIFAR-10 for the `explore` and `family` commands (npy dir or carry
    form); with `--smoke`, its first 1,024 / 256 images, or synthetic data
    where there is none."""
    from . import data as D
    if not getattr(a, "smoke", False):
        return D.load_any(a.data_dir, a.carry_dir)
    try:
        arrays, src = D.load_any(a.data_dir, a.carry_dir)
        return (arrays[0][:1024], arrays[1][:1024], arrays[2][:256], arrays[3][:256]), src
    except FileNotFoundError:
        return D.smoke_data(), "synthetic"


def apply_cost_args(cfg, a):
    """`--cost` and `--board` into the config's "cost" (they win over it)."""
    c = dict(cfg.get("cost") or {})
    if getattr(a, "cost", None):
        c["model"] = a.cost
    if getattr(a, "board", None):
        c["board"] = a.board
    cfg["cost"] = c
    return cfg


def load_config(path=None, smoke=False):
    """An exploration config: DEFAULT_CONFIG (SMOKE_CONFIG with `smoke`)
    updated with the JSON file at `path` (its dicts merged key by key)."""
    cfg = json.loads(json.dumps(SMOKE_CONFIG if smoke else DEFAULT_CONFIG))
    if path and not smoke:
        user = json.loads(Path(path).read_text())
        for k, v in user.items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k].update(v)
            else:
                cfg[k] = v
    return cfg


def explore_family(explorers, device, extra=(), log=print, deadline=None,
                   final_min_seconds=0.0, final_overrides=None, pool=None):
    """Several explorations (one per budget: AttoNet-A..D) and extra trainings
    (the baselines) at once, in one TrainPool: while one budget's generation
    trains, the others' generations and the extra jobs train beside it; when a
    generation is scored its explorer proposes the next; when an exploration
    is done its finalists start on the full schedule.

    deadline: time.time() by which every training must end (None: no limit).
    An explorer starts another generation only while its last generation's
    duration plus `final_min_seconds` still fits before it; finalists and
    extra jobs get the time left as their schedule's time budget (the LR
    schedule anneals to the deadline, or to an extra job's own `deadline`
    if earlier).  final_overrides: TrainCfg fields for
    finalists and extra jobs (a GPU's larger batch).  pool: where the
    trainings run (None: a TrainPool on `device`; cluster.RayPool).  Returns
    the extra jobs' results by tag."""
    from .train import TrainPool
    pool = pool or TrainPool(device, log)
    extra_results = {}

    def time_left():
        return None if deadline is None else max(10.0, deadline - time.time())

    def train_all(e, cands, jobs, stage, then):
        results, left = [None] * len(jobs), [len(jobs)]

        def one_done(res, i):
            results[i] = res
            left[0] -= 1
            if left[0] == 0:
                then(e.records(cands, results, stage))
        for i, j in enumerate(jobs):
            pool.add(j, lambda r, i=i: one_done(r, i))

    def start_finals(e):
        cands = e.final_candidates()
        if not cands:
            e.write_report()
            return
        jobs = e.jobs(cands, "final", overrides=final_overrides, time_budget=time_left())

        def then(recs):
            e.add_finals(recs)
            e.write_report()
        train_all(e, cands, jobs, "final", then)

    began = {}  # explorer -> (time, generation) when this run started it: its progress lines

    def start_generation(e, last_seconds=0.0):
        began.setdefault(id(e), (time.time(), e.state["generation"]))
        if e.exploring_done():
            return start_finals(e)
        if deadline is not None and time.time() + last_seconds + final_min_seconds > deadline:
            e.stop_exploring(f"deadline: generation {e.state['generation']} would not "
                             f"leave {final_min_seconds:.0f} s for the finalists")
            return start_finals(e)
        cands = e.next_generation()
        if not cands:
            e.stop_exploring("the generator found no new feasible candidate")
            return start_finals(e)
        t0 = time.time()

        def then(recs):
            e.add_generation(recs)
            e.log_progress(*began[id(e)])
            start_generation(e, time.time() - t0)
        train_all(e, cands, e.jobs(cands, "proxy"), "proxy", then)

    for job in extra:
        job = dict(job)
        cfg = job["cfg"]
        if final_overrides:
            cfg = dataclasses.replace(cfg, **final_overrides)
        own = job.pop("deadline", None)  # an extra job's own, earlier deadline
        if own is not None or deadline is not None:
            end = min(d for d in (own, deadline) if d is not None)
            cfg = dataclasses.replace(cfg, time_budget=max(10.0, end - time.time()))
        pool.add(dict(job, cfg=cfg), lambda r, t=job["tag"]: extra_results.__setitem__(t, r))
    for e in explorers:
        start_generation(e)
    pool.run()
    return extra_results


def distill(stages, explorers, root, arrays, device, log=print, deadline=None, smoke=False):
    """Knowledge distillation stages of the family config: each trains a
    budget's finalist architecture again, from scratch, from an earlier
    stage's weights (`init`: that stage's name) or from the finalist's own
    (`init`: "finalist"), with a teacher: another budget's finalist or a
    baseline (`teacher`: "D", "mobilenet") or an earlier stage's result
    (`teacher`: "A-ens-tune"), or a list of them (an ensemble: the mean of
    their logits).  A published model folder (a name with a "/":
    "models/attonet-a") may stand for a finalist, as student (its card's
    architecture; "finalist" init: its weights) or as teacher, so a machine
    without the family run's checkpoints can distill.  Returns the run
    directories trained (root/distill/<name>)."""
    import dataclasses as dc
    from .onnx_import import resolve, teacher_from
    from .train import TrainCfg, train
    fields = {f.name for f in dc.fields(TrainCfg)}
    done = []

    earlier = set()  # names of the stages before the current one

    def trained(name):
        """The model.pt of a budget's finalist, a baseline or an earlier
        stage, if trained; a model folder as it is."""
        if is_model_folder(name):
            return Path(name)
        if name in explorers:
            dirs = explorers[name].final_dirs()
            return dirs[0] / "model.pt" if dirs else None
        base = root / ("distill" if name in earlier else "baselines") / name
        p = base / "model.pt"
        return p if p.exists() and (base / "result.json").exists() else None

    for st in stages:
        names = st["teacher"] if isinstance(st["teacher"], list) else [st["teacher"]]
        unknown = [n for n in names if n not in explorers and n not in earlier
                   and not is_model_folder(n) and not (root / "baselines" / n).exists()]
        earlier.add(st["name"])
        if is_model_folder(st["student"]):
            student_pt = Path(st["student"])
            spec = resolve(student_pt)[1]
        elif st["student"] in explorers:
            dirs = explorers[st["student"]].final_dirs()
            student_pt = dirs[0] / "model.pt" if dirs else None
            spec = json.loads((dirs[0] / "result.json").read_text())["spec"] if dirs else None
        else:
            unknown.append(st["student"])
        if unknown:  # a budget or baseline left out of this run (--budgets, --baselines)
            log(f"[distill] {st['name']}: needs budget {st['student']} and teacher(s) "
                f"{', '.join(names)} (not in this run: {', '.join(unknown)})")
            continue
        teachers = [trained(n) for n in names]
        if student_pt is None or None in teachers:
            log(f"[distill] {st['name']}: a finalist, baseline or earlier stage is not "
                f"trained yet")
            continue
        out = root / "distill" / st["name"]
        if (out / "model.pt").exists() and (out / "result.json").exists():
            log(f"[distill] {st['name']}: done")
            done.append(out)
            continue
        cfg = TrainCfg(**{k: v for k, v in st.items() if k in fields})
        if smoke:
            cfg = dc.replace(cfg, epochs=1, limit_train=512, limit_test=256)
        if deadline is not None:
            left = deadline - time.time()
            if left < 30:
                log(f"[distill] {st['name']}: no time left before the deadline")
                continue
            cfg = dc.replace(cfg, time_budget=left * st.get("share", 1.0))
        init = None
        if st.get("init") == "finalist":
            init = student_pt
        elif st.get("init"):
            init = root / "distill" / st["init"] / "model.pt"
        log(f"[distill] {st['name']}: {spec['name']} from teacher(s) "
            f"{', '.join(names)}")
        train(spec, arrays, cfg, out, device=device, resume=True, teacher=teacher_from(teachers),
              log=log, tag=st["name"], init=init, meta={"teachers": names})
        done.append(out)
    return done


FAMILY_CONFIG = Path(__file__).parent / "configs" / "family.json"


def is_model_folder(name) -> bool:
    """A distill stage's student or teacher given as a published model folder
    ("models/attonet-a") rather than a budget, baseline or stage name."""
    return "/" in str(name)


def family_config_problems(fam, budget_files=True):
    """What is wrong with a family config, before anything trains: each
    `distill` stage's student must be a budget or a model folder, each
    teacher a budget, a baseline, a model folder or an earlier stage, `init`
    "finalist" or an earlier stage, `share` (of the time left before the
    deadline, when there is one) a fraction, and every other key a training
    setting (a misspelt one would be ignored); with `budget_files`, each
    budget's config must exist (beside the family configs) with
    requirements we check (a smoke run reads none of them)."""
    import dataclasses as dc
    from .train import TrainCfg
    fields = {f.name for f in dc.fields(TrainCfg)}
    budgets, baselines = set(fam.get("budgets", {})), set(fam.get("baselines", []))
    problems, earlier = [], set()
    for i, st in enumerate(fam.get("distill", [])):
        name = st.get("name") or f"#{i + 1}"
        if "name" not in st:
            problems.append(f"distill stage {name}: no name")
        elif name in earlier:
            problems.append(f"distill stage {name}: the name is used twice")
        for role, who in [("student", st.get("student"))] + [
                ("teacher", t) for t in (st.get("teacher") if isinstance(st.get("teacher"), list)
                                         else [st.get("teacher")])]:
            if is_model_folder(who):
                if not (Path(who) / "card.json").exists():
                    problems.append(f"distill stage {name}: {role} {who!r}: no card.json there "
                                    f"(a model folder from `publish`)")
            elif role == "student" and who not in budgets:
                problems.append(f"distill stage {name}: student {who!r} is not a budget "
                                f"({', '.join(sorted(budgets))}) or a model folder")
            elif role == "teacher" and who not in budgets | baselines | earlier:
                problems.append(f"distill stage {name}: teacher {who!r} is not a budget, a "
                                f"baseline, a model folder or an earlier stage")
        init = st.get("init")
        if init is not None and init != "finalist" and init not in earlier:
            problems.append(f"distill stage {name}: init {init!r} is neither \"finalist\" "
                            f"nor an earlier stage")
        unknown = set(st) - fields - {"name", "student", "teacher", "init", "share"}
        if unknown:
            problems.append(f"distill stage {name}: unknown setting(s) "
                            f"{', '.join(sorted(unknown))}")
        if not is_fraction(st.get("share", 1.0)):
            problems.append(f"distill stage {name}: share {st['share']!r} is not in (0, 1]")
        earlier.add(name)
    for b, name in (fam.get("budgets", {}) if budget_files else {}).items():
        path = Path(FAMILY_CONFIG.parent, name)
        try:
            cfg = json.loads(path.read_text())
            R.Requirements.from_dict(cfg.get("requirements"))
        except (OSError, ValueError) as e:  # RequirementsError is a ValueError
            problems.append(f"budget {b}: {path}: {e}")
    if not is_fraction(fam.get("baseline_share", 1.0)):
        problems.append(f"baseline_share {fam['baseline_share']!r} is not in (0, 1]")
    return problems


def is_fraction(x) -> bool:
    """A share of the time left: a number in (0, 1]."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1


def family_cli(a):
    """`python -m models.design family`: the whole AttoNet family (one
    exploration per budget, then its finalist in full) and the baselines,
    resumable; see models/README.md."""
    t_start = time.time()
    fam = json.loads(Path(a.config or FAMILY_CONFIG).read_text())
    problems = family_config_problems(fam, budget_files=not a.smoke)
    if getattr(a, "publish", None) and a.no_finalize:
        problems.append("--publish needs the ONNX export (drop --no-finalize)")
    if problems:
        raise SystemExit(f"family: {a.config or FAMILY_CONFIG}:\n  " + "\n  ".join(problems))
    root = Path(a.out)
    carrier = None
    if getattr(a, "carry_run", None):
        from .carry import Carrier, restore
        log = lambda s: print(s, flush=True)  # noqa: E731
        restore(a.carry_run, root, log=log)
        carrier = Carrier(root, a.carry_run, every=a.carry_every, log=log).start()
        # Stopped by a signal (a session ending; a background job started by
        # a script ignores SIGINT), the run still syncs once more.
        import signal

        def stop(signum, frame):
            raise SystemExit(128 + signum)
        saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _family(a, fam, root, t_start)
    finally:
        if carrier is not None:
            carrier.stop()
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def _family(a, fam, root, t_start):
    """family_cli's run, in run folder `root`."""
    import torch
    from .train import TrainCfg
    budgets = a.budgets.split(",") if a.budgets else list(fam["budgets"])
    baselines = (a.baselines.split(",") if a.baselines is not None else list(fam["baselines"]))
    baselines = [b for b in baselines if b]
    arrays, src, fields, flip, card = load_data(a)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    log = lambda s: print(s, flush=True)  # noqa: E731
    from .cluster import ClusterError, pool_from_args
    if getattr(a, "threads", 0):
        torch.set_num_threads(a.threads)
    try:
        pool = pool_from_args(a, root, log)
    except ClusterError as e:
        raise SystemExit(f"family: {e}")
    where = f"Ray cluster {a.ray} ({pool.device})" if pool else f"device={device}"
    log(f"[family] data={src} {where} out={root} budgets={budgets} "
        f"baselines={baselines}")
    explorers = []
    for b in budgets:
        if b not in fam["budgets"]:
            raise SystemExit(f"family: unknown budget {b!r} (the config has "
                             f"{', '.join(fam['budgets'])})")
        cfg = apply_cost_args(load_config(Path(FAMILY_CONFIG.parent, fam["budgets"][b]),
                                          smoke=a.smoke), a)
        if a.smoke:
            cfg["final"] = {"top_k": 1, "epochs": 1, "batch": 128, "lr": 0.1,
                            "limit_train": 512, "limit_test": 256}
        if not flip:
            for stage in ("proxy", "final"):
                cfg.setdefault(stage, {})["flip"] = False
        try:
            explorers.append(Explorer(cfg, root / "explore" / b, device, arrays, log=log,
                                      resume=True, data=fields))
        except (C.CostError, R.RequirementsError) as e:
            raise SystemExit(f"family: budget {b}: {e}")
    from . import arch as Arch
    builtin = {"resnet8": Arch.resnet8(), "mobilenet": Arch.mobilenet_baseline(),
               "teacher": Arch.teacher()}
    base_cfg = dict(fam["baseline_train"], **({} if flip else {"flip": False}))
    if a.smoke:
        base_cfg.update(epochs=1, limit_train=512, limit_test=256)
    extra = []
    for name in baselines:
        if name not in builtin:
            raise SystemExit(f"family: unknown baseline {name!r} (known: {', '.join(builtin)})")
        done = root / "baselines" / name
        if (done / "model.pt").exists() and (done / "result.json").exists():
            log(f"[family] baseline {name}: trained already ({done})")
            continue
        extra.append(dict(spec=dict(builtin[name], **(fields or {})), arrays=arrays, tag=name,
                          resume=True,
                          cfg=TrainCfg(**base_cfg), out=root / "baselines" / name,
                          deadline=t_start + a.deadline_seconds * fam.get("baseline_share", 1.0)
                          if a.deadline_seconds else None))
    over = dict(fam.get("final_train", {}))
    if a.final_batch:
        over["batch"] = a.final_batch
    if a.final_lr:
        over["lr"] = a.final_lr
    deadline = t_start + a.deadline_seconds if a.deadline_seconds else None
    try:
        explore_family(explorers, device, extra, log=log, deadline=deadline,
                       final_min_seconds=a.final_min_seconds, final_overrides=over or None,
                       pool=pool)
    except ClusterError as e:
        raise SystemExit(f"family: {e}")
    finally:
        if pool:  # distillation and export run here, as without --ray
            pool.shutdown()
    dirs = [d for e in explorers for d in e.final_dirs()]
    dirs += [root / "baselines" / n for n in baselines
             if (root / "baselines" / n / "model.pt").exists()]
    if not a.no_distill:
        by_budget = {e.out.name: e for e in explorers}
        dirs += distill(fam.get("distill", []), by_budget, root, arrays, device, log,
                        deadline, smoke=a.smoke)
    (root / "trained.json").write_text(json.dumps([str(d) for d in dirs], indent=1))
    if not a.no_finalize:
        from .job import finalize
        for d in dirs:
            finalize(d, arrays, log=log, limit_test=256 if a.smoke else 0)
    if getattr(a, "publish", None):
        from .publish import NotBetterError, family_folders, publish
        finals = {e.out.name: e.final_dirs() for e in explorers}
        config = Path(a.config or FAMILY_CONFIG).name
        for run, title, folder, state, intro, stage in family_folders(
                root, fam, budgets, baselines, finals):
            what = f"the {stage}" if stage in ("finalist", "baseline") else f"stage `{stage}`"
            try:
                publish(run, title, Path(a.publish) / folder, arrays, attonet=a.attonet,
                        log=log, intro=intro, exploration=state, data=card,
                        qemu=getattr(a, "qemu", False),
                        recipe=f"Trained by `python -m models.design family` ({what} of "
                        f"{config}).")
            except NotBetterError as e:
                log(f"[family] not published: {e}")
    log(f"[family] done in {time.time() - t_start:.0f} s: {len(dirs)} trained networks "
        f"(list in {root / 'trained.json'})")


def explore_cli(a):
    import torch
    from .cluster import ClusterError, pool_from_args
    cfg = apply_cost_args(load_config(a.config, smoke=a.smoke), a)
    arrays, src, fields, flip, card = load_data(a)
    if not flip:
        for stage in ("proxy", "final"):
            cfg.setdefault(stage, {})["flip"] = False
    if a.smoke:
        device = a.device or "cpu"
    else:
        device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    log = lambda s: print(s, flush=True)  # noqa: E731
    if getattr(a, "threads", 0):
        torch.set_num_threads(a.threads)
    try:
        pool = pool_from_args(a, a.out, log)
    except ClusterError as e:
        raise SystemExit(f"explore: {e}")
    where = f"Ray cluster {a.ray} ({pool.device})" if pool else f"device={device}"
    print(f"[explore] data={src} {where} out={a.out}", flush=True)
    try:
        ex = Explorer(cfg, a.out, device, arrays, log=log, budget_minutes=a.budget_minutes,
                      resume=a.resume, pool=pool, data=fields)
        ex.run()
    except (ClusterError, C.CostError, R.RequirementsError) as e:
        raise SystemExit(f"explore: {e}")
    finally:
        if pool:
            pool.shutdown()
