"""GET /api/v1/config/status: the newest published snapshot version and what each data plane applied."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import nats
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.api.errors import ServiceUnavailableError
from shared.transport import SnapshotStore


class DataPlaneStatusRead(msgspec.Struct, frozen=True):
    instance: str
    applied_version: int | None
    stale: bool
    in_sync: bool
    last_error: str | None
    reported_at: datetime


class ConfigStatusRead(msgspec.Struct, frozen=True):
    nats_connected: bool
    published_version: int | None
    published_at: datetime | None
    dataplanes: list[DataPlaneStatusRead]


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


async def read_config_status(store: SnapshotStore | None) -> ConfigStatusRead:
    if store is None:
        return ConfigStatusRead(nats_connected=False, published_version=None, published_at=None, dataplanes=[])
    pointer = await store.read_pointer()
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
        nats_connected=True,
        published_version=published,
        published_at=_from_ms(pointer.published_at) if pointer else None,
        dataplanes=dataplanes,
    )


async def config_status(request: Request) -> Response:
    try:
        status = await read_config_status(request.app.state.snapshot_store)
    except (nats.errors.Error, TimeoutError) as exc:
        raise ServiceUnavailableError(f"NATS did not answer: {type(exc).__name__}") from exc
    return Response(msgspec.json.encode(status), media_type="application/json")


routes = [Route("/config/status", config_status, methods=["GET"])]
