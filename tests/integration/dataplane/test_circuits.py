"""Circuit breakers across requests (injected clock), and client disconnects, against scripted upstreams on
loopback with the route published over NATS."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from dataplane.breaker import BreakerPolicy
from dataplane.runtime import Resilience
from dataplane.settings import DataPlaneSettings
from tests.asgi_client import LeavingClient, http_scope
from tests.conftest import TestSecrets
from tests.fakes.scripted_upstream import Reply, ScriptedUpstream, StreamThenFail
from tests.integration.dataplane.chains import (
    Hop,
    ManualClock,
    RecordingSleep,
    serving_chain,
)
from tests.snapshot_factory import ROUTE_NAME

CHAT = {"model": ROUTE_NAME, "messages": [{"role": "user", "content": "Hello!"}]}
SERVER_ERROR = Reply(status=500, fixture="server_error.json")
CLOSE_BOUND_SECONDS = 1.0  # the promise: the upstream socket is closed within 1 s of the client leaving
TEST_BOUND_SECONDS = 10.0


def _circuit(status: dict[str, object], name: str) -> object:
    circuits = status["circuits"]
    assert isinstance(circuits, dict)
    return circuits[name]


async def test_a_circuit_opens_after_five_failures_then_half_opens_and_a_good_probe_closes_it(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    primary, fallback = upstreams
    primary.script(*[SERVER_ERROR] * 5)
    clock = ManualClock()
    resilience = Resilience(monotonic=clock, sleep=RecordingSleep())
    async with serving_chain(
        [Hop("primary", primary), Hop("fallback", fallback)],
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
        resilience=resilience,
    ) as chain:
        first = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        second = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        opened = (await chain.client.get("/status")).json()
        skipped = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        calls_while_open = len(primary.requests)
        clock.advance(30)
        half_open = (await chain.client.get("/status")).json()
        probe = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        closed = (await chain.client.get("/status")).json()

    assert [r.status_code for r in (first, second, skipped, probe)] == [200] * 4
    assert [r.headers["x-waypost-target"] for r in (first, second, skipped, probe)] == [
        "fallback",
        "fallback",
        "fallback",
        "primary",
    ]
    # 3 attempts on the primary, then the fallback; then 2 more (the fifth failure opens it), then the fallback
    assert [r.headers["x-waypost-attempts"] for r in (first, second, skipped, probe)] == ["4", "3", "1", "1"]
    assert _circuit(opened, "primary") == {"state": "open", "consecutive_failures": 5}
    assert _circuit(opened, "fallback") == {"state": "closed", "consecutive_failures": 0}
    assert calls_while_open == 5  # the open circuit was skipped without calling the target
    assert _circuit(half_open, "primary") == {"state": "half_open", "consecutive_failures": 5}
    assert _circuit(closed, "primary") == {"state": "closed", "consecutive_failures": 0}
    assert len(primary.requests) == 6


async def test_every_circuit_open_is_503_no_healthy_target_with_retry_after(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    primary, fallback = upstreams
    primary.script(*[SERVER_ERROR] * 3)
    fallback.script(*[SERVER_ERROR] * 3)
    clock = ManualClock()
    resilience = Resilience(breaker=BreakerPolicy(consecutive_failures=3), monotonic=clock, sleep=RecordingSleep())
    async with serving_chain(
        [Hop("primary", primary), Hop("fallback", fallback)],
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
        resilience=resilience,
    ) as chain:
        failed = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        clock.advance(10)
        refused = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        status = (await chain.client.get("/status")).json()

    assert failed.status_code == 500
    assert (failed.headers["x-waypost-target"], failed.headers["x-waypost-attempts"]) == ("fallback", "6")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "no_healthy_target"
    assert refused.json()["error"]["type"] == "api_error"
    assert refused.headers["retry-after"] == "20"
    assert "x-waypost-attempts" not in refused.headers
    assert (len(primary.requests), len(fallback.requests)) == (3, 3)
    assert _circuit(status, "primary") == {"state": "open", "consecutive_failures": 3}
    assert _circuit(status, "fallback") == {"state": "open", "consecutive_failures": 3}


async def test_a_client_leaving_mid_stream_closes_the_upstream_socket_within_a_second_and_logs_499(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
    capsys: pytest.CaptureFixture[str],
) -> None:
    primary, fallback = upstreams
    primary.script(StreamThenFail(events=2, then="hang"))
    async with serving_chain(
        [Hop("primary", primary), Hop("fallback", fallback)],
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as chain:
        body = msgspec.json.encode({**CHAT, "stream": True})
        client = LeavingClient(body)
        scope = http_scope(chain.auth["authorization"], body)
        answering = asyncio.create_task(chain.app(scope, client.receive, client.send))
        await asyncio.wait_for(client.first_body_sent.wait(), TEST_BOUND_SECONDS)
        [call] = primary.calls
        assert not call.client_closed.is_set()
        client.leave()
        closed_in_time = await asyncio.to_thread(call.client_closed.wait, CLOSE_BOUND_SECONDS)
        await asyncio.wait_for(answering, TEST_BOUND_SECONDS)

    assert closed_in_time
    assert len(fallback.requests) == 0
    lines = [msgspec.json.decode(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [completed] = [line for line in lines if line.get("path") == "/v1/chat/completions"]
    assert completed["status"] == 499
    assert completed["error_code"] == "client_disconnected"
    assert (completed["deployment"], completed["attempts"]) == ("primary", 1)
