#!/usr/bin/env python3
"""Generate the op-level golden suite (`tests/op-goldens/`) with the real TensorFlow Lite converter
and TensorFlow Lite Micro.

    .venv-tf/bin/python tests/oracle/make_op_models.py [--out DIR] [--only SUBSTRING ...] [--list]

Needs the TensorFlow venv (`tests/oracle/requirements-tf.txt`, see tests/op-goldens/README.md);
the CI check (`tests/oracle/tflm_check_ops.py`) needs only the oracle venv.

For every case below: a tiny float `tf.function` (constants drawn from a generator seeded by the
case name) is converted by `tf.lite.TFLiteConverter` with full-integer post-training quantization
(representative dataset of seeded uniform random data; int8 activations with
`TFLITE_BUILTINS_INT8`, or the 16x8 mode: int16 activations, int8 weights,
`EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`), and run by the TFLM interpreter on
a seeded random batch of integer inputs. Written per case:

    <case>.tflite                     the converted model
    <case>_x.npy  (_x0.npy, _x1.npy)  inputs, [N, *model input shape] (batch dimension kept)
    <case>_y.npy  (_y0.npy, _y1.npy)  TFLM's outputs, [N, *model output shape]

and `manifest.json` (every case: the intended op, the model's builtin op list, dtype, files,
shapes, parameters; and every skipped case with its reason). A case whose conversion or TFLM run
fails, or whose model does not contain the intended op (the converter rewrote it), is skipped with
its reason printed and recorded, never silently.
"""

import argparse
import importlib.metadata
import json
import os
import sys
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tflite_micro.python.tflite_micro import runtime  # noqa: E402
from tflm_check_ops import ARENA_BYTES, run_tflm  # noqa: E402 - the CI check runs TFLM the same way

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "op-goldens"
SAMPLES = 4
CALIBRATION_SAMPLES = 32

schema_fb = runtime.schema_fb
OP_NAMES = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if k.isupper()}
TYPE_NAMES = {v: k for k, v in vars(schema_fb.TensorType).items() if k.isupper()}


@dataclass
class Case:
    name: str
    op: str
    inputs: list  # float input shapes of the tf.function
    make: object  # make(rng) -> fn(*inputs) -> output tensor or tuple of them
    params: dict = field(default_factory=dict)
    lo: float = -1.0  # representative-data range
    hi: float = 1.0
    mode: str = "int8"  # or "16x8"
    float_in: bool = False  # inference_input_type float32 (the model starts with QUANTIZE)
    float_out: bool = False  # inference_output_type float32 (the model ends with DEQUANTIZE)
    batch_none: bool = False  # the tf.function's batch dimension is None (not fixed), as Keras models have
    saved_model: bool = False  # convert through a SavedModel (tf.Module), keeping function attributes (LSTM)


CASES = []


# The modes of cases that name none: int8, or both where a section says so (the byte movers run on
# int16 tensors too).
DEFAULT_MODES = ("int8",)


def case(name, op, inputs, make, params=None, modes=None, **kw):
    for mode in modes or DEFAULT_MODES:
        CASES.append(Case(name if mode == "int8" else f"{name}_16x8", op, inputs, make,
                          dict(params or {}), mode=mode, **kw))


def weights(rng, shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def act(y, a):
    if a == "relu":
        return tf.nn.relu(y)
    if a == "relu6":
        return tf.nn.relu6(y)
    return y


# ---------------------------------------------------------------------------
# The cases. Shapes are NHWC with batch 1; keep every tensor to a few thousand elements.

BOTH = ("int8", "16x8")

# CONV_2D
def conv_case(name, shape, cout, k, stride, padding, a=None, dilation=1, bias=True, groups=1, modes=("int8",)):
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    cin = shape[-1]

    def make(rng):
        w = weights(rng, (kh, kw, cin // groups, cout), 1.0 / np.sqrt(kh * kw * cin / groups))
        b = weights(rng, (cout,), 0.2)

        def f(x):
            y = tf.nn.conv2d(x, w, [1, sh, sw, 1], padding, dilations=dilation)
            if bias:
                y = tf.nn.bias_add(y, b)
            return act(y, a)
        return f
    case(name, "CONV_2D", [shape], make, dict(input=shape, out_channels=cout, kernel=[kh, kw], stride=[sh, sw],
                                              padding=padding, activation=a, dilation=dilation, bias=bias,
                                              groups=groups), modes=modes)


conv_case("conv_1x1", [1, 6, 6, 8], 16, 1, 1, "VALID", modes=BOTH)
conv_case("conv_1x1_relu6", [1, 5, 5, 12], 8, 1, 1, "SAME", "relu6")
conv_case("conv_3x3_s1_same_relu", [1, 8, 8, 4], 8, 3, 1, "SAME", "relu", modes=BOTH)
conv_case("conv_3x3_s1_valid", [1, 8, 8, 4], 8, 3, 1, "VALID")
conv_case("conv_3x3_s2_same_relu6", [1, 9, 9, 3], 8, 3, 2, "SAME", "relu6")
conv_case("conv_3x3_s2_same_even", [1, 8, 8, 3], 6, 3, 2, "SAME")
conv_case("conv_3x3_s2_valid_relu", [1, 9, 9, 4], 6, 3, 2, "VALID", "relu")
conv_case("conv_5x5_s1_same", [1, 7, 7, 2], 4, 5, 1, "SAME")
conv_case("conv_3x3_dilation2", [1, 9, 9, 4], 4, 3, 1, "SAME", dilation=2)
conv_case("conv_1x3_s1x2_same", [1, 6, 8, 4], 6, (1, 3), (1, 2), "SAME")
conv_case("conv_3x3_no_bias", [1, 6, 6, 4], 4, 3, 1, "SAME", bias=False)
conv_case("conv_3x3_grouped2", [1, 6, 6, 8], 8, 3, 1, "SAME", groups=2)
conv_case("conv_2x2_s2_same", [1, 7, 7, 4], 8, 2, 2, "SAME")
conv_case("conv_4x4_s1_same_relu", [1, 6, 6, 3], 4, 4, 1, "SAME", "relu")
conv_case("conv_1x1_s2", [1, 8, 8, 6], 8, 1, 2, "VALID")
conv_case("conv_3x3_wide", [1, 4, 4, 32], 48, 3, 1, "SAME", "relu6")


# DEPTHWISE_CONV_2D
def dw_case(name, shape, mult, k, stride, padding, a=None, dilation=1, modes=("int8",)):
    cin = shape[-1]

    def make(rng):
        w = weights(rng, (k, k, cin, mult), 1.0 / k)
        b = weights(rng, (cin * mult,), 0.2)

        def f(x):
            y = tf.nn.depthwise_conv2d(x, w, [1, stride, stride, 1], padding, dilations=[dilation, dilation])
            return act(tf.nn.bias_add(y, b), a)
        return f
    case(name, "DEPTHWISE_CONV_2D", [shape], make, dict(input=shape, multiplier=mult, kernel=k, stride=stride,
                                                        padding=padding, activation=a, dilation=dilation),
         modes=modes)


dw_case("dw_3x3_m1_same_relu", [1, 8, 8, 8], 1, 3, 1, "SAME", "relu", modes=BOTH)
dw_case("dw_3x3_m1_s2_valid", [1, 9, 9, 6], 1, 3, 2, "VALID")
dw_case("dw_3x3_m1_s2_same_relu6", [1, 8, 8, 4], 1, 3, 2, "SAME", "relu6")
dw_case("dw_3x3_m2_same", [1, 6, 6, 4], 2, 3, 1, "SAME", modes=BOTH)
dw_case("dw_3x3_m2_s2_valid_relu", [1, 7, 7, 3], 2, 3, 2, "VALID", "relu")
dw_case("dw_5x5_m1_same", [1, 7, 7, 4], 1, 5, 1, "SAME")
dw_case("dw_3x3_m1_dilation2", [1, 9, 9, 4], 1, 3, 1, "SAME", dilation=2)
dw_case("dw_3x3_m4_s2_same", [1, 6, 6, 2], 4, 3, 2, "SAME")
dw_case("dw_2x2_s2_same", [1, 7, 7, 4], 1, 2, 2, "SAME")


# FULLY_CONNECTED
def fc_case(name, shape, units, a=None, bias=True, flatten=False, modes=("int8",)):
    def make(rng):
        k = int(np.prod(shape[1:])) if flatten else shape[-1]
        w = weights(rng, (k, units), 1.0 / np.sqrt(k))
        b = weights(rng, (units,), 0.2)

        def f(x):
            if flatten:
                x = tf.reshape(x, [shape[0], -1])
            if len(shape) == 2 or flatten:
                y = tf.matmul(x, w)
            else:
                y = tf.tensordot(x, w, axes=[[len(shape) - 1], [0]])
            if bias:
                y = y + b
            return act(y, a)
        return f
    case(name, "FULLY_CONNECTED", [shape], make, dict(input=shape, units=units, activation=a, bias=bias,
                                                      flatten=flatten), modes=modes)


fc_case("fc_32_10", [1, 32], 10, modes=BOTH)
fc_case("fc_64_16_relu", [1, 64], 16, "relu", modes=BOTH)
fc_case("fc_48_12_relu6", [1, 48], 12, "relu6")
fc_case("fc_no_bias", [1, 24], 8, bias=False)
fc_case("fc_flatten_4d", [1, 4, 4, 4], 10, flatten=True)
fc_case("fc_rows3", [1, 3, 16], 8)
fc_case("fc_batch2", [2, 20], 6)
fc_case("fc_256_4", [1, 256], 4, modes=BOTH)

# ADD, MUL, SUB, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM
BINARY = {
    "ADD": lambda a, b: a + b,
    "MUL": lambda a, b: a * b,
    "SUB": lambda a, b: a - b,
    "SQUARED_DIFFERENCE": lambda a, b: tf.math.squared_difference(a, b),
    "MAXIMUM": lambda a, b: tf.maximum(a, b),
    "MINIMUM": lambda a, b: tf.minimum(a, b),
}


def binary_2in(name, op, sa, sb, a=None, modes=("int8",)):
    fn = BINARY[op]
    case(name, op, [sa, sb], lambda rng: (lambda x, y: act(fn(x, y), a)),
         dict(a=sa, b=sb, activation=a, operands="two inputs"), modes=modes)


def binary_const(name, op, sa, sb, a=None, modes=("int8",)):
    fn = BINARY[op]

    def make(rng):
        c = weights(rng, sb, 0.5) if sb else np.float32(0.25)
        return lambda x: act(fn(x, c), a)
    case(name, op, [sa], make, dict(a=sa, b=sb, activation=a, operands="input and constant"), modes=modes)


def binary_self(name, op, s, modes=("int8",)):
    fn = BINARY[op]
    case(name, op, [s], lambda rng: (lambda x: fn(x, x)), dict(a=s, operands="the input twice"), modes=modes)


binary_2in("add_2in", "ADD", [1, 4, 4, 8], [1, 4, 4, 8], modes=BOTH)
binary_2in("add_2in_relu", "ADD", [1, 4, 4, 8], [1, 4, 4, 8], "relu")
binary_2in("add_2in_bcast_c", "ADD", [1, 4, 4, 8], [1, 1, 1, 8])
binary_2in("add_2in_bcast_hw", "ADD", [1, 4, 1, 6], [1, 1, 5, 6])
binary_self("add_self", "ADD", [1, 5, 5, 8], modes=BOTH)
binary_const("add_const_c", "ADD", [1, 4, 4, 8], [8])
binary_const("add_const_scalar", "ADD", [1, 4, 4, 8], None)


def add_residual(name, shape, a=None):
    def make(rng):
        c = shape[-1]
        w = weights(rng, (1, 1, c, c), 1.0 / np.sqrt(c))
        b = weights(rng, (c,), 0.2)
        return lambda x: act(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), b) + x, a)
    case(name, "ADD", [shape], make, dict(input=shape, activation=a, operands="1x1 conv of the input, and the input"))


add_residual("add_residual", [1, 6, 6, 8])
add_residual("add_residual_relu", [1, 6, 6, 8], "relu")

binary_2in("mul_2in", "MUL", [1, 4, 4, 8], [1, 4, 4, 8], modes=BOTH)
binary_2in("mul_2in_bcast_c", "MUL", [1, 4, 4, 8], [1, 1, 1, 8])
binary_self("mul_self", "MUL", [1, 4, 4, 8])
binary_const("mul_const_c", "MUL", [1, 4, 4, 8], [8], modes=BOTH)
binary_const("mul_const_scalar", "MUL", [1, 4, 4, 8], None)

binary_2in("sub_2in", "SUB", [1, 4, 4, 8], [1, 4, 4, 8])
binary_2in("sub_2in_bcast_c", "SUB", [1, 4, 4, 8], [1, 1, 1, 8])
binary_const("sub_const_c", "SUB", [1, 4, 4, 8], [8])

binary_2in("squared_difference_2in", "SQUARED_DIFFERENCE", [1, 4, 4, 8], [1, 4, 4, 8])
binary_2in("squared_difference_2in_bcast", "SQUARED_DIFFERENCE", [1, 4, 4, 8], [1, 1, 1, 8])
binary_const("squared_difference_const_c", "SQUARED_DIFFERENCE", [1, 4, 4, 8], [8])

binary_2in("maximum_2in", "MAXIMUM", [1, 4, 4, 8], [1, 4, 4, 8])
binary_2in("maximum_2in_bcast", "MAXIMUM", [1, 4, 4, 8], [1, 1, 1, 8])
binary_const("maximum_const_scalar", "MAXIMUM", [1, 4, 4, 8], None)
binary_2in("minimum_2in", "MINIMUM", [1, 4, 4, 8], [1, 4, 4, 8])
binary_2in("minimum_2in_bcast", "MINIMUM", [1, 4, 4, 8], [1, 1, 1, 8])
binary_const("minimum_const_scalar", "MINIMUM", [1, 4, 4, 8], None)


# AVERAGE_POOL_2D, MAX_POOL_2D
def pool_case(name, op, shape, k, stride, padding):
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    fn = tf.nn.avg_pool2d if op == "AVERAGE_POOL_2D" else tf.nn.max_pool2d
    case(name, op, [shape], lambda rng: (lambda x: fn(x, [kh, kw], [sh, sw], padding)),
         dict(input=shape, kernel=[kh, kw], stride=[sh, sw], padding=padding), modes=BOTH)


for prefix, op in (("avgpool", "AVERAGE_POOL_2D"), ("maxpool", "MAX_POOL_2D")):
    pool_case(f"{prefix}_2x2_s2_valid", op, [1, 8, 8, 8], 2, 2, "VALID")
    pool_case(f"{prefix}_3x3_s1_same", op, [1, 6, 6, 4], 3, 1, "SAME")
    pool_case(f"{prefix}_3x3_s2_same", op, [1, 7, 7, 4], 3, 2, "SAME")
    pool_case(f"{prefix}_2x3_s1x2_valid", op, [1, 6, 7, 3], (2, 3), (1, 2), "VALID")
    pool_case(f"{prefix}_global", op, [1, 4, 4, 16], 4, 4, "VALID")
    pool_case(f"{prefix}_2x2_s1_same", op, [1, 5, 5, 4], 2, 1, "SAME")

# SOFTMAX, LOG_SOFTMAX
case("softmax_10", "SOFTMAX", [[1, 10]], lambda rng: tf.nn.softmax, dict(input=[1, 10]), lo=-4, hi=4, modes=BOTH)
case("softmax_4d", "SOFTMAX", [[1, 3, 3, 8]], lambda rng: tf.nn.softmax, dict(input=[1, 3, 3, 8]), lo=-4, hi=4)
case("softmax_wide_range", "SOFTMAX", [[1, 16]], lambda rng: tf.nn.softmax, dict(input=[1, 16]), lo=-16, hi=16)
case("softmax_after_mul2", "SOFTMAX", [[1, 12]], lambda rng: (lambda x: tf.nn.softmax(2.0 * x)),
     dict(input=[1, 12], scaled_by=2.0), lo=-3, hi=3)
case("softmax_100", "SOFTMAX", [[1, 100]], lambda rng: tf.nn.softmax, dict(input=[1, 100]), lo=-6, hi=6)
case("log_softmax_10", "LOG_SOFTMAX", [[1, 10]], lambda rng: tf.nn.log_softmax, dict(input=[1, 10]), lo=-4, hi=4)
case("log_softmax_4d", "LOG_SOFTMAX", [[1, 2, 2, 8]], lambda rng: tf.nn.log_softmax, dict(input=[1, 2, 2, 8]),
     lo=-8, hi=8)

# RESHAPE, SQUEEZE, EXPAND_DIMS
for name, shape, to in (("reshape_4d_to_2d", [1, 4, 4, 4], [1, 64]),
                        ("reshape_4d_to_3d", [1, 2, 3, 4], [1, 6, 4]),
                        ("reshape_2d_to_4d", [1, 48], [1, 4, 3, 4])):
    case(name, "RESHAPE", [shape], lambda rng, to=to: (lambda x: tf.reshape(x, to)), dict(input=shape, to=to),
         modes=BOTH)
case("squeeze_axis1", "SQUEEZE", [[1, 1, 4, 8]], lambda rng: (lambda x: tf.squeeze(x, [1])),
     dict(input=[1, 1, 4, 8], axis=[1]), modes=BOTH)
case("squeeze_axes12", "SQUEEZE", [[1, 1, 1, 10]], lambda rng: (lambda x: tf.squeeze(x, [1, 2])),
     dict(input=[1, 1, 1, 10], axis=[1, 2]))
case("expand_dims_axis1", "EXPAND_DIMS", [[1, 4, 8]], lambda rng: (lambda x: tf.expand_dims(x, 1)),
     dict(input=[1, 4, 8], axis=1), modes=BOTH)
case("expand_dims_last", "EXPAND_DIMS", [[1, 4, 8]], lambda rng: (lambda x: tf.expand_dims(x, -1)),
     dict(input=[1, 4, 8], axis=-1))

# The byte movers, CONCATENATION to UNPACK: int8 and 16x8.
DEFAULT_MODES = BOTH

# CONCATENATION
case("concat_2in_channels", "CONCATENATION", [[1, 4, 4, 3], [1, 4, 4, 5]],
     lambda rng: (lambda a, b: tf.concat([a, b], -1)), dict(a=[1, 4, 4, 3], b=[1, 4, 4, 5], axis=-1))
case("concat_2in_height", "CONCATENATION", [[1, 2, 4, 4], [1, 3, 4, 4]],
     lambda rng: (lambda a, b: tf.concat([a, b], 1)), dict(a=[1, 2, 4, 4], b=[1, 3, 4, 4], axis=1))
case("concat_2in_width", "CONCATENATION", [[1, 4, 2, 4], [1, 4, 3, 4]],
     lambda rng: (lambda a, b: tf.concat([a, b], 2)), dict(a=[1, 4, 2, 4], b=[1, 4, 3, 4], axis=2))
case("concat_3in_channels", "CONCATENATION", [[1, 3, 3, 2], [1, 3, 3, 4], [1, 3, 3, 3]],
     lambda rng: (lambda a, b, c: tf.concat([a, b, c], -1)), dict(inputs=[[1, 3, 3, 2], [1, 3, 3, 4], [1, 3, 3, 3]],
                                                                  axis=-1))
case("concat_self_channels", "CONCATENATION", [[1, 4, 4, 4]],
     lambda rng: (lambda a: tf.concat([a, a], -1)), dict(input=[1, 4, 4, 4], axis=-1))
case("concat_2in_2d", "CONCATENATION", [[1, 6], [1, 10]],
     lambda rng: (lambda a, b: tf.concat([a, b], -1)), dict(a=[1, 6], b=[1, 10], axis=-1))

# PAD, PADV2, MIRROR_PAD
case("pad_hw", "PAD", [[1, 4, 4, 3]], lambda rng: (lambda x: tf.pad(x, [[0, 0], [1, 1], [2, 1], [0, 0]])),
     dict(input=[1, 4, 4, 3], paddings=[[0, 0], [1, 1], [2, 1], [0, 0]]))
case("pad_channels", "PAD", [[1, 3, 3, 4]], lambda rng: (lambda x: tf.pad(x, [[0, 0], [0, 0], [0, 0], [2, 2]])),
     dict(input=[1, 3, 3, 4], paddings=[[0, 0], [0, 0], [0, 0], [2, 2]]))
case("padv2_hw", "PADV2", [[1, 4, 4, 3]],
     lambda rng: (lambda x: tf.pad(x, [[0, 0], [1, 2], [1, 0], [0, 0]], constant_values=0.5)),
     dict(input=[1, 4, 4, 3], paddings=[[0, 0], [1, 2], [1, 0], [0, 0]], value=0.5))
case("padv2_negative_value", "PADV2", [[1, 3, 3, 4]],
     lambda rng: (lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-0.75)),
     dict(input=[1, 3, 3, 4], paddings=[[0, 0], [1, 1], [1, 1], [0, 0]], value=-0.75))
case("mirror_pad_reflect", "MIRROR_PAD", [[1, 4, 4, 3]],
     lambda rng: (lambda x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT")),
     dict(input=[1, 4, 4, 3], paddings=[[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT"))
case("mirror_pad_symmetric", "MIRROR_PAD", [[1, 4, 4, 3]],
     lambda rng: (lambda x: tf.pad(x, [[0, 0], [2, 2], [1, 1], [0, 0]], mode="SYMMETRIC")),
     dict(input=[1, 4, 4, 3], paddings=[[0, 0], [2, 2], [1, 1], [0, 0]], mode="SYMMETRIC"))

# MEAN, SUM, REDUCE_MAX
for op, fn, prefix in (("MEAN", tf.reduce_mean, "mean"), ("SUM", tf.reduce_sum, "sum"),
                       ("REDUCE_MAX", tf.reduce_max, "reduce_max")):
    for suffix, axes, keep in (("hw_keepdims", [1, 2], True), ("hw", [1, 2], False), ("channels", [-1], True),
                               ("height", [1], False)):
        if op != "MEAN" and suffix == "height":
            continue
        # MEAN and SUM in the 16x8 mode too (TFLM's QuantizedMeanOrSum<int16_t>).
        case(f"{prefix}_{suffix}", op, [[1, 4, 4, 8]],
             lambda rng, fn=fn, axes=axes, keep=keep: (lambda x: fn(x, axes, keepdims=keep)),
             dict(input=[1, 4, 4, 8], axis=axes, keepdims=keep),
             modes=("int8",) if op == "REDUCE_MAX" else BOTH)

# TRANSPOSE
for name, shape, perm in (("transpose_nhwc_nchw", [1, 3, 4, 5], [0, 3, 1, 2]),
                          ("transpose_hw", [1, 3, 4, 5], [0, 2, 1, 3]),
                          ("transpose_3d", [1, 6, 7], [0, 2, 1])):
    case(name, "TRANSPOSE", [shape], lambda rng, perm=perm: (lambda x: tf.transpose(x, perm)),
         dict(input=shape, perm=perm))

# STRIDED_SLICE, SLICE
case("strided_slice_hw", "STRIDED_SLICE", [[1, 6, 6, 4]], lambda rng: (lambda x: x[:, 1:5, ::2, :]),
     dict(input=[1, 6, 6, 4], slice="[:, 1:5, ::2, :]"))
case("strided_slice_shrink", "STRIDED_SLICE", [[1, 4, 5, 6]], lambda rng: (lambda x: x[:, 2, :, 1:5]),
     dict(input=[1, 4, 5, 6], slice="[:, 2, :, 1:5]"))
case("strided_slice_reverse", "STRIDED_SLICE", [[1, 5, 4, 3]], lambda rng: (lambda x: x[:, ::-1, 1:, :]),
     dict(input=[1, 5, 4, 3], slice="[:, ::-1, 1:, :]"))
case("slice_hw", "SLICE", [[1, 6, 6, 4]], lambda rng: (lambda x: tf.slice(x, [0, 1, 2, 0], [1, 3, 4, 4])),
     dict(input=[1, 6, 6, 4], begin=[0, 1, 2, 0], size=[1, 3, 4, 4]))
case("slice_channels", "SLICE", [[1, 4, 4, 8]], lambda rng: (lambda x: tf.slice(x, [0, 0, 0, 2], [-1, -1, -1, 5])),
     dict(input=[1, 4, 4, 8], begin=[0, 0, 0, 2], size=[-1, -1, -1, 5]))

# SPLIT, SPLIT_V, PACK, UNPACK (multi-output ops: as the graph's outputs, and combined into one)
case("split_channels_2out", "SPLIT", [[1, 4, 4, 8]], lambda rng: (lambda x: tuple(tf.split(x, 2, axis=-1))),
     dict(input=[1, 4, 4, 8], num=2, axis=-1, outputs="graph outputs"))
case("split_height_3out", "SPLIT", [[1, 6, 4, 3]], lambda rng: (lambda x: tuple(tf.split(x, 3, axis=1))),
     dict(input=[1, 6, 4, 3], num=3, axis=1, outputs="graph outputs"))
case("split_channels_max", "SPLIT", [[1, 4, 4, 8]],
     lambda rng: (lambda x: tf.maximum(*tf.split(x, 2, axis=-1))),
     dict(input=[1, 4, 4, 8], num=2, axis=-1, outputs="MAXIMUM of the parts"))
case("split_v_channels_2out", "SPLIT_V", [[1, 4, 4, 8]],
     lambda rng: (lambda x: tuple(tf.split(x, [3, 5], axis=-1))),
     dict(input=[1, 4, 4, 8], sizes=[3, 5], axis=-1, outputs="graph outputs"))
case("split_v_height_concat", "SPLIT_V", [[1, 5, 4, 3]],
     lambda rng: (lambda x: tf.concat(tf.split(x, [2, 3], axis=1)[::-1], 1)),
     dict(input=[1, 5, 4, 3], sizes=[2, 3], axis=1, outputs="CONCATENATION of the parts, reversed"))
case("pack_2in_axis1", "PACK", [[1, 4, 6], [1, 4, 6]], lambda rng: (lambda a, b: tf.stack([a, b], axis=1)),
     dict(inputs=[[1, 4, 6], [1, 4, 6]], axis=1))
case("pack_self_last", "PACK", [[1, 3, 5]], lambda rng: (lambda a: tf.stack([a, a], axis=-1)),
     dict(input=[1, 3, 5], axis=-1, operands="the input twice"))
case("unpack_axis1_3out", "UNPACK", [[1, 3, 4, 5]], lambda rng: (lambda x: tuple(tf.unstack(x, axis=1))),
     dict(input=[1, 3, 4, 5], axis=1, outputs="graph outputs"))
case("unpack_last_max", "UNPACK", [[1, 4, 6, 2]], lambda rng: (lambda x: tf.maximum(*tf.unstack(x, axis=-1))),
     dict(input=[1, 4, 6, 2], axis=-1, outputs="MAXIMUM of the parts"))

DEFAULT_MODES = ("int8",)

# QUANTIZE (float input), DEQUANTIZE (float output)
case("quantize_float_in_avgpool", "QUANTIZE", [[1, 4, 4, 4]],
     lambda rng: (lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID")), dict(input=[1, 4, 4, 4], then="AVERAGE_POOL_2D"),
     float_in=True)
case("quantize_float_in_fc", "QUANTIZE", [[1, 16]],
     lambda rng: (lambda w: (lambda x: tf.matmul(x, w)))(weights(rng, (16, 4), 0.25)),
     dict(input=[1, 16], then="FULLY_CONNECTED"), float_in=True)
case("dequantize_float_out_avgpool", "DEQUANTIZE", [[1, 4, 4, 4]],
     lambda rng: (lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID")), dict(input=[1, 4, 4, 4], before="AVERAGE_POOL_2D"),
     float_out=True)
case("dequantize_float_out_fc", "DEQUANTIZE", [[1, 16]],
     lambda rng: (lambda w: (lambda x: tf.matmul(x, w)))(weights(rng, (16, 4), 0.25)),
     dict(input=[1, 16], before="FULLY_CONNECTED"), float_out=True)

# Activations
UNARY = [
    ("logistic", "LOGISTIC", tf.math.sigmoid, -6, 6, BOTH),
    ("logistic_narrow", "LOGISTIC", tf.math.sigmoid, -1, 1, ("int8",)),
    ("tanh", "TANH", tf.math.tanh, -3, 3, BOTH),
    ("tanh_wide", "TANH", tf.math.tanh, -8, 8, ("int8",)),
    ("hard_swish", "HARD_SWISH", lambda x: x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0), -5, 5, ("int8",)),
    ("hard_swish_narrow", "HARD_SWISH", lambda x: x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0), -2, 2, ("int8",)),
    ("relu", "RELU", tf.nn.relu, -2, 2, BOTH),
    ("relu_asym", "RELU", tf.nn.relu, -1, 3, BOTH),
    ("relu6", "RELU6", tf.nn.relu6, -4, 8, BOTH),
    ("relu6_narrow", "RELU6", tf.nn.relu6, -1, 4, BOTH),
    ("leaky_relu_0p2", "LEAKY_RELU", lambda x: tf.nn.leaky_relu(x, 0.2), -2, 2, BOTH),
    ("leaky_relu_0p01", "LEAKY_RELU", lambda x: tf.nn.leaky_relu(x, 0.01), -3, 1, BOTH),
    ("elu", "ELU", tf.nn.elu, -3, 3, ("int8",)),
    ("elu_narrow", "ELU", tf.nn.elu, -1, 2, ("int8",)),
]
for name, op, fn, lo, hi, modes in UNARY:
    case(name, op, [[1, 4, 4, 8]], lambda rng, fn=fn: fn, dict(input=[1, 4, 4, 8], range=[lo, hi]),
         lo=lo, hi=hi, modes=modes)


def prelu_case(name, shape, per_channel):
    def make(rng):
        # Keras's PReLU form, with alpha a variable of rank 3: the converter's PRELU pattern (with a
        # constant alpha, or a rank-1 one, it leaves NEG, RELU, MUL, ADD).
        alpha = rng.uniform(0.05, 0.5, size=[1, 1, shape[-1] if per_channel else 1]).astype(np.float32)
        a = tf.Variable(alpha)
        return lambda x: tf.nn.relu(x) + (-a) * tf.nn.relu(-x)
    case(name, "PRELU", [shape], make, dict(input=shape, per_channel_alpha=per_channel), lo=-2, hi=2)


prelu_case("prelu_per_channel", [1, 4, 4, 8], True)
prelu_case("prelu_shared", [1, 4, 4, 8], False)

case("l2_normalization_channels", "L2_NORMALIZATION", [[1, 3, 3, 8]],
     lambda rng: (lambda x: tf.math.l2_normalize(x, axis=-1)), dict(input=[1, 3, 3, 8], axis=-1))
case("l2_normalization_2d", "L2_NORMALIZATION", [[1, 16]],
     lambda rng: (lambda x: tf.math.l2_normalize(x, axis=-1)), dict(input=[1, 16], axis=-1), lo=-3, hi=3)


# RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR: int8 and 16x8.
DEFAULT_MODES = BOTH
def resize_case(name, op, shape, size, align_corners, half_pixel):
    raw = tf.raw_ops.ResizeNearestNeighbor if op == "RESIZE_NEAREST_NEIGHBOR" else tf.raw_ops.ResizeBilinear
    case(name, op, [shape],
         lambda rng: (lambda x: raw(images=x, size=size, align_corners=align_corners, half_pixel_centers=half_pixel)),
         dict(input=shape, size=size, align_corners=align_corners, half_pixel_centers=half_pixel))


resize_case("resize_nearest_x2", "RESIZE_NEAREST_NEIGHBOR", [1, 4, 4, 3], [8, 8], False, False)
resize_case("resize_nearest_half_pixel", "RESIZE_NEAREST_NEIGHBOR", [1, 3, 5, 4], [7, 9], False, True)
resize_case("resize_nearest_align_corners", "RESIZE_NEAREST_NEIGHBOR", [1, 4, 4, 2], [7, 7], True, False)
resize_case("resize_bilinear_x2", "RESIZE_BILINEAR", [1, 4, 4, 3], [8, 8], False, False)
resize_case("resize_bilinear_half_pixel", "RESIZE_BILINEAR", [1, 3, 5, 4], [7, 9], False, True)
resize_case("resize_bilinear_align_corners", "RESIZE_BILINEAR", [1, 4, 4, 2], [7, 7], True, False)
resize_case("resize_bilinear_down", "RESIZE_BILINEAR", [1, 8, 8, 2], [5, 3], False, True)


DEFAULT_MODES = ("int8",)

# TRANSPOSE_CONV
def tconv_case(name, shape, cout, k, stride, padding, bias):
    n, h, w, cin = shape
    oh = h * stride if padding == "SAME" else (h - 1) * stride + k
    ow = w * stride if padding == "SAME" else (w - 1) * stride + k

    def make(rng):
        wt = weights(rng, (k, k, cout, cin), 1.0 / np.sqrt(k * k * cin))
        b = weights(rng, (cout,), 0.2)

        def f(x):
            y = tf.nn.conv2d_transpose(x, wt, [n, oh, ow, cout], stride, padding)
            return tf.nn.bias_add(y, b) if bias else y
        return f
    case(name, "TRANSPOSE_CONV", [shape], make, dict(input=shape, out_channels=cout, kernel=k, stride=stride,
                                                     padding=padding, bias=bias))


tconv_case("transpose_conv_3x3_s2_same", [1, 4, 4, 4], 6, 3, 2, "SAME", True)
tconv_case("transpose_conv_2x2_s2_valid", [1, 3, 3, 5], 4, 2, 2, "VALID", False)
tconv_case("transpose_conv_3x3_s1_same", [1, 5, 5, 3], 4, 3, 1, "SAME", True)

# SPACE_TO_DEPTH, DEPTH_TO_SPACE: int8 and 16x8.
DEFAULT_MODES = BOTH
case("space_to_depth_2", "SPACE_TO_DEPTH", [[1, 4, 6, 3]], lambda rng: (lambda x: tf.nn.space_to_depth(x, 2)),
     dict(input=[1, 4, 6, 3], block=2))
case("space_to_depth_3", "SPACE_TO_DEPTH", [[1, 6, 6, 2]], lambda rng: (lambda x: tf.nn.space_to_depth(x, 3)),
     dict(input=[1, 6, 6, 2], block=3))
case("depth_to_space_2", "DEPTH_TO_SPACE", [[1, 3, 4, 8]], lambda rng: (lambda x: tf.nn.depth_to_space(x, 2)),
     dict(input=[1, 3, 4, 8], block=2))
case("depth_to_space_3", "DEPTH_TO_SPACE", [[1, 2, 2, 18]], lambda rng: (lambda x: tf.nn.depth_to_space(x, 3)),
     dict(input=[1, 2, 2, 18], block=3))

DEFAULT_MODES = ("int8",)

# ARG_MAX, ARG_MIN (int32 output)
for op, fn, prefix in (("ARG_MAX", tf.math.argmax, "arg_max"), ("ARG_MIN", tf.math.argmin, "arg_min")):
    case(f"{prefix}_2d", op, [[1, 10]], lambda rng, fn=fn: (lambda x: fn(x, axis=-1, output_type=tf.int32)),
         dict(input=[1, 10], axis=-1, output_type="int32"))
    case(f"{prefix}_4d_channels", op, [[1, 3, 3, 8]],
         lambda rng, fn=fn: (lambda x: fn(x, axis=-1, output_type=tf.int32)),
         dict(input=[1, 3, 3, 8], axis=-1, output_type="int32"))
    case(f"{prefix}_4d_height", op, [[1, 5, 3, 4]],
         lambda rng, fn=fn: (lambda x: fn(x, axis=1, output_type=tf.int32)),
         dict(input=[1, 5, 3, 4], axis=1, output_type="int32"))

# BATCH_MATMUL
case("batch_matmul_2in", "BATCH_MATMUL", [[1, 4, 8], [1, 8, 6]], lambda rng: (lambda a, b: tf.matmul(a, b)),
     dict(a=[1, 4, 8], b=[1, 8, 6]))
case("batch_matmul_2in_adj_y", "BATCH_MATMUL", [[1, 4, 8], [1, 5, 8]],
     lambda rng: (lambda a, b: tf.matmul(a, b, transpose_b=True)), dict(a=[1, 4, 8], b=[1, 5, 8], adj_y=True))
case("batch_matmul_2in_batch2", "BATCH_MATMUL", [[2, 3, 4], [2, 4, 5]],
     lambda rng: (lambda a, b: tf.matmul(a, b)), dict(a=[2, 3, 4], b=[2, 4, 5]))
case("batch_matmul_self_gram", "BATCH_MATMUL", [[1, 5, 6]],
     lambda rng: (lambda a: tf.matmul(a, a, transpose_b=True)), dict(a=[1, 5, 6], b="the input, transposed"))



# Small blocks of the supported ops, as real networks chain them: the converter fuses these
# into blocks that run row by row, so they check the fused plans too.
def block_case(name, op, shape, build, params):
    def make(rng):
        def conv(x, k, cout, stride=1, a=None):
            cin = int(x.shape[-1])
            w = weights(rng, (k, k, cin, cout), 1.0 / np.sqrt(k * k * cin))
            return act(tf.nn.bias_add(tf.nn.conv2d(x, w, stride, "SAME"), weights(rng, (cout,), 0.2)), a)

        def dw(x, k, stride=1, a=None):
            cin = int(x.shape[-1])
            w = weights(rng, (k, k, cin, 1), 1.0 / k)
            y = tf.nn.depthwise_conv2d(x, w, [1, stride, stride, 1], "SAME")
            return act(tf.nn.bias_add(y, weights(rng, (cin,), 0.2)), a)

        def fc(x, units):
            k = int(x.shape[-1])
            return tf.matmul(x, weights(rng, (k, units), 1.0 / np.sqrt(k))) + weights(rng, (units,), 0.2)
        return lambda x: build(x, conv, dw, fc)
    case(name, op, [shape], make, dict(input=shape, **params), lo=-2, hi=2)


block_case("block_dw_pw", "DEPTHWISE_CONV_2D", [1, 8, 8, 8],
           lambda x, conv, dw, fc: conv(dw(x, 3, 1, "relu"), 1, 16, 1, "relu6"),
           dict(block="depthwise 3x3 relu, then 1x1 conv relu6"))
block_case("block_inverted_residual", "ADD", [1, 6, 6, 8],
           lambda x, conv, dw, fc: conv(dw(conv(x, 1, 24, 1, "relu6"), 3, 1, "relu6"), 1, 8) + x,
           dict(block="1x1 expand relu6, depthwise 3x3 relu6, 1x1 project, add the input"))
block_case("block_resnet", "ADD", [1, 6, 6, 8],
           lambda x, conv, dw, fc: tf.nn.relu(conv(conv(x, 3, 8, 1, "relu"), 3, 8) + x),
           dict(block="3x3 conv relu, 3x3 conv, add the input, relu"))
block_case("block_classifier", "SOFTMAX", [1, 8, 8, 3],
           lambda x, conv, dw, fc: tf.nn.softmax(fc(tf.reshape(
               tf.nn.avg_pool2d(conv(conv(x, 3, 8, 2, "relu"), 3, 16, 2, "relu"), 2, 2, "VALID"), [1, -1]), 10)),
           dict(block="3x3 conv s2 relu twice, 2x2 average pool, reshape, fully connected, softmax"))


# SHAPE: Keras layers whose batch is not fixed compute the new shape from the input's at run time
# (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE); AttoNet folds that arithmetic to constants.
def keras_batch_none_case(name, shape, build, params):
    def make(rng):
        layers = build(rng)

        def f(x):
            for layer in layers:
                x = layer(x)
            return x
        return f
    case(name, "SHAPE", [shape], make, dict(input=shape, batch="None", **params), lo=-2, hi=2, batch_none=True)


def keras_conv(rng, cin, cout, stride=1):
    layer = tf.keras.layers.Conv2D(cout, 3, strides=stride, padding="same", activation="relu")
    layer.build((None, None, None, cin))
    layer.set_weights([weights(rng, (3, 3, cin, cout), 1.0 / np.sqrt(9 * cin)), weights(rng, (cout,), 0.2)])
    return layer


def keras_dense(rng, k, units):
    layer = tf.keras.layers.Dense(units)
    layer.build((None, k))
    layer.set_weights([weights(rng, (k, units), 1.0 / np.sqrt(k)), weights(rng, (units,), 0.2)])
    return layer


keras_batch_none_case("shape_keras_flatten", [1, 8, 8, 3],
                      lambda rng: [keras_conv(rng, 3, 8, 2), tf.keras.layers.Flatten(), keras_dense(rng, 128, 10)],
                      dict(layers="Conv2D 3x3 s2 relu, Flatten, Dense 10"))
keras_batch_none_case("shape_keras_reshape", [1, 8, 8, 3],
                      lambda rng: [keras_conv(rng, 3, 8, 2), tf.keras.layers.Reshape((16, 8)),
                                   tf.keras.layers.Flatten(), keras_dense(rng, 128, 10)],
                      dict(layers="Conv2D 3x3 s2 relu, Reshape (16, 8), Flatten, Dense 10"))
keras_batch_none_case("shape_keras_reshape_out", [1, 6, 6, 4],
                      lambda rng: [keras_conv(rng, 4, 8), tf.keras.layers.Reshape((-1, 24))],
                      dict(layers="Conv2D 3x3 relu, Reshape (-1, 24) as the output"))
keras_batch_none_case("shape_keras_pool_flatten", [1, 8, 8, 4],
                      lambda rng: [keras_conv(rng, 4, 8), tf.keras.layers.AveragePooling2D(2),
                                   tf.keras.layers.Flatten(), keras_dense(rng, 128, 6), tf.keras.layers.Softmax()],
                      dict(layers="Conv2D 3x3 relu, AveragePooling2D 2, Flatten, Dense 6, Softmax"))


def tf_reshape_minus1_case(name, shape):
    def make(rng):
        conv = keras_conv(rng, shape[-1], 8)

        def f(x):
            y = conv(x)
            return tf.reshape(y, tf.stack([tf.shape(y)[0], -1]))
        return f
    case(name, "SHAPE", [shape], make, dict(input=shape, batch="None", layers="Conv2D 3x3 relu, "
                                            "tf.reshape(y, [tf.shape(y)[0], -1])"), lo=-2, hi=2, batch_none=True)


tf_reshape_minus1_case("shape_tf_reshape_minus1", [1, 4, 4, 3])


# UNIDIRECTIONAL_SEQUENCE_LSTM: Keras LSTM layers, which the converter fuses into TFLite's integer
# LSTM (int8 input, output and weights, int32 biases, an int8 hidden state and an int16 cell state
# as variable tensors carried from one invocation to the next; tests/oracle/lstm_reference.py is
# its integer specification). With the pinned Keras 3, calling `tf.keras.layers.LSTM` lowers to a
# WHILE loop, on which the int8 quantizer crashes (a segmentation fault, so no case can skip it):
# Keras 3 no longer marks its LSTM for the converter. Keras 2 did, by running the layer's step loop
# in a tf.function with the attributes api_implements="lstm_<id>", time_major and go_backwards
# (recurrent_v2.standard_lstm); the converter replaces such a function, given (inputs, init_h,
# init_c, kernel, recurrent_kernel, bias) and returning (last output, all outputs, h, c, runtime),
# by one UNIDIRECTIONAL_SEQUENCE_LSTM (cell clip 10, TANH, no peephole, projection or layer norm),
# and the last output by a STRIDED_SLICE of all outputs. These cases do the same with a Keras 3 LSTM
# layer's weights (gate order i, f, c, o as Keras's), checked against the layer itself. The
# attributes survive only the SavedModel import path (`saved_model=True`); the frozen-graph path
# inlines the function first.
def keras_lstm(rng, features, units, return_sequences, time_major=False, api_name="lstm_keras"):
    """A Keras LSTM layer with weights drawn from rng, and its forward pass as Keras 2 marked it for
    the converter: fn(x) with x [batch, time, features] ([time, batch, features] if time_major)."""
    layer = tf.keras.layers.LSTM(units, return_sequences=return_sequences)
    layer.build((None, None, features))
    bias = weights(rng, (4 * units,), 0.2)
    bias[units:2 * units] += 1.0  # Keras's unit_forget_bias
    layer.set_weights([weights(rng, (features, 4 * units), 1.0 / np.sqrt(features)),
                       weights(rng, (units, 4 * units), 1.0 / np.sqrt(units)), bias])
    kernel, recurrent, bias = (tf.constant(w) for w in layer.get_weights())
    axis = 0 if time_major else 1

    @tf.function(autograph=False, experimental_attributes={
        "api_implements": api_name, "api_preferred_device": "CPU", "time_major": time_major,
        "go_backwards": False})
    def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        h, c, outs = init_h, init_c, []
        for x in tf.unstack(inputs, axis=axis):
            z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
            zi, zf, zc, zo = tf.split(z, 4, axis=1)
            c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zc)
            h = tf.sigmoid(zo) * tf.tanh(c)
            outs.append(h)
        return outs[-1], tf.stack(outs, axis=axis), h, c, tf.constant(0.0)

    def fn(x):
        zeros = tf.zeros([x.shape[1 - axis], units])
        last, seq, _, _, _ = standard_lstm(x, zeros, zeros, kernel, recurrent, bias)
        return seq if return_sequences else last

    probe = rng.uniform(-1, 1, (1, 3, features)).astype(np.float32)
    got = fn(np.swapaxes(probe, 0, 1) if time_major else probe).numpy()
    want = layer(probe).numpy()
    if time_major and return_sequences:
        want = np.swapaxes(want, 0, 1)
    if not np.allclose(got, want, atol=1e-5):
        raise AssertionError("the marked LSTM function differs from the Keras layer")
    return fn


def lstm_case(name, shape, build, params, lo=-1.0, hi=1.0):
    def make(rng):
        layers = build(rng)

        def f(x):
            for layer in layers:
                x = layer(x)
            return x
        return f
    case(name, "UNIDIRECTIONAL_SEQUENCE_LSTM", [shape], make, dict(input=shape, **params), lo=lo, hi=hi,
         saved_model=True)


lstm_case("lstm_seq", [1, 8, 4], lambda rng: [keras_lstm(rng, 4, 8, True)],
          dict(layers="LSTM 8, return_sequences=True"))
lstm_case("lstm_last", [1, 10, 6], lambda rng: [keras_lstm(rng, 6, 12, False)],
          dict(layers="LSTM 12, return_sequences=False (the last step: STRIDED_SLICE)"))
lstm_case("lstm_seq_wide", [1, 5, 12], lambda rng: [keras_lstm(rng, 12, 16, True)],
          dict(layers="LSTM 16, return_sequences=True"), lo=-2.0, hi=2.0)
def keras_dense_frozen(rng, k, units):
    """A Keras Dense layer with weights drawn from rng, applied with its weights as constants (a
    layer's variables, untracked by the converter's tf.Module, would make the SavedModel export fail
    and the converter fall back to the frozen-graph path, which loses the LSTM's marking)."""
    w, b = (tf.constant(v) for v in keras_dense(rng, k, units).get_weights())
    return lambda x: tf.matmul(x, w) + b


lstm_case("lstm_classifier", [1, 6, 3],
          lambda rng: [keras_lstm(rng, 3, 8, False), keras_dense_frozen(rng, 8, 4)],
          dict(layers="LSTM 8, return_sequences=False, Dense 4"))
lstm_case("lstm_stacked", [1, 7, 5],
          lambda rng: [keras_lstm(rng, 5, 8, True, api_name="lstm_keras_1"),
                       keras_lstm(rng, 8, 6, True, api_name="lstm_keras_2")],
          dict(layers="LSTM 8, LSTM 6, both return_sequences=True"))
lstm_case("lstm_time_major", [9, 1, 5], lambda rng: [keras_lstm(rng, 5, 4, True, time_major=True)],
          dict(layers="LSTM 4, return_sequences=True, time_major=True (input [time, batch, features])"),
          lo=-3.0, hi=3.0)


# ---------------------------------------------------------------------------


def seed_of(name):
    return zlib.crc32(name.encode())


def model_ops(model_bytes, intended=None):
    """(builtin op names of every subgraph, input count, output count, the tensor types of the first
    `intended` op's activation (non-constant) inputs and outputs)."""
    model = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    names, io_types = [], None
    for s, sg in enumerate(model.subgraphs):
        for op in sg.operators or []:
            code = runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
            names.append(OP_NAMES.get(code, f"BUILTIN_{code}"))
            if s == 0 and names[-1] == intended and io_types is None:
                def kind(i):
                    t = sg.tensors[i]
                    data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
                    return None if data is not None and len(data) > 0 else TYPE_NAMES.get(t.type, str(t.type))
                io_types = {"inputs": [k for k in (kind(int(i)) for i in op.inputs if i >= 0) if k],
                            "outputs": [kind(int(i)) for i in op.outputs]}
    return names, len(model.subgraphs[0].inputs), len(model.subgraphs[0].outputs), io_types


def quietly(fn):
    """Runs fn() with the C-level stderr (the converter's progress lines) captured: returns
    (fn's result or None, its exception or None, the captured text)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            result, error = fn(), None
        except Exception as e:  # noqa: BLE001 - handed back to the caller
            result, error = None, e
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return result, error, tmp.read().decode(errors="replace")


def convert(c):
    seed = seed_of(c.name.removesuffix("_16x8"))
    fn = c.make(np.random.default_rng(seed))
    sig = [tf.TensorSpec([None, *s[1:]] if c.batch_none else s, tf.float32, name=f"x{k}")
           for k, s in enumerate(c.inputs)]
    tff = tf.function(fn, input_signature=sig)
    if c.saved_model:
        # A tf.Module (not a tf.function) as the trackable object sends the converter through a
        # SavedModel, which keeps the api_implements attribute marking the Keras LSTM.
        holder = tf.Module()
        holder.f = tff
        conv = tf.lite.TFLiteConverter.from_concrete_functions([tff.get_concrete_function()], holder)
    else:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([tff.get_concrete_function()], tff)

    def representative():
        r = np.random.default_rng(seed + 1)
        for _ in range(CALIBRATION_SAMPLES):
            yield [r.uniform(c.lo, c.hi, size=s).astype(np.float32) for s in c.inputs]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    if c.mode == "int8":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        act_type = tf.int8
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        act_type = tf.int16
    conv.inference_input_type = tf.float32 if c.float_in else act_type
    conv.inference_output_type = tf.float32 if c.float_out else act_type
    return conv.convert()


def make_inputs(c, details):
    r = np.random.default_rng(seed_of(c.name) + 2)
    xs = []
    for d in details:
        shape = (SAMPLES, *[int(v) for v in d["shape"]])
        dtype = np.dtype(d["dtype"])
        if dtype == np.float32:
            xs.append(r.uniform(1.25 * c.lo, 1.25 * c.hi, size=shape).astype(np.float32))
        else:
            info = np.iinfo(dtype)
            xs.append(r.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype))
    return xs


def io_names(c, kind, n):
    return [f"{c.name}_{kind}.npy"] if n == 1 else [f"{c.name}_{kind}{k}.npy" for k in range(n)]


def first_line(e):
    text = f"{type(e).__name__}: {e}".strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # The converter's messages start with a generic line; the reason is further down.
    for ln in lines:
        if "error:" in ln and "loc(" in ln or "failed to legalize" in ln or "is not supported" in ln:
            return ln[:300]
    return lines[0][:300] if lines else type(e).__name__


def generate(c, out):
    model, e, log = quietly(lambda: convert(c))
    if e is not None:  # every converter failure is a reason to skip
        sys.stderr.write(log)
        return None, f"the converter failed: {first_line(e)}"
    ops, n_in, n_out, op_types = model_ops(model, c.op)
    if c.op not in ops:
        return None, f"the converter did not produce {c.op} (the model's ops: {', '.join(ops)})"
    integer = {"INT8", "INT16", "INT32", "INT64"}
    if c.op not in ("QUANTIZE", "DEQUANTIZE") and not set(op_types["inputs"] + op_types["outputs"]) <= integer:
        return None, (f"the converter left {c.op} in float ({op_types}; the model's ops: {', '.join(ops)}): "
                      "no integer kernel to check")
    try:
        probe = runtime.Interpreter.from_bytes(model, arena_size=ARENA_BYTES)
        in_det = [probe.get_input_details(k) for k in range(n_in)]
        del probe
        xs = make_inputs(c, in_det)
        ys = run_tflm(model, xs, n_out)
    except Exception as e:  # noqa: BLE001
        return None, f"TFLM cannot run it: {first_line(e)}"
    (out / f"{c.name}.tflite").write_bytes(model)
    x_files, y_files = io_names(c, "x", n_in), io_names(c, "y", n_out)
    for f, a in zip(x_files, xs):
        np.save(out / f, a)
    for f, a in zip(y_files, ys):
        np.save(out / f, a)
    entry = {
        "name": c.name,
        "op": c.op,
        "dtype": c.mode,
        "ops": ops,
        "op_tensor_types": op_types,
        "model": f"{c.name}.tflite",
        "inputs": [{"file": f, "dtype": str(a.dtype), "shape": list(a.shape[1:])} for f, a in zip(x_files, xs)],
        "outputs": [{"file": f, "dtype": str(a.dtype), "shape": list(a.shape[1:])} for f, a in zip(y_files, ys)],
        "params": c.params,
        "float_inputs": c.inputs,
        "calibration_range": [c.lo, c.hi],
        "seed": seed_of(c.name.removesuffix("_16x8")),
    }
    return entry, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--only", nargs="*", help="generate only cases whose name contains one of these (no manifest)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    names = [c.name for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"error: duplicate case names {sorted(dup)}")
    if args.list:
        for c in CASES:
            print(f"{c.name:40s} {c.op:24s} {c.mode}")
        return 0

    if args.only and args.out.resolve() == DEFAULT_OUT.resolve():
        sys.exit("error: --only writes no manifest; give it another --out than the committed suite")
    tf.keras.utils.set_random_seed(0)
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
    cases = [c for c in CASES if not args.only or any(s in c.name for s in args.only)]
    out = args.out
    if not args.only and out.exists():
        # A full run owns the folder's generated files: remove the old ones first.
        for p in out.iterdir():
            if p.suffix in (".tflite", ".npy") or p.name == "manifest.json":
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    entries, skipped = [], []
    for c in cases:
        entry, reason = generate(c, out)
        if entry is None:
            print(f"SKIP {c.name} ({c.op}, {c.mode}): {reason}", flush=True)
            skipped.append({"name": c.name, "op": c.op, "dtype": c.mode, "reason": reason})
        else:
            print(f"ok   {c.name} ({c.op}, {c.mode}): ops {' '.join(entry['ops'])}", flush=True)
            entries.append(entry)

    if not args.only:
        manifest = {
            "generator": "tests/oracle/make_op_models.py",
            "versions": {p: importlib.metadata.version(p) for p in ("tensorflow-cpu", "tflite-micro", "numpy")},
            "samples": SAMPLES,
            "arena_bytes": ARENA_BYTES,
            "cases": entries,
            "skipped": skipped,
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    per_op = {}
    for e in entries:
        per_op[(e["op"], e["dtype"])] = per_op.get((e["op"], e["dtype"]), 0) + 1
    print(f"\n{len(entries)} cases written, {len(skipped)} skipped, {len(per_op)} (op, dtype) pairs, "
          f"{size} bytes in {out}, {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
