from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dataplane.anthropic_wire import Message
from dataplane.errors import UpstreamUnavailableError
from dataplane.providers.anthropic import AnthropicUpstreamError
from dataplane.translate.from_anthropic import StreamTranslator, openai_completion
from shared.usage import TokenUsage
from tests.unit.dataplane.translate.fixtures import anthropic_fixture, data_payloads, split_every

CREATED = 1_800_000_000


def completion_of(name: str) -> dict[str, Any]:
    message = msgspec.json.decode(anthropic_fixture(name), type=Message)
    result: dict[str, Any] = msgspec.to_builtins(openai_completion(message, created=CREATED))
    return result


def streamed(name: str, *, include_usage: bool = True, chunk_size: int = 7) -> tuple[list[Any], StreamTranslator]:
    translator = StreamTranslator(created=CREATED, include_usage=include_usage)
    events = [out for chunk in split_every(anthropic_fixture(name), chunk_size) for out in translator.feed(chunk)]
    events += translator.end()
    return data_payloads(events), translator


def assembled_tool_calls(chunks: list[Any]) -> list[dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks[:-1]:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.get("id") or ""
                entry["name"] += call.get("function", {}).get("name") or ""
                entry["arguments"] += call.get("function", {}).get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


def test_a_text_answer_becomes_a_completion_with_the_stop_reason_kept() -> None:
    completion = completion_of("good.json")
    choice = completion["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hi! My name is Claude.",
        "tool_calls": None,
        "refusal": None,
    }
    assert (choice["finish_reason"], choice["provider_finish_reason"]) == ("stop", "end_turn")
    assert completion["usage"]["prompt_tokens"] == 2095
    assert completion["usage"]["completion_tokens"] == 503
    assert completion["usage"]["total_tokens"] == 2598
    assert completion["model"] == "claude-sonnet-4-5-20250929"
    assert completion["object"] == "chat.completion"


def test_parallel_tool_uses_become_tool_calls_and_an_empty_input_becomes_empty_arguments() -> None:
    choice = completion_of("tool_use.json")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    calls = choice["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"]) for c in calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather"),
        ("toolu_01B12r34st56uv78wx90yz12", "get_time"),
    ]
    assert msgspec.json.decode(calls[0]["function"]["arguments"]) == {"location": "San Francisco, CA"}
    assert calls[1]["function"]["arguments"] == "{}"


def test_cache_reads_and_writes_count_in_the_prompt_tokens() -> None:
    usage = completion_of("cache_usage.json")["usage"]
    assert usage["prompt_tokens"] == 21 + 188086
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}


def test_an_answer_without_usage_has_none() -> None:
    assert completion_of("no_usage.json")["usage"] is None


def test_a_text_stream_becomes_chunks_with_a_usage_chunk_and_done() -> None:
    chunks, translator = streamed("stream.sse")
    assert chunks[-1] == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1] if c["choices"])
    assert text == "Hello!"
    finishes = [c["choices"][0] for c in chunks[:-1] if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [(f["finish_reason"], f["provider_finish_reason"]) for f in finishes] == [("stop", "end_turn")]
    usage_chunk = chunks[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 25 and usage_chunk["usage"]["completion_tokens"] == 15
    assert translator.usage == TokenUsage(input=25, output=15)
    assert all(c["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" for c in chunks[:-1])


def test_without_include_usage_no_usage_chunk_is_sent_but_usage_is_still_known() -> None:
    chunks, translator = streamed("stream.sse", include_usage=False)
    assert all(c == "[DONE]" or c["choices"] for c in chunks)
    assert translator.usage == TokenUsage(input=25, output=15)


def test_a_tool_use_stream_assembles_into_tool_calls_with_ids_names_and_arguments() -> None:
    chunks, _ = streamed("stream_tool_use.sse", chunk_size=13)
    calls = assembled_tool_calls(chunks)
    assert [(c["id"], c["name"]) for c in calls] == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        ("toolu_01VuMzQ7Rbkdi3CYQAb3L6Dy", "get_time"),
    ]
    assert msgspec.json.decode(calls[0]["arguments"]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert calls[1]["arguments"] == "{}"
    finish = [
        c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finish == ["tool_calls"]


def test_thinking_is_not_shown_to_openai_clients_but_its_tokens_are_counted() -> None:
    chunks, translator = streamed("stream_thinking.sse")
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1] if c["choices"])
    assert text == "27 * 453 = 12,231"
    assert translator.usage == TokenUsage(input=85, output=126)


def test_an_error_event_raises_the_documented_status() -> None:
    with pytest.raises(AnthropicUpstreamError) as caught:
        streamed("stream_error.sse")
    assert caught.value.status == 529 and caught.value.code == "overloaded_error"


def test_a_stream_without_usage_reports_none() -> None:
    chunks, translator = streamed("stream_no_usage.sse")
    assert translator.usage is None
    assert chunks[-2]["usage"] is None


def test_a_stream_cut_before_message_stop_is_an_upstream_failure() -> None:
    data = anthropic_fixture("stream.sse")
    cut = data[: data.index(b"event: message_stop")]
    translator = StreamTranslator(created=CREATED, include_usage=False)
    translator.feed(cut)
    with pytest.raises(UpstreamUnavailableError):
        translator.end()
