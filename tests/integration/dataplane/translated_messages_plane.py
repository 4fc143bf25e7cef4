"""A data plane (real NATS, in process) with a route `gemini` to the fake Gemini API and a route `cohere` to the
fake Cohere API, and the official `anthropic` SDK talking to it in process: the harness of the tests of
/v1/messages reaching providers that do not speak Anthropic's protocol."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anthropic
import httpx
import httpx2
import msgspec
import pytest

from dataplane.app import create_app
from dataplane.settings import DataPlaneSettings
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec, Snapshot, TeamSpec
from tests.conftest import TestSecrets
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.gemini_provider import FakeGemini
from tests.integration.dataplane.conftest import wait_for_version
from tests.snapshot_factory import TEAM_ID, make_key, master_secret, publish, sign_snapshot

GEMINI_MODEL = "gemini-2.5-flash"
COHERE_MODEL = "command-a-03-2025"


@dataclass(frozen=True)
class TranslatedPlane:
    client: httpx.AsyncClient  # raw HTTP to the data plane
    token: str  # the client key
    anthropic: anthropic.AsyncAnthropic


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake_cohere() -> Iterator[FakeCohere]:
    with FakeCohere() as fake:
        yield fake


@pytest.fixture
async def plane(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_gemini: FakeGemini, fake_cohere: FakeCohere
) -> AsyncIterator[TranslatedPlane]:
    async with translated_plane(dp_settings, test_secrets, fake_gemini=fake_gemini, fake_cohere=fake_cohere) as up:
        yield up


def _provider(secret_key: str, provider_id: str, kind: str, base_url: str, api_key: str) -> ProviderSpec:
    sealed = master_secret(secret_key).seal(msgspec.json.encode({"api_key": api_key}), context=provider_id)
    return ProviderSpec(id=provider_id, name=provider_id, kind=kind, base_url=base_url, sealed_credentials=sealed)


@asynccontextmanager
async def translated_plane(
    settings: DataPlaneSettings, test_secrets: TestSecrets, *, fake_gemini: FakeGemini, fake_cohere: FakeCohere
) -> AsyncIterator[TranslatedPlane]:
    secret_key = test_secrets.secret_key
    key = make_key(secret_key)
    snapshot = Snapshot(
        version=1,
        created_at=int(time.time() * 1000),
        teams=[TeamSpec(id=TEAM_ID, name="Team One")],
        keys=[key.spec],
        providers=[
            _provider(secret_key, "p-gemini", "gemini", fake_gemini.base_url, fake_gemini.api_key),
            _provider(secret_key, "p-cohere", "cohere", fake_cohere.base_url, fake_cohere.api_key),
        ],
        deployments=[
            DeploymentSpec(id="d-gemini", name="gemini-dep", provider_id="p-gemini", model=GEMINI_MODEL),
            DeploymentSpec(id="d-cohere", name="cohere-dep", provider_id="p-cohere", model=COHERE_MODEL),
        ],
        routes=[
            RouteSpec(id="r-gemini", name="gemini", deployment_ids=["d-gemini"]),
            RouteSpec(id="r-cohere", name="cohere", deployment_ids=["d-cohere"]),
        ],
    )
    await publish(settings.nats_url, settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dataplane", timeout=30) as client,
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dataplane") as sdk_http,
    ):
        await wait_for_version(client, 1)
        sdk = anthropic.AsyncAnthropic(
            base_url="http://dataplane", api_key=key.token, http_client=sdk_http, max_retries=0
        )
        yield TranslatedPlane(client=client, token=key.token, anthropic=sdk)
