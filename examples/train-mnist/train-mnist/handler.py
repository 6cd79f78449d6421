"""Seed 000's preprocess-and-train-mnist function, small: a CNN in numpy (3×3 convolution → ReLU → 2×2 max pool →
dense → softmax, Adam on cross-entropy) trained on the MNIST digits in DATA_DIR, exported to ONNX and registered
in sedge's model registry as `mnist-cnn` with its test accuracy and loss (the seed's `models` table: name,
dataset, architecture, accuracy, loss).

Body (JSON, every key optional): {"epochs": 5, "limit": 8000, "test_limit": 2000, "learning_rate": 0.002,
"batch_size": 32, "filters": 8, "seed": 1, "promote": "production"}; `limit` and `test_limit` cap the training and
test images used (e.g. {"epochs": 1, "limit": 1000} trains in a couple of seconds).
Answer: {"name", "version", "stage", "accuracy", "loss", "epochs", "sha256", "train_seconds", "predictions",
"labels"}: predictions are the exported model's probabilities for the first 5 test images, labels their digits.

The ONNX model takes `input` float [N, 1, 28, 28] (pixels scaled to 0..1, as examples/mnist-predict feeds it) and
gives `probabilities` float [N, 10]: Conv → Relu → MaxPool → Flatten → Gemm → Softmax, opset 13.
"""
import gzip
import json
import os
import struct
import tempfile
import time

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

import sedge

DATA_DIR = os.getenv("DATA_DIR", ".")
MODEL_NAME = os.getenv("MODEL_NAME", "mnist-cnn")
FILES = {
    "train": ("mnist-8k-train-images-idx3-ubyte.gz", "mnist-8k-train-labels-idx1-ubyte.gz"),
    "test": ("mnist-2k-test-images-idx3-ubyte.gz", "mnist-2k-test-labels-idx1-ubyte.gz"),
}
DEFAULTS = {"epochs": 5, "limit": 8000, "test_limit": 2000, "learning_rate": 0.002, "batch_size": 32, "filters": 8,
            "seed": 1, "promote": None}
KERNEL, POOL = 3, 2


class BadRequest(ValueError):
    pass


def settings(body):
    """The training settings from the request body, checked; BadRequest says what is wrong."""
    text = body.decode("utf-8", errors="replace").strip() if isinstance(body, (bytes, bytearray)) else str(body)
    if not text:
        asked = {}
    else:
        try:
            asked = json.loads(text)
        except ValueError as e:
            raise BadRequest("the body is not JSON (%s); send e.g. {\"epochs\": 1, \"limit\": 1000}" % e)
        if isinstance(asked, int) and not isinstance(asked, bool):
            asked = {"epochs": asked}
        if not isinstance(asked, dict):
            raise BadRequest("the body must be a JSON object such as {\"epochs\": 1, \"limit\": 1000}")
    unknown = sorted(set(asked) - set(DEFAULTS))
    if unknown:
        raise BadRequest("unknown setting(s) %s; known: %s" % (", ".join(unknown), ", ".join(DEFAULTS)))
    s = dict(DEFAULTS, **asked)
    for key, low, high in (("epochs", 1, 1000), ("limit", 10, 8000), ("test_limit", 10, 2000),
                           ("batch_size", 1, 8000), ("filters", 1, 64), ("seed", 0, 2**32 - 1)):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise BadRequest("%s must be an integer from %d to %d, not %r" % (key, low, high, v))
    lr = s["learning_rate"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 10:
        raise BadRequest("learning_rate must be a number in (0, 10], not %r" % (lr,))
    if s["promote"] is not None and (not isinstance(s["promote"], str) or not s["promote"]):
        raise BadRequest("promote must be a stage name such as \"production\"")
    return s


def read_idx(path, magic):
    """The array in a gzipped IDX file (big-endian header: magic, then one size per dimension)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    found, = struct.unpack(">I", data[:4])
    if found != magic:
        raise ValueError("%s: magic 0x%x, expected 0x%x" % (path, found, magic))
    dims = struct.unpack(">%dI" % (magic & 0xFF), data[4:4 + 4 * (magic & 0xFF)])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load(split, limit):
    """(images float32 [n, 1, 28, 28] in 0..1, labels int [n]): the first `limit` of the split."""
    images, labels = (os.path.join(DATA_DIR, name) for name in FILES[split])
    if not os.path.isfile(images):
        raise FileNotFoundError("no MNIST images at %r: set DATA_DIR (see stack.yml)" % images)
    x = read_idx(images, 0x803)[:limit].astype(np.float32) / np.float32(255)
    y = read_idx(labels, 0x801)[:limit].astype(np.int64)
    return x[:, None, :, :], y


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class CNN:
    """conv (F filters, 3×3, valid) → ReLU → max pool 2×2 → dense 10 → softmax, on [N, 1, 28, 28]."""

    def __init__(self, filters, rng, side=28, classes=10):
        self.conv_side = side - KERNEL + 1
        self.pool_side = self.conv_side // POOL
        flat = filters * self.pool_side * self.pool_side
        # He-normal initialisation, as Keras's he_normal (without the truncation).
        self.wc = rng.normal(0, np.sqrt(2.0 / (KERNEL * KERNEL)), (filters, KERNEL * KERNEL)).astype(np.float32)
        self.bc = np.zeros(filters, np.float32)
        self.wd = rng.normal(0, np.sqrt(2.0 / flat), (flat, classes)).astype(np.float32)
        self.bd = np.zeros(classes, np.float32)

    def params(self):
        return [self.wc, self.bc, self.wd, self.bd]

    def forward(self, x):
        """Probabilities and what backprop needs."""
        n, f, c, p = len(x), len(self.wc), self.conv_side, self.pool_side
        cols = sliding_window_view(x[:, 0], (KERNEL, KERNEL), axis=(1, 2)).reshape(n, c, c, KERNEL * KERNEL)
        z = (cols @ self.wc.T + self.bc).transpose(0, 3, 1, 2)  # [n, f, c, c]
        r = np.maximum(z, 0)
        windows = r[:, :, :p * POOL, :p * POOL].reshape(n, f, p, POOL, p, POOL)
        pooled = windows.max(axis=(3, 5))
        flat = pooled.reshape(n, -1)
        return softmax(flat @ self.wd + self.bd), (cols, z, windows, pooled, flat)

    def gradients(self, x, y):
        p, (cols, z, windows, pooled, flat) = self.forward(x)
        n, f, s = len(x), len(self.wc), self.pool_side
        d = p.copy()
        d[np.arange(n), y] -= 1
        d /= n
        gwd, gbd = flat.T @ d, d.sum(axis=0)
        dpool = (d @ self.wd.T).reshape(n, f, s, 1, s, 1)
        # The gradient goes to the window's maximum (to every tied one: only zeros tie in practice, and ReLU
        # stops those).
        dwin = (windows == pooled[:, :, :, None, :, None]) * dpool
        dr = np.zeros_like(z)
        dr[:, :, :s * POOL, :s * POOL] = dwin.reshape(n, f, s * POOL, s * POOL)
        dz = (dr * (z > 0)).transpose(0, 2, 3, 1).reshape(-1, f)  # [n·c·c, f]
        gwc = dz.T @ cols.reshape(-1, KERNEL * KERNEL)
        return [gwc, dz.sum(axis=0), gwd, gbd]


class Adam:
    """Keras's Adam defaults: beta 0.9 / 0.999, epsilon 1e-7."""

    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-7):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        self.t += 1
        lr = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= (lr * m / (np.sqrt(v) + self.eps)).astype(p.dtype)


def evaluate(model, x, y, batch=500):
    probs = np.concatenate([model.forward(x[i:i + batch])[0] for i in range(0, len(x), batch)])
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))
    return float(np.mean(probs.argmax(axis=1) == y)), loss


def train(x, y, s):
    rng = np.random.default_rng(s["seed"])
    model = CNN(s["filters"], rng)
    params = model.params()
    adam = Adam(params, s["learning_rate"])
    for _ in range(s["epochs"]):
        order = rng.permutation(len(x))
        for start in range(0, len(order), s["batch_size"]):
            idx = order[start:start + s["batch_size"]]
            adam.step(params, model.gradients(x[idx], y[idx]))
    return model


def to_onnx(model):
    f = len(model.wc)
    inits = [
        numpy_helper.from_array(model.wc.reshape(f, 1, KERNEL, KERNEL), "conv_w"),
        numpy_helper.from_array(model.bc, "conv_b"),
        numpy_helper.from_array(model.wd, "dense_w"),
        numpy_helper.from_array(model.bd, "dense_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"], name="conv", kernel_shape=[KERNEL, KERNEL]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("MaxPool", ["relu"], ["pool"], name="pool", kernel_shape=[POOL, POOL], strides=[POOL, POOL]),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "dense_w", "dense_b"], ["logits"], name="dense"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "mnist_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="sedge train-mnist",
                          ir_version=8)
    onnx.checker.check_model(m)
    return m


def run(s, register=None):
    """Trains, exports and registers; returns the answer's body. `register` defaults to sedge.register_model."""
    register = register or sedge.register_model
    x, y = load("train", s["limit"])
    xt, yt = load("test", s["test_limit"])
    started = time.perf_counter()
    model = train(x, y, s)
    seconds = time.perf_counter() - started
    accuracy, loss = evaluate(model, xt, yt)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mnist_cnn.onnx")
        onnx.save(to_onnx(model), path)
        params = {k: s[k] for k in DEFAULTS if k != "promote"}
        record = register(path, MODEL_NAME, metrics={"accuracy": accuracy, "loss": loss, "epochs": s["epochs"]},
                          dataset="mnist", architecture="cnn", params=params, promote=s["promote"])
    return {"name": record.get("name", MODEL_NAME), "version": record.get("version"), "stage": record.get("stage"),
            "sha256": record.get("sha256"), "accuracy": accuracy, "loss": loss, "epochs": s["epochs"],
            "train_seconds": round(seconds, 3), "predictions": model.forward(xt[:5])[0].tolist(),
            "labels": yt[:5].tolist()}


def handle(event, context):
    try:
        s = settings(event.body)
    except BadRequest as e:
        return {"statusCode": 400, "body": {"error": str(e)}}
    try:
        return {"statusCode": 200, "body": run(s)}
    except sedge.SedgeError as e:
        return {"statusCode": 502, "body": {"error": "registering the model failed: %s" % e}}
