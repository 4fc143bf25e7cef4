"""Rate limits: requests per minute, tokens per minute and concurrent requests on a scope (key, user, application,
team, environment, organization), optionally narrowed to one route. Every data plane enforces them from memory
and keeps them global across replicas by gossip (README "Rate limits"). Only fields the data plane enforces
exist: anything else is refused with a 422 naming the field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.fields import Name
from controlplane.api.resource import Created, ReferenceCheck, Resource, read_columns
from controlplane.db.models import Application, Environment, Key, RateLimit, Route, Team, User
from shared.crypto import MasterSecret

Scope = Literal["key", "user", "application", "team", "environment", "organization"]  # shared.snapshot.SCOPES
ScopeId = Annotated[
    str,
    Meta(min_length=1, max_length=64, description="The scope's id (an environment: its name); none for organization."),
]
PerMinute = Annotated[int, Meta(ge=1, le=2_000_000_000)]
Concurrent = Annotated[int, Meta(ge=1, le=1_000_000)]

_SCOPE_TABLES = {"key": Key, "user": User, "application": Application, "team": Team}
_SCOPE_COLUMNS = {"key": "key_id", "user": "user_id", "application": "application_id", "team": "team_id"}
_LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "concurrent_requests")


class RateLimitCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    scope: Scope
    scope_id: ScopeId | None = None  # required except for "organization"
    model: Name | None = None  # a route name; null: every route
    requests_per_minute: PerMinute | None = None
    tokens_per_minute: PerMinute | None = None
    concurrent_requests: Concurrent | None = None


class RateLimitUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # The scope is fixed: a limit on another scope is another limit (its counts start from zero).
    model: Name | UnsetType | None = UNSET
    requests_per_minute: PerMinute | UnsetType | None = UNSET
    tokens_per_minute: PerMinute | UnsetType | None = UNSET
    concurrent_requests: Concurrent | UnsetType | None = UNSET


class RateLimitRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    scope: str
    scope_id: str | None
    model: str | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    concurrent_requests: int | None
    created_at: datetime
    updated_at: datetime


def _check_some_limit(references: ReferenceCheck, values: Sequence[int | None]) -> None:
    if all(value is None for value in values):
        references.fail("$", f"set at least one of {', '.join(_LIMIT_FIELDS)}")


async def create_rate_limit(
    *, session: AsyncSession, master: MasterSecret, data: RateLimitCreate
) -> Created[RateLimit]:
    references = ReferenceCheck(session)
    _check_some_limit(references, [data.requests_per_minute, data.tokens_per_minute, data.concurrent_requests])
    row = RateLimit(
        scope=data.scope,
        requests_per_minute=data.requests_per_minute,
        tokens_per_minute=data.tokens_per_minute,
        concurrent_requests=data.concurrent_requests,
    )
    if data.scope == "organization":
        if data.scope_id is not None:
            references.fail("$.scope_id", "an organization limit names no scope_id")
    elif data.scope_id is None:
        references.fail("$.scope_id", f"a {data.scope} limit needs the {data.scope}'s id")
    elif data.scope == "environment":
        row.environment = await references.one(Environment, data.scope_id, path="$.scope_id", column="name")
    elif await references.one(_SCOPE_TABLES[data.scope], data.scope_id, path="$.scope_id") is not None:
        setattr(row, _SCOPE_COLUMNS[data.scope], data.scope_id)
    if data.model is not None:
        row.route = await references.one(Route, data.model, path="$.model", column="name")
    references.raise_if_unresolved()
    return Created(row)


async def update_rate_limit(
    *, session: AsyncSession, master: MasterSecret, row: RateLimit, data: RateLimitUpdate
) -> None:
    references = ReferenceCheck(session)
    if isinstance(data.model, str):
        row.route = await references.one(Route, data.model, path="$.model", column="name")
    elif data.model is None:
        row.route = None
    for name in _LIMIT_FIELDS:
        value = getattr(data, name)
        if value is not UNSET:
            setattr(row, name, value)
    _check_some_limit(references, [getattr(row, name) for name in _LIMIT_FIELDS])
    references.raise_if_unresolved()


def scope_id_of(row: RateLimit) -> str | None:
    if row.scope == "environment":
        return None if row.environment is None else row.environment.name
    column = _SCOPE_COLUMNS.get(row.scope)
    return None if column is None else getattr(row, column)


async def read_rate_limits(*, session: AsyncSession, rows: Sequence[RateLimit]) -> list[RateLimitRead]:
    return [
        read_columns(RateLimitRead, row, scope_id=scope_id_of(row), model=None if row.route is None else row.route.name)
        for row in rows
    ]


resource = Resource(
    path="rate-limits",
    singular="rate_limit",
    model=RateLimit,
    create_type=RateLimitCreate,
    update_type=RateLimitUpdate,
    read_type=RateLimitRead,
    on_create=create_rate_limit,
    on_update=update_rate_limit,
    on_read=read_rate_limits,
)
