"""The official `anthropic` SDK → the gateway's /v1/messages → a fake provider of each OpenAI-compatible kind: the
Messages request goes out as the kind's chat completion (its quirks applied), and the answer, the stream (with the
usage wherever the kind puts it) and tool calls come back as Messages the SDK assembles."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from anthropic.types import MessageParam, ToolParam

from dataplane.app import create_app
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.compat_provider import FakeCompatProvider
from tests.integration.dataplane.conftest import wait_for_version
from tests.integration.dataplane.test_compat_providers import KINDS, NO_AUTH_KINDS, STREAM_USAGE, streamed_text
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.snapshot_factory import ROUTE_NAME, make_key, make_snapshot, publish, sign_snapshot

HELLO: list[MessageParam] = [{"role": "user", "content": "Hello"}]
WEATHER: list[ToolParam] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}
]

OpenKind = Callable[[str], AbstractAsyncContextManager[tuple[anthropic.AsyncAnthropic, FakeCompatProvider]]]


def cells(*features: str) -> list[Any]:
    return [
        pytest.param(
            kind,
            marks=[pytest.mark.conformance(provider=kind, ingress="messages", feature=feature) for feature in features],
            id=kind,
        )
        for kind in KINDS
    ]


@pytest.fixture
def open_kind(dp_settings: DataPlaneSettings, test_secrets: TestSecrets) -> OpenKind:
    @asynccontextmanager
    async def open_sdk(kind: str) -> AsyncIterator[tuple[anthropic.AsyncAnthropic, FakeCompatProvider]]:
        key = make_key(test_secrets.secret_key)
        with FakeCompatProvider(kind, api_key=None if kind in NO_AUTH_KINDS else "fake-compat-key") as fake:
            snapshot = make_snapshot(
                test_secrets.secret_key,
                version=1,
                keys=[key.spec],
                provider_kind=kind,
                base_url=fake.base_url,
                provider_api_key=fake.api_key,
                upstream_model=f"{kind}-upstream-model",
            )
            await publish(
                dp_settings.nats_url, dp_settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key)
            )
            app = create_app(dp_settings)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dataplane") as client,
                httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dataplane") as sdk_http,
            ):
                await wait_for_version(client, 1)
                yield (
                    anthropic.AsyncAnthropic(
                        base_url="http://dataplane", api_key=key.token, http_client=sdk_http, max_retries=0
                    ),
                    fake,
                )

    return open_sdk


@pytest.mark.parametrize("kind", cells("text", "usage"))
async def test_a_message_comes_back_from_the_kind_with_its_usage(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        message = await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    good = json.loads(fake.fixture("good.json"))
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == good["choices"][0]["message"]["content"]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == good["usage"]["completion_tokens"]
    sent = json.loads(fake.requests[0].body)
    assert sent["model"] == f"{kind}-upstream-model"
    assert sent["messages"] == [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize("kind", cells("stream_text", "stream_usage"))
async def test_a_streamed_message_is_assembled_and_billed(
    open_kind: OpenKind, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with (
        open_kind(kind) as (sdk, fake),
        sdk.messages.stream(model=ROUTE_NAME, max_tokens=64, messages=HELLO) as stream,
    ):
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert text == streamed_text(fake)
    assert final.stop_reason == "end_turn"
    [event] = (await wait_for_events(nats_url, nats_prefix, 1)).values()
    assert event.tokens == STREAM_USAGE[kind] and not event.estimated


@pytest.mark.parametrize("kind", cells("tools"))
async def test_a_tool_call_comes_back_as_a_tool_use_block(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        message = await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO, tools=WEATHER)
    [expected] = json.loads(fake.fixture("tool_calls.json"))["choices"][0]["message"]["tool_calls"]
    [block] = [block for block in message.content if block.type == "tool_use"]
    assert (block.id, block.name) == (expected["id"], expected["function"]["name"])
    assert block.input == json.loads(expected["function"]["arguments"])
    assert message.stop_reason == "tool_use"
    assert json.loads(fake.requests[0].body)["tools"][0]["function"]["name"] == "get_weather"
