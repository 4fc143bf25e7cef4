from __future__ import annotations

import httpx2
import msgspec
import openai
import pytest

from dataplane.openai_wire import ChatRequestView
from dataplane.providers import mock
from tests.unit.dataplane.conftest import NOW, Gateway, bearer

_decode = msgspec.json.Decoder(ChatRequestView).decode


def _request(payload: dict[str, object]) -> ChatRequestView:
    return _decode(msgspec.json.encode(payload))


CONVERSATION: dict[str, object] = {
    "model": "gpt-test",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "  the   time?"}]},
    ],
}


def _payloads(events: list[bytes]) -> list[bytes]:
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    return [e[len(b"data: ") : -2] for e in events]


def test_reply_quotes_the_last_user_message_deterministically() -> None:
    request = _request(CONVERSATION)
    assert mock.reply_text(request) == "Mock reply to: What is the time?"
    assert mock.reply_text(request) == mock.reply_text(_request(CONVERSATION))


def test_reply_quotes_at_most_200_characters() -> None:
    request = _request({"model": "m", "messages": [{"role": "user", "content": "x" * 500}]})
    assert mock.reply_text(request) == "Mock reply to: " + "x" * 200


def test_completion_is_openai_shaped_with_word_count_usage() -> None:
    completion = mock.complete(_request(CONVERSATION), model="gpt-test", completion_id="chatcmpl-1", created=7)
    body = msgspec.json.decode(msgspec.json.encode(completion))
    assert body["object"] == "chat.completion"
    assert body["id"] == "chatcmpl-1"
    assert body["created"] == 7
    assert body["model"] == "gpt-test"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Mock reply to: What is the time?"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    # prompt: 2 + 2 + 2 + 4 words; completion: 7 words
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}


def test_stream_frames_role_words_finish_then_done() -> None:
    events = mock.stream_events(_request(CONVERSATION), model="gpt-test", completion_id="chatcmpl-1", created=7)
    payloads = _payloads(events)
    assert payloads[-1] == b"[DONE]"
    chunks = [msgspec.json.decode(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in chunks)
    assert all(c["model"] == "gpt-test" and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    words = chunks[1:-1]
    assert len(words) == 7
    assert "".join(c["choices"][0]["delta"]["content"] for c in words) == "Mock reply to: What is the time?"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}


def test_stream_ends_with_a_usage_chunk_only_when_asked() -> None:
    asked = _request({**CONVERSATION, "stream": True, "stream_options": {"include_usage": True}})
    payloads = _payloads(mock.stream_events(asked, model="gpt-test", completion_id="c", created=7))
    assert payloads[-1] == b"[DONE]"
    usage_chunk = msgspec.json.decode(payloads[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}
    assert msgspec.json.decode(payloads[-3])["choices"][0]["finish_reason"] == "stop"


async def test_mock_route_answers_over_http(gateway: Gateway) -> None:
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}]}
    response = await gateway.client.post("/v1/chat/completions", headers=bearer(gateway.key), json=payload)
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "Mock reply to: hello there"
    assert body["created"] == int(NOW)
    assert body["id"] == "chatcmpl-" + response.headers["x-request-id"].replace("-", "")


async def test_mock_route_streams_server_sent_events(gateway: Gateway) -> None:
    payload = {
        "model": "gpt-test",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hello there"}],
    }
    response = await gateway.client.post("/v1/chat/completions", headers=bearer(gateway.key), json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"]
    events = [e + b"\n\n" for e in response.content.split(b"\n\n") if e]
    payloads = _payloads(events)
    assert payloads[-1] == b"[DONE]"
    assert msgspec.json.decode(payloads[-2])["usage"]["completion_tokens"] == 5


async def test_official_openai_sdk_reads_mock_answers_and_refusals(gateway: Gateway) -> None:
    # the SDK ships its own httpx fork; give it an in-process transport to the same app
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway.app))
    sdk = openai.AsyncOpenAI(
        base_url="http://dataplane/v1", api_key=gateway.key.token, http_client=http_client, max_retries=0
    )
    completion = await sdk.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "ping pong"}]
    )
    assert completion.choices[0].message.content == "Mock reply to: ping pong"
    assert completion.usage is not None and completion.usage.total_tokens == 7

    stream = await sdk.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "ping pong"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage_seen = "", 0
    async for chunk in stream:
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
        usage_seen += chunk.usage.total_tokens if chunk.usage else 0
    assert text == "Mock reply to: ping pong"
    assert usage_seen == 7

    with pytest.raises(openai.NotFoundError) as not_found:
        await sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert not_found.value.code == "model_not_found"
    refused = openai.AsyncOpenAI(
        base_url="http://dataplane/v1", api_key="wp-dev-wrong", http_client=http_client, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        await refused.models.list()
    await http_client.aclose()
