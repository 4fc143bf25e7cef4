"""Same-protocol Responses API answers: the usage of a Response object, and a tap that relays a Responses stream
untouched while it reads the usage from the final `response.completed` (or `.incomplete` / `.failed`) event."""

from __future__ import annotations

import msgspec

from dataplane.responses_wire import ResponseUsage
from dataplane.translate.sse import SseParser
from shared.usage import TokenUsage

_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class _ResponseView(msgspec.Struct, frozen=True):
    usage: ResponseUsage | None = None
    output: msgspec.Raw = msgspec.Raw(b"")  # sized, not read: for an estimate when there is no usage


class _EventView(msgspec.Struct, frozen=True):
    type: str = ""
    sequence_number: int | None = None
    response: _ResponseView | None = None
    delta: str | None = None


_response_decoder = msgspec.json.Decoder(_ResponseView)
_event_decoder = msgspec.json.Decoder(_EventView)


def token_usage(usage: ResponseUsage) -> TokenUsage:
    """Responses counts overlap like chat's (cached ⊂ input, reasoning ⊂ output): split into disjoint classes."""
    cached = usage.input_tokens_details.cached_tokens if usage.input_tokens_details else 0
    reasoning = usage.output_tokens_details.reasoning_tokens if usage.output_tokens_details else 0
    cached = min(max(cached, 0), max(usage.input_tokens, 0))
    reasoning = min(max(reasoning, 0), max(usage.output_tokens, 0))
    return TokenUsage(
        input=max(usage.input_tokens, 0) - cached,
        cached_input=cached,
        output=max(usage.output_tokens, 0) - reasoning,
        reasoning=reasoning,
    )


def response_usage(body: bytes) -> tuple[TokenUsage | None, int]:
    """The usage of a Response object (None if it has none), and the size of its output for an estimate."""
    try:
        response = _response_decoder.decode(body)
    except msgspec.DecodeError:
        return None, 0
    return (token_usage(response.usage) if response.usage is not None else None), len(response.output)


class ResponsesTap:
    """`feed` returns each chunk unchanged; the usage and the last sequence number are read on the side."""

    def __init__(self) -> None:
        self.responses_usage: ResponseUsage | None = None
        self.output_chars = 0
        self.last_sequence_number = -1
        self._parser = SseParser()

    @property
    def usage(self) -> TokenUsage | None:
        return token_usage(self.responses_usage) if self.responses_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        for sse in self._parser.feed(chunk):
            try:
                event = _event_decoder.decode(sse.data)
            except msgspec.DecodeError:
                continue  # not ours to judge: the client gets the bytes as they are
            if event.sequence_number is not None:
                self.last_sequence_number = event.sequence_number
            if event.delta is not None:
                self.output_chars += len(event.delta)
            if event.type in _FINAL_EVENTS and event.response is not None and event.response.usage is not None:
                self.responses_usage = event.response.usage
        return [chunk]

    def end(self) -> list[bytes]:
        return []
