"""Weighted routes: the first attempt goes to a target drawn by weight (or fixed by the caller's assignment id),
the others follow in priority order as fallbacks; priority routes keep their order."""

from __future__ import annotations

import random
from collections import Counter

from dataplane.routing import assignment_point, target_order
from shared.snapshot import RouteSpec

WEIGHTED = RouteSpec(id="r1", name="ab", deployment_ids=["a", "b", "c"], strategy="weighted", weights=[6, 3, 1])


def test_a_priority_route_keeps_its_order_whatever_the_draw() -> None:
    route = RouteSpec(id="r0", name="p", deployment_ids=["a", "b", "c"])
    assert target_order(route, 0.99) == ["a", "b", "c"]


def test_the_draw_picks_the_target_whose_share_holds_it_and_the_rest_follow_in_order() -> None:
    assert target_order(WEIGHTED, 0.0) == ["a", "b", "c"]
    assert target_order(WEIGHTED, 0.599) == ["a", "b", "c"]
    assert target_order(WEIGHTED, 0.6) == ["b", "a", "c"]
    assert target_order(WEIGHTED, 0.899) == ["b", "a", "c"]
    assert target_order(WEIGHTED, 0.9) == ["c", "a", "b"]
    assert target_order(WEIGHTED, 0.999999) == ["c", "a", "b"]


def test_empty_weights_mean_equal_shares() -> None:
    route = RouteSpec(id="r2", name="even", deployment_ids=["a", "b"], strategy="weighted")
    assert target_order(route, 0.49)[0] == "a" and target_order(route, 0.5)[0] == "b"


def test_a_thousand_draws_split_by_weight_within_tolerance() -> None:
    draws = random.Random(7)
    firsts = Counter(target_order(WEIGHTED, draws.random())[0] for _ in range(1000))
    # 5 standard deviations of a binomial(1000, p) either side of the expected count
    for target, share in (("a", 0.6), ("b", 0.3), ("c", 0.1)):
        sigma = (1000 * share * (1 - share)) ** 0.5
        assert abs(firsts[target] - 1000 * share) < 5 * sigma, firsts


def test_an_assignment_id_always_lands_on_the_same_target_and_ids_spread() -> None:
    points = [assignment_point(WEIGHTED, f"user-{n}") for n in range(1000)]
    assert points == [assignment_point(WEIGHTED, f"user-{n}") for n in range(1000)]
    assert all(0 <= p < 1 for p in points)
    firsts = Counter(target_order(WEIGHTED, p)[0] for p in points)
    assert abs(firsts["a"] - 600) < 5 * (1000 * 0.6 * 0.4) ** 0.5, firsts
    other_route = RouteSpec(id="r9", name="other", deployment_ids=["a", "b"], strategy="weighted")
    assert assignment_point(other_route, "user-1") != assignment_point(WEIGHTED, "user-1")
