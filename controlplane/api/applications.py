"""Applications: non-human principals (a service, an agent) owned by a team."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.fields import Description, Id, ModelAllowList, Name
from controlplane.api.resource import Created, ReferenceCheck, Resource
from controlplane.db.models import Application, Team
from shared.crypto import MasterSecret


class ApplicationCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    team_id: Id
    name: Name
    description: Description = ""
    models: ModelAllowList | None = None


class ApplicationUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # The team is fixed: the application's keys were issued within it.
    name: Name | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    models: ModelAllowList | UnsetType | None = UNSET


class ApplicationRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    team_id: str
    name: str
    description: str
    models: list[str] | None
    created_at: datetime
    updated_at: datetime


async def create_application(
    *, session: AsyncSession, master: MasterSecret, data: ApplicationCreate
) -> Created[Application]:
    references = ReferenceCheck(session)
    await references.one(Team, data.team_id, path="$.team_id")
    references.raise_if_unresolved()
    return Created(Application(team_id=data.team_id, name=data.name, description=data.description, models=data.models))


resource = Resource(
    path="applications",
    singular="application",
    model=Application,
    create_type=ApplicationCreate,
    update_type=ApplicationUpdate,
    read_type=ApplicationRead,
    on_create=create_application,
)
