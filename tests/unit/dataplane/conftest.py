"""A data plane booted from a seeded disk cache (its NATS unreachable), driven through httpx.ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dataplane.app import create_app
from dataplane.asgi import DataPlaneApp
from dataplane.settings import DataPlaneSettings
from dataplane.upstream import UpstreamClient
from tests.conftest import TestSecrets
from tests.services import free_port
from tests.snapshot_factory import ClientKey, make_key, make_snapshot, sign_snapshot, write_disk_cache

MAX_BODY_BYTES = 4096
NOW = 1_800_000_000.0


@dataclass(frozen=True)
class Gateway:
    app: DataPlaneApp
    client: httpx.AsyncClient
    key: ClientKey


@pytest.fixture
def dp_settings(tmp_path: Path, test_secrets: TestSecrets) -> DataPlaneSettings:
    return DataPlaneSettings(
        nats_url=f"nats://127.0.0.1:{free_port()}",  # nothing listens: the plane serves from its cache
        nats_prefix="unit",
        secret_key=test_secrets.secret_key,
        verify_key=test_secrets.verify_key,
        cache_dir=str(tmp_path / "cache"),
        instance_id="unit-dp",
        max_body_bytes=MAX_BODY_BYTES,
        status_interval_seconds=60.0,
    )


@asynccontextmanager
async def serve(app: DataPlaneApp) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dataplane") as client:
            yield client


GatewayFactory = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def gateway_factory(dp_settings: DataPlaneSettings, test_secrets: TestSecrets) -> GatewayFactory:
    """Seed the cache with a one-route snapshot (mock provider unless told) and start a data plane on it."""

    @asynccontextmanager
    async def start(
        *,
        upstream: UpstreamClient | None = None,
        provider_kind: str = "mock",
        provider_api_key: str | None = None,
        key: ClientKey | None = None,
        clock: Callable[[], float] = lambda: NOW,
    ) -> AsyncIterator[Gateway]:
        client_key = key or make_key(test_secrets.secret_key)
        snapshot = make_snapshot(
            test_secrets.secret_key,
            version=1,
            keys=[client_key.spec],
            provider_kind=provider_kind,
            base_url="https://upstream.example/v1",
            provider_api_key=provider_api_key,
        )
        write_disk_cache(dp_settings.cache_dir, sign_snapshot(snapshot, test_secrets.signing_key))
        app = create_app(dp_settings, upstream=upstream, clock=clock)
        async with serve(app) as client:
            yield Gateway(app=app, client=client, key=client_key)

    return start


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> AsyncIterator[Gateway]:
    async with gateway_factory() as started:
        yield started


def bearer(key: ClientKey) -> dict[str, str]:
    return {"authorization": f"Bearer {key.token}"}
