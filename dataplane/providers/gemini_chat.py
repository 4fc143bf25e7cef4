"""OpenAI chat requests served by a Gemini target (kind `gemini`): the one place of the Gemini path that does
I/O. The request is encoded by dataplane.providers.gemini, sent through the shared upstream seam
(dataplane.upstream_calls), and the answer (or stream) decoded by dataplane.providers.gemini_decode; the usage is
recorded from Gemini's `usageMetadata`, or estimated and flagged when it has none."""

from __future__ import annotations

from starlette.responses import Response

from dataplane.body import decode_full_chat_request
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import gemini, gemini_decode
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.upstream import UpstreamRequest
from dataplane.upstream_calls import Classify, open_converted_stream, record_usage, send_json


async def answer_with_gemini(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against a Gemini target, non-streaming or streaming."""
    encoded = gemini.encode_request(decode_full_chat_request(body), body=body)
    timeout = target.deployment.timeout_seconds
    request = gemini.build_request(
        encoded,
        target=target,
        stream=chat.wants_stream,
        # a stream's timeout bounds each read; a whole answer must come within what is left of the attempt
        timeout_seconds=timeout if chat.wants_stream else min(timeout, seconds_left),
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )
    return await answer_gemini_request(
        request, body, chat, classify=gemini.classify_error, target=target, record=record, runtime=runtime,
        seconds_left=seconds_left,
    )  # fmt: skip


async def answer_gemini_request(
    request: UpstreamRequest,
    body: bytes,
    chat: ChatRequestView,
    *,
    classify: Classify,
    target: Target,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
) -> Response:
    """Send a built generateContent request (the Gemini API's or Vertex AI's) and answer in OpenAI's shapes."""
    seed = record.request_id.replace("-", "")
    created, model = int(runtime.clock()), target.deployment.model
    if chat.wants_stream:
        translator = gemini_decode.StreamTranslator(
            created=created, include_usage=chat.wants_usage_chunk, seed=seed, model=model
        )
        return await open_converted_stream(
            request,
            classify=classify,
            converter=translator,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
        )
    reply = await send_json(request, classify=classify, record=record, runtime=runtime)
    answer = gemini_decode.decode_response(reply)
    completion = gemini_decode.openai_completion(answer, created=created, seed=seed, model=model)
    usage = gemini_decode.token_usage(answer.usage_metadata) if answer.usage_metadata is not None else None
    record_usage(record, usage, prompt_bytes=len(body), output_chars=gemini_decode.output_chars(completion))
    return Response(gemini_decode.encode(completion), media_type="application/json")
