"""A fake OpenAI Chat Completions server on 127.0.0.1 that replays golden fixtures byte for byte.

The server runs aiohttp on its own event loop in a background thread, so a test whose own loop blocks (the sync
`openai` client, `asyncio.run` in a sync test) cannot starve it.

Default behaviour of `POST /v1/chat/completions`, in order:
1. a response queued with `enqueue` is served as is (before any check, so a test gets exactly what it scripted);
2. no `Authorization: Bearer <api_key>` → 401 `invalid_api_key.json`;
3. a body that is not a JSON object → 400 `bad_request.json`;
4. `"stream": true` → 200 `stream.sse`, one SSE event per write; otherwise → 200 `good.json`.

`POST /v1/embeddings` and `POST /v1/completions` (after the same queue, key and body checks) answer from the
sibling folders: `embeddings/good_base64.json` when `encoding_format` is `base64` (the SDK's default), else
`embeddings/good.json`; `completions/stream.sse` for a stream, else `completions/good.json`. A queued fixture of
another endpoint is named relative to `chat_completions/`, e.g. `../embeddings/no_usage.json` (`EMBEDDINGS`).

`POST /v1/responses` (the Responses API) works the same way from `responses/`: `enqueue_responses` scripts it,
the key is checked, `"stream": true` → `stream.sse`, otherwise `good.json`.

`GET /v1/models` answers `models/list.json` (same key check). Every response carries an `x-request-id`, as
OpenAI's do. Fixture bytes are never rewritten: the `model` field is whatever the fixture holds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from tests.fakes.loopback import LoopbackServer, RecordedRequest

__all__ = ["FakeOpenAIProvider", "RecordedRequest", "ScriptedResponse", "load_fixture", "split_sse_events"]

FIXTURE_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "openai"
FIXTURE_DIR = FIXTURE_ROOT / "chat_completions"
MODELS_FIXTURE = FIXTURE_ROOT / "models" / "list.json"
RESPONSES_DIR = FIXTURE_ROOT / "responses"

JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
SSE_EVENT_END = b"\n\n"
EMBEDDINGS = "../embeddings/"  # fixture names of the other endpoints, relative to FIXTURE_DIR
COMPLETIONS = "../completions/"


class ScriptedResponse(msgspec.Struct, frozen=True):
    """A canned answer: `fixture` is a file name in `FIXTURE_DIR`; `.sse` fixtures are streamed event by event."""

    status: int
    fixture: str
    headers: dict[str, str] = {}
    # Pause before each SSE event after the first, so tests can observe incremental delivery or disconnect mid-way.
    chunk_delay: float = 0.0


def load_fixture(name: str) -> bytes:
    """The exact bytes of a chat-completions fixture, as the fake sends them."""
    return (FIXTURE_DIR / name).read_bytes()


def split_sse_events(body: bytes) -> list[bytes]:
    """Split an SSE body into its events, each keeping its terminating blank line."""
    parts = body.split(SSE_EVENT_END)
    events = [part + SSE_EVENT_END for part in parts[:-1]]
    if parts[-1]:
        events.append(parts[-1])
    return events


def without_usage_chunk(body: bytes) -> bytes:
    """An SSE body as the gateway relays it to a client that did not ask for usage: the usage-only chunk (the one
    with `"choices":[]`) left out."""
    return b"".join(event for event in split_sse_events(body) if b'"choices":[]' not in event)


class FakeOpenAIProvider(LoopbackServer):
    """A real HTTP server speaking OpenAI's Chat Completions wire format; see the module docstring."""

    name = "fake OpenAI provider"

    def __init__(self, api_key: str = "sk-fake-upstream-key") -> None:
        super().__init__()
        self.api_key = api_key
        self._script: deque[ScriptedResponse] = deque()
        self._responses_script: deque[ScriptedResponse] = deque()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`, the value to pass as an OpenAI client's `base_url`."""
        return f"{self.origin}/v1"

    def enqueue(self, *responses: ScriptedResponse) -> None:
        """Serve these to the next chat-completions requests, in order; then the defaults resume."""
        for response in responses:
            if not (FIXTURE_DIR / response.fixture).is_file():
                raise FileNotFoundError(f"no OpenAI fixture named {response.fixture!r} in {FIXTURE_DIR}")
        with self._lock:
            self._script.extend(responses)

    def enqueue_responses(self, *responses: ScriptedResponse) -> None:
        """Serve these (fixtures of `RESPONSES_DIR`) to the next Responses API requests, in order."""
        for response in responses:
            if not (RESPONSES_DIR / response.fixture).is_file():
                raise FileNotFoundError(f"no Responses fixture named {response.fixture!r} in {RESPONSES_DIR}")
        with self._lock:
            self._responses_script.extend(responses)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/completions", self._completions)

    def _next_scripted(self) -> ScriptedResponse | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _authorized(self, recorded: RecordedRequest) -> bool:
        return recorded.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        scripted = self._next_scripted()
        if scripted is not None:
            return await _send(request, scripted)
        if not self._authorized(recorded):
            return await _send(request, ScriptedResponse(status=401, fixture="invalid_api_key.json"))
        try:
            payload = msgspec.json.decode(recorded.body)
        except msgspec.DecodeError:
            payload = None
        if not isinstance(payload, dict):
            return await _send(request, ScriptedResponse(status=400, fixture="bad_request.json"))
        fixture = "stream.sse" if payload.get("stream") is True else "good.json"
        return await _send(request, ScriptedResponse(status=200, fixture=fixture))

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._answer_other(request, lambda payload: EMBEDDINGS + _embedding_fixture(payload))

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer_other(
            request, lambda payload: COMPLETIONS + ("stream.sse" if payload.get("stream") is True else "good.json")
        )

    async def _answer_other(
        self, request: web.Request, fixture_for: Callable[[dict[str, object]], str]
    ) -> web.StreamResponse:
        """An endpoint other than chat: the same queue, key and body checks, then `fixture_for(body)` with 200."""
        recorded = await self._record(request)
        scripted = self._next_scripted()
        if scripted is not None:
            return await _send(request, scripted)
        if not self._authorized(recorded):
            return await _send(request, ScriptedResponse(status=401, fixture="invalid_api_key.json"))
        try:
            payload = msgspec.json.decode(recorded.body)
        except msgspec.DecodeError:
            payload = None
        if not isinstance(payload, dict):
            return await _send(request, ScriptedResponse(status=400, fixture="bad_request.json"))
        return await _send(request, ScriptedResponse(status=200, fixture=fixture_for(payload)))

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        with self._lock:
            scripted = self._responses_script.popleft() if self._responses_script else None
        if scripted is None and not self._authorized(recorded):
            scripted = ScriptedResponse(status=401, fixture="invalid_api_key.json")
        if scripted is None:
            try:
                payload = msgspec.json.decode(recorded.body)
            except msgspec.DecodeError:
                payload = None
            if not isinstance(payload, dict):
                scripted = ScriptedResponse(status=400, fixture="bad_request.json")
            else:
                fixture = "stream.sse" if payload.get("stream") is True else "good.json"
                scripted = ScriptedResponse(status=200, fixture=fixture)
        return await _send(request, scripted, RESPONSES_DIR)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if not self._authorized(recorded):
            return await _send(request, ScriptedResponse(status=401, fixture="invalid_api_key.json"))
        return web.Response(status=200, body=MODELS_FIXTURE.read_bytes(), headers=_headers(JSON_CONTENT_TYPE, {}))


def _embedding_fixture(payload: dict[str, object]) -> str:
    return "good_base64.json" if payload.get("encoding_format") == "base64" else "good.json"


def _headers(content_type: str, extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": content_type, "x-request-id": f"req_{uuid.uuid4().hex}", **extra}


async def _send(
    request: web.Request, scripted: ScriptedResponse, fixture_dir: Path = FIXTURE_DIR
) -> web.StreamResponse:
    body = (fixture_dir / scripted.fixture).read_bytes()
    if not scripted.fixture.endswith(".sse"):
        return web.Response(status=scripted.status, body=body, headers=_headers(JSON_CONTENT_TYPE, scripted.headers))
    response = web.StreamResponse(status=scripted.status, headers=_headers(SSE_CONTENT_TYPE, scripted.headers))
    await response.prepare(request)
    try:
        for index, event in enumerate(split_sse_events(body)):
            if index and scripted.chunk_delay:
                await asyncio.sleep(scripted.chunk_delay)
            # aiohttp hands each write straight to the socket (TCP_NODELAY is on), so one event = one flush.
            await response.write(event)
        await response.write_eof()
    except ConnectionResetError:
        # The client went away mid-stream; that is a scenario tests provoke on purpose, not a fake failure.
        pass
    return response


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIProvider]:
    """A started `FakeOpenAIProvider`, stopped after the test."""
    with FakeOpenAIProvider() as fake:
        yield fake
