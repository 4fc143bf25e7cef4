"""The control plane's ASGI app: the admin REST API under /api/v1 and /healthz. Served by Granian:
`granian --interface asgi --factory controlplane.app:make_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from controlplane.admin_tokens import bootstrap_admin_token
from controlplane.api import (
    admin_keys,
    applications,
    audit,
    budgets,
    config_status,
    deployments,
    environments,
    keys,
    metrics,
    model_routes,
    prices,
    providers,
    rate_limits,
    teams,
    usage,
    users,
)
from controlplane.api.errors import ApiError, handle_api_error, handle_http_exception
from controlplane.api.handlers import Operation, json_response, make_operations, make_routes
from controlplane.api.middleware import AdminAuth, Authorize, RequestContext, guard_routes
from controlplane.api.openapi import build_openapi
from controlplane.api.resource import Resource
from controlplane.db import migrate
from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.services import run_background_services
from controlplane.settings import ControlPlaneSettings, load_settings
from shared.crypto import MasterSecret, decode_b64_key
from shared.logs import configure_default_logging

API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
HEALTH_PATH = "/healthz"

RESOURCES: tuple[Resource[Any, Any, Any, Any], ...] = (
    teams.resource,
    users.resource,
    applications.resource,
    environments.resource,
    keys.resource,
    providers.resource,
    deployments.resource,
    model_routes.resource,
    prices.resource,
    budgets.resource,
    rate_limits.resource,
)


class Health(msgspec.Struct, frozen=True):
    status: str


async def healthz(_request: Request) -> Response:
    """Liveness: the process serves HTTP."""
    return json_response(Health(status="ok"))


def _ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _lifespan(settings: ControlPlaneSettings) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            _ensure_sqlite_directory(settings.database_url)
            await migrate.upgrade(settings.database_url)
            engine = make_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            app.state.engine = engine
            app.state.sessionmaker = make_sessionmaker(engine)
            app.state.master_secret = MasterSecret(decode_b64_key(settings.secret_key, name="WAYPOST_SECRET_KEY"))
            async with app.state.sessionmaker() as session, session.begin():
                token = await bootstrap_admin_token(session=session, configured=settings.admin_token)
            if token is not None:
                print(f"Admin token (shown once, store it now): {token}", flush=True)
            await stack.enter_async_context(run_background_services(settings, app.state))
            yield

    return lifespan


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document of this API."""
    return Response(request.app.state.openapi_document, media_type="application/json")


PUBLIC_OPERATIONS = (
    Operation(
        method="GET",
        path=OPENAPI_PATH,
        endpoint=openapi,
        operation_id="openapi",
        summary="This document",
        tag="meta",
        public=True,
    ),
    Operation(
        method="GET",
        path=HEALTH_PATH,
        endpoint=healthz,
        operation_id="healthz",
        summary="Liveness",
        tag="meta",
        response=Health,
        public=True,
    ),
)


def create_app(settings: ControlPlaneSettings) -> Starlette:
    configure_default_logging(settings.log_level)
    operations = [
        *prices.operations,  # before the resources: /prices/unpriced must not be taken for /prices/{id}
        *(
            operation
            for resource in RESOURCES
            for operation in make_operations(resource, max_body_bytes=settings.max_body_bytes)
        ),
        keys.make_rotate_operation(max_body_bytes=settings.max_body_bytes),
        *audit.operations,
        *usage.operations,
        *metrics.operations,
        *admin_keys.make_operations(max_body_bytes=settings.max_body_bytes),
    ]
    routes = [
        Route(HEALTH_PATH, healthz, methods=["GET"]),
        Mount(
            API_PREFIX,
            routes=[Route("/openapi.json", openapi, methods=["GET"]), *make_routes(operations), *config_status.routes],
        ),
    ]
    # Outermost first: request id and the last-resort 500, then authentication, then authorization (role and
    # row scope per controlplane.rbac), then (Starlette's own) the mapping of ApiError and HTTPException to the
    # one error shape, then the router.
    guarded = guard_routes(
        routes,
        prefix=API_PREFIX,
        explicit={(o.method, o.path): o.policy for o in operations},
        public_paths={OPENAPI_PATH, HEALTH_PATH},
    )
    middleware = [
        Middleware(RequestContext),
        Middleware(AdminAuth, public_paths={OPENAPI_PATH, HEALTH_PATH}, configured_token=settings.admin_token),
        Middleware(Authorize, guarded=guarded),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ApiError: handle_api_error, HTTPException: handle_http_exception},
        lifespan=_lifespan(settings),
    )
    document = build_openapi(
        prefix=API_PREFIX, operations=operations, mounted=config_status.routes, public=PUBLIC_OPERATIONS
    )
    app.state.openapi_document = msgspec.json.encode(document)
    app.state.guarded_routes = guarded  # every served method and path with its policy (the RBAC table test)
    return app


def make_app() -> Starlette:
    """Factory for `granian --factory`: settings from the environment."""
    return create_app(load_settings())
