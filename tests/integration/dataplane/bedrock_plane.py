"""A data plane (real NATS, in process) whose one route reaches the fake Bedrock Runtime through a `bedrock`
provider holding sealed AWS credentials, and both official SDKs (`openai`, `anthropic`; max_retries=0) talking to
it in process: the harness of the Bedrock adapter's end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anthropic
import httpx
import httpx2
import msgspec
import openai
import pytest

from dataplane.app import create_app
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.bedrock_provider import ACCESS_KEY_ID, SECRET_ACCESS_KEY, FakeBedrock
from tests.integration.dataplane.conftest import wait_for_version
from tests.snapshot_factory import (
    PROVIDER_ID,
    ROUTE_NAME,
    make_key,
    make_snapshot,
    master_secret,
    publish,
    sign_snapshot,
)

__all__ = ["MODEL", "ROUTE_NAME", "BedrockSdks", "OpenBedrock", "bedrock_cell", "fake_bedrock", "gateway"]

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@dataclass(frozen=True)
class BedrockSdks:
    openai: openai.AsyncOpenAI
    anthropic: anthropic.AsyncAnthropic


# a fixture value: opens a data plane routed to the fake, signing with this AWS secret, and yields both SDKs
OpenBedrock = Callable[..., AbstractAsyncContextManager[BedrockSdks]]


def bedrock_cell(ingress: str, feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    """The conformance mark of a test proving `feature` of bedrock targets on `ingress`."""
    return pytest.mark.conformance(provider="bedrock", ingress=ingress, feature=feature, expect=expect)


@pytest.fixture
def fake_bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture
def gateway(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_bedrock: FakeBedrock) -> OpenBedrock:
    @asynccontextmanager
    async def open_sdks(secret_access_key: str = SECRET_ACCESS_KEY) -> AsyncIterator[BedrockSdks]:
        secret_key = test_secrets.secret_key
        key = make_key(secret_key)
        snapshot = make_snapshot(
            secret_key,
            version=1,
            keys=[key.spec],
            provider_kind="bedrock",
            base_url=fake_bedrock.base_url,
            upstream_model=MODEL,
        )
        credentials = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": secret_access_key}
        sealed = master_secret(secret_key).seal(msgspec.json.encode(credentials), context=PROVIDER_ID)
        provider = msgspec.structs.replace(snapshot.providers[0], sealed_credentials=sealed)
        snapshot = msgspec.structs.replace(snapshot, providers=[provider])
        await publish(dp_settings.nats_url, dp_settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
        app = create_app(dp_settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dataplane") as client,
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dataplane") as sdk_http,
        ):
            await wait_for_version(client, 1)
            yield BedrockSdks(
                openai=openai.AsyncOpenAI(
                    base_url="http://dataplane/v1", api_key=key.token, http_client=sdk_http, max_retries=0
                ),
                anthropic=anthropic.AsyncAnthropic(
                    base_url="http://dataplane", api_key=key.token, http_client=sdk_http, max_retries=0
                ),
            )

    return open_sdks
