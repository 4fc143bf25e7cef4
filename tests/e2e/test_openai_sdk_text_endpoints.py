"""End to end with the official openai SDK on `/v1/embeddings` and `/v1/completions`: the gateway configured
through the admin API, the data plane as a real process forwarding to a fake OpenAI upstream on loopback, the
built-in mock answering in process, and an Anthropic-only route refused with a clear 400."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.gateway import Gateway
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.fakes.replay_server import FIXTURES

UPSTREAM_MODEL = "text-upstream"
TEXTS = ["hello", "goodbye"]


@pytest.fixture(scope="module")
def key(gateway: Gateway, upstream: FakeOpenAIProvider) -> str:
    team = gateway.create("teams", {"name": "e2e-text"})
    gpt = gateway.create(
        "providers",
        {
            "name": "fake-openai-text",
            "kind": "openai_compatible",
            "base_url": upstream.base_url,
            "credentials": {"api_key": upstream.api_key},
        },
    )
    claude = gateway.create(
        "providers",
        {
            "name": "anthropic-text",
            "kind": "anthropic",
            "base_url": "http://127.0.0.1:9",
            "credentials": {"api_key": "unused"},
        },
    )
    mock = gateway.create("providers", {"name": "mock-text", "kind": "mock"})
    for route, provider in (("text-gpt", gpt), ("text-claude", claude), ("text-mock", mock)):
        deployment = gateway.create(
            "deployments", {"name": f"{route}-dep", "provider_id": provider["id"], "model": UPSTREAM_MODEL}
        )
        gateway.create("routes", {"name": route, "targets": [deployment["id"]]})
    created = gateway.create("keys", {"name": "e2e-text", "team_id": team["id"], "environment": "dev"})
    gateway.wait_until_key_works(created["key"])
    return str(created["key"])


@pytest.fixture
def client(gateway: Gateway, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


@pytest.mark.conformance(provider="openai_compatible", ingress="embeddings", feature="embeddings")
def test_embeddings_are_forwarded_and_decoded_from_base64_by_the_sdk(
    client: openai.OpenAI, upstream: FakeOpenAIProvider
) -> None:
    expected = json.loads((FIXTURES / "openai" / "embeddings" / "good.json").read_bytes())
    seen_before = len(upstream.requests)

    reply = client.embeddings.create(model="text-gpt", input=TEXTS)

    assert [item.embedding for item in reply.data] == [
        pytest.approx(item["embedding"], rel=1e-6) for item in expected["data"]
    ]
    assert reply.usage.prompt_tokens == expected["usage"]["prompt_tokens"]
    forwarded = upstream.requests[seen_before]
    assert forwarded.path == "/v1/embeddings"
    assert json.loads(forwarded.body) == {"model": UPSTREAM_MODEL, "input": TEXTS, "encoding_format": "base64"}


@pytest.mark.conformance(provider="openai_compatible", ingress="completions", feature="completions")
@pytest.mark.conformance(provider="openai_compatible", ingress="completions", feature="stream_text")
def test_text_completions_whole_and_streamed(client: openai.OpenAI) -> None:
    whole = client.completions.create(model="text-gpt", prompt="Say this is a test")
    chunks = list(client.completions.create(model="text-gpt", prompt="Say this is a test", stream=True))

    assert whole.choices[0].text == "\n\nThis is indeed a test"
    assert whole.usage is not None and whole.usage.total_tokens == 12
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "\n\nThis is indeed a test"
    assert all(c.usage is None for c in chunks)  # the gateway's own usage request stays hidden


def test_the_mock_serves_both_endpoints_with_no_upstream(client: openai.OpenAI) -> None:
    vectors = client.embeddings.create(model="text-mock", input=TEXTS, encoding_format="float", dimensions=3)
    completion = client.completions.create(model="text-mock", prompt="Hi there")

    assert [len(item.embedding) for item in vectors.data] == [3, 3]
    assert completion.choices[0].text == "Mock completion of: Hi there"


@pytest.mark.conformance(provider="anthropic", ingress="embeddings", feature="embeddings", expect="error")
@pytest.mark.conformance(provider="anthropic", ingress="completions", feature="completions", expect="error")
def test_a_route_whose_models_cannot_embed_or_complete_text_is_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as embeddings:
        client.embeddings.create(model="text-claude", input=TEXTS)
    with pytest.raises(openai.BadRequestError) as completions:
        client.completions.create(model="text-claude", prompt="Hi")

    assert embeddings.value.code == completions.value.code == "unsupported_endpoint"
    assert "does not support embeddings" in embeddings.value.message
