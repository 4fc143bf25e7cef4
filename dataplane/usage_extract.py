"""Token usage of OpenAI chat completions (and of legacy text completions and embeddings, whose `usage` has the
same shape), in the non-overlapping classes of `shared.usage.TokenUsage`.

Non-streaming: the answer's `usage` object. Streaming: `StreamUsageScanner` reads the SSE events as they pass
(each event's JSON through one small view decoder), keeps the usage chunk's numbers, and can hold back that
usage-only chunk (`choices: []`) from a client that did not ask for it (the gateway always asks the provider,
DESIGN.md §4). Events are forwarded whole, in order, as soon as they are complete. When the provider reports no
usage (or the client left before it came) the tokens are estimated (`dataplane.estimate`) and flagged."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import msgspec

from dataplane.estimate import estimated_usage
from shared.usage import TokenUsage


class _PromptDetails(msgspec.Struct, frozen=True):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct, frozen=True):
    reasoning_tokens: int | None = None


class _UsageView(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek's cached input (prompt = hit + miss)


class _GroqExtras(msgspec.Struct, frozen=True):
    usage: _UsageView | None = None  # Groq reports a stream's usage here, on its last chunk


class _ContentView(msgspec.Struct, frozen=True):
    """A message (non-streaming) or a delta (streaming): only what an output estimate needs."""

    content: str | None = None
    refusal: str | None = None
    tool_calls: msgspec.Raw = msgspec.Raw(b"")  # sized, not read (Raw cannot be in a union with None)


class _ChoiceView(msgspec.Struct, frozen=True):
    message: _ContentView | None = None
    delta: _ContentView | None = None
    text: str | None = None  # legacy text completions (/v1/completions), whole or streamed


class _CompletionView(msgspec.Struct, frozen=True):
    """A chat completion or one chunk of a streamed one."""

    choices: list[_ChoiceView] | None = None
    usage: _UsageView | None = None
    x_groq: _GroqExtras | None = None


_completion_decoder = msgspec.json.Decoder(_CompletionView)
_EVENT_END = re.compile(rb"\r?\n\r?\n")
_DATA_PREFIX = b"data:"


def token_usage(usage: _UsageView, *, reasoning_in_completion: bool = True) -> TokenUsage:
    """OpenAI's overlapping counts (cached ⊂ prompt, reasoning ⊂ completion) split into disjoint classes. DeepSeek
    reports cached input as `prompt_cache_hit_tokens`; xAI reports reasoning apart from `completion_tokens`
    (`reasoning_in_completion=False`: dataplane.providers.compat)."""
    cached = (usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None) or 0
    cached = cached or usage.prompt_cache_hit_tokens or 0
    reasoning = (usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else None) or 0
    cached = min(max(cached, 0), max(usage.prompt_tokens, 0))
    if not reasoning_in_completion:
        return TokenUsage(
            input=max(usage.prompt_tokens, 0) - cached,
            cached_input=cached,
            output=max(usage.completion_tokens, 0),
            reasoning=max(reasoning, 0),
        )
    reasoning = min(max(reasoning, 0), max(usage.completion_tokens, 0))
    return TokenUsage(
        input=max(usage.prompt_tokens, 0) - cached,
        cached_input=cached,
        output=max(usage.completion_tokens, 0) - reasoning,
        reasoning=reasoning,
    )


def _content_size(choices: list[_ChoiceView] | None) -> int:
    size = 0
    for choice in choices or ():
        size += len(choice.text or "")
        part = choice.message or choice.delta
        if part is None:
            continue
        size += len(part.content or "") + len(part.refusal or "") + len(part.tool_calls)
    return size


def completion_usage(
    body: bytes, *, prompt_bytes: int, reasoning_in_completion: bool = True
) -> tuple[TokenUsage, bool]:
    """The usage of a non-streamed completion, and whether it is estimated (the provider reported none)."""
    try:
        completion = _completion_decoder.decode(body)
    except msgspec.DecodeError:
        return estimated_usage(prompt_bytes=prompt_bytes, output_chars=0), True
    if completion.usage is not None:
        return token_usage(completion.usage, reasoning_in_completion=reasoning_in_completion), False
    return estimated_usage(prompt_bytes=prompt_bytes, output_chars=_content_size(completion.choices)), True


def _split_events(buffer: bytes) -> list[bytes]:
    events, start = [], 0
    for end in _EVENT_END.finditer(buffer):
        events.append(buffer[start : end.end()])
        start = end.end()
    return events


class StreamUsageScanner:
    """Follows one OpenAI SSE stream: `feed` each piece of body as it arrives and forward what it returns (whole
    events only), `flush` at the end, then read `result()`."""

    def __init__(self, *, prompt_bytes: int, hide_usage_chunk: bool, reasoning_in_completion: bool = True) -> None:
        self._prompt_bytes = prompt_bytes
        self._hide_usage_chunk = hide_usage_chunk
        self._reasoning_in_completion = reasoning_in_completion
        self._pending = b""
        self._output_chars = 0
        self.usage: TokenUsage | None = None

    def feed(self, data: bytes) -> bytes:
        buffer = self._pending + data if self._pending else data
        if b"\r" in buffer:
            events = _split_events(buffer)
            self._pending = buffer[sum(len(event) for event in events) :]
        else:  # the usual framing: split without a regex
            parts = buffer.split(b"\n\n")
            self._pending = parts.pop()
            events = [part + b"\n\n" for part in parts]
        kept = [event for event in events if self._scan(event)]
        if len(kept) == len(events):
            return buffer[: len(buffer) - len(self._pending)]
        return b"".join(kept)

    def flush(self) -> bytes:
        """What is left of an unterminated last event (forwarded as it came: it is not ours to judge)."""
        rest, self._pending = self._pending, b""
        return rest if rest and self._scan(rest) else b""

    def result(self) -> tuple[TokenUsage, bool]:
        """The provider's usage, or the estimate from what was streamed so far; and whether it is estimated."""
        if self.usage is not None:
            return self.usage, False
        return estimated_usage(prompt_bytes=self._prompt_bytes, output_chars=self._output_chars), True

    def _scan(self, event: bytes) -> bool:
        """Take what the event says; False for the usage-only chunk that the client must not see."""
        lines = [event[:-2]] if event.startswith(b"data: {") and event.count(b"\n") == 2 else event.splitlines()
        for line in lines:
            if not line.startswith(_DATA_PREFIX):
                continue
            payload = line[len(_DATA_PREFIX) :].strip()
            if not payload.startswith(b"{"):
                continue  # [DONE], or nothing
            try:
                chunk = _completion_decoder.decode(payload)
            except msgspec.DecodeError:
                continue  # not ours to judge: relayed as is
            self._output_chars += _content_size(chunk.choices)
            if chunk.usage is not None:
                self.usage = token_usage(chunk.usage, reasoning_in_completion=self._reasoning_in_completion)
                if self._hide_usage_chunk and not chunk.choices:
                    return False
            elif chunk.x_groq is not None and chunk.x_groq.usage is not None:
                self.usage = token_usage(chunk.x_groq.usage, reasoning_in_completion=self._reasoning_in_completion)
        return True


async def scanned(chunks: AsyncIterator[bytes], scanner: StreamUsageScanner) -> AsyncIterator[bytes]:
    """The upstream body through `scanner`: whole events, the hidden usage chunk left out."""
    try:
        async for data in chunks:
            forwarded = scanner.feed(data)
            if forwarded:
                yield forwarded
        tail = scanner.flush()
        if tail:
            yield tail
    finally:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
