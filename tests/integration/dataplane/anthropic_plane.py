"""A data plane (real NATS, in process) with one route per kind of target: `claude` (the fake Anthropic provider),
`gpt` (the fake OpenAI provider), `mock` (built in) and `claude-then-gpt` (Anthropic first, OpenAI as fallback),
and the official `anthropic` and `openai` SDKs talking to it in process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anthropic
import httpx
import httpx2
import msgspec
import openai

from dataplane.app import create_app
from dataplane.asgi import DataPlaneApp
from dataplane.settings import DataPlaneSettings
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec, Snapshot, TeamSpec
from tests.conftest import TestSecrets
from tests.fakes.anthropic_provider import FakeAnthropicProvider
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.integration.dataplane.conftest import wait_for_version
from tests.snapshot_factory import TEAM_ID, ClientKey, make_key, master_secret, publish, sign_snapshot

CLAUDE_UPSTREAM = "claude-sonnet-4-5-upstream"
GPT_UPSTREAM = "gpt-4.1-upstream"


@dataclass(frozen=True)
class Plane:
    app: DataPlaneApp
    client: httpx.AsyncClient  # raw HTTP to the data plane
    sdk_http: httpx2.AsyncClient  # the SDKs' HTTP client, talking to the app in process
    key: ClientKey
    anthropic: anthropic.AsyncAnthropic
    openai: openai.AsyncOpenAI


def _provider(secret_key: str, provider_id: str, kind: str, base_url: str, api_key: str | None) -> ProviderSpec:
    sealed = None
    if api_key is not None:
        sealed = master_secret(secret_key).seal(msgspec.json.encode({"api_key": api_key}), context=provider_id)
    return ProviderSpec(id=provider_id, name=provider_id, kind=kind, base_url=base_url, sealed_credentials=sealed)


def protocol_snapshot(
    secret_key: str, key: ClientKey, *, fake_anthropic: FakeAnthropicProvider, fake_openai: FakeOpenAIProvider
) -> Snapshot:
    return Snapshot(
        version=1,
        created_at=int(time.time() * 1000),
        teams=[TeamSpec(id=TEAM_ID, name="Team One")],
        keys=[key.spec],
        providers=[
            _provider(secret_key, "p-anthropic", "anthropic", fake_anthropic.base_url, fake_anthropic.api_key),
            _provider(secret_key, "p-openai", "openai_compatible", fake_openai.base_url, fake_openai.api_key),
            _provider(secret_key, "p-mock", "mock", "", None),
        ],
        deployments=[
            DeploymentSpec(id="d-claude", name="claude-dep", provider_id="p-anthropic", model=CLAUDE_UPSTREAM),
            DeploymentSpec(id="d-gpt", name="gpt-dep", provider_id="p-openai", model=GPT_UPSTREAM),
            DeploymentSpec(id="d-mock", name="mock-dep", provider_id="p-mock", model="mock-1"),
        ],
        routes=[
            RouteSpec(id="r-claude", name="claude", deployment_ids=["d-claude"]),
            RouteSpec(id="r-gpt", name="gpt", deployment_ids=["d-gpt"]),
            RouteSpec(id="r-mock", name="mock", deployment_ids=["d-mock"]),
            RouteSpec(id="r-both", name="claude-then-gpt", deployment_ids=["d-claude", "d-gpt"]),
        ],
    )


@asynccontextmanager
async def protocol_plane(
    settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    *,
    fake_anthropic: FakeAnthropicProvider,
    fake_openai: FakeOpenAIProvider,
) -> AsyncIterator[Plane]:
    key = make_key(test_secrets.secret_key)
    snapshot = protocol_snapshot(test_secrets.secret_key, key, fake_anthropic=fake_anthropic, fake_openai=fake_openai)
    await publish(settings.nats_url, settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://dataplane", timeout=30) as client,
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dataplane") as sdk_http,
        ):
            await wait_for_version(client, 1)
            yield Plane(
                app=app,
                client=client,
                sdk_http=sdk_http,
                key=key,
                anthropic=anthropic.AsyncAnthropic(
                    base_url="http://dataplane", api_key=key.token, http_client=sdk_http, max_retries=0
                ),
                openai=openai.AsyncOpenAI(
                    base_url="http://dataplane/v1", api_key=key.token, http_client=sdk_http, max_retries=0
                ),
            )
