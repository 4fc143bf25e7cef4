"""The Google Vertex AI adapter (kind `vertex_ai`), request side and errors. Pure: no I/O. The token comes from
dataplane.providers.vertex_auth, the calls are made by dataplane.providers.vertex_chat.

Configuration: the provider's `base_url` is the Vertex location of one project,
`https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}` (the global endpoint
is `https://aiplatform.googleapis.com/v1/projects/{project}/locations/global`), and its credentials are a
service-account key (`service_account_json`). The deployment's model picks the publisher:

- a model whose name starts with `claude` (e.g. `claude-sonnet-4@20250514`) is Anthropic's:
  `POST {base_url}/publishers/anthropic/models/{model}:rawPredict` (`:streamRawPredict` when streaming), with the
  Messages API body less `model` (it is in the URL) plus `"anthropic_version": "vertex-2023-10-16"` in the body
  (https://docs.anthropic.com/en/api/claude-on-vertex-ai); answers and streams are Anthropic's own;
- any other model is Google's: `POST {base_url}/publishers/google/models/{model}:generateContent`
  (`:streamGenerateContent?alt=sse`), the same GenerateContentRequest and answers as the Gemini API adapter.

Claude on Vertex takes images and documents as base64 only: Vertex refuses URL sources ("URL sources are not
supported"), so the gateway refuses them first, with a 400 naming the part, never sending a request bound to fail.

Errors come in two shapes: Google's `{"error": {"code", "message", "status"}}` (quota, permissions, a Gemini
model's refusals; sometimes wrapped in a one-element array) and, from a Claude model, Anthropic's
`{"type": "error", "error": {"type", "message"}}`. Each is relayed as the adapter of its format relays it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from dataplane.anthropic_wire import ErrorDetail as AnthropicErrorDetail
from dataplane.errors import GatewayError, InvalidParameterError, UpstreamAuthError, UpstreamStatusError
from dataplane.providers import gemini_wire
from dataplane.providers.anthropic import AnthropicUpstreamError
from dataplane.providers.gemini import GeminiUpstreamError
from dataplane.translate.openai_types import ChatRequest
from dataplane.upstream import UpstreamRequest

ANTHROPIC_VERSION = "vertex-2023-10-16"
ANTHROPIC_MODEL_PREFIX = "claude"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

_encoder = msgspec.json.Encoder()
_fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_VERSION = msgspec.Raw(_encoder.encode(ANTHROPIC_VERSION))


class _ErrorFields(msgspec.Struct, frozen=True):
    """Both error shapes at once: Google's (`code`, `status`, `details`) and Anthropic's (`type`)."""

    message: str = ""
    type: str = ""
    code: int = 0
    status: str = ""
    details: list[dict[str, Any]] = []


class _ErrorEnvelope(msgspec.Struct, frozen=True):
    error: _ErrorFields
    type: str = ""  # "error" in Anthropic's envelope


_envelope_decoder = msgspec.json.Decoder(_ErrorEnvelope | list[_ErrorEnvelope])


class _Source(msgspec.Struct, frozen=True):
    type: str = ""


class _Block(msgspec.Struct, frozen=True):
    source: _Source | None = None
    content: str | list[_Block] | None = None  # a tool_result's


class _Turn(msgspec.Struct, frozen=True):
    content: str | list[_Block] = ""


class _Turns(msgspec.Struct, frozen=True):
    messages: list[_Turn] = []


_turns_decoder = msgspec.json.Decoder(_Turns)
_URL_SOURCES = "Claude on Vertex AI takes images and documents as base64 data only, not by URL"


def refuse_url_sources(chat: ChatRequest) -> None:
    """An OpenAI request for a Claude model: an image that is not a `data:` URL is refused, naming the part."""
    for number, message in enumerate(chat.messages):
        for index, part in enumerate(message.content if isinstance(message.content, list) else []):
            if part.image_url is not None and not part.image_url.url.startswith("data:"):
                where = f"messages[{number}].content[{index}]"
                raise InvalidParameterError(f"{_URL_SOURCES} ({where}).", param=where)


def refuse_messages_url_sources(body: bytes) -> None:
    """An Anthropic client's body for a Claude model: a block (or tool_result block) with a `url` source is
    refused, naming it. A body this view cannot read is left for Vertex to judge."""
    try:
        turns = _turns_decoder.decode(body).messages
    except msgspec.DecodeError:
        return
    for number, turn in enumerate(turns):
        for index, block in enumerate(turn.content if isinstance(turn.content, list) else []):
            where = f"messages[{number}].content[{index}]"
            nested = block.content if isinstance(block.content, list) else []
            for path, found in [(where, block), *((f"{where}.content[{n}]", b) for n, b in enumerate(nested))]:
                if found.source is not None and found.source.type == "url":
                    raise InvalidParameterError(f"{_URL_SOURCES} ({path}).", param=path)


def is_anthropic_model(model: str) -> bool:
    """Claude models are published by Anthropic on Vertex; every other model by Google."""
    return model.startswith(ANTHROPIC_MODEL_PREFIX)


def gemini_url(base_url: str, model: str, *, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url.rstrip('/')}/publishers/google/models/{model}:{method}"


def anthropic_url(base_url: str, model: str, *, stream: bool) -> str:
    method = "streamRawPredict" if stream else "rawPredict"
    return f"{base_url.rstrip('/')}/publishers/anthropic/models/{model}:{method}"


def anthropic_body(messages_body: bytes) -> bytes:
    """A Messages API body as Vertex takes it: `anthropic_version` in the body, no `model` (the URL names it).
    Every other field's JSON is kept byte for byte (unknown fields, `cache_control`, thinking signatures)."""
    fields = _fields_decoder.decode(messages_body)
    fields.pop("model", None)
    fields.pop("anthropic_version", None)
    return _encoder.encode({"anthropic_version": _VERSION, **fields})


def _headers(token: str, *, stream: bool) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }


def build_gemini_request(
    body: bytes, *, base_url: str, model: str, token: str, stream: bool, timeout_seconds: float, connect_seconds: float
) -> UpstreamRequest:
    """The call for an encoded GenerateContentRequest (dataplane.providers.gemini.encode_request)."""
    return UpstreamRequest(
        url=gemini_url(base_url, model, stream=stream),
        headers=_headers(token, stream=stream),
        body=body,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_seconds,
    )


def build_anthropic_request(
    body: bytes,
    *,
    base_url: str,
    model: str,
    token: str,
    stream: bool,
    timeout_seconds: float,
    connect_seconds: float,
    client_headers: Mapping[str, str] | None = None,
) -> UpstreamRequest:
    """The call for a Messages API body (translated, or an Anthropic client's own); `stream` stays in the body, as
    Anthropic's own Vertex client sends it. Of the client's headers only `anthropic-beta` is forwarded (the
    version is the body's `anthropic_version`)."""
    headers = _headers(token, stream=stream)
    beta = (client_headers or {}).get("anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta
    return UpstreamRequest(
        url=anthropic_url(base_url, model, stream=stream),
        headers=headers,
        body=anthropic_body(body),
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_seconds,
    )


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """From the status and the structured `error.status` (Google) or `error.type` (Anthropic), never the text.
    401 and 403 are the gateway's service account refused (or lacking a role): the client's key was fine."""
    if status in (401, 403):
        return UpstreamAuthError()
    try:
        decoded = _envelope_decoder.decode(body)
    except msgspec.DecodeError:
        return UpstreamStatusError(status)
    if isinstance(decoded, list):
        if not decoded:
            return UpstreamStatusError(status)
        decoded = decoded[0]
    fields, retry_after = decoded.error, headers.get("retry-after")
    if decoded.type == "error" or fields.type:
        detail = AnthropicErrorDetail(type=fields.type or "api_error", message=fields.message)
        return AnthropicUpstreamError(status, detail, retry_after=retry_after)
    google = gemini_wire.ErrorDetail(
        code=fields.code or status, message=fields.message, status=fields.status, details=fields.details
    )
    return GeminiUpstreamError(status, google, retry_after=retry_after)
