"""The OpenAI-protocol kinds (`openai`, `azure_openai` and the OpenAI-compatible family): same wire format,
different URLs and credentials headers."""

from __future__ import annotations

from collections.abc import Callable

from dataplane.providers import azure_openai, openai
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest
from shared.snapshot import OPENAI_COMPATIBLE_KINDS

KINDS = frozenset({"openai", "azure_openai", *OPENAI_COMPATIBLE_KINDS})


def openai_protocol_builder(target: Target) -> Callable[..., UpstreamRequest]:
    """The request builder of an OpenAI-protocol target: Azure's URLs and header, or OpenAI's."""
    if target.provider.kind == "azure_openai":
        return azure_openai.build_chat_request
    return openai.build_chat_request
