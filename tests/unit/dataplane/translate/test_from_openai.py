from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataplane.errors import UpstreamUnavailableError
from dataplane.translate.from_openai import StreamTranslator, anthropic_message, decode_completion
from shared.usage import TokenUsage
from tests.unit.dataplane.translate.fixtures import data_payloads, event_names, split_every

OPENAI = Path(__file__).resolve().parents[3] / "fixtures" / "providers" / "openai" / "chat_completions"


def message_of(name: str) -> dict[str, Any]:
    message = anthropic_message(decode_completion((OPENAI / name).read_bytes()))
    result: dict[str, Any] = msgspec.to_builtins(message)
    return result


def test_a_text_completion_becomes_a_message_with_the_finish_reason_kept() -> None:
    message = message_of("usage_details.json")
    assert message["content"] == [{"type": "text", "text": "Hello! How can I assist you today?"}]
    assert (message["stop_reason"], message["provider_stop_reason"]) == ("end_turn", "stop")
    assert message["type"] == "message" and message["role"] == "assistant"
    # cached prompt tokens are not part of Anthropic's input_tokens
    assert message["usage"]["input_tokens"] == 2006 - 1920
    assert message["usage"]["cache_read_input_tokens"] == 1920
    assert message["usage"]["output_tokens"] == 300


def test_tool_calls_become_tool_use_blocks() -> None:
    message = message_of("tool_calls.json")
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {"type": "tool_use", "id": "call_abc123", "name": "get_current_weather", "input": {"location": "Boston, MA"}}
    ]


def test_a_completion_without_usage_has_none() -> None:
    assert message_of("no_usage.json")["usage"] is None


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + msgspec.json.encode(body) + b"\n\n"


TOOL_STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Let me check."}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
                ]
            }
        ),
        _chunk({}, finish="tool_calls"),
        _chunk({}, usage={"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}),
        b"data: [DONE]\n\n",
    ]
)


def translate(data: bytes, chunk_size: int = 11) -> tuple[list[bytes], StreamTranslator]:
    translator = StreamTranslator()
    events = [out for chunk in split_every(data, chunk_size) for out in translator.feed(chunk)]
    return events + translator.end(), translator


def test_a_tool_call_stream_becomes_messages_events_in_order() -> None:
    events, translator = translate(TOOL_STREAM)
    assert event_names(events) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = data_payloads(events)
    assert payloads[1]["content_block"] == {"type": "text", "text": ""}
    assert payloads[2]["delta"] == {"type": "text_delta", "text": "Let me check."}
    assert payloads[4] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "call_1", "name": "weather", "input": {}},
    }
    arguments = "".join(p["delta"]["partial_json"] for p in payloads if p.get("index") == 1 and "delta" in p)
    assert msgspec.json.decode(arguments) == {"city": "Paris"}
    assert payloads[8]["content_block"]["name"] == "time"
    assert payloads[10]["delta"] == {"stop_reason": "tool_use"}
    assert payloads[10]["usage"]["output_tokens"] == 12 and payloads[10]["usage"]["input_tokens"] == 40
    assert translator.usage == TokenUsage(input=40, output=12)


def test_the_recorded_openai_stream_translates_to_text() -> None:
    events, translator = translate((OPENAI / "stream.sse").read_bytes(), chunk_size=17)
    payloads = data_payloads(events)
    text = "".join(p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta")
    assert text == "Hi, how are you?"
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"
    assert translator.usage is not None and translator.usage.total > 0


def test_a_stream_cut_before_any_finish_reason_is_an_upstream_failure() -> None:
    cut = TOOL_STREAM[: TOOL_STREAM.index(b'"finish_reason":"tool_calls"')]
    cut = cut[: cut.rindex(b"data: ")]
    translator = StreamTranslator()
    translator.feed(cut)
    with pytest.raises(UpstreamUnavailableError):
        translator.end()


def test_an_error_inside_an_openai_stream_raises() -> None:
    translator = StreamTranslator()
    with pytest.raises(Exception) as caught:
        translator.feed(b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n')
    assert getattr(caught.value, "status", None) == 500
