"""Conformance cells of the `cohere` kind on /v1/chat/completions not proven in test_cohere_provider.py: the
`openai` SDK → the gateway → the fake Cohere v2 Chat API, the request translated and the answer back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.cohere_provider import FakeCohere
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks, Sdks, proves, sdks_through_gateway

MODEL = "command-a-03-2025"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is Coca-Cola?"}]
TOOLS: list[ChatCompletionToolParam] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


@pytest.fixture
def fake_cohere() -> Iterator[FakeCohere]:
    with FakeCohere() as fake:
        yield fake


@pytest.fixture
def gateway(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_cohere: FakeCohere) -> OpenSdks:
    @asynccontextmanager
    async def open_sdks() -> AsyncIterator[Sdks]:
        async with sdks_through_gateway(
            kind="cohere",
            settings=dp_settings,
            test_secrets=test_secrets,
            base_url=fake_cohere.base_url,
            api_key=fake_cohere.api_key,
            upstream_model=MODEL,
        ) as sdks:
            yield sdks

    return open_sdks


def sent_body(fake: FakeCohere, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


@proves(
    "cohere",
    "chat",
    "system",
    "multi_turn",
    "tool_choice",
    "image_url",
    "image_base64",
    "stop_sequences",
    "sampling_params",
)
async def test_a_conversation_with_tool_results_and_images_becomes_a_v2_chat_request(
    gateway: OpenSdks, fake_cohere: FakeCohere
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Toronto?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Snow, -5 °C"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these two."},
                {"type": "image_url", "image_url": {"url": "https://example.com/toronto.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=messages,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_time"}},
            stop="END",
            temperature=0.2,
            top_p=0.9,
            max_tokens=64,
        )
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("LLMs are large language models")
    assert sent_body(fake_cohere) == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Toronto?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "Snow, -5 °C", "tool_call_id": "call_1"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these two."},
                    {"type": "image_url", "image_url": {"url": "https://example.com/toronto.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            },
        ],
        # a named tool choice: only that tool, and a call is required
        "tools": [{"function": {"name": "get_time", "parameters": {"type": "object"}}, "type": "function"}],
        "tool_choice": "REQUIRED",
        "max_tokens": 64,
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "p": 0.9,
    }


@proves("cohere", "chat", "json_mode", "structured_output")
async def test_json_mode_and_a_json_schema_become_cohere_response_formats(
    gateway: OpenSdks, fake_cohere: FakeCohere
) -> None:
    schema: Any = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    async with gateway() as sdks:
        await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, response_format={"type": "json_object"}
        )
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME,
            messages=HELLO,
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        )
    assert reply.choices[0].finish_reason == "stop"
    assert sent_body(fake_cohere, 0)["response_format"] == {"type": "json_object"}
    assert sent_body(fake_cohere, 1)["response_format"] == {"type": "json_object", "json_schema": schema}


@proves("cohere", "chat", "tool_result_image", expect="error")
async def test_an_image_in_a_tool_result_is_refused_naming_the_part(gateway: OpenSdks, fake_cohere: FakeCohere) -> None:
    screenshot: Any = [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Take a screenshot."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "screenshot", "arguments": ""}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": screenshot},
    ]
    async with gateway() as sdks:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=messages)
    assert caught.value.param == "messages[2].content[0]"
    assert fake_cohere.requests == []
