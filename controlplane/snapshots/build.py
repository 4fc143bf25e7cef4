"""Build a consistent config snapshot from the database in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import String, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.models import Application, ConfigRevision, Deployment, Environment, Key, Provider, Route, Team
from controlplane.snapshots.rate_limits import read_rate_limit_specs
from controlplane.spend.specs import read_billing_specs
from shared.route_policy import Condition, RoutePolicy, RouteRule
from shared.snapshot import (
    ApplicationSpec,
    DeploymentSpec,
    EnvironmentSpec,
    KeySpec,
    ProviderSpec,
    RouteSpec,
    Snapshot,
    TeamSpec,
    check_consistency,
)

# One consistent view of every table; SQLite's only snapshot-isolated level is SERIALIZABLE.
_ISOLATION = {"postgresql": "REPEATABLE READ", "sqlite": "SERIALIZABLE"}


def _unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


# Keys are read as plain rows of these columns, not ORM objects: with 100k keys, building ORM objects was most of the
# snapshot's build time. The JSON columns come as their text and are decoded by msgspec: SQLAlchemy's JSON result
# processor (json.loads per key and column) was the next largest part.
_KEY_COLUMNS = (
    Key.id,
    Key.public_id,
    Key.secret_hash,
    Key.environment_id,
    Key.team_id,
    Key.user_id,
    Key.application_id,
    Key.expires_at,
    type_coerce(Key.models, String).label("models"),
    type_coerce(Key.key_metadata, String).label("key_metadata"),
    Key.previous_secret_hash,
    Key.previous_valid_until,
)
_json_decoder = msgspec.json.Decoder()


def _json(value: object) -> Any:
    """A JSON column read past SQLAlchemy's processor: SQLite gives its text, asyncpg the decoded value (a list or
    a dict here, never a JSON string)."""
    return _json_decoder.decode(value) if isinstance(value, str) else value


def _grace_end(previous_valid_until: datetime | None, now: datetime) -> datetime | None:
    """The end of a rotated key's grace window while it lasts, else None: the replaced secret ships until then (data
    planes check the end themselves)."""
    return previous_valid_until if previous_valid_until is not None and previous_valid_until > now else None


async def read_revision(session: AsyncSession) -> int:
    return (await session.execute(select(ConfigRevision.revision).where(ConfigRevision.id == 1))).scalar_one()


def _key_specs(rows: Iterable[Sequence[Any]], *, environments: dict[str, str], now: datetime) -> list[KeySpec]:
    """The keys that ship: not expired at `now`. Rows of _KEY_COLUMNS, unpacked by position (by name, each of the
    twelve fields of 100k rows is a lookup)."""
    specs: list[KeySpec] = []
    for row in rows:
        (key_id, public_id, secret_hash, environment_id, team_id, user_id, application_id, expires_at, models,
         metadata, previous_secret_hash, previous_valid_until) = row  # fmt: skip
        if expires_at is not None and expires_at <= now:
            continue
        grace_end = _grace_end(previous_valid_until, now)
        specs.append(
            KeySpec(
                id=key_id,
                public_id=public_id,
                secret_hash=secret_hash,
                environment=environments[environment_id],
                team_id=team_id,
                user_id=user_id,
                application_id=application_id,
                expires_at=_unix(expires_at),
                models=_json(models),
                metadata=_json(metadata) or {},
                previous_secret_hash=previous_secret_hash if grace_end else None,
                previous_valid_until=_unix(grace_end),
            )
        )
    return specs


async def build_snapshot(session: AsyncSession, *, now: datetime) -> Snapshot:
    """Read every config table in one snapshot-isolated transaction; validate references before returning.

    The caller passes a session with no transaction begun; this function owns the read-only transaction.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    async with session.begin():
        await session.connection(execution_options={"isolation_level": _ISOLATION.get(dialect, "REPEATABLE READ")})
        if dialect == "sqlite":
            # pysqlite opens a transaction only before a write: without BEGIN each SELECT below would see the
            # latest commit, and a snapshot could carry a change under the revision before it
            await session.execute(text("BEGIN"))
        version = await read_revision(session)
        teams = (await session.scalars(select(Team).order_by(Team.id))).all()
        applications = (await session.scalars(select(Application).order_by(Application.id))).all()
        environment_rows = (await session.scalars(select(Environment).order_by(Environment.name))).all()
        environments = {e.id: e.name for e in environment_rows}
        key_rows = (
            await session.execute(select(*_KEY_COLUMNS).where(Key.revoked_at.is_(None)).order_by(Key.public_id))
        ).all()
        keys = _key_specs(key_rows, environments=environments, now=now)
        providers = (await session.scalars(select(Provider).order_by(Provider.id))).all()
        deployments = (await session.scalars(select(Deployment).order_by(Deployment.id))).all()
        routes = (await session.scalars(select(Route).order_by(Route.name))).all()
        prices, budgets = await read_billing_specs(session)
        rate_limits = await read_rate_limit_specs(session, shipped_key_ids={k.id for k in keys})
        snapshot = Snapshot(
            version=version,
            created_at=int(now.timestamp() * 1000),
            teams=[TeamSpec(id=t.id, name=t.name, models=t.models) for t in teams],
            applications=[
                ApplicationSpec(id=a.id, team_id=a.team_id, name=a.name, models=a.models) for a in applications
            ],
            environments=[EnvironmentSpec(name=e.name, models=e.models) for e in environment_rows],
            keys=keys,
            providers=[
                ProviderSpec(
                    id=p.id, name=p.name, kind=p.kind, base_url=p.base_url, sealed_credentials=p.credentials_sealed
                )
                for p in providers
            ],
            deployments=[
                DeploymentSpec(
                    id=d.id,
                    name=d.name,
                    provider_id=d.provider_id,
                    model=d.model,
                    timeout_seconds=d.timeout_seconds,
                    require_price=d.require_price,
                )
                for d in deployments
            ],
            routes=[
                RouteSpec(
                    id=r.id,
                    name=r.name,
                    deployment_ids=[t.deployment_id for t in r.targets],
                    environments=sorted(environments[e.environment_id] for e in r.environments),
                    strategy=r.strategy,
                    weights=[t.weight for t in r.targets] if r.strategy == "weighted" else [],
                    rules=[
                        RouteRule(
                            when=msgspec.convert(rule.condition, Condition),
                            deployment_ids=[t.deployment_id for t in rule.targets],
                        )
                        for rule in r.rules
                    ],
                    policy=msgspec.convert(r.policy or {}, RoutePolicy),
                )
                for r in routes
            ],
            prices=prices,
            budgets=budgets,
            rate_limits=rate_limits,
        )
    check_consistency(snapshot)
    return snapshot
