"""The data-plane ASGI app. `make_app` is the Granian factory:
`granian --interface asgi --factory dataplane.app:make_app`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.responses import Response
from starlette.types import Scope

from dataplane.asgi import DataPlaneApp, RouteEntry, Router
from dataplane.breaker import Breakers
from dataplane.budgets import BudgetGate
from dataplane.catalog import list_models
from dataplane.chat import chat_completions
from dataplane.completions import completions
from dataplane.config_state import ConfigState
from dataplane.config_sync import ConfigSync
from dataplane.embeddings import embeddings
from dataplane.errors import GatewayError, anthropic_error_response, error_response
from dataplane.messages import count_tokens, messages
from dataplane.observability import RequestObserver
from dataplane.probes import healthz, readyz, status
from dataplane.ratelimit.gossip import Gossip
from dataplane.ratelimit.limiter import make_rate_limiter
from dataplane.responses import responses
from dataplane.runtime import Resilience, Runtime
from dataplane.settings import DataPlaneSettings, load_settings
from dataplane.settle import finish_request
from dataplane.spend_watch import SpendWatch
from dataplane.upstream import UpstreamClient, make_upstream_client
from dataplane.usage_events import UsageEmitter
from dataplane.usage_spool import UsageSpool
from shared.crypto import MasterSecret, decode_b64_key, load_verify_key
from shared.logs import LineWriter, make_logger

ANTHROPIC_PATH_PREFIX = "/v1/messages"


def _render_error(scope: Scope, error: GatewayError) -> Response:
    """A refusal in the protocol of the path asked for: Anthropic's error JSON on its endpoints, else OpenAI's."""
    if scope["path"].startswith(ANTHROPIC_PATH_PREFIX):
        return anthropic_error_response(error)
    return error_response(error)


def create_app(
    settings: DataPlaneSettings,
    *,
    upstream: UpstreamClient | None = None,
    clock: Callable[[], float] = time.time,
    resilience: Resilience | None = None,
) -> DataPlaneApp:
    """The data plane. `upstream` replaces the aiohttp client (the caller then owns and closes it);
    `clock` gives unix seconds for key expiry, timestamps and status reports; `resilience` replaces the retry and
    breaker policies and the monotonic clock, sleep and randomness they use."""
    resilience = resilience or Resilience()
    logger = make_logger(settings.log_level)
    master = MasterSecret(decode_b64_key(settings.secret_key, name="WAYPOST_SECRET_KEY"))
    verify_key = load_verify_key(settings.verify_key)

    @asynccontextmanager
    async def lifespan(app: DataPlaneApp) -> AsyncIterator[None]:
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

    routes: list[RouteEntry] = [
        ("/healthz", ["GET"], healthz),
        ("/readyz", ["GET"], readyz),
        ("/status", ["GET"], status),
        ("/v1/models", ["GET"], list_models),
        ("/v1/chat/completions", ["POST"], chat_completions),
        ("/v1/completions", ["POST"], completions),
        ("/v1/embeddings", ["POST"], embeddings),
        ("/v1/responses", ["POST"], responses),
        (ANTHROPIC_PATH_PREFIX, ["POST"], messages),
        (f"{ANTHROPIC_PATH_PREFIX}/count_tokens", ["POST"], count_tokens),
    ]
    # Stack, outermost first: DataPlaneApp (lifespan, scope["app"]) → RequestObserver (request id, overhead header,
    # canonical log line, unknown exceptions → 500) → Router (exact paths; 404/405 and GatewayError → error JSON).
    router = Router(routes, render_error=_render_error)
    observer = RequestObserver(router, logger=logger, lines=LineWriter(settings.log_level), on_complete=finish_request)
    return DataPlaneApp(observer, lifespan=lifespan)


def make_app() -> DataPlaneApp:
    return create_app(load_settings())
