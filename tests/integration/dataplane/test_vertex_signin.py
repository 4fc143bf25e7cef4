"""How the gateway signs in to Vertex AI, end to end (OpenAI SDK → gateway → fake Vertex, with the fake Google
token endpoint checking each JWT assertion's signature): one token for many calls, a new one before the old one
expires (the endpoint hands out an already-near-expiry token: nothing sleeps), a token Vertex refuses replaced
once, and a key the endpoint refuses never reaching Vertex."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.vertex_provider import CLIENT_EMAIL, FakeGoogleTokenEndpoint, FakeVertex, ServiceAccount
from tests.integration.dataplane.vertex_plane import (
    CLAUDE,
    GEMINI,
    OpenOpenAI,
    fake_vertex,
    gateway,
    open_vertex,
    token_endpoint,
)
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["fake_vertex", "gateway", "open_vertex", "token_endpoint"]  # fixtures used by the tests below

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Why is the sky blue?"}]


async def test_one_token_serves_many_calls_whole_and_streamed(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    async with gateway(CLAUDE) as sdk:
        for _ in range(3):
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
        stream = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        async for _ in stream:
            pass
    [grant] = token_endpoint.requests
    assert grant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert {request.headers["authorization"] for request in fake_vertex.requests} == {
        f"Bearer {token_endpoint.issued[0]}"
    }
    assert len(fake_vertex.requests) == 4


async def test_a_token_close_to_expiry_is_replaced_before_the_next_call(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    token_endpoint.expires_in = 60  # inside the gateway's refresh margin: stale as soon as it is handed out
    async with gateway(GEMINI) as sdk:
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
        token_endpoint.expires_in = 3599
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    first, second = token_endpoint.issued
    assert [request.headers["authorization"] for request in fake_vertex.requests] == [
        f"Bearer {first}",
        f"Bearer {second}",
        f"Bearer {second}",
    ]


async def test_a_token_vertex_refuses_is_dropped_and_the_call_made_with_a_fresh_one(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    async with gateway(GEMINI) as sdk:
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
        fake_vertex.revoked.add(token_endpoint.issued[0])
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert reply.choices[0].finish_reason == "stop"
    first, second = token_endpoint.issued
    assert [request.headers["authorization"] for request in fake_vertex.requests] == [
        f"Bearer {first}",
        f"Bearer {first}",
        f"Bearer {second}",
    ]


async def test_a_key_the_token_endpoint_refuses_is_a_502_that_never_reaches_vertex(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    impostor = ServiceAccount(token_endpoint.token_uri)  # same email and token_uri, another key: a bad signature
    async with gateway(GEMINI, impostor.json) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_error"
    assert CLIENT_EMAIL not in caught.value.message and "PRIVATE KEY" not in caught.value.message
    assert len(token_endpoint.requests) == 1 and token_endpoint.issued == []
    assert fake_vertex.requests == []
