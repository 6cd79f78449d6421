"""bench/scaling.sh's driver: sets up functions on a `sedge up` it starts and runs the parts asked for.

    python3 bench/scaling/run.py --sedge target/release/sedge --out target/bench-scaling --models DIR wake step

Parts wake, concurrent and step share one sedge instance (one numpy bundle build); loop starts its own two.
Knobs come from the environment (see bench/scaling.sh's header). Every part's figures go into
<out>/results.json (merged with earlier runs of other parts) and raw samples into CSV files beside it."""

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import burst  # noqa: E402
import loop  # noqa: E402
import step  # noqa: E402
import wake  # noqa: E402
from common import Results, Sedge, log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST_CONFIG = "engine: {engine}\nthreads: 1\ninput: {{image: {{size: [28, 28], color: gray, scale: 0.00392157}}}}\n" \
               "output: {{topK: 3}}\nbatching: {{maxBatchSize: 32, maxQueueDelay: 0}}\n"


def env_num(name, default):
    v = os.environ.get(name)
    return type(default)(v) if v else default


def stack_yaml(functions):
    lines = ["version: 1.0", "provider: { name: openfaas }", "functions:"]
    for name in functions:
        lines += [f"  {name}:", "    lang: python3-http", f"    handler: ./{name}", f"    image: {name}:latest"]
    return "\n".join(lines) + "\n"


def build_bundles(sedge, names, work, out):
    """`sedge build -f stack.yml` for the handler folders in bench/scaling/functions (pip installs numpy)."""
    os.makedirs(work, exist_ok=True)
    for n in names:
        shutil.copytree(os.path.join(HERE, "functions", n), os.path.join(work, n), dirs_exist_ok=True)
    with open(os.path.join(work, "stack.yml"), "w") as f:
        f.write(stack_yaml(names))
    env = dict(os.environ, SEDGE_GATEWAY=sedge.url, SEDGE_STATE=sedge.state)
    env.pop("SEDGE_PASSWORD", None)
    t0 = time.perf_counter()
    with open(os.path.join(out, "build.log"), "w") as logf:
        p = subprocess.run([sedge.binary, "build", "-f", "stack.yml"], cwd=work, env=env, stdout=logf,
                           stderr=subprocess.STDOUT)
    if p.returncode != 0:
        with open(os.path.join(out, "build.log")) as f:
            sys.stderr.write(f.read()[-3000:])
        raise SystemExit(f"sedge build failed (see {out}/build.log)")
    log(f"built {', '.join(names)} in {time.perf_counter() - t0:.1f} s")


def prebake_evidence(sedge, name):
    """The function log's lines from the fork server (instance `prebake`), as a hint of whether it ran."""
    s, body = sedge.get(f"/system/logs?name={name}&tail=400", auth=True)
    if s != 200:
        return None
    lines = [l for l in body.decode(errors="replace").splitlines() if '"prebake"' in l]
    return {"prebake_log_lines": len(lines), "last": lines[-1][:300] if lines else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sedge", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("parts", nargs="+", choices=["wake", "concurrent", "step", "loop"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    results = Results(a.out)
    parts = a.parts
    engines = os.environ.get("ENGINES", "tract").split()
    keep = os.environ.get("KEEP_STATE") == "1"

    if any(p in parts for p in ("wake", "concurrent", "step")):
        env = {}
        if os.environ.get("ORT_DYLIB_PATH"):
            env["ORT_DYLIB_PATH"] = os.environ["ORT_DYLIB_PATH"]
        sedge = Sedge(a.sedge, ["--autoscale-interval", os.environ.get("AUTOSCALE_INTERVAL", "1s")], env=env,
                      keep_state=keep, logs_to=os.path.join(a.out, "logs-main"))
        log(f"sedge up pid {sedge.pid} on {sedge.url}, state {sedge.state}")
        try:
            names = []
            if "wake" in parts or "concurrent" in parts:
                names.append("numpy-http")
            if "step" in parts:
                names.append("sleepy-http")
            build_bundles(sedge, names, os.path.join(sedge.state, "src"), a.out)
            digit = open(os.path.join(a.models, "fixtures", "mnist_digit0_label3.png"), "rb").read()

            if "wake" in parts or "concurrent" in parts:
                sedge.deploy({"service": "wake-cat", "image": "cat", "envProcess": "cat"})
                sedge.deploy({"service": "np-prebaked", "image": "numpy-http:latest"})
                sedge.deploy({"service": "np-plain", "image": "numpy-http:latest",
                              "envVars": {"SEDGE_PREBAKE": "false"}})
                for n in ("wake-cat", "np-prebaked", "np-plain"):
                    sedge.wait_replicas(n, 1, timeout=300)

            if "wake" in parts:
                fns = [("fork cat", "wake-cat", b"hello"),
                       ("python3-http + numpy, prebaked", "np-prebaked", b"hello"),
                       ("python3-http + numpy, SEDGE_PREBAKE=false", "np-plain", b"hello")]
                for e in engines:
                    name = f"mnist-{e}"
                    sedge.deploy({"service": name, "image": name, "annotations": {
                        "com.sedge.model": os.path.join(a.models, "mnist_cnn.onnx"),
                        "com.sedge.model.config": MNIST_CONFIG.format(engine=e)}})
                    sedge.wait_replicas(name, 1, timeout=120)
                    fns.append((f"MNIST model ({e})", name, digit))
                only = os.environ.get("WAKE_ONLY")
                if only:
                    fns = [f for f in fns if f[1] in only.split()]
                res = wake.run(sedge, fns, env_num("WAKES", 100), env_num("SETTLE_MS", 100.0), a.out,
                               env_num("WARM_ROUNDS", 20))
                res["_settle_ms"] = env_num("SETTLE_MS", 100.0)
                res["_prebake"] = {n: prebake_evidence(sedge, n) for n in ("np-prebaked", "np-plain")}
                results.put("wake", res)

            if "concurrent" in parts:
                n = env_num("BURST_N", 1000)
                fns = [("fork cat", "wake-cat", lambda i: (f"call {i}".encode(), f"call {i}".encode())),
                       ("python3-http + numpy, prebaked", "np-prebaked",
                        lambda i: (f"call {i}".encode(), None))]
                res = burst.run(sedge, fns, n, env_num("BURSTS", 3), env_num("BURST_TIMEOUT", 120.0), a.out)
                results.put("concurrent", res)

            if "step" in parts:
                labels = {"com.openfaas.scale.type": "rps",
                          "com.openfaas.scale.target": os.environ.get("STEP_TARGET", "20"),
                          "com.openfaas.scale.min": "1", "com.openfaas.scale.max": os.environ.get("STEP_MAX", "10")}
                if os.environ.get("STEP_DOWN_WINDOW", "30s"):
                    labels["com.openfaas.scale.down.window"] = os.environ.get("STEP_DOWN_WINDOW", "30s")
                sedge.deploy({"service": "step-fn", "image": "sleepy-http:latest", "labels": labels})
                sedge.wait_replicas("step-fn", 1, timeout=120)
                time.sleep(env_num("STEP_SETTLE", 2.0))
                phases = [(env_num("STEP_LOW_S", 30.0), 1), (env_num("STEP_HIGH_S", 60.0), env_num("STEP_C", 64)),
                          (env_num("STEP_AFTER_S", 60.0), 1)]
                res = step.run(sedge, "step-fn", phases, a.out)
                res["labels"] = labels
                results.put("step", res)
        finally:
            sedge.stop()

    if "loop" in parts:
        res = loop.run(a.sedge, env_num("LOOP_N", 1000), env_num("LOOP_SECONDS", 30.0), env_num("LOOP_SETTLE", 10.0),
                       env_num("LOOP_INTERVAL_S", 1.0), os.path.join(a.out, "logs-loop"))
        results.put("loop", res)


if __name__ == "__main__":
    main()
