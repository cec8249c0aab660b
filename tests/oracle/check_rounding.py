#!/usr/bin/env python3
"""Which requantization arithmetic does the pip `tflite-micro` build use? Checked empirically.

    python tests/oracle/check_rounding.py MODEL.tflite IN.npy [--samples N]

Runs TFLM with kPreserveAllTensors over the first N samples and recomputes every CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED output in numpy from that op's own TFLM input tensor, in
each candidate arithmetic:

  rounding   double: gemmlowp SaturatingRoundingDoublingHighMul + RoundingDivideByPOT (the
                     default TFLite/TFLM MultiplyByQuantizedMultiplier)
             single: TFLITE_SINGLE_ROUNDING: (x * m + (1 << (30 - shift))) >> (31 - shift)
  scale      double: in_scale (as double) * filter_scale (as double) / out_scale
                     (PopulateConvolutionQuantizationParams, and per-channel FULLY_CONNECTED)
             float:  double(float(in_scale * filter_scale)) / out_scale
                     (GetQuantizedConvolutionMultipler, used by per-tensor FULLY_CONNECTED)

and prints, per op kind, how many output elements each combination gets wrong. The combination
with zero mismatches everywhere is what the installed TFLM build does.

Real data rarely separates the two FULLY_CONNECTED scale computations (their multipliers differ
in the last few bits only; for ResNet-8 and DS-CNN no accumulator value that reaches the int8 range
rounds differently), so the script also runs a synthetic FC-only model built to separate them:
see fc_probe().
"""

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime

schema_fb = runtime.schema_fb
OP_NAMES = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if k.isupper()}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def tflite_round(x):
    """std::round: half away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def quantize_multiplier(real, single_rounding):
    """tflite::QuantizeMultiplier (quantization_util.cc), on a Python float (= C double)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_rounding and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def trunc_div_pow2(a, bits):
    """C integer division of int64 `a` by 2**bits (truncates toward zero)."""
    return np.where(a >= 0, a >> bits, -((-a) >> bits))


def mbqm_double(x, mult, shift):
    """MultiplyByQuantizedMultiplier without TFLITE_SINGLE_ROUNDING (x int64 array)."""
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    a = (x << left).astype(np.int64)
    a = ((a + 2**31) % 2**32) - 2**31  # int32 wrap, as C would (never hit in practice)
    ab = a * mult
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    hm = trunc_div_pow2(ab + nudge, 31)
    hm = np.where((a == INT32_MIN) & (mult == INT32_MIN), INT32_MAX, hm)
    mask = (np.int64(1) << right) - 1
    remainder = hm & mask
    threshold = (mask >> 1) + (hm < 0)
    return (hm >> right) + (remainder > threshold)


def mbqm_single(x, mult, shift):
    """MultiplyByQuantizedMultiplier with TFLITE_SINGLE_ROUNDING."""
    mult = np.asarray(mult, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    r = (x * mult + (np.int64(1) << (total - 1))) >> total
    return np.clip(r, INT32_MIN, INT32_MAX)


def act_range(fused, scale, zp):
    """CalculateActivationRangeQuantized for int8 (float math, as in TFLite)."""
    def q(f):
        return zp + int(tflite_round(float(np.float32(f) / np.float32(scale))))
    if fused == schema_fb.ActivationFunctionType.RELU:
        return max(-128, q(0.0)), 127
    if fused == schema_fb.ActivationFunctionType.RELU6:
        return max(-128, q(0.0)), min(127, q(6.0))
    if fused == schema_fb.ActivationFunctionType.RELU_N1_TO_1:
        return max(-128, q(-1.0)), min(127, q(1.0))
    return -128, 127


def same_or_valid(in_size, k, stride, dil, padding):
    eff = (k - 1) * dil + 1
    if padding == schema_fb.Padding.SAME:
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size - eff + stride) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2


def conv_acc(x, w, opts, depthwise):
    """int64 accumulators of a (depthwise) convolution; x is already input - zero_point."""
    _, H, W, C = x.shape
    # filter layout: depthwise [1, KH, KW, OC]; conv [OC, KH, KW, C]
    KH, KW = w.shape[1], w.shape[2]
    OC = w.shape[3] if depthwise else w.shape[0]
    sh, sw = opts.strideH, opts.strideW
    dh, dw = opts.dilationHFactor, opts.dilationWFactor
    OH, ph = same_or_valid(H, KH, sh, dh, opts.padding)
    OW, pw = same_or_valid(W, KW, sw, dw, opts.padding)
    xp = np.zeros((H + KH * dh + OH * sh, W + KW * dw + OW * sw, C), dtype=np.int64)
    xp[ph:ph + H, pw:pw + W] = x[0]
    acc = np.zeros((OH, OW, OC), dtype=np.int64)
    for kh in range(KH):
        for kw in range(KW):
            patch = xp[kh * dh: kh * dh + (OH - 1) * sh + 1: sh, kw * dw: kw * dw + (OW - 1) * sw + 1: sw]
            if depthwise:
                mult = OC // C
                acc += patch[..., np.arange(OC) // mult] * w[0, kh, kw].astype(np.int64)
            else:
                acc += patch @ w[:, kh, kw, :].astype(np.int64).T
    return acc[None]


def fc_probe(model_bytes, trials=200, seed=0):
    """Tells the two FULLY_CONNECTED scale computations apart on a synthetic FC-only model.

    The model's FULLY_CONNECTED op is cut out on its own and given new scales (zero points 0, no
    activation) for which the float- and double-product multipliers differ, and biases equal to
    accumulator values on which the two multipliers round differently. With an all-zero input the
    accumulators are exactly the biases, so TFLM's output shows which multiplier it computed.
    """
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    fcs = [op for op in sg.operators
           if OP_NAMES[runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])]
           == "FULLY_CONNECTED"]
    if not fcs:
        return
    op = fcs[0]
    i_in, i_w, i_b, i_out = (int(op.inputs[0]), int(op.inputs[1]), int(op.inputs[2]), int(op.outputs[0]))
    t = sg.tensors
    n_out = int(t[i_w].shape[0])

    rng = np.random.default_rng(seed)
    for _ in range(trials):
        s_in = np.float32(rng.uniform(0.01, 0.2))
        s_w = np.float32(rng.uniform(0.001, 0.02))
        s_out = np.float32(float(s_in) * float(s_w) / rng.uniform(2e-5, 2e-4))
        vd = quantize_multiplier(float(s_in) * float(s_w) / float(s_out), False)
        vf = quantize_multiplier(float(np.float32(s_in * s_w)) / float(s_out), False)
        if vd == vf:
            continue
        eff = float(s_in) * float(s_w) / float(s_out)
        acc = np.arange(int(-130 / eff), int(130 / eff), dtype=np.int64)
        od = np.clip(mbqm_double(acc, *vd), -128, 127)
        of = np.clip(mbqm_double(acc, *vf), -128, 127)
        sep = acc[od != of]
        if len(sep) >= n_out:
            break
    else:
        print("  FC probe: found no scales that separate the two computations")
        return

    bias = sep[np.linspace(0, len(sep) - 1, n_out).astype(int)]
    for i, scale in ((i_in, s_in), (i_w, s_w), (i_b, np.float32(s_in * s_w)), (i_out, s_out)):
        t[i].quantization.scale = np.array([scale], dtype=np.float32)
        t[i].quantization.zeroPoint = np.array([0], dtype=np.int64)
    model.buffers[t[i_b].buffer].data = np.frombuffer(bias.astype("<i4").tobytes(), dtype=np.uint8)
    op.builtinOptions.fusedActivationFunction = schema_fb.ActivationFunctionType.NONE
    sg.operators = [op]
    sg.inputs = np.array([i_in], dtype=np.int32)
    sg.outputs = np.array([i_out], dtype=np.int32)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")

    interp = runtime.Interpreter.from_bytes(bytes(builder.Output()))
    interp.set_input(np.zeros(tuple(interp.get_input_details(0)["shape"]), dtype=np.int8), 0)
    interp.invoke()
    got = interp.get_output(0).reshape(-1).astype(np.int64)
    want_d = np.clip(mbqm_double(bias, *vd), -128, 127)
    want_f = np.clip(mbqm_double(bias, *vf), -128, 127)
    print(f"  FC probe: scales in {s_in!r} filter {s_w!r} out {s_out!r}; accumulators {bias.tolist()}")
    print(f"    TFLM output           {got.tolist()}")
    print(f"    double-product scale  {want_d.tolist()}  multiplier {vd}: "
          f"{'MATCH' if np.array_equal(got, want_d) else 'differs'}")
    print(f"    float-product scale   {want_f.tolist()}  multiplier {vf}: "
          f"{'MATCH' if np.array_equal(got, want_f) else 'differs'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("inputs", help="int8 .npy [N, ...input shape]")
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()

    model_bytes = Path(args.model).read_bytes()
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    interp = runtime.Interpreter.from_bytes(model_bytes, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    in_shape = tuple(int(d) for d in interp.get_input_details(0)["shape"])
    xs = np.load(args.inputs)[: args.samples]

    def tensor(i):
        return np.array(interp.GetTensor(int(i), 0)["tensor_data"], copy=True)

    def qparams(i):
        q = sg.tensors[i].quantization
        return [np.float32(s) for s in q.scale], [int(z) for z in q.zeroPoint]

    # mismatches[(op kind, rounding, scale)] = [wrong elements, total elements]
    mismatches = defaultdict(lambda: [0, 0])
    fc_multipliers = {}
    for x in xs:
        interp.set_input(x.reshape(in_shape), 0)
        interp.invoke()
        for op in sg.operators:
            kind = OP_NAMES[runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])]
            if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            i_in, i_w, i_b = (int(t) for t in op.inputs[:3])
            i_out = int(op.outputs[0])
            (s_in,), (z_in,) = qparams(i_in)
            s_w, _ = qparams(i_w)
            (s_out,), (z_out,) = qparams(i_out)
            xin = tensor(i_in).astype(np.int64) - z_in
            w = tensor(i_w)
            bias = tensor(i_b).astype(np.int64) if i_b >= 0 else 0
            got = tensor(i_out)
            if kind == "FULLY_CONNECTED":
                acc = xin.reshape(-1, w.shape[1]) @ w.astype(np.int64).T
            else:
                acc = conv_acc(xin, w, op.builtinOptions, kind == "DEPTHWISE_CONV_2D")
            acc = acc + bias
            lo, hi = act_range(op.builtinOptions.fusedActivationFunction, s_out, z_out)
            n_ch = acc.shape[-1]
            for scale_kind in ("double", "float"):
                if scale_kind == "double":
                    eff = [float(s_in) * float(s) / float(s_out) for s in s_w]
                else:
                    eff = [float(np.float32(s_in * s)) / float(s_out) for s in s_w]
                if len(eff) == 1:
                    eff = eff * n_ch
                for rounding, fn in (("double", mbqm_double), ("single", mbqm_single)):
                    ms = [quantize_multiplier(e, rounding == "single") for e in eff]
                    mult = np.array([m for m, _ in ms], dtype=np.int64)
                    shift = np.array([s for _, s in ms], dtype=np.int64)
                    if kind == "FULLY_CONNECTED":
                        fc_multipliers[(i_out, scale_kind, rounding)] = (ms[0], eff[0])
                    out = np.clip(fn(acc, mult, shift) + z_out, lo, hi).astype(np.int8)
                    entry = mismatches[(kind, rounding, scale_kind)]
                    entry[0] += int((out.reshape(got.shape) != got).sum())
                    entry[1] += got.size

    print(f"{args.model}: {len(xs)} samples")
    for (kind, rounding, scale_kind), (bad, total) in sorted(mismatches.items()):
        print(f"  {kind:18s} rounding={rounding:6s} scale={scale_kind:6s} mismatches {bad:7d} / {total}")
    for (t, scale_kind, rounding), ((m, s), e) in sorted(fc_multipliers.items()):
        print(f"  FC output t{t}: scale={scale_kind:6s} rounding={rounding:6s} "
              f"effective {e!r} -> multiplier {m}, shift {s}")
    fc_probe(model_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
