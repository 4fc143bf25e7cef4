"""The OpenAI Chat Completions shapes the translations read and write: a whole request, a completion and a
chunk. Decoding ignores unknown fields; encoding omits what is unset."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from dataplane.translate.usage import OpenAIUsage


class ImageUrl(msgspec.Struct, frozen=True, omit_defaults=True):
    url: str
    detail: str | None = None


class ContentPart(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCall(msgspec.Struct, frozen=True):
    name: str
    arguments: str = ""


class ToolCall(msgspec.Struct, frozen=True):
    id: str
    function: FunctionCall
    type: str = "function"


class ChatMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDef(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolDef(msgspec.Struct, frozen=True):
    function: FunctionDef
    type: str = "function"


class NamedFunction(msgspec.Struct, frozen=True):
    name: str


class NamedToolChoice(msgspec.Struct, frozen=True):
    function: NamedFunction
    type: str = "function"


class ResponseFormat(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    json_schema: dict[str, Any] | None = None  # {"name", "schema", ...} when type is json_schema


class StreamOptions(msgspec.Struct, frozen=True):
    include_usage: bool | None = None


class ChatRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    n: int | None = None
    response_format: ResponseFormat | None = None


class ResponseMessage(msgspec.Struct, frozen=True):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class Choice(msgspec.Struct, frozen=True):
    index: int
    message: ResponseMessage
    finish_reason: str | None = None
    logprobs: None = None
    provider_finish_reason: str | UnsetType = UNSET  # the provider's own value, when translated


class ChatCompletion(msgspec.Struct, frozen=True):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: OpenAIUsage | None = None
    object: str = "chat.completion"


class ChunkFunction(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class ChunkToolCall(msgspec.Struct, frozen=True, omit_defaults=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: ChunkFunction | None = None


class ChunkDelta(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ChunkToolCall] | None = None
    refusal: str | None = None


class ChunkChoice(msgspec.Struct, frozen=True):
    index: int
    delta: ChunkDelta
    finish_reason: str | None = None
    logprobs: None = None
    provider_finish_reason: str | UnsetType = UNSET


class ChatCompletionChunk(msgspec.Struct, frozen=True):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: OpenAIUsage | UnsetType | None = UNSET
    object: str = "chat.completion.chunk"
