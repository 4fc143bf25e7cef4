"""The one set of admin API endpoints (create, list, get, update, delete, actions), built per Resource. Each is
described by an Operation, which both the router and the OpenAPI document read, so the two cannot drift."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import msgspec
from msgspec import Meta
from sqlalchemy import inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.api.bodies import decode_body, decode_query, read_body
from controlplane.api.errors import NotFoundError, database_error
from controlplane.api.fields import is_id
from controlplane.api.resource import Action, CreateT, ModelT, ReadT, Resource, UpdateT
from controlplane.audit import record_change
from controlplane.db.models import Base
from controlplane.rbac import Policy, check_grant, principal_of, restrict
from shared.crypto import MasterSecret

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, kw_only=True)
class Operation:
    method: str
    path: str  # below the API prefix, in Starlette syntax: "/teams/{id}"
    endpoint: Endpoint
    operation_id: str
    summary: str
    tag: str
    status: int = 200
    body: type[msgspec.Struct] | None = None
    response: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    public: bool = False  # served without the admin token
    policy: Policy | None = None  # who may call it; None: controlplane.rbac.ROUTE_POLICIES, else owner/admin only


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    limit: Annotated[int, Meta(ge=1, le=1000, description="Page size.")] = 100
    offset: Annotated[int, Meta(ge=0, le=2**62, description="Rows to skip.")] = 0


def json_response(body: msgspec.Struct, *, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


def _master(request: Request) -> MasterSecret:
    master: MasterSecret = request.app.state.master_secret
    return master


@asynccontextmanager
async def transaction(request: Request, *, subject: str, deleting: bool = False) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the block ends; database refusals become API errors."""
    try:
        async with _sessionmaker(request)() as session, session.begin():
            yield session
    except DBAPIError as exc:
        error = database_error(exc, subject=subject, deleting=deleting)
        if error is None:
            raise
        raise error from exc


def _row_id(row: Base) -> str:
    identity = inspect(row).identity
    assert identity is not None, "audited rows are flushed"
    return str(identity[0])


def audit_change(
    session: AsyncSession,
    request: Request,
    *,
    action: str,
    resource_type: str,
    row: Base,
    before: msgspec.Struct | None,
    after: msgspec.Struct | None,
) -> None:
    record_change(
        session,
        actor=request.state.actor,
        action=action,
        resource_type=resource_type,
        resource_id=_row_id(row),
        before=before,
        after=after,
        request_id=request.state.request_id,
    )


async def find_row(session: AsyncSession, model: type[ModelT], row_id: str, *, subject: str) -> ModelT:
    """The row with this id; a malformed or unknown id is a 404."""
    row = await session.get(model, row_id) if is_id(row_id) else None
    if row is None:
        raise NotFoundError(f"{subject} not found")
    return row


def make_operations(resource: Resource[ModelT, CreateT, UpdateT, ReadT], *, max_body_bytes: int) -> list[Operation]:
    create_decoder = msgspec.json.Decoder(resource.create_type)
    update_decoder = msgspec.json.Decoder(resource.update_type)
    page_type = msgspec.defstruct(
        resource.read_type.__name__.removesuffix("Read") + "List",
        [("data", list[resource.read_type]), ("limit", int), ("offset", int)],  # type: ignore[name-defined]
        frozen=True,
        kw_only=True,
    )
    columns = inspect(resource.model).columns
    subject = resource.singular

    async def create(request: Request) -> Response:
        data = decode_body(create_decoder, await read_body(request, max_bytes=max_body_bytes))
        async with transaction(request, subject=subject) as session:
            await check_grant(session, principal_of(request), resource.model, data)
            created = await resource.create(session=session, master=_master(request), data=data)
            session.add(created.row)
            await session.flush()
            [read] = await resource.read(session=session, rows=[created.row])
            audit_change(
                session,
                request,
                action="create",
                resource_type=subject,
                row=created.row,
                before=None,
                after=read,
            )
        if resource.created_type is not None:
            return json_response(resource.created_type(**msgspec.structs.asdict(read), **created.reveal), status=201)
        return json_response(read, status=201)

    async def list_rows(request: Request) -> Response:
        query = decode_query(request.query_params, ListQuery)
        statement = (
            select(resource.model)
            .order_by(columns["created_at"], columns["id"])
            .limit(query.limit)
            .offset(query.offset)
        )
        statement = restrict(statement, resource.model, principal_of(request))
        async with transaction(request, subject=subject) as session:
            rows = (await session.scalars(statement)).all()
            data = await resource.read(session=session, rows=rows)
        return json_response(page_type(data=data, limit=query.limit, offset=query.offset))

    async def get(request: Request) -> Response:
        async with transaction(request, subject=subject) as session:
            row = await find_row(session, resource.model, request.path_params["id"], subject=resource.singular)
            [read] = await resource.read(session=session, rows=[row])
        return json_response(read)

    async def update(request: Request) -> Response:
        data = decode_body(update_decoder, await read_body(request, max_bytes=max_body_bytes))
        async with transaction(request, subject=subject) as session:
            row = await find_row(session, resource.model, request.path_params["id"], subject=resource.singular)
            [before] = await resource.read(session=session, rows=[row])
            await check_grant(session, principal_of(request), resource.model, data, row=row)
            await resource.update(session=session, master=_master(request), row=row, data=data)
            await session.flush()
            [read] = await resource.read(session=session, rows=[row])
            audit_change(
                session,
                request,
                action="update",
                resource_type=subject,
                row=row,
                before=before,
                after=read,
            )
        return json_response(read)

    async def delete(request: Request) -> Response:
        async with transaction(request, subject=subject, deleting=True) as session:
            row = await find_row(session, resource.model, request.path_params["id"], subject=resource.singular)
            [before] = await resource.read(session=session, rows=[row])
            await session.delete(row)
            await session.flush()
            audit_change(
                session,
                request,
                action="delete",
                resource_type=subject,
                row=row,
                before=before,
                after=None,
            )
        return Response(status_code=204)

    collection, item, tag = f"/{resource.path}", f"/{resource.path}/{{id}}", resource.path
    return [
        Operation(
            method="POST",
            path=collection,
            endpoint=create,
            operation_id=f"create_{subject}",
            summary=f"Create a {subject}",
            tag=tag,
            status=201,
            body=resource.create_type,
            response=resource.created_type or resource.read_type,
        ),
        Operation(
            method="GET",
            path=collection,
            endpoint=list_rows,
            operation_id=f"list_{resource.path}",
            summary=f"List {resource.path}, oldest first",
            tag=tag,
            response=page_type,
            query=ListQuery,
        ),
        Operation(
            method="GET",
            path=item,
            endpoint=get,
            operation_id=f"get_{subject}",
            summary=f"Get a {subject}",
            tag=tag,
            response=resource.read_type,
        ),
        Operation(
            method="PATCH",
            path=item,
            endpoint=update,
            operation_id=f"update_{subject}",
            summary=f"Change fields of a {subject}",
            tag=tag,
            body=resource.update_type,
            response=resource.read_type,
        ),
        Operation(
            method="DELETE",
            path=item,
            endpoint=delete,
            operation_id=f"delete_{subject}",
            summary=f"Delete a {subject}",
            tag=tag,
            status=204,
        ),
        *(_action_operation(resource, action) for action in resource.actions),
    ]


def _action_operation(resource: Resource[ModelT, CreateT, UpdateT, ReadT], action: Action[ModelT]) -> Operation:
    async def run(request: Request) -> Response:
        async with transaction(request, subject=resource.singular) as session:
            row = await find_row(session, resource.model, request.path_params["id"], subject=resource.singular)
            [before] = await resource.read(session=session, rows=[row])
            await action.apply(session=session, row=row)
            await session.flush()
            [read] = await resource.read(session=session, rows=[row])
            audit_change(
                session,
                request,
                action=action.name,
                resource_type=resource.singular,
                row=row,
                before=before,
                after=read,
            )
        return json_response(read)

    return Operation(
        method="POST",
        path=f"/{resource.path}/{{id}}/{action.name}",
        endpoint=run,
        operation_id=f"{action.name}_{resource.singular}",
        summary=action.summary,
        tag=resource.path,
        response=resource.read_type,
    )


def make_routes(operations: Sequence[Operation]) -> list[Route]:
    """One Starlette Route per path, so a wrong method gets a 405 whose Allow header lists all the right ones."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, {})[operation.method] = operation.endpoint
    return [Route(path, _dispatch(handlers), methods=list(handlers)) for path, handlers in by_path.items()]


def _dispatch(handlers: Mapping[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return dispatch
