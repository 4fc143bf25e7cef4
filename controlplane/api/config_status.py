"""GET /api/v1/config/status: the config revision, the newest published snapshot, what each data plane applied,
and whether every change has reached every data plane. `?wait=SECONDS` holds the answer until it has (or the
wait runs out), so an admin script can make a change and then wait for it to be enforced everywhere."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

import msgspec
import nats
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.api.bodies import decode_query
from controlplane.api.errors import ServiceUnavailableError
from controlplane.snapshots.build import read_revision
from shared.transport import SnapshotStore

_WAIT_POLL_SECONDS = 0.1


class ConfigStatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    wait: Annotated[float, Meta(ge=0, le=60, description="Seconds to wait until converged.")] = 0.0


class DataPlaneStatusRead(msgspec.Struct, frozen=True):
    instance: str
    applied_version: int | None
    stale: bool
    in_sync: bool
    last_error: str | None
    reported_at: datetime


class ConfigStatusRead(msgspec.Struct, frozen=True):
    revision: int  # the control plane's config_revision now
    nats_connected: bool
    published_version: int | None
    published_through_revision: int | None  # every change up to here is published (or changed nothing served)
    published_at: datetime | None
    converged: bool  # every change up to `revision` is applied by every reporting data plane
    dataplanes: list[DataPlaneStatusRead]


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


async def read_config_status(store: SnapshotStore | None, *, revision: int) -> ConfigStatusRead:
    if store is None:
        return ConfigStatusRead(
            revision=revision,
            nats_connected=False,
            published_version=None,
            published_through_revision=None,
            published_at=None,
            converged=False,
            dataplanes=[],
        )
    pointer = await store.read_pointer()
    processed = await store.read_processed()
    published = pointer.version if pointer else None
    dataplanes = [
        DataPlaneStatusRead(
            instance=s.instance,
            applied_version=s.version,
            stale=s.stale,
            in_sync=published is not None and s.version == published and not s.stale,
            last_error=s.last_error,
            reported_at=_from_ms(s.reported_at),
        )
        for s in sorted(await store.read_statuses(), key=lambda s: s.instance)
    ]
    return ConfigStatusRead(
        revision=revision,
        nats_connected=True,
        published_version=published,
        published_through_revision=processed,
        published_at=_from_ms(pointer.published_at) if pointer else None,
        converged=processed is not None and processed >= revision and all(d.in_sync for d in dataplanes),
        dataplanes=dataplanes,
    )


async def _current_revision(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await read_revision(session)


async def config_status(request: Request) -> Response:
    query = decode_query(request.query_params, ConfigStatusQuery)
    revision = await _current_revision(request.app.state.sessionmaker)
    deadline = time.monotonic() + query.wait
    try:
        while True:
            status = await read_config_status(request.app.state.snapshot_store, revision=revision)
            if status.converged or time.monotonic() >= deadline:
                break
            await asyncio.sleep(_WAIT_POLL_SECONDS)
    except (nats.errors.Error, TimeoutError) as exc:
        raise ServiceUnavailableError(f"NATS did not answer: {type(exc).__name__}") from exc
    return Response(msgspec.json.encode(status), media_type="application/json")


routes = [Route("/config/status", config_status, methods=["GET"])]
