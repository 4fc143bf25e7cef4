"""Route conditions: their checks, the JSON equality they use, RE2 whole-string matching, lazy facts; the retry
matrix's content-policy row and per-route narrowing; lowest-cost target order."""

from __future__ import annotations

import msgspec
import pytest

from dataplane.conditions import RequestFacts, first_matching_rule, matches, parse_metadata_header
from dataplane.errors import InvalidRequestError, UpstreamRelayedError, UpstreamStatusError
from dataplane.retry import FailureClass, RetryPolicy, classify_failure, decide, for_route
from dataplane.routing import target_order
from shared.route_policy import (
    Condition,
    ConditionError,
    RegexError,
    RoutePolicy,
    RouteRule,
    check_condition,
    compile_regex,
    condition_fields,
)
from shared.snapshot import KeySpec, RouteSpec

KEY = KeySpec(
    id="k1",
    public_id="pub",
    secret_hash="00",
    environment="prod",
    team_id="t1",
    metadata={"plan": "pro"},
)
BODY = b'{"model":"m","messages":[],"temperature":0.5,"stream":true,"user":"batch-7","tools":[{"x":1}]}'


def facts(metadata: str | None = None) -> RequestFacts:
    return RequestFacts(metadata_header=metadata, key=KEY, team_name="Search", body=BODY)


def cond(value: dict[str, object]) -> Condition:
    return msgspec.convert(value, Condition)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "params.temperature", "eq": 0.5}, True),
        ({"field": "params.stream", "eq": True}, True),
        ({"field": "params.stream", "eq": 1}, False),  # a boolean is not a number
        ({"field": "params.temperature", "eq": "0.5"}, False),  # nor a string
        ({"field": "params.tools", "eq": "x"}, False),  # not a scalar: never matches
        ({"field": "params.absent", "in": ["x"]}, False),
        ({"field": "params.user", "regex": "batch-[0-9]"}, True),
        ({"field": "params.user", "regex": "batch"}, False),  # whole-string match
        ({"field": "key.metadata.plan", "in": ["pro", "team"]}, True),
        ({"field": "environment", "eq": "prod"}, True),
        ({"field": "team", "eq": "Search"}, True),
        ({"field": "metadata.tier", "eq": "gold"}, True),
        ({"and": [{"field": "metadata.tier", "eq": "gold"}, {"field": "environment", "eq": "dev"}]}, False),
        ({"or": [{"field": "metadata.tier", "eq": "silver"}, {"field": "environment", "eq": "prod"}]}, True),
    ],
)
def test_conditions_match_as_documented(condition: dict[str, object], expected: bool) -> None:
    parsed = cond(condition)
    check_condition(parsed)
    assert matches(parsed, facts('{"tier": "gold"}')) is expected


def test_the_first_matching_rule_wins() -> None:
    rules = [
        RouteRule(when=cond({"field": "environment", "eq": "dev"}), deployment_ids=["a"]),
        RouteRule(when=cond({"field": "environment", "eq": "prod"}), deployment_ids=["b"]),
        RouteRule(when=cond({"field": "team", "eq": "Search"}), deployment_ids=["c"]),
    ]
    chosen = first_matching_rule(rules, facts())
    assert chosen is not None and chosen.deployment_ids == ["b"]
    assert first_matching_rule(rules[:1], facts()) is None


def test_the_metadata_header_is_read_only_when_a_condition_asks() -> None:
    unread = facts("this is not json")
    assert matches(cond({"field": "environment", "eq": "prod"}), unread)
    with pytest.raises(InvalidRequestError):
        matches(cond({"field": "metadata.tier", "eq": "gold"}), unread)


@pytest.mark.parametrize("header", ["[1]", '{"a": {"b": 1}}', '{"a": [1]}', "x" * 5000])
def test_a_metadata_header_must_be_a_small_object_of_scalars(header: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_metadata_header(header)
    assert caught.value.param == "x-waypost-metadata"


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ({}, "$"),
        ({"field": "team"}, "$"),
        ({"field": "team", "eq": "a", "regex": "b"}, "$"),
        ({"field": "team", "in": []}, "$.in"),
        ({"field": "secret", "eq": "a"}, "$.field"),
        ({"or": [{"field": "team", "eq": "a"}, {"and": []}]}, "$.or[1]"),
        ({"and": [{"field": "team", "eq": "a"}], "field": "team"}, "$"),
    ],
)
def test_malformed_conditions_are_refused_with_their_path(condition: dict[str, object], path: str) -> None:
    with pytest.raises(ConditionError) as caught:
        check_condition(cond(condition))
    assert caught.value.path == path


def test_conditions_nest_at_most_eight_deep() -> None:
    deep: dict[str, object] = {"field": "team", "eq": "a"}
    for _ in range(8):
        deep = {"and": [deep]}
    with pytest.raises(ConditionError):
        check_condition(cond(deep))
    assert condition_fields(cond({"or": [{"field": "team", "eq": "a"}, {"field": "params.x", "eq": 1}]})) == {
        "team",
        "params.x",
    }


def test_regexes_are_re2_so_backreferences_are_refused() -> None:
    assert compile_regex("(a|b)+c")("ababc")
    with pytest.raises(RegexError):
        compile_regex("(a)\\1")
    with pytest.raises(RegexError):
        compile_regex("a" * 1001)


def test_content_policy_refusals_fall_over_without_counting_against_the_circuit() -> None:
    refused = UpstreamRelayedError(400, b"{}", code="content_policy_violation", retry_after=None)
    assert classify_failure(refused) is FailureClass.CONTENT_POLICY
    decision = decide(refused)
    assert (decision.retry_same, decision.fall_over, decision.counts_for_breaker) == (False, True, False)


def test_a_route_narrows_fall_over_to_the_classes_it_lists() -> None:
    server_error = UpstreamStatusError(503)
    assert decide(server_error).fall_over
    narrowed = decide(server_error, frozenset({"timeout"}))
    assert narrowed.retry_same and not narrowed.fall_over
    assert decide(server_error, frozenset({"server"})).fall_over


def test_route_policy_overrides_only_what_it_sets() -> None:
    defaults = RetryPolicy()
    assert for_route(defaults, RoutePolicy()) is defaults
    merged = for_route(defaults, RoutePolicy(max_attempts_per_request=1, deadline_seconds=5.0))
    assert (merged.max_attempts_per_request, merged.deadline_seconds) == (1, 5.0)
    assert merged.max_attempts_per_target == defaults.max_attempts_per_target


def test_lowest_cost_orders_by_price_with_unpriced_targets_last() -> None:
    route = RouteSpec(id="r", name="cheap", deployment_ids=["a", "b", "c", "d"], strategy="lowest_cost")
    prices = {"a": 900, "b": 100, "d": 100}
    assert target_order(route, route.deployment_ids, 0.0, lambda _d: None, prices.get) == ["b", "d", "a", "c"]
