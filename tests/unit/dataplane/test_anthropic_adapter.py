from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dataplane.anthropic_wire import ErrorDetail
from dataplane.config_state import ProviderCredentials
from dataplane.errors import UpstreamAuthError, UpstreamStatusError
from dataplane.providers.anthropic import (
    AnthropicUpstreamError,
    build_messages_request,
    classify_error,
    decode_message,
    decode_token_count,
    stream_error,
)
from dataplane.retry import FailureClass, classify_failure
from dataplane.routing import Target
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "anthropic"


def fixture(name: str) -> bytes:
    return (FIXTURES / "messages" / name).read_bytes()


def _target(api_key: str | None = "sk-ant-up") -> Target:
    return Target(
        route=RouteSpec(id="r", name="claude", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="dep", provider_id="p", model="claude-up", timeout_seconds=9.0),
        provider=ProviderSpec(id="p", name="p", kind="anthropic", base_url="http://up.example/v1/"),
        credentials=ProviderCredentials(api_key=api_key),
    )


def test_request_goes_to_the_snapshot_url_with_x_api_key_and_a_default_version() -> None:
    request = build_messages_request(
        b'{"model":"claude","max_tokens":5,"messages":[]}',
        target=_target(),
        client_headers={},
        stream=False,
        timeout_seconds=9.0,
        connect_timeout_seconds=1.0,
    )
    assert request.url == "http://up.example/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-up"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert "anthropic-beta" not in request.headers


def test_only_the_allow_listed_client_headers_are_forwarded() -> None:
    request = build_messages_request(
        b'{"model":"claude"}',
        target=_target(),
        client_headers={"anthropic-version": "2024-01-01", "anthropic-beta": "prompt-caching-2024-07-31"},
        stream=True,
        timeout_seconds=9.0,
        connect_timeout_seconds=1.0,
        count_tokens=True,
    )
    assert request.url == "http://up.example/v1/messages/count_tokens"
    assert request.headers["anthropic-version"] == "2024-01-01"
    assert request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert request.headers["accept"] == "text/event-stream"


def test_the_body_is_forwarded_verbatim_except_the_model() -> None:
    body = (
        b'{"model":"claude","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi",'
        b'"cache_control":{"type":"ephemeral"}}]}],"future_field":{"x":1.50}}'
    )
    request = build_messages_request(
        body, target=_target(), client_headers={}, stream=False, timeout_seconds=9.0, connect_timeout_seconds=1.0
    )
    assert request.body == body.replace(b'"model":"claude"', b'"model":"claude-up"')


@pytest.mark.parametrize(
    ("status", "name", "code", "failure"),
    [
        (400, "bad_request.json", "invalid_request_error", FailureClass.CLIENT),
        (404, "not_found.json", "not_found_error", FailureClass.CLIENT),
        (429, "rate_limited.json", "rate_limit_error", FailureClass.RATE_LIMITED),
        (500, "server_error.json", "api_error", FailureClass.SERVER),
        (529, "overloaded.json", "overloaded_error", FailureClass.OVERLOADED),
    ],
)
def test_upstream_errors_keep_their_status_and_type(status: int, name: str, code: str, failure: FailureClass) -> None:
    error = classify_error(status, fixture(name), {"retry-after": "3"})
    assert isinstance(error, AnthropicUpstreamError)
    assert (error.status, error.code) == (status, code)
    assert classify_failure(error) is failure
    assert error.headers().get("retry-after") == "3"
    relayed = msgspec.json.decode(error.anthropic_body())
    assert relayed == {"type": "error", "error": msgspec.json.decode(fixture(name))["error"]}
    openai_error = msgspec.json.decode(error.body())["error"]
    assert openai_error["code"] == code
    assert openai_error["message"] == relayed["error"]["message"]


def test_a_refused_gateway_credential_is_an_upstream_auth_error() -> None:
    assert isinstance(classify_error(401, fixture("authentication_error.json"), {}), UpstreamAuthError)
    assert isinstance(classify_error(403, b"{}", {}), UpstreamAuthError)


def test_an_error_without_anthropic_json_keeps_only_its_status() -> None:
    error = classify_error(502, b"<html>bad gateway</html>", {})
    assert isinstance(error, UpstreamStatusError)
    assert error.status == 502


def test_a_stream_error_event_gets_the_documented_status_of_its_type() -> None:
    assert stream_error(ErrorDetail(type="overloaded_error", message="Overloaded")).status == 529
    assert stream_error(ErrorDetail(type="rate_limit_error", message="slow down")).status == 429
    assert stream_error(ErrorDetail(type="something_new", message="?")).status == 500


def test_answers_and_token_counts_decode() -> None:
    message = decode_message(fixture("cache_usage.json"))
    assert message is not None and message.usage is not None
    assert message.usage.cache_creation_input_tokens == 188086
    assert decode_message(b"not json") is None
    assert decode_token_count((FIXTURES / "count_tokens" / "good.json").read_bytes()) == 14
