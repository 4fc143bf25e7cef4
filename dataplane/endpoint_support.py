"""Which provider kinds serve which OpenAI endpoint beyond chat, and the refusal when none of a route's targets
does: a route's targets of other kinds are skipped (its fallbacks still serve); a route with none of them is a
clear 400 in OpenAI error format, before anything is reserved or sent."""

from __future__ import annotations

from dataplane.errors import InvalidRequestError
from dataplane.providers import openai_family
from dataplane.routing import Target

# OpenAI-compatible kinds whose provider documents no such endpoint: refused like any other kind without it.
# DeepSeek's API reference has chat and FIM completions only (https://api-docs.deepseek.com); xAI's REST
# reference lists no embeddings (https://docs.x.ai/developers/rest-api-reference/inference).
NO_EMBEDDINGS_KINDS = frozenset({"deepseek", "xai"})
# Mistral's text completion is FIM at /v1/fim/completions, another request (https://docs.mistral.ai/api/); Groq
# serves chat, responses and audio (https://console.groq.com/docs/openai; its SDK has no completions resource).
NO_COMPLETIONS_KINDS = frozenset({"mistral", "groq"})
# /v1/embeddings: the OpenAI protocol forwarded, Gemini and Cohere translated, the mock answering in process
EMBEDDINGS_KINDS = frozenset({"mock", "gemini", "cohere", *openai_family.KINDS}) - NO_EMBEDDINGS_KINDS
# /v1/completions (legacy text completions): only the OpenAI protocol has them, and the mock
COMPLETIONS_KINDS = frozenset({"mock", *openai_family.KINDS}) - NO_COMPLETIONS_KINDS


class UnsupportedEndpointError(InvalidRequestError):
    code = "unsupported_endpoint"

    def __init__(self, model: str, endpoint: str) -> None:
        super().__init__(f"The model `{model}` does not support {endpoint}.", param="model")


def supporting_targets(targets: list[Target], *, kinds: frozenset[str], model: str, endpoint: str) -> list[Target]:
    """`targets` of the kinds that serve `endpoint`, in order; UnsupportedEndpointError if there are none."""
    supported = [target for target in targets if target.provider.kind in kinds]
    if not supported:
        raise UnsupportedEndpointError(model, endpoint)
    return supported
