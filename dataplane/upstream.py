"""The upstream HTTP seam. `UpstreamClient` is the protocol the request path calls; `AiohttpUpstreamClient` is
the production implementation over one aiohttp session per worker (DESIGN.md §4). Tests and benchmarks swap in
their own implementation. aiohttp exceptions never escape: they become UpstreamUnavailableError or
UpstreamTimeoutError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp
import msgspec

from dataplane.errors import GatewayError, UpstreamTimeoutError, UpstreamUnavailableError

_RELAYED_HEADERS = ("content-type", "retry-after", "x-amzn-errortype")  # the last: Bedrock's error type


class UpstreamRequest(msgspec.Struct, frozen=True):
    url: str
    headers: dict[str, str]
    body: bytes
    timeout_seconds: float  # total for `send`; the idle gap between reads for `open_stream`
    connect_timeout_seconds: float = 5.0


class UpstreamReply(msgspec.Struct, frozen=True):
    status: int
    headers: dict[str, str]  # only the relayed ones, lower-case names
    body: bytes


class UpstreamStream(Protocol):
    """An upstream response whose body has not been read yet."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> dict[str, str]: ...

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive."""
        ...

    async def aclose(self) -> None:
        """Release the response; an unfinished one has its connection closed, which cancels the upstream call."""
        ...


class UpstreamClient(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        """POST and read the whole answer (status and body) within the request's timeout."""
        ...

    async def open_stream(self, request: UpstreamRequest) -> UpstreamStream:
        """POST and return once the status line and headers arrived; the timeout applies to each read."""
        ...

    async def aclose(self) -> None: ...


def _mapped(exc: BaseException) -> GatewayError:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeoutError()
    return UpstreamUnavailableError()


def _relayed_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {name: response.headers[name] for name in _RELAYED_HEADERS if name in response.headers}


class _AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse, *, idle_seconds: float) -> None:
        self._response = response
        self._idle_seconds = idle_seconds
        self.status = response.status
        self.headers = _relayed_headers(response)

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        # The idle timeout is enforced here as well as by aiohttp's sock_read: when the chunked framing breaks
        # mid-body, aiohttp fails the connection but neither wakes the body reader nor fires sock_read.
        content = self._response.content
        try:
            while True:
                async with asyncio.timeout(self._idle_seconds):
                    data = await content.readany()
                if not data:
                    return
                yield data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpUpstreamClient:
    """One keep-alive connection pool for every provider this worker talks to."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        timeout = aiohttp.ClientTimeout(total=request.timeout_seconds, sock_connect=request.connect_timeout_seconds)
        try:
            async with self._session.post(
                request.url, data=request.body, headers=request.headers, timeout=timeout, allow_redirects=False
            ) as response:
                body = await response.read()
                return UpstreamReply(status=response.status, headers=_relayed_headers(response), body=body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc

    async def open_stream(self, request: UpstreamRequest) -> UpstreamStream:
        # a stream may legitimately last longer than any total deadline: bound the gaps instead
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=request.connect_timeout_seconds, sock_read=request.timeout_seconds
        )
        try:
            response = await self._session.post(
                request.url, data=request.body, headers=request.headers, timeout=timeout, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc) from exc
        return _AiohttpStream(response, idle_seconds=request.timeout_seconds)

    async def aclose(self) -> None:
        await self._session.close()


def make_upstream_client() -> AiohttpUpstreamClient:
    """Build the worker's client; call it inside the running event loop (the app's lifespan)."""
    connector = aiohttp.TCPConnector(limit=1024, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
    session = aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None), trust_env=False, auto_decompress=True
    )
    return AiohttpUpstreamClient(session)
