"""Each budget's spend in its current period, from the usage ledger up to the ingester's committed position S:
the sum of `cost_micro_usd` of the events with `stream_seq` ≤ S, time in the period, and the budget's scope (and
route). The result says it covers S, so data planes add only their own events above S (shared.usage)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.usage import UsageEventRow
from controlplane.ingest.ledger import read_position
from shared.periods import period_bounds
from shared.snapshot import BudgetSpec
from shared.usage import BudgetSpend

_SCOPE_COLUMNS = {
    "key": UsageEventRow.key_id,
    "user": UsageEventRow.user_id,
    "application": UsageEventRow.application_id,
    "team": UsageEventRow.team_id,
    "environment": UsageEventRow.environment,
}


def _at(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


def _filters(budget: BudgetSpec, *, covers: int, start: int, end: int | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [UsageEventRow.stream_seq <= covers, UsageEventRow.time >= _at(start)]
    if end is not None:
        filters.append(UsageEventRow.time < _at(end))
    column = _SCOPE_COLUMNS.get(budget.scope)
    if column is not None:
        filters.append(column == budget.scope_id)
    if budget.model is not None:
        filters.append(UsageEventRow.route == budget.model)
    return filters


async def compute_spends(session: AsyncSession, budgets: Sequence[BudgetSpec], *, now: float) -> list[BudgetSpend]:
    """Every budget's spend in the period containing `now` (unix seconds), all covering the same position.

    The position is read first: every event at or below it is already committed, and the `stream_seq` filter
    keeps out events committed while the sums run, so each figure covers exactly that position."""
    covers = await read_position(session)
    spends = []
    for budget in budgets:
        start, end = period_bounds(budget.period, budget.timezone, now)
        statement = select(func.coalesce(func.sum(UsageEventRow.cost_micro_usd), 0)).where(
            *_filters(budget, covers=covers, start=start, end=end)
        )
        spent = int((await session.execute(statement)).scalar_one())
        spends.append(
            BudgetSpend(
                budget_id=budget.id,
                period_start=start,
                spent_micro_usd=spent,
                covers_stream_seq=covers,
                computed_at=int(now * 1000),
            )
        )
    return spends


def crossed_thresholds(budget: BudgetSpec, spend: BudgetSpend) -> list[int]:
    """The alert thresholds (percent of the amount) this spend has reached."""
    return [t for t in budget.alert_thresholds if spend.spent_micro_usd * 100 >= t * budget.amount_micro_usd]
