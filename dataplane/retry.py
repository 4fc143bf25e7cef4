"""The retry policy and the retry/fallback matrix: which upstream failures are retried on the same target, which
fall over to the next target, and which are final. Pure: no I/O, the clock and the random source are passed in.

| failure class        | examples                                  | retry same target | fall over | breaker |
|----------------------|-------------------------------------------|-------------------|-----------|---------|
| connect              | refused, reset, DNS, dropped before reply | yes               | yes       | failure |
| timeout              | connect/total/idle timeout, deadline      | yes               | yes       | failure |
| rate_limited         | 429                                       | yes               | yes       | failure |
| server               | 500, 502, 503, 504                        | yes               | yes       | failure |
| overloaded           | 529                                       | yes               | yes       | failure |
| context_length       | `error.code == "context_length_exceeded"` | no                | yes       | -       |
| content_policy       | `error.code` content_policy_violation,    | no                | yes       | -       |
|                      | content_filter (the provider's filter)    |                   |           |         |
| upstream_auth        | 401, 403 (our credentials refused)        | no                | no        | -       |
| client               | 400, 404, 422, every other status         | no                | no        | -       |
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import msgspec

from dataplane.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamRelayedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from shared.route_policy import RoutePolicy

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})
_SERVER_STATUSES = frozenset({500, 502, 503, 504})


class RetryPolicy(msgspec.Struct, frozen=True):
    """How hard one request tries: the data plane's defaults, which a route's RoutePolicy may override
    (`for_route`)."""

    backoff_base_seconds: float = 0.1
    backoff_factor: float = 2.0
    backoff_cap_seconds: float = 2.0
    max_attempts_per_target: int = 3
    max_attempts_per_request: int = 6
    deadline_seconds: float = 60.0  # never more than the sum of the route's targets' timeouts
    connect_timeout_seconds: float = 5.0


class FailureClass(enum.StrEnum):
    CONNECT = "connect"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    OVERLOADED = "overloaded"
    CONTEXT_LENGTH = "context_length"
    CONTENT_POLICY = "content_policy"
    UPSTREAM_AUTH = "upstream_auth"
    CLIENT = "client"


class Decision(msgspec.Struct, frozen=True):
    retry_same: bool
    fall_over: bool
    counts_for_breaker: bool  # does this failure say the target is unhealthy?


_TRANSIENT = Decision(retry_same=True, fall_over=True, counts_for_breaker=True)
_FINAL = Decision(retry_same=False, fall_over=False, counts_for_breaker=False)

MATRIX: dict[FailureClass, Decision] = {
    FailureClass.CONNECT: _TRANSIENT,
    FailureClass.TIMEOUT: _TRANSIENT,
    FailureClass.RATE_LIMITED: _TRANSIENT,
    FailureClass.SERVER: _TRANSIENT,
    FailureClass.OVERLOADED: _TRANSIENT,
    # the request is too big for this target, not the target's fault: a larger-context target may take it
    FailureClass.CONTEXT_LENGTH: Decision(retry_same=False, fall_over=True, counts_for_breaker=False),
    # this provider's content filter refused; another provider's policy may differ
    FailureClass.CONTENT_POLICY: Decision(retry_same=False, fall_over=True, counts_for_breaker=False),
    FailureClass.UPSTREAM_AUTH: _FINAL,
    FailureClass.CLIENT: _FINAL,
}


def _class_of_status(status: int) -> FailureClass:
    if status == 408:  # the provider timed out on the model (e.g. Bedrock's ModelTimeoutException)
        return FailureClass.TIMEOUT
    if status == 429:
        return FailureClass.RATE_LIMITED
    if status == 529:
        return FailureClass.OVERLOADED
    if status in _SERVER_STATUSES:
        return FailureClass.SERVER
    return FailureClass.CLIENT


def classify_failure(error: GatewayError) -> FailureClass:
    """The matrix row of an upstream failure, from the error class, status and structured code only."""
    if isinstance(error, UpstreamUnavailableError):
        return FailureClass.CONNECT
    if isinstance(error, UpstreamTimeoutError):
        return FailureClass.TIMEOUT
    if isinstance(error, UpstreamAuthError):
        return FailureClass.UPSTREAM_AUTH
    if isinstance(error, UpstreamRelayedError) and error.code == CONTEXT_LENGTH_EXCEEDED:
        return FailureClass.CONTEXT_LENGTH
    if isinstance(error, UpstreamRelayedError) and error.code in CONTENT_POLICY_CODES:
        return FailureClass.CONTENT_POLICY
    if isinstance(error, UpstreamRelayedError | UpstreamStatusError):
        return _class_of_status(error.status)
    return FailureClass.CLIENT


def decide(error: GatewayError, fall_over_on: frozenset[str] | None = None) -> Decision:
    """The matrix's decision; a route that lists `fall_over_on` keeps a fall-over only for the classes listed."""
    failure = classify_failure(error)
    decision = MATRIX[failure]
    if decision.fall_over and fall_over_on is not None and failure not in fall_over_on:
        return msgspec.structs.replace(decision, fall_over=False)
    return decision


def for_route(defaults: RetryPolicy, route: RoutePolicy) -> RetryPolicy:
    """The defaults with the route's overrides applied."""
    overrides = {
        name: value
        for name in ("max_attempts_per_target", "max_attempts_per_request", "deadline_seconds")
        if (value := getattr(route, name)) is not None
    }
    return msgspec.structs.replace(defaults, **overrides) if overrides else defaults


def backoff_seconds(policy: RetryPolicy, retry_number: int, random: Callable[[], float]) -> float:
    """Full jitter: uniform in [0, min(cap, base * factor ** (retry_number - 1))); `retry_number` starts at 1."""
    ceiling = min(policy.backoff_cap_seconds, policy.backoff_base_seconds * policy.backoff_factor ** (retry_number - 1))
    return random() * ceiling


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta seconds or an HTTP date; `now` in unix seconds).
    None when absent or unreadable; a date in the past is 0."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - now
    if seconds != seconds or seconds == float("inf"):  # NaN or infinity
        return None
    return max(0.0, seconds)


def retry_after_of(error: GatewayError) -> str | None:
    return error.headers().get("retry-after")
