"""Usage events without NATS: the event built from a request's record, and a data plane whose NATS is unreachable
serving every request while its events go to the disk spool (and the queue is flushed there on shutdown)."""

from __future__ import annotations

import asyncio

from dataplane.observability import RequestRecord
from dataplane.settings import DataPlaneSettings
from dataplane.usage_events import make_usage_event, metered
from dataplane.usage_spool import UsageSpool
from shared.logs import make_logger
from shared.usage import TokenUsage, UsageEvent, decode_usage_event
from tests.unit.dataplane.conftest import GatewayFactory, bearer

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "one two three"}]}


def test_the_event_carries_what_the_record_learned() -> None:
    record = RequestRecord(
        request_id="01a2-id", method="POST", path="/v1/chat/completions", started=100.0, started_unix=1_700_000_000.5
    )
    record.status, record.config_version, record.route, record.stream, record.attempts = 200, 7, "gpt-test", True, 2
    record.deployment_id, record.deployment, record.provider_kind = "deployment-1", "primary", "openai"
    record.usage, record.usage_estimated = TokenUsage(input=5, cached_input=3, output=2, reasoning=1), True
    record.cost_micro_usd, record.price_id, record.first_byte_seconds = 1234, "price-1", 0.25
    event = make_usage_event(record, instance="dp-1", now=100.5)
    assert (event.request_id, event.time, event.instance, event.config_version) == (
        "01a2-id",
        1_700_000_000_500,
        "dp-1",
        7,
    )
    assert (event.status, event.route, event.deployment_id, event.deployment, event.attempts) == (
        200,
        "gpt-test",
        "deployment-1",
        "primary",
        2,
    )
    assert event.tokens == TokenUsage(input=5, cached_input=3, output=2, reasoning=1) and event.estimated
    assert (event.cost_micro_usd, event.price_id, event.latency_ms, event.ttft_ms) == (1234, "price-1", 500.0, 250.0)


def test_probes_are_not_metered() -> None:
    for path, expected in (("/healthz", False), ("/readyz", False), ("/status", False), ("/v1/models", True)):
        assert metered(RequestRecord(request_id="x", method="GET", path=path, started=0.0)) is expected


async def test_with_nats_unreachable_requests_succeed_and_their_events_are_spooled(
    gateway_factory: GatewayFactory, dp_settings: DataPlaneSettings
) -> None:
    ids = []
    async with gateway_factory() as gw:
        for body in (CHAT, {**CHAT, "stream": True}, {**CHAT, "model": "unknown"}):
            response = await gw.client.post("/v1/chat/completions", headers=bearer(gw.key), json=body)
            ids.append(response.headers["x-request-id"])
        statuses = [200, 200, 404]
        assert [(await gw.client.get("/healthz")).status_code] == [200]
    # the lifespan ended: whatever was still queued went to the spool
    spool = UsageSpool(dp_settings.usage_spool_dir, max_bytes=1 << 20, logger=make_logger("critical"))
    spooled: list[UsageEvent] = []
    while (batch := await asyncio.to_thread(spool.read, 100)) is not None:
        spooled.extend(decode_usage_event(payload) for payload in batch.payloads)
        spool.commit(batch)
    assert [event.request_id for event in spooled] == ids
    assert [event.status for event in spooled] == statuses
    # the mock reports word counts: the same numbers streamed and not
    assert spooled[0].tokens == spooled[1].tokens == TokenUsage(input=3, output=6)  # "Mock reply to: one two three"
