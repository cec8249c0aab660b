#!/usr/bin/env python3
"""TensorFlow Lite Micro's int8 UNIDIRECTIONAL_SEQUENCE_LSTM, as an exact integer specification
(numpy), and its proof against TFLM.

    .venv/bin/python tests/oracle/lstm_reference.py [VARIANTS_PER_CASE]   (default 60)

Needs only the oracle venv (the pinned `tflite-micro`). For every UNIDIRECTIONAL_SEQUENCE_LSTM case
of tests/op-goldens it runs TFLM (`run_tflm` of tflm_check_ops.py: one interpreter, the samples in
turn, so the LSTM state carries over) and the reference below, also carrying its state, on the
committed inputs (against the committed goldens too), on 64 extra random samples, on the
single-LSTM models rewritten to batch 3 (`rebatch`), and on VARIANTS_PER_CASE models made by
rewriting the case's quantization (`requantize`), 8 random samples each, and counts byte-exact
matches. Exits 1 on any mismatch. Not part of the suite (a one-off proof, ~25 s).

Written from the sources of tensorflow/tflite-micro for the kernel the pinned wheel was built with
(tflite-micro 0.dev20261023182759, `_version.py`: 0.dev20261023182759-g8f6596d). Commit 8f6596d
itself is not in the source index this was read from; read instead, under
tensorflow/lite/micro/kernels/: lstm_eval_common.cc at 1d1bd4ba (with the Prepare) and at 8247953
(older literals, see F32_2_M15), the 2023+ lstm_eval.h / lstm_eval.cc / unidirectional_sequence_lstm.cc
(LstmStep, CalculateLstmGate, UpdateLstmCell, UpdateLstmHidden, Tanh(cell_state_scale_power, ...),
Sigmoid, Mul, AddElementWise, Clipping, LstmStepManager), fully_connected_common.cc at 340fcba, and
internal/common.cc at a6453bf, internal/quantization_util.cc at b84e49e (QuantizeMultiplier,
CheckedLog2), internal/reference/integer_ops/fully_connected.h at dd6970a, mul.h at 9d3febf,
logistic.h at a6453bf, tanh.h at 776203c, internal/common.h at 28e6530 (sigmoid_table_uint16),
kernel_util.cc (GetQuantizedConvolutionMultipler). The wheel's _runtime.so exports exactly this
kernel's symbols (tflite::micro::lstm_internal::LstmStep<int8, int8, int16, int32>, CalculateLstmGate,
UpdateLstmCell<int16>, Tanh(int, ...), Sigmoid(..., int16*), Mul(..., int16, int16, int8*),
Clipping, AddElementWise, LstmStepManager::UpdateTime / UpdateBatch), not the older
EvalInteger8x8_16Lstm (precomputed effective biases, intermediate tensors' scales) still found in
older versions of the same file names. Where sources differed, the match below decided: every
choice in this file reproduces TFLM's bytes; the alternatives tried (single rounding, no cell clip,
the older 2^-15 literal, no state carried, the hidden state starting at 0) do not.


THE SPECIFICATION
=================

Tensors (node inputs by index; lstm_shared.h). All int8 tensors per-tensor quantized, scale s,
zero point z (weights: z = 0 as the converter writes; TFLM still subtracts a weight's z, below).

   0  input                  int8  [B, T, F] (time_major: [T, B, F])   s_x, z_x
   1  input_to_input_w       int8  [U, F]    s_wxi      5  recurrent_to_input_w   int8 [U, U]  s_whi
   2  input_to_forget_w      int8  [U, F]    s_wxf      6  recurrent_to_forget_w  int8 [U, U]  s_whf
   3  input_to_cell_w        int8  [U, F]    s_wxc      7  recurrent_to_cell_w    int8 [U, U]  s_whc
   4  input_to_output_w      int8  [U, F]    s_wxo      8  recurrent_to_output_w  int8 [U, U]  s_who
   9..11  cell_to_{input,forget,output} (peephole)   must be absent (-1)
  12  input_gate_bias        int32 [U]   13 forget_gate_bias  14 cell_gate_bias  15 output_gate_bias
                             (added raw to the input accumulator; their scales are never read)
  16, 17  projection weights, bias                     must be absent
  18  output_state (hidden)  int8  [B, U], variable     s_h, z_h
  19  cell_state             int16 [B, U], variable     s_c (its zero point is never read: 0)
  20..23  layer norm coefficients                      must be absent
  output 0                   int8  [B, T, U] ([T, B, U]): each step's new hidden state, byte for
                             byte (its own scale and zero point are not read; the converter writes
                             the hidden state's)
  options: fused_activation_function (the cell gate's nonlinearity: must be TANH; the kernel
           would also take a sigmoid, which no flatbuffer can express, and asserts on anything
           else: NONE, RELU, RELU6, RELU_N1_TO_1, SIGN_BIT abort at Eval, not at Prepare),
           cell_clip (float, >= 0; 0 = none), time_major; proj_clip and asymmetric_quantize_inputs
           are ignored. The op's 5 intermediate tensors the converter writes are ignored.

The converter (Keras LSTM, int8 post-training quantization) writes per-tensor weights, zero
points 0 for weights, biases with scale s_x * s_w (zero point 0), cell_clip = 10, TANH, and a
power-of-two cell scale s_c (2^-15 .. 2^-11 seen).

Requirements checked by Prepare (anything else is not checked): 24 inputs and 1 output; input,
hidden and cell state present, hidden and cell state variable; hidden state type == input type ==
output type; inputs 1..8 present and of one type (int8 selects this kernel), 12..15 present and of
one type (int32); 9..11, 16, 17, 20..23 absent; weights 1..4 [U, F], 5..8 [U, U], biases [U]
(U = hidden dims[1], F = input dims[2]); hidden and cell state of B*U elements; output rank 3 with
the input's first two dimensions and U last; cell_clip >= 0; cell state int16 (float32 selects the
float kernel, anything else fails); s_x * s_w >= 0 (float product) for each of the 8 weights.
Not checked: weight zero points (only a debug DCHECK; z_w is still applied as an offset, see
below), bias scales (the bias check is switched off for the LSTM), s_c being a power of two (the
result of CheckedLog2 is ignored), the cell state's zero point, the output's quantization. The
kernel reads one scale per weight tensor (params.scale); per-channel weights, which the converter
does not write for the LSTM, are outside this specification (a port should refuse them).

Prepare-time quantities (float = C float32, double = C double; QuantizeMultiplier below):

  Gate fully connected layers, for each gate g in {i, f, c, o}: the output is int16 Q3.12,
  scale 2^-12 (the float literal 0.000244140625, exactly 2^-12), zero point 0, range
  [-32768, 32767]; GetQuantizedConvolutionMultipler with per-tensor scales:
      real_xg = double(float(s_x * s_wxg)) / double(2^-12)    -> (M_xg, S_xg)
      real_hg = double(float(s_h * s_whg)) / double(2^-12)    -> (M_hg, S_hg)
  (the product is taken in float, then widened). Offsets: input_offset = -z_x (recurrent: -z_h),
  weights_offset = -z_w, output_offset = 0. Bias: gate g's input layer adds bias_g (int32); the
  recurrent layer has none.

  Gate outputs are int16 Q0.15 (scale 2^-15, zero point 0): sigmoid and tanh below.

  Elementwise multiplications (CreateInterGateMulParams: real = double(a) * double(b) / double(out),
  each a float32 scale widened; input offsets 0):
      forget x cell   -> cell:    real = 2^-15 * s_c / s_c        (= 2^-15: M = 2^30, S = -14)
                                  int16 range, output offset 0
      input x cellgate-> cell:    real = 2^-15 * 2^-15 / s_c      -> (M_ic, S_ic), int16, offset 0
      tanh(c) x output-> hidden:  real = 2^-15 * 2^-15 / s_h      -> (M_oh, S_oh), int8 range
                                  [-128, 127], output offset z_h
  (2^-15 is the float literal 0.000030517578125, exactly 2^-15. An older source wrote
  0.00003051757, which as a float is 2^-15 - 2 ulp and changes M for all three; the pinned build
  is not that one: LSTM_OLD_LITERAL=1 makes the reference miss TFLM's bytes.)

  Cell state: p = CheckedLog2(s_c): float x = logf(s_c) * (1.0f / logf(2.0f)), p = round half away
  from zero of x (the "is it a power of two" result is ignored). quantized_cell_clip =
  int16(trunc(clamp(double(cell_clip) / double(s_c), -32768.0, 32767.0))); clipping is applied when
  cell_clip > 0.

  tanh of the cell state: shift = (15 + p) - 3 = 12 + p; if shift >= 0: int16 TANH with
  (multiplier 3 << shift, right shift 0); else: (multiplier 3, right shift -shift).
  tanh of the cell gate: as a cell state of power -12: (multiplier 3, shift 0).
  sigmoid: int16 LOGISTIC with (multiplier 3, shift 0).

  QuantizeMultiplier(double d): 0 -> (0, 0); else (q, e) = frexp(d), M = round half away from zero
  of q * 2^31 (in double); if M == 2^31: M /= 2, e += 1; if e < -31: (0, 0); result (M, S = e).
  (The pinned build is double-rounding: no clamp of e to <= 30.)

Integer primitives (C semantics; every int32 product or sum below wraps modulo 2^32 where C would
overflow, which these ranges never reach except where noted):

  MBQM(x, M, S) = MultiplyByQuantizedMultiplier, int32, double rounding:
      a = wrap32(x * 2^max(S, 0));  b = SaturatingRoundingDoublingHighMul(a, M)
        (= INT32_MAX if a == M == INT32_MIN; else (a*M + (a*M >= 0 ? 2^30 : 1 - 2^30)) / 2^31
         with the int64 division truncating toward zero);
      result = RoundingDivideByPOT(b, max(-S, 0))
        (mask = 2^n - 1, r = b & mask, t = (mask >> 1) + (b < 0); (b >> n) + (r > t), arithmetic >>).
  sat16(v) = min(max(v, -32768), 32767).
  SIGMOID16(v) (reference_integer_ops::Logistic, int16, multiplier 3, shift 0):
      a = 3 * v (int32); u = |a|; k = u >> 9;
      r = k >= 255 ? 0x7FFF << 10 : (T[k] << 9) + (u & 0x1FF) * (T[k+1] - T[k])   (uint32)
      r = a >= 0 ? r + 2^9 : 2^25 - r + 2^9 - 1;  result = int16(r >> 10)        (values 1..32767)
  TANH16(v; m, s) (reference_integer_ops::Tanh, int16): a = (v * m + (s > 0 ? 2^(s-1) : 0)) >> s
      (int32, arithmetic shift); u = |a|; k = u >> 8;
      r = k >= 255 ? 0xFFFF << 8 : (T[k] << 8) + (u & 0xFF) * (T[k+1] - T[k])   (as int32)
      r = a >= 0 ? r - 2^23 + 2^7 : -r + 2^23 + 2^7 - 1;  result = int16(r >> 8)  (arithmetic)
  T = sigmoid_table_uint16 (256 entries, SIGMOID_TABLE_U16 below).

Initial state: at allocation (MicroInterpreter: ResetVariableTensors) an int8 variable tensor is
filled with its zero point byte, any other variable tensor with zero bytes: h = z_h, c = 0. The
state is never reset by Invoke: each Invoke continues from the previous Invoke's final h and c
(checked below: the reference carries state from sample to sample and matches; resetting it, or
starting h at 0, does not).

Eval (EvalLstm<int8, int8, int16, int32>). Batch-major (time_major false): for b in 0..B-1, for t
in 0..T-1: one step on the single row x[b, t, :] with the state rows h[b], c[b]. Time-major: for t
in 0..T-1: one step on all B rows x[t, :, :] at once (rows independent). One step, for each row
and each unit j in 0..U-1 (vectors over j; h_old is the hidden state before the step: all four
gates read it):

  for g in f, i, c, o (this order; the output gate is computed after the cell update, still from
  h_old):
      acc_x = sum_k (W_xg[j, k] - z_wxg) * (x[k] - z_x) + bias_g[j]             (int32, wraps)
      gx    = sat16(MBQM(acc_x, M_xg, S_xg))
      acc_h = sum_k (W_hg[j, k] - z_whg) * (h_old[k] - z_h)                      (int32, wraps)
      gh    = sat16(MBQM(acc_h, M_hg, S_hg))
      pre_g = sat16(gx + gh)
      gate_g = SIGMOID16(pre_g) for f, i, o;  for c: TANH16(pre_c; 3, 0)
  cell update:
      c = sat16(MBQM(gate_f * c, 2^30, -14))                 (forget x cell)
      u = sat16(MBQM(gate_i * gate_c, M_ic, S_ic))           (input x cell gate)
      c = sat16(c + u)
      if cell_clip > 0: c = min(max(c, -quantized_cell_clip), quantized_cell_clip)
  hidden update:
      th = TANH16(c; cell-state multiplier and shift above)
      h  = min(max(MBQM(th * gate_o, M_oh, S_oh) + z_h, -128), 127)              (int8)
  output[b, t, :] (time-major: output[t, :, :]) = h

The products gate * c, gate * gate and th * gate_o are int16 x int16 in int32 (at most 2^30, no
wrap). The state (h, c) after the last step stays in the variable tensors for the next Invoke.

Scratch: four int16 buffers of B*U (gate outputs and the FC/Mul temporaries).
"""

import json
import math
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tflm_check_ops import run_tflm  # noqa: E402 - the suite's way of running TFLM

REPO = Path(__file__).resolve().parents[2]
GOLDENS = REPO / "tests" / "op-goldens"
schema_fb = runtime.schema_fb
OP_NAMES = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if k.isupper()}
ACT = schema_fb.ActivationFunctionType
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

# sigmoid(i / 24) in unsigned 0.16 fixed point: TFLM's sigmoid_table_uint16 (common.h), as shipped.
SIGMOID_TABLE_U16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432,
    42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475,
    49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485,
    55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519,
    59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036,
    62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405,
    64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179,
    65194, 65208, 65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337,
    65345, 65352, 65360, 65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517,
    65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525, 65525,
    65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533,
    65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
], dtype=np.int64)
assert SIGMOID_TABLE_U16.shape == (256,)

F32_2_M12 = np.float32(0.000244140625)  # nonlinear_input_scale: 2^-12
F32_2_M15 = np.float32(0.000030517578125)  # nonlinear_output_scale: 2^-15
assert F32_2_M12 == np.float32(2.0 ** -12) == np.float32(0.00024414062)
assert F32_2_M15 == np.float32(2.0 ** -15)
# Older sources (lstm_eval_common.cc at 8247953) wrote the literals 0.00024414062 (exactly 2^-12 as
# a float) and 0.00003051757, which as a float is 2^-15 - 2 ulp (3.0517570e-05): it would change the
# three inter-gate multipliers. LSTM_OLD_LITERAL=1 selects it, to show the pinned build does not.
if __import__("os").environ.get("LSTM_OLD_LITERAL") == "1":
    F32_2_M15 = np.float32(0.00003051757)


# ---------------------------------------------------------------------------------------------
# Integer primitives: int64 numpy arrays holding C int32 / int16 values.

def wrap32(a):
    a = np.asarray(a, dtype=np.int64)
    return ((a + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def sat16(a):
    return np.clip(a, -32768, 32767)


def tf_round(x):
    """TfLiteRound / std::round: half away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def quantize_multiplier(d):
    """QuantizeMultiplier (double-rounding build: no clamp of the shift to <= 30)."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = int(tf_round(q * (1 << 31)))
    assert q_fixed <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    assert q_fixed <= INT32_MAX
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values (a array, b scalar)."""
    a = np.asarray(a, dtype=np.int64)
    ab = a * np.int64(b)
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    s = ab + nudge
    hi = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C's truncating division by 2^31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, hi)


def rdbpot(x, exponent):
    """gemmlowp RoundingDivideByPOT."""
    mask = np.int64((1 << exponent) - 1)
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def mbqm(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier(int32 x, ...), double rounding."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot(srdhm(wrap32(np.asarray(x, dtype=np.int64) * (1 << left)), multiplier), right)


def sigmoid16(v):
    """reference_integer_ops::Logistic for int16 with input_multiplier 0, input_left_shift 0."""
    a = 3 * np.asarray(v, dtype=np.int64)
    u = np.abs(a)
    k = u >> 9
    kc = np.minimum(k, 254)
    ua, ub = SIGMOID_TABLE_U16[kc], SIGMOID_TABLE_U16[kc + 1]
    r = np.where(k >= 255, np.int64(0x7FFF << 10), (ua << 9) + (u & 0x1FF) * (ub - ua))
    r = np.where(a >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return (r >> 10).astype(np.int16).astype(np.int64)


def tanh16(v, multiplier, shift):
    """reference_integer_ops::Tanh for int16 with (input_multiplier, input_left_shift)."""
    if multiplier == 0:
        multiplier, shift = 3 << shift, 0
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    a = wrap32(np.asarray(v, dtype=np.int64) * multiplier + rnd) >> shift
    u = np.abs(a)
    k = u >> 8
    kc = np.minimum(k, 254)
    ua, ub = SIGMOID_TABLE_U16[kc], SIGMOID_TABLE_U16[kc + 1]
    r = np.where(k >= 255, np.int64(0xFFFF << 8), (ua << 8) + (u & 0xFF) * (ub - ua))
    r = np.where(a >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return (r >> 8).astype(np.int16).astype(np.int64)


def lstm_tanh_params(cell_state_scale_power):
    """lstm_internal::Tanh: (input_multiplier, input_left_shift) handed to the int16 TANH."""
    shift = (15 + cell_state_scale_power) - 3
    if shift < 0:
        return 3, -shift
    return 0, shift


def checked_log2(x):
    """CheckedLog2 (float32 arithmetic): the rounded log2, and whether x is a power of two."""
    x = np.float32(x)
    x_log2 = np.float32(np.log(x)) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    x_log2 = np.float32(x_log2)
    rounded = np.float32(tf_round(float(x_log2)))
    return int(rounded), abs(float(x_log2 - rounded)) < 1e-3


# ---------------------------------------------------------------------------------------------
# Prepare

@dataclass
class Quant:
    scale: float  # float32 value
    zero_point: int


@dataclass
class LstmPrepared:
    batch: int
    time: int
    features: int
    units: int
    time_major: bool
    x_zp: int
    h_zp: int
    w_x: list  # per gate (i, f, c, o): int64 [U, F]
    w_h: list  # per gate: int64 [U, U]
    w_x_zp: list
    w_h_zp: list
    bias: list  # per gate: int64 [U]
    mult_x: list  # per gate: (M, S)
    mult_h: list
    forget_cell: tuple  # (M, S)
    input_cell: tuple
    output_hidden: tuple
    cell_power: int
    cell_clip: float
    quantized_cell_clip: int
    cell_gate_act: int
    tanh_cell: tuple  # (input_multiplier, input_left_shift) for the cell state's tanh


GATES = ("i", "f", "c", "o")


def fc_multiplier(s_in, s_w, s_out):
    """GetQuantizedConvolutionMultipler, per tensor: the product in float, then double."""
    prod = np.float32(np.float32(s_in) * np.float32(s_w))
    assert float(prod) >= 0, "TFLM: input_product_scale >= 0"
    return quantize_multiplier(float(prod) / float(np.float32(s_out)))


def mul_multiplier(s1, s2, s_out):
    """CreateInterGateMulParams."""
    return quantize_multiplier(float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(s_out)))


def prepare_lstm(x_q, w_x, w_x_q, w_h, w_h_q, bias, h_q, c_scale, options, x_shape, h_shape):
    """All Prepare-time quantities. w_x/w_h/bias: lists over gates (i, f, c, o) of int arrays;
    *_q: Quant; options: UnidirectionalSequenceLSTMOptionsT."""
    time_major = bool(options.timeMajor)
    batch = x_shape[1] if time_major else x_shape[0]
    time = x_shape[0] if time_major else x_shape[1]
    features, units = x_shape[2], h_shape[1]
    assert options.cellClip >= 0, "TFLM: cell_clip >= 0"
    power, _is_pow2 = checked_log2(c_scale)
    qclip = int(math.trunc(min(max(float(np.float32(options.cellClip)) / float(np.float32(c_scale)), -32768.0),
                               32767.0)))
    return LstmPrepared(
        batch=batch, time=time, features=features, units=units, time_major=time_major,
        x_zp=x_q.zero_point, h_zp=h_q.zero_point,
        w_x=[np.asarray(w, dtype=np.int64) for w in w_x], w_h=[np.asarray(w, dtype=np.int64) for w in w_h],
        w_x_zp=[q.zero_point for q in w_x_q], w_h_zp=[q.zero_point for q in w_h_q],
        bias=[np.asarray(b, dtype=np.int64) for b in bias],
        mult_x=[fc_multiplier(x_q.scale, q.scale, F32_2_M12) for q in w_x_q],
        mult_h=[fc_multiplier(h_q.scale, q.scale, F32_2_M12) for q in w_h_q],
        forget_cell=mul_multiplier(F32_2_M15, c_scale, c_scale),
        input_cell=mul_multiplier(F32_2_M15, F32_2_M15, c_scale),
        output_hidden=mul_multiplier(F32_2_M15, F32_2_M15, h_q.scale),
        cell_power=power, cell_clip=float(np.float32(options.cellClip)), quantized_cell_clip=qclip,
        cell_gate_act=options.fusedActivationFunction, tanh_cell=lstm_tanh_params(power),
    )


# ---------------------------------------------------------------------------------------------
# Eval

COUNTS = {"cell_values": 0, "cell_clipped": 0}  # coverage of the proof, not part of the spec


def lstm_step(p, x, h, c):
    """One step on rows x [R, F] (int64) with state h [R, U] (int8 values), c [R, U] (int16
    values); returns the new (h, c)."""
    def gate(g, act):  # act: "sigmoid" or the op's activation (ActivationFunctionType)
        k = GATES.index(g)
        acc_x = wrap32((x - p.x_zp) @ (p.w_x[k] - p.w_x_zp[k]).T + p.bias[k])
        gx = sat16(mbqm(acc_x, *p.mult_x[k]))
        acc_h = wrap32((h - p.h_zp) @ (p.w_h[k] - p.w_h_zp[k]).T)
        gh = sat16(mbqm(acc_h, *p.mult_h[k]))
        pre = sat16(gx + gh)
        if act == "sigmoid":
            return sigmoid16(pre)
        if act == ACT.TANH:
            return tanh16(pre, *lstm_tanh_params(-12))
        raise ValueError(f"TFLM asserts: cell gate activation {act} (only TANH)")

    f = gate("f", "sigmoid")
    i = gate("i", "sigmoid")
    g = gate("c", p.cell_gate_act)
    c = sat16(mbqm(f * c, *p.forget_cell))
    c = sat16(c + sat16(mbqm(i * g, *p.input_cell)))
    COUNTS["cell_values"] += c.size
    if p.cell_clip > 0:
        clipped = np.minimum(np.maximum(c, -p.quantized_cell_clip), p.quantized_cell_clip)
        COUNTS["cell_clipped"] += int((clipped != c).sum())
        c = clipped
    o = gate("o", "sigmoid")  # after the cell update, from the old hidden state
    th = tanh16(c, *p.tanh_cell)
    h = np.clip(mbqm(th * o, *p.output_hidden) + p.h_zp, -128, 127)
    return h, c


def lstm_eval(p, x, h, c):
    """The whole op on one input x (int8 array of the input's shape) and the variable tensors
    h, c ([B, U] or any shape of B*U elements); returns (output, h, c)."""
    x = np.asarray(x, dtype=np.int64)
    h = np.asarray(h, dtype=np.int64).reshape(p.batch, p.units).copy()
    c = np.asarray(c, dtype=np.int64).reshape(p.batch, p.units).copy()
    if p.time_major:
        out = np.empty((p.time, p.batch, p.units), dtype=np.int64)
        for t in range(p.time):
            h, c = lstm_step(p, x[t], h, c)
            out[t] = h
    else:
        out = np.empty((p.batch, p.time, p.units), dtype=np.int64)
        for b in range(p.batch):
            hb, cb = h[b:b + 1], c[b:b + 1]
            for t in range(p.time):
                hb, cb = lstm_step(p, x[b, t:t + 1], hb, cb)
                out[b, t] = hb[0]
            h[b], c[b] = hb[0], cb[0]
    return out, h, c


# ---------------------------------------------------------------------------------------------
# A model-level runner: the LSTM cases' models (UNIDIRECTIONAL_SEQUENCE_LSTM, STRIDED_SLICE,
# FULLY_CONNECTED), with the variable tensors kept between runs as TFLM keeps them.

def q_of(t):
    q = t.quantization
    return Quant(np.float32(q.scale[0]), int(q.zeroPoint[0]))


def fc_int8(x, w, w_q, bias, x_q, out_q, fused, per_channel_scales=None):
    """reference_integer_ops::FullyConnected (int8, int32 bias), per tensor or per channel."""
    x = np.asarray(x, dtype=np.int64)
    acc = wrap32((x - x_q.zero_point) @ (np.asarray(w, dtype=np.int64) - w_q.zero_point).T
                 + (0 if bias is None else np.asarray(bias, dtype=np.int64)))
    if per_channel_scales is None:
        y = mbqm(acc, *fc_multiplier(x_q.scale, w_q.scale, out_q.scale))
    else:
        y = np.empty_like(acc)
        for ch, s_w in enumerate(per_channel_scales):
            y[..., ch] = mbqm(acc[..., ch], *quantize_multiplier(
                float(np.float32(x_q.scale)) * float(np.float32(s_w)) / float(np.float32(out_q.scale))))
    lo, hi = -128, 127
    if fused in (ACT.RELU, ACT.RELU6):
        lo = max(lo, out_q.zero_point)
    if fused == ACT.RELU6:
        hi = min(hi, out_q.zero_point + int(tf_round(float(np.float32(6.0) / np.float32(out_q.scale)))))
    assert fused in (ACT.NONE, ACT.RELU, ACT.RELU6)
    return np.clip(y + out_q.zero_point, lo, hi)


def strided_slice(x, begin, end, strides, opts):
    assert opts.ellipsisMask == 0 and opts.newAxisMask == 0 and not opts.offset
    index = []
    for d in range(x.ndim):
        if (opts.shrinkAxisMask >> d) & 1:
            b = int(begin[d])
            index.append(b + x.shape[d] if b < 0 else b)
            continue
        b = None if (opts.beginMask >> d) & 1 else int(begin[d])
        e = None if (opts.endMask >> d) & 1 else int(end[d])
        index.append(slice(b, e, int(strides[d])))
    return x[tuple(index)]


class ReferenceModel:
    def __init__(self, model_bytes):
        self.model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
        self.sg = self.model.subgraphs[0]
        self.state = {}  # variable tensor index -> values
        for i, t in enumerate(self.sg.tensors):
            if t.isVariable:
                n = int(np.prod(t.shape))
                # ResetVariableTensors: int8 variables hold their zero point, others zero bytes.
                fill = int(t.quantization.zeroPoint[0]) if t.type == schema_fb.TensorType.INT8 else 0
                self.state[i] = np.full(n, fill, dtype=np.int64)
        self.prepared = {}

    def const(self, i):
        t = self.sg.tensors[i]
        dt = {schema_fb.TensorType.INT8: np.int8, schema_fb.TensorType.INT32: np.int32,
              schema_fb.TensorType.INT16: np.int16, schema_fb.TensorType.INT64: np.int64}[t.type]
        data = np.frombuffer(bytes(bytearray(self.model.buffers[t.buffer].data)), dtype=dt)
        return data.reshape([int(v) for v in t.shape]).astype(np.int64)

    def op_name(self, op):
        return OP_NAMES[runtime.get_builtin_code_from_operator_code(self.model.operatorCodes[op.opcodeIndex])]

    def prepare(self, k, op):
        if k in self.prepared:
            return self.prepared[k]
        t = self.sg.tensors
        ins = [int(i) for i in op.inputs]
        assert len(ins) == 24 and len(op.outputs) == 1
        assert all(ins[i] < 0 for i in (9, 10, 11, 16, 17, 20, 21, 22, 23)), "peephole/projection/layer norm"
        assert t[ins[18]].isVariable and t[ins[19]].isVariable
        assert t[ins[19]].type == schema_fb.TensorType.INT16
        for i in range(1, 9):
            assert len(t[ins[i]].quantization.scale) == 1, "per-tensor weights"
        order = {"i": 0, "f": 1, "c": 2, "o": 3}
        p = prepare_lstm(
            q_of(t[ins[0]]),
            [self.const(ins[1 + order[g]]) for g in GATES], [q_of(t[ins[1 + order[g]]]) for g in GATES],
            [self.const(ins[5 + order[g]]) for g in GATES], [q_of(t[ins[5 + order[g]]]) for g in GATES],
            [self.const(ins[12 + order[g]]) for g in GATES],
            q_of(t[ins[18]]), np.float32(t[ins[19]].quantization.scale[0]), op.builtinOptions,
            [int(v) for v in t[ins[0]].shape], [int(v) for v in t[ins[18]].shape])
        self.prepared[k] = p
        return p

    def run(self, xs):
        """One Invoke: xs one array per model input (without the batch of samples)."""
        vals = {int(i): np.asarray(x, dtype=np.int64) for i, x in zip(self.sg.inputs, xs)}
        t = self.sg.tensors
        for k, op in enumerate(self.sg.operators):
            name = self.op_name(op)
            ins, out = [int(i) for i in op.inputs], int(op.outputs[0])
            if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
                p = self.prepare(k, op)
                y, h, c = lstm_eval(p, vals[ins[0]], self.state[ins[18]], self.state[ins[19]])
                self.state[ins[18]], self.state[ins[19]] = h.reshape(-1), c.reshape(-1)
                vals[out] = y
            elif name == "STRIDED_SLICE":
                assert q_of(t[ins[0]]) == q_of(t[out])
                vals[out] = strided_slice(vals[ins[0]], self.const(ins[1]), self.const(ins[2]),
                                          self.const(ins[3]), op.builtinOptions)
            elif name == "FULLY_CONNECTED":
                wq = t[ins[1]].quantization
                per_channel = [np.float32(s) for s in wq.scale] if len(wq.scale) > 1 else None
                bias = self.const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
                x = vals[ins[0]]
                y = fc_int8(x.reshape(-1, x.shape[-1]), self.const(ins[1]), q_of(t[ins[1]]), bias,
                            q_of(t[ins[0]]), q_of(t[out]), op.builtinOptions.fusedActivationFunction,
                            per_channel)
                vals[out] = y.reshape([int(v) for v in t[out].shape])
            else:
                raise NotImplementedError(name)
        return [vals[int(i)].reshape([int(v) for v in t[int(i)].shape]) for i in self.sg.outputs]


def reference_outputs(model_bytes, xs, n_out, reset_each=False, h_start_zero=False):
    """The reference over a batch of samples run in turn (state carried, as run_tflm runs TFLM).
    reset_each / h_start_zero: the counterfactuals that show what TFLM does not do."""
    ref = None
    n = xs[0].shape[0]
    ys = None
    for s in range(n):
        if ref is None or reset_each:
            ref = ReferenceModel(model_bytes)
            if h_start_zero:
                for i in ref.state:
                    ref.state[i][:] = 0
        out = ref.run([x[s] for x in xs])
        if ys is None:
            ys = [np.empty((n, *o.shape), dtype=np.int64) for o in out]
        for y, o in zip(ys, out):
            y[s] = o
    return ys


# ---------------------------------------------------------------------------------------------
# Re-quantized variants

def requantize(model_bytes, rng):
    """A model with the case's weights and structure but new quantization, within what TFLM's
    Prepare accepts: the model input's scale and zero point; every LSTM's hidden state and
    output (and so the next op's input, and a STRIDED_SLICE's output) a new scale and zero point;
    the cell state a new scale (a power of two 2^-16 .. 2^-6, or 1 in 5 not a power of two); the 8
    weights' per-tensor scales (zero point 0; the biases' scales follow, unread by TFLM); the cell
    clip (10 as the converter writes, a random 0.25 .. 6, or 0 = none); a FULLY_CONNECTED's
    weight and output quantization. Returns (bytes, a description)."""
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    t = sg.tensors

    def set_q(i, scale, zp):
        t[i].quantization.scale = np.asarray([scale], dtype=np.float32)
        t[i].quantization.zeroPoint = np.asarray([zp], dtype=np.int64)

    def act_q():
        return np.float32(10 ** rng.uniform(-3, -0.5)), int(rng.integers(-128, 128))

    set_q(int(sg.inputs[0]), *act_q())
    desc = []
    for op in sg.operators:
        name = OP_NAMES[runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])]
        ins, out = [int(i) for i in op.inputs], int(op.outputs[0])
        if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            hq = act_q()
            set_q(ins[18], *hq)
            set_q(out, *hq)
            k = int(rng.integers(-16, -5))
            cs = np.float32(2.0 ** k)
            if rng.random() < 0.2:
                cs = np.float32(cs * rng.uniform(0.75, 1.4))
            set_q(ins[19], cs, 0)
            s_x = t[ins[0]].quantization.scale[0]
            for g in range(4):
                sw = np.float32(10 ** rng.uniform(-3, -1.3))
                set_q(ins[1 + g], sw, 0)
                set_q(ins[12 + g], np.float32(np.float32(s_x) * sw), 0)
                set_q(ins[5 + g], np.float32(10 ** rng.uniform(-3, -1.3)), 0)
            r = rng.random()
            op.builtinOptions.cellClip = 10.0 if r < 0.4 else (0.0 if r < 0.55 else float(rng.uniform(0.25, 6)))
            desc.append(f"s_c=2^{math.log2(cs):.2f} clip={op.builtinOptions.cellClip:.2f}")
        elif name == "STRIDED_SLICE":
            q = t[ins[0]].quantization
            set_q(out, np.float32(q.scale[0]), int(q.zeroPoint[0]))
        elif name == "FULLY_CONNECTED":
            w = t[ins[1]].quantization
            n = len(w.scale)
            t[ins[1]].quantization.scale = (10 ** rng.uniform(-3, -1.3, n)).astype(np.float32)
            t[ins[1]].quantization.zeroPoint = np.zeros(n, dtype=np.int64)
            if len(ins) > 2 and ins[2] >= 0:
                s_in = np.float32(t[ins[0]].quantization.scale[0])
                t[ins[2]].quantization.scale = (s_in * t[ins[1]].quantization.scale).astype(np.float32)
                t[ins[2]].quantization.zeroPoint = np.zeros(n, dtype=np.int64)
            set_q(out, *act_q())
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), "; ".join(desc)


def rebatch(model_bytes, batch):
    """The single-LSTM model with batch `batch` instead of 1 (input, output, hidden and cell state
    shapes), to check the batch-major (batch by batch, each over all steps) and time-major (all
    rows per step) orders."""
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    op = sg.operators[0]
    time_major = bool(op.builtinOptions.timeMajor)
    ins = [int(i) for i in op.inputs]
    for i, axis in ((ins[0], 1 if time_major else 0), (int(op.outputs[0]), 1 if time_major else 0),
                    (ins[18], 0), (ins[19], 0)):
        for attr in ("shape", "shapeSignature"):
            v = getattr(sg.tensors[i], attr)
            if v is not None and len(v):
                v = np.array(v, dtype=np.int32)
                v[axis] = batch
                setattr(sg.tensors[i], attr, v)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# ---------------------------------------------------------------------------------------------
# The proof

def lstm_cases():
    manifest = json.loads((GOLDENS / "manifest.json").read_text())
    return [c for c in manifest["cases"] if "UNIDIRECTIONAL_SEQUENCE_LSTM" in c["ops"]]


def random_inputs(model_bytes, rng, n):
    interp = runtime.Interpreter.from_bytes(model_bytes, arena_size=1 << 20)
    d = interp.get_input_details(0)
    return [rng.integers(-128, 128, (n, *[int(v) for v in d["shape"]]), dtype=np.int8)]


def same(want, got):
    return all(w.shape == g.shape and np.array_equal(w.astype(np.int64), g) for w, g in zip(want, got))


def main(argv):
    per_case = int(argv[1]) if len(argv) > 1 else 60
    cases = lstm_cases()
    if not cases:
        print("no UNIDIRECTIONAL_SEQUENCE_LSTM case in tests/op-goldens/manifest.json")
        return 1
    totals = {"committed": [0, 0], "random": [0, 0], "variants": [0, 0], "batch3": [0, 0], "tflm_refused": 0}
    counterfactual = {"reset_each": 0, "h_start_zero": 0, "h_zero_tried": 0}
    stats = {"clip_active": 0, "tanh_shifts": set(), "unsaturated": [0, 0]}
    bad = []
    for case in cases:
        name = case["name"]
        model = (GOLDENS / case["model"]).read_bytes()
        n_out = len(case["outputs"])
        rng = np.random.default_rng(zlib.crc32(name.encode()))

        # 1. The committed inputs: TFLM now, the committed goldens, and the reference.
        xs = [np.load(GOLDENS / s["file"]) for s in case["inputs"]]
        golden = [np.load(GOLDENS / s["file"]) for s in case["outputs"]]
        want = run_tflm(model, xs, n_out)
        got = reference_outputs(model, xs, n_out)
        ok = same(want, got) and same(golden, got)
        totals["committed"][0] += ok
        totals["committed"][1] += 1
        if not ok:
            bad.append(f"{name}: committed inputs differ")

        # 2. Random inputs, 64 samples through one interpreter.
        xs = random_inputs(model, rng, 64)
        want = run_tflm(model, xs, n_out)
        got = reference_outputs(model, xs, n_out)
        ok = same(want, got)
        totals["random"][0] += ok
        totals["random"][1] += 1
        if not ok:
            bad.append(f"{name}: random inputs differ")
        # What TFLM does not do: reset the state on every Invoke, or start the hidden state at 0.
        counterfactual["reset_each"] += not same(want, reference_outputs(model, xs, n_out, reset_each=True))
        mdl = runtime.convert_bytearray_to_object(bytearray(model))
        if any(int(t.quantization.zeroPoint[0]) != 0 for t in mdl.subgraphs[0].tensors
               if t.isVariable and t.type == schema_fb.TensorType.INT8):
            counterfactual["h_zero_tried"] += 1
            counterfactual["h_start_zero"] += not same(want, reference_outputs(model, xs, n_out, h_start_zero=True))

        # 3. Batch 3 (single-LSTM models only), 16 samples, on the model and a variant.
        if case["ops"] == ["UNIDIRECTIONAL_SEQUENCE_LSTM"]:
            for m in (model, requantize(model, rng)[0]):
                m = rebatch(m, 3)
                xs = random_inputs(m, rng, 16)
                ok = same(run_tflm(m, xs, n_out), reference_outputs(m, xs, n_out))
                totals["batch3"][0] += ok
                totals["batch3"][1] += 1
                if not ok:
                    bad.append(f"{name}: batch 3 differs")

        # 4. Re-quantized variants, 8 samples each.
        counts = [0, 0, 0]
        for v in range(per_case):
            m, desc = requantize(model, rng)
            xs = random_inputs(m, rng, 8)
            try:
                want = run_tflm(m, xs, n_out)
            except Exception as e:  # noqa: BLE001 - counted, reported
                totals["tflm_refused"] += 1
                print(f"  {name} #{v}: TFLM refused: {e}")
                continue
            got = reference_outputs(m, xs, n_out)
            ok = same(want, got)
            counts[0] += ok
            counts[1] += 1
            if not ok:
                diff = sum(int((w.astype(np.int64) != g).sum()) for w, g in zip(want, got))
                bad.append(f"{name} variant #{v} ({desc}): {diff} bytes differ")
            for w in want:
                stats["unsaturated"][0] += int(((w > -128) & (w < 127)).sum())
                stats["unsaturated"][1] += w.size
            ref = ReferenceModel(m)
            for k, op in enumerate(ref.sg.operators):
                if ref.op_name(op) == "UNIDIRECTIONAL_SEQUENCE_LSTM":
                    p = ref.prepare(k, op)
                    stats["tanh_shifts"].add(p.tanh_cell)
                    stats["clip_active"] += p.cell_clip > 0 and p.quantized_cell_clip < 32767
        totals["variants"][0] += counts[0]
        totals["variants"][1] += counts[1]
        inputs_ok = not any(b.startswith(name + ":") for b in bad)
        print(f"{name}: committed, random and batch-3 inputs {'match' if inputs_ok else 'DIFFER'}; "
              f"variants {counts[0]}/{counts[1]} byte-exact")
    for b in bad:
        print(f"MISMATCH {b}", file=sys.stderr)
    print(f"committed inputs: {totals['committed'][0]}/{totals['committed'][1]} cases byte-exact; "
          f"random inputs (64 samples): {totals['random'][0]}/{totals['random'][1]}; "
          f"re-quantized variants (8 samples): {totals['variants'][0]}/{totals['variants'][1]}; "
          f"batch 3: {totals['batch3'][0]}/{totals['batch3'][1]}; TFLM refused {totals['tflm_refused']}")
    print(f"state check: resetting the state on every Invoke differs from TFLM in "
          f"{counterfactual['reset_each']}/{len(cases)} cases; starting the hidden state at 0 instead of "
          f"its zero point differs in {counterfactual['h_start_zero']}/{counterfactual['h_zero_tried']} "
          f"cases with a nonzero hidden zero point")
    print(f"coverage: cell-state tanh (multiplier, shift) {sorted(stats['tanh_shifts'])}; "
          f"{stats['clip_active']} variant LSTMs with a cell clip below 32767, "
          f"{COUNTS['cell_clipped']} of {COUNTS['cell_values']} computed cell values clipped; "
          f"{stats['unsaturated'][0]} of {stats['unsaturated'][1]} variant output bytes unsaturated")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
