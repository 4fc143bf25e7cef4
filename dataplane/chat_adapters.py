"""Which function answers an OpenAI chat request for a target of each provider kind that is not of OpenAI's
protocol (those take dataplane.chat's same-protocol fast path, and `mock` is answered in process). Every adapter
has the same shape: one attempt, returning a Response once the answer is known good, or raising a GatewayError."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from starlette.responses import Response

from dataplane.anthropic_chat import answer_with_anthropic
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers.bedrock_chat import answer_with_bedrock
from dataplane.providers.cohere_chat import answer_with_cohere
from dataplane.providers.gemini_chat import answer_with_gemini
from dataplane.providers.vertex_chat import answer_with_vertex
from dataplane.routing import Target
from dataplane.runtime import Runtime


class ChatAdapter(Protocol):
    def __call__(
        self,
        body: bytes,
        chat: ChatRequestView,
        *,
        target: Target,
        record: RequestRecord,
        runtime: Runtime,
        seconds_left: float,
    ) -> Awaitable[Response]: ...


CHAT_ADAPTERS: dict[str, ChatAdapter] = {
    "anthropic": answer_with_anthropic,
    "gemini": answer_with_gemini,
    "cohere": answer_with_cohere,
    "bedrock": answer_with_bedrock,
    "vertex_ai": answer_with_vertex,
}
