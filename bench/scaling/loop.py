"""Part `loop`: what the autoscaler loop costs with many functions deployed.

Two fresh `sedge up --autoscale-interval 1s` instances, one after the other, each with N fork-mode `cat`
functions (default 1,000): first with `com.openfaas.scale.type: rps` labels (every function autoscaled), then
without scale labels (static: the loop has nothing to decide), then with no function at all (sedge's own idle cost). After the deploys and a settle pause, sedge's
own CPU time is read over an idle window (default 30 s): utime + stime from /proc/<pid>/stat (clock ticks, 10 ms
resolution) and, for finer resolution, the sum of /proc/<pid>/task/*/schedstat run times of its threads.
CPU per tick = (autoscaled − baseline) / ticks in the window."""

import http.client
import json
import time

from common import Sedge, log


def deploy_many(sedge, n, labels):
    c = http.client.HTTPConnection(sedge.host, sedge.port, timeout=60)
    t0 = time.perf_counter()
    for i in range(n):
        spec = {"service": f"cat{i:04d}", "image": "cat", "envProcess": "cat"}
        if labels:
            spec["labels"] = labels
        body = json.dumps(spec).encode()
        for attempt in range(3):
            try:
                c.request("POST", "/system/functions", body=body,
                          headers={"Authorization": sedge.auth, "Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                break
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection(sedge.host, sedge.port, timeout=60)
                if attempt == 2:
                    raise
        if r.status not in (200, 202):
            raise RuntimeError(f"deploy cat{i:04d}: {r.status}")
    c.close()
    return time.perf_counter() - t0


def measure(binary, n, labels, seconds, settle, interval, logs_to):
    sedge = Sedge(binary, ["--autoscale-interval", interval], logs_to=logs_to)
    try:
        took = deploy_many(sedge, n, labels)
        s, body = sedge.get("/system/functions", auth=True)
        listed = len(json.loads(body)) if s == 200 else None
        time.sleep(settle)
        c0, n0, w0 = sedge.cpu_seconds(), sedge.sched_ns(), time.perf_counter()
        time.sleep(seconds)
        c1, n1, w1 = sedge.cpu_seconds(), sedge.sched_ns(), time.perf_counter()
        return {"functions": listed, "deploy_s": took, "window_s": w1 - w0, "cpu_s": c1 - c0,
                "sched_cpu_s": (n1 - n0) / 1e9, "rss_kib": sedge.rss_kib()}
    finally:
        sedge.stop()


def run(binary, n, seconds, settle, interval_s, out_logs):
    interval = f"{interval_s:g}s"
    log(f"loop: {n} autoscaled fork-mode functions (scale.type rps), {seconds:g} s idle at --autoscale-interval {interval}")
    auto = measure(binary, n, {"com.openfaas.scale.type": "rps"}, seconds, settle, interval, out_logs + "-autoscaled")
    log(f"  autoscaled: {auto}")
    log(f"loop: {n} fork-mode functions without scale labels (baseline)")
    base = measure(binary, n, None, seconds, settle, interval, out_logs + "-static")
    log(f"  static: {base}")
    log("loop: no functions at all (what an idle sedge costs by itself)")
    empty = measure(binary, 0, None, seconds, settle, interval, out_logs + "-empty")
    log(f"  empty: {empty}")
    ticks = seconds / interval_s
    res = {"functions": n, "interval_s": interval_s, "window_s": seconds, "ticks": ticks,
           "autoscaled": auto, "static": base, "empty": empty,
           "cpu_per_tick_ms": (auto["cpu_s"] - base["cpu_s"]) / ticks * 1000,
           "sched_cpu_per_tick_ms": (auto["sched_cpu_s"] - base["sched_cpu_s"]) / ticks * 1000}
    res["cpu_per_tick_per_function_us"] = res["sched_cpu_per_tick_ms"] * 1000 / n
    log(f"  CPU per tick: {res['cpu_per_tick_ms']:.2f} ms (/proc stat), {res['sched_cpu_per_tick_ms']:.2f} ms (schedstat)")
    return res
