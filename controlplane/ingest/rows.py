"""From stream messages to ledger rows, without I/O: decode, check every value fits its column (a value the
database would refuse must become a dead letter, not a batch that fails forever), and sum rollups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Integer, String

from controlplane.db.usage import NO_VALUE, UsageEventRow
from shared.usage import UsageEvent, decode_usage_event

ROLLUP_DIMENSIONS = (
    "team_id",
    "user_id",
    "application_id",
    "environment",
    "route",
    "upstream_model",
    "deployment_id",
    "key_id",
)
ROLLUP_METRICS = (
    "requests",
    "errors",
    "estimated",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_micro_usd",
)
_COUNTED_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
_TEXT_LIMITS = tuple(
    (column.name, column.type.length or 2**62)
    for column in UsageEventRow.__table__.columns
    if isinstance(column.type, String)
)
# BigInteger is a subclass of Integer: test it first.
_INT_LIMITS = tuple(
    (column.name, 2**63 if isinstance(column.type, BigInteger) else 2**31)
    for column in UsageEventRow.__table__.columns
    if isinstance(column.type, Integer)
)


@dataclass(frozen=True, slots=True)
class Delivered:
    """One message of the usage stream, as the ledger needs it."""

    stream_seq: int
    data: bytes
    msg_id: str | None = None


@dataclass(slots=True)
class Parsed:
    """A batch split into event rows (one per request id, lowest stream sequence first) and dead letters."""

    events: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    repeated: int = 0  # request ids seen twice within the batch


def from_unix_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def event_row(event: UsageEvent, *, stream_seq: int, now: datetime) -> dict[str, Any]:
    tokens = event.tokens
    return {
        "request_id": event.request_id,
        "parent_request_id": event.parent_request_id,
        "stream_seq": stream_seq,
        "time": from_unix_ms(event.time),
        "ingested_at": now,
        "instance": event.instance,
        "config_version": event.config_version,
        "method": event.method,
        "path": event.path,
        "status": event.status,
        "error_code": event.error_code,
        "key_id": event.key_id,
        "key_public_id": event.key_public_id,
        "user_id": event.user_id,
        "team_id": event.team_id,
        "application_id": event.application_id,
        "environment": event.environment,
        "route": event.route,
        "deployment_id": event.deployment_id,
        "deployment": event.deployment,
        "provider_kind": event.provider_kind,
        "upstream_model": event.upstream_model,
        "stream": event.stream,
        "attempts": event.attempts,
        "input_tokens": tokens.input,
        "cached_input_tokens": tokens.cached_input,
        "cache_write_tokens": tokens.cache_write,
        "output_tokens": tokens.output,
        "reasoning_tokens": tokens.reasoning,
        "estimated": event.estimated,
        "cost_micro_usd": event.cost_micro_usd,
        "price_id": event.price_id,
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "cache_hit": event.cache_hit,
        "guardrails": event.guardrails,
    }


def invalid_reason(row: Mapping[str, Any]) -> str | None:
    """Why the database would refuse (or we must not count) this row; None when it is fine."""
    if not row["request_id"]:
        return "request_id is empty"
    for name, length in _TEXT_LIMITS:
        text = row[name]
        if text is not None and (len(text) > length or "\x00" in text):
            return (
                f"{name} contains a NUL character" if "\x00" in text else f"{name} is longer than {length} characters"
            )
    for name, bound in _INT_LIMITS:
        number = row[name]
        if number is not None and not -bound <= number < bound:
            return f"{name} is out of range"
    for name in (*_COUNTED_COLUMNS, "cost_micro_usd", "attempts"):
        if row[name] < 0:
            return f"{name} is negative"
    if any("\x00" in verdict for verdict in row["guardrails"]):
        return "guardrails contain a NUL character"
    return None


def _parse_one(item: Delivered, now: datetime) -> tuple[dict[str, Any] | None, str | None]:
    try:
        event = decode_usage_event(item.data)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        return None, f"not a usage event: {exc}"
    try:
        row = event_row(event, stream_seq=item.stream_seq, now=now)
    except (OverflowError, OSError, ValueError) as exc:
        return None, f"time is out of range: {exc}"
    reason = invalid_reason(row)
    return (None, reason) if reason is not None else (row, None)


def dead_letter_row(item: Delivered, error: str, now: datetime) -> dict[str, Any]:
    return {
        "stream_seq": item.stream_seq,
        "msg_id": item.msg_id[:200] if item.msg_id else None,
        "payload": item.data,
        "error": error[:2000],
        "received_at": now,
    }


def parse_batch(batch: Iterable[Delivered], *, now: datetime) -> Parsed:
    parsed = Parsed()
    seen: set[str] = set()
    for item in sorted(batch, key=lambda d: d.stream_seq):
        row, error = _parse_one(item, now)
        if row is None:
            parsed.dead_letters.append(dead_letter_row(item, error or "invalid", now))
        elif row["request_id"] in seen:
            parsed.repeated += 1
        else:
            seen.add(row["request_id"])
            parsed.events.append(row)
    return parsed


def rollup_rows(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events summed per (hour, dimensions), sorted by key so that concurrent ingesters lock rows in the same
    order."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for event in events:
        hour = event["time"].replace(minute=0, second=0, microsecond=0)
        key = (hour, *(event[name] or NO_VALUE for name in ROLLUP_DIMENSIONS))
        counted = event["parent_request_id"] is None  # an attempt's event: its tokens and cost, not a request
        metrics = (
            int(counted),
            int(counted and event["status"] >= 400),
            int(event["estimated"]),
            *(event[name] for name in _COUNTED_COLUMNS),
            event["cost_micro_usd"],
        )
        total = sums.setdefault(key, [0] * len(ROLLUP_METRICS))
        for index, value in enumerate(metrics):
            total[index] += value
    rows = []
    for key in sorted(sums):
        hour, *dimensions = key
        row: dict[str, Any] = {
            "hour": hour,
            "day": hour.replace(hour=0),
            **dict(zip(ROLLUP_DIMENSIONS, dimensions, strict=True)),
        }
        row.update(zip(ROLLUP_METRICS, sums[key], strict=True))
        rows.append(row)
    return rows
