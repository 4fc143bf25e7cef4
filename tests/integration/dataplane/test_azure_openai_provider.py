"""OpenAI SDK → gateway → fake Azure OpenAI resource: the same-protocol path with Azure's URLs and key header."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.conftest import running, wait_for_version
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, OpenSdk, sdk_through_gateway
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.snapshot_factory import make_key, make_snapshot, publish, sign_snapshot

DEPLOYMENT = "gpt-4o-prod"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI() as fake:
        yield fake


@pytest.fixture
def gateway(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_azure: FakeAzureOpenAI,
) -> OpenSdk:
    @asynccontextmanager
    async def open_sdk() -> AsyncIterator[openai.AsyncOpenAI]:
        async with sdk_through_gateway(
            kind="azure_openai",
            base_url=f"{fake_azure.base_url}?api-version=2024-10-21",
            api_key=fake_azure.api_key,
            upstream_model=DEPLOYMENT,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
        ) as sdk:
            yield sdk

    return open_sdk


@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="text")
@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="usage")
async def test_completion_goes_to_the_deployment_url_with_the_api_key(
    gateway: OpenSdk, fake_azure: FakeAzureOpenAI
) -> None:
    async with gateway() as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert reply.choices[0].message.content == "Yes, customer managed keys are supported by Azure OpenAI."
    assert reply.usage is not None and reply.usage.total_tokens == 46
    [seen] = fake_azure.requests
    assert seen.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21"
    assert seen.headers["api-key"] == fake_azure.api_key
    assert "authorization" not in seen.headers
    assert json.loads(seen.body)["model"] == DEPLOYMENT


@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="stream_text")
@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="stream_usage")
@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="finish_reason")
async def test_stream_keeps_azure_filter_chunk_and_reports_usage(gateway: OpenSdk, fake_azure: FakeAzureOpenAI) -> None:
    async with gateway() as sdk:
        stream = await sdk.chat.completions.create(
            model=ROUTE_NAME,
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 9
    assert chunks[0].model_extra is not None and "prompt_filter_results" in chunks[0].model_extra
    assert json.loads(fake_azure.requests[0].body)["stream_options"] == {"include_usage": True}


@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="stream_tools")
async def test_streamed_tool_call_assembles(gateway: OpenSdk, fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.enqueue(Reply(200, "stream_tool_calls.sse"))
    async with gateway() as sdk:
        stream = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        chunks = [chunk async for chunk in stream]
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "call_fWc2LjVT4A2QmeJf7vZ5C9sd"
    assert calls[0].function is not None and calls[0].function.name == "get_current_weather"
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert json.loads(arguments) == {"location": "Boston, MA"}
    assert all(c.usage is None for c in chunks)  # the client did not ask for the usage chunk


@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="errors")
async def test_content_filter_is_a_bad_request_with_azure_code(gateway: OpenSdk, fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.enqueue(Reply(400, "content_filter.json"))
    async with gateway() as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == 400
    assert caught.value.code == "content_filter"


@pytest.mark.conformance(provider="azure_openai", ingress="chat", feature="errors")
async def test_rate_limit_is_a_429_for_the_sdk(gateway: OpenSdk, fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.enqueue(*[Reply(429, "rate_limited.json", {"retry-after": "0"})] * 6)
    async with gateway() as sdk:
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.code == "429"


async def test_refused_key_is_a_502_upstream_auth_error(gateway: OpenSdk, fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.enqueue(Reply(401, "invalid_api_key.json"))
    async with gateway() as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_error"


async def test_usage_events_carry_azure_token_classes(
    gateway: OpenSdk, fake_azure: FakeAzureOpenAI, nats_url: str, nats_prefix: str
) -> None:
    fake_azure.enqueue(Reply(200, "tool_calls.json"), Reply(200, "stream.sse"))
    async with gateway() as sdk:
        plain = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
        streamed = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        async for _ in streamed.parse():
            pass
    events = await wait_for_events(nats_url, nats_prefix, 2)
    plain_event = events[plain.headers["x-request-id"]]
    assert plain_event.tokens == TokenUsage(input=18, cached_input=64, output=18)
    assert plain_event.provider_kind == "azure_openai" and not plain_event.estimated
    assert events[streamed.headers["x-request-id"]].tokens == TokenUsage(input=9, output=3)


@pytest.mark.conformance(provider="azure_openai", ingress="messages", feature="text")
@pytest.mark.conformance(provider="azure_openai", ingress="messages", feature="finish_reason")
async def test_the_anthropic_endpoint_reaches_an_azure_deployment_translated_both_ways(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_azure: FakeAzureOpenAI,
) -> None:
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key,
        version=1,
        keys=[key.spec],
        provider_kind="azure_openai",
        base_url=f"{fake_azure.base_url}?api-version=2024-10-21",
        provider_api_key=fake_azure.api_key,
        upstream_model=DEPLOYMENT,
    )
    await publish(nats_url, nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    async with running(dp_settings) as client:
        await wait_for_version(client, 1)
        response = await client.post(
            "/v1/messages",
            headers={"x-api-key": key.token, "anthropic-version": "2023-06-01"},
            json={"model": ROUTE_NAME, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]},
        )
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["text"] == "Yes, customer managed keys are supported by Azure OpenAI."
    assert message["stop_reason"] == "end_turn"
    [seen] = fake_azure.requests
    assert seen.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21"
    assert seen.headers["api-key"] == fake_azure.api_key
