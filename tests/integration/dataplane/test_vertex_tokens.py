"""GoogleTokens against the fake Google token endpoint: one mint for concurrent callers, reuse until the refresh
margin (time is passed in, so nothing sleeps), a new mint for a rotated key or a refused token, and errors that
never quote the key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from dataplane.errors import UpstreamAuthError, UpstreamUnavailableError
from dataplane.providers.vertex_auth import REFRESH_MARGIN_SECONDS, GoogleTokens
from tests.fakes.vertex_provider import FakeGoogleTokenEndpoint, ServiceAccount

NOW = 1_750_000_000.0


@pytest.fixture
def endpoint() -> Iterator[FakeGoogleTokenEndpoint]:
    with FakeGoogleTokenEndpoint() as fake:
        yield fake


def key_of(endpoint: FakeGoogleTokenEndpoint) -> str:
    assert endpoint.account is not None
    return endpoint.account.json


async def test_concurrent_callers_share_one_mint(endpoint: FakeGoogleTokenEndpoint) -> None:
    tokens = GoogleTokens()
    got = await asyncio.gather(*[tokens.token("p1", key_of(endpoint), now=NOW) for _ in range(5)])
    assert set(got) == set(endpoint.issued) and len(endpoint.issued) == 1


async def test_a_token_is_reused_until_the_refresh_margin_then_replaced(endpoint: FakeGoogleTokenEndpoint) -> None:
    endpoint.expires_in = 3600
    tokens = GoogleTokens()
    first = await tokens.token("p1", key_of(endpoint), now=NOW)
    still = await tokens.token("p1", key_of(endpoint), now=NOW + 3600 - REFRESH_MARGIN_SECONDS - 5)
    renewed = await tokens.token("p1", key_of(endpoint), now=NOW + 3600 - REFRESH_MARGIN_SECONDS + 5)
    assert first == still != renewed
    assert endpoint.issued == [first, renewed]


async def test_providers_and_rotated_keys_get_their_own_tokens(endpoint: FakeGoogleTokenEndpoint) -> None:
    tokens = GoogleTokens()
    one = await tokens.token("p1", key_of(endpoint), now=NOW)
    other = await tokens.token("p2", key_of(endpoint), now=NOW)
    rotated_key = json.dumps({**json.loads(key_of(endpoint)), "private_key_id": "rotated"})
    rotated = await tokens.token("p1", rotated_key, now=NOW)
    assert len({one, other, rotated}) == 3 and len(endpoint.issued) == 3


async def test_forgetting_drops_only_the_token_that_was_refused(endpoint: FakeGoogleTokenEndpoint) -> None:
    tokens = GoogleTokens()
    first = await tokens.token("p1", key_of(endpoint), now=NOW)
    tokens.forget("p1", "ya29.some-older-token")
    assert await tokens.token("p1", key_of(endpoint), now=NOW) == first
    tokens.forget("p1", first)
    assert await tokens.token("p1", key_of(endpoint), now=NOW) != first
    assert len(endpoint.issued) == 2


@pytest.mark.parametrize(
    "key",
    [None, "", "not json", json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----x"})],
)
async def test_a_missing_or_unusable_key_is_an_upstream_auth_error_that_quotes_nothing(key: str | None) -> None:
    with pytest.raises(UpstreamAuthError) as caught:
        await GoogleTokens().token("p1", key, now=NOW)
    assert "PRIVATE KEY" not in str(caught.value) and "not json" not in str(caught.value)


async def test_a_key_the_endpoint_refuses_is_an_auth_error(endpoint: FakeGoogleTokenEndpoint) -> None:
    impostor = ServiceAccount(endpoint.token_uri)
    with pytest.raises(UpstreamAuthError):
        await GoogleTokens().token("p1", impostor.json, now=NOW)
    assert len(endpoint.requests) == 1 and endpoint.issued == []


async def test_an_unreachable_token_endpoint_is_retryable(endpoint: FakeGoogleTokenEndpoint) -> None:
    unreachable = json.dumps({**json.loads(key_of(endpoint)), "token_uri": "http://127.0.0.1:9/token"})
    with pytest.raises(UpstreamUnavailableError) as caught:
        await GoogleTokens(timeout_seconds=2).token("p1", unreachable, now=NOW)
    assert caught.value.retryable
