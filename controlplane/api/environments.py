"""Environments (dev, staging, prod and custom): every key belongs to exactly one."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.errors import FieldError, ValidationFailedError
from controlplane.api.fields import Description, EnvironmentName, ModelAllowList, is_environment_name
from controlplane.api.resource import Created, Resource
from controlplane.db.models import Environment
from shared.crypto import MasterSecret


class EnvironmentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: EnvironmentName
    description: Description = ""
    models: ModelAllowList | None = None


class EnvironmentUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # No renaming: the name is part of every key issued in the environment.
    description: Description | UnsetType = UNSET
    models: ModelAllowList | UnsetType | None = UNSET


class EnvironmentRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    models: list[str] | None
    created_at: datetime
    updated_at: datetime


async def create_environment(
    *, session: AsyncSession, master: MasterSecret, data: EnvironmentCreate
) -> Created[Environment]:
    if not is_environment_name(data.name):
        problem = FieldError("$.name", "lowercase letters and digits, starting with a letter")
        raise ValidationFailedError("request is not valid", errors=[problem])
    return Created(Environment(name=data.name, description=data.description, models=data.models))


resource = Resource(
    path="environments",
    singular="environment",
    model=Environment,
    create_type=EnvironmentCreate,
    update_type=EnvironmentUpdate,
    read_type=EnvironmentRead,
    on_create=create_environment,
)
