"""The built-in `mock` provider: deterministic OpenAI-shaped answers with no I/O, for the quickstart and tests.
The reply is derived from the last user message; token counts are word counts. Pure: the time and the
completion id are arguments."""

from __future__ import annotations

import msgspec

from dataplane.openai_wire import (
    SSE_DONE,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequestView,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
    MessageView,
    ResponseMessage,
    sse_event,
)
from shared.usage import TokenUsage

REPLY_PREFIX = "Mock reply to: "
QUOTED_CHARS = 200
_encoder = msgspec.json.Encoder()


def message_text(message: MessageView) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return " ".join(part.text for part in message.content if part.text)


def reply_text(request: ChatRequestView) -> str:
    """`Mock reply to: ` and the first 200 characters of the last user message, whitespace collapsed."""
    last_user = next((m for m in reversed(request.messages) if m.role == "user"), None)
    quoted = " ".join(message_text(last_user).split()) if last_user is not None else ""
    return (REPLY_PREFIX + quoted[:QUOTED_CHARS]).rstrip()


def count_tokens(text: str) -> int:
    return len(text.split())


def usage_of(request: ChatRequestView, reply: str) -> CompletionUsage:
    prompt = sum(count_tokens(message_text(m)) for m in request.messages)
    completion = count_tokens(reply)
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def token_usage(request: ChatRequestView) -> TokenUsage:
    """What the mock reports for this request, streamed or not (the same numbers as its `usage` object)."""
    usage = usage_of(request, reply_text(request))
    return TokenUsage(input=usage.prompt_tokens, output=usage.completion_tokens)


def complete(request: ChatRequestView, *, model: str, completion_id: str, created: int) -> ChatCompletion:
    reply = reply_text(request)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[Choice(index=0, message=ResponseMessage(role="assistant", content=reply), finish_reason="stop")],
        usage=usage_of(request, reply),
    )


def encode_completion(request: ChatRequestView, *, model: str, completion_id: str, created: int) -> bytes:
    return _encoder.encode(complete(request, model=model, completion_id=completion_id, created=created))


def stream_events(request: ChatRequestView, *, model: str, completion_id: str, created: int) -> list[bytes]:
    """The SSE events of a streamed answer: a role chunk, one content chunk per word, a finish chunk, the usage
    chunk (only when the client asked for `stream_options.include_usage`), then `[DONE]`."""
    reply = reply_text(request)

    def chunk(delta: ChoiceDelta, finish_reason: str | None = None) -> bytes:
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)
        return sse_event(
            _encoder.encode(ChatCompletionChunk(id=completion_id, created=created, model=model, choices=[choice]))
        )

    events = [chunk(ChoiceDelta(role="assistant", content=""))]
    words = reply.split(" ")
    events.extend(chunk(ChoiceDelta(content=word if i == 0 else f" {word}")) for i, word in enumerate(words))
    events.append(chunk(ChoiceDelta(), finish_reason="stop"))
    if request.wants_usage_chunk:
        usage_chunk = ChatCompletionChunk(
            id=completion_id, created=created, model=model, choices=[], usage=usage_of(request, reply)
        )
        events.append(sse_event(_encoder.encode(usage_chunk)))
    events.append(SSE_DONE)
    return events
