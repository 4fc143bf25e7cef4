"""A route whose targets are several scripted upstreams, published over NATS, and a data plane serving it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
import msgspec

from dataplane.app import create_app
from dataplane.asgi import DataPlaneApp
from dataplane.runtime import Resilience
from dataplane.settings import DataPlaneSettings
from shared.route_policy import RoutePolicy, RouteRule
from shared.snapshot import (
    BudgetSpec,
    DeploymentSpec,
    PriceSpec,
    ProviderSpec,
    RateLimitSpec,
    RouteSpec,
    Snapshot,
    TeamSpec,
)
from tests.conftest import TestSecrets
from tests.fakes.scripted_upstream import ScriptedUpstream
from tests.integration.dataplane.conftest import wait_for_version
from tests.snapshot_factory import (
    ROUTE_NAME,
    TEAM_ID,
    UPSTREAM_MODEL,
    ClientKey,
    make_key,
    master_secret,
    publish,
    sign_snapshot,
)


@dataclass(frozen=True)
class Hop:
    """One target of the route: the deployment `name` served by `upstream`."""

    name: str
    upstream: ScriptedUpstream
    timeout_seconds: float = 10.0
    require_price: bool = False


@dataclass(frozen=True)
class Chain:
    app: DataPlaneApp
    client: httpx.AsyncClient
    auth: dict[str, str]


ChainFactory = Callable[..., AbstractAsyncContextManager[Chain]]


def chain_snapshot(
    secret_key: str,
    hops: list[Hop],
    key: ClientKey,
    *,
    version: int = 1,
    strategy: str = "priority",
    rules: list[RouteRule] | None = None,
    policy: RoutePolicy | None = None,
    prices: list[PriceSpec] | None = None,
    rate_limits: list[RateLimitSpec] | None = None,
    budgets: list[BudgetSpec] | None = None,
) -> Snapshot:
    """One route whose targets are `hops`, in that priority order; each hop has its own provider and deployment
    (`deployment-<index>`), which `rules` may name."""
    providers, deployments = [], []
    for index, hop in enumerate(hops):
        provider_id, deployment_id = f"provider-{index}", f"deployment-{index}"
        sealed = master_secret(secret_key).seal(
            msgspec.json.encode({"api_key": hop.upstream.api_key}), context=provider_id
        )
        providers.append(
            ProviderSpec(
                id=provider_id,
                name=f"provider-{hop.name}",
                kind="openai_compatible",
                base_url=hop.upstream.base_url,
                sealed_credentials=sealed,
            )
        )
        deployments.append(
            DeploymentSpec(
                id=deployment_id,
                name=hop.name,
                provider_id=provider_id,
                model=UPSTREAM_MODEL,
                timeout_seconds=hop.timeout_seconds,
                require_price=hop.require_price,
            )
        )
    return Snapshot(
        version=version,
        created_at=int(time.time() * 1000),
        teams=[TeamSpec(id=TEAM_ID, name="Team One")],
        keys=[key.spec],
        providers=providers,
        deployments=deployments,
        prices=prices or [],
        rate_limits=rate_limits or [],
        budgets=budgets or [],
        routes=[
            RouteSpec(
                id="route-1",
                name=ROUTE_NAME,
                deployment_ids=[d.id for d in deployments],
                strategy=strategy,
                rules=rules or [],
                policy=policy or RoutePolicy(),
            )
        ],
    )


@asynccontextmanager
async def serving_chain(
    hops: list[Hop],
    *,
    settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    resilience: Resilience | None = None,
    strategy: str = "priority",
    rules: list[RouteRule] | None = None,
    policy: RoutePolicy | None = None,
    prices: list[PriceSpec] | None = None,
    rate_limits: list[RateLimitSpec] | None = None,
    budgets: list[BudgetSpec] | None = None,
) -> AsyncIterator[Chain]:
    """Publish the chain's snapshot over NATS and run a data plane on it until it serves that version."""
    key = make_key(test_secrets.secret_key)
    snapshot = chain_snapshot(
        test_secrets.secret_key,
        hops,
        key,
        strategy=strategy,
        rules=rules,
        policy=policy,
        prices=prices,
        rate_limits=rate_limits,
        budgets=budgets,
    )
    await publish(nats_url, nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    app = create_app(settings, resilience=resilience)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dataplane", timeout=30) as client:
            await wait_for_version(client, 1)
            yield Chain(app=app, client=client, auth={"authorization": f"Bearer {key.token}"})


class RecordingSleep:
    """An injected `sleep` that records the backoff it was asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class ManualClock:
    """An injected monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def streamed_text(body: bytes) -> str:
    """The assistant text of an OpenAI SSE body: every `delta.content`, in order."""
    text = []
    for line in body.split(b"\n"):
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = msgspec.json.decode(line[len(b"data: ") :])
        for choice in event.get("choices") or []:
            text.append(choice.get("delta", {}).get("content") or "")
    return "".join(text)


def sse_events(body: bytes) -> list[bytes]:
    parts = body.split(b"\n\n")
    return [part + b"\n\n" for part in parts if part]
