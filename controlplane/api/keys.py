"""API keys `wp-<env>-<public_id>-<secret>`: shown once at creation, stored only as HMAC-SHA256 of the secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from controlplane.api.bodies import decode_body, read_body
from controlplane.api.errors import ConflictError
from controlplane.api.fields import EnvironmentName, Id, ModelAllowList, Name, Timestamp, as_utc
from controlplane.api.handlers import Operation, audit_change, find_row, json_response, transaction
from controlplane.api.resource import Action, Created, ReferenceCheck, Resource, assign_fields, read_columns
from controlplane.db.models import Application, Environment, Key, Team, User, utcnow
from shared.apikeys import format_key, new_public_id, new_secret
from shared.crypto import MasterSecret

MetadataKey = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
MetadataValue = Annotated[str, Meta(max_length=512, pattern=r"^[^\x00-\x1f\x7f]*$")]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Meta(max_length=50, description="Free-form labels.")]
GraceSeconds = Annotated[int, Meta(ge=0, le=2_592_000, description="How long the replaced secret keeps working.")]


class KeyCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    team_id: Id
    environment: EnvironmentName
    user_id: Id | None = None
    application_id: Id | None = None
    models: ModelAllowList | None = None
    expires_at: Timestamp | None = None
    metadata: Metadata = {}


class KeyUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    models: ModelAllowList | UnsetType | None = UNSET
    expires_at: Timestamp | UnsetType | None = UNSET
    metadata: Metadata | UnsetType = UNSET


class KeyRotate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    grace_seconds: GraceSeconds = 3600


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
    previous_valid_until: datetime | None  # after a rotation: when the replaced secret stops working
    metadata: dict[str, str]
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
        key_metadata=data.metadata,
    )
    return Created(key, reveal={"key": format_key(environment.name, public_id, secret)})


async def read_keys(*, session: AsyncSession, rows: Sequence[Key]) -> list[KeyRead]:
    return [read_columns(KeyRead, row, environment=row.environment.name, metadata=row.key_metadata) for row in rows]


async def update_key(*, session: AsyncSession, master: MasterSecret, row: Key, data: KeyUpdate) -> None:
    assign_fields(row, data, skip=frozenset({"metadata"}))  # `metadata` is SQLAlchemy's own attribute name
    if data.metadata is not UNSET:
        row.key_metadata = data.metadata


def make_rotate_operation(*, max_body_bytes: int) -> Operation:
    """`POST /keys/{id}/rotate`: a new secret under the same public id, shown once; the replaced secret keeps
    working for `grace_seconds` (rotating again within the window ends the older secret at once)."""
    decoder = msgspec.json.Decoder(KeyRotate)

    async def rotate(request: Request) -> Response:
        body = await read_body(request, max_bytes=max_body_bytes)
        data = decode_body(decoder, body) if body.strip() else KeyRotate()
        master: MasterSecret = request.app.state.master_secret
        async with transaction(request, subject="key") as session:
            row = await find_row(session, Key, request.path_params["id"], subject="key")
            if row.revoked_at is not None:
                raise ConflictError("a revoked key cannot be rotated; create a new key")
            [before] = await read_keys(session=session, rows=[row])
            secret = new_secret()
            row.previous_secret_hash = row.secret_hash
            row.previous_valid_until = utcnow() + timedelta(seconds=data.grace_seconds)
            row.secret_hash = master.hash_key_secret(secret)
            await session.flush()
            [after] = await read_keys(session=session, rows=[row])
            audit_change(session, request, action="rotate", resource_type="key", row=row, before=before, after=after)
        key = format_key(row.environment.name, row.public_id, secret)
        return json_response(KeyCreated(**msgspec.structs.asdict(after), key=key))

    return Operation(
        method="POST",
        path="/keys/{id}/rotate",
        endpoint=rotate,
        operation_id="rotate_key",
        summary="Rotate a key's secret (same public id); the old secret works for the grace window",
        tag="keys",
        body=KeyRotate,
        response=KeyCreated,
    )


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
    on_update=update_key,
    actions=(Action("revoke", "Revoke a key (idempotent); data planes refuse it from then on", revoke_key),),
)
