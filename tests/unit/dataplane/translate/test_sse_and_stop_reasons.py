from __future__ import annotations

import pytest

from dataplane.translate.sse import SseEvent, SseParser
from dataplane.translate.stop_reasons import (
    ANTHROPIC_TO_OPENAI,
    OPENAI_TO_ANTHROPIC,
    anthropic_stop_reason,
    openai_finish_reason,
)


def test_events_split_anywhere_are_reassembled() -> None:
    data = b"event: ping\r\ndata: {}\r\n\r\n: keep-alive\n\nevent: a\ndata: 1\ndata: 2\n\n"
    parser = SseParser()
    events = [event for byte in range(len(data)) for event in parser.feed(data[byte : byte + 1])]
    assert events == [SseEvent(event="ping", data=b"{}"), SseEvent(event="a", data=b"1\n2")]


def test_an_unterminated_last_event_is_returned_on_close() -> None:
    parser = SseParser()
    assert parser.feed(b"data: [DONE]") == []
    assert parser.close() == [SseEvent(event=None, data=b"[DONE]")]


@pytest.mark.parametrize(
    ("anthropic", "openai"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "stop"),
        ("refusal", "content_filter"),
        ("a_future_reason", "stop"),
    ],
)
def test_every_anthropic_stop_reason_has_one_openai_finish_reason(anthropic: str, openai: str) -> None:
    assert openai_finish_reason(anthropic) == openai


def test_the_mappings_cover_every_documented_value() -> None:
    documented_anthropic = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
    assert documented_anthropic | {"model_context_window_exceeded"} == set(ANTHROPIC_TO_OPENAI)
    assert {"stop", "length", "tool_calls", "content_filter", "function_call"} == set(OPENAI_TO_ANTHROPIC)


@pytest.mark.parametrize(
    ("openai", "anthropic"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")],
)
def test_every_openai_finish_reason_has_one_anthropic_stop_reason(openai: str, anthropic: str) -> None:
    assert anthropic_stop_reason(openai) == anthropic


def test_a_known_stop_sequence_maps_to_stop_sequence_and_nothing_maps_to_nothing() -> None:
    assert anthropic_stop_reason("stop", stop_sequence="END") == "stop_sequence"
    assert anthropic_stop_reason(None) is None
    assert openai_finish_reason(None) is None
