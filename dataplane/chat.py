"""POST /v1/chat/completions: authenticate → read and validate the body → authorize the model → select the
targets → call them (dataplane.attempts: retries, fallbacks, circuits), each attempt being the built-in mock or an
OpenAI-protocol upstream on the same-protocol fast path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from dataplane.admission import admit
from dataplane.attempts import call_with_fallback
from dataplane.body import decode_chat_request
from dataplane.chat_adapters import CHAT_ADAPTERS
from dataplane.errors import UpstreamTimeoutError, UpstreamUnavailableError
from dataplane.estimate import reservation_tokens
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import mock, openai
from dataplane.providers.openai_family import (
    openai_protocol_builder,
    openai_protocol_classifier,
    reasoning_in_completion,
)
from dataplane.request_start import start_request
from dataplane.routing import Target, authorize, request_targets
from dataplane.runtime import Runtime
from dataplane.streaming import EventStreamResponse, iterate
from dataplane.upstream import UpstreamRequest, UpstreamStream
from dataplane.upstream_calls import replayed
from dataplane.usage_extract import StreamUsageScanner, completion_usage, scanned

JSON = "application/json"


async def chat_completions(request: Request) -> Response:
    started = await start_request(request, authorization=request.headers.get("authorization"))
    runtime, record, view, key, body = started.runtime, started.record, started.view, started.key, started.body
    chat = decode_chat_request(body)
    record.stream = chat.wants_stream
    route = authorize(chat.model, view=view, key=key)
    record.route = route.name
    admit(
        view=view,
        key=key,
        route=route,
        record=record,
        reserved_tokens=reservation_tokens(chat, body_size=len(body)),
    )

    client_headers = openai.forwarded_headers(request.headers)

    async def call(target: Target, seconds_left: float) -> Response:
        return await answer_chat(
            body,
            chat,
            target=target,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            client_headers=client_headers,
        )

    return await call_with_fallback(
        request_targets(request, route, view=view, key=key, body=body, runtime=runtime),
        call=call,
        record=record,
        runtime=runtime,
        view=view,
    )


async def answer_chat(
    body: bytes,
    chat: ChatRequestView,
    *,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
    client_headers: dict[str, str] | None = None,
) -> Response:
    """One attempt at an OpenAI chat request against a target of any kind: an OpenAI chat completion as JSON, or
    an EventStreamResponse of OpenAI chunks. /v1/messages sends its translated requests here too. `client_headers`
    (the allow-listed `openai-beta`) go to OpenAI-protocol targets with the body."""
    if target.provider.kind == "mock":
        return answer_with_mock(chat, target=target, record=record, runtime=runtime)
    adapter = CHAT_ADAPTERS.get(target.provider.kind)
    if adapter is not None:
        return await adapter(body, chat, target=target, record=record, runtime=runtime, seconds_left=seconds_left)
    if chat.wants_stream:
        return await open_openai_stream(
            body,
            target=target,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            client_wants_usage=chat.wants_usage_chunk,
            client_headers=client_headers,
        )
    return await answer_with_openai(
        body, target=target, record=record, runtime=runtime, seconds_left=seconds_left, client_headers=client_headers
    )


def answer_with_mock(chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime) -> Response:
    completion_id = f"chatcmpl-{record.request_id.replace('-', '')}"
    created = int(runtime.clock())
    model = target.route.name
    record.usage = mock.token_usage(chat)
    if chat.wants_stream:
        events = mock.stream_events(chat, model=model, completion_id=completion_id, created=created)
        return EventStreamResponse(iterate(events), record=record)
    body = mock.encode_completion(chat, model=model, completion_id=completion_id, created=created)
    return Response(body, media_type=JSON)


async def answer_with_openai(
    body: bytes,
    *,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
    build: Callable[..., UpstreamRequest] | None = None,
    client_headers: dict[str, str] | None = None,
) -> Response:
    """One non-streaming attempt, bounded by the deployment's timeout and what is left of the deadline. `build`
    replaces the chat-completions request builder (dataplane.providers.openai_endpoints: other OpenAI endpoints)."""
    build_request = build or openai_protocol_builder(target)
    upstream_request = build_request(
        body,
        target=target,
        stream=False,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )
    upstream_request = openai.with_headers(upstream_request, client_headers)
    started = time.perf_counter()
    try:
        reply = await runtime.upstream.send(upstream_request)
    finally:
        record.add_upstream(time.perf_counter() - started)
    if reply.status >= 400:
        raise openai_protocol_classifier(target)(reply.status, reply.body, reply.headers)
    record.usage, record.usage_estimated = completion_usage(
        reply.body, prompt_bytes=len(body), reasoning_in_completion=reasoning_in_completion(target)
    )
    return Response(reply.body, status_code=reply.status, media_type=reply.headers.get("content-type", JSON))


async def open_openai_stream(
    body: bytes,
    *,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
    client_wants_usage: bool = False,
    build: Callable[..., UpstreamRequest] | None = None,
    client_headers: dict[str, str] | None = None,
) -> Response:
    """One streaming attempt, returned once its first chunk is in hand (nothing has reached the client, so any
    failure up to here may still fall over). The deployment's timeout bounds each read; the deadline bounds the
    wait for the first chunk only: a committed stream may outlast it. Usage is always asked of the provider; its
    usage-only chunk reaches the client only if the client asked for it. `build` as for `answer_with_openai`."""
    build_request = build or openai_protocol_builder(target)
    upstream_request = build_request(
        body,
        target=target,
        stream=True,
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
        include_usage=True,
    )
    upstream_request = openai.with_headers(upstream_request, client_headers)
    scanner = StreamUsageScanner(
        prompt_bytes=len(body),
        hide_usage_chunk=not client_wants_usage,
        reasoning_in_completion=reasoning_in_completion(target),
    )
    started = time.perf_counter()
    stream: UpstreamStream | None = None
    try:
        async with asyncio.timeout(seconds_left):
            stream = await runtime.upstream.open_stream(upstream_request)
            if stream.status >= 400:
                error_body = await stream.read()
                raise openai_protocol_classifier(target)(stream.status, error_body, stream.headers)
            chunks = scanned(stream.chunks(), scanner)
            first = await anext(chunks, None)
        if first is None:
            raise UpstreamUnavailableError("The upstream provider ended the stream before sending anything.")
    except BaseException as exc:
        if stream is not None:
            await stream.aclose()
        if isinstance(exc, TimeoutError):
            raise UpstreamTimeoutError() from exc
        raise
    finally:
        record.add_upstream(time.perf_counter() - started)
    committed = stream

    async def close() -> None:
        record.usage, record.usage_estimated = scanner.result()  # what the client got, if it left early
        await committed.aclose()

    return EventStreamResponse(replayed(first, chunks), record=record, upstream_timed=True, on_close=close)
