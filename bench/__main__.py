"""`make bench`: the data plane (1 Granian worker pinned to core 0, key auth and the canonical log line on) and
nginx `proxy_pass` (the limit of a proxy here, also on core 0) in front of a fast fake upstream, beside the fake
measured directly, all in the same run. Load comes from wrk pinned to core 1 with the fake.

Scenarios: chat completions at 32 connections (throughput) and at 1 connection (added latency), and SSE streams
at 32 connections. The table (ratios against the direct baseline and against nginx) is printed and written to
bench/results/<date>.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from bench import wrk
from bench.nginx import start_nginx
from shared.crypto import load_signing_key, new_b64_key, public_key_b64
from waypost.processes import Child, executable, free_port, http_ok, port_in_use, start_plane

GATEWAY_CPU, LOAD_CPU = 0, 1
SECONDS = 10
ADMIN_TOKEN = "bench-admin-token"  # noqa: S105 - a throwaway stack on loopback
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}], "max_tokens": 16}


def _start_stack(workdir: Path, children: list[Child]) -> tuple[str, str, str]:
    """Start NATS, the fake upstream, the control plane and the data plane; return (direct, gateway, key)."""
    logs = workdir / "logs"
    nats_port, fake_port, admin_port, data_port = free_port(), free_port(), free_port(), free_port()
    nats = Child(
        "nats",
        [executable("nats-server"), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", str(workdir / "nats")],
        env={},
        log_path=logs / "nats.log",
    )
    children.append(nats)
    nats.wait_until(lambda: port_in_use("127.0.0.1", nats_port), what="NATS", timeout=20)
    fake = Child(
        "fake-upstream",
        ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "bench.fake_upstream", str(fake_port)],
        env={"PATH": "/usr/bin:/bin"},
        log_path=logs / "fake.log",
    )
    children.append(fake)
    fake.wait_until(lambda: port_in_use("127.0.0.1", fake_port), what="fake upstream", timeout=20)

    signing_key = new_b64_key()
    env = {
        "PATH": "/usr/bin:/bin",
        "WAYPOST_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "WAYPOST_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "WAYPOST_SECRET_KEY": new_b64_key(),
        "WAYPOST_SIGNING_KEY": signing_key,
        "WAYPOST_VERIFY_KEY": public_key_b64(load_signing_key(signing_key)),
        "WAYPOST_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAYPOST_CACHE_DIR": str(workdir / "cache"),
        "WAYPOST_LOG_LEVEL": "info",  # the canonical request line stays on, as in production
    }
    admin_url = start_plane("controlplane", host="127.0.0.1", port=admin_port, env=env, log_dir=logs, children=children)
    key = _configure(admin_url, f"http://127.0.0.1:{fake_port}/v1")
    gateway = start_plane(
        "dataplane", host="127.0.0.1", port=data_port, env=env, log_dir=logs, children=children, cpu=GATEWAY_CPU
    )
    children[-1].wait_until(
        http_ok(f"{gateway}/v1/models", {"Authorization": f"Bearer {key}"}), what="key accepted", timeout=30
    )
    return f"http://127.0.0.1:{fake_port}/v1/chat/completions", f"{gateway}/v1/chat/completions", key


def _configure(admin_url: str, upstream: str) -> str:
    with httpx.Client(base_url=f"{admin_url}/api/v1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:

        def create(resource: str, payload: dict[str, object]) -> dict[str, str]:
            response = admin.post(f"/{resource}", json=payload)
            response.raise_for_status()
            return dict(response.json())

        team = create("teams", {"name": "bench"})
        provider = create(
            "providers",
            {"name": "fake", "kind": "openai_compatible", "base_url": upstream, "credentials": {"api_key": "sk-bench"}},
        )
        deployment = create("deployments", {"name": "fake", "provider_id": provider["id"], "model": "bench-model"})
        create("routes", {"name": "bench", "targets": [deployment["id"]]})
        return create("keys", {"name": "bench", "team_id": team["id"], "environment": "dev"})["key"]


class Row(msgspec.Struct, frozen=True):
    scenario: str
    target: str
    result: wrk.WrkResult
    direct: wrk.WrkResult
    nginx: wrk.WrkResult


def _table(rows: list[Row]) -> str:
    lines = [
        "| scenario | target | req/s | p50 ms | p99 ms | errors | vs direct | vs nginx | added p50 ms | added p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        r, direct, nginx = row.result, row.direct, row.nginx
        lines.append(
            f"| {row.scenario} | {row.target} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} | {r.requests_per_second / direct.requests_per_second:.2f} "
            f"| {r.requests_per_second / nginx.requests_per_second:.2f} "
            f"| {r.p50_ms - direct.p50_ms:.2f} | {r.p99_ms - direct.p99_ms:.2f} |"
        )
    return "\n".join(lines)


SCENARIOS = (
    ("chat, 32 connections", 32, BODY),
    ("chat, 1 connection", 1, BODY),
    ("SSE stream (20 chunks + usage), 32 connections", 32, {**BODY, "stream": True}),
)


def main() -> int:
    children: list[Child] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as folder:
        try:
            direct_url, gateway_url, key = _start_stack(Path(folder), children)
            upstream_port = int(direct_url.split(":")[2].split("/")[0])
            nginx_base = start_nginx(
                folder=Path(folder) / "nginx",
                port=free_port(),
                upstream_port=upstream_port,
                cpu=GATEWAY_CPU,
                children=children,
            )
            json_only = {"Content-Type": "application/json"}
            targets = (
                ("direct to fake", direct_url, json_only),
                ("nginx proxy_pass", f"{nginx_base}/v1/chat/completions", json_only),
                ("waypost data plane", gateway_url, {**json_only, "Authorization": f"Bearer {key}"}),
            )
            for scenario, connections, body in SCENARIOS:
                results = [
                    wrk.run(url, body=body, headers=headers, connections=connections, seconds=SECONDS, cpu=LOAD_CPU)
                    for _, url, headers in targets
                ]
                rows += [
                    Row(scenario=scenario, target=name, result=result, direct=results[0], nginx=results[1])
                    for (name, _, _), result in zip(targets, results, strict=True)
                ]
        finally:
            for child in reversed(children):
                child.stop()
    stamp = datetime.now(UTC)
    report = (
        f"# Benchmark {stamp:%Y-%m-%d %H:%M} UTC\n\n{SECONDS}s per cell. nginx and the data plane (1 Granian worker, "
        f"key auth and the canonical log line on) each on CPU {GATEWAY_CPU}; wrk and the fake upstream on CPU "
        f"{LOAD_CPU}. Latency of a stream is the time to its last byte.\n\n{_table(rows)}\n"
    )
    out = Path(__file__).parent / "results" / f"{stamp:%Y-%m-%d}.md"
    out.write_text(report)
    print(report)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"bench finished in {time.monotonic() - started:.0f}s")
    sys.exit(code)
