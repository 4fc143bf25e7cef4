"""Same-protocol Anthropic streams: the upstream's bytes go to the client untouched while a parser on the side
reads the usage (message_start, then the cumulative message_delta counts)."""

from __future__ import annotations

import msgspec

from dataplane.anthropic_wire import StreamEvent
from dataplane.anthropic_wire import Usage as AnthropicUsage
from dataplane.providers.anthropic import stream_error
from dataplane.translate.sse import SseParser
from dataplane.translate.usage import from_anthropic, merge_anthropic
from shared.usage import TokenUsage

_event_decoder = msgspec.json.Decoder(StreamEvent)


class AnthropicTap:
    def __init__(self) -> None:
        self.anthropic_usage: AnthropicUsage | None = None
        self.output_chars = 0
        self._parser = SseParser()
        self._forwarded = False

    @property
    def usage(self) -> TokenUsage | None:
        return from_anthropic(self.anthropic_usage) if self.anthropic_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        """`[chunk]`, unchanged. An `error` event before anything was forwarded raises instead, so the attempt can
        still fall over to another target; later ones reach the client as Anthropic sent them."""
        for sse in self._parser.feed(chunk):
            try:
                event = _event_decoder.decode(sse.data)
            except msgspec.DecodeError:
                continue  # not ours to judge: the client gets the bytes as they are
            self._observe(event)
        self._forwarded = True
        return [chunk]

    def end(self) -> list[bytes]:
        return []

    def _observe(self, event: StreamEvent) -> None:
        if event.type == "message_start" and event.message is not None:
            self.anthropic_usage = merge_anthropic(self.anthropic_usage, event.message.usage)
        elif event.type == "message_delta":
            self.anthropic_usage = merge_anthropic(self.anthropic_usage, event.usage)
        elif event.type == "content_block_delta" and event.delta is not None:
            delta = event.delta
            self.output_chars += len(delta.text or delta.partial_json or delta.thinking or "")
        elif event.type == "error" and event.error is not None and not self._forwarded:
            raise stream_error(event.error)
