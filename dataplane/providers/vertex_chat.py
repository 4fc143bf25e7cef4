"""OpenAI chat requests served by a Vertex AI target (kind `vertex_ai`): the one place of the Vertex path that
does I/O. The request is encoded once by the adapter of its publisher (Gemini models: dataplane.providers.gemini;
Claude models: dataplane.translate.to_anthropic), sent with a bearer token from the runtime's GoogleTokens
through the shared upstream seam, and the answer (or stream) decoded by the same publisher's decoder. A token
Vertex refuses (401) is forgotten and the call made once more with a fresh one; a second refusal is the
gateway's credentials' fault (502)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.responses import Response

from dataplane.anthropic_chat import answer_anthropic_request
from dataplane.body import decode_full_chat_request
from dataplane.errors import GatewayError, UpstreamAuthError, UpstreamTimeoutError
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import gemini, vertex
from dataplane.providers.gemini_chat import answer_gemini_request
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.translate import to_anthropic
from dataplane.upstream import UpstreamRequest

TOKEN_ATTEMPTS = 2  # the cached token, then (if Vertex refused it) a fresh one


class _TokenRefusedError(UpstreamAuthError):
    """Vertex answered 401: the access token (not necessarily the key) is no longer good."""


def classify(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """vertex.classify_error, except that a 401 is told apart: the token is to be replaced."""
    return _TokenRefusedError() if status == 401 else vertex.classify_error(status, body, headers)


async def answer_with_vertex(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against a Vertex AI target, non-streaming or streaming, Gemini or Claude."""
    anthropic_model = vertex.is_anthropic_model(target.deployment.model)
    if anthropic_model:  # encoded before any token is fetched: a refused request never costs a token
        request = decode_full_chat_request(body)
        vertex.refuse_url_sources(request)
        encoded = to_anthropic.encode_request(request, stream=chat.wants_stream)
    else:
        encoded = gemini.encode_request(decode_full_chat_request(body), body=body)
    deadline = runtime.resilience.monotonic() + seconds_left
    answer = _answer_anthropic if anthropic_model else _answer_gemini

    async def attempt(token: str) -> Response:
        return await answer(
            encoded, body, chat, token=token, target=target, record=record, runtime=runtime, deadline=deadline
        )

    return await with_token(attempt, target=target, record=record, runtime=runtime)


async def with_token(
    call: Callable[[str], Awaitable[Response]], *, target: Target, record: RequestRecord, runtime: Runtime
) -> Response:
    """`call(token)` with the provider's access token; once more with a fresh token if Vertex refused it (the
    call must classify errors with `classify`, so that a 401 is recognised)."""
    tokens, provider_id = runtime.google_tokens, target.provider.id
    for attempt in range(1, TOKEN_ATTEMPTS + 1):
        started = time.perf_counter()
        try:
            token = await tokens.token(provider_id, target.credentials.service_account_json, now=runtime.clock())
        finally:
            record.add_upstream(time.perf_counter() - started)  # minting is upstream time, not gateway overhead
        try:
            return await call(token)
        except _TokenRefusedError:
            tokens.forget(provider_id, token)
            if attempt == TOKEN_ATTEMPTS:
                raise UpstreamAuthError() from None
    raise AssertionError("unreachable")


def _build(
    encoded: bytes, *, target: Target, token: str, stream: bool, runtime: Runtime, deadline: float
) -> UpstreamRequest:
    model, timeout = target.deployment.model, target.deployment.timeout_seconds
    build = vertex.build_anthropic_request if vertex.is_anthropic_model(model) else vertex.build_gemini_request
    return build(
        encoded,
        base_url=target.provider.base_url,
        model=model,
        token=token,
        stream=stream,
        # a stream's timeout bounds each read; a whole answer must come within what is left of the attempt
        timeout_seconds=timeout if stream else min(timeout, time_left(deadline, runtime)),
        connect_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )


def time_left(deadline: float, runtime: Runtime) -> float:
    """Seconds until `deadline` (on the resilience clock); none left is a timeout."""
    left = deadline - runtime.resilience.monotonic()
    if left <= 0:
        raise UpstreamTimeoutError()
    return left


async def _answer_gemini(
    encoded: bytes,
    body: bytes,
    chat: ChatRequestView,
    *,
    token: str,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    deadline: float,
) -> Response:
    request = _build(encoded, target=target, token=token, stream=chat.wants_stream, runtime=runtime, deadline=deadline)
    return await answer_gemini_request(
        request, body, chat, classify=classify, target=target, record=record, runtime=runtime,
        seconds_left=time_left(deadline, runtime),
    )  # fmt: skip


async def _answer_anthropic(
    encoded: bytes,
    body: bytes,
    chat: ChatRequestView,
    *,
    token: str,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    deadline: float,
) -> Response:
    request = _build(encoded, target=target, token=token, stream=chat.wants_stream, runtime=runtime, deadline=deadline)
    return await answer_anthropic_request(
        request, body, chat, classify=classify, record=record, runtime=runtime,
        seconds_left=time_left(deadline, runtime),
    )  # fmt: skip
