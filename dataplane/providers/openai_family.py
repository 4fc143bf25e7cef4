"""The OpenAI-protocol kinds (`openai`, `openai_compatible`, `azure_openai`): same wire format, different URLs
and credentials headers."""

from __future__ import annotations

from collections.abc import Callable

from dataplane.providers import azure_openai, openai
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest

KINDS = frozenset({"openai", "openai_compatible", "azure_openai"})


def openai_protocol_builder(target: Target) -> Callable[..., UpstreamRequest]:
    """The request builder of an OpenAI-protocol target: Azure's URLs and header, or OpenAI's."""
    if target.provider.kind == "azure_openai":
        return azure_openai.build_chat_request
    return openai.build_chat_request
