"""A fault-injecting fake OpenAI upstream: the fake OpenAI provider's server (a real aiohttp server on 127.0.0.1 in
a background thread) whose chat-completions answers are scripted per request with `script(...)`:

- `Reply(status, fixture | body, headers)`: a whole answer; `.sse` fixtures are streamed one event per write;
- `StreamThenFail(events, then)`: a 200 stream of the first `events` events of `stream.sse`, then `"drop"` (close
  the connection), `"garbage"` (bytes that break the HTTP chunked framing, then close) or `"hang"` (say nothing
  more until the client goes away);
- `Hang()`: read the request and never answer, until the client goes away;
- `Drop()`: read the request and close the connection without a status line.

Once the script is used up, requests get the fake provider's defaults (`good.json`, or `stream.sse` when
`"stream": true`). Every request is in `requests`; every scripted one is also in `calls`, which says whether and
when (monotonic seconds) the client closed the connection while the fake was hanging or streaming.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import pytest
from aiohttp import web

from tests.fakes.openai_provider import (
    FIXTURE_DIR,
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    FakeOpenAIProvider,
    RecordedRequest,
    load_fixture,
    split_sse_events,
)

_POLL_SECONDS = 0.005
# Not valid chunked transfer encoding: the client's HTTP parser must fail on it.
GARBAGE = b"\x00\xffthis is not a chunk\r\n\r\n"


class Reply(msgspec.Struct, frozen=True):
    status: int = 200
    fixture: str = "good.json"
    body: bytes | None = None  # sent instead of the fixture (an error shape that has no fixture file)
    headers: dict[str, str] = {}
    delay_seconds: float = 0.0  # how long the upstream thinks before answering


class StreamThenFail(msgspec.Struct, frozen=True):
    events: int
    then: Literal["drop", "garbage", "hang"] = "drop"
    fixture: str = "stream.sse"
    # The failure comes this long after the last event, so the client has read the events before it (a failure in
    # the same TCP segment would be seen by the client's parser before the events are handed over).
    fail_after_seconds: float = 0.1


class Hang(msgspec.Struct, frozen=True):
    pass


class Drop(msgspec.Struct, frozen=True):
    pass


Step = Reply | StreamThenFail | Hang | Drop


@dataclass
class ScriptedCall:
    """One scripted request and what became of its connection."""

    request: RecordedRequest
    step: Step
    client_closed: threading.Event = field(default_factory=threading.Event)
    closed_at: float | None = None  # time.monotonic() when the fake saw the client's connection go away

    def mark_closed(self) -> None:
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        self.client_closed.set()


def context_length_exceeded_body() -> bytes:
    """OpenAI's documented answer (HTTP 400) to a prompt longer than the model's context window."""
    return msgspec.json.encode(
        {
            "error": {
                "message": "This model's maximum context length is 16385 tokens. However, your messages resulted "
                "in 20000 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
    )


def content_policy_violation_body() -> bytes:
    """OpenAI's documented answer (HTTP 400) when its safety system rejects a request."""
    return msgspec.json.encode(
        {
            "error": {
                "code": "content_policy_violation",
                "message": "Your request was rejected as a result of our safety system. Your prompt may contain text "
                "that is not allowed by our safety system.",
                "param": None,
                "type": "invalid_request_error",
            }
        }
    )


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class ScriptedUpstream(FakeOpenAIProvider):
    """See the module docstring."""

    def __init__(self, api_key: str = "sk-fake-upstream-key") -> None:
        super().__init__(api_key)
        self.calls: list[ScriptedCall] = []
        self._steps: deque[Step] = deque()

    def script(self, *steps: Step) -> None:
        """Answer the next chat-completions requests with these steps, in order."""
        for step in steps:
            fixture = step.fixture if isinstance(step, Reply | StreamThenFail) else None
            if fixture is not None and not (FIXTURE_DIR / fixture).is_file():
                raise FileNotFoundError(f"no OpenAI fixture named {fixture!r} in {FIXTURE_DIR}")
        with self._lock:
            self._steps.extend(steps)

    def _next_step(self) -> Step | None:
        with self._lock:
            return self._steps.popleft() if self._steps else None

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        step = self._next_step()
        if step is None:
            return await super()._chat_completions(request)
        call = ScriptedCall(request=await self._record(request), step=step)
        self.calls.append(call)
        if isinstance(step, Reply):
            return await _reply(request, step, call)
        if isinstance(step, StreamThenFail):
            return await _stream_then_fail(request, step, call)
        if isinstance(step, Hang):
            await _wait_until_gone(request, call)
            return web.Response(status=500)  # never delivered: the client is gone
        _drop(request, call)
        return web.Response(status=500)  # never delivered: the connection is closed


async def _wait_until_gone(request: web.Request, call: ScriptedCall) -> None:
    try:
        while not _client_gone(request):
            await asyncio.sleep(_POLL_SECONDS)
    finally:
        call.mark_closed()


def _drop(request: web.Request, call: ScriptedCall) -> None:
    if request.transport is not None:
        request.transport.close()
    call.mark_closed()


async def _write_events(response: web.StreamResponse, events: list[bytes], call: ScriptedCall) -> bool:
    """Write each event in its own flush; False if the client went away meanwhile."""
    try:
        for event in events:
            await response.write(event)
    except ConnectionResetError:
        call.mark_closed()
        return False
    return True


async def _reply(request: web.Request, step: Reply, call: ScriptedCall) -> web.StreamResponse:
    if step.delay_seconds:
        await asyncio.sleep(step.delay_seconds)
    body = step.body if step.body is not None else load_fixture(step.fixture)
    if step.body is not None or not step.fixture.endswith(".sse"):
        headers = {"Content-Type": JSON_CONTENT_TYPE, **step.headers}
        return web.Response(status=step.status, body=body, headers=headers)
    response = web.StreamResponse(status=step.status, headers={"Content-Type": SSE_CONTENT_TYPE, **step.headers})
    await response.prepare(request)
    if await _write_events(response, split_sse_events(body), call):
        await response.write_eof()
    return response


async def _stream_then_fail(request: web.Request, step: StreamThenFail, call: ScriptedCall) -> web.StreamResponse:
    events = split_sse_events(load_fixture(step.fixture))[: step.events]
    response = web.StreamResponse(status=200, headers={"Content-Type": SSE_CONTENT_TYPE})
    await response.prepare(request)
    if not await _write_events(response, events, call):
        return response
    if step.then == "hang":
        await _wait_until_gone(request, call)
        return response
    await asyncio.sleep(step.fail_after_seconds)
    if step.then == "garbage" and request.transport is not None:
        request.transport.write(GARBAGE)
    _drop(request, call)
    return response


@pytest.fixture
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    """A started `ScriptedUpstream`, stopped after the test."""
    with ScriptedUpstream() as fake:
        yield fake
