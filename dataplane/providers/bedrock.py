"""The Amazon Bedrock adapter (kind `bedrock`), request side: an OpenAI chat request encoded as a Converse
request, the upstream call (`POST {base_url}/model/{modelId}/converse` or `/converse-stream`, SigV4-signed by
dataplane.providers.bedrock_auth), and the classification of Bedrock errors. Pure apart from the signature's
clock. The answer side is dataplane.providers.bedrock_decode.

Encoding (anything Converse cannot express is refused with a 400 naming the field, never dropped silently):
- system and developer messages → `system` text blocks (text only); user → role `user`; assistant → role
  `assistant`; tool messages → `toolResult` blocks in a `user` turn; neighbouring turns of one role are merged
  (Converse wants user and assistant to alternate, and parallel tool results in one turn);
- text parts → `text`; `data:image/{png,jpeg,gif,webp};base64,` URLs → `image` blocks with the bytes (also in
  tool results); any other image URL is refused: Bedrock takes bytes only and the gateway never fetches URLs;
- assistant `tool_calls` → `toolUse` blocks (the call id kept as `toolUseId`, empty arguments as `{}`);
- `tools` → `toolConfig.tools[].toolSpec` (no `parameters` → an empty object schema); `tool_choice` auto /
  required / named → `toolChoice` auto / any / tool; `none` (Converse has no such choice) → the tools are not
  sent, which Converse allows only while the conversation holds no tool calls: otherwise a 400;
- max_completion_tokens (or max_tokens), temperature, top_p, stop → `inferenceConfig`;
- `response_format` json_schema → `outputConfig.textFormat` (type `json_schema`, the schema as a JSON string,
  its name and description); json_object has no Converse equivalent and is refused;
- `n` > 1 is refused; `user` and `parallel_tool_calls` have no equivalent and are ignored.

Errors are classified from the `x-amzn-ErrorType` header (or the body's `__type`/`code`), never the message:
401/403 (AccessDenied, a bad signature, an unknown key) are the gateway's credentials refused; the rest is
relayed to the OpenAI client with Bedrock's status, an OpenAI type, and Bedrock's error type as `code`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from dataplane.config_state import ProviderCredentials
from dataplane.errors import (
    GatewayError,
    InvalidParameterError,
    UpstreamAuthError,
    UpstreamRelayedError,
)
from dataplane.providers import bedrock_auth
from dataplane.providers import bedrock_wire as wire
from dataplane.translate.openai_types import ChatMessage, ChatRequest, ContentPart, NamedToolChoice
from dataplane.upstream import UpstreamRequest

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
# Bedrock's documented exceptions (Converse and ConverseStream) → (HTTP status, OpenAI error type)
EXCEPTIONS: dict[str, tuple[int, str]] = {
    "ValidationException": (400, "invalid_request_error"),
    "ServiceQuotaExceededException": (400, "invalid_request_error"),
    "AccessDeniedException": (403, "permission_error"),
    "ResourceNotFoundException": (404, "invalid_request_error"),
    "ModelTimeoutException": (408, "api_error"),
    "ModelErrorException": (424, "api_error"),
    "ModelStreamErrorException": (424, "api_error"),
    "ThrottlingException": (429, "rate_limit_error"),
    "ModelNotReadyException": (429, "api_error"),
    "InternalServerException": (500, "api_error"),
    "ServiceUnavailableException": (503, "api_error"),
}
_CHOICES = {"auto": wire.ToolChoice(auto=wire.Empty()), "required": wire.ToolChoice(any=wire.Empty())}
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder()
_error_decoder = msgspec.json.Decoder(wire.ErrorBody)


class _JsonSchema(msgspec.Struct, frozen=True):
    name: str | None = None
    description: str | None = None
    schema: dict[str, Any] | None = None


class _ResponseFormat(msgspec.Struct, frozen=True):
    type: str
    json_schema: _JsonSchema | None = None


class _FormatView(msgspec.Struct, frozen=True):
    response_format: _ResponseFormat | None = None


_format_decoder = msgspec.json.Decoder(_FormatView)


def encode_request(request: ChatRequest, *, body: bytes) -> bytes:
    """The Converse body for an OpenAI chat request (`body` is its JSON, read again for a json_schema)."""
    return _encoder.encode(converse_request(request, body=body))


def converse_request(request: ChatRequest, *, body: bytes = b"{}") -> wire.ConverseRequest:
    if request.n is not None and request.n > 1:
        raise InvalidParameterError("Bedrock targets return one choice: `n` must be 1.", param="n")
    system: list[wire.SystemContentBlock] = []
    messages: list[wire.Message] = []
    for index, message in enumerate(request.messages):
        where = f"messages[{index}]"
        if message.role in ("system", "developer"):
            system.extend(wire.SystemContentBlock(text=text) for text in _system_texts(message, where) if text)
            continue
        role, blocks = _turn(message, where)
        if messages and messages[-1].role == role:
            messages[-1] = wire.Message(role=role, content=[*messages[-1].content, *blocks])
        else:
            messages.append(wire.Message(role=role, content=blocks))
    return wire.ConverseRequest(
        messages=messages,
        system=system or None,
        inference_config=_inference_config(request),
        tool_config=_tool_config(request, messages),
        output_config=_output_config(request, body),
    )


def _turn(message: ChatMessage, where: str) -> tuple[str, list[wire.ContentBlock]]:
    if message.role == "user":
        return "user", _blocks(message, where)
    if message.role == "assistant":
        blocks = _blocks(message, where, allow_images=False) if message.content else []
        for number, call in enumerate(message.tool_calls or []):
            arguments = _arguments(call.function.arguments, f"{where}.tool_calls[{number}].function.arguments")
            use = wire.ToolUseBlock(tool_use_id=call.id, name=call.function.name, input=arguments)
            blocks.append(wire.ContentBlock(tool_use=use))
        return "assistant", blocks
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidParameterError("A tool message needs its `tool_call_id`.", param=f"{where}.tool_call_id")
        result = wire.ToolResultBlock(tool_use_id=message.tool_call_id, content=_result_blocks(message, where))
        return "user", [wire.ContentBlock(tool_result=result)]
    raise InvalidParameterError(f"Unsupported role {message.role!r} for Bedrock targets.", param=f"{where}.role")


def _blocks(message: ChatMessage, where: str, *, allow_images: bool = True) -> list[wire.ContentBlock]:
    if message.content is None:
        return []
    if isinstance(message.content, str):
        return [wire.ContentBlock(text=message.content)]
    blocks = []
    for number, part in enumerate(message.content):
        place = f"{where}.content[{number}]"
        if part.type == "text":
            blocks.append(wire.ContentBlock(text=part.text or ""))
        elif part.type == "image_url" and allow_images:
            blocks.append(wire.ContentBlock(image=_image(part, place)))
        else:
            raise InvalidParameterError(f"Content parts of type {part.type!r} are not supported here.", param=place)
    return blocks


def _result_blocks(message: ChatMessage, where: str) -> list[wire.ToolResultContentBlock]:
    if message.content is None or isinstance(message.content, str):
        return [wire.ToolResultContentBlock(text=message.content or "")]
    blocks = []
    for number, part in enumerate(message.content):
        place = f"{where}.content[{number}]"
        if part.type == "text":
            blocks.append(wire.ToolResultContentBlock(text=part.text or ""))
        elif part.type == "image_url":
            blocks.append(wire.ToolResultContentBlock(image=_image(part, place)))
        else:
            raise InvalidParameterError(f"Tool results cannot hold parts of type {part.type!r}.", param=place)
    return blocks


def _system_texts(message: ChatMessage, where: str) -> list[str]:
    if message.content is None or isinstance(message.content, str):
        return [message.content or ""]
    texts = []
    for number, part in enumerate(message.content):
        if part.type != "text":
            raise InvalidParameterError("Bedrock system prompts take only text.", param=f"{where}.content[{number}]")
        texts.append(part.text or "")
    return texts


def _image(part: ContentPart, where: str) -> wire.ImageBlock:
    url = part.image_url.url if part.image_url is not None else ""
    if not url.startswith("data:"):
        raise InvalidParameterError(
            "Bedrock targets take image bytes only and the gateway does not fetch image URLs: send the image as a "
            "base64 `data:` URL.",
            param=where,
        )
    header, _, data = url.partition(",")
    mime_type, _, encoding = header[len("data:") :].partition(";")
    image_format = IMAGE_FORMATS.get(mime_type.lower())
    if encoding != "base64" or not data:
        raise InvalidParameterError("Image data URLs must be `data:<mime type>;base64,<data>`.", param=where)
    if image_format is None:
        raise InvalidParameterError("Bedrock takes PNG, JPEG, GIF and WebP images only.", param=where)
    return wire.ImageBlock(format=image_format, source=wire.ImageSource(bytes=data))


def _arguments(arguments: str, where: str) -> Any:
    if not arguments.strip():
        return {}
    try:
        return _any_decoder.decode(arguments)
    except msgspec.DecodeError:
        raise InvalidParameterError("Tool call arguments must be JSON.", param=where) from None


def _inference_config(request: ChatRequest) -> wire.InferenceConfiguration | None:
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    config = wire.InferenceConfiguration(
        max_tokens=request.max_completion_tokens or request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop_sequences=stop or None,
    )
    return config if config != wire.InferenceConfiguration() else None


def _tool_config(request: ChatRequest, messages: list[wire.Message]) -> wire.ToolConfiguration | None:
    choice = request.tool_choice
    if not request.tools:
        if choice is not None and choice != "none":
            raise InvalidParameterError("`tool_choice` needs `tools`.", param="tool_choice")
        return None
    if choice == "none":
        if any(block.tool_use or block.tool_result for message in messages for block in message.content):
            raise InvalidParameterError(
                "Bedrock has no tool_choice `none` and needs the tools while the conversation holds tool calls.",
                param="tool_choice",
            )
        return None
    tools = []
    for number, tool in enumerate(request.tools):
        if tool.type != "function":
            raise InvalidParameterError(f"Tools of type {tool.type!r} are not supported.", param=f"tools[{number}]")
        function = tool.function
        schema = wire.ToolInputSchema(json=function.parameters or _EMPTY_SCHEMA)
        spec = wire.ToolSpecification(name=function.name, input_schema=schema, description=function.description or None)
        tools.append(wire.Tool(tool_spec=spec))
    return wire.ToolConfiguration(tools=tools, tool_choice=_tool_choice(choice))


def _tool_choice(choice: str | NamedToolChoice | None) -> wire.ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, NamedToolChoice):
        return wire.ToolChoice(tool=wire.SpecificToolChoice(name=choice.function.name))
    if choice not in _CHOICES:
        raise InvalidParameterError(f"Unknown tool_choice {choice!r}.", param="tool_choice")
    return _CHOICES[choice]


def _output_config(request: ChatRequest, body: bytes) -> wire.OutputConfig | None:
    kind = request.response_format.type if request.response_format is not None else "text"
    if kind == "text":
        return None
    if kind == "json_object":
        raise InvalidParameterError(
            "Bedrock has no JSON mode: use `response_format` json_schema (structured output) instead.",
            param="response_format.type",
        )
    if kind != "json_schema":
        raise InvalidParameterError("Unknown response_format type.", param="response_format.type")
    try:
        view = _format_decoder.decode(body)
    except msgspec.DecodeError:
        view = _FormatView()
    definition = view.response_format.json_schema if view.response_format is not None else None
    if definition is None or definition.schema is None:
        raise InvalidParameterError("`response_format.json_schema.schema` is required.", param="response_format")
    schema = wire.JsonSchemaDefinition(
        schema=_encoder.encode(definition.schema).decode(), name=definition.name, description=definition.description
    )
    return wire.OutputConfig(text_format=wire.OutputFormat(structure=wire.OutputFormatStructure(json_schema=schema)))


def build_request(
    body: bytes,
    *,
    base_url: str,
    model: str,
    credentials: ProviderCredentials,
    stream: bool,
    timeout_seconds: float,
    connect_timeout_seconds: float,
) -> UpstreamRequest:
    """The signed upstream call for an encoded Converse body; the model (the deployment's) goes in the URL."""
    url = bedrock_auth.converse_url(base_url, model, stream=stream)
    accept = "application/vnd.amazon.eventstream" if stream else "application/json"
    headers = bedrock_auth.signed_headers(
        url,
        body,
        {"content-type": "application/json", "accept": accept},
        credentials=credentials,
        region=bedrock_auth.region_of(base_url),
    )
    return UpstreamRequest(
        url=url,
        headers=headers,
        body=body,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


class BedrockUpstreamError(UpstreamRelayedError):
    """A Bedrock error relayed to an OpenAI client: OpenAI error JSON whose `code` is Bedrock's error type
    (ThrottlingException, ValidationException, ...) and whose message is Bedrock's."""

    def __init__(self, status: int, error_type: str, message: str, *, retry_after: str | None = None) -> None:
        _, openai_type = EXCEPTIONS.get(error_type, (status, "api_error" if status >= 500 else "invalid_request_error"))
        code = error_type or None
        message = message or f"The upstream provider answered with HTTP {status}."
        body = _encoder.encode({"error": {"message": message, "type": openai_type, "param": None, "code": code}})
        super().__init__(status, body, code=code, retry_after=retry_after)
        self.message = message


def error_type(header: str | None, body: wire.ErrorBody) -> str:
    """The error's type as botocore reads it: `ValidationException:http://...` or `aws#ThrottlingException`
    keeps only `ValidationException` / `ThrottlingException`."""
    raw = header or body.type or body.code
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """From the status and the structured error type, never the message text."""
    if status in (401, 403):
        return UpstreamAuthError()
    try:
        detail = _error_decoder.decode(body)
    except msgspec.DecodeError:
        detail = wire.ErrorBody()
    kind = error_type(headers.get("x-amzn-errortype"), detail)
    return BedrockUpstreamError(status, kind, detail.message, retry_after=headers.get("retry-after"))


def stream_exception(exception_type: str, payload: bytes) -> GatewayError:
    """An exception event inside a ConverseStream (`:exception-type` is the union member name, such as
    `throttlingException`): the status is that of the exception it names (500 if unknown)."""
    kind = exception_type[:1].upper() + exception_type[1:]
    try:
        message = _error_decoder.decode(payload).message
    except msgspec.DecodeError:
        message = ""
    status, _ = EXCEPTIONS.get(kind, (500, "api_error"))
    if status in (401, 403):
        return UpstreamAuthError()
    return BedrockUpstreamError(status, kind, message)
