"""The Waypost side of the bench: NATS, a control plane on SQLite and a data plane (one Granian worker pinned to the
gateway core, with governance on: key auth, a rate limit, a budget, prices, usage events and the canonical log
line), configured through the admin API with two routes: `bench` (the fake's JSON base URL) and `bench-stream`
(its SSE base URL)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import msgspec

from shared.crypto import load_signing_key, new_b64_key, public_key_b64
from waypost.processes import Child, executable, free_port, http_ok, port_in_use, start_plane

ADMIN_TOKEN = "bench-admin-token"  # noqa: S105 - a throwaway stack on loopback


class Stack(msgspec.Struct, frozen=True):
    admin_url: str
    gateway_url: str
    key: str
    team_id: str
    env: dict[str, str]
    logs: Path
    workdir: Path


def _admin(admin_url: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx.Client(base_url=f"{admin_url}/api/v1", headers=headers, timeout=120)


def create(admin: httpx.Client, resource: str, payload: dict[str, object]) -> dict[str, str]:
    response = admin.post(f"/{resource}", json=payload)
    if response.status_code >= 400:
        raise RuntimeError(f"POST /{resource} answered {response.status_code}: {response.text[:300]}")
    return dict(response.json())


def _configure(admin_url: str, fake_url: str) -> tuple[str, str]:
    """Create a team, the fake as two providers (JSON and SSE base URLs), their deployments and prices, the `bench`
    and `bench-stream` routes, one key with a rate limit and a team budget; return (the key, the team's id)."""
    with _admin(admin_url) as admin:
        team = create(admin, "teams", {"name": "bench"})
        for route, kind in (("bench", "json"), ("bench-stream", "sse")):
            provider = create(
                admin,
                "providers",
                {
                    "name": f"fake-{kind}",
                    "kind": "openai_compatible",
                    "base_url": f"{fake_url}/{kind}/v1",
                    "credentials": {"api_key": "sk-bench"},
                },
            )
            deployment = create(
                admin, "deployments", {"name": f"fake-{kind}", "provider_id": provider["id"], "model": "bench-model"}
            )
            create(admin, "routes", {"name": route, "targets": [deployment["id"]]})
            # governance on: every call is priced, counted against a budget and a rate limit, and emits a usage
            # event (the limits are far above what a run reaches, so nothing is refused)
            prices = {"deployment_id": deployment["id"], "effective_from": "2020-01-01T00:00:00Z"}
            create(admin, "prices", {**prices, "input": 2_500_000, "output": 10_000_000})
        key_row = create(admin, "keys", {"name": "bench", "team_id": team["id"], "environment": "dev"})
        create(
            admin,
            "rate-limits",
            {
                "scope": "key",
                "scope_id": key_row["id"],
                "requests_per_minute": 2_000_000_000,
                "tokens_per_minute": 2_000_000_000,
                "concurrent_requests": 100_000,
            },
        )
        budget = {"name": "bench", "scope": "team", "scope_id": team["id"], "period": "monthly", "on_stale": "open"}
        create(admin, "budgets", {**budget, "amount_micro_usd": 10**15})
        return key_row["key"], team["id"]


def start_stack(workdir: Path, fake_url: str, *, cpu: int, children: list[Child]) -> Stack:
    logs = workdir / "logs"
    nats_port = free_port()
    nats = Child(
        "nats",
        [executable("nats-server"), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", str(workdir / "nats")],
        env={},
        log_path=logs / "nats.log",
    )
    children.append(nats)
    nats.wait_until(lambda: port_in_use("127.0.0.1", nats_port), what="NATS", timeout=20)
    signing_key = new_b64_key()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "WAYPOST_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "WAYPOST_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "WAYPOST_SECRET_KEY": new_b64_key(),
        "WAYPOST_SIGNING_KEY": signing_key,
        "WAYPOST_VERIFY_KEY": public_key_b64(load_signing_key(signing_key)),
        "WAYPOST_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAYPOST_CACHE_DIR": str(workdir / "cache"),
        "WAYPOST_LOG_LEVEL": "info",  # the canonical request line stays on, as in production
    }
    admin_url = start_plane(
        "controlplane", host="127.0.0.1", port=free_port(), env=env, log_dir=logs, children=children
    )
    key, team_id = _configure(admin_url, fake_url)
    gateway = start_data_plane(env, logs=logs, children=children, cpu=cpu, key=key, index=0, workdir=workdir)
    return Stack(
        admin_url=admin_url, gateway_url=gateway, key=key, team_id=team_id, env=env, logs=logs, workdir=workdir
    )


def start_data_plane(
    env: dict[str, str], *, logs: Path, children: list[Child], cpu: int, key: str, index: int, workdir: Path
) -> str:
    """Start data plane replica `index` pinned to `cpu`; return its URL once it accepts `key`."""
    replica_env = {
        **env,
        "WAYPOST_CACHE_DIR": str(workdir / f"cache-{index}"),
        "WAYPOST_INSTANCE_ID": f"bench-dataplane-{index}",
    }
    name = "dataplane" if index == 0 else f"dataplane-{index}"
    url = start_plane(
        "dataplane",
        host="127.0.0.1",
        port=free_port(),
        env=replica_env,
        log_dir=logs,
        children=children,
        cpu=cpu,
        name=name,
        timeout=180,
    )
    children[-1].wait_until(
        http_ok(f"{url}/v1/models", {"Authorization": f"Bearer {key}"}), what="key accepted", timeout=180
    )
    return url


def wait_converged(admin_url: str, *, timeout: float = 300) -> None:
    """Block until every change is applied by every data plane (GET /config/status?wait)."""
    with _admin(admin_url) as admin:
        waited = 0.0
        while waited < timeout:
            response = admin.get("/config/status", params={"wait": 60})
            response.raise_for_status()
            if response.json()["converged"]:
                return
            waited += 60
    raise RuntimeError(f"config did not converge in {timeout:.0f}s")


class Propagation(msgspec.Struct, frozen=True):
    published: list[float]  # seconds from each change until the control plane published a new snapshot
    applied: list[float]  # seconds from each change until every data-plane replica accepted the new key


def _published_version(admin: httpx.Client) -> int | None:
    response = admin.get("/config/status")
    response.raise_for_status()
    version = response.json()["published_version"]
    return int(version) if version is not None else None


def propagation(stack: Stack, replicas: list[str], *, changes: int) -> Propagation:
    """Create `changes` keys one at a time through the admin API; for each, time from the API's answer until the
    control plane has published a new snapshot, and until every data-plane replica accepts the new key (both
    polled every 10 ms)."""
    published: list[float] = []
    applied: list[float] = []
    with _admin(stack.admin_url) as admin, httpx.Client(timeout=5) as client:
        for n in range(changes):
            before = _published_version(admin)
            payload: dict[str, object] = {"name": f"propagation-{n}", "team_id": stack.team_id, "environment": "dev"}
            key = create(admin, "keys", payload)["key"]
            created = time.monotonic()
            pending = set(replicas)
            published_after: float | None = None
            while pending or published_after is None:
                if time.monotonic() - created > 120:
                    raise RuntimeError("a new key was not accepted by every data plane within 120 s")
                if published_after is None and _published_version(admin) != before:
                    published_after = time.monotonic() - created
                for url in list(pending):
                    response = client.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"})
                    if response.status_code == 200:
                        pending.discard(url)
                        if not pending:
                            applied.append(time.monotonic() - created)
                time.sleep(0.01)
            published.append(published_after)
    return Propagation(published=published, applied=applied)
