"""/v1/messages for every target that is not Anthropic, on one generic path: the Messages request is translated
once to an OpenAI chat request (dataplane.translate.to_openai); each attempt is the chat endpoint's own for the
target's kind (`dataplane.chat.answer_chat`: the OpenAI-protocol kinds with their quirks, `mock`, and each kind
with an adapter in `dataplane.chat_adapters`: gemini, cohere, bedrock, vertex_ai), which records the usage (or the
estimate) on the request record and owns the upstream stream; its answer is translated back
(dataplane.translate.from_openai): a completion into a message, a stream of chunks into Messages events with the
same record, timing and close, a failure after the first event becoming an Anthropic `error` event."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from starlette.responses import Response

from dataplane.anthropic_wire import MessagesRequest, sse_event
from dataplane.body import decode_chat_request
from dataplane.chat import answer_chat
from dataplane.errors import GatewayError, InvalidParameterError, MalformedJsonError
from dataplane.observability import RequestRecord
from dataplane.openai_wire import ChatRequestView
from dataplane.routing import Target
from dataplane.runtime import Runtime
from dataplane.streaming import EventStreamResponse
from dataplane.translate import from_openai, to_openai

JSON = "application/json"
_request_decoder = msgspec.json.Decoder(MessagesRequest)


def anthropic_error_event(error: GatewayError) -> bytes:
    return sse_event("error", error.anthropic_body())


class TranslatedMessages:
    """One Messages request as an OpenAI chat request, translated on first use and reused by every attempt."""

    def __init__(self, body: bytes) -> None:
        self._messages_body = body
        self._chat: tuple[bytes, ChatRequestView] | None = None

    async def answer(self, *, target: Target, record: RequestRecord, runtime: Runtime, seconds_left: float) -> Response:
        """One attempt: a Messages answer, or an event stream whose first event is in hand."""
        if self._chat is None:
            body = to_openai.encode_request(_full_request(self._messages_body))
            self._chat = body, decode_chat_request(body)
        body, chat = self._chat
        answer = await answer_chat(body, chat, target=target, record=record, runtime=runtime, seconds_left=seconds_left)
        if isinstance(answer, EventStreamResponse):
            return answer.converted(anthropic_events, error_event=anthropic_error_event)
        message = from_openai.anthropic_message(from_openai.decode_completion(bytes(answer.body)))
        return Response(from_openai.encode(message), media_type=JSON)


def _full_request(body: bytes) -> MessagesRequest:
    try:
        return _request_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidParameterError(f"The request cannot be translated for this model: {exc}.") from None
    except msgspec.DecodeError:
        raise MalformedJsonError() from None


async def anthropic_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """OpenAI SSE chunks in, Anthropic Messages events out; closing this closes `chunks`."""
    translator = from_openai.StreamTranslator()
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
