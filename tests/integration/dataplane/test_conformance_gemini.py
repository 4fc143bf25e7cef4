"""Conformance cells of the `gemini` kind on /v1/chat/completions not proven in test_gemini_provider.py: the
`openai` SDK → the gateway → the fake Gemini API (generateContent), the request translated and the answer back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.gemini_provider import FakeGemini
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks, Sdks, proves, sdks_through_gateway

MODEL = "gemini-2.5-flash"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "How does AI work?"}]


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def gateway(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_gemini: FakeGemini) -> OpenSdks:
    @asynccontextmanager
    async def open_sdks() -> AsyncIterator[Sdks]:
        async with sdks_through_gateway(
            kind="gemini",
            settings=dp_settings,
            test_secrets=test_secrets,
            base_url=fake_gemini.base_url,
            api_key=fake_gemini.api_key,
            upstream_model=MODEL,
        ) as sdks:
            yield sdks

    return open_sdks


def sent_body(fake: FakeGemini, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


@proves("gemini", "chat", "multi_turn", "image_base64", "stop_sequences", "sampling_params")
async def test_a_conversation_with_a_tool_result_and_an_inline_image_becomes_gemini_contents(
    gateway: OpenSdks, fake_gemini: FakeGemini
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
        {"role": "assistant", "content": "It is sunny."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What does this show?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
    ]
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=messages, stop=["END"], temperature=0.2, top_p=0.9, max_completion_tokens=64
        )
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("AI learns patterns")
    sent = sent_body(fake_gemini)
    assert [(c["role"], [next(iter(p)) for p in c["parts"]]) for c in sent["contents"]] == [
        ("user", ["text"]),
        ("model", ["functionCall"]),
        ("user", ["functionResponse"]),
        ("model", ["text"]),
        ("user", ["text", "inlineData"]),
    ]
    assert sent["contents"][1]["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    assert sent["contents"][2]["parts"][0]["functionResponse"] == {"name": "get_weather", "response": {"sky": "sunny"}}
    assert sent["contents"][4]["parts"][1]["inlineData"] == {"mimeType": "image/png", "data": PIXEL}
    assert sent["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "stopSequences": ["END"],
    }


@proves("gemini", "chat", "json_mode", "structured_output")
async def test_json_mode_and_a_json_schema_become_gemini_response_settings(
    gateway: OpenSdks, fake_gemini: FakeGemini
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
    assert sent_body(fake_gemini, 0)["generationConfig"] == {"responseMimeType": "application/json"}
    assert sent_body(fake_gemini, 1)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@proves("gemini", "chat", "tool_result_image", expect="error")
async def test_an_image_in_a_tool_result_is_refused_naming_the_part(gateway: OpenSdks, fake_gemini: FakeGemini) -> None:
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
    assert fake_gemini.requests == []


@proves("gemini", "chat", "usage_cached", "usage_reasoning")
async def test_cached_and_thinking_tokens_reach_the_sdk(gateway: OpenSdks, fake_gemini: FakeGemini) -> None:
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    usage = reply.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (8, 17 + 1208)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 2
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 1208
