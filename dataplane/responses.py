"""POST /v1/responses: the OpenAI Responses API in front of every target. The pipeline is chat.py's
(authenticate → read the body → authorize the model → admit → select the targets → call them with retries and
fallbacks); refusals are OpenAI error JSON.

- Targets of the kinds in `PASSTHROUGH_KINDS` (OpenAI, and the OpenAI-compatible providers whose documentation
  says they serve the Responses API): the same-protocol fast path. The body goes to `{base_url}/responses` with only
  `model` replaced (the client's `openai-beta` header with it); the answer is relayed as is, a stream as it
  arrives while a tap reads the usage of its final `response.completed` event.
- Every other kind: the request is translated to a chat-completions request (dataplane.translate.responses_request),
  answered by the chat endpoint's own attempt for that kind (`dataplane.chat.answer_chat`: the built-in mock, an
  adapter of `dataplane.chat_adapters`, or the OpenAI-protocol fast path), and the answer (or stream) translated
  back (dataplane.translate.responses_answer). The chat attempt records the usage. What the translation cannot
  carry (stored state, built-in tools, ...) is refused with a 400 before any call: such a request reaches only
  the route's passthrough targets, and a route without any answers the refusal. Images in function call outputs
  are likewise kept from the targets answered through OpenAI's chat protocol, whose tool messages hold text only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.admission import admit
from dataplane.attempts import call_with_fallback
from dataplane.body import decode_chat_request, decode_view
from dataplane.chat import answer_chat
from dataplane.chat_adapters import CHAT_ADAPTERS
from dataplane.errors import InvalidRequestError, MissingParameterError
from dataplane.estimate import DEFAULT_MAX_OUTPUT_TOKENS, prompt_tokens_estimate
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import openai
from dataplane.providers.openai_family import openai_protocol_classifier
from dataplane.request_start import start_request
from dataplane.responses_wire import Response as ResponseObject
from dataplane.responses_wire import ResponsesRequest, ResponsesRoutingView, TextConfig, TextFormat
from dataplane.routing import Target, authorize, request_targets
from dataplane.runtime import Runtime
from dataplane.streaming import EventStreamResponse
from dataplane.translate import from_openai, responses_answer, responses_request
from dataplane.translate.responses_tap import ResponsesTap, response_usage
from dataplane.upstream import UpstreamRequest
from dataplane.upstream_calls import open_converted_stream, record_usage, send_json

JSON = "application/json"
# kinds whose providers document POST {base_url}/responses: OpenAI; xAI (docs.x.ai "Generate Text"); Groq
# (its OpenAPI spec, /openai/v1/responses); Fireworks (docs.fireworks.ai "Response API"). Providers whose support
# is beta or preview (Together, OpenRouter, Mistral), undocumented (DeepSeek) or version-dependent (Ollama, vLLM,
# generic openai_compatible) are translated.
PASSTHROUGH_KINDS = frozenset({"openai", "xai", "groq", "fireworks"})
_routing_decoder = msgspec.json.Decoder(ResponsesRoutingView)


async def responses(request: Request) -> Response:
    started = await start_request(request, authorization=request.headers.get("authorization"))
    runtime, record, view, key, body = started.runtime, started.record, started.view, started.key, started.body
    routing = decode_routing(body)
    record.stream = routing.wants_stream
    route = authorize(routing.model, view=view, key=key)
    record.route = route.name
    limit = routing.max_output_tokens
    reserved = prompt_tokens_estimate(len(body)) + (limit if limit and limit > 0 else DEFAULT_MAX_OUTPUT_TOKENS)
    admit(view=view, key=key, route=route, record=record, reserved_tokens=reserved)
    client_headers = openai.forwarded_headers(request.headers)
    translated = TranslatedResponses(body, response_id=f"resp_{record.request_id.replace('-', '')}")

    async def call(target: Target, seconds_left: float) -> Response:
        if target.provider.kind in PASSTHROUGH_KINDS:
            return await passthrough(body, routing, client_headers, target, record, runtime, seconds_left)
        return await translated.answer(target=target, record=record, runtime=runtime, seconds_left=seconds_left)

    targets = request_targets(request, route, view=view, key=key, body=body, runtime=runtime)
    if any(t.provider.kind not in PASSTHROUGH_KINDS for t in targets):
        refusal = translated.refusal()
        if refusal is not None:
            targets = [t for t in targets if t.provider.kind in PASSTHROUGH_KINDS]
            if not targets:
                raise refusal
    if any(speaks_openai_chat(t.provider.kind) for t in targets):
        refusal = translated.tool_output_refusal()
        if refusal is not None:
            targets = [t for t in targets if not speaks_openai_chat(t.provider.kind)]
            if not targets:
                raise refusal
    return await call_with_fallback(targets, call=call, record=record, runtime=runtime, view=view)


def speaks_openai_chat(kind: str) -> bool:
    """A translated kind answered by the OpenAI-protocol fast path (no adapter of its own reshapes the request)."""
    return kind not in PASSTHROUGH_KINDS and kind != "mock" and kind not in CHAT_ADAPTERS


def decode_routing(body: bytes) -> ResponsesRoutingView:
    routing = decode_view(body, _routing_decoder)
    if not routing.input:
        raise MissingParameterError("Missing required parameter: 'input'.", param="input")
    return routing


def build_responses_request(
    body: bytes,
    *,
    target: Target,
    stream: bool,
    client_headers: dict[str, str],
    connect_timeout_seconds: float,
    timeout_seconds: float | None = None,
) -> UpstreamRequest:
    """The chat fast path's request (credentials, `model` replaced, the rest untouched) sent to `/responses`."""
    chat = openai.build_chat_request(
        body,
        target=target,
        stream=stream,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )
    url = f"{target.provider.base_url.rstrip('/')}/responses"
    return openai.with_headers(msgspec.structs.replace(chat, url=url), client_headers)


async def passthrough(
    body: bytes,
    routing: ResponsesRoutingView,
    client_headers: dict[str, str],
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
) -> Response:
    connect = runtime.resilience.retry.connect_timeout_seconds
    classify = openai_protocol_classifier(target)  # the family's error shapes (xAI's, Groq's) too
    if routing.wants_stream:
        request = build_responses_request(
            body, target=target, stream=True, client_headers=client_headers, connect_timeout_seconds=connect
        )
        tap = ResponsesTap()
        return await open_converted_stream(
            request,
            classify=classify,
            converter=tap,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
            error_event=lambda error: responses_answer.error_event(error, sequence_number=tap.last_sequence_number + 1),
        )
    request = build_responses_request(
        body,
        target=target,
        stream=False,
        client_headers=client_headers,
        connect_timeout_seconds=connect,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
    )
    reply = await send_json(request, classify=classify, record=record, runtime=runtime)
    usage, output_size = response_usage(reply)
    record_usage(record, usage, prompt_bytes=len(body), output_chars=output_size)
    return Response(reply, media_type=JSON)


class TranslatedResponses:
    """One Responses request as a chat request, translated on first use and reused by every attempt."""

    def __init__(self, body: bytes, *, response_id: str) -> None:
        self._body = body
        self._response_id = response_id
        self._request: ResponsesRequest | None = None
        self._chats: dict[bool, tuple[bytes, ChatRequestView]] = {}

    def refusal(self) -> InvalidRequestError | None:
        """Why the request cannot be translated, if it cannot (checked once, before any attempt)."""
        try:
            self._chat(completion_tokens_field=False)
        except InvalidRequestError as refusal:
            return refusal
        return None

    def tool_output_refusal(self) -> InvalidRequestError | None:
        """Why targets speaking OpenAI chat cannot take the request (images in function call outputs), if so."""
        try:
            responses_request.refuse_tool_output_images(self._decoded())
        except InvalidRequestError as refusal:
            return refusal
        return None

    def _decoded(self) -> ResponsesRequest:
        if self._request is None:
            self._request = responses_request.decode_request(self._body)
        return self._request

    def _chat(self, *, completion_tokens_field: bool) -> tuple[bytes, ChatRequestView]:
        chat = self._chats.get(completion_tokens_field)
        if chat is None:
            translated = responses_request.chat_request(
                self._decoded(), completion_tokens_field=completion_tokens_field
            )
            chat_body = responses_request.encode(translated)
            chat = self._chats[completion_tokens_field] = chat_body, decode_chat_request(chat_body)
        return chat

    async def answer(self, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float) -> Response:
        """One attempt: a Response object, or an event stream whose first chunk is in hand."""
        # Azure's reasoning deployments take only `max_completion_tokens`; the other kinds all know `max_tokens`
        body, chat = self._chat(completion_tokens_field=target.provider.kind == "azure_openai")
        shell = response_shell(self._decoded(), response_id=self._response_id, created_at=int(runtime.clock()))
        answer = await answer_chat(body, chat, target=target, record=record, runtime=runtime, seconds_left=seconds_left)
        if isinstance(answer, EventStreamResponse):
            translator = responses_answer.StreamTranslator(shell)
            return answer.converted(lambda chunks: responses_events(chunks, translator), error_event=translator.error)
        completion = from_openai.decode_completion(bytes(answer.body))
        return Response(responses_answer.encode(responses_answer.response_object(completion, shell)), media_type=JSON)


def response_shell(request: ResponsesRequest, *, response_id: str, created_at: int) -> ResponseObject:
    """The Response in progress: its id and time, and the request's parameters echoed as OpenAI echoes them."""
    return ResponseObject(
        id=response_id,
        created_at=created_at,
        model=request.model,
        output=[],
        status="in_progress",
        instructions=request.instructions,
        max_output_tokens=request.max_output_tokens,
        metadata=request.metadata or {},
        parallel_tool_calls=request.parallel_tool_calls is not False,
        temperature=request.temperature,
        text=request.text or TextConfig(format=TextFormat()),
        tool_choice=request.tool_choice or "auto",
        tools=request.tools or [],
        top_p=request.top_p,
        user=request.user,
    )


async def responses_events(
    chunks: AsyncIterator[bytes], translator: responses_answer.StreamTranslator
) -> AsyncIterator[bytes]:
    """OpenAI chat SSE chunks in, Responses events out; closing this closes `chunks`."""
    try:
        async for chunk in chunks:
            for event in translator.feed(chunk):
                yield event
        for event in translator.end():
            yield event
    finally:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
