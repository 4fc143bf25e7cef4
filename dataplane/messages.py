"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages protocol in front of every target.

The pipeline is chat.py's (authenticate → read the body → authorize the model → admit → select the targets →
call them with retries and fallbacks); the key comes as `x-api-key` (Anthropic's SDKs) or `Authorization:
Bearer`, and every refusal is Anthropic error JSON (app.py renders GatewayErrors on these paths that way).

- `anthropic` targets: the same-protocol fast path. The body is forwarded byte for byte except `model` (unknown
  fields, `cache_control`, thinking blocks and their signatures survive), with the client's `anthropic-version`
  and `anthropic-beta` headers; streams are relayed as they arrive while a tap reads the usage. A `vertex_ai`
  target with a Claude model is forwarded the same way, in Vertex's form (dataplane.providers.vertex_messages).
- targets of every other kind (the OpenAI-protocol kinds, `mock`, and each kind with a chat adapter: gemini,
  cohere, bedrock, vertex_ai): the request is translated to an OpenAI chat request, answered by the chat
  endpoint's own attempt for that kind, and the answer (or stream) translated back to a Messages answer or
  Messages events (dataplane.messages_translated).

count_tokens is forwarded to the route's Anthropic targets; a route without any gets the gateway's estimate
(about 4 bytes of request JSON per token, dataplane.estimate). It counts no rate limit or budget: it generates
nothing."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.admission import admit
from dataplane.anthropic_chat import record_message_usage
from dataplane.anthropic_wire import MessageRoutingView, TokenCount
from dataplane.attempts import call_with_fallback
from dataplane.body import decode_view
from dataplane.estimate import prompt_tokens_estimate
from dataplane.messages_translated import TranslatedMessages, anthropic_error_event
from dataplane.observability import RequestRecord
from dataplane.providers import anthropic
from dataplane.providers.vertex_messages import forward_messages_to_vertex, forwards_messages
from dataplane.request_start import start_request
from dataplane.routing import Target, authorize, request_targets
from dataplane.runtime import Runtime
from dataplane.translate.anthropic_tap import AnthropicTap
from dataplane.upstream_calls import open_converted_stream, send_json

JSON = "application/json"
_routing_decoder = msgspec.json.Decoder(MessageRoutingView)
_encoder = msgspec.json.Encoder()


class CountTokensView(msgspec.Struct, frozen=True):
    model: str
    messages: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1)]


_count_decoder = msgspec.json.Decoder(CountTokensView)


def authorization_of(request: Request) -> str | None:
    """`x-api-key: <key>` (Anthropic's SDKs) or `Authorization: Bearer <key>`."""
    api_key = request.headers.get("x-api-key")
    return f"Bearer {api_key}" if api_key else request.headers.get("authorization")


async def messages(request: Request) -> Response:
    started = await start_request(request, authorization=authorization_of(request))
    runtime, record, view, key, body = started.runtime, started.record, started.view, started.key, started.body
    routing = decode_view(body, _routing_decoder)
    record.stream = routing.wants_stream
    route = authorize(routing.model, view=view, key=key)
    record.route = route.name
    reserved = prompt_tokens_estimate(len(body)) + max(routing.max_tokens, 1)
    admit(view=view, key=key, route=route, record=record, reserved_tokens=reserved)
    client_headers = anthropic.forwarded_headers(request.headers)
    translated = TranslatedMessages(body)

    async def call(target: Target, seconds_left: float) -> Response:
        if target.provider.kind == "anthropic":
            return await _passthrough(body, routing, client_headers, target, record, runtime, seconds_left)
        if forwards_messages(target):  # a Claude model on Vertex AI: same protocol, forwarded too
            return await forward_messages_to_vertex(
                body,
                stream=routing.wants_stream,
                client_headers=client_headers,
                target=target,
                record=record,
                runtime=runtime,
                seconds_left=seconds_left,
                error_event=anthropic_error_event,
            )
        return await translated.answer(target=target, record=record, runtime=runtime, seconds_left=seconds_left)

    targets = request_targets(request, route, view=view, key=key, body=body, runtime=runtime)
    return await call_with_fallback(targets, call=call, record=record, runtime=runtime, view=view)


async def _passthrough(
    body: bytes,
    routing: MessageRoutingView,
    client_headers: dict[str, str],
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
) -> Response:
    connect = runtime.resilience.retry.connect_timeout_seconds
    timeout = target.deployment.timeout_seconds
    if routing.wants_stream:
        request = anthropic.build_messages_request(
            body,
            target=target,
            client_headers=client_headers,
            stream=True,
            timeout_seconds=timeout,
            connect_timeout_seconds=connect,
        )
        return await open_converted_stream(
            request,
            classify=anthropic.classify_error,
            converter=AnthropicTap(),
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
            error_event=anthropic_error_event,
        )
    request = anthropic.build_messages_request(
        body,
        target=target,
        client_headers=client_headers,
        stream=False,
        timeout_seconds=min(timeout, seconds_left),
        connect_timeout_seconds=connect,
    )
    reply = await send_json(request, classify=anthropic.classify_error, record=record, runtime=runtime)
    record_message_usage(record, anthropic.decode_message(reply), prompt_bytes=len(body))
    return Response(reply, media_type=JSON)


async def count_tokens(request: Request) -> Response:
    started = await start_request(request, authorization=authorization_of(request))
    runtime, record, view, key, body = started.runtime, started.record, started.view, started.key, started.body
    routing = decode_view(body, _count_decoder)
    route = authorize(routing.model, view=view, key=key)
    record.route = route.name
    targets = request_targets(request, route, view=view, key=key, body=body, runtime=runtime)
    anthropic_targets = [t for t in targets if t.provider.kind == "anthropic"]
    if not anthropic_targets:
        estimate = TokenCount(input_tokens=prompt_tokens_estimate(len(body)))
        return Response(_encoder.encode(estimate), media_type=JSON, headers={"x-waypost-estimated": "true"})
    client_headers = anthropic.forwarded_headers(request.headers)

    async def call(target: Target, seconds_left: float) -> Response:
        upstream_request = anthropic.build_messages_request(
            body,
            target=target,
            client_headers=client_headers,
            stream=False,
            timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
            connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
            count_tokens=True,
        )
        reply = await send_json(upstream_request, classify=anthropic.classify_error, record=record, runtime=runtime)
        return Response(reply, media_type=JSON)

    return await call_with_fallback(anthropic_targets, call=call, record=record, runtime=runtime, view=view)
