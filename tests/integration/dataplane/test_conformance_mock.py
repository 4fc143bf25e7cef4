"""Conformance cells of the built-in `mock` kind: the official SDKs → the gateway → the mock, answered in process
(the reply quotes the last user message; token counts are word counts). /v1/messages reaches it translated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.integration.dataplane.conformance_gateway import ROUTE_NAME, OpenSdks, Sdks, proves, sdks_through_gateway

CONVERSATION: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello there"},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": [{"type": "text", "text": "Tell me a joke"}]},
]
CLAUDE_CONVERSATION: list[MessageParam] = [
    {"role": "user", "content": "Hello there"},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": [{"type": "text", "text": "Tell me a joke"}]},
]
REPLY = "Mock reply to: Tell me a joke"
PROMPT_WORDS = 2 + 2 + 5 + 4  # every message's words, the system prompt's included
REPLY_WORDS = 7


@pytest.fixture
def gateway(dp_settings: DataPlaneSettings, test_secrets: TestSecrets) -> OpenSdks:
    @asynccontextmanager
    async def open_sdks() -> AsyncIterator[Sdks]:
        async with sdks_through_gateway(kind="mock", settings=dp_settings, test_secrets=test_secrets) as sdks:
            yield sdks

    return open_sdks


@proves("mock", "chat", "text", "system", "multi_turn", "sampling_params", "finish_reason", "usage")
async def test_the_mock_answers_the_last_user_message_of_a_conversation(gateway: OpenSdks) -> None:
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=CONVERSATION, temperature=0.2, top_p=0.9, max_tokens=64
        )
    assert reply.choices[0].message.content == REPLY
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        PROMPT_WORDS,
        REPLY_WORDS,
    )


@proves("mock", "chat", "stream_text", "stream_usage")
async def test_the_mock_streams_its_answer_word_by_word_then_the_usage(gateway: OpenSdks) -> None:
    async with gateway() as sdks:
        stream = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=CONVERSATION, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == PROMPT_WORDS + REPLY_WORDS


@proves("mock", "messages", "text", "system", "multi_turn", "sampling_params", "finish_reason", "usage")
async def test_the_mock_answers_an_anthropic_conversation(gateway: OpenSdks) -> None:
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=64,
            system="Be brief.",
            messages=CLAUDE_CONVERSATION,
            extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK version has no arguments for them
        )
    assert reply.content[0].type == "text" and reply.content[0].text == REPLY
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (PROMPT_WORDS, REPLY_WORDS)


@proves("mock", "messages", "stream_text", "stream_usage")
async def test_the_mock_streams_an_anthropic_answer_with_its_usage(gateway: OpenSdks) -> None:
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(
            model=ROUTE_NAME, max_tokens=64, system="Be brief.", messages=CLAUDE_CONVERSATION
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == REPLY
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT_WORDS, REPLY_WORDS)
