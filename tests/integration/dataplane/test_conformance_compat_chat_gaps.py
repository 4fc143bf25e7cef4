"""Conformance cells of the OpenAI-compatible family on /v1/chat/completions not proven in
test_compat_providers.py: the usage classes Groq and vLLM document (cached prompt tokens, reasoning tokens), and
what DeepSeek's chat API does not take (image parts, a json_schema response format), refused with a 400 naming
the field before any upstream call instead of being forwarded to fail there, or silently dropped."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from shared.usage import TokenUsage
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME
from tests.integration.dataplane.test_compat_providers import HELLO, PNG, OpenKind, open_kind
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["open_kind"]  # the fixture of the tests below


def chat_cell(kind: str, feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider=kind, ingress="chat", feature=feature, expect=expect)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        pytest.param(
            "groq",
            TokenUsage(input=512, cached_input=1024, output=60, reasoning=120),
            marks=[chat_cell("groq", "usage_cached"), chat_cell("groq", "usage_reasoning")],
            id="groq",
        ),
        pytest.param(
            "vllm",
            TokenUsage(input=10, cached_input=32, output=10),
            marks=chat_cell("vllm", "usage_cached"),
            id="vllm",
        ),
    ],
)
async def test_documented_usage_details_reach_the_sdk_and_the_usage_event(
    open_kind: OpenKind, kind: str, expected: TokenUsage, nats_url: str, nats_prefix: str
) -> None:
    async with open_kind(kind) as (sdk, fake):
        fake.enqueue(Reply(200, "usage_details.json"))
        raw = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
    usage = raw.parse().usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        expected.input + expected.cached_input,
        expected.output + expected.reasoning,
    )
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == expected.cached_input
    if expected.reasoning:
        assert usage.completion_tokens_details is not None
        assert usage.completion_tokens_details.reasoning_tokens == expected.reasoning
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == expected


def image(url: str) -> list[ChatCompletionMessageParam]:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}],
        }
    ]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            "https://example.com/cat.png", marks=chat_cell("deepseek", "image_url", expect="error"), id="image_url"
        ),
        pytest.param(
            f"data:image/png;base64,{PNG}",
            marks=chat_cell("deepseek", "image_base64", expect="error"),
            id="image_base64",
        ),
    ],
)
async def test_deepseek_refuses_image_parts_naming_them(open_kind: OpenKind, url: str) -> None:
    async with open_kind("deepseek") as (sdk, fake):
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=image(url))
    assert caught.value.status_code == 400
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "messages[0].content[1]")
    assert "deepseek" in caught.value.message
    assert fake.requests == []  # never forwarded, never silently dropped


@chat_cell("deepseek", "structured_output", expect="error")
async def test_deepseek_refuses_a_json_schema_response_format_but_takes_json_mode(open_kind: OpenKind) -> None:
    schema: Any = {
        "type": "json_schema",
        "json_schema": {"name": "greeting", "schema": {"type": "object", "properties": {}}},
    }
    async with open_kind("deepseek") as (sdk, fake):
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, response_format=schema)
        reply = await sdk.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, response_format={"type": "json_object"}
        )
    assert caught.value.status_code == 400 and caught.value.param == "response_format.type"
    assert reply.choices[0].message.content
    [forwarded] = fake.requests  # only the JSON-mode request reached DeepSeek
    assert json.loads(forwarded.body)["response_format"] == {"type": "json_object"}
