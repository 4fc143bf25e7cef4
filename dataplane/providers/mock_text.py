"""The built-in `mock` provider's embeddings and legacy text completions: deterministic answers with no I/O, for
the quickstart and tests. Pure: the time and the ids are arguments.

- Embeddings: each input's vector is derived from the SHA-256 of its text (or of its token ids), `dimensions`
  values (8 by default) in [-1, 1], the same input always giving the same vector. Token counts are word counts
  (token-id inputs: their length).
- Completions: one choice per prompt, `Mock completion of: ` and the first 200 characters of the prompt
  (whitespace collapsed), finish reason `stop`; streamed one word per chunk. Token counts are word counts."""

from __future__ import annotations

import hashlib

import msgspec

from dataplane.completions_wire import CompletionRequestView, TextChoice, TextCompletion
from dataplane.embeddings_wire import EmbeddingsRequestView, encode_response
from dataplane.openai_wire import SSE_DONE, CompletionUsage, sse_event
from dataplane.providers.mock import count_tokens
from shared.usage import TokenUsage

DEFAULT_DIMENSIONS = 8
COMPLETION_PREFIX = "Mock completion of: "
QUOTED_CHARS = 200
_encoder = msgspec.json.Encoder()


def embedding_vector(item: str | int | list[int], dimensions: int) -> list[float]:
    """`dimensions` values in [-1, 1] from the SHA-256 chain of the input (rounded to 6 decimals)."""
    seed = item.encode() if isinstance(item, str) else _encoder.encode(item)
    values: list[float] = []
    digest = hashlib.sha256(seed).digest()
    while len(values) < dimensions:
        values.extend(round(byte / 127.5 - 1.0, 6) for byte in digest)
        digest = hashlib.sha256(digest).digest()
    return values[:dimensions]


def _inputs(request: EmbeddingsRequestView) -> list[str | int | list[int]]:
    if isinstance(request.input, str):
        return [request.input]
    if all(isinstance(item, int) for item in request.input):
        return [[item for item in request.input if isinstance(item, int)]]  # one input of token ids
    return list(request.input)


def embedding_tokens(request: EmbeddingsRequestView) -> int:
    return sum(
        count_tokens(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
        for item in _inputs(request)
    )


def encode_embeddings(request: EmbeddingsRequestView, *, model: str) -> bytes:
    dimensions = request.dimensions or DEFAULT_DIMENSIONS
    vectors = [embedding_vector(item, dimensions) for item in _inputs(request)]
    return encode_response(
        vectors, model=model, prompt_tokens=embedding_tokens(request), encoding_format=request.encoding_format
    )


def completion_text(prompt: str) -> str:
    return (COMPLETION_PREFIX + " ".join(prompt.split())[:QUOTED_CHARS]).rstrip()


def completion_usage(request: CompletionRequestView) -> CompletionUsage:
    prompt = sum(count_tokens(text) for text in request.prompt_texts)
    completion = sum(count_tokens(completion_text(text)) for text in request.prompt_texts)
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def token_usage(request: CompletionRequestView) -> TokenUsage:
    usage = completion_usage(request)
    return TokenUsage(input=usage.prompt_tokens, output=usage.completion_tokens)


def encode_completion(request: CompletionRequestView, *, model: str, completion_id: str, created: int) -> bytes:
    choices = [
        TextChoice(text=completion_text(text), index=index, finish_reason="stop")
        for index, text in enumerate(request.prompt_texts)
    ]
    completion = TextCompletion(
        id=completion_id, created=created, model=model, choices=choices, usage=completion_usage(request)
    )
    return _encoder.encode(completion)


def stream_events(request: CompletionRequestView, *, model: str, completion_id: str, created: int) -> list[bytes]:
    """One chunk per word of each choice, a finish chunk per choice, the usage chunk (only when the client asked
    for `stream_options.include_usage`), then `[DONE]`."""

    def chunk(choices: list[TextChoice], usage: CompletionUsage | None = None) -> bytes:
        completion = TextCompletion(
            id=completion_id, created=created, model=model, choices=choices, usage=usage or msgspec.UNSET
        )
        return sse_event(_encoder.encode(completion))

    events: list[bytes] = []
    for index, text in enumerate(request.prompt_texts):
        words = completion_text(text).split(" ")
        events.extend(
            chunk([TextChoice(text=word if n == 0 else f" {word}", index=index, finish_reason=None)])
            for n, word in enumerate(words)
        )
        events.append(chunk([TextChoice(text="", index=index, finish_reason="stop")]))
    if request.wants_usage_chunk:
        events.append(chunk([], completion_usage(request)))
    events.append(SSE_DONE)
    return events
