"""The official `anthropic` SDK → the gateway's /v1/messages → the fake Cohere API: the Messages request
translated (through the OpenAI chat form) to v2 Chat, the answers (whole and streamed) translated back to
Messages answers the SDK assembles, Cohere's errors raised as the SDK's exception classes, and what Cohere cannot
take refused with a 400 before anything reaches it."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, OutputConfigParam, ToolParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.integration.dataplane.translated_messages_plane import (
    COHERE_MODEL,
    TranslatedPlane,
    fake_cohere,
    fake_gemini,
    plane,
)

__all__ = ["fake_cohere", "fake_gemini", "plane"]  # fixtures used by the tests below


def conformance(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider="cohere", ingress="messages", feature=feature, expect=expect)


HELLO: list[MessageParam] = [{"role": "user", "content": "What is Coca-Cola?"}]
TOOLS: list[ToolParam] = [
    {"name": "get_weather", "description": "The weather in a city.", "input_schema": {"type": "object"}},
    {"name": "get_time", "input_schema": {"type": "object"}},
]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def sent(fake: FakeCohere, number: int = 0) -> Any:
    return json.loads(fake.requests[number].body)


@conformance("text")
@conformance("system")
@conformance("sampling_params")
@conformance("stop_sequences")
@conformance("usage")
async def test_a_message_with_system_and_sampling_reaches_cohere_and_comes_back_with_usage(
    plane: TranslatedPlane, fake_cohere: FakeCohere
) -> None:
    message = await plane.anthropic.messages.create(
        model="cohere",
        max_tokens=50,
        system="Be brief.",
        messages=HELLO,
        stop_sequences=["END"],
        extra_body={"temperature": 0.3, "top_p": 0.9},  # this SDK's create() no longer takes them as arguments
    )
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("LLMs are large language models")
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 22)  # the billed units
    [seen] = fake_cohere.requests
    assert seen.path == "/v2/chat" and seen.headers["authorization"] == f"Bearer {fake_cohere.api_key}"
    assert plane.token not in seen.body.decode() and all(plane.token not in v for v in seen.headers.values())
    assert sent(fake_cohere) == {
        "model": COHERE_MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is Coca-Cola?"}],
        "max_tokens": 50,
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "p": 0.9,
    }


@conformance("multi_turn")
@conformance("tools")
async def test_a_conversation_with_a_tool_use_and_its_result_becomes_cohere_messages(
    plane: TranslatedPlane, fake_cohere: FakeCohere
) -> None:
    turns: list[MessageParam] = [
        {"role": "user", "content": "Weather in Toronto?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking it up."},
                {"type": "tool_use", "id": "get_weather_1", "name": "get_weather", "input": {"location": "Toronto"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "get_weather_1", "content": "-5 C, snow"},
                {"type": "text", "text": "And what is Coca-Cola?"},
            ],
        },
    ]
    message = await plane.anthropic.messages.create(model="cohere", max_tokens=50, messages=turns, tools=TOOLS)
    assert message.content[0].type == "text" and message.content[0].text.startswith("LLMs are")
    body = sent(fake_cohere)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "user"]
    assistant, tool = body["messages"][1], body["messages"][2]
    assert assistant["content"] == "Looking it up."
    assert assistant["tool_calls"] == [
        {
            "id": "get_weather_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
        }
    ]
    assert (tool["tool_call_id"], tool["content"]) == ("get_weather_1", "-5 C, snow")
    assert body["messages"][3]["content"] == [{"type": "text", "text": "And what is Coca-Cola?"}]
    assert body["tools"][0] == {
        "type": "function",
        "function": {"name": "get_weather", "description": "The weather in a city.", "parameters": {"type": "object"}},
    }


@conformance("tools")
@conformance("tool_choice")
@conformance("parallel_tools")
@conformance("tool_no_args")
@conformance("finish_reason")
async def test_parallel_tool_calls_come_back_as_tool_use_blocks(
    plane: TranslatedPlane, fake_cohere: FakeCohere
) -> None:
    fake_cohere.enqueue(Reply(200, "tool_calls.json"))
    message = await plane.anthropic.messages.create(
        model="cohere", max_tokens=50, messages=HELLO, tools=TOOLS, tool_choice={"type": "any"}
    )
    assert message.stop_reason == "tool_use"
    calls = [(block.id, block.name, block.input) for block in message.content if block.type == "tool_use"]
    assert calls == [
        ("get_weather_1byjy32y4hvq", "get_weather", {"location": "Toronto"}),
        ("get_time_p7yd2xqm83nz", "get_time", {}),
    ]
    assert sent(fake_cohere)["tool_choice"] == "REQUIRED"


@conformance("stream_text")
@conformance("stream_usage")
async def test_a_streamed_answer_is_assembled_by_the_sdk(plane: TranslatedPlane, fake_cohere: FakeCohere) -> None:
    async with plane.anthropic.messages.stream(model="cohere", max_tokens=50, messages=HELLO) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Coca-Cola is a carbonated soft drink."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 105
    assert sent(fake_cohere)["stream"] is True


@conformance("stream_tools")
@conformance("tool_choice")
async def test_streamed_tool_calls_are_assembled_by_the_sdk(plane: TranslatedPlane, fake_cohere: FakeCohere) -> None:
    fake_cohere.enqueue(Reply(200, "stream_tool_calls.sse"))
    async with plane.anthropic.messages.stream(
        model="cohere", max_tokens=50, messages=HELLO, tools=TOOLS, tool_choice={"type": "tool", "name": "get_weather"}
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [(block.id, block.name, block.input) for block in final.content if block.type == "tool_use"]
    assert calls == [
        ("get_weather_nsz5zm3w56q3", "get_weather", {"location": "Toronto"}),
        ("get_time_9gsx0f2y4b1c", "get_time", {}),
    ]
    body = sent(fake_cohere)
    assert body["tool_choice"] == "REQUIRED" and [t["function"]["name"] for t in body["tools"]] == ["get_weather"]


@conformance("finish_reason")
@pytest.mark.parametrize(
    ("fixture", "stop_reason", "original"),
    [("max_tokens.json", "max_tokens", "MAX_TOKENS"), ("good.json", "end_turn", "COMPLETE")],
)
async def test_cohere_finish_reasons_map_to_stop_reasons_keeping_the_original(
    plane: TranslatedPlane, fake_cohere: FakeCohere, fixture: str, stop_reason: str, original: str
) -> None:
    fake_cohere.enqueue(Reply(200, fixture))
    raw = await plane.client.post(
        "/v1/messages",
        headers={"x-api-key": plane.token},
        json={"model": "cohere", "max_tokens": 10, "messages": HELLO},
    )
    assert raw.status_code == 200
    assert (raw.json()["stop_reason"], raw.json()["provider_stop_reason"]) == (stop_reason, original)


@conformance("errors", expect="error")
@pytest.mark.parametrize(
    ("status", "fixture", "exception", "error_type"),
    [
        (400, "bad_request.json", anthropic.BadRequestError, "invalid_request_error"),
        (404, "not_found.json", anthropic.NotFoundError, "not_found_error"),
        (429, "too_many_requests.json", anthropic.RateLimitError, "rate_limit_error"),
        (500, "internal_server_error.json", anthropic.InternalServerError, "api_error"),
    ],
)
async def test_cohere_errors_reach_the_sdk_as_anthropic_errors(
    plane: TranslatedPlane,
    fake_cohere: FakeCohere,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_cohere.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
    with pytest.raises(exception) as caught:
        await plane.anthropic.messages.create(model="cohere", max_tokens=50, messages=HELLO)
    assert caught.value.status_code == status
    expected = json.loads(fake_cohere.fixture(fixture))["message"]
    assert caught.value.body == {"type": "error", "error": {"type": error_type, "message": expected}}


@conformance("errors", expect="error")
async def test_a_refused_provider_key_is_a_502_api_error(plane: TranslatedPlane, fake_cohere: FakeCohere) -> None:
    fake_cohere.enqueue(Reply(401, "unauthorized.json"))
    with pytest.raises(anthropic.InternalServerError) as caught:
        await plane.anthropic.messages.create(model="cohere", max_tokens=50, messages=HELLO)
    body: Any = caught.value.body
    assert caught.value.status_code == 502 and body["error"]["type"] == "api_error"


@conformance("errors", expect="error")
async def test_a_stream_cut_short_after_the_first_event_ends_with_an_anthropic_error_event(
    plane: TranslatedPlane, fake_cohere: FakeCohere
) -> None:
    fake_cohere.enqueue(Reply(200, "stream_truncated.sse", chunk_delay=0.05))
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with plane.anthropic.messages.stream(model="cohere", max_tokens=50, messages=HELLO) as stream:
            async for piece in stream.text_stream:
                received.append(piece)
    assert "".join(received) == "Coca-Cola is a carbonated soft drink."  # all the text, then the failure
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "api_error",
            "message": "The upstream provider ended the stream before the message was complete.",
        },
    }
    assert len(fake_cohere.requests) == 1  # the stream had begun: no retry


@conformance("structured_output")
async def test_structured_output_becomes_a_cohere_json_schema(plane: TranslatedPlane, fake_cohere: FakeCohere) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    output_config: OutputConfigParam = {"format": {"type": "json_schema", "schema": schema}}
    await plane.anthropic.messages.create(
        model="cohere",
        max_tokens=50,
        messages=HELLO,
        output_config=output_config,
    )
    assert sent(fake_cohere)["response_format"] == {"type": "json_object", "json_schema": schema}


@conformance("image_url")
@conformance("image_base64")
async def test_images_by_url_and_base64_reach_cohere_as_image_urls(
    plane: TranslatedPlane, fake_cohere: FakeCohere
) -> None:
    images: list[MessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": "https://example.com/can.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "Which drink is this?"},
            ],
        }
    ]
    message = await plane.anthropic.messages.create(model="cohere", max_tokens=50, messages=images)
    assert message.content[0].type == "text"
    assert sent(fake_cohere)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/can.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "text", "text": "Which drink is this?"},
    ]


@conformance("tool_result_image", expect="error")
async def test_what_cohere_cannot_take_is_refused_with_a_400_never_dropped(
    plane: TranslatedPlane, fake_cohere: FakeCohere
) -> None:
    image_result: list[MessageParam] = [
        {"role": "user", "content": "Take a photo."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_9", "name": "camera", "input": {}}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_9",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                    ],
                }
            ],
        },
    ]
    document: list[MessageParam] = [
        {
            "role": "user",
            "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Hi"}}],
        }
    ]
    with pytest.raises(anthropic.BadRequestError) as result_refused:
        await plane.anthropic.messages.create(model="cohere", max_tokens=50, messages=image_result)
    with pytest.raises(anthropic.BadRequestError) as document_refused:
        await plane.anthropic.messages.create(model="cohere", max_tokens=50, messages=document)
    assert "only text in tool results" in result_refused.value.message
    assert "'document'" in document_refused.value.message
    assert fake_cohere.requests == []  # nothing reached the provider


@conformance("usage")
@conformance("stream_usage")
async def test_usage_events_carry_the_billed_units_once_or_a_flagged_estimate(
    plane: TranslatedPlane, fake_cohere: FakeCohere, dp_settings: DataPlaneSettings
) -> None:
    fake_cohere.enqueue(Reply(200, "good.json"), Reply(200, "stream.sse"), Reply(200, "stream_no_usage.sse"))
    plain = await plane.anthropic.messages.with_raw_response.create(model="cohere", max_tokens=50, messages=HELLO)
    request_ids = [plain.headers["x-request-id"]]
    for _ in range(2):
        async with plane.anthropic.messages.stream(model="cohere", max_tokens=50, messages=HELLO) as stream:
            await stream.get_final_message()
            request_ids.append(stream.response.headers["x-request-id"])
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 3)
    plain_event, streamed, unreported = (events[request_id] for request_id in request_ids)
    assert (plain_event.tokens, plain_event.estimated, plain_event.provider_kind) == (
        TokenUsage(input=5, output=22),
        False,
        "cohere",
    )
    assert (streamed.tokens, streamed.estimated, streamed.stream) == (TokenUsage(input=21, output=105), False, True)
    assert unreported.estimated and unreported.tokens.input > 0 and unreported.tokens.output > 0
