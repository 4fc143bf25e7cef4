"""Admin RBAC over the real app on PostgreSQL: every served endpoint against every role as its declared policy
says, escalation attempts refused with 403, and team_admin / member scoping of rows and lists."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from controlplane.api.middleware import GuardedRoute
from controlplane.rbac import ROLES
from tests.conftest import TestSecrets
from tests.integration.controlplane.roles import World, world_on


@pytest.fixture
async def world(pg_url: str, test_secrets: TestSecrets, nats_url: str, nats_prefix: str) -> AsyncIterator[World]:
    async with world_on(pg_url, test_secrets, nats_url=nats_url, nats_prefix=nats_prefix) as world:
        yield world


_PARAMETER = re.compile(r"{\w+(?::\w+)?}")


def _concrete(path: str) -> str:
    """The template with every parameter set to an id no row has: allowed roles get a 404 from the endpoint,
    denied ones the 403 of the role check, and nothing is changed."""
    return _PARAMETER.sub(lambda _: str(uuid.uuid4()), path)


async def test_every_served_endpoint_declares_a_policy(world: World) -> None:
    guarded: list[GuardedRoute] = world.app.state.guarded_routes
    undeclared = [(g.method, g.path) for g in guarded if not g.declared]

    assert not undeclared, f"declare these in controlplane.rbac.ROUTE_POLICIES or on their Operation: {undeclared}"
    paths = {g.path for g in guarded}
    assert {"/api/v1/teams/{id}", "/api/v1/admin-keys", "/api/v1/keys/{id}/rotate", "/api/v1/config/status"} <= paths


async def test_each_role_is_allowed_exactly_the_endpoints_its_policy_names(world: World) -> None:
    guarded: list[GuardedRoute] = world.app.state.guarded_routes
    wrong: list[tuple[str, str, str, int]] = []
    for route in guarded:
        path = _concrete(route.path)
        body: dict[str, object] | None = {} if route.method in ("POST", "PATCH") else None
        for role in ROLES:
            response = await world.client.request(route.method, path, json=body, headers=world.as_(role))
            allowed = role in route.policy.roles
            if allowed and (response.status_code in (401, 403) or response.status_code >= 500):
                wrong.append((role, route.method, route.path, response.status_code))
            if not allowed and (response.status_code != 403 or response.json()["error"]["type"] != "forbidden"):
                wrong.append((role, route.method, route.path, response.status_code))

    assert not wrong, wrong
    assert len(guarded) >= 45  # every CRUD resource, actions, audit, config status and admin keys


async def test_viewers_only_read_and_members_only_change_keys_and_their_admin_keys(world: World) -> None:
    guarded: list[GuardedRoute] = world.app.state.guarded_routes
    viewer_writes = [(g.method, g.path) for g in guarded if g.method != "GET" and "viewer" in g.policy.roles]
    member_writes = {
        (g.method, g.path.removeprefix("/api/v1")) for g in guarded if g.method != "GET" and "member" in g.policy.roles
    }

    assert viewer_writes == []
    assert {path.split("/")[1] for _, path in member_writes} <= {"keys", "admin-keys"}
    assert ("POST", "/admin-keys") not in member_writes


@dataclass(frozen=True)
class Attempt:
    name: str
    role: str
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict[str, Any]] | None = None


def _key(w: World, team: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "k", "team_id": team["id"], "environment": "dev", **fields}


ESCALATIONS = [
    Attempt("team_admin key for another team", "team_admin", "POST", lambda w: "/keys", lambda w: _key(w, w.team_b)),
    Attempt(
        "team_admin key for a model outside the team's allow-list",
        "team_admin",
        "POST",
        lambda w: "/keys",
        lambda w: _key(w, w.team_a, models=["m1", "m3"]),
    ),
    Attempt(
        "team_admin widens a key's models",
        "team_admin",
        "PATCH",
        lambda w: f"/keys/{w.key_a_v['id']}",
        lambda w: {"models": ["m3"]},
    ),
    Attempt(
        "team_admin widens its team's allow-list",
        "team_admin",
        "PATCH",
        lambda w: f"/teams/{w.team_a['id']}",
        lambda w: {"models": ["m1", "m2", "m3"]},
    ),
    Attempt(
        "team_admin lifts its team's allow-list",
        "team_admin",
        "PATCH",
        lambda w: f"/teams/{w.team_a['id']}",
        lambda w: {"models": None},
    ),
    Attempt(
        "team_admin application in another team",
        "team_admin",
        "POST",
        lambda w: "/applications",
        lambda w: {"team_id": w.team_b["id"], "name": "sneaky"},
    ),
    Attempt(
        "team_admin application with models the team lacks",
        "team_admin",
        "POST",
        lambda w: "/applications",
        lambda w: {"team_id": w.team_a["id"], "name": "sneaky", "models": ["m9"]},
    ),
    Attempt("team_admin revokes another team's key", "team_admin", "POST", lambda w: f"/keys/{w.key_b['id']}/revoke"),
    Attempt("team_admin rotates another team's key", "team_admin", "POST", lambda w: f"/keys/{w.key_b['id']}/rotate"),
    Attempt("team_admin deletes another team's key", "team_admin", "DELETE", lambda w: f"/keys/{w.key_b['id']}"),
    Attempt(
        "team_admin renames another team's application",
        "team_admin",
        "PATCH",
        lambda w: f"/applications/{w.app_b['id']}",
        lambda w: {"name": "mine"},
    ),
    Attempt(
        "team_admin creates an admin",
        "team_admin",
        "POST",
        lambda w: "/admin-keys",
        lambda w: {"name": "x", "role": "admin"},
    ),
    Attempt(
        "team_admin creates an org-wide viewer",
        "team_admin",
        "POST",
        lambda w: "/admin-keys",
        lambda w: {"name": "x", "role": "viewer"},
    ),
    Attempt(
        "team_admin admin key for another team",
        "team_admin",
        "POST",
        lambda w: "/admin-keys",
        lambda w: {"name": "x", "role": "team_admin", "team_ids": [w.team_a["id"], w.team_b["id"]]},
    ),
    Attempt(
        "team_admin raises the member's admin key",
        "team_admin",
        "PATCH",
        lambda w: f"/admin-keys/{w.key_ids['member']}",
        lambda w: {"role": "admin"},
    ),
    Attempt(
        "team_admin moves its own admin key to another team",
        "team_admin",
        "PATCH",
        lambda w: f"/admin-keys/{w.key_ids['team_admin']}",
        lambda w: {"team_ids": [w.team_b["id"]]},
    ),
    Attempt(
        "admin creates an owner", "admin", "POST", lambda w: "/admin-keys", lambda w: {"name": "x", "role": "owner"}
    ),
    Attempt(
        "admin raises itself to owner",
        "admin",
        "PATCH",
        lambda w: f"/admin-keys/{w.key_ids['admin']}",
        lambda w: {"role": "owner"},
    ),
    Attempt(
        "member creates an admin key",
        "member",
        "POST",
        lambda w: "/admin-keys",
        lambda w: {"name": "x", "role": "member", "user_id": w.user_u["id"], "team_ids": [w.team_a["id"]]},
    ),
    Attempt(
        "member raises its own admin key",
        "member",
        "PATCH",
        lambda w: f"/admin-keys/{w.key_ids['member']}",
        lambda w: {"role": "team_admin"},
    ),
    Attempt(
        "member key for another user",
        "member",
        "POST",
        lambda w: "/keys",
        lambda w: _key(w, w.team_a, user_id=w.user_v["id"]),
    ),
    Attempt("member key without a user", "member", "POST", lambda w: "/keys", lambda w: _key(w, w.team_a)),
    Attempt(
        "member application key",
        "member",
        "POST",
        lambda w: "/keys",
        lambda w: _key(w, w.team_a, user_id=w.user_u["id"], application_id=w.app_a["id"]),
    ),
    Attempt(
        "member key in another team",
        "member",
        "POST",
        lambda w: "/keys",
        lambda w: _key(w, w.team_b, user_id=w.user_u["id"]),
    ),
    Attempt(
        "member key for models its team lacks",
        "member",
        "POST",
        lambda w: "/keys",
        lambda w: _key(w, w.team_a, user_id=w.user_u["id"], models=["m3"]),
    ),
    Attempt("member revokes another user's key", "member", "POST", lambda w: f"/keys/{w.key_a_v['id']}/revoke"),
    Attempt("member revokes the team_admin", "member", "DELETE", lambda w: f"/admin-keys/{w.key_ids['team_admin']}"),
    Attempt(
        "viewer creates a viewer", "viewer", "POST", lambda w: "/admin-keys", lambda w: {"name": "x", "role": "viewer"}
    ),
]


async def _rows(world: World) -> dict[str, int]:
    async with world.app.state.engine.connect() as connection:
        return {
            table: int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
            for table in ("audit_events", "admin_tokens", "keys", "applications")
        }


@pytest.mark.parametrize("attempt", ESCALATIONS, ids=[a.name for a in ESCALATIONS])
async def test_escalation_attempts_are_refused_with_403_and_change_nothing(world: World, attempt: Attempt) -> None:
    before = await _rows(world)
    body = None if attempt.body is None else attempt.body(world)
    response = await world.client.request(
        attempt.method, "/api/v1" + attempt.path(world), json=body, headers=world.as_(attempt.role)
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"]["type"] == "forbidden"
    assert await _rows(world) == before
    for token in world.tokens.values():
        assert token not in response.text


async def test_a_team_admin_manages_its_own_team_within_the_allow_list(world: World) -> None:
    headers = world.as_("team_admin")
    key = await world.client.post(
        "/api/v1/keys", json=_key(world, world.team_a, models=["m1"], user_id=world.user_v["id"]), headers=headers
    )
    narrowed = await world.client.patch(
        f"/api/v1/teams/{world.team_a['id']}", json={"models": ["m1"], "description": "ours"}, headers=headers
    )
    member_key = await world.client.post(
        "/api/v1/admin-keys",
        json={"name": "new member", "role": "member", "user_id": world.user_v["id"], "team_ids": [world.team_a["id"]]},
        headers=headers,
    )
    revoked = await world.client.post(f"/api/v1/keys/{world.key_a_v['id']}/revoke", headers=headers)

    assert key.status_code == 201, key.text
    assert narrowed.status_code == 200 and narrowed.json()["models"] == ["m1"]
    assert member_key.status_code == 201, member_key.text
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None


async def _ids(world: World, role: str, resource: str) -> set[str]:
    response = await world.client.get(f"/api/v1/{resource}", params={"limit": 1000}, headers=world.as_(role))
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["data"]}


async def test_lists_show_a_team_admin_only_its_teams_rows(world: World) -> None:
    assert await _ids(world, "team_admin", "teams") == {world.team_a["id"]}
    assert await _ids(world, "team_admin", "applications") == {world.app_a["id"]}
    assert await _ids(world, "team_admin", "keys") == {world.key_a_u["id"], world.key_a_v["id"]}
    assert await _ids(world, "team_admin", "admin-keys") == {world.key_ids["team_admin"], world.key_ids["member"]}
    assert {world.user_u["id"], world.user_v["id"]} <= await _ids(world, "team_admin", "users")  # the directory


async def test_lists_show_a_member_only_its_own_rows(world: World) -> None:
    assert await _ids(world, "member", "keys") == {world.key_a_u["id"]}
    assert await _ids(world, "member", "users") == {world.user_u["id"]}
    assert await _ids(world, "member", "teams") == {world.team_a["id"]}
    assert await _ids(world, "member", "admin-keys") == {world.key_ids["member"]}


async def test_org_wide_roles_see_every_row(world: World) -> None:
    for role in ("owner", "admin", "viewer"):
        assert await _ids(world, role, "keys") == {world.key_a_u["id"], world.key_a_v["id"], world.key_b["id"]}
        assert len(await _ids(world, role, "admin-keys")) == 4  # the configured owner token is not a row


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("team_admin", lambda w: f"/keys/{w.key_b['id']}"),
        ("team_admin", lambda w: f"/teams/{w.team_b['id']}"),
        ("team_admin", lambda w: f"/applications/{w.app_b['id']}"),
        ("team_admin", lambda w: f"/admin-keys/{w.key_ids['admin']}"),
        ("member", lambda w: f"/keys/{w.key_a_v['id']}"),
        ("member", lambda w: f"/users/{w.user_v['id']}"),
        ("member", lambda w: f"/teams/{w.team_b['id']}"),
        ("member", lambda w: f"/admin-keys/{w.key_ids['team_admin']}"),
    ],
)
async def test_reading_a_row_out_of_scope_is_a_404_like_a_missing_one(
    world: World, role: str, path: Callable[[World], str]
) -> None:
    response = await world.client.get("/api/v1" + path(world), headers=world.as_(role))

    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "not_found"


async def test_a_member_manages_its_own_keys(world: World) -> None:
    headers = world.as_("member")
    own = world.key_a_u["id"]
    made = await world.client.post(
        "/api/v1/keys", json=_key(world, world.team_a, user_id=world.user_u["id"], models=["m2"]), headers=headers
    )
    renamed = await world.client.patch(f"/api/v1/keys/{own}", json={"name": "mine"}, headers=headers)
    rotated = await world.client.post(f"/api/v1/keys/{own}/rotate", json={"grace_seconds": 0}, headers=headers)
    revoked = await world.client.post(f"/api/v1/keys/{own}/revoke", headers=headers)

    assert made.status_code == 201, made.text
    assert renamed.status_code == 200 and renamed.json()["name"] == "mine"
    assert rotated.status_code == 200 and rotated.json()["key"].startswith("wp-dev-")
    assert revoked.status_code == 200
