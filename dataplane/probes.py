"""Operational endpoints: liveness, readiness (a config is applied) and the applied config's status."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.breaker import CircuitRead
from dataplane.ratelimit.limiter import GossipRead
from dataplane.runtime import runtime_of

_encoder = msgspec.json.Encoder()
JSON = "application/json"


class StatusRead(msgspec.Struct, frozen=True):
    instance: str
    config_version: int | None
    stale: bool
    last_error: str | None
    nats_connected: bool
    circuits: dict[str, CircuitRead]  # by deployment name, for the deployments of the applied config
    rate_limit_gossip: GossipRead | None = None  # this worker's view of the rate-limit gossip (README: Rate limits)


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    config = runtime_of(request).config
    if not config.ready:
        return Response(b'{"status":"unready"}', status_code=503, media_type=JSON)
    return Response(b'{"status":"ready"}', media_type=JSON)


async def status(request: Request) -> Response:
    runtime = runtime_of(request)
    config = runtime.config
    circuits: dict[str, CircuitRead] = {}
    if config.view is not None:
        deployments = config.view.deployments_by_id
        runtime.breakers.keep_only(deployments, version=config.view.version)
        circuits = {d.name: runtime.breakers.of(d.id).read() for d in deployments.values()}
    report = StatusRead(
        instance=runtime.settings.instance_id,
        config_version=config.version,
        stale=config.stale,
        last_error=config.last_error,
        nats_connected=config.nats_connected,
        circuits=circuits,
        rate_limit_gossip=runtime.rate_limits.read(),
    )
    return Response(_encoder.encode(report), media_type=JSON)
