"""The harness of the Vertex AI tests: the fake Google token endpoint and fake Vertex AI (tests.fakes.vertex_provider),
and a data plane (real NATS, in process) whose one route reaches the fake Vertex with a given deployment model,
signed in with the token endpoint's service-account key (or another key file), with both official SDKs
(`openai`, `anthropic`; max_retries=0) talking to it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import httpx2
import msgspec
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from dataplane.app import create_app
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.vertex_provider import FakeGoogleTokenEndpoint, FakeVertex
from tests.integration.dataplane.conftest import wait_for_version
from tests.snapshot_factory import PROVIDER_ID, make_key, make_snapshot, master_secret, publish, sign_snapshot

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4@20250514"
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Why is the sky blue?"},
]
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_current_time", "parameters": {"type": "object"}}},
]
PNG = (  # a one-pixel PNG
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


def cell(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider="vertex_ai", ingress="chat", feature=feature, expect=expect)


def sent(fake: FakeVertex, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[index].body)
    return body


@dataclass(frozen=True)
class Sdks:
    openai: openai.AsyncOpenAI
    anthropic: anthropic.AsyncAnthropic


# a fixture value: `open_vertex(model, service_account_json=None)` opens a data plane routed to the fake Vertex
OpenVertex = Callable[..., AbstractAsyncContextManager[Sdks]]


@pytest.fixture
def token_endpoint() -> Iterator[FakeGoogleTokenEndpoint]:
    with FakeGoogleTokenEndpoint() as fake:
        yield fake


@pytest.fixture
def fake_vertex(token_endpoint: FakeGoogleTokenEndpoint) -> Iterator[FakeVertex]:
    with FakeVertex(token_endpoint) as fake:
        yield fake


@pytest.fixture
def open_vertex(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    token_endpoint: FakeGoogleTokenEndpoint,
    fake_vertex: FakeVertex,
) -> OpenVertex:
    versions = iter(range(1, 100))

    @asynccontextmanager
    async def open_sdks(model: str, service_account_json: str | None = None) -> AsyncIterator[Sdks]:
        assert token_endpoint.account is not None
        version = next(versions)  # a test may open several data planes in turn: each applies a newer snapshot
        credentials = {"service_account_json": service_account_json or token_endpoint.account.json}
        key = make_key(test_secrets.secret_key)
        snapshot = make_snapshot(
            test_secrets.secret_key,
            version=version,
            keys=[key.spec],
            provider_kind="vertex_ai",
            base_url=fake_vertex.base_url,
            upstream_model=model,
        )
        sealed = master_secret(test_secrets.secret_key).seal(msgspec.json.encode(credentials), context=PROVIDER_ID)
        provider = msgspec.structs.replace(snapshot.providers[0], sealed_credentials=sealed)
        snapshot = msgspec.structs.replace(snapshot, providers=[provider])
        await publish(dp_settings.nats_url, dp_settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
        app = create_app(dp_settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dataplane") as client,
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dataplane") as sdk_http,
        ):
            await wait_for_version(client, version)
            yield Sdks(
                openai=openai.AsyncOpenAI(
                    base_url="http://dataplane/v1", api_key=key.token, http_client=sdk_http, max_retries=0
                ),
                anthropic=anthropic.AsyncAnthropic(
                    base_url="http://dataplane", api_key=key.token, http_client=sdk_http, max_retries=0
                ),
            )

    return open_sdks


# a fixture value: `gateway(model, service_account_json=None)` yields just the OpenAI SDK of `open_vertex`
OpenOpenAI = Callable[..., AbstractAsyncContextManager[openai.AsyncOpenAI]]


@pytest.fixture
def gateway(open_vertex: OpenVertex) -> OpenOpenAI:
    @asynccontextmanager
    async def open_sdk(model: str, service_account_json: str | None = None) -> AsyncIterator[openai.AsyncOpenAI]:
        async with open_vertex(model, service_account_json) as sdks:
            yield sdks.openai

    return open_sdk
