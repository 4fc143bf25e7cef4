from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse, load_fixture, without_usage_chunk
from tests.integration.dataplane.conftest import running, wait_for_version
from tests.services import free_port
from tests.snapshot_factory import ClientKey, make_key, make_snapshot, publish, sign_snapshot

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello!"}]}
STREAM_CHAT = {**CHAT, "stream": True}


@asynccontextmanager
async def gateway_to(
    base_url: str,
    *,
    settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    api_key: str = "sk-fake-upstream-key",
    timeout_seconds: float = 10.0,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    key: ClientKey = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key,
        version=1,
        keys=[key.spec],
        provider_kind="openai_compatible",
        base_url=base_url,
        provider_api_key=api_key,
        timeout_seconds=timeout_seconds,
    )
    await publish(nats_url, nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    async with running(settings) as client:
        await wait_for_version(client, 1)
        yield client, {"authorization": f"Bearer {key.token}"}


async def test_stream_is_relayed_byte_for_byte(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> None:
    async with gateway_to(
        fake_openai.base_url,
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as (client, auth):
        response = await client.post("/v1/chat/completions", headers=auth, json=STREAM_CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == without_usage_chunk(load_fixture("stream.sse"))  # the client did not ask for usage
    [seen] = fake_openai.requests
    assert seen.headers["accept"] == "text/event-stream"
    assert msgspec.json.decode(seen.body)["stream"] is True


async def test_upstream_refusing_the_provider_key_is_502(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> None:
    async with gateway_to(
        fake_openai.base_url,
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
        api_key="sk-wrong-key",
    ) as (client, auth):
        plain = await client.post("/v1/chat/completions", headers=auth, json=CHAT)
        streamed = await client.post("/v1/chat/completions", headers=auth, json=STREAM_CHAT)
    for response in (plain, streamed):
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_auth_error"
        assert "sk-wrong" not in response.text


async def test_upstream_errors_are_relayed_with_status_body_and_retry_after(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> None:
    # one target: a Retry-After longer than the deadline (10 s) is relayed at once; retryable errors are relayed once
    # the target's attempt budget (3) is spent
    fake_openai.enqueue(
        ScriptedResponse(status=429, fixture="rate_limited.json", headers={"retry-after": "30"}),
        *[ScriptedResponse(status=500, fixture="server_error.json")] * 3,
        ScriptedResponse(status=429, fixture="rate_limited.json"),
    )
    async with gateway_to(
        fake_openai.base_url,
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as (client, auth):
        limited = await client.post("/v1/chat/completions", headers=auth, json=CHAT)
        failed = await client.post("/v1/chat/completions", headers=auth, json=CHAT)
        limited_stream = await client.post("/v1/chat/completions", headers=auth, json=STREAM_CHAT)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "30"
    assert limited.headers["x-waypost-attempts"] == "1"
    assert limited.json() == msgspec.json.decode(load_fixture("rate_limited.json"))
    assert "x-should-retry" not in limited.headers
    assert failed.status_code == 500
    assert failed.headers["x-waypost-attempts"] == "3"
    assert failed.json() == msgspec.json.decode(load_fixture("server_error.json"))
    assert limited_stream.status_code == 429
    assert limited_stream.headers["content-type"] == "application/json"
    # that was the target's fifth failure in a row: its circuit opened, so nothing retried it
    assert limited_stream.headers["x-waypost-attempts"] == "1"
    assert len(fake_openai.requests) == 5


async def test_unreachable_upstream_is_502(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    async with gateway_to(
        f"http://127.0.0.1:{free_port()}/v1",
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as (client, auth):
        plain = await client.post("/v1/chat/completions", headers=auth, json=CHAT)
        streamed = await client.post("/v1/chat/completions", headers=auth, json=STREAM_CHAT)
    for response in (plain, streamed):
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unavailable"


@asynccontextmanager
async def stalling_upstream(first_bytes: bytes = b"") -> AsyncIterator[str]:
    """A loopback HTTP server that reads the request, writes `first_bytes`, then never says anything again."""
    handlers: set[asyncio.Task[None]] = set()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        await reader.read(65536)
        writer.write(first_bytes)
        await writer.drain()
        await asyncio.Event().wait()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()


async def test_silent_upstream_is_504(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    async with (
        stalling_upstream() as base_url,
        gateway_to(
            base_url,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            timeout_seconds=0.3,
        ) as (client, auth),
    ):
        plain = await client.post("/v1/chat/completions", headers=auth, json=CHAT)
        streamed = await client.post("/v1/chat/completions", headers=auth, json=STREAM_CHAT)
    for response in (plain, streamed):
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "upstream_timeout"


FIRST_EVENT = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\n'
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    + f"{len(FIRST_EVENT):x}\r\n".encode()
    + FIRST_EVENT
    + b"\r\n"
)


async def test_stream_stalling_after_first_event_ends_with_an_sse_error(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    async with (
        stalling_upstream(STREAM_HEAD) as base_url,
        gateway_to(
            base_url,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            timeout_seconds=0.3,
        ) as (client, auth),
    ):
        response = await client.post("/v1/chat/completions", headers=auth, json=STREAM_CHAT)
    assert response.status_code == 200
    assert response.content.startswith(FIRST_EVENT)
    error_event = response.content[len(FIRST_EVENT) :]
    assert error_event.startswith(b"data: ") and error_event.endswith(b"\n\n")
    assert msgspec.json.decode(error_event[len(b"data: ") : -2])["error"]["code"] == "upstream_timeout"
