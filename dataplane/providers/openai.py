"""The OpenAI adapter (kinds `openai` and `openai_compatible`): the same-protocol fast path, where the client's
JSON is forwarded with only `model` replaced, and the classification of upstream errors."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from dataplane.errors import GatewayError, UpstreamAuthError, UpstreamRelayedError, UpstreamStatusError
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest

# Top-level fields decode to raw byte slices, so every value but `model` is re-emitted exactly as received.
_fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_encoder = msgspec.json.Encoder()


class UpstreamErrorDetail(msgspec.Struct, frozen=True):
    message: str
    type: str | None = None
    code: str | int | None = None


class UpstreamErrorEnvelope(msgspec.Struct, frozen=True):
    error: UpstreamErrorDetail


_error_decoder = msgspec.json.Decoder(UpstreamErrorEnvelope)


# the client's headers an OpenAI-protocol upstream gets as sent (same-protocol passthrough)
FORWARDED_HEADERS = ("openai-beta",)


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed client headers present in `headers`."""
    return {name: headers[name] for name in FORWARDED_HEADERS if name in headers}


def with_headers(request: UpstreamRequest, headers: Mapping[str, str] | None) -> UpstreamRequest:
    """`request` with `headers` added (the built request's own headers win: credentials are never replaced)."""
    if not headers:
        return request
    return msgspec.structs.replace(request, headers={**headers, **request.headers})


def replace_model(body: bytes, model: str, *, include_usage: bool = False) -> bytes:
    """The client's JSON object with `model` set to the upstream name; unknown fields survive untouched. With
    `include_usage`, `stream_options.include_usage` is set to true (the client's other stream options kept)."""
    fields = _fields_decoder.decode(body)
    fields["model"] = msgspec.Raw(_encoder.encode(model))
    if include_usage:
        fields["stream_options"] = with_include_usage(fields.get("stream_options"))
    return _encoder.encode(fields)


def with_include_usage(options: msgspec.Raw | None) -> msgspec.Raw:
    # the body was validated first (dataplane.body): stream_options is an object or null
    decoded = _fields_decoder.decode(options) if options is not None and bytes(options) != b"null" else {}
    if bytes(decoded.get("include_usage", b"")) == b"true" and options is not None:
        return options
    decoded["include_usage"] = _TRUE
    return msgspec.Raw(_encoder.encode(decoded))


_TRUE = msgspec.Raw(b"true")


def chat_completions_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/chat/completions"


def build_chat_request(
    body: bytes,
    *,
    target: Target,
    stream: bool,
    timeout_seconds: float | None = None,
    connect_timeout_seconds: float = 5.0,
    include_usage: bool = False,
) -> UpstreamRequest:
    """The upstream call for a validated client body. The URL comes from the snapshot, never the request.
    `timeout_seconds` defaults to the deployment's (the caller shortens it to what is left of the deadline);
    `include_usage` asks a stream for its usage chunk whether or not the client did."""
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if target.credentials.api_key:
        headers["authorization"] = f"Bearer {target.credentials.api_key}"
    return UpstreamRequest(
        url=chat_completions_url(target.provider.base_url),
        headers=headers,
        body=replace_model(body, target.deployment.model, include_usage=include_usage),
        timeout_seconds=target.deployment.timeout_seconds if timeout_seconds is None else timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


def classify_error(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """The gateway's answer to an upstream error status, decided from the status and the structured body."""
    if status in (401, 403):
        return UpstreamAuthError()
    try:
        envelope = _error_decoder.decode(body)
    except msgspec.DecodeError:
        return UpstreamStatusError(status)
    code = envelope.error.code
    return UpstreamRelayedError(
        status,
        msgspec.json.format(body, indent=0),
        code=str(code) if code is not None else None,
        retry_after=headers.get("retry-after"),
    )
