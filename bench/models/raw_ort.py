"""Raw engine baseline: onnxruntime's own Python API, 1 intra-op thread, spinning off.

    python raw_ort.py MODELS_DIR [--calls 20000] [--seconds 10]

Prints `key value` lines (read by bench/models.sh):
  mnist_p50_ms / mnist_p99_ms   latency of sess.run on mnist_cnn b1 (the fixture's input), over --calls calls
  mnist_b1_per_s                the same calls per second
  mobilenet_b1_per_s            mobilenetv2_random b1 samples/s, one caller, for --seconds at most
  mobilenet_b2_per_s            b2 batches on the same session (samples/s)
  mobilenet_2callers_per_s      two Python threads calling one session each (2 sessions), b1 samples/s
With --mobilenet-b1-only, only mobilenet_b1_per_s (bench/models.sh measures it again right beside sedge's run).
"""
import argparse
import json
import os
import statistics
import threading
import time

import numpy as np
import onnxruntime as ort


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def fixture_input(path):
    with open(path) as f:
        inp = json.load(f)["inputs"][0]
    return inp["name"], np.asarray(inp["data"], dtype=np.float32).reshape(inp["shape"])


def throughput(sess, feed, batch, seconds, out):
    sess.run(None, feed)  # warm-up
    n = 0
    t0 = time.perf_counter()
    while True:
        sess.run(None, feed)
        n += 1
        el = time.perf_counter() - t0
        if el >= seconds:
            break
    out.append(n * batch / el)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--mobilenet-b1-only", action="store_true", help="only mobilenet_b1_per_s")
    a = ap.parse_args()
    m = a.models
    if a.mobilenet_b1_only:
        name, x = fixture_input(os.path.join(m, "fixtures", "imagenet224_b1.json"))
        out = []
        throughput(session(os.path.join(m, "mobilenetv2_random.onnx")), {name: x}, 1, a.seconds, out)
        print(f"mobilenet_b1_per_s {out[0]:.1f}")
        return

    sess = session(os.path.join(m, "mnist_cnn.onnx"))
    name, x = fixture_input(os.path.join(m, "fixtures", "mnist_cnn_b1.json"))
    feed = {name: x}
    for _ in range(1000):
        sess.run(None, feed)
    times = []
    t_all = time.perf_counter()
    for _ in range(a.calls):
        t0 = time.perf_counter_ns()
        sess.run(None, feed)
        times.append(time.perf_counter_ns() - t0)
    t_all = time.perf_counter() - t_all
    times.sort()
    print(f"mnist_p50_ms {times[len(times) // 2] / 1e6:.4f}")
    print(f"mnist_p99_ms {times[int(len(times) * 0.99)] / 1e6:.4f}")
    print(f"mnist_b1_per_s {a.calls / t_all:.0f}")

    mpath = os.path.join(m, "mobilenetv2_random.onnx")
    name, x = fixture_input(os.path.join(m, "fixtures", "imagenet224_b1.json"))
    s1 = session(mpath)
    out = []
    throughput(s1, {name: x}, 1, a.seconds, out)
    print(f"mobilenet_b1_per_s {out[0]:.1f}")
    out = []
    throughput(s1, {name: np.concatenate([x, x])}, 2, a.seconds, out)
    print(f"mobilenet_b2_per_s {out[0]:.1f}")
    s2 = session(mpath)
    out = []
    ts = [threading.Thread(target=throughput, args=(s, {name: x}, 1, a.seconds, out)) for s in (s1, s2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"mobilenet_2callers_per_s {sum(out):.1f}")


if __name__ == "__main__":
    main()
