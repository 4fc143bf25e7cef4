"""Price and budget rows as the snapshot ships them (also what the spend publisher computes spend for)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.billing import Budget, Price
from shared.snapshot import BudgetSpec, PriceSpec


def price_spec(row: Price) -> PriceSpec:
    return PriceSpec(
        id=row.id,
        deployment_id=row.deployment_id,
        effective_from=int(row.effective_from.timestamp()),
        input=row.input,
        output=row.output,
        cached_input=row.cached_input,
        cache_write=row.cache_write,
        reasoning=row.reasoning,
    )


def budget_spec(row: Budget) -> BudgetSpec:
    return BudgetSpec(
        id=row.id,
        name=row.name,
        scope=row.scope,
        scope_id=row.scope_id,
        amount_micro_usd=row.amount_micro_usd,
        period=row.period,
        model=row.model,
        timezone=row.timezone,
        hard=row.hard,
        on_stale=row.on_stale,
        alert_thresholds=list(row.alert_thresholds),
    )


async def read_billing_specs(session: AsyncSession) -> tuple[list[PriceSpec], list[BudgetSpec]]:
    """Every price and budget, in a stable order (the snapshot's content hash must not depend on row order)."""
    prices = (await session.scalars(select(Price).order_by(Price.deployment_id, Price.effective_from, Price.id))).all()
    budgets = (await session.scalars(select(Budget).order_by(Budget.id))).all()
    return [price_spec(p) for p in prices], [budget_spec(b) for b in budgets]
