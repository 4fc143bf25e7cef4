"""POST /v1/completions (OpenAI's legacy text completions): authenticate → read and validate the body → authorize
the model → keep the route's targets that serve text completions (dataplane.endpoint_support: the OpenAI protocol
but for Mistral and Groq, and the mock; targets of other kinds are skipped, a route with none of them is a 400)
→ admit (the prompt's estimate plus `max_tokens`, 16 by default, per choice and prompt) → call them with retries
and fallbacks.

OpenAI-protocol targets get the body forwarded with only `model` replaced, streamed or not, through chat's
fast path (dataplane.chat) with this endpoint's URL: a stream always asks for `stream_options.include_usage`, the
usage is read from the stream as it passes (dataplane.usage_extract), and the usage-only chunk reaches the client
only if it asked for it. The mock answers in process (dataplane.providers.mock_text)."""

from __future__ import annotations

import functools

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from dataplane.admission import admit
from dataplane.attempts import call_with_fallback
from dataplane.body import decode_view
from dataplane.chat import answer_with_openai, open_openai_stream
from dataplane.completions_wire import CompletionRequestView
from dataplane.endpoint_support import COMPLETIONS_KINDS, supporting_targets
from dataplane.estimate import prompt_tokens_estimate
from dataplane.observability import RequestRecord
from dataplane.providers import mock_text, openai_endpoints
from dataplane.request_start import start_request
from dataplane.routing import Target, authorize, request_targets
from dataplane.runtime import Runtime
from dataplane.streaming import EventStreamResponse, iterate

JSON = "application/json"
_request_decoder = msgspec.json.Decoder(CompletionRequestView)
_build_openai = functools.partial(openai_endpoints.build_request, endpoint="completions")


async def completions(request: Request) -> Response:
    started = await start_request(request, authorization=request.headers.get("authorization"))
    runtime, record, view, key, body = started.runtime, started.record, started.view, started.key, started.body
    completion = decode_view(body, _request_decoder)
    record.stream = completion.wants_stream
    route = authorize(completion.model, view=view, key=key)
    record.route = route.name
    targets = supporting_targets(
        request_targets(request, route, view=view, key=key, body=body, runtime=runtime),
        kinds=COMPLETIONS_KINDS,
        model=route.name,
        endpoint="text completions (/v1/completions)",
    )
    reserved = prompt_tokens_estimate(len(body)) + completion.reserved_output_tokens()
    admit(view=view, key=key, route=route, record=record, reserved_tokens=reserved)

    async def call(target: Target, seconds_left: float) -> Response:
        if target.provider.kind == "mock":
            return answer_with_mock(completion, target=target, record=record, runtime=runtime)
        if completion.wants_stream:
            return await open_openai_stream(
                body,
                target=target,
                record=record,
                runtime=runtime,
                seconds_left=seconds_left,
                client_wants_usage=completion.wants_usage_chunk,
                build=_build_openai,
            )
        return await answer_with_openai(
            body, target=target, record=record, runtime=runtime, seconds_left=seconds_left, build=_build_openai
        )

    return await call_with_fallback(targets, call=call, record=record, runtime=runtime, view=view)


def answer_with_mock(
    completion: CompletionRequestView, *, target: Target, record: RequestRecord, runtime: Runtime
) -> Response:
    completion_id = f"cmpl-{record.request_id.replace('-', '')}"
    created = int(runtime.clock())
    model = target.route.name
    record.usage = mock_text.token_usage(completion)
    if completion.wants_stream:
        events = mock_text.stream_events(completion, model=model, completion_id=completion_id, created=created)
        return EventStreamResponse(iterate(events), record=record)
    body = mock_text.encode_completion(completion, model=model, completion_id=completion_id, created=created)
    return Response(body, media_type=JSON)
