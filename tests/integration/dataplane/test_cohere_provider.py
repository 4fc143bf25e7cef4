"""OpenAI SDK → gateway → fake Cohere API: the request translated to v2 Chat, the answers (whole and streamed)
translated back, Cohere's errors mapped to OpenAI errors the SDK raises with the right class."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, OpenSdk, sdk_through_gateway
from tests.integration.dataplane.test_usage_events import wait_for_events

MODEL = "command-a-03-2025"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is Coca-Cola?"}]
TOOLS: list[ChatCompletionToolParam] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


@pytest.fixture
def fake_cohere() -> Iterator[FakeCohere]:
    with FakeCohere() as fake:
        yield fake


@pytest.fixture
def gateway(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str, fake_cohere: FakeCohere
) -> OpenSdk:
    @asynccontextmanager
    async def open_sdk() -> AsyncIterator[openai.AsyncOpenAI]:
        async with sdk_through_gateway(
            kind="cohere",
            base_url=fake_cohere.base_url,
            api_key=fake_cohere.api_key,
            upstream_model=MODEL,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
        ) as sdk:
            yield sdk

    return open_sdk


@pytest.mark.conformance(provider="cohere", ingress="chat", feature="text")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="sampling_params")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="finish_reason")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="usage")
async def test_completion_is_translated_both_ways_with_billed_usage(gateway: OpenSdk, fake_cohere: FakeCohere) -> None:
    async with gateway() as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, max_tokens=50, top_p=0.9)
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("LLMs are large language models")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 22)
    [seen] = fake_cohere.requests
    assert seen.path == "/v2/chat"
    assert seen.headers["authorization"] == f"Bearer {fake_cohere.api_key}"
    assert json.loads(seen.body) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is Coca-Cola?"}],
        "max_tokens": 50,
        "p": 0.9,
    }


@pytest.mark.conformance(provider="cohere", ingress="chat", feature="stream_text")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="stream_usage")
async def test_stream_delivers_text_finish_reason_and_usage(gateway: OpenSdk, fake_cohere: FakeCohere) -> None:
    async with gateway() as sdk:
        stream = await sdk.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Coca-Cola is a carbonated soft drink."
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 126
    assert json.loads(fake_cohere.requests[0].body)["stream"] is True


@pytest.mark.conformance(provider="cohere", ingress="chat", feature="tools")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="parallel_tools")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="tool_no_args")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="stream_tools")
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="finish_reason")
async def test_tool_calls_come_back_whole_and_streamed(gateway: OpenSdk, fake_cohere: FakeCohere) -> None:
    fake_cohere.enqueue(Reply(200, "tool_calls.json"), Reply(200, "stream_tool_calls.sse"))
    async with gateway() as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=TOOLS)
        stream = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=TOOLS, stream=True)
        chunks = [chunk async for chunk in stream]
    assert reply.choices[0].finish_reason == "tool_calls"
    whole = [(c.id, c.function.name) for c in reply.choices[0].message.tool_calls or [] if c.type == "function"]
    assert whole == [("get_weather_1byjy32y4hvq", "get_weather"), ("get_time_p7yd2xqm83nz", "get_time")]
    arguments: dict[int, str] = {}
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            arguments[call.index] = arguments.get(call.index, "") + (
                call.function.arguments or "" if call.function else ""
            )
    assert {index: json.loads(text) for index, text in arguments.items()} == {0: {"location": "Toronto"}, 1: {}}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "code"),
    [
        (400, "bad_request.json", openai.BadRequestError, "bad_request"),
        (404, "not_found.json", openai.NotFoundError, "not_found"),
        (429, "too_many_requests.json", openai.RateLimitError, "too_many_requests"),
        (500, "internal_server_error.json", openai.InternalServerError, "internal_server_error"),
    ],
)
@pytest.mark.conformance(provider="cohere", ingress="chat", feature="errors")
async def test_cohere_errors_reach_the_sdk_as_openai_errors(
    gateway: OpenSdk,
    fake_cohere: FakeCohere,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    code: str,
) -> None:
    fake_cohere.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
    async with gateway() as sdk:
        with pytest.raises(exception) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == status and caught.value.code == code


async def test_a_refused_key_is_a_502(gateway: OpenSdk, fake_cohere: FakeCohere) -> None:
    fake_cohere.enqueue(Reply(401, "unauthorized.json"))
    async with gateway() as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_error"


async def test_usage_events_carry_the_billed_units(
    gateway: OpenSdk, fake_cohere: FakeCohere, nats_url: str, nats_prefix: str
) -> None:
    fake_cohere.enqueue(Reply(200, "good.json"), Reply(200, "stream.sse"), Reply(200, "stream_no_usage.sse"))
    async with gateway() as sdk:
        plain = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
        streamed = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        async for _ in streamed.parse():
            pass
        unreported = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        async for _ in unreported.parse():
            pass
    events = await wait_for_events(nats_url, nats_prefix, 3)
    plain_event = events[plain.headers["x-request-id"]]
    assert plain_event.tokens == TokenUsage(input=5, output=22) and not plain_event.estimated
    assert plain_event.provider_kind == "cohere"
    assert events[streamed.headers["x-request-id"]].tokens == TokenUsage(input=21, output=105)
    estimate = events[unreported.headers["x-request-id"]]
    assert estimate.estimated and estimate.tokens.output > 0
