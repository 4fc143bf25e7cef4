"""Anthropic Messages request → OpenAI chat request, so `/v1/messages` can reach every target that is not
Anthropic (through the chat endpoint's attempt for its kind, dataplane.messages_translated). Anything OpenAI chat
cannot express is refused with a 400 naming the field (and the kind's own adapter refuses what its provider cannot
take), except the hints that only shape the answer: `thinking` and `output_config.effort` (no chat-completions
equivalent; dropped) and the `is_error` flag of a tool result (the text is sent as is).

- `system` → a leading system message; `tool_result` blocks → `tool` messages (before the rest of the turn);
- text and image blocks → content parts (base64 sources → `data:` URLs); `tool_use` → `tool_calls`;
- thinking blocks of earlier assistant turns are the model's own and are not replayed to another provider;
- `stop_sequences` → `stop`, `metadata.user_id` → `user`, `tool_choice` any → "required", tool → named,
  `disable_parallel_tool_use` → `parallel_tool_calls: false`; streams ask for `stream_options.include_usage`;
- structured output (`output_config.format`, or the beta's `output_format`) → `response_format` json_schema.
"""

from __future__ import annotations

import msgspec

from dataplane.anthropic_wire import Block, InputMessage, MessagesRequest, ToolChoice
from dataplane.errors import InvalidParameterError
from dataplane.translate.openai_types import (
    ChatMessage,
    ChatRequest,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImageUrl,
    NamedFunction,
    NamedToolChoice,
    ResponseFormat,
    StreamOptions,
    ToolCall,
    ToolDef,
)

_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_encoder = msgspec.json.Encoder()


def encode_request(request: MessagesRequest) -> bytes:
    return _encoder.encode(openai_request(request))


def openai_request(request: MessagesRequest) -> ChatRequest:
    if request.top_k is not None:
        raise InvalidParameterError("`top_k` is supported only by Anthropic targets.", param="top_k")
    messages: list[ChatMessage] = []
    if request.system:
        messages.append(ChatMessage(role="system", content=_system_text(request.system)))
    for index, message in enumerate(request.messages):
        messages.extend(_messages(message, f"messages[{index}]"))
    tools = None
    if request.tools:
        tools = []
        for number, tool in enumerate(request.tools):
            if tool.type not in (None, "custom"):
                raise InvalidParameterError(
                    f"Anthropic server tools ({tool.type}) are supported only by Anthropic targets.",
                    param=f"tools[{number}]",
                )
            tools.append(ToolDef(function=FunctionDef(tool.name, tool.description, tool.input_schema)))
    stream = bool(request.stream)
    return ChatRequest(
        model=request.model,
        messages=messages,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop=request.stop_sequences or None,
        stream=True if stream else None,
        stream_options=StreamOptions(include_usage=True) if stream else None,
        tools=tools,
        tool_choice=_tool_choice(request.tool_choice),
        parallel_tool_calls=_parallel(request.tool_choice) if tools else None,
        user=request.metadata.user_id if request.metadata is not None else None,
        response_format=_response_format(request),
    )


def _response_format(request: MessagesRequest) -> ResponseFormat | None:
    output_format, param = request.output_format, "output_format"
    if request.output_config is not None and request.output_config.format is not None:
        output_format, param = request.output_config.format, "output_config.format"
    if output_format is None:
        return None
    if output_format.type != "json_schema" or output_format.schema is None:
        raise InvalidParameterError(
            f"Only `json_schema` output formats with a `schema` can be translated, not {output_format.type!r}.",
            param=param,
        )
    return ResponseFormat(type="json_schema", json_schema={"name": "output", "schema": output_format.schema})


def _system_text(system: str | list[Block]) -> str:
    if isinstance(system, str):
        return system
    return "\n\n".join(block.text or "" for block in system if block.type == "text")


def _tool_choice(choice: ToolChoice | None) -> str | NamedToolChoice | None:
    if choice is None:
        return None
    if choice.type == "tool" and choice.name:
        return NamedToolChoice(function=NamedFunction(name=choice.name))
    if choice.type not in _CHOICES:
        raise InvalidParameterError(f"Unknown tool_choice type {choice.type!r}.", param="tool_choice")
    return _CHOICES[choice.type]


def _parallel(choice: ToolChoice | None) -> bool | None:
    return False if choice is not None and choice.disable_parallel_tool_use else None


def _messages(message: InputMessage, param: str) -> list[ChatMessage]:
    if message.role not in ("user", "assistant"):
        raise InvalidParameterError(f"Unsupported role {message.role!r}.", param=f"{param}.role")
    if isinstance(message.content, str):
        return [ChatMessage(role=message.role, content=message.content)]
    if message.role == "assistant":
        return [_assistant(message.content, param)]
    results: list[ChatMessage] = []
    parts: list[ContentPart] = []
    for number, block in enumerate(message.content):
        where = f"{param}.content[{number}]"
        if block.type == "tool_result":
            results.append(ChatMessage(role="tool", tool_call_id=block.tool_use_id, content=_result_text(block, where)))
        else:
            parts.append(_part(block, where))
    if parts:
        results.append(ChatMessage(role="user", content=parts))
    return results


def _assistant(blocks: list[Block], param: str) -> ChatMessage:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for number, block in enumerate(blocks):
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            arguments = _encoder.encode(block.input if block.input is not None else {}).decode()
            calls.append(ToolCall(id=block.id or "", function=FunctionCall(name=block.name or "", arguments=arguments)))
        elif block.type not in _DROPPED_BLOCKS:
            raise _unsupported(block, f"{param}.content[{number}]")
    return ChatMessage(role="assistant", content="".join(texts) or None, tool_calls=calls or None)


def _part(block: Block, param: str) -> ContentPart:
    if block.type == "text":
        return ContentPart(type="text", text=block.text or "")
    if block.type == "image" and block.source is not None:
        source = block.source
        if source.type == "base64" and source.media_type and source.data is not None:
            return ContentPart(
                type="image_url", image_url=ImageUrl(url=f"data:{source.media_type};base64,{source.data}")
            )
        if source.type == "url" and source.url:
            return ContentPart(type="image_url", image_url=ImageUrl(url=source.url))
    raise _unsupported(block, param)


def _result_text(block: Block, param: str) -> str:
    content = block.content
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for number, part in enumerate(content):
        if part.type != "text":
            raise InvalidParameterError(
                "Targets other than Anthropic take only text in tool results.", param=f"{param}.content[{number}]"
            )
        texts.append(part.text or "")
    return "\n".join(texts)


def _unsupported(block: Block, param: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Content blocks of type {block.type!r} are supported only by Anthropic targets.", param=param
    )
