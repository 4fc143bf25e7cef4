"""Data planes against real NATS (the shared server or a private `own_nats`), driven through httpx.ASGITransport,
with the fake OpenAI provider on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataplane.app import create_app
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import fake_openai  # noqa: F401  (fixture)
from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.services import unique_name

POLL_TIMEOUT_SECONDS = 20.0
POLL_INTERVAL_SECONDS = 0.05


def make_settings(
    test_secrets: TestSecrets, *, nats_url: str, nats_prefix: str, cache_dir: Path, instance_id: str | None = None
) -> DataPlaneSettings:
    return DataPlaneSettings(
        nats_url=nats_url,
        nats_prefix=nats_prefix,
        secret_key=test_secrets.secret_key,
        verify_key=test_secrets.verify_key,
        cache_dir=str(cache_dir),
        instance_id=instance_id or unique_name("dp"),
        status_interval_seconds=0.5,
    )


@pytest.fixture
def dp_settings(test_secrets: TestSecrets, nats_url: str, nats_prefix: str, tmp_path: Path) -> DataPlaneSettings:
    return make_settings(test_secrets, nats_url=nats_url, nats_prefix=nats_prefix, cache_dir=tmp_path / "cache")


@pytest.fixture
def upstreams() -> Iterator[tuple[ScriptedUpstream, ScriptedUpstream]]:
    """Two started scripted upstreams: a primary and a fallback target."""
    primary, fallback = ScriptedUpstream(), ScriptedUpstream()
    primary.start()
    try:
        fallback.start()
        try:
            yield primary, fallback
        finally:
            fallback.stop()
    finally:
        primary.stop()


@asynccontextmanager
async def running(settings: DataPlaneSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A data plane with its lifespan running, and a client talking to it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dataplane", timeout=30) as client:
            yield client


async def eventually(probe: Callable[[], Any], *, what: str, within: float = POLL_TIMEOUT_SECONDS) -> Any:
    """Poll `probe` (an async callable returning a truthy value when done) until it succeeds or time runs out."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
    raise AssertionError(f"timed out waiting for {what}; last probe: {last!r}")


async def wait_for_status(
    client: httpx.AsyncClient, what: str, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status: dict[str, Any] = (await client.get("/status")).json()
        return status if predicate(status) else None

    result: dict[str, Any] = await eventually(probe, what=what)
    return result


async def wait_for_version(client: httpx.AsyncClient, version: int) -> dict[str, Any]:
    return await wait_for_status(
        client, f"config version {version}", lambda s: s["config_version"] == version and not s["stale"]
    )
