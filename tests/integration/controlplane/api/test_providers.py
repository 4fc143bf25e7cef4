"""Provider credentials are write-only: sealed in the database, never in a response."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.crypto import MasterSecret, SecretConfigError, decode_b64_key
from tests.conftest import TestSecrets
from tests.integration.controlplane.conftest import Database, created

API_KEY = "sk-test-4f9d2c81b7e04a53a1c6d0e2f8b9a7c5"
NEW_API_KEY = "sk-test-rotated-00112233445566778899"


def _master(secrets: TestSecrets) -> MasterSecret:
    return MasterSecret(decode_b64_key(secrets.secret_key, name="secret"))


async def test_credentials_are_sealed_and_never_returned(
    client: httpx.AsyncClient, db: Database, test_secrets: TestSecrets
) -> None:
    made = await created(client, "providers", {"name": "openai", "kind": "openai", "credentials": {"api_key": API_KEY}})

    responses = [
        (await client.get(f"/api/v1/providers/{made['id']}")).text,
        (await client.get("/api/v1/providers")).text,
        (await client.patch(f"/api/v1/providers/{made['id']}", json={"name": "openai-main"})).text,
    ]
    assert made["has_credentials"] is True
    assert made["base_url"] == "https://api.openai.com/v1"
    for text in [json.dumps(made), *responses]:
        assert API_KEY not in text
        assert "credentials" not in text.replace("has_credentials", "")

    sealed = (await db.row("providers", made["id"]))["credentials_sealed"]
    assert isinstance(sealed, bytes)
    assert API_KEY.encode() not in sealed
    opened = _master(test_secrets).unseal(sealed, context=made["id"])
    assert json.loads(opened) == {"api_key": API_KEY}


async def test_patch_replaces_or_removes_credentials(
    client: httpx.AsyncClient, db: Database, test_secrets: TestSecrets
) -> None:
    made = await created(client, "providers", {"name": "openai", "kind": "openai", "credentials": {"api_key": API_KEY}})
    url = f"/api/v1/providers/{made['id']}"

    replaced = await client.patch(url, json={"credentials": {"api_key": NEW_API_KEY}})
    sealed = (await db.row("providers", made["id"]))["credentials_sealed"]
    untouched = await client.patch(url, json={"base_url": "https://proxy.example.com/v1"})
    sealed_after_other_change = (await db.row("providers", made["id"]))["credentials_sealed"]
    removed = await client.patch(url, json={"credentials": None})

    assert replaced.status_code == 200
    assert NEW_API_KEY not in replaced.text
    assert json.loads(_master(test_secrets).unseal(sealed, context=made["id"])) == {"api_key": NEW_API_KEY}
    assert untouched.json()["has_credentials"] is True
    assert sealed_after_other_change == sealed
    assert removed.json()["has_credentials"] is False
    assert (await db.row("providers", made["id"]))["credentials_sealed"] is None


async def test_base_url_defaults_by_kind(client: httpx.AsyncClient) -> None:
    mock = await created(client, "providers", {"name": "mock", "kind": "mock"})
    openai = await created(client, "providers", {"name": "openai", "kind": "openai"})
    custom = await created(
        client, "providers", {"name": "gw", "kind": "openai", "base_url": "https://gateway.example.com/openai/v1"}
    )

    assert (mock["base_url"], mock["has_credentials"]) == ("", False)
    assert openai["base_url"] == "https://api.openai.com/v1"
    assert custom["base_url"] == "https://gateway.example.com/openai/v1"


async def test_a_credential_sealed_for_one_provider_does_not_open_for_another(
    client: httpx.AsyncClient, db: Database, test_secrets: TestSecrets
) -> None:
    first = await created(client, "providers", {"name": "a", "kind": "openai", "credentials": {"api_key": API_KEY}})
    second = await created(client, "providers", {"name": "b", "kind": "openai", "credentials": {"api_key": API_KEY}})
    sealed_first = (await db.row("providers", first["id"]))["credentials_sealed"]
    sealed_second = (await db.row("providers", second["id"]))["credentials_sealed"]

    assert sealed_first != sealed_second
    with pytest.raises(SecretConfigError):
        _master(test_secrets).unseal(sealed_first, context=second["id"])
