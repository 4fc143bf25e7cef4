"""The rate-limit step of admission: refuse with a 429 naming the limit, or count the request and hand back an
Admission that settles its tokens and frees its concurrency slot when it ends. Both answers carry OpenAI's
`x-ratelimit-limit|remaining|reset-requests|tokens` headers for the tightest applying limit of each kind."""

from __future__ import annotations

import math

from dataplane.errors import RateLimitedError
from dataplane.observability import RequestRecord
from dataplane.ratelimit.limiter import (
    DIMENSION_NAMES,
    REQUESTS,
    TOKENS,
    Held,
    RateLimiter,
    Refusal,
    Usage,
)
from shared.snapshot import KeySpec, RateLimitSpec, RouteSpec

_HEADER_SUFFIX = {REQUESTS: "requests", TOKENS: "tokens"}


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: `6s`, `1m0s`."""
    whole = max(0, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def limit_headers(tightest: dict[int, Usage], *, cost: dict[int, int], new_count_reset: float) -> dict[str, str]:
    """The headers for the tightest limit of each kind, once `cost` is counted (which then resets, if nothing
    older does, after `new_count_reset` seconds)."""
    headers: dict[str, str] = {}
    for dimension, suffix in _HEADER_SUFFIX.items():
        usage = tightest.get(dimension)
        if usage is None:
            continue
        headers[f"x-ratelimit-limit-{suffix}"] = str(math.floor(usage.limit))
        headers[f"x-ratelimit-remaining-{suffix}"] = str(max(0, math.floor(usage.limit - usage.used - cost[dimension])))
        reset = usage.reset_seconds if usage.reset_seconds > 0 or cost[dimension] == 0 else new_count_reset
        headers[f"x-ratelimit-reset-{suffix}"] = format_duration(reset)
    return headers


def describe(spec: RateLimitSpec) -> str:
    where = spec.scope if spec.scope_id is None else f"{spec.scope} {spec.scope_id}"
    model = "" if spec.model is None else f", model {spec.model}"
    return f"rate limit {spec.id} ({where}{model})"


def refusal_message(refusal: Refusal) -> str:
    usage = refusal.usage
    return (
        f"Rate limit reached: {describe(usage.spec)} allows {math.floor(usage.limit)} "
        f"{DIMENSION_NAMES[usage.dimension]} here; used {usage.used}, requested {refusal.requested}. "
        f"Try again in {refusal.retry_after_seconds}s."
    )


class RateLimitAdmission:
    """What one admitted request holds in the rate limits; settled exactly once."""

    __slots__ = ("_held", "_limiter", "_settled")

    def __init__(self, limiter: RateLimiter, held: list[Held]) -> None:
        self._limiter = limiter
        self._held = held
        self._settled = False

    def settle(self, record: RequestRecord) -> None:
        if self._settled:
            return
        self._settled = True
        self._limiter.settle(self._held, actual_tokens=actual_tokens(record))


def actual_tokens(record: RequestRecord) -> int:
    """Tokens the request used: the reported (or estimated) usage; none if it failed before an upstream answered;
    the reservation when an answer went out without any usage known."""
    if record.usage is not None:
        return record.usage.total
    if record.status >= 400 or not record.response_started:
        return 0
    return record.reserved_tokens


def admit_rate_limits(
    limiter: RateLimiter,
    *,
    version: int,
    limits: list[RateLimitSpec],
    key: KeySpec,
    route: RouteSpec,
    record: RequestRecord,
    reserved_tokens: int,
) -> RateLimitAdmission | None:
    """Raise RateLimitedError if any applying limit is full; otherwise count the request and return its hold."""
    specs = limiter.limits_for(version=version, limits=limits, key=key, route=route)
    if not specs:
        return None
    decision = limiter.check(specs, reserved_tokens=reserved_tokens)
    if decision.refusal is not None:
        refusal = decision.refusal
        headers = limit_headers(decision.tightest, cost={REQUESTS: 0, TOKENS: 0}, new_count_reset=0.0)
        kind = "tokens" if refusal.usage.dimension == TOKENS else "requests"
        raise RateLimitedError(
            refusal_message(refusal),
            kind=kind,
            limit_headers=headers,
            retry_after_seconds=refusal.retry_after_seconds,
        )
    held = limiter.commit(specs, reserved_tokens=reserved_tokens)
    headers = limit_headers(
        decision.tightest,
        cost={REQUESTS: 1, TOKENS: reserved_tokens},
        new_count_reset=limiter.new_count_reset_seconds(),
    )
    # an earlier attempt's headers give way to this one's
    record.response_headers[:] = [h for h in record.response_headers if not h[0].startswith(b"x-ratelimit-")]
    record.response_headers.extend((name.encode(), value.encode()) for name, value in headers.items())
    return RateLimitAdmission(limiter, held)
