"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages protocol in front of every target.

The pipeline is chat.py's (authenticate → read the body → authorize the model → admit → select the targets →
call them with retries and fallbacks); the key comes as `x-api-key` (Anthropic's SDKs) or `Authorization:
Bearer`, and every refusal is Anthropic error JSON (app.py renders GatewayErrors on these paths that way).

- `anthropic` targets: the same-protocol fast path. The body is forwarded byte for byte except `model` (unknown
  fields, `cache_control`, thinking blocks and their signatures survive), with the client's `anthropic-version`
  and `anthropic-beta` headers; streams are relayed as they arrive while a tap reads the usage.
- `openai`, `openai_compatible`, `azure_openai` and `mock` targets: the request is translated to a chat
  completion and the answer (or stream) back to a Messages answer (dataplane.translate). Targets of other kinds
  (gemini, cohere) are skipped (a route with none of these kinds answers 400).

count_tokens is forwarded to the route's Anthropic targets; a route without any gets the gateway's estimate
(about 4 bytes of request JSON per token, dataplane.estimate). It counts no rate limit or budget: it generates
nothing."""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.admission import admit
from dataplane.anthropic_wire import MessageRoutingView, MessagesRequest, TokenCount, sse_event
from dataplane.attempts import call_with_fallback
from dataplane.auth import authenticate
from dataplane.body import decode_chat_request, read_body
from dataplane.config_state import ConfigView
from dataplane.errors import GatewayError, InvalidParameterError, InvalidRequestError, MalformedJsonError
from dataplane.estimate import prompt_tokens_estimate
from dataplane.observability import RequestRecord, record_of
from dataplane.providers import anthropic, mock, openai, openai_family
from dataplane.routing import Target, authorize, request_targets
from dataplane.runtime import Runtime, runtime_of
from dataplane.streaming import EventStreamResponse, iterate
from dataplane.translate import from_openai, to_openai
from dataplane.translate.anthropic_tap import AnthropicTap
from dataplane.translate.usage import from_anthropic as from_anthropic_usage
from dataplane.upstream_calls import open_converted_stream, record_usage, send_json
from shared.snapshot import KeySpec

JSON = "application/json"
# the kinds /v1/messages can call; a route's targets of other kinds are skipped
REACHABLE_KINDS = frozenset({"anthropic", "mock", *openai_family.KINDS})
ViewT = TypeVar("ViewT")
_routing_decoder = msgspec.json.Decoder(MessageRoutingView)
_request_decoder = msgspec.json.Decoder(MessagesRequest)
_encoder = msgspec.json.Encoder()


class CountTokensView(msgspec.Struct, frozen=True):
    model: str
    messages: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1)]


_count_decoder = msgspec.json.Decoder(CountTokensView)


def authorization_of(request: Request) -> str | None:
    """`x-api-key: <key>` (Anthropic's SDKs) or `Authorization: Bearer <key>`."""
    api_key = request.headers.get("x-api-key")
    return f"Bearer {api_key}" if api_key else request.headers.get("authorization")


def decode_routing(body: bytes, decoder: msgspec.json.Decoder[ViewT]) -> ViewT:
    if not body.strip():
        raise InvalidRequestError("The request body is empty; expected a JSON object.")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidParameterError(f"Invalid request: {exc}.") from None
    except msgspec.DecodeError:
        raise MalformedJsonError() from None


def anthropic_error_event(error: GatewayError) -> bytes:
    return sse_event("error", error.anthropic_body())


async def _begin(request: Request) -> tuple[Runtime, RequestRecord, ConfigView, KeySpec, bytes]:
    runtime = runtime_of(request)
    record = record_of(request)
    view = runtime.admit_view()
    record.config_version = view.version
    key = authenticate(authorization_of(request), view=view, master=runtime.master, now=runtime.clock())
    record.set_principal(key)
    body = await read_body(
        request.stream(), content_length=request.headers.get("content-length"), limit=runtime.settings.max_body_bytes
    )
    return runtime, record, view, key, body


async def messages(request: Request) -> Response:
    runtime, record, view, key, body = await _begin(request)
    routing = decode_routing(body, _routing_decoder)
    record.stream = routing.wants_stream
    route = authorize(routing.model, view=view, key=key)
    record.route = route.name
    reserved = prompt_tokens_estimate(len(body)) + max(routing.max_tokens, 1)
    admit(runtime=runtime, view=view, key=key, route=route, record=record, reserved_tokens=reserved)
    client_headers = {name: request.headers[name] for name in anthropic.FORWARDED_HEADERS if name in request.headers}

    async def call(target: Target, seconds_left: float) -> Response:
        kind = target.provider.kind
        if kind == "anthropic":
            return await _passthrough(body, routing, client_headers, target, record, runtime, seconds_left)
        translated = to_openai.encode_request(_full_request(body))
        if kind == "mock":
            return _answer_with_mock(translated, routing, target, record, runtime)
        return await _answer_with_openai(translated, len(body), routing, target, record, runtime, seconds_left)

    targets = request_targets(request, route, view=view, key=key, body=body, runtime=runtime)
    reachable = [t for t in targets if t.provider.kind in REACHABLE_KINDS]
    if not reachable:
        raise InvalidRequestError(f"The model `{route.name}` cannot be called with the Anthropic Messages API yet.")
    return await call_with_fallback(reachable, call=call, record=record, runtime=runtime, view=view)


def _full_request(body: bytes) -> MessagesRequest:
    try:
        return _request_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidParameterError(f"The request cannot be translated for this model: {exc}.") from None
    except msgspec.DecodeError:
        raise MalformedJsonError() from None


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
    message = anthropic.decode_message(reply)
    usage = message.usage if message is not None else None
    output_chars = sum(len(b.text or "") for b in message.content) if message is not None else 0
    record_usage(
        record,
        from_anthropic_usage(usage) if usage is not None else None,
        prompt_bytes=len(body),
        output_chars=output_chars,
    )
    return Response(reply, media_type=JSON)


async def _answer_with_openai(
    translated: bytes,
    prompt_bytes: int,
    routing: MessageRoutingView,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
) -> Response:
    connect = runtime.resilience.retry.connect_timeout_seconds
    if routing.wants_stream:
        build = openai_family.openai_protocol_builder(target)
        request = build(translated, target=target, stream=True, connect_timeout_seconds=connect)
        return await open_converted_stream(
            request,
            classify=openai.classify_error,
            converter=from_openai.StreamTranslator(),
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=prompt_bytes,
            error_event=anthropic_error_event,
        )
    request = openai_family.openai_protocol_builder(target)(
        translated,
        target=target,
        stream=False,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=connect,
    )
    reply = await send_json(request, classify=openai.classify_error, record=record, runtime=runtime)
    message = from_openai.anthropic_message(from_openai.decode_completion(reply))
    usage = from_openai.anthropic_usage_of(message)
    output_chars = sum(len(b.text or "") for b in message.content)
    record_usage(record, usage, prompt_bytes=prompt_bytes, output_chars=output_chars)
    return Response(from_openai.encode(message), media_type=JSON)


def _answer_with_mock(
    translated: bytes, routing: MessageRoutingView, target: Target, record: RequestRecord, runtime: Runtime
) -> Response:
    """The built-in mock answers the translated chat request; its answer is translated back like any other."""
    chat = decode_chat_request(translated)
    completion_id = f"msg_{record.request_id.replace('-', '')}"
    created = int(runtime.clock())
    record.usage = mock.token_usage(chat)
    if routing.wants_stream:
        translator = from_openai.StreamTranslator()
        chunks = mock.stream_events(chat, model=target.route.name, completion_id=completion_id, created=created)
        events = [event for chunk in chunks for event in translator.feed(chunk)]
        return EventStreamResponse(iterate([*events, *translator.end()]), record=record)
    body = mock.encode_completion(chat, model=target.route.name, completion_id=completion_id, created=created)
    return Response(
        from_openai.encode(from_openai.anthropic_message(from_openai.decode_completion(body))), media_type=JSON
    )


async def count_tokens(request: Request) -> Response:
    runtime, record, view, key, body = await _begin(request)
    routing = decode_routing(body, _count_decoder)
    route = authorize(routing.model, view=view, key=key)
    record.route = route.name
    targets = request_targets(request, route, view=view, key=key, body=body, runtime=runtime)
    anthropic_targets = [t for t in targets if t.provider.kind == "anthropic"]
    if not anthropic_targets:
        estimate = TokenCount(input_tokens=prompt_tokens_estimate(len(body)))
        return Response(_encoder.encode(estimate), media_type=JSON, headers={"x-waypost-estimated": "true"})
    client_headers = {name: request.headers[name] for name in anthropic.FORWARDED_HEADERS if name in request.headers}

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
