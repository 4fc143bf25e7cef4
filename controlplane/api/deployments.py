"""Deployments: one upstream model of a provider, with its request timeout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.fields import Id, Name
from controlplane.api.resource import Created, ReferenceCheck, Resource, assign_fields
from controlplane.db.models import Deployment, Provider
from shared.crypto import MasterSecret

TimeoutSeconds = Annotated[float, Meta(gt=0, le=600, description="Upstream request timeout in seconds.")]


class DeploymentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    provider_id: Id
    model: Name  # the upstream model name
    timeout_seconds: TimeoutSeconds = 60.0
    require_price: bool = False  # refuse calls while no price is in effect (see /api/v1/prices)


class DeploymentUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    provider_id: Id | UnsetType = UNSET
    model: Name | UnsetType = UNSET
    timeout_seconds: TimeoutSeconds | UnsetType = UNSET
    require_price: bool | UnsetType = UNSET


class DeploymentRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    provider_id: str
    model: str
    timeout_seconds: float
    require_price: bool
    created_at: datetime
    updated_at: datetime


async def _check_provider(session: AsyncSession, provider_id: str) -> None:
    references = ReferenceCheck(session)
    await references.one(Provider, provider_id, path="$.provider_id")
    references.raise_if_unresolved()


async def create_deployment(
    *, session: AsyncSession, master: MasterSecret, data: DeploymentCreate
) -> Created[Deployment]:
    await _check_provider(session, data.provider_id)
    return Created(Deployment(**msgspec.structs.asdict(data)))


async def update_deployment(
    *, session: AsyncSession, master: MasterSecret, row: Deployment, data: DeploymentUpdate
) -> None:
    if data.provider_id is not UNSET:
        await _check_provider(session, data.provider_id)
    assign_fields(row, data)


resource = Resource(
    path="deployments",
    singular="deployment",
    model=Deployment,
    create_type=DeploymentCreate,
    update_type=DeploymentUpdate,
    read_type=DeploymentRead,
    on_create=create_deployment,
    on_update=update_deployment,
)
