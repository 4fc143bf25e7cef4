"""Spend state over real PostgreSQL and NATS: the publisher sums each budget's period from the ledger up to the
ingester's committed position, says which position it covers, and a data plane's SpendWatch receives it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
import structlog
from nats.aio.client import Client as NatsClient
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane.db.billing import Budget
from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.db.usage import UsageEventRow
from controlplane.ingest.rows import event_row
from controlplane.spend.publisher import SpendPublisher, open_spend_bucket
from dataplane.budgets import BudgetGate
from dataplane.spend_watch import SpendWatch
from shared.logs import make_logger
from shared.periods import period_bounds
from shared.usage import decode_spend
from tests.integration.controlplane.usage_support import (
    create_stream,
    eventually,
    make_ingester,
    position,
    publish,
    running,
    usage_event,
    wait_for_position,
)


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(pg_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def _add_budgets(engine: AsyncEngine) -> dict[str, Budget]:
    budgets = {
        "team": Budget(
            name="team-a daily",
            scope="team",
            scope_id="team-a",
            amount_micro_usd=1000,
            period="daily",
            alert_thresholds=[50, 80],
        ),
        "chat": Budget(
            name="team-a chat monthly",
            scope="team",
            scope_id="team-a",
            model="chat",
            amount_micro_usd=10_000,
            period="monthly",
            timezone="Asia/Tokyo",
        ),
        "org": Budget(name="org lifetime", scope="organization", amount_micro_usd=10**9, period="lifetime"),
    }
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add_all(budgets.values())
    return budgets


async def test_spend_covers_the_committed_position_and_reaches_the_data_plane(
    engine: AsyncEngine, nc: NatsClient, nats_prefix: str
) -> None:
    js = nc.jetstream()
    await create_stream(js, nats_prefix)
    budgets = await _add_budgets(engine)
    now = time.time()
    now_ms = int(now * 1000)
    day_start, _ = period_bounds("daily", "UTC", now)
    events = [
        usage_event(time=now_ms, cost_micro_usd=300),  # team-a, route chat: all three budgets
        usage_event(time=now_ms, cost_micro_usd=250, route="other"),  # not the chat budget
        usage_event(time=now_ms, cost_micro_usd=7, team_id="team-b"),  # only the organization
        usage_event(time=(day_start - 10) * 1000, cost_micro_usd=40),  # yesterday: not today's team budget
    ]
    async with running(make_ingester(js, nats_prefix, engine)):
        last = 0
        for event in events:
            last = await publish(js, nats_prefix, event)
        await wait_for_position(engine, last)
    covered = await position(engine)
    # an event committed above the position (as if its batch were still open) must not be in the figure
    async with engine.begin() as connection:
        late = usage_event(time=now_ms, cost_micro_usd=100_000)
        await connection.execute(
            insert(UsageEventRow), [event_row(late, stream_seq=covered + 5, now=datetime.now(UTC))]
        )

    bucket = await open_spend_bucket(js, nats_prefix)
    publisher = SpendPublisher(sessionmaker=make_sessionmaker(engine), bucket=bucket, clock=lambda: now)
    with structlog.testing.capture_logs() as logs:
        await publisher.publish_once()
        await publisher.publish_once()  # thresholds alert once per period, not once per round
    values = {b: decode_spend((await bucket.get(budgets[b].id)).value or b"") for b in budgets}
    # yesterday's 40 count for the Tokyo month unless it is the 1st there (then it was last month)
    chat = 300 + (40 if period_bounds("monthly", "Asia/Tokyo", now)[0] <= day_start - 10 else 0)
    assert {b: v.spent_micro_usd for b, v in values.items()} == {"team": 550, "chat": chat, "org": 597}
    assert all(v.covers_stream_seq == covered for v in values.values())
    assert values["team"].period_start == day_start and values["org"].period_start == 0
    alerts = [entry for entry in logs if entry["event"] == "budget_threshold_crossed"]
    assert [(a["budget"], a["threshold_percent"]) for a in alerts] == [("team-a daily", 50)]

    gate = BudgetGate()
    watch = SpendWatch(
        gate=gate, prefix=nats_prefix, instance="dp-test", connection=lambda: nc, logger=make_logger("warning")
    )
    watch.start()
    try:

        async def received() -> bool:
            return gate.spend_of(budgets["team"].id) == values["team"]

        await eventually(received, what="the data plane to receive the team budget's spend", within=10)
        assert gate.replicas == 1  # no data plane reports status under this prefix
        async with make_sessionmaker(engine)() as session, session.begin():
            await session.delete(await session.get(Budget, budgets["org"].id))
        await publisher.publish_once()

        async def forgotten() -> bool:
            return gate.spend_of(budgets["org"].id) is None

        await eventually(forgotten, what="a deleted budget's spend to be dropped", within=10)
    finally:
        await watch.stop()
