"""Conditional routing: the facts of one request and the evaluation of a route's rules over them
(shared.route_policy documents the fact names and operators)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec

from dataplane.errors import InvalidRequestError
from shared.route_policy import Condition, RouteRule, Scalar, compile_regex
from shared.snapshot import KeySpec

METADATA_HEADER = "x-waypost-metadata"
MAX_METADATA_BYTES = 4096

_metadata_decoder = msgspec.json.Decoder(dict[str, Scalar | None])
_fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_scalar_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Any)


@functools.lru_cache(maxsize=1024)
def _matcher(pattern: str) -> Callable[[str], bool]:
    return compile_regex(pattern)  # patterns were checked by the admin API; compiled once per worker


class RequestFacts:
    """What conditions may read about one request, each part decoded only when a condition first reads it."""

    def __init__(self, *, metadata_header: str | None, key: KeySpec, team_name: str | None, body: bytes) -> None:
        self._metadata_header = metadata_header
        self._key = key
        self._team_name = team_name
        self._body = body
        self._metadata: dict[str, Scalar | None] | None = None
        self._params: dict[str, msgspec.Raw] | None = None

    def get(self, field: str) -> Scalar | None:
        if field == "team":
            return self._team_name
        if field == "environment":
            return self._key.environment
        if field.startswith("key.metadata."):
            return self._key.metadata.get(field.removeprefix("key.metadata."))
        if field.startswith("metadata."):
            return self._caller_metadata().get(field.removeprefix("metadata."))
        if field.startswith("params."):
            return self._param(field.removeprefix("params."))
        return None

    def _caller_metadata(self) -> dict[str, Scalar | None]:
        if self._metadata is None:
            self._metadata = parse_metadata_header(self._metadata_header)
        return self._metadata

    def _param(self, name: str) -> Scalar | None:
        if self._params is None:
            self._params = _fields_decoder.decode(self._body)  # the body was validated as a JSON object already
        raw = self._params.get(name)
        if raw is None:
            return None
        value = _scalar_decoder.decode(raw)
        return value if isinstance(value, str | int | float | bool) else None


def parse_metadata_header(value: str | None) -> dict[str, Scalar | None]:
    """The caller's routing metadata: a JSON object of scalars, at most 4 KiB; 400 otherwise."""
    if value is None:
        return {}
    if len(value) > MAX_METADATA_BYTES:
        raise InvalidRequestError(f"{METADATA_HEADER} is larger than {MAX_METADATA_BYTES} bytes", param=METADATA_HEADER)
    try:
        return _metadata_decoder.decode(value)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(
            f"{METADATA_HEADER} must be a JSON object of strings, numbers and booleans: {exc}", param=METADATA_HEADER
        ) from exc


def _same(value: Scalar, expected: Scalar) -> bool:
    """JSON equality: booleans equal only booleans; numbers compare by value (1 == 1.0)."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if isinstance(value, str) or isinstance(expected, str):
        return isinstance(value, str) and isinstance(expected, str) and value == expected
    return value == expected


def matches(condition: Condition, facts: RequestFacts) -> bool:
    if condition.and_ is not None:
        return all(matches(branch, facts) for branch in condition.and_)
    if condition.or_ is not None:
        return any(matches(branch, facts) for branch in condition.or_)
    value = facts.get(condition.field or "")
    if value is None:
        return False
    if condition.eq is not None:
        return _same(value, condition.eq)
    if condition.in_ is not None:
        return any(_same(value, expected) for expected in condition.in_)
    return condition.regex is not None and isinstance(value, str) and _matcher(condition.regex)(value)


def first_matching_rule(rules: list[RouteRule], facts: RequestFacts) -> RouteRule | None:
    for rule in rules:
        if matches(rule.when, facts):
            return rule
    return None
