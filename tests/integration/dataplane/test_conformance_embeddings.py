"""Conformance cells of `POST /v1/embeddings` for the OpenAI-compatible family and Azure: the official `openai` SDK →
the gateway → a fake provider of each kind (tests/fakes/compat_provider.py; the fake OpenAI for
`openai_compatible`; the fake Azure resource), asserting on what the SDK returns: the vectors and the usage as the
provider reported it (accounted in the usage event, or estimated and flagged when the provider reports none, as
Together's answer does), and each provider error as the SDK's exception class. Kinds whose provider has no
embeddings API (DeepSeek, xAI) are a clear 400 before anything is sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import openai
import pytest

from dataplane.endpoint_support import NO_EMBEDDINGS_KINDS
from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.compat_provider import EMBEDDINGS, FakeCompatProvider
from tests.fakes.openai_provider import FIXTURE_ROOT, FakeOpenAIProvider, ScriptedResponse
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.route_targets import ROUTE_NAME, RouteTarget, sdk_for_route
from tests.integration.dataplane.test_compat_providers import ERROR_CASES, NO_AUTH_KINDS
from tests.integration.dataplane.test_usage_events import wait_for_events

INGRESS = "embeddings"
TEXTS = ["hello", "goodbye"]
# the family kinds whose provider documents `POST {base}/embeddings`, each served by its own fake
FAMILY = ("mistral", "groq", "together", "fireworks", "openrouter", "ollama", "vllm")

Fake = FakeOpenAIProvider | FakeAzureOpenAI | FakeCompatProvider
OpenFake = Callable[[str], AbstractAsyncContextManager[tuple[openai.AsyncOpenAI, Fake]]]


def make_fake(kind: str) -> Fake:
    if kind == "openai_compatible":
        return FakeOpenAIProvider()
    if kind == "azure_openai":
        return FakeAzureOpenAI()
    return FakeCompatProvider(kind, api_key=None if kind in NO_AUTH_KINDS else "fake-compat-key")


def good_answer(fake: Fake) -> dict[str, Any]:
    if isinstance(fake, FakeCompatProvider):
        body = fake.fixture(EMBEDDINGS + "good.json")
    else:
        body = (FIXTURE_ROOT / "embeddings" / "good.json").read_bytes()
    decoded: dict[str, Any] = json.loads(body)
    return decoded


@pytest.fixture
def open_fake(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> Iterator[OpenFake]:
    fakes: list[Fake] = []

    @asynccontextmanager
    async def open_sdk(kind: str) -> AsyncIterator[tuple[openai.AsyncOpenAI, Fake]]:
        fake = make_fake(kind)
        fake.start()
        fakes.append(fake)
        target = RouteTarget(kind=kind, base_url=fake.base_url, api_key=fake.api_key, model=f"{kind}-embed-model")
        async with sdk_for_route(
            [target], settings=dp_settings, test_secrets=test_secrets, nats_url=nats_url, nats_prefix=nats_prefix
        ) as sdk:
            yield sdk, fake

    yield open_sdk
    for fake in fakes:
        fake.stop()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(kind, marks=pytest.mark.conformance(provider=kind, ingress=INGRESS, feature="usage"), id=kind)
        for kind in ("openai_compatible", *FAMILY)
    ],
)
async def test_the_vectors_come_back_with_the_providers_usage_accounted(
    open_fake: OpenFake, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with open_fake(kind) as (sdk, fake):
        raw = await sdk.embeddings.with_raw_response.create(model=ROUTE_NAME, input=TEXTS, encoding_format="float")
    reply, good = raw.parse(), good_answer(fake)
    assert [item.embedding for item in reply.data] == [item["embedding"] for item in good["data"]]
    [seen] = fake.requests
    assert seen.path.endswith("/embeddings") and json.loads(seen.body)["input"] == TEXTS
    event = (await wait_for_events(nats_url, nats_prefix, 1))[raw.headers["x-request-id"]]
    assert event.path == "/v1/embeddings"
    if "usage" not in good:  # Together's answer has no usage: estimated from the input's size, and flagged
        assert reply.usage is None
        assert event.estimated and event.tokens.input > 0 and event.tokens.output == 0
        return
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (
        good["usage"]["prompt_tokens"],
        good["usage"]["total_tokens"],
    )
    assert event.tokens == TokenUsage(input=good["usage"]["prompt_tokens"]) and not event.estimated


EMBEDDINGS_ERRORS = [case for case in ERROR_CASES if case[0] in FAMILY and case[4] != 502]  # 502: auth, credit


@pytest.mark.parametrize(
    ("kind", "status", "fixture", "exception", "client_status", "code"),
    [
        pytest.param(
            *case,
            marks=pytest.mark.conformance(provider=case[0], ingress=INGRESS, feature="errors"),
            id=f"{case[0]}-{case[1]}",
        )
        for case in EMBEDDINGS_ERRORS
    ],
)
async def test_family_errors_reach_the_sdk_with_the_right_class_and_status(
    open_fake: OpenFake,
    kind: str,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    client_status: int,
    code: str | None,
) -> None:
    async with open_fake(kind) as (sdk, fake):
        assert isinstance(fake, FakeCompatProvider)
        fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)  # retried ones are answered alike
        with pytest.raises(exception) as caught:
            await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert caught.value.status_code == client_status and caught.value.code == code
    assert fake.requests[0].path.endswith("/embeddings")


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "code"),
    [
        (400, "bad_request.json", openai.BadRequestError, None),
        (429, "rate_limited.json", openai.RateLimitError, "rate_limit_exceeded"),
        (500, "server_error.json", openai.InternalServerError, None),
    ],
)
@pytest.mark.conformance(provider="openai_compatible", ingress=INGRESS, feature="errors")
async def test_openai_compatible_errors_reach_the_sdk_with_their_status(
    open_fake: OpenFake, status: int, fixture: str, exception: type[openai.APIStatusError], code: str | None
) -> None:
    async with open_fake("openai_compatible") as (sdk, fake):
        assert isinstance(fake, FakeOpenAIProvider)
        fake.enqueue(*[ScriptedResponse(status, fixture, {"retry-after": "0"})] * 6)
        with pytest.raises(exception) as caught:
            await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert caught.value.status_code == status and caught.value.code == code


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "code"),
    [
        (400, "content_filter.json", openai.BadRequestError, "content_filter"),
        (429, "rate_limited.json", openai.RateLimitError, "429"),
        (404, "deployment_not_found.json", openai.NotFoundError, "DeploymentNotFound"),
    ],
)
@pytest.mark.conformance(provider="azure_openai", ingress=INGRESS, feature="errors")
async def test_azure_errors_reach_the_sdk_with_their_status(
    open_fake: OpenFake, status: int, fixture: str, exception: type[openai.APIStatusError], code: str | None
) -> None:
    async with open_fake("azure_openai") as (sdk, fake):
        assert isinstance(fake, FakeAzureOpenAI)
        fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
        with pytest.raises(exception) as caught:
            await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert caught.value.status_code == status and caught.value.code == code
    assert fake.requests[0].path.startswith("/openai/deployments/azure_openai-embed-model/embeddings?")


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            kind,
            marks=pytest.mark.conformance(provider=kind, ingress=INGRESS, feature="embeddings", expect="error"),
            id=kind,
        )
        for kind in sorted(NO_EMBEDDINGS_KINDS)
    ],
)
async def test_family_kinds_without_embeddings_are_a_clear_400_before_any_call(open_fake: OpenFake, kind: str) -> None:
    async with open_fake(kind) as (sdk, fake):
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.embeddings.create(model=ROUTE_NAME, input=TEXTS)
    assert refused.value.code == "unsupported_endpoint" and refused.value.param == "model"
    assert refused.value.message.endswith(f"The model `{ROUTE_NAME}` does not support embeddings.")
    assert fake.requests == []
