"""Circuit breakers with an injected clock."""

from __future__ import annotations

from dataplane.breaker import BreakerPolicy, Breakers, CircuitBreaker, CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(**policy: float) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(BreakerPolicy(**policy), clock), clock  # type: ignore[arg-type]


def test_opens_after_consecutive_failures_and_refuses_until_the_cooldown() -> None:
    breaker, clock = _breaker()
    for _ in range(4):
        breaker.record_failure()
    assert breaker.read().state == CircuitState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.read().state == CircuitState.OPEN
    assert not breaker.allow()
    clock.now += 29.9
    assert not breaker.allow()
    assert breaker.seconds_until_probe() > 0


def test_a_success_resets_the_consecutive_count() -> None:
    breaker, _ = _breaker()
    for _ in range(4):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(4):
        breaker.record_failure()
    assert breaker.read().state == CircuitState.CLOSED
    assert breaker.read().consecutive_failures == 4


def test_half_opens_after_the_cooldown_and_lets_one_probe_through() -> None:
    breaker, clock = _breaker()
    for _ in range(5):
        breaker.record_failure()
    clock.now += 30
    assert breaker.read().state == CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # the probe is in flight
    breaker.record_success()
    assert breaker.read().state == CircuitState.CLOSED
    assert breaker.read().consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_a_failed_probe_reopens_for_another_cooldown() -> None:
    breaker, clock = _breaker()
    for _ in range(5):
        breaker.record_failure()
    clock.now += 30
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.read().state == CircuitState.OPEN
    clock.now += 29
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_a_released_probe_lets_the_next_request_probe() -> None:
    breaker, clock = _breaker()
    for _ in range(5):
        breaker.record_failure()
    clock.now += 30
    assert breaker.allow()
    breaker.release()
    assert breaker.read().state == CircuitState.HALF_OPEN
    assert breaker.allow()


def test_opens_when_the_error_rate_over_the_window_exceeds_half() -> None:
    breaker, clock = _breaker()
    # alternating outcomes never reach 5 in a row; 6 failures of 11 is above 50 %
    for _ in range(5):
        breaker.record_failure()
        breaker.record_success()
        clock.now += 1
    assert breaker.read().state == CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.read().state == CircuitState.OPEN


def test_the_error_rate_needs_the_minimum_number_of_requests() -> None:
    breaker, _ = _breaker(consecutive_failures=100)
    for _ in range(4):
        breaker.record_failure()
        breaker.record_success()
    breaker.record_failure()  # 5 of 9: above half, but fewer than 10 requests
    assert breaker.read().state == CircuitState.CLOSED


def test_outcomes_older_than_the_window_are_forgotten() -> None:
    breaker, clock = _breaker(consecutive_failures=100)
    for _ in range(9):
        breaker.record_failure()
    clock.now += 31
    for _ in range(9):
        breaker.record_success()
    breaker.record_failure()  # 1 failure of 10 in the window
    assert breaker.read().state == CircuitState.CLOSED


def test_breakers_survive_config_swaps_for_deployments_that_still_exist() -> None:
    breakers = Breakers(BreakerPolicy(), FakeClock())
    kept, dropped = breakers.of("d1"), breakers.of("d2")
    kept.record_failure()
    dropped.record_failure()
    breakers.keep_only({"d1", "d3"}, version=2)
    assert breakers.of("d1") is kept
    assert breakers.of("d2") is not dropped
    assert breakers.of("d2").read().consecutive_failures == 0
