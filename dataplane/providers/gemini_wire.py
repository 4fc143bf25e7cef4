"""The Gemini API (generativelanguage, `v1beta`) shapes the Gemini adapter writes and reads: a
GenerateContentRequest, a GenerateContentResponse (also each streamed event) and the error envelope. Field names
are the API's own camelCase. Decoding ignores unknown fields; encoding omits what is unset.
Reference: https://ai.google.dev/api/generate-content, https://ai.google.dev/api/caching#Content."""

from __future__ import annotations

from typing import Any

import msgspec


class Blob(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    mime_type: str
    data: str  # base64


class FileData(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    file_uri: str
    mime_type: str | None = None


class FunctionCall(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class FunctionResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    response: dict[str, Any]
    id: str | None = None


class Part(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    thought: bool | None = None  # a thought summary: not part of the answer
    thought_signature: str | None = None  # base64, opaque


class Content(msgspec.Struct, frozen=True, omit_defaults=True):
    parts: list[Part] = []
    role: str | None = None  # "user" or "model"


class FunctionDeclaration(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    function_declarations: list[FunctionDeclaration]


class FunctionCallingConfig(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    mode: str  # AUTO, ANY, NONE
    allowed_function_names: list[str] | None = None


class ToolConfig(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    function_calling_config: FunctionCallingConfig


class GenerationConfig(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    response_mime_type: str | None = None
    response_json_schema: dict[str, Any] | None = None


class GenerateContentRequest(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    contents: list[Content]
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None
    generation_config: GenerationConfig | None = None


class Candidate(msgspec.Struct, frozen=True, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None
    index: int = 0


class PromptFeedback(msgspec.Struct, frozen=True, rename="camel"):
    block_reason: str | None = None


class UsageMetadata(msgspec.Struct, frozen=True, rename="camel"):
    """`promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
    `thoughtsTokenCount`; `toolUsePromptTokenCount` (tool results) is billed as input."""

    prompt_token_count: int = 0
    candidates_token_count: int = 0
    cached_content_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int = 0


class ErrorDetail(msgspec.Struct, frozen=True):
    code: int = 0
    message: str = ""
    status: str = ""  # the google.rpc.Code name: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...
    details: list[dict[str, Any]] = []


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorDetail


class GenerateContentResponse(msgspec.Struct, frozen=True, rename="camel"):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str = ""
    response_id: str = ""
    error: ErrorDetail | None = None  # an error event inside a stream
