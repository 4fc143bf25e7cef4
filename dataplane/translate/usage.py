"""Provider usage → shared.usage.TokenUsage (non-overlapping classes), for both protocols."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from dataplane.anthropic_wire import Usage as AnthropicUsage
from shared.usage import TokenUsage


class PromptTokensDetails(msgspec.Struct, frozen=True):
    cached_tokens: int | None = None


class CompletionTokensDetails(msgspec.Struct, frozen=True):
    reasoning_tokens: int | None = None


class OpenAIUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    # DeepSeek's cached input (its answers may lack `prompt_tokens_details`); UNSET is not encoded
    prompt_cache_hit_tokens: int | UnsetType = UNSET


def from_anthropic(usage: AnthropicUsage) -> TokenUsage:
    """Anthropic's `input_tokens` already excludes cache reads and writes; `output_tokens` includes thinking."""
    return TokenUsage(
        input=usage.input_tokens or 0,
        cached_input=usage.cache_read_input_tokens or 0,
        cache_write=usage.cache_creation_input_tokens or 0,
        output=usage.output_tokens or 0,
    )


def from_openai(usage: OpenAIUsage) -> TokenUsage:
    """OpenAI's `prompt_tokens` includes the cached ones and `completion_tokens` the reasoning ones."""
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    details = usage.completion_tokens_details
    reasoning = (details.reasoning_tokens or 0) if details else 0
    return TokenUsage(
        input=max(0, usage.prompt_tokens - cached),
        cached_input=cached,
        output=max(0, usage.completion_tokens - reasoning),
        reasoning=reasoning,
    )


def merge_anthropic(current: AnthropicUsage | None, update: AnthropicUsage | None) -> AnthropicUsage | None:
    """A stream's usage so far: `message_delta` counts are cumulative and replace those of `message_start`."""
    if update is None:
        return current
    if current is None:
        return update
    return AnthropicUsage(
        input_tokens=update.input_tokens if update.input_tokens is not None else current.input_tokens,
        output_tokens=update.output_tokens if update.output_tokens is not None else current.output_tokens,
        cache_creation_input_tokens=_latest(update.cache_creation_input_tokens, current.cache_creation_input_tokens),
        cache_read_input_tokens=_latest(update.cache_read_input_tokens, current.cache_read_input_tokens),
    )


def _latest(update: int | None, current: int | None) -> int | None:
    return update if update is not None else current
