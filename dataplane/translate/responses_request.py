"""A Responses API request → an OpenAI chat-completions request, for targets that speak only chat. Pure.

- `instructions` → a first `system` message; `developer` and `system` input messages → `system`.
- `input` as a string → one `user` message. Input items: messages (`input_text`/`output_text` → text parts,
  `input_image` by URL or data URL → `image_url` parts); `function_call` items → the `tool_calls` of one assistant
  message (consecutive calls share it, as parallel calls do); `function_call_output` → a `tool` message (text, or
  text and image parts).
- `tools` of type `function` → chat function tools (`strict` kept); `tool_choice` "auto"/"none"/"required" as is,
  `{"type": "function", "name": ...}` → the chat named choice; `parallel_tool_calls` as is.
- `text.format` json_object → `response_format` json_object; json_schema → `response_format` json_schema.
- `max_output_tokens` → `max_tokens` (`max_completion_tokens` where the target wants it), `temperature`, `top_p`,
  `user`, `reasoning.effort` → `reasoning_effort`; `stream` → `stream` with `stream_options.include_usage`.

Refused with a 400 (never silently dropped), because they need state or tools the gateway does not have:
`previous_response_id`, `conversation`, `store: true`, `background: true`, `prompt` templates, built-in tools and
tool choices (web search, file search, MCP, ...), `include`, `truncation: "auto"`, `top_logprobs`, reasoning
summaries, `input_file`/`input_audio` parts, image file ids, and input items other than the three above
(reasoning items, item references, built-in tool calls). Images in function call outputs are refused for targets
reached through OpenAI's chat protocol (`refuse_tool_output_images`), whose tool messages hold text only."""

from __future__ import annotations

from typing import Any

import msgspec

from dataplane.errors import InvalidParameterError, InvalidRequestError, MalformedJsonError
from dataplane.responses_wire import FunctionTool, InputItem, InputPart, ResponsesRequest, TextFormat
from dataplane.translate.openai_types import ChatMessage, ContentPart, FunctionCall, ImageUrl, ToolCall

_request_decoder = msgspec.json.Decoder(ResponsesRequest)
_encoder = msgspec.json.Encoder()
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_SYSTEM_ROLES = frozenset({"system", "developer"})


class ChatFunction(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatTool(msgspec.Struct, frozen=True):
    function: ChatFunction
    type: str = "function"


class JsonSchemaFormat(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ChatResponseFormat(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    json_schema: JsonSchemaFormat | None = None


class NamedFunction(msgspec.Struct, frozen=True):
    name: str


class ChatNamedToolChoice(msgspec.Struct, frozen=True):
    function: NamedFunction
    type: str = "function"


class IncludeUsage(msgspec.Struct, frozen=True):
    include_usage: bool = True


class TranslatedChat(msgspec.Struct, frozen=True, omit_defaults=True):
    """The chat request a Responses request becomes."""

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    stream_options: IncludeUsage | None = None
    tools: list[ChatTool] | None = None
    tool_choice: str | ChatNamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ChatResponseFormat | None = None
    reasoning_effort: str | None = None
    user: str | None = None


def decode_request(body: bytes) -> ResponsesRequest:
    try:
        return _request_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidParameterError(f"Invalid request: {exc}.") from None
    except msgspec.DecodeError:
        raise MalformedJsonError() from None


def encode(chat: TranslatedChat) -> bytes:
    return _encoder.encode(chat)


def chat_request(request: ResponsesRequest, *, completion_tokens_field: bool = False) -> TranslatedChat:
    """The chat request for `request`, or InvalidRequestError naming the first feature it cannot carry.
    `completion_tokens_field` puts the output limit in `max_completion_tokens` instead of `max_tokens`."""
    refuse_stateful(request)
    messages = [ChatMessage(role="system", content=request.instructions)] if request.instructions else []
    if isinstance(request.input, str):
        messages.append(ChatMessage(role="user", content=request.input))
    else:
        messages.extend(_messages(request.input))
    if not messages:
        raise InvalidParameterError("`input` has no items.", param="input")
    limit = request.max_output_tokens
    return TranslatedChat(
        model=request.model,
        messages=messages,
        max_tokens=None if completion_tokens_field else limit,
        max_completion_tokens=limit if completion_tokens_field else None,
        temperature=request.temperature,
        top_p=request.top_p,
        stream=True if request.stream else None,
        stream_options=IncludeUsage() if request.stream else None,
        tools=[_tool(tool, i) for i, tool in enumerate(request.tools)] if request.tools else None,
        tool_choice=_tool_choice(request),
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format(request.text.format if request.text else None),
        reasoning_effort=_reasoning_effort(request),
        user=request.user,
    )


def refuse_stateful(request: ResponsesRequest) -> None:
    """The request-level features that need stored state or server-side work the gateway does not do."""
    refusals = [
        (request.previous_response_id is not None, "previous_response_id", "`previous_response_id` (stored state)"),
        (request.conversation is not None, "conversation", "`conversation` (stored state)"),
        (request.store is True, "store", "`store: true`; send `store: false` and the whole conversation in `input`"),
        (request.background is True, "background", "`background` responses"),
        (request.prompt is not None, "prompt", "stored `prompt` templates"),
        (bool(request.include), "include", "`include`"),
        (request.truncation == "auto", "truncation", '`truncation: "auto"`'),
        (bool(request.top_logprobs), "top_logprobs", "`top_logprobs`"),
    ]
    for refused, param, what in refusals:
        if refused:
            raise _unsupported(what, param)


def refuse_tool_output_images(request: ResponsesRequest) -> None:
    """Images in `function_call_output` items: a chat `tool` message holds text only in OpenAI's protocol, so a
    target reached through it (the OpenAI-compatible family, Azure) cannot take them. Refused, never dropped."""
    if isinstance(request.input, str):
        return
    for index, item in enumerate(request.input):
        if item.type != "function_call_output" or not isinstance(item.output, list):
            continue
        for number, part in enumerate(item.output):
            if part.type not in ("input_text", "output_text"):
                raise InvalidRequestError(
                    "Targets that speak OpenAI chat completions take only text in `function_call_output` items.",
                    param=f"input[{index}].output[{number}]",
                )


def _unsupported(what: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(f"This model does not support {what} through the Responses API.", param=param)


def _messages(items: list[InputItem]) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    for index, item in enumerate(items):
        if item.type == "message":
            messages.append(_message(item, index))
        elif item.type == "function_call":
            call = ToolCall(
                id=_required(item.call_id, f"input[{index}].call_id"),
                function=FunctionCall(
                    name=_required(item.name, f"input[{index}].name"), arguments=item.arguments or ""
                ),
            )
            previous = messages[-1] if messages else None
            if previous is not None and previous.role == "assistant" and previous.tool_calls is not None:
                messages[-1] = msgspec.structs.replace(previous, tool_calls=[*previous.tool_calls, call])
            else:
                messages.append(ChatMessage(role="assistant", content=None, tool_calls=[call]))
        elif item.type == "function_call_output":
            output = item.output if item.output is not None else ""
            content = output if isinstance(output, str) else _parts(output, f"input[{index}].output")
            messages.append(
                ChatMessage(
                    role="tool", content=content, tool_call_id=_required(item.call_id, f"input[{index}].call_id")
                )
            )
        else:
            raise _unsupported(f"input items of type `{item.type}`", f"input[{index}].type")
    return messages


def _message(item: InputItem, index: int) -> ChatMessage:
    role = _required(item.role, f"input[{index}].role")
    if role not in ("user", "assistant", *_SYSTEM_ROLES):
        raise InvalidParameterError(f"Unknown message role `{role}`.", param=f"input[{index}].role")
    role = "system" if role in _SYSTEM_ROLES else role
    content = item.content if item.content is not None else ""
    if isinstance(content, str):
        return ChatMessage(role=role, content=content)
    parts = _parts(content, f"input[{index}].content")
    if role != "user":  # system and assistant messages carry text only
        if any(part.type != "text" for part in parts):
            raise _unsupported(f"images in `{item.role}` messages", f"input[{index}].content")
        return ChatMessage(role=role, content="".join(part.text or "" for part in parts))
    return ChatMessage(role=role, content=parts)


def _parts(parts: list[InputPart], param: str) -> list[ContentPart]:
    converted: list[ContentPart] = []
    for index, part in enumerate(parts):
        where = f"{param}[{index}]"
        if part.type in ("input_text", "output_text"):
            converted.append(ContentPart(type="text", text=part.text or ""))
        elif part.type == "refusal":
            converted.append(ContentPart(type="text", text=part.refusal or ""))
        elif part.type == "input_image":
            if part.image_url is None:
                raise _unsupported("images by `file_id`; send `image_url`", f"{where}.file_id")
            converted.append(ContentPart(type="image_url", image_url=ImageUrl(url=part.image_url, detail=part.detail)))
        else:
            raise _unsupported(f"content parts of type `{part.type}`", f"{where}.type")
    return converted


def _tool(tool: FunctionTool, index: int) -> ChatTool:
    if tool.type != "function":
        raise _unsupported(f"the built-in tool `{tool.type}`", f"tools[{index}].type")
    name = _required(tool.name, f"tools[{index}].name")
    return ChatTool(
        function=ChatFunction(name=name, description=tool.description, parameters=tool.parameters, strict=tool.strict)
    )


def _tool_choice(request: ResponsesRequest) -> str | ChatNamedToolChoice | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise InvalidParameterError(f"Unknown tool_choice `{choice}`.", param="tool_choice")
        return choice
    if choice.type != "function":
        raise _unsupported(f"tool_choice of type `{choice.type}`", "tool_choice.type")
    return ChatNamedToolChoice(function=NamedFunction(name=_required(choice.name, "tool_choice.name")))


def _response_format(text_format: TextFormat | None) -> ChatResponseFormat | None:
    if text_format is None or text_format.type == "text":
        return None
    if text_format.type == "json_object":
        return ChatResponseFormat(type="json_object")
    if text_format.type == "json_schema":
        schema = JsonSchemaFormat(
            name=_required(text_format.name, "text.format.name"),
            schema=text_format.schema,
            description=text_format.description,
            strict=text_format.strict,
        )
        return ChatResponseFormat(type="json_schema", json_schema=schema)
    raise InvalidParameterError(f"Unknown text.format type `{text_format.type}`.", param="text.format.type")


def _reasoning_effort(request: ResponsesRequest) -> str | None:
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if reasoning.summary is not None or reasoning.generate_summary is not None:
        raise _unsupported("reasoning summaries", "reasoning.summary")
    return reasoning.effort


def _required(value: str | None, param: str) -> str:
    if value is None:
        raise InvalidParameterError(f"Missing required parameter: '{param}'.", param=param)
    return value
