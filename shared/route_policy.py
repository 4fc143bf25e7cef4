"""Per-route routing rules and resilience policy, shipped inside `RouteSpec` (DESIGN.md §4).

A rule sends the requests whose facts match its condition to its own targets instead of the route's:
rules are tried in order and the first match wins; no match uses the route's targets. A condition is exactly one
of: a comparison of one fact (`field` with `eq`, `in` or `regex`), `and` (all of a list), `or` (any of a list).

Facts (the `field` names):
- `metadata.<name>`: the caller's `x-waypost-metadata` header, a JSON object of scalars
- `key.metadata.<name>`: the calling key's metadata
- `team`, `environment`: the calling key's team name and environment name
- `params.<name>`: a top-level scalar of the request body (`stream`, `temperature`, `max_tokens`, `user`...)

Comparisons are on JSON scalars (`eq`, `in`); `regex` is RE2 syntax (linear-time matching, so no pattern can be
made to backtrack on a caller's input) and must match the whole string value.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import re2

Scalar = str | int | float | bool

FIELD_PREFIXES = ("metadata.", "key.metadata.", "params.")
FIELD_NAMES = ("team", "environment")
MAX_CONDITION_DEPTH = 8


class Condition(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    field: str | None = None
    eq: Scalar | None = None
    in_: list[Scalar] | None = msgspec.field(default=None, name="in")
    regex: str | None = None
    and_: list[Condition] | None = msgspec.field(default=None, name="and")
    or_: list[Condition] | None = msgspec.field(default=None, name="or")


class RouteRule(msgspec.Struct, frozen=True):
    when: Condition
    deployment_ids: list[str]  # tried in this order


class RoutePolicy(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """Overrides of the data plane's default retry policy for one route; None keeps the default."""

    max_attempts_per_target: int | None = None
    max_attempts_per_request: int | None = None
    deadline_seconds: float | None = None
    # failure classes (dataplane.retry.FailureClass values) that may fall over to the next target; None: all that
    # the matrix allows. A class the matrix never falls over on (client, upstream_auth) cannot be added.
    fall_over_on: list[str] | None = None


class ConditionError(ValueError):
    """A condition that is not well formed; `path` points into it (JSONPath from the condition's root)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def check_condition(condition: Condition, *, path: str = "$", depth: int = 1) -> None:
    """Raise ConditionError unless the condition has exactly one form, known fields and sane nesting.
    Regex syntax is checked by the caller with the RE2 engine (the shared package has no engine of its own)."""
    if depth > MAX_CONDITION_DEPTH:
        raise ConditionError(path, f"conditions nest at most {MAX_CONDITION_DEPTH} deep")
    forms = [
        name
        for name, value in (("and", condition.and_), ("or", condition.or_), ("field", condition.field))
        if value is not None
    ]
    if len(forms) != 1:
        raise ConditionError(path, "give exactly one of `field` (with eq, in or regex), `and`, `or`")
    if condition.field is None:
        branches = condition.and_ if condition.and_ is not None else condition.or_
        if not branches:
            raise ConditionError(path, f"`{forms[0]}` needs at least one condition")
        for index, branch in enumerate(branches):
            check_condition(branch, path=f"{path}.{forms[0]}[{index}]", depth=depth + 1)
        return
    if not (condition.field in FIELD_NAMES or any(condition.field.startswith(p) for p in FIELD_PREFIXES)):
        raise ConditionError(f"{path}.field", "unknown field; see the routing rules in the README")
    given = [
        name
        for name, value in (("eq", condition.eq), ("in", condition.in_), ("regex", condition.regex))
        if value is not None
    ]
    if len(given) != 1:
        raise ConditionError(path, "a field condition takes exactly one of eq, in, regex")
    if condition.in_ is not None and not condition.in_:
        raise ConditionError(f"{path}.in", "`in` needs at least one value")


def condition_fields(condition: Condition) -> set[str]:
    """Every fact name the condition reads."""
    if condition.field is not None:
        return {condition.field}
    branches = condition.and_ if condition.and_ is not None else (condition.or_ or [])
    return set().union(*(condition_fields(branch) for branch in branches))


def condition_regexes(condition: Condition) -> list[str]:
    if condition.field is not None:
        return [condition.regex] if condition.regex is not None else []
    branches = condition.and_ if condition.and_ is not None else (condition.or_ or [])
    return [pattern for branch in branches for pattern in condition_regexes(branch)]


MAX_REGEX_LENGTH = 1000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported to the admin API caller, not written to stderr


class RegexError(ValueError):
    pass


def compile_regex(pattern: str) -> Callable[[str], bool]:
    """A whole-string matcher for an RE2 pattern; RegexError if it is too long or not valid RE2."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise RegexError(f"a regex has at most {MAX_REGEX_LENGTH} characters")
    try:
        compiled = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        raise RegexError(f"regex {pattern!r} is not valid RE2: {exc}") from exc

    def matches(value: str) -> bool:
        return compiled.fullmatch(value) is not None

    return matches
