"""`make bench`: every target in front of the same fast fake upstream, in the same run, with the gateway under test
pinned to core 0 and the load (wrk, the aiohttp client) and the fake pinned to core 1. Targets, one at a time:
the fake directly, nginx `proxy_pass`, the Waypost data plane (1 Granian worker, key auth and the canonical log line
on, 100k keys and 1k routes in its snapshot), and the peers installed by `make bench-peers` (MLflow AI Gateway,
Portkey, LiteLLM; those not installed show as "not run"). Writes bench/results/<date>.md, <date>.svg and latest.svg.

Usage: python -m bench [--seconds 10] [--rate 200] [--peers auto|none] [--changes 20] [--keys 100000] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
from sqlalchemy.exc import SQLAlchemyError

from bench import chart, loadgen, procstat, wrk
from bench.nginx import start_fake_nginx, start_nginx
from bench.peers import LABELS, PEER_NAMES, Endpoint, not_installed_reason, start_peer
from bench.report import DIRECT, NGINX, WAYPOST, Cell, Scenario, Summary, ratio_table, results_table, summary_lines
from bench.seed import seed
from bench.stack import Propagation, propagation, start_data_plane, start_stack, wait_converged
from waypost.processes import Child, ChildFailedError, free_port, port_in_use

GATEWAY_CPU, LOAD_CPU = 0, 1
REPO = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
JSON_BODY: dict[str, object] = {"model": "bench", "messages": MESSAGES, "max_tokens": 16}
SSE_BODY: dict[str, object] = {"model": "bench-stream", "messages": MESSAGES, "max_tokens": 16, "stream": True}
JSON_ONLY = {"Content-Type": "application/json"}
MIB = 1024 * 1024


class Target(msgspec.Struct, frozen=True):
    name: str
    json: Endpoint
    sse: Endpoint
    pgid: int | None  # process group whose CPU time and RSS are sampled


class Options(msgspec.Struct, frozen=True):
    seconds: int
    rate: float
    peers: str
    changes: int
    keys: int
    routes: int
    out: Path


def _wrk(target: Target, *, sse: bool, connections: int, options: Options) -> Cell:
    endpoint = target.sse if sse else target.json
    body = SSE_BODY if sse else JSON_BODY
    before = procstat.sample(target.pgid) if target.pgid else None
    result = wrk.run(
        endpoint.url,
        body=body,
        headers=endpoint.headers,
        connections=connections,
        seconds=options.seconds,
        cpu=LOAD_CPU,
    )
    cpu_ms, rss = None, None
    completed = result.requests > 0  # else no request finished within the cell: no latency to report
    if target.pgid and before is not None:
        after = procstat.sample(target.pgid)
        if result.requests:
            cpu_ms = (after.cpu_seconds - before.cpu_seconds) * 1000 / result.requests
        rss = after.rss_bytes_max / MIB
    return Cell(
        target=target.name,
        rps=result.requests_per_second,
        p50_ms=result.p50_ms if completed else math.nan,
        p99_ms=result.p99_ms if completed else math.nan,
        errors=result.errors,
        cpu_ms_per_request=cpu_ms,
        rss_mib=rss,
    )


def _client(target: Target, *, mode: str, options: Options) -> Cell:
    endpoint = target.sse if mode == "ttfb" else target.json
    spec = loadgen.Spec(
        mode=mode,
        url=endpoint.url,
        body=SSE_BODY if mode == "ttfb" else JSON_BODY,
        headers=endpoint.headers,
        seconds=options.seconds,
        rate=options.rate,
        connections=4,
    )
    m = loadgen.run(spec, cpu=LOAD_CPU)
    ttfb = mode == "ttfb"
    return Cell(
        target=target.name,
        rps=m.per_second,
        p50_ms=math.nan if m.p50_ms is None else m.p50_ms,
        p99_ms=math.nan if m.p99_ms is None else m.p99_ms,
        errors=m.errors,
        ttfb_p50_ms=m.ttfb_p50_ms if ttfb else None,
        ttfb_p99_ms=m.ttfb_p99_ms if ttfb else None,
    )


Runner = Callable[[Target, Options], Cell]
SCENARIOS: list[tuple[str, str, Runner]] = [
    ("chat, 32 connections", "throughput", lambda t, o: _wrk(t, sse=False, connections=32, options=o)),
    ("chat, 128 connections", "throughput", lambda t, o: _wrk(t, sse=False, connections=128, options=o)),
    ("chat, 1 connection", "latency", lambda t, o: _wrk(t, sse=False, connections=1, options=o)),
    ("chat, fixed rate (open loop)", "latency", lambda t, o: _client(t, mode="rate", options=o)),
    (
        "SSE (20 chunks + usage), 32 connections",
        "throughput",
        lambda t, o: _wrk(t, sse=True, connections=32, options=o),
    ),
    ("SSE time to first byte, 4 connections", "latency", lambda t, o: _client(t, mode="ttfb", options=o)),
]


def _preflight(endpoint: Endpoint, body: dict[str, object]) -> str | None:
    """None when one request answers 200 (a stream with SSE events); else why the target's scenarios are skipped."""
    try:
        response = httpx.post(endpoint.url, json=body, headers=endpoint.headers, timeout=60)
    except httpx.HTTPError as exc:
        return f"preflight failed: {type(exc).__name__}"
    if response.status_code != 200:
        return f"preflight answered {response.status_code}: {response.text[:80]}"
    if body.get("stream") and not response.text.startswith("data:"):
        return f"preflight: not an SSE stream: {response.text[:80]}"
    return None


def _run_target(target: Target, options: Options, cells: dict[str, list[Cell]]) -> None:
    broken = {False: _preflight(target.json, JSON_BODY), True: _preflight(target.sse, SSE_BODY)}
    for name, _, runner in SCENARIOS:
        reason = broken[name.startswith("SSE")]
        if reason is not None:
            print(f"bench: {target.name}: {name}: not run ({reason})", flush=True)
            cells[name].append(Cell(target=target.name, not_run=reason))
            continue
        print(f"bench: {target.name}: {name}", flush=True)
        try:
            cell = runner(target, options)
        except (subprocess.SubprocessError, RuntimeError, ValueError, TypeError, OSError) as exc:
            cell = Cell(target=target.name, not_run=f"failed: {type(exc).__name__}: {str(exc)[:120]}")
        cells[name].append(cell)
        _preflight(target.json, JSON_BODY)  # let a saturated target drain its queue before the next cell


def _not_run(name: str, reason: str, cells: dict[str, list[Cell]]) -> None:
    print(f"bench: {name}: not run ({reason})", flush=True)
    for scenario, _, _ in SCENARIOS:
        cells[scenario].append(Cell(target=name, not_run=reason))


def _stop(children: list[Child]) -> None:
    for child in reversed(children):
        child.stop()
    children.clear()


def _measure_fakes(folder: Path, fake_url: str, options: Options, summary: Summary) -> None:
    """wrk straight at each fake, so the table shows the upstream is not what limits the targets."""
    seconds = max(2, min(options.seconds, 5))
    url = f"{fake_url}/json/v1/chat/completions"
    result = wrk.run(url, body=JSON_BODY, headers=JSON_ONLY, connections=32, seconds=seconds, cpu=LOAD_CPU)
    summary.fake_direct["nginx fake (used)"] = result.requests_per_second
    port, children = free_port(), []
    try:
        fake = Child(
            "python-fake",
            ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "bench.fake_upstream", str(port)],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
            log_path=folder / "python-fake.log",
        )
        children.append(fake)
        fake.wait_until(lambda: port_in_use("127.0.0.1", port), what="python fake", timeout=20)
        url = f"http://127.0.0.1:{port}/json/v1/chat/completions"
        result = wrk.run(url, body=JSON_BODY, headers=JSON_ONLY, connections=32, seconds=seconds, cpu=LOAD_CPU)
        summary.fake_direct["Python aiohttp fake"] = result.requests_per_second
    finally:
        _stop(children)


def _propagation(summary: Summary, config: str, timed: Propagation) -> None:
    summary.propagation[f"{config}, change → snapshot published"] = timed.published
    summary.propagation[f"{config}, change → accepted by both data planes"] = timed.applied


def _waypost(folder: Path, fake_url: str, options: Options, cells: dict[str, list[Cell]], summary: Summary) -> None:
    children: list[Child] = []
    try:
        stack = start_stack(folder, fake_url, cpu=GATEWAY_CPU, children=children)
        plane = children[-1]
        replica = start_data_plane(
            stack.env, logs=stack.logs, children=children, cpu=GATEWAY_CPU, key=stack.key, index=1, workdir=folder
        )
        replicas = [stack.gateway_url, replica]
        _propagation(summary, "small config", propagation(stack, replicas, changes=options.changes))
        summary.rss_mib["data plane worker, small config"] = procstat.sample(plane.process.pid).rss_bytes_max / MIB
        took = seed(folder / "bench.db", keys=options.keys, routes=options.routes)
        started = time.monotonic()
        wait_converged(stack.admin_url)
        big = f"{options.keys:,} keys and {options.routes:,} routes"
        summary.notes.append(
            f"Seeding {big} took {took:.1f} s; the snapshot reached every data plane "
            f"{time.monotonic() - started:.1f} s after the revision bump."
        )
        rss = procstat.sample(plane.process.pid).rss_bytes_max / MIB
        summary.rss_mib[f"data plane worker, {big}, first snapshot applied"] = rss
        _propagation(summary, big, propagation(stack, replicas, changes=max(1, options.changes // 4)))
        children.remove(replica_child := children[-1])
        replica_child.stop()
        summary.rss_mib[f"data plane worker, {big}, after the timed changes"] = (
            procstat.sample(plane.process.pid).rss_bytes_max / MIB
        )
        headers = {**JSON_ONLY, "Authorization": f"Bearer {stack.key}"}
        url = f"{stack.gateway_url}/v1/chat/completions"
        target = Target(WAYPOST, Endpoint(url, headers), Endpoint(url, headers), pgid=plane.process.pid)
        _run_target(target, options, cells)
    except (ChildFailedError, RuntimeError, OSError, httpx.HTTPError, SQLAlchemyError) as exc:
        missing = [s for s, _, _ in SCENARIOS if not any(c.target == WAYPOST for c in cells[s])]
        for scenario in missing:
            cells[scenario].append(Cell(target=WAYPOST, not_run=f"failed: {str(exc)[:160]}"))
        print(f"bench: waypost failed: {exc}", flush=True)
    finally:
        _stop(children)


def _why(failure: str) -> str:
    """The headline of a child's failure plus the first line of its log tail that looks like the cause."""
    lines = [line.strip() for line in failure.splitlines() if line.strip()]
    cause = next((line for line in lines[1:] if any(w in line.lower() for w in ("error", "refused", "failed"))), "")
    return f"{lines[0] if lines else 'unknown'} {cause}".strip()[:160]


def _peers(folder: Path, fake_url: str, options: Options, cells: dict[str, list[Cell]]) -> None:
    for name in PEER_NAMES:
        label = LABELS[name]
        reason = "--peers none" if options.peers == "none" else not_installed_reason(name)
        if reason is not None:
            _not_run(label, reason, cells)
            continue
        children: list[Child] = []
        try:
            child, started = start_peer(
                name, folder=folder / name, port=free_port(), fake_url=fake_url, cpu=GATEWAY_CPU, children=children
            )
            _run_target(Target(label, started.json, started.sse, pgid=child.process.pid), options, cells)
        except ChildFailedError as exc:
            _not_run(label, f"failed to start: {_why(str(exc))}", cells)
        finally:
            _stop(children)


def run(options: Options) -> tuple[list[Scenario], Summary]:
    cells: dict[str, list[Cell]] = {name: [] for name, _, _ in SCENARIOS}
    summary = Summary()
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as name:
        folder = Path(name)
        try:
            fake_url = start_fake_nginx(folder=folder / "fake", port=free_port(), cpu=LOAD_CPU, children=children)
            _measure_fakes(folder, fake_url, options, summary)
            fake_pgid = children[-1].process.pid
            nginx_url = start_nginx(
                folder=folder / "nginx", port=free_port(), upstream_port=int(fake_url.rsplit(":", 1)[1]),
                cpu=GATEWAY_CPU, children=children,
            )  # fmt: skip
            for target_name, base, pgid in (
                (DIRECT, fake_url, fake_pgid),
                (NGINX, nginx_url, children[-1].process.pid),
            ):
                json_end = Endpoint(f"{base}/json/v1/chat/completions", JSON_ONLY)
                sse_end = Endpoint(f"{base}/sse/v1/chat/completions", JSON_ONLY)
                _run_target(Target(target_name, json_end, sse_end, pgid=pgid), options, cells)
            _waypost(folder / "waypost", fake_url, options, cells, summary)
            _peers(folder / "peers", fake_url, options, cells)
        finally:
            _stop(children)
    kinds = {name: kind for name, kind, _ in SCENARIOS}
    return [Scenario(name=n, kind=kinds[n], cells=c) for n, c in cells.items()], summary


def _parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per cell (default 10)")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop rate, requests/s (default 200)")
    parser.add_argument("--peers", choices=("auto", "none"), default="auto", help="auto: run the installed peers")
    parser.add_argument(
        "--changes", type=int, default=20, help="config changes timed (+1/4 as many with the big snapshot)"
    )
    parser.add_argument("--keys", type=int, default=100_000, help="keys seeded into the snapshot")
    parser.add_argument("--routes", type=int, default=1_000, help="routes seeded into the snapshot")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for <date>.md/.svg")
    args = parser.parse_args(argv)
    return Options(
        seconds=args.seconds,
        rate=args.rate,
        peers=args.peers,
        changes=args.changes,
        keys=args.keys,
        routes=args.routes,
        out=args.out,
    )


def main(argv: list[str]) -> int:
    options = _parse(argv)
    scenarios, summary = run(options)
    stamp = datetime.now(UTC)
    by_name = {s.name: s for s in scenarios}
    setup = (
        f"{options.seconds} s per cell; open-loop rate {options.rate:,.0f} req/s. nginx, each gateway (one worker) "
        f"on CPU {GATEWAY_CPU}; wrk, the aiohttp client and the fake upstream (nginx `return 200`) on CPU "
        f"{LOAD_CPU}. Waypost with governance on (key auth, a rate limit on the key, a team budget, prices, usage "
        f"events to NATS, the canonical log line), {options.keys:,} keys and {options.routes:,} "
        "routes in the snapshot. Peers: no database. A stream's latency is to its last byte; added = target minus "
        "direct. CPU ms/req and RSS (largest process of the target) are sampled around the wrk runs."
    )
    report = (
        f"# Benchmark {stamp:%Y-%m-%d %H:%M} UTC\n\n{setup}\n\n{results_table(scenarios)}\n\n## Ratios\n\n"
        f"{ratio_table(scenarios)}\n\n## Fake upstream, propagation, memory\n\n{summary_lines(summary)}\n"
    )
    options.out.mkdir(parents=True, exist_ok=True)
    out = options.out / f"{stamp:%Y-%m-%d}.md"
    out.write_text(report)
    svg = chart.render(
        by_name["chat, 32 connections"],
        by_name["chat, 1 connection"],
        subtitle=f"Waypost bench {stamp:%Y-%m-%d}: each gateway on 1 core, load + fake on the other, "
        f"{options.seconds} s cells",
    )
    out.with_suffix(".svg").write_text(svg)
    (options.out / "latest.svg").write_text(svg)  # the README embeds this one
    print(report)
    print(f"written to {out}, {out.with_suffix('.svg')} and {options.out / 'latest.svg'}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main(sys.argv[1:])
    print(f"bench finished in {time.monotonic() - started:.0f}s")
    sys.exit(code)
