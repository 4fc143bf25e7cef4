"""The usage ingester against real NATS JetStream and real databases: no loss and no double count when events are
published twice, when the ingester dies between commit and ack, when NATS restarts with events in flight, and
when poison messages arrive."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane.db.session import make_engine
from controlplane.db.usage import UsageEventRow
from controlplane.ingest.rows import event_row
from shared.usage import TokenUsage, UsageEvent
from tests.integration.controlplane.usage_support import (
    BASE_MS,
    HOUR_MS,
    create_stream,
    eventually,
    ledger_totals,
    make_ingester,
    position,
    publish,
    publish_raw,
    rows,
    running,
    scalar,
    totals_of,
    usage_event,
    wait_for_position,
)
from tests.services import OwnNats


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(pg_url)
    yield engine
    await engine.dispose()


class SimulatedCrash(Exception):
    """Raised by a test hook between the commit of a batch and its ack."""


async def test_an_event_published_twice_is_stored_once_and_counted_once(
    nc: NATS, nats_prefix: str, engine: AsyncEngine
) -> None:
    js = nc.jetstream()
    await create_stream(js, nats_prefix)
    deduplicated, replayed = usage_event(), usage_event(tokens=TokenUsage(input=7, output=3), cost_micro_usd=55)
    first = await publish(js, nats_prefix, deduplicated)
    assert await publish(js, nats_prefix, deduplicated) == first  # JetStream's duplicate window drops it
    await publish(js, nats_prefix, replayed, with_msg_id=False)
    last = await publish(js, nats_prefix, replayed, with_msg_id=False)  # past any window: a second stream message

    ingester = make_ingester(js, nats_prefix, engine)
    async with running(ingester):
        await wait_for_position(engine, last)
        late_replay = await publish(js, nats_prefix, replayed, with_msg_id=False)  # in a later batch this time
        await wait_for_position(engine, late_replay)

    events, rollups = await ledger_totals(engine)
    assert events == rollups == totals_of([deduplicated, replayed])
    assert ingester.totals.inserted == 2
    assert ingester.totals.duplicates == 2
    assert ingester.committed_seq == late_replay


async def test_an_ingester_killed_between_commit_and_ack_does_not_count_twice(
    nc: NATS, nats_prefix: str, pg_engine: AsyncEngine
) -> None:
    js = nc.jetstream()
    await create_stream(js, nats_prefix)
    published = [usage_event(time=BASE_MS + i * 60_000) for i in range(40)]
    for event in published:
        last = await publish(js, nats_prefix, event)

    async def crash(_messages: Sequence[Msg]) -> None:
        raise SimulatedCrash

    doomed = make_ingester(js, nats_prefix, pg_engine, ack_wait_seconds=1.0, after_commit=crash)
    async with running(doomed) as task:
        await asyncio.wait({task}, timeout=30)
        assert isinstance(task.exception(), SimulatedCrash)
    stored_before_ack = int(await scalar(pg_engine, "SELECT count(*) FROM usage_events"))
    assert stored_before_ack > 0  # the batch was committed, then the ingester died without acking it
    assert await position(pg_engine) == 0

    successor = make_ingester(js, nats_prefix, pg_engine)
    async with running(successor):
        await wait_for_position(pg_engine, last)

    events, rollups = await ledger_totals(pg_engine)
    assert events == rollups == totals_of(published)
    assert successor.totals.duplicates >= stored_before_ack  # the redelivered batch was recognised


async def test_a_nats_restart_with_events_in_flight_loses_nothing(own_nats: OwnNats, pg_engine: AsyncEngine) -> None:
    prefix = "restart"
    client = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        js = client.jetstream()
        await create_stream(js, prefix)
        before = [usage_event(time=BASE_MS + i) for i in range(300)]
        for event in before:
            await publish(js, prefix, event)

        async def slow_down(_messages: Sequence[Msg]) -> None:
            await asyncio.sleep(0.05)  # keep batches in flight while NATS goes away

        ingester = make_ingester(js, prefix, pg_engine, batch_size=20, ack_wait_seconds=2.0, after_commit=slow_down)
        async with running(ingester):
            await wait_for_position(pg_engine, 40)
            await asyncio.to_thread(own_nats.stop)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(own_nats.start)
            after = [usage_event(time=BASE_MS + HOUR_MS + i) for i in range(50)]

            async def published_after_restart() -> bool:
                try:
                    for event in after:
                        await publish(js, prefix, event)
                except (nats.errors.Error, TimeoutError):
                    return False
                return True

            await eventually(published_after_restart, what="publishing after the restart")
            await wait_for_position(pg_engine, len(before) + len(after), within=60)
    finally:
        await client.close()

    events, rollups = await ledger_totals(pg_engine)
    assert events == rollups == totals_of(before + after)


async def test_poison_messages_become_dead_letters_and_ingestion_goes_on(
    nc: NATS, nats_prefix: str, engine: AsyncEngine
) -> None:
    js = nc.jetstream()
    await create_stream(js, nats_prefix)
    good = [usage_event(), usage_event()]
    await publish(js, nats_prefix, good[0])
    poison = {
        await publish_raw(js, nats_prefix, b"\xc1 not msgpack"): "not a usage event",
        await publish_raw(js, nats_prefix, msgspec.msgpack.encode({"request_id": "x"})): "not a usage event",
        await publish(js, nats_prefix, usage_event(request_id="r" * 65)): "request_id is longer than 64",
        await publish(js, nats_prefix, usage_event(route="chat\x00")): "route contains a NUL",
        await publish(js, nats_prefix, usage_event(tokens=TokenUsage(output=-5))): "output_tokens is negative",
        await publish(js, nats_prefix, usage_event(time=2**62)): "time is out of range",
        await publish(js, nats_prefix, usage_event(status=2**40)): "status is out of range",
    }
    last = await publish(js, nats_prefix, good[1])

    ingester = make_ingester(js, nats_prefix, engine)
    async with running(ingester):
        await wait_for_position(engine, last)

    letters = await rows(engine, "SELECT stream_seq, error, payload FROM usage_dead_letters ORDER BY stream_seq")
    assert [letter["stream_seq"] for letter in letters] == sorted(poison)
    for letter in letters:
        assert poison[letter["stream_seq"]] in letter["error"]
    assert bytes(letters[0]["payload"]) == b"\xc1 not msgpack"
    events, rollups = await ledger_totals(engine)
    assert events == rollups == totals_of(good)


async def test_an_event_the_database_refuses_is_dead_lettered_alone(
    nc: NATS, nats_prefix: str, pg_engine: AsyncEngine
) -> None:
    """A stream sequence already in the ledger under another request id (the stream was recreated) makes the
    batch's insert fail; the batch is split and only that message becomes a dead letter."""
    js = nc.jetstream()
    await create_stream(js, nats_prefix)
    taken = event_row(usage_event(request_id="already-there"), stream_seq=3, now=datetime.now(UTC))
    async with pg_engine.begin() as connection:
        await connection.execute(insert(UsageEventRow), [taken])
    published = [usage_event() for _ in range(5)]
    for event in published:
        last = await publish(js, nats_prefix, event)

    ingester = make_ingester(js, nats_prefix, pg_engine)
    async with running(ingester):
        await wait_for_position(pg_engine, last)

    [letter] = await rows(pg_engine, "SELECT stream_seq, error FROM usage_dead_letters")
    assert letter["stream_seq"] == 3
    assert "refused by the database" in letter["error"]
    stored = await rows(pg_engine, "SELECT request_id FROM usage_events WHERE stream_seq <> 3")
    assert {row["request_id"] for row in stored} == {e.request_id for i, e in enumerate(published) if i != 2}


async def test_the_ledger_equals_what_was_published_exactly(nc: NATS, nats_prefix: str, pg_engine: AsyncEngine) -> None:
    js = nc.jetstream()
    await create_stream(js, nats_prefix)
    rng = random.Random(3)
    published: list[UsageEvent] = []
    for i in range(2000):
        tokens = TokenUsage(
            input=rng.randrange(5000),
            cached_input=rng.randrange(1000),
            cache_write=rng.randrange(100),
            output=rng.randrange(2000),
            reasoning=rng.randrange(500),
        )
        event = usage_event(
            time=BASE_MS + rng.randrange(4) * HOUR_MS + rng.randrange(HOUR_MS),
            team_id=rng.choice(["t1", "t2", None]),
            status=rng.choice([200, 200, 200, 429, 499, 502]),
            tokens=tokens,
            cost_micro_usd=rng.randrange(1_000_000),
        )
        published.append(event)
        last = await publish(js, nats_prefix, event)
        if i % 500 == 0:
            await publish(js, nats_prefix, event, with_msg_id=False)  # a few replays too

    ingester = make_ingester(js, nats_prefix, pg_engine)
    async with running(ingester):
        await wait_for_position(pg_engine, last, within=120)

    expected: dict[tuple[str, int], list[int]] = {}
    for event in published:
        key = (event.team_id or "", (event.time - BASE_MS) // HOUR_MS)
        sums = expected.setdefault(key, [0] * 6)
        t = event.tokens
        for index, value in enumerate(
            (1, int(event.status >= 400), t.input + t.cached_input + t.cache_write, t.output + t.reasoning)
        ):
            sums[index] += value
        sums[4] += event.cost_micro_usd
        sums[5] += t.reasoning
    stored = await rows(
        pg_engine,
        "SELECT team_id, hour, sum(requests) AS requests, sum(errors) AS errors, "
        "sum(input_tokens + cached_input_tokens + cache_write_tokens) AS prompt, "
        "sum(output_tokens + reasoning_tokens) AS completion, sum(cost_micro_usd) AS cost, "
        "sum(reasoning_tokens) AS reasoning FROM usage_rollups_hourly GROUP BY team_id, hour",
    )
    base_hour = BASE_MS // 1000
    actual = {
        (row["team_id"], (int(row["hour"].timestamp()) - base_hour) // 3600): [
            int(row[name]) for name in ("requests", "errors", "prompt", "completion", "cost", "reasoning")
        ]
        for row in stored
    }
    assert actual == expected
    assert await scalar(pg_engine, "SELECT count(*) FROM usage_events") == len(published)
