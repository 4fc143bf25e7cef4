"""The official `anthropic` SDK → the gateway's /v1/messages → the fake Vertex AI: for a Claude model the body is
forwarded in Vertex's form (only `model` moved to the URL and `anthropic_version` set: unknown fields and
`cache_control` survive, `anthropic-beta` is forwarded) and the answer relayed as is; for a Gemini model it is
translated (through the OpenAI chat form). The SDK assembles the answers, whole and streamed, and raises Vertex's
errors as its exception classes."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, OutputConfigParam, ToolParam

from shared.usage import TokenUsage
from tests.fakes.replay_server import Reply
from tests.fakes.vertex_provider import FakeGoogleTokenEndpoint, FakeVertex
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.integration.dataplane.vertex_plane import (
    CLAUDE,
    GEMINI,
    OpenVertex,
    fake_vertex,
    open_vertex,
    token_endpoint,
)
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["fake_vertex", "open_vertex", "token_endpoint"]  # fixtures used by the tests below

HELLO: list[MessageParam] = [{"role": "user", "content": "Why is the sky blue?"}]
WEATHER: list[ToolParam] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"name": "get_time", "input_schema": {"type": "object"}},
]


def cell(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider="vertex_ai", ingress="messages", feature=feature, expect=expect)


@cell("text")
@cell("system")
@cell("usage")
@cell("finish_reason")
async def test_a_message_reaches_claude_on_vertex_and_comes_back_with_usage(
    open_vertex: OpenVertex, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    async with open_vertex(CLAUDE) as sdks:
        message = await sdks.anthropic.messages.create(
            model=ROUTE_NAME, max_tokens=64, system="Be brief.", messages=HELLO
        )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello! I'm Claude, running on Vertex AI. How can I help you today?"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (14, 21)
    [seen] = fake_vertex.requests
    assert seen.path.endswith(f"/publishers/anthropic/models/{CLAUDE}:rawPredict")
    assert seen.headers["authorization"] == f"Bearer {token_endpoint.issued[0]}"
    assert json.loads(seen.body) == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 64,
        "messages": HELLO,
        "system": "Be brief.",
    }


@cell("passthrough")
@cell("usage_cached")
async def test_a_claude_body_is_forwarded_with_its_unknown_fields_and_beta_header(
    open_vertex: OpenVertex, fake_vertex: FakeVertex, nats_url: str, nats_prefix: str
) -> None:
    cached: list[MessageParam] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Summarise the book.", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    fake_vertex.enqueue(Reply(200, "raw_predict/cache_usage.json"))
    async with open_vertex(CLAUDE) as sdks:
        raw = await sdks.anthropic.messages.with_raw_response.create(
            model=ROUTE_NAME,
            max_tokens=64,
            messages=cached,
            extra_body={"x_future_field": {"kept": [1, 2]}},
            extra_headers={"anthropic-beta": "context-1m-2025-08-07", "x-private": "not forwarded"},
        )
        message = await raw.parse()
    [seen] = fake_vertex.requests
    assert seen.body == (
        b'{"anthropic_version":"vertex-2023-10-16","max_tokens":64,"messages":'
        + json.dumps(cached, separators=(",", ":")).encode()
        + b',"x_future_field":{"kept":[1,2]}}'
    )
    assert seen.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert "anthropic-version" not in seen.headers and "x-private" not in seen.headers
    assert message.id == "msg_vrtx_01EUtwqvD2T7gTgoUJmPixQ8"  # relayed as it came
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (21, 188086)
    event = (await wait_for_events(nats_url, nats_prefix, 1))[raw.headers["x-request-id"]]
    assert event.tokens == TokenUsage(input=21, cached_input=188086, output=393)
    assert event.provider_kind == "vertex_ai" and not event.estimated


@cell("stream_text")
@cell("stream_usage")
async def test_a_streamed_gemini_answer_is_assembled_by_the_sdk(
    open_vertex: OpenVertex, fake_vertex: FakeVertex
) -> None:
    async with (
        open_vertex(GEMINI) as sdks,
        sdks.anthropic.messages.stream(model=ROUTE_NAME, max_tokens=64, messages=HELLO) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "The sky is blue because of Rayleigh scattering."
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 9)
    assert fake_vertex.requests[0].path.endswith(f"/publishers/google/models/{GEMINI}:streamGenerateContent?alt=sse")


@cell("tools")
@cell("parallel_tools")
@cell("tool_no_args")
@cell("stream_tools")
async def test_claude_tool_uses_come_back_whole_and_streamed(open_vertex: OpenVertex, fake_vertex: FakeVertex) -> None:
    fake_vertex.enqueue(Reply(200, "raw_predict/tool_use.json"), Reply(200, "stream_raw_predict/stream_tool_use.sse"))
    async with open_vertex(CLAUDE) as sdks:
        whole = await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO, tools=WEATHER)
        async with sdks.anthropic.messages.stream(
            model=ROUTE_NAME, max_tokens=64, messages=HELLO, tools=WEATHER
        ) as stream:
            streamed = await stream.get_final_message()
    for message, location in [(whole, {"location": "San Francisco, CA"}), (streamed, None)]:
        assert message.stop_reason == "tool_use"
        calls = [block for block in message.content if block.type == "tool_use"]
        assert [call.name for call in calls] == ["get_weather", "get_time"]
        assert calls[1].input == {} and len({call.id for call in calls}) == 2
        if location is not None:
            assert calls[0].input == location
    streamed_calls = [block for block in streamed.content if block.type == "tool_use"]
    assert streamed_calls[0].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert [tool["name"] for tool in json.loads(fake_vertex.requests[0].body)["tools"]] == ["get_weather", "get_time"]


@cell("errors", expect="error")
@pytest.mark.parametrize(
    ("model", "status", "fixture", "exception"),
    [
        (CLAUDE, 429, "raw_predict/resource_exhausted.json", anthropic.RateLimitError),
        (CLAUDE, 400, "raw_predict/invalid_request.json", anthropic.BadRequestError),
        (GEMINI, 400, "generate_content/invalid_argument.json", anthropic.BadRequestError),
    ],
)
async def test_vertex_errors_reach_the_anthropic_sdk_with_their_status(
    open_vertex: OpenVertex,
    fake_vertex: FakeVertex,
    model: str,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    fake_vertex.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
    async with open_vertex(model) as sdks:
        with pytest.raises(exception) as caught:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    assert caught.value.status_code == status


PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="


@cell("system")
@cell("multi_turn")
@cell("tools")
@cell("tool_choice")
@cell("tool_result_image")
@cell("image_base64")
@cell("stop_sequences")
@cell("sampling_params")
@cell("passthrough")
async def test_a_whole_claude_conversation_is_forwarded_in_vertex_form(
    open_vertex: OpenVertex, fake_vertex: FakeVertex
) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    messages: list[MessageParam] = [
        {"role": "user", "content": "What is the weather like?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]},
                {"type": "text", "text": "And this chart?", "cache_control": {"type": "ephemeral"}},
                image,
            ],
        },
    ]
    extra = {"temperature": 0.2, "top_p": 0.9, "top_k": 5}  # this SDK version has no arguments for them
    async with open_vertex(CLAUDE) as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=100,
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=messages,
            tools=WEATHER,
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            stop_sequences=["END"],
            extra_body=extra,
        )
    assert reply.stop_reason == "end_turn" and reply.usage.output_tokens == 21
    assert json.loads(fake_vertex.requests[0].body) == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 100,
        "messages": messages,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": WEATHER,
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        **extra,
    }


@cell("image_url", expect="error")
@pytest.mark.parametrize(("model", "param"), [(CLAUDE, "messages[0].content[1]"), (GEMINI, None)])
async def test_an_image_by_url_is_refused_before_anything_reaches_vertex(
    open_vertex: OpenVertex,
    fake_vertex: FakeVertex,
    token_endpoint: FakeGoogleTokenEndpoint,
    model: str,
    param: str | None,
) -> None:
    by_url: list[MessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            ],
        }
    ]
    async with open_vertex(model) as sdks:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=by_url)
    assert refused.value.status_code == 400
    message = refused.value.message
    assert (param in message and "base64" in message) if param is not None else "data:" in message
    assert fake_vertex.requests == [] and token_endpoint.requests == []


@cell("structured_output")
@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_an_output_schema_reaches_either_publisher(
    open_vertex: OpenVertex, fake_vertex: FakeVertex, model: str
) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    output_config: OutputConfigParam = {"format": {"type": "json_schema", "schema": schema}}
    async with open_vertex(model) as sdks:
        await sdks.anthropic.messages.create(
            model=ROUTE_NAME, max_tokens=64, messages=HELLO, output_config=output_config
        )
    sent = json.loads(fake_vertex.requests[0].body)
    if model == GEMINI:  # translated
        config = sent["generationConfig"]
        assert (config["responseMimeType"], config["responseJsonSchema"]) == ("application/json", schema)
    else:  # forwarded as the client sent it
        assert sent["output_config"] == output_config


@cell("usage")
@cell("usage_reasoning")
async def test_gemini_thinking_tokens_reach_the_usage_event_as_reasoning(
    open_vertex: OpenVertex, fake_vertex: FakeVertex, nats_url: str, nats_prefix: str
) -> None:
    async with open_vertex(GEMINI) as sdks:
        raw = await sdks.anthropic.messages.with_raw_response.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
        message = await raw.parse()
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 45)  # 21 answer + 24 thinking tokens
    event = (await wait_for_events(nats_url, nats_prefix, 1))[raw.headers["x-request-id"]]
    assert event.tokens == TokenUsage(input=9, output=21, reasoning=24)
    assert (event.provider_kind, event.path, event.estimated) == ("vertex_ai", "/v1/messages", False)
