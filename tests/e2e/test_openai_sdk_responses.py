"""End to end with the official openai SDK on `/v1/responses`: the gateway configured through the admin API, the
data plane as a real process (Granian) relaying to a fake OpenAI Responses API on loopback (kind `openai`), the
built-in mock answering through the translation, and a stateful request to the mock refused with a clear 400."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.gateway import Gateway
from tests.fakes.openai_provider import FakeOpenAIProvider

UPSTREAM_MODEL = "gpt-4.1-2025-04-14"


@pytest.fixture(scope="module")
def key(gateway: Gateway, upstream: FakeOpenAIProvider) -> str:
    team = gateway.create("teams", {"name": "e2e-responses"})
    gpt = gateway.create(
        "providers",
        {
            "name": "fake-openai-responses",
            "kind": "openai",
            "base_url": upstream.base_url,
            "credentials": {"api_key": upstream.api_key},
        },
    )
    mock = gateway.create("providers", {"name": "mock-responses", "kind": "mock"})
    for route, provider in (("resp-gpt", gpt), ("resp-mock", mock)):
        deployment = gateway.create(
            "deployments", {"name": f"{route}-dep", "provider_id": provider["id"], "model": UPSTREAM_MODEL}
        )
        gateway.create("routes", {"name": route, "targets": [deployment["id"]]})
    created = gateway.create("keys", {"name": "e2e-responses", "team_id": team["id"], "environment": "dev"})
    gateway.wait_until_key_works(created["key"])
    return str(created["key"])


@pytest.fixture
def client(gateway: Gateway, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


@pytest.mark.conformance(provider="openai", ingress="responses", feature="passthrough")
@pytest.mark.conformance(provider="openai", ingress="responses", feature="stream_text")
def test_responses_are_relayed_whole_and_streamed_through_granian(
    client: openai.OpenAI, upstream: FakeOpenAIProvider
) -> None:
    seen_before = len(upstream.requests)
    whole = client.responses.create(model="resp-gpt", input="Tell me a story.")
    with client.responses.stream(model="resp-gpt", input="Hello!") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert whole.output_text.startswith("In a peaceful grove") and whole.usage is not None
    assert "".join(deltas) == final.output_text == "Hi there! How can I assist you today?"
    assert [r.path for r in upstream.requests[seen_before:]] == ["/v1/responses", "/v1/responses"]
    assert json.loads(upstream.requests[seen_before].body) == {"model": UPSTREAM_MODEL, "input": "Tell me a story."}


@pytest.mark.conformance(provider="mock", ingress="responses", feature="text")
@pytest.mark.conformance(provider="mock", ingress="responses", feature="stream_text")
def test_the_mock_answers_responses_whole_and_streamed_through_granian(client: openai.OpenAI) -> None:
    whole = client.responses.create(model="resp-mock", input="Hello there")
    with client.responses.stream(model="resp-mock", input="Hello there") as stream:
        final = stream.get_final_response()

    assert whole.output_text == final.output_text == "Mock reply to: Hello there"
    assert final.usage is not None and final.usage.output_tokens == 5


def test_stored_state_on_a_translated_kind_is_a_400_in_openai_format(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="resp-mock", input="Continue", previous_response_id="resp_earlier")
    assert refused.value.param == "previous_response_id"
    assert refused.value.type == "invalid_request_error"
