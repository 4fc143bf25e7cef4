"""Conformance cells of the `openai` and `openai_compatible` kinds on /v1/messages, translated to chat
completions and back: the `anthropic` SDK → the gateway → the fake OpenAI provider."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks
from tests.integration.dataplane.openai_conformance import (
    CLAUDE_WEATHER,
    PARALLEL_CALLS,
    PIXEL,
    STREAMED_CALLS,
    UPSTREAM_MODEL,
    MathReasoning,
    gateway,
    kinds,
    sent_body,
)
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["gateway"]  # a fixture used by the tests below


@kinds(
    "messages",
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
)
async def test_a_messages_conversation_is_translated_to_chat_completions_and_back(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    messages: list[MessageParam] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 °C"},
                {"type": "text", "text": "And what do these show?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/paris.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=128,
            system="Be brief.",
            messages=messages,
            tools=CLAUDE_WEATHER,
            tool_choice={"type": "tool", "name": "get_weather"},
            stop_sequences=["END"],
            extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK version has no arguments for them
        )
    assert reply.content[0].type == "text" and reply.content[0].text == "Hello! How can I assist you today?"
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (19, 10)
    sent = sent_body(fake_openai)
    assert sent["model"] == UPSTREAM_MODEL and sent["max_tokens"] == 128
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "toolu_1", "function": {"name": "get_weather", "arguments": "{}"}, "type": "function"}
            ],
        },
        {"role": "tool", "content": "Sunny, 21 °C", "tool_call_id": "toolu_1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And what do these show?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/paris.png"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
    ]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tool_choice"] == {"function": {"name": "get_weather"}, "type": "function"}
    assert (sent["stop"], sent["temperature"], sent["top_p"]) == (["END"], 0.2, 0.9)


@kinds("messages", "tools", "parallel_tools", "tool_no_args", "finish_reason")
async def test_parallel_tool_calls_become_tool_use_blocks(gateway: OpenSdks, fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="parallel_tool_calls.json"))
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=128,
            messages=[{"role": "user", "content": "Weather in Paris and Bogotá, and the time?"}],
            tools=CLAUDE_WEATHER,
            tool_choice={"type": "any", "disable_parallel_tool_use": False},
        )
    assert reply.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in reply.content if b.type == "tool_use"] == PARALLEL_CALLS
    assert sent_body(fake_openai)["tool_choice"] == "required"


@kinds("messages", "stream_tools", "parallel_tools", "tool_no_args", "stream_usage")
async def test_streamed_tool_calls_are_assembled_by_the_anthropic_sdk(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream_tool_calls.sse"))
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(
            model=ROUTE_NAME,
            max_tokens=128,
            messages=[{"role": "user", "content": "Weather in Paris, and the time?"}],
            tools=CLAUDE_WEATHER,
        ) as stream,
    ):
        final = await stream.get_final_message()
    assert [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"] == STREAMED_CALLS
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (84, 33)
    assert sent_body(fake_openai)["stream_options"] == {"include_usage": True}


@kinds("messages", "stream_text", "stream_usage", "usage_cached")
async def test_a_stream_is_assembled_by_the_anthropic_sdk_with_cached_tokens_apart(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream_usage_details.sse"))
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(
            model=ROUTE_NAME, max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello! How can I assist you today?"
    assert final.stop_reason == "end_turn"
    usage = final.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (2006 - 1920, 1920, 300)


@kinds("messages", "usage_cached")
async def test_cached_prompt_tokens_are_anthropic_cache_reads(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="usage_details.json"))
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME, max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        )
    assert (reply.usage.input_tokens, reply.usage.cache_read_input_tokens, reply.usage.output_tokens) == (86, 1920, 300)


@kinds("messages", "structured_output")
async def test_an_output_format_becomes_a_json_schema_response_format(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="structured_output.json"))
    schema: Any = MathReasoning.model_json_schema()
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=256,
            messages=[{"role": "user", "content": "how can I solve 8x + 7 = -23"}],
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    assert reply.content[0].type == "text"
    assert MathReasoning.model_validate_json(reply.content[0].text).final_answer == "x = -15 / 4"
    assert sent_body(fake_openai)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }


@kinds("messages", "usage_reasoning")
async def test_reasoning_tokens_are_output_tokens_for_the_client_and_accounted_apart(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider, dp_settings: DataPlaneSettings
) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="usage_details.json"))
    async with gateway() as sdks:
        raw = await sdks.anthropic.messages.with_raw_response.create(
            model=ROUTE_NAME, max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        )
    reply = await raw.parse()
    assert reply.usage.output_tokens == 300  # Anthropic's output_tokens include the thinking, as OpenAI's do
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(
        input=2006 - 1920, cached_input=1920, output=300 - 256, reasoning=256
    )


@kinds("messages", "tool_result_image", expect="error")
async def test_an_image_in_a_tool_result_is_refused_naming_the_block(
    gateway: OpenSdks, fake_openai: FakeOpenAIProvider
) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    messages: list[MessageParam] = [
        {"role": "user", "content": "Take a screenshot."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]}]},
    ]
    async with gateway() as sdks:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=messages)
    assert caught.value.status_code == 400
    assert "only text in tool results" in caught.value.message
    assert fake_openai.requests == []  # refused before reaching the provider


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "error_type", "attempts"),
    [
        (400, "bad_request.json", anthropic.BadRequestError, "invalid_request_error", 1),
        (404, "model_not_found.json", anthropic.NotFoundError, "not_found_error", 1),
        (429, "rate_limited.json", anthropic.RateLimitError, "rate_limit_error", 3),
        (500, "server_error.json", anthropic.InternalServerError, "api_error", 3),
    ],
)
@kinds("messages", "errors")
async def test_provider_errors_reach_the_anthropic_sdk_with_their_status(
    gateway: OpenSdks,
    fake_openai: FakeOpenAIProvider,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
    error_type: str,
    attempts: int,
) -> None:
    fake_openai.enqueue(*[ScriptedResponse(status=status, fixture=fixture, headers={"retry-after": "0"})] * attempts)
    async with gateway() as sdks:
        with pytest.raises(exception) as caught:
            await sdks.anthropic.messages.create(
                model=ROUTE_NAME, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
            )
    assert caught.value.status_code == status
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == error_type
