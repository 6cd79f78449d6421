"""Part `step`: step load c = 1 → 64 → 1 against an rps-autoscaled python3-http function.

Closed-loop load from asyncio workers on keep-alive connections (one connection per worker): PHASES gives
(seconds, concurrency). A thread samples describe (replicas, availableReplicas) every 250 ms. Per second of the
run: completed requests, p50 and p99 of their latency, errors. Time to steady state after a step: from the
step to the last change of the replica count that is followed by at least 10 s without a change (0 when the
count did not move); reported for `replicas` (the autoscaler's decision) and `availableReplicas` (ready)."""

import asyncio
import csv
import os
import threading
import time

from common import fmt_ms, log, pct
from svg import draw

STEADY_S = 10.0


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
        elif k == "connection" and "close" in v.lower():
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        close = True
    return status, close


async def _load(host, port, path, phases, lat, errors, t_start):
    total = sum(d for d, _ in phases)
    bounds, acc = [], 0.0
    for d, c in phases:
        bounds.append((acc, acc + d, c))
        acc += d
    cmax = max(c for _, c in phases)
    req = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 5\r\n\r\nhello").encode()

    def concurrency(now):
        for a, b, c in bounds:
            if a <= now < b:
                return c, b
        return 0, total

    async def worker(k):
        reader = writer = None
        while True:
            now = time.perf_counter() - t_start
            if now >= total:
                break
            c, until = concurrency(now)
            if k >= c:
                if writer:
                    writer.close()
                    reader = writer = None
                await asyncio.sleep(min(until - now, 0.5) + 0.001)
                continue
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                t0 = time.perf_counter()
                writer.write(req)
                status, close = await asyncio.wait_for(_read_response(reader), 30)
                t1 = time.perf_counter()
                if status == 200:
                    lat.append((t1 - t_start, (t1 - t0) * 1000))
                else:
                    errors.append((t1 - t_start, f"status {status}"))
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
                errors.append((time.perf_counter() - t_start, f"{type(e).__name__} {e}"))
                if writer:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(cmax)))


def steady_after(samples, start, end, index):
    """Seconds from `start` to the last change in [start, end) that is followed by STEADY_S s without change."""
    changes, prev = [], None
    for s in samples:
        if prev is not None and s[index] != prev and start <= s[0] < end:
            changes.append(s[0])
        prev = s[index]
    if not changes:
        return 0.0, False
    for i, t in enumerate(changes):
        nxt = changes[i + 1] if i + 1 < len(changes) else end
        if nxt - t >= STEADY_S:
            return t - start, True
    return changes[-1] - start, False


def run(sedge, name, phases, out):
    total = sum(d for d, _ in phases)
    lat, errors, samples = [], [], []
    stop = threading.Event()
    t_start = time.perf_counter() + 0.2

    def sampler():
        while not stop.is_set():
            now = time.perf_counter()
            try:
                r, a = sedge.replicas(name)
                samples.append((max(0.0, now - t_start), r, a))
            except Exception as e:  # noqa: BLE001 - a missed sample is only a gap in the plot
                log(f"step: describe failed: {e}")
            nxt = now + 0.25
            stop.wait(max(0.0, nxt - time.perf_counter()))

    th = threading.Thread(target=sampler, daemon=True)
    while time.perf_counter() < t_start:
        time.sleep(0.01)
    th.start()
    log(f"step: {' → '.join(f'c={c} for {d:g}s' for d, c in phases)} against {name}")
    asyncio.run(_load(sedge.host, sedge.port, f"/function/{name}", phases, lat, errors, t_start))
    stop.set()
    th.join()

    per_sec = []
    for s in range(int(total)):
        xs = [l for t, l in lat if s <= t < s + 1]
        errs = sum(1 for t, _ in errors if s <= t < s + 1)
        per_sec.append((s, pct(xs, 50), pct(xs, 99), len(xs), errs))
    with open(os.path.join(out, "step_latency.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["second", "p50_ms", "p99_ms", "requests", "errors"])
        for s, p50, p99, n, e in per_sec:
            w.writerow([s, f"{p50:.3f}" if p50 else "", f"{p99:.3f}" if p99 else "", n, e])
    with open(os.path.join(out, "step_replicas.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "replicas", "available_replicas"])
        for t, r, a in samples:
            w.writerow([f"{t:.3f}", r, a])
    bounds, acc = [], 0.0
    for d, c in phases:
        bounds.append((acc, acc + d, c))
        acc += d
    steps = [(a, f"c={c}") for a, _, c in bounds]
    draw(os.path.join(out, "step.svg"), total, samples, [(s, p50, p99, n) for s, p50, p99, n, _ in per_sec],
         steps, f"sedge: rps autoscaling of {name} under step load "
                f"({' → '.join(str(c) for _, _, c in bounds)} concurrent)")

    phase_stats = []
    for i, (a, b, c) in enumerate(bounds):
        xs = [l for t, l in lat if a <= t < b]
        # Replica count at the end of the phase, and its range over the phase's last 10 s.
        tail = [s for s in samples if b - STEADY_S <= s[0] < b]
        st_r, ok_r = steady_after(samples, a, b, 1) if i else (None, None)
        st_a, ok_a = steady_after(samples, a, b, 2) if i else (None, None)
        phase_stats.append({
            "from_s": a, "to_s": b, "concurrency": c, "requests": len(xs), "rps": len(xs) / (b - a),
            "p50_ms": pct(xs, 50), "p99_ms": pct(xs, 99),
            "errors": sum(1 for t, _ in errors if a <= t < b),
            "replicas_end": tail[-1][1] if tail else None, "available_end": tail[-1][2] if tail else None,
            "replicas_last10s": [min(s[1] for s in tail), max(s[1] for s in tail)] if tail else None,
            "steady_after_s_replicas": st_r, "steady_found_replicas": ok_r,
            "steady_after_s_available": st_a, "steady_found_available": ok_a,
            "replicas_max": max((s[1] for s in samples if a <= s[0] < b), default=None),
        })
    for p in phase_stats:
        log(f"  {p['from_s']:g}–{p['to_s']:g} s c={p['concurrency']}: {p['rps']:.0f} req/s, p50 {fmt_ms(p['p50_ms'])}, "
            f"p99 {fmt_ms(p['p99_ms'])}, errors {p['errors']}, replicas at end {p['replicas_end']} "
            f"(available {p['available_end']}), steady after {p['steady_after_s_replicas']} s "
            f"(available: {p['steady_after_s_available']} s)")
    return {"function": name, "phases": phase_stats, "samples": len(samples), "errors": len(errors),
            "error_samples": [e for _, e in errors[:5]]}
