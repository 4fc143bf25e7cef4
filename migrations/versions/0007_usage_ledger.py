"""usage events, hourly rollups and dead letters

Revision ID: 0007
Revises: 0006
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ROLLUP_DIMENSIONS = (
    ("team_id", 64),
    ("user_id", 64),
    ("application_id", 64),
    ("environment", 64),
    ("route", 200),
    ("upstream_model", 200),
    ("deployment_id", 64),
    ("key_id", 64),
)
_ROLLUP_METRICS = (
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
_TOKEN_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "usage_events",
        _text("request_id", 64, nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        _time("time"),
        _time("ingested_at"),
        _text("instance", 200, nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=True),
        _text("method", 16, nullable=False),
        _text("path", 2000, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        _text("error_code", 100),
        _text("key_id", 64),
        _text("key_public_id", 64),
        _text("user_id", 64),
        _text("team_id", 64),
        _text("application_id", 64),
        _text("environment", 64),
        _text("route", 200),
        _text("deployment_id", 64),
        _text("deployment", 200),
        _text("provider_kind", 40),
        _text("upstream_model", 200),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _TOKEN_COLUMNS),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        _text("price_id", 64),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_usage_events_stream_seq", "usage_events", ["stream_seq"], unique=True)
    op.create_index("ix_usage_events_time", "usage_events", ["time"])
    op.create_index("ix_usage_events_team_id", "usage_events", ["team_id"])

    op.create_table(
        "usage_rollups_hourly",
        _time("hour"),
        *(_text(name, length, nullable=False) for name, length in _ROLLUP_DIMENSIONS),
        _time("day"),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _ROLLUP_METRICS),
        sa.PrimaryKeyConstraint("hour", *(name for name, _ in _ROLLUP_DIMENSIONS)),
    )
    op.create_index("ix_usage_rollups_hourly_day", "usage_rollups_hourly", ["day"])

    op.create_table(
        "usage_dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        _text("msg_id", 200),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        _text("error", 2000, nullable=False),
        _time("received_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stream_seq"),
    )
    op.create_index("ix_usage_dead_letters_received_at", "usage_dead_letters", ["received_at"])

    position = op.create_table(
        "usage_ingest_position",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(position, [{"id": 1, "stream_seq": 0, "updated_at": datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table("usage_ingest_position")
    op.drop_index("ix_usage_dead_letters_received_at", table_name="usage_dead_letters")
    op.drop_table("usage_dead_letters")
    op.drop_index("ix_usage_rollups_hourly_day", table_name="usage_rollups_hourly")
    op.drop_table("usage_rollups_hourly")
    op.drop_index("ix_usage_events_team_id", table_name="usage_events")
    op.drop_index("ix_usage_events_time", table_name="usage_events")
    op.drop_index("ix_usage_events_stream_seq", table_name="usage_events")
    op.drop_table("usage_events")
