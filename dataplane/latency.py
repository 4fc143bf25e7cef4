"""Per-worker latency estimates for the least-latency strategy: an exponentially weighted moving average of each
deployment's time to answer (the whole reply, or a stream's first chunk), updated on every successful attempt."""

from __future__ import annotations

from collections.abc import Collection

EWMA_WEIGHT = 0.3  # share of the newest observation: recent enough to follow a provider slowing down


class LatencyTracker:
    def __init__(self, weight: float = EWMA_WEIGHT) -> None:
        self._weight = weight
        self._seconds: dict[str, float] = {}
        self._pruned_for: int | None = None

    def record(self, deployment_id: str, seconds: float) -> None:
        previous = self._seconds.get(deployment_id)
        self._seconds[deployment_id] = seconds if previous is None else previous + self._weight * (seconds - previous)

    def estimate(self, deployment_id: str) -> float | None:
        """Seconds to answer, or None before the first success (such a target is tried first, to be measured)."""
        return self._seconds.get(deployment_id)

    def keep_only(self, deployment_ids: Collection[str], *, version: int) -> None:
        """Forget deployments the config of `version` no longer has (once per version)."""
        if self._pruned_for == version:
            return
        self._pruned_for = version
        for deployment_id in [d for d in self._seconds if d not in deployment_ids]:
            del self._seconds[deployment_id]
