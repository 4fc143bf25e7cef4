"""Spend reports from the usage ledger: GET /api/v1/usage (the hourly rollups, grouped and filtered) and
GET /api/v1/usage/events/{request_id} (one request's raw event). Callers see only the usage of their teams,
and members only their own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import ColumnElement, Select, and_, false, func, select, true
from starlette.requests import Request
from starlette.responses import Response

from controlplane.api.bodies import decode_query
from controlplane.api.errors import FieldError, NotFoundError, ValidationFailedError
from controlplane.api.fields import Timestamp, as_utc
from controlplane.api.handlers import Operation, json_response, transaction
from controlplane.api.resource import read_columns
from controlplane.db.usage import NO_VALUE, UsageEventRow, UsageRollupHourly
from controlplane.ingest.rows import ROLLUP_METRICS
from controlplane.rbac import Principal, principal_of, visible_team_ids, visible_user_id

# group_by names -> rollup columns; "model" is the provider's model, "route" the name the client asked for
DIMENSIONS = {
    "team": "team_id",
    "user": "user_id",
    "application": "application_id",
    "environment": "environment",
    "model": "upstream_model",
    "deployment": "deployment_id",
    "route": "route",
    "key": "key_id",
}
TIME_BUCKETS = ("hour", "day")
# query filters -> rollup columns
FILTERS = {
    "team_id": "team_id",
    "user_id": "user_id",
    "application_id": "application_id",
    "environment": "environment",
    "model": "upstream_model",
    "deployment_id": "deployment_id",
    "route": "route",
    "key_id": "key_id",
}
_GROUP_BY_HELP = f"Comma-separated, any of {', '.join(DIMENSIONS)}, plus at most one of hour, day (UTC)."
FilterValue = Annotated[str, Meta(max_length=200)]


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    group_by: Annotated[str, Meta(max_length=200, description=_GROUP_BY_HELP)] = ""
    start: Annotated[Timestamp | None, Meta(description="Hour buckets starting at or after this instant.")] = None
    end: Annotated[Timestamp | None, Meta(description="Hour buckets starting before this instant.")] = None
    team_id: FilterValue | None = None
    user_id: FilterValue | None = None
    application_id: FilterValue | None = None
    environment: FilterValue | None = None
    model: Annotated[FilterValue | None, Meta(description="The provider's model (a deployment's model).")] = None
    deployment_id: FilterValue | None = None
    route: Annotated[FilterValue | None, Meta(description="The model name the client asked for.")] = None
    key_id: FilterValue | None = None
    limit: Annotated[int, Meta(ge=1, le=10_000, description="Most groups returned.")] = 1000


class UsageTotals(msgspec.Struct, frozen=True, kw_only=True):
    requests: int
    errors: int  # status >= 400, including 499 (the client went away)
    estimated: int  # requests whose tokens the gateway estimated (the provider reported none)
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_micro_usd: int


class UsageGroup(UsageTotals, frozen=True, kw_only=True):
    """One group: only the dimensions asked for in group_by are present; null means the requests had none."""

    hour: datetime | UnsetType = UNSET
    day: datetime | UnsetType = UNSET
    team: str | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET
    application: str | UnsetType | None = UNSET
    environment: str | UnsetType | None = UNSET
    model: str | UnsetType | None = UNSET
    deployment: str | UnsetType | None = UNSET
    route: str | UnsetType | None = UNSET
    key: str | UnsetType | None = UNSET


class UsageReport(msgspec.Struct, frozen=True, kw_only=True):
    group_by: list[str]
    start: datetime | None
    end: datetime | None
    data: list[UsageGroup]
    totals: UsageTotals
    truncated: bool  # more groups than `limit`; totals still cover everything


class UsageEventRead(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    parent_request_id: str | None  # set on an attempt's event: the request it was part of
    stream_seq: int
    time: datetime
    ingested_at: datetime
    instance: str
    config_version: int | None
    method: str
    path: str
    status: int
    error_code: str | None
    key_id: str | None
    key_public_id: str | None
    user_id: str | None
    team_id: str | None
    application_id: str | None
    environment: str | None
    route: str | None
    deployment_id: str | None
    deployment: str | None
    provider_kind: str | None
    upstream_model: str | None
    stream: bool
    attempts: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    estimated: bool
    cost_micro_usd: int
    price_id: str | None
    latency_ms: float
    ttft_ms: float | None
    cache_hit: bool
    guardrails: list[str]
    attempt_event_ids: list[str] = []  # on a request's event: the events of its attempts that did not answer


def _group_by(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DIMENSIONS and name not in TIME_BUCKETS]
    problem = None
    if unknown:
        problem = f"unknown grouping {', '.join(unknown)}; {_GROUP_BY_HELP}"
    elif len(set(names)) != len(names):
        problem = "a grouping is repeated"
    elif sum(name in TIME_BUCKETS for name in names) > 1:
        problem = "group by hour or by day, not both"
    if problem is not None:
        raise ValidationFailedError("request is not valid", errors=[FieldError("$.group_by", problem)])
    return names


def _visible(principal: Principal, team_column: Any, user_column: Any) -> ColumnElement[bool]:
    """What this caller may see: its teams' usage (None: every team), and for a member only its own."""
    teams, user = visible_team_ids(principal), visible_user_id(principal)
    conditions: list[ColumnElement[bool]] = [true()]
    if teams is not None:
        conditions.append(team_column.in_(sorted(teams)) if teams else false())
    if user is not None:
        conditions.append(user_column == user)
    return and_(*conditions)


def _filtered(statement: Select[Any], query: UsageQuery, principal: Principal) -> Select[Any]:
    table = UsageRollupHourly
    statement = statement.where(_visible(principal, table.team_id, table.user_id))
    for name, column in FILTERS.items():
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(getattr(table, column) == value)
    if query.start is not None:
        statement = statement.where(table.hour >= as_utc(query.start))
    if query.end is not None:
        statement = statement.where(table.hour < as_utc(query.end))
    return statement


def _sums() -> list[Any]:
    return [func.coalesce(func.sum(getattr(UsageRollupHourly, name)), 0).label(name) for name in ROLLUP_METRICS]


def _group(row: Any, groups: list[str]) -> UsageGroup:
    fields: dict[str, Any] = {name: int(getattr(row, name)) for name in ROLLUP_METRICS}
    for name in groups:
        value = getattr(row, name)
        if name in TIME_BUCKETS:
            fields[name] = as_utc(value)
        else:
            fields[name] = None if value == NO_VALUE else value
    return UsageGroup(**fields)


async def usage_report(request: Request) -> Response:
    query = decode_query(request.query_params, UsageQuery)
    groups = _group_by(query.group_by)
    if query.start is not None and query.end is not None and query.start >= query.end:
        raise ValidationFailedError("request is not valid", errors=[FieldError("$.end", "end must be after start")])
    principal = principal_of(request)
    columns = [getattr(UsageRollupHourly, DIMENSIONS.get(name, name)).label(name) for name in groups]
    time_first = [c for name, c in zip(groups, columns, strict=True) if name in TIME_BUCKETS]
    grouped = _filtered(select(*columns, *_sums()), query, principal)
    if columns:
        grouped = grouped.group_by(*columns).order_by(*time_first, func.sum(UsageRollupHourly.cost_micro_usd).desc())
        grouped = grouped.order_by(*columns).limit(query.limit + 1)
    totals_statement = _filtered(select(*_sums()), query, principal)
    async with transaction(request, subject="usage") as session:
        rows = (await session.execute(grouped)).all() if columns else []
        totals = (await session.execute(totals_statement)).one()
    data = [_group(row, groups) for row in rows[: query.limit]]
    report = UsageReport(
        group_by=groups,
        start=query.start,
        end=query.end,
        data=data,
        totals=UsageTotals(**{name: int(getattr(totals, name)) for name in ROLLUP_METRICS}),
        truncated=len(rows) > query.limit,
    )
    return json_response(report)


async def usage_event(request: Request) -> Response:
    request_id: str = request.path_params["request_id"]
    principal = principal_of(request)
    statement = select(UsageEventRow).where(
        UsageEventRow.request_id == request_id, _visible(principal, UsageEventRow.team_id, UsageEventRow.user_id)
    )
    async with transaction(request, subject="usage event") as session:
        row = (await session.scalars(statement)).one_or_none() if len(request_id) <= 64 else None
        if row is None:
            raise NotFoundError("usage event not found")
        attempts = (
            select(UsageEventRow.request_id)
            .where(UsageEventRow.parent_request_id == row.request_id)
            .order_by(UsageEventRow.stream_seq)
        )
        attempt_ids = list((await session.scalars(attempts)).all())
        event = read_columns(UsageEventRead, row, attempt_event_ids=attempt_ids)
    return json_response(event)


operations = [
    Operation(
        method="GET",
        path="/usage",
        endpoint=usage_report,
        operation_id="usage_report",
        summary="Usage and spend from the hourly rollups, grouped by any dimensions and by hour or day",
        tag="usage",
        response=UsageReport,
        query=UsageQuery,
    ),
    Operation(
        method="GET",
        path="/usage/events/{request_id}",
        endpoint=usage_event,
        operation_id="get_usage_event",
        summary="The usage event of one request, by its request id",
        tag="usage",
        response=UsageEventRead,
    ),
]
