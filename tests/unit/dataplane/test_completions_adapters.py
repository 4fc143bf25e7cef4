"""The pure parts of /v1/completions: what a request reserves, the mock's answers whole and streamed, and the
usage read from legacy completions (whole, or from a stream whose usage chunk is hidden from a client that did not
ask for it), estimated from the text sent back when the provider reports none."""

from __future__ import annotations

import json

import msgspec
import pytest

from dataplane.completions_wire import CompletionRequestView
from dataplane.providers import mock_text
from dataplane.usage_extract import StreamUsageScanner, completion_usage
from shared.usage import TokenUsage
from tests.fakes.openai_provider import split_sse_events
from tests.fakes.replay_server import FIXTURES

COMPLETIONS = FIXTURES / "openai" / "completions"
_decoder = msgspec.json.Decoder(CompletionRequestView)


def request(**fields: object) -> CompletionRequestView:
    return _decoder.decode(json.dumps({"model": "m", **fields}))


@pytest.mark.parametrize(
    ("fields", "reserved"),
    [
        ({"prompt": "x"}, 16),  # the API's documented default max_tokens
        ({"prompt": "x", "max_tokens": 100}, 100),
        ({"prompt": ["x", "y"], "max_tokens": 10, "n": 2}, 40),
        ({"prompt": [1, 2, 3], "max_tokens": 10, "best_of": 3, "n": 2}, 30),
        ({"prompt": [[1, 2], [3]], "max_tokens": 5}, 10),
    ],
)
def test_a_request_reserves_its_most_output_per_choice_and_prompt(fields: dict[str, object], reserved: int) -> None:
    assert request(**fields).reserved_output_tokens() == reserved


def test_prompts_are_read_as_texts_token_ids_as_empty_text() -> None:
    assert request(prompt="a").prompt_texts == ["a"]
    assert request(prompt=["a", "b"]).prompt_texts == ["a", "b"]
    assert request(prompt=[1, 2]).prompt_texts == [""]


def test_the_mock_completes_each_prompt_and_streams_its_usage_only_when_asked() -> None:
    asked = request(prompt="Say  this", stream=True, stream_options={"include_usage": True})
    whole = json.loads(mock_text.encode_completion(asked, model="m", completion_id="cmpl-1", created=7))
    assert whole["object"] == "text_completion"
    assert whole["choices"] == [
        {"text": "Mock completion of: Say this", "index": 0, "finish_reason": "stop", "logprobs": None}
    ]
    assert whole["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    events = mock_text.stream_events(asked, model="m", completion_id="cmpl-1", created=7)
    chunks = [json.loads(event[len(b"data: ") :]) for event in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Mock completion of: Say this"
    assert chunks[-1] == {**chunks[-1], "choices": [], "usage": whole["usage"]}
    assert events[-1] == b"data: [DONE]\n\n"
    quiet = mock_text.stream_events(request(prompt="Say this", stream=True), model="m", completion_id="c", created=7)
    assert not any(b'"usage"' in event for event in quiet)


def test_the_usage_of_a_whole_completion_is_the_providers_or_an_estimate_from_its_text() -> None:
    good = (COMPLETIONS / "good.json").read_bytes()
    unreported = (COMPLETIONS / "no_usage.json").read_bytes()
    assert completion_usage(good, prompt_bytes=100) == (TokenUsage(input=5, output=7), False)
    estimate, estimated = completion_usage(unreported, prompt_bytes=100)
    assert estimated and estimate == TokenUsage(input=25, output=5)  # 22 characters of text


def test_a_streamed_completion_hides_its_usage_chunk_and_keeps_its_usage() -> None:
    body = (COMPLETIONS / "stream.sse").read_bytes()
    scanner = StreamUsageScanner(prompt_bytes=100, hide_usage_chunk=True)
    relayed = b"".join(scanner.feed(event) for event in split_sse_events(body)) + scanner.flush()
    assert b'"choices":[]' not in relayed and relayed.endswith(b"data: [DONE]\n\n")
    assert scanner.result() == (TokenUsage(input=5, output=7), False)
    unreported = StreamUsageScanner(prompt_bytes=100, hide_usage_chunk=True)
    unreported.feed((COMPLETIONS / "stream_no_usage.sse").read_bytes())
    assert unreported.result() == (TokenUsage(input=25, output=5), True)
