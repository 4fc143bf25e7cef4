"""Providers of the OpenAI-compatible family: each kind with a public API defaults to it (its documented base URL);
vLLM and generic OpenAI-compatible servers have none, so their base URL is required."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.controlplane.conftest import created

DEFAULTS = {
    "mistral": "https://api.mistral.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "deepseek": "https://api.deepseek.com",
    "xai": "https://api.x.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "ollama": "http://localhost:11434/v1",
}


@pytest.mark.parametrize(("kind", "base_url"), DEFAULTS.items())
async def test_a_compatible_kind_defaults_to_its_public_api(
    client: httpx.AsyncClient, kind: str, base_url: str
) -> None:
    made = await created(client, "providers", {"name": kind, "kind": kind, "credentials": {"api_key": "k"}})
    assert (made["kind"], made["base_url"], made["has_credentials"]) == (kind, base_url, True)


@pytest.mark.parametrize("kind", ["vllm", "openai_compatible"])
async def test_self_hosted_kinds_need_their_base_url(client: httpx.AsyncClient, kind: str) -> None:
    missing = await client.post("/api/v1/providers", json={"name": kind, "kind": kind})
    made = await created(client, "providers", {"name": kind, "kind": kind, "base_url": "http://10.0.0.5:8000/v1"})
    assert missing.status_code == 422
    assert [item["path"] for item in missing.json()["error"]["errors"]] == ["$.base_url"]
    assert (made["base_url"], made["has_credentials"]) == ("http://10.0.0.5:8000/v1", False)
