"""The Anthropic adapter (kind `anthropic`): the Messages API request for a target (same-protocol bodies
forwarded with only `model` replaced), usage decoding, and the classification of upstream errors. Pure: no I/O.

Auth is `x-api-key` plus `anthropic-version`; the client's `anthropic-version` and `anthropic-beta` are
forwarded (an allow-list: no other client header reaches the provider). The URL comes from the snapshot's
`base_url` (e.g. `https://api.anthropic.com/v1`) only."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from dataplane.anthropic_wire import DEFAULT_VERSION, ErrorDetail, ErrorEnvelope, Message, TokenCount
from dataplane.errors import GatewayError, UpstreamAuthError, UpstreamRelayedError, UpstreamStatusError
from dataplane.providers.openai import replace_model
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed client headers present in `headers`."""
    return {name: headers[name] for name in FORWARDED_HEADERS if name in headers}


# Anthropic error type → (HTTP status, OpenAI error type), for errors met inside a stream (no status line) and
# for rendering an Anthropic error to an OpenAI client (https://docs.anthropic.com/en/api/errors)
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "invalid_request_error": (400, "invalid_request_error"),
    "authentication_error": (401, "authentication_error"),
    "billing_error": (402, "insufficient_quota"),
    "permission_error": (403, "permission_error"),
    "not_found_error": (404, "invalid_request_error"),
    "request_too_large": (413, "invalid_request_error"),
    "rate_limit_error": (429, "rate_limit_error"),
    "api_error": (500, "api_error"),
    "timeout_error": (504, "api_error"),
    "overloaded_error": (529, "api_error"),
}

_error_decoder = msgspec.json.Decoder(ErrorEnvelope)
_message_decoder = msgspec.json.Decoder(Message)
_count_decoder = msgspec.json.Decoder(TokenCount)
_encoder = msgspec.json.Encoder()


class AnthropicUpstreamError(UpstreamRelayedError):
    """An Anthropic error: relayed as is to Anthropic clients, as OpenAI error JSON (same status, `code` = the
    Anthropic error type) to OpenAI clients."""

    def __init__(self, status: int, detail: ErrorDetail, *, retry_after: str | None = None) -> None:
        openai_type = ERROR_TYPES.get(detail.type, (status, "api_error"))[1]
        openai_body = _encoder.encode(
            {"error": {"message": detail.message, "type": openai_type, "param": None, "code": detail.type}}
        )
        super().__init__(status, openai_body, code=detail.type, retry_after=retry_after)
        self.message = detail.message
        self._anthropic_body = _encoder.encode(ErrorEnvelope(error=detail))

    def anthropic_body(self) -> bytes:
        return self._anthropic_body


def messages_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/messages"


def count_tokens_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/messages/count_tokens"


def request_headers(target: Target, client_headers: Mapping[str, str], *, stream: bool) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "anthropic-version": DEFAULT_VERSION,
    }
    for name in FORWARDED_HEADERS:
        value = client_headers.get(name)
        if value:
            headers[name] = value
    if target.credentials.api_key:
        headers["x-api-key"] = target.credentials.api_key
    return headers


def build_messages_request(
    body: bytes,
    *,
    target: Target,
    client_headers: Mapping[str, str],
    stream: bool,
    timeout_seconds: float,
    connect_timeout_seconds: float,
    count_tokens: bool = False,
) -> UpstreamRequest:
    """The upstream call for an Anthropic-protocol body (the client's own, or a translated one): only `model`
    is replaced, every other byte of the JSON survives."""
    url = count_tokens_url if count_tokens else messages_url
    return UpstreamRequest(
        url=url(target.provider.base_url),
        headers=request_headers(target, client_headers, stream=stream),
        body=replace_model(body, target.deployment.model),
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


def decode_message(body: bytes) -> Message | None:
    """A non-streamed answer, or None if it is not one (then it is relayed, but not accounted or translated)."""
    try:
        return _message_decoder.decode(body)
    except msgspec.DecodeError:
        return None


def decode_token_count(body: bytes) -> int | None:
    try:
        return _count_decoder.decode(body).input_tokens
    except msgspec.DecodeError:
        return None


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """The gateway's answer to an upstream error status, from the status and the structured `error.type`."""
    if status in (401, 403):
        return UpstreamAuthError()
    try:
        envelope = _error_decoder.decode(body)
    except msgspec.DecodeError:
        return UpstreamStatusError(status)
    return AnthropicUpstreamError(status, envelope.error, retry_after=headers.get("retry-after"))


def stream_error(detail: ErrorDetail) -> GatewayError:
    """An `error` event inside a stream: its status is the one Anthropic documents for its type."""
    status = ERROR_TYPES.get(detail.type, (500, "api_error"))[0]
    return AnthropicUpstreamError(status, detail)
