"""Retries and fallbacks across a route's targets, each a scripted upstream on loopback, with the route published
over NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import msgspec
import pytest

from dataplane.runtime import Resilience
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import load_fixture, split_sse_events, without_usage_chunk
from tests.fakes.scripted_upstream import (
    Hang,
    Reply,
    ScriptedUpstream,
    StreamThenFail,
    context_length_exceeded_body,
)
from tests.integration.dataplane.chains import (
    Chain,
    ChainFactory,
    Hop,
    RecordingSleep,
    serving_chain,
    sse_events,
    streamed_text,
)

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello!"}]}
STREAM_CHAT = {**CHAT, "stream": True}
FIXTURE_TEXT = streamed_text(load_fixture("stream.sse"))


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def chain_of(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
    sleep: RecordingSleep,
) -> ChainFactory:
    @asynccontextmanager
    async def start(primary_timeout: float = 10.0) -> AsyncIterator[Chain]:
        primary, fallback = upstreams
        hops = [Hop("primary", primary, timeout_seconds=primary_timeout), Hop("fallback", fallback)]
        async with serving_chain(
            hops,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            resilience=Resilience(sleep=sleep),
        ) as chain:
            yield chain

    return start


async def test_429_with_retry_after_is_retried_on_the_same_target_after_the_wait(
    chain_of: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream], sleep: RecordingSleep
) -> None:
    primary, fallback = upstreams
    primary.script(Reply(status=429, fixture="rate_limited.json", headers={"Retry-After": "1"}))
    async with chain_of() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 200
    assert response.content == load_fixture("good.json")
    assert response.headers["x-waypost-target"] == "primary"
    assert response.headers["x-waypost-attempts"] == "2"
    assert sleep.delays == [1.0]
    assert (len(primary.requests), len(fallback.requests)) == (2, 0)


async def test_503_before_the_first_byte_of_a_stream_falls_over_to_one_clean_stream(
    chain_of: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream], sleep: RecordingSleep
) -> None:
    primary, fallback = upstreams
    primary.script(*[Reply(status=503, fixture="server_error.json")] * 3)
    async with chain_of() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=STREAM_CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == without_usage_chunk(load_fixture("stream.sse"))
    assert streamed_text(response.content) == FIXTURE_TEXT == "Hi, how are you?"
    assert response.headers["x-waypost-target"] == "fallback"
    assert response.headers["x-waypost-attempts"] == "4"
    assert len(sleep.delays) == 2  # backoff between the primary's three attempts, none before falling over
    assert all(0 <= delay <= 0.2 for delay in sleep.delays)
    assert (len(primary.requests), len(fallback.requests)) == (3, 1)


# A broken chunked framing leaves aiohttp's body reader waiting: the gateway's own idle timeout ends it.
@pytest.mark.parametrize(("then", "code"), [("drop", "upstream_unavailable"), ("garbage", "upstream_timeout")])
async def test_a_failure_after_five_chunks_ends_with_an_sse_error_and_is_never_retried(
    chain_of: ChainFactory,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
    then: Literal["drop", "garbage"],
    code: str,
) -> None:
    primary, fallback = upstreams
    primary.script(StreamThenFail(events=5, then=then))
    async with chain_of(primary_timeout=0.5) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=STREAM_CHAT)
    sent = b"".join(split_sse_events(load_fixture("stream.sse"))[:5])
    assert response.status_code == 200
    assert response.content.startswith(sent)
    [error_event] = sse_events(response.content[len(sent) :])
    assert msgspec.json.decode(error_event.removeprefix(b"data: "))["error"]["code"] == code
    assert streamed_text(response.content) == "Hi, how are"  # each piece once, nothing after the error
    assert response.headers["x-waypost-attempts"] == "1"
    assert (len(primary.requests), len(fallback.requests)) == (1, 0)


@pytest.mark.parametrize("body", [CHAT, STREAM_CHAT], ids=["plain", "stream"])
async def test_400_is_relayed_after_exactly_one_upstream_call(
    chain_of: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream], body: dict[str, object]
) -> None:
    primary, fallback = upstreams
    primary.script(Reply(status=400, fixture="bad_request.json"))
    async with chain_of() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=body)
    assert response.status_code == 400
    assert response.json() == msgspec.json.decode(load_fixture("bad_request.json"))
    assert response.headers["x-waypost-target"] == "primary"
    assert response.headers["x-waypost-attempts"] == "1"
    assert (len(primary.requests), len(fallback.requests)) == (1, 0)


async def test_context_length_exceeded_falls_over_without_retrying_the_same_target(
    chain_of: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream], sleep: RecordingSleep
) -> None:
    primary, fallback = upstreams
    primary.script(Reply(status=400, body=context_length_exceeded_body()))
    async with chain_of() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        status = (await chain.client.get("/status")).json()
    assert response.status_code == 200
    assert response.headers["x-waypost-target"] == "fallback"
    assert response.headers["x-waypost-attempts"] == "2"
    assert (len(primary.requests), len(fallback.requests)) == (1, 1)
    assert sleep.delays == []
    assert status["circuits"]["primary"]["consecutive_failures"] == 0  # the target was not at fault


@pytest.mark.parametrize(
    ("body", "hang"),
    [(CHAT, Hang()), (STREAM_CHAT, Hang()), (STREAM_CHAT, StreamThenFail(events=0, then="hang"))],
    ids=["plain", "stream-before-headers", "stream-before-first-event"],
)
async def test_a_hanging_upstream_times_out_then_falls_over_within_the_deadline(
    chain_of: ChainFactory,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
    body: dict[str, object],
    hang: Hang | StreamThenFail,
) -> None:
    primary, fallback = upstreams
    primary.script(*[hang] * 3)
    async with chain_of(primary_timeout=0.3) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=body)
    assert response.status_code == 200
    expected = without_usage_chunk(load_fixture("stream.sse")) if body.get("stream") else load_fixture("good.json")
    assert response.content == expected
    assert response.headers["x-waypost-target"] == "fallback"
    assert response.headers["x-waypost-attempts"] == "4"
    assert (len(primary.calls), len(fallback.requests)) == (3, 1)
    for call in primary.calls:  # the gateway gave up on each hanging call and closed its connection
        assert call.client_closed.wait(5.0)


async def test_a_retry_after_longer_than_the_deadline_falls_over_instead_of_waiting(
    chain_of: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream], sleep: RecordingSleep
) -> None:
    primary, fallback = upstreams
    # the deadline is the sum of the targets' timeouts (10 s + 10 s): a 30 s wait cannot fit
    primary.script(Reply(status=429, fixture="rate_limited.json", headers={"Retry-After": "30"}))
    async with chain_of() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 200
    assert (response.headers["x-waypost-target"], response.headers["x-waypost-attempts"]) == ("fallback", "2")
    assert sleep.delays == []
    assert (len(primary.requests), len(fallback.requests)) == (1, 1)


async def test_the_request_attempt_budget_caps_the_attempts_across_targets(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
    sleep: RecordingSleep,
) -> None:
    primary, second = upstreams
    for upstream in upstreams:
        upstream.script(*[Reply(status=502, fixture="server_error.json")] * 3)
    with ScriptedUpstream() as third:
        async with serving_chain(
            [Hop("primary", primary), Hop("second", second), Hop("third", third)],
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            resilience=Resilience(sleep=sleep),
        ) as chain:
            response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        assert len(third.requests) == 0
    assert response.status_code == 502
    assert (response.headers["x-waypost-target"], response.headers["x-waypost-attempts"]) == ("second", "6")
    assert (len(primary.requests), len(second.requests)) == (3, 3)
