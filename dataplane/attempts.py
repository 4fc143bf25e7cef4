"""The attempt loop: the route's targets in priority order, each retried per the retry policy, falling over to the
next on the failures `retry.MATRIX` allows, within an attempt budget and a total deadline, skipping targets whose
circuit is open (DESIGN.md §4).

One attempt is `call(target, seconds_left)`: it returns a response once the answer is known good (for a stream:
its first chunk arrived, nothing has reached the client yet) or raises a GatewayError. After that, the response
is the client's and nothing here retries it.

Each attempt goes through the pipeline again: it is admitted by the limits (dataplane.admission.admit_attempt: a
target that refuses unpriced calls, or whose price does not fit the budget, is skipped for the next), counted by
the target's circuit, and accounted: an attempt that failed and was followed by another is settled and gets its
own usage event (dataplane.settle.settle_failed_attempt); the request's own event describes the last attempt."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from dataplane.admission import admit_attempt
from dataplane.breaker import CircuitBreaker
from dataplane.config_state import ConfigView
from dataplane.errors import (
    BudgetExceededError,
    DeploymentUnpricedError,
    GatewayError,
    NoHealthyTargetError,
    RateLimitedError,
)
from dataplane.observability import RequestRecord
from dataplane.retry import RetryPolicy, backoff_seconds, decide, for_route, parse_retry_after, retry_after_of
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.settle import settle_failed_attempt

AttemptCall = Callable[[Target, float], Awaitable[Response]]


def deadline_seconds(targets: list[Target], policy: RetryPolicy) -> float:
    """The policy's deadline, never more than one full timeout per target."""
    return min(policy.deadline_seconds, sum(t.deployment.timeout_seconds for t in targets))


async def call_with_fallback(
    targets: list[Target], *, call: AttemptCall, record: RequestRecord, runtime: Runtime, view: ConfigView
) -> Response:
    """The first known-good answer of the route's targets, or the last failure (or 503 if every circuit is open)."""
    resilience = runtime.resilience
    route_policy = targets[0].route.policy
    policy = for_route(resilience.retry, route_policy)
    fall_over_on = None if route_policy.fall_over_on is None else frozenset(route_policy.fall_over_on)
    runtime.breakers.keep_only(view.deployments_by_id, version=view.version)
    runtime.latencies.keep_only(view.deployments_by_id, version=view.version)
    deadline = resilience.monotonic() + deadline_seconds(targets, policy)
    last_error: GatewayError | None = None
    failed_attempt: GatewayError | None = None  # the last attempt's failure, until the next attempt starts
    for target in targets:
        breaker = runtime.breakers.of(target.deployment.id)
        for try_number in range(1, policy.max_attempts_per_target + 1):
            seconds_left = deadline - resilience.monotonic()
            if record.attempts >= policy.max_attempts_per_request or seconds_left <= 0:
                raise _given_up(last_error, targets, runtime)
            if not breaker.allow():
                break
            if failed_attempt is not None:  # another attempt follows it: it gets its own usage event
                settle_failed_attempt(runtime, record, failed_attempt)
                failed_attempt = None
            try:
                admit_attempt(runtime, record, target)
            except (DeploymentUnpricedError, BudgetExceededError) as refusal:  # a cheaper target may fit
                breaker.release()
                last_error = refusal
                break
            except RateLimitedError:
                breaker.release()
                if record.attempts and last_error is not None:  # the caller's limit ends the retries: the upstream
                    raise last_error from None  # failure they followed is the answer, not the limit
                raise
            except BaseException:
                breaker.release()
                raise
            record.attempts += 1
            record.deployment_id, record.deployment = target.deployment.id, target.deployment.name
            record.provider_kind, record.upstream_model = target.provider.kind, target.deployment.model
            started = resilience.monotonic()
            try:
                response = await _attempt(call, target, seconds_left, breaker)
            except GatewayError as error:
                last_error = failed_attempt = error
                decision = decide(error, fall_over_on)
                if decision.retry_same and try_number < policy.max_attempts_per_target:
                    delay = _delay_before_retry(
                        error, try_number, seconds_left=deadline - resilience.monotonic(), runtime=runtime
                    )
                    if delay is not None:
                        await resilience.sleep(delay)
                        record.retry_wait_seconds += delay
                        continue
                if not decision.fall_over:
                    raise
                break
            runtime.latencies.record(target.deployment.id, resilience.monotonic() - started)
            return response
    raise _given_up(last_error, targets, runtime)


async def _attempt(call: AttemptCall, target: Target, seconds_left: float, breaker: CircuitBreaker) -> Response:
    """One call, its outcome reported to the target's circuit (a cancelled call gives back a half-open probe)."""
    try:
        response = await call(target, seconds_left)
    except GatewayError as error:
        if decide(error).counts_for_breaker:
            breaker.record_failure()
        else:
            breaker.release()
        raise
    except BaseException:
        breaker.release()
        raise
    breaker.record_success()
    return response


def _delay_before_retry(error: GatewayError, try_number: int, *, seconds_left: float, runtime: Runtime) -> float | None:
    """How long to wait before retrying the same target; None to fall over instead (the wait would not fit in the
    deadline, as when the upstream's `Retry-After` asks for longer than what is left)."""
    resilience = runtime.resilience
    retry_after = parse_retry_after(retry_after_of(error), now=runtime.clock())
    delay = retry_after
    if delay is None:
        delay = backoff_seconds(resilience.retry, try_number, resilience.random)
    return None if delay >= seconds_left else delay


def _given_up(last_error: GatewayError | None, targets: list[Target], runtime: Runtime) -> GatewayError:
    if last_error is not None:
        return last_error
    # nothing was tried: every target's circuit is open
    wait = min(runtime.breakers.of(t.deployment.id).seconds_until_probe() for t in targets)
    return NoHealthyTargetError(retry_after_seconds=max(1, math.ceil(wait)))
