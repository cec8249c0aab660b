#!/usr/bin/env python3
"""Generate the built-model golden suite (`tests/op-goldens-built/`): small TFLite models written
directly as flatbuffers (TFLM's own schema object API, no TensorFlow) for operator and type
combinations the TFLite converter does not emit from Keras (QUANTIZE between integer types,
uint8 model boundaries, DEQUANTIZE from int16 and uint8, int8 SVDF with its variable state, and a
keyword-spotting-like chain), with TensorFlow Lite Micro's outputs on seeded inputs.

    .venv/bin/python tests/oracle/make_built_models.py [--out DIR] [--only SUBSTRING ...] [--list]

Needs only the oracle venv (`tests/oracle/requirements.txt`). Written per case, as in
tests/op-goldens (same manifest format, checked by `tests/oracle/tflm_check_ops.py DIR`):

    <case>.tflite                the built model
    <case>_x.npy                 inputs, [N, *model input shape] (batch dimension kept)
    <case>_y.npy                 TFLM's outputs, [N, *model output shape]

and `manifest.json`. N is 4, or 16 for the stateful cases (SVDF): their samples run in turn on
one interpreter, so sample i's output depends on samples 0..i-1 through the SVDF's activation
state (TFLM resets variable tensors once, at allocation: int16 state to 0, int8 state to its
zero point).

Every constant and every input is drawn from generators seeded by the case name. Scales are
calibrated from the case's actual inputs: each layer's integer inputs are run through an integer
reference of the op written here from TFLM's kernels (`quantize_common.cc`, `svdf_common.cc`),
and the reference is compared with TFLM on every case that has one (printed, never silent). The
generator also prints how many output values sit at the ends of their type's range.
"""

import argparse
import importlib.metadata
import json
import math
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tflm_check_ops import ARENA_BYTES, builtin_ops, run_tflm  # noqa: E402 - the CI check runs TFLM the same way

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "op-goldens-built"
SAMPLES = 4
STATEFUL_SAMPLES = 16

S = runtime.schema_fb
OP = S.BuiltinOperator
TT = S.TensorType
TYPE_NAMES = {v: k for k, v in vars(TT).items() if k.isupper()}
NP_OF = {TT.INT8: np.int8, TT.UINT8: np.uint8, TT.INT16: np.int16, TT.INT32: np.int32, TT.FLOAT32: np.float32}
TT_OF = {"int8": TT.INT8, "uint8": TT.UINT8, "int16": TT.INT16, "int32": TT.INT32, "float32": TT.FLOAT32}
INT32_INPUT_RANGE = 1 << 20


def seed_of(name):
    return zlib.crc32(name.encode())


def f32(v):
    """A scale as the model stores it (float32), as a Python float."""
    return float(np.float32(v))


# ---------------------------------------------------------------------------
# Model building with the schema object API.


class Graph:
    """One subgraph; tensors get their own buffer each (empty for activations), as the converter
    writes them; buffer 0 is the empty sentinel."""

    def __init__(self):
        self.buffers = [S.BufferT()]
        self.tensors = []
        self.operators = []
        self.codes = []  # builtin codes, in first-use order

    def tensor(self, name, shape, ttype, scale=None, zp=0, data=None, variable=False):
        buf = S.BufferT()
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=NP_OF[ttype]).reshape(shape))
            buf.data = np.frombuffer(arr.astype(arr.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
        self.buffers.append(buf)
        t = S.TensorT()
        t.shape = np.asarray(shape, dtype=np.int32)
        t.type = ttype
        t.buffer = len(self.buffers) - 1
        t.name = name
        t.hasRank = True
        t.isVariable = variable
        q = S.QuantizationParametersT()
        if scale is not None:
            q.scale = np.asarray([scale], dtype=np.float32)
            q.zeroPoint = np.asarray([zp], dtype=np.int64)
        t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, options_type=0, options=None):
        if code not in self.codes:
            self.codes.append(code)
        o = S.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs = np.asarray(inputs, dtype=np.int32)
        o.outputs = np.asarray(outputs, dtype=np.int32)
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        self.operators.append(o)

    def finish(self, inputs, outputs, description):
        sg = S.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.asarray(inputs, dtype=np.int32)
        sg.outputs = np.asarray(outputs, dtype=np.int32)
        sg.operators = self.operators
        sg.name = "main"
        m = S.ModelT()
        m.version = 3
        m.description = description
        m.buffers = self.buffers
        m.subgraphs = [sg]
        m.operatorCodes = []
        for code in self.codes:
            oc = S.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            m.operatorCodes.append(oc)
        b = flatbuffers.Builder(4096)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def svdf_options(rank, activation):
    o = S.SVDFOptionsT()
    o.rank = rank
    o.fusedActivationFunction = activation
    return S.BuiltinOptions.SVDFOptions, o


def fc_options():
    o = S.FullyConnectedOptionsT()
    o.fusedActivationFunction = S.ActivationFunctionType.NONE
    return S.BuiltinOptions.FullyConnectedOptions, o


def softmax_options():
    o = S.SoftmaxOptionsT()
    o.beta = 1.0
    return S.BuiltinOptions.SoftmaxOptions, o


# ---------------------------------------------------------------------------
# Integer references, written from TFLM's kernels (int64 arithmetic, every int32 intermediate
# checked to fit, as TFLM computes them in int32).

I32 = (-(1 << 31), (1 << 31) - 1)


def check_i32(a, what):
    a = np.asarray(a)
    if a.size and (a.min() < I32[0] or a.max() > I32[1]):
        raise OverflowError(f"{what} leaves int32 ({a.min()}..{a.max()})")


def quantize_multiplier(d):
    """TFLM's QuantizeMultiplier (quantization_util.cc)."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    qf = int(math.floor(abs(q) * (1 << 31) + 0.5)) * (1 if q >= 0 else -1)  # TfLiteRound
    if qf == 1 << 31:
        qf //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return qf, shift


def mbqm(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier (double rounding) on an int64 array of int32 values."""
    x = np.asarray(x, dtype=np.int64)
    check_i32(x, "the multiplier's input")
    left, right = max(shift, 0), max(-shift, 0)
    a = x * (1 << left)
    check_i32(a, "the left-shifted value")
    ab = a * np.int64(multiplier)
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    s = ab + nudge
    hi = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C's truncating division by 2^31
    mask = np.int64((1 << right) - 1)
    rem = hi & mask
    thr = (mask >> 1) + (hi < 0)
    return (hi >> right) + (rem > thr)


def ref_quantize(x, in_scale, in_zp, out_scale, out_zp, out_dtype):
    m, sh = quantize_multiplier(f32(in_scale) / f32(out_scale))
    info = np.iinfo(out_dtype)
    y = mbqm(x.astype(np.int64) - in_zp, m, sh) + out_zp
    return np.clip(y, info.min, info.max).astype(out_dtype)


def ref_dequantize(x, scale, zp):
    return (f32(scale) * (x.astype(np.float64) - zp)).astype(np.float32)


def ref_svdf(xs, s, zp_before_clamp=False, state_init=None, return_acc=False):
    """TFLM's EvalIntegerSvdfReference over the samples xs [N, batch, n_input], run in turn on one
    state. s: the case's quantized SVDF (dict). Returns the int8 outputs [N, batch, n_unit] (or the
    int32 accumulators before the output rescale, with return_acc).

    The pinned TFLM clamps the rescaled feature dot product to the state type's range and then
    adds the state's zero point, narrowing the sum to the state type (it wraps when an int8 state
    has a nonzero zero point); later TFLM adds the zero point before the clamp
    (zp_before_clamp=True). The two agree for an int16 state (zero point 0)."""
    wf, wt, bias = s["wf_q"].astype(np.int64), s["wt_q"].astype(np.int64), s["bias_q"].astype(np.int64)
    rank = s["rank"]
    n_filter, n_memory = wt.shape
    n_unit = n_filter // rank
    batch = xs.shape[1]
    sdt = np.int8 if s["state_type"] == "int8" else np.int16
    smin, smax = int(np.iinfo(sdt).min), int(np.iinfo(sdt).max)
    szp = s["state_zp"]
    m1, sh1 = quantize_multiplier(float(np.float32(np.float32(s["in_scale"]) * np.float32(s["wf_scale"]))
                                        / np.float32(s["state_scale"])))
    m2, sh2 = quantize_multiplier(float(np.float32(np.float32(s["state_scale"]) * np.float32(s["wt_scale"]))
                                        / np.float32(s["out_scale"])))
    if state_init is None:  # TFLM's ResetVariableTensors: int8 to the zero point, others to 0
        state_init = szp if sdt == np.int8 else 0
    state = np.full(batch * n_filter * n_memory, state_init, dtype=np.int64)
    outs, accs = [], []
    for x in xs:
        state[:-1] = state[1:].copy()
        dot = (x.astype(np.int64) - s["in_zp"]) @ wf.T  # [batch, n_filter]
        check_i32(dot, "the feature dot product")
        dot = mbqm(dot, m1, sh1)
        if zp_before_clamp:
            v = np.clip(dot + szp, smin, smax)
        else:  # the pinned TFLM's order: clamp, then add the zero point (wrapping when narrowed)
            v = (np.clip(dot, smin, smax) + szp).astype(sdt).astype(np.int64)
        st = state.reshape(batch, n_filter, n_memory)
        st[:, :, n_memory - 1] = v
        scratch = ((st - szp) * wt[None]).sum(axis=2)  # [batch, n_filter]
        check_i32(np.cumsum(np.abs((st - szp) * wt[None]), axis=2), "the time dot product")
        acc = bias[None] + scratch.reshape(batch, n_unit, rank).sum(axis=2)
        check_i32(acc, "the bias plus rank sum")
        accs.append(acc)
        y = np.clip(mbqm(acc, m2, sh2) + s["out_zp"], -128, 127)
        outs.append(y.astype(np.int8))
    return np.stack(accs) if return_acc else np.stack(outs)


# ---------------------------------------------------------------------------
# Cases. Each make(rng, xs) returns dict(model=bytes, params=..., refs=reference outputs or None,
# svdf=the quantized SVDF where there is one); the inputs xs are drawn first (uniform over the
# input type's whole range) so that scales can be calibrated on them.

CASES = []


def case(name, op, inputs, make, samples=SAMPLES):
    CASES.append(dict(name=name, op=op, inputs=inputs, make=make, samples=samples))


def draw_inputs(c):
    r = np.random.default_rng(seed_of(c["name"]) + 2)
    xs = []
    for spec in c["inputs"]:
        dt = np.dtype(spec["dtype"])
        shape = (c["samples"], *spec["shape"])
        lo, hi = spec.get("range") or ((-INT32_INPUT_RANGE, INT32_INPUT_RANGE) if dt == np.int32
                                       else (np.iinfo(dt).min, np.iinfo(dt).max))
        xs.append(r.integers(lo, hi, size=shape, endpoint=True).astype(dt))
    return xs


# QUANTIZE and DEQUANTIZE between an integer model input and the model output.
def requant_case(name, in_type, out_type, shape, in_q, out_q, input_range=None):
    def make(rng, xs):
        g = Graph()
        a = g.tensor("input", shape, TT_OF[in_type], *in_q)
        if out_type == "float32":
            b = g.tensor("output", shape, TT.FLOAT32)
            g.op(OP.DEQUANTIZE, [a], [b])
            ref = ref_dequantize(xs[0], *in_q)
        else:
            b = g.tensor("output", shape, TT_OF[out_type], *out_q)
            g.op(OP.QUANTIZE, [a], [b])
            ref = ref_quantize(xs[0], *in_q, *out_q, np.dtype(out_type))
        params = dict(input=shape, input_type=in_type, output_type=out_type,
                      input_scale=f32(in_q[0]), input_zero_point=in_q[1])
        if out_type != "float32":
            params.update(output_scale=f32(out_q[0]), output_zero_point=out_q[1],
                          scale_ratio=f32(in_q[0]) / f32(out_q[0]))
        if input_range:
            params["input_range"] = list(input_range)
        return dict(model=g.finish([a], [b], f"AttoNet built model: {name}"), params=params, refs=[ref])
    spec = dict(dtype=in_type, shape=shape)
    if input_range:
        spec["range"] = input_range
    case(name, "DEQUANTIZE" if out_type == "float32" else "QUANTIZE", [spec], make)


requant_case("quantize_i16_i8_down", "int16", "int8", [1, 4, 4, 3], (0.0003, 0), (0.1, 7))
# Ratio 1.72: over the whole int16 range nearly every output would saturate, so the inputs stay
# within +-90 (recorded as input_range).
requant_case("quantize_i16_i8_up", "int16", "int8", [1, 10], (0.00275, 0), (0.0016, -5), input_range=(-90, 90))
requant_case("quantize_i8_i16", "int8", "int16", [1, 4, 4, 3], (0.02, 5), (0.0001, 0))
requant_case("quantize_i16_i16", "int16", "int16", [1, 10], (0.000115, 0), (0.0001, 0))
requant_case("quantize_u8_i8_shift", "uint8", "int8", [1, 4, 4, 3], (0.0157, 128), (0.0157, 0))
requant_case("quantize_u8_i8_rescale", "uint8", "int8", [1, 10], (0.0235, 128), (0.03, -5))
requant_case("quantize_i8_u8", "int8", "uint8", [1, 4, 4, 3], (0.05, -3), (0.0475, 128))
requant_case("quantize_i8_i32", "int8", "int32", [1, 10], (0.05, 3), (0.00004997, 0))
requant_case("quantize_i16_i32", "int16", "int32", [1, 10], (0.0011, 0), (0.0000297, 0))
requant_case("quantize_i32_i8", "int32", "int8", [1, 10], (0.0001, 0), (0.85, -3))
requant_case("quantize_i32_i16", "int32", "int16", [1, 4, 4, 3], (0.0001, 0), (0.0034, 0))
requant_case("dequantize_i16_f32", "int16", "float32", [1, 10], (0.00031, 0), None)
requant_case("dequantize_u8_f32", "uint8", "float32", [1, 4, 4, 3], (0.0235, 131), None)


def quantize_sym(w, qmax):
    scale = f32(np.abs(w).max() / qmax)
    return np.clip(np.round(w / scale), -qmax, qmax).astype(np.int64), scale


def calibrate_svdf(rng, xs, in_scale, in_zp, n_filter, n_memory, rank, state_type, state_zp=0, state_target=None,
                   out_target=110):
    """Draws an SVDF's float weights, quantizes them and picks the state and output scales from
    the integer run on xs [N, batch, n_input]. Returns the quantized SVDF (dict)."""
    n_input = xs.shape[-1]
    wf = rng.standard_normal((n_filter, n_input)) / math.sqrt(n_input)
    wt = rng.standard_normal((n_filter, n_memory)) / math.sqrt(n_memory)
    wf_q, wf_scale = quantize_sym(wf, 127)
    wt_q, wt_scale = quantize_sym(wt, 32767 if state_type == "int16" else 127)
    # The state: the largest feature dot product maps to state_target.
    dot = (xs.astype(np.int64) - in_zp) @ wf_q.T
    if state_target is None:
        state_target = 16000 if state_type == "int16" else 125
    state_scale = f32(f32(in_scale) * wf_scale * np.abs(dot).max() / state_target)
    s = dict(rank=rank, in_scale=f32(in_scale), in_zp=int(in_zp), wf_q=wf_q, wf_scale=wf_scale, wt_q=wt_q,
             wt_scale=wt_scale, state_type=state_type, state_scale=state_scale, state_zp=int(state_zp),
             bias_q=np.zeros(n_filter // rank, dtype=np.int64), out_scale=1.0, out_zp=0)
    # The bias (scale state x weights_time, as TFLM requires) and the output scale, from the
    # accumulators of the run without bias.
    acc = ref_svdf(xs, s, return_acc=True).astype(np.float64)
    s["bias_q"] = np.round(rng.standard_normal(n_filter // rank) * 0.3 * acc.std()).astype(np.int64)
    acc = acc + s["bias_q"]
    s["bias_scale"] = float(np.float32(state_scale) * np.float32(wt_scale))
    s["out_scale"] = f32(s["bias_scale"] * np.abs(acc).max() / out_target)
    s["out_zp"] = int(rng.integers(-8, 9))
    return s


def add_svdf(g, prefix, x, s, batch, activation):
    n_filter, n_memory = s["wt_q"].shape
    n_input = s["wf_q"].shape[1]
    n_unit = n_filter // s["rank"]
    wf = g.tensor(f"{prefix}/weights_feature", [n_filter, n_input], TT.INT8, s["wf_scale"], 0, s["wf_q"])
    wt_type = TT_OF[s["state_type"]]  # weights_time has the state's type (TFLM's kernel templates both on it)
    wt = g.tensor(f"{prefix}/weights_time", [n_filter, n_memory], wt_type, s["wt_scale"], 0, s["wt_q"])
    b = g.tensor(f"{prefix}/bias", [n_unit], TT.INT32, s["bias_scale"], 0, s["bias_q"])
    st = g.tensor(f"{prefix}/activation_state", [batch, n_memory * n_filter], TT_OF[s["state_type"]],
                  s["state_scale"], s["state_zp"], variable=True)
    y = g.tensor(f"{prefix}/output", [batch, n_unit], TT.INT8, s["out_scale"], s["out_zp"])
    g.op(OP.SVDF, [x, wf, wt, b, st], [y], *svdf_options(s["rank"], activation))
    return y


def svdf_params(s, batch, activation):
    n_filter, n_memory = s["wt_q"].shape
    return dict(batch=batch, n_input=int(s["wf_q"].shape[1]), n_filter=int(n_filter), n_memory=int(n_memory),
                rank=s["rank"], n_unit=int(n_filter // s["rank"]),
                activation=activation, weights_time_type=s["state_type"], state_type=s["state_type"],
                input_scale=s["in_scale"], input_zero_point=s["in_zp"], weights_feature_scale=s["wf_scale"],
                weights_time_scale=s["wt_scale"], bias_scale=s["bias_scale"], state_scale=s["state_scale"],
                state_zero_point=s["state_zp"], output_scale=s["out_scale"], output_zero_point=s["out_zp"])


ACT = {None: S.ActivationFunctionType.NONE, "relu": S.ActivationFunctionType.RELU}


def svdf_case(name, batch, n_input, n_filter, n_memory, rank, activation=None, state_type="int16", state_zp=0,
              state_target=None):
    def make(rng, xs):
        in_zp = int(rng.integers(-4, 5))
        s = calibrate_svdf(rng, xs[0], 1 / 128, in_zp, n_filter, n_memory, rank, state_type, state_zp=state_zp,
                           state_target=state_target)
        g = Graph()
        x = g.tensor("input", [batch, n_input], TT.INT8, s["in_scale"], s["in_zp"])
        y = add_svdf(g, "svdf", x, s, batch, ACT[activation])
        params = dict(svdf_params(s, batch, activation), samples=STATEFUL_SAMPLES)
        return dict(model=g.finish([x], [y], f"AttoNet built model: {name}"), params=params,
                    refs=[ref_svdf(xs[0], s)], svdf=s)
    case(name, "SVDF", [dict(dtype="int8", shape=[batch, n_input])], make, samples=STATEFUL_SAMPLES)


svdf_case("svdf_r1_m4", 1, 16, 8, 4, 1)
svdf_case("svdf_r2_m4", 1, 8, 16, 4, 2)
svdf_case("svdf_r1_m10_relu", 1, 40, 64, 10, 1, activation="relu")
svdf_case("svdf_r2_m10", 1, 24, 32, 10, 2)
# The int8 state's zero point is -20 and the largest feature value maps to 180: some feature values
# are clamped, and some clamped-then-shifted ones leave int8 (the pinned TFLM wraps them).
svdf_case("svdf_int8_state", 1, 12, 16, 10, 2, state_type="int8", state_zp=-20, state_target=180)
svdf_case("svdf_batch2", 2, 12, 12, 4, 1)


def fc_layer(rng, x_q, x_scale, x_zp, units, out_target=100, float_max=None):
    """Per-tensor int8 FULLY_CONNECTED calibrated on its integer inputs x_q [N, 1, k]; with
    float_max, the weights' scale is chosen so that the largest real output is float_max."""
    k = x_q.shape[-1]
    w_q, w_scale = quantize_sym(rng.standard_normal((units, k)) / math.sqrt(k), 127)
    acc = (x_q.astype(np.int64) - x_zp) @ w_q.T
    b_q = np.round(rng.standard_normal(units) * 0.3 * acc.std()).astype(np.int64)
    acc = acc + b_q
    if float_max is not None:
        w_scale = f32(float_max / (f32(x_scale) * np.abs(acc).max()))
    bias_scale = float(np.float32(x_scale) * np.float32(w_scale))
    out_zp = int(rng.integers(-8, 9))
    out_scale = f32(bias_scale * np.abs(acc).max() / out_target)
    return dict(x_scale=f32(x_scale), w_q=w_q, w_scale=w_scale, b_q=b_q, bias_scale=bias_scale, out_scale=out_scale,
                out_zp=out_zp)


def add_fc(g, prefix, x, f, rows):
    units, k = f["w_q"].shape
    w = g.tensor(f"{prefix}/weights", [units, k], TT.INT8, f["w_scale"], 0, f["w_q"])
    b = g.tensor(f"{prefix}/bias", [units], TT.INT32, f["bias_scale"], 0, f["b_q"])
    y = g.tensor(f"{prefix}/output", [rows, units], TT.INT8, f["out_scale"], f["out_zp"])
    g.op(OP.FULLY_CONNECTED, [x, w, b], [y], *fc_options())
    return y


def fc_ref(x_q, x_zp, f):
    """The FC's int8 outputs (used only to calibrate the next layer)."""
    m, sh = quantize_multiplier(f["x_scale"] * f["w_scale"] / f["out_scale"])  # in double, as TFLM's FC
    acc = (x_q.astype(np.int64) - x_zp) @ f["w_q"].T + f["b_q"]
    return np.clip(mbqm(acc, m, sh) + f["out_zp"], -128, 127).astype(np.int8)


def kws_chain(name, n_in):
    """int16 input -> QUANTIZE (int8) -> SVDF -> SVDF -> FULLY_CONNECTED -> SOFTMAX, as TFLM's
    keyword_scrambled_8bit model is built."""
    def make(rng, xs):
        x16 = xs[0]
        in16_scale, q_scale, q_zp = 1 / 4096, 8 / 120, 3
        x8 = ref_quantize(x16, in16_scale, 0, q_scale, q_zp, np.int8)
        s1 = calibrate_svdf(rng, x8, q_scale, q_zp, 24, 8, 1, "int16")
        y1 = ref_svdf(x8, s1)
        s2 = calibrate_svdf(rng, y1, s1["out_scale"], s1["out_zp"], 32, 4, 2, "int16")
        y2 = ref_svdf(y1, s2)
        f = fc_layer(rng, y2, s2["out_scale"], s2["out_zp"], 4, float_max=4.0)  # logits within +-4
        g = Graph()
        a = g.tensor("input", [1, n_in], TT.INT16, in16_scale, 0)
        q = g.tensor("quantize/output", [1, n_in], TT.INT8, q_scale, q_zp)
        g.op(OP.QUANTIZE, [a], [q])
        h1 = add_svdf(g, "svdf1", q, s1, 1, ACT["relu"])
        h2 = add_svdf(g, "svdf2", h1, s2, 1, ACT["relu"])
        logits = add_fc(g, "fc", h2, f, 1)
        out = g.tensor("softmax/output", [1, 4], TT.INT8, 1 / 256, -128)
        g.op(OP.SOFTMAX, [logits], [out], *softmax_options())
        params = dict(input=[1, n_in], samples=STATEFUL_SAMPLES, input_scale=f32(in16_scale), input_zero_point=0,
                      quantize=dict(output_scale=f32(q_scale), output_zero_point=q_zp),
                      svdf1=svdf_params(s1, 1, "relu"), svdf2=svdf_params(s2, 1, "relu"),
                      fully_connected=dict(units=4, weights_scale=f["w_scale"], bias_scale=f["bias_scale"],
                                           output_scale=f["out_scale"], output_zero_point=f["out_zp"]),
                      softmax=dict(beta=1.0, output_scale=f32(1 / 256), output_zero_point=-128))
        # No reference for the whole chain (none for SOFTMAX here): the stages are calibrated on
        # the references of QUANTIZE, SVDF and FULLY_CONNECTED.
        return dict(model=g.finish([a], [out], f"AttoNet built model: {name}"), params=params, refs=None)
    case(name, "SVDF", [dict(dtype="int16", shape=[1, n_in])], make, samples=STATEFUL_SAMPLES)


kws_chain("kws_svdf_chain", 40)


def uint8_fc_chain(name, k, units):
    """uint8 input -> QUANTIZE (int8) -> FULLY_CONNECTED -> QUANTIZE -> uint8 output."""
    def make(rng, xs):
        in_scale, in_zp, q_scale, q_zp = 0.02, 128, 0.022, -3
        x8 = ref_quantize(xs[0], in_scale, in_zp, q_scale, q_zp, np.int8)
        f = fc_layer(rng, x8, q_scale, q_zp, units)
        h = fc_ref(x8, q_zp, f)
        out_scale, out_zp = f32(f["out_scale"] * 1.3), 120
        y = ref_quantize(h, f["out_scale"], f["out_zp"], out_scale, out_zp, np.uint8)
        g = Graph()
        a = g.tensor("input", [1, k], TT.UINT8, in_scale, in_zp)
        q = g.tensor("quantize_in/output", [1, k], TT.INT8, q_scale, q_zp)
        g.op(OP.QUANTIZE, [a], [q])
        hq = add_fc(g, "fc", q, f, 1)
        o = g.tensor("quantize_out/output", [1, units], TT.UINT8, out_scale, out_zp)
        g.op(OP.QUANTIZE, [hq], [o])
        params = dict(input=[1, k], units=units, input_scale=f32(in_scale), input_zero_point=in_zp,
                      quantize_in=dict(output_scale=f32(q_scale), output_zero_point=q_zp),
                      fully_connected=dict(weights_scale=f["w_scale"], bias_scale=f["bias_scale"],
                                           output_scale=f["out_scale"], output_zero_point=f["out_zp"]),
                      quantize_out=dict(output_scale=out_scale, output_zero_point=out_zp))
        return dict(model=g.finish([a], [o], f"AttoNet built model: {name}"), params=params, refs=[y])
    case(name, "FULLY_CONNECTED", [dict(dtype="uint8", shape=[1, k])], make)


uint8_fc_chain("fc_uint8_io", 16, 8)


def softmax_i16_case(name, shape, in_scale, in_zp):
    """SOFTMAX from int8 to int16 (TFLM's `Softmax<int8_t, int16_t>`: output scale 1/65536, zero
    point -32768, as its Prepare requires)."""
    def make(rng, xs):
        g = Graph()
        a = g.tensor("input", shape, TT.INT8, in_scale, in_zp)
        b = g.tensor("output", shape, TT.INT16, 1 / 65536, -32768)
        g.op(OP.SOFTMAX, [a], [b], *softmax_options())
        params = dict(input=shape, input_scale=f32(in_scale), input_zero_point=in_zp, output_type="int16",
                      output_scale=f32(1 / 65536), output_zero_point=-32768, beta=1.0)
        return dict(model=g.finish([a], [b], f"AttoNet built model: {name}"), params=params, refs=None)
    case(name, "SOFTMAX", [dict(dtype="int8", shape=shape)], make)


softmax_i16_case("softmax_i8_i16_10", [1, 10], 0.02, -3)
softmax_i16_case("softmax_i8_i16_4d", [1, 2, 3, 6], 0.04, 10)


def kws_8bit_chain(name, n_in):
    """The shape of TFLM's keyword_scrambled_8bit benchmark model: int16 input -> QUANTIZE (int8)
    -> SVDF (int8 time weights and state) -> FULLY_CONNECTED -> SVDF -> FULLY_CONNECTED -> SOFTMAX
    (int8 -> int16) -> QUANTIZE (int16 -> int32) output."""
    def make(rng, xs):
        x16 = xs[0]
        in16_scale, q_scale, q_zp = 1 / 2048, 8 / 120, -2
        x8 = ref_quantize(x16, in16_scale, 0, q_scale, q_zp, np.int8)
        s1 = calibrate_svdf(rng, x8, q_scale, q_zp, 16, 6, 1, "int8", state_zp=-5)
        y1 = ref_svdf(x8, s1)
        f1 = fc_layer(rng, y1, s1["out_scale"], s1["out_zp"], 12)
        h1 = fc_ref(y1, s1["out_zp"], f1)
        s2 = calibrate_svdf(rng, h1, f1["out_scale"], f1["out_zp"], 16, 5, 2, "int8", state_zp=3)
        y2 = ref_svdf(h1, s2)
        f2 = fc_layer(rng, y2, s2["out_scale"], s2["out_zp"], 3, float_max=4.0)
        g = Graph()
        a = g.tensor("input", [1, n_in], TT.INT16, in16_scale, 0)
        q = g.tensor("quantize/output", [1, n_in], TT.INT8, q_scale, q_zp)
        g.op(OP.QUANTIZE, [a], [q])
        v1 = add_svdf(g, "svdf1", q, s1, 1, ACT["relu"])
        d1 = add_fc(g, "fc1", v1, f1, 1)
        v2 = add_svdf(g, "svdf2", d1, s2, 1, ACT["relu"])
        logits = add_fc(g, "fc2", v2, f2, 1)
        p16 = g.tensor("softmax/output", [1, 3], TT.INT16, 1 / 65536, -32768)
        g.op(OP.SOFTMAX, [logits], [p16], *softmax_options())
        out = g.tensor("quantize_out/output", [1, 3], TT.INT32, 1 / 65536, 0)
        g.op(OP.QUANTIZE, [p16], [out])
        params = dict(input=[1, n_in], samples=STATEFUL_SAMPLES, input_scale=f32(in16_scale), input_zero_point=0,
                      quantize=dict(output_scale=f32(q_scale), output_zero_point=q_zp),
                      svdf1=svdf_params(s1, 1, "relu"),
                      fc1=dict(units=12, weights_scale=f1["w_scale"], bias_scale=f1["bias_scale"],
                               output_scale=f1["out_scale"], output_zero_point=f1["out_zp"]),
                      svdf2=svdf_params(s2, 1, "relu"),
                      fc2=dict(units=3, weights_scale=f2["w_scale"], bias_scale=f2["bias_scale"],
                               output_scale=f2["out_scale"], output_zero_point=f2["out_zp"]),
                      softmax=dict(beta=1.0, output_type="int16", output_scale=f32(1 / 65536),
                                   output_zero_point=-32768),
                      quantize_out=dict(output_type="int32", output_scale=f32(1 / 65536), output_zero_point=0))
        return dict(model=g.finish([a], [out], f"AttoNet built model: {name}"), params=params, refs=None)
    case(name, "SVDF", [dict(dtype="int16", shape=[1, n_in])], make, samples=STATEFUL_SAMPLES)


kws_8bit_chain("kws_8bit_chain", 32)


# ---------------------------------------------------------------------------


def reshape_op_case(name, op, in_shape, out_shape, axis=None, squeeze_dims=None, q=(0.05, -3)):
    """SQUEEZE or EXPAND_DIMS on an int8 activation (the TFLite converter writes RESHAPE for both, but
    files from other tools keep them and TFLM runs them): the bytes unchanged, the shape as the op
    says."""
    def make(rng, xs):
        g = Graph()
        a = g.tensor("input", in_shape, TT.INT8, *q)
        b = g.tensor("output", out_shape, TT.INT8, *q)
        if op == "SQUEEZE":
            o = S.SqueezeOptionsT()
            o.squeezeDims = squeeze_dims
            g.op(OP.SQUEEZE, [a], [b], S.BuiltinOptions.SqueezeOptions, o)
        else:
            k = g.tensor("axis", [], TT.INT32, data=axis)
            g.op(OP.EXPAND_DIMS, [a, k], [b], S.BuiltinOptions.ExpandDimsOptions, S.ExpandDimsOptionsT())
        params = dict(input=in_shape, output=out_shape, axis=axis, squeeze_dims=squeeze_dims)
        ref = xs[0].reshape((xs[0].shape[0], *out_shape))
        return dict(model=g.finish([a], [b], f"AttoNet built model: {name}"), params=params, refs=[ref])
    case(name, op, [dict(dtype="int8", shape=in_shape)], make)


reshape_op_case("squeeze_axis1", "SQUEEZE", [1, 1, 4, 8], [1, 4, 8], squeeze_dims=[1])
reshape_op_case("squeeze_all_ones", "SQUEEZE", [1, 1, 1, 10], [10], squeeze_dims=[])
reshape_op_case("expand_dims_axis1", "EXPAND_DIMS", [1, 4, 8], [1, 1, 4, 8], axis=1)
reshape_op_case("expand_dims_last", "EXPAND_DIMS", [1, 4, 8], [1, 4, 8, 1], axis=-1)


def ref_elu(x, in_q, out_q):
    """TFLM's ELU table (elu.cc), in float32: `exp(v) - 1` below zero, rounded half away from zero."""
    v = np.float32(in_q[0]) * (x.astype(np.int32) - in_q[1]).astype(np.float32)
    y = np.where(v < 0, np.exp(v) - np.float32(1), v).astype(np.float32)
    r = y * (np.float32(1) / np.float32(out_q[0]))
    r = np.where(r < 0, -np.floor(-r + np.float32(0.5)), np.floor(r + np.float32(0.5)))
    return np.clip(r + out_q[1], -128, 127).astype(np.int8)


def elu_case(name, shape, in_q, out_q):
    """ELU, int8 (the TFLite converter leaves it in float; TFLM has an int8 table kernel)."""
    def make(rng, xs):
        g = Graph()
        a = g.tensor("input", shape, TT.INT8, *in_q)
        b = g.tensor("output", shape, TT.INT8, *out_q)
        g.op(OP.ELU, [a], [b])
        params = dict(input=shape, input_scale=f32(in_q[0]), input_zero_point=in_q[1],
                      output_scale=f32(out_q[0]), output_zero_point=out_q[1])
        return dict(model=g.finish([a], [b], f"AttoNet built model: {name}"), params=params,
                    refs=[ref_elu(xs[0], in_q, out_q)])
    case(name, "ELU", [dict(dtype="int8", shape=shape)], make)


# Output ranges as a calibrated ELU would have them: [-1, max input].
elu_case("elu_4d", [1, 4, 4, 8], (0.04, 10), (0.025, -88))
elu_case("elu_wide", [1, 64], (0.1, 0), (0.0539, -109))
elu_case("elu_narrow", [1, 3, 7], (0.01, -20), (0.0118, -43))


def abs_case(name, shape, in_q, out_q):
    """ABS, int8 (TFLM's elementwise.cc: |x - zi| + zo where the scales are equal, else rescaled by
    QuantizeMultiplier(in / out)); the converter writes it for tf.abs on int8."""
    def make(rng, xs):
        g = Graph()
        a = g.tensor("input", shape, TT.INT8, *in_q)
        b = g.tensor("output", shape, TT.INT8, *out_q)
        g.op(OP.ABS, [a], [b])
        v = np.abs(xs[0].astype(np.int64) - in_q[1])
        if f32(in_q[0]) != f32(out_q[0]):
            m, sh = quantize_multiplier(float(np.float32(in_q[0]) / np.float32(out_q[0])))
            v = mbqm(v, m, sh)
        ref = np.clip(v + out_q[1], -128, 127).astype(np.int8)
        params = dict(input=shape, input_scale=f32(in_q[0]), input_zero_point=in_q[1],
                      output_scale=f32(out_q[0]), output_zero_point=out_q[1])
        return dict(model=g.finish([a], [b], f"AttoNet built model: {name}"), params=params, refs=[ref])
    case(name, "ABS", [dict(dtype="int8", shape=shape)], make)


abs_case("abs_same_scale", [1, 4, 4, 8], (0.05, 3), (0.05, -128))
abs_case("abs_rescale", [1, 64], (0.1, -7), (0.052, -127))
abs_case("abs_rescale_4d", [1, 3, 5, 6], (0.02, 20), (0.0213, -100))


def op_tensor_types(model_bytes, intended):
    """The tensor types of the first `intended` op's non-constant inputs and its outputs (as
    make_op_models.py records them)."""
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    for op in sg.operators:
        code = runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
        if code == getattr(OP, intended):
            def kind(i):
                t = sg.tensors[i]
                data = model.buffers[t.buffer].data
                return None if data is not None and len(data) > 0 else TYPE_NAMES[t.type]
            return {"inputs": [k for k in (kind(int(i)) for i in op.inputs if i >= 0) if k],
                    "outputs": [kind(int(i)) for i in op.outputs]}
    return None


def has_variable(model_bytes):
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    return any(t.isVariable for sg in model.subgraphs for t in sg.tensors)


def quietly(fn):
    """Runs fn() with the C-level stdout and stderr (TFLM's log lines) captured: returns (fn's
    result or None, its exception or None, the captured text)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            result, error = fn(), None
        except Exception as e:  # noqa: BLE001 - handed back to the caller
            result, error = None, e
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        tmp.seek(0)
        return result, error, tmp.read().decode(errors="replace")


def saturation(y):
    """(values at the ends of the output type's range, values) for an integer output."""
    if y.dtype.kind not in "iu":
        return 0, y.size
    info = np.iinfo(y.dtype)
    return int(((y == info.min) | (y == info.max)).sum()), y.size


def io_names(name, kind, n):
    return [f"{name}_{kind}.npy"] if n == 1 else [f"{name}_{kind}{k}.npy" for k in range(n)]


def generate(c, out):
    name = c["name"]
    seed = seed_of(name)
    xs = draw_inputs(c)
    made = c["make"](np.random.default_rng(seed), xs)
    model, params, refs = made["model"], made["params"], made["refs"]
    ys, e, log = quietly(lambda: run_tflm(model, xs, 1))
    if e is not None:
        lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
        why = f"TFLM cannot run it: {type(e).__name__}: {e}" + (f" ({'; '.join(lines[:3])})" if lines else "")
        return None, why, ""
    notes = []
    if refs is not None:
        same = all(r.dtype == y.dtype and r.tobytes() == y.tobytes() for r, y in zip(refs, ys))
        if not same:
            diff = sum(int(np.count_nonzero(r.reshape(-1) != y.reshape(-1))) for r, y in zip(refs, ys))
            notes.append(f"REFERENCE DIFFERS in {diff} values")
        else:
            notes.append("reference agrees")
    sat, n = saturation(ys[0])
    notes.append(f"{sat}/{n} outputs at the type's ends")
    (out / f"{name}.tflite").write_bytes(model)
    x_files, y_files = io_names(name, "x", len(xs)), io_names(name, "y", len(ys))
    for f, a in zip(x_files, xs):
        np.save(out / f, a)
    for f, a in zip(y_files, ys):
        np.save(out / f, a)
    entry = {
        "name": name,
        "op": c["op"],
        "dtype": "int8",
        "ops": builtin_ops(model),
        "op_tensor_types": op_tensor_types(model, c["op"]),
        "model": f"{name}.tflite",
        "inputs": [{"file": f, "dtype": str(a.dtype), "shape": list(a.shape[1:])} for f, a in zip(x_files, xs)],
        "outputs": [{"file": f, "dtype": str(a.dtype), "shape": list(a.shape[1:])} for f, a in zip(y_files, ys)],
        "params": params,
        "stateful": has_variable(model),
        "seed": seed,
    }
    if "svdf" in made and made["svdf"]["state_type"] == "int8":
        notes += svdf_order_check(xs[0], made["svdf"], ys[0])
    return entry, None, "; ".join(notes)


def svdf_order_check(xs, s, y):
    """For an int8 state: does TFLM match the reference's variants (the state's zero point added
    before the clamp, as later TFLM does; the state starting at 0 instead of its zero point)?"""
    notes = []
    for label, kw in [("zero point added before the clamp", dict(zp_before_clamp=True)),
                      ("state starting at 0", dict(state_init=0))]:
        r = ref_svdf(xs, s, **kw)
        notes.append(f"reference with the {label}: "
                     f"{'same' if r.tobytes() == y.tobytes() else f'{int((r != y).sum())} values differ'}")
    return notes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--only", nargs="*", help="generate only cases whose name contains one of these (no manifest)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    names = [c["name"] for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"error: duplicate case names {sorted(dup)}")
    if args.list:
        for c in CASES:
            print(f"{c['name']:28s} {c['op']:16s} {' '.join(s['dtype'] + str(s['shape']) for s in c['inputs'])}")
        return 0
    if args.only and args.out.resolve() == DEFAULT_OUT.resolve():
        sys.exit("error: --only writes no manifest; give it another --out than the committed suite")

    cases = [c for c in CASES if not args.only or any(s in c["name"] for s in args.only)]
    out = args.out
    if not args.only and out.exists():
        # A full run owns the folder's generated files: remove the old ones first.
        for p in out.iterdir():
            if p.suffix in (".tflite", ".npy") or p.name == "manifest.json":
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for keep in ("expected_pass.txt", "known_wrong.txt"):  # filled by hand; never overwritten
        if not (out / keep).exists():
            (out / keep).write_text("")

    t0 = time.perf_counter()
    entries, skipped = [], []
    for c in cases:
        entry, reason, notes = generate(c, out)
        if entry is None:
            print(f"SKIP {c['name']} ({c['op']}): {reason}", flush=True)
            skipped.append({"name": c["name"], "op": c["op"], "dtype": "int8", "reason": reason})
        else:
            print(f"ok   {c['name']} ({c['op']}): ops {' '.join(entry['ops'])}; {notes}", flush=True)
            entries.append(entry)

    if not args.only:
        manifest = {
            "generator": "tests/oracle/make_built_models.py",
            "versions": {p: importlib.metadata.version(p) for p in ("tflite-micro", "numpy")},
            "samples": SAMPLES,
            "arena_bytes": ARENA_BYTES,
            "cases": entries,
            "skipped": skipped,
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"\n{len(entries)} cases written, {len(skipped)} skipped, {size} bytes in {out}, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
