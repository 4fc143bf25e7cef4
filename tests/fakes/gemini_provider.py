"""A fake Gemini API on loopback replaying `tests/fixtures/providers/gemini` byte for byte.

`POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`: a queued reply first (its
fixture path is relative to the gemini fixture folder, e.g. `generate_content/safety.json`); then a wrong or
missing `x-goog-api-key` → 400 `api_key_invalid.json` (as Gemini answers it); a body that is not a JSON object
→ 400 `invalid_argument.json`; a stream → `stream.sse`; otherwise `good.json`.
`:batchEmbedContents` (same checks) → `embeddings/good.json`."""

from __future__ import annotations

from tests.fakes.openai_provider import RecordedRequest
from tests.fakes.replay_server import FIXTURES, ReplayServer, Reply, json_object

FIXTURE_DIR = FIXTURES / "gemini"
API_KEY = "gemini-fake-key"


class FakeGemini(ReplayServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        super().__init__(fixture_dir=FIXTURE_DIR, paths=["/v1beta/models/{model_method}"], answer=self._answer_for)

    @property
    def base_url(self) -> str:
        return self.origin

    def _answer_for(self, request: RecordedRequest) -> Reply:
        if request.headers.get("x-goog-api-key") != self.api_key:
            return Reply(400, "generate_content/api_key_invalid.json")
        if json_object(request.body) is None:
            return Reply(400, "generate_content/invalid_argument.json")
        if ":batchEmbedContents" in request.path:
            return Reply(200, "embeddings/good.json")
        if ":streamGenerateContent" in request.path:
            return Reply(200, "stream_generate_content/stream.sse")
        return Reply(200, "generate_content/good.json")
