"""OpenAI legacy text completions wire types (`POST /v1/completions`): the view of a request the gateway reads and
the answer (and streamed chunks) the built-in mock produces. Unknown request fields are ignored here and survive
forwarding to OpenAI-protocol targets.

Reference: https://platform.openai.com/docs/api-reference/completions. `prompt` is a string, a list of strings, a
list of token ids or a list of lists of token ids; `max_tokens` defaults to 16. A streamed answer is SSE events of
`text_completion` objects (each choice holding a `text` piece), then `data: [DONE]`; with
`stream_options.include_usage`, a last chunk with `choices: []` carries the usage."""

from __future__ import annotations

from typing import Annotated

import msgspec

from dataplane.openai_wire import CompletionUsage, StreamOptionsView

DEFAULT_MAX_TOKENS = 16  # the API's documented default


class CompletionRequestView(msgspec.Struct, frozen=True):
    """Only the fields the gateway reads; everything else is forwarded untouched."""

    model: str
    prompt: str | Annotated[list[str | int | list[int]], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptionsView | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=0)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1)] | None = None
    best_of: Annotated[int, msgspec.Meta(ge=1)] | None = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.stream)

    @property
    def wants_usage_chunk(self) -> bool:
        return self.stream_options is not None and bool(self.stream_options.include_usage)

    @property
    def prompt_texts(self) -> list[str]:
        """Each prompt's text, in order ("" for a prompt given as token ids: only its provider can read those)."""
        if isinstance(self.prompt, str):
            return [self.prompt]
        if all(isinstance(item, int) for item in self.prompt):
            return [""]  # one prompt of token ids
        return [item if isinstance(item, str) else "" for item in self.prompt]

    def reserved_output_tokens(self) -> int:
        """The most output the request may produce: max_tokens per generated choice, for each prompt."""
        per_choice = DEFAULT_MAX_TOKENS if self.max_tokens is None else self.max_tokens
        return per_choice * max(self.n or 1, self.best_of or 1) * len(self.prompt_texts)


class TextChoice(msgspec.Struct, frozen=True):
    text: str
    index: int
    finish_reason: str | None
    logprobs: None = None


class TextCompletion(msgspec.Struct, frozen=True):
    """A completion, or one streamed chunk of one (then `usage` is unset but on the usage chunk)."""

    id: str
    created: int
    model: str
    choices: list[TextChoice]
    usage: CompletionUsage | msgspec.UnsetType = msgspec.UNSET
    object: str = "text_completion"
