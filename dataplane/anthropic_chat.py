"""OpenAI chat requests served by an Anthropic target (kind `anthropic`): the request translated to the Messages
API, the answer (or stream) translated back to OpenAI's shapes, the usage recorded from Anthropic's counts."""

from __future__ import annotations

from starlette.responses import Response

from dataplane.anthropic_wire import Message
from dataplane.body import decode_full_chat_request
from dataplane.errors import UpstreamUnavailableError
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.providers import anthropic
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.translate import from_anthropic, to_anthropic
from dataplane.translate.usage import from_anthropic as usage_from_anthropic
from dataplane.upstream import UpstreamRequest
from dataplane.upstream_calls import Classify, open_converted_stream, record_usage, send_json

JSON = "application/json"


async def answer_with_anthropic(
    body: bytes, chat: ChatRequestView, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float
) -> Response:
    """One attempt against an Anthropic target, non-streaming or streaming."""
    translated = to_anthropic.encode_request(decode_full_chat_request(body), stream=chat.wants_stream)
    timeout = target.deployment.timeout_seconds
    request = anthropic.build_messages_request(
        translated,
        target=target,
        client_headers={},
        stream=chat.wants_stream,
        # a stream's timeout bounds each read; a whole answer must come within what is left of the attempt
        timeout_seconds=timeout if chat.wants_stream else min(timeout, seconds_left),
        connect_timeout_seconds=runtime.resilience.retry.connect_timeout_seconds,
    )
    return await answer_anthropic_request(
        request, body, chat, classify=anthropic.classify_error, record=record, runtime=runtime,
        seconds_left=seconds_left,
    )  # fmt: skip


async def answer_anthropic_request(
    request: UpstreamRequest,
    body: bytes,
    chat: ChatRequestView,
    *,
    classify: Classify,
    record: RequestRecord,
    runtime: Runtime,
    seconds_left: float,
) -> Response:
    """Send a built Messages request (Anthropic's or Claude on Vertex AI) and answer in OpenAI's shapes."""
    created = int(runtime.clock())
    if chat.wants_stream:
        translator = from_anthropic.StreamTranslator(created=created, include_usage=chat.wants_usage_chunk)
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
    message = anthropic.decode_message(reply)
    if message is None:
        raise UpstreamUnavailableError("The upstream provider sent an unreadable answer.")
    record_message_usage(record, message, prompt_bytes=len(body))
    return Response(from_anthropic.encode(from_anthropic.openai_completion(message, created=created)), media_type=JSON)


def record_message_usage(record: RequestRecord, message: Message | None, *, prompt_bytes: int) -> None:
    """The usage of a Messages answer: its counts, or (flagged) an estimate from its text when it has none."""
    usage = message.usage if message is not None else None
    output_chars = sum(len(block.text or "") for block in message.content) if message is not None else 0
    record_usage(
        record,
        usage_from_anthropic(usage) if usage is not None else None,
        prompt_bytes=prompt_bytes,
        output_chars=output_chars,
    )
