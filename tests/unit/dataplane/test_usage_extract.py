"""Token accounting of OpenAI answers: the usage object in non-overlapping classes, the streamed usage chunk
(read, and held back from a client that did not ask for it), estimates when the provider says nothing, and the
injection of `stream_options.include_usage` into the upstream body."""

from __future__ import annotations

import msgspec
import pytest

from dataplane.estimate import prompt_tokens_estimate, text_tokens_estimate
from dataplane.providers.openai import replace_model
from dataplane.usage_extract import StreamUsageScanner, completion_usage
from shared.usage import TokenUsage
from tests.fakes.openai_provider import load_fixture, split_sse_events, without_usage_chunk

PROMPT_BYTES = 400


def scan(body: bytes, *, hide: bool, piece: int) -> tuple[bytes, StreamUsageScanner]:
    """Feed `body` to a scanner `piece` bytes at a time, as an upstream may cut it; return what it forwarded."""
    scanner = StreamUsageScanner(prompt_bytes=PROMPT_BYTES, hide_usage_chunk=hide)
    forwarded = b"".join(scanner.feed(body[i : i + piece]) for i in range(0, len(body), piece))
    return forwarded + scanner.flush(), scanner


def test_non_streamed_usage_is_read_from_the_usage_object() -> None:
    assert completion_usage(load_fixture("good.json"), prompt_bytes=PROMPT_BYTES) == (
        TokenUsage(input=19, output=10),
        False,
    )
    assert completion_usage(load_fixture("tool_calls.json"), prompt_bytes=PROMPT_BYTES) == (
        TokenUsage(input=82, output=17),
        False,
    )


def test_cached_and_reasoning_tokens_are_split_out_so_no_token_is_counted_twice() -> None:
    usage, estimated = completion_usage(load_fixture("usage_details.json"), prompt_bytes=PROMPT_BYTES)
    # prompt 2006 of which 1920 cached; completion 300 of which 256 reasoning
    assert usage == TokenUsage(input=86, cached_input=1920, output=44, reasoning=256)
    assert usage.total == 2306 and not estimated


@pytest.mark.parametrize("piece", [1, 7, 64, 1 << 20])
def test_a_streamed_and_a_non_streamed_answer_of_one_conversation_give_the_same_tokens(piece: int) -> None:
    plain, _ = completion_usage(load_fixture("usage_details.json"), prompt_bytes=PROMPT_BYTES)
    _, scanner = scan(load_fixture("stream_usage_details.sse"), hide=True, piece=piece)
    assert scanner.result() == (plain, False)


@pytest.mark.parametrize("piece", [1, 5, 100, 1 << 20])
def test_the_usage_chunk_is_held_back_from_a_client_that_did_not_ask_and_every_other_byte_is_relayed(
    piece: int,
) -> None:
    body = load_fixture("stream.sse")
    forwarded, scanner = scan(body, hide=True, piece=piece)
    assert forwarded == without_usage_chunk(body)
    assert len(split_sse_events(forwarded)) == len(split_sse_events(body)) - 1
    assert forwarded.endswith(b"data: [DONE]\n\n")
    assert scanner.result() == (TokenUsage(input=10, output=5), False)


@pytest.mark.parametrize("piece", [3, 1 << 20])
def test_a_client_that_asked_for_usage_gets_the_stream_byte_for_byte(piece: int) -> None:
    body = load_fixture("stream.sse")
    forwarded, scanner = scan(body, hide=False, piece=piece)
    assert forwarded == body
    assert scanner.usage == TokenUsage(input=10, output=5)


def test_crlf_framed_events_are_scanned_and_the_usage_chunk_held_back() -> None:
    body = load_fixture("stream.sse").replace(b"\n", b"\r\n")
    forwarded, scanner = scan(body, hide=True, piece=11)
    assert b'"choices":[]' not in forwarded and forwarded.endswith(b"data: [DONE]\r\n\r\n")
    assert forwarded == b"".join(e + b"\r\n\r\n" for e in body.split(b"\r\n\r\n") if e and b'"choices":[]' not in e)
    assert scanner.result() == (TokenUsage(input=10, output=5), False)


def test_a_stream_without_usage_is_estimated_from_the_prompt_size_and_the_streamed_text() -> None:
    body = load_fixture("stream_no_usage.sse")
    forwarded, scanner = scan(body, hide=True, piece=50)
    assert forwarded == body
    expected = TokenUsage(
        input=prompt_tokens_estimate(PROMPT_BYTES), output=text_tokens_estimate(len("Hi, how are you?"))
    )
    assert scanner.result() == (expected, True)


def test_a_stream_cut_short_is_estimated_from_what_was_streamed_so_far() -> None:
    events = split_sse_events(load_fixture("stream.sse"))
    scanner = StreamUsageScanner(prompt_bytes=PROMPT_BYTES, hide_usage_chunk=True)
    for event in events[:4]:  # role, "Hi", ",", " how" and then the client left
        scanner.feed(event)
    usage, estimated = scanner.result()
    assert estimated and usage.output == text_tokens_estimate(len("Hi, how"))


def test_a_half_received_event_is_held_until_it_is_complete() -> None:
    event = split_sse_events(load_fixture("stream.sse"))[1]
    scanner = StreamUsageScanner(prompt_bytes=PROMPT_BYTES, hide_usage_chunk=True)
    assert scanner.feed(event[:20]) == b""
    assert scanner.feed(event[20:]) == event


def test_a_non_streamed_answer_without_usage_is_estimated_from_its_message() -> None:
    usage, estimated = completion_usage(load_fixture("no_usage.json"), prompt_bytes=PROMPT_BYTES)
    assert estimated
    assert usage == TokenUsage(
        input=prompt_tokens_estimate(PROMPT_BYTES),
        output=text_tokens_estimate(len("Hello! How can I assist you today?")),
    )


def test_usage_is_injected_into_a_stream_request_and_every_other_field_is_kept() -> None:
    body = (
        b'{"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": "Hi"}], "x_unknown": {"a": 1}}'
    )
    sent = msgspec.json.decode(replace_model(body, "up-1", include_usage=True))
    assert sent == {
        "model": "up-1",
        "stream": True,
        "messages": [{"role": "user", "content": "Hi"}],
        "x_unknown": {"a": 1},
        "stream_options": {"include_usage": True},
    }


def test_injection_keeps_the_clients_other_stream_options_and_leaves_an_explicit_ask_untouched() -> None:
    other = b'{"model": "m", "stream": true, "stream_options": {"include_usage": false, "include_obfuscation": false}}'
    assert msgspec.json.decode(replace_model(other, "up", include_usage=True))["stream_options"] == {
        "include_usage": True,
        "include_obfuscation": False,
    }
    asked = b'{"model": "m", "stream": true, "stream_options": {"include_usage": true}}'
    assert (
        replace_model(asked, "up", include_usage=True)
        == b'{"model":"up","stream":true,"stream_options":{"include_usage": true}}'
    )
    assert b"stream_options" not in replace_model(b'{"model": "m"}', "up")


def test_the_same_conversation_streamed_and_not_costs_the_same_and_what_a_hand_computation_says() -> None:
    """Cost parity: the usage of the streamed and the non-streamed answer priced by the same price, each class at
    its own rate. $2.50/M input, $1.25/M cached input, $10/M output, $40/M reasoning (a price with a reasoning
    rate of its own): 86 x 2.5 + 1920 x 1.25 + 44 x 10 + 256 x 40 = 215 + 2400 + 440 + 10240 = 13295 micro-USD."""
    from dataplane.pricing import cost_micro_usd
    from shared.snapshot import PriceSpec

    price = PriceSpec(
        id="p1",
        deployment_id="d1",
        effective_from=0,
        input=2_500_000,
        output=10_000_000,
        cached_input=1_250_000,
        reasoning=40_000_000,
    )
    plain, plain_estimated = completion_usage(load_fixture("usage_details.json"), prompt_bytes=PROMPT_BYTES)
    _, scanner = scan(load_fixture("stream_usage_details.sse"), hide=True, piece=7)
    streamed, streamed_estimated = scanner.result()
    assert (plain_estimated, streamed_estimated) == (False, False)
    assert cost_micro_usd(plain, price) == cost_micro_usd(streamed, price) == 13_295
