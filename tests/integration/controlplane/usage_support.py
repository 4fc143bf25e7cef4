"""Helpers of the usage ledger tests: events as data planes publish them, an ingester running in a task, and
direct reads of the ledger tables."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane.db.session import make_sessionmaker
from controlplane.ingest.consumer import UsageIngester, ensure_usage_stream
from shared.usage import TokenUsage, UsageEvent, encode_usage_event, usage_subject

HOUR_MS = 3_600_000
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def usage_event(**fields: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "time": BASE_MS,
        "instance": "dp-1",
        "config_version": 7,
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "team_id": "team-a",
        "route": "chat",
        "deployment_id": "dep-1",
        "deployment": "mock-small",
        "upstream_model": "mock-1",
        "tokens": TokenUsage(input=10, output=5),
        "cost_micro_usd": 100,
    }
    values.update(fields)
    return UsageEvent(**values)


async def publish(js: JetStreamContext, prefix: str, event: UsageEvent, *, with_msg_id: bool = True) -> int:
    """Publish as a data plane does; the stream sequence it got (or the original's, when deduplicated)."""
    headers = {"Nats-Msg-Id": event.request_id} if with_msg_id else None
    ack = await js.publish(usage_subject(prefix), encode_usage_event(event), headers=headers)
    return int(ack.seq)


async def publish_raw(js: JetStreamContext, prefix: str, payload: bytes) -> int:
    return int((await js.publish(usage_subject(prefix), payload)).seq)


def make_ingester(js: JetStreamContext, prefix: str, engine: AsyncEngine, **options: Any) -> UsageIngester:
    options.setdefault("fetch_wait_seconds", 0.2)
    return UsageIngester(js=js, prefix=prefix, sessionmaker=make_sessionmaker(engine), **options)


@asynccontextmanager
async def running(ingester: UsageIngester) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(ingester.run())
    try:
        yield task
    finally:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)


async def create_stream(js: JetStreamContext, prefix: str) -> None:
    await ensure_usage_stream(js, prefix)


async def eventually(probe: Callable[[], Awaitable[Any]], *, what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last probe: {last!r}")


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(text(sql), params)).mappings()]


async def position(engine: AsyncEngine) -> int:
    return int(await scalar(engine, "SELECT stream_seq FROM usage_ingest_position"))


async def wait_for_position(engine: AsyncEngine, stream_seq: int, *, within: float = 30.0) -> None:
    async def reached() -> bool:
        return await position(engine) >= stream_seq

    await eventually(reached, what=f"committed position {stream_seq}", within=within)


ROLLUP_TOTALS = (
    "SELECT coalesce(sum(requests), 0) AS requests, coalesce(sum(input_tokens), 0) AS input_tokens, "
    "coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cost_micro_usd), 0) AS cost_micro_usd "
    "FROM usage_rollups_hourly"
)
EVENT_TOTALS = (
    "SELECT count(*) AS requests, coalesce(sum(input_tokens), 0) AS input_tokens, "
    "coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cost_micro_usd), 0) AS cost_micro_usd "
    "FROM usage_events"
)


def totals_of(events: list[UsageEvent]) -> dict[str, int]:
    return {
        "requests": len(events),
        "input_tokens": sum(e.tokens.input for e in events),
        "output_tokens": sum(e.tokens.output for e in events),
        "cost_micro_usd": sum(e.cost_micro_usd for e in events),
    }


async def ledger_totals(engine: AsyncEngine) -> tuple[dict[str, int], dict[str, int]]:
    """(totals over the raw events, totals over the rollups)."""
    [events] = await rows(engine, EVENT_TOTALS)
    [rollups] = await rows(engine, ROLLUP_TOTALS)
    return {k: int(v) for k, v in events.items()}, {k: int(v) for k, v in rollups.items()}
