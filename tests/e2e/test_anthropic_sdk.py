"""End to end with the official `anthropic` and `openai` SDKs: an `anthropic` provider configured through the
admin API, the data plane (under Granian) serving /v1/messages and /v1/chat/completions across protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.e2e.gateway import Gateway
from tests.fakes.anthropic_provider import FakeAnthropicProvider, ScriptedResponse
from tests.fakes.openai_provider import FakeOpenAIProvider

CLAUDE_UPSTREAM = "claude-sonnet-4-5-e2e"


@pytest.fixture(scope="module")
def fake_claude() -> Iterator[FakeAnthropicProvider]:
    with FakeAnthropicProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def key(gateway: Gateway, fake_claude: FakeAnthropicProvider, upstream: FakeOpenAIProvider) -> str:
    team = gateway.create("teams", {"name": "e2e-anthropic"})
    claude = gateway.create(
        "providers",
        {
            "name": "fake-anthropic",
            "kind": "anthropic",
            "base_url": fake_claude.base_url,
            "credentials": {"api_key": fake_claude.api_key},
        },
    )
    gpt = gateway.create(
        "providers",
        {
            "name": "fake-openai",
            "kind": "openai_compatible",
            "base_url": upstream.base_url,
            "credentials": {"api_key": upstream.api_key},
        },
    )
    mock = gateway.create("providers", {"name": "mock", "kind": "mock"})
    for route, provider, model in (("claude", claude, CLAUDE_UPSTREAM), ("gpt", gpt, "gpt-up"), ("mock", mock, "m")):
        deployment = gateway.create(
            "deployments", {"name": f"{route}-dep", "provider_id": provider["id"], "model": model}
        )
        gateway.create("routes", {"name": route, "targets": [deployment["id"]]})
    created = gateway.create("keys", {"name": "e2e-anthropic", "team_id": team["id"], "environment": "dev"})
    gateway.wait_until_key_works(created["key"])
    return str(created["key"])


@pytest.fixture
def claude_sdk(gateway: Gateway, key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.dataplane_url, api_key=key, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def openai_sdk(gateway: Gateway, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="text")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="usage")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="passthrough")
def test_messages_pass_through_to_anthropic_with_the_beta_header_and_unknown_fields(
    claude_sdk: anthropic.Anthropic, fake_claude: FakeAnthropicProvider
) -> None:
    seen_before = len(fake_claude.requests)
    message = claude_sdk.messages.create(
        model="claude",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello"}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
        extra_body={"future_option": {"keep": True}},
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hi! My name is Claude."
    assert message.usage.input_tokens == 2095
    forwarded = fake_claude.requests[seen_before]
    assert forwarded.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert forwarded.headers["x-api-key"] == fake_claude.api_key
    body = json.loads(forwarded.body)
    assert body["model"] == CLAUDE_UPSTREAM and body["future_option"] == {"keep": True}


@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="stream_text")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="stream_usage")
@pytest.mark.conformance(provider="anthropic", ingress="messages", feature="finish_reason")
def test_a_passthrough_stream_is_assembled_by_the_anthropic_sdk(claude_sdk: anthropic.Anthropic) -> None:
    with claude_sdk.messages.stream(model="claude", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]) as s:
        final = s.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "Hello!"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 15


@pytest.mark.conformance(provider="openai_compatible", ingress="messages", feature="stream_text")
@pytest.mark.conformance(provider="mock", ingress="messages", feature="text")
def test_messages_reach_openai_and_mock_targets_translated(claude_sdk: anthropic.Anthropic) -> None:
    hello: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello"}]
    with claude_sdk.messages.stream(model="gpt", max_tokens=64, messages=hello) as stream:
        assert "".join(stream.text_stream) == "Hi, how are you?"
    mocked = claude_sdk.messages.create(model="mock", max_tokens=64, messages=hello)
    assert mocked.content[0].type == "text" and mocked.content[0].text == "Mock reply to: Hello"


@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="stream_tools")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="parallel_tools")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="tool_no_args")
@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="finish_reason")
def test_openai_sdk_streams_tool_calls_from_an_anthropic_target(
    openai_sdk: openai.OpenAI, fake_claude: FakeAnthropicProvider
) -> None:
    fake_claude.enqueue(ScriptedResponse(status=200, fixture="stream_tool_use.sse"))
    stream = openai_sdk.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
        stream=True,
    )
    arguments: dict[int, str] = {}
    finish = []
    for chunk in stream:
        if not chunk.choices:
            continue
        for call in chunk.choices[0].delta.tool_calls or []:
            arguments[call.index] = arguments.get(call.index, "") + ((call.function and call.function.arguments) or "")
        if chunk.choices[0].finish_reason:
            finish.append(chunk.choices[0].finish_reason)
    assert json.loads(arguments[0]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert json.loads(arguments[1]) == {}
    assert finish == ["tool_calls"]


@pytest.mark.conformance(provider="anthropic", ingress="chat", feature="errors")
def test_an_anthropic_rate_limit_reaches_the_openai_sdk_as_a_rate_limit_error(
    openai_sdk: openai.OpenAI, fake_claude: FakeAnthropicProvider
) -> None:
    fake_claude.enqueue(*[ScriptedResponse(status=429, fixture="rate_limited.json")] * 3)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 429 and caught.value.code == "rate_limit_error"
