"""API keys are shown once, stored only as an HMAC of their secret, and revocable."""

from __future__ import annotations

import re

import httpx

from shared.apikeys import parse_key
from shared.crypto import MasterSecret, decode_b64_key
from tests.conftest import TestSecrets
from tests.integration.controlplane.conftest import Database, Refs, created

KEY_FORMAT = re.compile(r"^wp-(?P<env>[a-z][a-z0-9]{0,30})-(?P<public_id>[a-z0-9]{12})-(?P<secret>[A-Za-z0-9]{32,64})$")


async def test_the_key_is_returned_once_and_only_its_hmac_is_stored(
    client: httpx.AsyncClient, refs: Refs, db: Database, test_secrets: TestSecrets
) -> None:
    made = await created(
        client,
        "keys",
        {"name": "ci", "team_id": refs["team"], "environment": "prod", "application_id": refs["application"]},
    )

    match = KEY_FORMAT.fullmatch(made["key"])
    assert match is not None, made["key"]
    assert match["env"] == "prod" == made["environment"]
    assert match["public_id"] == made["public_id"]
    secret = match["secret"]
    assert parse_key(made["key"]) is not None

    reads = [
        (await client.get(f"/api/v1/keys/{made['id']}")).text,
        (await client.get("/api/v1/keys")).text,
        (await client.patch(f"/api/v1/keys/{made['id']}", json={"name": "ci-2"})).text,
        (await client.post(f"/api/v1/keys/{made['id']}/revoke")).text,
    ]
    for text in reads:
        assert secret not in text
        assert '"key"' not in text
        assert "secret" not in text

    row = await db.row("keys", made["id"])
    assert all(secret not in str(value) for value in row.values())
    master = MasterSecret(decode_b64_key(test_secrets.secret_key, name="secret"))
    assert row["secret_hash"] == master.hash_key_secret(secret)
    assert row["public_id"] == made["public_id"]


async def test_every_key_gets_its_own_public_id_and_secret(client: httpx.AsyncClient, refs: Refs) -> None:
    keys = [
        (await created(client, "keys", {"name": f"k{n}", "team_id": refs["team"], "environment": "dev"}))["key"]
        for n in range(3)
    ]

    parsed = [parse_key(key) for key in keys]
    assert len({p.public_id for p in parsed if p}) == 3
    assert len({p.secret for p in parsed if p}) == 3


async def test_revoke_sets_revoked_at_once_and_is_idempotent(
    client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    made = await created(client, "keys", {"name": "ci", "team_id": refs["team"], "environment": "dev"})
    revision = await db.revision()

    first = await client.post(f"/api/v1/keys/{made['id']}/revoke")
    after_first = await db.revision()
    second = await client.post(f"/api/v1/keys/{made['id']}/revoke")

    assert first.status_code == second.status_code == 200
    assert made["revoked_at"] is None
    assert first.json()["revoked_at"] is not None
    assert second.json()["revoked_at"] == first.json()["revoked_at"]
    assert (await client.get(f"/api/v1/keys/{made['id']}")).json()["revoked_at"] == first.json()["revoked_at"]
    assert after_first > revision
    assert await db.revision() == after_first  # the second revoke changed nothing
    assert (await db.row("keys", made["id"]))["revoked_at"] is not None


async def test_revoking_an_unknown_key_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/keys/00000000-0000-0000-0000-000000000000/revoke")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


async def test_patch_changes_models_and_expiry_and_can_clear_them(client: httpx.AsyncClient, refs: Refs) -> None:
    made = await created(
        client,
        "keys",
        {
            "name": "ci",
            "team_id": refs["team"],
            "environment": "dev",
            "models": ["chat", "embed"],
            "expires_at": "2030-06-01T12:00:00-05:00",
        },
    )
    assert made["models"] == ["chat", "embed"]
    assert made["expires_at"] == "2030-06-01T17:00:00Z"

    cleared = await client.patch(f"/api/v1/keys/{made['id']}", json={"models": None, "expires_at": None})

    assert cleared.status_code == 200
    assert cleared.json()["models"] is None
    assert cleared.json()["expires_at"] is None
    assert cleared.json()["name"] == "ci"
