"""The Amazon Bedrock adapter, answer side: a Converse response → an OpenAI chat completion, the ConverseStream
event stream (application/vnd.amazon.eventstream, framed and checksummed; decoded by botocore's
EventStreamBuffer) → OpenAI chunks, Bedrock usage → TokenUsage. Pure: no I/O.

- `text` blocks become `content` (reasoning blocks are left out); `toolUse` blocks become `tool_calls`, in
  order, with Bedrock's `toolUseId` as the id and the input as the arguments (an empty input is "{}").
- `stopReason` maps through `FINISH_REASONS` (every documented value), the original kept as
  `provider_finish_reason`.
- Usage: `inputTokens` excludes cache reads and writes, so OpenAI's `prompt_tokens` is input + cache read +
  cache write, `cached_tokens` the cache read; `completion_tokens` is `outputTokens` (Bedrock does not count
  reasoning apart).
- A stream: `messageStart` → the role chunk; a `contentBlockStart` with `toolUse` → a tool call chunk with its
  id and name; `contentBlockDelta` text → content, `toolUse.input` → argument pieces of that call (a call that
  got none is given "{}" when its block stops); `messageStop` → the finish chunk; `metadata` → the usage. An
  exception event raises the error it names. The stream has no `[DONE]`: the gateway sends one (after the usage
  chunk, if the client asked) once the upstream closes."""

from __future__ import annotations

from typing import Any

import msgspec
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError

from dataplane.errors import GatewayError, UpstreamUnavailableError
from dataplane.openai_wire import SSE_DONE, sse_event
from dataplane.providers import bedrock_wire as wire
from dataplane.providers.bedrock import BedrockUpstreamError, stream_exception
from dataplane.translate.openai_types import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    ChunkDelta,
    ChunkFunction,
    ChunkToolCall,
    FunctionCall,
    ResponseMessage,
    ToolCall,
)
from dataplane.translate.usage import OpenAIUsage, PromptTokensDetails
from shared.usage import TokenUsage

# Bedrock `stopReason` (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html)
# → OpenAI `finish_reason`
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "stop_sequence": "stop",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",  # the model's output was unusable: what was produced is returned
    "malformed_tool_use": "stop",  # the model's tool call was unusable: no tool call is returned
    "model_context_window_exceeded": "length",
}

_encoder = msgspec.json.Encoder()
_response_decoder = msgspec.json.Decoder(wire.ConverseResponse)
_EVENT_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "messageStart": msgspec.json.Decoder(wire.MessageStartEvent),
    "contentBlockStart": msgspec.json.Decoder(wire.ContentBlockStartEvent),
    "contentBlockDelta": msgspec.json.Decoder(wire.ContentBlockDeltaEvent),
    "contentBlockStop": msgspec.json.Decoder(wire.ContentBlockStopEvent),
    "messageStop": msgspec.json.Decoder(wire.MessageStopEvent),
    "metadata": msgspec.json.Decoder(wire.ConverseStreamMetadataEvent),
}


def finish_reason(stop_reason: str) -> str:
    return FINISH_REASONS.get(stop_reason, "stop")


def token_usage(usage: wire.TokenUsage) -> TokenUsage:
    return TokenUsage(
        input=usage.input_tokens,
        cached_input=usage.cache_read_input_tokens,
        cache_write=usage.cache_write_input_tokens,
        output=usage.output_tokens,
    )


def openai_usage(usage: wire.TokenUsage) -> OpenAIUsage:
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens
    return OpenAIUsage(
        prompt_tokens=prompt,
        completion_tokens=usage.output_tokens,
        total_tokens=prompt + usage.output_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cache_read_input_tokens),
    )


def decode_response(body: bytes) -> wire.ConverseResponse:
    try:
        return _response_decoder.decode(body)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent an unreadable answer.") from None


def _arguments(value: Any) -> str:
    return _encoder.encode(value).decode() if value else "{}"


def openai_completion(response: wire.ConverseResponse, *, created: int, seed: str, model: str) -> ChatCompletion:
    """The completion for a whole answer; `seed` (the request id) makes the completion id."""
    blocks = response.output.message.content if response.output.message is not None else []
    text = "".join(block.text for block in blocks if block.text is not None)
    calls = [
        ToolCall(id=use.tool_use_id, function=FunctionCall(name=use.name, arguments=_arguments(use.input)))
        for use in (block.tool_use for block in blocks)
        if use is not None
    ]
    choice = Choice(
        index=0,
        message=ResponseMessage(content=text or None, tool_calls=calls or None),
        finish_reason=finish_reason(response.stop_reason),
        provider_finish_reason=response.stop_reason or msgspec.UNSET,
    )
    usage = openai_usage(response.usage) if response.usage is not None else None
    return ChatCompletion(id=f"chatcmpl-{seed}", created=created, model=model, choices=[choice], usage=usage)


def encode(completion: ChatCompletion) -> bytes:
    return _encoder.encode(completion)


def output_chars(completion: ChatCompletion) -> int:
    message = completion.choices[0].message
    calls = sum(len(call.function.arguments) for call in message.tool_calls or [])
    return len(message.content or "") + calls


def stream_error(message: EventStreamMessage) -> GatewayError:
    """An `error` message (`:error-code`, `:error-message` headers) or an `exception` event."""
    headers = message.headers
    if headers.get(":message-type") == "exception":
        return stream_exception(str(headers.get(":exception-type", "")), message.payload)
    return BedrockUpstreamError(500, str(headers.get(":error-code", "")), str(headers.get(":error-message", "")))


class StreamTranslator:
    """ConverseStream bytes in, OpenAI SSE chunks out. `usage` holds the provider's counts, once sent."""

    def __init__(self, *, created: int, include_usage: bool, seed: str, model: str) -> None:
        self.created = created
        self.include_usage = include_usage
        self.bedrock_usage: wire.TokenUsage | None = None
        self.output_chars = 0  # text and tool arguments sent, for an estimate if the provider reports no usage
        self._id = f"chatcmpl-{seed}"
        self._model = model
        self._buffer = EventStreamBuffer()
        self._calls: dict[int, int] = {}  # content block index → OpenAI tool call index
        self._empty_calls: set[int] = set()  # content blocks of calls that got no arguments yet
        self._finished = False
        self._failure: GatewayError | None = None

    @property
    def usage(self) -> TokenUsage | None:
        return token_usage(self.bedrock_usage) if self.bedrock_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._failure is not None:
            raise self._failure
        self._buffer.add_data(chunk)
        events: list[bytes] = []
        try:
            for message in self._buffer:
                events.extend(self.translate(message))
        except ParserError:
            self._failure = UpstreamUnavailableError("The upstream provider sent a corrupt event stream.")
        except GatewayError as error:
            self._failure = error
        if self._failure is not None and not events:
            raise self._failure
        return events  # a failure after them is raised by the next call, once these have been sent

    def end(self) -> list[bytes]:
        """The upstream closed the stream: it must have stopped the message."""
        if self._failure is not None:
            raise self._failure
        if not self._finished:
            raise UpstreamUnavailableError("The upstream provider ended the stream before the answer was complete.")
        events = []
        if self.include_usage:
            usage = openai_usage(self.bedrock_usage) if self.bedrock_usage is not None else None
            chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[], usage=usage)
            events.append(sse_event(_encoder.encode(chunk)))
        events.append(SSE_DONE)
        return events

    def translate(self, message: EventStreamMessage) -> list[bytes]:
        if message.headers.get(":message-type") != "event":
            raise stream_error(message)
        event_type = str(message.headers.get(":event-type", ""))
        decoder = _EVENT_DECODERS.get(event_type)
        if decoder is None:
            return []  # an event this adapter does not know yet: ignored, as botocore does
        try:
            event = decoder.decode(message.payload)
        except msgspec.DecodeError:
            raise UpstreamUnavailableError("The upstream provider sent an unreadable stream event.") from None
        if isinstance(event, wire.MessageStartEvent):
            return [self._chunk(ChunkDelta(role="assistant", content=""))]
        if isinstance(event, wire.ContentBlockStartEvent):
            return self._start(event)
        if isinstance(event, wire.ContentBlockDeltaEvent):
            return self._delta(event)
        if isinstance(event, wire.ContentBlockStopEvent):
            return self._stop(event.content_block_index)
        if isinstance(event, wire.MessageStopEvent):
            return self._finish(event.stop_reason)
        if isinstance(event, wire.ConverseStreamMetadataEvent) and event.usage is not None:
            self.bedrock_usage = event.usage
        return []

    def _start(self, event: wire.ContentBlockStartEvent) -> list[bytes]:
        use = event.start.tool_use
        if use is None:
            return []
        index = len(self._calls)
        self._calls[event.content_block_index] = index
        self._empty_calls.add(event.content_block_index)
        function = ChunkFunction(name=use.name, arguments="")
        call = ChunkToolCall(index=index, id=use.tool_use_id, type="function", function=function)
        return [self._chunk(ChunkDelta(tool_calls=[call]))]

    def _delta(self, event: wire.ContentBlockDeltaEvent) -> list[bytes]:
        delta = event.delta
        if delta.text:
            self.output_chars += len(delta.text)
            return [self._chunk(ChunkDelta(content=delta.text))]
        block = event.content_block_index
        if delta.tool_use is None or not delta.tool_use.input or block not in self._calls:
            return []
        self._empty_calls.discard(block)
        return [self._arguments_chunk(block, delta.tool_use.input)]

    def _stop(self, block: int) -> list[bytes]:
        if block not in self._empty_calls:
            return []
        self._empty_calls.discard(block)
        return [self._arguments_chunk(block, "{}")]

    def _finish(self, stop_reason: str) -> list[bytes]:
        events = [self._arguments_chunk(block, "{}") for block in sorted(self._empty_calls)]
        self._empty_calls.clear()
        if not self._finished:
            self._finished = True
            events.append(self._chunk(ChunkDelta(), finish_reason=finish_reason(stop_reason), provider=stop_reason))
        return events

    def _arguments_chunk(self, block: int, arguments: str) -> bytes:
        self.output_chars += len(arguments)
        call = ChunkToolCall(index=self._calls[block], function=ChunkFunction(arguments=arguments))
        return self._chunk(ChunkDelta(tool_calls=[call]))

    def _chunk(self, delta: ChunkDelta, *, finish_reason: str | None = None, provider: str | None = None) -> bytes:
        choice = ChunkChoice(
            index=0, delta=delta, finish_reason=finish_reason, provider_finish_reason=provider or msgspec.UNSET
        )
        chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[choice])
        return sse_event(_encoder.encode(chunk))
