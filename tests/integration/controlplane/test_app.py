"""The app's lifespan (migrations, engine, background services) and its behaviour outside any one resource:
health, unknown paths, wrong methods, unexpected errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.applications import Starlette

from controlplane.app import create_app
from controlplane.settings import ControlPlaneSettings
from controlplane.snapshots.build import read_revision
from tests.integration.controlplane.conftest import ADMIN_TOKEN, running
from tests.services import free_port


async def test_a_fresh_sqlite_file_is_created_migrated_served_and_published(
    tmp_path: Path, settings: ControlPlaneSettings
) -> None:
    database = tmp_path / "not" / "yet" / "there.db"
    app = create_app(msgspec.structs.replace(settings, database_url=f"sqlite+aiosqlite:///{database}"))

    async with running(app) as client:
        environments = (await client.get("/api/v1/environments")).json()["data"]
        team = await client.post("/api/v1/teams", json={"name": "first"})
        async with app.state.sessionmaker() as session:
            revision = await read_revision(session)
        for _ in range(200):  # the background publisher puts the change on NATS (bounded wait)
            status = (await client.get("/api/v1/config/status")).json()
            if status["published_version"] == revision:
                break
            await asyncio.sleep(0.05)

    assert database.exists()
    assert sorted(e["name"] for e in environments) == ["dev", "prod", "staging"]
    assert team.status_code == 201
    assert status["nats_connected"] is True
    assert status["published_version"] == revision
    assert isinstance(app.state.engine, AsyncEngine)
    assert isinstance(app.state.sessionmaker, async_sessionmaker)


async def test_health_answers_without_a_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(response.headers["x-request-id"]) == 32


async def test_every_response_carries_a_distinct_request_id(client: httpx.AsyncClient) -> None:
    responses = [await client.get("/api/v1/teams"), await client.get("/api/v1/nowhere"), await client.get("/healthz")]

    ids = {response.headers["x-request-id"] for response in responses}
    assert len(ids) == 3


async def test_unknown_paths_are_not_found_in_the_error_shape(client: httpx.AsyncClient) -> None:
    for path in ["/api/v1/nowhere", "/api/v1/teams/x/y/z", "/api/v2/teams", "/"]:
        response = await client.get(path)

        assert response.status_code == 404, path
        assert response.json() == {"error": {"type": "not_found", "message": "no such path", "errors": []}}


async def test_wrong_methods_are_refused_with_the_allowed_ones(client: httpx.AsyncClient) -> None:
    collection = await client.put("/api/v1/teams", json={})
    item = await client.post("/api/v1/teams/00000000-0000-0000-0000-000000000000", json={})
    action = await client.get("/api/v1/keys/00000000-0000-0000-0000-000000000000/revoke")

    for response in (collection, item, action):
        assert response.status_code == 405
        assert response.json()["error"]["type"] == "method_not_allowed"
    assert set(collection.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert set(item.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    assert action.headers["allow"] == "POST"


async def test_an_unexpected_error_is_a_500_with_only_a_request_id(app: Starlette) -> None:
    def broken_sessionmaker(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("database password is hunter2")

    app.state.sessionmaker = broken_sessionmaker
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://cp",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as client:
        response = await client.get("/api/v1/teams")

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "internal_error"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


async def test_the_body_limit_comes_from_settings(database_url: str, settings: ControlPlaneSettings) -> None:
    app = create_app(msgspec.structs.replace(settings, max_body_bytes=64))
    async with running(app) as client:
        small = await client.post("/api/v1/teams", json={"name": "a"})
        large = await client.post("/api/v1/teams", json={"name": "a" * 64})

    assert small.status_code == 201
    assert large.status_code == 413
    assert large.json()["error"]["type"] == "request_too_large"


async def test_the_admin_api_serves_while_nats_is_down(settings: ControlPlaneSettings) -> None:
    app = create_app(msgspec.structs.replace(settings, nats_url=f"nats://127.0.0.1:{free_port()}"))
    async with running(app) as client:
        created = await client.post("/api/v1/teams", json={"name": "offline"})
        status = await client.get("/api/v1/config/status")

    assert created.status_code == 201
    assert status.status_code == 200
    body = status.json()
    assert body["nats_connected"] is False and body["converged"] is False
    assert body["published_version"] is None and body["dataplanes"] == []
    assert body["revision"] >= 2  # the team creation moved it
