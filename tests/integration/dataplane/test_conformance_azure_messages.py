"""Conformance cells of the `azure_openai` kind on /v1/messages: the `anthropic` SDK → the gateway → the fake
Azure OpenAI resource, the Messages request translated to a chat completion for the deployment (its URL, the
api-version, the `api-key` header) and Azure's answers, streams and errors translated back."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam

from shared.usage import TokenUsage
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks, proves
from tests.integration.dataplane.test_conformance_azure_openai import DEPLOYMENT, PIXEL, fake_azure, gateway, sent_body
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["fake_azure", "gateway"]  # the fixtures of the tests below

CLOCK: list[ToolParam] = [
    {"name": "get_current_time", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"name": "list_time_zones", "input_schema": {"type": "object", "properties": {}}},
]
HELLO: list[MessageParam] = [{"role": "user", "content": "Do customer managed keys work?"}]


@proves(
    "azure_openai",
    "messages",
    "system",
    "multi_turn",
    "tools",
    "tool_choice",
    "image_url",
    "image_base64",
    "stop_sequences",
    "sampling_params",
    "usage",
)
async def test_a_conversation_is_translated_for_the_deployment_and_back(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    messages: list[MessageParam] = [
        {"role": "user", "content": "What time is it in Tokyo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_current_time", "input": {"location": "Tokyo"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "09:30"},
                {"type": "text", "text": "Do customer managed keys cover these?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/keys.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=128,
            system="Be brief.",
            messages=messages,
            tools=CLOCK,
            tool_choice={"type": "auto"},
            stop_sequences=["END"],
            extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK version has no arguments for them
        )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "Yes, customer managed keys are supported by Azure OpenAI."
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (33, 13)
    [request] = fake_azure.requests
    assert request.path.startswith(f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=")
    sent = sent_body(fake_azure)
    assert sent["model"] == DEPLOYMENT and sent["max_tokens"] == 128
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What time is it in Tokyo?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "function": {"name": "get_current_time", "arguments": '{"location":"Tokyo"}'},
                    "type": "function",
                }
            ],
        },
        {"role": "tool", "content": "09:30", "tool_call_id": "call_1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Do customer managed keys cover these?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/keys.png"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
    ]
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["get_current_time", "list_time_zones"]
    assert (sent["tool_choice"], sent["stop"], sent["temperature"], sent["top_p"]) == ("auto", ["END"], 0.2, 0.9)


@proves("azure_openai", "messages", "tools", "parallel_tools", "tool_no_args")
async def test_parallel_tool_calls_and_one_without_arguments_become_tool_use_blocks(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.enqueue(Reply(200, "parallel_tool_calls.json"))
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=128,
            messages=[{"role": "user", "content": "What's the time in San Francisco, Tokyo and Paris?"}],
            tools=CLOCK,
            tool_choice={"type": "any"},
        )
    assert reply.stop_reason == "tool_use"
    assert [(block.name, block.input) for block in reply.content if block.type == "tool_use"] == [
        ("get_current_time", {"location": "San Francisco"}),
        ("get_current_time", {"location": "Tokyo"}),
        ("get_current_time", {"location": "Paris"}),
        ("list_time_zones", {}),
    ]
    assert sent_body(fake_azure)["tool_choice"] == "required"


@proves("azure_openai", "messages", "stream_text", "stream_usage")
async def test_a_stream_opening_with_prompt_filter_results_is_assembled_by_the_sdk(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI, nats_url: str, nats_prefix: str
) -> None:
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(model=ROUTE_NAME, max_tokens=64, messages=HELLO) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello there!"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 3)
    assert sent_body(fake_azure)["stream_options"] == {"include_usage": True}
    [event] = (await wait_for_events(nats_url, nats_prefix, 1)).values()
    assert event.tokens == TokenUsage(input=9, output=3) and not event.estimated


@proves("azure_openai", "messages", "stream_tools", "stream_usage", "usage_cached")
async def test_a_streamed_tool_call_is_assembled_with_cached_tokens_apart(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.enqueue(Reply(200, "stream_tool_calls.sse"))
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(model=ROUTE_NAME, max_tokens=64, messages=HELLO, tools=CLOCK) as stream,
    ):
        final = await stream.get_final_message()
    assert [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"] == [
        ("call_fWc2LjVT4A2QmeJf7vZ5C9sd", "get_current_weather", {"location": "Boston, MA"})
    ]
    assert final.stop_reason == "tool_use"
    usage = final.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (82 - 64, 64, 18)


@proves("azure_openai", "messages", "usage_cached", "usage_reasoning")
async def test_cached_tokens_are_cache_reads_and_reasoning_tokens_are_accounted_apart(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI, nats_url: str, nats_prefix: str
) -> None:
    fake_azure.enqueue(Reply(200, "tool_calls.json"), Reply(200, "reasoning.json"))
    async with gateway() as sdks:
        cached = await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO, tools=CLOCK)
        raw = await sdks.anthropic.messages.with_raw_response.create(model=ROUTE_NAME, max_tokens=5000, messages=HELLO)
    reasoned = await raw.parse()
    assert (cached.usage.input_tokens, cached.usage.cache_read_input_tokens) == (82 - 64, 64)
    assert reasoned.usage.output_tokens == 1843  # Anthropic's output_tokens include the thinking, as OpenAI's do
    events = await wait_for_events(nats_url, nats_prefix, 2)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(input=20, output=1843 - 448, reasoning=448)


@proves("azure_openai", "messages", "structured_output")
async def test_an_output_format_becomes_the_deployments_json_schema(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    schema: Any = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=64,
            messages=HELLO,
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    assert reply.content[0].type == "text"
    assert sent_body(fake_azure)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }


@proves("azure_openai", "messages", "tool_result_image", expect="error")
async def test_an_image_in_a_tool_result_is_refused_before_reaching_azure(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    messages: list[MessageParam] = [
        {"role": "user", "content": "Take a screenshot."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": [image]}]},
    ]
    async with gateway() as sdks:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=messages)
    assert caught.value.status_code == 400 and "only text in tool results" in caught.value.message
    assert fake_azure.requests == []


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "error_type"),
    [
        (400, "content_filter.json", anthropic.BadRequestError, "invalid_request_error"),
        (404, "deployment_not_found.json", anthropic.NotFoundError, "not_found_error"),
        (429, "rate_limited.json", anthropic.RateLimitError, "rate_limit_error"),
    ],
)
@proves("azure_openai", "messages", "errors")
async def test_azure_errors_reach_the_anthropic_sdk_with_their_status_and_message(
    gateway: OpenSdks,
    fake_azure: FakeAzureOpenAI,
    status: int,
    fixture: str,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_azure.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)  # retried ones are answered alike
    async with gateway() as sdks:
        with pytest.raises(exception) as caught:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    assert caught.value.status_code == status
    body: Any = caught.value.body
    assert body["error"]["type"] == error_type
    assert body["error"]["message"] == json.loads(fake_azure.fixture(fixture))["error"]["message"]
    assert fake_azure.api_key.encode() not in caught.value.response.content
