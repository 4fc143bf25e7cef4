"""A fake provider of the OpenAI-compatible family on loopback, speaking one kind's documented quirks from
`tests/fixtures/providers/<kind>/chat/` byte for byte (see the README there for where each fixture comes from).

`POST <the kind's base path>/chat/completions` (e.g. `/openai/v1/...` for groq, `/chat/completions` for deepseek),
in order:
1. a reply queued with `enqueue`;
2. a key was configured and `Authorization: Bearer <key>` is missing or wrong → 401 `unauthorized.json` (the kind's
   own body where it has one);
3. the kind's documented refusals: Mistral's schema refuses fields it does not define (`stream_options`,
   `max_completion_tokens`, `seed`, `logit_bias`, ...) with 422 `unprocessable.json`; Groq answers `logprobs`,
   `logit_bias`, `top_logprobs`, `n` other than 1 with 400 `bad_request.json`;
4. `tools` → `tool_calls.json` (`stream_tool_calls.sse` when streamed); `"stream": true` → `stream.sse` (one event
   per write); otherwise `good.json`.

`POST <base path>/completions` (DeepSeek: `/beta/completions`) and `<base path>/embeddings` (the kinds that
document them) answer after the same
queue and key check from the sibling folders, named relative to `chat/` (`COMPLETIONS`, `EMBEDDINGS`):
`../completions/stream.sse` for a stream, else `../completions/good.json`; `../embeddings/good.json`. A queued
error fixture of `chat/` serves any endpoint: a provider's errors have one shape across its endpoints."""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.snapshot import DEFAULT_BASE_URLS
from tests.fakes.loopback import RecordedRequest
from tests.fakes.replay_server import FIXTURES, ReplayServer, Reply, json_object

# the fields of Mistral's documented chat request (client-python's ChatCompletionRequest); any other is a 422
MISTRAL_FIELDS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "metadata",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "reasoning_effort",
        "prompt_mode",
        "guardrails",
        "prompt_cache_key",
        "safe_prompt",
    }
)
GROQ_REFUSED = ("logprobs", "logit_bias", "top_logprobs")
COMPLETIONS = "../completions/"  # fixture names of the other endpoints, relative to `chat/`
EMBEDDINGS = "../embeddings/"
API_KEY = "fake-compat-key"


def base_path(kind: str) -> str:
    """The path part of the kind's public base URL (`/v1` for kinds without one: vllm, openai_compatible)."""
    default = DEFAULT_BASE_URLS.get(kind)
    return urlsplit(default).path.rstrip("/") if default else "/v1"


class FakeCompatProvider(ReplayServer):
    def __init__(self, kind: str, api_key: str | None = API_KEY) -> None:
        self.kind = kind
        self.api_key = api_key
        super().__init__(
            fixture_dir=FIXTURES / kind / "chat",
            paths=[f"{base_path(kind)}/{endpoint}" for endpoint in ("chat/completions", "completions", "embeddings")]
            + (["/beta/completions"] if kind == "deepseek" else []),  # DeepSeek's FIM completions: beta only
            answer=self._answer_for,
        )

    @property
    def base_url(self) -> str:
        """What a provider of this kind is configured with: the origin and the kind's documented base path."""
        return f"{self.origin}{base_path(self.kind)}"

    def _unauthorized(self) -> Reply:
        has_own = (self.fixture_dir / "unauthorized.json").is_file()
        return Reply(401, "unauthorized.json" if has_own else "bad_request.json")

    def _answer_for(self, request: RecordedRequest) -> Reply:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._unauthorized()
        payload = json_object(request.body) or {}
        streamed = payload.get("stream") is True
        if request.path.endswith("/embeddings"):
            return Reply(200, EMBEDDINGS + "good.json")
        if not request.path.endswith("/chat/completions"):
            return Reply(200, COMPLETIONS + ("stream.sse" if streamed else "good.json"))
        if self.kind == "mistral" and set(payload) - MISTRAL_FIELDS:
            return Reply(422, "unprocessable.json")
        if self.kind == "groq" and (any(name in payload for name in GROQ_REFUSED) or payload.get("n", 1) != 1):
            return Reply(400, "bad_request.json")
        if payload.get("tools"):
            return Reply(200, "stream_tool_calls.sse" if streamed else "tool_calls.json")
        return Reply(200, "stream.sse" if streamed else "good.json")
