"""Admin API keys: created with a role and shown once, stored only as a SHA-256, listed without the token,
renamed and re-roled within the caller's own rights, revoked (then refused with 401); each change leaves exactly
one audit row with no secret in it. On PostgreSQL and SQLite."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import text

from controlplane.admin_tokens import CONFIGURED_ACTOR
from tests.integration.controlplane.conftest import ADMIN_TOKEN, Database, Refs, created


async def _audit_rows(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(text("SELECT * FROM audit_events ORDER BY occurred_at, id"))
        return [dict(row) for row in rows.mappings()]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_admin_key_lives_from_creation_to_revocation_with_one_audit_row_per_change(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    audited = len(await _audit_rows(db))
    create = await client.post(
        "/api/v1/admin-keys",
        json={"name": "ci deploys", "role": "team_admin", "user_id": refs["user"], "team_ids": [refs["team"]]},
    )
    assert create.status_code == 201, create.text
    made = create.json()
    token = made.pop("token")
    key_id = made["id"]
    after_create = len(await _audit_rows(db))

    listed = await client.get("/api/v1/admin-keys")
    fetched = await client.get(f"/api/v1/admin-keys/{key_id}")
    as_key = await anonymous.get("/api/v1/keys", headers=_bearer(token))
    renamed = await client.patch(f"/api/v1/admin-keys/{key_id}", json={"name": "ci", "role": "member"})
    after_update = len(await _audit_rows(db))
    revoked = await client.delete(f"/api/v1/admin-keys/{key_id}")
    after_revoke = len(await _audit_rows(db))
    again = await client.delete(f"/api/v1/admin-keys/{key_id}")
    refused = await anonymous.get("/api/v1/keys", headers=_bearer(token))
    shown = await client.get(f"/api/v1/admin-keys/{key_id}")

    assert token.startswith("wpa_") and len(token) > 40
    assert made["role"] == "team_admin" and made["team_ids"] == [refs["team"]] and made["revoked_at"] is None
    assert as_key.status_code == 200
    for response in (listed, fetched, renamed, shown):
        assert token not in response.text
    assert [k["id"] for k in listed.json()["data"]] == [key_id]
    assert fetched.json() == made
    assert renamed.status_code == 200 and renamed.json()["name"] == "ci" and renamed.json()["role"] == "member"
    assert revoked.status_code == 204 and again.status_code == 204
    assert refused.status_code == 401
    assert shown.json()["revoked_at"] is not None
    assert (after_create - audited, after_update - after_create, after_revoke - after_update) == (1, 1, 1)
    assert len(await _audit_rows(db)) == after_revoke  # revoking again changed nothing and recorded nothing
    rows = [r for r in await _audit_rows(db) if r["resource_id"] == key_id]
    assert [(r["action"], r["resource_type"], r["actor"]) for r in rows] == [
        ("create", "admin_key", CONFIGURED_ACTOR),
        ("update", "admin_key", CONFIGURED_ACTOR),
        ("revoke", "admin_key", CONFIGURED_ACTOR),
    ]
    stored = await db.row("admin_tokens", key_id)
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    dump = str(await _audit_rows(db)) + str(stored)
    assert token not in dump and token.removeprefix("wpa_") not in dump
    assert stored["token_hash"] not in str(await _audit_rows(db))


async def test_changes_made_with_an_admin_key_are_audited_under_its_name(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, db: Database
) -> None:
    made = await created(client, "admin-keys", {"name": "terraform", "role": "admin"})

    team = await anonymous.post("/api/v1/teams", json={"name": "infra"}, headers=_bearer(made["token"]))

    assert team.status_code == 201
    [row] = [r for r in await _audit_rows(db) if r["resource_id"] == team.json()["id"]]
    assert row["actor"] == f"admin-token:terraform:{made['id']}"
    assert made["token"] not in str(row)


async def test_invalid_admin_keys_are_refused_with_field_errors(client: httpx.AsyncClient, refs: Refs) -> None:
    missing_team = "00000000-0000-4000-8000-000000000000"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "m", "role": "member", "team_ids": [refs["team"]]}, "$.user_id"),
        ({"name": "t", "role": "team_admin"}, "$.team_ids"),
        ({"name": "a", "role": "admin", "team_ids": [refs["team"]]}, "$.team_ids"),
        ({"name": "t", "role": "team_admin", "team_ids": [missing_team]}, "$.team_ids[0]"),
        ({"name": "t", "role": "team_admin", "team_ids": [refs["team"], refs["team"]]}, "$.team_ids[1]"),
        ({"name": "m", "role": "member", "user_id": missing_team, "team_ids": [refs["team"]]}, "$.user_id"),
        ({"name": "x", "role": "superuser"}, "$.role"),
        ({"name": "x", "role": "admin", "token": "wpa_mine"}, "$.token"),
    ]
    for body, path in cases:
        response = await client.post("/api/v1/admin-keys", json=body)

        assert response.status_code == 422, (body, response.text)
        assert path in [e["path"] for e in response.json()["error"]["errors"]], (body, response.text)
    assert (await client.get("/api/v1/admin-keys")).json()["data"] == []


async def test_a_revoked_admin_key_cannot_be_changed(client: httpx.AsyncClient) -> None:
    made = await created(client, "admin-keys", {"name": "old", "role": "viewer"})
    await client.delete(f"/api/v1/admin-keys/{made['id']}")

    response = await client.patch(f"/api/v1/admin-keys/{made['id']}", json={"name": "new"})

    assert response.status_code == 409


async def test_a_member_may_rename_and_revoke_its_own_admin_key(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient, refs: Refs
) -> None:
    made = await created(
        client, "admin-keys", {"name": "me", "role": "member", "user_id": refs["user"], "team_ids": [refs["team"]]}
    )
    headers = _bearer(made["token"])

    renamed = await anonymous.patch(f"/api/v1/admin-keys/{made['id']}", json={"name": "laptop"}, headers=headers)
    revoked = await anonymous.delete(f"/api/v1/admin-keys/{made['id']}", headers=headers)
    after = await anonymous.get("/api/v1/keys", headers=headers)

    assert renamed.status_code == 200 and renamed.json()["name"] == "laptop"
    assert revoked.status_code == 204
    assert after.status_code == 401
    assert made["token"] not in renamed.text + after.text
    assert ADMIN_TOKEN not in renamed.text
