"""From stream messages to ledger rows: decoding, the checks that keep a bad value out of a batch, and rollups."""

from __future__ import annotations

from datetime import UTC, datetime

from controlplane.db.usage import UsageRollupHourly
from controlplane.ingest.rows import (
    ROLLUP_DIMENSIONS,
    ROLLUP_METRICS,
    Delivered,
    event_row,
    invalid_reason,
    parse_batch,
    rollup_rows,
)
from shared.usage import TokenUsage, UsageEvent, encode_usage_event

NOW = datetime(2026, 1, 5, tzinfo=UTC)
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _event(request_id: str, **fields: object) -> UsageEvent:
    values: dict[str, object] = {
        "request_id": request_id,
        "time": T0,
        "instance": "dp",
        "config_version": 1,
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "team_id": "t1",
    }
    values.update(fields)
    return UsageEvent(**values)  # type: ignore[arg-type]


def _row(event: UsageEvent, seq: int = 1) -> dict[str, object]:
    return event_row(event, stream_seq=seq, now=NOW)


def test_rollup_dimensions_and_metrics_are_exactly_the_rollup_columns() -> None:
    columns = set(UsageRollupHourly.__table__.columns.keys())
    assert set(ROLLUP_DIMENSIONS) | set(ROLLUP_METRICS) | {"hour", "day"} == columns


def test_rollups_sum_each_hour_and_dimension_tuple_and_store_missing_dimensions_as_empty() -> None:
    events = [
        _row(_event("a", time=T0 + 60_000, tokens=TokenUsage(input=10, reasoning=2), cost_micro_usd=5)),
        _row(_event("b", time=T0 + 3_599_999, status=499, estimated=True, tokens=TokenUsage(output=3))),
        _row(_event("c", time=T0 + 3_600_000, cost_micro_usd=7)),
        _row(_event("d", team_id=None, status=401)),
    ]
    rows = rollup_rows(events)
    by_key = {(r["hour"].hour, r["team_id"]): r for r in rows}
    assert set(by_key) == {(0, "t1"), (1, "t1"), (0, "")}
    first = by_key[(0, "t1")]
    assert (first["requests"], first["errors"], first["estimated"]) == (2, 1, 1)
    assert (first["input_tokens"], first["output_tokens"], first["reasoning_tokens"], first["cost_micro_usd"]) == (
        10,
        3,
        2,
        5,
    )
    assert first["day"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert by_key[(1, "t1")]["cost_micro_usd"] == 7
    assert by_key[(0, "")]["errors"] == 1
    assert rows == sorted(rows, key=lambda r: (r["hour"], *(r[d] for d in ROLLUP_DIMENSIONS)))


def test_a_request_id_twice_in_one_batch_keeps_the_lowest_sequence_and_counts_once() -> None:
    event = _event("same")
    batch = [Delivered(5, encode_usage_event(event)), Delivered(2, encode_usage_event(event))]
    parsed = parse_batch(batch, now=NOW)
    assert [row["stream_seq"] for row in parsed.events] == [2]
    assert parsed.repeated == 1
    assert parsed.dead_letters == []


def test_undecodable_and_invalid_messages_become_dead_letters_with_their_reason() -> None:
    batch = [
        Delivered(1, b"\x00\x01", msg_id="m1"),
        Delivered(2, encode_usage_event(_event(""))),
        Delivered(3, encode_usage_event(_event("ok"))),
    ]
    parsed = parse_batch(batch, now=NOW)
    assert [row["request_id"] for row in parsed.events] == ["ok"]
    assert [(d["stream_seq"], d["msg_id"]) for d in parsed.dead_letters] == [(1, "m1"), (2, None)]
    assert parsed.dead_letters[0]["error"].startswith("not a usage event")
    assert parsed.dead_letters[1]["error"] == "request_id is empty"


def test_values_a_column_cannot_hold_are_named() -> None:
    assert invalid_reason(_row(_event("ok"))) is None
    assert invalid_reason(_row(_event("x", path="/" * 2001))) == "path is longer than 2000 characters"
    assert invalid_reason(_row(_event("x", team_id="t\x00"))) == "team_id contains a NUL character"
    assert invalid_reason(_row(_event("x", attempts=2**31))) == "attempts is out of range"
    assert invalid_reason(_row(_event("x", cost_micro_usd=2**63))) == "cost_micro_usd is out of range"
    assert invalid_reason(_row(_event("x", cost_micro_usd=-1))) == "cost_micro_usd is negative"
    assert invalid_reason(_row(_event("x", guardrails=["pii\x00"]))) == "guardrails contain a NUL character"


def test_money_and_tokens_beyond_32_bits_are_valid() -> None:
    big = _event("big", cost_micro_usd=2**40, tokens=TokenUsage(input=2**33), config_version=2**35)
    assert invalid_reason(_row(big)) is None


def test_an_attempts_event_adds_its_tokens_and_cost_but_not_a_request_or_an_error() -> None:
    failed = _event("r.1", parent_request_id="r", status=503, tokens=TokenUsage(input=4), cost_micro_usd=2)
    served = _event("r", attempts=2, tokens=TokenUsage(input=10, output=3), cost_micro_usd=9)
    (rollup,) = rollup_rows([_row(failed, 1), _row(served, 2)])
    assert (rollup["requests"], rollup["errors"]) == (1, 0)
    assert (rollup["input_tokens"], rollup["output_tokens"], rollup["cost_micro_usd"]) == (14, 3, 11)
    assert _row(failed)["parent_request_id"] == "r"
