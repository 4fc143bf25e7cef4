"""The bench's chart as a small hand-written SVG (no plotting dependency): throughput per target on one scenario and
added latency (p50 and p99) per target on another, as horizontal bars on a log scale (the targets span four orders of
magnitude) with their values written beside them."""

from __future__ import annotations

import math
from html import escape

from bench.report import Scenario

_BAR, _GAP, _LABEL_W, _BAR_W, _TOP = 18, 8, 170, 330, 46
_COLOURS = {"rps": "#3b6ea8", "p50": "#3b8f6e", "p99": "#c07a2c"}


def _panel(title: str, x: int, rows: list[tuple[str, list[tuple[str, float | None]]]], unit: str) -> list[str]:
    positive = [v for _, bars in rows for _, v in bars if v is not None and not math.isnan(v) and v > 0]
    low = 10 ** math.floor(math.log10(min(positive, default=1.0)))
    high = max(10 ** math.ceil(math.log10(max(positive, default=1.0))), low * 10)
    span = math.log10(high / low)
    parts = [f'<text x="{x}" y="24" font-weight="bold">{escape(title)}</text>']
    y = _TOP
    for label, bars in rows:
        height = len(bars) * _BAR
        parts.append(f'<text x="{x}" y="{y + height / 2 + 4:.0f}">{escape(label)}</text>')
        for series, value in bars:
            if value is None or math.isnan(value):
                parts.append(f'<text x="{x + _LABEL_W}" y="{y + 13}" fill="#888">not run</text>')
            else:
                width = max(1.0, _BAR_W * math.log10(value / low) / span) if value > 0 else 1.0
                parts.append(
                    f'<rect x="{x + _LABEL_W}" y="{y + 2}" width="{width:.1f}" height="{_BAR - 4}" '
                    f'fill="{_COLOURS[series]}"/>'
                )
                text = f"{value:,.0f}" if unit == "req/s" else f"{value:,.2f}"
                suffix = f" {unit}" if series == "rps" else f" ms {series}"
                parts.append(f'<text x="{x + _LABEL_W + width + 4:.1f}" y="{y + 13}">{text}{suffix}</text>')
            y += _BAR
        y += _GAP
    return parts


def render(throughput: Scenario, latency: Scenario, *, subtitle: str) -> str:
    """Requests/s per target in `throughput`, and p50/p99 added over the direct row per target in `latency`."""
    rps_rows: list[tuple[str, list[tuple[str, float | None]]]] = [
        (c.target, [("rps", None if c.not_run else c.rps)]) for c in throughput.cells
    ]
    direct = next((c for c in latency.cells if c.not_run is None and c.target.startswith("direct")), None)
    latency_rows: list[tuple[str, list[tuple[str, float | None]]]] = []
    for c in latency.cells:
        if direct is None or c is direct:
            continue
        added50 = None if c.not_run else c.p50_ms - direct.p50_ms
        added99 = None if c.not_run else c.p99_ms - direct.p99_ms
        latency_rows.append((c.target, [("p50", added50), ("p99", added99)]))
    panel_w = _LABEL_W + _BAR_W + 150
    rows = max(sum(len(b) for _, b in rps_rows), sum(len(b) for _, b in latency_rows))
    height = _TOP + rows * _BAR + max(len(rps_rows), len(latency_rows)) * _GAP + 30
    width = 2 * panel_w + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        *_panel(f"{throughput.name}: requests/s (log scale)", 10, rps_rows, "req/s"),
        *_panel(f"{latency.name}: latency added over direct (log scale)", 10 + panel_w + 10, latency_rows, "ms"),
        f'<text x="10" y="{height - 10}" fill="#555">{escape(subtitle)}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
