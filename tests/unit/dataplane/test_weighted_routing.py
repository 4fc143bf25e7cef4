"""Weighted and least-latency routes. Weighted: the first attempt goes to a target drawn by weight (or fixed by
the caller's assignment id), the others follow in priority order as fallbacks. Least latency: unmeasured targets
first, then the fastest. Priority routes keep their order."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from dataplane.latency import LatencyTracker
from dataplane.routing import assignment_point, target_order
from shared.snapshot import RouteSpec


def _unmeasured(_deployment_id: str) -> float | None:
    return None


def _unpriced(_deployment_id: str) -> int | None:
    return None


def order(route: RouteSpec, point: float, latency: Callable[[str], float | None]) -> list[str]:
    return target_order(route, route.deployment_ids, point, latency, _unpriced)


WEIGHTED = RouteSpec(id="r1", name="ab", deployment_ids=["a", "b", "c"], strategy="weighted", weights=[6, 3, 1])


def test_a_priority_route_keeps_its_order_whatever_the_draw() -> None:
    route = RouteSpec(id="r0", name="p", deployment_ids=["a", "b", "c"])
    assert order(route, 0.99, _unmeasured) == ["a", "b", "c"]


def test_the_draw_picks_the_target_whose_share_holds_it_and_the_rest_follow_in_order() -> None:
    assert order(WEIGHTED, 0.0, _unmeasured) == ["a", "b", "c"]
    assert order(WEIGHTED, 0.599, _unmeasured) == ["a", "b", "c"]
    assert order(WEIGHTED, 0.6, _unmeasured) == ["b", "a", "c"]
    assert order(WEIGHTED, 0.899, _unmeasured) == ["b", "a", "c"]
    assert order(WEIGHTED, 0.9, _unmeasured) == ["c", "a", "b"]
    assert order(WEIGHTED, 0.999999, _unmeasured) == ["c", "a", "b"]


def test_empty_weights_mean_equal_shares() -> None:
    route = RouteSpec(id="r2", name="even", deployment_ids=["a", "b"], strategy="weighted")
    assert order(route, 0.49, _unmeasured)[0] == "a" and order(route, 0.5, _unmeasured)[0] == "b"


def test_a_thousand_draws_split_by_weight_within_tolerance() -> None:
    draws = random.Random(7)
    firsts = Counter(order(WEIGHTED, draws.random(), _unmeasured)[0] for _ in range(1000))
    # 5 standard deviations of a binomial(1000, p) either side of the expected count
    for target, share in (("a", 0.6), ("b", 0.3), ("c", 0.1)):
        sigma = (1000 * share * (1 - share)) ** 0.5
        assert abs(firsts[target] - 1000 * share) < 5 * sigma, firsts


def test_an_assignment_id_always_lands_on_the_same_target_and_ids_spread() -> None:
    points = [assignment_point(WEIGHTED, f"user-{n}") for n in range(1000)]
    assert points == [assignment_point(WEIGHTED, f"user-{n}") for n in range(1000)]
    assert all(0 <= p < 1 for p in points)
    firsts = Counter(order(WEIGHTED, p, _unmeasured)[0] for p in points)
    assert abs(firsts["a"] - 600) < 5 * (1000 * 0.6 * 0.4) ** 0.5, firsts
    other_route = RouteSpec(id="r9", name="other", deployment_ids=["a", "b"], strategy="weighted")
    assert assignment_point(other_route, "user-1") != assignment_point(WEIGHTED, "user-1")


def test_least_latency_tries_unmeasured_targets_first_then_the_fastest() -> None:
    route = RouteSpec(id="r3", name="fast", deployment_ids=["a", "b", "c"], strategy="least_latency")
    estimates = {"a": 0.30, "b": 0.05}
    assert order(route, 0.0, estimates.get) == ["c", "b", "a"]
    assert order(route, 0.0, {"a": 0.1, "b": 0.1, "c": 0.1}.get) == ["a", "b", "c"]  # ties: priority


def test_the_latency_estimate_is_a_moving_average() -> None:
    tracker = LatencyTracker(weight=0.5)
    assert tracker.estimate("a") is None
    tracker.record("a", 1.0)
    tracker.record("a", 0.0)
    assert tracker.estimate("a") == 0.5
    tracker.keep_only({"b"}, version=2)
    assert tracker.estimate("a") is None
