"""OpenAI chat answers → Anthropic answers: a completion → a message, a stream of chunks → Messages events
(message_start, one content block per text run or tool call, message_delta with the stop reason and usage,
message_stop). The finish reason maps through `stop_reasons`, the original kept as `provider_stop_reason` (the
provider's own value when the completion was itself translated, as from Gemini or Cohere).
Usage: Anthropic's `input_tokens` excludes the cached prompt tokens, which go to `cache_read_input_tokens`."""

from __future__ import annotations

from typing import Any

import msgspec

from dataplane.anthropic_wire import Block, Delta, Message, StreamEvent, Usage, sse_event
from dataplane.errors import GatewayError, UpstreamStatusError, UpstreamUnavailableError
from dataplane.translate.openai_types import ChatCompletion, ChunkChoice, ChunkDelta
from dataplane.translate.sse import SseEvent, SseParser
from dataplane.translate.stop_reasons import anthropic_stop_reason
from dataplane.translate.usage import OpenAIUsage, from_openai
from shared.usage import TokenUsage

_encoder = msgspec.json.Encoder()
_completion_decoder = msgspec.json.Decoder(ChatCompletion)
_input_decoder = msgspec.json.Decoder(dict[str, Any])


class OpenAIErrorView(msgspec.Struct, frozen=True):
    message: str = "The upstream provider failed mid-stream."


class ChunkOrError(msgspec.Struct, frozen=True):
    id: str = ""
    model: str = ""
    choices: list[ChunkChoice] = []
    usage: OpenAIUsage | None = None
    error: OpenAIErrorView | None = None


_chunk_decoder = msgspec.json.Decoder(ChunkOrError)


def anthropic_usage(usage: OpenAIUsage) -> Usage:
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    if not cached and isinstance(usage.prompt_cache_hit_tokens, int):  # DeepSeek's own field, as usage_extract reads
        cached = min(usage.prompt_cache_hit_tokens, usage.prompt_tokens)
    return Usage(
        input_tokens=max(0, usage.prompt_tokens - cached),
        output_tokens=usage.completion_tokens,
        cache_read_input_tokens=cached,
        cache_creation_input_tokens=0,
    )


def decode_completion(body: bytes) -> ChatCompletion:
    try:
        return _completion_decoder.decode(body)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent an unreadable answer.") from None


def anthropic_message(completion: ChatCompletion) -> Message:
    if not completion.choices:
        raise UpstreamUnavailableError("The upstream provider sent an answer with no choices.")
    choice = completion.choices[0]
    message = choice.message
    blocks: list[Block] = []
    text = message.content or message.refusal
    if text:
        blocks.append(Block(type="text", text=text))
    for call in message.tool_calls or []:
        blocks.append(
            Block(type="tool_use", id=call.id, name=call.function.name, input=_input(call.function.arguments))
        )
    reason = "refusal" if message.refusal and not message.content else anthropic_stop_reason(choice.finish_reason)
    return Message(
        id=completion.id,
        model=completion.model,
        content=blocks,
        stop_reason=reason or "end_turn",
        usage=anthropic_usage(completion.usage) if completion.usage is not None else None,
        provider_stop_reason=choice.provider_finish_reason or choice.finish_reason or msgspec.UNSET,
    )


def _input(arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        return _input_decoder.decode(arguments)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent tool arguments that are not JSON.") from None


class StreamTranslator:
    """OpenAI SSE chunks in, Anthropic SSE events out. `usage` holds the provider's counts, once reported."""

    def __init__(self) -> None:
        self.openai_usage: OpenAIUsage | None = None
        self._started = False
        self._finished = False
        self._block_index = -1
        self._open_kind: str | None = None  # "text" or "tool_use" while a block is open
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool call index → content block index
        self._finish_reason: str | None = None
        self._parser = SseParser()
        self.output_chars = 0  # text and tool arguments sent, for an estimate if the provider reports no usage

    @property
    def usage(self) -> TokenUsage | None:
        return from_openai(self.openai_usage) if self.openai_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        """Raw upstream bytes in, Anthropic SSE events out."""
        return [out for sse in self._parser.feed(chunk) for out in self.translate(sse)]

    def end(self) -> list[bytes]:
        """The upstream closed the stream; a stream without `[DONE]` is complete if it gave a finish reason."""
        events = [out for sse in self._parser.close() for out in self.translate(sse)]
        if not self._finished and self._finish_reason is None:
            raise UpstreamUnavailableError("The upstream provider ended the stream before the answer was complete.")
        return events + self.finish()

    def translate(self, sse: SseEvent) -> list[bytes]:
        if sse.data.strip() == b"[DONE]":
            return self.finish()
        try:
            chunk = _chunk_decoder.decode(sse.data)
        except msgspec.DecodeError:
            raise UpstreamUnavailableError("The upstream provider sent an unreadable chunk.") from None
        if chunk.error is not None:
            error: GatewayError = UpstreamStatusError(500)
            error.message = chunk.error.message
            raise error
        events = [] if self._started else self._start(chunk.id, chunk.model)
        if chunk.usage is not None:
            self.openai_usage = chunk.usage
        for choice in chunk.choices[:1]:
            events.extend(self._delta(choice.delta))
            if choice.finish_reason is not None:
                self._finish_reason = choice.finish_reason
        return events

    def finish(self) -> list[bytes]:
        """Close the open block, then message_delta (stop reason, usage) and message_stop, once."""
        if self._finished or not self._started:
            return []
        self._finished = True
        events = self._close()
        usage = anthropic_usage(self.openai_usage) if self.openai_usage is not None else Usage(output_tokens=0)
        reason = anthropic_stop_reason(self._finish_reason) or "end_turn"
        events.append(_event(StreamEvent(type="message_delta", delta=Delta(stop_reason=reason), usage=usage)))
        events.append(_event(StreamEvent(type="message_stop")))
        return events

    def _start(self, message_id: str, model: str) -> list[bytes]:
        self._started = True
        message = Message(id=message_id, model=model, content=[], usage=Usage(input_tokens=0, output_tokens=0))
        return [_event(StreamEvent(type="message_start", message=message))]

    def _delta(self, delta: ChunkDelta) -> list[bytes]:
        events: list[bytes] = []
        text = delta.content or delta.refusal
        if text:
            self.output_chars += len(text)
            if self._open_kind != "text":
                events.extend(self._open(Block(type="text", text=""), "text"))
            events.append(self._block_delta(self._block_index, Delta(type="text_delta", text=text)))
        for call in delta.tool_calls or []:
            if call.index not in self._tool_blocks:
                name = call.function.name if call.function is not None else None
                events.extend(self._open(Block(type="tool_use", id=call.id, name=name or "", input={}), "tool_use"))
                self._tool_blocks[call.index] = self._block_index
            arguments = call.function.arguments if call.function is not None else None
            if arguments:
                self.output_chars += len(arguments)
                partial = Delta(type="input_json_delta", partial_json=arguments)
                events.append(self._block_delta(self._tool_blocks[call.index], partial))
        return events

    def _open(self, block: Block, kind: str) -> list[bytes]:
        events = self._close()
        self._block_index += 1
        self._open_kind = kind
        events.append(_event(StreamEvent(type="content_block_start", index=self._block_index, content_block=block)))
        return events

    def _close(self) -> list[bytes]:
        if self._open_kind is None:
            return []
        self._open_kind = None
        return [_event(StreamEvent(type="content_block_stop", index=self._block_index))]

    def _block_delta(self, index: int, delta: Delta) -> bytes:
        return _event(StreamEvent(type="content_block_delta", index=index, delta=delta))


def _event(event: StreamEvent) -> bytes:
    return sse_event(event.type, _encoder.encode(event))


def encode(message: Message) -> bytes:
    return _encoder.encode(message)
