"""The official `anthropic` SDK → the gateway's /v1/messages → an Anthropic target (same-protocol passthrough),
an OpenAI-protocol target or the built-in mock (translated)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import msgspec
import pytest
from anthropic.types import MessageParam

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.asgi_client import http_scope
from tests.conftest import TestSecrets
from tests.fakes.anthropic_provider import FakeAnthropicProvider, ScriptedResponse, fake_anthropic, load_fixture
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.fakes.openai_provider import ScriptedResponse as OpenAIScripted
from tests.fakes.openai_provider import load_fixture as load_openai_fixture
from tests.integration.dataplane.anthropic_plane import CLAUDE_UPSTREAM, GPT_UPSTREAM, Plane, protocol_plane
from tests.integration.dataplane.test_usage_events import RecordingLeavingClient, wait_for_events

__all__ = ["fake_anthropic"]  # a fixture used by the tests below

HELLO: list[MessageParam] = [{"role": "user", "content": "Hello"}]


def error_body(error: anthropic.APIStatusError) -> Any:
    """The decoded JSON error the SDK received."""
    assert isinstance(error.body, dict)
    return error.body


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


@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="text")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="finish_reason")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="usage")
async def test_passthrough_answers_with_the_providers_message_and_records_its_usage(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, dp_settings: DataPlaneSettings
) -> None:
    raw = await plane.anthropic.messages.with_raw_response.create(model="claude", max_tokens=64, messages=HELLO)
    message = await raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "Hi! My name is Claude."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 2095 and message.usage.output_tokens == 503
    [seen] = fake_anthropic.requests
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == fake_anthropic.api_key
    assert seen.headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]  # the SDK's own
    assert plane.key.token not in seen.body.decode()
    assert all(plane.key.token not in value for value in seen.headers.values())
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 1)
    event = events[raw.headers["x-request-id"]]
    assert (event.tokens, event.estimated, event.provider_kind) == (
        TokenUsage(input=2095, output=503),
        False,
        "anthropic",
    )


@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="passthrough")
async def test_passthrough_forwards_the_body_byte_for_byte_except_the_model_and_the_beta_header(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    body = (
        b'{"model": "claude", "max_tokens": 64, "future_option": {"depth": [1, 2.50]},\n'
        b' "messages": [{"role": "user", "content": [{"type": "text", "text": "Long doc", '
        b'"cache_control": {"type": "ephemeral"}}]}, {"role": "assistant", "content": [{"type": "thinking", '
        b'"thinking": "Let me think", "signature": "EqQBCgIYAhIM"}, {"type": "text", "text": "Ok"}]}, '
        b'{"role": "user", "content": "Go on"}]}'
    )
    response = await plane.client.post(
        "/v1/messages",
        content=body,
        headers={
            "x-api-key": plane.key.token,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "prompt-caching-2024-07-31",
            "x-custom-client-header": "not forwarded",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 200
    [seen] = fake_anthropic.requests
    expected = msgspec.json.encode({**msgspec.json.decode(body), "model": CLAUDE_UPSTREAM})
    assert msgspec.json.decode(seen.body) == msgspec.json.decode(expected)
    # every value but the model is re-emitted exactly as sent (even `2.50`, which a re-encode would make 2.5)
    assert b'"future_option":{"depth": [1, 2.50]}' in seen.body
    assert b'"cache_control": {"type": "ephemeral"}' in seen.body
    assert b'"signature": "EqQBCgIYAhIM"' in seen.body
    assert seen.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "x-custom-client-header" not in seen.headers


@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="stream_text")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="stream_usage")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="passthrough")
async def test_a_passthrough_stream_is_relayed_byte_for_byte_and_assembled_by_the_sdk(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, dp_settings: DataPlaneSettings
) -> None:
    async with plane.anthropic.messages.stream(model="claude", max_tokens=64, messages=HELLO) as stream:
        final = await stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert final.content[0].type == "text" and final.content[0].text == "Hello!"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 15
    raw = await plane.client.post(
        "/v1/messages",
        headers={"x-api-key": plane.key.token},
        json={"model": "claude", "max_tokens": 64, "stream": True, "messages": HELLO},
    )
    assert raw.content == load_fixture("stream.sse")
    assert json.loads(fake_anthropic.requests[0].body)["stream"] is True
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 2)
    assert events[request_id].tokens == TokenUsage(input=25, output=15)
    assert events[request_id].stream is True


@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="stream_tools")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="parallel_tools")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="tool_no_args")
async def test_a_streamed_tool_use_and_thinking_reach_the_sdk_intact(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    fake_anthropic.enqueue(
        ScriptedResponse(status=200, fixture="stream_tool_use.sse"),
        ScriptedResponse(status=200, fixture="stream_thinking.sse"),
    )
    async with plane.anthropic.messages.stream(model="claude", max_tokens=64, messages=HELLO) as stream:
        tools = await stream.get_final_message()
    assert tools.stop_reason == "tool_use"
    calls = [(b.id, b.name, b.input) for b in tools.content if b.type == "tool_use"]
    assert calls == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", {"location": "San Francisco, CA", "unit": "fahrenheit"}),
        ("toolu_01VuMzQ7Rbkdi3CYQAb3L6Dy", "get_time", {}),
    ]
    async with plane.anthropic.messages.stream(model="claude", max_tokens=64, messages=HELLO) as stream:
        thought = await stream.get_final_message()
    thinking = thought.content[0]
    assert thinking.type == "thinking" and thinking.signature.startswith("EqQBCgIYAhIM")


@pytest.mark.parametrize(
    ("status", "fixture", "exception"),
    [
        (400, "bad_request.json", anthropic.BadRequestError),
        (404, "not_found.json", anthropic.NotFoundError),
    ],
)
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="errors")
async def test_provider_errors_reach_the_sdk_as_anthropic_sent_them(
    plane: Plane,
    fake_anthropic: FakeAnthropicProvider,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=status, fixture=fixture))
    with pytest.raises(exception) as caught:
        await plane.anthropic.messages.create(model="claude", max_tokens=64, messages=HELLO)
    assert caught.value.status_code == status
    assert caught.value.body == {"type": "error", "error": json.loads(load_fixture(fixture))["error"]}


async def test_an_overloaded_anthropic_target_falls_over_to_the_openai_one(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, fake_openai: FakeOpenAIProvider
) -> None:
    fake_anthropic.enqueue(*[ScriptedResponse(status=529, fixture="overloaded.json")] * 3)
    message = await plane.anthropic.messages.create(model="claude-then-gpt", max_tokens=64, messages=HELLO)
    assert message.content[0].type == "text" and message.content[0].text
    assert len(fake_anthropic.requests) == 3 and len(fake_openai.requests) == 1


async def test_gateway_refusals_are_anthropic_errors(plane: Plane) -> None:
    bad_key = anthropic.AsyncAnthropic(
        base_url="http://dataplane", api_key="wp-dev-nope-nope", http_client=plane.sdk_http, max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError) as refused:
        await bad_key.messages.create(model="claude", max_tokens=64, messages=HELLO)
    assert error_body(refused.value)["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as unknown:
        await plane.anthropic.messages.create(model="no-such-route", max_tokens=64, messages=HELLO)
    assert error_body(unknown.value)["error"]["type"] == "not_found_error"
    missing = await plane.client.post(
        "/v1/messages", headers={"x-api-key": plane.key.token}, json={"model": "claude", "messages": HELLO}
    )
    assert missing.status_code == 400
    assert missing.json()["type"] == "error" and missing.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in missing.json()["error"]["message"]
    not_json = await plane.client.post("/v1/messages", headers={"x-api-key": plane.key.token}, content=b"{oops")
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"


async def test_a_bearer_key_works_as_well_as_x_api_key(plane: Plane) -> None:
    bearer = anthropic.AsyncAnthropic(
        base_url="http://dataplane", auth_token=plane.key.token, http_client=plane.sdk_http, max_retries=0
    )
    message = await bearer.messages.create(model="claude", max_tokens=64, messages=HELLO)
    assert message.content[0].type == "text"


@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="text")
@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="system")
@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="stop_sequences")
@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="finish_reason")
@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="usage")
async def test_messages_reach_an_openai_target_translated_both_ways(
    plane: Plane, fake_openai: FakeOpenAIProvider, dp_settings: DataPlaneSettings
) -> None:
    raw = await plane.anthropic.messages.with_raw_response.create(
        model="gpt", max_tokens=64, system="Be brief.", messages=HELLO, stop_sequences=["END"]
    )
    message = await raw.parse()
    expected = json.loads(load_openai_fixture("good.json"))
    assert message.content[0].type == "text"
    assert message.content[0].text == expected["choices"][0]["message"]["content"]
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == expected["usage"]["completion_tokens"]
    sent = json.loads(fake_openai.requests[0].body)
    assert sent["model"] == GPT_UPSTREAM and sent["max_tokens"] == 64 and sent["stop"] == ["END"]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {fake_openai.api_key}"
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens.output == expected["usage"]["completion_tokens"]


@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="stream_text")
@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="stream_usage")
async def test_a_stream_from_an_openai_target_is_assembled_by_the_anthropic_sdk(
    plane: Plane, fake_openai: FakeOpenAIProvider
) -> None:
    async with plane.anthropic.messages.stream(model="gpt", max_tokens=64, messages=HELLO) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hi, how are you?"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert json.loads(fake_openai.requests[0].body)["stream_options"] == {"include_usage": True}


@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="errors")
async def test_an_openai_error_reaches_the_anthropic_sdk_with_its_status(
    plane: Plane, fake_openai: FakeOpenAIProvider
) -> None:
    fake_openai.enqueue(OpenAIScripted(status=400, fixture="bad_request.json"))
    with pytest.raises(anthropic.BadRequestError) as caught:
        await plane.anthropic.messages.create(model="gpt", max_tokens=64, messages=HELLO)
    assert error_body(caught.value)["type"] == "error"
    assert error_body(caught.value)["error"]["type"] == "invalid_request_error"


@pytest.mark.conformance(provider="mock", ingress="messages", feature="text")
@pytest.mark.conformance(provider="mock", ingress="messages", feature="stream_text")
async def test_messages_reach_the_mock_streamed_and_not(plane: Plane) -> None:
    message = await plane.anthropic.messages.create(model="mock", max_tokens=64, messages=HELLO)
    assert message.content[0].type == "text" and message.content[0].text == "Mock reply to: Hello"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens == 1
    async with plane.anthropic.messages.stream(model="mock", max_tokens=64, messages=HELLO) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "Mock reply to: Hello"


async def test_count_tokens_is_forwarded_to_anthropic_and_estimated_elsewhere(
    plane: Plane, fake_anthropic: FakeAnthropicProvider
) -> None:
    counted = await plane.anthropic.messages.count_tokens(model="claude", messages=HELLO)
    assert counted.input_tokens == 14
    assert fake_anthropic.requests[0].path == "/v1/messages/count_tokens"
    assert json.loads(fake_anthropic.requests[0].body)["model"] == CLAUDE_UPSTREAM
    estimated = await plane.anthropic.messages.with_raw_response.count_tokens(model="mock", messages=HELLO)
    assert (await estimated.parse()).input_tokens > 0
    assert estimated.headers["x-waypost-estimated"] == "true"


async def test_without_provider_usage_the_gateway_estimates_and_flags_it(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, dp_settings: DataPlaneSettings
) -> None:
    fake_anthropic.enqueue(
        ScriptedResponse(status=200, fixture="no_usage.json"),
        ScriptedResponse(status=200, fixture="stream_no_usage.sse"),
    )
    plain = await plane.client.post(
        "/v1/messages",
        headers={"x-api-key": plane.key.token},
        json={"model": "claude", "max_tokens": 8, "messages": HELLO},
    )
    streamed = await plane.client.post(
        "/v1/messages",
        headers={"x-api-key": plane.key.token},
        json={"model": "claude", "max_tokens": 8, "messages": HELLO, "stream": True},
    )
    assert plain.content == load_fixture("no_usage.json")
    assert streamed.content == load_fixture("stream_no_usage.sse")
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 2)
    for response in (plain, streamed):
        event = events[response.headers["x-request-id"]]
        assert event.estimated is True
        assert event.tokens.input > 0 and event.tokens.output > 0


async def test_a_client_leaving_a_passthrough_stream_records_the_usage_seen_so_far(
    plane: Plane, fake_anthropic: FakeAnthropicProvider, dp_settings: DataPlaneSettings
) -> None:
    fake_anthropic.enqueue(ScriptedResponse(status=200, fixture="stream.sse", chunk_delay=0.5))
    body = msgspec.json.encode({"model": "claude", "max_tokens": 64, "stream": True, "messages": HELLO})
    client = RecordingLeavingClient(body)
    answering = asyncio.create_task(
        plane.app(http_scope(f"Bearer {plane.key.token}", body, "/v1/messages"), client.receive, client.send)
    )
    await asyncio.wait_for(client.first_body_sent.wait(), 10)
    client.leave()
    await asyncio.wait_for(answering, 10)
    events = await wait_for_events(dp_settings.nats_url, dp_settings.nats_prefix, 1)
    gone = events[client.request_id]
    assert (gone.status, gone.error_code) == (499, "client_disconnected")
    assert gone.tokens.input == 25  # from message_start, the only usage sent before the client left
