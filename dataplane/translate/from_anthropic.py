"""Anthropic answers → OpenAI chat answers: a message → a completion, a stream of events → chunks.

Text blocks become `content`; `tool_use` blocks become `tool_calls` in order (an empty input becomes the
arguments "{}"); thinking blocks are not shown to OpenAI clients (their tokens are counted in the usage).
The stop reason maps through `stop_reasons`, the original kept as `provider_finish_reason`. Usage: OpenAI's
`prompt_tokens` counts cache reads and writes too, `prompt_tokens_details.cached_tokens` the reads."""

from __future__ import annotations

import msgspec

from dataplane.anthropic_wire import Message, StreamEvent
from dataplane.anthropic_wire import Usage as AnthropicUsage
from dataplane.errors import UpstreamUnavailableError
from dataplane.openai_wire import SSE_DONE, sse_event
from dataplane.providers.anthropic import stream_error
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
from dataplane.translate.sse import SseEvent, SseParser
from dataplane.translate.stop_reasons import openai_finish_reason
from dataplane.translate.usage import OpenAIUsage, PromptTokensDetails, from_anthropic, merge_anthropic
from shared.usage import TokenUsage

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(StreamEvent)


def openai_usage(usage: AnthropicUsage) -> OpenAIUsage:
    read = usage.cache_read_input_tokens or 0
    prompt = (usage.input_tokens or 0) + read + (usage.cache_creation_input_tokens or 0)
    completion = usage.output_tokens or 0
    return OpenAIUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=read),
    )


def openai_completion(message: Message, *, created: int) -> ChatCompletion:
    text = "".join(block.text or "" for block in message.content if block.type == "text")
    calls = [
        ToolCall(id=block.id or "", function=FunctionCall(name=block.name or "", arguments=_arguments(block.input)))
        for block in message.content
        if block.type == "tool_use"
    ]
    choice = Choice(
        index=0,
        message=ResponseMessage(content=text or None, tool_calls=calls or None),
        finish_reason=openai_finish_reason(message.stop_reason) or "stop",
        provider_finish_reason=message.stop_reason or msgspec.UNSET,
    )
    usage = openai_usage(message.usage) if message.usage is not None else None
    return ChatCompletion(id=message.id, created=created, model=message.model, choices=[choice], usage=usage)


def encode(completion: ChatCompletion) -> bytes:
    return _encoder.encode(completion)


def _arguments(tool_input: object) -> str:
    return _encoder.encode(tool_input).decode() if tool_input else "{}"


class StreamTranslator:
    """Anthropic stream events in, OpenAI SSE chunks out. `usage` holds the provider's counts so far."""

    def __init__(self, *, created: int, include_usage: bool) -> None:
        self.created = created
        self.include_usage = include_usage
        self.anthropic_usage: AnthropicUsage | None = None
        self._id = ""
        self._model = ""
        self._tool_index: dict[int, int] = {}  # content block index → OpenAI tool call index
        self._arguments_sent: set[int] = set()
        self._done = False
        self._parser = SseParser()
        self.output_chars = 0  # text and tool arguments sent, for an estimate if the provider reports no usage

    @property
    def usage(self) -> TokenUsage | None:
        return from_anthropic(self.anthropic_usage) if self.anthropic_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        """Raw upstream bytes in, OpenAI SSE events out."""
        return [out for sse in self._parser.feed(chunk) for out in self.translate(sse)]

    def end(self) -> list[bytes]:
        """The upstream closed the stream: it must have finished the message."""
        for sse in self._parser.close():
            self.translate(sse)
        if not self._done:
            raise UpstreamUnavailableError("The upstream provider ended the stream before the message was complete.")
        return []

    def translate(self, sse: SseEvent) -> list[bytes]:
        try:
            event = _event_decoder.decode(sse.data)
        except msgspec.DecodeError:
            raise UpstreamUnavailableError("The upstream provider sent an unreadable stream event.") from None
        return self.on_event(event)

    def on_event(self, event: StreamEvent) -> list[bytes]:
        block_index = event.index if event.index is not None else 0
        if event.type == "message_start" and event.message is not None:
            self._id, self._model = event.message.id, event.message.model
            self.anthropic_usage = merge_anthropic(self.anthropic_usage, event.message.usage)
            return [self._chunk(ChunkDelta(role="assistant", content=""))]
        if event.type == "content_block_start" and event.content_block is not None:
            block = event.content_block
            if block.type == "tool_use":
                index = self._tool_index.setdefault(block_index, len(self._tool_index))
                call = ChunkToolCall(
                    index=index, id=block.id, type="function", function=ChunkFunction(name=block.name, arguments="")
                )
                return [self._chunk(ChunkDelta(tool_calls=[call]))]
            if block.type == "text" and block.text:
                return [self._chunk(ChunkDelta(content=block.text))]
            return []
        if event.type == "content_block_delta" and event.delta is not None:
            return self._on_delta(event)
        if event.type == "content_block_stop" and block_index in self._tool_index:
            if block_index in self._arguments_sent:
                return []
            # a tool call with no argument deltas: send "{}" so the assembled arguments are valid JSON
            call = ChunkToolCall(index=self._tool_index[block_index], function=ChunkFunction(arguments="{}"))
            return [self._chunk(ChunkDelta(tool_calls=[call]))]
        if event.type == "message_delta":
            self.anthropic_usage = merge_anthropic(self.anthropic_usage, event.usage)
            reason = event.delta.stop_reason if event.delta is not None else None
            if reason is None:
                return []
            return [self._chunk(ChunkDelta(), finish_reason=openai_finish_reason(reason), provider=reason)]
        if event.type == "message_stop":
            return self.finish()
        if event.type == "error" and event.error is not None:
            raise stream_error(event.error)
        return []  # ping, and event types added after this adapter was written

    def finish(self) -> list[bytes]:
        """The usage chunk (if the client asked for it) and `[DONE]`, once."""
        if self._done:
            return []
        self._done = True
        events = []
        if self.include_usage:
            usage = openai_usage(self.anthropic_usage) if self.anthropic_usage is not None else None
            chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[], usage=usage)
            events.append(sse_event(_encoder.encode(chunk)))
        events.append(SSE_DONE)
        return events

    def _on_delta(self, event: StreamEvent) -> list[bytes]:
        delta = event.delta
        assert delta is not None
        if delta.type == "text_delta" and delta.text:
            self.output_chars += len(delta.text)
            return [self._chunk(ChunkDelta(content=delta.text))]
        block_index = event.index if event.index is not None else 0
        if delta.type == "input_json_delta" and delta.partial_json and block_index in self._tool_index:
            self._arguments_sent.add(block_index)
            self.output_chars += len(delta.partial_json)
            call = ChunkToolCall(
                index=self._tool_index[block_index], function=ChunkFunction(arguments=delta.partial_json)
            )
            return [self._chunk(ChunkDelta(tool_calls=[call]))]
        return []  # thinking and signature deltas have no place in a chat completion

    def _chunk(self, delta: ChunkDelta, *, finish_reason: str | None = None, provider: str | None = None) -> bytes:
        choice = ChunkChoice(
            index=0, delta=delta, finish_reason=finish_reason, provider_finish_reason=provider or msgspec.UNSET
        )
        chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[choice])
        return sse_event(_encoder.encode(chunk))
