"""The Cohere adapter (kind `cohere`), request side: an OpenAI chat request encoded as a v2 Chat request, the
upstream call (`POST {base_url}/v2/chat`, Bearer key), and the classification of Cohere errors. Pure: no I/O.
The answer side is dataplane.providers.cohere_decode.

Encoding (anything Cohere cannot express is refused with a 400 naming the field):
- system/developer, user, assistant and tool messages keep their roles; text and image parts keep their shape
  (Cohere's vision models take `image_url` parts, by URL or base64 `data:` URL); assistant `tool_calls` and
  tool results (`tool_call_id`) keep theirs;
- `tools` keep their shape; `tool_choice` required → REQUIRED, none → NONE, auto → unset; a named choice →
  REQUIRED with only that tool offered (Cohere has no named choice; this is the same constraint);
- max_completion_tokens (or max_tokens) → `max_tokens`, top_p → `p`, stop → `stop_sequences`, temperature as is;
  `response_format` json_object → `json_object`, json_schema → `json_object` with its `json_schema`;
- `n` > 1 is refused; `user` and `parallel_tool_calls` have no equivalent.

Errors: Cohere's error body is `{"message": ...}` with no machine-readable code, so errors are classified by
status alone: 401 and 498 (invalid token) are the gateway's key refused; the rest is relayed to the OpenAI
client with its status, an OpenAI type and a code named after the status (`too_many_requests`, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from dataplane.errors import (
    GatewayError,
    InvalidParameterError,
    UpstreamAuthError,
    UpstreamRelayedError,
    UpstreamStatusError,
)
from dataplane.providers import cohere_wire as wire
from dataplane.routing import Target
from dataplane.translate.openai_types import ChatMessage, ChatRequest, NamedToolChoice
from dataplane.upstream import UpstreamRequest

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_CHOICES = {"required": "REQUIRED", "none": "NONE"}
# Cohere's documented error statuses (https://docs.cohere.com/reference/errors) → (OpenAI type, code)
ERROR_STATUSES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "bad_request"),
    402: ("insufficient_quota", "payment_required"),
    404: ("invalid_request_error", "not_found"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "too_many_requests"),
    499: ("api_error", "client_closed_request"),
    500: ("api_error", "internal_server_error"),
    501: ("api_error", "not_implemented"),
    503: ("api_error", "service_unavailable"),
    504: ("api_error", "gateway_timeout"),
}
KEY_REFUSED_STATUSES = frozenset({401, 403, 498})

_encoder = msgspec.json.Encoder()
_error_decoder = msgspec.json.Decoder(wire.ErrorBody)


class _JsonSchema(msgspec.Struct, frozen=True):
    schema: dict[str, Any] | None = None


class _ResponseFormat(msgspec.Struct, frozen=True):
    type: str
    json_schema: _JsonSchema | None = None


class _FormatView(msgspec.Struct, frozen=True):
    response_format: _ResponseFormat | None = None


_format_decoder = msgspec.json.Decoder(_FormatView)


def encode_request(request: ChatRequest, *, body: bytes, model: str, stream: bool) -> bytes:
    """The v2 Chat body for an OpenAI chat request (`body` is its JSON, read again for a json_schema)."""
    return _encoder.encode(cohere_request(request, body=body, model=model, stream=stream))


def cohere_request(request: ChatRequest, *, body: bytes = b"{}", model: str, stream: bool) -> wire.ChatRequest:
    if request.n is not None and request.n > 1:
        raise InvalidParameterError("Cohere targets return one choice: `n` must be 1.", param="n")
    tools = [
        wire.Tool(function=wire.FunctionDef(t.function.name, t.function.description, t.function.parameters))
        for t in request.tools or []
    ]
    tool_choice = None
    if isinstance(request.tool_choice, NamedToolChoice):
        name = request.tool_choice.function.name
        tools = [tool for tool in tools if tool.function.name == name]
        if not tools:
            raise InvalidParameterError(f"tool_choice names {name!r}, which is not in `tools`.", param="tool_choice")
        tool_choice = "REQUIRED"
    elif request.tool_choice is not None and request.tool_choice != "auto":
        if request.tool_choice not in _CHOICES:
            raise InvalidParameterError(f"Unknown tool_choice {request.tool_choice!r}.", param="tool_choice")
        tool_choice = _CHOICES[request.tool_choice]
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    return wire.ChatRequest(
        model=model,
        messages=[_message(message, f"messages[{n}]") for n, message in enumerate(request.messages)],
        stream=stream,
        tools=tools or None,
        tool_choice=tool_choice,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        stop_sequences=stop or None,
        temperature=request.temperature,
        p=request.top_p,
        response_format=_response_format(request, body),
    )


def _message(message: ChatMessage, where: str) -> wire.Message:
    role = _ROLES.get(message.role)
    if role is None:
        raise InvalidParameterError(f"Unsupported role {message.role!r} for Cohere targets.", param=f"{where}.role")
    content: str | list[wire.ContentPart] | None
    if message.content is None or isinstance(message.content, str):
        content = message.content
    else:
        content = []
        for number, part in enumerate(message.content):
            if part.type == "text":
                content.append(wire.ContentPart(type="text", text=part.text or ""))
            elif part.type == "image_url" and part.image_url is not None and role == "user":
                image = wire.ImageUrl(url=part.image_url.url, detail=part.image_url.detail)
                content.append(wire.ContentPart(type="image_url", image_url=image))
            else:
                raise InvalidParameterError(
                    f"Content parts of type {part.type!r} are not supported here by Cohere.",
                    param=f"{where}.content[{number}]",
                )
    calls = [
        wire.ToolCall(
            id=call.id,
            type="function",
            function=wire.ToolCallFunction(name=call.function.name, arguments=call.function.arguments or "{}"),
        )
        for call in message.tool_calls or []
    ]
    return wire.Message(role=role, content=content, tool_calls=calls or None, tool_call_id=message.tool_call_id)


def _response_format(request: ChatRequest, body: bytes) -> wire.ResponseFormat | None:
    if request.response_format is None or request.response_format.type == "text":
        return None
    if request.response_format.type == "json_object":
        return wire.ResponseFormat(type="json_object")
    if request.response_format.type != "json_schema":
        raise InvalidParameterError("Unknown response_format type.", param="response_format.type")
    try:
        view = _format_decoder.decode(body)
    except msgspec.DecodeError:
        view = _FormatView()
    schema = view.response_format.json_schema if view.response_format is not None else None
    if schema is None or schema.schema is None:
        raise InvalidParameterError("`response_format.json_schema.schema` is required.", param="response_format")
    return wire.ResponseFormat(type="json_object", json_schema=schema.schema)


def chat_url(base_url: str) -> str:
    """`{base_url}/v2/chat`; a base URL that already ends in `/v2` keeps it."""
    base = base_url.rstrip("/")
    return f"{base}/chat" if base.endswith("/v2") else f"{base}/v2/chat"


def build_request(
    body: bytes, *, target: Target, stream: bool, timeout_seconds: float, connect_timeout_seconds: float
) -> UpstreamRequest:
    headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
    if target.credentials.api_key:
        headers["authorization"] = f"Bearer {target.credentials.api_key}"
    return UpstreamRequest(
        url=chat_url(target.provider.base_url),
        headers=headers,
        body=body,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


class CohereUpstreamError(UpstreamRelayedError):
    """A Cohere error relayed to an OpenAI client with its status, Cohere's message, and an OpenAI type and
    code from the status."""

    def __init__(self, status: int, message: str, *, retry_after: str | None = None) -> None:
        fallback = ("api_error", "upstream_error") if status >= 500 else ("invalid_request_error", "upstream_error")
        openai_type, code = ERROR_STATUSES.get(status, fallback)
        body = _encoder.encode({"error": {"message": message, "type": openai_type, "param": None, "code": code}})
        super().__init__(status, body, code=code, retry_after=retry_after)
        self.message = message or self.message


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    if status in KEY_REFUSED_STATUSES:
        return UpstreamAuthError()
    try:
        error = _error_decoder.decode(body)
    except msgspec.DecodeError:
        return UpstreamStatusError(status)
    return CohereUpstreamError(status, error.message, retry_after=headers.get("retry-after"))
