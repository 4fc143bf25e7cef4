"""POST /v1/chat/completions: authenticate → read and validate the body → authorize the model → select the
target → call it (the built-in mock, or an OpenAI-protocol upstream on the same-protocol fast path)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from dataplane.auth import authenticate
from dataplane.body import decode_chat_request, read_body
from dataplane.observability import RequestRecord, record_of
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import mock, openai
from dataplane.routing import Target, authorize, select_target
from dataplane.runtime import Runtime, runtime_of
from dataplane.streaming import EventStreamResponse, iterate
from dataplane.upstream import UpstreamClient

JSON = "application/json"


async def chat_completions(request: Request) -> Response:
    runtime = runtime_of(request)
    record = record_of(request)
    view = runtime.admit_view()
    key = authenticate(request.headers.get("authorization"), view=view, master=runtime.master, now=runtime.clock())
    record.key_public_id, record.team_id, record.environment = key.public_id, key.team_id, key.environment
    body = await read_body(
        request.stream(), content_length=request.headers.get("content-length"), limit=runtime.settings.max_body_bytes
    )
    chat = decode_chat_request(body)
    record.stream = chat.wants_stream
    target = select_target(authorize(chat.model, view=view, key=key), view=view)
    record.route, record.deployment, record.provider_kind = (
        target.route.name,
        target.deployment.name,
        target.provider.kind,
    )
    if target.provider.kind == "mock":
        return answer_with_mock(chat, target=target, record=record, runtime=runtime)
    return await answer_with_openai(body, chat, target=target, record=record, upstream=runtime.upstream)


def answer_with_mock(chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime) -> Response:
    completion_id = f"chatcmpl-{record.request_id.replace('-', '')}"
    created = int(runtime.clock())
    model = target.route.name
    if chat.wants_stream:
        events = mock.stream_events(chat, model=model, completion_id=completion_id, created=created)
        return EventStreamResponse(iterate(events), record=record)
    body = mock.encode_completion(chat, model=model, completion_id=completion_id, created=created)
    return Response(body, media_type=JSON)


async def answer_with_openai(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, upstream: UpstreamClient
) -> Response:
    upstream_request = openai.build_chat_request(body, target=target, stream=chat.wants_stream)
    started = time.perf_counter()
    if not chat.wants_stream:
        try:
            reply = await upstream.send(upstream_request)
        finally:
            record.add_upstream(time.perf_counter() - started)
        if reply.status >= 400:
            raise openai.classify_error(reply.status, reply.body, reply.headers)
        return Response(reply.body, status_code=reply.status, media_type=reply.headers.get("content-type", JSON))
    try:
        stream = await upstream.open_stream(upstream_request)
        if stream.status >= 400:
            try:
                error_body = await stream.read()
            finally:
                await stream.aclose()
            raise openai.classify_error(stream.status, error_body, stream.headers)
    finally:
        record.add_upstream(time.perf_counter() - started)
    return EventStreamResponse(stream.chunks(), record=record, upstream_timed=True, on_close=stream.aclose)
