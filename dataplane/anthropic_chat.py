"""OpenAI chat requests served by an Anthropic target (kind `anthropic`): the request translated to the Messages
API, the answer (or stream) translated back to OpenAI's shapes, the usage recorded from Anthropic's counts."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from dataplane.errors import InvalidRequestError, UpstreamUnavailableError
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import anthropic
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.translate import from_anthropic, to_anthropic
from dataplane.translate.openai_types import ChatRequest
from dataplane.translate.usage import from_anthropic as usage_from_anthropic
from dataplane.upstream_calls import open_converted_stream, record_usage, send_json

_chat_decoder = msgspec.json.Decoder(ChatRequest)


def decode_full_chat_request(body: bytes) -> ChatRequest:
    """The whole request, for translation (the view the pipeline decoded holds only the routing fields)."""
    try:
        return _chat_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"The request cannot be translated for this model: {exc}.") from None
    except msgspec.DecodeError:
        raise InvalidRequestError() from None


async def answer_with_anthropic(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against an Anthropic target, non-streaming or streaming."""
    translated = to_anthropic.encode_request(decode_full_chat_request(body), stream=chat.wants_stream)
    connect = runtime.resilience.retry.connect_timeout_seconds
    created = int(runtime.clock())
    if chat.wants_stream:
        request = anthropic.build_messages_request(
            translated,
            target=target,
            client_headers={},
            stream=True,
            timeout_seconds=target.deployment.timeout_seconds,
            connect_timeout_seconds=connect,
        )
        translator = from_anthropic.StreamTranslator(created=created, include_usage=chat.wants_usage_chunk)
        return await open_converted_stream(
            request,
            classify=anthropic.classify_error,
            converter=translator,
            record=record,
            runtime=runtime,
            seconds_left=seconds_left,
            prompt_bytes=len(body),
        )
    request = anthropic.build_messages_request(
        translated,
        target=target,
        client_headers={},
        stream=False,
        timeout_seconds=min(target.deployment.timeout_seconds, seconds_left),
        connect_timeout_seconds=connect,
    )
    reply = await send_json(request, classify=anthropic.classify_error, record=record, runtime=runtime)
    message = anthropic.decode_message(reply)
    if message is None:
        raise UpstreamUnavailableError("The upstream provider sent an unreadable answer.")
    completion = from_anthropic.openai_completion(message, created=created)
    output_chars = sum(len(block.text or "") for block in message.content)
    usage = usage_from_anthropic(message.usage) if message.usage is not None else None
    record_usage(record, usage, prompt_bytes=len(body), output_chars=output_chars)
    return Response(from_anthropic.encode(completion), media_type="application/json")
