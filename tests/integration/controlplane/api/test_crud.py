"""Every admin resource can be created, listed, read, changed and deleted, on PostgreSQL and SQLite, and every
change moves config_revision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import httpx
import pytest

from controlplane.api.fields import is_id
from tests.integration.controlplane.conftest import Database, Refs, created


class Case(NamedTuple):
    resource: str
    create: Callable[[Refs], dict[str, Any]]
    expected: Callable[[Refs], dict[str, Any]]  # fields of the Read after creation
    update: dict[str, Any]
    updated: dict[str, Any]  # fields of the Read after the update


CASES = [
    Case(
        "teams",
        lambda r: {"name": "research", "description": "Finds things"},
        lambda r: {"name": "research", "description": "Finds things"},
        {"description": "Finds more things"},
        {"name": "research", "description": "Finds more things"},
    ),
    Case(
        "users",
        lambda r: {"email": "grace@example.com"},
        lambda r: {"email": "grace@example.com", "name": ""},
        {"name": "Grace Hopper"},
        {"email": "grace@example.com", "name": "Grace Hopper"},
    ),
    Case(
        "applications",
        lambda r: {"team_id": r["team"], "name": "indexer"},
        lambda r: {"team_id": r["team"], "name": "indexer", "description": ""},
        {"name": "indexer-2", "description": "v2"},
        {"name": "indexer-2", "description": "v2"},
    ),
    Case(
        "environments",
        lambda r: {"name": "qa", "description": "Quality"},
        lambda r: {"name": "qa", "description": "Quality"},
        {"description": "Quality assurance"},
        {"name": "qa", "description": "Quality assurance"},
    ),
    Case(
        "keys",
        lambda r: {"name": "ci", "team_id": r["team"], "environment": "staging", "user_id": r["user"]},
        lambda r: {
            "name": "ci",
            "team_id": r["team"],
            "environment": "staging",
            "user_id": r["user"],
            "application_id": None,
            "models": None,
            "expires_at": None,
            "revoked_at": None,
        },
        {"name": "ci-nightly", "models": ["chat"], "expires_at": "2031-01-02T03:04:05+02:00"},
        {"name": "ci-nightly", "models": ["chat"], "expires_at": "2031-01-02T01:04:05Z"},
    ),
    Case(
        "providers",
        lambda r: {"name": "local-vllm", "kind": "openai_compatible", "base_url": "http://vllm.internal:8000/v1"},
        lambda r: {
            "name": "local-vllm",
            "kind": "openai_compatible",
            "base_url": "http://vllm.internal:8000/v1",
            "has_credentials": False,
        },
        {"base_url": "https://vllm.internal/v1"},
        {"base_url": "https://vllm.internal/v1", "has_credentials": False},
    ),
    Case(
        "deployments",
        lambda r: {"name": "mock-large", "provider_id": r["provider"], "model": "mock-2"},
        lambda r: {"name": "mock-large", "provider_id": r["provider"], "model": "mock-2", "timeout_seconds": 60.0},
        {"model": "mock-3", "timeout_seconds": 12.5},
        {"model": "mock-3", "timeout_seconds": 12.5},
    ),
    Case(
        "routes",
        lambda r: {"name": "chat", "targets": [r["deployment"]], "environments": ["prod", "dev"]},
        lambda r: {"name": "chat", "targets": [r["deployment"]], "environments": ["dev", "prod"]},
        {"name": "chat-v2", "environments": []},
        {"name": "chat-v2", "environments": []},
    ),
    Case(
        "rate-limits",
        lambda r: {"scope": "team", "scope_id": r["team"], "requests_per_minute": 60},
        lambda r: {"scope": "team", "scope_id": r["team"], "requests_per_minute": 60, "tokens_per_minute": None},
        {"tokens_per_minute": 10_000},
        {"requests_per_minute": 60, "tokens_per_minute": 10_000},
    ),
    Case(
        "prices",
        lambda r: {"deployment_id": r["deployment"], "effective_from": "2026-01-01T00:00:00Z", "input": 1, "output": 2},
        lambda r: {"deployment_id": r["deployment"], "input": 1, "output": 2, "reasoning": None},
        {"output": 4, "reasoning": 8},
        {"input": 1, "output": 4, "reasoning": 8},
    ),
    Case(
        "budgets",
        lambda r: {
            "name": "monthly",
            "scope": "environment",
            "scope_id": "prod",
            "amount_micro_usd": 1_000_000,
            "period": "monthly",
        },
        lambda r: {"name": "monthly", "scope": "environment", "scope_id": "prod", "hard": True},
        {"amount_micro_usd": 2_000_000, "hard": False},
        {"amount_micro_usd": 2_000_000, "hard": False},
    ),
]


def _subset(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {name: actual.get(name) for name in expected}


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


@pytest.mark.parametrize("case", CASES, ids=[case.resource for case in CASES])
async def test_resource_goes_through_create_list_get_update_delete(
    case: Case, client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    base = f"/api/v1/{case.resource}"
    revision = await db.revision()

    made = await created(client, case.resource, case.create(refs))
    assert is_id(made["id"])
    assert _subset(made, case.expected(refs)) == case.expected(refs)
    assert _instant(made["created_at"]) <= _instant(made["updated_at"])
    assert await db.revision() > revision
    revision = await db.revision()

    read = (await client.get(f"{base}/{made['id']}")).json()
    assert read == {name: value for name, value in made.items() if name != "key"}
    listed = (await client.get(base)).json()
    assert read in listed["data"]
    assert (listed["limit"], listed["offset"]) == (100, 0)
    assert await db.revision() == revision  # reads change nothing

    response = await client.patch(f"{base}/{made['id']}", json=case.update)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert _subset(changed, case.updated) == case.updated
    assert changed["id"] == made["id"]
    assert changed["created_at"] == made["created_at"]
    assert _instant(changed["updated_at"]) >= _instant(made["updated_at"])
    assert (await client.get(f"{base}/{made['id']}")).json() == changed
    assert await db.revision() > revision
    revision = await db.revision()

    response = await client.delete(f"{base}/{made['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"{base}/{made['id']}")).status_code == 404
    assert made["id"] not in [item["id"] for item in (await client.get(base)).json()["data"]]
    assert await db.revision() > revision


async def test_an_empty_patch_changes_nothing_and_keeps_the_revision(
    client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    before = (await client.get(f"/api/v1/teams/{refs['team']}")).json()
    revision = await db.revision()

    response = await client.patch(f"/api/v1/teams/{refs['team']}", json={})

    assert response.status_code == 200
    assert response.json() == before
    assert await db.revision() == revision


async def test_list_pages_in_creation_order(client: httpx.AsyncClient) -> None:
    names = [f"team-{n}" for n in range(5)]
    for name in names:
        await created(client, "teams", {"name": name})

    first = (await client.get("/api/v1/teams", params={"limit": 2})).json()
    rest = (await client.get("/api/v1/teams", params={"limit": 1000, "offset": 2})).json()

    assert [team["name"] for team in first["data"]] == names[:2]
    assert (first["limit"], first["offset"]) == (2, 0)
    assert [team["name"] for team in rest["data"]] == names[2:]
    assert (rest["limit"], rest["offset"]) == (1000, 2)
    assert (await client.get("/api/v1/teams", params={"offset": 5})).json()["data"] == []


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"limit": "0"}, "$.limit"),
        ({"limit": "1001"}, "$.limit"),
        ({"limit": "ten"}, "$.limit"),
        ({"limit": "1.5"}, "$.limit"),
        ({"offset": "-1"}, "$.offset"),
        ({"offset": "99999999999999999999999999"}, "$.offset"),
    ],
)
async def test_list_refuses_bad_paging_values(query: dict[str, str], path: str, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users", params=query)

    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"
    assert [error["path"] for error in response.json()["error"]["errors"]] == [path]


async def test_route_keeps_targets_in_priority_order_and_rewrites_them(
    client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    second = await created(client, "deployments", {"name": "backup", "provider_id": refs["provider"], "model": "m"})
    third = await created(client, "deployments", {"name": "spare", "provider_id": refs["provider"], "model": "m"})
    route = await created(
        client, "routes", {"name": "chat", "targets": [refs["deployment"], second["id"], third["id"]]}
    )
    assert route["targets"] == [refs["deployment"], second["id"], third["id"]]
    assert route["environments"] == []
    revision = await db.revision()

    response = await client.patch(
        f"/api/v1/routes/{route['id']}", json={"targets": [third["id"], refs["deployment"]], "environments": ["prod"]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["targets"] == [third["id"], refs["deployment"]]
    assert response.json()["environments"] == ["prod"]
    assert await db.revision() > revision
    # The dropped deployment is no longer referenced, so it can go.
    assert (await client.delete(f"/api/v1/deployments/{second['id']}")).status_code == 204


def test_every_resource_of_the_admin_api_has_a_case() -> None:
    """So the CRUD and audit tests above cover every resource the app serves, including future ones."""
    from controlplane.app import RESOURCES

    assert {resource.path for resource in RESOURCES} == {case.resource for case in CASES}
