"""Admission (DESIGN.md §4, §5), once per upstream attempt: each limit that applies (rate limits, budgets) reserves
what the attempt is expected to use and hands back an `Admission`; a refusal raises a GatewayError instead.

An endpoint calls `admit` once, after authorization: it records on the request what every attempt must reserve
(the key, the route, the token estimate). dataplane.attempts then calls `admit_attempt` before each attempt on a
target, so a retry or a fallback goes through the limits again: it counts as one more request against RPM and
reserves its tokens and its cost at the price of the target it goes to. Every admission is appended to
`record.admissions` and settled exactly once, by `dataplane.settle`: when its attempt fails and another may follow
(`settle_failed_attempt`), or when the request ends, with the actual usage on the record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dataplane.observability import RequestRecord
from dataplane.ratelimit.admission import admit_rate_limits
from shared.snapshot import KeySpec, RouteSpec

if TYPE_CHECKING:
    from dataplane.config_state import ConfigView
    from dataplane.routing import Target
    from dataplane.runtime import Runtime


class Admission(Protocol):
    def settle(self, record: RequestRecord) -> None:
        """Replace the reservation by what the attempt actually used (nothing, if it failed before an upstream
        answered) and release any concurrency slot. Must not raise and must not block."""


@dataclass(frozen=True, slots=True)
class AdmissionPlan:
    """What each attempt of one request is admitted with."""

    view: ConfigView
    key: KeySpec
    route: RouteSpec
    reserved_tokens: int


def admit(*, view: ConfigView, key: KeySpec, route: RouteSpec, record: RequestRecord, reserved_tokens: int) -> None:
    """Every endpoint that calls a model calls this once, after authorization and before routing; the limits are
    checked per attempt (`admit_attempt`)."""
    record.reserved_tokens = reserved_tokens
    record.admission_plan = AdmissionPlan(view=view, key=key, route=route, reserved_tokens=reserved_tokens)


def admit_attempt(runtime: Runtime, record: RequestRecord, target: Target) -> None:
    """Every limit that applies to this attempt, in order; raises the first refusal: DeploymentUnpricedError (403:
    this target refuses unpriced calls), BudgetExceededError (429: its cost at this target's price does not fit)
    or RateLimitedError (429). A request without a plan (count_tokens: it generates nothing) is free."""
    plan = record.admission_plan
    if plan is None:
        return
    # the budget first: an attempt it refuses (this target is too dear or refuses unpriced calls; a cheaper one
    # may follow) has not counted against the rate limits
    budgeted = runtime.budgets.admit(
        snapshot=plan.view.snapshot,
        key=plan.key,
        route=plan.route,
        deployment_id=target.deployment.id,
        reserved_tokens=plan.reserved_tokens,
        now=runtime.clock(),
    )
    if budgeted is not None:
        record.admissions.append(budgeted)
    rate_limited = admit_rate_limits(
        runtime.rate_limits,
        version=plan.view.version,
        limits=plan.view.snapshot.rate_limits,
        key=plan.key,
        route=plan.route,
        record=record,
        reserved_tokens=plan.reserved_tokens,
    )
    if rate_limited is not None:
        record.admissions.append(rate_limited)
