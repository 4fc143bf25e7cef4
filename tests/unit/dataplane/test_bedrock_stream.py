"""The Bedrock adapter's ConverseStream side: event streams (the golden fixtures, framed by the fake's encoder and
fed a few bytes at a time) → OpenAI chunks with tool-call deltas, finish reasons and usage; exception events,
cut and corrupt streams → errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataplane.errors import UpstreamUnavailableError
from dataplane.providers import bedrock, bedrock_decode
from dataplane.retry import FailureClass, classify_failure
from shared.usage import TokenUsage
from tests.fakes.bedrock_provider import stream_frames

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "bedrock"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def translate_stream(
    name: str, *, include_usage: bool = True
) -> tuple[list[dict[str, Any]], bedrock_decode.StreamTranslator]:
    """Feed a stream fixture's frames to a translator three bytes at a time, as a slow network would."""
    translator = bedrock_decode.StreamTranslator(created=1, include_usage=include_usage, seed="s", model="m")
    data = b"".join(stream_frames(fixture(f"converse-stream/{name}")))
    events = [event for start in range(0, len(data), 3) for event in translator.feed(data[start : start + 3])]
    events += translator.end()
    assert events[-1] == b"data: [DONE]\n\n"
    return [msgspec.json.decode(event[len(b"data: ") :]) for event in events[:-1]], translator


def test_a_text_stream_becomes_chunks_with_the_finish_reason_and_usage() -> None:
    chunks, translator = translate_stream("stream.json")
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert (
        text
        == 'Here is a list of 3 pop songs by artists from the United Kingdom: "As It Was", "Easy On Me" and "Shivers".'
    )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [(c["choices"][0]["finish_reason"], c["choices"][0].get("provider_finish_reason")) for c in chunks[:-1]]
    assert [finish for finish in finishes if finish[0]] == [("stop", "end_turn")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 2173
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 2048}
    assert translator.usage == TokenUsage(input=125, cached_input=2048, output=34)


def test_streamed_tool_use_arrives_as_deltas_with_ids_names_and_empty_input_as_braces() -> None:
    chunks, _ = translate_stream("stream_tool_use.json", include_usage=False)
    calls = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(c["index"], c.get("id"), c["function"].get("name"), c["function"].get("arguments")) for c in calls] == [
        (0, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", ""),
        (0, None, None, '{"sign": '),
        (0, None, None, '"WZPZ"}'),
        (1, "tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", ""),
        (1, None, None, "{}"),
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_stream_without_usage_reports_none_and_counts_output() -> None:
    chunks, translator = translate_stream("stream_no_usage.json")
    assert translator.usage is None and translator.output_chars == len("Hello! How can I help you today?")
    assert chunks[-1]["usage"] is None


def test_exception_events_raise_the_error_they_name() -> None:
    translator = bedrock_decode.StreamTranslator(created=1, include_usage=False, seed="s", model="m")
    frames = stream_frames(fixture("converse-stream/stream_throttled.json"))
    assert len(translator.feed(b"".join(frames[:2]))) == 2
    with pytest.raises(bedrock.BedrockUpstreamError) as raised:
        translator.feed(frames[2])
    assert (raised.value.status, raised.value.code) == (429, "ThrottlingException")
    assert classify_failure(raised.value) is FailureClass.RATE_LIMITED


def test_a_cut_or_corrupt_stream_is_an_upstream_failure() -> None:
    translator = bedrock_decode.StreamTranslator(created=1, include_usage=False, seed="s", model="m")
    for frame in stream_frames(fixture("converse-stream/stream_truncated.json")):
        translator.feed(frame)
    with pytest.raises(UpstreamUnavailableError):
        translator.end()
    corrupt = bytearray(stream_frames(fixture("converse-stream/stream.json"))[0])
    corrupt[-5] ^= 0xFF
    with pytest.raises(UpstreamUnavailableError):
        bedrock_decode.StreamTranslator(created=1, include_usage=False, seed="s", model="m").feed(bytes(corrupt))
