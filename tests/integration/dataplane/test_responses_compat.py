"""OpenAI SDK `client.responses` → gateway → the OpenAI-compatible kinds that are translated (their Responses API
is beta, preview, undocumented or version-dependent): the request becomes a chat request on the family's fast path
(with the kind's documented quirks), and the chat answer, replayed by the kind's fake from its own fixtures, comes
back as a Response or as Responses stream events. Expected values are read from the fixtures themselves. The generic
`openai_compatible` kind is served by the fake OpenAI chat-completions server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam

from dataplane.providers.compat import quirks_of
from dataplane.responses import PASSTHROUGH_KINDS
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.compat_provider import FakeCompatProvider, base_path
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse
from tests.fakes.replay_server import FIXTURES, Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, sdk_through_gateway

KINDS = sorted(
    k for k in ("mistral", "together", "deepseek", "openrouter", "ollama", "vllm") if k not in PASSTHROUGH_KINDS
)
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    "strict": False,
}


def kinds(*features: str, expect: str = "ok") -> pytest.MarkDecorator:
    marks = {
        kind: [pytest.mark.conformance(provider=kind, ingress="responses", feature=f, expect=expect) for f in features]
        for kind in KINDS
    }
    return pytest.mark.parametrize("kind", [pytest.param(kind, marks=marks[kind], id=kind) for kind in KINDS])


def fixture_json(kind: str, name: str) -> Any:
    return json.loads((FIXTURES / kind / "chat" / name).read_bytes())


def fixture_chunks(kind: str, name: str) -> list[dict[str, Any]]:
    body = (FIXTURES / kind / "chat" / name).read_bytes().decode()
    lines = [line.removeprefix("data:").strip() for line in body.splitlines() if line.startswith("data:")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


@pytest.fixture
def fake(kind: str) -> Iterator[FakeCompatProvider]:
    with FakeCompatProvider(kind) as provider:
        yield provider


@pytest.fixture
async def sdk(
    kind: str,
    fake: FakeCompatProvider,
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk_through_gateway(
        kind=kind,
        base_url=fake.base_url,
        api_key=fake.api_key or "unused",
        upstream_model=f"{kind}-model",
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as client:
        yield client


@kinds("text", "system", "usage")
async def test_a_response_is_answered_through_the_kinds_chat_endpoint(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider
) -> None:
    expected = fixture_json(kind, "good.json")
    reply = await sdk.responses.create(model=ROUTE_NAME, input="Hi", instructions="Be brief.", max_output_tokens=50)
    assert reply.output_text == expected["choices"][0]["message"]["content"]
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (
        expected["usage"]["prompt_tokens"],
        expected["usage"]["completion_tokens"],
    )
    [seen] = fake.requests
    assert seen.path == f"{base_path(kind)}/chat/completions"
    sent = json.loads(seen.body)
    assert sent["model"] == f"{kind}-model" and sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@kinds("stream_text", "stream_usage")
async def test_a_chat_stream_comes_back_as_responses_events(kind: str, sdk: openai.AsyncOpenAI) -> None:
    chunks = fixture_chunks(kind, "stream.sse")
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    total = next(c["usage"]["total_tokens"] for c in reversed(chunks) if c.get("usage"))
    async with sdk.responses.stream(model=ROUTE_NAME, input="Hi") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == text
    assert final.usage is not None and final.usage.total_tokens == total
    assert [event.sequence_number for event in events] == list(range(len(events)))


@kinds("tools", "stream_tools")
async def test_tool_calls_whole_and_streamed_become_function_call_items(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider
) -> None:
    whole = fixture_json(kind, "tool_calls.json")["choices"][0]["message"]["tool_calls"]
    streamed_names = [
        call["function"]["name"]
        for chunk in fixture_chunks(kind, "stream_tool_calls.sse")
        for choice in chunk.get("choices") or []
        for call in choice["delta"].get("tool_calls") or []
        if (call.get("function") or {}).get("name")
    ]
    reply = await sdk.responses.create(model=ROUTE_NAME, input="Weather in Paris?", tools=[WEATHER])
    async with sdk.responses.stream(model=ROUTE_NAME, input="Weather in Paris?", tools=[WEATHER]) as stream:
        final = await stream.get_final_response()
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        (t["function"]["name"], json.loads(t["function"]["arguments"]), t["id"]) for t in whole
    ]
    streamed = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in streamed] == streamed_names
    assert all(isinstance(json.loads(c.arguments), dict) for c in streamed)
    assert json.loads(fake.requests[0].body)["tools"][0]["function"]["name"] == "get_weather"


@kinds("errors", expect="error")
async def test_the_kinds_errors_reach_the_sdk_with_their_status(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider
) -> None:
    rate_limited = (FIXTURES / kind / "chat" / "rate_limited.json").is_file()
    status, fixture = (429, "rate_limited.json") if rate_limited else (400, "bad_request.json")
    fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
    with pytest.raises(openai.APIStatusError) as raised:
        await sdk.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.status_code == status
    assert isinstance(raised.value, openai.RateLimitError if rate_limited else openai.BadRequestError)


PIXEL = "data:image/png;base64,iVBORw0KGgo="
# (feature, id, Responses fields, what the chat request carries for them)
REQUEST_FEATURES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "multi_turn",
        "multi-turn",
        {
            "input": [
                {"role": "user", "content": "Weather?"},
                {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"location":"Paris"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                            "type": "function",
                        }
                    ],
                },
                {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
            ]
        },
    ),
    (
        "tool_choice",
        "tool-choice",
        {"input": "Hi", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
        {"tool_choice": {"function": {"name": "get_weather"}, "type": "function"}},
    ),
    (
        "image_url",
        "image-url",
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
            ]
        },
    ),
    (
        "image_base64",
        "image-base64",
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": PIXEL}]}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PIXEL}}]}]},
    ),
    (
        "json_mode",
        "json",
        {"input": "JSON", "text": {"format": {"type": "json_object"}}},
        {"response_format": {"type": "json_object"}},
    ),
    (
        "structured_output",
        "json-schema",
        {"input": "A city", "text": {"format": {"type": "json_schema", "name": "c", "schema": {"type": "object"}}}},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": {"type": "object"}}}},
    ),
    (
        "sampling_params",
        "sampling",
        {"input": "Hi", "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 64},
        {"temperature": 0.2, "top_p": 0.9, "max_tokens": 64},
    ),
]


def takes(kind: str, feature: str) -> bool:
    """Whether the kind's provider takes what `feature` sends (its quirks refuse the rest: content parts other than
    text, `response_format` types it does not document)."""
    quirks = quirks_of(kind)
    if feature in ("image_url", "image_base64"):
        return not quirks.text_only
    formats = {"json_mode": "json_object", "structured_output": "json_schema"}
    return feature not in formats or quirks.response_formats is None or formats[feature] in quirks.response_formats


@pytest.mark.parametrize(
    ("kind", "fields", "carried"),
    [
        pytest.param(
            kind,
            fields,
            carried,
            marks=pytest.mark.conformance(provider=kind, ingress="responses", feature=feature),
            id=f"{kind}-{name}",
        )
        for kind in KINDS
        for feature, name, fields, carried in REQUEST_FEATURES
        if takes(kind, feature)
    ],
)
async def test_request_features_reach_the_kind_as_chat_fields(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider, fields: dict[str, Any], carried: dict[str, Any]
) -> None:
    reply = await sdk.responses.create(model=ROUTE_NAME, extra_body=fields)
    assert reply.output_text or any(item.type == "function_call" for item in reply.output)
    sent = json.loads(fake.requests[0].body)
    assert {name: sent.get(name) for name in carried} == carried


# --- openai_compatible: any server of OpenAI's chat completions (the fake replays OpenAI's own examples) ----------


def generic(*features: str, expect: str = "ok") -> pytest.MarkDecorator:
    marks = [
        pytest.mark.conformance(provider="openai_compatible", ingress="responses", feature=f, expect=expect)
        for f in features
    ]
    return pytest.mark.parametrize("kind", [pytest.param("openai_compatible", marks=marks, id="openai_compatible")])


@pytest.fixture
async def generic_sdk(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk_through_gateway(
        kind="openai_compatible",
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        upstream_model="served-model",
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as client:
        yield client


@generic("text", "system", "sampling_params", "usage_cached", "usage_reasoning")
async def test_a_generic_server_answers_a_response_with_usage_details(
    kind: str, generic_sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(200, "usage_details.json"))
    reply = await generic_sdk.responses.create(
        model=ROUTE_NAME, input="Hello", instructions="Be brief.", temperature=0.3, max_output_tokens=300
    )
    assert reply.output_text == "Hello! How can I assist you today?"
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (2006, 300)
    assert reply.usage.input_tokens_details.cached_tokens == 1920
    assert reply.usage.output_tokens_details.reasoning_tokens == 256
    sent = json.loads(fake_openai.requests[0].body)
    assert fake_openai.requests[0].path == "/v1/chat/completions" and kind == "openai_compatible"
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("served-model", 0.3, 300)
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


@generic("stream_text", "stream_usage")
async def test_a_generic_servers_stream_becomes_responses_events(kind: str, generic_sdk: openai.AsyncOpenAI) -> None:
    async with generic_sdk.responses.stream(model=ROUTE_NAME, input="Hello") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "Hi, how are you?"
    assert final.usage is not None and final.usage.total_tokens > 0


@generic("tools", "parallel_tools", "tool_no_args")
async def test_a_generic_servers_parallel_tool_calls_become_function_call_items(
    kind: str, generic_sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(200, "parallel_tool_calls.json"))
    reply = await generic_sdk.responses.create(model=ROUTE_NAME, input="Weather?", tools=[WEATHER])
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        ("get_weather", {"location": "Paris, France"}, "call_12345xyz"),
        ("get_weather", {"location": "Bogotá, Colombia"}, "call_67890abc"),
        ("get_time", {}, "call_99999def"),
    ]


@generic("errors", expect="error")
async def test_a_generic_servers_rate_limit_is_a_rate_limit_error(
    kind: str, generic_sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(*[ScriptedResponse(429, "rate_limited.json", {"retry-after": "0"})] * 6)
    with pytest.raises(openai.RateLimitError):
        await generic_sdk.responses.create(model=ROUTE_NAME, input="Hi")
