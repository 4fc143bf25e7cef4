"""GET /api/v1/audit: the audit log, newest first, filtered by actor, action, resource and time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from controlplane.api.bodies import decode_query
from controlplane.api.fields import Timestamp
from controlplane.api.handlers import Operation, json_response, transaction
from controlplane.api.resource import read_columns
from controlplane.db.models import AuditEvent


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: Annotated[Timestamp | None, Meta(description="Changes at or after this instant.")] = None
    until: Annotated[Timestamp | None, Meta(description="Changes before this instant.")] = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100
    offset: Annotated[int, Meta(ge=0, le=2**62)] = 0


class AuditEventRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    occurred_at: datetime
    actor: str
    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str


class AuditEventList(msgspec.Struct, frozen=True, kw_only=True):
    data: list[AuditEventRead]
    limit: int
    offset: int


_FILTERED_COLUMNS = ("actor", "action", "resource_type", "resource_id")


async def list_audit_events(request: Request) -> Response:
    query = decode_query(request.query_params, AuditQuery)
    statement = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id)
    for name in _FILTERED_COLUMNS:
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(getattr(AuditEvent, name) == value)
    if query.since is not None:
        statement = statement.where(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEvent.occurred_at < query.until)
    async with transaction(request, subject="audit event") as session:
        rows = (await session.scalars(statement.limit(query.limit).offset(query.offset))).all()
    data = [read_columns(AuditEventRead, row) for row in rows]
    return json_response(AuditEventList(data=data, limit=query.limit, offset=query.offset))


operations = [
    Operation(
        method="GET",
        path="/audit",
        endpoint=list_audit_events,
        operation_id="list_audit_events",
        summary="List admin changes, newest first (append-only; secrets redacted)",
        tag="audit",
        response=AuditEventList,
        query=AuditQuery,
    )
]
