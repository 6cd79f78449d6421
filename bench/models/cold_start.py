"""Cold start of a model function: `POST /system/functions` (basic auth), then at once the first
`POST /v2/models/NAME/infer`, repeated until it answers 200; the time from sending the deploy to that answer.
Each round deploys a fresh function name (PREFIX1, PREFIX2, …) and removes it afterwards.

    python cold_start.py http://127.0.0.1:PORT PASSWORD MODEL.onnx 'engine: tract' REQUEST.json [--rounds 5] [--prefix m]

Prints `median_ms min_ms max_ms deploy_median_ms` on one line (deploy_ms: the deploy call alone).
"""
import argparse
import base64
import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlparse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gateway")
    ap.add_argument("password")
    ap.add_argument("model")
    ap.add_argument("config")
    ap.add_argument("request")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prefix", default="m")
    a = ap.parse_args()
    u = urlparse(a.gateway)
    auth = "Basic " + base64.b64encode(f"admin:{a.password}".encode()).decode()
    with open(a.request, "rb") as f:
        body = f.read()
    totals, deploys = [], []
    for i in range(1, a.rounds + 1):
        name = f"{a.prefix}{i}"
        dep = json.dumps({
            "service": name,
            "image": "sedge/model",
            "annotations": {"com.sedge.model": a.model, "com.sedge.model.config": a.config},
        }).encode()
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        t0 = time.perf_counter()
        c.request("POST", "/system/functions", dep, {"Authorization": auth, "Content-Type": "application/json"})
        r = c.getresponse()
        text = r.read()
        t_dep = time.perf_counter()
        if r.status >= 300:
            sys.exit(f"deploy {name}: {r.status} {text.decode(errors='replace')}")
        tries = 0
        while True:
            c.request("POST", f"/v2/models/{name}/infer", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read()
            tries += 1
            if r.status == 200:
                break
            if time.perf_counter() - t0 > 30:
                sys.exit(f"{name}: no 200 within 30 s, last {r.status} {text[:200]!r}")
            time.sleep(0.0005)
        t1 = time.perf_counter()
        totals.append((t1 - t0) * 1000)
        deploys.append((t_dep - t0) * 1000)
        c.request("DELETE", "/system/functions", json.dumps({"functionName": name}).encode(),
                  {"Authorization": auth, "Content-Type": "application/json"})
        c.getresponse().read()
        c.close()
        print(f"  {name}: {totals[-1]:.1f} ms (deploy call {deploys[-1]:.1f} ms, infer tries {tries})", file=sys.stderr)
        time.sleep(0.2)
    print(f"{statistics.median(totals):.1f} {min(totals):.1f} {max(totals):.1f} {statistics.median(deploys):.1f}")


if __name__ == "__main__":
    main()
