from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dataplane.app import create_app
from dataplane.errors import (
    ConfigUnavailableError,
    GatewayError,
    InternalError,
    InvalidApiKeyError,
    InvalidParameterError,
    ModelNotFoundError,
    RequestTooLargeError,
    UpstreamAuthError,
    UpstreamRelayedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_response,
)
from dataplane.settings import DataPlaneSettings
from tests.unit.dataplane.conftest import Gateway, GatewayFactory, bearer, serve
from tests.unit.dataplane.doubles import ScriptedUpstream

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("error", "status", "type_", "code", "retry_header"),
    [
        (InvalidApiKeyError(), 401, "invalid_request_error", "invalid_api_key", "false"),
        (ModelNotFoundError("gpt-x"), 404, "invalid_request_error", "model_not_found", "false"),
        (InvalidParameterError("bad", param="messages[0].role"), 400, "invalid_request_error", "invalid_type", "false"),
        (RequestTooLargeError(), 413, "invalid_request_error", "request_too_large", "false"),
        (ConfigUnavailableError(), 503, "api_error", "config_unavailable", None),
        (UpstreamUnavailableError(), 502, "api_error", "upstream_unavailable", None),
        (UpstreamTimeoutError(), 504, "api_error", "upstream_timeout", None),
        (UpstreamAuthError(), 502, "api_error", "upstream_auth_error", "false"),
    ],
)
def test_gateway_errors_render_as_openai_error_json(
    error: GatewayError, status: int, type_: str, code: str, retry_header: str | None
) -> None:
    response = error_response(error)
    body = msgspec.json.decode(bytes(response.body))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == type_
    assert body["error"]["code"] == code
    assert response.headers.get("x-should-retry") == retry_header


def test_param_is_carried_and_model_not_found_names_the_model_param() -> None:
    assert msgspec.json.decode(InvalidParameterError("bad", param="stream").body())["error"]["param"] == "stream"
    assert msgspec.json.decode(ModelNotFoundError("gpt-x").body())["error"]["param"] == "model"


def test_internal_error_names_only_the_request_id() -> None:
    body = msgspec.json.decode(InternalError("0190-abc").body())
    assert body["error"]["type"] == "api_error"
    assert "0190-abc" in body["error"]["message"]


async def test_unknown_path_is_openai_404_with_request_id(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["x-request-id"]
    assert "x-waypost-overhead-ms" in response.headers


async def test_wrong_method_is_openai_405_with_allow(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/chat/completions")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
    assert response.headers["x-request-id"]


async def test_unknown_exception_is_500_with_request_id_and_no_internals(
    gateway_factory: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream = ScriptedUpstream(error=RuntimeError("database password hunter2 at /srv/secret.py"))
    async with gateway_factory(upstream=upstream, provider_kind="openai", provider_api_key="sk-up") as gw:
        response = await gw.client.post("/v1/chat/completions", headers=bearer(gw.key), json=CHAT)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "api_error"
    assert response.headers["x-request-id"] in error["message"]
    assert "hunter2" not in response.text and "secret.py" not in response.text
    logs = capsys.readouterr().out
    assert '"event":"request_failed"' in logs
    assert '"error_code":"internal_error"' in logs


async def test_without_any_config_the_plane_is_unready_and_refuses_with_503(
    dp_settings: DataPlaneSettings, tmp_path: Path
) -> None:
    empty = msgspec.structs.replace(dp_settings, cache_dir=str(tmp_path / "no-cache"))
    async with serve(create_app(empty)) as client:
        ready = await client.get("/readyz")
        chat = await client.post("/v1/chat/completions", headers={"authorization": "Bearer x"}, json=CHAT)
        models = await client.get("/v1/models")
        status = (await client.get("/status")).json()
    assert ready.status_code == 503
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "config_unavailable"
    assert models.status_code == 503
    assert status["config_version"] is None
    assert status["nats_connected"] is False


def test_a_relayed_provider_error_keeps_the_providers_message_for_anthropic_clients() -> None:
    body = b'{"error":{"message":"Invalid max_tokens value","type":"invalid_request_error","code":null}}'
    relayed = UpstreamRelayedError(422, body, code=None)
    assert relayed.body() == body  # OpenAI clients get the provider's body as is
    anthropic = msgspec.json.decode(relayed.anthropic_body())
    assert anthropic == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Invalid max_tokens value"},
    }
    unreadable = UpstreamRelayedError(500, b"<html>", code=None)
    assert unreadable.message == "The upstream provider refused the request."
