"""The SSE reader the translation tests share: it splits events at line feeds only, as SSE does, so JSON holding
the characters Python's str.splitlines() also breaks at (U+0085, U+2028, U+2029) reads back whole."""

from __future__ import annotations

import msgspec

from tests.unit.dataplane.translate.fixtures import data_payloads


def test_data_payloads_keep_json_holding_unicode_line_separators_whole() -> None:
    text = "a\u2028b\u0085c\u2029d"
    encoded = msgspec.json.encode({"text": text})
    assert "\u2028".encode() in encoded  # msgspec writes them raw: the case str.splitlines() breaks
    events = [b"data: " + encoded + b"\n\n", b"data: [DONE]\r\n\r\n"]
    assert data_payloads(events) == [{"text": text}, "[DONE]"]
