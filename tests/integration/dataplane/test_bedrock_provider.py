"""OpenAI SDK → gateway → fake Bedrock Runtime: every request SigV4-signed (the fake recomputes the signature),
translated to Converse / ConverseStream, the answers (JSON and event streams) translated back, Bedrock's errors
mapped to OpenAI errors the SDK raises with the right class."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from shared.usage import TokenUsage
from tests.fakes.bedrock_provider import ACCESS_KEY_ID, FakeBedrock, error_reply
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.bedrock_plane import (
    MODEL,
    ROUTE_NAME,
    OpenBedrock,
    bedrock_cell,
    fake_bedrock,
    gateway,
)
from tests.integration.dataplane.test_usage_events import wait_for_events

__all__ = ["fake_bedrock", "gateway"]  # the fixtures

HELLO: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a DJ."},
    {"role": "user", "content": "Create a list of 3 pop songs."},
]
SONGS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "top_song",
            "description": "Get the most popular song played on a radio station.",
            "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]},
        },
    },
    {"type": "function", "function": {"name": "current_time"}},
]
PNG = "iVBORw0KGgo="


def cell(feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return bedrock_cell("chat", feature, expect)


def sent(fake: FakeBedrock, number: int = 0) -> Any:
    return json.loads(fake.requests[number].body)


@cell("text")
@cell("system")
@cell("sampling_params")
@cell("stop_sequences")
@cell("usage")
async def test_a_signed_converse_call_answers_text_with_usage(gateway: OpenBedrock, fake_bedrock: FakeBedrock) -> None:
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, max_tokens=256, temperature=0.5, top_p=0.9, stop=["END"]
        )
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("Here is a list of 3 pop songs")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (125, 60)
    [seen] = fake_bedrock.requests
    assert seen.path == f"/model/{MODEL}/converse" and fake_bedrock.refused == []
    assert seen.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert json.loads(seen.body) == {
        "messages": [{"role": "user", "content": [{"text": "Create a list of 3 pop songs."}]}],
        "system": [{"text": "You are a DJ."}],
        "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    }


@cell("multi_turn")
@cell("image_base64")
@cell("tool_result_image")
async def test_conversations_with_images_and_tool_results_are_sent_as_converse_turns(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    call = {"id": "tooluse_1", "type": "function", "function": {"name": "top_song", "arguments": '{"sign":"WZPZ"}'}}
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "Which station is this?"}, picture]},
        {"role": "assistant", "content": "WZPZ."},
        {"role": "user", "content": "Its top song?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": [picture]},
    ]
    async with gateway() as sdks:
        reply = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=messages, tools=SONGS)
    assert reply.choices[0].message.content is not None
    image = {"image": {"format": "png", "source": {"bytes": PNG}}}
    assert sent(fake_bedrock)["messages"] == [
        {"role": "user", "content": [{"text": "Which station is this?"}, image]},
        {"role": "assistant", "content": [{"text": "WZPZ."}]},
        {"role": "user", "content": [{"text": "Its top song?"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}}],
        },
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [image]}}]},
    ]


@cell("tools")
@cell("tool_choice")
@cell("parallel_tools")
@cell("tool_no_args")
async def test_tool_calls_come_back_with_bedrock_ids_including_parallel_and_argumentless(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/tool_use.json"), Reply(200, "converse/parallel_tool_use.json"))
    named: Any = {"type": "function", "function": {"name": "top_song"}}
    async with gateway() as sdks:
        single = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, tools=SONGS, tool_choice=named
        )
        parallel = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=SONGS)
    [call] = [c for c in single.choices[0].message.tool_calls or [] if c.type == "function"]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
        "top_song",
        {"sign": "WZPZ"},
    )
    assert single.choices[0].finish_reason == "tool_calls"
    calls = [c for c in parallel.choices[0].message.tool_calls or [] if c.type == "function"]
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("top_song", {"sign": "WZPZ"}),
        ("top_song", {"sign": "WKRP"}),
        ("current_time", {}),
    ]
    assert len({c.id for c in calls}) == 3
    tool_config = sent(fake_bedrock)["toolConfig"]
    assert tool_config["toolChoice"] == {"tool": {"name": "top_song"}}
    assert [tool["toolSpec"]["name"] for tool in tool_config["tools"]] == ["top_song", "current_time"]
    assert tool_config["tools"][1]["toolSpec"]["inputSchema"] == {"json": {"type": "object", "properties": {}}}


@cell("stream_text")
@cell("stream_usage")
async def test_a_converse_stream_arrives_as_chunks_with_finish_reason_and_cached_usage(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    async with gateway() as sdks:
        stream = await sdks.openai.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert (
        text
        == 'Here is a list of 3 pop songs by artists from the United Kingdom: "As It Was", "Easy On Me" and "Shivers".'
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (2173, 34)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 2048
    assert fake_bedrock.requests[0].path == f"/model/{MODEL}/converse-stream"
    assert fake_bedrock.requests[0].headers["accept"] == "application/vnd.amazon.eventstream"


@cell("stream_tools")
@cell("tool_no_args")
async def test_streamed_tool_calls_are_assembled_by_the_sdk(gateway: OpenBedrock, fake_bedrock: FakeBedrock) -> None:
    fake_bedrock.enqueue(Reply(200, "converse-stream/stream_tool_use.json"))
    async with (
        gateway() as sdks,
        sdks.openai.chat.completions.stream(model=ROUTE_NAME, messages=HELLO, tools=SONGS) as stream,
    ):
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.message.content == "Let me look that up." and choice.finish_reason == "tool_calls"
    calls = [c for c in choice.message.tool_calls or [] if c.type == "function"]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"}),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", {}),
    ]


@cell("usage_cached")
async def test_usage_events_carry_cache_reads_and_writes_or_an_estimate(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock, nats_url: str, nats_prefix: str
) -> None:
    fake_bedrock.enqueue(Reply(200, "converse/cache_usage.json"), Reply(200, "converse/no_usage.json"))
    async with gateway() as sdks:
        cached = await sdks.openai.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
        unreported = await sdks.openai.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
    usage = cached.parse().usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2092, 15, 2107)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 2048
    events = await wait_for_events(nats_url, nats_prefix, 2)
    cached_event = events[cached.headers["x-request-id"]]
    assert cached_event.tokens == TokenUsage(input=12, cached_input=2048, cache_write=32, output=15)
    assert cached_event.provider_kind == "bedrock" and not cached_event.estimated
    estimate = events[unreported.headers["x-request-id"]]
    assert estimate.estimated and estimate.tokens.input > 0 and estimate.tokens.output > 0


@cell("finish_reason")
@pytest.mark.parametrize(
    ("fixture", "finish", "original"),
    [
        ("converse/stop_max_tokens.json", "length", "max_tokens"),
        ("converse/stop_stop_sequence.json", "stop", "stop_sequence"),
        ("converse/stop_guardrail_intervened.json", "content_filter", "guardrail_intervened"),
        ("converse-stream/stream_max_tokens.json", "length", "max_tokens"),
    ],
)
async def test_stop_reasons_map_to_finish_reasons_keeping_bedrocks_own(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock, fixture: str, finish: str, original: str
) -> None:
    fake_bedrock.enqueue(Reply(200, fixture))
    async with gateway() as sdks:
        if fixture.startswith("converse-stream/"):
            stream = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO, stream=True)
            chunks = [chunk async for chunk in stream]
            finishes = [(c.choices[0].finish_reason, c.choices[0].model_extra) for c in chunks if c.choices]
        else:
            reply = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
            finishes = [(c.finish_reason, c.model_extra) for c in reply.choices]
    [(reason, extra)] = [finish for finish in finishes if finish[0]]
    assert reason == finish
    assert (extra or {})["provider_finish_reason"] == original


@cell("errors")
@pytest.mark.parametrize(
    ("error_type", "exception"),
    [
        ("ValidationException", openai.BadRequestError),
        ("ResourceNotFoundException", openai.NotFoundError),
        ("ThrottlingException", openai.RateLimitError),
        ("ModelTimeoutException", openai.APIStatusError),
        ("InternalServerException", openai.InternalServerError),
        ("ServiceUnavailableException", openai.InternalServerError),
    ],
)
async def test_bedrock_errors_reach_the_sdk_as_openai_errors(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock, error_type: str, exception: type[openai.APIStatusError]
) -> None:
    reply = error_reply(error_type, {"retry-after": "0"})
    fake_bedrock.enqueue(*[reply] * 6)  # enough for the gateway's own retries of retryable statuses
    async with gateway() as sdks:
        with pytest.raises(exception) as caught:
            await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == reply.status and caught.value.code == error_type
    body: Any = caught.value.body
    assert body["message"] == json.loads(fake_bedrock.fixture(reply.fixture))["message"]


@cell("errors")
async def test_stream_exceptions_are_errors_before_and_after_the_first_chunk(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    fake_bedrock.enqueue(
        Reply(200, "converse-stream/stream_exception_first.json"), Reply(200, "converse-stream/stream_throttled.json")
    )
    async with gateway() as sdks:
        with pytest.raises(openai.BadRequestError) as before:
            await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        stream = await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        received = []
        with pytest.raises(openai.APIError) as after:
            async for chunk in stream:
                received.append(chunk)
    assert before.value.status_code == 400 and before.value.code == "ValidationException"
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Here is a list"
    assert after.value.code == "ThrottlingException"


@cell("image_url", expect="error")
@cell("json_mode", expect="error")
async def test_remote_image_urls_and_json_mode_are_refused_before_reaching_bedrock(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    remote: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/station.png"}}]}
    ]
    async with gateway() as sdks:
        with pytest.raises(openai.BadRequestError) as image:
            await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=remote)
        with pytest.raises(openai.BadRequestError) as json_mode:
            await sdks.openai.chat.completions.create(
                model=ROUTE_NAME, messages=HELLO, response_format={"type": "json_object"}
            )
    assert image.value.param == "messages[0].content[0]" and "base64" in image.value.message
    assert json_mode.value.param == "response_format.type"
    assert fake_bedrock.requests == []  # nothing unsupported was sent, nothing was silently dropped


@cell("structured_output")
async def test_a_json_schema_response_format_is_bedrock_structured_output(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "song", "schema": schema}}
    async with gateway() as sdks:
        await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO, response_format=response_format)
    structure = sent(fake_bedrock)["outputConfig"]["textFormat"]
    assert structure["type"] == "json_schema" and structure["structure"]["jsonSchema"]["name"] == "song"
    assert json.loads(structure["structure"]["jsonSchema"]["schema"]) == schema


@cell("errors")
async def test_a_wrong_aws_secret_is_refused_by_bedrock_and_is_the_gateways_502(
    gateway: OpenBedrock, fake_bedrock: FakeBedrock
) -> None:
    async with gateway(secret_access_key="not-the-secret") as sdks:
        with pytest.raises(openai.APIStatusError) as refused:
            await sdks.openai.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert refused.value.status_code == 502 and refused.value.code == "upstream_auth_error"
    assert fake_bedrock.refused == ["InvalidSignatureException"]
    assert "not-the-secret" not in str(refused.value.body)
