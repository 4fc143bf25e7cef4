"""The price catalogue: effective-dated prices per deployment and token class, in integer micro-USD per million
tokens (USD 2.50 per million = 2500000). A deployment's price at time t is the one with the latest
`effective_from` ≤ t; a deployment with none in effect now is listed by `GET /prices/unpriced`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from controlplane.api.fields import Id, Timestamp
from controlplane.api.handlers import Operation, json_response, transaction
from controlplane.api.resource import Created, ReferenceCheck, Resource, assign_fields
from controlplane.db.billing import Price
from controlplane.db.models import Deployment
from controlplane.rbac import ORG_READERS, allow
from shared.crypto import MasterSecret

PerMillion = Annotated[
    int, Meta(ge=0, le=10**12, description="Micro-USD per million tokens: USD 2.50 per million is 2500000.")
]


class PriceCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    deployment_id: Id
    effective_from: Timestamp
    input: PerMillion
    output: PerMillion
    cached_input: PerMillion | None = None  # null: priced as input
    cache_write: PerMillion | None = None  # null: priced as input
    reasoning: PerMillion | None = None  # null: priced as output


class PriceUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    effective_from: Timestamp | UnsetType = UNSET
    input: PerMillion | UnsetType = UNSET
    output: PerMillion | UnsetType = UNSET
    cached_input: PerMillion | UnsetType | None = UNSET
    cache_write: PerMillion | UnsetType | None = UNSET
    reasoning: PerMillion | UnsetType | None = UNSET


class PriceRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    deployment_id: str
    effective_from: datetime
    input: int
    output: int
    cached_input: int | None
    cache_write: int | None
    reasoning: int | None
    created_at: datetime
    updated_at: datetime


class UnpricedDeployment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    require_price: bool  # true: calls to it are refused until it has a price
    next_price_from: datetime | None  # a price exists but takes effect only then


class UnpricedList(msgspec.Struct, frozen=True, kw_only=True):
    data: list[UnpricedDeployment]


async def create_price(*, session: AsyncSession, master: MasterSecret, data: PriceCreate) -> Created[Price]:
    references = ReferenceCheck(session)
    await references.one(Deployment, data.deployment_id, path="$.deployment_id")
    references.raise_if_unresolved()
    return Created(Price(**msgspec.structs.asdict(data)))


async def update_price(*, session: AsyncSession, master: MasterSecret, row: Price, data: PriceUpdate) -> None:
    assign_fields(row, data)


async def unpriced_deployments(session: AsyncSession, *, now: datetime) -> list[UnpricedDeployment]:
    """Deployments with no price in effect at `now`, by name."""
    deployments = (await session.scalars(select(Deployment).order_by(Deployment.name))).all()
    prices = (await session.scalars(select(Price))).all()
    in_effect = {p.deployment_id for p in prices if p.effective_from <= now}
    upcoming: dict[str, datetime] = {}
    for price in prices:
        if price.effective_from > now:
            first = upcoming.get(price.deployment_id)
            upcoming[price.deployment_id] = price.effective_from if first is None else min(first, price.effective_from)
    return [
        UnpricedDeployment(id=d.id, name=d.name, require_price=d.require_price, next_price_from=upcoming.get(d.id))
        for d in deployments
        if d.id not in in_effect
    ]


async def list_unpriced(request: Request) -> Response:
    async with transaction(request, subject="price") as session:
        data = await unpriced_deployments(session, now=datetime.now(UTC))
    return json_response(UnpricedList(data=data))


resource = Resource(
    path="prices",
    singular="price",
    model=Price,
    create_type=PriceCreate,
    update_type=PriceUpdate,
    read_type=PriceRead,
    on_create=create_price,
    on_update=update_price,
)

operations = (
    Operation(
        method="GET",
        path="/prices/unpriced",
        endpoint=list_unpriced,
        operation_id="list_unpriced_deployments",
        summary="Deployments with no price in effect now",
        tag="prices",
        response=UnpricedList,
        policy=allow(*ORG_READERS),
    ),
)
