"""Part `concurrent`: N concurrent requests (default 1,000, one connection each) to a function at zero.

The function is scaled to 0 and confirmed at replicas == 0 / availableReplicas == 0; then N asyncio tasks each
open a connection, send one POST and read the whole response. Reported per burst: failures (a connection
error, a timeout or a status other than 200, or a body that is not the expected one), the time from the start
of the burst until the last response was read, per-request latency p50/p99, and how many responses said
`X-Sedge-Cold-Start: true`."""

import asyncio
import csv
import os
import time

from common import fmt_ms, log, parse_response, pct


async def one(host, port, path, body, timeout):
    t0 = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
                      f"Connection: close\r\n\r\n").encode() + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    t1 = time.perf_counter()
    status, headers, payload = parse_response(data)
    return t0, t1, status, headers, payload


async def burst(host, port, path, bodies, timeout):
    t0 = time.perf_counter()
    rs = await asyncio.gather(*(one(host, port, path, b, timeout) for b in bodies), return_exceptions=True)
    return t0, rs


def run(sedge, functions, n, rounds, timeout, out):
    """functions: list of (label, name, check) where check(i) -> (body, expected body or None)."""
    results = {}
    path = os.path.join(out, "concurrent.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["function", "burst", "request", "start_ms", "end_ms", "status", "cold_start", "cold_start_ms",
                    "error"])
        for label, name, check in functions:
            per_round = []
            for r in range(rounds):
                sedge.scale(name, 0)
                sedge.wait_replicas(name, 0, 0, timeout=60)
                time.sleep(0.1)
                cases = [check(i) for i in range(n)]
                log(f"concurrent: {label}, burst {r + 1}/{rounds}: {n} requests at zero")
                t0, rs = asyncio.run(burst(sedge.host, sedge.port, f"/function/{name}", [c[0] for c in cases],
                                           timeout))
                fails, cold, lat, ends, cold_ms, samples = 0, 0, [], [], [], []
                for i, res in enumerate(rs):
                    if isinstance(res, BaseException):
                        fails += 1
                        samples.append(f"{i}: {type(res).__name__} {res}")
                        w.writerow([label, r, i, "", "", "", "", "", f"{type(res).__name__} {res}"])
                        continue
                    s0, s1, status, headers, payload = res
                    expected = cases[i][1]
                    ok = status == 200 and (expected is None or payload == expected)
                    c = headers.get("x-sedge-cold-start")
                    ms = headers.get("x-sedge-cold-start-ms")
                    w.writerow([label, r, i, f"{(s0 - t0) * 1000:.3f}", f"{(s1 - t0) * 1000:.3f}", status, c, ms or "",
                                "" if ok else f"body {payload[:100]!r}"])
                    if not ok:
                        fails += 1
                        samples.append(f"{i}: {status} {payload[:200]!r}")
                        continue
                    lat.append((s1 - s0) * 1000)
                    ends.append((s1 - t0) * 1000)
                    if c == "true":
                        cold += 1
                        if ms:
                            cold_ms.append(float(ms))
                d = sedge.describe(name)
                one_round = {
                    "requests": n, "failures": fails, "all_answered_ms": max(ends, default=None),
                    "latency_p50_ms": pct(lat, 50), "latency_p99_ms": pct(lat, 99), "marked_cold": cold,
                    "cold_ms_max": max(cold_ms, default=None), "cold_ms_p50": pct(cold_ms, 50),
                    "replicas_after": d.get("replicas"), "failure_samples": samples[:5],
                }
                per_round.append(one_round)
                log(f"  failures {fails}, all answered after {fmt_ms(one_round['all_answered_ms'])}, "
                    f"latency p50 {fmt_ms(one_round['latency_p50_ms'])} p99 {fmt_ms(one_round['latency_p99_ms'])}, "
                    f"marked cold {cold} (X-Sedge-Cold-Start-Ms max {fmt_ms(one_round['cold_ms_max'])}), "
                    f"replicas after {one_round['replicas_after']}")
                time.sleep(1)
            results[label] = {"function": name, "bursts": per_round}
            sedge.scale(name, 1)
    return results
