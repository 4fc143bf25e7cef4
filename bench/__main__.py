"""`make bench`: the data plane (1 Granian worker pinned to core 0, key auth on) against a fast fake upstream,
beside the fake measured directly in the same run. Load comes from wrk pinned to core 1 with the fake.

Scenarios: saturation at 32 connections (throughput) and 1 connection (added latency). Results are printed as
a table with ratios against the direct baseline and written to bench/results/<date>.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import wrk
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


def _table(rows: list[tuple[str, str, wrk.WrkResult, wrk.WrkResult]]) -> str:
    lines = [
        "| scenario | target | req/s | p50 ms | p99 ms | errors | req/s vs direct | added p50 ms | added p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario, target, result, direct in rows:
        lines.append(
            f"| {scenario} | {target} | {result.requests_per_second:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} "
            f"| {result.errors} | {result.requests_per_second / direct.requests_per_second:.2f} "
            f"| {result.p50_ms - direct.p50_ms:.2f} | {result.p99_ms - direct.p99_ms:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as folder:
        try:
            direct_url, gateway_url, key = _start_stack(Path(folder), children)
            rows = []
            for scenario, connections in (("saturation, 32 connections", 32), ("1 connection", 1)):
                direct = wrk.run(
                    direct_url,
                    body=BODY,
                    headers={"Content-Type": "application/json"},
                    connections=connections,
                    seconds=SECONDS,
                    cpu=LOAD_CPU,
                )
                gateway = wrk.run(
                    gateway_url,
                    body=BODY,
                    connections=connections,
                    seconds=SECONDS,
                    cpu=LOAD_CPU,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                )
                rows += [
                    (scenario, "direct to fake", direct, direct),
                    (scenario, "waypost data plane", gateway, direct),
                ]
        finally:
            for child in reversed(children):
                child.stop()
    table = _table(rows)
    stamp = datetime.now(UTC)
    report = (
        f"# Benchmark {stamp:%Y-%m-%d %H:%M} UTC\n\nNon-streaming chat completion, {SECONDS}s per cell; data plane: "
        f"1 Granian worker on CPU {GATEWAY_CPU}; wrk and the fake upstream on CPU {LOAD_CPU}.\n\n{table}\n"
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
