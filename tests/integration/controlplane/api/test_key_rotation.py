"""Key rotation (a new secret under the same public id, the old one valid for a grace window) and key metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot
from shared.apikeys import parse_key
from shared.crypto import MasterSecret, decode_b64_key
from tests.conftest import TestSecrets
from tests.integration.controlplane.conftest import Database, Refs, created


async def _key(client: httpx.AsyncClient, refs: Refs) -> dict[str, str]:
    return await created(client, "keys", {"name": "ci", "team_id": refs["team"], "environment": "dev"})


async def test_rotation_keeps_the_public_id_and_stores_both_hashes(
    client: httpx.AsyncClient, refs: Refs, db: Database, test_secrets: TestSecrets
) -> None:
    master = MasterSecret(decode_b64_key(test_secrets.secret_key, name="secret"))
    key = await _key(client, refs)
    old = parse_key(key["key"])

    response = await client.post(f"/api/v1/keys/{key['id']}/rotate", json={"grace_seconds": 120})

    assert response.status_code == 200, response.text
    rotated = response.json()
    new = parse_key(rotated["key"])
    assert old is not None and new is not None
    assert new.public_id == old.public_id == rotated["public_id"] and new.environment == "dev"
    assert new.secret != old.secret
    until = datetime.fromisoformat(rotated["previous_valid_until"])
    assert timedelta(seconds=110) < until - datetime.now(UTC) <= timedelta(seconds=120)
    row = await db.row("keys", key["id"])
    assert row["secret_hash"] == master.hash_key_secret(new.secret)
    assert row["previous_secret_hash"] == master.hash_key_secret(old.secret)
    assert "key" not in (await client.get(f"/api/v1/keys/{key['id']}")).json()


async def test_an_empty_body_rotates_with_the_default_grace_window(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await _key(client, refs)
    response = await client.post(f"/api/v1/keys/{key['id']}/rotate")
    assert response.status_code == 200
    until = datetime.fromisoformat(response.json()["previous_valid_until"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "path"),
    [({"grace_seconds": -1}, "$.grace_seconds"), ({"grace_seconds": "1h"}, "$.grace_seconds"), ({"x": 1}, "$.x")],
)
async def test_bad_rotation_requests_are_422(
    client: httpx.AsyncClient, refs: Refs, body: dict[str, object], path: str
) -> None:
    key = await _key(client, refs)
    response = await client.post(f"/api/v1/keys/{key['id']}/rotate", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["path"] == path


async def test_revoked_and_unknown_keys_cannot_be_rotated(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await _key(client, refs)
    await client.post(f"/api/v1/keys/{key['id']}/revoke")
    assert (await client.post(f"/api/v1/keys/{key['id']}/rotate")).status_code == 409
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await client.post(f"/api/v1/keys/{unknown}/rotate")).status_code == 404


async def test_rotation_is_audited_without_secrets(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await _key(client, refs)
    rotated = (await client.post(f"/api/v1/keys/{key['id']}/rotate")).json()
    rows = (await client.get("/api/v1/audit", params={"resource_id": key["id"], "action": "rotate"})).json()["data"]
    assert len(rows) == 1
    assert rows[0]["after"]["previous_valid_until"] == rotated["previous_valid_until"]
    assert rotated["key"] not in str(rows) and key["key"] not in str(rows)


async def test_the_snapshot_ships_the_old_hash_only_during_the_grace_window(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    key = await _key(client, refs)
    await client.post(f"/api/v1/keys/{key['id']}/rotate", json={"grace_seconds": 600})
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            during = await build_snapshot(session, now=datetime.now(UTC))
        async with make_sessionmaker(engine)() as session:
            after = await build_snapshot(session, now=datetime.now(UTC) + timedelta(seconds=601))
    finally:
        await engine.dispose()
    [spec_during] = [k for k in during.keys if k.id == key["id"]]
    [spec_after] = [k for k in after.keys if k.id == key["id"]]
    assert spec_during.previous_secret_hash is not None and spec_during.previous_valid_until is not None
    assert spec_after.previous_secret_hash is None and spec_after.previous_valid_until is None


async def test_metadata_is_stored_changed_and_validated(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await created(
        client,
        "keys",
        {"name": "ci", "team_id": refs["team"], "environment": "dev", "metadata": {"owner": "search", "tier": "gold"}},
    )
    assert key["metadata"] == {"owner": "search", "tier": "gold"}
    patched = await client.patch(f"/api/v1/keys/{key['id']}", json={"metadata": {"owner": "ads"}})
    assert patched.json()["metadata"] == {"owner": "ads"}
    renamed = await client.patch(f"/api/v1/keys/{key['id']}", json={"name": "ci-2"})
    assert renamed.json()["metadata"] == {"owner": "ads"}
    bad = await client.patch(f"/api/v1/keys/{key['id']}", json={"metadata": {"bad key!": "x"}})
    assert bad.status_code == 422
    too_long = await client.patch(f"/api/v1/keys/{key['id']}", json={"metadata": {"k": "v" * 513}})
    assert too_long.status_code == 422
