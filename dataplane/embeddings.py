"""POST /v1/embeddings: authenticate → read and validate the body → authorize the model → keep the route's targets
that serve embeddings (dataplane.endpoint_support) → admit (a reservation from the input's size) → call them with
retries and fallbacks (dataplane.attempts). Settling and the usage event happen when the response ends
(dataplane.settle), from `record.usage`.

Per target kind:
- OpenAI protocol (openai, azure_openai, the OpenAI-compatible family): the body forwarded with only `model`
  replaced (token-id input, `encoding_format`, `dimensions` and unknown fields survive); usage from the answer.
- gemini: `batchEmbedContents` (dataplane.providers.gemini_embed); its answer has no token counts, so the usage is
  estimated, flagged, and the response says so in `x-waypost-estimated: true`.
- cohere: v2 Embed (dataplane.providers.cohere_embed); usage from its billed input tokens.
- mock: deterministic vectors in process (dataplane.providers.mock_text).
Translated kinds take text input only (token ids are a 400) and get base64 encoded by the gateway as OpenAI
does; anthropic, bedrock and vertex_ai targets are skipped, and so are the family kinds whose provider has no
embeddings API (dataplane.endpoint_support.NO_EMBEDDINGS_KINDS)."""

from __future__ import annotations

import functools

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.admission import admit
from dataplane.attempts import call_with_fallback
from dataplane.body import decode_view
from dataplane.chat import answer_with_openai
from dataplane.embeddings_wire import EmbeddingsRequestView, encode_response, texts_of
from dataplane.endpoint_support import EMBEDDINGS_KINDS, supporting_targets
from dataplane.estimate import prompt_tokens_estimate
from dataplane.observability import RequestRecord
from dataplane.providers import cohere, cohere_embed, gemini, gemini_embed, mock_text, openai_endpoints
from dataplane.request_start import start_request
from dataplane.routing import Target, authorize, request_targets
from dataplane.runtime import Runtime
from dataplane.upstream_calls import send_json
from shared.usage import TokenUsage

JSON = "application/json"
ESTIMATED_HEADER = "x-waypost-estimated"
_request_decoder = msgspec.json.Decoder(EmbeddingsRequestView)
_build_openai = functools.partial(openai_endpoints.build_request, endpoint="embeddings")


async def embeddings(request: Request) -> Response:
    started = await start_request(request, authorization=request.headers.get("authorization"))
    runtime, record, view, key, body = started.runtime, started.record, started.view, started.key, started.body
    embed = decode_view(body, _request_decoder)
    route = authorize(embed.model, view=view, key=key)
    record.route = route.name
    targets = supporting_targets(
        request_targets(request, route, view=view, key=key, body=body, runtime=runtime),
        kinds=EMBEDDINGS_KINDS,
        model=route.name,
        endpoint="embeddings",
    )
    # embeddings produce no output tokens: the input's size is the whole reservation
    admit(
        view=view,
        key=key,
        route=route,
        record=record,
        reserved_tokens=prompt_tokens_estimate(len(body)),
    )

    async def call(target: Target, seconds_left: float) -> Response:
        return await answer_embeddings(
            body, embed, target=target, record=record, runtime=runtime, seconds_left=seconds_left
        )

    return await call_with_fallback(targets, call=call, record=record, runtime=runtime, view=view)


async def answer_embeddings(
    body: bytes,
    embed: EmbeddingsRequestView,
    *,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
) -> Response:
    """One attempt against a target of a kind in EMBEDDINGS_KINDS."""
    kind = target.provider.kind
    if kind == "mock":
        record.usage = TokenUsage(input=mock_text.embedding_tokens(embed))
        return Response(mock_text.encode_embeddings(embed, model=target.route.name), media_type=JSON)
    if kind == "gemini":
        return await _answer_with_gemini(
            embed, target=target, record=record, runtime=runtime, seconds_left=seconds_left
        )
    if kind == "cohere":
        return await _answer_with_cohere(
            embed, target=target, record=record, runtime=runtime, seconds_left=seconds_left
        )
    return await answer_with_openai(
        body, target=target, record=record, runtime=runtime, seconds_left=seconds_left, build=_build_openai
    )


def _text_tokens_estimate(texts: list[str]) -> int:
    return prompt_tokens_estimate(sum(len(text.encode()) for text in texts))


async def _answer_with_gemini(
    embed: EmbeddingsRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    texts = texts_of(embed)
    model = target.deployment.model
    upstream_request = gemini_embed.build_request(
        gemini_embed.encode_request(texts, model=model, dimensions=embed.dimensions),
        target=target,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )
    reply = await send_json(upstream_request, classify=gemini.classify_error, record=record, runtime=runtime)
    vectors = gemini_embed.decode_response(reply, expected=len(texts))
    tokens = _text_tokens_estimate(texts)
    record.usage, record.usage_estimated = TokenUsage(input=tokens), True
    answer = encode_response(vectors, model=model, prompt_tokens=tokens, encoding_format=embed.encoding_format)
    return Response(answer, media_type=JSON, headers={ESTIMATED_HEADER: "true"})


async def _answer_with_cohere(
    embed: EmbeddingsRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    texts = texts_of(embed)
    model = target.deployment.model
    encoded = cohere_embed.encode_request(texts, model=model, dimensions=embed.dimensions, input_type=embed.input_type)
    upstream_request = cohere_embed.build_request(
        encoded,
        target=target,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )
    reply = await send_json(upstream_request, classify=cohere.classify_error, record=record, runtime=runtime)
    vectors, billed = cohere_embed.decode_response(reply, expected=len(texts))
    tokens = billed if billed is not None else _text_tokens_estimate(texts)
    record.usage, record.usage_estimated = TokenUsage(input=tokens), billed is None
    answer = encode_response(vectors, model=model, prompt_tokens=tokens, encoding_format=embed.encoding_format)
    headers = {ESTIMATED_HEADER: "true"} if billed is None else None
    return Response(answer, media_type=JSON, headers=headers)
