"""The window's cached totals always equal the sums over its live buckets, whatever order counts arrive in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.ratelimit.window import BUCKET_SECONDS, REQUESTS, TOKENS_ADDED, TOKENS_RELEASED, Window

START = 1_000_000.0

# (operation, bucket offset from now's bucket, requests, tokens, seconds to move the clock)
operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "merge", "prune", "advance"]),
        st.integers(min_value=-14, max_value=1),
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=-50, max_value=50),
        st.floats(min_value=0, max_value=3 * BUCKET_SECONDS),
    ),
    max_size=60,
)


def _naive(window: Window, now: float) -> tuple[int, int, int | None, int | None]:
    live = window.live(now)
    requests = sum(c[REQUESTS] for c in live.values())
    tokens = max(0, sum(c[TOKENS_ADDED] - c[TOKENS_RELEASED] for c in live.values()))
    used_requests = min((b for b, c in live.items() if c[REQUESTS] > 0), default=None)
    used_tokens = min((b for b, c in live.items() if c[TOKENS_ADDED] > c[TOKENS_RELEASED]), default=None)
    return requests, tokens, used_requests, used_tokens


@settings(max_examples=300, deadline=None)
@given(operations)
def test_cached_totals_equal_the_sums_over_the_live_buckets(steps: list[tuple[str, int, int, int, float]]) -> None:
    window = Window()
    now = START
    for operation, offset, requests, tokens, seconds in steps:
        bucket = int(now // BUCKET_SECONDS) + offset
        if operation == "add":
            window.add(bucket, requests=requests, tokens=tokens)
        elif operation == "merge":
            known = window.live(now).get(bucket, [0, 0, 0])
            window.merge(bucket, [known[0] + requests, known[1] + abs(tokens), known[2] + max(0, -tokens)])
        elif operation == "prune":
            window.prune(now)
        else:
            now += seconds
        cached = (
            window.requests(now),
            window.tokens(now),
            window.oldest_used_bucket(now, tokens=False),
            window.oldest_used_bucket(now, tokens=True),
        )
        assert cached == _naive(window, now)
