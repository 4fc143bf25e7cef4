"""The Azure OpenAI adapter (kind `azure_openai`): the same protocol as OpenAI's chat completions, so the client's
JSON is forwarded with only `model` replaced (Azure ignores it: the deployment is in the URL), plus Azure's URL
scheme, its `api-key` header and its error bodies. Pure: no I/O.

Configuration: the provider's `base_url` is the resource endpoint, e.g. `https://my-resource.openai.azure.com`,
optionally with the API version as its query, e.g. `https://my-resource.openai.azure.com?api-version=2024-10-21`
(without one, `DEFAULT_API_VERSION`). A deployment's `model` is the Azure *deployment name*. The credentials'
`api_key` is sent in the `api-key` header.

Errors: Azure answers OpenAI-shaped error JSON (`{"error": {"code", "message", ...}}`; its `code` is a string
such as `content_filter`, `DeploymentNotFound`, `429`), relayed as is with its status. `content_filter` (a 400
when the prompt trips Azure's content filter) falls in the content-policy class of dataplane.retry, so a route
may fall over to another provider."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from dataplane.errors import GatewayError
from dataplane.providers.openai import classify_error as classify_openai_error
from dataplane.providers.openai import replace_model
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest

# The latest generally available data-plane version when this adapter was written (Azure's API lifecycle page)
DEFAULT_API_VERSION = "2024-10-21"
API_VERSION_PARAM = "api-version"


def chat_completions_url(base_url: str, deployment: str) -> str:
    """`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`; the version comes from
    `base_url`'s query (other query parameters there are kept), else the default."""
    parts = urlsplit(base_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name == API_VERSION_PARAM and value for name, value in query):
        query = [(name, value) for name, value in query if name != API_VERSION_PARAM]
        query.append((API_VERSION_PARAM, DEFAULT_API_VERSION))
    path = parts.path.rstrip("/")
    if not path.endswith("/openai"):
        path = f"{path}/openai"
    endpoint = f"{parts.scheme}://{parts.netloc}{path}"
    return f"{endpoint}/deployments/{quote(deployment, safe='')}/chat/completions?{urlencode(query)}"


def build_chat_request(
    body: bytes,
    *,
    target: Target,
    stream: bool,
    timeout_seconds: float | None = None,
    connect_timeout_seconds: float = 5.0,
    include_usage: bool = False,
) -> UpstreamRequest:
    """The upstream call for a validated client body (same arguments as dataplane.providers.openai's)."""
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if target.credentials.api_key:
        headers["api-key"] = target.credentials.api_key
    return UpstreamRequest(
        url=chat_completions_url(target.provider.base_url, target.deployment.model),
        headers=headers,
        body=replace_model(body, target.deployment.model, include_usage=include_usage),
        timeout_seconds=target.deployment.timeout_seconds if timeout_seconds is None else timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """Azure's error bodies are OpenAI's shape: 401/403 are our credentials, the rest is relayed with its code."""
    return classify_openai_error(status, body, dict(headers))
