"""In-memory stand-ins for the UpstreamClient seam, for unit tests of the request path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from dataplane.errors import GatewayError
from dataplane.upstream import UpstreamReply, UpstreamRequest, UpstreamStream


class ScriptedStream:
    """An upstream stream that yields `events`, then raises `fail_with` (if set) or blocks forever if `hang`."""

    def __init__(
        self,
        events: list[bytes],
        *,
        status: int = 200,
        fail_with: GatewayError | None = None,
        hang: bool = False,
        error_body: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = {"content-type": "text/event-stream"}
        self._events = events
        self._fail_with = fail_with
        self._hang = hang
        self._error_body = error_body
        self.closed = asyncio.Event()
        self.cancelled = False

    async def read(self) -> bytes:
        return self._error_body

    async def chunks(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event
        if self._fail_with is not None:
            raise self._fail_with
        if self._hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise

    async def aclose(self) -> None:
        self.closed.set()


class ScriptedUpstream:
    """Records every upstream request; answers with `reply`, or opens `stream`, or raises `error`."""

    def __init__(
        self,
        *,
        reply: UpstreamReply | None = None,
        stream: ScriptedStream | None = None,
        error: Exception | None = None,
    ) -> None:
        self.reply = reply or UpstreamReply(status=200, headers={"content-type": "application/json"}, body=b"{}")
        self.stream = stream or ScriptedStream([])
        self.error = error
        self.requests: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return self.reply

    async def open_stream(self, request: UpstreamRequest) -> UpstreamStream:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return self.stream

    async def aclose(self) -> None:
        pass
