"""SQLAlchemy models of the control plane. Tables are plural nouns; ids are UUID strings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Organization(Base, Timestamped):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Team(Base, Timestamped):
    __tablename__ = "teams"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    models: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # route allow-list; None: all


class User(Base, Timestamped):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Application(Base, Timestamped):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("team_id", "name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    models: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # route allow-list; None: all


class Environment(Base, Timestamped):
    __tablename__ = "environments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(31), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    models: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # route allow-list; None: all


class Key(Base, Timestamped):
    __tablename__ = "keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    public_id: Mapped[str] = mapped_column(String(12), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="RESTRICT"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), default=None)
    application_id: Mapped[str | None] = mapped_column(ForeignKey("applications.id", ondelete="RESTRICT"), default=None)
    models: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    key_metadata: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    environment: Mapped[Environment] = relationship(lazy="joined")


class Provider(Base, Timestamped):
    __tablename__ = "providers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    base_url: Mapped[str] = mapped_column(String(2000), default="")
    credentials_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class Deployment(Base, Timestamped):
    __tablename__ = "deployments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    model: Mapped[str] = mapped_column(String(200))
    timeout_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    require_price: Mapped[bool] = mapped_column(Boolean, default=False)  # refuse calls while it has no price


class Route(Base, Timestamped):
    __tablename__ = "routes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    strategy: Mapped[str] = mapped_column(String(20), default="priority")  # shared.snapshot.ROUTE_STRATEGIES
    targets: Mapped[list[RouteTarget]] = relationship(
        order_by="RouteTarget.position", cascade="all, delete-orphan", lazy="selectin"
    )
    environments: Mapped[list[RouteEnvironment]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    rules: Mapped[list[RouteRuleRow]] = relationship(
        order_by="RouteRuleRow.position", cascade="all, delete-orphan", lazy="selectin"
    )
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # shared.route_policy.RoutePolicy


class RouteRuleRow(Base):
    """A conditional-routing rule: `condition` is a shared.route_policy.Condition as JSON."""

    __tablename__ = "route_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    targets: Mapped[list[RouteRuleTarget]] = relationship(
        order_by="RouteRuleTarget.position", cascade="all, delete-orphan", lazy="selectin"
    )


class RouteRuleTarget(Base):
    __tablename__ = "route_rule_targets"
    rule_id: Mapped[str] = mapped_column(ForeignKey("route_rules.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="RESTRICT"))


class RouteTarget(Base):
    __tablename__ = "route_targets"
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="RESTRICT"))
    weight: Mapped[int] = mapped_column(Integer, default=1)


class RouteEnvironment(Base):
    __tablename__ = "route_environments"
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), primary_key=True)
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="RESTRICT"), primary_key=True)


class AdminToken(Base, Timestamped):
    __tablename__ = "admin_tokens"
    part_of_config: ClassVar[bool] = False
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # controlplane.rbac.ROLES
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), default=None)
    team_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # a team_admin's or member's teams
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ConfigRevision(Base):
    """One row: bumped in the same transaction as every admin change (see db.session)."""

    __tablename__ = "config_revision"
    part_of_config: ClassVar[bool] = False
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """One admin change: who, when, what, before and after (secrets redacted). Append-only: the migration adds
    triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    part_of_config: ClassVar[bool] = False
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(40), index=True)
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    request_id: Mapped[str] = mapped_column(String(64))


class RateLimit(Base, Timestamped):
    """Requests per minute, tokens per minute and/or concurrent requests on one scope (shared.snapshot.SCOPES),
    optionally one route. The scope's row is referenced by the one column that matches `scope` (none for the
    organization), so a limit can never point at something that no longer exists."""

    __tablename__ = "rate_limits"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("keys.id", ondelete="RESTRICT"), default=None, index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), default=None)
    application_id: Mapped[str | None] = mapped_column(ForeignKey("applications.id", ondelete="RESTRICT"), default=None)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), default=None)
    environment_id: Mapped[str | None] = mapped_column(ForeignKey("environments.id", ondelete="RESTRICT"), default=None)
    route_id: Mapped[str | None] = mapped_column(ForeignKey("routes.id", ondelete="RESTRICT"), default=None)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    concurrent_requests: Mapped[int | None] = mapped_column(Integer, default=None)
    environment: Mapped[Environment | None] = relationship(lazy="joined")
    route: Mapped[Route | None] = relationship(lazy="joined")
