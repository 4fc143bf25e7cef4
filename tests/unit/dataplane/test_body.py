from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from starlette.types import Message

from dataplane.upstream import UpstreamReply
from tests.asgi_client import http_scope
from tests.snapshot_factory import UPSTREAM_MODEL
from tests.unit.dataplane.conftest import MAX_BODY_BYTES, Gateway, GatewayFactory, bearer
from tests.unit.dataplane.doubles import ScriptedUpstream


async def _post(gateway: Gateway, content: bytes) -> tuple[int, dict[str, object]]:
    headers = {**bearer(gateway.key), "content-type": "application/json"}
    response = await gateway.client.post("/v1/chat/completions", headers=headers, content=content)
    body: dict[str, object] = response.json()["error"]
    return response.status_code, body


@pytest.mark.parametrize("content", [b"{not json", b'{"model": "gpt-test",', b"\xff\xfe"])
async def test_malformed_json_is_400_invalid_request(gateway: Gateway, content: bytes) -> None:
    status, error = await _post(gateway, content)
    assert status == 400
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize("content", [b"", b"   "])
async def test_empty_body_is_400(gateway: Gateway, content: bytes) -> None:
    status, error = await _post(gateway, content)
    assert status == 400
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("payload", "param", "code"),
    [
        ({"model": 42, "messages": [{"role": "user", "content": "hi"}]}, "model", "invalid_type"),
        ({"model": "gpt-test", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "gpt-test", "messages": [{"role": "user", "content": 7}]}, "messages[0].content", "invalid_type"),
        (
            {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            "stream",
            "invalid_type",
        ),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model", "missing_required_parameter"),
        ({"model": "gpt-test"}, "messages", "missing_required_parameter"),
        ({"model": "gpt-test", "messages": [{"content": "hi"}]}, "messages[0].role", "missing_required_parameter"),
    ],
)
async def test_wrong_or_missing_fields_are_400_naming_the_param(
    gateway: Gateway, payload: dict[str, object], param: str, code: str
) -> None:
    status, error = await _post(gateway, msgspec.json.encode(payload))
    assert status == 400
    assert error["param"] == param
    assert error["code"] == code


async def test_non_object_body_is_400(gateway: Gateway) -> None:
    status, error = await _post(gateway, b"[1, 2]")
    assert status == 400
    assert error["param"] is None


async def test_declared_oversized_body_is_413(gateway: Gateway) -> None:
    status, error = await _post(gateway, b" " * (MAX_BODY_BYTES + 1))
    assert status == 413
    assert error["code"] == "request_too_large"


async def test_streamed_oversized_body_without_length_is_413(gateway: Gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * (MAX_BODY_BYTES // 4)

    headers = {**bearer(gateway.key), "content-type": "application/json"}
    response = await gateway.client.post("/v1/chat/completions", headers=headers, content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_unknown_fields_survive_and_only_model_is_replaced(gateway_factory: GatewayFactory) -> None:
    upstream = ScriptedUpstream(
        reply=UpstreamReply(status=200, headers={"content-type": "application/json"}, body=b'{"id":"x"}')
    )
    sent = (
        b'{"model": "gpt-test", "messages": [{"role": "user", "content": "hi", "name": "ann"}],'
        b' "temperature": 0.70, "x_vendor": {"nested": [1, "two", null]}, "tools": []}'
    )
    async with gateway_factory(upstream=upstream, provider_kind="openai", provider_api_key="sk-up-123") as gw:
        headers = {
            **bearer(gw.key),
            "content-type": "application/json",
            "cookie": "session=1",
            "x-custom": "client-only",
            "openai-organization": "org-1",
        }
        response = await gw.client.post("/v1/chat/completions", headers=headers, content=sent)
    assert response.status_code == 200
    assert response.content == b'{"id":"x"}'
    [forwarded] = upstream.requests
    assert forwarded.url == "https://upstream.example/v1/chat/completions"
    assert forwarded.headers == {
        "content-type": "application/json",
        "accept": "application/json",
        "authorization": "Bearer sk-up-123",
    }
    fields = msgspec.json.decode(forwarded.body)
    assert fields.pop("model") == UPSTREAM_MODEL
    original = msgspec.json.decode(sent)
    original.pop("model")
    assert fields == original
    # each value is re-emitted byte for byte (0.70 stays 0.70, inner spacing is kept)
    assert b'"temperature":0.70' in forwarded.body
    assert b'"x_vendor":{"nested": [1, "two", null]}' in forwarded.body


async def test_client_leaving_mid_body_is_logged_as_499(capsys: pytest.CaptureFixture[str], gateway: Gateway) -> None:
    messages: list[Message] = [
        {"type": "http.disconnect"},
        {"type": "http.request", "body": b'{"model": "gpt-', "more_body": True},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop()

    async def send(message: Message) -> None:
        sent.append(message)

    await gateway.app(http_scope(f"Bearer {gateway.key.token}", b"x" * 100), receive, send)
    assert sent[0]["status"] == 499
    assert '"error_code":"client_closed_request"' in capsys.readouterr().out
