"""Reading the Anthropic golden fixtures and OpenAI SSE output in translation tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

ANTHROPIC = Path(__file__).resolve().parents[3] / "fixtures" / "providers" / "anthropic" / "messages"


def anthropic_fixture(name: str) -> bytes:
    return (ANTHROPIC / name).read_bytes()


def split_every(data: bytes, size: int) -> list[bytes]:
    """Arbitrary chunk boundaries, as a network delivers them."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def data_payloads(events: list[bytes]) -> list[Any]:
    """The decoded `data:` payloads of SSE events (`[DONE]` kept as the string)."""
    payloads = []
    for event in events:
        # SSE lines end at "\n" only: str.splitlines() would also split JSON holding U+0085 or U+2028
        for line in event.decode().split("\n"):
            line = line.removesuffix("\r")
            if line.startswith("data: "):
                data = line[len("data: ") :]
                payloads.append(data if data == "[DONE]" else msgspec.json.decode(data))
    return payloads


def event_names(events: list[bytes]) -> list[str]:
    return [line[len("event: ") :] for e in events for line in e.decode().splitlines() if line.startswith("event: ")]
