"""OpenAI SDK → gateway → fake Vertex AI, what goes into the request for either publisher: images, a tool round
trip, an image in a tool result, JSON mode and structured output, and what a publisher cannot take refused (before
any token is minted or call made); and Claude's cache reads reported as cached prompt tokens."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.replay_server import Reply
from tests.fakes.vertex_provider import FakeGoogleTokenEndpoint, FakeVertex
from tests.integration.dataplane.vertex_plane import (
    CLAUDE,
    GEMINI,
    HELLO,
    PNG,
    TOOLS,
    OpenOpenAI,
    cell,
    fake_vertex,
    gateway,
    open_vertex,
    sent,
    token_endpoint,
)
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["fake_vertex", "gateway", "open_vertex", "token_endpoint"]  # fixtures used by the tests below


@cell("image_base64")
@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_a_base64_image_reaches_either_publisher_in_its_own_shape(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, model: str
) -> None:
    image: list[ChatCompletionMessageParam] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}],
        }
    ]
    async with gateway(model) as sdk:
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=image)
    data = PNG.partition(",")[2]
    if model == GEMINI:
        assert sent(fake_vertex)["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": data}}
    else:
        block = sent(fake_vertex)["messages"][0]["content"][1]
        assert block == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


@cell("image_url", expect="error")
@cell("json_mode", expect="error")
async def test_what_a_publisher_cannot_take_is_refused_before_any_token_or_call(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    remote: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}
    ]
    async with gateway(GEMINI) as sdk:
        with pytest.raises(openai.BadRequestError) as image_refused:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=remote)
    async with gateway(CLAUDE) as sdk:
        with pytest.raises(openai.BadRequestError) as json_refused:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, response_format={"type": "json_object"})
        with pytest.raises(openai.BadRequestError) as claude_image_refused:  # Vertex takes no URL sources
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=remote)
    assert image_refused.value.param == claude_image_refused.value.param == "messages[0].content[0]"
    assert "base64" in claude_image_refused.value.message
    assert json_refused.value.param == "response_format"
    assert fake_vertex.requests == [] and token_endpoint.requests == []


@cell("json_mode")
async def test_gemini_json_mode_asks_for_a_json_mime_type(gateway: OpenOpenAI, fake_vertex: FakeVertex) -> None:
    async with gateway(GEMINI) as sdk:
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, response_format={"type": "json_object"})
    assert sent(fake_vertex)["generationConfig"] == {"responseMimeType": "application/json"}


WEATHER_CALL: ChatCompletionMessageParam = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_current_weather", "arguments": '{"location": "Boston, MA"}'},
        }
    ],
}


@cell("multi_turn")
@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_a_tool_round_trip_conversation_keeps_its_turns_for_either_publisher(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, model: str
) -> None:
    conversation: list[ChatCompletionMessageParam] = [
        *HELLO,
        WEATHER_CALL,
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
        {"role": "user", "content": "And tomorrow?"},
    ]
    async with gateway(model) as sdk:
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=conversation, tools=TOOLS)
    request = sent(fake_vertex)
    if model == GEMINI:
        assert [turn["role"] for turn in request["contents"]] == ["user", "model", "user"]
        assert request["contents"][1]["parts"][0]["functionCall"] == {
            "name": "get_current_weather",
            "args": {"location": "Boston, MA"},
        }
        assert request["contents"][2]["parts"] == [
            {"functionResponse": {"name": "get_current_weather", "response": {"temperature": 21}}},
            {"text": "And tomorrow?"},
        ]
    else:
        assert [turn["role"] for turn in request["messages"]] == ["user", "assistant", "user"]
        assert request["messages"][1]["content"] == [
            {"type": "tool_use", "id": "call_1", "name": "get_current_weather", "input": {"location": "Boston, MA"}}
        ]
        assert request["messages"][2]["content"] == [
            {
                "type": "tool_result",
                "tool_use_id": "call_1",
                "content": [{"type": "text", "text": '{"temperature": 21}'}],
            },
            {"type": "text", "text": "And tomorrow?"},
        ]


def image_result() -> list[ChatCompletionMessageParam]:
    # OpenAI's types allow only text in a tool message; the wire takes any content part, as Claude does
    result: Any = {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": [{"type": "image_url", "image_url": {"url": PNG}}],
    }
    return [*HELLO, WEATHER_CALL, result]


@cell("tool_result_image")
async def test_an_image_in_a_tool_result_reaches_claude_as_a_tool_result_block(
    gateway: OpenOpenAI, fake_vertex: FakeVertex
) -> None:
    async with gateway(CLAUDE) as sdk:
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=image_result(), tools=TOOLS)
    [result] = sent(fake_vertex)["messages"][2]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "call_1"
    assert result["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG.partition(",")[2]}}
    ]


@cell("tool_result_image", expect="error")
@cell("structured_output", expect="error")
async def test_what_only_one_publisher_takes_is_refused_for_the_other(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    schema: Any = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    async with gateway(GEMINI) as sdk:
        with pytest.raises(openai.BadRequestError) as image_refused:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=image_result(), tools=TOOLS)
    async with gateway(CLAUDE) as sdk:
        with pytest.raises(openai.BadRequestError) as schema_refused:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, response_format=schema)
    assert image_refused.value.param == "messages[3].content[0]"
    assert schema_refused.value.param == "response_format"
    assert fake_vertex.requests == [] and token_endpoint.requests == []


@cell("structured_output")
async def test_a_json_schema_reaches_gemini_as_its_response_schema(
    gateway: OpenOpenAI, fake_vertex: FakeVertex
) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    async with gateway(GEMINI) as sdk:
        await sdk.chat.completions.create(
            model=ROUTE_NAME,
            messages=HELLO,
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        )
    assert sent(fake_vertex)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@cell("usage_cached")
async def test_claude_cache_reads_are_reported_as_cached_prompt_tokens(
    gateway: OpenOpenAI, fake_vertex: FakeVertex
) -> None:
    fake_vertex.enqueue(Reply(200, "raw_predict/cache_usage.json"))
    async with gateway(CLAUDE) as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    assert (reply.usage.prompt_tokens, reply.usage.prompt_tokens_details.cached_tokens) == (188107, 188086)
    assert reply.usage.completion_tokens == 393
