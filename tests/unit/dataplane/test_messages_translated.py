"""/v1/messages over a translated stream (dataplane.messages_translated), on both of its paths: an OpenAI target
(the translator reads the upstream chunks itself) and a Gemini target (the generic path: the chat adapter's
stream of OpenAI chunks converted). Either way the stream becomes Anthropic events, the upstream is closed and
the usage recorded once, a failure after the first event becomes an Anthropic `error` event, and a client that
leaves cancels and closes the upstream."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from dataplane.errors import UpstreamTimeoutError
from tests.asgi_client import LeavingClient, http_scope
from tests.unit.dataplane.conftest import GatewayFactory, bearer
from tests.unit.dataplane.doubles import ScriptedStream, ScriptedUpstream

MESSAGES = {"model": "gpt-test", "max_tokens": 16, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
OPENAI_CHUNKS = [
    b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\n',
    b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'
    b"\n\n",
    b"data: [DONE]\n\n",
]
GEMINI_CHUNKS = [
    b'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"responseId":"r1"}\r\n\r\n',
    b'data: {"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"index":0,"finishReason":"STOP"}],'
    b'"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4},"responseId":"r1"}\r\n\r\n',
]
KINDS = pytest.mark.parametrize(("kind", "chunks"), [("openai", OPENAI_CHUNKS), ("gemini", GEMINI_CHUNKS)])


def event_names(body: bytes) -> list[str]:
    return [line.removeprefix("event: ") for line in body.decode().splitlines() if line.startswith("event: ")]


@KINDS
async def test_a_stream_reaches_an_anthropic_client_as_messages_events_with_its_usage(
    gateway_factory: GatewayFactory, kind: str, chunks: list[bytes]
) -> None:
    stream = ScriptedStream(chunks)
    async with gateway_factory(upstream=ScriptedUpstream(stream=stream), provider_kind=kind) as gw:
        response = await gw.client.post("/v1/messages", headers=bearer(gw.key), json=MESSAGES)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    names = event_names(response.content)
    assert names[:2] == ["message_start", "content_block_start"] and "content_block_delta" in names
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert b'"stop_reason":"end_turn"' in response.content
    assert b'"input_tokens":3,"output_tokens":1' in response.content
    assert stream.closed.is_set()


@KINDS
async def test_a_failure_after_the_first_event_ends_with_an_anthropic_error_event(
    gateway_factory: GatewayFactory, capsys: pytest.CaptureFixture[str], kind: str, chunks: list[bytes]
) -> None:
    stream = ScriptedStream(chunks[:1], fail_with=UpstreamTimeoutError())
    async with gateway_factory(upstream=ScriptedUpstream(stream=stream), provider_kind=kind) as gw:
        response = await gw.client.post("/v1/messages", headers=bearer(gw.key), json=MESSAGES)
    assert response.status_code == 200
    names = event_names(response.content)
    assert names[0] == "message_start" and names[-1] == "error"
    last = response.content.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    assert msgspec.json.decode(last.removeprefix(b"data: "))["error"]["type"] == "timeout_error"
    assert stream.closed.is_set()
    assert '"error_code":"upstream_timeout"' in capsys.readouterr().out


@KINDS
async def test_a_failure_before_the_first_chunk_is_still_anthropic_json(
    gateway_factory: GatewayFactory, kind: str, chunks: list[bytes]
) -> None:
    stream = ScriptedStream([], fail_with=UpstreamTimeoutError())
    async with gateway_factory(upstream=ScriptedUpstream(stream=stream), provider_kind=kind) as gw:
        response = await gw.client.post("/v1/messages", headers=bearer(gw.key), json=MESSAGES)
    assert response.status_code == 504 and response.headers["content-type"] == "application/json"
    error = response.json()
    assert (error["type"], error["error"]["type"]) == ("error", "timeout_error") and error["error"]["message"]


@KINDS
async def test_a_client_leaving_a_translated_stream_cancels_and_closes_the_upstream(
    gateway_factory: GatewayFactory, capsys: pytest.CaptureFixture[str], kind: str, chunks: list[bytes]
) -> None:
    stream = ScriptedStream(chunks[:1], hang=True)
    body = msgspec.json.encode(MESSAGES)
    client = LeavingClient(body)
    async with gateway_factory(upstream=ScriptedUpstream(stream=stream), provider_kind=kind) as gw:
        scope = http_scope(f"Bearer {gw.key.token}", body, "/v1/messages")
        answering = asyncio.create_task(gw.app(scope, client.receive, client.send))
        await asyncio.wait_for(client.first_body_sent.wait(), 10)
        client.leave()
        await asyncio.wait_for(answering, 10)
    assert stream.cancelled and stream.closed.is_set()
    out = capsys.readouterr().out
    assert '"status":499' in out and '"error_code":"client_disconnected"' in out
