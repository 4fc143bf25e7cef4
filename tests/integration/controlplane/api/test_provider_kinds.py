"""The providers resource takes the translated kinds: Gemini and Cohere default to their public APIs, Azure
OpenAI needs its resource endpoint (with the api-version, if any, in its query)."""

from __future__ import annotations

import httpx

from tests.integration.controlplane.conftest import created


async def test_gemini_and_cohere_default_to_their_public_apis(client: httpx.AsyncClient) -> None:
    gemini = await created(client, "providers", {"name": "gemini", "kind": "gemini", "credentials": {"api_key": "k"}})
    cohere = await created(client, "providers", {"name": "cohere", "kind": "cohere"})
    assert gemini["base_url"] == "https://generativelanguage.googleapis.com"
    assert cohere["base_url"] == "https://api.cohere.com"


async def test_azure_openai_needs_its_endpoint_and_keeps_the_api_version(client: httpx.AsyncClient) -> None:
    missing = await client.post("/api/v1/providers", json={"name": "azure", "kind": "azure_openai"})
    endpoint = "https://my-resource.openai.azure.com?api-version=2024-10-21"
    azure = await created(client, "providers", {"name": "azure", "kind": "azure_openai", "base_url": endpoint})
    assert missing.status_code == 422
    assert [item["path"] for item in missing.json()["error"]["errors"]] == ["$.base_url"]
    assert azure["base_url"] == endpoint
