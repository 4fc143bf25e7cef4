"""The official `anthropic` SDK → the gateway's /v1/messages → the fake Gemini API: the Messages request
translated (through the OpenAI chat form) to generateContent, the answers (whole and streamed) translated back
to Messages answers the SDK assembles, Gemini's errors raised as the SDK's exception classes, and what Gemini
cannot take refused with a 400 before anything reaches it."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, OutputConfigParam, ToolParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.fakes.gemini_provider import FakeGemini
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.integration.dataplane.translated_messages_plane import (
    GEMINI_MODEL,
    TranslatedPlane,
    fake_cohere,
    fake_gemini,
    plane,
)

__all__ = ["fake_cohere", "fake_gemini", "plane"]  # fixtures used by the tests below


def conformance(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider="gemini", ingress="messages", feature=feature, expect=expect)


HELLO: list[MessageParam] = [{"role": "user", "content": "How does AI work?"}]
LIGHTS: list[ToolParam] = [
    {"name": "set_light_values", "description": "Dim the lights.", "input_schema": {"type": "object"}},
    {"name": "power_disco_ball", "input_schema": {"type": "object"}},
]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def sent(fake: FakeGemini, number: int = 0) -> Any:
    return json.loads(fake.requests[number].body)


@conformance("text")
@conformance("system")
@conformance("sampling_params")
@conformance("stop_sequences")
@conformance("usage")
@conformance("usage_cached")
async def test_a_message_with_system_and_sampling_reaches_gemini_and_comes_back_with_usage(
    plane: TranslatedPlane, fake_gemini: FakeGemini
) -> None:
    message = await plane.anthropic.messages.create(
        model="gemini",
        max_tokens=64,
        system="Be brief.",
        messages=HELLO,
        stop_sequences=["END"],
        extra_body={"temperature": 0.5, "top_p": 0.9},  # this SDK's create() no longer takes them as arguments
    )
    assert message.content[0].type == "text" and message.content[0].text.startswith("AI learns patterns")
    assert message.stop_reason == "end_turn" and message.model == GEMINI_MODEL
    # 8 prompt tokens of which 2 cached; 17 answer + 1208 thinking tokens
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (6, 2)
    assert message.usage.output_tokens == 1225
    [seen] = fake_gemini.requests
    assert seen.path == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == fake_gemini.api_key
    assert plane.token not in seen.body.decode() and all(plane.token not in v for v in seen.headers.values())
    assert sent(fake_gemini) == {
        "contents": [{"parts": [{"text": "How does AI work?"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "topP": 0.9, "maxOutputTokens": 64, "stopSequences": ["END"]},
    }


@conformance("multi_turn")
@conformance("tools")
async def test_a_conversation_with_a_tool_use_and_its_result_becomes_gemini_turns(
    plane: TranslatedPlane, fake_gemini: FakeGemini
) -> None:
    turns: list[MessageParam] = [
        {"role": "user", "content": "Dim the lights."},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Dimming."},
                {"type": "tool_use", "id": "toolu_01", "name": "set_light_values", "input": {"brightness": 25}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": '{"brightness": 25}'},
                {"type": "text", "text": "Thanks. How does AI work?"},
            ],
        },
    ]
    message = await plane.anthropic.messages.create(model="gemini", max_tokens=64, messages=turns, tools=LIGHTS)
    assert message.content[0].type == "text" and message.content[0].text.startswith("AI learns patterns")
    contents = sent(fake_gemini)["contents"]
    assert [content["role"] for content in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0] == {"text": "Dimming."}
    assert contents[1]["parts"][1]["functionCall"] == {"name": "set_light_values", "args": {"brightness": 25}}
    # the tool result answers the call by its function's name, and the user's text follows in the same turn
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "set_light_values", "response": {"brightness": 25}}},
        {"text": "Thanks. How does AI work?"},
    ]
    declared = sent(fake_gemini)["tools"][0]["functionDeclarations"]
    assert declared[0] == {
        "name": "set_light_values",
        "description": "Dim the lights.",
        "parameters": {"type": "object"},
    }


@conformance("tools")
@conformance("tool_choice")
@conformance("parallel_tools")
@conformance("tool_no_args")
@conformance("finish_reason")
async def test_parallel_function_calls_come_back_as_tool_use_blocks(
    plane: TranslatedPlane, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(Reply(200, "generate_content/function_call.json"))
    message = await plane.anthropic.messages.create(
        model="gemini", max_tokens=64, messages=HELLO, tools=LIGHTS, tool_choice={"type": "any"}
    )
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert [(call.name, call.input) for call in calls] == [
        ("set_light_values", {"brightness": 25, "color_temp": "warm"}),
        ("power_disco_ball", {}),
    ]
    assert len({call.id for call in calls}) == 2 and all(call.id for call in calls)
    assert sent(fake_gemini)["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@conformance("stream_text")
@conformance("stream_usage")
async def test_a_streamed_answer_is_assembled_by_the_sdk(plane: TranslatedPlane, fake_gemini: FakeGemini) -> None:
    async with plane.anthropic.messages.stream(model="gemini", max_tokens=64, messages=HELLO) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "The sky is blue because of Rayleigh scattering of sunlight."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 41  # 11 answer + 30 thinking tokens
    assert fake_gemini.requests[0].path == f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse"


@conformance("stream_tools")
@conformance("tool_choice")
async def test_streamed_function_calls_are_assembled_by_the_sdk(
    plane: TranslatedPlane, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(Reply(200, "stream_generate_content/stream_function_call.sse"))
    async with plane.anthropic.messages.stream(
        model="gemini",
        max_tokens=64,
        messages=HELLO,
        tools=LIGHTS,
        tool_choice={"type": "tool", "name": "set_light_values"},
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [(call.name, call.input) for call in calls] == [
        ("set_light_values", {"brightness": 25, "color_temp": "warm"}),
        ("power_disco_ball", {}),
    ]
    assert len({call.id for call in calls}) == 2
    assert sent(fake_gemini)["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["set_light_values"]}
    }


@conformance("finish_reason")
@pytest.mark.parametrize(
    ("fixture", "stop_reason", "original"),
    [("max_tokens.json", "max_tokens", "MAX_TOKENS"), ("safety.json", "refusal", "SAFETY")],
)
async def test_gemini_finish_reasons_map_to_stop_reasons_keeping_the_original(
    plane: TranslatedPlane, fake_gemini: FakeGemini, fixture: str, stop_reason: str, original: str
) -> None:
    fake_gemini.enqueue(Reply(200, f"generate_content/{fixture}"))
    raw = await plane.client.post(
        "/v1/messages",
        headers={"x-api-key": plane.token},
        json={"model": "gemini", "max_tokens": 12, "messages": HELLO},
    )
    assert raw.status_code == 200
    assert (raw.json()["stop_reason"], raw.json()["provider_stop_reason"]) == (stop_reason, original)


@conformance("errors", expect="error")
@pytest.mark.parametrize(
    ("status", "fixture", "exception", "error_type"),
    [
        (400, "invalid_argument.json", anthropic.BadRequestError, "invalid_request_error"),
        (404, "not_found.json", anthropic.NotFoundError, "not_found_error"),
        (429, "resource_exhausted.json", anthropic.RateLimitError, "rate_limit_error"),
        (503, "unavailable.json", anthropic.InternalServerError, "overloaded_error"),
    ],
)
async def test_gemini_errors_reach_the_sdk_as_anthropic_errors(
    plane: TranslatedPlane,
    fake_gemini: FakeGemini,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_gemini.enqueue(*[Reply(status, f"generate_content/{fixture}", {"retry-after": "0"})] * 6)
    with pytest.raises(exception) as caught:
        await plane.anthropic.messages.create(model="gemini", max_tokens=64, messages=HELLO)
    assert caught.value.status_code == status
    expected = json.loads(fake_gemini.fixture(f"generate_content/{fixture}"))["error"]["message"]
    assert caught.value.body == {"type": "error", "error": {"type": error_type, "message": expected}}


@conformance("errors", expect="error")
@pytest.mark.parametrize(
    ("fixture", "error"),
    [
        (
            "stream_error.sse",
            {"type": "overloaded_error", "message": "The model is overloaded. Please try again later."},
        ),
        (
            "stream_truncated.sse",
            {"type": "api_error", "message": "The upstream provider ended the stream before the answer was complete."},
        ),
    ],
)
async def test_a_failure_after_the_first_event_becomes_an_anthropic_error_event(
    plane: TranslatedPlane, fake_gemini: FakeGemini, fixture: str, error: dict[str, str]
) -> None:
    # the events come apart, so the first has gone to the client when the failure arrives: too late to fall over
    fake_gemini.enqueue(*[Reply(200, f"stream_generate_content/{fixture}", chunk_delay=0.2)] * 2)
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with plane.anthropic.messages.stream(model="gemini", max_tokens=64, messages=HELLO) as stream:
            async for _ in stream:
                pass
    assert caught.value.body == {"type": "error", "error": error}
    raw = await plane.client.post(
        "/v1/messages",
        headers={"x-api-key": plane.token},
        json={"model": "gemini", "max_tokens": 64, "messages": HELLO, "stream": True},
    )
    assert raw.status_code == 200
    names = [line.removeprefix("event: ") for line in raw.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-1] == "error"
    assert '"text":"The sky is blue because"' in raw.text  # what came before the failure reached the client
    assert len(fake_gemini.requests) == 2  # one upstream call each: nothing was retried once the stream began


@conformance("structured_output")
async def test_structured_output_becomes_a_gemini_response_schema(
    plane: TranslatedPlane, fake_gemini: FakeGemini
) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    output_config: OutputConfigParam = {"format": {"type": "json_schema", "schema": schema}}
    await plane.anthropic.messages.create(
        model="gemini",
        max_tokens=64,
        messages=HELLO,
        output_config=output_config,
    )
    await plane.anthropic.messages.create(
        model="gemini",
        max_tokens=64,
        messages=HELLO,
        extra_body={"output_format": {"type": "json_schema", "schema": schema}},  # the beta's name for it
    )
    for number in (0, 1):
        config = sent(fake_gemini, number)["generationConfig"]
        assert (config["responseMimeType"], config["responseJsonSchema"]) == ("application/json", schema)
    with pytest.raises(anthropic.BadRequestError) as refused:
        await plane.anthropic.messages.create(
            model="gemini", max_tokens=64, messages=HELLO, extra_body={"output_format": {"type": "xml"}}
        )
    assert "json_schema" in refused.value.message and len(fake_gemini.requests) == 2


@conformance("image_base64")
async def test_a_base64_image_is_sent_inline(plane: TranslatedPlane, fake_gemini: FakeGemini) -> None:
    image: list[MessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "What is this?"},
            ],
        }
    ]
    message = await plane.anthropic.messages.create(model="gemini", max_tokens=64, messages=image)
    assert message.content[0].type == "text"
    assert sent(fake_gemini)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"text": "What is this?"},
    ]


@conformance("image_url", expect="error")
@conformance("tool_result_image", expect="error")
async def test_what_gemini_cannot_take_is_refused_with_a_400_never_dropped(
    plane: TranslatedPlane, fake_gemini: FakeGemini
) -> None:
    remote: list[MessageParam] = [
        {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}
    ]
    image_result: list[MessageParam] = [
        {"role": "user", "content": "Take a photo."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "camera", "input": {}}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_9",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                    ],
                }
            ],
        },
    ]
    with pytest.raises(anthropic.BadRequestError) as url_refused:
        await plane.anthropic.messages.create(model="gemini", max_tokens=64, messages=remote)
    with pytest.raises(anthropic.BadRequestError) as result_refused:
        await plane.anthropic.messages.create(model="gemini", max_tokens=64, messages=image_result)
    with pytest.raises(anthropic.BadRequestError) as top_k_refused:
        await plane.anthropic.messages.create(model="gemini", max_tokens=64, messages=HELLO, extra_body={"top_k": 5})
    assert "do not fetch image URLs" in url_refused.value.message
    assert "only text in tool results" in result_refused.value.message
    assert "top_k" in top_k_refused.value.message
    for refused in (url_refused, result_refused, top_k_refused):
        body: Any = refused.value.body
        assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error")
    assert fake_gemini.requests == []  # nothing reached the provider


@conformance("usage")
@conformance("usage_cached")
@conformance("usage_reasoning")
@conformance("stream_usage")
async def test_usage_events_carry_gemini_token_classes_once(
    plane: TranslatedPlane, fake_gemini: FakeGemini, dp_settings: DataPlaneSettings
) -> None:
    plain = await plane.anthropic.messages.with_raw_response.create(model="gemini", max_tokens=64, messages=HELLO)
    async with plane.anthropic.messages.stream(model="gemini", max_tokens=64, messages=HELLO) as stream:
        await stream.get_final_message()
        streamed_id = stream.response.headers["x-request-id"]
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 2)
    plain_event = events[plain.headers["x-request-id"]]
    assert plain_event.tokens == TokenUsage(input=6, cached_input=2, output=17, reasoning=1208)
    assert (plain_event.provider_kind, plain_event.estimated, plain_event.path) == ("gemini", False, "/v1/messages")
    streamed_event = events[streamed_id]
    assert streamed_event.tokens == TokenUsage(input=10, output=11, reasoning=30)
    assert streamed_event.stream is True and not streamed_event.estimated
