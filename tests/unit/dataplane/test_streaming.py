from __future__ import annotations

import asyncio

import msgspec
import pytest

from dataplane.errors import UpstreamTimeoutError, UpstreamUnavailableError
from tests.asgi_client import LeavingClient, http_scope
from tests.unit.dataplane.conftest import GatewayFactory, bearer
from tests.unit.dataplane.doubles import ScriptedStream, ScriptedUpstream

STREAM_CHAT = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
EVENTS = [b'data: {"id":"c1","choices":[]}\n\n', b'data: {"id":"c2","choices":[]}\n\n', b"data: [DONE]\n\n"]


async def _stream_through(gateway_factory: GatewayFactory, upstream: ScriptedUpstream) -> tuple[int, bytes, str]:
    async with gateway_factory(upstream=upstream, provider_kind="openai", provider_api_key="sk-up") as gw:
        response = await gw.client.post("/v1/chat/completions", headers=bearer(gw.key), json=STREAM_CHAT)
    return response.status_code, response.content, response.headers["content-type"]


async def test_upstream_events_are_relayed_byte_for_byte(gateway_factory: GatewayFactory) -> None:
    stream = ScriptedStream(EVENTS)
    upstream = ScriptedUpstream(stream=stream)
    status, body, content_type = await _stream_through(gateway_factory, upstream)
    assert status == 200
    assert content_type.startswith("text/event-stream")
    assert body == b"".join(EVENTS)
    assert upstream.requests[0].headers["accept"] == "text/event-stream"
    assert stream.closed.is_set()


async def test_upstream_error_status_before_first_byte_is_relayed_as_json(gateway_factory: GatewayFactory) -> None:
    error_body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}'
    stream = ScriptedStream([], status=429, error_body=error_body)
    status, body, content_type = await _stream_through(gateway_factory, ScriptedUpstream(stream=stream))
    assert status == 429
    assert content_type == "application/json"
    assert msgspec.json.decode(body) == msgspec.json.decode(error_body)
    assert stream.closed.is_set()


async def test_upstream_auth_refusal_becomes_502(gateway_factory: GatewayFactory) -> None:
    error_body = b'{"error": {"message": "Incorrect API key provided: sk-up", "type": "invalid_request_error"}}'
    stream = ScriptedStream([], status=401, error_body=error_body)
    status, body, _ = await _stream_through(gateway_factory, ScriptedUpstream(stream=stream))
    assert status == 502
    assert msgspec.json.decode(body)["error"]["code"] == "upstream_auth_error"
    assert b"sk-up" not in body


async def test_connect_failure_is_502_json(gateway_factory: GatewayFactory) -> None:
    status, body, _ = await _stream_through(gateway_factory, ScriptedUpstream(error=UpstreamUnavailableError()))
    assert status == 502
    assert msgspec.json.decode(body)["error"]["code"] == "upstream_unavailable"


async def test_failure_before_the_first_event_is_still_a_json_error(gateway_factory: GatewayFactory) -> None:
    stream = ScriptedStream([], fail_with=UpstreamTimeoutError())
    status, body, content_type = await _stream_through(gateway_factory, ScriptedUpstream(stream=stream))
    assert status == 504
    assert content_type == "application/json"
    assert msgspec.json.decode(body)["error"]["code"] == "upstream_timeout"


async def test_failure_after_the_first_event_ends_with_an_sse_error_event(
    gateway_factory: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = ScriptedStream(EVENTS[:1], fail_with=UpstreamTimeoutError())
    status, body, _ = await _stream_through(gateway_factory, ScriptedUpstream(stream=stream))
    assert status == 200
    assert body.startswith(EVENTS[0])
    error_event = body[len(EVENTS[0]) :]
    assert error_event.startswith(b"data: ") and error_event.endswith(b"\n\n")
    assert msgspec.json.decode(error_event[len(b"data: ") : -2])["error"]["code"] == "upstream_timeout"
    assert stream.closed.is_set()
    assert '"error_code":"upstream_timeout"' in capsys.readouterr().out


async def test_client_disconnect_cancels_and_closes_the_upstream_stream(
    gateway_factory: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = ScriptedStream(EVENTS[:1], hang=True)
    body = msgspec.json.encode(STREAM_CHAT)
    client = LeavingClient(body)

    async with gateway_factory(upstream=ScriptedUpstream(stream=stream), provider_kind="openai") as gw:
        scope = http_scope(f"Bearer {gw.key.token}", body)
        answering = asyncio.create_task(gw.app(scope, client.receive, client.send))
        await asyncio.wait_for(client.first_body_sent.wait(), 10)
        client.leave()
        await asyncio.wait_for(answering, 10)
    assert stream.cancelled
    assert stream.closed.is_set()
    out = capsys.readouterr().out
    assert '"status":499' in out
    assert '"error_code":"client_disconnected"' in out
