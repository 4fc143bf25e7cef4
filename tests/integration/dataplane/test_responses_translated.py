"""OpenAI SDK `client.responses` → gateway → targets that speak only chat (the built-in mock, Anthropic, Gemini):
the Responses request translated to a chat request, answered by the chat path of the target's kind, and the
answer (or stream) translated back into a Response object (or the Responses stream events) the SDK parses.
Features the translation cannot carry are refused with a 400 before any upstream call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam, ResponseTextConfigParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.anthropic_provider import FakeAnthropicProvider, ScriptedResponse, fake_anthropic
from tests.fakes.gemini_provider import FakeGemini
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, sdk_through_gateway
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["fake_anthropic"]  # a fixture used by the tests below

CLAUDE = "claude-sonnet-4-5-20250929"
GEMINI = "gemini-2.5-flash"
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather at a place",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    "strict": False,
}
TIME: FunctionToolParam = {"type": "function", "name": "get_time", "parameters": None, "strict": False}
Gateway = Callable[[str, str, str, str], AbstractAsyncContextManager[openai.AsyncOpenAI]]


def cell(provider: str, feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider=provider, ingress="responses", feature=feature, expect=expect)


@pytest.fixture
def gateway(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str) -> Gateway:
    @asynccontextmanager
    async def open_sdk(kind: str, base_url: str, api_key: str, model: str) -> AsyncIterator[openai.AsyncOpenAI]:
        async with sdk_through_gateway(
            kind=kind,
            base_url=base_url,
            api_key=api_key,
            upstream_model=model,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
        ) as sdk:
            yield sdk

    return open_sdk


@pytest.fixture
async def mock(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with gateway("mock", "http://127.0.0.1:9/v1", "unused", "mock-1") as sdk:
        yield sdk


@pytest.fixture
async def claude(gateway: Gateway, fake_anthropic: FakeAnthropicProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    async with gateway("anthropic", fake_anthropic.base_url, fake_anthropic.api_key, CLAUDE) as sdk:
        yield sdk


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
async def gemini(gateway: Gateway, fake_gemini: FakeGemini) -> AsyncIterator[openai.AsyncOpenAI]:
    async with gateway("gemini", fake_gemini.base_url, fake_gemini.api_key, GEMINI) as sdk:
        yield sdk


# --- the built-in mock ---------------------------------------------------------------------------------------


@cell("mock", "text")
@cell("mock", "system")
@cell("mock", "usage")
@cell("mock", "finish_reason")
async def test_mock_answers_a_response_object_with_text_and_usage(mock: openai.AsyncOpenAI) -> None:
    reply = await mock.responses.create(model=ROUTE_NAME, input="Hello there", instructions="Be brief.")
    assert reply.output_text == "Mock reply to: Hello there"
    assert reply.status == "completed" and reply.id.startswith("resp_") and reply.incomplete_details is None
    assert (reply.model_extra or {}).get("provider_finish_reason") == "stop"
    assert reply.instructions == "Be brief." and (reply.model_extra or {}).get("store") is False
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (4, 5, 9)
    assert reply.usage.input_tokens_details.cached_tokens == 0


@cell("mock", "stream_text")
@cell("mock", "stream_usage")
async def test_mock_stream_is_parsed_by_the_sdk_stream_helper(mock: openai.AsyncOpenAI) -> None:
    async with mock.responses.stream(model=ROUTE_NAME, input="Hello there") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Mock reply to: Hello there"
    assert final.output_text == "Mock reply to: Hello there"
    assert final.usage is not None and final.usage.output_tokens == 5
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))


@cell("mock", "multi_turn")
async def test_mock_answers_the_last_user_message_of_a_conversation(mock: openai.AsyncOpenAI) -> None:
    history: ResponseInputParam = [
        {"role": "user", "content": "First question"},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "First answer", "annotations": []}],
        },
        {"role": "user", "content": [{"type": "input_text", "text": "Second question"}]},
    ]
    reply = await mock.responses.create(model=ROUTE_NAME, input=history)
    assert reply.output_text == "Mock reply to: Second question"


# --- Anthropic ---------------------------------------------------------------------------------------------


@cell("anthropic", "text")
@cell("anthropic", "system")
@cell("anthropic", "sampling_params")
@cell("anthropic", "usage")
async def test_anthropic_gets_a_messages_request_and_the_sdk_a_response(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    reply = await claude.responses.create(
        model=ROUTE_NAME, input="Hello", instructions="Be brief.", temperature=0.3, max_output_tokens=256
    )
    assert reply.output_text == "Hi! My name is Claude."
    assert reply.status == "completed" and reply.model == CLAUDE
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (2095, 503)
    sent = json.loads(fake_anthropic.requests[0].body)
    assert sent["system"] == "Be brief." or sent["system"] == [{"type": "text", "text": "Be brief."}]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    assert (sent["max_tokens"], sent["temperature"]) == (256, 0.3)


@cell("anthropic", "tools")
@cell("anthropic", "parallel_tools")
@cell("anthropic", "tool_no_args")
@cell("anthropic", "tool_choice")
async def test_anthropic_tool_uses_become_function_call_items(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(200, "tool_use.json"))
    reply = await claude.responses.create(
        model=ROUTE_NAME, input="Weather and time in SF?", tools=[WEATHER, TIME], tool_choice="required"
    )
    assert reply.output_text == "I'll check the current weather in San Francisco for you."
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        ("get_weather", {"location": "San Francisco, CA"}, "toolu_01A09q90qw90lq917835lq9"),
        ("get_time", {}, "toolu_01B12r34st56uv78wx90yz12"),
    ]
    sent = json.loads(fake_anthropic.requests[0].body)
    assert [tool["name"] for tool in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tool_choice"]["type"] == "any"


@cell("anthropic", "stream_tools")
@cell("anthropic", "stream_text")
@cell("anthropic", "stream_usage")
async def test_anthropic_streamed_tool_uses_are_assembled_by_the_sdk(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(200, "stream_tool_use.sse"))
    async with claude.responses.stream(model=ROUTE_NAME, input="Weather in SF?", tools=[WEATHER, TIME]) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == "Okay, let's check the weather for San Francisco, CA:"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.name, c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", "toolu_01T1x1fJ34qAmk2tNTrN7Up6", {"location": "San Francisco, CA", "unit": "fahrenheit"}),
        ("get_time", "toolu_01VuMzQ7Rbkdi3CYQAb3L6Dy", {}),
    ]
    done = [event for event in events if event.type == "response.function_call_arguments.done"]
    assert [event.arguments for event in done] == [call.arguments for call in calls]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (472, 89)


@cell("anthropic", "multi_turn")
async def test_function_call_outputs_go_back_to_anthropic_as_tool_results(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    history: ResponseInputParam = [
        {"role": "user", "content": "Weather in SF?"},
        {"type": "function_call", "call_id": "toolu_1", "name": "get_weather", "arguments": '{"location":"SF"}'},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "15 degrees, sunny"},
    ]
    await claude.responses.create(model=ROUTE_NAME, input=history, tools=[WEATHER])
    sent = json.loads(fake_anthropic.requests[0].body)
    assistant, results = sent["messages"][1], sent["messages"][2]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "SF"}}
    ]
    assert results["role"] == "user"
    [result] = results["content"]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", "toolu_1")
    assert "15 degrees, sunny" in json.dumps(result["content"])


@cell("anthropic", "errors", "error")
@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),
    ],
    ids=["built-in-tool", "previous-response", "store", "include"],
)
async def test_features_that_need_openai_state_or_tools_are_refused_before_any_call(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider, extra: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await claude.responses.create(model=ROUTE_NAME, input="Hi", extra_body=extra)
    assert refused.value.param == param
    assert "Responses API" in refused.value.message
    assert fake_anthropic.requests == []


@cell("anthropic", "structured_output", "error")
async def test_a_json_schema_for_anthropic_is_refused_not_dropped(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    text: ResponseTextConfigParam = {
        "format": {"type": "json_schema", "name": "city", "schema": {"type": "object"}, "strict": False}
    }
    with pytest.raises(openai.BadRequestError):
        await claude.responses.create(model=ROUTE_NAME, input="A city", text=text)
    assert fake_anthropic.requests == []


@cell("anthropic", "errors", "error")
@pytest.mark.parametrize(
    ("status", "fixture", "exception"),
    [
        (400, "bad_request.json", openai.BadRequestError),
        (429, "rate_limited.json", openai.RateLimitError),
    ],
)
async def test_anthropic_errors_reach_the_sdk_with_their_class(
    claude: openai.AsyncOpenAI,
    fake_anthropic: FakeAnthropicProvider,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
) -> None:
    fake_anthropic.enqueue(*[ScriptedResponse(status, fixture, {"retry-after": "0"})] * 6)
    with pytest.raises(exception) as raised:
        await claude.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.status_code == status


@cell("anthropic", "errors", "error")
async def test_a_failure_mid_stream_ends_the_stream_with_a_responses_error_event(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(200, "stream_error.sse", chunk_delay=0.05))
    stream = await claude.responses.create(model=ROUTE_NAME, input="Hi", stream=True)
    events = [event async for event in stream]
    assert [event.type for event in events] == ["response.created", "response.in_progress", "error"]
    error = events[-1]
    assert error.type == "error" and error.sequence_number == 2 and error.message


async def test_usage_events_of_translated_answers_come_from_the_provider(
    claude: openai.AsyncOpenAI, nats_url: str, nats_prefix: str
) -> None:
    plain = await claude.responses.with_raw_response.create(model=ROUTE_NAME, input="Hello")
    streamed = await claude.responses.with_raw_response.create(model=ROUTE_NAME, input="Hello", stream=True)
    async for _ in streamed.parse():
        pass
    events = await wait_for_events(nats_url, nats_prefix, 2)
    plain_event = events[plain.headers["x-request-id"]]
    assert plain_event.tokens == TokenUsage(input=2095, output=503) and plain_event.path == "/v1/responses"
    assert not events[streamed.headers["x-request-id"]].estimated


# --- Gemini ------------------------------------------------------------------------------------------------


@cell("gemini", "text")
@cell("gemini", "system")
@cell("gemini", "usage")
@cell("gemini", "usage_reasoning")
@cell("gemini", "usage_cached")
async def test_gemini_answers_with_reasoning_and_cached_token_details(
    gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini
) -> None:
    reply = await gemini.responses.create(model=ROUTE_NAME, input="How does AI work?", instructions="Be brief.")
    assert reply.output_text.startswith("AI learns patterns")
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (8, 1225)
    assert reply.usage.output_tokens_details.reasoning_tokens == 1208
    assert reply.usage.input_tokens_details.cached_tokens == 2
    sent = json.loads(fake_gemini.requests[0].body)
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


@cell("gemini", "stream_text")
@cell("gemini", "stream_usage")
async def test_gemini_stream_comes_back_as_responses_events(gemini: openai.AsyncOpenAI) -> None:
    async with gemini.responses.stream(model=ROUTE_NAME, input="Why is the sky blue?") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "The sky is blue because of Rayleigh scattering of sunlight."
    assert final.usage is not None and final.usage.total_tokens == 51


@cell("gemini", "tools")
@cell("gemini", "parallel_tools")
@cell("gemini", "tool_no_args")
@cell("gemini", "tool_choice")
@cell("gemini", "stream_tools")
async def test_gemini_function_calls_whole_and_streamed(gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(
        Reply(200, "generate_content/function_call.json"),
        Reply(200, "stream_generate_content/stream_function_call.sse"),
    )
    lights: list[FunctionToolParam] = [
        {"type": "function", "name": "set_light_values", "parameters": {"type": "object"}, "strict": False},
        {"type": "function", "name": "power_disco_ball", "parameters": {"type": "object"}, "strict": False},
    ]
    reply = await gemini.responses.create(model=ROUTE_NAME, input="Party mode", tools=lights, tool_choice="required")
    async with gemini.responses.stream(model=ROUTE_NAME, input="Party mode", tools=lights) as stream:
        streamed = await stream.get_final_response()
    for answer in (reply, streamed):
        calls = [item for item in answer.output if item.type == "function_call"]
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("set_light_values", {"brightness": 25, "color_temp": "warm"}),
            ("power_disco_ball", {}),
        ]
        assert len({c.call_id for c in calls}) == 2
    assert json.loads(fake_gemini.requests[0].body)["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@cell("gemini", "structured_output")
async def test_gemini_gets_the_json_schema_of_text_format(gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini) -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    text: ResponseTextConfigParam = {
        "format": {"type": "json_schema", "name": "city", "schema": schema, "strict": False}
    }
    await gemini.responses.create(model=ROUTE_NAME, input="A city", text=text)
    config = json.loads(fake_gemini.requests[0].body)["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseJsonSchema"] == schema


@cell("gemini", "finish_reason")
@cell("gemini", "sampling_params")
async def test_a_gemini_answer_cut_at_max_tokens_is_an_incomplete_response(
    gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(Reply(200, "generate_content/max_tokens.json"))
    reply = await gemini.responses.create(
        model=ROUTE_NAME, input="Tell me everything", max_output_tokens=16, temperature=0.5, top_p=0.9
    )
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"
    config = json.loads(fake_gemini.requests[0].body)["generationConfig"]
    assert (config["maxOutputTokens"], config["temperature"], config["topP"]) == (16, 0.5, 0.9)


@cell("gemini", "image_base64")
@cell("gemini", "image_url", "error")
async def test_gemini_takes_inline_images_and_refuses_remote_ones(
    gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini
) -> None:
    pixel = "data:image/png;base64,iVBORw0KGgo="
    image: ResponseInputParam = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is it?"},
                {"type": "input_image", "image_url": pixel, "detail": "auto"},
            ],
        }
    ]
    await gemini.responses.create(model=ROUTE_NAME, input=image)
    parts = json.loads(fake_gemini.requests[0].body)["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    remote: ResponseInputParam = [
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "auto"}],
        }
    ]
    with pytest.raises(openai.BadRequestError):
        await gemini.responses.create(model=ROUTE_NAME, input=remote)
    assert len(fake_gemini.requests) == 1


@cell("anthropic", "image_url")
@cell("anthropic", "image_base64")
@cell("anthropic", "tool_result_image")
async def test_images_by_url_inline_and_in_tool_outputs_reach_anthropic(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    history: ResponseInputParam = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Compare these"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
            ],
        },
        {"type": "function_call", "call_id": "toolu_9", "name": "chart", "arguments": "{}"},
        {
            "type": "function_call_output",
            "call_id": "toolu_9",
            "output": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}],
        },
    ]
    await claude.responses.create(model=ROUTE_NAME, input=history)
    sent = json.loads(fake_anthropic.requests[0].body)["messages"]
    assert sent[0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    ]
    [result] = sent[2]["content"]
    assert result["type"] == "tool_result"
    assert result["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    ]


@cell("anthropic", "usage_cached")
async def test_anthropic_cache_reads_become_cached_input_tokens(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(200, "cache_read_usage.json"))
    reply = await claude.responses.create(model=ROUTE_NAME, input="Themes?")
    assert reply.usage is not None
    assert reply.usage.input_tokens_details.cached_tokens == 188086
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (21 + 188086, 393)


@cell("anthropic", "json_mode", "error")
async def test_json_mode_for_anthropic_is_refused_not_dropped(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await claude.responses.create(model=ROUTE_NAME, input="JSON please", text={"format": {"type": "json_object"}})
    assert refused.value.param == "response_format"
    assert fake_anthropic.requests == []


@cell("gemini", "json_mode")
@cell("gemini", "multi_turn")
async def test_gemini_gets_json_mode_and_a_function_result_turn(
    gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini
) -> None:
    history: ResponseInputParam = [
        {"role": "user", "content": "Lights?"},
        {"type": "function_call", "call_id": "call_1", "name": "power_disco_ball", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"on": true}'},
    ]
    await gemini.responses.create(model=ROUTE_NAME, input=history, text={"format": {"type": "json_object"}})
    sent = json.loads(fake_gemini.requests[0].body)
    assert sent["generationConfig"]["responseMimeType"] == "application/json"
    assert [content["role"] for content in sent["contents"]] == ["user", "model", "user"]
    assert sent["contents"][1]["parts"][0]["functionCall"]["name"] == "power_disco_ball"
    assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "power_disco_ball"


@cell("gemini", "errors", "error")
@pytest.mark.parametrize(
    ("status", "fixture", "exception"),
    [
        (400, "invalid_argument.json", openai.BadRequestError),
        (429, "resource_exhausted.json", openai.RateLimitError),
    ],
)
async def test_gemini_errors_reach_the_sdk_with_their_class(
    gemini: openai.AsyncOpenAI,
    fake_gemini: FakeGemini,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
) -> None:
    fake_gemini.enqueue(*[Reply(status, f"generate_content/{fixture}", {"retry-after": "0"})] * 6)
    with pytest.raises(exception) as raised:
        await gemini.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.status_code == status


@cell("anthropic", "finish_reason")
async def test_an_anthropic_answer_cut_at_max_tokens_is_an_incomplete_response(
    claude: openai.AsyncOpenAI, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(200, "max_tokens.json"))
    reply = await claude.responses.create(model=ROUTE_NAME, input="Explain quantum computing", max_output_tokens=20)
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"
    assert reply.output_text.startswith("Here is a detailed explanation")
    assert (reply.model_extra or {}).get("provider_finish_reason") == "max_tokens"
