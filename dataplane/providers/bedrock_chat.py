"""OpenAI chat requests served by an Amazon Bedrock target (kind `bedrock`): the one place of the Bedrock path
that does I/O. The request is encoded and signed by dataplane.providers.bedrock, sent through the shared upstream
seam (dataplane.upstream_calls), and the answer (or event stream) decoded by dataplane.providers.bedrock_decode;
the usage is recorded from Bedrock's `usage`, or estimated and flagged when it has none."""

from __future__ import annotations

from starlette.responses import Response

from dataplane.body import decode_full_chat_request
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import bedrock, bedrock_decode
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.upstream_calls import open_converted_stream, record_usage, send_json


async def answer_with_bedrock(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against a Bedrock target, Converse or ConverseStream."""
    encoded = bedrock.encode_request(decode_full_chat_request(body), body=body)
    model = target.deployment.model
    seed = record.request_id.replace("-", "")
    created = int(runtime.clock())
    timeout = (
        target.deployment.timeout_seconds if chat.wants_stream else min(target.deployment.timeout_seconds, seconds_left)
    )
    request = bedrock.build_request(
        encoded,
        base_url=target.provider.base_url,
        model=model,
        credentials=target.credentials,
        stream=chat.wants_stream,
        timeout_seconds=timeout,
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )
    if chat.wants_stream:
        translator = bedrock_decode.StreamTranslator(
            created=created, include_usage=chat.wants_usage_chunk, seed=seed, model=model
        )
        return await open_converted_stream(
            request,
            classify=bedrock.classify_error,
            converter=translator,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
        )
    reply = await send_json(request, classify=bedrock.classify_error, record=record, runtime=runtime)
    answer = bedrock_decode.decode_response(reply)
    completion = bedrock_decode.openai_completion(answer, created=created, seed=seed, model=model)
    usage = bedrock_decode.token_usage(answer.usage) if answer.usage is not None else None
    record_usage(record, usage, prompt_bytes=len(body), output_chars=bedrock_decode.output_chars(completion))
    return Response(bedrock_decode.encode(completion), media_type="application/json")
