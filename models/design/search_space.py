"""The search space and the generator's rule: the exploration's two seams
besides the data set (datasets.py) and the cost model (cost.py).

A search space turns genomes (flat dicts of numbers) into architecture specs
(arch.py) and back, and says how a genome mutates; the generator proposes a
generation from the records so far. `Explorer` (explore.py) calls only what
`AttoSpace` and `SensitivityGenerator` define, so a new module type, a new
macro-architecture or another search strategy (evolution, Bayesian
optimisation, Ray Tune's searchers) is a new class with the same methods,
passed as `Explorer(space=..., generator=...)`.

AttoSpace, the paper's prototype: three stages of AttoNet modules (pointwise
compression, grouped 3x3, 1x1 mix, 1x1 expand, shortcut) at full, 1/2 and
1/4 of the resolution after the stem.
"""
from __future__ import annotations

import hashlib
import json
import math
import random

import numpy as np

from . import arch as A

# The search space. Stages 1..3 hold d1..d3 modules (up to the paper's 16
# in all; stage 1 may be empty), w = output channels, c = compression
# (comp = c * w, a multiple of 4), x = mix ratio (mix = x * comp, a multiple
# of 4), g = groups of the 3x3 (a power of two that divides comp, or
# DEPTHWISE: one channel a group); "ss" = the stem's stride (1, or 2: the
# whole network at half the input's resolution). A genome without "ss" has
# a stride-1 stem (genomes from before the gene keep their ids).
DEPTHWISE = 1024
GENES = ["stem", "d1", "d2", "d3", "w1", "w2", "w3", "c1", "c2", "c3", "x1", "x2", "x3",
         "g1", "g2", "g3", "ss"]
RANGES = {"stem": (8, 32, 4), "d1": (0, 5, 1), "d2": (1, 6, 1), "d3": (1, 5, 1),
          "w1": (8, 48, 4), "w2": (16, 96, 8), "w3": (32, 256, 8),
          "c1": (0.25, 1.0, 0.125), "c2": (0.25, 1.0, 0.125), "c3": (0.25, 1.0, 0.125),
          "x1": (0.5, 2.0, 0.25), "x2": (0.5, 2.0, 0.25), "x3": (0.5, 2.0, 0.25),
          "g1": (1, DEPTHWISE, None), "g2": (1, DEPTHWISE, None), "g3": (1, DEPTHWISE, None),
          "ss": (1, 2, 1)}
GROUP_CHOICES = [1, 2, 4, 8, 16, 32, DEPTHWISE]


def _round(v, lo, hi, step):
    v = min(hi, max(lo, v))
    if step is None:
        return v
    r = round((v - lo) / step) * step + lo
    return int(r) if isinstance(step, int) else round(r, 4)


def _fit_groups(ch, g):
    """The groups of a 3x3 over `ch` channels for gene value `g`: `ch` for
    DEPTHWISE, else the largest power of two up to `g` that divides `ch`."""
    g = max(1, int(g))
    if g >= DEPTHWISE:
        return ch
    while g > 1 and ch % g:
        g //= 2
    return g


def decode(gen, name=None, data=None):
    """genome -> arch spec (atto modules, 3 stages at full, 1/2 and 1/4 of the
    input's resolution); `data`: the data set's spec fields (its input shape,
    pixel std and classes: datasets.Dataset.spec_fields; None: CIFAR-10's)."""
    mods = []
    for st, (d, w, c, x, g) in enumerate([(gen["d1"], gen["w1"], gen["c1"], gen["x1"], gen["g1"]),
                                          (gen["d2"], gen["w2"], gen["c2"], gen["x2"], gen["g2"]),
                                          (gen["d3"], gen["w3"], gen["c3"], gen["x3"], gen["g3"])]):
        for i in range(int(d)):
            comp = max(4, int(round(w * c / 4)) * 4)
            groups = _fit_groups(comp, g)
            mix = max(4, int(round(comp * x / 4)) * 4)
            stride = 2 if (st > 0 and i == 0) else 1
            mods.append({"type": "atto", "out": int(w), "comp": comp, "groups": groups,
                         "mix": mix, "stride": stride})
    spec = {"name": name or "g-" + genome_id(gen), "stem": int(gen["stem"]), "classes": 10,
            "modules": mods, "genome": gen}
    if gen.get("ss", 1) == 2:
        spec["stem_stride"] = 2
    spec.update(data or {})
    return spec


def genome_id(gen):
    return hashlib.sha1(json.dumps(gen, sort_keys=True).encode()).hexdigest()[:8]


def encode_seed(spec):
    """Rough genome for a hand-designed 3-stage atto spec (for seeding)."""
    st = [[], [], []]
    s = 0
    for i, m in enumerate(spec["modules"]):
        if m.get("stride", 1) == 2 and i > 0:
            s = min(2, s + 1)
        st[s].append(m)
    gen = {"stem": spec["stem"]}
    if spec.get("stem_stride", 1) != 1:
        gen["ss"] = spec["stem_stride"]
    for k, ms in enumerate(st, 1):
        gen[f"d{k}"] = len(ms)
        m = ms[0] if ms else spec["modules"][0]
        gen[f"w{k}"] = m["out"]
        gen[f"c{k}"] = round(m["comp"] / m["out"], 4)
        gen[f"x{k}"] = round(m["mix"] / m["comp"], 4)
        gen[f"g{k}"] = DEPTHWISE if m["groups"] == m["comp"] > 1 else m["groups"]
    return gen


def normalise(gen):
    v = []
    for g in GENES:
        lo, hi, _ = RANGES[g]
        x = gen.get(g, 1)  # only "ss" may be missing
        if g.startswith("g"):
            x, lo, hi = math.log2(x), 0, math.log2(hi)
        v.append((x - lo) / (hi - lo))
    return np.array(v)


def mutate(gen, rng: random.Random, sens=None, strength=1.0):
    """Mutate 1-3 genes; with sensitivity, prefer genes/directions that
    raised the score (probability ~ |s|, direction = sign(s) with p=0.75)."""
    g = dict(gen)
    k = rng.randint(1, 3)
    if sens is not None and np.abs(sens).sum() > 0:
        w = np.abs(sens) + 0.2 * np.abs(sens).mean() + 1e-9
        idx = list(np.random.default_rng(rng.randint(0, 2 ** 31)).choice(
            len(GENES), size=k, replace=False, p=w / w.sum()))
    else:
        idx = rng.sample(range(len(GENES)), k)
    for i in idx:
        name = GENES[i]
        lo, hi, step = RANGES[name]
        direction = rng.choice([-1, 1])
        if sens is not None and sens[i] != 0 and rng.random() < 0.75:
            direction = 1 if sens[i] > 0 else -1
        if name.startswith("g"):
            cur = GROUP_CHOICES.index(g[name]) if g[name] in GROUP_CHOICES else 2
            cur = min(len(GROUP_CHOICES) - 1, max(0, cur + direction))
            g[name] = min(hi, GROUP_CHOICES[cur])
        else:
            delta = direction * max(step or 1, (hi - lo) * 0.15 * strength * rng.random())
            g[name] = _round(g.get(name, lo) + delta, lo, hi, step)
    if g["d2"] < 1:
        g["d2"] = 1
    if g["d3"] < 1:
        g["d3"] = 1
    if g.get("ss") == 1:  # the default: one genome, one id
        del g["ss"]
    return g


def sensitivity(records, normalise_fn=None):
    """Inquisitor insight: ridge regression of score on normalised genome."""
    normalise_fn = normalise_fn or normalise
    recs = [r for r in records if r.get("score") is not None and math.isfinite(r["score"])]
    if len(recs) < 3:
        return None
    X = np.stack([normalise_fn(r["genome"]) for r in recs])
    y = np.array([r["score"] for r in recs])
    X = X - X.mean(0)
    y = y - y.mean()
    lam = 0.1 * len(recs)
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


class AttoSpace:
    """The interface a search space implements (this one: the functions above)."""
    name = "atto"
    genes = GENES

    def decode(self, gen, name=None, data=None):
        return decode(gen, name, data)

    def encode_seed(self, spec):
        return encode_seed(spec)

    def genome_id(self, gen):
        return genome_id(gen)

    def network_key(self, gen):
        """What the genome builds, whatever its spelling (several genomes
        decode to one network: groups clipped to divide the channels, an
        empty stage's other genes)."""
        spec = decode(gen)
        return json.dumps([spec["stem"], spec.get("stem_stride", 1), spec["modules"]],
                          sort_keys=True)

    def normalise(self, gen):
        return normalise(gen)

    def mutate(self, gen, rng, sens=None, strength=1.0):
        return mutate(gen, rng, sens, strength)

    def seeds(self, names=None):
        """Generation 0's parents: hand-designed specs (the human prototype)."""
        builtin = {x["name"]: x for x in A.family_seeds() + A.family_variants()}
        names = names or ["atto-A", "atto-A-w8", "atto-A-deep"]
        unknown = [n for n in names if n not in builtin]
        if unknown:
            raise ValueError(f"unknown seeds {unknown} (known: {', '.join(builtin)})")
        return [encode_seed(builtin[n]) for n in names]


class SensitivityGenerator:
    """The paper's generator/inquisitor loop as we read it: generation 0 is
    the seeds (where feasible) and their mutants; later ones mutate the
    `elite` best-scoring genomes, biased by the inquisitor's sensitivity (a
    ridge regression of score on the normalised genome)."""

    WALKERS = 6

    def __init__(self, elite=3):
        self.elite = elite

    def insight(self, space, records):
        """{gene: sensitivity} for the state's record, or None."""
        sens = sensitivity(records, space.normalise)
        return sens, (None if sens is None else
                      {g: round(float(s), 4) for g, s in zip(space.genes, sens)})

    def propose(self, space, records, n, over_budget, rng, seeds, sens=None):
        """Up to `n` new (genome, spec) pairs within the budgets.
        `over_budget(genome)` -> (spec, excess), excess 0 within every
        budget. Mutants start from the parents. Where no parent is within
        the budgets (a tight budget, seeds far from it), the mutation walks:
        a mutant nearer the budgets than the farthest walker becomes a
        walker (the WALKERS nearest are kept) and so does every feasible
        one, so the search reaches the budget instead of staying out of
        reach."""
        seen = {r["id"] for r in records}
        built = {space.network_key(r["genome"]) for r in records}
        if records:
            ranked = sorted([r for r in records if r.get("score") is not None],
                            key=lambda r: -r["score"])
            parents = [r["genome"] for r in ranked[:self.elite]]
        else:
            parents = seeds
        out, tries = [], 0
        walkers = []  # (excess, genome), nearest first
        for p in parents:
            spec, over = over_budget(p)
            if over == 0 and not records and space.genome_id(p) not in seen and len(out) < n:
                out.append((p, spec))  # generation 0: the seeds themselves, where feasible
                seen.add(space.genome_id(p))
                built.add(space.network_key(p))
            walkers.append((over, p))
        walkers.sort(key=lambda w: w[0])
        if not walkers:
            return out
        walk = walkers[0][0] > 0
        while len(out) < n and tries < 2000:
            tries += 1
            p = rng.choice(walkers)[1]
            child = space.mutate(p, rng, sens, strength=1.0 if tries < 500 else 2.0)
            gid = space.genome_id(child)
            if gid in seen:
                continue
            spec, over = over_budget(child)
            if walk and (over == 0 or over < walkers[-1][0] or len(walkers) < self.WALKERS):
                walkers = sorted(walkers + [(over, child)], key=lambda w: w[0])
                walkers = walkers[:max(self.WALKERS, len(parents))]
            seen.add(gid)
            if over > 0 or space.network_key(child) in built:
                continue  # over budget, or a network already trained or proposed
            built.add(space.network_key(child))
            out.append((child, spec))
        return out
