"""Circuit breakers, one per target (deployment id), in memory and per worker.

A closed circuit opens after `consecutive_failures` failures in a row, or when more than `error_rate` of the
outcomes in the last `window_seconds` were failures (once the window holds `window_min_requests`). An open circuit
is skipped by routing; after `cooldown_seconds` it half-opens and lets exactly one probe through: success closes
it, failure reopens it. Only failures that say the target is unhealthy are recorded (retry.MATRIX); other
outcomes are neutral. The clock is injected (monotonic seconds)."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Collection

import msgspec


class BreakerPolicy(msgspec.Struct, frozen=True):
    consecutive_failures: int = 5
    window_seconds: float = 30.0
    window_min_requests: int = 10
    error_rate: float = 0.5
    cooldown_seconds: float = 30.0


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitRead(msgspec.Struct, frozen=True):
    state: CircuitState
    consecutive_failures: int


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._probing = False
        self.consecutive_failures = 0
        self._window: deque[tuple[float, bool]] = deque()  # (when, failed)

    @property
    def state(self) -> CircuitState:
        """The state as routing would see it now (an open circuit past its cooldown reads as half-open)."""
        if self._state is CircuitState.OPEN and self._cooled_down():
            return CircuitState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May a request be sent to this target now? In half-open, the caller that gets True holds the probe and
        must report its outcome (`record_success`, `record_failure` or `release`)."""
        if self._state is CircuitState.CLOSED:
            return True
        if self._state is CircuitState.OPEN:
            if not self._cooled_down():
                return False
            self._state = CircuitState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        if self._state is CircuitState.HALF_OPEN:
            self._close()
            return
        self._observe(failed=False)

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self._state is CircuitState.HALF_OPEN:
            self._open()
            return
        self._observe(failed=True)
        if self._state is CircuitState.CLOSED and (
            self.consecutive_failures >= self._policy.consecutive_failures or self._error_rate_exceeded()
        ):
            self._open()

    def release(self) -> None:
        """The probe ended without saying anything about the target's health (a neutral outcome, a cancel)."""
        self._probing = False

    def seconds_until_probe(self) -> float:
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._policy.cooldown_seconds - self._clock())

    def read(self) -> CircuitRead:
        return CircuitRead(state=self.state, consecutive_failures=self.consecutive_failures)

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self._policy.cooldown_seconds

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()
        self._probing = False

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._probing = False
        self._window.clear()

    def _observe(self, *, failed: bool) -> None:
        now = self._clock()
        self._window.append((now, failed))
        horizon = now - self._policy.window_seconds
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()

    def _error_rate_exceeded(self) -> bool:
        total = len(self._window)
        if total < self._policy.window_min_requests:
            return False
        failures = sum(1 for _, failed in self._window if failed)
        return failures / total > self._policy.error_rate


class Breakers:
    """The worker's circuits by deployment id. Owned by the app; circuits of deployments that still exist survive
    config swaps, the others are dropped (`keep_only`)."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._by_deployment: dict[str, CircuitBreaker] = {}
        self._pruned_for: int | None = None

    def of(self, deployment_id: str) -> CircuitBreaker:
        breaker = self._by_deployment.get(deployment_id)
        if breaker is None:
            breaker = self._by_deployment[deployment_id] = CircuitBreaker(self._policy, self._clock)
        return breaker

    def keep_only(self, deployment_ids: Collection[str], *, version: int) -> None:
        """Drop the circuits of deployments the config of `version` no longer has (once per version)."""
        if self._pruned_for == version:
            return
        self._pruned_for = version
        for deployment_id in [d for d in self._by_deployment if d not in deployment_ids]:
            del self._by_deployment[deployment_id]
