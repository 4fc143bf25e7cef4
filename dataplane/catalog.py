"""GET /v1/models: the routes the calling key may use, as OpenAI model objects."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.auth import authenticate
from dataplane.observability import record_of
from dataplane.openai_wire import Model, ModelList
from dataplane.runtime import runtime_of

_encoder = msgspec.json.Encoder()


async def list_models(request: Request) -> Response:
    runtime = runtime_of(request)
    record = record_of(request)
    view = runtime.admit_view()
    key = authenticate(request.headers.get("authorization"), view=view, master=runtime.master, now=runtime.clock())
    record.set_principal(key)
    created = view.snapshot.created_at // 1000
    models = [
        Model(id=route.name, created=created, owned_by="waypost")
        for route in view.snapshot.routes
        if view.may_call(key, route)
    ]
    return Response(_encoder.encode(ModelList(data=models)), media_type="application/json")
