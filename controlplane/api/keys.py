"""API keys `wp-<env>-<public_id>-<secret>`: shown once at creation, stored only as HMAC-SHA256 of the secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.fields import EnvironmentName, Id, Name, Timestamp, as_utc
from controlplane.api.resource import Action, Created, ReferenceCheck, Resource, read_columns
from controlplane.db.models import Application, Environment, Key, Team, User, utcnow
from shared.apikeys import format_key, new_public_id, new_secret
from shared.crypto import MasterSecret


class KeyCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    team_id: Id
    environment: EnvironmentName
    user_id: Id | None = None
    application_id: Id | None = None
    models: list[Name] | None = None  # route names the key may call; null: all routes
    expires_at: Timestamp | None = None


class KeyUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    models: list[Name] | UnsetType | None = UNSET
    expires_at: Timestamp | UnsetType | None = UNSET


class KeyRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    public_id: str
    name: str
    team_id: str
    environment: str
    user_id: str | None
    application_id: str | None
    models: list[str] | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class KeyCreated(KeyRead, frozen=True, kw_only=True):
    key: str  # the full key; this response is the only place it ever appears


async def create_key(*, session: AsyncSession, master: MasterSecret, data: KeyCreate) -> Created[Key]:
    references = ReferenceCheck(session)
    await references.one(Team, data.team_id, path="$.team_id")
    environment = await references.one(Environment, data.environment, path="$.environment", column="name")
    if data.user_id is not None:
        await references.one(User, data.user_id, path="$.user_id")
    if data.application_id is not None:
        application = await references.one(Application, data.application_id, path="$.application_id")
        if application is not None and application.team_id != data.team_id:
            references.fail("$.application_id", "the application belongs to another team")
    references.raise_if_unresolved()
    assert environment is not None

    public_id, secret = new_public_id(), new_secret()
    key = Key(
        public_id=public_id,
        secret_hash=master.hash_key_secret(secret),
        name=data.name,
        team_id=data.team_id,
        environment=environment,
        user_id=data.user_id,
        application_id=data.application_id,
        models=data.models,
        expires_at=None if data.expires_at is None else as_utc(data.expires_at),
    )
    return Created(key, reveal={"key": format_key(environment.name, public_id, secret)})


async def read_keys(*, session: AsyncSession, rows: Sequence[Key]) -> list[KeyRead]:
    return [read_columns(KeyRead, row, environment=row.environment.name) for row in rows]


async def revoke_key(*, session: AsyncSession, row: Key) -> None:
    """Revoke once; revoking again keeps the first time."""
    if row.revoked_at is None:
        row.revoked_at = utcnow()


resource = Resource(
    path="keys",
    singular="key",
    model=Key,
    create_type=KeyCreate,
    update_type=KeyUpdate,
    read_type=KeyRead,
    created_type=KeyCreated,
    on_create=create_key,
    on_read=read_keys,
    actions=(Action("revoke", "Revoke a key (idempotent); data planes refuse it from then on", revoke_key),),
)
