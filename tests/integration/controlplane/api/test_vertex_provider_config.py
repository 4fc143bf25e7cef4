"""A vertex_ai provider needs its Vertex location (`base_url`) and a Google service-account key file; a refusal
names the missing or unusable field and never quotes the key."""

from __future__ import annotations

import json

import httpx

from tests.integration.controlplane.conftest import created

BASE_URL = "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
KEY_FILE = json.dumps(
    {
        "type": "service_account",
        "project_id": "my-project",
        "private_key": PRIVATE_KEY,
        "client_email": "gateway@my-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
)


def paths(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [item["path"] for item in response.json()["error"]["errors"]]


async def test_vertex_ai_needs_its_location_url_and_a_service_account_key(client: httpx.AsyncClient) -> None:
    bare = await client.post("/api/v1/providers", json={"name": "vertex", "kind": "vertex_ai"})
    api_key_only = await client.post(
        "/api/v1/providers",
        json={"name": "vertex", "kind": "vertex_ai", "base_url": BASE_URL, "credentials": {"api_key": "k"}},
    )
    made = await created(
        client,
        "providers",
        {
            "name": "vertex",
            "kind": "vertex_ai",
            "base_url": BASE_URL,
            "credentials": {"service_account_json": KEY_FILE},
        },
    )
    assert paths(bare) == ["$.base_url", "$.credentials.service_account_json"]
    assert paths(api_key_only) == ["$.credentials.service_account_json"]
    assert made["base_url"] == BASE_URL and made["has_credentials"] is True
    assert "PRIVATE KEY" not in json.dumps(made)


async def test_a_key_that_is_not_a_service_account_key_file_is_refused_without_being_quoted(
    client: httpx.AsyncClient,
) -> None:
    not_json = "-----BEGIN PRIVATE KEY-----\nsecret-material\n-----END PRIVATE KEY-----"
    no_email = json.dumps({"type": "service_account", "private_key": PRIVATE_KEY, "token_uri": "https://x"})
    made = await created(
        client,
        "providers",
        {
            "name": "vertex",
            "kind": "vertex_ai",
            "base_url": BASE_URL,
            "credentials": {"service_account_json": KEY_FILE},
        },
    )
    refusals = [
        await client.post(
            "/api/v1/providers",
            json={
                "name": "v2",
                "kind": "vertex_ai",
                "base_url": BASE_URL,
                "credentials": {"service_account_json": key},
            },
        )
        for key in (not_json, no_email)
    ]
    rotation = await client.patch(
        f"/api/v1/providers/{made['id']}", json={"credentials": {"service_account_json": not_json}}
    )
    removal = await client.patch(f"/api/v1/providers/{made['id']}", json={"credentials": None})
    for response in [*refusals, rotation, removal]:
        assert paths(response) == ["$.credentials.service_account_json"]
        assert "secret-material" not in response.text and "PRIVATE KEY" not in response.text
    rotated = await client.patch(
        f"/api/v1/providers/{made['id']}", json={"credentials": {"service_account_json": KEY_FILE}}
    )
    assert rotated.status_code == 200, rotated.text
