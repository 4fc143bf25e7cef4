"""Model allow-lists on teams, applications and environments (keys have theirs): set through the API, shipped in
the snapshot; the data plane enforces their intersection."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot
from shared.snapshot import Snapshot
from tests.integration.controlplane.conftest import created


async def _snapshot(database_url: str) -> Snapshot:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await build_snapshot(session, now=datetime.now(UTC))
    finally:
        await engine.dispose()


async def test_allow_lists_are_set_changed_and_shipped(client: httpx.AsyncClient, database_url: str) -> None:
    team = await created(client, "teams", {"name": "search", "models": ["chat", "embed"]})
    application = await created(client, "applications", {"team_id": team["id"], "name": "indexer", "models": ["embed"]})
    environment = await created(client, "environments", {"name": "qa", "models": ["chat", "embed", "rerank"]})
    assert (team["models"], application["models"], environment["models"]) == (
        ["chat", "embed"],
        ["embed"],
        ["chat", "embed", "rerank"],
    )

    snapshot = await _snapshot(database_url)
    assert [t.models for t in snapshot.teams if t.id == team["id"]] == [["chat", "embed"]]
    assert [a.models for a in snapshot.applications if a.id == application["id"]] == [["embed"]]
    assert [e.models for e in snapshot.environments if e.name == "qa"] == [["chat", "embed", "rerank"]]
    assert [e.models for e in snapshot.environments if e.name == "dev"] == [None]

    opened = await client.patch(f"/api/v1/teams/{team['id']}", json={"models": None})
    assert opened.json()["models"] is None
    assert [t.models for t in (await _snapshot(database_url)).teams if t.id == team["id"]] == [None]


async def test_allow_list_entries_are_validated(client: httpx.AsyncClient) -> None:
    for body in ({"name": "a", "models": "chat"}, {"name": "b", "models": [""]}, {"name": "c", "models": [1]}):
        response = await client.post("/api/v1/teams", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["errors"][0]["path"].startswith("$.models")
