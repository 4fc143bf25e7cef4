"""The official `openai` SDK → the gateway's /v1/chat/completions → an Anthropic target: requests translated to
the Messages API, answers, streams and errors translated back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.anthropic_provider import FakeAnthropicProvider, ScriptedResponse, fake_anthropic, load_fixture
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.integration.dataplane.anthropic_plane import CLAUDE_UPSTREAM, Plane, protocol_plane
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["fake_anthropic"]  # a fixture used by the tests below

HELLO: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello"},
]
TOOLS: list[ChatCompletionToolParam] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_time"}},
]


@pytest.fixture
async def plane(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    fake_anthropic: FakeAnthropicProvider,
    fake_openai: FakeOpenAIProvider,
) -> AsyncIterator[Plane]:
    async with protocol_plane(
        dp_settings, test_secrets, fake_anthropic=fake_anthropic, fake_openai=fake_openai
    ) as started:
        yield started


@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="text")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="system")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="sampling_params")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="finish_reason")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="usage")
async def test_a_completion_is_translated_both_ways_and_its_usage_recorded(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, dp_settings: DataPlaneSettings
) -> None:
    raw = await plane.openai.chat.completions.with_raw_response.create(model="claude", messages=HELLO, temperature=0.3)
    reply = raw.parse()
    choice = reply.choices[0]
    assert choice.message.content == "Hi! My name is Claude."
    assert choice.finish_reason == "stop"
    assert (choice.model_extra or {}).get("provider_finish_reason") == "end_turn"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2095, 503)
    [seen] = fake_anthropic.requests
    sent = json.loads(seen.body)
    assert sent == {
        "model": CLAUDE_UPSTREAM,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "max_tokens": 4096,
        "system": "Be brief.",
        "temperature": 0.3,
    }
    assert seen.headers["x-api-key"] == fake_anthropic.api_key and seen.headers["anthropic-version"] == "2023-06-01"
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(input=2095, output=503)


@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="tools")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="tool_choice")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="parallel_tools")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="tool_no_args")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="finish_reason")
async def test_parallel_tool_calls_and_empty_arguments_come_back_as_openai_tool_calls(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=200, fixture="tool_use.json"))
    reply = await plane.openai.chat.completions.create(
        model="claude", messages=HELLO, tools=TOOLS, tool_choice="required"
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    assert calls == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"location": "San Francisco, CA"}),
        ("toolu_01B12r34st56uv78wx90yz12", "get_time", {}),
    ]
    sent = json.loads(fake_anthropic.requests[0].body)
    assert sent["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in sent["tools"]] == ["get_weather", "get_time"]


@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="stream_text")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="stream_tools")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="stream_usage")
async def test_a_streamed_tool_call_answer_is_assembled_by_the_sdk(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, dp_settings: DataPlaneSettings
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=200, fixture="stream_tool_use.sse"))
    raw = await plane.openai.chat.completions.with_raw_response.create(
        model="claude", messages=HELLO, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in raw.parse()]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(delta_call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta_call.id or ""
            if delta_call.function is not None:
                entry["name"] += delta_call.function.name or ""
                entry["arguments"] += delta_call.function.arguments or ""
    assert [(c["id"], c["name"]) for c in calls.values()] == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        ("toolu_01VuMzQ7Rbkdi3CYQAb3L6Dy", "get_time"),
    ]
    assert json.loads(calls[0]["arguments"]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert json.loads(calls[1]["arguments"]) == {}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 89
    assert json.loads(fake_anthropic.requests[0].body)["stream"] is True
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(input=472, output=89)


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "attempts"),
    [
        (400, "bad_request.json", openai.BadRequestError, 1),
        (404, "not_found.json", openai.NotFoundError, 1),
        (429, "rate_limited.json", openai.RateLimitError, 3),
        (500, "server_error.json", openai.InternalServerError, 3),
        (529, "overloaded.json", openai.InternalServerError, 3),
    ],
)
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="errors")
async def test_anthropic_errors_reach_the_openai_sdk_in_openai_format_with_their_status(
    plane: Plane,
    fake_anthropic: FakeAnthropicProvider,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    attempts: int,
) -> None:
    fake_anthropic.enqueue(*[ScriptedResponse(status=status, fixture=fixture)] * attempts)
    with pytest.raises(exception) as caught:
        await plane.openai.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == status
    anthropic_error = json.loads(load_fixture(fixture))["error"]
    assert caught.value.code == anthropic_error["type"]
    assert anthropic_error["message"] in caught.value.message
    assert len(fake_anthropic.requests) == attempts


async def test_refused_gateway_credentials_are_a_502_not_the_clients_fault(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=401, fixture="authentication_error.json"))
    with pytest.raises(openai.APIStatusError) as caught:
        await plane.openai.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_error"


async def test_an_error_event_mid_stream_reaches_the_sdk_as_an_error(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=200, fixture="stream_error.sse", chunk_delay=0.2))
    stream = await plane.openai.chat.completions.create(model="claude", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        _ = [chunk async for chunk in stream]
    assert "Overloaded" in str(caught.value)
    assert len(fake_anthropic.requests) == 1  # the stream had started: no retry


async def test_an_error_event_before_anything_reached_the_client_is_retried(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=200, fixture="stream_error.sse", one_write=True))
    stream = await plane.openai.chat.completions.create(model="claude", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello!"
    assert len(fake_anthropic.requests) == 2


async def test_what_anthropic_cannot_express_is_a_400_naming_the_field(plane: Plane) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await plane.openai.chat.completions.create(model="claude", messages=HELLO, n=2)
    assert caught.value.param == "n"
