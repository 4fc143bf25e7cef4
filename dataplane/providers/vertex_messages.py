"""Anthropic Messages requests served by a Claude model on Vertex AI (kind `vertex_ai`, a `claude...` deployment
model): the same-protocol fast path. The client's body is forwarded as it came except that `model` moves to the
URL and `"anthropic_version": "vertex-2023-10-16"` is set (unknown fields, `cache_control`, thinking blocks and
their signatures survive); of the client's headers only `anthropic-beta` is forwarded. A URL image or
document source, which Vertex refuses, is refused first with a 400 naming the block. The answer (or stream) is
relayed as is while its usage is read on the side, as for kind `anthropic` (dataplane.messages). Gemini models
on Vertex are reached by translation instead (dataplane.messages_translated)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.responses import Response

from dataplane.anthropic_chat import record_message_usage
from dataplane.errors import GatewayError
from dataplane.observability import RequestRecord
from dataplane.providers import anthropic, vertex
from dataplane.providers.vertex_chat import classify, time_left, with_token
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.translate.anthropic_tap import AnthropicTap
from dataplane.upstream_calls import open_converted_stream, send_json


def forwards_messages(target: Target) -> bool:
    """Whether an Anthropic client's body goes to this target as it is (a Claude model on Vertex)."""
    return target.provider.kind == "vertex_ai" and vertex.is_anthropic_model(target.deployment.model)


async def forward_messages_to_vertex(
    body: bytes,
    *,
    stream: bool,
    client_headers: Mapping[str, str],
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
    error_event: Callable[[GatewayError], bytes],
) -> Response:
    """One attempt; `error_event` renders a failure after the first streamed event (an Anthropic `error` event)."""
    vertex.refuse_messages_url_sources(body)  # before any token is minted or call made
    deadline = runtime.resilience.monotonic() + seconds_left
    timeout = target.deployment.timeout_seconds

    async def attempt(token: str) -> Response:
        request = vertex.build_anthropic_request(
            body,
            base_url=target.provider.base_url,
            model=target.deployment.model,
            token=token,
            stream=stream,
            timeout_seconds=timeout if stream else min(timeout, time_left(deadline, runtime)),
            connect_seconds=runtime.resilience.retry.connect_timeout_seconds,
            client_headers=client_headers,
        )
        if stream:
            return await open_converted_stream(
                request,
                classify=classify,
                converter=AnthropicTap(),
                record=record,
                runtime=runtime,
                seconds_left=time_left(deadline, runtime),
                prompt_bytes=len(body),
                error_event=error_event,
            )
        reply = await send_json(request, classify=classify, record=record, runtime=runtime)
        record_message_usage(record, anthropic.decode_message(reply), prompt_bytes=len(body))
        return Response(reply, media_type="application/json")

    return await with_token(attempt, target=target, record=record, runtime=runtime)
