"""The OpenAI-protocol kinds' other endpoints: `/v1/embeddings` and `/v1/completions` (legacy text completions)
on the same-protocol fast path. The request is the chat builder's (headers, credentials, `model` replaced, the
client's other fields untouched, `stream_options.include_usage` when asked) with the endpoint's URL:
`{base_url}/embeddings` for OpenAI and the OpenAI-compatible family, and
`{endpoint}/openai/deployments/{deployment}/embeddings?api-version=...` for Azure OpenAI. DeepSeek serves its text
(FIM) completions only under its beta base URL, `https://api.deepseek.com/beta/completions`
(https://api-docs.deepseek.com/api/create-completion), whichever of its base URLs the provider holds. Pure: no I/O."""

from __future__ import annotations

from typing import Literal

import msgspec

from dataplane.providers import azure_openai
from dataplane.providers.openai_family import openai_protocol_builder
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest

Endpoint = Literal["embeddings", "completions"]
_CHAT_PATH = "/chat/completions"
_DEEPSEEK_BETA = "/beta"


def endpoint_url(target: Target, endpoint: Endpoint) -> str:
    """The endpoint's URL for the target; like every upstream URL, it comes from the snapshot."""
    base_url = target.provider.base_url
    if target.provider.kind == "deepseek" and endpoint == "completions":
        base = base_url.rstrip("/")
        if not base.endswith(_DEEPSEEK_BETA):  # `https://api.deepseek.com` or its `/v1` alias
            base = base.removesuffix("/v1") + _DEEPSEEK_BETA
        return f"{base}/{endpoint}"
    if target.provider.kind != "azure_openai":
        return f"{base_url.rstrip('/')}/{endpoint}"
    # Azure's chat URL with its last path segments swapped: the api-version handling stays in one place
    chat_url = azure_openai.chat_completions_url(base_url, target.deployment.model)
    path, _, query = chat_url.partition("?")
    return f"{path.removesuffix(_CHAT_PATH)}/{endpoint}?{query}"


def build_request(
    body: bytes,
    *,
    target: Target,
    endpoint: Endpoint,
    stream: bool,
    timeout_seconds: float | None = None,
    connect_timeout_seconds: float = 5.0,
    include_usage: bool = False,
) -> UpstreamRequest:
    """The upstream call of a validated client body to `endpoint` (arguments as the chat builders')."""
    chat = openai_protocol_builder(target)(
        body,
        target=target,
        stream=stream,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
        include_usage=include_usage,
    )
    return msgspec.structs.replace(chat, url=endpoint_url(target, endpoint))
