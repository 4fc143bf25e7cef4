"""The bench's results and their Markdown: one table of absolute figures per scenario and target, one table of
ratios Waypost / peer, and the summary lines (fake measured directly, propagation, RSS with a large snapshot)."""

from __future__ import annotations

import math

import msgspec

from bench.loadgen import percentile

DIRECT, NGINX, WAYPOST = "direct to fake", "nginx proxy_pass", "waypost data plane"
RATIO_PEERS = ("MLflow AI Gateway", "Portkey gateway", "LiteLLM proxy", NGINX)


class Cell(msgspec.Struct, frozen=True, kw_only=True):
    target: str
    rps: float = 0.0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    errors: int = 0
    ttfb_p50_ms: float | None = None
    ttfb_p99_ms: float | None = None
    cpu_ms_per_request: float | None = None
    rss_mib: float | None = None
    not_run: str | None = None  # the reason a target has no figures here


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str  # "throughput": ratios of req/s; "latency": ratios of added p50 (TTFB p50 when measured)
    cells: list[Cell]


class Summary(msgspec.Struct, kw_only=True):
    fake_direct: dict[str, float] = msgspec.field(default_factory=dict)  # fake name → req/s measured directly
    propagation: dict[str, list[float]] = msgspec.field(default_factory=dict)  # label → seconds per change
    rss_mib: dict[str, float] = msgspec.field(default_factory=dict)  # label → MiB
    notes: list[str] = msgspec.field(default_factory=list)


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _headline(scenario: Scenario, cell: Cell, direct: Cell | None) -> float | None:
    """The figure a ratio compares: req/s, or latency added over the direct baseline."""
    if cell.not_run is not None:
        return None
    if scenario.kind == "throughput":
        return cell.rps
    if direct is None:
        return None
    if cell.ttfb_p50_ms is not None and direct.ttfb_p50_ms is not None:
        return cell.ttfb_p50_ms - direct.ttfb_p50_ms
    return cell.p50_ms - direct.p50_ms


def _direct(scenario: Scenario) -> Cell | None:
    return next((c for c in scenario.cells if c.target == DIRECT and c.not_run is None), None)


def results_table(scenarios: list[Scenario]) -> str:
    lines = [
        "| scenario | target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors "
        "| TTFB p50 ms | TTFB p99 ms | CPU ms/req | RSS MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in scenarios:
        direct = _direct(scenario)
        for c in scenario.cells:
            if c.not_run is not None:
                lines.append(f"| {scenario.name} | {c.target} | not run ({c.not_run}) |" + " |" * 9)
                continue
            added50 = c.p50_ms - direct.p50_ms if direct else None
            added99 = c.p99_ms - direct.p99_ms if direct else None
            lines.append(
                f"| {scenario.name} | {c.target} | {_num(c.rps, 0)} | {_num(c.p50_ms)} | {_num(c.p99_ms)} "
                f"| {_num(added50)} | {_num(added99)} | {c.errors} | {_num(c.ttfb_p50_ms)} | {_num(c.ttfb_p99_ms)} "
                f"| {_num(c.cpu_ms_per_request, 3)} | {_num(c.rss_mib, 0)} |"
            )
    return "\n".join(lines)


def ratio_table(scenarios: list[Scenario]) -> str:
    lines = [
        "| scenario | compares | " + " | ".join(f"Waypost / {p}" for p in RATIO_PEERS) + " |",
        "| --- | --- |" + " ---: |" * len(RATIO_PEERS),
    ]
    for scenario in scenarios:
        direct = _direct(scenario)
        by_target = {c.target: c for c in scenario.cells}
        ours = by_target.get(WAYPOST)
        mine = _headline(scenario, ours, direct) if ours else None
        cells = []
        for peer in RATIO_PEERS:
            cell = by_target.get(peer)
            theirs = _headline(scenario, cell, direct) if cell else None
            if mine is None or theirs is None or theirs <= 0:
                cells.append("-")
            else:
                ratio = mine / theirs
                cells.append(f"{ratio:.2f}" if abs(ratio) >= 0.1 else f"{ratio:.3f}")
        compares = (
            "req/s (>1: Waypost faster)" if scenario.kind == "throughput" else "added p50 (<1: Waypost adds less)"
        )
        lines.append(f"| {scenario.name} | {compares} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_lines(summary: Summary) -> str:
    lines = []
    if summary.fake_direct:
        figures = ", ".join(f"{name} {rps:,.0f} req/s" for name, rps in summary.fake_direct.items())
        lines.append(f"- Fake upstream measured directly (wrk, 32 connections, both on the load core): {figures}.")
    for label, seconds in summary.propagation.items():
        ms = [s * 1000 for s in seconds]
        lines.append(
            f"- Config propagation, {label}: p50 {percentile(ms, 0.5):,.0f} ms, p99 {percentile(ms, 0.99):,.0f} ms, "
            f"max {max(ms, default=math.nan):,.0f} ms over {len(ms)} changes."
        )
    for label, mib in summary.rss_mib.items():
        lines.append(f"- RSS, {label}: {mib:,.0f} MiB.")
    lines += [f"- {note}" for note in summary.notes]
    return "\n".join(lines)
