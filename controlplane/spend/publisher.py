"""The spend publisher: about once a second, every budget's spend (controlplane.spend.compute) goes into the KV
bucket `spend_bucket(prefix)` under the budget's id, and each alert threshold a budget reaches is logged once per
period (`budget_threshold_crossed`, a structured warning). Each put is also the data planes' freshness signal: a
spend whose `computed_at` is older than 60 s makes a budget "stale" for them (dataplane.budgets), so the
publisher puts every budget every round even when nothing changed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.db.billing import Budget
from controlplane.spend.compute import compute_spends, crossed_thresholds
from controlplane.spend.specs import budget_spec
from shared.snapshot import BudgetSpec
from shared.usage import BudgetSpend, encode_spend, spend_bucket

log = structlog.get_logger("controlplane.spend")

INTERVAL_SECONDS = 1.0
_NATS_TIMEOUT_SECONDS = 5.0
_TRANSIENT = (nats.errors.Error, asyncio.TimeoutError, OSError, DBAPIError)


async def open_spend_bucket(js: JetStreamContext, prefix: str) -> KeyValue:
    """Create (or open) the spend bucket: one value per budget, no history needed."""
    return await js.create_key_value(KeyValueConfig(bucket=spend_bucket(prefix), history=1, storage=StorageType.FILE))


class SpendPublisher:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        bucket: KeyValue,
        clock: Callable[[], float],
        interval_seconds: float = INTERVAL_SECONDS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._bucket = bucket
        self._clock = clock
        self._interval = interval_seconds
        self._alerted: set[tuple[str, int, int]] = set()  # (budget id, period start, threshold)

    async def run(self) -> None:
        """Publish every interval until cancelled; like the snapshot publisher, the loop also checks
        `cancelling()` because nats-py swallows a CancelledError that lands inside a put."""
        task = asyncio.current_task()
        while task is None or not task.cancelling():
            try:
                await self.publish_once()
            except _TRANSIENT as exc:
                log.warning("spend_publish_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

    async def publish_once(self) -> list[BudgetSpend]:
        """Compute and put every budget's spend; delete the values of budgets that no longer exist."""
        now = self._clock()
        async with self._sessionmaker() as session, session.begin():
            budgets = [budget_spec(row) for row in (await session.scalars(select(Budget))).all()]
            spends = await compute_spends(session, budgets, now=now)
        for spend in spends:
            await asyncio.wait_for(self._bucket.put(spend.budget_id, encode_spend(spend)), _NATS_TIMEOUT_SECONDS)
        await self._delete_others({b.id for b in budgets})
        for budget, spend in zip(budgets, spends, strict=True):
            self._alert(budget, spend)
        return spends

    async def _delete_others(self, budget_ids: set[str]) -> None:
        try:
            keys = await asyncio.wait_for(self._bucket.keys(), _NATS_TIMEOUT_SECONDS)
        except NoKeysError:
            return
        for key in keys:
            if key not in budget_ids:
                try:
                    await asyncio.wait_for(self._bucket.purge(key), _NATS_TIMEOUT_SECONDS)
                except KeyNotFoundError:
                    continue

    def _alert(self, budget: BudgetSpec, spend: BudgetSpend) -> None:
        for threshold in crossed_thresholds(budget, spend):
            marker = (budget.id, spend.period_start, threshold)
            if marker in self._alerted:
                continue
            self._alerted.add(marker)
            log.warning(
                "budget_threshold_crossed",
                budget_id=budget.id,
                budget=budget.name,
                scope=budget.scope,
                scope_id=budget.scope_id,
                threshold_percent=threshold,
                spent_micro_usd=spend.spent_micro_usd,
                amount_micro_usd=budget.amount_micro_usd,
                period_start=spend.period_start,
                hard=budget.hard,
            )


async def publish_spend_forever(
    *, js: JetStreamContext, prefix: str, sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], float]
) -> None:
    """Run by every control plane (the values they put are the same): create the bucket, then publish each
    second until cancelled. A bug is logged and the loop restarts, so budgets never stop being refreshed."""
    task = asyncio.current_task()
    while task is None or not task.cancelling():
        try:
            bucket = await asyncio.wait_for(open_spend_bucket(js, prefix), _NATS_TIMEOUT_SECONDS)
            await SpendPublisher(sessionmaker=sessionmaker, bucket=bucket, clock=clock).run()
        except Exception as exc:
            log.error("spend_publisher_failed", error=repr(exc))
            await asyncio.sleep(INTERVAL_SECONDS)
