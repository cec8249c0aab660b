"""Trains and writes `cifar_tiny_int8.tflite`: a tiny int8 CIFAR-10 classifier
for the examples' 16 KB-RAM boards (QEMU `microbit`, `sifive_e`), where the
MLPerf models do not fit.

    input  int8 1x32x32x3 = pixel - 128 (scale 1, zero point -128), as ResNet-8
    AVERAGE_POOL_2D 4x4 stride 4        -> 1x8x8x3
    RESHAPE                             -> 1x192
    FULLY_CONNECTED 192 -> 64, RELU
    FULLY_CONNECTED 64 -> 10
    SOFTMAX                             -> int8 1x10 (scale 1/256, zero point -128)

A two-layer perceptron on 8x8 thumbnails: it shows that a classifier runs
bit-exactly in 16 KB of RAM, it is no competitor to ResNet-8 (53 %
top-1 against 87 %). Trained with NumPy (Adam, fixed seed) on the 50,000
CIFAR-10 training images, quantized post-training (per-tensor symmetric
int8 weights, activation ranges from the training set), written with the
TFLite flatbuffer schema that ships with the `tflite-micro` package, and
evaluated on the 10,000 test images with TensorFlow Lite Micro's interpreter.

Run from the repository root, after `cargo xtask fetch-cifar10` and
`cargo xtask setup-python`:

    .venv/bin/python examples/models/make_cifar_tiny.py

The result is deterministic for a given NumPy version (the seed is fixed).
"""

import os
import sys

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "examples", "models", "cifar_tiny_int8.tflite")
HIDDEN = 64
SEED = 20240607


def thumbnails(x):
    """Mean over 4x4 blocks of uint8 images [N,32,32,3] -> float [N,192] (HWC order)."""
    n = x.shape[0]
    return x.reshape(n, 8, 4, 8, 4, 3).astype(np.float32).mean(axis=(2, 4)).reshape(n, 192)


def train(x, y):
    rng = np.random.default_rng(SEED)
    mu = x.mean(axis=0)
    sigma = x.std() + 1e-6
    xs = (x - mu) / sigma
    w1 = rng.normal(0, np.sqrt(2 / 192), (192, HIDDEN)).astype(np.float32)
    b1 = np.zeros(HIDDEN, np.float32)
    w2 = rng.normal(0, np.sqrt(1 / HIDDEN), (HIDDEN, 10)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, beta1, beta2, decay = 2e-3, 0.9, 0.999, 1e-4
    step = 0
    for epoch in range(40):
        order = rng.permutation(len(xs))
        for i in range(0, len(xs), 256):
            idx = order[i : i + 256]
            xb, yb = xs[idx], y[idx]
            h = np.maximum(xb @ w1 + b1, 0)
            z = h @ w2 + b2
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), yb] -= 1
            dz = p / len(idx)
            dh = (dz @ w2.T) * (h > 0)
            grads = [xb.T @ dh + decay * w1, dh.sum(0), h.T @ dz + decay * w2, dz.sum(0)]
            step += 1
            for k, g in enumerate(grads):
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                mh = m[k] / (1 - beta1**step)
                vh = v[k] / (1 - beta2**step)
                params[k] -= (lr * (0.97**epoch)) * mh / (np.sqrt(vh) + 1e-8)
    # Fold the standardisation into the first layer: the model sees raw pooled pixels.
    w1f = w1 / sigma
    b1f = b1 - (mu / sigma) @ w1
    return w1f, b1f, w2, b2


def quantize(x_train, w1, b1, w2, b2):
    """Post-training quantization; returns the tensors' int data and parameters."""
    h = np.maximum(x_train @ w1 + b1, 0)
    z = h @ w2 + b2
    s_in = 1.0  # pooled pixel p in [0, 255] is q + 128
    s_w1 = float(np.abs(w1).max() / 127)
    s_h = float(np.percentile(h, 99.99) / 255)
    z_lo, z_hi = float(np.percentile(z, 0.01)), float(np.percentile(z, 99.99))
    s_z = (z_hi - z_lo) / 255
    zp_z = int(np.clip(np.round(-128 - z_lo / s_z), -128, 127))
    s_w2 = float(np.abs(w2).max() / 127)
    q = {
        "w1": np.clip(np.round(w1.T / s_w1), -127, 127).astype(np.int8),  # [out, in]
        "b1": np.round(b1 / (s_in * s_w1)).astype(np.int32),
        "w2": np.clip(np.round(w2.T / s_w2), -127, 127).astype(np.int8),
        "b2": np.round(b2 / (s_h * s_w2)).astype(np.int32),
        "s_w1": s_w1,
        "s_h": s_h,
        "s_w2": s_w2,
        "s_z": s_z,
        "zp_z": zp_z,
    }
    return q


def quant(scale, zero_point):
    p = tfl.QuantizationParametersT()
    p.scale = [float(scale)]
    p.zeroPoint = [int(zero_point)]
    p.quantizedDimension = 0
    return p


def write_model(q):
    buffers = []

    def buffer(data=None):
        b = tfl.BufferT()
        if data is not None:
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        buffers.append(b)
        return len(buffers) - 1

    buffer()  # buffer 0: the empty sentinel
    tensors = []

    def tensor(name, shape, ty, q_params=None, data=None):
        t = tfl.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = ty
        t.buffer = buffer(data)
        t.quantization = q_params
        tensors.append(t)
        return len(tensors) - 1

    int8, int32 = tfl.TensorType.INT8, tfl.TensorType.INT32
    x = tensor("input", [1, 32, 32, 3], int8, quant(1.0, -128))
    pooled = tensor("pooled", [1, 8, 8, 3], int8, quant(1.0, -128))
    shape = tensor("flat_shape", [2], int32, None, np.array([1, 192], np.int32))
    flat = tensor("flat", [1, 192], int8, quant(1.0, -128))
    w1 = tensor("fc1/weights", [HIDDEN, 192], int8, quant(q["s_w1"], 0), q["w1"])
    b1 = tensor("fc1/bias", [HIDDEN], int32, quant(q["s_w1"], 0), q["b1"])
    h = tensor("hidden", [1, HIDDEN], int8, quant(q["s_h"], -128))
    w2 = tensor("fc2/weights", [10, HIDDEN], int8, quant(q["s_w2"], 0), q["w2"])
    b2 = tensor("fc2/bias", [10], int32, quant(q["s_h"] * q["s_w2"], 0), q["b2"])
    logits = tensor("logits", [1, 10], int8, quant(q["s_z"], q["zp_z"]))
    probs = tensor("probabilities", [1, 10], int8, quant(1.0 / 256, -128))

    codes = []

    def opcode(builtin):
        c = tfl.OperatorCodeT()
        c.builtinCode = builtin
        c.deprecatedBuiltinCode = min(builtin, 127)
        c.version = 1
        codes.append(c)
        return len(codes) - 1

    ops = []

    def op(code, inputs, outputs, options_type, options):
        o = tfl.OperatorT()
        o.opcodeIndex = code
        o.inputs = inputs
        o.outputs = outputs
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        ops.append(o)

    bo = tfl.BuiltinOptions
    pool = tfl.Pool2DOptionsT()
    pool.padding = tfl.Padding.VALID
    pool.strideW = pool.strideH = pool.filterWidth = pool.filterHeight = 4
    pool.fusedActivationFunction = tfl.ActivationFunctionType.NONE
    op(opcode(tfl.BuiltinOperator.AVERAGE_POOL_2D), [x], [pooled], bo.Pool2DOptions, pool)
    reshape = tfl.ReshapeOptionsT()
    reshape.newShape = [1, 192]
    op(opcode(tfl.BuiltinOperator.RESHAPE), [pooled, shape], [flat], bo.ReshapeOptions, reshape)
    fc_code = opcode(tfl.BuiltinOperator.FULLY_CONNECTED)
    fc1 = tfl.FullyConnectedOptionsT()
    fc1.fusedActivationFunction = tfl.ActivationFunctionType.RELU
    op(fc_code, [flat, w1, b1], [h], bo.FullyConnectedOptions, fc1)
    fc2 = tfl.FullyConnectedOptionsT()
    fc2.fusedActivationFunction = tfl.ActivationFunctionType.NONE
    op(fc_code, [h, w2, b2], [logits], bo.FullyConnectedOptions, fc2)
    sm = tfl.SoftmaxOptionsT()
    sm.beta = 1.0
    op(opcode(tfl.BuiltinOperator.SOFTMAX), [logits], [probs], bo.SoftmaxOptions, sm)

    g = tfl.SubGraphT()
    g.tensors = tensors
    g.inputs = [x]
    g.outputs = [probs]
    g.operators = ops
    g.name = "main"
    m = tfl.ModelT()
    m.version = 3
    m.operatorCodes = codes
    m.subgraphs = [g]
    m.description = "cifar_tiny: AttoNet example model (examples/models/make_cifar_tiny.py)"
    m.buffers = buffers
    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tflm_accuracy(model, x, y):
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model)
    correct = 0
    for i in range(len(x)):
        interp.set_input((x[i : i + 1].astype(np.int16) - 128).astype(np.int8), 0)
        interp.invoke()
        correct += int(np.argmax(interp.get_output(0)[0]) == y[i])
    return correct / len(x)


def main():
    data = os.path.join(ROOT, ".data", "cifar10")
    x_train = np.load(os.path.join(data, "train_x.npy"))
    y_train = np.load(os.path.join(data, "train_y.npy")).astype(np.int64)
    x_test = np.load(os.path.join(data, "test_x.npy"))
    y_test = np.load(os.path.join(data, "test_y.npy")).astype(np.int64)
    f_train, f_test = thumbnails(x_train), thumbnails(x_test)
    w1, b1, w2, b2 = train(f_train, y_train)
    float_acc = float(np.mean(np.argmax(np.maximum(f_test @ w1 + b1, 0) @ w2 + b2, 1) == y_test))
    q = quantize(f_train, w1, b1, w2, b2)
    model = write_model(q)
    with open(OUT, "wb") as f:
        f.write(model)
    acc = tflm_accuracy(model, x_test, y_test)
    print(f"wrote {OUT} ({len(model)} bytes)")
    print(f"float top-1 on the 10,000 test images: {100 * float_acc:.2f} %")
    print(f"int8 top-1 (TensorFlow Lite Micro) on the 10,000 test images: {100 * acc:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
