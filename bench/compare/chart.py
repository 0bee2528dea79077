#!/usr/bin/env python3
"""The chart of bench/compare/run.sh: one panel a figure, one bar a system,
each bar the system's figure as a share of raw libuv's (the first row),
longer is better (latency: raw's over the system's).

    chart.py TSV SVG TITLE

TSV rows: label, p50 us, p99 us, calls/s with 64 in flight, 64 KiB MB/s,
1 MiB MB/s; the first row is the baseline."""
import sys
from xml.sax.saxutils import escape

FIGURES = [
    ("latency p50", 1, "us", True),
    ("latency p99", 2, "us", True),
    ("64 calls in flight", 3, "calls/s", False),
    ("64 KiB echo", 4, "MB/s", False),
    ("1 MiB echo", 5, "MB/s", False),
]
COLORS = ["#9e9e9e", "#1f77b4", "#5fa2dd", "#d62728", "#2ca02c", "#ff7f0e"]


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: chart.py TSV SVG TITLE")
    rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])
            if line.strip()]
    if not rows:
        sys.exit("chart.py: no rows")
    base = rows[0]
    label_w, bar_w, bar_h, gap = 130, 360, 16, 4
    panel_h = 28 + len(rows) * (bar_h + gap) + 12
    width = label_w + bar_w + 190
    height = 40 + panel_h * len(FIGURES)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="22" font-size="14" font-weight="bold">'
           f'{escape(sys.argv[3])}</text>']
    y = 40
    for name, col, unit, lower_better in FIGURES:
        ref = float(base[col] or 0)
        out.append(f'<text x="10" y="{y + 14}" font-weight="bold">'
                   f'{escape(name)} (bar: share of raw libuv, longer is '
                   f'better)</text>')
        y += 24
        for i, row in enumerate(rows):
            v = float(row[col] or 0)
            if v > 0 and ref > 0:
                share = ref / v if lower_better else v / ref
            else:
                share = 0.0
            w = max(1, min(bar_w, bar_w * share / 1.5))
            shown = f"{v:,.1f} {unit}" if unit == "us" else f"{v:,.0f} {unit}"
            out.append(f'<text x="10" y="{y + 12}">{escape(row[0])}</text>')
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" '
                       f'height="{bar_h}" fill="{COLORS[i % len(COLORS)]}"/>')
            out.append(f'<text x="{label_w + bar_w + 8}" y="{y + 12}">'
                       f'{escape(shown)} ({share * 100:.0f}%)</text>')
            y += bar_h + gap
        # The raw libuv mark: 100%.
        x = label_w + bar_w / 1.5
        out.append(f'<line x1="{x:.1f}" y1="{y - len(rows) * (bar_h + gap)}"'
                   f' x2="{x:.1f}" y2="{y}" stroke="black" '
                   f'stroke-dasharray="3,3"/>')
        y += 12
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
