"""A hand-drawn SVG of the step-load run: replicas over time (top) and latency per second (bottom), with the
load steps marked. No plotting library: plain SVG elements."""

import math
from xml.sax.saxutils import escape

W, H = 960, 640
LEFT, RIGHT = 70, 80
TOP_Y, TOP_H = 50, 230
BOT_Y, BOT_H = 350, 230
COLORS = {"replicas": "#1f77b4", "available": "#17becf", "rps": "#999999", "p50": "#2ca02c", "p99": "#d62728"}


def _nice_step(span, ticks=5):
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def draw(path, duration, replicas, seconds, steps, title):
    """replicas: [(t, replicas, available)]; seconds: [(second, p50_ms, p99_ms, rps)]; steps: [(t, label)]."""
    pw = W - LEFT - RIGHT
    x = lambda t: LEFT + pw * t / duration
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>']

    def frame(y0, h, ylabel, yticks, ymap, right=None):
        out.append(f'<rect x="{LEFT}" y="{y0}" width="{pw}" height="{h}" fill="none" stroke="#333"/>')
        for v, label in yticks:
            yy = ymap(v)
            out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
        out.append(f'<text transform="translate(18,{y0 + h / 2}) rotate(-90)" text-anchor="middle">'
                   f'{escape(ylabel)}</text>')
        if right:
            rlabel, rticks, rmap = right
            for v, label in rticks:
                yy = rmap(v)
                out.append(f'<text x="{LEFT + pw + 6}" y="{yy + 4:.1f}" fill="{COLORS["rps"]}">{label}</text>')
            out.append(f'<text transform="translate({W - 14},{y0 + h / 2}) rotate(90)" text-anchor="middle" '
                       f'fill="{COLORS["rps"]}">{escape(rlabel)}</text>')
        tstep = _nice_step(duration, 10)
        t = 0.0
        while t <= duration + 1e-9:
            xx = x(t)
            out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{y0 + h}" y2="{y0 + h + 5}" stroke="#333"/>')
            out.append(f'<text x="{xx:.1f}" y="{y0 + h + 18}" text-anchor="middle">{t:g}</text>')
            t += tstep
        out.append(f'<text x="{LEFT + pw / 2}" y="{y0 + h + 34}" text-anchor="middle">time since start (s)</text>')
        for t, label in steps:
            xx = x(t)
            out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{y0}" y2="{y0 + h}" stroke="#888" '
                       f'stroke-dasharray="4,3"/>')
            out.append(f'<text x="{xx + 4:.1f}" y="{y0 + 14}" fill="#555">{escape(label)}</text>')

    def poly(points, color, dash=None, width=1.6):
        if not points:
            return
        d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"{extra}/>')

    def legend(x0, y0, items):
        for i, (label, color, dash) in enumerate(items):
            xx = x0 + i * 150
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{xx}" x2="{xx + 24}" y1="{y0}" y2="{y0}" stroke="{color}" stroke-width="2"{extra}/>')
            out.append(f'<text x="{xx + 30}" y="{y0 + 4}">{escape(label)}</text>')

    # --- top: replicas (steps) and throughput ---------------------------------------------------------------
    rmax = max([r for _, r, _ in replicas] + [a for _, _, a in replicas] + [1])
    rtop = rmax + 1
    ry = lambda v: TOP_Y + TOP_H - TOP_H * v / rtop
    rstep = max(1, int(_nice_step(rtop, 6)))
    rps_max = max([s[3] for s in seconds] + [1])
    rps_step = _nice_step(rps_max, 5)
    rps_top = math.ceil(rps_max / rps_step) * rps_step
    qy = lambda v: TOP_Y + TOP_H - TOP_H * v / rps_top
    frame(TOP_Y, TOP_H, "replicas", [(v, str(v)) for v in range(0, rtop + 1, rstep)], ry,
          right=("throughput (req/s)",
                 [(rps_step * i, f"{rps_step * i:g}") for i in range(int(rps_top / rps_step) + 1)], qy))
    poly([(x(s + 0.5), qy(q)) for s, _, _, q in seconds], COLORS["rps"], width=1)

    def stepped(values):
        pts, prev = [], None
        for t, v in values:
            if prev is not None:
                pts.append((x(t), ry(prev)))
            pts.append((x(t), ry(v)))
            prev = v
        return pts

    poly(stepped([(t, a) for t, _, a in replicas]), COLORS["available"], dash="5,3")
    poly(stepped([(t, r) for t, r, _ in replicas]), COLORS["replicas"], width=2)
    legend(LEFT + 10, TOP_Y - 10, [("replicas (desired)", COLORS["replicas"], None),
                                   ("availableReplicas", COLORS["available"], "5,3"),
                                   ("throughput (right axis)", COLORS["rps"], None)])

    # --- bottom: latency per second, log scale ---------------------------------------------------------------
    vals = [v for s in seconds for v in (s[1], s[2]) if v]
    lo = 10 ** math.floor(math.log10(min(vals))) if vals else 1
    hi = 10 ** math.ceil(math.log10(max(vals))) if vals else 1000
    if hi <= lo:
        hi = lo * 10
    ly = lambda v: BOT_Y + BOT_H - BOT_H * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    decades = round(math.log10(hi / lo))
    ticks, v = [], lo
    while v <= hi * 1.0001:
        for m in ((1,) if decades > 2 else (1, 2, 5)):
            if v * m <= hi * 1.0001:
                ticks.append((v * m, f"{v * m:g}"))
        v *= 10
    frame(BOT_Y, BOT_H, "latency per second (ms, log)", ticks, ly)
    poly([(x(s + 0.5), ly(p)) for s, p, _, _ in seconds if p], COLORS["p50"])
    poly([(x(s + 0.5), ly(p)) for s, _, p, _ in seconds if p], COLORS["p99"])
    legend(LEFT + 10, BOT_Y - 10, [("p50", COLORS["p50"], None), ("p99", COLORS["p99"], None)])
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
