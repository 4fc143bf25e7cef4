"""Conformance cells of /v1/responses for Gemini, Vertex AI (Gemini and Claude publishers), Bedrock and the built-in
mock not proven in test_responses_translated.py / test_responses_vertex_bedrock.py: the `openai` SDK's
`client.responses` → the gateway → the kind's fake, the Responses request translated to chat and on to the kind's
own shape by its adapter, and the answers back. What a publisher cannot take is refused before any call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.bedrock_provider import FakeBedrock
from tests.fakes.gemini_provider import FakeGemini
from tests.fakes.replay_server import Reply
from tests.fakes.vertex_provider import FakeGoogleTokenEndpoint, FakeVertex
from tests.integration.dataplane.bedrock_plane import OpenBedrock, fake_bedrock
from tests.integration.dataplane.bedrock_plane import gateway as bedrock
from tests.integration.dataplane.conformance_gateway import TestFunction
from tests.integration.dataplane.conformance_gateway import proves as conformance_proves
from tests.integration.dataplane.provider_gateway import sdk_through_gateway
from tests.integration.dataplane.test_conformance_responses_compat import SCREENSHOT, function_calls
from tests.integration.dataplane.vertex_plane import (
    CLAUDE,
    GEMINI,
    PNG,
    OpenOpenAI,
    fake_vertex,
    open_vertex,
    token_endpoint,
)
from tests.integration.dataplane.vertex_plane import gateway as vertex
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["bedrock", "fake_bedrock", "fake_vertex", "open_vertex", "token_endpoint", "vertex"]  # fixtures

WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_current_weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    "strict": False,
}
TIME: FunctionToolParam = {"type": "function", "name": "get_current_time", "parameters": None, "strict": False}
DATA = PNG.partition(",")[2]
# a tool round trip whose result is an image, then a question with an inline image
IMAGE_RESULT: ResponseInputParam = [
    {"role": "user", "content": "Weather in Boston?"},
    {"type": "function_call", "call_id": "call_1", "name": "get_current_weather", "arguments": '{"location":"Boston"}'},
    {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": [
            {"type": "input_text", "text": "The radar:"},
            {"type": "input_image", "image_url": PNG, "detail": "auto"},
        ],
    },
    {"role": "user", "content": [{"type": "input_image", "image_url": PNG, "detail": "auto"}]},
]
ROUND_TRIP: ResponseInputParam = [
    {"role": "user", "content": "Weather in Boston?"},
    {"type": "function_call", "call_id": "call_1", "name": "get_current_weather", "arguments": '{"location":"Boston"}'},
    {"type": "function_call_output", "call_id": "call_1", "output": '{"temperature": 21}'},
    {"role": "user", "content": "And tomorrow?"},
]


def proves(provider: str, *features: str, expect: str = "ok") -> Callable[[TestFunction], TestFunction]:
    return conformance_proves(provider, "responses", *features, expect=expect)


def sent(fake: FakeVertex | FakeBedrock | FakeGemini, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


# --- Gemini (generateContent) ---------------------------------------------------------------------------------


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
async def gemini(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str, fake_gemini: FakeGemini
) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk_through_gateway(
        kind="gemini",
        base_url=fake_gemini.base_url,
        api_key=fake_gemini.api_key,
        upstream_model=GEMINI,
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as sdk:
        yield sdk


@proves("gemini", "tool_result_image", expect="error")
async def test_an_image_in_a_function_call_output_is_refused_for_gemini(
    gemini: openai.AsyncOpenAI, fake_gemini: FakeGemini
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await gemini.responses.create(model=ROUTE_NAME, input=SCREENSHOT)
    assert refused.value.status_code == 400
    assert fake_gemini.requests == []


# --- Vertex AI ------------------------------------------------------------------------------------------------


@proves("vertex_ai", "multi_turn")
@pytest.mark.parametrize("model", [GEMINI, CLAUDE], ids=["gemini", "claude"])
async def test_a_function_result_turn_reaches_either_publisher(
    vertex: OpenOpenAI, fake_vertex: FakeVertex, model: str
) -> None:
    async with vertex(model) as sdk:
        await sdk.responses.create(model=ROUTE_NAME, input=ROUND_TRIP, tools=[WEATHER])
    request = sent(fake_vertex)
    if model == GEMINI:
        assert [turn["role"] for turn in request["contents"]] == ["user", "model", "user"]
        assert request["contents"][1]["parts"][0]["functionCall"] == {
            "name": "get_current_weather",
            "args": {"location": "Boston"},
        }
        assert request["contents"][2]["parts"] == [
            {"functionResponse": {"name": "get_current_weather", "response": {"temperature": 21}}},
            {"text": "And tomorrow?"},
        ]
    else:
        assert [turn["role"] for turn in request["messages"]] == ["user", "assistant", "user"]
        assert request["messages"][1]["content"] == [
            {"type": "tool_use", "id": "call_1", "name": "get_current_weather", "input": {"location": "Boston"}}
        ]
        assert request["messages"][2]["content"][0] == {
            "type": "tool_result",
            "tool_use_id": "call_1",
            "content": [{"type": "text", "text": '{"temperature": 21}'}],
        }


@proves("vertex_ai", "tool_choice", "tool_no_args", "finish_reason")
@pytest.mark.parametrize(
    ("model", "fixture", "calls", "reasons"),
    [
        (
            GEMINI,
            "generate_content/function_call.json",
            [("get_current_weather", {"location": "Boston, MA"}), ("get_current_time", {})],
            ("STOP", "STOP"),
        ),
        (
            CLAUDE,
            "raw_predict/tool_use.json",
            [("get_weather", {"location": "San Francisco, CA"}), ("get_time", {})],
            ("end_turn", "tool_use"),
        ),
    ],
    ids=["gemini", "claude"],
)
async def test_a_named_tool_choice_and_argument_less_calls_with_their_finish_reasons(
    vertex: OpenOpenAI,
    fake_vertex: FakeVertex,
    model: str,
    fixture: str,
    calls: list[tuple[str, Any]],
    reasons: tuple[str, str],
) -> None:
    fake_vertex.enqueue(Reply(200, fixture))
    async with vertex(model) as sdk:
        called = await sdk.responses.create(
            model=ROUTE_NAME,
            input="Weather and time?",
            tools=[WEATHER, TIME],
            tool_choice={"type": "function", "name": "get_current_time"},
        )
        answered = await sdk.responses.create(model=ROUTE_NAME, input="Why is the sky blue?")
    assert function_calls(called) == calls
    assert [(r.status, (r.model_extra or {}).get("provider_finish_reason")) for r in (answered, called)] == [
        ("completed", reasons[0]),
        ("completed", reasons[1]),
    ]
    request = sent(fake_vertex)
    if model == GEMINI:
        assert request["toolConfig"] == {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_time"]}
        }
    else:
        assert request["tool_choice"] == {"type": "tool", "name": "get_current_time"}


@proves("vertex_ai", "image_base64", "tool_result_image")
async def test_images_inline_and_in_a_function_output_reach_claude(vertex: OpenOpenAI, fake_vertex: FakeVertex) -> None:
    async with vertex(CLAUDE) as sdk:
        await sdk.responses.create(model=ROUTE_NAME, input=IMAGE_RESULT, tools=[WEATHER])
    messages = sent(fake_vertex)["messages"]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": DATA}}
    [result, question] = messages[2]["content"]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": [{"type": "text", "text": "The radar:"}, image],
    }
    assert question == image


@proves("vertex_ai", "image_base64")
@proves("vertex_ai", "tool_result_image", expect="error")
async def test_gemini_takes_the_inline_image_but_refuses_one_in_a_function_output(
    vertex: OpenOpenAI, fake_vertex: FakeVertex
) -> None:
    question: ResponseInputParam = [IMAGE_RESULT[-1]]
    async with vertex(GEMINI) as sdk:
        await sdk.responses.create(model=ROUTE_NAME, input=question)
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(model=ROUTE_NAME, input=IMAGE_RESULT, tools=[WEATHER])
    assert len(fake_vertex.requests) == 1
    assert sent(fake_vertex)["contents"][0]["parts"] == [{"inlineData": {"mimeType": "image/png", "data": DATA}}]


@proves("vertex_ai", "image_url", expect="error")
@pytest.mark.parametrize("model", [GEMINI, CLAUDE], ids=["gemini", "claude"])
async def test_an_image_by_url_is_refused_by_either_publisher(
    vertex: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint, model: str
) -> None:
    remote: ResponseInputParam = [
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "auto"}],
        }
    ]
    async with vertex(model) as sdk:
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(model=ROUTE_NAME, input=remote)
    assert fake_vertex.requests == [] and token_endpoint.requests == []


@proves("vertex_ai", "json_mode", "structured_output")
async def test_text_formats_reach_gemini_as_its_response_schema(vertex: OpenOpenAI, fake_vertex: FakeVertex) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    async with vertex(GEMINI) as sdk:
        await sdk.responses.create(model=ROUTE_NAME, input="JSON", text={"format": {"type": "json_object"}})
        await sdk.responses.create(
            model=ROUTE_NAME,
            input="An answer",
            text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": False}},
        )
    assert sent(fake_vertex, 0)["generationConfig"] == {"responseMimeType": "application/json"}
    config = sent(fake_vertex, 1)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert schema in (config.get("responseJsonSchema"), config.get("responseSchema"))


@proves("vertex_ai", "json_mode", "structured_output", expect="error")
async def test_text_formats_are_refused_for_claude(
    vertex: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    async with vertex(CLAUDE) as sdk:
        with pytest.raises(openai.BadRequestError) as json_refused:
            await sdk.responses.create(model=ROUTE_NAME, input="JSON", text={"format": {"type": "json_object"}})
        with pytest.raises(openai.BadRequestError) as schema_refused:
            await sdk.responses.create(
                model=ROUTE_NAME,
                input="An answer",
                text={"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": False}},
            )
    assert json_refused.value.param == schema_refused.value.param == "response_format"
    assert fake_vertex.requests == [] and token_endpoint.requests == []


@proves("vertex_ai", "usage_cached")
async def test_claude_cache_reads_are_cached_input_tokens(vertex: OpenOpenAI, fake_vertex: FakeVertex) -> None:
    fake_vertex.enqueue(Reply(200, "raw_predict/cache_usage.json"))
    async with vertex(CLAUDE) as sdk:
        reply = await sdk.responses.create(model=ROUTE_NAME, input="Themes?")
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (21 + 188086, 393)
    assert reply.usage.input_tokens_details.cached_tokens == 188086


# --- Bedrock (Converse) ---------------------------------------------------------------------------------------


@proves("bedrock", "multi_turn", "image_base64", "tool_result_image")
async def test_a_function_output_with_an_image_becomes_a_converse_tool_result(
    bedrock: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    async with bedrock() as sdks:
        reply = await sdks.openai.responses.create(model=ROUTE_NAME, input=IMAGE_RESULT, tools=[WEATHER])
    assert reply.output_text
    image = {"image": {"format": "png", "source": {"bytes": DATA}}}
    assert sent(fake_bedrock)["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Boston?"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "call_1", "name": "get_current_weather", "input": {"location": "Boston"}}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "The radar:"}, image]}},
                image,
            ],
        },
    ]


# --- the built-in mock ----------------------------------------------------------------------------------------


@proves("mock", "sampling_params")
async def test_the_mock_takes_sampling_params_and_echoes_them(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    async with sdk_through_gateway(
        kind="mock",
        base_url="http://127.0.0.1:9/v1",
        api_key="unused",
        upstream_model="mock-1",
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as sdk:
        reply = await sdk.responses.create(
            model=ROUTE_NAME, input="Hello there", temperature=0.2, top_p=0.9, max_output_tokens=64
        )
    assert reply.output_text == "Mock reply to: Hello there"
    assert (reply.temperature, reply.top_p, reply.max_output_tokens) == (0.2, 0.9, 64)
