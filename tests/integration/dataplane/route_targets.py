"""A data plane (real NATS, in process) whose one route has several targets of any kinds, optionally priced, and
the official `openai` SDK talking to it: the harness of the embeddings and completions endpoint tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import openai

from dataplane.settings import DataPlaneSettings
from shared.snapshot import DeploymentSpec, PriceSpec, ProviderSpec, RouteSpec, Snapshot, TeamSpec
from tests.conftest import TestSecrets
from tests.integration.dataplane.conftest import running, wait_for_version
from tests.snapshot_factory import ROUTE_NAME, TEAM_ID, make_key, master_secret, publish, sign_snapshot

__all__ = ["ROUTE_NAME", "RouteTarget", "sdk_for_route"]


@dataclass(frozen=True)
class RouteTarget:
    """One target of the route: a provider of `kind` at `base_url` serving `model`; `price` is (input, output)
    micro-USD per million tokens, in effect since the epoch."""

    kind: str
    base_url: str = "http://127.0.0.1:9/v1"
    api_key: str | None = None
    model: str = "upstream-model"
    price: tuple[int, int] | None = None


def route_snapshot(secret_key: str, targets: list[RouteTarget], key_spec: Any, *, version: int = 1) -> Snapshot:
    providers, deployments, prices = [], [], []
    for index, target in enumerate(targets):
        provider_id, deployment_id = f"provider-{index}", f"deployment-{index}"
        sealed = None
        if target.api_key is not None:
            plaintext = msgspec.json.encode({"api_key": target.api_key})
            sealed = master_secret(secret_key).seal(plaintext, context=provider_id)
        providers.append(
            ProviderSpec(
                id=provider_id,
                name=f"provider-{index}",
                kind=target.kind,
                base_url=target.base_url,
                sealed_credentials=sealed,
            )
        )
        deployments.append(
            DeploymentSpec(id=deployment_id, name=f"{target.kind}-{index}", provider_id=provider_id, model=target.model)
        )
        if target.price is not None:
            prices.append(
                PriceSpec(
                    id=f"price-{index}",
                    deployment_id=deployment_id,
                    effective_from=0,
                    input=target.price[0],
                    output=target.price[1],
                )
            )
    return Snapshot(
        version=version,
        created_at=int(time.time() * 1000),
        teams=[TeamSpec(id=TEAM_ID, name="Team One")],
        keys=[key_spec],
        providers=providers,
        deployments=deployments,
        prices=prices,
        routes=[RouteSpec(id="route-1", name=ROUTE_NAME, deployment_ids=[d.id for d in deployments])],
    )


@asynccontextmanager
async def sdk_for_route(
    targets: list[RouteTarget],
    *,
    settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    version: int = 1,
) -> AsyncIterator[openai.AsyncOpenAI]:
    """Publish the route over NATS, run a data plane on it, and yield an SDK client (max_retries=0) of it. A test
    that runs several in turn on one prefix gives each a higher `version`."""
    key = make_key(test_secrets.secret_key)
    snapshot = route_snapshot(test_secrets.secret_key, targets, key.spec, version=version)
    await publish(nats_url, nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    async with running(settings) as client:
        await wait_for_version(client, version)
        http_client: Any = client  # the SDK takes an httpx client; this one talks to the app in process
        yield openai.AsyncOpenAI(
            base_url="http://dataplane/v1", api_key=key.token, http_client=http_client, max_retries=0
        )
