"""The Cohere v2 Chat API (`POST /v2/chat`) shapes the Cohere adapter writes and reads: the request, the
response, the stream events and the error body. Decoding ignores unknown fields; encoding omits what is unset.
Reference: https://docs.cohere.com/reference/chat, https://docs.cohere.com/reference/chat-stream."""

from __future__ import annotations

from typing import Any

import msgspec


class ImageUrl(msgspec.Struct, frozen=True, omit_defaults=True):
    url: str
    detail: str | None = None


class ContentPart(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str  # "text", "image_url"
    text: str | None = None
    image_url: ImageUrl | None = None


class ToolCallFunction(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str | None = None
    type: str | None = None
    function: ToolCallFunction | None = None


class Message(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str  # system, user, assistant, tool
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDef(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(msgspec.Struct, frozen=True):
    function: FunctionDef
    type: str = "function"


class ResponseFormat(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str  # "text" or "json_object"
    json_schema: dict[str, Any] | None = None


class ChatRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    messages: list[Message]
    stream: bool = False
    tools: list[Tool] | None = None
    tool_choice: str | None = None  # REQUIRED or NONE; unset lets the model choose
    max_tokens: int | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    p: float | None = None
    response_format: ResponseFormat | None = None


class Tokens(msgspec.Struct, frozen=True):
    input_tokens: float = 0  # documented as numbers; integral in practice
    output_tokens: float = 0


class Usage(msgspec.Struct, frozen=True):
    """`billed_units`: what Cohere charges (the prompt without its own template tokens); `tokens`: what the model
    read and wrote."""

    billed_units: Tokens | None = None
    tokens: Tokens | None = None


class ResponseContent(msgspec.Struct, frozen=True):
    type: str = "text"
    text: str | None = None  # "thinking" parts carry `thinking` instead


class ResponseMessage(msgspec.Struct, frozen=True):
    role: str = "assistant"
    content: list[ResponseContent] = []
    tool_plan: str | None = None
    tool_calls: list[ToolCall] = []


class ChatResponse(msgspec.Struct, frozen=True):
    id: str = ""
    finish_reason: str | None = None
    message: ResponseMessage | None = None
    usage: Usage | None = None


class DeltaContent(msgspec.Struct, frozen=True):
    type: str | None = None
    text: str | None = None


class DeltaMessage(msgspec.Struct, frozen=True):
    content: DeltaContent | list[DeltaContent] | None = None
    tool_calls: ToolCall | list[ToolCall] | None = None


class EventDelta(msgspec.Struct, frozen=True):
    message: DeltaMessage | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None


class StreamEvent(msgspec.Struct, frozen=True):
    type: str
    id: str | None = None
    index: int | None = None
    delta: EventDelta | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    message: str = ""
    id: str | None = None
