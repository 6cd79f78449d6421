"""Part `wake`: scale from zero to the first response byte.

Each wake-up: scale the function to 0, wait until describe says replicas == 0 and availableReplicas == 0, wait
SETTLE ms, then send one request on a fresh, already connected socket and time send → first response byte. Before the
wake-ups, WARM_ROUNDS calls to the ready function after the same idle gap give the warm figure beside it.
The response must be 200 and say `X-Sedge-Cold-Start: true`; `X-Sedge-Cold-Start-Ms` is recorded too."""

import csv
import os
import time

from common import fmt_ms, log, pct, raw_request


def run(sedge, functions, rounds, settle_ms, out, warm_rounds=20):
    """functions: list of (label, name, body bytes). Returns {label: summary}."""
    results = {}
    path = os.path.join(out, "wake.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["function", "round", "ttfb_ms", "total_ms", "status", "cold_start", "cold_start_ms"])
        for label, name, body in functions:
            sedge.scale(name, 1)
            sedge.wait_replicas(name, 1, timeout=300)
            warm = raw_request(sedge.host, sedge.port, f"/function/{name}", body)
            if warm["status"] != 200:
                raise RuntimeError(f"{label}: warm call answered {warm['status']}: {warm['body'][:300]!r}")
            # The same call on a ready replica after the same idle gap: what scaling to zero adds to it.
            warm_ttfb = []
            for _ in range(warm_rounds):
                time.sleep(settle_ms / 1000)
                r = raw_request(sedge.host, sedge.port, f"/function/{name}", body)
                if r["status"] == 200 and r["headers"].get("x-sedge-cold-start") == "false":
                    warm_ttfb.append(r["ttfb_ms"])
                w.writerow([label, f"warm{_}", f"{r['ttfb_ms']:.3f}", f"{r['total_ms']:.3f}", r["status"],
                            r["headers"].get("x-sedge-cold-start"), ""])
            ttfb, header_ms, bad, not_cold = [], [], [], 0
            log(f"wake: {label} ({name}), {rounds} wake-ups")
            for i in range(rounds):
                sedge.scale(name, 0)
                sedge.wait_replicas(name, 0, 0, timeout=60)
                time.sleep(settle_ms / 1000)
                r = raw_request(sedge.host, sedge.port, f"/function/{name}", body)
                cold = r["headers"].get("x-sedge-cold-start")
                ms = r["headers"].get("x-sedge-cold-start-ms")
                w.writerow([label, i, f"{r['ttfb_ms']:.3f}", f"{r['total_ms']:.3f}", r["status"], cold, ms or ""])
                if r["status"] != 200:
                    bad.append(f"round {i}: {r['status']} {r['body'][:200]!r}")
                    continue
                ttfb.append(r["ttfb_ms"])
                if cold == "true" and ms:
                    header_ms.append(float(ms))
                else:
                    not_cold += 1
            s = {
                "function": name, "rounds": rounds, "ok": len(ttfb), "failures": len(bad),
                "not_marked_cold": not_cold,
                "ttfb_p50_ms": pct(ttfb, 50), "ttfb_p99_ms": pct(ttfb, 99), "ttfb_max_ms": max(ttfb, default=None),
                "ttfb_min_ms": min(ttfb, default=None),
                "header_p50_ms": pct(header_ms, 50), "header_p99_ms": pct(header_ms, 99),
                "failure_samples": bad[:5], "warm_rounds": len(warm_ttfb),
                "warm_ttfb_p50_ms": pct(warm_ttfb, 50), "warm_ttfb_p99_ms": pct(warm_ttfb, 99),
            }
            results[label] = s
            log(f"  {label}: first byte p50 {fmt_ms(s['ttfb_p50_ms'])} p99 {fmt_ms(s['ttfb_p99_ms'])}; "
                f"X-Sedge-Cold-Start-Ms p50 {fmt_ms(s['header_p50_ms'])} p99 {fmt_ms(s['header_p99_ms'])}; "
                f"failures {len(bad)}, not marked cold {not_cold}; warm after the same idle: p50 "
                f"{fmt_ms(s['warm_ttfb_p50_ms'])} p99 {fmt_ms(s['warm_ttfb_p99_ms'])}")
            sedge.scale(name, 1)
    return results
