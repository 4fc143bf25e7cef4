"""Conformance cells of the `openai` and `openai_compatible` kinds on /v1/chat/completions, the same-protocol
path (the body forwarded with only `model` replaced): the `openai` SDK → the gateway → the fake OpenAI provider."""

from __future__ import annotations

import json

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse, load_fixture
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks, streamed_tool_calls
from tests.integration.dataplane.openai_conformance import (
    PARALLEL_CALLS,
    PIXEL,
    STREAMED_CALLS,
    UPSTREAM_MODEL,
    WEATHER,
    MathReasoning,
    gateway,
    kinds,
    sent_body,
)

__all__ = ["gateway"]  # a fixture used by the tests below


@kinds(
    "chat",
    "text",
    "system",
    "multi_turn",
    "tools",
    "tool_choice",
    "image_url",
    "image_base64",
    "stop_sequences",
    "sampling_params",
    "finish_reason",
    "usage",
    "passthrough",
)
async def test_a_whole_conversation_is_forwarded_untouched_but_for_the_model(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 °C"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And what do these show?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/paris.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=messages,
            tools=WEATHER,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            stop=["\n\n", "END"],
            temperature=0.2,
            top_p=0.9,
            max_completion_tokens=128,
            seed=7,
            extra_body={"future_option": {"keep": True}},
        )
    assert reply.choices[0].message.content == "Hello! How can I assist you today?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (19, 10)
    sent = sent_body(fake_openai)
    assert sent.pop("model") == UPSTREAM_MODEL
    assert sent == {
        "messages": messages,
        "tools": WEATHER,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "stop": ["\n\n", "END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 128,
        "seed": 7,
        "future_option": {"keep": True},
    }


@kinds("chat", "tools", "parallel_tools", "tool_no_args", "finish_reason")
async def test_parallel_tool_calls_and_one_without_arguments_reach_the_sdk(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="parallel_tool_calls.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "Weather in Paris and Bogotá, and the time?"}],
            tools=WEATHER,
            parallel_tool_calls=True,
        )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    assert calls == PARALLEL_CALLS
    assert sent_body(fake_openai)["parallel_tool_calls"] is True


@kinds("chat", "stream_tools", "parallel_tools", "tool_no_args", "stream_usage")
async def test_streamed_parallel_tool_calls_are_assembled_by_the_sdk(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream_tool_calls.sse"))
    async with gateway() as sdks:
        stream = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "Weather in Paris, and the time?"}],
            tools=WEATHER,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert streamed_tool_calls(chunks) == STREAMED_CALLS
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 117


@kinds("chat", "stream_text", "stream_usage", "usage_cached", "usage_reasoning")
async def test_a_stream_delivers_its_text_then_usage_with_cached_and_reasoning_tokens(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream_usage_details.sse"))
    async with gateway() as sdks:
        stream = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello! How can I assist you today?"
    )
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (2006, 300)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 1920
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 256


@kinds("chat", "usage_cached", "usage_reasoning")
async def test_cached_and_reasoning_tokens_reach_the_sdk(gateway: OpenSdks, fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="usage_details.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=[{"role": "user", "content": "Hello"}]
        )
    assert reply.usage is not None and reply.usage.total_tokens == 2306
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 1920
    details = reply.usage.completion_tokens_details
    assert details is not None and details.reasoning_tokens == 256


@kinds("chat", "json_mode", "structured_output")
async def test_json_mode_and_a_json_schema_reach_the_provider_and_the_sdk_parses_the_answer(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(*[ScriptedResponse(status=200, fixture="structured_output.json")] * 2)
    tutor: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are a helpful math tutor. Answer in JSON."},
        {"role": "user", "content": "how can I solve 8x + 7 = -23"},
    ]
    async with gateway() as sdks:
        plain = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=tutor, response_format={"type": "json_object"}
        )
        parsed = await sdks.openai.chat.completions.parse(
            model=ROUTE_NAME, messages=tutor, response_format=MathReasoning
        )
    assert json.loads(plain.choices[0].message.content or "")["final_answer"] == "x = -15 / 4"
    answer = parsed.choices[0].message.parsed
    assert answer is not None and answer.final_answer == "x = -15 / 4" and len(answer.steps) == 5
    assert sent_body(fake_openai, 0)["response_format"] == {"type": "json_object"}
    schema = sent_body(fake_openai, 1)["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["name"] == "MathReasoning"
    assert schema["json_schema"]["strict"] is True
    assert set(schema["json_schema"]["schema"]["properties"]) == {"steps", "final_answer"}


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "attempts"),
    [
        (400, "bad_request.json", openai.BadRequestError, 1),
        (404, "model_not_found.json", openai.NotFoundError, 1),
        (429, "rate_limited.json", openai.RateLimitError, 3),
        (500, "server_error.json", openai.InternalServerError, 3),
    ],
)
@kinds("chat", "errors")
async def test_provider_errors_reach_the_openai_sdk_with_their_status_and_code(
    gateway: OpenSdks,
    fake_openai: FakeOpenAIProvider,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    attempts: int,
) -> None:
    fake_openai.enqueue(*[ScriptedResponse(status=status, fixture=fixture, headers={"retry-after": "0"})] * attempts)
    async with gateway() as sdks:
        with pytest.raises(exception) as caught:
            await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == status
    assert caught.value.code == json.loads(load_fixture(fixture))["error"]["code"]


@kinds("chat", "passthrough", "stream_text")
async def test_the_openai_beta_header_is_forwarded_and_the_clients_credentials_are_not(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    async with gateway() as sdks:
        await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "Hello!"}],
            extra_headers={"OpenAI-Beta": "assistants=v2", "x-not-forwarded": "1"},
        )
        stream = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "Hello!"}],
            stream=True,
            extra_headers={"OpenAI-Beta": "assistants=v2"},
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text
    for received in fake_openai.requests:
        assert received.headers["openai-beta"] == "assistants=v2"
        assert received.headers["authorization"] == f"Bearer {fake_openai.api_key}"  # the provider's key, not ours
        assert "x-not-forwarded" not in received.headers
    assert len(fake_openai.requests) == 2
