"""A fake Azure OpenAI resource on loopback replaying `tests/fixtures/providers/azure_openai/chat_completions`.

`POST /openai/deployments/{deployment}/chat/completions?api-version=...`: a queued reply first; then no
`api-version` → 404 `deployment_not_found.json` (as Azure answers a missing version); a wrong or missing `api-key`
header → 401 `invalid_api_key.json`; `"stream": true` → `stream.sse`; otherwise `good.json`.

`.../embeddings` and `.../completions` (same checks) answer from the sibling folders: `embeddings/good_base64.json`
for `encoding_format: base64`, else `embeddings/good.json`; `completions/stream.sse` for a stream, else
`completions/good.json`. Their fixture names are relative to `chat_completions/` (`EMBEDDINGS`, `COMPLETIONS`)."""

from __future__ import annotations

from tests.fakes.openai_provider import RecordedRequest
from tests.fakes.replay_server import FIXTURES, ReplayServer, Reply, json_object

FIXTURE_DIR = FIXTURES / "azure_openai" / "chat_completions"
API_KEY = "azure-fake-key"
EMBEDDINGS = "../embeddings/"
COMPLETIONS = "../completions/"


class FakeAzureOpenAI(ReplayServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        super().__init__(
            fixture_dir=FIXTURE_DIR,
            paths=[
                "/openai/deployments/{deployment}/chat/completions",
                "/openai/deployments/{deployment}/embeddings",
                "/openai/deployments/{deployment}/completions",
            ],
            answer=self._answer_for,
        )

    @property
    def base_url(self) -> str:
        """The resource endpoint (what the provider's `base_url` holds)."""
        return self.origin

    def _answer_for(self, request: RecordedRequest) -> Reply:
        if "api-version=" not in request.path:
            return Reply(404, "deployment_not_found.json")
        if request.headers.get("api-key") != self.api_key:
            return Reply(401, "invalid_api_key.json")
        payload = json_object(request.body)
        endpoint = request.path.partition("?")[0].split("/")[4:]  # after /openai/deployments/{deployment}
        if endpoint == ["embeddings"]:
            base64 = payload is not None and payload.get("encoding_format") == "base64"
            return Reply(200, EMBEDDINGS + ("good_base64.json" if base64 else "good.json"))
        if endpoint == ["completions"]:
            streamed = payload is not None and payload.get("stream") is True
            return Reply(200, COMPLETIONS + ("stream.sse" if streamed else "good.json"))
        return Reply(200, "stream.sse" if payload is not None and payload.get("stream") is True else "good.json")
