"""Fixtures for the control plane's admin API: the app in-process over httpx, on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from controlplane.app import create_app
from controlplane.db import migrate
from controlplane.db.session import make_engine
from controlplane.settings import ControlPlaneSettings
from tests.conftest import TestSecrets

ADMIN_TOKEN = "test-admin-token"


def make_settings(
    database_url: str,
    secrets: TestSecrets,
    *,
    nats_url: str,
    nats_prefix: str,
    admin_token: str | None = ADMIN_TOKEN,
) -> ControlPlaneSettings:
    """Settings with the real background services: NATS at `nats_url`, buckets under this test's prefix."""
    return ControlPlaneSettings(
        database_url=database_url,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
        publish_debounce_seconds=0.02,
        secret_key=secrets.secret_key,
        signing_key=secrets.signing_key,
        admin_token=admin_token,
    )


@pytest.fixture
async def sqlite_url(empty_sqlite_url: str) -> str:
    await migrate.upgrade(empty_sqlite_url)
    return empty_sqlite_url


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each backend."""
    url: str = request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")
    return url


@pytest.fixture
def settings(database_url: str, test_secrets: TestSecrets, nats_url: str, nats_prefix: str) -> ControlPlaneSettings:
    return make_settings(database_url, test_secrets, nats_url=nats_url, nats_prefix=nats_prefix)


@asynccontextmanager
async def running(app: Starlette, token: str | None = ADMIN_TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    """The app through its lifespan, and a client on it (authenticated with `token` unless None)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp", headers=headers) as client,
    ):
        yield client


@pytest.fixture
async def app(settings: ControlPlaneSettings) -> AsyncIterator[Starlette]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated as admin."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://controlplane",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as client:
        yield client


@pytest.fixture
async def anonymous(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://controlplane") as client:
        yield client


class Database:
    """Direct reads of the tables, beside the API, to check what is really stored."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def revision(self) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(text("SELECT revision FROM config_revision"))).scalar_one())

    async def row(self, table: str, row_id: str) -> dict[str, Any]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id})
            return dict(result.mappings().one())


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    engine = make_engine(database_url)
    yield Database(engine)
    await engine.dispose()


async def created(client: httpx.AsyncClient, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a valid body and return the created object."""
    response = await client.post(f"/api/v1/{resource}", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


Refs = dict[str, str]


@pytest.fixture
async def refs(client: httpx.AsyncClient) -> Refs:
    """Ids of a small object graph others can refer to: team, user, application, provider, deployment."""
    team = await created(client, "teams", {"name": "platform"})
    user = await created(client, "users", {"email": "ada@example.com", "name": "Ada"})
    application = await created(client, "applications", {"team_id": team["id"], "name": "search-bot"})
    provider = await created(client, "providers", {"name": "mock", "kind": "mock"})
    deployment = await created(
        client, "deployments", {"name": "mock-small", "provider_id": provider["id"], "model": "mock-1"}
    )
    return dict(
        team=team["id"],
        user=user["id"],
        application=application["id"],
        provider=provider["id"],
        deployment=deployment["id"],
    )
