"""Token estimates for admission (rate limits and budgets reserve before the provider has answered) and for
requests whose provider reported no usage. Deliberately simple and cheap: about 4 bytes of JSON per token."""

from __future__ import annotations

from dataplane.openai_wire import ChatRequestView
from shared.usage import TokenUsage

BYTES_PER_TOKEN = 4
DEFAULT_MAX_OUTPUT_TOKENS = 1024  # reserved for output when the request sets no limit


def prompt_tokens_estimate(body_size: int) -> int:
    return max(1, body_size // BYTES_PER_TOKEN)


def text_tokens_estimate(text_size: int) -> int:
    return 0 if text_size == 0 else max(1, text_size // BYTES_PER_TOKEN)


def max_output_tokens(chat: ChatRequestView) -> int:
    limit = chat.max_completion_tokens if chat.max_completion_tokens is not None else chat.max_tokens
    return DEFAULT_MAX_OUTPUT_TOKENS if limit is None or limit <= 0 else limit


def reservation_tokens(chat: ChatRequestView, *, body_size: int) -> int:
    """What limits and budgets reserve at admission: the prompt's estimate plus the most output it may ask."""
    return prompt_tokens_estimate(body_size) + max_output_tokens(chat)


def estimated_usage(*, prompt_bytes: int, output_chars: int) -> TokenUsage:
    """The gateway's guess when the provider said nothing: the request body's size and the text it produced."""
    return TokenUsage(input=prompt_tokens_estimate(prompt_bytes), output=text_tokens_estimate(output_chars))
