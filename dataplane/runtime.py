"""What the request path needs from the app, built once in the lifespan and kept on `app.state.runtime`."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from structlog.typing import FilteringBoundLogger

from dataplane.breaker import BreakerPolicy, Breakers
from dataplane.budgets import BudgetGate
from dataplane.config_state import ConfigState, ConfigView
from dataplane.errors import ConfigUnavailableError
from dataplane.latency import LatencyTracker
from dataplane.providers.vertex_auth import GoogleTokens
from dataplane.ratelimit.limiter import RateLimiter, make_rate_limiter
from dataplane.retry import RetryPolicy
from dataplane.settings import DataPlaneSettings
from dataplane.upstream import UpstreamClient
from dataplane.usage_events import UsageEmitter
from shared.crypto import MasterSecret


@dataclass(frozen=True, slots=True)
class Resilience:
    """The retry and breaker policies, with the time and randomness they use (tests inject their own)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    monotonic: Callable[[], float] = time.monotonic  # deadlines and circuit cooldowns
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # backoff between attempts
    random: Callable[[], float] = random.random  # backoff jitter, in [0, 1)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: DataPlaneSettings
    master: MasterSecret
    config: ConfigState
    upstream: UpstreamClient
    clock: Callable[[], float]  # unix seconds
    logger: FilteringBoundLogger
    resilience: Resilience = field(default_factory=Resilience)
    breakers: Breakers = field(default_factory=lambda: Breakers(BreakerPolicy(), time.monotonic))
    latencies: LatencyTracker = field(default_factory=LatencyTracker)  # per worker, across config swaps
    usage: UsageEmitter | None = None  # where finished requests' usage events go (dataplane.settle)
    rate_limits: RateLimiter = field(default_factory=make_rate_limiter)  # per worker, across config swaps
    budgets: BudgetGate = field(default_factory=BudgetGate)  # per worker: spend, uncovered cost, reservations
    google_tokens: GoogleTokens = field(default_factory=GoogleTokens)  # per worker: Vertex AI access tokens

    def admit_view(self) -> ConfigView:
        """The config this request uses from start to end; refuses while none was ever applied."""
        view = self.config.view
        if view is None:
            raise ConfigUnavailableError()
        return view


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
