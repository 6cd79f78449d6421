"""Seed 001's training function: the ionosphere MLP (34-10-8, ReLU, He-normal init, Adam, batch 32, a third of the
rows held out), trained for the number of epochs the request asks for, then exported to ONNX and registered in
sedge's model registry.

Body (JSON, every key optional): {"epochs": 150, "learning_rate": 0.001, "hidden": [10, 8], "batch_size": 32,
"test_size": 0.33, "seed": 1, "promote": "production"}. An empty body trains with those defaults.
Answer: {"name", "version", "stage", "accuracy", "loss", "epochs", "sha256", "train_seconds", "predictions"} where
accuracy and loss are on the held-out rows and predictions are [P(bad), P(good)] for the CSV's first 5 rows, as
the exported model computes them.

The seed's Keras model ends in one sigmoid unit; this one ends in two softmax units (the same function of the
last layer, written as the [batch, 2] `probabilities` output classifiers usually have). Labels as scikit-learn's
LabelEncoder gives them: bad = 0, good = 1.
"""
import csv
import json
import os
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import sedge

DATA = os.getenv("DATA", "ionosphere.csv")
MODEL_NAME = os.getenv("MODEL_NAME", "ionosphere")
CLASSES = ["bad", "good"]
DEFAULTS = {"epochs": 150, "learning_rate": 0.001, "hidden": [10, 8], "batch_size": 32, "test_size": 0.33,
            "seed": 1, "promote": None}


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
            raise BadRequest("the body is not JSON (%s); send e.g. {\"epochs\": 30}" % e)
        if isinstance(asked, int) and not isinstance(asked, bool):
            asked = {"epochs": asked}  # seed 001 sent the bare number of epochs
        if not isinstance(asked, dict):
            raise BadRequest("the body must be a JSON object such as {\"epochs\": 30}")
    unknown = sorted(set(asked) - set(DEFAULTS))
    if unknown:
        raise BadRequest("unknown setting(s) %s; known: %s" % (", ".join(unknown), ", ".join(DEFAULTS)))
    s = dict(DEFAULTS, **asked)

    def integer(key, low, high):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise BadRequest("%s must be an integer from %d to %d, not %r" % (key, low, high, v))

    integer("epochs", 1, 100000)
    integer("batch_size", 1, 100000)
    integer("seed", 0, 2**32 - 1)
    lr = s["learning_rate"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 10:
        raise BadRequest("learning_rate must be a number in (0, 10], not %r" % (lr,))
    ts = s["test_size"]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not 0.05 <= ts <= 0.9:
        raise BadRequest("test_size must be a number from 0.05 to 0.9, not %r" % (ts,))
    hidden = s["hidden"]
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if (not isinstance(hidden, list) or not 1 <= len(hidden) <= 8
            or not all(isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 4096 for h in hidden)):
        raise BadRequest("hidden must be a list of 1 to 8 layer widths from 1 to 4096, not %r" % (s["hidden"],))
    s["hidden"] = hidden
    if s["promote"] is not None and (not isinstance(s["promote"], str) or not s["promote"]):
        raise BadRequest("promote must be a stage name such as \"production\"")
    return s


def load(path):
    """(features float32 [n, 34], labels int [n]) from the CSV (header V1..V34,Class)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("no ionosphere CSV at %r: set DATA (see stack.yml)" % path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], [r for r in rows[1:] if r]
    if header[-1] != "Class":
        raise ValueError("%s: the last column is %r, not Class" % (path, header[-1]))
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
    y = np.array([CLASSES.index(r[-1]) for r in rows], dtype=np.int64)
    return x, y


class MLP:
    """Dense layers with ReLU between them and a softmax at the end, trained with Adam on cross-entropy."""

    def __init__(self, sizes, rng):
        # He-normal, as Keras's kernel_initializer='he_normal' (a normal truncated at two deviations).
        self.w = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            std = np.sqrt(2.0 / fan_in)
            w = rng.normal(0.0, std, (fan_in, fan_out))
            while np.any(bad := np.abs(w) > 2 * std):
                w[bad] = rng.normal(0.0, std, int(bad.sum()))
            self.w.append(w)
        self.b = [np.zeros(n) for n in sizes[1:]]

    def forward(self, x):
        """Softmax probabilities and each layer's input (for backprop)."""
        inputs = [x]
        a = x
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            z = a @ w + b
            a = np.maximum(z, 0.0) if i < len(self.w) - 1 else z
            inputs.append(a)
        return softmax(a), inputs

    def gradients(self, x, y):
        p, acts = self.forward(x)
        d = p.copy()
        d[np.arange(len(y)), y] -= 1.0
        d /= len(y)
        gw, gb = [], []
        for i in range(len(self.w) - 1, -1, -1):
            gw.append(acts[i].T @ d)
            gb.append(d.sum(axis=0))
            if i:
                d = (d @ self.w[i].T) * (acts[i] > 0)
        return gw[::-1], gb[::-1]


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
            p -= lr * m / (np.sqrt(v) + self.eps)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def evaluate(model, x, y):
    p, _ = model.forward(x)
    loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))
    return float(np.mean(p.argmax(axis=1) == y)), loss


def train(x, y, s):
    """A trained MLP and its (accuracy, loss) on the held-out rows."""
    rng = np.random.default_rng(s["seed"])
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * s["test_size"]))
    test, fit = order[:n_test], order[n_test:]
    model = MLP([x.shape[1], *s["hidden"], len(CLASSES)], rng)
    params = model.w + model.b
    adam = Adam(params, s["learning_rate"])
    xf, yf = x[fit].astype(np.float64), y[fit]
    for _ in range(s["epochs"]):
        batches = rng.permutation(len(fit))
        for start in range(0, len(batches), s["batch_size"]):
            idx = batches[start:start + s["batch_size"]]
            gw, gb = model.gradients(xf[idx], yf[idx])
            adam.step(params, gw + gb)
    return model, evaluate(model, x[test].astype(np.float64), y[test])


def to_onnx(model, n_features):
    """The model as ONNX (opset 13): `input` float [N, n_features] → Gemm/Relu … Gemm → Softmax →
    `probabilities` float [N, 2]."""
    nodes, inits, prev = [], [], "input"
    for i, (w, b) in enumerate(zip(model.w, model.b)):
        inits += [numpy_helper.from_array(w.astype(np.float32), "W%d" % i),
                  numpy_helper.from_array(b.astype(np.float32), "B%d" % i)]
        out = "gemm%d" % i
        nodes.append(helper.make_node("Gemm", [prev, "W%d" % i, "B%d" % i], [out], name="dense%d" % i))
        prev = out
        if i < len(model.w) - 1:
            nodes.append(helper.make_node("Relu", [out], ["relu%d" % i], name="relu%d" % i))
            prev = "relu%d" % i
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], name="softmax", axis=-1))
    graph = helper.make_graph(
        nodes, "ionosphere_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(CLASSES)])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="sedge train-ionosphere",
                          ir_version=8)
    onnx.checker.check_model(m)
    return m


def predict32(model, x):
    """What the exported model computes, in float32 as an engine does."""
    a = x.astype(np.float32)
    for i, (w, b) in enumerate(zip(model.w, model.b)):
        a = a @ w.astype(np.float32) + b.astype(np.float32)
        if i < len(model.w) - 1:
            a = np.maximum(a, np.float32(0))
    return softmax(a)


def run(s, register=None):
    """Trains, exports and registers; returns the answer's body. `register` defaults to sedge.register_model."""
    register = register or sedge.register_model
    x, y = load(DATA)
    started = time.perf_counter()
    model, (accuracy, loss) = train(x, y, s)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ionosphere_mlp.onnx")
        onnx.save(to_onnx(model, x.shape[1]), path)
        params = {k: s[k] for k in ("epochs", "learning_rate", "hidden", "batch_size", "test_size", "seed")}
        record = register(path, MODEL_NAME, metrics={"accuracy": accuracy, "loss": loss, "epochs": s["epochs"]},
                          dataset="ionosphere", architecture="mlp", params=params, promote=s["promote"])
    return {"name": record.get("name", MODEL_NAME), "version": record.get("version"), "stage": record.get("stage"),
            "sha256": record.get("sha256"), "accuracy": accuracy, "loss": loss, "epochs": s["epochs"],
            "train_seconds": round(seconds, 3), "predictions": predict32(model, x[:5]).tolist()}


def handle(event, context):
    try:
        s = settings(event.body)
    except BadRequest as e:
        return {"statusCode": 400, "body": {"error": str(e)}}
    try:
        return {"statusCode": 200, "body": run(s)}
    except sedge.SedgeError as e:
        return {"statusCode": 502, "body": {"error": "registering the model failed: %s" % e}}
