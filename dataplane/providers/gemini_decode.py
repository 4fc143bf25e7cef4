"""The Google Gemini adapter, answer side: a GenerateContentResponse → an OpenAI chat completion, the
`streamGenerateContent?alt=sse` events → OpenAI chunks, Gemini usage → TokenUsage. Pure: no I/O.

- Text parts (thought summaries left out) become `content`; `functionCall` parts become `tool_calls`, in order,
  with Gemini's call id or, when it gives none, `call_<seed>_<n>` (the seed is passed in: the adapter stays
  pure and the ids stable); a call with no args gets the arguments "{}".
- `finishReason` maps through `FINISH_REASONS` (every documented value; STOP with function calls is
  `tool_calls`), the original kept as `provider_finish_reason`. A prompt blocked before any candidate
  (`promptFeedback.blockReason`) is an answer with no content and finish reason `content_filter`.
- Usage: `promptTokenCount` includes `cachedContentTokenCount`, `candidatesTokenCount` excludes
  `thoughtsTokenCount`: OpenAI's `prompt_tokens` is prompt + tool-use prompt, `completion_tokens` candidates +
  thoughts (`reasoning_tokens`), `cached_tokens` the cached content.
- A stream's events each carry the usage so far; the last one has the finish reason. The stream has no `[DONE]`
  of its own: the gateway sends one (after the usage chunk, if the client asked) once the upstream closes."""

from __future__ import annotations

from typing import Any

import msgspec

from dataplane.errors import UpstreamUnavailableError
from dataplane.openai_wire import SSE_DONE, sse_event
from dataplane.providers import gemini_wire as wire
from dataplane.providers.gemini import stream_error
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
from dataplane.translate.usage import CompletionTokensDetails, OpenAIUsage, PromptTokensDetails
from shared.usage import TokenUsage

# Gemini `finishReason` (https://ai.google.dev/api/generate-content#FinishReason) → OpenAI `finish_reason`
FINISH_REASONS: dict[str, str] = {
    "FINISH_REASON_UNSPECIFIED": "stop",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",  # an unsupported language was refused
    "OTHER": "stop",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "MALFORMED_FUNCTION_CALL": "stop",  # the model's call was unusable: no tool call is returned
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "IMAGE_OTHER": "stop",
    "NO_IMAGE": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
    "MISSING_THOUGHT_SIGNATURE": "stop",
    "MALFORMED_RESPONSE": "stop",
    "MODEL_ARMOR": "content_filter",  # Vertex AI only: a Model Armor template blocked the answer
}

_encoder = msgspec.json.Encoder()
_response_decoder = msgspec.json.Decoder(wire.GenerateContentResponse)


def finish_reason(gemini_reason: str, *, called_tools: bool) -> str:
    mapped = FINISH_REASONS.get(gemini_reason, "stop")
    return "tool_calls" if mapped == "stop" and called_tools and gemini_reason == "STOP" else mapped


def token_usage(usage: wire.UsageMetadata) -> TokenUsage:
    cached = min(usage.cached_content_token_count, usage.prompt_token_count)
    return TokenUsage(
        input=usage.prompt_token_count - cached + usage.tool_use_prompt_token_count,
        cached_input=cached,
        output=usage.candidates_token_count,
        reasoning=usage.thoughts_token_count,
    )


def openai_usage(usage: wire.UsageMetadata) -> OpenAIUsage:
    prompt = usage.prompt_token_count + usage.tool_use_prompt_token_count
    completion = usage.candidates_token_count + usage.thoughts_token_count
    return OpenAIUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_content_token_count),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.thoughts_token_count),
    )


def decode_response(body: bytes) -> wire.GenerateContentResponse:
    try:
        return _response_decoder.decode(body)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent an unreadable answer.") from None


def _arguments(args: dict[str, Any] | None) -> str:
    return _encoder.encode(args).decode() if args else "{}"


def _call_id(call: wire.FunctionCall, seed: str, number: int) -> str:
    return call.id or f"call_{seed}_{number}"


def _answer_parts(response: wire.GenerateContentResponse) -> list[wire.Part]:
    if not response.candidates or response.candidates[0].content is None:
        return []
    return [part for part in response.candidates[0].content.parts if not part.thought]


def openai_completion(response: wire.GenerateContentResponse, *, created: int, seed: str, model: str) -> ChatCompletion:
    """The completion for a whole answer; `seed` makes the ids of calls Gemini left without one."""
    parts = _answer_parts(response)
    text = "".join(part.text or "" for part in parts if part.text is not None)
    calls = [
        ToolCall(id=_call_id(call, seed, n), function=FunctionCall(name=call.name, arguments=_arguments(call.args)))
        for n, call in enumerate(part.function_call for part in parts if part.function_call is not None)
    ]
    original = _original_reason(response)
    choice = Choice(
        index=0,
        message=ResponseMessage(content=text or None, tool_calls=calls or None),
        finish_reason=finish_reason(original, called_tools=bool(calls)) if original else "stop",
        provider_finish_reason=original or msgspec.UNSET,
    )
    usage = openai_usage(response.usage_metadata) if response.usage_metadata is not None else None
    return ChatCompletion(
        id=f"chatcmpl-{response.response_id or seed}",
        created=created,
        model=response.model_version or model,
        choices=[choice],
        usage=usage,
    )


def _original_reason(response: wire.GenerateContentResponse) -> str | None:
    if response.candidates:
        return response.candidates[0].finish_reason
    if response.prompt_feedback is not None and response.prompt_feedback.block_reason:
        return response.prompt_feedback.block_reason
    return None


def encode(completion: ChatCompletion) -> bytes:
    return _encoder.encode(completion)


def output_chars(completion: ChatCompletion) -> int:
    message = completion.choices[0].message
    calls = sum(len(call.function.arguments) for call in message.tool_calls or [])
    return len(message.content or "") + calls


class StreamTranslator:
    """Gemini SSE events in, OpenAI SSE chunks out. `usage` holds the provider's counts so far."""

    def __init__(self, *, created: int, include_usage: bool, seed: str, model: str) -> None:
        self.created = created
        self.include_usage = include_usage
        self.seed = seed
        self.gemini_usage: wire.UsageMetadata | None = None
        self.output_chars = 0  # text and tool arguments sent, for an estimate if the provider reports no usage
        self._id = f"chatcmpl-{seed}"
        self._model = model
        self._started = False
        self._calls = 0
        self._finished = False
        self._parser = SseParser()

    @property
    def usage(self) -> TokenUsage | None:
        return token_usage(self.gemini_usage) if self.gemini_usage is not None else None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [out for sse in self._parser.feed(chunk) for out in self.translate(sse)]

    def end(self) -> list[bytes]:
        """The upstream closed the stream: it must have given a finish reason."""
        events = [out for sse in self._parser.close() for out in self.translate(sse)]
        if not self._finished:
            raise UpstreamUnavailableError("The upstream provider ended the stream before the answer was complete.")
        if self.include_usage:
            usage = openai_usage(self.gemini_usage) if self.gemini_usage is not None else None
            chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[], usage=usage)
            events.append(sse_event(_encoder.encode(chunk)))
        events.append(SSE_DONE)
        return events

    def translate(self, sse: SseEvent) -> list[bytes]:
        try:
            response = _response_decoder.decode(sse.data)
        except msgspec.DecodeError:
            raise UpstreamUnavailableError("The upstream provider sent an unreadable stream event.") from None
        if response.error is not None:
            raise stream_error(response.error)
        if response.usage_metadata is not None:
            self.gemini_usage = response.usage_metadata
        events: list[bytes] = []
        if not self._started:
            self._started = True
            self._id = f"chatcmpl-{response.response_id}" if response.response_id else self._id
            self._model = response.model_version or self._model
            events.append(self._chunk(ChunkDelta(role="assistant", content="")))
        for part in _answer_parts(response):
            events.extend(self._part(part))
        original = _original_reason(response)
        if original and not self._finished:
            self._finished = True
            reason = finish_reason(original, called_tools=self._calls > 0)
            events.append(self._chunk(ChunkDelta(), finish_reason=reason, provider=original))
        return events

    def _part(self, part: wire.Part) -> list[bytes]:
        if part.text:
            self.output_chars += len(part.text)
            return [self._chunk(ChunkDelta(content=part.text))]
        if part.function_call is None:
            return []
        call = part.function_call
        arguments = _arguments(call.args)
        self.output_chars += len(arguments)
        chunk_call = ChunkToolCall(
            index=self._calls,
            id=_call_id(call, self.seed, self._calls),
            type="function",
            function=ChunkFunction(name=call.name, arguments=arguments),
        )
        self._calls += 1
        return [self._chunk(ChunkDelta(tool_calls=[chunk_call]))]

    def _chunk(self, delta: ChunkDelta, *, finish_reason: str | None = None, provider: str | None = None) -> bytes:
        choice = ChunkChoice(
            index=0, delta=delta, finish_reason=finish_reason, provider_finish_reason=provider or msgspec.UNSET
        )
        chunk = ChatCompletionChunk(id=self._id, created=self.created, model=self._model, choices=[choice])
        return sse_event(_encoder.encode(chunk))
