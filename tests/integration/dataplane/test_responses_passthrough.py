"""OpenAI SDK `client.responses` → gateway → a fake Responses API (OpenAI's documented examples), for every kind
on the same-protocol fast path (`openai`, and the OpenAI-compatible kinds whose providers document the Responses
API: `xai`, `groq`, `fireworks`). The body reaches `/v1/responses` with only `model` replaced, answers and streams
come back as the provider sent them (parsed by the SDK), the usage event reads the usage of the Response or of
`response.completed`, and upstream errors reach the SDK as the exception class of their status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import openai
import pytest
from openai.types.responses import FunctionToolParam

from dataplane.responses import PASSTHROUGH_KINDS
from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, sdk_through_gateway
from tests.integration.dataplane.test_usage_events import wait_for_events

UPSTREAM_MODEL = "gpt-4.1-2025-04-14"
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    "strict": True,
}
KINDS = sorted(PASSTHROUGH_KINDS)
PIXEL = "data:image/png;base64,iVBORw0KGgo="


def cell(kind: str, feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider=kind, ingress="responses", feature=feature, expect=expect)


def kinds(*features: str, expect: str = "ok") -> pytest.MarkDecorator:
    """Run the test for every passthrough kind, each run proving `features` (and passthrough) for its kind."""
    cells = (*features, "passthrough") if expect == "ok" else features
    return pytest.mark.parametrize(
        "kind", [pytest.param(kind, marks=[cell(kind, f, expect) for f in cells], id=kind) for kind in KINDS]
    )


@pytest.fixture
async def sdk(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
    kind: str,
) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk_through_gateway(
        kind=kind,
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        upstream_model=UPSTREAM_MODEL,
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as client:
        yield client


@kinds("text", "usage")
async def test_a_response_is_relayed_with_only_the_model_replaced(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    reply = await sdk.responses.create(
        model=ROUTE_NAME,
        input="Tell me a three sentence bedtime story about a unicorn.",
        store=True,
        extra_body={"unknown_field": {"kept": 1}},
    )
    assert reply.output_text.startswith("In a peaceful grove beneath a silver moon")
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (36, 87)
    [seen] = fake_openai.requests
    assert seen.path == "/v1/responses"
    assert seen.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    sent = json.loads(seen.body)
    assert sent == {
        "model": UPSTREAM_MODEL,
        "input": "Tell me a three sentence bedtime story about a unicorn.",
        "store": True,
        "unknown_field": {"kept": 1},
    }


@kinds("tools", "usage_cached")
async def test_a_function_call_comes_back_as_an_sdk_function_call_item(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue_responses(ScriptedResponse(200, "function_call.json"))
    reply = await sdk.responses.create(model=ROUTE_NAME, input="What is the weather like in Boston?", tools=[WEATHER])
    [call] = reply.output
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == (
        "get_current_weather",
        {"location": "Boston, MA", "unit": "celsius"},
    )
    assert call.call_id == "call_unLAR8MvFNptuiZK6K6HCy5k"
    assert reply.usage is not None and reply.usage.input_tokens_details.cached_tokens == 128
    assert json.loads(fake_openai.requests[0].body)["tools"][0]["name"] == "get_current_weather"


@kinds("stream_text", "stream_usage")
async def test_a_stream_is_relayed_and_assembled_by_the_sdk(sdk: openai.AsyncOpenAI) -> None:
    async with sdk.responses.stream(model=ROUTE_NAME, input="Hello!", instructions="You are a helpful assistant.") as s:
        deltas = [event.delta async for event in s if event.type == "response.output_text.delta"]
        final = await s.get_final_response()
    assert "".join(deltas) == "Hi there! How can I assist you today?"
    assert final.output_text == "Hi there! How can I assist you today?"
    assert final.usage is not None and final.usage.total_tokens == 48


@kinds("stream_tools")
async def test_streamed_function_call_arguments_are_assembled(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue_responses(ScriptedResponse(200, "stream_function_call.sse"))
    stream = await sdk.responses.create(model=ROUTE_NAME, input="Weather in Paris?", tools=[WEATHER], stream=True)
    events = [event async for event in stream]
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(done.arguments) == {"latitude": 48.8566, "longitude": 2.3522}
    assert [e.sequence_number for e in events] == list(range(len(events)))


REQUEST_FEATURES: list[tuple[str, str, dict[str, object]]] = [
    ("system", "system", {"instructions": "Be brief.", "input": "Hi"}),
    # stored state and built-in tools are the provider's business on this path
    ("passthrough", "stored-state", {"input": "Hi", "previous_response_id": "resp_1", "store": True}),
    ("passthrough", "built-in-tool", {"input": "News?", "tools": [{"type": "web_search"}]}),
    (
        "multi_turn",
        "multi-turn",
        {
            "input": [
                {"role": "user", "content": "Hi"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]},
                {"role": "user", "content": "And now?"},
            ]
        },
    ),
    (
        "tool_choice",
        "tool-choice",
        {"input": "Hi", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_current_weather"}},
    ),
    (
        "tool_result_image",
        "tool-result-image",
        {
            "input": [
                {"type": "function_call", "call_id": "c1", "name": "chart", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_image", "image_url": PIXEL}],
                },
            ]
        },
    ),
    (
        "image_url",
        "image-url",
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]},
    ),
    (
        "image_base64",
        "image-base64",
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": PIXEL, "detail": "low"}]}]},
    ),
    ("json_mode", "json", {"input": "JSON", "text": {"format": {"type": "json_object"}}}),
    (
        "structured_output",
        "json-schema",
        {"input": "A city", "text": {"format": {"type": "json_schema", "name": "c", "schema": {"type": "object"}}}},
    ),
    (
        "sampling_params",
        "sampling",
        {"input": "Hi", "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 64, "reasoning": {"effort": "low"}},
    ),
]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        pytest.param(kind, fields, marks=[cell(kind, feature), cell(kind, "passthrough")], id=f"{kind}-{name}")
        for kind in KINDS
        for feature, name, fields in REQUEST_FEATURES
    ],
)
async def test_every_request_feature_reaches_the_provider_exactly_as_sent(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider, fields: dict[str, object]
) -> None:
    reply = await sdk.responses.create(model=ROUTE_NAME, extra_body=fields)
    assert reply.output_text.startswith("In a peaceful grove")
    assert json.loads(fake_openai.requests[0].body) == {"model": UPSTREAM_MODEL, **fields}


@kinds("parallel_tools", "tool_no_args")
async def test_parallel_function_calls_and_one_without_arguments_reach_the_sdk(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue_responses(ScriptedResponse(200, "parallel_function_calls.json"))
    reply = await sdk.responses.create(model=ROUTE_NAME, input="Weather and time in Paris?", tools=[WEATHER])
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        ("get_weather", {"location": "Paris, France"}, "call_12345xyz"),
        ("get_time", {}, "call_67890abc"),
    ]


@kinds("finish_reason", "usage_reasoning")
async def test_an_incomplete_reasoning_response_keeps_its_status_and_reasoning_tokens(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider, nats_url: str, nats_prefix: str
) -> None:
    fake_openai.enqueue_responses(ScriptedResponse(200, "incomplete.json"))
    raw = await sdk.responses.with_raw_response.create(model=ROUTE_NAME, input="Think hard", max_output_tokens=300)
    reply = raw.parse()
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"
    assert reply.usage is not None and reply.usage.output_tokens_details.reasoning_tokens == 300
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(input=75, reasoning=300)


@kinds()
async def test_usage_events_read_the_response_and_the_completed_event(
    kind: str, sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider, nats_url: str, nats_prefix: str
) -> None:
    fake_openai.enqueue_responses(ScriptedResponse(200, "function_call.json"))
    plain = await sdk.responses.with_raw_response.create(model=ROUTE_NAME, input="Weather?", tools=[WEATHER])
    streamed = await sdk.responses.with_raw_response.create(model=ROUTE_NAME, input="Hello!", stream=True)
    async for _ in streamed.parse():
        pass
    events = await wait_for_events(nats_url, nats_prefix, 2)
    plain_event = events[plain.headers["x-request-id"]]
    assert plain_event.tokens == TokenUsage(input=163, cached_input=128, output=23)
    assert plain_event.provider_kind == kind and not plain_event.estimated
    streamed_event = events[streamed.headers["x-request-id"]]
    assert streamed_event.tokens == TokenUsage(input=37, output=11) and not streamed_event.estimated


@kinds("errors", expect="error")
@pytest.mark.parametrize(
    ("status", "fixture", "exception"),
    [
        (400, "bad_request.json", openai.BadRequestError),
        (429, "rate_limited.json", openai.RateLimitError),
    ],
)
async def test_upstream_errors_reach_the_sdk_with_their_status(
    sdk: openai.AsyncOpenAI,
    fake_openai: FakeOpenAIProvider,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
) -> None:
    fake_openai.enqueue_responses(*[ScriptedResponse(status, fixture, {"retry-after": "0"})] * 6)
    with pytest.raises(exception) as raised:
        await sdk.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.status_code == status


@pytest.mark.parametrize("kind", ["openai"])
async def test_a_wrong_upstream_key_is_a_502_that_names_the_gateway_credentials(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue_responses(ScriptedResponse(401, "invalid_api_key.json"))
    with pytest.raises(openai.InternalServerError) as raised:
        await sdk.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.status_code == 502 and raised.value.code == "upstream_auth_error"


@pytest.mark.parametrize("kind", ["openai"])
async def test_a_request_without_input_is_refused_before_any_call(
    sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.responses.create(model=ROUTE_NAME)
    assert raised.value.param == "input"
    assert fake_openai.requests == []
