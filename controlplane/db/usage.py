"""The usage ledger (DESIGN.md §6): raw usage events, hourly rollups, dead letters and the ingester's committed
stream position. None of these tables is configuration: writing them never bumps config_revision."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db.models import Base, UTCDateTime, utcnow

# Rollup dimensions that are unknown for an event (a refusal has no deployment) are stored as "" rather than
# NULL: unique constraints treat NULLs as distinct, so an upsert on a tuple holding NULL would never match.
NO_VALUE = ""


class UsageEventRow(Base):
    """One data-plane request, as published (shared.usage.UsageEvent), with its JetStream stream sequence."""

    __tablename__ = "usage_events"
    part_of_config: ClassVar[bool] = False
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # set on the event of an attempt that did not answer: the request it was part of (rollups skip its count)
    parent_request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger, unique=True, index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    instance: Mapped[str] = mapped_column(String(200))
    config_version: Mapped[int | None] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(100))
    key_id: Mapped[str | None] = mapped_column(String(64))
    key_public_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64), index=True)
    application_id: Mapped[str | None] = mapped_column(String(64))
    environment: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[str | None] = mapped_column(String(200))
    deployment_id: Mapped[str | None] = mapped_column(String(64))
    deployment: Mapped[str | None] = mapped_column(String(200))
    provider_kind: Mapped[str | None] = mapped_column(String(40))
    upstream_model: Mapped[str | None] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger)
    estimated: Mapped[bool] = mapped_column(Boolean)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)
    price_id: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean)
    guardrails: Mapped[list[str]] = mapped_column(JSON)


class UsageRollupHourly(Base):
    """Usage summed per hour and dimension tuple; the ingester adds each newly inserted event exactly once."""

    __tablename__ = "usage_rollups_hourly"
    part_of_config: ClassVar[bool] = False
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    route: Mapped[str] = mapped_column(String(200), primary_key=True)
    upstream_model: Mapped[str] = mapped_column(String(200), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # midnight UTC of `hour`
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)  # status >= 400, including 499 (client went away)
    estimated: Mapped[int] = mapped_column(BigInteger, default=0)  # requests whose tokens are estimated
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageDeadLetter(Base):
    """A message the ingester could not store (undecodable or invalid), kept with the reason, and acked."""

    __tablename__ = "usage_dead_letters"
    part_of_config: ClassVar[bool] = False
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    msg_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(String(2000))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class UsageIngestPosition(Base):
    """One row: every usage-stream message at sequence <= stream_seq is committed to this ledger (stored as an
    event, a duplicate of one, or a dead letter). Only ever moves forward."""

    __tablename__ = "usage_ingest_position"
    part_of_config: ClassVar[bool] = False
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
