"""Server-sent-event responses. The first event is awaited before the status line goes out, so an upstream
failure up to then still becomes a JSON error; a failure after that becomes an SSE error event (OpenAI's, or the
`error_event` given for another protocol). A client disconnect cancels the stream and closes the upstream response
(which cancels the upstream call)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dataplane.errors import GatewayError, InternalError
from dataplane.observability import RequestRecord
from dataplane.openai_wire import sse_event

STATUS_CLIENT_CLOSED = 499


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        record: RequestRecord,
        upstream_timed: bool = False,
        on_close: Callable[[], Awaitable[None]] | None = None,
        error_event: Callable[[GatewayError], bytes] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._events = events
        self._record = record
        self._upstream_timed = upstream_timed
        self._on_close = on_close
        self._error_event = error_event or _openai_error_event

    def converted(
        self,
        convert: Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]],
        *,
        error_event: Callable[[GatewayError], bytes],
    ) -> EventStreamResponse:
        """This stream (its record, upstream timing and on_close) with its events passed through `convert` and a
        failure after the first event rendered by `error_event`: an answer handed on in another protocol."""
        return EventStreamResponse(
            convert(self._events),
            record=self._record,
            upstream_timed=self._upstream_timed,
            on_close=self._on_close,
            error_event=error_event,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self._stream(send))
        disconnect = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait({streaming, disconnect}, return_when=asyncio.FIRST_COMPLETED)
            if streaming.done():
                streaming.result()  # a GatewayError before the first byte is rendered by the exception handlers
            else:
                self._record.status = STATUS_CLIENT_CLOSED
                self._record.error_code = "client_disconnected"
        finally:
            for task in (streaming, disconnect):
                task.cancel()
            await asyncio.gather(streaming, disconnect, return_exceptions=True)
            await self._close()

    async def _next(self) -> bytes | None:
        started = time.perf_counter()
        try:
            return await anext(self._events, None)
        finally:
            if self._upstream_timed:
                self._record.add_upstream(time.perf_counter() - started)

    async def _stream(self, send: Send) -> None:
        event = await self._next()
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            while event is not None:
                await send({"type": "http.response.body", "body": event, "more_body": True})
                if self._record.first_byte_seconds is None:
                    self._record.first_byte_seconds = time.perf_counter() - self._record.started
                event = await self._next()
        except GatewayError as exc:
            self._record.error_code = exc.code
            await send({"type": "http.response.body", "body": self._error_event(exc), "more_body": True})
        except OSError:
            # ASGI 2.4 servers raise from send() once the client is gone
            self._record.status = STATUS_CLIENT_CLOSED
            self._record.error_code = "client_disconnected"
            return
        except Exception:
            error = InternalError(self._record.request_id)
            await send({"type": "http.response.body", "body": self._error_event(error), "more_body": True})
            raise  # the observer logs it; the unfinished response makes the server close the connection
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _close(self) -> None:
        closer = getattr(self._events, "aclose", None)
        if closer is not None:
            await closer()
        if self._on_close is not None:
            await self._on_close()


def _openai_error_event(error: GatewayError) -> bytes:
    return sse_event(error.body())


async def iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event
