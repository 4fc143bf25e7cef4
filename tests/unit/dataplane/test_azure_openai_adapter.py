"""The Azure OpenAI adapter: URLs with the deployment and api-version, the api-key header, the body forwarded
with only `model` replaced, and Azure's error bodies classified for retries and fallbacks."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dataplane.config_state import ProviderCredentials
from dataplane.errors import UpstreamAuthError, UpstreamRelayedError
from dataplane.providers import azure_openai
from dataplane.retry import FailureClass, classify_failure
from dataplane.routing import Target
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "azure_openai" / "chat_completions"


def target(base_url: str, *, api_key: str | None = "azure-key") -> Target:
    return Target(
        route=RouteSpec(id="r", name="chat", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="d", provider_id="p", model="gpt-4o-prod"),
        provider=ProviderSpec(id="p", name="azure", kind="azure_openai", base_url=base_url),
        credentials=ProviderCredentials(api_key=api_key),
    )


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (
            "https://res.openai.azure.com",
            "https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
        ),
        (
            "https://res.openai.azure.com/?api-version=2025-01-01-preview",
            "https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2025-01-01-preview",
        ),
        (
            "https://res.openai.azure.com/openai?api-version=2024-06-01",
            "https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-06-01",
        ),
        (
            "http://127.0.0.1:8080/proxy/?api-version=",
            "http://127.0.0.1:8080/proxy/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_url_names_the_deployment_and_the_configured_or_default_api_version(base_url: str, url: str) -> None:
    assert azure_openai.chat_completions_url(base_url, "gpt-4o-prod") == url


def test_deployment_names_are_escaped_in_the_path() -> None:
    url = azure_openai.chat_completions_url("https://res.openai.azure.com", "a/b c")
    assert "/deployments/a%2Fb%20c/chat/completions" in url


def test_request_uses_the_api_key_header_and_forwards_unknown_fields() -> None:
    body = b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"data_sources":[{"type":"x"}],"stream":true}'
    request = azure_openai.build_chat_request(
        body, target=target("https://res.openai.azure.com"), stream=True, include_usage=True
    )
    assert request.headers["api-key"] == "azure-key"
    assert "authorization" not in request.headers
    assert request.headers["accept"] == "text/event-stream"
    sent = msgspec.json.decode(request.body)
    assert sent["model"] == "gpt-4o-prod"
    assert sent["data_sources"] == [{"type": "x"}]
    assert sent["stream_options"] == {"include_usage": True}


def test_no_credentials_sends_no_key_header() -> None:
    request = azure_openai.build_chat_request(
        b'{"model":"chat","messages":[]}', target=target("https://res.openai.azure.com", api_key=None), stream=False
    )
    assert "api-key" not in request.headers


@pytest.mark.parametrize(
    ("status", "fixture", "failure", "code"),
    [
        (400, "content_filter.json", FailureClass.CONTENT_POLICY, "content_filter"),
        (404, "deployment_not_found.json", FailureClass.CLIENT, "DeploymentNotFound"),
        (429, "rate_limited.json", FailureClass.RATE_LIMITED, "429"),
    ],
)
def test_azure_errors_are_relayed_with_their_code_and_classified(
    status: int, fixture: str, failure: FailureClass, code: str
) -> None:
    body = (FIXTURES / fixture).read_bytes()
    error = azure_openai.classify_error(status, body, {"retry-after": "6"})
    assert isinstance(error, UpstreamRelayedError)
    assert error.status == status
    assert error.code == code
    assert classify_failure(error) is failure
    assert msgspec.json.decode(error.body())["error"]["code"] == code
    assert error.headers()["retry-after"] == "6"


def test_refused_credentials_are_an_upstream_auth_error() -> None:
    error = azure_openai.classify_error(401, (FIXTURES / "invalid_api_key.json").read_bytes(), {})
    assert isinstance(error, UpstreamAuthError)
