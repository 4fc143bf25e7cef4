"""OpenAI chat requests served by a Gemini target (kind `gemini`): the one place of the Gemini path that does
I/O. The request is encoded by dataplane.providers.gemini, sent through the shared upstream seam
(dataplane.upstream_calls), and the answer (or stream) decoded by dataplane.providers.gemini_decode; the usage is
recorded from Gemini's `usageMetadata`, or estimated and flagged when it has none."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from dataplane.errors import InvalidRequestError
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import gemini, gemini_decode
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.translate.openai_types import ChatRequest
from dataplane.upstream_calls import open_converted_stream, record_usage, send_json

_chat_decoder = msgspec.json.Decoder(ChatRequest)


def decode_chat(body: bytes) -> ChatRequest:
    """The whole OpenAI request, for translation (the pipeline's view holds only the routing fields)."""
    try:
        return _chat_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"The request cannot be translated for this model: {exc}.") from None
    except msgspec.DecodeError:
        raise InvalidRequestError() from None


async def answer_with_gemini(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against a Gemini target, non-streaming or streaming."""
    encoded = gemini.encode_request(decode_chat(body), body=body)
    seed = record.request_id.replace("-", "")
    created = int(runtime.clock())
    connect = runtime.resilience.retry.connect_timeout_seconds
    if chat.wants_stream:
        request = gemini.build_request(
            encoded,
            target=target,
            stream=True,
            timeout_seconds=target.deployment.timeout_seconds,
            connect_timeout_seconds=connect,
        )
        translator = gemini_decode.StreamTranslator(
            created=created, include_usage=chat.wants_usage_chunk, seed=seed, model=target.deployment.model
        )
        return await open_converted_stream(
            request,
            classify=gemini.classify_error,
            converter=translator,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
        )
    request = gemini.build_request(
        encoded,
        target=target,
        stream=False,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=connect,
    )
    reply = await send_json(request, classify=gemini.classify_error, record=record, runtime=runtime)
    answer = gemini_decode.decode_response(reply)
    completion = gemini_decode.openai_completion(answer, created=created, seed=seed, model=target.deployment.model)
    usage = gemini_decode.token_usage(answer.usage_metadata) if answer.usage_metadata is not None else None
    record_usage(record, usage, prompt_bytes=len(body), output_chars=gemini_decode.output_chars(completion))
    return Response(gemini_decode.encode(completion), media_type="application/json")
