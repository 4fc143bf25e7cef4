"""The fake OpenAI provider speaks OpenAI's wire format to the official SDK and replays its fixtures exactly."""

from __future__ import annotations

import time

import httpx
import msgspec
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakes import openai_provider
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse, load_fixture, split_sse_events

# Until tests/conftest.py imports it for everyone, bind the shared fixture here.
fake_openai = openai_provider.fake_openai

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]


def _client(fake: FakeOpenAIProvider, api_key: str | None = None) -> OpenAI:
    return OpenAI(base_url=fake.base_url, api_key=api_key or fake.api_key, max_retries=0)


def test_non_streaming_create_parses_into_a_chat_completion_with_usage(fake_openai: FakeOpenAIProvider) -> None:
    completion = _client(fake_openai).chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert completion.model == "gpt-4.1-2025-04-14"
    assert completion.choices[0].message.content == "Hello! How can I assist you today?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        19,
        10,
        29,
    )
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0


def test_streaming_create_assembles_content_and_ends_with_a_usage_chunk(fake_openai: FakeOpenAIProvider) -> None:
    stream = _client(fake_openai).chat.completions.create(
        model="gpt-3.5-turbo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert content == "Hi, how are you?"
    assert chunks[0].choices[0].delta.role == "assistant"
    finish_reasons = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finish_reasons[-1] == "stop"
    assert all(reason is None for reason in finish_reasons[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens, usage_chunk.usage.total_tokens) == (
        10,
        5,
        15,
    )
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_a_wrong_api_key_raises_authentication_error(fake_openai: FakeOpenAIProvider) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(fake_openai, api_key="sk-wrong").chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"


def test_an_enqueued_429_raises_rate_limit_error_then_defaults_resume(fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=429, fixture="rate_limited.json", headers={"retry-after": "1"}))
    client = _client(fake_openai)

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1"

    assert client.chat.completions.create(model="gpt-4.1", messages=MESSAGES).choices[0].finish_reason == "stop"
    assert len(fake_openai.requests) == 2


def test_enqueued_responses_are_served_in_order(fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(
        ScriptedResponse(status=500, fixture="server_error.json"),
        ScriptedResponse(status=200, fixture="tool_calls.json"),
    )
    client = _client(fake_openai)

    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert caught.value.type == "server_error"
    completion = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert completion.choices[0].finish_reason == "tool_calls"
    tool_calls = completion.choices[0].message.tool_calls
    assert tool_calls is not None
    assert tool_calls[0].id == "call_abc123"
    assert tool_calls[0].type == "function"
    assert tool_calls[0].function.name == "get_current_weather"
    assert msgspec.json.decode(tool_calls[0].function.arguments) == {"location": "Boston, MA"}


def test_requests_are_recorded_with_their_body_bytes(fake_openai: FakeOpenAIProvider) -> None:
    _client(fake_openai).chat.completions.create(model="gpt-4.1", messages=MESSAGES, temperature=0.5)

    [recorded] = fake_openai.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert recorded.headers["content-type"] == "application/json"
    assert msgspec.json.decode(recorded.body) == {"model": "gpt-4.1", "messages": MESSAGES, "temperature": 0.5}


def test_responses_are_the_fixture_bytes_untouched(fake_openai: FakeOpenAIProvider) -> None:
    auth = {"Authorization": f"Bearer {fake_openai.api_key}"}
    url = f"{fake_openai.base_url}/chat/completions"

    plain = httpx.post(url, content=b'{"model": "x", "messages": []}', headers=auth)
    streamed = httpx.post(url, content=b'{"model": "x", "messages": [], "stream": true}', headers=auth)

    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json"
    assert plain.headers["x-request-id"].startswith("req_")
    assert plain.content == load_fixture("good.json")
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.content == load_fixture("stream.sse")
    assert streamed.content.endswith(b"data: [DONE]\n\n")


def test_a_malformed_json_body_gets_400_bad_request(fake_openai: FakeOpenAIProvider) -> None:
    response = httpx.post(
        f"{fake_openai.base_url}/chat/completions",
        content=b'{"model": ',
        headers={"Authorization": f"Bearer {fake_openai.api_key}"},
    )

    assert response.status_code == 400
    assert response.content == load_fixture("bad_request.json")
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_stream_events_reach_the_client_one_by_one(fake_openai: FakeOpenAIProvider) -> None:
    delay = 0.05
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream_no_usage.sse", chunk_delay=delay))
    expected = split_sse_events(load_fixture("stream_no_usage.sse"))
    reads: list[tuple[float, bytes]] = []

    with httpx.stream("POST", f"{fake_openai.base_url}/chat/completions", content=b"{}") as response:
        for data in response.iter_raw():
            reads.append((time.monotonic(), data))

    assert [data for _, data in reads] == expected
    assert reads[-1][0] - reads[0][0] >= delay * (len(expected) - 1) * 0.8


def test_a_stream_without_usage_has_no_usage_chunk(fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream_no_usage.sse"))

    chunks = list(_client(fake_openai).chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES, stream=True))

    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_usage_details_fixture_carries_cached_and_reasoning_tokens(fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="usage_details.json"))

    usage = _client(fake_openai).chat.completions.create(model="gpt-4.1", messages=MESSAGES).usage

    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1920
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 256


def test_no_usage_fixture_parses_with_usage_none(fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=200, fixture="no_usage.json"))

    completion = _client(fake_openai).chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert completion.usage is None
    assert completion.choices[0].message.content == "Hello! How can I assist you today?"


def test_an_enqueued_404_raises_not_found(fake_openai: FakeOpenAIProvider) -> None:
    fake_openai.enqueue(ScriptedResponse(status=404, fixture="model_not_found.json"))

    with pytest.raises(openai.NotFoundError) as caught:
        _client(fake_openai).chat.completions.create(model="gpt-does-not-exist", messages=MESSAGES)

    assert caught.value.code == "model_not_found"


def test_models_list_is_an_openai_list_body(fake_openai: FakeOpenAIProvider) -> None:
    models = _client(fake_openai).models.list()

    assert [model.id for model in models] == ["model-id-0", "model-id-1", "model-id-2"]
    assert fake_openai.requests[-1].path == "/v1/models"


def test_enqueue_rejects_an_unknown_fixture(fake_openai: FakeOpenAIProvider) -> None:
    with pytest.raises(FileNotFoundError):
        fake_openai.enqueue(ScriptedResponse(status=200, fixture="nope.json"))


def test_base_url_needs_a_started_server() -> None:
    fake = FakeOpenAIProvider()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError):
        _ = fake.base_url


async def test_async_client_streams_from_the_fake(fake_openai: FakeOpenAIProvider) -> None:
    client = AsyncOpenAI(base_url=fake_openai.base_url, api_key=fake_openai.api_key, max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()

    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == "Hi, how are you?"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 15
