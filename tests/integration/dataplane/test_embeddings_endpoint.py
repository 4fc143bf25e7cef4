"""OpenAI SDK → gateway `POST /v1/embeddings` → fake providers: OpenAI-protocol kinds get the body forwarded with
only `model` replaced; Gemini (batchEmbedContents) and Cohere (v2 Embed) are translated both ways, base64 encoded
by the gateway as OpenAI does; the mock answers deterministic vectors; kinds without embeddings are a clear 400.
Every request ends in one usage event with its input tokens and cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from dataplane.endpoint_support import NO_EMBEDDINGS_KINDS
from dataplane.settings import DataPlaneSettings
from shared.snapshot import OPENAI_COMPATIBLE_KINDS
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.gemini_provider import FakeGemini
from tests.fakes.openai_provider import EMBEDDINGS, FakeOpenAIProvider, ScriptedResponse
from tests.fakes.replay_server import FIXTURES, Reply
from tests.integration.dataplane.route_targets import ROUTE_NAME, RouteTarget, sdk_for_route
from tests.integration.dataplane.test_usage_events import wait_for_events

TEXTS = ["hello", "goodbye"]
OPENAI_MODEL = "text-embedding-3-small"
GEMINI_MODEL = "gemini-embedding-001"
COHERE_MODEL = "embed-v4.0"


def fixture_vectors(provider: str, name: str = "good.json") -> list[list[float]]:
    answer = json.loads((FIXTURES / provider / "embeddings" / name).read_bytes())
    if provider == "gemini":
        return [item["values"] for item in answer["embeddings"]]
    if provider == "cohere":
        return list(answer["embeddings"]["float"])
    return [item["embedding"] for item in answer["data"]]


def approx_vectors(vectors: list[list[float]]) -> Any:
    """float32 precision: what survives a base64 round trip."""
    return [pytest.approx(vector, rel=1e-6) for vector in vectors]


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake_cohere() -> Iterator[FakeCohere]:
    with FakeCohere() as fake:
        yield fake


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI() as fake:
        yield fake


@pytest.fixture
def route(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str) -> Any:
    """`route(*targets)`: an SDK client of a data plane whose route has these targets."""

    def open_route(*targets: RouteTarget) -> Any:
        return sdk_for_route(
            list(targets), settings=dp_settings, test_secrets=test_secrets, nats_url=nats_url, nats_prefix=nats_prefix
        )

    return open_route


def openai_target(fake: FakeOpenAIProvider, kind: str = "openai") -> RouteTarget:
    return RouteTarget(kind=kind, base_url=fake.base_url, api_key=fake.api_key, model=OPENAI_MODEL)


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            kind,
            marks=[
                pytest.mark.conformance(provider=kind, ingress="embeddings", feature="embeddings"),
                pytest.mark.conformance(provider=kind, ingress="embeddings", feature="passthrough"),
            ],
        )
        for kind in ("openai", *OPENAI_COMPATIBLE_KINDS)
        if kind not in NO_EMBEDDINGS_KINDS  # refused: tests/integration/dataplane/test_conformance_embeddings.py
    ],
)
async def test_openai_protocol_kinds_forward_the_body_with_only_the_model_replaced(
    route: Any, fake_openai: FakeOpenAIProvider, kind: str
) -> None:
    async with route(openai_target(fake_openai, kind)) as sdk:
        reply = await sdk.embeddings.create(
            model=ROUTE_NAME, input=TEXTS, encoding_format="float", dimensions=4, extra_body={"x_unknown": [1]}
        )
    assert [item.embedding for item in reply.data] == fixture_vectors("openai")
    assert reply.usage.prompt_tokens == 8
    [seen] = fake_openai.requests
    assert seen.path == "/v1/embeddings"
    assert seen.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert json.loads(seen.body) == {
        "model": OPENAI_MODEL,
        "input": TEXTS,
        "encoding_format": "float",
        "dimensions": 4,
        "x_unknown": [1],
    }


@pytest.mark.conformance(provider="openai", ingress="embeddings", feature="embeddings")
async def test_the_sdks_default_base64_and_token_ids_pass_through_to_openai(
    route: Any, fake_openai: FakeOpenAIProvider
) -> None:
    async with route(openai_target(fake_openai)) as sdk:
        decoded = await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
        tokens = await sdk.embeddings.create(model=ROUTE_NAME, input=[[9906, 1917], [12174]], encoding_format="float")
    assert [item.embedding for item in decoded.data] == approx_vectors(fixture_vectors("openai"))
    assert json.loads(fake_openai.requests[0].body)["encoding_format"] == "base64"  # what the SDK asks by default
    assert json.loads(fake_openai.requests[1].body)["input"] == [[9906, 1917], [12174]]
    assert len(tokens.data) == 2


@pytest.mark.conformance(provider="azure_openai", ingress="embeddings", feature="embeddings")
@pytest.mark.conformance(provider="azure_openai", ingress="embeddings", feature="passthrough")
@pytest.mark.conformance(provider="azure_openai", ingress="embeddings", feature="usage")
async def test_azure_embeddings_go_to_the_deployment_url_with_its_api_key(
    route: Any, fake_azure: FakeAzureOpenAI
) -> None:
    target = RouteTarget(kind="azure_openai", base_url=fake_azure.base_url, api_key=fake_azure.api_key, model="emb")
    async with route(target) as sdk:
        reply = await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert [item.embedding for item in reply.data] == approx_vectors(fixture_vectors("azure_openai"))
    assert reply.usage.prompt_tokens == reply.usage.total_tokens == 8
    [seen] = fake_azure.requests
    assert seen.path == "/openai/deployments/emb/embeddings?api-version=2024-10-21"
    assert seen.headers["api-key"] == fake_azure.api_key
    assert json.loads(seen.body)["input"] == TEXTS


@pytest.mark.conformance(provider="gemini", ingress="embeddings", feature="embeddings")
async def test_gemini_translates_to_batch_embed_contents_and_back(route: Any, fake_gemini: FakeGemini) -> None:
    target = RouteTarget(kind="gemini", base_url=fake_gemini.base_url, api_key=fake_gemini.api_key, model=GEMINI_MODEL)
    async with route(target) as sdk:
        floats = await sdk.embeddings.with_raw_response.create(
            model=ROUTE_NAME, input=TEXTS, encoding_format="float", dimensions=4
        )
        decoded = await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)  # base64: the SDK's default
    reply = floats.parse()
    assert [item.embedding for item in reply.data] == fixture_vectors("gemini")
    assert [item.index for item in reply.data] == [0, 1]
    assert reply.usage.prompt_tokens == 3  # estimated from the 12 bytes of text: Gemini reports no usage
    assert floats.headers["x-waypost-estimated"] == "true"
    first, second = fake_gemini.requests
    assert first.path == f"/v1beta/models/{GEMINI_MODEL}:batchEmbedContents"
    assert first.headers["x-goog-api-key"] == fake_gemini.api_key
    assert json.loads(first.body) == {
        "requests": [
            {"model": f"models/{GEMINI_MODEL}", "content": {"parts": [{"text": text}]}, "outputDimensionality": 4}
            for text in TEXTS
        ]
    }
    assert "outputDimensionality" not in json.loads(second.body)["requests"][0]
    assert [item.embedding for item in decoded.data] == approx_vectors(fixture_vectors("gemini"))


@pytest.mark.conformance(provider="cohere", ingress="embeddings", feature="embeddings")
async def test_cohere_translates_to_v2_embed_and_back_with_billed_tokens(route: Any, fake_cohere: FakeCohere) -> None:
    target = RouteTarget(kind="cohere", base_url=fake_cohere.base_url, api_key=fake_cohere.api_key, model=COHERE_MODEL)
    async with route(target) as sdk:
        decoded = await sdk.embeddings.create(
            model=ROUTE_NAME, input=TEXTS, dimensions=4, extra_body={"input_type": "search_query"}
        )
        floats = await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS, encoding_format="float")
    assert [item.embedding for item in decoded.data] == approx_vectors(fixture_vectors("cohere"))
    assert [item.embedding for item in floats.data] == fixture_vectors("cohere")
    assert decoded.usage.prompt_tokens == decoded.usage.total_tokens == 2
    first, second = fake_cohere.requests
    assert first.path == "/v2/embed"
    assert first.headers["authorization"] == f"Bearer {fake_cohere.api_key}"
    assert json.loads(first.body) == {
        "model": COHERE_MODEL,
        "texts": TEXTS,
        "input_type": "search_query",
        "embedding_types": ["float"],
        "output_dimension": 4,
    }
    assert json.loads(second.body)["input_type"] == "search_document"


@pytest.mark.conformance(provider="mock", ingress="embeddings", feature="embeddings")
async def test_the_mock_answers_deterministic_vectors_of_the_asked_dimensions(route: Any) -> None:
    async with route(RouteTarget(kind="mock")) as sdk:
        first = await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS, encoding_format="float", dimensions=5)
        again = await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS, dimensions=5)  # base64, SDK-decoded
        tokens = await sdk.embeddings.create(model=ROUTE_NAME, input=[1, 2, 3], encoding_format="float")
    vectors = [item.embedding for item in first.data]
    assert [len(vector) for vector in vectors] == [5, 5] and vectors[0] != vectors[1]
    assert all(-1.0 <= value <= 1.0 for vector in vectors for value in vector)
    assert [item.embedding for item in again.data] == approx_vectors(vectors)
    assert first.usage.prompt_tokens == 2 and tokens.usage.prompt_tokens == 3
    assert len(tokens.data) == 1 and len(tokens.data[0].embedding) == 8


@pytest.mark.parametrize("kind", ["gemini", "cohere"])
async def test_translated_kinds_refuse_token_ids_and_cohere_v3_refuses_dimensions(
    route: Any, fake_gemini: FakeGemini, fake_cohere: FakeCohere, kind: str
) -> None:
    fake = fake_gemini if kind == "gemini" else fake_cohere
    target = RouteTarget(kind=kind, base_url=fake.base_url, api_key=fake.api_key, model="embed-english-v3.0")
    async with route(target) as sdk:
        with pytest.raises(openai.BadRequestError) as token_ids:
            await sdk.embeddings.create(model=ROUTE_NAME, input=[[9906, 1917]])
        if kind == "cohere":
            with pytest.raises(openai.BadRequestError) as dimensions:
                await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS, dimensions=256)
            assert dimensions.value.param == "dimensions"
    assert token_ids.value.param == "input" and "token ids" in token_ids.value.message
    assert fake.requests == []  # refused before anything was sent


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            kind,
            marks=pytest.mark.conformance(provider=kind, ingress="embeddings", feature="embeddings", expect="error"),
        )
        for kind in ("anthropic", "bedrock", "vertex_ai")
    ],
)
async def test_kinds_without_embeddings_are_a_clear_400(route: Any, kind: str) -> None:
    async with route(RouteTarget(kind=kind, api_key="unused")) as sdk:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert refused.value.code == "unsupported_endpoint" and refused.value.param == "model"
    assert refused.value.message.endswith(f"The model `{ROUTE_NAME}` does not support embeddings.")


async def test_a_routes_targets_without_embeddings_are_skipped_for_its_fallbacks(
    route: Any, fake_openai: FakeOpenAIProvider
) -> None:
    async with route(RouteTarget(kind="anthropic", api_key="unused"), openai_target(fake_openai)) as sdk:
        reply = await sdk.embeddings.with_raw_response.create(model=ROUTE_NAME, input=TEXTS, encoding_format="float")
    assert reply.headers["x-waypost-target"] == "openai-1" and reply.headers["x-waypost-attempts"] == "1"
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("kind", "reply", "exception", "code"),
    [
        pytest.param(
            "openai",
            ScriptedResponse(400, EMBEDDINGS + "context_length_exceeded.json"),
            openai.BadRequestError,
            None,
            marks=pytest.mark.conformance(provider="openai", ingress="embeddings", feature="errors"),
        ),
        pytest.param(
            "openai",
            ScriptedResponse(429, "rate_limited.json", {"retry-after": "0"}),
            openai.RateLimitError,
            "rate_limit_exceeded",
            marks=pytest.mark.conformance(provider="openai", ingress="embeddings", feature="errors"),
        ),
        pytest.param(
            "gemini",
            Reply(429, "generate_content/resource_exhausted.json", {"retry-after": "0"}),
            openai.RateLimitError,
            "RESOURCE_EXHAUSTED",
            marks=pytest.mark.conformance(provider="gemini", ingress="embeddings", feature="errors"),
        ),
        pytest.param(
            "gemini",
            Reply(400, "generate_content/invalid_argument.json"),
            openai.BadRequestError,
            "INVALID_ARGUMENT",
            marks=pytest.mark.conformance(provider="gemini", ingress="embeddings", feature="errors"),
        ),
        pytest.param(
            "cohere",
            Reply(429, "too_many_requests.json", {"retry-after": "0"}),
            openai.RateLimitError,
            "too_many_requests",
            marks=pytest.mark.conformance(provider="cohere", ingress="embeddings", feature="errors"),
        ),
        pytest.param(
            "cohere",
            Reply(400, "bad_request.json"),
            openai.BadRequestError,
            "bad_request",
            marks=pytest.mark.conformance(provider="cohere", ingress="embeddings", feature="errors"),
        ),
    ],
)
async def test_provider_errors_reach_the_sdk_as_openai_errors(
    route: Any,
    fake_openai: FakeOpenAIProvider,
    fake_gemini: FakeGemini,
    fake_cohere: FakeCohere,
    kind: str,
    reply: Any,
    exception: type[openai.APIStatusError],
    code: str | None,
) -> None:
    fakes: dict[str, Any] = {"openai": fake_openai, "gemini": fake_gemini, "cohere": fake_cohere}
    fake = fakes[kind]
    fake.enqueue(*[reply] * 6)  # retried statuses are retried: every attempt gets the same answer
    async with route(RouteTarget(kind=kind, base_url=fake.base_url, api_key=fake.api_key, model="m")) as sdk:
        with pytest.raises(exception) as caught:
            await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert caught.value.status_code == reply.status
    assert caught.value.code == code


@pytest.mark.conformance(provider="openai", ingress="embeddings", feature="usage")
@pytest.mark.conformance(provider="gemini", ingress="embeddings", feature="usage")
@pytest.mark.conformance(provider="cohere", ingress="embeddings", feature="usage")
@pytest.mark.conformance(provider="mock", ingress="embeddings", feature="usage")
async def test_usage_events_carry_input_tokens_and_cost_or_a_flagged_estimate(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
    fake_gemini: FakeGemini,
    fake_cohere: FakeCohere,
) -> None:
    price = (2_000_000, 0)  # 2 micro-USD per input token
    requests: dict[str, str] = {}
    fake_openai.enqueue(ScriptedResponse(200, EMBEDDINGS + "no_usage.json"))
    kinds: list[tuple[str, Any]] = [("openai", fake_openai), ("gemini", fake_gemini), ("cohere", fake_cohere)]
    kinds.append(("mock", None))
    for version, (kind, fake) in enumerate(kinds, start=1):
        target = RouteTarget(
            kind=kind,
            base_url=fake.base_url if fake is not None else "http://127.0.0.1:9/v1",
            api_key=fake.api_key if fake is not None else None,
            model=COHERE_MODEL if kind == "cohere" else "m",
            price=price,
        )
        async with sdk_for_route(
            [target],
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            version=version,
        ) as sdk:
            if kind == "openai":
                unreported = await sdk.embeddings.with_raw_response.create(model=ROUTE_NAME, input=TEXTS)
                requests["openai-estimated"] = unreported.headers["x-request-id"]
            raw = await sdk.embeddings.with_raw_response.create(model=ROUTE_NAME, input=TEXTS)
            requests[kind] = raw.headers["x-request-id"]
    events = await wait_for_events(nats_url, nats_prefix, len(requests))
    by_kind = {kind: events[request_id] for kind, request_id in requests.items()}
    assert by_kind["openai"].tokens == TokenUsage(input=8) and not by_kind["openai"].estimated
    assert by_kind["openai"].cost_micro_usd == 16 and by_kind["openai"].price_id == "price-0"
    assert by_kind["openai-estimated"].estimated and by_kind["openai-estimated"].tokens.input > 0
    assert by_kind["gemini"].tokens == TokenUsage(input=3) and by_kind["gemini"].estimated
    assert by_kind["cohere"].tokens == TokenUsage(input=2) and not by_kind["cohere"].estimated
    assert by_kind["cohere"].cost_micro_usd == 4
    assert by_kind["mock"].tokens == TokenUsage(input=2) and by_kind["mock"].provider_kind == "mock"
    assert {event.path for event in by_kind.values()} == {"/v1/embeddings"}
