"""The in-memory rate limiter with an injected clock: the sliding window, settlement of reserved tokens,
concurrency slots, the OpenAI headers, each replica's share between gossip rounds, the idempotent merge of
gossiped counts and the fallback to `limit / replicas` when gossip is lost."""

from __future__ import annotations

import pytest

from dataplane.errors import RateLimitedError
from dataplane.observability import RequestRecord
from dataplane.ratelimit.admission import RateLimitAdmission, admit_rate_limits, format_duration
from dataplane.ratelimit.gossip import make_message, merge_message
from dataplane.ratelimit.limiter import GOSSIP_LOST_SECONDS, RateLimiter, applicable, build_index
from shared.snapshot import KeySpec, RateLimitSpec, RouteSpec
from shared.usage import TokenUsage

T0 = 1_800_000_000.0  # a multiple of 5: the start of a bucket
KEY = KeySpec(
    id="key-1",
    public_id="pub1",
    secret_hash="00",
    environment="prod",
    team_id="team-1",
    user_id="user-1",
    application_id="app-1",
)
ROUTE = RouteSpec(id="route-1", name="chat", deployment_ids=["d"])


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.seq = 0  # gossip message numbers, for the tests that play gossip by hand

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def __call__(self) -> float:
        return self.now


def make_limiter(clock: Clock, name: str = "a") -> RateLimiter:
    return RateLimiter(instance=name, clock=clock, monotonic=clock)


def spec(**limits: int) -> RateLimitSpec:
    return RateLimitSpec(id="limit-1", scope="key", scope_id=KEY.id, **limits)  # type: ignore[arg-type]


def record(*, status: int = 200, usage: TokenUsage | None = None, reserved: int = 0) -> RequestRecord:
    result = RequestRecord(request_id="r", method="POST", path="/v1/chat/completions", started=0.0)
    result.status, result.usage, result.reserved_tokens, result.response_started = status, usage, reserved, True
    return result


def admit(
    limiter: RateLimiter, limits: list[RateLimitSpec], *, tokens: int = 10, into: RequestRecord | None = None
) -> RateLimitAdmission:
    admission = admit_rate_limits(
        limiter,
        version=1,
        limits=limits,
        key=KEY,
        route=ROUTE,
        record=into if into is not None else record(),
        reserved_tokens=tokens,
    )
    assert admission is not None
    return admission


def refused(limiter: RateLimiter, limits: list[RateLimitSpec], *, tokens: int = 10) -> RateLimitedError:
    with pytest.raises(RateLimitedError) as caught:
        admit(limiter, limits, tokens=tokens)
    return caught.value


def test_requests_count_at_admission_and_slide_out_of_the_window_bucket_by_bucket() -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    limits = [spec(requests_per_minute=3)]
    admit(limiter, limits)
    clock.now += 12  # a later bucket
    admit(limiter, limits)
    admit(limiter, limits)
    error = refused(limiter, limits)
    assert error.status == 429 and error.type == "requests" and error.code == "rate_limit_exceeded"
    assert "limit-1" in error.message and "key key-1" in error.message
    headers = error.headers()
    assert headers["retry-after"] == "48"  # the first bucket leaves the window at T0 + 60
    assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "48s" and "x-should-retry" not in headers

    clock.now = T0 + 59.9
    refused(limiter, limits)
    clock.now = T0 + 60  # the first request's bucket is out; the others stay until T0 + 70
    admit(limiter, limits)
    refused(limiter, limits)


def test_tokens_are_reserved_then_settled_to_the_actual_total() -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    limits = [spec(tokens_per_minute=1000)]
    first = admit(limiter, limits, tokens=600)
    refused(limiter, limits, tokens=600)  # 600 reserved + 600 > 1000
    first.settle(record(usage=TokenUsage(input=100, output=100), reserved=600))
    second = admit(limiter, limits, tokens=600)  # 200 used + 600
    second.settle(record(usage=TokenUsage(input=300, output=400, reasoning=50), reserved=600))  # streamed: 750
    error = refused(limiter, limits, tokens=100)  # 200 + 750 + 100 > 1000
    assert error.type == "tokens" and error.headers()["x-ratelimit-remaining-tokens"] == "50"


def test_a_request_that_failed_before_an_answer_releases_its_tokens_and_no_usage_keeps_the_reservation() -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    limits = [spec(tokens_per_minute=1000)]
    admit(limiter, limits, tokens=900).settle(record(status=502, reserved=900))
    admit(limiter, limits, tokens=900).settle(record(status=200, reserved=900))  # answered, usage unknown
    refused(limiter, limits, tokens=200)


def test_settling_twice_counts_once() -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    limits = [spec(tokens_per_minute=1000, concurrent_requests=1)]
    admission = admit(limiter, limits, tokens=500)
    done = record(usage=TokenUsage(input=100), reserved=500)
    admission.settle(done)
    admission.settle(done)
    admit(limiter, limits, tokens=900)  # 100 + 900 fits: the release happened once, the slot is free


def test_a_concurrency_slot_is_held_until_settlement() -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    limits = [spec(concurrent_requests=2)]
    first = admit(limiter, limits)
    admit(limiter, limits)
    error = refused(limiter, limits)
    assert error.headers()["retry-after"] == "1" and "concurrent requests" in error.message
    first.settle(record())
    admit(limiter, limits)


def test_admitted_requests_get_the_tightest_limit_of_each_kind_as_headers() -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    loose = RateLimitSpec(id="org", scope="organization", scope_id=None, requests_per_minute=100)
    tight = RateLimitSpec(id="team", scope="team", scope_id="team-1", requests_per_minute=10, tokens_per_minute=5000)
    admitted = record()
    admit(limiter, [loose, tight], tokens=1000, into=admitted)
    headers = {name.decode(): value.decode() for name, value in admitted.response_headers}
    assert headers == {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "9",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "5000",
        "x-ratelimit-remaining-tokens": "4000",
        "x-ratelimit-reset-tokens": "1m0s",
    }
    assert format_duration(5.2) == "6s" and format_duration(0) == "0s"


def test_a_request_larger_than_the_whole_limit_is_told_to_wait_a_full_window() -> None:
    limiter = make_limiter(Clock())
    assert refused(limiter, [spec(tokens_per_minute=100)], tokens=101).headers()["retry-after"] == "60"


def test_limits_apply_by_scope_and_model() -> None:
    def make(limit_id: str, scope: str, scope_id: str | None, model: str | None = None) -> RateLimitSpec:
        return RateLimitSpec(id=limit_id, scope=scope, scope_id=scope_id, model=model, requests_per_minute=1)

    limits = [
        make("key", "key", "key-1"),
        make("other-key", "key", "key-2"),
        make("user", "user", "user-1"),
        make("app", "application", "app-1"),
        make("team", "team", "team-1"),
        make("env", "environment", "prod"),
        make("dev", "environment", "dev"),
        make("org", "organization", None),
        make("chat-only", "team", "team-1", model="chat"),
        make("other-model", "team", "team-1", model="embed"),
    ]
    found = {s.id for s in applicable(build_index(limits), KEY, ROUTE)}
    assert found == {"key", "user", "app", "team", "env", "org", "chat-only"}


def _three_replicas(clock: Clock, limit: RateLimitSpec | None = None) -> tuple[RateLimiter, RateLimiter, RateLimiter]:
    """Three replicas that hear each other (and themselves); with `limit`, all three track it and hold a share."""
    a, b, c = (make_limiter(clock, name) for name in "abc")
    seq = clock.next_seq()
    hello = [make_message(r, seq=seq, now=clock.now) for r in (a, b, c)]
    for message in hello:  # everyone hears of everyone (and itself: gossip works)
        for receiver in (a, b, c):
            merge_message(receiver, message, monotonic=clock.now)
    if limit is not None:
        for replica in (a, b, c):
            replica.usage_of(limit, 0)
        _exchange(clock, a, b, c)
    return a, b, c


def _exchange(clock: Clock, *replicas: RateLimiter) -> None:
    """One gossip round, all at once: each opens a round, then everyone's counts and leases reach everyone."""
    seq = clock.next_seq()
    messages = []
    for replica in replicas:
        replica.start_round()
        messages.append(make_message(replica, seq=seq, now=clock.now))
    for message in messages:
        for replica in replicas:
            merge_message(replica, message, monotonic=clock.now)


def test_between_rounds_a_replica_admits_at_most_its_share_of_what_remains() -> None:
    clock = Clock()
    limits = [spec(requests_per_minute=60)]
    a, b, c = _three_replicas(clock, limits[0])
    assert a.live_replicas() == 3
    for _ in range(20):  # 60 remaining / 3 replicas
        admit(a, limits)
    error = refused(a, limits)
    assert error.headers()["retry-after"] == "1"  # the view has room: the next round brings a share
    assert error.headers()["x-ratelimit-remaining-requests"] == "40"
    for _ in range(5):
        admit(b, limits)

    clock.now += 1
    _exchange(clock, a, b, c)
    # a's new share leaves out what b and c may still admit in their rounds (their gossiped leases): it is 0, and
    # only the round's first request goes through (b's and c's fresh leases leave room for it)
    assert a.states["limit-1"].share[0] == 0
    admit(a, limits)
    refused(a, limits)
    assert b.states["limit-1"].share[0] == pytest.approx((60 - 5 - 20 - 20) / 3)
    for _ in range(5):
        admit(b, limits)
    refused(b, limits)

    for _ in range(5):  # the limit is never promised twice, so the total stays within it whoever asks
        clock.now += 1
        _exchange(clock, a, b, c)
        for replica in (a, b, c):
            while True:
                try:
                    admit(replica, limits)
                except RateLimitedError:
                    break
    clock.now += 1
    _exchange(clock, a, b, c)
    used = [r.usage_of(limits[0], 0).used for r in (a, b, c)]  # type: ignore[union-attr]
    assert used[0] == used[1] == used[2]  # every replica sees everyone's counts
    assert 55 <= used[0] <= 60 + 2  # README: a round's first request may exceed a share, once per other replica


def test_shares_never_promise_more_than_the_limit_whatever_the_phase_of_the_rounds() -> None:
    clock = Clock()
    replicas = _three_replicas(clock)
    limits = [spec(requests_per_minute=60)]
    asked: list[RateLimiter] = []  # a replica that starts tracking a limit asks for a round at once
    for replica in replicas:
        replica.on_new_limit = lambda replica=replica: asked.append(replica)

    def gossip_round(replica: RateLimiter) -> None:
        replica.start_round()
        message = make_message(replica, seq=clock.next_seq(), now=clock.now)
        for receiver in replicas:
            merge_message(receiver, message, monotonic=clock.now)

    admitted = 0
    for step in range(1200):  # rounds out of phase, a request every 5 ms to each replica in turn
        clock.now += 0.005
        while asked:
            gossip_round(asked.pop())
        if step % 67 == 0:
            gossip_round(replicas[(step // 67) % 3])
        try:
            admit(replicas[step % 3], limits)
            admitted += 1
        except RateLimitedError:
            pass
    assert 55 <= admitted <= 60 + 2  # README: at most (n - 1) requests over, with gossip delivered in time


def test_the_first_request_of_a_round_may_exceed_a_share_smaller_than_itself() -> None:
    clock = Clock()
    a, _, _ = _three_replicas(clock)
    a.start_round()
    limits = [spec(requests_per_minute=2)]  # share 2/3 of a request
    admit(a, limits)
    refused(a, limits)


def test_merging_the_same_counts_twice_or_out_of_order_changes_nothing() -> None:
    clock = Clock()
    a, b = make_limiter(clock, "a"), make_limiter(clock, "b")
    limits = [spec(requests_per_minute=100, tokens_per_minute=10_000)]
    admit(b, limits, tokens=100)
    older = make_message(b, seq=1, now=clock.now)
    admit(b, limits, tokens=100).settle(record(usage=TokenUsage(input=30), reserved=100))
    newer = make_message(b, seq=2, now=clock.now)
    for message in (newer, older, newer, older):
        merge_message(a, message, monotonic=clock.now)
    a.mark_echo()
    assert (a.usage_of(limits[0], 0).used, a.usage_of(limits[0], 1).used) == (2, 130)  # type: ignore[union-attr]


def test_when_gossip_is_lost_each_replica_enforces_limit_over_last_known_replicas_alone() -> None:
    clock = Clock()
    limits = [spec(requests_per_minute=60)]
    a, b, c = _three_replicas(clock, limits[0])
    assert a.last_known_replicas == 3
    for _ in range(15):
        admit(b, limits)
    _exchange(clock, a, b, c)  # a now sees b's 15

    clock.now += GOSSIP_LOST_SECONDS + 1  # no echo since: gossip is lost
    assert not a.gossip_healthy()
    a.start_round()
    assert a.last_known_replicas == 3  # kept from when gossip last worked
    for _ in range(20):  # 60 / 3, counting only its own requests
        admit(a, limits)
    error = refused(a, limits)
    assert error.headers()["x-ratelimit-limit-requests"] == "20"

    a.mark_echo()  # gossip is back: the global view (b's 15 + a's 20) and shares apply again
    a.start_round()
    admit(a, limits)
    assert a.usage_of(limits[0], 0).used == 36  # type: ignore[union-attr]


def test_a_peer_that_stops_gossiping_stops_counting_as_a_replica_but_its_counts_stay() -> None:
    clock = Clock()
    limits = [spec(requests_per_minute=60)]
    a, b, _ = _three_replicas(clock, limits[0])
    for _ in range(10):
        admit(b, limits)
    merge_message(a, make_message(b, seq=clock.next_seq(), now=clock.now), monotonic=clock.now)
    clock.now += 10
    a.mark_echo()
    a.start_round()
    assert a.live_replicas() == 1
    assert a.usage_of(limits[0], 0).used == 10  # type: ignore[union-attr]


def test_a_replica_reuses_the_concurrency_slots_its_requests_give_back_within_a_round() -> None:
    clock = Clock()
    limits = [spec(concurrent_requests=3)]
    a, _, _ = _three_replicas(clock, limits[0])  # a share of one slot each
    for _ in range(10):
        admit(a, limits).settle(record())
    held = admit(a, limits)
    refused(a, limits)
    held.settle(record())
    admit(a, limits)
