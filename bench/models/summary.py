"""Prints bench/models.sh's Markdown tables from its results file (`key value` lines).

    python summary.py RESULTS SECTION     # SECTION: raw latency peer batching large cold goals
"""
import sys

R = {}
for line in open(sys.argv[1]):
    k, _, v = line.strip().partition(" ")
    if k:
        R[k] = v
section = sys.argv[2]


def num(key):
    v = R.get(key)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def has(prefix):
    return num(prefix + "_rps") is not None


def ms(v):
    if v is None:
        return "—"
    return f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"


def rate(v):
    return "—" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def row(*cells):
    print("| " + " | ".join(str(c) for c in cells) + " |")


def load_rows(title, items):
    """items: (label, result prefix, c, extra)"""
    print(f"\n### {title}\n")
    row("case", "c", "req/s", "p50", "p99", "errors", "notes")
    row(*["---"] * 7)
    for label, p, c, extra in items:
        if has(p):
            row(label, c, rate(num(p + "_rps")), ms(num(p + "_p50")), ms(num(p + "_p99")), R.get(p + "_err", "0"), extra(p) if extra else "")


def engine_note(p):
    e = num(p + "_engine_ms")
    return "" if e is None else f"engine call {ms(e)} mean (sedge /metrics)"


def batch_note(p):
    b = num(p + "_batch")
    return "" if b is None else f"mean batch {b:.1f}"


def both_notes(p):
    return "; ".join(n for n in (batch_note(p), engine_note(p)) if n)


engines = [e for e in ("tract", "ort") if has(f"lat_{e}") or has(f"c32_{e}_b32") or has(f"large_{e}")]

if section == "raw":
    print("\n### Raw onnxruntime (Python API, 1 intra-op thread, spinning off)\n")
    row("figure", "value")
    row("---", "---")
    row("mnist_cnn b1 `sess.run` p50", ms(num("raw_mnist_p50")))
    row("mnist_cnn b1 `sess.run` p99", ms(num("raw_mnist_p99")))
    row("mnist_cnn b1 calls/s (one caller)", rate(num("raw_mnist_per_s")))
    row("mobilenetv2 b1 samples/s (one caller)", rate(num("raw_mb_b1")))
    row("mobilenetv2 b2 samples/s (one caller)", rate(num("raw_mb_b2")))
    row("mobilenetv2 b1 samples/s (two callers, two sessions)", rate(num("raw_mb_2callers")))

elif section == "latency":
    load_rows("sedge /v2 infer, mnist_cnn b1 JSON, c=1", [
        (f"sedge, engine {e}", f"lat_{e}", 1, engine_note) for e in ("tract", "ort")])

elif section == "peer":
    items = [("MLServer 1.7.1, custom onnxruntime runtime, parallel_workers 0", "peer_c1", 1, None)]
    items += [(f"sedge, engine {e}", f"lat_{e}", 1, None) for e in ("tract", "ort")]
    items += [("MLServer (same)", "peer_c32", 32, None)]
    items += [(f"sedge, engine {e}, maxBatchSize 32", f"c32_{e}_b32", 32, batch_note) for e in ("tract", "ort")]
    load_rows("sedge vs MLServer, mnist_cnn b1 JSON", items)

elif section == "batching":
    items = []
    for e in ("tract", "ort"):
        items += [(f"sedge, engine {e}, maxBatchSize 32", f"c32_{e}_b32", 32, batch_note),
                  (f"sedge, engine {e}, maxBatchSize 1", f"c32_{e}_b1", 32, batch_note)]
    load_rows("Adaptive batching, mnist_cnn b1 JSON, c=32", items)

elif section == "large":
    items = [
        ("sedge, engine ort, 1 instance, binary body", "large_ort", 2, both_notes),
        ("sedge, engine ort, 2 instances (scaling.min 2), binary body", "large_ort2", 2, both_notes),
        ("sedge, engine ort, 1 instance, JSON body (3 MB)", "large_ortjson", 2, both_notes),
        ("sedge, engine tract, 1 instance, binary body", "large_tract", 2, both_notes),
    ]
    load_rows("mobilenetv2_random b1 (req/s = samples/s)", items)
    print(f"\nraw onnxruntime, 1 thread, b1, measured just before: {rate(num('large_raw_b1'))} samples/s"
          f" (in the raw part: {rate(num('raw_mb_b1'))}; two callers: {rate(num('raw_mb_2callers'))})")

elif section == "cold":
    print(f"\n### Cold start: deploy → first inference answered (median of {R.get('rounds', '?')} fresh function names)\n")
    row("model", "engine", "median", "min", "max", "deploy call alone", "fresh Python process (median)", "Python ÷ sedge")
    row(*["---"] * 8)
    for m in ("mnist", "centerface"):
        for e in ("tract", "ort"):
            p = f"cold_{m}_{e}"
            if num(p + "_median") is None:
                continue
            py = num(f"cold_py_{m}_median")
            ratio = f"{py / num(p + '_median'):.1f}×" if py else "—"
            row(m, e, ms(num(p + "_median")), ms(num(p + "_min")), ms(num(p + "_max")), ms(num(p + "_deploy")), ms(py), ratio)

elif section == "goals":
    print("\n### Goals\n")
    row("figure", "goal", "measured", "")
    row("---", "---", "---", "---")

    def goal(fig, text, value, ok):
        if value is not None:
            row(fig, text, value, "met" if ok else "**missed**")

    for e in ("tract", "ort"):
        p50 = num(f"lat_{e}_p50")
        if p50 is None:
            continue
        goal(f"mnist c=1 p50, {e}", "≤ 0.3 ms", ms(p50), p50 <= 0.3)
        base, how = (num("raw_mnist_p50"), "raw onnxruntime-Python `sess.run` p50") if e == "ort" else \
            (num(f"lat_{e}_engine_ms"), "sedge's own mean tract engine call")
        if base is not None:
            goal(f"added latency over the engine call, {e}", "≤ 0.2 ms p50",
                 f"{ms(p50 - base)} ({ms(p50)} − {ms(base)}, {how})", p50 - base <= 0.2)
    peer, peer99 = num("peer_c32_rps"), num("peer_c32_p99")
    for e in ("tract", "ort"):
        s, s99 = num(f"c32_{e}_b32_rps"), num(f"c32_{e}_b32_p99")
        if s is None or peer is None:
            continue
        goal(f"c=32 req/s vs MLServer, {e}", "≥ 3×", f"{s / peer:.1f}× ({rate(s)} vs {rate(peer)})", s >= 3 * peer)
        goal(f"c=32 p99 vs MLServer, {e}", "lower", f"{ms(s99)} vs {ms(peer99)}", s99 < peer99)
    for e in ("tract", "ort"):
        b, n = num(f"c32_{e}_b32_rps"), num(f"c32_{e}_b1_rps")
        if b is None or n is None:
            continue
        b99, n99 = num(f"c32_{e}_b32_p99"), num(f"c32_{e}_b1_p99")
        goal(f"batching c=32 req/s, {e}", "≥ 2× maxBatchSize 1", f"{b / n:.2f}× ({rate(b)} vs {rate(n)})", b >= 2 * n)
        goal(f"batching c=32 p99, {e}", "no worse", f"{ms(b99)} vs {ms(n99)}", b99 <= n99)
    raw1, raw2 = num("large_raw_b1") or num("raw_mb_b1"), num("raw_mb_2callers")
    if raw1:
        s = num("large_ort_rps")
        goal("mobilenetv2 c=2 samples/s, sedge ort ÷ raw onnxruntime (1 thread)", "≥ 0.95",
             f"{s / raw1:.2f} ({rate(s)} vs {rate(raw1)})" if s else None, s and s >= 0.95 * raw1)
        s = num("large_tract_rps")
        if s:
            row("mobilenetv2 c=2 samples/s, sedge tract ÷ raw onnxruntime (1 thread)", "reported",
                f"{s / raw1:.2f} ({rate(s)} vs {rate(raw1)})", "—")
    s = num("large_ort2_rps")
    if raw2 and s:
        row("mobilenetv2 c=2, sedge ort 2 instances ÷ raw onnxruntime 2 callers", "reported",
            f"{s / raw2:.2f} ({rate(s)} vs {rate(raw2)})", "—")
    for m, limit in (("mnist", 30), ("centerface", 200)):
        for e in ("tract", "ort"):
            v = num(f"cold_{m}_{e}_median")
            py = num(f"cold_py_{m}_median")
            if v is not None:
                goal(f"cold start {m}, {e}", f"≤ {limit} ms",
                     f"{ms(v)}" + (f" (fresh Python process {ms(py)}: Python ÷ sedge = {py / v:.1f})" if py else ""), v <= limit)
