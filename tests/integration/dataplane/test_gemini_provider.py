"""OpenAI SDK → gateway → fake Gemini API: the request translated to generateContent, the answers (whole and
streamed) translated back, Gemini's errors mapped to OpenAI errors the SDK raises with the right class."""

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
from tests.fakes.gemini_provider import FakeGemini
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, OpenSdk, sdk_through_gateway
from tests.integration.dataplane.test_usage_events import wait_for_events

MODEL = "gemini-2.5-flash"
HELLO: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "How does AI work?"},
]
LIGHTS: list[ChatCompletionToolParam] = [
    {"type": "function", "function": {"name": "set_light_values", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "power_disco_ball", "parameters": {"type": "object"}}},
]


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def gateway(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str, fake_gemini: FakeGemini
) -> OpenSdk:
    @asynccontextmanager
    async def open_sdk() -> AsyncIterator[openai.AsyncOpenAI]:
        async with sdk_through_gateway(
            kind="gemini",
            base_url=fake_gemini.base_url,
            api_key=fake_gemini.api_key,
            upstream_model=MODEL,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
        ) as sdk:
            yield sdk

    return open_sdk


@pytest.mark.conformance(provider="gemini", ingress="chat", feature="text")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="system")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="sampling_params")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="finish_reason")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="usage")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="usage_reasoning")
async def test_completion_is_translated_both_ways_with_usage(gateway: OpenSdk, fake_gemini: FakeGemini) -> None:
    async with gateway() as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, max_tokens=64, temperature=0.5)
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("AI learns patterns")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (8, 1225)
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 1208
    [seen] = fake_gemini.requests
    assert seen.path == f"/v1beta/models/{MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == fake_gemini.api_key
    assert json.loads(seen.body) == {
        "contents": [{"parts": [{"text": "How does AI work?"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 64},
    }


@pytest.mark.conformance(provider="gemini", ingress="chat", feature="stream_text")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="stream_usage")
async def test_stream_delivers_text_finish_reason_and_usage(gateway: OpenSdk, fake_gemini: FakeGemini) -> None:
    async with gateway() as sdk:
        stream = await sdk.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The sky is blue because of Rayleigh scattering of sunlight."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 51
    assert fake_gemini.requests[0].path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"


@pytest.mark.conformance(provider="gemini", ingress="chat", feature="tools")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="tool_choice")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="parallel_tools")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="tool_no_args")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="stream_tools")
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="finish_reason")
async def test_parallel_tool_calls_come_back_whole_and_streamed(gateway: OpenSdk, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(
        Reply(200, "generate_content/function_call.json"),
        Reply(200, "stream_generate_content/stream_function_call.sse"),
    )
    async with gateway() as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=LIGHTS, tool_choice="auto")
        stream = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=LIGHTS, stream=True)
        chunks = [chunk async for chunk in stream]
    calls = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls if c.type == "function"] == [
        ("set_light_values", {"brightness": 25, "color_temp": "warm"}),
        ("power_disco_ball", {}),
    ]
    assert len({c.id for c in calls}) == 2
    streamed = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert [(s.index, s.function.name if s.function else None) for s in streamed] == [
        (0, "set_light_values"),
        (1, "power_disco_ball"),
    ]
    sent = json.loads(fake_gemini.requests[0].body)
    assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["set_light_values", "power_disco_ball"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    ("status", "fixture", "exception"),
    [
        (400, "invalid_argument.json", openai.BadRequestError),
        (404, "not_found.json", openai.NotFoundError),
        (429, "resource_exhausted.json", openai.RateLimitError),
        (503, "unavailable.json", openai.InternalServerError),
    ],
)
@pytest.mark.conformance(provider="gemini", ingress="chat", feature="errors")
async def test_gemini_errors_reach_the_sdk_as_openai_errors(
    gateway: OpenSdk, fake_gemini: FakeGemini, status: int, fixture: str, exception: type[openai.APIStatusError]
) -> None:
    fake_gemini.enqueue(*[Reply(status, f"generate_content/{fixture}", {"retry-after": "0"})] * 6)
    async with gateway() as sdk:
        with pytest.raises(exception) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == status
    assert (
        caught.value.code
        == json.loads((fake_gemini.fixture_dir / "generate_content" / fixture).read_bytes())["error"]["status"]
    )


@pytest.mark.conformance(provider="gemini", ingress="chat", feature="image_url", expect="error")
async def test_a_wrong_key_is_a_502_and_a_remote_image_url_a_400(gateway: OpenSdk, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(Reply(400, "generate_content/api_key_invalid.json"))
    image: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}
    ]
    async with gateway() as sdk:
        with pytest.raises(openai.APIStatusError) as refused:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
        with pytest.raises(openai.BadRequestError) as unsupported:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=image)
    assert refused.value.status_code == 502 and refused.value.code == "upstream_auth_error"
    assert unsupported.value.param == "messages[0].content[0]"
    assert len(fake_gemini.requests) == 1  # the refused image never reached the provider


async def test_usage_events_carry_gemini_token_classes_or_an_estimate(
    gateway: OpenSdk, fake_gemini: FakeGemini, nats_url: str, nats_prefix: str
) -> None:
    fake_gemini.enqueue(
        Reply(200, "generate_content/good.json"),
        Reply(200, "stream_generate_content/stream.sse"),
        Reply(200, "generate_content/no_usage.json"),
    )
    async with gateway() as sdk:
        plain = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
        streamed = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        async for _ in streamed.parse():
            pass
        unreported = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
    events = await wait_for_events(nats_url, nats_prefix, 3)
    plain_event = events[plain.headers["x-request-id"]]
    assert plain_event.tokens == TokenUsage(input=6, cached_input=2, output=17, reasoning=1208)
    assert plain_event.provider_kind == "gemini" and not plain_event.estimated
    assert events[streamed.headers["x-request-id"]].tokens == TokenUsage(input=10, output=11, reasoning=30)
    estimate = events[unreported.headers["x-request-id"]]
    assert estimate.estimated and estimate.tokens.input > 0 and estimate.tokens.output > 0
