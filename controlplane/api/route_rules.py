"""The `rules` (conditional routing) and `policy` (retry and fallback overrides) of a route in the admin API:
validation beyond the schema (condition forms, RE2 syntax, deployment references) and the rows they become."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from controlplane.api.fields import Id
from controlplane.api.resource import ReferenceCheck
from controlplane.db.models import Deployment, Route, RouteRuleRow, RouteRuleTarget
from shared.route_policy import (
    Condition,
    ConditionError,
    RegexError,
    RoutePolicy,
    check_condition,
    compile_regex,
    condition_regexes,
)

FailureClassName = Literal[
    "connect", "timeout", "rate_limited", "server", "overloaded", "context_length", "content_policy"
]  # dataplane.retry.FailureClass values that may fall over


class RuleIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    when: Condition
    targets: Annotated[list[Id], Meta(min_length=1, max_length=100)]


class PolicyIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    max_attempts_per_target: Annotated[int, Meta(ge=1, le=10)] | None = None
    max_attempts_per_request: Annotated[int, Meta(ge=1, le=20)] | None = None
    deadline_seconds: Annotated[float, Meta(gt=0, le=600)] | None = None
    fall_over_on: list[FailureClassName] | None = None


Rules = Annotated[list[RuleIn], Meta(max_length=50, description="Conditional routing; the first match wins.")]


class RuleRead(msgspec.Struct, frozen=True):
    when: Condition
    targets: list[str]


async def resolve_rules(references: ReferenceCheck, rules: Sequence[RuleIn]) -> list[list[Deployment]]:
    """Each rule's deployments, after checking its condition; problems are collected on `references`."""
    resolved = []
    for index, rule in enumerate(rules):
        path = f"$.rules[{index}]"
        try:
            check_condition(rule.when, path=f"{path}.when")
        except ConditionError as exc:
            references.fail(exc.path, str(exc))
        for pattern in condition_regexes(rule.when):
            problem = _regex_problem(pattern)
            if problem is not None:
                references.fail(f"{path}.when", problem)
        resolved.append(await references.many(Deployment, rule.targets, path=f"{path}.targets"))
    return resolved


def _regex_problem(pattern: str) -> str | None:
    try:
        compile_regex(pattern)
    except RegexError as exc:
        return str(exc)
    return None


def set_rules(route: Route, rules: Sequence[RuleIn], deployments: Sequence[Sequence[Deployment]]) -> None:
    """Replace the route's rules. Rows are rebuilt (rules have their own ids, so no key is reused)."""
    route.rules = [
        RouteRuleRow(
            position=position,
            condition=msgspec.to_builtins(rule.when),
            targets=[RouteRuleTarget(position=i, deployment_id=d.id) for i, d in enumerate(found)],
        )
        for position, (rule, found) in enumerate(zip(rules, deployments, strict=True))
    ]


def policy_json(policy: PolicyIn) -> dict[str, object]:
    built: dict[str, object] = msgspec.to_builtins(policy)
    return built


def read_rules(route: Route) -> list[RuleRead]:
    return [
        RuleRead(when=msgspec.convert(rule.condition, Condition), targets=[t.deployment_id for t in rule.targets])
        for rule in route.rules
    ]


def route_policy(route: Route) -> RoutePolicy:
    return msgspec.convert(route.policy or {}, RoutePolicy)
