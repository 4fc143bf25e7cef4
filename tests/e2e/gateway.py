"""A running gateway for end-to-end tests: control plane and data plane as real Granian processes, on PostgreSQL
and NATS, configured through the admin API like a platform team would."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TestSecrets
from waypost.processes import Child, free_port, http_ok, start_plane

ADMIN_TOKEN = "e2e-admin-token"


class Gateway:
    def __init__(self, *, admin_url: str, dataplane_urls: list[str], children: list[Child]) -> None:
        self.admin_url = admin_url
        self.dataplane_urls = dataplane_urls
        self.dataplane_url = dataplane_urls[0]
        self.children = children
        self.admin = httpx.Client(
            base_url=f"{admin_url}/api/v1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )

    @property
    def openai_base_url(self) -> str:
        return f"{self.dataplane_url}/v1"

    def create(self, resource: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.admin.post(f"/{resource}", json=payload)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def wait_until_key_works(self, key: str, *, timeout: float = 15.0) -> None:
        for url in self.dataplane_urls:
            check = http_ok(f"{url}/v1/models", {"Authorization": f"Bearer {key}"})
            self.children[-1].wait_until(check, what=f"key accepted by {url}", timeout=timeout)


def plane_env(
    *,
    database_url: str,
    nats_url: str,
    prefix: str,
    secrets: TestSecrets,
    cache_dir: Path,
    publish_debounce_ms: int,
) -> dict[str, str]:
    return {
        **os.environ,
        "WAYPOST_DATABASE_URL": database_url,
        "WAYPOST_NATS_URL": nats_url,
        "WAYPOST_NATS_PREFIX": prefix,
        "WAYPOST_SECRET_KEY": secrets.secret_key,
        "WAYPOST_SIGNING_KEY": secrets.signing_key,
        "WAYPOST_VERIFY_KEY": secrets.verify_key,
        "WAYPOST_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAYPOST_CACHE_DIR": str(cache_dir),
        "WAYPOST_PUBLISH_DEBOUNCE_MS": str(publish_debounce_ms),
        "WAYPOST_STATUS_INTERVAL_SECONDS": "1",
    }


@contextmanager
def run_gateway(env: dict[str, str], log_dir: Path, *, dataplanes: int = 1) -> Iterator[Gateway]:
    children: list[Child] = []
    try:
        admin_url = start_plane(
            "controlplane", host="127.0.0.1", port=free_port(), env=env, log_dir=log_dir, children=children
        )
        dataplane_urls = []
        for _ in range(dataplanes):
            port = free_port()
            dataplane_urls.append(
                start_plane(
                    "dataplane",
                    host="127.0.0.1",
                    port=port,
                    env={**env, "WAYPOST_INSTANCE_ID": f"e2e-{port}", "WAYPOST_CACHE_DIR": f"{log_dir}/cache-{port}"},
                    log_dir=log_dir,
                    children=children,
                    name=f"dataplane-{port}",
                )
            )
        yield Gateway(admin_url=admin_url, dataplane_urls=dataplane_urls, children=children)
    finally:
        for child in reversed(children):
            child.stop()


def poll(condition: Any, *, timeout: float, interval: float = 0.02) -> float:
    """Call `condition` until it returns true; return the seconds it took. Fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started
