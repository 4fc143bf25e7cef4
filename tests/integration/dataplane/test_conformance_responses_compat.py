"""Conformance cells of /v1/responses for the translated OpenAI-protocol kinds not proven in test_responses_compat.py:
the `openai` SDK's `client.responses` → the gateway → each kind's fake chat endpoint (tests/fakes/compat_provider.py;
the generic `openai_compatible` kind → the fake OpenAI chat-completions server), and back. Expected values are read
from the fixtures. An image in a function call's output is refused: OpenAI's chat `tool` messages hold text only."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.anthropic_provider import FakeAnthropicProvider, fake_anthropic
from tests.fakes.compat_provider import FakeCompatProvider
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME
from tests.integration.dataplane.route_targets import RouteTarget, sdk_for_route
from tests.integration.dataplane.test_responses_compat import (
    KINDS,
    REQUEST_FEATURES,
    WEATHER,
    fake,
    fixture_json,
    generic_sdk,
    sdk,
    takes,
)

__all__ = ["fake", "fake_anthropic", "generic_sdk", "sdk"]  # fixtures used by the tests below

TIME: FunctionToolParam = {"type": "function", "name": "get_time", "parameters": None, "strict": False}
PIXEL = "data:image/png;base64,iVBORw0KGgo="
SCREENSHOT: ResponseInputParam = [
    {"role": "user", "content": "Take a screenshot."},
    {"type": "function_call", "call_id": "call_1", "name": "screenshot", "arguments": "{}"},
    {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": [{"type": "input_image", "image_url": PIXEL, "detail": "auto"}],
    },
]


def kinds(*features: str, expect: str = "ok", of: tuple[str, ...] = tuple(KINDS)) -> pytest.MarkDecorator:
    """Parametrize `kind` over `of`, each parameter marked as proving `features` of that kind on /v1/responses."""
    return pytest.mark.parametrize(
        "kind",
        [
            pytest.param(
                kind,
                marks=[
                    pytest.mark.conformance(provider=kind, ingress="responses", feature=feature, expect=expect)
                    for feature in features
                ],
                id=kind,
            )
            for kind in of
        ],
    )


def function_calls(reply: Any) -> list[tuple[str, Any]]:
    return [(item.name, json.loads(item.arguments)) for item in reply.output if item.type == "function_call"]


# --- the compat kinds ---------------------------------------------------------------------------------------


@kinds("parallel_tools", "tool_no_args")
async def test_a_kinds_parallel_calls_one_without_arguments_become_function_call_items(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider
) -> None:
    async with sdk.responses.stream(
        model=ROUTE_NAME, input="Weather and time in Paris?", tools=[WEATHER, TIME], parallel_tool_calls=True
    ) as stream:
        final = await stream.get_final_response()
    assert function_calls(final) == [("get_weather", {"location": "Paris, France"}), ("get_time", {})]
    call_ids = [item.call_id for item in final.output if item.type == "function_call"]
    assert all(call_ids) and len(set(call_ids)) == 2
    sent = json.loads(fake.requests[0].body)
    assert sent["parallel_tool_calls"] is True and [t["function"]["name"] for t in sent["tools"]] == [
        "get_weather",
        "get_time",
    ]


@kinds("finish_reason")
async def test_a_kinds_finish_reasons_map_to_the_response_status_and_are_kept(
    kind: str, sdk: openai.AsyncOpenAI
) -> None:
    answered = await sdk.responses.create(model=ROUTE_NAME, input="Hi")
    called = await sdk.responses.create(model=ROUTE_NAME, input="Weather?", tools=[WEATHER])
    assert (answered.status, answered.incomplete_details) == ("completed", None)
    assert (answered.model_extra or {}).get("provider_finish_reason") == fixture_json(kind, "good.json")["choices"][0][
        "finish_reason"
    ]
    assert called.status == "completed" and function_calls(called)
    assert (called.model_extra or {}).get("provider_finish_reason") == "tool_calls"


@pytest.mark.parametrize(
    ("kind", "fixture", "cached", "reasoning"),
    [
        pytest.param(
            "deepseek",
            "reasoning.json",
            64,  # DeepSeek's own `prompt_cache_hit_tokens`, with no `prompt_tokens_details`
            90,
            marks=[
                pytest.mark.conformance(provider="deepseek", ingress="responses", feature="usage_cached"),
                pytest.mark.conformance(provider="deepseek", ingress="responses", feature="usage_reasoning"),
            ],
            id="deepseek",
        ),
        pytest.param(
            "openrouter",
            "good.json",
            128,
            0,
            marks=pytest.mark.conformance(provider="openrouter", ingress="responses", feature="usage_cached"),
            id="openrouter-cached",
        ),
        pytest.param(
            "openrouter",
            "tool_calls.json",
            0,
            25,
            marks=pytest.mark.conformance(provider="openrouter", ingress="responses", feature="usage_reasoning"),
            id="openrouter-reasoning",
        ),
        pytest.param(
            "vllm",
            "usage_details.json",  # `prompt_tokens_details` (vLLM's --enable-prompt-tokens-details)
            32,
            0,
            marks=pytest.mark.conformance(provider="vllm", ingress="responses", feature="usage_cached"),
            id="vllm-cached",
        ),
    ],
)
async def test_cached_and_reasoning_tokens_reach_the_response_usage(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider, fixture: str, cached: int, reasoning: int
) -> None:
    fake.enqueue(Reply(200, fixture))
    reply = await sdk.responses.create(model=ROUTE_NAME, input="Hi")
    usage = fixture_json(kind, fixture)["usage"]
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert reply.usage.input_tokens_details.cached_tokens == cached
    assert reply.usage.output_tokens_details.reasoning_tokens == reasoning


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        pytest.param(
            kind,
            fields,
            marks=pytest.mark.conformance(provider=kind, ingress="responses", feature=feature, expect="error"),
            id=f"{kind}-{name}",
        )
        for kind in KINDS
        for feature, name, fields, _ in REQUEST_FEATURES
        if not takes(kind, feature)
    ],
)
async def test_what_the_kinds_provider_does_not_take_is_refused_before_any_call(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider, fields: dict[str, Any]
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.responses.create(model=ROUTE_NAME, extra_body=fields)
    assert f"({kind}) does not support" in refused.value.message
    assert fake.requests == []


@kinds("tool_result_image", expect="error")
async def test_an_image_in_a_function_call_output_is_refused_for_the_kind(
    kind: str, sdk: openai.AsyncOpenAI, fake: FakeCompatProvider
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.responses.create(model=ROUTE_NAME, input=SCREENSHOT)
    assert refused.value.param == "input[2].output[0]"
    assert "only text" in refused.value.message
    assert fake.requests == []  # refused before any call


# --- openai_compatible: any server of OpenAI's chat completions (the fake replays OpenAI's own examples) ----------

GENERIC = ("openai_compatible",)


@pytest.mark.parametrize(
    ("kind", "fields", "carried"),
    [
        pytest.param(
            "openai_compatible",
            fields,
            carried,
            marks=pytest.mark.conformance(provider="openai_compatible", ingress="responses", feature=feature),
            id=name,
        )
        for feature, name, fields, carried in REQUEST_FEATURES
        if feature != "sampling_params"  # proven in test_responses_compat.py
    ],
)
async def test_request_features_reach_a_generic_server_as_chat_fields(
    kind: str,
    generic_sdk: openai.AsyncOpenAI,
    fake_openai: FakeOpenAIProvider,
    fields: dict[str, Any],
    carried: dict[str, Any],
) -> None:
    reply = await generic_sdk.responses.create(model=ROUTE_NAME, extra_body=fields)
    assert reply.output_text == "Hello! How can I assist you today?"
    sent = json.loads(fake_openai.requests[0].body)
    assert {name: sent.get(name) for name in carried} == carried


@kinds("text", "usage", "finish_reason", of=GENERIC)
async def test_a_generic_servers_answer_has_its_usage_and_finish_reason(
    kind: str, generic_sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(200, "good.json"), ScriptedResponse(200, "tool_calls.json"))
    answered = await generic_sdk.responses.create(model=ROUTE_NAME, input="Hello")
    called = await generic_sdk.responses.create(model=ROUTE_NAME, input="Weather?", tools=[WEATHER])
    assert answered.output_text == "Hello! How can I assist you today?"
    assert (answered.status, (answered.model_extra or {}).get("provider_finish_reason")) == ("completed", "stop")
    assert answered.usage is not None
    assert (answered.usage.input_tokens, answered.usage.output_tokens, answered.usage.total_tokens) == (19, 10, 29)
    assert (called.status, (called.model_extra or {}).get("provider_finish_reason")) == ("completed", "tool_calls")
    assert function_calls(called)


@kinds("stream_tools", of=GENERIC)
async def test_a_generic_servers_streamed_tool_calls_are_assembled_by_the_sdk(
    kind: str, generic_sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(ScriptedResponse(200, "stream_tool_calls.sse"))
    async with generic_sdk.responses.stream(model=ROUTE_NAME, input="Weather?", tools=[WEATHER, TIME]) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    calls = function_calls(final)
    assert calls == [("get_weather", {"location": "Paris, France"}), ("get_time", {})]
    done = [event.arguments for event in events if event.type == "response.function_call_arguments.done"]
    assert [json.loads(arguments) for arguments in done] == [arguments for _, arguments in calls]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (84, 33)


@kinds("tool_result_image", expect="error", of=GENERIC)
async def test_an_image_in_a_function_call_output_is_refused_for_a_generic_server(
    kind: str, generic_sdk: openai.AsyncOpenAI, fake_openai: FakeOpenAIProvider
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await generic_sdk.responses.create(model=ROUTE_NAME, input=SCREENSHOT)
    assert refused.value.param == "input[2].output[0]"
    assert fake_openai.requests == []


# --- a route mixing a target that speaks OpenAI chat and one that takes images in tool results ------------------


async def test_an_image_in_a_function_call_output_skips_the_openai_protocol_target_of_a_route(
    fake_openai: FakeOpenAIProvider,
    fake_anthropic: FakeAnthropicProvider,
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
) -> None:
    targets = [
        RouteTarget("openai_compatible", fake_openai.base_url, fake_openai.api_key),  # first in priority
        RouteTarget("anthropic", fake_anthropic.base_url, fake_anthropic.api_key, "claude-sonnet-4-5-20250929"),
    ]
    async with sdk_for_route(
        targets, settings=dp_settings, test_secrets=test_secrets, nats_url=nats_url, nats_prefix=nats_prefix
    ) as client:
        reply = await client.responses.create(model=ROUTE_NAME, input=SCREENSHOT)
        text = await client.responses.create(model=ROUTE_NAME, input="Hello")
    assert reply.output_text == "Hi! My name is Claude."
    [result] = json.loads(fake_anthropic.requests[0].body)["messages"][2]["content"]
    assert result["content"][0]["type"] == "image"
    assert text.output_text == "Hello! How can I assist you today?"  # without an image the first target answers
    assert len(fake_openai.requests) == 1 and len(fake_anthropic.requests) == 1
