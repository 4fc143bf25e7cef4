"""A bedrock provider needs its Bedrock Runtime endpoint (there is no default region) and an AWS access key pair
(its calls are SigV4-signed); neither the create nor an update can leave it without them, and the refusal never
quotes a secret."""

from __future__ import annotations

import httpx

from tests.integration.controlplane.conftest import created

ENDPOINT = "https://bedrock-runtime.eu-west-1.amazonaws.com"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": SECRET}


async def test_bedrock_needs_its_endpoint_and_an_aws_key_pair(client: httpx.AsyncClient) -> None:
    bare = await client.post("/api/v1/providers", json={"name": "bedrock", "kind": "bedrock"})
    api_key_only = await client.post(
        "/api/v1/providers",
        json={"name": "bedrock", "kind": "bedrock", "base_url": ENDPOINT, "credentials": {"api_key": "k"}},
    )
    half_pair = await client.post(
        "/api/v1/providers",
        json={
            "name": "bedrock",
            "kind": "bedrock",
            "base_url": ENDPOINT,
            "credentials": {"aws_secret_access_key": SECRET},
        },
    )
    made = await created(
        client,
        "providers",
        {"name": "bedrock", "kind": "bedrock", "base_url": ENDPOINT, "credentials": {**KEYS, "aws_session_token": "t"}},
    )
    assert bare.status_code == 422
    assert [item["path"] for item in bare.json()["error"]["errors"]] == ["$.base_url", "$.credentials"]
    for refused in (api_key_only, half_pair):
        assert refused.status_code == 422
        assert [item["path"] for item in refused.json()["error"]["errors"]] == ["$.credentials"]
        assert SECRET not in refused.text
    assert made["base_url"] == ENDPOINT and made["has_credentials"] is True


async def test_an_update_cannot_take_the_aws_keys_away(client: httpx.AsyncClient) -> None:
    made = await created(
        client, "providers", {"name": "bedrock", "kind": "bedrock", "base_url": ENDPOINT, "credentials": KEYS}
    )
    url = f"/api/v1/providers/{made['id']}"
    removed = await client.patch(url, json={"credentials": None})
    partial = await client.patch(url, json={"credentials": {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE"}})
    rotated = await client.patch(url, json={"credentials": {**KEYS, "aws_secret_access_key": "rotated-secret"}})
    assert removed.status_code == 422 and partial.status_code == 422
    assert [item["path"] for item in removed.json()["error"]["errors"]] == ["$.credentials"]
    assert rotated.status_code == 200 and rotated.json()["has_credentials"] is True
