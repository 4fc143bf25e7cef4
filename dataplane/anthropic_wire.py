"""Anthropic Messages API wire types (https://docs.anthropic.com/en/api/messages): the views the gateway decodes
(a request's few routing fields, a whole request for translation, a response, a stream event) and the error
envelope. Views ignore unknown fields; on the same-protocol path they are forwarded untouched anyway."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

DEFAULT_VERSION = "2023-06-01"  # sent as `anthropic-version` when the client sent none


class MessageRoutingView(msgspec.Struct, frozen=True):
    """What the ingress itself needs from a Messages request; everything else is forwarded untouched."""

    model: str
    messages: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1)]
    max_tokens: int
    stream: bool | None = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.stream)


class ImageSource(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str  # base64 | url
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class Block(msgspec.Struct, frozen=True, omit_defaults=True):
    """Any content block; which fields are set depends on `type`."""

    type: str
    text: str | None = None
    source: ImageSource | None = None
    id: str | None = None  # tool_use
    name: str | None = None  # tool_use
    input: Any = None  # tool_use: a JSON object
    tool_use_id: str | None = None  # tool_result
    content: str | list[Block] | None = None  # tool_result
    is_error: bool | None = None  # tool_result
    thinking: str | None = None
    signature: str | None = None


class InputMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str
    content: str | list[Block]


class Tool(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None  # set for Anthropic's server tools (web_search_...), absent for custom tools


class ToolChoice(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str  # auto | any | tool | none
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(msgspec.Struct, frozen=True, omit_defaults=True):
    user_id: str | None = None


class OutputFormat(msgspec.Struct, frozen=True, omit_defaults=True):
    """Structured output: `{"type": "json_schema", "schema": {...}}`."""

    type: str
    schema: dict[str, Any] | None = None


class OutputConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    format: OutputFormat | None = None
    effort: str | None = None


class MessagesRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """A whole request, for translation to another protocol."""

    model: str
    messages: list[InputMessage]
    max_tokens: int
    system: str | list[Block] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    thinking: dict[str, Any] | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None  # the structured-outputs beta's name for output_config.format


class Usage(msgspec.Struct, frozen=True):
    """Cumulative counts; in a stream, `message_delta` may carry only some of them (absent: unchanged)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Message(msgspec.Struct, frozen=True):
    id: str
    model: str
    content: list[Block]
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None
    role: str = "assistant"
    type: str = "message"
    provider_stop_reason: str | msgspec.UnsetType = msgspec.UNSET  # the provider's own value, when translated


class Delta(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str | None = None  # text_delta | input_json_delta | thinking_delta | signature_delta; None in message_delta
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class ErrorDetail(msgspec.Struct, frozen=True):
    type: str
    message: str


class StreamEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """One `data:` payload of a stream: message_start, content_block_start/delta/stop, message_delta,
    message_stop, ping or error."""

    type: str
    index: int | None = None  # content_block_* events
    message: Message | None = None
    content_block: Block | None = None
    delta: Delta | None = None
    usage: Usage | None = None
    error: ErrorDetail | None = None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorDetail
    type: str = "error"


class TokenCount(msgspec.Struct, frozen=True):
    input_tokens: int


def sse_event(name: str, data: bytes) -> bytes:
    """One named server-sent event, as Anthropic sends them (`event:` then `data:`)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
