"""Plain ASGI middleware of the admin API (no BaseHTTPMiddleware: it breaks streaming and context variables)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.admin_tokens import authenticate_admin_token
from controlplane.api.errors import InternalError, UnauthorizedError, error_response, render_error
from controlplane.rbac import Principal

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
        actor = await self._actor(scope, presented.strip()) if scheme.lower() == "bearer" and presented else None
        if actor is not None:
            state = scope.setdefault("state", {})
            state["actor"] = actor  # who made the change, for the audit log
            state["principal"] = Principal(actor=actor, role="owner")
            await self.app(scope, receive, send)
            return
        error = UnauthorizedError(
            "a valid admin token is required: Authorization: Bearer <token>",
            headers={"www-authenticate": "Bearer"},
        )
        await error_response(error)(scope, receive, send)

    async def _actor(self, scope: Scope, presented: str) -> str | None:
        sessionmaker: async_sessionmaker[AsyncSession] = scope["app"].state.sessionmaker
        async with sessionmaker() as session:
            return await authenticate_admin_token(
                session=session, configured=self.configured_token, presented=presented
            )
