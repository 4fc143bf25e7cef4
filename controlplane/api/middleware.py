"""Plain ASGI middleware of the admin API (no BaseHTTPMiddleware: it breaks streaming and context variables)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.admin_tokens import authenticate_admin_token
from controlplane.api.errors import (
    ApiError,
    ForbiddenError,
    InternalError,
    NotFoundError,
    UnauthorizedError,
    error_response,
    render_error,
)
from controlplane.api.fields import is_id
from controlplane.rbac import (
    DEFAULT_POLICY,
    Policy,
    Principal,
    can_see,
    declared_policy,
    require_role,
    visible_team_ids,
)

log = structlog.get_logger("controlplane.api")


class RequestContext:
    """Gives every request an id (state.request_id and the `x-request-id` header) and turns an exception that
    escaped everything else into a 500 naming only that id; the details go to the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request_failed", request_id=request_id, method=scope["method"], path=scope["path"])
            if started:
                raise
            response = render_error(
                status=InternalError.status,
                error_type=InternalError.type,
                message="internal error; quote the request id when reporting it",
                request_id=request_id,
            )
            await response(scope, receive, send_with_id)


class AdminAuth:
    """Requires `Authorization: Bearer <admin token>` on every HTTP path except the public ones (deny by default,
    so a new route cannot be left open by mistake)."""

    def __init__(self, app: ASGIApp, *, public_paths: Collection[str], configured_token: str | None) -> None:
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.configured_token = configured_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        scheme, _, presented = Headers(scope=scope).get("authorization", "").partition(" ")
        principal = (
            await self._principal(scope, presented.strip()) if scheme.lower() == "bearer" and presented else None
        )
        if principal is not None:
            state = scope.setdefault("state", {})
            state["actor"] = principal.actor  # who made the change, for the audit log
            state["principal"] = principal
            await self.app(scope, receive, send)
            return
        error = UnauthorizedError(
            "a valid admin token is required: Authorization: Bearer <token>",
            headers={"www-authenticate": "Bearer"},
        )
        await error_response(error)(scope, receive, send)

    async def _principal(self, scope: Scope, presented: str) -> Principal | None:
        sessionmaker: async_sessionmaker[AsyncSession] = scope["app"].state.sessionmaker
        async with sessionmaker() as session:
            return await authenticate_admin_token(
                session=session, configured=self.configured_token, presented=presented
            )


@dataclass(frozen=True, kw_only=True)
class GuardedRoute:
    """One method of one served path and the policy that guards it."""

    method: str
    path: str  # the full template: "/api/v1/teams/{id}"
    policy: Policy
    declared: bool  # False: declared nowhere, so owner/admin only by default
    regex: re.Pattern[str]


def guard_routes(
    routes: Sequence[BaseRoute],
    *,
    prefix: str,
    explicit: Mapping[tuple[str, str], Policy | None],
    public_paths: Collection[str],
    mounted_at: str = "",
) -> list[GuardedRoute]:
    """Every method of every route the app serves (walking mounts), with its policy: `explicit` (the Operations'
    own, keyed by method and path below `prefix`), else controlplane.rbac.ROUTE_POLICIES, else the default."""
    guarded: list[GuardedRoute] = []
    for route in routes:
        if isinstance(route, Mount):
            guarded += guard_routes(
                route.routes,
                prefix=prefix,
                explicit=explicit,
                public_paths=public_paths,
                mounted_at=mounted_at + route.path,
            )
            continue
        if not isinstance(route, Route) or mounted_at + route.path in public_paths:
            continue
        full = mounted_at + route.path
        below = full.removeprefix(prefix) if full.startswith(prefix + "/") else full
        regex = compile_path(full)[0]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            policy = declared_policy(method, below, explicit.get((method, below)))
            guarded.append(
                GuardedRoute(
                    method=method,
                    path=full,
                    policy=DEFAULT_POLICY if policy is None else policy,
                    declared=policy is not None,
                    regex=regex,
                )
            )
    return guarded


class Authorize:
    """After AdminAuth: refuses (403) a caller whose role the endpoint's policy does not allow, and checks the row
    an item path names against the caller's scope (a read out of scope is a 404, a change a 403), before the
    endpoint runs. Paths no route serves pass on to the router's 404/405."""

    def __init__(self, app: ASGIApp, *, guarded: Sequence[GuardedRoute]) -> None:
        self.app = app
        self.guarded = tuple(guarded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        if scope["type"] != "http" or principal is None:  # public paths: AdminAuth let them through bare
            await self.app(scope, receive, send)
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        try:
            for route in self.guarded:
                match = route.regex.match(scope["path"])
                if match is not None and route.method == method:
                    require_role(route.policy, principal)
                    await self._check_row(scope, route.policy, match.groupdict().get("id"), principal, method)
                    break
        except ApiError as error:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check_row(
        self, scope: Scope, policy: Policy, row_id: str | None, principal: Principal, method: str
    ) -> None:
        if policy.rows is None or row_id is None or not is_id(row_id) or visible_team_ids(principal) is None:
            return
        sessionmaker: async_sessionmaker[AsyncSession] = scope["app"].state.sessionmaker
        async with sessionmaker() as session:
            row = await session.get(policy.rows, row_id)
        if row is None or can_see(principal, row):
            return  # a missing row is the endpoint's own 404
        subject = policy.rows.__tablename__.removesuffix("s")
        if method == "GET":
            raise NotFoundError(f"{subject} not found")
        raise ForbiddenError(f"the {subject} is outside your teams or your own keys")
