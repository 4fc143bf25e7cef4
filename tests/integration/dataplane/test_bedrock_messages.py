"""Anthropic SDK → gateway (/v1/messages) → fake Bedrock Runtime: the Messages request translated to an OpenAI
chat request and then to Converse, signed; Bedrock's answers, event streams and errors translated back to what the
Anthropic SDK returns and raises."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam

from tests.fakes.bedrock_provider import FakeBedrock, error_reply
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.bedrock_plane import (
    MODEL,
    ROUTE_NAME,
    OpenBedrock,
    bedrock_cell,
    fake_bedrock,
    gateway,
)

__all__ = ["fake_bedrock", "gateway"]  # the fixtures

SYSTEM = "You are a DJ."
PNG = "iVBORw0KGgo="
HELLO: list[MessageParam] = [{"role": "user", "content": "Create a list of 3 pop songs."}]
SONGS: list[ToolParam] = [
    {
        "name": "top_song",
        "description": "Get the most popular song played on a radio station.",
        "input_schema": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]},
    },
    {"name": "current_time", "input_schema": {"type": "object", "properties": {}}},
]


def cell(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return bedrock_cell("messages", feature, expect)


def sent(fake: FakeBedrock, number: int = 0) -> Any:
    return json.loads(fake.requests[number].body)


@cell("text")
@cell("system")
@cell("sampling_params")
@cell("stop_sequences")
@cell("usage")
@cell("finish_reason")
async def test_a_message_is_answered_by_converse_with_usage(gateway: OpenBedrock, fake_bedrock: FakeBedrock) -> None:
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(
            model=ROUTE_NAME,
            max_tokens=256,
            system=SYSTEM,
            messages=HELLO,
            stop_sequences=["END"],
            extra_body={"temperature": 0.5, "top_p": 0.9},  # Messages fields this SDK version no longer types
        )
    [block] = reply.content
    assert block.type == "text" and block.text.startswith("Here is a list of 3 pop songs")
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (125, 60)
    assert fake_bedrock.requests[0].path == f"/model/{MODEL}/converse" and fake_bedrock.refused == []
    assert sent(fake_bedrock) == {
        "messages": [{"role": "user", "content": [{"text": "Create a list of 3 pop songs."}]}],
        "system": [{"text": SYSTEM}],
        "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    }


@cell("multi_turn")
@cell("image_base64")
@cell("tool_result_image", expect="error")
async def test_a_conversation_with_images_and_tool_results_becomes_converse_turns(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    picture: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    call: Any = {"type": "tool_use", "id": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}
    messages: list[MessageParam] = [
        {"role": "user", "content": [{"type": "text", "text": "Which station is this?"}, picture]},
        {"role": "assistant", "content": "WZPZ."},
        {"role": "user", "content": "Its top song?"},
        {"role": "assistant", "content": [call]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "tooluse_1", "content": "Elemental Hotel"}],
        },
    ]
    with_image: list[MessageParam] = [
        *messages[:-1],
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tooluse_1", "content": [picture]}]},
    ]
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=messages, tools=SONGS)
        with pytest.raises(anthropic.BadRequestError) as refused:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=with_image, tools=SONGS)
    assert reply.content[0].type == "text"
    image = {"image": {"format": "png", "source": {"bytes": PNG}}}
    assert sent(fake_bedrock)["messages"] == [
        {"role": "user", "content": [{"text": "Which station is this?"}, image]},
        {"role": "assistant", "content": [{"text": "WZPZ."}]},
        {"role": "user", "content": [{"text": "Its top song?"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}}],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "Elemental Hotel"}]}}],
        },
    ]
    # the Messages → OpenAI chat translation takes only text in tool results (Bedrock itself would take images)
    assert refused.value.status_code == 400 and len(fake_bedrock.requests) == 1


@cell("stream_text")
async def test_a_converse_stream_becomes_messages_events(gateway: OpenBedrock, fake_bedrock: FakeBedrock) -> None:
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(model=ROUTE_NAME, max_tokens=256, messages=HELLO) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert (
        text
        == 'Here is a list of 3 pop songs by artists from the United Kingdom: "As It Was", "Easy On Me" and "Shivers".'
    )
    assert final.stop_reason == "end_turn"
    assert fake_bedrock.requests[0].path == f"/model/{MODEL}/converse-stream"


@cell("tools")
@cell("parallel_tools")
@cell("tool_no_args")
async def test_tool_use_comes_back_as_tool_use_blocks(gateway: OpenBedrock, fake_bedrock: FakeBedrock) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/parallel_tool_use.json"))
    async with gateway() as sdks:
        reply = await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=256, messages=HELLO, tools=SONGS)
    uses = [(block.id, block.name, block.input) for block in reply.content if block.type == "tool_use"]
    assert uses == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"}),
        ("tooluse_7XqJ1dXvQ0a2Hn3bGfYtWg", "top_song", {"sign": "WKRP"}),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", {}),
    ]
    assert reply.stop_reason == "tool_use"
    assert [tool["toolSpec"]["name"] for tool in sent(fake_bedrock)["toolConfig"]["tools"]] == [
        "top_song",
        "current_time",
    ]


@cell("stream_tools")
async def test_streamed_tool_use_is_assembled_by_the_anthropic_sdk(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse-stream/stream_tool_use.json"))
    async with (
        gateway() as sdks,
        sdks.anthropic.messages.stream(model=ROUTE_NAME, max_tokens=256, messages=HELLO, tools=SONGS) as stream,
    ):
        final = await stream.get_final_message()
    uses = [(block.id, block.name, block.input) for block in final.content if block.type == "tool_use"]
    assert uses == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"}),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", {}),
    ]
    assert final.stop_reason == "tool_use"


@cell("errors")
@pytest.mark.parametrize(
    ("error_type", "exception"),
    [
        ("ValidationException", anthropic.BadRequestError),
        ("ThrottlingException", anthropic.RateLimitError),
        ("ServiceUnavailableException", anthropic.InternalServerError),
    ],
)
async def test_bedrock_errors_reach_the_anthropic_sdk_with_their_status(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock, error_type: str, exception: type[anthropic.APIStatusError]
) -> None:
    reply = error_reply(error_type, {"retry-after": "0"})
    fake_bedrock.enqueue(*[reply] * 6)  # enough for the gateway's own retries of retryable statuses
    async with gateway() as sdks:
        with pytest.raises(exception) as caught:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=HELLO)
    assert caught.value.status_code == reply.status


@cell("image_url", expect="error")
async def test_an_image_by_url_is_refused_before_reaching_bedrock(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    remote: list[MessageParam] = [
        {
            "role": "user",
            "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/station.png"}}],
        }
    ]
    async with gateway() as sdks:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await sdks.anthropic.messages.create(model=ROUTE_NAME, max_tokens=64, messages=remote)
    assert "base64" in refused.value.message
    assert fake_bedrock.requests == []
