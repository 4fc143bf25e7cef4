"""Request bodies and query strings: read with a size cap, decode with msgspec, fail as API errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from controlplane.api.errors import InvalidJsonError, RequestTooLargeError, validation_failed

T = TypeVar("T")


def _too_large(max_bytes: int) -> RequestTooLargeError:
    return RequestTooLargeError(f"request body exceeds {max_bytes} bytes")


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The body, refused early by its Content-Length and again by the bytes actually streamed (chunked uploads
    declare no length)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidJsonError("Content-Length is not a number")
        if int(declared) > max_bytes:
            raise _too_large(max_bytes)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
    except ClientDisconnect as exc:
        raise InvalidJsonError("the client went away while sending the body") from exc
    return bytes(body)


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    if not body.strip():
        raise InvalidJsonError("request body is empty; send a JSON object")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise validation_failed(exc) from exc
    except msgspec.DecodeError as exc:
        raise InvalidJsonError(f"request body is not valid JSON: {exc}") from exc


def decode_query(params: Mapping[str, str], query_type: type[T]) -> T:
    """Query parameters arrive as strings; non-strict conversion turns "10" into 10 and still checks bounds."""
    try:
        return msgspec.convert(dict(params), query_type, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_failed(exc) from exc
