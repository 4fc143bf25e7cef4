"""Conformance cells of the `bedrock` kind on /v1/messages not proven in test_bedrock_messages.py: the
`anthropic` SDK → the gateway → the fake Bedrock Runtime (SigV4 verified), for a named tool choice, structured
output, and the usage of answers and event streams with prompt-cache reads (and writes, in the usage event)."""

from __future__ import annotations

import json
from typing import Any

from anthropic.types import MessageParam, ToolParam

from shared.usage import TokenUsage
from tests.fakes.bedrock_provider import FakeBedrock
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.bedrock_plane import ROUTE_NAME, OpenBedrock, bedrock_cell, fake_bedrock, gateway
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["fake_bedrock", "gateway"]  # the fixtures of the tests below

HELLO: list[MessageParam] = [{"role": "user", "content": "Create a list of 3 pop songs."}]
SONGS: list[ToolParam] = [
    {
        "name": "top_song",
        "description": "Get the most popular song played on a radio station.",
        "input_schema": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]},
    },
    {"name": "current_time", "input_schema": {"type": "object", "properties": {}}},
]


def sent(fake: FakeBedrock, number: int = 0) -> Any:
    return json.loads(fake.requests[number].body)


@bedrock_cell("messages", "tool_choice")
async def test_a_named_tool_choice_becomes_converse_tool_choice(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/tool_use.json"))
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=256,
            messages=HELLO,
            tools=SONGS,
            tool_choice={"type": "tool", "name": "top_song"},
        )
    assert reply.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in reply.content if b.type == "tool_use"] == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"})
    ]
    assert sent(fake_bedrock)["toolConfig"]["toolChoice"] == {"tool": {"name": "top_song"}}


@bedrock_cell("messages", "structured_output")
async def test_an_output_format_becomes_bedrock_structured_output(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    schema: Any = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=256,
            messages=HELLO,
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    assert reply.content[0].type == "text" and reply.stop_reason == "end_turn"
    text_format = sent(fake_bedrock)["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == schema


@bedrock_cell("messages", "usage_cached")
async def test_cache_reads_reach_the_sdk_and_cache_writes_the_usage_event(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock, nats_url: str, nats_prefix: str
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/cache_usage.json"))
    async with gateway() as sdks:
        raw = await sdks.anthropic.messages.with_raw_response.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    usage = (await raw.parse()).usage
    # Bedrock's inputTokens 12 + cacheWriteInputTokens 32: the chat usage between has no cache-write class
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (12 + 32, 2048, 15)
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(
        input=12, cached_input=2048, cache_write=32, output=15
    )


@bedrock_cell("messages", "stream_usage")
async def test_a_converse_streams_metadata_usage_reaches_the_sdk_and_is_billed(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock, nats_url: str, nats_prefix: str
) -> None:
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(model=ROUTE_NAME, max_tokens=256, messages=HELLO) as stream,
    ):
        final = await stream.get_final_message()
    assert final.stop_reason == "end_turn"
    usage = final.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (125, 2048, 34)
    [event] = (await wait_for_events(nats_url, nats_prefix, 1)).values()
    assert event.tokens == TokenUsage(input=125, cached_input=2048, output=34) and not event.estimated
