"""OpenAI SDK `client.responses` → gateway → Vertex AI (Gemini and Claude publishers) and Amazon Bedrock (Converse),
both translated: the Responses request becomes a chat request served by the kind's adapter (service-account token,
SigV4), and the answers, streams, tool calls and errors come back in the Responses API's shapes."""

from __future__ import annotations

import json

import openai
import pytest
from openai.types.responses import FunctionToolParam

from tests.fakes.bedrock_provider import FakeBedrock, error_reply
from tests.fakes.replay_server import Reply
from tests.fakes.vertex_provider import FakeVertex
from tests.integration.dataplane.bedrock_plane import MODEL as BEDROCK_MODEL
from tests.integration.dataplane.bedrock_plane import OpenBedrock, fake_bedrock
from tests.integration.dataplane.bedrock_plane import gateway as bedrock
from tests.integration.dataplane.vertex_plane import (
    CLAUDE,
    GEMINI,
    OpenOpenAI,
    fake_vertex,
    open_vertex,
    token_endpoint,
)
from tests.integration.dataplane.vertex_plane import gateway as vertex
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["bedrock", "fake_bedrock", "fake_vertex", "open_vertex", "token_endpoint", "vertex"]  # fixtures

WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_current_weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    "strict": False,
}
TIME: FunctionToolParam = {"type": "function", "name": "get_current_time", "parameters": None, "strict": False}
SONGS: list[FunctionToolParam] = [
    {"type": "function", "name": "top_song", "parameters": {"type": "object"}, "strict": False},
    {"type": "function", "name": "current_time", "parameters": None, "strict": False},
]


def cell(provider: str, feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider=provider, ingress="responses", feature=feature, expect=expect)


@cell("vertex_ai", "text")
@cell("vertex_ai", "system")
@cell("vertex_ai", "usage")
@cell("vertex_ai", "usage_reasoning")
@cell("vertex_ai", "sampling_params")
@pytest.mark.parametrize(("model", "starts"), [(GEMINI, "The sky looks blue"), (CLAUDE, "")], ids=["gemini", "claude"])
async def test_vertex_answers_responses_for_both_publishers(
    vertex: OpenOpenAI, fake_vertex: FakeVertex, model: str, starts: str
) -> None:
    async with vertex(model) as sdk:
        reply = await sdk.responses.create(
            model=ROUTE_NAME,
            input="Why is the sky blue?",
            instructions="Be brief.",
            max_output_tokens=64,
            temperature=0.5,
        )
    assert reply.output_text and reply.output_text.startswith(starts) and reply.status == "completed"
    assert reply.usage is not None and reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    if model == GEMINI:
        assert reply.usage.output_tokens_details.reasoning_tokens == 24
        body = json.loads(fake_vertex.requests[0].body)
        assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert (body["generationConfig"]["maxOutputTokens"], body["generationConfig"]["temperature"]) == (64, 0.5)


@cell("vertex_ai", "stream_text")
@cell("vertex_ai", "stream_usage")
@pytest.mark.parametrize(
    ("model", "text", "total"),
    [(GEMINI, "The sky is blue because of Rayleigh scattering.", 16), (CLAUDE, "Hello!", 40)],
    ids=["gemini", "claude"],
)
async def test_vertex_streams_become_responses_events(vertex: OpenOpenAI, model: str, text: str, total: int) -> None:
    async with vertex(model) as sdk, sdk.responses.stream(model=ROUTE_NAME, input="Why is the sky blue?") as stream:
        final = await stream.get_final_response()
    assert final.output_text == text
    assert final.usage is not None and final.usage.total_tokens == total


@cell("vertex_ai", "tools")
@cell("vertex_ai", "parallel_tools")
@cell("vertex_ai", "stream_tools")
@pytest.mark.parametrize(
    ("model", "whole", "streamed", "names"),
    [
        (
            GEMINI,
            "generate_content/function_call.json",
            "stream_generate_content/stream_function_call.sse",
            ["get_current_weather", "get_current_time"],
        ),
        (CLAUDE, "raw_predict/tool_use.json", "stream_raw_predict/stream_tool_use.sse", ["get_weather", "get_time"]),
    ],
    ids=["gemini", "claude"],
)
async def test_vertex_tool_calls_whole_and_streamed_become_function_call_items(
    vertex: OpenOpenAI, fake_vertex: FakeVertex, model: str, whole: str, streamed: str, names: list[str]
) -> None:
    fake_vertex.enqueue(Reply(200, whole), Reply(200, streamed))
    async with vertex(model) as sdk:
        reply = await sdk.responses.create(model=ROUTE_NAME, input="Weather and time?", tools=[WEATHER, TIME])
        async with sdk.responses.stream(model=ROUTE_NAME, input="Weather and time?", tools=[WEATHER, TIME]) as stream:
            final = await stream.get_final_response()
    for answer in (reply, final):
        calls = [item for item in answer.output if item.type == "function_call"]
        assert [c.name for c in calls] == names
        assert all(isinstance(json.loads(c.arguments), dict) for c in calls)


@cell("vertex_ai", "errors", "error")
async def test_vertex_rate_limits_reach_the_sdk_as_rate_limit_errors(
    vertex: OpenOpenAI, fake_vertex: FakeVertex
) -> None:
    fake_vertex.enqueue(*[Reply(429, "generate_content/resource_exhausted.json", {"retry-after": "0"})] * 6)
    async with vertex(GEMINI) as sdk:
        with pytest.raises(openai.RateLimitError) as raised:
            await sdk.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.code == "RESOURCE_EXHAUSTED"


@cell("bedrock", "text")
@cell("bedrock", "system")
@cell("bedrock", "sampling_params")
@cell("bedrock", "usage")
async def test_bedrock_answers_a_response_through_a_signed_converse_call(
    bedrock: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    async with bedrock() as sdks:
        reply = await sdks.openai.responses.create(
            model=ROUTE_NAME,
            input="Create a list of 3 pop songs.",
            instructions="You are a DJ.",
            max_output_tokens=256,
            temperature=0.5,
            top_p=0.9,
        )
    assert reply.output_text.startswith("Here is a list of 3 pop songs")
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (125, 60)
    [seen] = fake_bedrock.requests
    assert seen.path == f"/model/{BEDROCK_MODEL}/converse"
    assert json.loads(seen.body) == {
        "messages": [{"role": "user", "content": [{"text": "Create a list of 3 pop songs."}]}],
        "system": [{"text": "You are a DJ."}],
        "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9},
    }


@cell("bedrock", "stream_text")
@cell("bedrock", "stream_usage")
@cell("bedrock", "usage_cached")
async def test_a_converse_stream_becomes_responses_events_with_cached_usage(bedrock: OpenBedrock) -> None:
    async with bedrock() as sdks, sdks.openai.responses.stream(model=ROUTE_NAME, input="Pop songs?") as stream:
        final = await stream.get_final_response()
    assert final.output_text.startswith("Here is a list of 3 pop songs")
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (2173, 34)
    assert final.usage.input_tokens_details.cached_tokens == 2048


@cell("bedrock", "tools")
@cell("bedrock", "parallel_tools")
@cell("bedrock", "tool_no_args")
@cell("bedrock", "stream_tools")
async def test_bedrock_tool_uses_whole_and_streamed_become_function_call_items(
    bedrock: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(
        Reply(200, "converse/parallel_tool_use.json"), Reply(200, "converse-stream/stream_tool_use.json")
    )
    async with bedrock() as sdks:
        reply = await sdks.openai.responses.create(model=ROUTE_NAME, input="Top songs?", tools=SONGS)
        async with sdks.openai.responses.stream(model=ROUTE_NAME, input="Top songs?", tools=SONGS) as stream:
            final = await stream.get_final_response()
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("top_song", {"sign": "WZPZ"}),
        ("top_song", {"sign": "WKRP"}),
        ("current_time", {}),
    ]
    streamed = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in streamed] == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"}),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", {}),
    ]
    assert final.output_text == "Let me look that up."


@cell("bedrock", "errors", "error")
async def test_bedrock_throttling_reaches_the_sdk_as_a_rate_limit_error(
    bedrock: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(*[error_reply("ThrottlingException", {"retry-after": "0"})] * 6)
    async with bedrock() as sdks:
        with pytest.raises(openai.RateLimitError) as raised:
            await sdks.openai.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.code == "ThrottlingException"
