"""The OpenAI-protocol kinds (`openai`, `azure_openai` and the OpenAI-compatible family): same wire format,
different URLs and credentials headers, and for the family the documented quirks of dataplane.providers.compat."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from dataplane.errors import GatewayError
from dataplane.providers import azure_openai, compat, openai
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest
from shared.snapshot import OPENAI_COMPATIBLE_KINDS

KINDS = frozenset({"openai", "azure_openai", *OPENAI_COMPATIBLE_KINDS})


def openai_protocol_builder(target: Target) -> Callable[..., UpstreamRequest]:
    """The request builder of an OpenAI-protocol target: Azure's URLs and header, the family's quirks, or OpenAI's."""
    if target.provider.kind == "azure_openai":
        return azure_openai.build_chat_request
    if target.provider.kind in OPENAI_COMPATIBLE_KINDS:
        return compat.build_chat_request
    return openai.build_chat_request


def openai_protocol_classifier(target: Target) -> Callable[[int, bytes, Mapping[str, str]], GatewayError]:
    """The error classifier of an OpenAI-protocol target: the family's (its kind's error shapes and statuses), or
    OpenAI's (Azure answers OpenAI's shape)."""
    if target.provider.kind in OPENAI_COMPATIBLE_KINDS:
        return partial(compat.classify_error, target.provider.kind)
    return lambda status, body, headers: openai.classify_error(status, body, dict(headers))


def reasoning_in_completion(target: Target) -> bool:
    """Whether the target's `completion_tokens` include its reasoning tokens (OpenAI's way; not xAI's)."""
    return compat.quirks_of(target.provider.kind).reasoning_in_completion
