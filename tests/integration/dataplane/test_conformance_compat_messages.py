"""Conformance cells of the OpenAI-compatible family on /v1/messages not proven in test_messages_to_compat.py:
the `anthropic` SDK → the gateway → a fake provider of each kind (tests/fakes/compat_provider.py), the Messages
request translated to the kind's chat completion (its quirks applied) and the answer translated back. Each test
runs once per kind; what a kind's documentation says it does not take is refused with a 400 before any call."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam

from shared.usage import TokenUsage
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.test_compat_providers import KINDS
from tests.integration.dataplane.test_messages_to_compat import OpenKind, open_kind
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["open_kind"]  # the fixture of the tests below

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
HELLO: list[MessageParam] = [{"role": "user", "content": "Hello"}]
TOOLS: list[ToolParam] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
]
IMAGE_KINDS = tuple(kind for kind in KINDS if kind != "deepseek")  # DeepSeek's chat API takes text only


def cells(*features: str, kinds: tuple[str, ...] = KINDS, expect: str = "ok") -> list[Any]:
    """One parameter per kind, each marked as the /v1/messages cells it proves."""
    return [
        pytest.param(
            kind,
            marks=[
                pytest.mark.conformance(provider=kind, ingress="messages", feature=feature, expect=expect)
                for feature in features
            ],
            id=kind,
        )
        for kind in kinds
    ]


def sent(fake: Any, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


@pytest.mark.parametrize(
    "kind", cells("system", "multi_turn", "tool_choice", "stop_sequences", "sampling_params", "finish_reason")
)
async def test_a_conversation_with_tools_becomes_the_kinds_chat_request(open_kind: OpenKind, kind: str) -> None:
    messages: list[MessageParam] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 °C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.messages.create(
            model=ROUTE_NAME,
            max_tokens=128,
            system="Be brief.",
            messages=messages,
            tools=TOOLS,
            tool_choice={"type": "tool", "name": "get_weather"},
            stop_sequences=["END"],
            extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK version has no arguments for them
        )
    [expected] = json.loads(fake.fixture("tool_calls.json"))["choices"][0]["message"]["tool_calls"]
    assert reply.stop_reason == "tool_use"
    [call] = [block for block in reply.content if block.type == "tool_use"]
    assert (call.id, call.name, call.input) == (
        expected["id"],
        expected["function"]["name"],
        json.loads(expected["function"]["arguments"]),
    )
    body = sent(fake)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "toolu_1", "function": {"name": "get_weather", "arguments": "{}"}, "type": "function"}
            ],
        },
        {"role": "tool", "content": "Sunny, 21 °C", "tool_call_id": "toolu_1"},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]
    assert body["tool_choice"] == {"function": {"name": "get_weather"}, "type": "function"}
    assert (body["max_tokens"], body["stop"], body["temperature"], body["top_p"]) == (128, ["END"], 0.2, 0.9)


@pytest.mark.parametrize("kind", cells("image_url", "image_base64", kinds=IMAGE_KINDS))
async def test_images_by_url_and_base64_reach_the_kind_as_image_parts(open_kind: OpenKind, kind: str) -> None:
    messages: list[MessageParam] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What do these show?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/paris.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
            ],
        }
    ]
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=messages)
    good = json.loads(fake.fixture("good.json"))
    assert reply.content[0].type == "text" and reply.content[0].text == good["choices"][0]["message"]["content"]
    assert sent(fake)["messages"][0]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/paris.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]


@pytest.mark.parametrize(
    ("kind", "source"),
    [
        pytest.param(
            "deepseek",
            source,
            marks=pytest.mark.conformance(provider="deepseek", ingress="messages", feature=feature, expect="error"),
            id=feature,
        )
        for feature, source in (
            ("image_url", {"type": "url", "url": "https://example.com/paris.png"}),
            ("image_base64", {"type": "base64", "media_type": "image/png", "data": PIXEL}),
        )
    ],
)
async def test_deepseek_refuses_images_naming_the_part(open_kind: OpenKind, kind: str, source: Any) -> None:
    messages: list[MessageParam] = [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {"type": "image", "source": source}]}
    ]
    async with open_kind(kind) as (sdk, fake):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=messages)
    assert caught.value.status_code == 400
    assert "`image_url` content parts" in caught.value.message
    assert fake.requests == []  # refused, never silently dropped


@pytest.mark.parametrize("kind", cells("stream_tools", "parallel_tools", "tool_no_args"))
async def test_streamed_parallel_tool_calls_are_assembled_by_the_anthropic_sdk(open_kind: OpenKind, kind: str) -> None:
    async with (
        open_kind(kind) as (sdk, fake),
        sdk.messages.stream(model=ROUTE_NAME, max_tokens=128, messages=HELLO, tools=TOOLS) as stream,
    ):
        final = await stream.get_final_message()
    calls = [(block.id, block.name, block.input) for block in final.content if block.type == "tool_use"]
    assert [(name, arguments) for _, name, arguments in calls] == [
        ("get_weather", {"location": "Paris, France"}),
        ("get_time", {}),
    ]
    assert all(call_id for call_id, _, _ in calls) and calls[0][0] != calls[1][0]
    assert final.stop_reason == "tool_use"
    assert sent(fake)["stream"] is True


SCHEMA: Any = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@pytest.mark.parametrize("kind", cells("structured_output", kinds=IMAGE_KINDS))
async def test_an_output_format_reaches_the_kind_as_a_json_schema(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.messages.create(
            model=ROUTE_NAME,
            max_tokens=64,
            messages=HELLO,
            output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
        )
    assert reply.content[0].type == "text" and reply.stop_reason == "end_turn"
    assert sent(fake)["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA}}


@pytest.mark.parametrize("kind", cells("structured_output", kinds=("deepseek",), expect="error"))
async def test_deepseek_refuses_a_json_schema_output_format(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(
                model=ROUTE_NAME,
                max_tokens=64,
                messages=HELLO,
                output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
            )
    assert caught.value.status_code == 400 and "`json_schema`" in caught.value.message
    assert fake.requests == []


@pytest.mark.parametrize("kind", cells("tool_result_image", expect="error"))
async def test_an_image_in_a_tool_result_is_refused(open_kind: OpenKind, kind: str) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    messages: list[MessageParam] = [
        {"role": "user", "content": "Take a screenshot."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]}]},
    ]
    async with open_kind(kind) as (sdk, fake):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=messages)
    assert caught.value.status_code == 400 and "only text in tool results" in caught.value.message
    assert fake.requests == []


def usage_case(kind: str, fixture: str, expected: TokenUsage, *features: str) -> Any:
    marks = [pytest.mark.conformance(provider=kind, ingress="messages", feature=feature) for feature in features]
    return pytest.param(kind, fixture, expected, marks=marks, id=f"{kind}-{fixture.removesuffix('.json')}")


@pytest.mark.parametrize(
    ("kind", "fixture", "expected"),
    [
        usage_case(
            "groq",
            "usage_details.json",
            TokenUsage(input=512, cached_input=1024, output=60, reasoning=120),
            "usage_cached",
            "usage_reasoning",
        ),
        usage_case(
            "deepseek",
            "reasoning.json",
            TokenUsage(input=16, cached_input=64, output=30, reasoning=90),
            "usage_cached",
            "usage_reasoning",
        ),
        usage_case(
            "xai",
            "good.json",
            TokenUsage(input=26, cached_input=6, output=9, reasoning=94),
            "usage_cached",
            "usage_reasoning",
        ),
        usage_case("openrouter", "good.json", TokenUsage(input=66, cached_input=128, output=14), "usage_cached"),
        usage_case("openrouter", "tool_calls.json", TokenUsage(input=80, output=15, reasoning=25), "usage_reasoning"),
        usage_case("fireworks", "tool_calls.json", TokenUsage(input=105, cached_input=128, output=22), "usage_cached"),
        usage_case("vllm", "usage_details.json", TokenUsage(input=10, cached_input=32, output=10), "usage_cached"),
    ],
)
async def test_cached_tokens_are_cache_reads_and_reasoning_is_accounted_apart(
    open_kind: OpenKind, kind: str, fixture: str, expected: TokenUsage, nats_url: str, nats_prefix: str
) -> None:
    async with open_kind(kind) as (sdk, fake):
        fake.enqueue(Reply(200, fixture))
        raw = await sdk.messages.with_raw_response.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    reply = await raw.parse()
    usage = json.loads(fake.fixture(fixture))["usage"]
    assert (reply.usage.input_tokens, reply.usage.cache_read_input_tokens) == (expected.input, expected.cached_input)
    assert reply.usage.output_tokens == usage["completion_tokens"]  # as the provider counts it
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == expected


def provider_message(body: dict[str, Any]) -> str:
    """The message of an error body in each documented shape: OpenAI's, xAI's `{"code", "error"}`, the flat one."""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error["message"])
    return error if isinstance(error, str) else str(body["message"])


ERROR_CASES = [
    # kind, upstream status, fixture, SDK exception, status the client sees
    ("mistral", 429, "rate_limited.json", anthropic.RateLimitError, 429),
    ("groq", 400, "bad_request.json", anthropic.BadRequestError, 400),
    ("groq", 429, "rate_limited.json", anthropic.RateLimitError, 429),
    ("together", 400, "bad_request.json", anthropic.BadRequestError, 400),
    ("deepseek", 422, "invalid_parameters.json", anthropic.UnprocessableEntityError, 422),
    ("xai", 400, "bad_request.json", anthropic.BadRequestError, 400),
    ("fireworks", 400, "bad_request.json", anthropic.BadRequestError, 400),
    ("openrouter", 400, "bad_request.json", anthropic.BadRequestError, 400),
    ("ollama", 404, "not_found.json", anthropic.NotFoundError, 404),
    ("vllm", 400, "bad_request.json", anthropic.BadRequestError, 400),
]


@pytest.mark.parametrize(
    ("kind", "status", "fixture", "exception", "client_status"),
    [
        pytest.param(
            *case,
            marks=pytest.mark.conformance(provider=case[0], ingress="messages", feature="errors"),
            id=f"{case[0]}-{case[1]}",
        )
        for case in ERROR_CASES
    ],
)
async def test_provider_errors_reach_the_anthropic_sdk_with_the_providers_message(
    open_kind: OpenKind,
    kind: str,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
    client_status: int,
) -> None:
    async with open_kind(kind) as (sdk, fake):
        fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)  # retried ones are answered alike
        with pytest.raises(exception) as caught:
            await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    assert caught.value.status_code == client_status
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["message"] == provider_message(json.loads(fake.fixture(fixture)))
    assert b"fake-compat-key" not in caught.value.response.content


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "ollama"])  # Ollama takes no key
async def test_a_refused_gateway_key_is_a_502_that_never_echoes_it(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        fake.enqueue(Reply(403 if kind == "xai" else 401, "unauthorized.json"))
        with pytest.raises(anthropic.InternalServerError) as caught:
            await sdk.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    assert caught.value.status_code == 502
    assert b"fake-compat-key" not in caught.value.response.content
