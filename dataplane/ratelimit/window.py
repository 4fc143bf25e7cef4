"""The sliding window of DESIGN.md §5: 60 seconds in 5-second buckets, as grow-only counters.

A bucket is numbered `floor(unix seconds / 5)`, the same on every replica, so the counts of different replicas for
one bucket can be added. Each bucket holds three counters that only ever grow (requests, tokens reserved or
settled upward, tokens released by settlement), so a replica's state merges idempotently by taking the maximum
of each counter (a PN-counter): a repeated or reordered gossip message changes nothing."""

from __future__ import annotations

import math

BUCKET_SECONDS = 5
WINDOW_BUCKETS = 12  # 60 s
WINDOW_SECONDS = BUCKET_SECONDS * WINDOW_BUCKETS

Counts = list[int]  # [requests, tokens_added, tokens_released], cumulative within the bucket
REQUESTS, TOKENS_ADDED, TOKENS_RELEASED = 0, 1, 2


def bucket_of(now: float) -> int:
    return math.floor(now / BUCKET_SECONDS)


def first_live_bucket(now: float) -> int:
    """The oldest bucket still inside the window at `now` (the current bucket and the 11 before it)."""
    return bucket_of(now) - WINDOW_BUCKETS + 1


def leaves_window_at(bucket: int) -> float:
    """The unix time at which `bucket` stops counting."""
    return float((bucket + WINDOW_BUCKETS) * BUCKET_SECONDS)


class Window:
    """One replica's counts for one limit, bucket by bucket. The live totals (and the oldest used buckets) are
    kept up to date as counts arrive, and summed again only when the window has moved on to another bucket: the
    admission of every request reads them."""

    __slots__ = ("_oldest", "_oldest_used", "_tokens_used_known", "_totals", "buckets")

    def __init__(self) -> None:
        self.buckets: dict[int, Counts] = {}
        self._oldest: int | None = None  # the first live bucket the cached totals are for
        self._totals: Counts = [0, 0, 0]  # sums over the buckets >= _oldest
        self._oldest_used: list[int | None] = [None, None]  # [requests, tokens]: the oldest live bucket using them
        self._tokens_used_known = True  # False once a release may have emptied the oldest bucket holding tokens

    def _counts(self, bucket: int) -> Counts:
        counts = self.buckets.get(bucket)
        if counts is None:
            counts = self.buckets[bucket] = [0, 0, 0]
        return counts

    def _live(self, now: float) -> Counts:
        """The cached totals, summed again when the window moved on."""
        oldest = first_live_bucket(now)
        if oldest != self._oldest:
            totals = [0, 0, 0]
            used: list[int | None] = [None, None]
            for bucket, counts in self.buckets.items():
                if bucket < oldest:
                    continue
                for index in (REQUESTS, TOKENS_ADDED, TOKENS_RELEASED):
                    totals[index] += counts[index]
                if counts[REQUESTS] > 0 and (used[0] is None or bucket < used[0]):
                    used[0] = bucket
                if counts[TOKENS_ADDED] > counts[TOKENS_RELEASED] and (used[1] is None or bucket < used[1]):
                    used[1] = bucket
            self._oldest, self._totals, self._oldest_used = oldest, totals, used
            self._tokens_used_known = True
        return self._totals

    def _changed(self, bucket: int, deltas: Counts) -> None:
        """Keep the cached totals in step with counts added to `bucket`."""
        if self._oldest is None or bucket < self._oldest:
            return
        for index in (REQUESTS, TOKENS_ADDED, TOKENS_RELEASED):
            self._totals[index] += deltas[index]
        counts = self.buckets[bucket]
        if counts[REQUESTS] > 0 and (self._oldest_used[0] is None or bucket < self._oldest_used[0]):
            self._oldest_used[0] = bucket
        if deltas[TOKENS_RELEASED]:  # a release may leave a bucket without tokens: looked up again when asked
            self._tokens_used_known = False
        elif (
            self._tokens_used_known
            and counts[TOKENS_ADDED] > counts[TOKENS_RELEASED]
            and (self._oldest_used[1] is None or bucket < self._oldest_used[1])
        ):
            self._oldest_used[1] = bucket

    def add(self, bucket: int, *, requests: int = 0, tokens: int = 0) -> None:
        """Count requests and tokens in `bucket`; negative tokens are a release (settlement below the reservation)."""
        counts = self._counts(bucket)
        counts[REQUESTS] += requests
        if tokens >= 0:
            counts[TOKENS_ADDED] += tokens
            self._changed(bucket, [requests, tokens, 0])
        else:
            counts[TOKENS_RELEASED] += -tokens
            self._changed(bucket, [requests, 0, -tokens])

    def merge(self, bucket: int, counts: Counts) -> None:
        """Take in another copy of a replica's counts for `bucket` (idempotent: the maximum of each counter)."""
        mine = self._counts(bucket)
        deltas = [0, 0, 0]
        for index, value in enumerate(counts[:3]):
            if value > mine[index]:
                deltas[index] = value - mine[index]
                mine[index] = value
        self._changed(bucket, deltas)

    def requests(self, now: float) -> int:
        return self._live(now)[REQUESTS]

    def tokens(self, now: float) -> int:
        totals = self._live(now)
        return max(0, totals[TOKENS_ADDED] - totals[TOKENS_RELEASED])

    def oldest_used_bucket(self, now: float, *, tokens: bool) -> int | None:
        """The oldest live bucket that holds requests (or tokens), whose expiry frees room first."""
        self._live(now)
        if tokens and not self._tokens_used_known:  # settlements released tokens since it was known
            assert self._oldest is not None
            self._oldest_used[1] = min(
                (b for b, c in self.buckets.items() if b >= self._oldest and c[TOKENS_ADDED] > c[TOKENS_RELEASED]),
                default=None,
            )
            self._tokens_used_known = True
        return self._oldest_used[1 if tokens else 0]

    def prune(self, now: float) -> None:
        oldest = first_live_bucket(now)
        for bucket in [b for b in self.buckets if b < oldest]:
            del self.buckets[bucket]

    def live(self, now: float) -> dict[int, Counts]:
        oldest = first_live_bucket(now)
        return {b: list(c) for b, c in self.buckets.items() if b >= oldest}

    def is_empty(self) -> bool:
        return not self.buckets
