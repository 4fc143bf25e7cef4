"""Admission (DESIGN.md §4, §5): after authorization, each limit that applies (rate limits, budgets) reserves
what the request is expected to use and hands back an `Admission`; a refusal raises a GatewayError (429) instead.
Every admission is appended to `record.admissions` and settled exactly once by `dataplane.settle` when the request
ends, whatever its outcome, with the actual usage on the record (`record.usage`, `record.cost_micro_usd`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from dataplane.observability import RequestRecord
from dataplane.ratelimit.admission import admit_rate_limits
from shared.snapshot import KeySpec, RouteSpec

if TYPE_CHECKING:
    from dataplane.config_state import ConfigView
    from dataplane.runtime import Runtime


class Admission(Protocol):
    def settle(self, record: RequestRecord) -> None:
        """Replace the reservation by what the request actually used (nothing, if it failed before an upstream
        answered) and release any concurrency slot. Must not raise and must not block."""


def admit(
    *, runtime: Runtime, view: ConfigView, key: KeySpec, route: RouteSpec, record: RequestRecord, reserved_tokens: int
) -> None:
    """Every limit that applies to this key and route, in order; raises the first refusal. Every endpoint that
    calls a model calls this once, after authorization and before routing."""
    record.reserved_tokens = reserved_tokens
    rate_limited = admit_rate_limits(
        runtime.rate_limits,
        version=view.version,
        limits=view.snapshot.rate_limits,
        key=key,
        route=route,
        record=record,
        reserved_tokens=reserved_tokens,
    )
    if rate_limited is not None:
        record.admissions.append(rate_limited)
    now = runtime.clock()
    budgeted = runtime.budgets.admit(
        snapshot=view.snapshot, key=key, route=route, record=record, reserved_tokens=reserved_tokens, now=now
    )
    if budgeted is not None:
        record.admissions.append(budgeted)
