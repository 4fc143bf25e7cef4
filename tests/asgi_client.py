"""Playing the ASGI server by hand, for tests that must control the client's side of a request (leaving in the
middle of a stream, say), which an HTTP client library does not let them do."""

from __future__ import annotations

import asyncio

from starlette.types import Message


def http_scope(authorization: str, body: bytes, path: str = "/v1/chat/completions") -> dict[str, object]:
    """A raw ASGI HTTP scope for a JSON POST."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", authorization.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("dataplane", 80),
    }


class LeavingClient:
    """The client side of one request: sends `body`, notes when the first response body bytes arrive, and
    disconnects when told to."""

    def __init__(self, body: bytes) -> None:
        self.first_body_sent = asyncio.Event()
        self._gone = asyncio.Event()
        self._messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive(self) -> Message:
        if self._messages:
            return self._messages.pop()
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            self.first_body_sent.set()

    def leave(self) -> None:
        self._gone.set()
