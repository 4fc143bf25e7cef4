"""/api/v1/rate-limits: limits on every scope, optionally one route; references checked, unknown fields refused,
changes audited and shipped in the snapshot with the scope's id (an environment's name) and the route's name."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot
from shared.snapshot import Snapshot
from tests.integration.controlplane.conftest import Refs, created

API = "/api/v1/rate-limits"


async def _snapshot(database_url: str) -> Snapshot:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await build_snapshot(session, now=datetime.now(UTC))
    finally:
        await engine.dispose()


def _paths(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [item["path"] for item in response.json()["error"]["errors"]]


async def _key(client: httpx.AsyncClient, refs: Refs) -> dict[str, Any]:
    return await created(client, "keys", {"name": "k", "team_id": refs["team"], "environment": "dev"})


async def test_limits_on_every_scope_are_created_and_shipped(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    key = await _key(client, refs)
    await created(client, "routes", {"name": "chat", "targets": [refs["deployment"]]})
    scopes = {
        "key": key["id"],
        "user": refs["user"],
        "application": refs["application"],
        "team": refs["team"],
        "environment": "prod",
        "organization": None,
    }
    made = {}
    for scope, scope_id in scopes.items():
        body = {"scope": scope, "scope_id": scope_id, "requests_per_minute": 60, "tokens_per_minute": 10_000}
        made[scope] = await created(client, "rate-limits", body)
        assert (made[scope]["scope"], made[scope]["scope_id"], made[scope]["model"]) == (scope, scope_id, None)
    narrowed = await created(
        client, "rate-limits", {"scope": "team", "scope_id": refs["team"], "model": "chat", "concurrent_requests": 2}
    )
    assert (narrowed["model"], narrowed["concurrent_requests"], narrowed["requests_per_minute"]) == ("chat", 2, None)

    snapshot = await _snapshot(database_url)
    shipped = {spec.id: spec for spec in snapshot.rate_limits}
    for scope, scope_id in scopes.items():
        spec = shipped[made[scope]["id"]]
        assert (spec.scope, spec.scope_id, spec.requests_per_minute, spec.tokens_per_minute) == (
            scope,
            scope_id,
            60,
            10_000,
        )
    assert (shipped[narrowed["id"]].model, shipped[narrowed["id"]].concurrent_requests) == ("chat", 2)

    listed = (await client.get(API)).json()["data"]
    assert {item["id"] for item in listed} == set(shipped)


async def test_updates_change_limits_and_model_and_keep_one_limit(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    await created(client, "routes", {"name": "chat", "targets": [refs["deployment"]]})
    limit = await created(client, "rate-limits", {"scope": "organization", "requests_per_minute": 10})
    item = f"{API}/{limit['id']}"

    changed = await client.patch(item, json={"model": "chat", "tokens_per_minute": 500, "requests_per_minute": None})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["model"], body["tokens_per_minute"], body["requests_per_minute"]) == ("chat", 500, None)
    [spec] = (await _snapshot(database_url)).rate_limits
    assert (spec.model, spec.tokens_per_minute, spec.requests_per_minute) == ("chat", 500, None)

    assert _paths(await client.patch(item, json={"tokens_per_minute": None})) == ["$"]
    assert _paths(await client.patch(item, json={"model": "nope"})) == ["$.model"]
    assert _paths(await client.patch(item, json={"scope": "team"})) == ["$.scope"]
    assert (await client.patch(item, json={"model": None})).json()["model"] is None

    assert (await client.delete(item)).status_code == 204
    assert (await client.get(item)).status_code == 404
    assert (await _snapshot(database_url)).rate_limits == []


async def test_bad_bodies_are_422_naming_the_field(client: httpx.AsyncClient, refs: Refs) -> None:
    missing = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"scope": "team", "scope_id": refs["team"]}, ["$"]),
        ({"scope": "team", "scope_id": refs["team"], "requests_per_minute": 0}, ["$.requests_per_minute"]),
        ({"scope": "team", "scope_id": refs["team"], "tokens_per_minute": -5}, ["$.tokens_per_minute"]),
        ({"scope": "team", "scope_id": refs["team"], "concurrent_requests": 1.5}, ["$.concurrent_requests"]),
        ({"scope": "team", "scope_id": refs["team"], "requests_per_minute": "60"}, ["$.requests_per_minute"]),
        ({"scope": "galaxy", "scope_id": refs["team"], "requests_per_minute": 1}, ["$.scope"]),
        ({"scope": "team", "scope_id": missing, "requests_per_minute": 1}, ["$.scope_id"]),
        ({"scope": "key", "scope_id": missing, "requests_per_minute": 1}, ["$.scope_id"]),
        ({"scope": "user", "scope_id": "not-an-id", "requests_per_minute": 1}, ["$.scope_id"]),
        ({"scope": "environment", "scope_id": "moon", "requests_per_minute": 1}, ["$.scope_id"]),
        ({"scope": "team", "requests_per_minute": 1}, ["$.scope_id"]),
        ({"scope": "organization", "scope_id": refs["team"], "requests_per_minute": 1}, ["$.scope_id"]),
        ({"scope": "organization", "model": "nope", "requests_per_minute": 1}, ["$.model"]),
        # fields the data plane does not enforce are refused, not silently ignored
        ({"scope": "organization", "requests_per_day": 1000}, ["$.requests_per_day"]),
        ({"scope": "organization", "requests_per_minute": 1, "burst": 5}, ["$.burst"]),
    ]
    for body, paths in cases:
        assert _paths(await client.post(API, json=body)) == paths, body


async def test_a_limited_scope_cannot_be_deleted_and_writes_are_audited(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await _key(client, refs)
    limit = await created(client, "rate-limits", {"scope": "key", "scope_id": key["id"], "requests_per_minute": 5})
    assert (await client.delete(f"/api/v1/keys/{key['id']}")).status_code == 409
    await client.patch(f"{API}/{limit['id']}", json={"requests_per_minute": 6})
    await client.delete(f"{API}/{limit['id']}")

    events = (await client.get("/api/v1/audit", params={"resource_id": limit["id"]})).json()["data"]
    assert sorted(e["action"] for e in events) == ["create", "delete", "update"]


async def test_a_limit_on_a_revoked_key_is_not_shipped(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    key = await _key(client, refs)
    await created(client, "rate-limits", {"scope": "key", "scope_id": key["id"], "requests_per_minute": 5})
    assert len((await _snapshot(database_url)).rate_limits) == 1
    assert (await client.post(f"/api/v1/keys/{key['id']}/revoke")).status_code == 200
    assert (await _snapshot(database_url)).rate_limits == []
