"""The one mapping of stop reasons between the protocols, each way. Every documented value has an entry;
an undocumented one maps to the plain "finished" value of the other protocol. Translated responses keep the
provider's original value (`provider_finish_reason` on an OpenAI choice, `provider_stop_reason` on an
Anthropic message)."""

from __future__ import annotations

# Anthropic `stop_reason` → OpenAI `finish_reason` (https://docs.anthropic.com/en/api/handling-stop-reasons)
ANTHROPIC_TO_OPENAI: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",  # a server tool paused a long turn; the client continues it by sending it back
    "refusal": "content_filter",
}

# OpenAI `finish_reason` → Anthropic `stop_reason`
OPENAI_TO_ANTHROPIC: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def openai_finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return ANTHROPIC_TO_OPENAI.get(stop_reason, "stop")


def anthropic_stop_reason(finish_reason: str | None, *, stop_sequence: str | None = None) -> str | None:
    if finish_reason is None:
        return None
    if finish_reason == "stop" and stop_sequence is not None:
        return "stop_sequence"
    return OPENAI_TO_ANTHROPIC.get(finish_reason, "end_turn")
