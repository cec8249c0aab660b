"""Objective (NetScore) and hard requirement checks, plus the deployment-cost
interface (`attonet inspect --json` when available, analytic estimate
otherwise)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import arch as A


def netscore(acc_pct, params, macs):
    """NetScore = 20 log10(a^2 / (sqrt(p) sqrt(m))), a = top-1 %, p, m in millions."""
    p = params / 1e6
    m = macs / 1e6
    if acc_pct <= 0 or p <= 0 or m <= 0:
        return float("-inf")
    return 20.0 * math.log10(acc_pct ** 2 / (math.sqrt(p) * math.sqrt(m)))


class RequirementsError(ValueError):
    """A requirements dict that names something we do not check."""


@dataclass
class Requirements:
    """A budget as a firmware engineer states it ("at most 4 M Cortex-M4
    instructions, 16 KB arena, 64 KB flash") plus the paper's MACs and
    parameters. Instructions are the cost model's board's (cost.py); the
    arena is the planner's activation RAM (`max_sram_bytes` is its older
    name); flash the model's (weights, tables, plan)."""
    min_acc: float = 0.0             # top-1 % (int8 eventually; float as proxy)
    max_macs: float = float("inf")
    max_params: float = float("inf")
    max_flash_bytes: float = float("inf")
    max_sram_bytes: float = float("inf")
    max_instructions: float = float("inf")

    @classmethod
    def from_dict(cls, d):
        d = dict(d or {})
        if "max_arena_bytes" in d:
            if "max_sram_bytes" in d:
                raise RequirementsError("requirements: give max_arena_bytes or max_sram_bytes, not both")
            d["max_sram_bytes"] = d.pop("max_arena_bytes")
        known = {f for f in cls.__dataclass_fields__}
        bad = sorted(set(d) - known)
        if bad:
            raise RequirementsError(f"requirements: unknown {', '.join(bad)} (known: "
                             f"{', '.join(sorted(known | {'max_arena_bytes'}))})")
        return cls(**{k: float(v) for k, v in d.items()})

    def needs_instructions(self):
        return math.isfinite(self.max_instructions)


# Family targets from the issue
TARGETS = {
    "A": Requirements(min_acc=91.0, max_macs=12.5e6),
    "D": Requirements(min_acc=87.07, max_macs=3.1e6, max_params=39e3),
}


def check(req: Requirements, acc=None, macs=None, params=None, flash=None, sram=None,
          instructions=None):
    """Return list of violated requirement strings (empty = all satisfied).
    Cost budgets are checked whenever the value is given; accuracy only when
    acc is given (so a candidate can be rejected on cost before training)."""
    v = []
    if acc is not None and acc < req.min_acc:
        v.append(f"accuracy {acc:.2f}% < floor {req.min_acc:.2f}%")
    if macs is not None and macs > req.max_macs:
        v.append(f"MACs {macs:.0f} > budget {req.max_macs:.0f}")
    if params is not None and params > req.max_params:
        v.append(f"params {params:.0f} > budget {req.max_params:.0f}")
    if flash is not None and flash > req.max_flash_bytes:
        v.append(f"flash {flash:.0f} B > budget {req.max_flash_bytes:.0f} B")
    if sram is not None and sram > req.max_sram_bytes:
        v.append(f"arena {sram:.0f} B > budget {req.max_sram_bytes:.0f} B")
    if instructions is not None and instructions > req.max_instructions:
        v.append(f"instructions {instructions:.0f} > budget {req.max_instructions:.0f}")
    return v


def feasible_cost(req: Requirements, spec):
    c = A.cost(spec)
    e = estimate_deploy(spec)
    return not check(req, macs=c["macs"], params=c["params"], flash=e["flash_bytes"],
                     sram=e["peak_sram_bytes"])


def estimate_deploy(spec):
    """Analytic int8 estimate: flash = int8 weights + 4 bytes per output
    channel for bias and 4 for requant multiplier/shift; SRAM = max over layers
    of input+output activation bytes (+ the tensor held for a residual add)."""
    c = A.cost(spec)
    n_ch = c["n_out_channels"]
    n_bias = n_ch
    weights = c["params"] - n_bias
    return {"source": "estimate", "flash_bytes": weights + 4 * n_bias + 4 * n_ch,
            "peak_sram_bytes": c["peak_act_bytes_int8"]}
