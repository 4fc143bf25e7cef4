"""The Google Gemini adapter (kind `gemini`), request side: an OpenAI chat request encoded as a Gemini
GenerateContentRequest, the upstream call (`x-goog-api-key`, `:generateContent` or
`:streamGenerateContent?alt=sse`), and the classification of Gemini errors. Pure: no I/O. The answer side is
dataplane.providers.gemini_decode.

Encoding (anything Gemini cannot express is refused with a 400 naming the field, never dropped silently):
- system and developer messages → `systemInstruction`; user → role `user`; assistant → role `model`;
- text parts → `text`; `data:` image URLs → `inlineData`; `gs://` and Gemini Files API URIs → `fileData`;
  other image URLs are refused (Gemini does not fetch arbitrary URLs);
- assistant `tool_calls` → `functionCall` parts (arguments parsed as JSON), the first of each turn carrying the
  documented placeholder thought signature (`SKIP_SIGNATURE`): Gemini 3 refuses replayed function calls without
  one, and an OpenAI client cannot keep Gemini's own; `tool` messages → `functionResponse`
  parts in a `user` turn, named after the call they answer (a JSON object result is sent as is, anything else as
  `{"result": ...}`);
- `tools` → one `functionDeclarations` tool; `tool_choice` auto/none/required/named → `toolConfig` AUTO/NONE/ANY/
  ANY with `allowedFunctionNames`;
- temperature, top_p, max_completion_tokens (or max_tokens), stop → `generationConfig`; `response_format`
  json_object → `responseMimeType: application/json`, json_schema → that plus `responseJsonSchema`;
- `n` > 1 is refused (one candidate is asked for); `user` and `parallel_tool_calls` have no equivalent."""

from __future__ import annotations

import mimetypes
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
from dataplane.providers import gemini_wire as wire
from dataplane.routing import Target
from dataplane.translate.openai_types import ChatMessage, ChatRequest, ContentPart, NamedToolChoice
from dataplane.upstream import UpstreamRequest

API_VERSION_PATH = "/v1beta"
FILES_API_PREFIX = "https://generativelanguage.googleapis.com/"
# the placeholder Google documents for function calls whose real signature is not available
# (https://ai.google.dev/gemini-api/docs/thought-signatures)
SKIP_SIGNATURE = "skip_thought_signature_validator"

# Gemini's `error.status` (google.rpc.Code) → OpenAI error type, for the body an OpenAI client gets
ERROR_TYPES: dict[str, str] = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "invalid_request_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "CANCELLED": "api_error",
    "INTERNAL": "api_error",
    "UNAVAILABLE": "api_error",
    "DEADLINE_EXCEEDED": "api_error",
}
# ErrorInfo reasons that say the gateway's key is wrong (Gemini answers a bad key with 400 INVALID_ARGUMENT)
KEY_REFUSED_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})

_encoder = msgspec.json.Encoder()
_arguments_decoder = msgspec.json.Decoder(dict[str, Any])
_any_decoder = msgspec.json.Decoder()
_error_decoder = msgspec.json.Decoder(wire.ErrorEnvelope)
_CHOICES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


class _JsonSchema(msgspec.Struct, frozen=True):
    schema: dict[str, Any] | None = None


class _ResponseFormat(msgspec.Struct, frozen=True):
    type: str
    json_schema: _JsonSchema | None = None


class _FormatView(msgspec.Struct, frozen=True):
    response_format: _ResponseFormat | None = None


_format_decoder = msgspec.json.Decoder(_FormatView)


def encode_request(request: ChatRequest, *, body: bytes) -> bytes:
    """The Gemini request body for an OpenAI chat request (`body` is its JSON, read again for a json_schema)."""
    return _encoder.encode(gemini_request(request, body=body))


def gemini_request(request: ChatRequest, *, body: bytes = b"{}") -> wire.GenerateContentRequest:
    if request.n is not None and request.n > 1:
        raise InvalidParameterError("Gemini targets return one choice: `n` must be 1.", param="n")
    system: list[wire.Part] = []
    contents: list[wire.Content] = []
    call_names: dict[str, str] = {}  # tool call id → function name, for the tool results that answer them
    for index, message in enumerate(request.messages):
        where = f"messages[{index}]"
        if message.role in ("system", "developer"):
            system.extend(_parts(message, where, allow_images=False))
            continue
        role, parts = _turn(message, where, call_names)
        if contents and contents[-1].role == role:  # Gemini wants alternating turns: merge neighbours
            contents[-1] = wire.Content(parts=[*contents[-1].parts, *parts], role=role)
        else:
            contents.append(wire.Content(parts=parts, role=role))
    return wire.GenerateContentRequest(
        contents=contents,
        system_instruction=wire.Content(parts=system) if system else None,
        tools=_tools(request),
        tool_config=_tool_config(request.tool_choice),
        generation_config=_generation_config(request, body),
    )


def _turn(message: ChatMessage, where: str, call_names: dict[str, str]) -> tuple[str, list[wire.Part]]:
    if message.role == "user":
        return "user", _parts(message, where, allow_images=True)
    if message.role == "assistant":
        parts = _parts(message, where, allow_images=False) if message.content else []
        for number, call in enumerate(message.tool_calls or []):
            call_names[call.id] = call.function.name
            arguments = _arguments(call.function.arguments, f"{where}.tool_calls[{number}].function.arguments")
            function_call = wire.FunctionCall(name=call.function.name, args=arguments)
            parts.append(wire.Part(function_call=function_call, thought_signature=None if number else SKIP_SIGNATURE))
        return "model", parts
    if message.role == "tool":
        name = call_names.get(message.tool_call_id or "")
        if name is None:
            raise InvalidParameterError(
                "A tool message must answer a tool call of an earlier assistant message.", param=f"{where}.tool_call_id"
            )
        result = _result(_text(message, where))
        return "user", [wire.Part(function_response=wire.FunctionResponse(name=name, response=result))]
    raise InvalidParameterError(f"Unsupported role {message.role!r} for Gemini targets.", param=f"{where}.role")


def _parts(message: ChatMessage, where: str, *, allow_images: bool) -> list[wire.Part]:
    if message.content is None:
        return []
    if isinstance(message.content, str):
        return [wire.Part(text=message.content)]
    return [_part(part, f"{where}.content[{n}]", allow_images) for n, part in enumerate(message.content)]


def _part(part: ContentPart, where: str, allow_images: bool) -> wire.Part:
    if part.type == "text":
        return wire.Part(text=part.text or "")
    if part.type == "image_url" and part.image_url is not None and allow_images:
        return _image(part.image_url.url, where)
    raise InvalidParameterError(f"Content parts of type {part.type!r} are not supported here by Gemini.", param=where)


def _image(url: str, where: str) -> wire.Part:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime_type, _, encoding = header[len("data:") :].partition(";")
        if encoding != "base64" or not mime_type or not data:
            raise InvalidParameterError("Image data URLs must be `data:<mime type>;base64,<data>`.", param=where)
        return wire.Part(inline_data=wire.Blob(mime_type=mime_type, data=data))
    if url.startswith("gs://") or url.startswith(FILES_API_PREFIX):
        guessed, _ = mimetypes.guess_type(url)
        return wire.Part(file_data=wire.FileData(file_uri=url, mime_type=guessed))
    raise InvalidParameterError(
        "Gemini targets do not fetch image URLs: send the image as a base64 `data:` URL, or a gs:// or Gemini Files "
        "API URI.",
        param=where,
    )


def _text(message: ChatMessage, where: str) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for number, part in enumerate(message.content):
        if part.type != "text":
            raise InvalidParameterError("Gemini tool results take only text.", param=f"{where}.content[{number}]")
        texts.append(part.text or "")
    return "".join(texts)


def _arguments(arguments: str, where: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        return _arguments_decoder.decode(arguments)
    except msgspec.DecodeError:
        raise InvalidParameterError("Tool call arguments must be a JSON object.", param=where) from None


def _result(text: str) -> dict[str, Any]:
    try:
        value = _any_decoder.decode(text)
    except msgspec.DecodeError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _tools(request: ChatRequest) -> list[wire.Tool] | None:
    if not request.tools:
        return None
    declarations = []
    for number, tool in enumerate(request.tools):
        if tool.type != "function":
            raise InvalidParameterError(
                f"Tools of type {tool.type!r} are not supported by Gemini.", param=f"tools[{number}]"
            )
        function = tool.function
        declarations.append(wire.FunctionDeclaration(function.name, function.description, function.parameters))
    return [wire.Tool(function_declarations=declarations)]


def _tool_config(choice: str | NamedToolChoice | None) -> wire.ToolConfig | None:
    if choice is None:
        return None
    if isinstance(choice, NamedToolChoice):
        config = wire.FunctionCallingConfig(mode="ANY", allowed_function_names=[choice.function.name])
        return wire.ToolConfig(function_calling_config=config)
    if choice not in _CHOICES:
        raise InvalidParameterError(f"Unknown tool_choice {choice!r}.", param="tool_choice")
    return wire.ToolConfig(function_calling_config=wire.FunctionCallingConfig(mode=_CHOICES[choice]))


def _generation_config(request: ChatRequest, body: bytes) -> wire.GenerationConfig | None:
    mime_type, schema = None, None
    if request.response_format is not None and request.response_format.type != "text":
        if request.response_format.type not in ("json_object", "json_schema"):
            raise InvalidParameterError("Unknown response_format type.", param="response_format.type")
        mime_type = "application/json"
        if request.response_format.type == "json_schema":
            schema = _json_schema(body)
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    config = wire.GenerationConfig(
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_completion_tokens or request.max_tokens,
        stop_sequences=stop or None,
        response_mime_type=mime_type,
        response_json_schema=schema,
    )
    return config if config != wire.GenerationConfig() else None


def _json_schema(body: bytes) -> dict[str, Any]:
    try:
        view = _format_decoder.decode(body)
    except msgspec.DecodeError:
        view = _FormatView()
    if view.response_format is None or view.response_format.json_schema is None:
        raise InvalidParameterError("`response_format.json_schema.schema` is required.", param="response_format")
    schema = view.response_format.json_schema.schema
    if schema is None:
        raise InvalidParameterError("`response_format.json_schema.schema` is required.", param="response_format")
    return schema


def models_url(base_url: str) -> str:
    """`{base_url}/v1beta/models`; a base URL that already ends in an API version keeps it."""
    base = base_url.rstrip("/")
    if not (base.endswith("/v1beta") or base.endswith("/v1")):
        base += API_VERSION_PATH
    return f"{base}/models"


def build_request(
    body: bytes, *, target: Target, stream: bool, timeout_seconds: float, connect_timeout_seconds: float
) -> UpstreamRequest:
    """The upstream call for an encoded Gemini body; the model (the deployment's) goes in the URL."""
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
    if target.credentials.api_key:
        headers["x-goog-api-key"] = target.credentials.api_key
    return UpstreamRequest(
        url=f"{models_url(target.provider.base_url)}/{target.deployment.model}:{method}",
        headers=headers,
        body=body,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


class GeminiUpstreamError(UpstreamRelayedError):
    """A Gemini error relayed to an OpenAI client with its status: OpenAI error JSON whose `code` is Gemini's
    `status` (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...) and whose message is Gemini's."""

    def __init__(self, status: int, detail: wire.ErrorDetail, *, retry_after: str | None = None) -> None:
        code = detail.status or None
        openai_type = ERROR_TYPES.get(detail.status, "api_error" if status >= 500 else "invalid_request_error")
        body = _encoder.encode({"error": {"message": detail.message, "type": openai_type, "param": None, "code": code}})
        super().__init__(status, body, code=code, retry_after=retry_after)
        self.message = detail.message or self.message


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """From the status and the structured `error.status` / ErrorInfo `reason`, never the message text."""
    if status in (401, 403):
        return UpstreamAuthError()
    try:
        detail = _error_decoder.decode(body).error
    except msgspec.DecodeError:
        return UpstreamStatusError(status)
    if any(item.get("reason") in KEY_REFUSED_REASONS for item in detail.details):
        return UpstreamAuthError()
    return GeminiUpstreamError(status, detail, retry_after=headers.get("retry-after"))


def stream_error(detail: wire.ErrorDetail) -> GatewayError:
    """An error event inside a stream: the status is the one its `code` says (500 if none)."""
    status = detail.code if 400 <= detail.code <= 599 else 500
    return GeminiUpstreamError(status, detail)
