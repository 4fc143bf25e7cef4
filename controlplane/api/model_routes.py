"""Routes: the names clients ask for as `model`, each a priority-ordered list of deployments, optionally
limited to some environments (none listed: all), with conditional rules and a retry policy
(controlplane.api.route_rules)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal, NamedTuple

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.errors import FieldError, ValidationFailedError
from controlplane.api.fields import EnvironmentName, Id, Name
from controlplane.api.resource import Created, ReferenceCheck, Resource, read_columns
from controlplane.api.route_rules import (
    PolicyIn,
    RuleIn,
    RuleRead,
    Rules,
    policy_json,
    read_rules,
    resolve_rules,
    route_policy,
    set_rules,
)
from controlplane.db.models import Deployment, Environment, Route, RouteEnvironment, RouteTarget, utcnow
from shared.crypto import MasterSecret
from shared.route_policy import RoutePolicy

Targets = Annotated[list[Id], Meta(min_length=1, max_length=100, description="Deployment ids, first preferred.")]
Environments = Annotated[list[EnvironmentName], Meta(max_length=100, description="Environment names; empty: all.")]
Strategy = Literal["priority", "weighted", "least_latency", "lowest_cost"]  # shared.snapshot.ROUTE_STRATEGIES
Weights = Annotated[
    list[Annotated[int, Meta(ge=1, le=10_000)]],
    Meta(max_length=100, description="With strategy weighted: one weight per target, in order; default 1 each."),
]


class RouteCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    targets: Targets
    environments: Environments = []
    strategy: Strategy = "priority"
    weights: Weights | None = None
    rules: Rules = []
    policy: PolicyIn = PolicyIn()


class RouteUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    targets: Targets | UnsetType = UNSET
    environments: Environments | UnsetType = UNSET
    strategy: Strategy | UnsetType = UNSET
    weights: Weights | UnsetType | None = UNSET  # targets sent without weights reset them to 1 each
    rules: Rules | UnsetType = UNSET
    policy: PolicyIn | UnsetType = UNSET


class RouteRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    targets: list[str]
    environments: list[str]
    strategy: str
    weights: list[int]
    rules: list[RuleRead]
    policy: RoutePolicy
    created_at: datetime
    updated_at: datetime


class Resolved(NamedTuple):
    deployments: list[Deployment]
    environments: list[Environment]
    rule_deployments: list[list[Deployment]]


async def _resolve(
    session: AsyncSession,
    targets: Sequence[str] | UnsetType,
    environments: Sequence[str] | UnsetType,
    rules: Sequence[RuleIn] | UnsetType,
) -> Resolved:
    references = ReferenceCheck(session)
    deployments = [] if targets is UNSET else await references.many(Deployment, targets, path="$.targets")
    found = (
        []
        if environments is UNSET
        else await references.many(Environment, environments, path="$.environments", column="name")
    )
    rule_deployments = [] if rules is UNSET else await resolve_rules(references, rules)
    references.raise_if_unresolved()
    return Resolved(deployments, found, rule_deployments)


def _check_weights(weights: Sequence[int] | None, target_count: int) -> None:
    if weights is not None and len(weights) != target_count:
        problem = FieldError("$.weights", f"give one weight per target ({target_count})")
        raise ValidationFailedError("request is not valid", errors=[problem])


def _set_targets(route: Route, deployments: Sequence[Deployment], weights: Sequence[int] | None) -> None:
    # Rewritten in place, position by position: deleting and re-inserting would reuse (route_id, position).
    for position, deployment in enumerate(deployments):
        weight = 1 if weights is None else weights[position]
        if position < len(route.targets):
            route.targets[position].deployment_id = deployment.id
            route.targets[position].weight = weight
        else:
            route.targets.append(RouteTarget(position=position, deployment_id=deployment.id, weight=weight))
    del route.targets[len(deployments) :]


def _set_environments(route: Route, environments: Sequence[Environment]) -> None:
    wanted = {environment.id for environment in environments}
    kept = [link for link in route.environments if link.environment_id in wanted]
    have = {link.environment_id for link in kept}
    route.environments = kept + [RouteEnvironment(environment_id=e) for e in sorted(wanted - have)]


async def create_route(*, session: AsyncSession, master: MasterSecret, data: RouteCreate) -> Created[Route]:
    _check_weights(data.weights, len(data.targets))
    resolved = await _resolve(session, data.targets, data.environments, data.rules)
    route = Route(name=data.name, strategy=data.strategy, targets=[], environments=[], policy=policy_json(data.policy))
    _set_targets(route, resolved.deployments, data.weights)
    _set_environments(route, resolved.environments)
    set_rules(route, data.rules, resolved.rule_deployments)
    return Created(route)


async def update_route(*, session: AsyncSession, master: MasterSecret, row: Route, data: RouteUpdate) -> None:
    weights = None if data.weights is UNSET else data.weights
    _check_weights(weights, len(row.targets) if data.targets is UNSET else len(data.targets))
    resolved = await _resolve(session, data.targets, data.environments, data.rules)
    if data.name is not UNSET:
        row.name = data.name
    if data.strategy is not UNSET:
        row.strategy = data.strategy
    if data.policy is not UNSET:
        row.policy = policy_json(data.policy)
    if data.rules is not UNSET:
        set_rules(row, data.rules, resolved.rule_deployments)
    if data.targets is not UNSET:
        _set_targets(row, resolved.deployments, weights)
    elif data.weights is not UNSET:
        for target, weight in zip(row.targets, weights or [1] * len(row.targets), strict=True):
            target.weight = weight
    if data.environments is not UNSET:
        _set_environments(row, resolved.environments)
    if any(value is not UNSET for value in (data.targets, data.environments, data.weights, data.rules)):
        row.updated_at = utcnow()  # the change is in the child tables; the route itself changed too


async def read_routes(*, session: AsyncSession, rows: Sequence[Route]) -> list[RouteRead]:
    environment_ids = {link.environment_id for row in rows for link in row.environments}
    names: dict[str, str] = {}
    if environment_ids:
        result = await session.execute(
            select(Environment.id, Environment.name).where(Environment.id.in_(environment_ids))
        )
        names = {environment_id: name for environment_id, name in result.all()}
    return [
        read_columns(
            RouteRead,
            row,
            targets=[target.deployment_id for target in row.targets],
            weights=[target.weight for target in row.targets],
            environments=sorted(names[link.environment_id] for link in row.environments),
            rules=read_rules(row),
            policy=route_policy(row),
        )
        for row in rows
    ]


resource = Resource(
    path="routes",
    singular="route",
    model=Route,
    create_type=RouteCreate,
    update_type=RouteUpdate,
    read_type=RouteRead,
    on_create=create_route,
    on_update=update_route,
    on_read=read_routes,
)
