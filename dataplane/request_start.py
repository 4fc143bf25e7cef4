"""The start every model endpoint shares: the config view the request will use from admission to end, the key,
and the body read within the size limit."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dataplane.auth import authenticate
from dataplane.body import read_body
from dataplane.config_state import ConfigView
from dataplane.observability import RequestRecord, record_of
from dataplane.runtime import Runtime, runtime_of
from shared.snapshot import KeySpec


@dataclass(frozen=True, slots=True)
class Started:
    runtime: Runtime
    record: RequestRecord
    view: ConfigView
    key: KeySpec
    body: bytes


async def start_request(request: Request, *, authorization: str | None) -> Started:
    """Authenticate `authorization` (the header's value, `Bearer <key>`) against the applied config, then read the
    body. Raises the GatewayError to answer with."""
    runtime = runtime_of(request)
    record = record_of(request)
    view = runtime.admit_view()
    record.config_version = view.version
    key = authenticate(authorization, view=view, master=runtime.master, now=runtime.clock())
    record.set_principal(key)
    body = await read_body(
        request.stream(), content_length=request.headers.get("content-length"), limit=runtime.settings.max_body_bytes
    )
    return Started(runtime=runtime, record=record, view=view, key=key, body=body)
