"""Conformance cells of the `anthropic` kind not proven elsewhere: the official SDKs → the gateway → the fake
Anthropic Messages API replaying documented examples. /v1/chat/completions is translated both ways (the rest of
its cells: test_chat_to_anthropic.py); /v1/messages is the same-protocol path, the body forwarded with only
`model` replaced (the rest: test_anthropic_messages.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import msgspec
import openai
import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.anthropic_provider import FakeAnthropicProvider, ScriptedResponse, fake_anthropic, load_fixture
from tests.integration.dataplane.conformance_gateway import (
    ROUTE_NAME,
    OpenSdks,
    Sdks,
    TestFunction,
    sdks_through_gateway,
)
from tests.integration.dataplane.conformance_gateway import proves as proves_cells

__all__ = ["fake_anthropic"]  # a fixture used by the tests below

UPSTREAM_MODEL = "claude-sonnet-4-5-upstream"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="


def proves(ingress: str, *features: str, expect: str = "ok") -> Callable[[TestFunction], TestFunction]:
    """Mark the test as proving `features` of the anthropic kind on `ingress`."""
    return proves_cells("anthropic", ingress, *features, expect=expect)


@pytest.fixture
def gateway(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_anthropic: FakeAnthropicProvider
) -> OpenSdks:
    @asynccontextmanager
    async def open_sdks() -> AsyncIterator[Sdks]:
        async with sdks_through_gateway(
            kind="anthropic",
            settings=dp_settings,
            test_secrets=test_secrets,
            base_url=fake_anthropic.base_url,
            api_key=fake_anthropic.api_key,
            upstream_model=UPSTREAM_MODEL,
        ) as sdks:
            yield sdks

    return open_sdks


def sent_body(fake: FakeAnthropicProvider, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


# --- /v1/chat/completions: translated to the Messages API ------------------------------------------------------


@proves("chat", "multi_turn", "tool_result_image", "image_url", "image_base64", "stop_sequences", "sampling_params")
async def test_a_conversation_with_images_and_tool_results_is_translated_to_messages(
    gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider
) -> None:
    screenshot: Any = [
        {"type": "text", "text": "The screen:"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Take a screenshot."},
        {
            "role": "assistant",
            "content": "Taking it.",
            "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "screenshot", "arguments": ""}}],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": screenshot},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare with this one."},
                {"type": "image_url", "image_url": {"url": "https://example.com/before.png"}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=messages, stop="END", temperature=0.2, top_p=0.9, max_tokens=100
        )
    assert reply.choices[0].message.content == "Hi! My name is Claude."
    sent = sent_body(fake_anthropic)
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Take a screenshot."}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Taking it."},
                {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [
                        {"type": "text", "text": "The screen:"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                    ],
                },
                {"type": "text", "text": "Compare with this one."},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/before.png"}},
            ],
        },
    ]
    assert (sent["system"], sent["stop_sequences"], sent["max_tokens"]) == ("Be brief.", ["END"], 100)
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.9)


@proves("chat", "json_mode", "structured_output", expect="error")
async def test_json_mode_and_json_schemas_are_refused_naming_response_format(
    gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider
) -> None:
    schema: Any = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    formats: list[Any] = [{"type": "json_object"}, schema]
    async with gateway() as sdks:
        for response_format in formats:
            with pytest.raises(openai.BadRequestError) as caught:
                await sdks.openai.chat.completions.create(
                    model=ROUTE_NAME,
                    messages=[{"role": "user", "content": "Answer in JSON."}],
                    response_format=response_format,
                )
            assert caught.value.param == "response_format"
    assert fake_anthropic.requests == []


@proves("chat", "usage_cached", "usage")
async def test_cache_reads_and_writes_are_prompt_tokens_and_reads_cached_tokens(
    gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(
        ScriptedResponse(status=200, fixture="cache_read_usage.json"),
        ScriptedResponse(status=200, fixture="cache_usage.json"),
    )
    hello: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What are the themes?"}]
    async with gateway() as sdks:
        read = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=hello)
        written = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=hello)
    assert read.usage is not None and (read.usage.prompt_tokens, read.usage.completion_tokens) == (21 + 188086, 393)
    assert read.usage.prompt_tokens_details is not None and read.usage.prompt_tokens_details.cached_tokens == 188086
    assert written.usage is not None and written.usage.prompt_tokens == 21 + 188086
    assert written.usage.prompt_tokens_details is not None and written.usage.prompt_tokens_details.cached_tokens == 0


# --- /v1/messages: the same-protocol path ----------------------------------------------------------------------

TOOLS: list[ToolParam] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
]


@proves(
    "messages",
    "text",
    "system",
    "multi_turn",
    "tools",
    "tool_choice",
    "tool_result_image",
    "image_url",
    "image_base64",
    "stop_sequences",
    "sampling_params",
    "structured_output",
    "finish_reason",
    "usage",
    "passthrough",
)
async def test_a_whole_conversation_is_forwarded_untouched_but_for_the_model(
    gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider
) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    messages: list[MessageParam] = [
        {"role": "user", "content": "Take a screenshot."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]},
                {"type": "text", "text": "Compare with this one.", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/before.png"}},
            ],
        },
    ]
    extra = {"temperature": 0.2, "top_p": 0.9, "top_k": 5}  # this SDK version has no arguments for them
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=100,
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=messages,
            tools=TOOLS,
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            stop_sequences=["END"],
            output_config={"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}},
            extra_body=extra,
        )
    assert reply.content[0].type == "text" and reply.content[0].text == "Hi! My name is Claude."
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2095, 503)
    sent = sent_body(fake_anthropic)
    assert sent.pop("model") == UPSTREAM_MODEL
    assert sent == {
        "max_tokens": 100,
        "messages": messages,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": TOOLS,
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}},
        **extra,
    }


@proves("messages", "tools", "parallel_tools", "tool_no_args", "finish_reason")
async def test_parallel_tool_use_blocks_reach_the_sdk(gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=200, fixture="tool_use.json"))
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=100,
            messages=[{"role": "user", "content": "Weather and time in San Francisco?"}],
            tools=TOOLS,
            tool_choice={"type": "any"},
        )
    assert reply.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in reply.content if b.type == "tool_use"] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"location": "San Francisco, CA"}),
        ("toolu_01B12r34st56uv78wx90yz12", "get_time", {}),
    ]
    assert sent_body(fake_anthropic)["tool_choice"] == {"type": "any"}


@proves("messages", "stream_text", "stream_usage")
async def test_a_stream_delivers_its_text_and_the_usage_of_both_ends(
    gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider
) -> None:
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(
            model=ROUTE_NAME, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello!"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 15)
    assert msgspec.json.decode(fake_anthropic.requests[0].body)["stream"] is True


@proves("messages", "usage_cached")
async def test_cache_reads_and_writes_reach_the_sdk_as_sent(
    gateway: OpenSdks, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(
        ScriptedResponse(status=200, fixture="cache_read_usage.json"),
        ScriptedResponse(status=200, fixture="cache_usage.json"),
    )
    hello: list[MessageParam] = [{"role": "user", "content": "What are the themes?"}]
    async with gateway() as sdks:
        read = await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=hello)
        written = await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=hello)
    assert (read.usage.input_tokens, read.usage.cache_read_input_tokens) == (21, 188086)
    assert (written.usage.cache_creation_input_tokens, written.usage.cache_read_input_tokens) == (188086, 0)


@pytest.mark.parametrize(
    ("status", "fixture", "exception"),
    [
        (429, "rate_limited.json", anthropic.RateLimitError),
        (500, "server_error.json", anthropic.InternalServerError),
        (529, "overloaded.json", anthropic.InternalServerError),
    ],
)
@proves("messages", "errors")
async def test_retryable_provider_errors_reach_the_sdk_as_anthropic_sent_them(
    gateway: OpenSdks,
    fake_anthropic: FakeAnthropicProvider,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    fake_anthropic.enqueue(*[ScriptedResponse(status=status, fixture=fixture, headers={"retry-after": "0"})] * 3)
    async with gateway() as sdks:
        with pytest.raises(exception) as caught:
            await sdks.anthropic.messages.create(
                model=ROUTE_NAME, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
            )
    assert caught.value.status_code == status
    assert caught.value.body == {"type": "error", "error": json.loads(load_fixture(fixture))["error"]}
    assert len(fake_anthropic.requests) == 3  # retried, then relayed as the provider sent it
