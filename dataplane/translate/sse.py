"""An incremental server-sent-events parser: bytes in as they arrive (split anywhere), whole events out."""

from __future__ import annotations

import msgspec


class SseEvent(msgspec.Struct, frozen=True):
    event: str | None  # the `event:` name, if any
    data: bytes  # the `data:` lines joined by newlines


class SseParser:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by `chunk` (a blank line ends an event; CRLF and LF line ends both work)."""
        # normalised after joining, so a CRLF split between two chunks is still one line end
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events: list[SseEvent] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return events
            block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            event = parse_block(block)
            if event is not None:
                events.append(event)

    def close(self) -> list[SseEvent]:
        """An unterminated last event, if the stream ended without its blank line."""
        block, self._buffer = self._buffer, b""
        event = parse_block(block.rstrip(b"\n"))
        return [] if event is None else [event]


def parse_block(block: bytes) -> SseEvent | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
    if not data:
        return None  # comments and keep-alives carry no data
    return SseEvent(event=name, data=b"\n".join(data))
