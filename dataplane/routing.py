"""authorize and select_targets: which route a key may call by `model`, and the deployments that may serve it,
in the order to try them."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from dataplane.conditions import METADATA_HEADER, RequestFacts, first_matching_rule
from dataplane.config_state import ConfigView, ProviderCredentials
from dataplane.errors import ModelNotFoundError
from shared.snapshot import DeploymentSpec, KeySpec, ProviderSpec, RouteSpec

if TYPE_CHECKING:
    from starlette.requests import Request

    from dataplane.runtime import Runtime

ASSIGNMENT_HEADER = "x-waypost-assignment-id"  # a caller-chosen id for stable weighted (A/B) assignment


class Target(msgspec.Struct, frozen=True):
    route: RouteSpec
    deployment: DeploymentSpec
    provider: ProviderSpec
    credentials: ProviderCredentials


def authorize(model: str, *, view: ConfigView, key: KeySpec) -> RouteSpec:
    """The route named `model`. Unknown and forbidden routes get the same answer, so existence is not leaked."""
    route = view.routes_by_name.get(model)
    if route is None or not view.may_call(key, route):
        raise ModelNotFoundError(model)
    return route


def assignment_point(route: RouteSpec, assignment_id: str) -> float:
    """A stable point in [0, 1) for a caller-chosen id on a route, so the same id always gets the same target."""
    digest = hashlib.sha256(f"{route.id}\x00{assignment_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def target_order(
    route: RouteSpec,
    ids: list[str],
    point: float,
    latency: Callable[[str], float | None],
    cost: Callable[[str], int | None],
) -> list[str]:
    """Deployment ids in the order to try them. Weighted: the one whose share of the weights holds `point` first,
    then the others in priority order as fallbacks (weights apply to the route's own targets, not a rule's).
    Least latency: unmeasured targets first (so they get measured), then by estimated latency. Lowest cost: by the
    price in effect, unpriced targets last. Ties keep priority order."""
    if route.strategy == "least_latency":
        estimates = {d: latency(d) for d in ids}
        return sorted(ids, key=lambda d: (estimates[d] is not None, estimates[d] or 0.0))
    if route.strategy == "lowest_cost":
        prices = {d: cost(d) for d in ids}
        return sorted(ids, key=lambda d: (prices[d] is None, prices[d] or 0))
    if route.strategy != "weighted" or len(ids) < 2 or ids is not route.deployment_ids:
        return list(ids)
    weights = route.weights or [1] * len(ids)
    threshold, cumulative, chosen = point * sum(weights), 0, len(ids) - 1
    for index, weight in enumerate(weights):
        cumulative += weight
        if threshold < cumulative:
            chosen = index
            break
    return [ids[chosen], *ids[:chosen], *ids[chosen + 1 :]]


def select_targets(
    route: RouteSpec,
    *,
    view: ConfigView,
    assignment_id: str | None,
    random: Callable[[], float],
    latency: Callable[[str], float | None],
    cost: Callable[[str], int | None] = lambda _deployment_id: None,
    facts: RequestFacts | None = None,
) -> list[Target]:
    """The route's targets (or, when one of its rules matches `facts`, that rule's) in the order to try them (see
    `target_order`; a weighted route draws `random()` unless the caller sent an assignment id); a checked snapshot
    guarantees every id resolves. Which of them is healthy enough to call is decided per attempt
    (dataplane.attempts)."""
    ids = route.deployment_ids
    if route.rules and facts is not None:
        rule = first_matching_rule(route.rules, facts)
        if rule is not None:
            ids = rule.deployment_ids
    point = 0.0
    if route.strategy == "weighted":
        point = assignment_point(route, assignment_id) if assignment_id else random()
    targets = []
    for deployment_id in target_order(route, ids, point, latency, cost):
        deployment = view.deployments_by_id[deployment_id]
        provider = view.providers_by_id[deployment.provider_id]
        credentials = view.credentials_for(provider.id)
        targets.append(Target(route=route, deployment=deployment, provider=provider, credentials=credentials))
    return targets


def request_targets(
    request: Request, route: RouteSpec, *, view: ConfigView, key: KeySpec, body: bytes, runtime: Runtime
) -> list[Target]:
    """`select_targets` for one client request: its assignment id and routing metadata headers, its body's params,
    the worker's latency estimates and the prices in effect now. Every model endpoint routes through this."""
    return select_targets(
        route,
        view=view,
        assignment_id=request.headers.get(ASSIGNMENT_HEADER),
        random=runtime.resilience.random,
        latency=runtime.latencies.estimate,
        cost=functools.partial(runtime.budgets.index(view.snapshot).prices.list_price_at, when=runtime.clock()),
        facts=RequestFacts(
            metadata_header=request.headers.get(METADATA_HEADER),
            key=key,
            team_name=view.team_name(key.team_id),
            body=body,
        ),
    )
