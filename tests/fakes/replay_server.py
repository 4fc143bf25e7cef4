"""A loopback HTTP server that replays golden fixtures byte for byte: the common part of the fake Azure OpenAI,
Gemini and Cohere providers (each module says which paths it serves and which fixture answers what).

It runs aiohttp on its own event loop in a background thread, so a test whose own loop blocks (the sync `openai`
client, `asyncio.run` in a sync test) cannot starve it. A response queued with `enqueue` is served before any
check; otherwise the provider's `answer` decides. `.sse` fixtures are written one event per write (one flush
each); every other fixture is sent as one JSON body."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path

import msgspec
from aiohttp import web

from tests.fakes.loopback import LoopbackServer, RecordedRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream"
_EVENT_END = re.compile(rb"\r?\n\r?\n")


class Reply(msgspec.Struct, frozen=True):
    """A canned answer: `fixture` is a file name in the server's fixture directory; an `.sse` fixture's events
    are `chunk_delay` seconds apart (so the gateway has sent the first ones on before the next arrives)."""

    status: int
    fixture: str
    headers: dict[str, str] = {}
    chunk_delay: float = 0.0


Answer = Callable[[RecordedRequest], Reply]


class ReplayServer(LoopbackServer):
    """Serves POST on `paths` (aiohttp route patterns) from `fixture_dir`; `answer` picks the fixture."""

    name = "replay server"

    def __init__(self, *, fixture_dir: Path, paths: list[str], answer: Answer) -> None:
        super().__init__()
        self.fixture_dir = fixture_dir
        self._paths = paths
        self._answer = answer
        self._script: deque[Reply] = deque()

    def fixture(self, name: str) -> bytes:
        return (self.fixture_dir / name).read_bytes()

    def enqueue(self, *replies: Reply) -> None:
        """Serve these to the next requests, in order; then `answer` resumes."""
        for reply in replies:
            if not (self.fixture_dir / reply.fixture).is_file():
                raise FileNotFoundError(f"no fixture {reply.fixture!r} in {self.fixture_dir}")
        with self._lock:
            self._script.extend(replies)

    def add_routes(self, app: web.Application) -> None:
        for path in self._paths:
            app.router.add_post(path, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
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
            for number, event in enumerate(split_sse_events(body)):
                if number and reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
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
