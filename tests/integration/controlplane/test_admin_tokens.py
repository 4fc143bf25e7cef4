"""Admin authentication: a bearer token on every /api/v1 endpoint but the OpenAPI document; without a configured
token, one is generated on first start, printed once, and stored only as its SHA-256."""

from __future__ import annotations

import hashlib
import re

import httpx
import msgspec
import pytest
from sqlalchemy import text

from controlplane.app import create_app
from controlplane.db.session import make_engine
from controlplane.settings import ControlPlaneSettings
from tests.integration.controlplane.conftest import ADMIN_TOKEN, running

BANNER = re.compile(r"^Admin token \(shown once, store it now\): (wpa_[A-Za-z0-9_-]{40,})$", re.MULTILINE)


async def _stored_hashes(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text("SELECT token_hash FROM admin_tokens"))).scalars())
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + "a" * 10_000},
        {"Authorization": ADMIN_TOKEN},
    ],
)
async def test_requests_without_the_admin_token_are_unauthorized(
    headers: dict[str, str], anonymous: httpx.AsyncClient
) -> None:
    for method, path in [
        ("GET", "/api/v1/teams"),
        ("POST", "/api/v1/teams"),
        ("DELETE", "/api/v1/keys/00000000-0000-0000-0000-000000000000"),
        ("GET", "/api/v1/config/status"),
        ("GET", "/api/v1/no-such-thing"),
    ]:
        response = await anonymous.request(method, path, headers=headers, json={"name": "x"})

        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "wrong-token" not in response.text
        assert ADMIN_TOKEN not in response.text
    assert (await anonymous.get("/api/v1/teams", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).status_code == 200


async def test_the_openapi_document_and_health_are_public(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/api/v1/openapi.json")).status_code == 200
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}


async def test_a_generated_token_is_printed_once_works_and_is_stored_hashed(
    database_url: str, settings: ControlPlaneSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = msgspec.structs.replace(settings, admin_token=None)

    async with running(create_app(settings), None) as anonymous:
        first_start = capsys.readouterr().out
        tokens = BANNER.findall(first_start)
        assert len(tokens) == 1, first_start
        token = tokens[0]
        authorized = await anonymous.get("/api/v1/teams", headers={"Authorization": f"Bearer {token}"})
        configured = await anonymous.get("/api/v1/teams", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    assert authorized.status_code == 200
    assert configured.status_code == 401  # no token configured this time
    assert await _stored_hashes(database_url) == [hashlib.sha256(token.encode()).hexdigest()]

    async with running(create_app(settings), token) as client:
        second_start = capsys.readouterr().out
        assert (await client.get("/api/v1/users")).status_code == 200
    assert "Admin token" not in second_start
    assert token not in second_start
    assert len(await _stored_hashes(database_url)) == 1


async def test_a_configured_token_is_neither_generated_nor_printed(
    database_url: str, settings: ControlPlaneSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = msgspec.structs.replace(settings, admin_token="configured-token-123")

    async with running(create_app(settings), "configured-token-123") as client:
        assert (await client.get("/api/v1/teams")).status_code == 200

    assert "Admin token" not in capsys.readouterr().out
    assert await _stored_hashes(database_url) == []


async def test_a_stored_token_stays_valid_beside_a_configured_one(
    database_url: str, settings: ControlPlaneSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(create_app(msgspec.structs.replace(settings, admin_token=None)), None):
        [token] = BANNER.findall(capsys.readouterr().out)

    async with running(create_app(settings), token) as client:
        assert (await client.get("/api/v1/teams")).status_code == 200
        configured = await client.get("/api/v1/teams", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert configured.status_code == 200
