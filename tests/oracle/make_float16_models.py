#!/usr/bin/env python3
"""Make the float16-weight fixture (`tests/float16/`) with the real TensorFlow Lite converter.

    .venv-tf/bin/python tests/oracle/make_float16_models.py

One small Keras CNN (a strided convolution, a depthwise convolution, a pointwise convolution with
ReLU6, global average pooling, a dense layer, softmax) with seeded weights, converted twice from the
same Keras model: `cnn_fp32.tflite` (float32 weights) and `cnn_fp16.tflite` (TFLite's float16
post-training quantization, `Optimize.DEFAULT` with `supported_types = [tf.float16]`: every weight
stored as FLOAT16 and read through a DEQUANTIZE op). `crates/attonet-convert/tests/float16_weights.rs`
checks that AttoNet reads the second as the first with its weights rounded to float16, and that both
quantize and run. Needs the TensorFlow venv (`tests/oracle/requirements-tf.txt`).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "float16"


def model():
    tf.keras.utils.set_random_seed(16)
    x = tf.keras.Input(shape=(16, 16, 3), batch_size=1)
    y = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = tf.keras.layers.Conv2D(16, 1, activation=tf.nn.relu6)(y)
    y = tf.keras.layers.GlobalAveragePooling2D()(y)
    y = tf.keras.layers.Dense(5)(y)
    y = tf.keras.layers.Softmax()(y)
    return tf.keras.Model(x, y)


def convert(m, float16):
    c = tf.lite.TFLiteConverter.from_keras_model(m)
    if float16:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.target_spec.supported_types = [tf.float16]
    return c.convert()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    m = model()
    for name, f16 in [("cnn_fp32", False), ("cnn_fp16", True)]:
        data = convert(m, f16)
        (OUT / f"{name}.tflite").write_bytes(data)
        print(f"{name}.tflite: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
