from __future__ import annotations

import msgspec
import pytest

from dataplane.config_state import ProviderCredentials
from dataplane.errors import UpstreamAuthError, UpstreamRelayedError, UpstreamStatusError
from dataplane.providers.openai import build_chat_request, classify_error, replace_model
from dataplane.routing import Target
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec


def _target(api_key: str | None, base_url: str = "http://up.example/v1/") -> Target:
    return Target(
        route=RouteSpec(id="r", name="gpt-test", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="dep", provider_id="p", model="up-model", timeout_seconds=7.5),
        provider=ProviderSpec(id="p", name="p", kind="openai_compatible", base_url=base_url),
        credentials=ProviderCredentials(api_key=api_key),
    )


def test_replace_model_keeps_every_other_value_verbatim() -> None:
    body = b'{"model":"gpt-test","n":1.50,"extra":{"deep":[true,"\\u00e9"]}}'
    assert replace_model(body, "up-model") == b'{"model":"up-model","n":1.50,"extra":{"deep":[true,"\\u00e9"]}}'


def test_request_goes_to_the_configured_url_with_the_provider_key() -> None:
    request = build_chat_request(b'{"model":"gpt-test"}', target=_target("sk-up"), stream=False)
    assert request.url == "http://up.example/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-up"
    assert request.timeout_seconds == 7.5
    assert msgspec.json.decode(request.body) == {"model": "up-model"}


def test_provider_without_credentials_sends_no_authorization() -> None:
    request = build_chat_request(b'{"model":"gpt-test"}', target=_target(None), stream=True)
    assert "authorization" not in request.headers
    assert request.headers["accept"] == "text/event-stream"


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_auth_refusals_become_502(status: int) -> None:
    error = classify_error(status, b'{"error":{"message":"bad key sk-up","type":"x"}}', {})
    assert isinstance(error, UpstreamAuthError)
    assert error.status == 502
    assert b"sk-up" not in error.body()


def test_openai_error_bodies_are_relayed_with_their_status() -> None:
    body = b'{\n  "error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit"}\n}'
    error = classify_error(429, body, {"retry-after": "2"})
    assert isinstance(error, UpstreamRelayedError)
    assert error.status == 429
    assert error.code == "rate_limit"
    assert b"\n" not in error.body()
    assert msgspec.json.decode(error.body()) == msgspec.json.decode(body)
    assert error.headers() == {"retry-after": "2"}
    bad_request = classify_error(400, b'{"error":{"message":"bad","type":"invalid_request_error"}}', {})
    assert bad_request.headers() == {"x-should-retry": "false"}


def test_non_openai_error_bodies_keep_the_status_with_our_body() -> None:
    error = classify_error(503, b"<html>Service Unavailable</html>", {})
    assert isinstance(error, UpstreamStatusError)
    assert error.status == 503
    assert msgspec.json.decode(error.body())["error"]["code"] == "upstream_error"
    assert error.retryable
