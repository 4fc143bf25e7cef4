"""OpenAI chat answers → Responses API answers. Pure: the response id and creation time are arguments.

- A completion → a Response: the text (or refusal) as one `message` item with an `output_text` part, each tool
  call as a `function_call` item (`call_id` = the chat tool call id), in that order.
- A stream of chunks → the Responses stream events, each with its `sequence_number`: `response.created` and
  `response.in_progress`; per text run `response.output_item.added`, `response.content_part.added`,
  `response.output_text.delta`..., `response.output_text.done`, `response.content_part.done`,
  `response.output_item.done`; per tool call `response.output_item.added`,
  `response.function_call_arguments.delta`..., `response.function_call_arguments.done`,
  `response.output_item.done`; then `response.completed` (or `response.incomplete`) with the whole Response.
- A tool call with no arguments gets `"{}"` (streamed as one last delta), so its arguments always parse.
- Finish reasons: one mapping, `FINISH_STATUS`; the provider's own value (the chat answer's `provider_finish_reason`
  when it was itself translated, else its `finish_reason`) is kept as `provider_finish_reason`.
- Usage: `prompt_tokens` → `input_tokens` (cached in `input_tokens_details`), `completion_tokens` →
  `output_tokens` (reasoning in `output_tokens_details`)."""

from __future__ import annotations

import msgspec

from dataplane.errors import GatewayError, UpstreamStatusError, UpstreamUnavailableError
from dataplane.responses_wire import (
    FunctionCall,
    IncompleteDetails,
    InputTokensDetails,
    OutputItem,
    OutputMessage,
    OutputRefusal,
    OutputText,
    OutputTokensDetails,
    Response,
    ResponseUsage,
    StreamEvent,
    sse_event,
)
from dataplane.translate.from_openai import ChunkOrError
from dataplane.translate.openai_types import ChatCompletion, ChunkToolCall
from dataplane.translate.sse import SseEvent, SseParser
from dataplane.translate.usage import OpenAIUsage

_encoder = msgspec.json.Encoder()
_chunk_decoder = msgspec.json.Decoder(ChunkOrError)

# chat `finish_reason` → (Response `status`, `incomplete_details.reason`); an undocumented value means completed
FINISH_STATUS: dict[str, tuple[str, str | None]] = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "function_call": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}


def response_usage(usage: OpenAIUsage) -> ResponseUsage:
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    if not cached and isinstance(usage.prompt_cache_hit_tokens, int):  # DeepSeek's own field, as usage_extract reads
        cached = usage.prompt_cache_hit_tokens
    reasoning = (usage.completion_tokens_details.reasoning_tokens or 0) if usage.completion_tokens_details else 0
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=cached),
        output_tokens_details=OutputTokensDetails(reasoning_tokens=reasoning),
    )


def finished(
    shell: Response,
    output: list[OutputItem],
    finish_reason: str | None,
    usage: OpenAIUsage | None,
    provider_reason: str | None = None,
) -> Response:
    """`shell` (the request's echo, in progress) as a finished Response."""
    status, reason = FINISH_STATUS.get(finish_reason or "stop", ("completed", None))
    return msgspec.structs.replace(
        shell,
        status=status,
        output=output,
        incomplete_details=IncompleteDetails(reason=reason) if reason is not None else None,
        usage=response_usage(usage) if usage is not None else None,
        provider_finish_reason=_first(provider_reason, finish_reason),
    )


def response_object(completion: ChatCompletion, shell: Response) -> Response:
    """A non-streamed chat completion as a Response; `shell` gives its id, creation time and the request's echo."""
    if not completion.choices:
        raise UpstreamUnavailableError("The upstream provider sent an answer with no choices.")
    choice = completion.choices[0]
    message = choice.message
    seed = shell.id.removeprefix("resp_")
    output: list[OutputItem] = []
    if message.content:
        output.append(OutputMessage(id=f"msg_{seed}", content=[OutputText(text=message.content)]))
    elif message.refusal:
        output.append(OutputMessage(id=f"msg_{seed}", content=[OutputRefusal(refusal=message.refusal)]))
    for index, call in enumerate(message.tool_calls or []):
        output.append(
            FunctionCall(
                id=f"fc_{seed}_{index}",
                call_id=call.id,
                name=call.function.name,
                arguments=call.function.arguments or "{}",
            )
        )
    shell = msgspec.structs.replace(shell, model=completion.model or shell.model)
    provider_reason = choice.provider_finish_reason if isinstance(choice.provider_finish_reason, str) else None
    return finished(shell, output, choice.finish_reason, completion.usage, provider_reason)


def _first(*values: str | None) -> str | msgspec.UnsetType:
    return next((value for value in values if value is not None), msgspec.UNSET)


def encode(response: Response) -> bytes:
    return _encoder.encode(response)


class _OpenCall(msgspec.Struct):
    output_index: int
    item_id: str
    call_id: str
    name: str
    arguments: str = ""


class StreamTranslator:
    """OpenAI chat SSE chunks in (split anywhere), Responses SSE events out."""

    def __init__(self, shell: Response) -> None:
        self._shell = shell
        self._seed = shell.id.removeprefix("resp_")
        self._parser = SseParser()
        self._sequence = 0
        self._started = False
        self._finished = False
        self._output: list[OutputItem | None] = []
        self._text_index: int | None = None  # output index of the open message item
        self._text = ""
        self._messages = 0
        self._calls: dict[int, _OpenCall] = {}  # chat tool call index → its function_call item
        self._finish_reason: str | None = None
        self._provider_reason: str | None = None
        self.openai_usage: OpenAIUsage | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [out for sse in self._parser.feed(chunk) for out in self.translate(sse)]

    def end(self) -> list[bytes]:
        """The chat stream is over; one without `[DONE]` is complete if it gave a finish reason."""
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
        events = [] if self._started else self._start(chunk.model)
        if chunk.usage is not None:
            self.openai_usage = chunk.usage
        for choice in chunk.choices[:1]:
            text = choice.delta.content or choice.delta.refusal
            if text:
                events.extend(self._text_delta(text))
            for call in choice.delta.tool_calls or []:
                events.extend(self._tool_delta(call))
            if choice.finish_reason is not None:
                self._finish_reason = choice.finish_reason
            if isinstance(choice.provider_finish_reason, str):
                self._provider_reason = choice.provider_finish_reason
        return events

    def finish(self) -> list[bytes]:
        """Close the open items, then `response.completed` (or `.incomplete`) with usage, once."""
        if self._finished or not self._started:
            return []
        self._finished = True
        events = self._close_text()
        for call in self._calls.values():
            if not call.arguments:  # a call without arguments still carries a JSON object, as OpenAI's do
                call.arguments = "{}"
                events.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=call.item_id,
                        output_index=call.output_index,
                        delta=call.arguments,
                    )
                )
            item = FunctionCall(id=call.item_id, call_id=call.call_id, name=call.name, arguments=call.arguments)
            self._output[call.output_index] = item
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    arguments=call.arguments,
                )
            )
            events.append(self._event("response.output_item.done", output_index=call.output_index, item=item))
        output = [item for item in self._output if item is not None]
        response = finished(self._shell, output, self._finish_reason, self.openai_usage, self._provider_reason)
        kind = "response.completed" if response.status == "completed" else "response.incomplete"
        events.append(self._event(kind, response=response))
        return events

    def _start(self, model: str) -> list[bytes]:
        self._started = True
        if model:
            self._shell = msgspec.structs.replace(self._shell, model=model)
        return [
            self._event("response.created", response=self._shell),
            self._event("response.in_progress", response=self._shell),
        ]

    def _text_delta(self, text: str) -> list[bytes]:
        events: list[bytes] = []
        if self._text_index is None:
            self._text_index = len(self._output)
            self._output.append(None)
            self._text = ""
            self._messages += 1
            item = OutputMessage(id=self._message_id(), content=[], status="in_progress")
            events.append(self._event("response.output_item.added", output_index=self._text_index, item=item))
            events.append(self._part_event("response.content_part.added", OutputText(text="")))
        self._text += text
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self._message_id(),
                output_index=self._text_index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _close_text(self) -> list[bytes]:
        if self._text_index is None:
            return []
        part = OutputText(text=self._text)
        item = OutputMessage(id=self._message_id(), content=[part])
        events = [
            self._event(
                "response.output_text.done",
                item_id=item.id,
                output_index=self._text_index,
                content_index=0,
                text=self._text,
                logprobs=[],
            ),
            self._part_event("response.content_part.done", part),
            self._event("response.output_item.done", output_index=self._text_index, item=item),
        ]
        self._output[self._text_index] = item
        self._text_index = None
        return events

    def _tool_delta(self, call: ChunkToolCall) -> list[bytes]:
        events: list[bytes] = []
        opened = self._calls.get(call.index)
        if opened is None:
            events.extend(self._close_text())
            item_id = f"fc_{self._seed}_{len(self._calls)}"
            name = call.function.name if call.function is not None else None
            opened = _OpenCall(
                output_index=len(self._output), item_id=item_id, call_id=call.id or f"call_{item_id}", name=name or ""
            )
            self._calls[call.index] = opened
            self._output.append(None)
            item = FunctionCall(
                id=item_id, call_id=opened.call_id, name=opened.name, arguments="", status="in_progress"
            )
            events.append(self._event("response.output_item.added", output_index=opened.output_index, item=item))
        arguments = call.function.arguments if call.function is not None else None
        if arguments:
            opened.arguments += arguments
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=opened.item_id,
                    output_index=opened.output_index,
                    delta=arguments,
                )
            )
        return events

    def _message_id(self) -> str:
        return f"msg_{self._seed}" if self._messages <= 1 else f"msg_{self._seed}_{self._messages}"

    def _part_event(self, kind: str, part: OutputText) -> bytes:
        return self._event(kind, item_id=self._message_id(), output_index=self._text_index, content_index=0, part=part)

    def _event(self, kind: str, **fields: object) -> bytes:
        event = StreamEvent(type=kind, sequence_number=self._sequence, **fields)  # type: ignore[arg-type]
        self._sequence += 1
        return sse_event(event, _encoder)

    def error(self, error: GatewayError) -> bytes:
        """A failure after the stream began, as the Responses `error` event, next in sequence."""
        event = error_event(error, sequence_number=self._sequence)
        self._sequence += 1
        return event


def error_event(error: GatewayError, *, sequence_number: int = 0) -> bytes:
    """A failure after the stream began, as the Responses `error` event."""
    event = StreamEvent(
        type="error", sequence_number=sequence_number, code=error.code, message=error.message, param=error.param
    )
    return sse_event(event, _encoder)
