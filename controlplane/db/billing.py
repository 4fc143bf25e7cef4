"""The price catalogue and budgets (DESIGN.md §2, §5). Both are configuration: every change bumps
config_revision and ships in the next snapshot. Money is integer micro-USD."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.db.models import Base, Timestamped, UTCDateTime, new_id


class Price(Base, Timestamped):
    """The price of one deployment from `effective_from` on, per million tokens of each class (shared.snapshot
    PriceSpec). A NULL class price falls back: cached input and cache write to input, reasoning to output."""

    __tablename__ = "prices"
    __table_args__ = (Index("ix_prices_deployment_effective", "deployment_id", "effective_from"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    input: Mapped[int] = mapped_column(BigInteger)
    output: Mapped[int] = mapped_column(BigInteger)
    cached_input: Mapped[int | None] = mapped_column(BigInteger, default=None)
    cache_write: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reasoning: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Budget(Base, Timestamped):
    """A spending limit on one scope (shared.snapshot BudgetSpec). `scope_id` is not a foreign key: it names a
    row of a table that depends on `scope` (an environment by name); the API checks it exists."""

    __tablename__ = "budgets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str | None] = mapped_column(String(64), default=None)
    model: Mapped[str | None] = mapped_column(String(200), default=None)  # a route name
    amount_micro_usd: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    hard: Mapped[bool] = mapped_column(Boolean, default=True)
    on_stale: Mapped[str] = mapped_column(String(20), default="closed")
    alert_thresholds: Mapped[list[int]] = mapped_column(JSON, default=list)
