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
    """One replica's counts for one limit, bucket by bucket."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: dict[int, Counts] = {}

    def _counts(self, bucket: int) -> Counts:
        counts = self.buckets.get(bucket)
        if counts is None:
            counts = self.buckets[bucket] = [0, 0, 0]
        return counts

    def add(self, bucket: int, *, requests: int = 0, tokens: int = 0) -> None:
        """Count requests and tokens in `bucket`; negative tokens are a release (settlement below the reservation)."""
        counts = self._counts(bucket)
        counts[REQUESTS] += requests
        if tokens >= 0:
            counts[TOKENS_ADDED] += tokens
        else:
            counts[TOKENS_RELEASED] += -tokens

    def merge(self, bucket: int, counts: Counts) -> None:
        """Take in another copy of a replica's counts for `bucket` (idempotent: the maximum of each counter)."""
        mine = self._counts(bucket)
        for index, value in enumerate(counts[:3]):
            if value > mine[index]:
                mine[index] = value

    def requests(self, now: float) -> int:
        oldest = first_live_bucket(now)
        return sum(c[REQUESTS] for b, c in self.buckets.items() if b >= oldest)

    def tokens(self, now: float) -> int:
        oldest = first_live_bucket(now)
        return max(0, sum(c[TOKENS_ADDED] - c[TOKENS_RELEASED] for b, c in self.buckets.items() if b >= oldest))

    def oldest_used_bucket(self, now: float, *, tokens: bool) -> int | None:
        """The oldest live bucket that holds requests (or tokens), whose expiry frees room first."""
        oldest = first_live_bucket(now)
        used = [
            b
            for b, c in self.buckets.items()
            if b >= oldest and ((c[TOKENS_ADDED] > c[TOKENS_RELEASED]) if tokens else c[REQUESTS] > 0)
        ]
        return min(used) if used else None

    def prune(self, now: float) -> None:
        oldest = first_live_bucket(now)
        for bucket in [b for b in self.buckets if b < oldest]:
            del self.buckets[bucket]

    def live(self, now: float) -> dict[int, Counts]:
        oldest = first_live_bucket(now)
        return {b: list(c) for b, c in self.buckets.items() if b >= oldest}

    def is_empty(self) -> bool:
        return not self.buckets
