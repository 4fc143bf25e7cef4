"""The scripted upstream answers each request as scripted and notices when the client's connection goes away."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from tests.fakes import scripted_upstream as scripted_upstream_module
from tests.fakes.openai_provider import load_fixture, split_sse_events
from tests.fakes.scripted_upstream import (
    Drop,
    Hang,
    Reply,
    ScriptedUpstream,
    StreamThenFail,
    context_length_exceeded_body,
)

scripted_upstream = scripted_upstream_module.scripted_upstream  # the fixture
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"authorization": "Bearer sk-fake-upstream-key"}
BOUND_SECONDS = 5.0


def _url(fake: ScriptedUpstream) -> str:
    return f"{fake.base_url}/chat/completions"


def test_replies_follow_the_script_then_the_defaults(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(
        Reply(status=429, fixture="rate_limited.json", headers={"Retry-After": "2"}),
        Reply(status=400, body=context_length_exceeded_body()),
    )
    with httpx.Client(timeout=BOUND_SECONDS) as client:
        limited = client.post(_url(scripted_upstream), json=CHAT)
        too_long = client.post(_url(scripted_upstream), json=CHAT)
        default = client.post(_url(scripted_upstream), json=CHAT, headers=AUTH)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.content == load_fixture("rate_limited.json")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "context_length_exceeded"
    assert default.content == load_fixture("good.json")
    assert len(scripted_upstream.requests) == 3
    assert len(scripted_upstream.calls) == 2


def test_a_stream_stops_after_the_scripted_events(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(StreamThenFail(events=5, then="drop"), StreamThenFail(events=2, then="garbage"))
    events = split_sse_events(load_fixture("stream.sse"))
    for count in (5, 2):
        received = b""
        with (
            httpx.Client(timeout=BOUND_SECONDS) as client,
            client.stream("POST", _url(scripted_upstream), json=CHAT) as response,
            pytest.raises(httpx.HTTPError),
        ):
            for chunk in response.iter_raw():
                received += chunk
        assert received == b"".join(events[:count])
    assert all(call.client_closed.is_set() for call in scripted_upstream.calls)


def test_a_dropped_request_gets_no_status_line(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(Drop())
    with httpx.Client(timeout=BOUND_SECONDS) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post(_url(scripted_upstream), json=CHAT)
    [call] = scripted_upstream.calls
    assert msgspec.json.decode(call.request.body) == CHAT


def test_a_hanging_request_is_seen_closed_when_the_client_gives_up(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(Hang(), StreamThenFail(events=1, then="hang"))
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.post(_url(scripted_upstream), json=CHAT)
    with httpx.Client(timeout=0.2) as client, client.stream("POST", _url(scripted_upstream), json=CHAT) as response:
        first = next(response.iter_raw())
    assert first == split_sse_events(load_fixture("stream.sse"))[0]
    for call in scripted_upstream.calls:
        assert call.client_closed.wait(BOUND_SECONDS)
        assert call.closed_at is not None
