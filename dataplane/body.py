"""Reading a request body once, under a size cap, and decoding it into a view Struct with errors that name
the offending field."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TypeVar

import msgspec
from starlette.requests import ClientDisconnect

from dataplane.errors import (
    ClientClosedError,
    InvalidParameterError,
    InvalidRequestError,
    MalformedJsonError,
    MissingParameterError,
    RequestTooLargeError,
)
from dataplane.openai_wire import ChatRequestView
from dataplane.translate.openai_types import ChatRequest

_chat_decoder = msgspec.json.Decoder(ChatRequestView)
_full_chat_decoder = msgspec.json.Decoder(ChatRequest)
ViewT = TypeVar("ViewT")
_MISSING_FIELD = re.compile(r"^Object missing required field `([^`]+)`")
_AT_PATH = re.compile(r" - at `\$(.*)`$")


async def read_body(chunks: AsyncIterator[bytes], *, content_length: str | None, limit: int) -> bytes:
    """Collect the body, refusing it as soon as the declared or the received size passes `limit`."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise InvalidRequestError("The Content-Length header is not a number.") from None
        if declared > limit:
            raise RequestTooLargeError(f"The request body is larger than {limit} bytes.")
    received = bytearray()
    try:
        async for chunk in chunks:
            received += chunk
            if len(received) > limit:
                raise RequestTooLargeError(f"The request body is larger than {limit} bytes.")
    except ClientDisconnect:
        raise ClientClosedError() from None
    return bytes(received)


def _param_path(message: str) -> str | None:
    """`$.messages[0].role` in a msgspec message becomes `messages[0].role`; the root becomes None."""
    match = _AT_PATH.search(message)
    path = match[1] if match else ""
    return path.removeprefix(".") or None


def decode_chat_request(body: bytes) -> ChatRequestView:
    return decode_view(body, _chat_decoder)


def decode_full_chat_request(body: bytes) -> ChatRequest:
    """The whole OpenAI request, for translation to another protocol (the pipeline's view holds only the routing
    fields; it has already refused a body that is not a chat request)."""
    try:
        return _full_chat_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"The request cannot be translated for this model: {exc}.") from None
    except msgspec.DecodeError:
        raise InvalidRequestError() from None


def decode_view(body: bytes, decoder: msgspec.json.Decoder[ViewT]) -> ViewT:
    """Any endpoint's request view, refused like a chat request's (empty body, bad JSON, the offending field)."""
    if not body.strip():
        raise InvalidRequestError("The request body is empty; expected a JSON object.")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_error(str(exc)) from None
    except msgspec.DecodeError:
        raise MalformedJsonError() from None


def _validation_error(message: str) -> InvalidRequestError:
    missing = _MISSING_FIELD.match(message)
    parent = _param_path(message)
    if missing:
        param = f"{parent}.{missing[1]}" if parent else missing[1]
        return MissingParameterError(f"Missing required parameter: '{param}'.", param=param)
    if parent is None:
        return InvalidRequestError("The request body must be a JSON object.")
    detail = _AT_PATH.sub("", message)
    return InvalidParameterError(f"Invalid value for '{parent}': {detail}.", param=parent)
