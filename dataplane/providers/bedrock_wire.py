"""The Amazon Bedrock Runtime Converse API shapes the Bedrock adapter writes and reads: a Converse request (the
same body for ConverseStream), a Converse response, the payloads of ConverseStream's events and the error body.
Field names are the API's own camelCase. Content blocks are unions: exactly one member is set. Decoding ignores
unknown fields (stream payloads carry a `p` padding field); encoding omits what is unset.
Reference: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html and
API_runtime_ConverseStream.html; the shapes match botocore's `bedrock-runtime` 2023-09-30 service model."""

from __future__ import annotations

from typing import Any

import msgspec


class ImageSource(msgspec.Struct, frozen=True, omit_defaults=True):
    bytes: str  # base64 (a rest-json blob)


class ImageBlock(msgspec.Struct, frozen=True, omit_defaults=True):
    format: str  # png, jpeg, gif, webp
    source: ImageSource


class ToolUseBlock(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    tool_use_id: str
    name: str
    input: Any = None  # a JSON document


class ToolResultContentBlock(msgspec.Struct, frozen=True, omit_defaults=True):
    text: str | None = None
    image: ImageBlock | None = None


class ToolResultBlock(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    tool_use_id: str
    content: list[ToolResultContentBlock]


class ContentBlock(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    text: str | None = None
    image: ImageBlock | None = None
    tool_use: ToolUseBlock | None = None
    tool_result: ToolResultBlock | None = None
    reasoning_content: dict[str, Any] | None = None  # read only: not part of an OpenAI answer


class Message(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str  # user or assistant
    content: list[ContentBlock]


class SystemContentBlock(msgspec.Struct, frozen=True, omit_defaults=True):
    text: str


class InferenceConfiguration(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: list[str] | None = None


class ToolInputSchema(msgspec.Struct, frozen=True):
    json: dict[str, Any]


class ToolSpecification(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    name: str
    input_schema: ToolInputSchema
    description: str | None = None


class Tool(msgspec.Struct, frozen=True, rename="camel"):
    tool_spec: ToolSpecification


class SpecificToolChoice(msgspec.Struct, frozen=True):
    name: str


class Empty(msgspec.Struct, frozen=True):
    pass


class ToolChoice(msgspec.Struct, frozen=True, omit_defaults=True):
    auto: Empty | None = None
    any: Empty | None = None
    tool: SpecificToolChoice | None = None


class ToolConfiguration(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    tools: list[Tool]
    tool_choice: ToolChoice | None = None


class JsonSchemaDefinition(msgspec.Struct, frozen=True, omit_defaults=True):
    schema: str  # the JSON schema, as a JSON string
    name: str | None = None
    description: str | None = None


class OutputFormatStructure(msgspec.Struct, frozen=True, rename="camel"):
    json_schema: JsonSchemaDefinition


class OutputFormat(msgspec.Struct, frozen=True):
    structure: OutputFormatStructure
    type: str = "json_schema"


class OutputConfig(msgspec.Struct, frozen=True, rename="camel"):
    text_format: OutputFormat


class ConverseRequest(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    messages: list[Message]
    system: list[SystemContentBlock] | None = None
    inference_config: InferenceConfiguration | None = None
    tool_config: ToolConfiguration | None = None
    output_config: OutputConfig | None = None


class TokenUsage(msgspec.Struct, frozen=True, rename="camel"):
    """`inputTokens` excludes the cache reads and writes; `totalTokens` is all four summed."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


class ConverseOutput(msgspec.Struct, frozen=True):
    message: Message | None = None


class ConverseResponse(msgspec.Struct, frozen=True, rename="camel"):
    output: ConverseOutput = ConverseOutput()
    stop_reason: str = ""
    usage: TokenUsage | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    """Bedrock's error body; the error type is in the `x-amzn-ErrorType` header (botocore also reads `__type`
    or `code` from the body)."""

    message: str = ""
    type: str = msgspec.field(default="", name="__type")
    code: str = ""


# ConverseStream event payloads, one per `:event-type`


class MessageStartEvent(msgspec.Struct, frozen=True):
    role: str = "assistant"


class ToolUseBlockStart(msgspec.Struct, frozen=True, rename="camel"):
    tool_use_id: str
    name: str


class ContentBlockStart(msgspec.Struct, frozen=True, rename="camel"):
    tool_use: ToolUseBlockStart | None = None


class ContentBlockStartEvent(msgspec.Struct, frozen=True, rename="camel"):
    start: ContentBlockStart
    content_block_index: int = 0


class ToolUseBlockDelta(msgspec.Struct, frozen=True):
    input: str = ""  # a piece of the tool input's JSON text


class ContentBlockDelta(msgspec.Struct, frozen=True, rename="camel"):
    text: str | None = None
    tool_use: ToolUseBlockDelta | None = None
    reasoning_content: dict[str, Any] | None = None


class ContentBlockDeltaEvent(msgspec.Struct, frozen=True, rename="camel"):
    delta: ContentBlockDelta
    content_block_index: int = 0


class ContentBlockStopEvent(msgspec.Struct, frozen=True, rename="camel"):
    content_block_index: int = 0


class MessageStopEvent(msgspec.Struct, frozen=True, rename="camel"):
    stop_reason: str = ""


class ConverseStreamMetadataEvent(msgspec.Struct, frozen=True):
    usage: TokenUsage | None = None
