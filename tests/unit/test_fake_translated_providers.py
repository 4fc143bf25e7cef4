"""The fake Azure OpenAI, Gemini and Cohere servers answer from their fixtures byte for byte, check their own
auth header the way the real provider does, and serve queued replies first."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.gemini_provider import FakeGemini
from tests.fakes.replay_server import ReplayServer, Reply, split_sse_events

CASES: list[tuple[Callable[[], ReplayServer], str, dict[str, str], str, str, str]] = [
    (
        FakeAzureOpenAI,
        "/openai/deployments/gpt/chat/completions?api-version=2024-10-21",
        {"api-key": "azure-fake-key"},
        "stream.sse",
        "good.json",
        "invalid_api_key.json",
    ),
    (
        FakeGemini,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"x-goog-api-key": "gemini-fake-key"},
        "stream_generate_content/stream.sse",
        "generate_content/good.json",
        "generate_content/api_key_invalid.json",
    ),
    (
        FakeCohere,
        "/v2/chat",
        {"authorization": "Bearer cohere-fake-key"},
        "stream.sse",
        "good.json",
        "unauthorized.json",
    ),
]


@pytest.mark.parametrize(("fake_type", "path", "auth", "stream", "good", "refused"), CASES)
def test_fakes_replay_fixtures_byte_for_byte(
    fake_type: Callable[[], ReplayServer], path: str, auth: dict[str, str], stream: str, good: str, refused: str
) -> None:
    with fake_type() as fake:
        url = fake.origin + path
        streamed = httpx.post(url, headers=auth, json={"stream": True, "messages": []})
        fake.enqueue(Reply(200, good))
        queued = httpx.post(url, headers={}, content=b"not even json")
        without_key = httpx.post(url, json={})
    assert streamed.status_code == 200 and streamed.headers["content-type"] == "text/event-stream"
    assert streamed.content == fake.fixture(stream)
    assert queued.status_code == 200 and queued.content == fake.fixture(good)
    assert without_key.status_code in (400, 401) and without_key.content == fake.fixture(refused)
    assert [request.path for request in fake.requests] == [path] * 3


def test_sse_events_split_on_lf_or_crlf_blank_lines() -> None:
    assert split_sse_events(b"data: 1\r\n\r\ndata: 2\n\ndata: 3") == [b"data: 1\r\n\r\n", b"data: 2\n\n", b"data: 3"]
