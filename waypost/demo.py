"""The `--demo` seed: a team, the built-in mock provider, a route `demo` and a key, made through the admin API."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from waypost.processes import ChildFailedError


class DemoAccess(msgspec.Struct, frozen=True):
    team: str
    route: str
    key: str


def _ensure(client: httpx.Client, resource: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Create a named resource, or return the existing one with that name (idempotent across restarts)."""
    response = client.post(f"/api/v1/{resource}", json=payload)
    if response.status_code == 409:
        listing = client.get(f"/api/v1/{resource}", params={"limit": 1000})
        listing.raise_for_status()
        for item in listing.json()["data"]:
            if item["name"] == payload["name"]:
                return dict(item)
    response.raise_for_status()
    return dict(response.json())


def seed_demo(admin_url: str, admin_token: str) -> DemoAccess:
    headers = {"Authorization": f"Bearer {admin_token}"}
    try:
        with httpx.Client(base_url=admin_url, headers=headers, timeout=10) as client:
            team = _ensure(client, "teams", {"name": "demo", "description": "Seeded by waypost up --demo"})
            provider = _ensure(client, "providers", {"name": "mock", "kind": "mock"})
            deployment = _ensure(
                client, "deployments", {"name": "mock-demo", "provider_id": provider["id"], "model": "mock-1"}
            )
            _ensure(client, "routes", {"name": "demo", "targets": [deployment["id"]]})
            key = client.post(
                "/api/v1/keys", json={"name": "demo quickstart", "team_id": team["id"], "environment": "dev"}
            )
            key.raise_for_status()
    except httpx.HTTPError as exc:
        raise ChildFailedError(f"seeding the demo through the admin API failed: {exc}") from exc
    return DemoAccess(team="demo", route="demo", key=str(key.json()["key"]))
