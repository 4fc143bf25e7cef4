from __future__ import annotations

import io
import uuid

import msgspec
import pytest

from dataplane.ids import make_request_id, uuid7_from
from dataplane.observability import RequestRecord
from shared.logs import REDACTED, make_logger, redact_secrets
from tests.unit.dataplane.conftest import Gateway, bearer

KEY = "wp-prod-abcdefghijkl-" + "S" * 40


def test_redaction_masks_keys_and_bearer_tokens_in_every_field() -> None:
    event = {
        "event": f"saw {KEY} in a message",
        "header": f"Bearer {KEY}",
        "authorization": "anything at all",
        "nested": {"list": [f"x {KEY} y", 3], "api_key": "sk-plain"},
        "upstream": "Authorization: bearer sk-abcdefghijklmnopqrstuvwx",
        "url": "nats://admin:hunter2@nats.internal:4222",
        "count": 3,
    }
    redacted = redact_secrets(None, "info", event)
    rendered = msgspec.json.encode(redacted).decode()
    assert "S" * 40 not in rendered
    assert "abcdefghijkl" not in rendered
    assert "sk-abcdefghijklmnopqrstuvwx" not in rendered
    assert redacted["event"] == f"saw {REDACTED} in a message"
    assert redacted["header"] == f"Bearer {REDACTED}"
    assert redacted["authorization"] == REDACTED
    assert redacted["nested"]["api_key"] == REDACTED
    assert redacted["url"] == f"nats://{REDACTED}@nats.internal:4222"
    assert redacted["count"] == 3


def test_logger_writes_redacted_json_lines() -> None:
    stream = io.StringIO()
    logger = make_logger("info", stream=stream)
    logger.info("request_completed", note=f"key {KEY}")
    logger.debug("hidden_below_level")
    [line] = stream.getvalue().splitlines()
    record = msgspec.json.decode(line)
    assert record["event"] == "request_completed"
    assert record["level"] == "info"
    assert KEY not in line


def test_request_ids_are_uuid7_with_the_time_in_front() -> None:
    value = uuid7_from(0x0190_1234_5678, bytes(range(10)))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 0x0190_1234_5678
    parsed = uuid.UUID(make_request_id())
    assert parsed.version == 7
    assert str(uuid7_from(1, bytes(10))) < str(uuid7_from(2, bytes(10)))


def test_overhead_is_gateway_time_minus_upstream_time() -> None:
    record = RequestRecord(request_id="r", method="POST", path="/", started=10.0)
    record.add_upstream(0.25)
    record.add_upstream(0.5)
    assert record.overhead_ms(11.0) == pytest.approx(250.0)
    fields = record.log_fields(11.0)
    assert fields["duration_ms"] == 1000.0
    assert fields["upstream_ms"] == 750.0
    assert fields["overhead_ms"] == 250.0


async def test_every_response_carries_request_id_and_overhead(gateway: Gateway) -> None:
    responses = [
        await gateway.client.get("/healthz"),
        await gateway.client.get("/readyz"),
        await gateway.client.get("/nope"),
        await gateway.client.post("/v1/chat/completions", json={}),
        await gateway.client.get("/v1/models", headers=bearer(gateway.key)),
    ]
    ids = {r.headers["x-request-id"] for r in responses}
    assert len(ids) == len(responses)
    for response in responses:
        assert uuid.UUID(response.headers["x-request-id"]).version == 7
        overhead = response.headers["x-waypost-overhead-ms"]
        assert float(overhead) >= 0
        assert len(overhead.split(".")[1]) == 2


async def test_one_canonical_line_per_request_with_flat_fields(
    capsys: pytest.CaptureFixture[str], gateway: Gateway
) -> None:
    capsys.readouterr()
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    response = await gateway.client.post("/v1/chat/completions", headers=bearer(gateway.key), json=payload)
    lines = [msgspec.json.decode(line) for line in capsys.readouterr().out.splitlines()]
    [line] = [entry for entry in lines if entry["event"] == "request_completed"]
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "POST"
    assert line["path"] == "/v1/chat/completions"
    assert line["status"] == 200
    assert line["route"] == "gpt-test"
    assert line["deployment"] == "deployment"
    assert line["provider_kind"] == "mock"
    assert line["key_public_id"] == gateway.key.spec.public_id
    assert line["team_id"] == gateway.key.spec.team_id
    assert line["environment"] == "dev"
    assert line["stream"] is False
    assert line["error_code"] is None
    assert line["upstream_ms"] == 0.0
    assert {"duration_ms", "overhead_ms"} <= set(line)
    assert all(not isinstance(value, dict | list) for value in line.values())
    assert gateway.key.token not in str(lines)


def test_admin_tokens_are_redacted_too() -> None:
    redacted = redact_secrets(None, "info", {"event": "token wpa_abcdefghijklmnop was used"})
    assert redacted["event"] == f"token {REDACTED} was used"


async def test_a_key_in_the_path_never_reaches_the_canonical_line(
    capsys: pytest.CaptureFixture[str], gateway: Gateway
) -> None:
    capsys.readouterr()
    response = await gateway.client.get(f"/v1/{gateway.key.token}")
    assert response.status_code == 404
    out = capsys.readouterr().out
    [line] = [msgspec.json.decode(entry) for entry in out.splitlines() if '"request_completed"' in entry]
    assert line["status"] == 404
    assert line["error_code"] == "not_found"
    assert gateway.key.token not in out
