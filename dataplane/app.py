"""The data-plane ASGI app. `make_app` is the Granian factory:
`granian --interface asgi --factory dataplane.app:make_app`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dataplane.breaker import Breakers
from dataplane.budgets import BudgetGate
from dataplane.catalog import list_models
from dataplane.chat import chat_completions
from dataplane.config_state import ConfigState
from dataplane.config_sync import ConfigSync
from dataplane.errors import (
    GatewayError,
    MethodNotAllowedError,
    PathNotFoundError,
    anthropic_error_response,
    error_response,
)
from dataplane.messages import count_tokens, messages
from dataplane.observability import RequestObserver, record_of
from dataplane.probes import healthz, readyz, status
from dataplane.ratelimit.gossip import Gossip
from dataplane.ratelimit.limiter import make_rate_limiter
from dataplane.runtime import Resilience, Runtime
from dataplane.settings import DataPlaneSettings, load_settings
from dataplane.settle import finish_request
from dataplane.spend_watch import SpendWatch
from dataplane.upstream import UpstreamClient, make_upstream_client
from dataplane.usage_events import UsageEmitter
from dataplane.usage_spool import UsageSpool
from shared.crypto import MasterSecret, decode_b64_key, load_verify_key
from shared.logs import make_logger

ANTHROPIC_PATH_PREFIX = "/v1/messages"


async def _render_gateway_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, GatewayError):  # Starlette only routes GatewayErrors here
        raise exc
    record_of(request).error_code = exc.code
    if request.url.path.startswith(ANTHROPIC_PATH_PREFIX):  # the Anthropic protocol's endpoints
        return anthropic_error_response(exc)
    return error_response(exc)


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    """The router's own 404 and 405, in OpenAI error format like every other refusal."""
    if not isinstance(exc, HTTPException):
        raise exc
    error: GatewayError
    if exc.status_code == 405:
        error = MethodNotAllowedError(allow=(exc.headers or {}).get("Allow"))
    elif exc.status_code == 404:
        error = PathNotFoundError()
    else:
        error = GatewayError(exc.detail)
        error.status = exc.status_code
    return await _render_gateway_error(request, error)


def create_app(
    settings: DataPlaneSettings,
    *,
    upstream: UpstreamClient | None = None,
    clock: Callable[[], float] = time.time,
    resilience: Resilience | None = None,
) -> Starlette:
    """The data plane. `upstream` replaces the aiohttp client (the caller then owns and closes it);
    `clock` gives unix seconds for key expiry, timestamps and status reports; `resilience` replaces the retry and
    breaker policies and the monotonic clock, sleep and randomness they use."""
    resilience = resilience or Resilience()
    logger = make_logger(settings.log_level)
    master = MasterSecret(decode_b64_key(settings.secret_key, name="WAYPOST_SECRET_KEY"))
    verify_key = load_verify_key(settings.verify_key)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = ConfigState()
        sync = ConfigSync(
            settings=settings, state=config, master=master, verify_key=verify_key, logger=logger, clock=clock
        )
        client = upstream if upstream is not None else make_upstream_client()
        spool = UsageSpool(settings.usage_spool_dir, max_bytes=settings.usage_spool_max_bytes, logger=logger)
        budgets = BudgetGate()
        spend = SpendWatch(
            gate=budgets,
            prefix=settings.nats_prefix,
            instance=settings.instance_id,
            connection=sync.connected_client,
            logger=logger,
        )
        usage = UsageEmitter(
            prefix=settings.nats_prefix,
            connection=sync.connected_client,
            spool=spool,
            logger=logger,
            on_published=budgets.on_published,  # the budget gate stops counting what the ledger covers
        )
        limiter = make_rate_limiter(settings.instance_id, clock=clock)
        gossip = Gossip(
            limiter=limiter,
            prefix=settings.nats_prefix,
            connection=sync.connected_client,
            clock=clock,
            monotonic=time.monotonic,
            logger=logger,
        )
        app.state.runtime = Runtime(
            settings=settings,
            master=master,
            config=config,
            upstream=client,
            clock=clock,
            logger=logger,
            resilience=resilience,
            breakers=Breakers(resilience.breaker, resilience.monotonic),  # per worker, across config swaps
            usage=usage,
            rate_limits=limiter,
            budgets=budgets,
        )
        await sync.load_cache()
        sync.start()  # never waits for NATS: the cache (or nothing, and then unready) serves meanwhile
        usage.start()
        gossip.start()
        spend.start()
        logger.info("dataplane_started", instance=settings.instance_id, version=config.version, stale=config.stale)
        try:
            yield
        finally:
            await spend.stop()
            await gossip.stop()
            await usage.stop()  # before the NATS connection closes: the queue goes to NATS or the spool
            await sync.stop()
            if upstream is None:
                await client.aclose()
            logger.info("dataplane_stopped", instance=settings.instance_id)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route(ANTHROPIC_PATH_PREFIX, messages, methods=["POST"]),
        Route(f"{ANTHROPIC_PATH_PREFIX}/count_tokens", count_tokens, methods=["POST"]),
    ]
    # Stack, outermost first: RequestObserver (request id, overhead header, canonical log line, unknown
    # exceptions → 500) → Starlette's ExceptionMiddleware (GatewayError and router 404/405 → OpenAI JSON) → router.
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestObserver, logger=logger, on_complete=finish_request)],
        exception_handlers={GatewayError: _render_gateway_error, HTTPException: _render_http_exception},
        lifespan=lifespan,
    )


def make_app() -> Starlette:
    return create_app(load_settings())
