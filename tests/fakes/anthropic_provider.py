"""A fake Anthropic Messages API server on 127.0.0.1 that replays golden fixtures byte for byte.

Like tests.fakes.openai_provider, aiohttp runs on its own event loop in a background thread, so a test whose own
loop blocks (the sync `anthropic` client) cannot starve it.

Default behaviour of `POST /v1/messages`, in order:
1. a response queued with `enqueue` is served as is (before any check, so a test gets exactly what it scripted);
2. no `x-api-key: <api_key>` → 401 `authentication_error.json`;
3. no `anthropic-version` header, or a body that is not a JSON object → 400 `bad_request.json`;
4. `"stream": true` → 200 `stream.sse`, one SSE event per write; otherwise → 200 `good.json`.

`POST /v1/messages/count_tokens` answers `count_tokens/good.json` (same checks). Every response carries a
`request-id`, as Anthropic's do. Fixture bytes are never rewritten.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from tests.fakes.loopback import LoopbackServer, RecordedRequest
from tests.fakes.openai_provider import split_sse_events

FIXTURE_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "anthropic"
FIXTURE_DIR = FIXTURE_ROOT / "messages"
COUNT_TOKENS_FIXTURE = FIXTURE_ROOT / "count_tokens" / "good.json"

JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


class ScriptedResponse(msgspec.Struct, frozen=True):
    """A canned answer: `fixture` is a file name in `FIXTURE_DIR`; `.sse` fixtures are streamed event by event."""

    status: int
    fixture: str
    headers: dict[str, str] = {}
    # pause before each SSE event after the first, so the events reach the gateway in separate reads
    chunk_delay: float = 0.0
    one_write: bool = False  # send every event in a single write (they reach the gateway in one read)


def load_fixture(name: str) -> bytes:
    return (FIXTURE_DIR / name).read_bytes()


class FakeAnthropicProvider(LoopbackServer):
    """A real HTTP server speaking Anthropic's Messages wire format; see the module docstring."""

    name = "fake Anthropic provider"

    def __init__(self, api_key: str = "sk-ant-fake-upstream-key") -> None:
        super().__init__()
        self.api_key = api_key
        self._script: deque[ScriptedResponse] = deque()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`, the provider's `base_url` (the Messages API is `<base_url>/messages`)."""
        return f"{self.origin}/v1"

    def enqueue(self, *responses: ScriptedResponse) -> None:
        """Serve these to the next requests, in order; then the defaults resume."""
        for response in responses:
            if not (FIXTURE_DIR / response.fixture).is_file():
                raise FileNotFoundError(f"no Anthropic fixture named {response.fixture!r} in {FIXTURE_DIR}")
        with self._lock:
            self._script.extend(responses)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)

    def _refusal(self, recorded: RecordedRequest) -> ScriptedResponse | None:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if recorded.headers.get("x-api-key") != self.api_key:
            return ScriptedResponse(status=401, fixture="authentication_error.json")
        try:
            payload = msgspec.json.decode(recorded.body)
        except msgspec.DecodeError:
            payload = None
        if "anthropic-version" not in recorded.headers or not isinstance(payload, dict):
            return ScriptedResponse(status=400, fixture="bad_request.json")
        return None

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        scripted = self._refusal(recorded)
        if scripted is None:
            streamed = msgspec.json.decode(recorded.body).get("stream") is True
            scripted = ScriptedResponse(status=200, fixture="stream.sse" if streamed else "good.json")
        return await _send(request, scripted)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        scripted = self._refusal(recorded)
        if scripted is not None:
            return await _send(request, scripted)
        body = COUNT_TOKENS_FIXTURE.read_bytes()
        return web.Response(status=200, body=body, headers=_headers(JSON_CONTENT_TYPE, {}))


def _headers(content_type: str, extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": content_type, "request-id": f"req_{uuid.uuid4().hex}", **extra}


async def _send(request: web.Request, scripted: ScriptedResponse) -> web.StreamResponse:
    body = load_fixture(scripted.fixture)
    if not scripted.fixture.endswith(".sse"):
        return web.Response(status=scripted.status, body=body, headers=_headers(JSON_CONTENT_TYPE, scripted.headers))
    response = web.StreamResponse(status=scripted.status, headers=_headers(SSE_CONTENT_TYPE, scripted.headers))
    await response.prepare(request)
    try:
        for index, event in enumerate([body] if scripted.one_write else split_sse_events(body)):
            if index and scripted.chunk_delay:
                await asyncio.sleep(scripted.chunk_delay)
            await response.write(event)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away mid-stream: a scenario tests provoke on purpose
    return response


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicProvider]:
    """A started `FakeAnthropicProvider`, stopped after the test."""
    with FakeAnthropicProvider() as fake:
        yield fake
