"""Admin API keys `/api/v1/admin-keys`: bearer tokens `wpa_...` for people and automation, each with a role
(controlplane.rbac). The token is shown once in the 201 response and stored only as its SHA-256; DELETE revokes
(the row stays, for the record), and a revoked token is refused with 401 from then on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from controlplane.admin_tokens import hash_admin_token, new_admin_token
from controlplane.api.bodies import decode_body, decode_query, read_body
from controlplane.api.errors import ConflictError, FieldError, NotFoundError, ValidationFailedError
from controlplane.api.fields import Id, Name
from controlplane.api.handlers import ListQuery, Operation, audit_change, find_row, json_response, transaction
from controlplane.api.resource import ReferenceCheck, read_columns
from controlplane.db.models import AdminToken, Team, User, utcnow
from controlplane.rbac import (
    EVERYONE,
    SCOPED_ROLES,
    allow,
    can_see_admin_key,
    check_admin_key_role,
    check_admin_key_teams,
    principal_of,
)

Role = Literal["owner", "admin", "team_admin", "member", "viewer"]
TeamIds = Annotated[list[Id], Meta(max_length=100, description="Required for team_admin and member keys.")]


class AdminKeyCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    role: Role
    user_id: Id | None = None  # the person holding the key; required for member
    team_ids: TeamIds = []


class AdminKeyUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    team_ids: TeamIds | UnsetType = UNSET


class AdminKeyRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    role: str
    user_id: str | None
    team_ids: list[str]
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AdminKeyCreated(AdminKeyRead, frozen=True, kw_only=True):
    token: str  # the bearer token; this response is the only place it ever appears


class AdminKeyList(msgspec.Struct, frozen=True, kw_only=True):
    data: list[AdminKeyRead]
    limit: int
    offset: int


_SUBJECT = "admin key"
_RESOURCE_TYPE = "admin_key"


def _read(row: AdminToken) -> AdminKeyRead:
    return read_columns(AdminKeyRead, row, team_ids=list(row.team_ids))


def _check_shape(*, role: str, user_id: str | None, team_ids: Sequence[str]) -> None:
    """A team_admin or member key names its teams, a member key its user; other roles span every team."""
    errors: list[FieldError] = []
    if role in SCOPED_ROLES and not team_ids:
        errors.append(FieldError("$.team_ids", f"a {role} key needs at least one team"))
    if role not in SCOPED_ROLES and team_ids:
        errors.append(FieldError("$.team_ids", f"a {role} key spans every team; send an empty list"))
    if role == "member" and user_id is None:
        errors.append(FieldError("$.user_id", "a member key needs its user"))
    if errors:
        raise ValidationFailedError("the admin key's role does not fit its teams or user", errors=errors)


async def _check_references(session: AsyncSession, *, user_id: str | None, team_ids: Sequence[str] | None) -> None:
    references = ReferenceCheck(session)
    if user_id is not None:
        await references.one(User, user_id, path="$.user_id")
    if team_ids is not None:
        await references.many(Team, team_ids, path="$.team_ids")
    references.raise_if_unresolved()


def make_operations(*, max_body_bytes: int) -> list[Operation]:
    create_decoder = msgspec.json.Decoder(AdminKeyCreate)
    update_decoder = msgspec.json.Decoder(AdminKeyUpdate)

    async def create(request: Request) -> Response:
        data = decode_body(create_decoder, await read_body(request, max_bytes=max_body_bytes))
        principal = principal_of(request)
        check_admin_key_role(principal, role=data.role)
        _check_shape(role=data.role, user_id=data.user_id, team_ids=data.team_ids)
        check_admin_key_teams(principal, data.team_ids)
        token = new_admin_token()
        async with transaction(request, subject=_SUBJECT) as session:
            await _check_references(session, user_id=data.user_id, team_ids=data.team_ids)
            row = AdminToken(
                name=data.name,
                role=data.role,
                user_id=data.user_id,
                team_ids=list(data.team_ids),
                token_hash=hash_admin_token(token),
            )
            session.add(row)
            await session.flush()
            read = _read(row)
            audit_change(
                session, request, action="create", resource_type=_RESOURCE_TYPE, row=row, before=None, after=read
            )
        return json_response(AdminKeyCreated(**msgspec.structs.asdict(read), token=token), status=201)

    async def list_keys(request: Request) -> Response:
        query = decode_query(request.query_params, ListQuery)
        principal = principal_of(request)
        statement = select(AdminToken).order_by(AdminToken.created_at, AdminToken.id)
        async with transaction(request, subject=_SUBJECT) as session:
            if principal.role in SCOPED_ROLES:  # few keys; their team lists are JSON, so filter here
                rows = [r for r in (await session.scalars(statement)).all() if can_see_admin_key(principal, r)]
                rows = rows[query.offset : query.offset + query.limit]
            else:
                rows = list((await session.scalars(statement.limit(query.limit).offset(query.offset))).all())
        return json_response(AdminKeyList(data=[_read(r) for r in rows], limit=query.limit, offset=query.offset))

    async def find_visible(request: Request, session: AsyncSession) -> AdminToken:
        """The admin key the path names; one the caller may not see is a 404, as if it did not exist."""
        row = await find_row(session, AdminToken, request.path_params["id"], subject=_SUBJECT)
        if request.method == "GET" and not can_see_admin_key(principal_of(request), row):
            raise NotFoundError(f"{_SUBJECT} not found")
        return row

    async def get(request: Request) -> Response:
        async with transaction(request, subject=_SUBJECT) as session:
            row = await find_visible(request, session)
            read = _read(row)
        return json_response(read)

    async def update(request: Request) -> Response:
        data = decode_body(update_decoder, await read_body(request, max_bytes=max_body_bytes))
        principal = principal_of(request)
        async with transaction(request, subject=_SUBJECT) as session:
            row = await find_visible(request, session)
            role = row.role if isinstance(data.role, UnsetType) else data.role
            team_ids = row.team_ids if isinstance(data.team_ids, UnsetType) else data.team_ids
            check_admin_key_role(principal, role=role, current=row)
            if row.revoked_at is not None:
                raise ConflictError("a revoked admin key cannot be changed; create a new one")
            _check_shape(role=role, user_id=row.user_id, team_ids=team_ids)
            check_admin_key_teams(principal, team_ids)
            await _check_references(
                session, user_id=None, team_ids=None if isinstance(data.team_ids, UnsetType) else team_ids
            )
            before = _read(row)
            if not isinstance(data.name, UnsetType):
                row.name = data.name
            row.role, row.team_ids = role, list(team_ids)
            await session.flush()
            read = _read(row)
            audit_change(
                session, request, action="update", resource_type=_RESOURCE_TYPE, row=row, before=before, after=read
            )
        return json_response(read)

    async def revoke(request: Request) -> Response:
        principal = principal_of(request)
        async with transaction(request, subject=_SUBJECT) as session:
            row = await find_visible(request, session)
            check_admin_key_role(principal, role=row.role, current=row)
            if row.revoked_at is None:  # revoking again changes nothing and records nothing
                before = _read(row)
                row.revoked_at = utcnow()
                await session.flush()
                audit_change(
                    session,
                    request,
                    action="revoke",
                    resource_type=_RESOURCE_TYPE,
                    row=row,
                    before=before,
                    after=_read(row),
                )
        return Response(status_code=204)

    tag, collection, item = "admin-keys", "/admin-keys", "/admin-keys/{id}"
    managers = allow("owner", "admin", "team_admin", "member")
    return [
        Operation(
            method="POST",
            path=collection,
            endpoint=create,
            operation_id="create_admin_key",
            summary="Create an admin API key; the token is in this response only",
            tag=tag,
            status=201,
            body=AdminKeyCreate,
            response=AdminKeyCreated,
            policy=allow("owner", "admin", "team_admin"),
        ),
        Operation(
            method="GET",
            path=collection,
            endpoint=list_keys,
            operation_id="list_admin_keys",
            summary="List the admin keys you may see, oldest first",
            tag=tag,
            response=AdminKeyList,
            query=ListQuery,
            policy=allow(*EVERYONE),
        ),
        Operation(
            method="GET",
            path=item,
            endpoint=get,
            operation_id="get_admin_key",
            summary="Get an admin key (never its token)",
            tag=tag,
            response=AdminKeyRead,
            policy=allow(*EVERYONE),
        ),
        Operation(
            method="PATCH",
            path=item,
            endpoint=update,
            operation_id="update_admin_key",
            summary="Rename an admin key or change its role or teams (never above your own)",
            tag=tag,
            body=AdminKeyUpdate,
            response=AdminKeyRead,
            policy=managers,
        ),
        Operation(
            method="DELETE",
            path=item,
            endpoint=revoke,
            operation_id="revoke_admin_key",
            summary="Revoke an admin key: its token is refused from then on",
            tag=tag,
            status=204,
            policy=managers,
        ),
    ]
