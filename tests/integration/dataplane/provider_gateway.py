"""A data plane (real NATS, in process) whose one route reaches one provider of a given kind, and the official
`openai` SDK talking to it: the harness of the per-provider adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import openai

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.integration.dataplane.conftest import running, wait_for_version
from tests.snapshot_factory import ROUTE_NAME, make_key, make_snapshot, publish, sign_snapshot

__all__ = ["ROUTE_NAME", "OpenSdk", "sdk_through_gateway"]

# a fixture value: opens a data plane routed to the fake provider and yields an SDK client of it
OpenSdk = Callable[[], AbstractAsyncContextManager[openai.AsyncOpenAI]]


@asynccontextmanager
async def sdk_through_gateway(
    *,
    kind: str,
    base_url: str,
    api_key: str | None,
    upstream_model: str,
    settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
) -> AsyncIterator[openai.AsyncOpenAI]:
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key,
        version=1,
        keys=[key.spec],
        provider_kind=kind,
        base_url=base_url,
        provider_api_key=api_key,
        upstream_model=upstream_model,
    )
    await publish(nats_url, nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    async with running(settings) as client:
        await wait_for_version(client, 1)
        # the SDK's httpx2 accepts an httpx client (here one that talks to the app in process)
        http_client: Any = client
        yield openai.AsyncOpenAI(
            base_url="http://dataplane/v1", api_key=key.token, http_client=http_client, max_retries=0
        )
