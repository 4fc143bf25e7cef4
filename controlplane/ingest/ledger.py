"""The ledger's writes, inside the caller's transaction (they never commit): events inserted idempotently,
rollups advanced for the inserted rows only, dead letters, and the committed stream position."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.usage import UsageDeadLetter, UsageEventRow, UsageIngestPosition, UsageRollupHourly
from controlplane.ingest.rows import ROLLUP_DIMENSIONS, ROLLUP_METRICS, Delivered, parse_batch, rollup_rows

_EVENTS: Table = UsageEventRow.__table__  # type: ignore[assignment]
_ROLLUPS: Table = UsageRollupHourly.__table__  # type: ignore[assignment]
_DEAD_LETTERS: Table = UsageDeadLetter.__table__  # type: ignore[assignment]
POSITION_ROW_ID = 1


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    inserted: int = 0  # new events, counted into the rollups
    duplicates: int = 0  # events already in the ledger (a redelivery or a replay), counted nowhere
    dead_letters: int = 0

    def __add__(self, other: BatchOutcome) -> BatchOutcome:
        return BatchOutcome(
            inserted=self.inserted + other.inserted,
            duplicates=self.duplicates + other.duplicates,
            dead_letters=self.dead_letters + other.dead_letters,
        )


def _insert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def _insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose request id is new; the ids actually inserted. A conflict on the request id is a
    replay and is skipped; any other conflict (a reused stream sequence) raises, so the caller dead-letters it
    instead of dropping an event silently."""
    if not rows:
        return set()
    statement = (
        _insert(session, _EVENTS).on_conflict_do_nothing(index_elements=["request_id"]).returning(_EVENTS.c.request_id)
    )
    result = await session.execute(statement, rows)
    return set(result.scalars().all())


async def _add_to_rollups(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    rows = rollup_rows(events)
    if not rows:
        return
    statement = _insert(session, _ROLLUPS)
    statement = statement.on_conflict_do_update(
        index_elements=["hour", *ROLLUP_DIMENSIONS],
        set_={name: _ROLLUPS.c[name] + statement.excluded[name] for name in ROLLUP_METRICS},
    )
    await session.execute(statement, rows)


async def insert_dead_letters(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """A redelivered poison message is stored once (unique stream sequence)."""
    if rows:
        await session.execute(_insert(session, _DEAD_LETTERS).on_conflict_do_nothing(), rows)


async def store_batch(session: AsyncSession, batch: Sequence[Delivered], *, now: datetime) -> BatchOutcome:
    """Store one batch of stream messages in the caller's transaction."""
    parsed = parse_batch(batch, now=now)
    inserted_ids = await _insert_events(session, parsed.events)
    inserted = [row for row in parsed.events if row["request_id"] in inserted_ids]
    await _add_to_rollups(session, inserted)
    await insert_dead_letters(session, parsed.dead_letters)
    return BatchOutcome(
        inserted=len(inserted),
        duplicates=len(parsed.events) - len(inserted) + parsed.repeated,
        dead_letters=len(parsed.dead_letters),
    )


async def advance_position(session: AsyncSession, stream_seq: int, *, now: datetime) -> None:
    """Move the committed position forward to `stream_seq` (never backward: several ingesters may write it)."""
    await session.execute(
        update(UsageIngestPosition)
        .where(UsageIngestPosition.id == POSITION_ROW_ID, UsageIngestPosition.stream_seq < stream_seq)
        .values(stream_seq=stream_seq, updated_at=now)
    )


async def read_position(session: AsyncSession) -> int:
    """Every usage-stream message at a sequence up to this one is in the ledger."""
    statement = select(UsageIngestPosition.stream_seq).where(UsageIngestPosition.id == POSITION_ROW_ID)
    return int((await session.execute(statement)).scalar_one())
