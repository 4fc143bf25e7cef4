"""OpenAI chat requests served by a Cohere target (kind `cohere`): the one place of the Cohere path that does
I/O. The request is encoded by dataplane.providers.cohere, sent through the shared upstream seam
(dataplane.upstream_calls), and the answer (or stream) decoded by dataplane.providers.cohere_decode; the usage is
recorded from Cohere's billed units, or estimated and flagged when it reports none."""

from __future__ import annotations

from starlette.responses import Response

from dataplane.body import decode_full_chat_request
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import cohere, cohere_decode
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.upstream_calls import open_converted_stream, record_usage, send_json


async def answer_with_cohere(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against a Cohere target, non-streaming or streaming."""
    model = target.deployment.model
    encoded = cohere.encode_request(decode_full_chat_request(body), body=body, model=model, stream=chat.wants_stream)
    created = int(runtime.clock())
    connect = runtime.resilience.retry.connect_timeout_seconds
    if chat.wants_stream:
        request = cohere.build_request(
            encoded,
            target=target,
            stream=True,
            timeout_seconds=target.deployment.timeout_seconds,
            connect_timeout_seconds=connect,
        )
        translator = cohere_decode.StreamTranslator(created=created, include_usage=chat.wants_usage_chunk, model=model)
        return await open_converted_stream(
            request,
            classify=cohere.classify_error,
            converter=translator,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
        )
    request = cohere.build_request(
        encoded,
        target=target,
        stream=False,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=connect,
    )
    reply = await send_json(request, classify=cohere.classify_error, record=record, runtime=runtime)
    answer = cohere_decode.decode_response(reply)
    completion = cohere_decode.openai_completion(answer, created=created, model=model)
    usage = cohere_decode.token_usage(answer.usage) if answer.usage is not None else None
    record_usage(record, usage, prompt_bytes=len(body), output_chars=cohere_decode.output_chars(completion))
    return Response(cohere_decode.encode(completion), media_type="application/json")
