"""Teams: groups of users and applications inside the organization; keys belong to a team."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.errors import ConflictError
from controlplane.api.fields import Description, ModelAllowList, Name
from controlplane.api.resource import Created, Resource
from controlplane.db.models import Organization, Team
from shared.crypto import MasterSecret


class TeamCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    description: Description = ""
    models: ModelAllowList | None = None


class TeamUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    models: ModelAllowList | UnsetType | None = UNSET


class TeamRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    organization_id: str
    name: str
    description: str
    models: list[str] | None
    created_at: datetime
    updated_at: datetime


async def create_team(*, session: AsyncSession, master: MasterSecret, data: TeamCreate) -> Created[Team]:
    """A team in the organization (one per deployment for now: the one the initial migration seeds)."""
    organization_id = await session.scalar(
        select(Organization.id).order_by(Organization.created_at, Organization.id).limit(1)
    )
    if organization_id is None:
        raise ConflictError("no organization exists; run the migrations")
    return Created(
        Team(organization_id=organization_id, name=data.name, description=data.description, models=data.models)
    )


resource = Resource(
    path="teams",
    singular="team",
    model=Team,
    create_type=TeamCreate,
    update_type=TeamUpdate,
    read_type=TeamRead,
    on_create=create_team,
)
