"""One upstream attempt whose answer may need converting (another protocol, or a usage tap): send a JSON
request, or open a stream and return once its first converted event is in hand (nothing has reached the client,
so any failure up to there may still fall over). Used by the Anthropic protocol paths; the OpenAI fast path has
its own in dataplane.chat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from starlette.responses import Response

from dataplane.errors import GatewayError, UpstreamTimeoutError, UpstreamUnavailableError
from dataplane.estimate import estimated_usage
from dataplane.observability import RequestRecord
from dataplane.runtime import Runtime
from dataplane.streaming import EventStreamResponse
from dataplane.upstream import UpstreamRequest, UpstreamStream
from shared.usage import TokenUsage

Classify = Callable[[int, bytes, dict[str, str]], GatewayError]


class StreamConverter(Protocol):
    output_chars: int

    @property
    def usage(self) -> TokenUsage | None: ...

    def feed(self, chunk: bytes) -> list[bytes]: ...

    def end(self) -> list[bytes]: ...


def record_usage(record: RequestRecord, usage: TokenUsage | None, *, prompt_bytes: int, output_chars: int) -> None:
    """The provider's usage, or (flagged as estimated) one from the request size and the text sent back."""
    if usage is not None:
        record.usage, record.usage_estimated = usage, False
        return
    record.usage = estimated_usage(prompt_bytes=prompt_bytes, output_chars=output_chars)
    record.usage_estimated = True


async def send_json(request: UpstreamRequest, *, classify: Classify, record: RequestRecord, runtime: Runtime) -> bytes:
    """The body of a successful non-streaming answer; an error status raises what `classify` makes of it."""
    started = time.perf_counter()
    try:
        reply = await runtime.upstream.send(request)
    finally:
        record.add_upstream(time.perf_counter() - started)
    if reply.status >= 400:
        raise classify(reply.status, reply.body, reply.headers)
    return reply.body


async def open_converted_stream(
    request: UpstreamRequest,
    *,
    classify: Classify,
    converter: StreamConverter,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
    prompt_bytes: int,
    error_event: Callable[[GatewayError], bytes] | None = None,
) -> Response:
    """A stream attempt. The usage is recorded when the stream ends or the client leaves. A failure after the
    first event becomes `error_event(error)` (Anthropic clients) or the EventStreamResponse's OpenAI error event."""
    started = time.perf_counter()
    stream: UpstreamStream | None = None
    try:
        async with asyncio.timeout(seconds_left):
            stream = await runtime.upstream.open_stream(request)
            if stream.status >= 400:
                raise classify(stream.status, await stream.read(), stream.headers)
            events = converted(
                stream.chunks(), converter, record=record, prompt_bytes=prompt_bytes, error_event=error_event
            )
            first = await anext(events, None)
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
    return EventStreamResponse(replayed(first, events), record=record, upstream_timed=True, on_close=stream.aclose)


async def converted(
    chunks: AsyncIterator[bytes],
    converter: StreamConverter,
    *,
    record: RequestRecord,
    prompt_bytes: int,
    error_event: Callable[[GatewayError], bytes] | None = None,
) -> AsyncIterator[bytes]:
    produced = False
    try:
        async for chunk in chunks:
            for event in converter.feed(chunk):
                produced = True
                yield event
        for event in converter.end():
            produced = True
            yield event
    except GatewayError as error:
        if not produced or error_event is None:
            raise
        record.error_code = error.code
        yield error_event(error)
    finally:
        if produced:
            record_usage(record, converter.usage, prompt_bytes=prompt_bytes, output_chars=converter.output_chars)


async def replayed(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`first`, then the rest, closing the rest however the iteration ends."""
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        closer = getattr(rest, "aclose", None)
        if closer is not None:
            await closer()
