"""Conformance cells of /v1/responses for Azure OpenAI and Cohere not proven in test_responses_azure_cohere.py: the
`openai` SDK's `client.responses` → the gateway → the fake Azure deployment (OpenAI chat protocol) or the fake Cohere
v2 chat, the Responses request translated to chat (and on to Cohere's shape) and the answers back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam

from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.conformance_gateway import TestFunction
from tests.integration.dataplane.conformance_gateway import cells as conformance_cells
from tests.integration.dataplane.conformance_gateway import proves as conformance_proves
from tests.integration.dataplane.provider_gateway import ROUTE_NAME
from tests.integration.dataplane.test_conformance_responses_compat import SCREENSHOT, function_calls
from tests.integration.dataplane.test_responses_azure_cohere import (
    WEATHER,
    azure,
    cohere,
    fake_azure,
    fake_cohere,
)
from tests.integration.dataplane.test_responses_compat import REQUEST_FEATURES

__all__ = ["azure", "cohere", "fake_azure", "fake_cohere"]  # fixtures used by the tests below

AZURE_ANSWER = "Yes, customer managed keys are supported by Azure OpenAI."
TIME: FunctionToolParam = {"type": "function", "name": "get_time", "parameters": None, "strict": False}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
SYSTEM: tuple[str, str, dict[str, Any], dict[str, Any]] = (
    "system",
    "system",
    {"input": "CMK?", "instructions": "Be brief."},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "CMK?"}]},
)


def cells(provider: str, *features: str, expect: str = "ok") -> list[pytest.MarkDecorator]:
    return conformance_cells(provider, "responses", *features, expect=expect)


def proves(provider: str, *features: str, expect: str = "ok") -> Callable[[TestFunction], TestFunction]:
    return conformance_proves(provider, "responses", *features, expect=expect)


def sent(fake: FakeAzureOpenAI | FakeCohere, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


# --- Azure OpenAI: the OpenAI chat protocol at the deployment's URL -------------------------------------------


@pytest.mark.parametrize(
    ("fields", "carried"),
    [
        pytest.param(fields, carried, marks=cells("azure_openai", feature), id=name)
        for feature, name, fields, carried in [SYSTEM, *REQUEST_FEATURES]
        if feature != "sampling_params"  # proven in test_responses_azure_cohere.py (`max_completion_tokens`)
    ],
)
async def test_request_features_reach_the_azure_deployment_as_chat_fields(
    azure: openai.AsyncOpenAI, fake_azure: FakeAzureOpenAI, fields: dict[str, Any], carried: dict[str, Any]
) -> None:
    reply = await azure.responses.create(model=ROUTE_NAME, extra_body=fields)
    assert reply.output_text == AZURE_ANSWER
    assert {name: sent(fake_azure).get(name) for name in carried} == carried


@pytest.mark.parametrize(
    ("fixture", "status", "provider_reason", "cached", "reasoning"),
    [
        pytest.param("good.json", "completed", "stop", 0, 0, marks=cells("azure_openai", "finish_reason"), id="stop"),
        pytest.param(
            "tool_calls.json",
            "completed",
            "tool_calls",
            64,
            0,
            marks=cells("azure_openai", "finish_reason", "usage_cached"),
            id="tool-calls-cached",
        ),
        pytest.param(
            "reasoning.json", "completed", "stop", 0, 448, marks=cells("azure_openai", "usage_reasoning"), id="o1"
        ),
    ],
)
async def test_azure_answers_keep_their_finish_reason_and_token_details(
    azure: openai.AsyncOpenAI,
    fake_azure: FakeAzureOpenAI,
    fixture: str,
    status: str,
    provider_reason: str,
    cached: int,
    reasoning: int,
) -> None:
    fake_azure.enqueue(Reply(200, fixture))
    reply = await azure.responses.create(model=ROUTE_NAME, input="Hi", tools=[WEATHER])
    usage = json.loads(fake_azure.fixture(fixture))["usage"]
    assert (reply.status, (reply.model_extra or {}).get("provider_finish_reason")) == (status, provider_reason)
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert reply.usage.input_tokens_details.cached_tokens == cached
    assert reply.usage.output_tokens_details.reasoning_tokens == reasoning


@proves("azure_openai", "stream_tools")
async def test_an_azure_streamed_tool_call_is_assembled_by_the_sdk(
    azure: openai.AsyncOpenAI, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.enqueue(Reply(200, "stream_tool_calls.sse"))
    async with azure.responses.stream(model=ROUTE_NAME, input="Weather in Boston?", tools=[WEATHER]) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert function_calls(final) == [("get_current_weather", {"location": "Boston, MA"})]
    done = [event for event in events if event.type == "response.function_call_arguments.done"]
    assert [json.loads(event.arguments) for event in done] == [{"location": "Boston, MA"}]
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 64
    assert sent(fake_azure)["stream_options"] == {"include_usage": True}


@proves("azure_openai", "tool_result_image", expect="error")
async def test_an_image_in_a_function_call_output_is_refused_for_azure(
    azure: openai.AsyncOpenAI, fake_azure: FakeAzureOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await azure.responses.create(model=ROUTE_NAME, input=SCREENSHOT)
    assert refused.value.param == "input[2].output[0]"
    assert fake_azure.requests == []


# --- Cohere: v2 chat ------------------------------------------------------------------------------------------


@proves("cohere", "multi_turn", "tool_choice", "image_url", "image_base64")
async def test_a_conversation_with_a_function_result_and_images_becomes_a_v2_chat_request(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    conversation: ResponseInputParam = [
        {"role": "user", "content": "Weather in Toronto?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"location":"Toronto"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Snow, -5 °C"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Compare these two."},
                {"type": "input_image", "image_url": "https://example.com/toronto.png", "detail": "low"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{PIXEL}", "detail": "auto"},
            ],
        },
    ]
    reply = await cohere.responses.create(
        model=ROUTE_NAME,
        input=conversation,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert reply.output_text.startswith("LLMs are large language models")
    body = sent(fake_cohere)
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Toronto?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                }
            ],
        },
        {"role": "tool", "content": "Snow, -5 °C", "tool_call_id": "call_1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these two."},
                {"type": "image_url", "image_url": {"url": "https://example.com/toronto.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}", "detail": "auto"}},
            ],
        },
    ]
    # a named tool choice: only that tool, and a call is required
    assert [tool["function"]["name"] for tool in body["tools"]] == ["get_time"]
    assert body["tool_choice"] == "REQUIRED"


@proves("cohere", "json_mode", "structured_output", "sampling_params")
async def test_text_formats_and_sampling_become_cohere_fields(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    await cohere.responses.create(
        model=ROUTE_NAME, input="JSON", text={"format": {"type": "json_object"}}, temperature=0.2, top_p=0.9
    )
    reply = await cohere.responses.create(
        model=ROUTE_NAME,
        input="A city",
        max_output_tokens=64,
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": False}},
    )
    assert reply.status == "completed"
    json_mode, structured = sent(fake_cohere, 0), sent(fake_cohere, 1)
    assert json_mode["response_format"] == {"type": "json_object"}
    assert (json_mode["temperature"], json_mode["p"]) == (0.2, 0.9)
    assert structured["response_format"] == {"type": "json_object", "json_schema": schema}
    assert structured["max_tokens"] == 64


@proves("cohere", "stream_tools", "stream_usage")
async def test_cohere_streams_bring_assembled_calls_and_billed_usage(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    fake_cohere.enqueue(Reply(200, "stream.sse"), Reply(200, "stream_tool_calls.sse"))
    async with cohere.responses.stream(model=ROUTE_NAME, input="What are LLMs?") as stream:
        text = await stream.get_final_response()
    async with cohere.responses.stream(model=ROUTE_NAME, input="Weather and time?", tools=[WEATHER, TIME]) as stream:
        called = await stream.get_final_response()
    assert text.usage is not None and (text.usage.input_tokens, text.usage.output_tokens) == (21, 105)  # billed units
    assert function_calls(called) == [("get_weather", {"location": "Toronto"}), ("get_time", {})]
    assert called.usage is not None and (called.usage.input_tokens, called.usage.output_tokens) == (37, 28)


@proves("cohere", "tool_result_image", expect="error")
async def test_an_image_in_a_function_call_output_is_refused_for_cohere(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await cohere.responses.create(model=ROUTE_NAME, input=SCREENSHOT)
    assert refused.value.status_code == 400
    assert fake_cohere.requests == []
