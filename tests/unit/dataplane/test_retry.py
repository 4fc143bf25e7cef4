"""The retry/fallback matrix, jittered backoff and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import msgspec
import pytest

from dataplane.errors import (
    GatewayError,
    InvalidRequestError,
    UpstreamAuthError,
    UpstreamRelayedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from dataplane.providers.openai import classify_error
from dataplane.retry import (
    MATRIX,
    FailureClass,
    RetryPolicy,
    backoff_seconds,
    classify_failure,
    decide,
    parse_retry_after,
)


def _openai_error(status: int, code: str | None = None) -> GatewayError:
    body = msgspec.json.encode({"error": {"message": "m", "type": "t", "param": None, "code": code}})
    return classify_error(status, body, {})


# (error, class, retry the same target?, fall over to the next?)
CASES: list[tuple[str, GatewayError, FailureClass, bool, bool]] = [
    ("connect error", UpstreamUnavailableError(), FailureClass.CONNECT, True, True),
    ("timeout", UpstreamTimeoutError(), FailureClass.TIMEOUT, True, True),
    ("429", _openai_error(429, "rate_limit_exceeded"), FailureClass.RATE_LIMITED, True, True),
    ("500", _openai_error(500), FailureClass.SERVER, True, True),
    ("502 without a JSON body", UpstreamStatusError(502), FailureClass.SERVER, True, True),
    ("503", _openai_error(503), FailureClass.SERVER, True, True),
    ("504", UpstreamStatusError(504), FailureClass.SERVER, True, True),
    ("529", _openai_error(529), FailureClass.OVERLOADED, True, True),
    ("context length", _openai_error(400, "context_length_exceeded"), FailureClass.CONTEXT_LENGTH, False, True),
    ("400", _openai_error(400), FailureClass.CLIENT, False, False),
    ("400 with another code", _openai_error(400, "invalid_value"), FailureClass.CLIENT, False, False),
    ("401", _openai_error(401), FailureClass.UPSTREAM_AUTH, False, False),
    ("403", _openai_error(403), FailureClass.UPSTREAM_AUTH, False, False),
    ("404", _openai_error(404, "model_not_found"), FailureClass.CLIENT, False, False),
    ("422", UpstreamStatusError(422), FailureClass.CLIENT, False, False),
    ("408", UpstreamStatusError(408), FailureClass.TIMEOUT, True, True),
    ("a gateway refusal", InvalidRequestError(), FailureClass.CLIENT, False, False),
]


@pytest.mark.parametrize(
    ("error", "failure_class", "retry_same", "fall_over"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_matrix_retries_and_falls_over_only_on_transient_failures(
    error: GatewayError, failure_class: FailureClass, retry_same: bool, fall_over: bool
) -> None:
    assert classify_failure(error) is failure_class
    decision = decide(error)
    assert (decision.retry_same, decision.fall_over) == (retry_same, fall_over)


def test_401_and_403_stay_upstream_auth_errors() -> None:
    assert isinstance(_openai_error(401), UpstreamAuthError)


def test_context_length_is_read_from_the_code_never_the_message() -> None:
    body = msgspec.json.encode({"error": {"message": "context_length_exceeded", "type": "invalid_request_error"}})
    error = classify_error(400, body, {})
    assert isinstance(error, UpstreamRelayedError)
    assert classify_failure(error) is FailureClass.CLIENT


def test_only_unhealthy_target_failures_count_for_the_breaker() -> None:
    counted = {c for c, d in MATRIX.items() if d.counts_for_breaker}
    assert counted == {
        FailureClass.CONNECT,
        FailureClass.TIMEOUT,
        FailureClass.RATE_LIMITED,
        FailureClass.SERVER,
        FailureClass.OVERLOADED,
    }
    assert set(MATRIX) == set(FailureClass)


def test_backoff_is_full_jitter_over_a_capped_exponential() -> None:
    policy = RetryPolicy()
    assert [backoff_seconds(policy, n, lambda: 0.999999) for n in (1, 2, 3, 4, 5, 6)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0], rel=1e-5
    )
    assert backoff_seconds(policy, 3, lambda: 0.5) == pytest.approx(0.2)
    assert backoff_seconds(policy, 9, lambda: 0.0) == 0.0


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.backoff_base_seconds, policy.backoff_factor, policy.backoff_cap_seconds) == (0.1, 2.0, 2.0)
    assert (policy.max_attempts_per_target, policy.max_attempts_per_request) == (3, 6)
    assert (policy.deadline_seconds, policy.connect_timeout_seconds) == (60.0, 5.0)


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        (format_datetime(datetime.fromtimestamp(NOW + 7, tz=UTC), usegmt=True), 7.0),
        (format_datetime(datetime.fromtimestamp(NOW - 60, tz=UTC), usegmt=True), 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds
