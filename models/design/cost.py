"""What a candidate costs on the device, as our runtime pays it.

One interface (`CostModel.cost(spec) -> Cost`), two implementations:

AnalyticCost   MACs, parameters and an analytic int8 estimate of flash and
               activation memory; no tools needed, no instructions (the
               search's cost before the runtime was in the loop).
RuntimeCost    the deployed plan itself: the candidate (untrained, its
               BatchNorm statistics set on a few real images) exported to
               ONNX, quantized and planned by the converter (`attonet
               inspect --json --dsp-tables`): the arena is the planner's,
               flash the converter's (weights, tables and plan), and the
               instructions on the target are predicted step by step from
               the plan's layers by an `InstructionTable` calibrated on exact
               QEMU counts (`python -m models.design cost-calibrate`).

The table is linear per layer class: a class is the runtime kernel, whether
the layer runs inside a fused block, and the depth of each output's dot
product (MACs per output element) in buckets the kernels care about (on the
Cortex-M DSP boards one edge is the columns kernel's largest window,
dsp_select::CONV_MAX_K: a 3x3 over more than 64 channels a group runs the
portable kernel, several times slower a MAC); each class has instructions
per MAC, per MAC on taps inside the input (padding excluded), per output
element, per output row and per call. The coefficients are non-negative (least squares under that
constraint), so a shape outside the calibration set still costs more as it
grows. The fit, its held-out error and where the samples came from are in
the table's JSON (`models/design/costs/<board>.json`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import arch as A
from . import requirements as R

COSTS_DIR = Path(__file__).resolve().parent / "costs"
DEFAULT_BOARD = "mps2-an386"
# Boards whose firmware uses the DSP kernels' in-place tables (bench-qemu's
# build does the same for them).
DSP_BOARDS = {"mps2-an386", "mps2-an500", "mps3-an547"}


class CostError(RuntimeError):
    """A cost could not be computed (no converter, the converter refused the
    model, no instruction table for the board)."""


@dataclass
class Cost:
    """One candidate's deployment cost."""
    macs: int
    params: int
    flash_bytes: int            # model flash: weight blob, tables and plan
    arena_bytes: int            # the activations' RAM (the planner's arena)
    instructions: float | None  # one inference on `board` (None: unknown)
    source: str                 # which cost model
    board: str | None = None
    steps: list = field(default_factory=list)  # per step: kind, macs, instructions

    def as_record(self):
        """The fields an exploration record keeps."""
        d = {"macs": self.macs, "params": self.params, "flash_bytes": self.flash_bytes,
             "arena_bytes": self.arena_bytes, "cost_source": self.source}
        if self.instructions is not None:
            d["instructions"] = int(round(self.instructions))
            d["board"] = self.board
        return d


class CostModel:
    """The interface: `cost(spec)` for a decoded candidate."""
    name = "?"

    def cost(self, spec) -> Cost:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class AnalyticCost(CostModel):
    """MACs and parameters (exact) and requirements.estimate_deploy's
    analytic flash and activation bytes; instructions unknown."""
    name = "analytic"

    def describe(self):
        return "analytic: exact MACs and parameters, estimated flash and activation bytes"

    def cost(self, spec) -> Cost:
        c = A.cost(spec)
        d = R.estimate_deploy(spec)
        return Cost(macs=c["macs"], params=c["params"], flash_bytes=int(d["flash_bytes"]),
                    arena_bytes=int(d["peak_sram_bytes"]), instructions=None,
                    source=self.name)


# ----------------------------------------------------------------------------
# the plan's layers -> instructions
# MACs per output element: the buckets' lower edges, per board. On the DSP
# boards windows past the columns kernel's 576 taps are taken in slices
# (arch/cortex_m_dsp/wide.rs), with their own cost: a bucket of their own.
DEPTH_EDGES = (4, 8, 16, 32, 64)
CONV_MAX_K = 576  # attonet_runtime::dsp_select::CONV_MAX_K
BOARD_DEPTH_EDGES = {b: DEPTH_EDGES + (CONV_MAX_K + 1,) for b in DSP_BOARDS}


def _shape(text):
    """'16x16x24' -> (16, 16, 24)."""
    h, w, c = text.split()[0].split("x")
    return int(h), int(w), int(c)


# Boards whose 1x1s over 4, 8, 12 or 16 channels take the DSP narrow
# pointwise kernel (dsp_select::pointwise_narrow_covers; not the Cortex-M55,
# whose Helium kernel takes them): a per-output cost of its own, a class of
# its own.
NARROW_BOARDS = {"mps2-an386", "mps2-an500"}
DW_CHANNEL_EDGES = (8, 16, 32)


def window_covered(row):
    """Whether the DSP narrow kernel takes a plan row through gathered windows
    where the build links it (dsp_select::narrow_window_covers): a 3x3 of
    one group over at most 16 taps, i.e. a 1-channel 3x3 (a grayscale
    stem)."""
    if row["kernel"] != "grouped_conv3x3" or not row.get("inputs") or not row["macs"]:
        return False
    oh, ow, oc = _shape(row["output"])
    cin = _shape(row["inputs"][0])[2]
    depth = row["macs"] / max(1, oh * ow * oc)
    return depth == 9 * cin and depth <= 16


def links_window(report):
    """Whether the plan links the narrow kernel's gathered windows (the
    converter's report lists `CONV_WINDOW` among its kernels)."""
    return "CONV_WINDOW" in (report.get("kernels") or [])


def window_kernels(rows):
    """The converter's rule for `CONV_WINDOW` on plan rows (assemble.rs):
    linked where the layers it takes hold at least 1/64 of the
    convolutions' MACs; `["CONV_WINDOW"]` or `[]`, as a report lists it."""
    window = sum(r["macs"] for r in rows if window_covered(r))
    total = sum(r["macs"] for r in rows)
    return ["CONV_WINDOW"] if window > 0 and window * 64 >= total else []


def layer_class(row, edges=DEPTH_EDGES, narrow=False, window=False):
    """A plan row's class: kernel, fused or not, dot-product depth bucket;
    with `narrow` (the DSP boards of NARROW_BOARDS), 1x1s the narrow
    pointwise kernel takes are `pointwise_narrow`, and a depthwise layer's
    bucket is its channel count's; with `window` too (the plan links
    `CONV_WINDOW`), the 3x3s it takes through gathered windows are
    `conv_window`."""
    k = row["kernel"]
    if narrow and k == "pointwise" and row.get("inputs"):
        cin = _shape(row["inputs"][0])[2]
        if cin % 4 == 0 and 4 <= cin <= 16:
            k = "pointwise_narrow"
    if narrow and window and window_covered(row):
        k = "conv_window"
    fused = "f" if row.get("fused") else "s"
    oh, ow, oc = _shape(row["output"])
    out = oh * ow * oc
    if narrow and k == "depthwise_conv" and row["macs"] and out:
        # Every depthwise window is 3x3 (depth 9): its bucket is the channel
        # count instead, which the DSP kernel's per-pixel work is spread
        # over (four channels a step, up to 32 a block).
        return f"{k}/{fused}/d{sum(oc >= e for e in DW_CHANNEL_EDGES)}"
    if row["macs"] and out:
        depth = row["macs"] / out
        b = sum(depth >= e for e in edges)
        return f"{k}/{fused}/d{b}"
    return f"{k}/{fused}"


def _valid_taps(n_in, n_out, k=3):
    """Fraction of a k-tap window (padding k // 2) inside an input of n_in
    along one axis, over the n_out outputs (stride from the sizes)."""
    if n_out <= 0 or k == 1:
        return 1.0
    stride = max(1, round(n_in / n_out))
    pad = k // 2
    inside = sum(sum(0 <= stride * o - pad + t < n_in for t in range(k)) for o in range(n_out))
    return inside / (k * n_out)


WINDOW_KERNELS = {"grouped_conv3x3": 3, "depthwise_conv": 3}



def layer_features(row, names=None):
    """The named features of a plan row (default FEATURE_NAMES): MACs, MACs
    on taps inside the input (the portable kernels skip the padding, the DSP
    ones multiply it as zeros), output elements, output pixels (a kernel's
    work per pixel: widening its input, its loop), output rows, 1; input
    elements in place of MACs for layers without MACs (ADD, pooling,
    softmax), whose work is per element read."""
    oh, ow, oc = _shape(row["output"])
    if row["macs"]:
        k = WINDOW_KERNELS.get(row["kernel"], 1)
        ih, iw, _ = _shape(row["inputs"][0])
        inside = row["macs"] * _valid_taps(ih, oh, k) * _valid_taps(iw, ow, k)
        per = row["macs"]
    else:
        per = sum(math.prod(_shape(s)) for s in row["inputs"]) if row["inputs"] else oh * ow * oc
        inside = 0.0
    values = {"per_mac": per, "per_mac_inside": inside, "per_output": oh * ow * oc,
              "per_pixel": oh * ow, "per_row": oh, "per_call": 1.0,
              # Rows that end in a partial block of pixels (a width not a
              # multiple of 4: 28, 14 and 7 pixels of a 28x28 input), whose
              # last pixels the kernels compute apart.
              "per_tail_row": float(oh) if row["macs"] and ow % 4 else 0.0}
    return np.array([values[n] for n in (names or FEATURE_NAMES)], float)


FEATURE_NAMES = ["per_mac", "per_mac_inside", "per_output", "per_row", "per_call"]
# The DSP boards' kernels do per-pixel work the other features miss (the
# narrow pointwise kernel widens each pixel's input once for all its
# channels, the depthwise one loops per pixel over blocks of channels).
BOARD_FEATURES = {b: ["per_mac", "per_mac_inside", "per_output", "per_pixel",
                      "per_row", "per_tail_row", "per_call"] for b in NARROW_BOARDS}


def plan_steps(report):
    """The inspect report's rows grouped by runtime step: {step: [rows]}
    (rows without a step, reshapes, move no bytes)."""
    steps = {}
    for r in report["layers"]:
        if r.get("step") is None:
            continue
        steps.setdefault(int(r["step"]), []).append(r)
    return steps


def nnls(X, y, iters=None):
    """Non-negative least squares (Lawson and Hanson's active set)."""
    m, n = X.shape
    x = np.zeros(n)
    passive = np.zeros(n, bool)
    w = X.T @ (y - X @ x)
    iters = iters or 3 * n
    tol = 1e-10 * max(1.0, float(np.abs(X).max()) * float(np.abs(y).max()))
    for _ in range(iters):
        if passive.all() or (w[~passive] <= tol).all():
            break
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        for _ in range(n + 1):  # each pass drops at least one variable
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(X[:, passive], y, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            denom = x[neg] - z[neg]
            alpha = float(np.min(np.where(denom > 0, x[neg] / np.where(denom > 0, denom, 1), 0)))
            x = x + alpha * (z - x)
            passive &= x > 1e-12
            x[~passive] = 0.0
        w = X.T @ (y - X @ x)
    return x


@dataclass
class InstructionTable:
    """Per layer class, instructions per MAC / output / row / call; plus the
    executor's cost between steps. Fit with `fit`, saved as JSON."""
    board: str
    coef: dict                      # class -> [one per feature of `features`]
    between_steps: float = 0.0      # Model::infer's instructions outside the steps, per step
    fit_info: dict = field(default_factory=dict)
    depth_edges: tuple = DEPTH_EDGES
    features: tuple = tuple(FEATURE_NAMES)

    def cls(self, row, window=False):
        return layer_class(row, self.depth_edges, self.board in NARROW_BOARDS, window)

    def _coef(self, cls):
        c = self.coef.get(cls)
        if c is not None:
            return np.array(c)
        # A class the calibration never saw: the nearest depth bucket of the
        # same kernel and placement, else the same kernel anywhere.
        stem = cls.rsplit("/d", 1)[0]
        same = [k for k in self.coef if k.rsplit("/d", 1)[0] == stem]
        if not same:
            kern = cls.split("/")[0]
            same = [k for k in self.coef if k.split("/")[0] == kern]
        if not same:
            raise CostError(f"the {self.board} instruction table has no layer of kernel "
                            f"{cls.split('/')[0]!r}: recalibrate with a search space that has it")
        want = int(cls.rsplit("/d", 1)[1]) if "/d" in cls else 0
        best = min(same, key=lambda k: abs((int(k.rsplit("/d", 1)[1]) if "/d" in k else 0)
                                           - want))
        return np.array(self.coef[best])

    def step_instructions(self, rows, window=False):
        return float(sum(self._coef(self.cls(r, window)) @ layer_features(r, self.features)
                         for r in rows))

    def predict(self, report):
        """(total instructions, [(step, kind, macs, instructions)])."""
        steps = plan_steps(report)
        window = links_window(report)
        out = []
        for s in sorted(steps):
            rows = steps[s]
            out.append({"step": s, "layers": "+".join(r["kernel"] for r in rows),
                        "macs": int(sum(r["macs"] for r in rows)),
                        "instructions": self.step_instructions(rows, window)})
        total = sum(o["instructions"] for o in out) + self.between_steps * len(out)
        return total, out

    def to_json(self):
        return {"board": self.board, "features": list(self.features),
                "depth_edges": list(self.depth_edges), "between_steps": self.between_steps,
                "coef": {k: [round(float(v), 6) for v in c] for k, c in sorted(self.coef.items())},
                "fit": self.fit_info}

    @classmethod
    def from_json(cls, d):
        return cls(board=d["board"], coef=d["coef"], between_steps=float(d["between_steps"]),
                   fit_info=d.get("fit", {}), depth_edges=tuple(d["depth_edges"]),
                   features=tuple(d.get("features", FEATURE_NAMES)))

    @classmethod
    def load(cls, board=DEFAULT_BOARD, path=None):
        p = Path(path) if path else COSTS_DIR / f"{board}.json"
        if not p.exists():
            raise CostError(f"no instruction table for {board} at {p}: run "
                            f"`python -m models.design cost-calibrate --board {board}`")
        try:
            return cls.from_json(json.loads(p.read_text()))
        except (KeyError, ValueError, TypeError) as e:
            raise CostError(f"{p}: not an instruction table ({e})") from e

    @classmethod
    def fit(cls, board, samples, depth_edges=None):
        """`samples`: [(report, {step: measured instructions}, infer_total)]."""
        edges = tuple(depth_edges or BOARD_DEPTH_EDGES.get(board, DEPTH_EDGES))
        narrow = board in NARROW_BOARDS
        names = BOARD_FEATURES.get(board, FEATURE_NAMES)
        nf = len(names)
        rows_by_class = sorted({layer_class(r, edges, narrow, links_window(rep))
                                for rep, _, _ in samples
                                for r in rep["layers"] if r.get("step") is not None})
        index = {k: i for i, k in enumerate(rows_by_class)}
        X, y, between = [], [], []
        for rep, measured, total in samples:
            steps = plan_steps(rep)
            for s, rows in steps.items():
                if s not in measured:
                    raise CostError(f"{rep.get('name')}: step {s} has no QEMU count")
                v = np.zeros(len(index) * nf)
                for r in rows:
                    i = index[layer_class(r, edges, narrow, links_window(rep))] * nf
                    v[i:i + nf] += layer_features(r, names)
                X.append(v)
                y.append(measured[s])
            between.append((total - sum(measured.values())) / max(1, len(measured)))
        X, y = np.array(X), np.array(y, float)
        # Relative error per step matters (small steps add up over a network):
        # weight each row by 1/measured, and scale columns for conditioning.
        wts = 1.0 / np.maximum(y, 1.0)
        scale = np.maximum(np.abs(X).max(0), 1e-12)
        sol = nnls((X / scale) * wts[:, None], y * wts) / scale
        coef = {k: sol[i * nf:(i + 1) * nf].tolist() for k, i in index.items()}
        return cls(board=board, coef=coef, between_steps=float(np.mean(between)),
                   depth_edges=edges, features=tuple(names))


# ----------------------------------------------------------------------------
# the converter in the loop
def find_attonet(explicit=None):
    """The `attonet` tool: `explicit`, $ATTONET_BIN, on PATH, or this
    checkout's target/release/attonet."""
    root = Path(__file__).resolve().parents[2]
    for c in [explicit, os.environ.get("ATTONET_BIN"), shutil.which("attonet"),
              root / "target" / "release" / "attonet"]:
        if c and Path(c).exists():
            return str(c)
    raise CostError("the attonet tool is missing: build it with "
                    "`cargo build --release -p attonet-cli` (or set ATTONET_BIN)")


def spec_key(spec):
    """What the deployed plan depends on (not the name or the genome)."""
    keep = {k: spec.get(k) for k in ("stem", "stem_stride", "modules", "classes", "input")}
    return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def untrained_onnx(spec, path, images_u8, seed=0, build=None, export=None):
    """Export `spec` untrained: weights from PyTorch's initialisation (seeded),
    BatchNorm scales and shifts drawn around 1 and 0 (the residual branches'
    zero-initialised scales would fold to all-zero layers), statistics from a
    forward pass over `images_u8` [N, H, W, C], so activations have
    trained-like ranges and the quantizer real scales. `build` / `export`:
    another network family's (default: arch.build, export.export_onnx; the
    detector's are detect.build, detect.export_onnx)."""
    import torch

    from .export import export_onnx
    export = export or export_onnx
    torch.manual_seed(seed)
    net = (build or A.build)(spec)
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).permute(0, 3, 1, 2).float()
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.rand(m.bias.shape, generator=g) - 0.1)
            m.momentum = None  # cumulative average: the batch's own statistics
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()
    export(net, path)


def calib_file(images_u8, path):
    """Calibration samples in the ONNX input's layout (NCHW uint8)."""
    np.save(path, np.ascontiguousarray(np.asarray(images_u8).transpose(0, 3, 1, 2)
                                       .astype(np.uint8)))


def inspect_plan(attonet, onnx_path, calib_path, board=DEFAULT_BOARD):
    """`attonet inspect --json` on the plan the board's firmware runs."""
    cmd = [attonet, "inspect", "--json", str(onnx_path), "--calib", str(calib_path),
           "--sqnr-samples", "0"]
    if board in DSP_BOARDS:
        cmd.append("--dsp-tables")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CostError(f"attonet inspect {onnx_path}: {e}") from e
    if r.returncode != 0:
        raise CostError(f"attonet inspect {onnx_path}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def analytic_rows(spec):
    """The plan rows the converter makes of an AttoNet-space spec, from the
    analytic layer list (arch.layers) without running it: the stem its own
    step, each module one fused block (its convolutions, shortcut and ADD),
    then pooling, the fully connected layer and softmax. Only for a quick
    estimate (RuntimeCost.estimate_instructions): the converter decides."""
    def shape(h, w, c):
        return f"{h}x{w}x{c}"
    rows, step = [], 0
    for layer in A.layers(spec):
        name = layer["name"]
        if name == "stem":
            rows.append({"kernel": "grouped_conv3x3", "fused": False, "step": step,
                         "inputs": [shape(layer["hin"], layer["win"], layer["cin"])],
                         "output": shape(layer["hout"], layer["wout"], layer["cout"]),
                         "macs": layer["macs"]})
            step += 1
        elif layer["op"] == "conv":
            kernel = ("pointwise" if layer["k"] == 1 else
                      "depthwise_conv" if layer["groups"] == layer["cin"] > 1 else
                      "grouped_conv3x3")
            rows.append({"kernel": kernel, "fused": True, "step": step,
                         "inputs": [shape(layer["hin"], layer["win"], layer["cin"])],
                         "output": shape(layer["hout"], layer["wout"], layer["cout"]),
                         "macs": layer["macs"]})
        elif layer["op"] == "add":
            out = rows[-1]["output"]
            h, w, _ = _shape(out)
            out = shape(h, w, layer["out_act"] // (h * w))
            rows.append({"kernel": "add", "fused": True, "step": step, "inputs": [out, out],
                         "output": out, "macs": 0})
            step += 1
        elif layer["op"] == "gap":
            c = layer["out_act"]
            rows.append({"kernel": "average_pool", "fused": False, "step": step,
                         "inputs": [shape(1, layer["in_act"] // c, c)], "output": shape(1, 1, c),
                         "macs": 0})
            step += 1
        elif layer["op"] == "fc":
            rows.append({"kernel": "pointwise", "fused": False, "step": step,
                         "inputs": [shape(1, 1, layer["in_act"])],
                         "output": shape(1, 1, layer["out_act"]), "macs": layer["macs"]})
            rows.append({"kernel": "softmax", "fused": False, "step": step + 1,
                         "inputs": [shape(1, 1, layer["out_act"])],
                         "output": shape(1, 1, layer["out_act"]), "macs": 0})
            step += 2
    return rows


class RuntimeCost(CostModel):
    """The converter's plan and the calibrated instruction table (see the
    module's docstring). `images`: a few real training images [N, H, W, C]
    uint8 (BatchNorm statistics and the quantizer's calibration); results
    are cached per plan-relevant spec, in memory and in `cache_dir`."""
    name = "runtime"

    def __init__(self, images, board=DEFAULT_BOARD, table=None, attonet=None, cache_dir=None):
        self.board = board
        self.table = table if table is not None else InstructionTable.load(board)
        if self.table.board != board:
            raise CostError(f"the instruction table is for {self.table.board}, not {board}")
        self.attonet = find_attonet(attonet)
        self.images = np.asarray(images)[:16]
        if len(self.images) == 0:
            raise CostError("RuntimeCost needs a few training images")
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memo = {}

    def estimate_instructions(self, spec):
        """The table on analytic_rows: no export, no converter (about a
        millisecond); the exploration skips candidates far over an
        instruction budget with it before asking the converter."""
        rows = analytic_rows(spec)
        total, _ = self.table.predict({"layers": rows, "kernels": window_kernels(rows)})
        return total

    def describe(self):
        held = self.table.fit_info.get("held_out", {})
        err = (f", {held['mean_abs_error_pct']} % mean error on {held['n']} held-out candidates"
               if held else "")
        return (f"runtime: the converter's plan (arena, flash) and {self.board} instructions "
                f"from its QEMU-calibrated table{err}")

    def report(self, spec):
        """The converter's report of the candidate's plan."""
        key = spec_key(spec)
        if self.cache_dir:
            p = self.cache_dir / f"{key}.json"
            if p.exists():
                return json.loads(p.read_text())
        with tempfile.TemporaryDirectory(prefix="attonet-cost-") as d:
            onnx_path, calib_path = Path(d) / "m.onnx", Path(d) / "calib.npy"
            untrained_onnx(spec, onnx_path, self.images)
            calib_file(self.images, calib_path)
            rep = inspect_plan(self.attonet, onnx_path, calib_path, self.board)
        if self.cache_dir:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f"{key}.json.tmp"
            tmp.write_text(json.dumps(rep))
            tmp.replace(self.cache_dir / f"{key}.json")
        return rep

    def cost(self, spec) -> Cost:
        key = spec_key(spec)
        if key in self._memo:
            return self._memo[key]
        rep = self.report(spec)
        total, steps = self.table.predict(rep)
        c = Cost(macs=int(rep["macs"]), params=int(rep["params"]),
                 flash_bytes=int(rep["flash_bytes"]), arena_bytes=int(rep["arena_bytes"]),
                 instructions=total, source=self.name, board=self.board, steps=steps)
        self._memo[key] = c
        return c


def deployed_figures(spec, onnx_path, images_u8, board=DEFAULT_BOARD, attonet=None):
    """A trained model's deployed figures on `board`: the converter's plan
    of its ONNX calibrated on `images_u8` [N, H, W, C] (arena, flash) and
    the board's calibrated instruction table; the analytic estimate
    (`source: estimate`) where the converter or the table is missing or
    refuses the model."""
    try:
        table = InstructionTable.load(board)
        exe = find_attonet(attonet)
        with tempfile.TemporaryDirectory(prefix="attonet-deploy-") as d:
            calib = Path(d) / "calib.npy"
            calib_file(np.asarray(images_u8)[:16], calib)
            rep = inspect_plan(exe, onnx_path, calib, board)
        total, _ = table.predict(rep)
    except CostError as e:
        est = R.estimate_deploy(spec)
        est["why"] = str(e)
        return est
    return {"source": "attonet inspect", "board": board, "macs": int(rep["macs"]),
            "params": int(rep["params"]), "flash_bytes": int(rep["flash_bytes"]),
            "arena_bytes": int(rep["arena_bytes"]), "peak_sram_bytes": int(rep["arena_bytes"]),
            "instructions": int(round(total))}


def from_config(cfg, images, cache_dir=None, log=print):
    """The cost model an exploration config names: {"cost": {"model":
    "runtime"|"analytic", "board": ...}}; "auto" (the default) is the runtime
    when the converter and the board's table are there, else the analytic
    estimate, said in the log."""
    c = dict(cfg.get("cost") or {})
    kind = c.get("model", "auto")
    board = c.get("board", DEFAULT_BOARD)
    if kind == "analytic":
        return AnalyticCost()
    if kind not in ("runtime", "auto"):
        raise CostError(f"cost.model {kind!r}: expected runtime, analytic or auto")
    try:
        return RuntimeCost(images, board=board, attonet=c.get("attonet"), cache_dir=cache_dir)
    except CostError as e:
        if kind == "runtime":
            raise
        log(f"[cost] the runtime cost model is unavailable ({e}); using the analytic estimate")
        return AnalyticCost()


def instruction_netscore(acc_pct, params, instructions):
    """NetScore with the target's instructions in place of MACs:
    20 log10(a^2 / (sqrt(p) sqrt(i))), p and i in millions."""
    if instructions is None:
        return None
    return R.netscore(acc_pct, params, instructions)


__all__ = ["AnalyticCost", "Cost", "CostError", "CostModel", "InstructionTable", "RuntimeCost",
           "from_config", "instruction_netscore", "layer_class", "nnls"]
