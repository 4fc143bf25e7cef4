"""The Vertex AI adapter, pure parts: which publisher serves a model, the URLs and bodies of both publishers'
calls, and the classification of both error shapes (the golden fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from dataplane.errors import GatewayError, InvalidParameterError, UpstreamAuthError, UpstreamStatusError
from dataplane.providers import vertex
from dataplane.providers.anthropic import AnthropicUpstreamError
from dataplane.providers.gemini import GeminiUpstreamError
from dataplane.retry import FailureClass, classify_failure
from dataplane.translate.openai_types import ChatRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "vertex_ai"
BASE = "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("model", "anthropic"),
    [
        ("claude-sonnet-4@20250514", True),
        ("claude-3-5-haiku@20241022", True),
        ("gemini-2.5-flash", False),
        ("gemini-2.0-flash-001", False),
        ("publishers-claude", False),
    ],
)
def test_claude_models_are_anthropics_and_every_other_model_googles(model: str, anthropic: bool) -> None:
    assert vertex.is_anthropic_model(model) is anthropic


@pytest.mark.parametrize("base", [BASE, BASE + "/"])
def test_each_publisher_has_its_own_method_urls(base: str) -> None:
    google = f"{BASE}/publishers/google/models/gemini-2.5-flash"
    anthropic = f"{BASE}/publishers/anthropic/models/claude-sonnet-4@20250514"
    assert vertex.gemini_url(base, "gemini-2.5-flash", stream=False) == f"{google}:generateContent"
    assert vertex.gemini_url(base, "gemini-2.5-flash", stream=True) == f"{google}:streamGenerateContent?alt=sse"
    assert vertex.anthropic_url(base, "claude-sonnet-4@20250514", stream=False) == f"{anthropic}:rawPredict"
    assert vertex.anthropic_url(base, "claude-sonnet-4@20250514", stream=True) == f"{anthropic}:streamRawPredict"


def test_the_claude_body_moves_the_model_to_the_url_and_the_version_into_the_body() -> None:
    messages = (
        b'{"model":"route","anthropic_version":"2023-06-01","max_tokens":9,"stream":true,'
        b'"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],'
        b'"x_unknown":[1, 2.50]}'
    )
    assert vertex.anthropic_body(messages) == (
        b'{"anthropic_version":"vertex-2023-10-16","max_tokens":9,"stream":true,'
        b'"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],'
        b'"x_unknown":[1, 2.50]}'
    )  # every other value byte for byte


def test_requests_carry_the_bearer_token_and_the_body_of_their_publisher() -> None:
    claude = vertex.build_anthropic_request(
        b'{"model":"m","max_tokens":1,"messages":[]}',
        base_url=BASE,
        model="claude-sonnet-4@20250514",
        token="ya29.token",
        stream=True,
        timeout_seconds=30,
        connect_seconds=2,
        client_headers={"anthropic-beta": "context-1m-2025-08-07", "anthropic-version": "2023-06-01", "x-other": "no"},
    )
    gemini = vertex.build_gemini_request(
        b'{"contents":[]}',
        base_url=BASE,
        model="gemini-2.5-flash",
        token="ya29.token",
        stream=False,
        timeout_seconds=12,
        connect_seconds=3,
    )
    assert claude.headers == {
        "authorization": "Bearer ya29.token",
        "content-type": "application/json",
        "accept": "text/event-stream",
        "anthropic-beta": "context-1m-2025-08-07",  # the version is in the body; no other client header passes
    }
    assert claude.url.endswith(":streamRawPredict") and b'"model"' not in claude.body
    assert json.loads(claude.body)["anthropic_version"] == "vertex-2023-10-16"
    assert (claude.timeout_seconds, claude.connect_timeout_seconds) == (30, 2)
    assert gemini.headers["accept"] == "application/json" and gemini.headers["authorization"] == "Bearer ya29.token"
    assert gemini.url.endswith("/publishers/google/models/gemini-2.5-flash:generateContent")
    assert gemini.body == b'{"contents":[]}'
    assert (gemini.timeout_seconds, gemini.connect_timeout_seconds) == (12, 3)


@pytest.mark.parametrize(
    ("status", "name", "kind", "code", "failure"),
    [
        (400, "generate_content/invalid_argument.json", GeminiUpstreamError, "INVALID_ARGUMENT", FailureClass.CLIENT),
        (429, "generate_content/resource_exhausted.json", GeminiUpstreamError, "RESOURCE_EXHAUSTED", None),
        (429, "raw_predict/resource_exhausted.json", GeminiUpstreamError, "RESOURCE_EXHAUSTED", None),
        (400, "raw_predict/invalid_request.json", AnthropicUpstreamError, "invalid_request_error", FailureClass.CLIENT),
        (529, "raw_predict/overloaded.json", AnthropicUpstreamError, "overloaded_error", FailureClass.OVERLOADED),
    ],
)
def test_both_error_shapes_are_relayed_with_their_status_and_structured_code(
    status: int, name: str, kind: type[GatewayError], code: str, failure: FailureClass | None
) -> None:
    error = vertex.classify_error(status, fixture(name), {"retry-after": "7"})
    assert isinstance(error, kind)
    assert (error.status, error.code) == (status, code)
    assert error.headers()["retry-after"] == "7"
    openai_error = msgspec.json.decode(error.body())["error"]
    assert openai_error["code"] == code and openai_error["message"]
    assert classify_failure(error) == (failure or FailureClass.RATE_LIMITED)


@pytest.mark.parametrize(
    ("status", "name"),
    [(401, "generate_content/unauthenticated.json"), (403, "generate_content/permission_denied.json")],
)
def test_a_refused_token_or_missing_role_is_the_gateways_credentials(status: int, name: str) -> None:
    error = vertex.classify_error(status, fixture(name), {})
    assert isinstance(error, UpstreamAuthError)
    assert b"aiplatform" not in error.body()  # Google's message names the project and the permission


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"[]", b'{"error": "text"}'])
def test_an_error_body_of_neither_shape_keeps_only_the_status(body: bytes) -> None:
    error = vertex.classify_error(502, body, {})
    assert isinstance(error, UpstreamStatusError)
    assert (error.status, error.retryable) == (502, True)


def test_claude_on_vertex_takes_images_only_as_base64_from_openai_clients() -> None:
    def request(url: str) -> ChatRequest:
        image = {"type": "image_url", "image_url": {"url": url}}
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "x"}, image]},
        ]
        return msgspec.convert({"model": "m", "messages": messages}, ChatRequest)

    vertex.refuse_url_sources(request("data:image/png;base64,AAAA"))
    with pytest.raises(InvalidParameterError) as refused:
        vertex.refuse_url_sources(request("https://example.com/cat.png"))
    assert refused.value.param == "messages[1].content[1]" and "messages[1].content[1]" in str(refused.value)


def messages_body(*contents: object) -> bytes:
    turns = [{"role": "user", "content": content} for content in contents]
    return msgspec.json.encode({"model": "m", "max_tokens": 1, "messages": turns})


BASE64_IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
URL_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
URL_DOCUMENT = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}


def test_claude_on_vertex_takes_no_url_sources_from_anthropic_clients() -> None:
    tool_result = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x"}, URL_IMAGE]}
    refused = []
    for body in (
        messages_body("hi", [{"type": "text", "text": "x"}, URL_DOCUMENT]),
        messages_body([tool_result]),
        messages_body([BASE64_IMAGE], [BASE64_IMAGE, URL_IMAGE]),
    ):
        with pytest.raises(InvalidParameterError) as caught:
            vertex.refuse_messages_url_sources(body)
        refused.append(caught.value.param)
    assert refused == ["messages[1].content[1]", "messages[0].content[0].content[1]", "messages[1].content[1]"]
    # base64 sources pass; a body this view cannot read is left for Vertex to judge
    vertex.refuse_messages_url_sources(messages_body("hi", [BASE64_IMAGE, {"type": "tool_result", "tool_use_id": "t"}]))
    vertex.refuse_messages_url_sources(b"not json")
