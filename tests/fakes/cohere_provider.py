"""A fake Cohere API on loopback replaying `tests/fixtures/providers/cohere/chat` byte for byte.

`POST /v2/chat`: a queued reply first; then a wrong or missing `Authorization: Bearer <key>` → 401
`unauthorized.json`; a body that is not a JSON object → 400 `bad_request.json`; `"stream": true` →
`stream.sse`; otherwise `good.json`.

`POST /v2/embed` (same checks) → `embeddings/good.json`; its fixture names are relative to `chat/` (`EMBEDDINGS`)."""

from __future__ import annotations

from tests.fakes.openai_provider import RecordedRequest
from tests.fakes.replay_server import FIXTURES, ReplayServer, Reply, json_object

FIXTURE_DIR = FIXTURES / "cohere" / "chat"
API_KEY = "cohere-fake-key"
EMBEDDINGS = "../embeddings/"


class FakeCohere(ReplayServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        super().__init__(fixture_dir=FIXTURE_DIR, paths=["/v2/chat", "/v2/embed"], answer=self._answer_for)

    @property
    def base_url(self) -> str:
        return self.origin

    def _answer_for(self, request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, "unauthorized.json")
        payload = json_object(request.body)
        if payload is None:
            return Reply(400, "bad_request.json")
        if request.path == "/v2/embed":
            return Reply(200, EMBEDDINGS + "good.json")
        return Reply(200, "stream.sse" if payload.get("stream") is True else "good.json")
