"""A loopback HTTP server that replays golden fixtures byte for byte: the common part of the fake Azure OpenAI,
Gemini and Cohere providers (each module says which paths it serves and which fixture answers what).

It runs aiohttp on its own event loop in a background thread, so a test whose own loop blocks (the sync `openai`
client, `asyncio.run` in a sync test) cannot starve it. A response queued with `enqueue` is served before any
check; otherwise the provider's `answer` decides. `.sse` fixtures are written one event per write (one flush
each); every other fixture is sent as one JSON body."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import msgspec
from aiohttp import web

from tests.fakes.openai_provider import RecordedRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream"
_TIMEOUT_S = 10.0
_EVENT_END = re.compile(rb"\r?\n\r?\n")


class Reply(msgspec.Struct, frozen=True):
    """A canned answer: `fixture` is a file name in the server's fixture directory."""

    status: int
    fixture: str
    headers: dict[str, str] = {}


Answer = Callable[[RecordedRequest], Reply]


class ReplayServer:
    """Serves POST on `paths` (aiohttp route patterns) from `fixture_dir`; `answer` picks the fixture."""

    def __init__(self, *, fixture_dir: Path, paths: list[str], answer: Answer) -> None:
        self.fixture_dir = fixture_dir
        self.requests: list[RecordedRequest] = []
        self._paths = paths
        self._answer = answer
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def origin(self) -> str:
        if self._port is None:
            raise RuntimeError("the replay server is not started")
        return f"http://127.0.0.1:{self._port}"

    def fixture(self, name: str) -> bytes:
        return (self.fixture_dir / name).read_bytes()

    def enqueue(self, *replies: Reply) -> None:
        """Serve these to the next requests, in order; then `answer` resumes."""
        for reply in replies:
            if not (self.fixture_dir / reply.fixture).is_file():
                raise FileNotFoundError(f"no fixture {reply.fixture!r} in {self.fixture_dir}")
        with self._lock:
            self._script.extend(replies)

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-provider", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._runner, self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(_TIMEOUT_S)
        finally:
            self._runner, self._port = None, None
            self._stop_loop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_TIMEOUT_S)
        loop.close()

    async def _serve(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        for path in self._paths:
            app.router.add_post(path, self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _host, port = runner.addresses[0][:2]
        return runner, int(port)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path_qs,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.read(),
        )
        self.requests.append(recorded)
        with self._lock:
            reply = self._script.popleft() if self._script else None
        return await self._send(request, reply or self._answer(recorded))

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        body = self.fixture(reply.fixture)
        if not reply.fixture.endswith(".sse"):
            headers = {"Content-Type": JSON_CONTENT_TYPE, **reply.headers}
            return web.Response(status=reply.status, body=body, headers=headers)
        response = web.StreamResponse(status=reply.status, headers={"Content-Type": SSE_CONTENT_TYPE, **reply.headers})
        await response.prepare(request)
        try:
            for event in split_sse_events(body):
                await response.write(event)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client left mid-stream: a scenario tests provoke on purpose
        return response


def split_sse_events(body: bytes) -> list[bytes]:
    """An SSE body's events, each with its own blank line (LF or CRLF, as the fixture has it)."""
    events, start = [], 0
    for end in _EVENT_END.finditer(body):
        events.append(body[start : end.end()])
        start = end.end()
    if body[start:]:
        events.append(body[start:])
    return events


def json_object(body: bytes) -> dict[str, object] | None:
    """The request body as a JSON object, or None."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None
