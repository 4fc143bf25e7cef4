"""Chat answers → Responses API answers (the Response object and the stream events), and the same-protocol tap
that reads a relayed Responses stream's usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataplane.errors import GatewayError, UpstreamUnavailableError
from dataplane.responses_wire import Response, ResponseUsage
from dataplane.translate.openai_types import ChatCompletion
from dataplane.translate.responses_answer import FINISH_STATUS, StreamTranslator, encode, response_object
from dataplane.translate.responses_tap import ResponsesTap, response_usage, token_usage
from dataplane.translate.stop_reasons import OPENAI_TO_ANTHROPIC
from shared.usage import TokenUsage
from tests.unit.dataplane.translate.fixtures import data_payloads, event_names, split_every

RESPONSES_FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "providers" / "openai" / "responses"
SHELL = Response(id="resp_abc", created_at=1700000000, model="route", output=[], status="in_progress")
USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 30,
    "total_tokens": 50,
    "prompt_tokens_details": {"cached_tokens": 5},
    "completion_tokens_details": {"reasoning_tokens": 7},
}


def completion(
    message: dict[str, Any], finish_reason: str | None, usage: dict[str, Any] | None = USAGE
) -> ChatCompletion:
    body = {
        "id": "chatcmpl-1",
        "created": 1,
        "model": "upstream-model",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}],
        "usage": usage,
    }
    return msgspec.json.decode(msgspec.json.encode(body), type=ChatCompletion)


def as_json(response: Response) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(encode(response))
    return decoded


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    payload = {"id": "chatcmpl-1", "created": 1, "model": "upstream-model", "choices": choices, "usage": None}
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


def usage_chunk() -> bytes:
    payload = {"id": "chatcmpl-1", "created": 1, "model": "upstream-model", "choices": [], "usage": USAGE}
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


def run(stream: bytes, size: int = 11) -> list[bytes]:
    translator = StreamTranslator(SHELL)
    events = [event for piece in split_every(stream, size) for event in translator.feed(piece)]
    return events + translator.end()


def test_a_text_completion_becomes_a_message_item_with_usage_details() -> None:
    response = as_json(response_object(completion({"content": "Hello!"}, "stop"), SHELL))
    assert response["id"] == "resp_abc" and response["object"] == "response" and response["status"] == "completed"
    assert response["model"] == "upstream-model" and response["provider_finish_reason"] == "stop"
    assert response["output"] == [
        {
            "type": "message",
            "id": "msg_abc",
            "content": [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}],
            "status": "completed",
            "role": "assistant",
        }
    ]
    assert response["usage"] == {
        "input_tokens": 20,
        "output_tokens": 30,
        "total_tokens": 50,
        "input_tokens_details": {"cached_tokens": 5},
        "output_tokens_details": {"reasoning_tokens": 7},
    }
    assert response["incomplete_details"] is None and response["store"] is False


def test_deepseeks_own_cache_hit_count_is_the_cached_input() -> None:
    usage = {"prompt_tokens": 80, "completion_tokens": 120, "total_tokens": 200, "prompt_cache_hit_tokens": 64}
    response = as_json(response_object(completion({"content": "Hi"}, "stop", usage=usage), SHELL))
    assert response["usage"]["input_tokens"] == 80
    assert response["usage"]["input_tokens_details"] == {"cached_tokens": 64}


def test_tool_calls_become_function_call_items_and_empty_arguments_an_empty_object() -> None:
    message = {
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"SF"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ],
    }
    response = as_json(response_object(completion(message, "tool_calls"), SHELL))
    assert [(i["type"], i["id"], i["call_id"], i["name"], i["arguments"]) for i in response["output"]] == [
        ("function_call", "fc_abc_0", "call_1", "get_weather", '{"city":"SF"}'),
        ("function_call", "fc_abc_1", "call_2", "get_time", "{}"),
    ]
    assert response["status"] == "completed"


@pytest.mark.parametrize(
    ("finish_reason", "status", "reason"),
    [
        ("stop", "completed", None),
        ("tool_calls", "completed", None),
        ("length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("something_new", "completed", None),
        (None, "completed", None),
    ],
)
def test_finish_reasons_map_to_status_and_incomplete_details(
    finish_reason: str | None, status: str, reason: str | None
) -> None:
    response = as_json(response_object(completion({"content": "x"}, finish_reason), SHELL))
    assert response["status"] == status
    assert response["incomplete_details"] == (None if reason is None else {"reason": reason})


def test_every_documented_chat_finish_reason_has_a_status() -> None:
    assert set(OPENAI_TO_ANTHROPIC) <= set(FINISH_STATUS)


def test_a_refusal_becomes_a_refusal_part_and_a_missing_usage_stays_null() -> None:
    response = as_json(response_object(completion({"content": None, "refusal": "No."}, "stop", usage=None), SHELL))
    assert response["output"][0]["content"] == [{"type": "refusal", "refusal": "No."}]
    assert response["usage"] is None


def test_a_completion_without_choices_is_an_upstream_failure() -> None:
    empty = msgspec.json.decode(b'{"id":"x","created":1,"model":"m","choices":[]}', type=ChatCompletion)
    with pytest.raises(UpstreamUnavailableError):
        response_object(empty, SHELL)


def test_a_text_stream_becomes_the_documented_event_sequence() -> None:
    stream = (
        chunk({"role": "assistant", "content": ""})
        + chunk({"content": "Hel"})
        + chunk({"content": "lo"})
        + chunk({}, "stop")
        + usage_chunk()
        + b"data: [DONE]\n\n"
    )
    events = run(stream)
    assert event_names(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    payloads = data_payloads(events)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert [p["type"] for p in payloads] == event_names(events)
    assert payloads[0]["response"]["status"] == "in_progress" and payloads[0]["response"]["model"] == "upstream-model"
    assert [p["delta"] for p in payloads if p["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    assert payloads[6]["text"] == "Hello" and payloads[7]["part"]["text"] == "Hello"
    final = payloads[-1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"]["input_tokens_details"] == {"cached_tokens": 5} and final["usage"]["total_tokens"] == 50
    assert {p["item_id"] for p in payloads if "item_id" in p} == {final["output"][0]["id"]}


def test_streamed_tool_calls_become_function_call_items_with_argument_deltas() -> None:
    stream = (
        chunk({"role": "assistant", "content": "Checking."})
        + chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"SF"}'}}]})
        + chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "get_time", "arguments": ""}}]})
        + chunk({}, "tool_calls")
        + usage_chunk()
    )  # no [DONE]: a finish reason is enough
    payloads = data_payloads(run(stream, size=7))
    kinds = [p["type"] for p in payloads]
    assert kinds[2:] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_item.added",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.function_call_arguments.delta",  # the no-argument call's "{}"
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = [p for p in payloads if p["type"] == "response.function_call_arguments.done"]
    assert [(p["output_index"], p["arguments"]) for p in done] == [(1, '{"city":"SF"}'), (2, "{}")]
    output = payloads[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call", "function_call"]
    assert [(item.get("call_id"), item.get("name")) for item in output[1:]] == [
        ("call_1", "get_weather"),
        ("call_2", "get_time"),
    ]


def test_a_stream_cut_at_the_token_limit_ends_with_response_incomplete() -> None:
    payloads = data_payloads(run(chunk({"content": "Once upon"}) + chunk({}, "length") + b"data: [DONE]\n\n"))
    final = payloads[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["usage"] is None


def test_a_stream_that_ends_without_a_finish_reason_is_an_upstream_failure() -> None:
    translator = StreamTranslator(SHELL)
    translator.feed(chunk({"content": "Once"}))
    with pytest.raises(UpstreamUnavailableError):
        translator.end()


def test_an_error_chunk_raises_and_the_error_event_comes_next_in_sequence() -> None:
    translator = StreamTranslator(SHELL)
    events = translator.feed(chunk({"content": "Hi"}))
    with pytest.raises(GatewayError) as raised:
        translator.feed(b'data: {"error": {"message": "overloaded"}}\n\n')
    error = data_payloads([translator.error(raised.value)])[0]
    assert error == {
        "type": "error",
        "sequence_number": len(events),
        "code": "upstream_error",
        "message": "overloaded",
        "param": None,
    }


def test_responses_usage_splits_cached_and_reasoning_tokens() -> None:
    usage, _ = response_usage((RESPONSES_FIXTURES / "function_call.json").read_bytes())
    assert usage == TokenUsage(input=163, cached_input=128, output=23)
    assert response_usage(b"{not json") == (None, 0)


def test_the_tap_relays_bytes_untouched_and_reads_the_completed_usage() -> None:
    body = (RESPONSES_FIXTURES / "stream.sse").read_bytes()
    tap = ResponsesTap()
    relayed = b"".join(out for piece in split_every(body, 13) for out in tap.feed(piece))
    assert relayed == body and tap.end() == []
    assert tap.usage == TokenUsage(input=37, output=11)
    assert tap.output_chars == len("Hi there! How can I assist you today?")
    assert tap.last_sequence_number == body.count(b"\n\n") - 1


def test_token_usage_clamps_details_larger_than_their_totals() -> None:
    overlapping = msgspec.json.decode(
        b'{"input_tokens":3,"output_tokens":2,"input_tokens_details":{"cached_tokens":9},'
        b'"output_tokens_details":{"reasoning_tokens":5}}',
        type=ResponseUsage,
    )
    assert token_usage(overlapping) == TokenUsage(input=0, cached_input=3, output=0, reasoning=2)


def test_the_providers_own_finish_reason_is_kept_when_the_chat_answer_carries_it() -> None:
    translated = completion({"content": "Once upon"}, "length")
    choice = msgspec.structs.replace(translated.choices[0], provider_finish_reason="MAX_TOKENS")
    response = as_json(response_object(msgspec.structs.replace(translated, choices=[choice]), SHELL))
    assert response["status"] == "incomplete" and response["provider_finish_reason"] == "MAX_TOKENS"
    stream = (
        b'data: {"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},'
        b'"finish_reason":"length","provider_finish_reason":"max_tokens"}]}\n\n'
    )
    final = data_payloads(run(stream))[-1]["response"]
    assert final["provider_finish_reason"] == "max_tokens"
