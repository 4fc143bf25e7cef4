"""OpenAI Responses API wire types (POST /v1/responses): the views of a request the gateway reads (the routing
fields; the whole request when it is translated for a target that speaks only chat completions), and the Response
object, output items and stream events it writes. Unknown request fields are ignored when decoding; on the
same-protocol path the body is forwarded untouched anyway."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class ResponsesRoutingView(msgspec.Struct, frozen=True):
    """What the pipeline needs before any target is chosen."""

    model: str
    input: msgspec.Raw = msgspec.Raw(b"")  # required by OpenAI; checked to be present, read only when translated
    stream: bool | None = None
    max_output_tokens: int | None = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.stream)


class InputPart(msgspec.Struct, frozen=True):
    """A content part of an input message or of a function call's output."""

    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    refusal: str | None = None


class InputItem(msgspec.Struct, frozen=True):
    """Any input item; `type` is absent on the short message form (`{"role": ..., "content": ...}`)."""

    type: str = "message"
    role: str | None = None
    content: str | list[InputPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[InputPart] | None = None


class FunctionTool(msgspec.Struct, frozen=True, omit_defaults=True):
    """A tool of the request: `type` "function" is translated; any other (built-in) type is refused."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedToolChoice(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    name: str | None = None


class TextFormat(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class TextConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    format: TextFormat | None = None
    verbosity: str | None = None


class ReasoningConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class ResponsesRequest(msgspec.Struct, frozen=True):
    """The whole request, for translation. Fields the translation refuses are decoded loosely (Raw or Any) so a
    clear refusal names them instead of a type error."""

    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    background: bool | None = None
    prompt: Any = None
    include: list[str] | None = None
    truncation: str | None = None
    top_logprobs: int | None = None


class OutputText(msgspec.Struct, frozen=True, tag_field="type", tag="output_text"):
    text: str
    annotations: list[Any] = []
    logprobs: list[Any] = []


class OutputRefusal(msgspec.Struct, frozen=True, tag_field="type", tag="refusal"):
    refusal: str


class OutputMessage(msgspec.Struct, frozen=True, tag_field="type", tag="message"):
    id: str
    content: list[OutputText | OutputRefusal]
    status: str = "completed"
    role: str = "assistant"


class FunctionCall(msgspec.Struct, frozen=True, tag_field="type", tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: str = "completed"


OutputItem = OutputMessage | FunctionCall


class InputTokensDetails(msgspec.Struct, frozen=True):
    cached_tokens: int = 0


class OutputTokensDetails(msgspec.Struct, frozen=True):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct, frozen=True):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class IncompleteDetails(msgspec.Struct, frozen=True):
    reason: str


class ResponseError(msgspec.Struct, frozen=True):
    code: str
    message: str


class Response(msgspec.Struct, frozen=True):
    """The Response object (https://platform.openai.com/docs/api-reference/responses/object)."""

    id: str
    created_at: int
    model: str
    output: list[OutputItem]
    status: str = "completed"
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] = {}
    parallel_tool_calls: bool = True
    previous_response_id: None = None
    store: bool = False  # the gateway keeps no response state
    temperature: float | None = None
    text: TextConfig = TextConfig(format=TextFormat())
    tool_choice: str | NamedToolChoice = "auto"
    tools: list[FunctionTool] = []
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    provider_finish_reason: str | UnsetType = UNSET  # the upstream's own finish reason, when translated
    object: str = "response"


class StreamEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """One Responses stream event; each type uses the fields the API reference gives it."""

    type: str
    sequence_number: int
    response: Response | UnsetType = UNSET
    output_index: int | UnsetType = UNSET
    item: OutputItem | UnsetType = UNSET
    item_id: str | UnsetType = UNSET
    content_index: int | UnsetType = UNSET
    part: OutputText | UnsetType = UNSET
    delta: str | UnsetType = UNSET
    text: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET
    logprobs: list[Any] | UnsetType = UNSET
    # the `error` event
    code: str | UnsetType | None = UNSET
    message: str | UnsetType = UNSET
    param: str | UnsetType | None = UNSET


def sse_event(event: StreamEvent, encoder: msgspec.json.Encoder) -> bytes:
    """`event: <type>` and its JSON on one `data:` line, as OpenAI sends them."""
    return b"event: " + event.type.encode() + b"\ndata: " + encoder.encode(event) + b"\n\n"
