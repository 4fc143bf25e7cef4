"""OpenAI SDK `client.responses` → gateway → fake Bedrock Runtime: the Responses request translated to a chat
request and then to Converse, signed; Bedrock's answers, event streams and errors come back as Response objects,
Responses stream events and the SDK's exception classes."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam, ResponseTextConfigParam

from tests.fakes.bedrock_provider import FakeBedrock, error_reply
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.bedrock_plane import ROUTE_NAME, OpenBedrock, bedrock_cell, fake_bedrock, gateway

__all__ = ["fake_bedrock", "gateway"]  # the fixtures

PNG = "iVBORw0KGgo="
SONGS: list[FunctionToolParam] = [
    {
        "type": "function",
        "name": "top_song",
        "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}},
        "strict": False,
    },
    {"type": "function", "name": "current_time", "parameters": {"type": "object", "properties": {}}, "strict": False},
]


def cell(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return bedrock_cell("responses", feature, expect)


def sent(fake: FakeBedrock, number: int = 0) -> Any:
    return json.loads(fake.requests[number].body)


@cell("text")
@cell("system")
@cell("usage")
@cell("usage_cached")
async def test_a_response_is_answered_by_converse_with_cached_usage(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/cache_usage.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.responses.create(model=ROUTE_NAME, input="Notice period?", instructions="Be brief.")
    assert reply.output_text == "The contract's termination clause requires 30 days of written notice."
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (2092, 15)
    assert reply.usage.input_tokens_details.cached_tokens == 2048
    assert sent(fake_bedrock)["system"] == [{"text": "Be brief."}]


@cell("stream_text")
@cell("stream_usage")
async def test_a_converse_stream_comes_back_as_responses_events(gateway: OpenBedrock) -> None:
    async with gateway() as sdks, sdks.openai.responses.stream(model=ROUTE_NAME, input="3 pop songs?") as stream:
        final = await stream.get_final_response()
    assert final.output_text.startswith("Here is a list of 3 pop songs by artists from the United Kingdom")
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 2048


@cell("tools")
@cell("tool_choice")
@cell("parallel_tools")
@cell("tool_no_args")
@cell("stream_tools")
async def test_tool_use_comes_back_as_function_calls_whole_and_streamed(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(
        Reply(200, "converse/parallel_tool_use.json"), Reply(200, "converse-stream/stream_tool_use.json")
    )
    async with gateway() as sdks:
        reply = await sdks.openai.responses.create(
            model=ROUTE_NAME, input="Top songs", tools=SONGS, tool_choice="required"
        )
        async with sdks.openai.responses.stream(model=ROUTE_NAME, input="Top song", tools=SONGS) as stream:
            streamed = await stream.get_final_response()
    calls = [(c.call_id, c.name, json.loads(c.arguments)) for c in reply.output if c.type == "function_call"]
    assert calls == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"}),
        ("tooluse_7XqJ1dXvQ0a2Hn3bGfYtWg", "top_song", {"sign": "WKRP"}),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", {}),
    ]
    streamed_calls = [
        (c.call_id, c.name, json.loads(c.arguments)) for c in streamed.output if c.type == "function_call"
    ]
    assert streamed_calls == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"}),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", {}),
    ]
    assert sent(fake_bedrock)["toolConfig"]["toolChoice"] == {"any": {}}


@cell("structured_output")
@cell("json_mode", expect="error")
async def test_a_json_schema_is_structured_output_and_json_mode_is_refused(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    structured: ResponseTextConfigParam = {"format": {"type": "json_schema", "name": "song", "schema": schema}}
    json_mode: ResponseTextConfigParam = {"format": {"type": "json_object"}}
    async with gateway() as sdks:
        await sdks.openai.responses.create(model=ROUTE_NAME, input="A song", text=structured)
        with pytest.raises(openai.BadRequestError):
            await sdks.openai.responses.create(model=ROUTE_NAME, input="A song", text=json_mode)
    definition = sent(fake_bedrock)["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert definition["name"] == "song" and json.loads(definition["schema"]) == schema
    assert len(fake_bedrock.requests) == 1


@cell("finish_reason")
@cell("sampling_params")
async def test_an_answer_cut_at_max_tokens_is_an_incomplete_response(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/stop_max_tokens.json"))
    async with gateway() as sdks:
        reply = await sdks.openai.responses.create(
            model=ROUTE_NAME, input="Songs", max_output_tokens=16, temperature=0.5, top_p=0.9
        )
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"
    assert sent(fake_bedrock)["inferenceConfig"] == {"maxTokens": 16, "temperature": 0.5, "topP": 0.9}


@cell("image_base64")
@cell("image_url", expect="error")
async def test_inline_images_reach_bedrock_and_remote_ones_are_refused(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    inline: ResponseInputParam = [
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}],
        }
    ]
    remote: ResponseInputParam = [
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}],
        }
    ]
    async with gateway() as sdks:
        await sdks.openai.responses.create(model=ROUTE_NAME, input=inline)
        with pytest.raises(openai.BadRequestError):
            await sdks.openai.responses.create(model=ROUTE_NAME, input=remote)
    assert sent(fake_bedrock)["messages"] == [
        {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": PNG}}}]}
    ]
    assert len(fake_bedrock.requests) == 1


@cell("errors")
async def test_bedrock_errors_reach_the_sdk_with_their_class(gateway: OpenBedrock, fake_bedrock: FakeBedrock) -> None:
    fake_bedrock.enqueue(
        error_reply("ValidationException"), *[error_reply("ThrottlingException", {"retry-after": "0"})] * 6
    )
    async with gateway() as sdks:
        with pytest.raises(openai.BadRequestError) as invalid:
            await sdks.openai.responses.create(model=ROUTE_NAME, input="Songs")
        with pytest.raises(openai.RateLimitError) as throttled:
            await sdks.openai.responses.create(model=ROUTE_NAME, input="Songs")
    assert invalid.value.status_code == 400 and throttled.value.status_code == 429
