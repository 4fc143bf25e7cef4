"""A control plane on PostgreSQL with one admin key per role, for the RBAC tests.

Graph: team A (models m1, m2) and team B (no allow-list); users U (the member's) and V; an application and keys
in each team; the team_admin holds team A, the member is user U in team A."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from controlplane.app import create_app
from controlplane.rbac import ROLES
from tests.conftest import TestSecrets
from tests.integration.controlplane.conftest import ADMIN_TOKEN, created, make_settings, running


@dataclass
class World:
    app: Starlette
    client: httpx.AsyncClient  # no credentials of its own: pass `as_(role)` as headers
    tokens: dict[str, str]  # role -> bearer token
    key_ids: dict[str, str]  # role -> admin key id (owner: the configured token has none)
    team_a: dict[str, Any]
    team_b: dict[str, Any]
    user_u: dict[str, Any]
    user_v: dict[str, Any]
    app_a: dict[str, Any]
    app_b: dict[str, Any]
    key_a_u: dict[str, Any]  # team A, user U: the member's own key
    key_a_v: dict[str, Any]  # team A, user V
    key_b: dict[str, Any]  # team B

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def make_world(app: Starlette, client: httpx.AsyncClient) -> World:
    owner = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client.headers.update(owner)
    team_a = await created(client, "teams", {"name": "team-a", "models": ["m1", "m2"]})
    team_b = await created(client, "teams", {"name": "team-b"})
    user_u = await created(client, "users", {"email": "u@example.com"})
    user_v = await created(client, "users", {"email": "v@example.com"})
    app_a = await created(client, "applications", {"team_id": team_a["id"], "name": "bot-a"})
    app_b = await created(client, "applications", {"team_id": team_b["id"], "name": "bot-b"})
    key_a_u = await created(
        client, "keys", {"name": "u-key", "team_id": team_a["id"], "environment": "dev", "user_id": user_u["id"]}
    )
    key_a_v = await created(
        client, "keys", {"name": "v-key", "team_id": team_a["id"], "environment": "dev", "user_id": user_v["id"]}
    )
    key_b = await created(client, "keys", {"name": "b-key", "team_id": team_b["id"], "environment": "dev"})
    bodies: dict[str, dict[str, Any]] = {
        "admin": {"name": "admin", "role": "admin"},
        "team_admin": {"name": "team-admin", "role": "team_admin", "team_ids": [team_a["id"]]},
        "member": {"name": "member", "role": "member", "user_id": user_u["id"], "team_ids": [team_a["id"]]},
        "viewer": {"name": "viewer", "role": "viewer"},
    }
    tokens, key_ids = {"owner": ADMIN_TOKEN}, {}
    for role, body in bodies.items():
        made = await created(client, "admin-keys", body)
        tokens[role], key_ids[role] = made["token"], made["id"]
    del client.headers["Authorization"]
    assert set(tokens) == set(ROLES)
    return World(app, client, tokens, key_ids, team_a, team_b, user_u, user_v, app_a, app_b, key_a_u, key_a_v, key_b)


@asynccontextmanager
async def world_on(database_url: str, secrets: TestSecrets, *, nats_url: str, nats_prefix: str) -> AsyncIterator[World]:
    """The running app on this database with the graph above (test modules wrap it in a `world` fixture)."""
    app = create_app(make_settings(database_url, secrets, nats_url=nats_url, nats_prefix=nats_prefix))
    async with running(app, None) as client:
        yield await make_world(app, client)
