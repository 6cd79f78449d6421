"""Prints bench/scaling.sh's Markdown tables from <out>/results.json.

    python3 bench/scaling/summary.py target/bench-scaling/results.json [wake concurrent step loop]"""

import json
import sys

from common import fmt_ms as ms

GOALS = {"fork cat": 20.0, "python3-http + numpy, prebaked": 50.0, "MNIST model": 30.0}


def goal_for(label):
    for k, g in GOALS.items():
        if label.startswith(k):
            return g
    return None


def wake(r):
    print(f"\n### Scale from zero → first byte ({next(iter(v['rounds'] for k, v in r.items() if not k.startswith('_')))}"
          f" wake-ups each, {r.get('_settle_ms', 0):g} ms after replicas = available = 0)\n")
    print("| function | first byte p50 | p99 | max | X-Sedge-Cold-Start-Ms p50 | p99 | marked cold | failures | "
          "warm, same idle gap: p50 / p99 | goal (p50/p99) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, s in r.items():
        if label.startswith("_"):
            continue
        g = goal_for(label)
        verdict = "—"
        if g is not None and s["ttfb_p50_ms"] is not None:
            verdict = f"≤ {g:g} ms: " + ("met" if s["ttfb_p99_ms"] <= g else
                                         ("p50 met, **p99 missed**" if s["ttfb_p50_ms"] <= g else "**missed**"))
        cold = f"{s['ok'] - s['not_marked_cold']}/{s['rounds']}"
        print(f"| {label} | {ms(s['ttfb_p50_ms'])} | {ms(s['ttfb_p99_ms'])} | {ms(s['ttfb_max_ms'])} | "
              f"{ms(s['header_p50_ms'])} | {ms(s['header_p99_ms'])} | {cold} | {s['failures']} | "
              f"{ms(s.get('warm_ttfb_p50_ms'))} / {ms(s.get('warm_ttfb_p99_ms'))} | {verdict} |")
    pb = r.get("_prebake") or {}
    for name, ev in pb.items():
        if ev:
            print(f"\n{name}: {ev['prebake_log_lines']} fork-server log lines" +
                  (f"; last: `{ev['last']}`" if ev["last"] else ""))


def concurrent(r):
    print("\n### Concurrent requests to a function at zero\n")
    print("| function | burst | requests | failures | all answered after | latency p50 | p99 | marked cold | "
          "X-Sedge-Cold-Start-Ms max | replicas after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, s in r.items():
        for i, b in enumerate(s["bursts"]):
            print(f"| {label} | {i + 1} | {b['requests']:,} | {b['failures']} | {ms(b['all_answered_ms'])} | "
                  f"{ms(b['latency_p50_ms'])} | {ms(b['latency_p99_ms'])} | {b['marked_cold']} | "
                  f"{ms(b['cold_ms_max'])} | {b['replicas_after']} |")
        for b in s["bursts"]:
            for f in b["failure_samples"]:
                print(f"  failure ({label}): {f}")


def step(r):
    labels = ", ".join(f"{k.removeprefix('com.openfaas.scale.')}={v}" for k, v in r.get("labels", {}).items())
    print(f"\n### Step load against {r['function']} ({labels})\n")
    print("| phase | c | req/s | p50 | p99 | errors | replicas at end (last 10 s range) | max replicas | "
          "steady after (replicas) | steady after (available) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in r["phases"]:
        def st(v, ok):
            if v is None:
                return "—"
            return f"{v:.1f} s" + ("" if ok else " (not steady for 10 s before the phase ended)")
        rng = p["replicas_last10s"]
        print(f"| {p['from_s']:g}–{p['to_s']:g} s | {p['concurrency']} | {p['rps']:,.0f} | {ms(p['p50_ms'])} | "
              f"{ms(p['p99_ms'])} | {p['errors']} | {p['replicas_end']} ({rng[0]}–{rng[1]}) | {p['replicas_max']} | "
              f"{st(p['steady_after_s_replicas'], p['steady_found_replicas'])} | "
              f"{st(p['steady_after_s_available'], p['steady_found_available'])} |")


def loop(r):
    a, s = r["autoscaled"], r["static"]
    print(f"\n### Autoscaler loop cost: {r['functions']:,} fork-mode functions, {r['window_s']:g} s idle, "
          f"interval {r['interval_s']:g} s ({r['ticks']:g} ticks)\n")
    print("| instance | sedge CPU, utime+stime | CPU, schedstat | RSS | deploy of all functions |")
    print("|---|---|---|---|---|")
    rows = [("autoscaled (scale.type rps)", a), ("static (no scale labels)", s)]
    if "empty" in r:
        rows.append(("no functions", r["empty"]))
    for name, x in rows:
        print(f"| {name} | {x['cpu_s'] * 1000:.0f} ms | {x['sched_cpu_s'] * 1000:.1f} ms | "
              f"{x['rss_kib'] / 1024:.1f} MiB | {x['deploy_s']:.1f} s |")
    print(f"| **difference per tick** | {r['cpu_per_tick_ms']:.2f} ms | {r['sched_cpu_per_tick_ms']:.2f} ms "
          f"({r['cpu_per_tick_per_function_us']:.2f} µs per function) | | |")


def main():
    data = json.load(open(sys.argv[1]))
    parts = sys.argv[2:] or ["wake", "concurrent", "step", "loop"]
    for p in parts:
        if p in data:
            globals()[p](data[p])


if __name__ == "__main__":
    main()
