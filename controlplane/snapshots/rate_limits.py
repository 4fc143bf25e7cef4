"""The rate limits a snapshot ships (inside build_snapshot's transaction)."""

from __future__ import annotations

from collections.abc import Set

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.models import RateLimit
from shared.snapshot import RateLimitSpec


def _scope_id(row: RateLimit) -> str | None:
    if row.scope == "environment":
        return None if row.environment is None else row.environment.name
    return {"key": row.key_id, "user": row.user_id, "application": row.application_id, "team": row.team_id}.get(
        row.scope
    )


async def read_rate_limit_specs(session: AsyncSession, *, shipped_key_ids: Set[str]) -> list[RateLimitSpec]:
    """Every limit, except those on keys the snapshot does not ship (revoked or expired: nothing to limit)."""
    rows = (await session.scalars(select(RateLimit).order_by(RateLimit.id))).all()
    specs = [
        RateLimitSpec(
            id=row.id,
            scope=row.scope,
            scope_id=_scope_id(row),
            model=None if row.route is None else row.route.name,
            requests_per_minute=row.requests_per_minute,
            tokens_per_minute=row.tokens_per_minute,
            concurrent_requests=row.concurrent_requests,
        )
        for row in rows
    ]
    return [s for s in specs if s.scope != "key" or s.scope_id in shipped_key_ids]
