"""The data plane's own small ASGI application: lifespan, and exact-path dispatch to handlers that take a Starlette
`Request` and return a `Response`. It replaces Starlette's application, router and exception middleware on the hot
path, which cost about a fifth of the worker's Python time per request (bench/results/profile-before.md).

Stack, outermost first (built in `dataplane.app.create_app`): `DataPlaneApp` (lifespan; puts itself in
`scope["app"]` so `request.app.state` works as under Starlette) → `RequestObserver` (request id, overhead header,
canonical log line, unknown exceptions → 500) → `Router` (404/405, `GatewayError` → the path's error format)."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dataplane.errors import GatewayError, MethodNotAllowedError, PathNotFoundError
from dataplane.observability import RECORD_SCOPE_KEY, RequestRecord

Handler = Callable[[Request], Awaitable[Response]]
RouteEntry = tuple[str, Sequence[str], Handler]  # (exact path, methods, handler)
ErrorRenderer = Callable[[Scope, GatewayError], Response]


class Router:
    """Exact-path dispatch. A `GatewayError` raised before the response started renders with `render_error`; one
    raised after it started propagates (the observer logs it: an answer under way cannot become an error)."""

    def __init__(self, routes: Iterable[RouteEntry], *, render_error: ErrorRenderer) -> None:
        self._render_error = render_error
        self._routes: dict[str, tuple[frozenset[str], str, Handler]] = {}
        for path, methods, handler in routes:
            if path in self._routes:
                raise ValueError(f"route {path} is listed twice")
            allowed = {method.upper() for method in methods}
            if "GET" in allowed:
                allowed.add("HEAD")  # as Starlette does
            self._routes[path] = (frozenset(allowed), ", ".join(sorted(allowed)), handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._routes.get(scope["path"])
        try:
            if entry is None:
                raise PathNotFoundError()
            methods, allow, handler = entry
            if scope["method"] not in methods:
                raise MethodNotAllowedError(allow=allow)
            response = await handler(Request(scope, receive, send))
            await response(scope, receive, send)
        except GatewayError as exc:
            record: RequestRecord | None = scope.get(RECORD_SCOPE_KEY)
            if record is not None:
                if record.response_started:
                    raise
                record.error_code = exc.code
            await self._render_error(scope, exc)(scope, receive, send)


Lifespan = Callable[["DataPlaneApp"], AbstractAsyncContextManager[None]]


class DataPlaneApp:
    """The ASGI callable Granian serves. `state` holds what the lifespan builds (`state.runtime`)."""

    def __init__(self, http: ASGIApp, *, lifespan: Lifespan) -> None:
        self.state = State()
        self.http = http
        self.lifespan_context = lifespan

    @property
    def router(self) -> DataPlaneApp:
        """Starlette's spelling, `app.router.lifespan_context(app)`, still used by tests that drive the lifespan."""
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})  # no websocket endpoints: refused (403)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around `lifespan_context`, as Starlette's router runs it."""
        started = False
        await receive()  # lifespan.startup
        try:
            async with self.lifespan_context(self):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})
