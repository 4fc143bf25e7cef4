"""Undo, inside one `python -m bench.hotpath` process, the hot-path changes of 2026-11-22, one by one, so that each
change's worth shows in one run (`--revert starlette,structlog,...`):

- `starlette`: Starlette's application, router and exception middleware instead of `dataplane.asgi`;
- `structlog`: the canonical line through structlog's processor chain (redaction of every field);
- `linger`: usage events published as soon as they are queued (no 5 ms linger);
- `request_id`: request ids built through `uuid.UUID`;
- `hmac`: key hashes through `hmac.new(...).hexdigest()`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from structlog.typing import FilteringBoundLogger

from dataplane import ids, observability, usage_events
from dataplane.app import _render_error, create_app
from dataplane.asgi import DataPlaneApp, Router
from dataplane.errors import GatewayError, MethodNotAllowedError, PathNotFoundError
from dataplane.observability import RequestObserver, record_of
from dataplane.settings import DataPlaneSettings, load_settings
from dataplane.settle import finish_request
from shared.crypto import MasterSecret
from shared.logs import make_logger

CHANGES = ("starlette", "structlog", "linger", "request_id", "hmac")


class StructlogLines:
    """The canonical line as before: keyword fields through the structlog pipeline."""

    def __init__(self, logger: FilteringBoundLogger) -> None:
        self.log = logger

    def info(self, event: str, fields: msgspec.Struct) -> None:
        self.log.info(event, **msgspec.structs.asdict(fields))


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    record_of(request).error_code = exc.code
    return _render_error(request.scope, exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = MethodNotAllowedError() if exc.status_code == 405 else PathNotFoundError()
    return await _gateway_error(request, error)


def _old_request_id() -> str:
    return str(ids.uuid7_from(time.time_ns() // 1_000_000, os.urandom(10)))


def _old_hash_key_secret(self: MasterSecret, secret: str) -> str:
    return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()


def create_reverted_app(settings: DataPlaneSettings, reverted: set[str]) -> Any:
    """`create_app(settings)` with the named changes undone (process-wide: this process serves only this app)."""
    if "linger" in reverted:
        usage_events.LINGER_SECONDS = 0.0
    if "request_id" in reverted:
        observability.make_request_id = _old_request_id  # type: ignore[attr-defined]
    if "hmac" in reverted:
        MasterSecret.hash_key_secret = _old_hash_key_secret  # type: ignore[method-assign]
    current: DataPlaneApp = create_app(settings)
    observer: RequestObserver = current.http  # type: ignore[assignment]
    if "structlog" in reverted:
        observer.lines = StructlogLines(make_logger(settings.log_level))  # type: ignore[assignment]
    if "starlette" not in reverted:
        return current
    router: Router = observer.app  # type: ignore[assignment]
    routes = [Route(path, handler, methods=list(methods)) for path, (methods, _, handler) in router._routes.items()]
    options: dict[str, Any] = {"logger": observer.log, "lines": observer.lines, "on_complete": finish_request}
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestObserver, **options)],
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_exception},
        lifespan=current.lifespan_context,  # type: ignore[arg-type]
    )


def make_reverted_app() -> Any:
    """Granian factory for `python -m bench.profile --revert NAMES`: the data plane with the changes named in
    WAYPOST_BENCH_REVERT undone (bench only; the data plane itself reads its environment in dataplane.settings)."""
    names = os.environ.get("WAYPOST_BENCH_REVERT", "all")
    reverted = set(CHANGES) if names == "all" else set(names.split(","))
    return create_reverted_app(load_settings(), reverted)
