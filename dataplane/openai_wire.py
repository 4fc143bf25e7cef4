"""OpenAI chat-completions wire types: the small view of a request the gateway reads, and the response and
chunk shapes the built-in providers produce. Unknown request fields are ignored here and survive forwarding."""

from __future__ import annotations

from typing import Annotated

import msgspec


class ContentPartView(msgspec.Struct, frozen=True):
    type: str = ""
    text: str | None = None


class MessageView(msgspec.Struct, frozen=True):
    role: str
    content: str | list[ContentPartView] | None = None


class StreamOptionsView(msgspec.Struct, frozen=True):
    include_usage: bool | None = None


class ChatRequestView(msgspec.Struct, frozen=True):
    """Only the fields the gateway itself needs; everything else is forwarded untouched."""

    model: str
    messages: Annotated[list[MessageView], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptionsView | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.stream)

    @property
    def wants_usage_chunk(self) -> bool:
        return self.stream_options is not None and bool(self.stream_options.include_usage)


class ResponseMessage(msgspec.Struct, frozen=True):
    role: str
    content: str | None


class Choice(msgspec.Struct, frozen=True):
    index: int
    message: ResponseMessage
    finish_reason: str | None
    logprobs: None = None


class CompletionUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(msgspec.Struct, frozen=True):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    object: str = "chat.completion"


class ChoiceDelta(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None


class ChunkChoice(msgspec.Struct, frozen=True):
    index: int
    delta: ChoiceDelta
    finish_reason: str | None
    logprobs: None = None


class ChatCompletionChunk(msgspec.Struct, frozen=True):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | msgspec.UnsetType = msgspec.UNSET
    object: str = "chat.completion.chunk"


class Model(msgspec.Struct, frozen=True):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct, frozen=True):
    data: list[Model]
    object: str = "list"


SSE_DONE = b"data: [DONE]\n\n"


def sse_event(data: bytes) -> bytes:
    """One server-sent event carrying a single-line JSON payload."""
    return b"data: " + data + b"\n\n"
