from __future__ import annotations

import io

import msgspec

from shared.logs import REDACTED, LineWriter

KEY = "wp-prod-abcdefghijkl-" + "S" * 40


class Fields(msgspec.Struct, frozen=True):
    path: str
    status: int
    route: str | None


def test_line_writer_writes_one_json_line_with_event_level_and_timestamp() -> None:
    stream = io.StringIO()
    LineWriter("info", stream=stream).info("request_completed", Fields(path="/v1/models", status=200, route=None))
    [line] = stream.getvalue().splitlines()
    assert msgspec.json.decode(line) == {
        "event": "request_completed",
        "level": "info",
        "timestamp": msgspec.json.decode(line)["timestamp"],
        "path": "/v1/models",
        "status": 200,
        "route": None,
    }
    assert msgspec.json.decode(line)["timestamp"].endswith("Z")


def test_line_writer_redacts_secret_looking_values() -> None:
    stream = io.StringIO()
    writer = LineWriter("info", stream=stream)
    writer.info("request_completed", Fields(path=f"/v1/{KEY}", status=404, route=f"Bearer {KEY}"))
    line = stream.getvalue()
    assert KEY not in line
    assert "S" * 40 not in line
    assert msgspec.json.decode(line)["path"] == f"/v1/{REDACTED}"
    assert msgspec.json.decode(line)["route"] == f"Bearer {REDACTED}"


def test_line_writer_is_silent_above_info() -> None:
    stream = io.StringIO()
    LineWriter("warning", stream=stream).info("request_completed", Fields(path="/", status=200, route=None))
    assert stream.getvalue() == ""
