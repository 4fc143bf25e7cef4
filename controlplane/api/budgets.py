"""Budgets: money per period on a scope (key, user, application, team, environment, organization), optionally
narrowed to one route. `amount_micro_usd` is integer micro-USD (USD 1 = 1000000). Periods are calendar-aligned
in `timezone` (daily, weekly from Monday, monthly from the 1st) or `lifetime`. Hard budgets refuse requests once
exhausted; soft ones only alert (a structured `budget_threshold_crossed` warning once per threshold per period)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.fields import Name
from controlplane.api.resource import Created, ReferenceCheck, Resource, assign_fields
from controlplane.db.billing import Budget
from controlplane.db.models import Application, Environment, Key, Route, Team, User
from shared.crypto import MasterSecret

Scope = Literal["key", "user", "application", "team", "environment", "organization"]
Period = Literal["daily", "weekly", "monthly", "lifetime"]
StalePolicy = Literal["closed", "open", "local_share"]
Amount = Annotated[int, Meta(ge=1, le=10**15, description="Integer micro-USD: USD 1 is 1000000.")]
ScopeId = Annotated[str, Meta(min_length=1, max_length=64, description="The scope's id; an environment's name.")]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Paris.")]
Thresholds = Annotated[
    list[Annotated[int, Meta(ge=1, le=1000)]],
    Meta(max_length=20, description="Percents of the amount at which to alert once per period."),
]

_SCOPE_TABLES = {"key": Key, "user": User, "application": Application, "team": Team}


class BudgetCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    scope: Scope
    scope_id: ScopeId | None = None  # required except for "organization"
    model: Name | None = None  # a route name; null: every route
    amount_micro_usd: Amount
    period: Period
    timezone: TimeZone = "UTC"
    hard: bool = True
    on_stale: StalePolicy = "closed"
    alert_thresholds: Thresholds = []


class BudgetUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    model: Name | UnsetType | None = UNSET
    amount_micro_usd: Amount | UnsetType = UNSET
    period: Period | UnsetType = UNSET
    timezone: TimeZone | UnsetType = UNSET
    hard: bool | UnsetType = UNSET
    on_stale: StalePolicy | UnsetType = UNSET
    alert_thresholds: Thresholds | UnsetType = UNSET


class BudgetRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    scope: str
    scope_id: str | None
    model: str | None
    amount_micro_usd: int
    period: str
    timezone: str
    hard: bool
    on_stale: str
    alert_thresholds: list[int]
    created_at: datetime
    updated_at: datetime


def _check_timezone(references: ReferenceCheck, timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        references.fail("$.timezone", f"{timezone!r} is not an IANA time zone")


async def _check_references(
    session: AsyncSession, *, scope: str | None, scope_id: str | None, model: str | None, timezone: str | None
) -> None:
    references = ReferenceCheck(session)
    if scope == "organization":
        if scope_id is not None:
            references.fail("$.scope_id", "an organization budget names no scope_id")
    elif scope is not None:
        if scope_id is None:
            references.fail("$.scope_id", f"a {scope} budget needs the {scope}'s id")
        elif scope == "environment":
            await references.one(Environment, scope_id, path="$.scope_id", column="name")
        else:
            await references.one(_SCOPE_TABLES[scope], scope_id, path="$.scope_id")
    if model is not None:
        await references.one(Route, model, path="$.model", column="name")
    if timezone is not None:
        _check_timezone(references, timezone)
    references.raise_if_unresolved()


async def create_budget(*, session: AsyncSession, master: MasterSecret, data: BudgetCreate) -> Created[Budget]:
    await _check_references(session, scope=data.scope, scope_id=data.scope_id, model=data.model, timezone=data.timezone)
    values = msgspec.structs.asdict(data)
    values["alert_thresholds"] = sorted(set(data.alert_thresholds))
    return Created(Budget(**values))


async def update_budget(*, session: AsyncSession, master: MasterSecret, row: Budget, data: BudgetUpdate) -> None:
    await _check_references(
        session,
        scope=None,
        scope_id=None,
        model=data.model if isinstance(data.model, str) else None,
        timezone=data.timezone if isinstance(data.timezone, str) else None,
    )
    assign_fields(row, data, skip=frozenset({"alert_thresholds"}))
    if not isinstance(data.alert_thresholds, UnsetType):
        row.alert_thresholds = sorted(set(data.alert_thresholds))


resource = Resource(
    path="budgets",
    singular="budget",
    model=Budget,
    create_type=BudgetCreate,
    update_type=BudgetUpdate,
    read_type=BudgetRead,
    on_create=create_budget,
    on_update=update_budget,
)
