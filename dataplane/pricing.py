"""Prices and cost (DESIGN.md §2, §6): which `PriceSpec` is in effect for a deployment at a time, and what a
`TokenUsage` costs under it, in integer micro-USD.

Rounding: every class is priced exactly (tokens x micro-USD per million tokens is an integer), the classes are
summed, and the sum is divided by one million once, rounding up: a request is never charged less than it cost, and
never more than 1 micro-USD above. Classes without their own price use the PriceSpec fallbacks: cached input and
cache writes are priced as input, reasoning as output."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from shared.snapshot import PriceSpec
from shared.usage import TokenUsage

TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per million tokens


def cost_micro_usd(usage: TokenUsage, price: PriceSpec) -> int:
    """The cost of `usage` under `price`, in micro-USD, rounded up once (see the module docstring)."""
    exact = (
        usage.input * price.input
        + usage.cached_input * _or(price.cached_input, price.input)
        + usage.cache_write * _or(price.cache_write, price.input)
        + usage.output * price.output
        + usage.reasoning * _or(price.reasoning, price.output)
    )
    return -(-exact // TOKENS_PER_PRICE_UNIT)


def max_token_price(price: PriceSpec) -> int:
    """The highest per-million price of any class: what a token of unknown class may cost at most."""
    classes = (price.input, price.output, price.cached_input, price.cache_write, price.reasoning)
    return max(c for c in classes if c is not None)


def _or(value: int | None, fallback: int) -> int:
    return fallback if value is None else value


class PriceBook:
    """The prices of one snapshot, indexed by deployment and sorted by `effective_from`. Built once per view."""

    def __init__(self, prices: Iterable[PriceSpec]) -> None:
        by_deployment: dict[str, list[PriceSpec]] = {}
        for price in prices:
            by_deployment.setdefault(price.deployment_id, []).append(price)
        self._prices = {d: sorted(ps, key=lambda p: (p.effective_from, p.id)) for d, ps in by_deployment.items()}
        self._starts = {d: [p.effective_from for p in ps] for d, ps in self._prices.items()}

    def price_at(self, deployment_id: str, when: float) -> PriceSpec | None:
        """The price with the latest `effective_from` ≤ `when` (unix seconds); None if the deployment had none yet."""
        starts = self._starts.get(deployment_id)
        if not starts:
            return None
        position = bisect.bisect_right(starts, when)
        return self._prices[deployment_id][position - 1] if position else None

    def list_price_at(self, deployment_id: str, when: float) -> int | None:
        """What a lowest-cost route ranks targets by: input + output per million tokens; None if unpriced."""
        price = self.price_at(deployment_id, when)
        return None if price is None else price.input + price.output

    def reservation_micro_usd(self, deployment_ids: Iterable[str], *, tokens: int, when: float) -> int:
        """What `tokens` of unknown class may cost on whichever of these deployments serves: each token at the
        highest class price of the dearest deployment (unpriced deployments cost nothing), rounded up."""
        prices = [p for d in deployment_ids if (p := self.price_at(d, when)) is not None]
        if not prices or tokens <= 0:
            return 0
        return -(-tokens * max(max_token_price(p) for p in prices) // TOKENS_PER_PRICE_UNIT)

    def is_priced(self, deployment_id: str, when: float) -> bool:
        return self.price_at(deployment_id, when) is not None
