"""Every admin change leaves exactly one append-only audit row (actor, action, resource, before and after,
request id) written in the change's own transaction, with no secret in any row."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from controlplane.admin_tokens import CONFIGURED_ACTOR
from tests.integration.controlplane.api.test_crud import CASES, Case
from tests.integration.controlplane.conftest import Database, Refs, created


async def _audit(client: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/audit", params={"limit": 1000, **filters})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


async def _count(db: Database) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM audit_events"))).scalar_one())


@pytest.mark.parametrize("case", CASES, ids=[c.resource for c in CASES])
async def test_each_mutating_endpoint_leaves_exactly_one_audit_row(
    case: Case, client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    before_create = await _count(db)
    create = await client.post(f"/api/v1/{case.resource}", json=case.create(refs))
    assert create.status_code == 201, create.text
    item = create.json()
    after_create = await _count(db)
    update = await client.patch(f"/api/v1/{case.resource}/{item['id']}", json=case.update)
    after_update = await _count(db)
    delete = await client.delete(f"/api/v1/{case.resource}/{item['id']}")
    after_delete = await _count(db)

    assert (after_create - before_create, after_update - after_create, after_delete - after_update) == (1, 1, 1)
    rows = await _audit(client, resource_id=item["id"])
    assert [r["action"] for r in rows] == ["delete", "update", "create"]  # newest first
    deleted, updated, made = rows
    assert {r["actor"] for r in rows} == {CONFIGURED_ACTOR}
    assert [r["request_id"] for r in rows] == [
        delete.headers["x-request-id"],
        update.headers["x-request-id"],
        create.headers["x-request-id"],
    ]
    assert made["before"] is None and made["after"]["id"] == item["id"]
    assert updated["before"] == made["after"] and updated["after"] == update.json()
    assert deleted["before"] == update.json() and deleted["after"] is None


async def test_revoking_a_key_is_audited_with_before_and_after(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await created(client, "keys", {"name": "ci", "team_id": refs["team"], "environment": "dev"})
    revoke = await client.post(f"/api/v1/keys/{key['id']}/revoke")

    [row] = await _audit(client, resource_id=key["id"], action="revoke")
    assert row["before"]["revoked_at"] is None
    assert row["after"]["revoked_at"] == revoke.json()["revoked_at"] is not None


async def test_no_secret_appears_in_any_audit_row(client: httpx.AsyncClient, refs: Refs, db: Database) -> None:
    key = await created(client, "keys", {"name": "ci", "team_id": refs["team"], "environment": "dev"})
    provider = await created(
        client,
        "providers",
        {"name": "openai", "kind": "openai", "credentials": {"api_key": "sk-super-secret-credential"}},
    )
    await client.patch(f"/api/v1/providers/{provider['id']}", json={"credentials": {"api_key": "sk-rotated-secret"}})

    async with db.engine.connect() as connection:
        dump = str((await connection.execute(text("SELECT * FROM audit_events"))).all())
    secret = key["key"].rsplit("-", 1)[1]
    for value in (key["key"], secret, "sk-super-secret-credential", "sk-rotated-secret", "test-admin-token"):
        assert value not in dump


async def test_a_refused_change_leaves_no_audit_row(client: httpx.AsyncClient, db: Database) -> None:
    before = await _count(db)
    assert (await client.post("/api/v1/teams", json={"name": 42})).status_code == 422
    assert (await client.post("/api/v1/applications", json={"team_id": "x", "name": "a"})).status_code == 422
    assert await _count(db) == before


async def test_the_audit_log_is_append_only_in_the_database(client: httpx.AsyncClient, db: Database) -> None:
    await created(client, "teams", {"name": "audited"})
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as connection:
                await connection.execute(text(statement))
    assert await _count(db) >= 1


async def test_the_audit_log_filters_by_resource_type_and_time(client: httpx.AsyncClient, refs: Refs) -> None:
    teams = await _audit(client, resource_type="team")
    assert teams and {r["resource_type"] for r in teams} == {"team"}
    newest = (await _audit(client))[0]
    later = await _audit(client, since=newest["occurred_at"])
    assert newest["id"] in [r["id"] for r in later]
    assert await _audit(client, until=teams[-1]["occurred_at"], resource_type="team") == []
    bad = await client.get("/api/v1/audit", params={"since": "yesterday"})
    assert bad.status_code == 422
