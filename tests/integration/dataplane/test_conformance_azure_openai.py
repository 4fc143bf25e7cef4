"""Conformance cells of the `azure_openai` kind not proven in test_azure_openai_provider.py: the `openai` SDK →
the gateway's /v1/chat/completions → the fake Azure OpenAI resource (the same-protocol path: the body forwarded
with only `model` set to the deployment, to the deployment's URL with its api-version and `api-key` header)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks, Sdks, proves, sdks_through_gateway

DEPLOYMENT = "gpt-4o-prod"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
CLOCK: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_current_time",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "list_time_zones", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI() as fake:
        yield fake


@pytest.fixture
def gateway(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_azure: FakeAzureOpenAI) -> OpenSdks:
    @asynccontextmanager
    async def open_sdks() -> AsyncIterator[Sdks]:
        async with sdks_through_gateway(
            kind="azure_openai",
            settings=dp_settings,
            test_secrets=test_secrets,
            base_url=f"{fake_azure.base_url}?api-version=2024-10-21",
            api_key=fake_azure.api_key,
            upstream_model=DEPLOYMENT,
        ) as sdks:
            yield sdks

    return open_sdks


def sent_body(fake: FakeAzureOpenAI, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


@proves(
    "azure_openai",
    "chat",
    "text",
    "system",
    "multi_turn",
    "tools",
    "tool_choice",
    "image_url",
    "image_base64",
    "stop_sequences",
    "sampling_params",
    "finish_reason",
    "usage",
    "passthrough",
)
async def test_a_whole_conversation_is_forwarded_untouched_but_for_the_model(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What time is it in Tokyo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_current_time", "arguments": '{"location":"Tokyo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "09:30"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Do customer managed keys cover these?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/keys.png"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}", "detail": "high"}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=messages,
            tools=CLOCK,
            tool_choice="auto",
            stop="END",
            temperature=0.2,
            top_p=0.9,
            max_tokens=128,
            extra_body={"data_sources": []},
        )
    assert reply.choices[0].message.content == "Yes, customer managed keys are supported by Azure OpenAI."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens == 46
    sent = sent_body(fake_azure)
    assert sent.pop("model") == DEPLOYMENT
    assert sent == {
        "messages": messages,
        "tools": CLOCK,
        "tool_choice": "auto",
        "stop": "END",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 128,
        "data_sources": [],
    }


@proves("azure_openai", "chat", "json_mode", "structured_output")
async def test_json_mode_and_a_json_schema_are_forwarded_to_the_deployment(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    schema: Any = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "strict": True, "schema": {"type": "object", "properties": {}}},
    }
    formats: list[Any] = [{"type": "json_object"}, schema]
    async with gateway() as sdks:
        for response_format in formats:
            reply = await sdks.openai.chat.completions.create(
                model=ROUTE_NAME,
                messages=[{"role": "user", "content": "Answer in JSON."}],
                response_format=response_format,
            )
            assert reply.choices[0].finish_reason == "stop"
    assert [sent_body(fake_azure, n)["response_format"] for n in (0, 1)] == formats


@proves("azure_openai", "chat", "tools", "parallel_tools", "tool_no_args", "finish_reason")
async def test_parallel_tool_calls_and_one_without_arguments_reach_the_sdk(
    gateway: OpenSdks, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.enqueue(Reply(200, "parallel_tool_calls.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "What's the time in San Francisco, Tokyo and Paris?"}],
            tools=CLOCK,
        )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [
        (c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    assert calls == [
        ("get_current_time", {"location": "San Francisco"}),
        ("get_current_time", {"location": "Tokyo"}),
        ("get_current_time", {"location": "Paris"}),
        ("list_time_zones", {}),
    ]


@proves("azure_openai", "chat", "usage_cached")
async def test_cached_prompt_tokens_reach_the_sdk(gateway: OpenSdks, fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.enqueue(Reply(200, "tool_calls.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=[{"role": "user", "content": "Weather in Boston?"}], tools=CLOCK
        )
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (82, 18)
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 64


@proves("azure_openai", "chat", "usage_reasoning")
async def test_reasoning_tokens_reach_the_sdk(gateway: OpenSdks, fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.enqueue(Reply(200, "reasoning.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=[{"role": "user", "content": "What steps should I think about when writing my first Python API?"}],
            max_completion_tokens=5000,
        )
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (20, 1843)
    details = reply.usage.completion_tokens_details
    assert details is not None and details.reasoning_tokens == 448
