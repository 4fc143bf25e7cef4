"""The Cohere adapter, answer side: a v2 Chat response → an OpenAI chat completion, the v2 stream events →
OpenAI chunks, Cohere usage → TokenUsage. Pure: no I/O.

- Text content becomes `content` (thinking content and the `tool_plan` are not shown); `tool_calls` keep
  Cohere's ids; a call with no arguments gets "{}".
- `finish_reason` maps through `FINISH_REASONS`, the original kept as `provider_finish_reason`.
- Usage: `billed_units` (what Cohere charges, so what the cost is computed on), or `tokens` when a response has
  no billed units; Cohere reports no cached or reasoning tokens.
- Stream events (SSE, `event:` named; each data's `type` says the same): message-start, content-start/delta/end,
  tool-plan-delta, tool-call-start/delta/end, citation-start/end, message-end (finish reason and usage). The
  gateway sends `[DONE]` once message-end has come and the upstream closes."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from dataplane.errors import UpstreamUnavailableError
from dataplane.openai_wire import SSE_DONE, sse_event
from dataplane.providers import cohere_wire as wire
from dataplane.providers.cohere import CohereUpstreamError
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
from dataplane.translate.usage import OpenAIUsage
from shared.usage import TokenUsage

# Cohere v2 `finish_reason` (https://docs.cohere.com/reference/chat) → OpenAI `finish_reason`
FINISH_REASONS: dict[str, str] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "stop",  # generation failed part way: what was produced is returned, the original value says so
    "TIMEOUT": "length",  # cut short by the provider's time limit, like a length cut
}

_Item = TypeVar("_Item", wire.DeltaContent, wire.ToolCall)
_encoder = msgspec.json.Encoder()
_response_decoder = msgspec.json.Decoder(wire.ChatResponse)
_event_decoder = msgspec.json.Decoder(wire.StreamEvent)


def finish_reason(cohere_reason: str) -> str:
    return FINISH_REASONS.get(cohere_reason, "stop")


def _counted(usage: wire.Usage) -> wire.Tokens | None:
    return usage.billed_units or usage.tokens


def token_usage(usage: wire.Usage) -> TokenUsage | None:
    counted = _counted(usage)
    if counted is None:
        return None
    return TokenUsage(input=int(counted.input_tokens), output=int(counted.output_tokens))


def openai_usage(usage: wire.Usage) -> OpenAIUsage | None:
    counted = _counted(usage)
    if counted is None:
        return None
    prompt, completion = int(counted.input_tokens), int(counted.output_tokens)
    return OpenAIUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def decode_response(body: bytes) -> wire.ChatResponse:
    try:
        return _response_decoder.decode(body)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent an unreadable answer.") from None


def openai_completion(response: wire.ChatResponse, *, created: int, model: str) -> ChatCompletion:
    message = response.message or wire.ResponseMessage()
    text = "".join(part.text or "" for part in message.content if part.type == "text")
    calls = [
        ToolCall(
            id=call.id or "",
            function=FunctionCall(
                name=call.function.name or "" if call.function else "",
                arguments=(call.function.arguments if call.function else None) or "{}",
            ),
        )
        for call in message.tool_calls
    ]
    original = response.finish_reason
    choice = Choice(
        index=0,
        message=ResponseMessage(content=text or None, tool_calls=calls or None),
        finish_reason=finish_reason(original) if original else "stop",
        provider_finish_reason=original or msgspec.UNSET,
    )
    usage = openai_usage(response.usage) if response.usage is not None else None
    return ChatCompletion(id=response.id, created=created, model=model, choices=[choice], usage=usage)


def output_chars(completion: ChatCompletion) -> int:
    message = completion.choices[0].message
    return len(message.content or "") + sum(len(call.function.arguments) for call in message.tool_calls or [])


def encode(completion: ChatCompletion) -> bytes:
    return _encoder.encode(completion)


def _first(value: _Item | list[_Item] | None) -> _Item | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


class StreamTranslator:
    """Cohere SSE events in, OpenAI SSE chunks out. `usage` holds the provider's counts, once reported."""

    def __init__(self, *, created: int, include_usage: bool, model: str) -> None:
        self.created = created
        self.include_usage = include_usage
        self.cohere_usage: wire.Usage | None = None
        self.output_chars = 0
        self._id = ""
        self._model = model
        self._finished = False
        self._tool_index: dict[int, int] = {}  # Cohere's event index → OpenAI tool call index
        self._arguments_sent: set[int] = set()
        self._parser = SseParser()

    @property
    def usage(self) -> TokenUsage | None:
        return token_usage(self.cohere_usage) if self.cohere_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [out for sse in self._parser.feed(chunk) for out in self.translate(sse)]

    def end(self) -> list[bytes]:
        """The upstream closed the stream: message-end must have come."""
        events = [out for sse in self._parser.close() for out in self.translate(sse)]
        if not self._finished:
            raise UpstreamUnavailableError("The upstream provider ended the stream before the message was complete.")
        if self.include_usage:
            usage = openai_usage(self.cohere_usage) if self.cohere_usage is not None else None
            chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[], usage=usage)
            events.append(sse_event(_encoder.encode(chunk)))
        events.append(SSE_DONE)
        return events

    def translate(self, sse: SseEvent) -> list[bytes]:
        if sse.data.strip() == b"[DONE]":
            return []
        try:
            event = _event_decoder.decode(sse.data)
        except msgspec.DecodeError:
            raise UpstreamUnavailableError("The upstream provider sent an unreadable stream event.") from None
        delta = event.delta or wire.EventDelta()
        message = delta.message or wire.DeltaMessage()
        if event.type == "message-start":
            self._id = event.id or self._id
            return [self._chunk(ChunkDelta(role="assistant", content=""))]
        if event.type in ("content-start", "content-delta"):
            content = _first(message.content)
            if content is None or not content.text or content.type not in (None, "text"):
                return []  # empty starts, and thinking content
            self.output_chars += len(content.text)
            return [self._chunk(ChunkDelta(content=content.text))]
        if event.type.startswith("tool-call-"):
            return self._tool_event(event.type, event.index or 0, _first(message.tool_calls))
        if event.type == "message-end":
            return self._end(delta)
        return []  # tool-plan-delta, citations, content-end, and event types added after this adapter

    def _tool_event(self, kind: str, index: int, call: wire.ToolCall | None) -> list[bytes]:
        function = call.function if call is not None else None
        arguments = function.arguments if function is not None else None
        if kind == "tool-call-start":
            position = self._tool_index.setdefault(index, len(self._tool_index))
            if arguments:
                self._arguments_sent.add(index)
                self.output_chars += len(arguments)
            chunk_call = ChunkToolCall(
                index=position,
                id=call.id if call is not None else None,
                type="function",
                function=ChunkFunction(name=function.name if function else None, arguments=arguments or ""),
            )
            return [self._chunk(ChunkDelta(tool_calls=[chunk_call]))]
        if index not in self._tool_index:
            return []
        if kind == "tool-call-delta" and arguments:
            self._arguments_sent.add(index)
            self.output_chars += len(arguments)
            chunk_call = ChunkToolCall(index=self._tool_index[index], function=ChunkFunction(arguments=arguments))
            return [self._chunk(ChunkDelta(tool_calls=[chunk_call]))]
        if kind == "tool-call-end" and index not in self._arguments_sent:
            # a call with no argument deltas: "{}" so the assembled arguments are valid JSON
            self._arguments_sent.add(index)
            chunk_call = ChunkToolCall(index=self._tool_index[index], function=ChunkFunction(arguments="{}"))
            return [self._chunk(ChunkDelta(tool_calls=[chunk_call]))]
        return []

    def _end(self, delta: wire.EventDelta) -> list[bytes]:
        if delta.error:
            raise CohereUpstreamError(500, delta.error)
        self.cohere_usage = delta.usage or self.cohere_usage
        if self._finished:
            return []
        self._finished = True
        original = delta.finish_reason
        reason = finish_reason(original) if original else "stop"
        choice_delta = ChunkDelta()
        return [self._chunk(choice_delta, finish_reason=reason, provider=original)]

    def _chunk(self, delta: ChunkDelta, *, finish_reason: str | None = None, provider: str | None = None) -> bytes:
        choice = ChunkChoice(
            index=0, delta=delta, finish_reason=finish_reason, provider_finish_reason=provider or msgspec.UNSET
        )
        chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[choice])
        return sse_event(_encoder.encode(chunk))
