"""Bad requests get the one error shape with the right status and field path, and never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.integration.controlplane.conftest import Database, Refs, created

RESOURCES = ["teams", "users", "applications", "environments", "keys", "providers", "deployments", "routes"]
Body = Callable[[Refs], dict[str, Any]]


def _error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == error_type
    assert isinstance(error["message"], str) and error["message"]
    return error


def _paths(error: dict[str, Any]) -> list[str]:
    return [item["path"] for item in error["errors"]]


FIELD_ERRORS: list[tuple[str, Body, list[str]]] = [
    ("teams", lambda r: {}, ["$.name"]),
    ("teams", lambda r: {"name": 5}, ["$.name"]),
    ("teams", lambda r: {"name": ""}, ["$.name"]),
    ("teams", lambda r: {"name": "x" * 201}, ["$.name"]),
    ("teams", lambda r: {"name": "a\u0000b"}, ["$.name"]),
    ("teams", lambda r: {"name": "ok", "nmae": "typo"}, ["$.nmae"]),
    ("teams", lambda r: {"name": "ok", "description": None}, ["$.description"]),
    ("users", lambda r: {"email": "not-an-email"}, ["$.email"]),
    ("users", lambda r: {"name": "no email"}, ["$.email"]),
    ("applications", lambda r: {"name": "bot"}, ["$.team_id"]),
    ("applications", lambda r: {"team_id": "not-a-uuid", "name": "bot"}, ["$.team_id"]),
    ("environments", lambda r: {"name": "Prod"}, ["$.name"]),
    ("environments", lambda r: {"name": "qa\n"}, ["$.name"]),
    ("environments", lambda r: {"name": "a" * 32}, ["$.name"]),
    ("keys", lambda r: {"name": "k", "team_id": r["team"]}, ["$.environment"]),
    ("keys", lambda r: {"name": "k", "team_id": r["team"], "environment": "DEV"}, ["$.environment"]),
    ("keys", lambda r: {"name": "k", "team_id": r["team"], "environment": "dev", "models": [""]}, ["$.models[0]"]),
    ("keys", lambda r: {"name": "k", "team_id": r["team"], "environment": "dev", "models": "all"}, ["$.models"]),
    (
        "keys",
        lambda r: {"name": "k", "team_id": r["team"], "environment": "dev", "expires_at": "2030-01-01T00:00:00"},
        ["$.expires_at"],
    ),
    (
        "keys",
        lambda r: {"name": "k", "team_id": r["team"], "environment": "dev", "expires_at": "next tuesday"},
        ["$.expires_at"],
    ),
    ("providers", lambda r: {"name": "p", "kind": "azure"}, ["$.kind"]),
    ("providers", lambda r: {"name": "p", "kind": "openai_compatible"}, ["$.base_url"]),
    ("providers", lambda r: {"name": "p", "kind": "openai", "base_url": "ftp://example.com"}, ["$.base_url"]),
    ("providers", lambda r: {"name": "p", "kind": "openai", "base_url": "https://"}, ["$.base_url"]),
    ("providers", lambda r: {"name": "p", "kind": "openai", "credentials": {"apikey": "x"}}, ["$.credentials.apikey"]),
    ("providers", lambda r: {"name": "p", "kind": "openai", "credentials": {}}, ["$.credentials.api_key"]),
    ("providers", lambda r: {"name": "p", "kind": "openai", "credentials": "sk-123"}, ["$.credentials"]),
    ("deployments", lambda r: {"name": "d", "provider_id": r["provider"]}, ["$.model"]),
    (
        "deployments",
        lambda r: {"name": "d", "provider_id": r["provider"], "model": "m", "timeout_seconds": 0},
        ["$.timeout_seconds"],
    ),
    (
        "deployments",
        lambda r: {"name": "d", "provider_id": r["provider"], "model": "m", "timeout_seconds": 601},
        ["$.timeout_seconds"],
    ),
    (
        "deployments",
        lambda r: {"name": "d", "provider_id": r["provider"], "model": "m", "timeout_seconds": "60"},
        ["$.timeout_seconds"],
    ),
    ("routes", lambda r: {"name": "chat", "targets": []}, ["$.targets"]),
    ("routes", lambda r: {"name": "chat"}, ["$.targets"]),
    (
        "routes",
        lambda r: {"name": "chat", "targets": [r["deployment"]], "environments": ["Prod"]},
        ["$.environments[0]"],
    ),
]


@pytest.mark.parametrize(("resource", "body", "paths"), FIELD_ERRORS)
async def test_create_names_the_invalid_field(
    resource: str, body: Body, paths: list[str], client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    revision = await db.revision()

    response = await client.post(f"/api/v1/{resource}", json=body(refs))

    assert _paths(_error(response, 422, "validation_error")) == paths
    assert await db.revision() == revision


UNRESOLVED: list[tuple[str, Body, list[str]]] = [
    ("applications", lambda r: {"team_id": str(uuid.uuid4()), "name": "bot"}, ["$.team_id"]),
    ("deployments", lambda r: {"name": "d", "provider_id": str(uuid.uuid4()), "model": "m"}, ["$.provider_id"]),
    ("keys", lambda r: {"name": "k", "team_id": str(uuid.uuid4()), "environment": "dev"}, ["$.team_id"]),
    ("keys", lambda r: {"name": "k", "team_id": r["team"], "environment": "qa"}, ["$.environment"]),
    (
        "keys",
        lambda r: {"name": "k", "team_id": r["team"], "environment": "dev", "user_id": str(uuid.uuid4())},
        ["$.user_id"],
    ),
    (
        "keys",
        lambda r: {"name": "k", "team_id": r["team"], "environment": "dev", "application_id": str(uuid.uuid4())},
        ["$.application_id"],
    ),
    (
        "keys",
        lambda r: {
            "name": "k",
            "team_id": str(uuid.uuid4()),
            "environment": "nowhere",
            "user_id": str(uuid.uuid4()),
        },
        ["$.team_id", "$.environment", "$.user_id"],
    ),
    ("routes", lambda r: {"name": "chat", "targets": [r["deployment"], str(uuid.uuid4())]}, ["$.targets[1]"]),
    ("routes", lambda r: {"name": "chat", "targets": [r["deployment"], r["deployment"]]}, ["$.targets[1]"]),
    (
        "routes",
        lambda r: {"name": "chat", "targets": [r["deployment"]], "environments": ["dev", "qa", "dev"]},
        ["$.environments[1]", "$.environments[2]"],
    ),
]


@pytest.mark.parametrize(("resource", "body", "paths"), UNRESOLVED)
async def test_create_refuses_references_that_do_not_resolve(
    resource: str, body: Body, paths: list[str], client: httpx.AsyncClient, refs: Refs
) -> None:
    before = (await client.get(f"/api/v1/{resource}")).json()["data"]

    response = await client.post(f"/api/v1/{resource}", json=body(refs))

    assert _paths(_error(response, 422, "validation_error")) == paths
    assert (await client.get(f"/api/v1/{resource}")).json()["data"] == before


async def test_a_key_cannot_use_an_application_of_another_team(client: httpx.AsyncClient, refs: Refs) -> None:
    other_team = await created(client, "teams", {"name": "elsewhere"})
    body = {"name": "k", "team_id": other_team["id"], "environment": "dev", "application_id": refs["application"]}

    response = await client.post("/api/v1/keys", json=body)

    error = _error(response, 422, "validation_error")
    assert error["errors"] == [{"path": "$.application_id", "message": "the application belongs to another team"}]


async def test_update_checks_fields_and_references(client: httpx.AsyncClient, refs: Refs) -> None:
    deployment = f"/api/v1/deployments/{refs['deployment']}"
    route = await created(client, "routes", {"name": "chat", "targets": [refs["deployment"]]})

    unknown = await client.patch(deployment, json={"provider_id": str(uuid.uuid4())})
    null_name = await client.patch(deployment, json={"name": None})
    typo = await client.patch(f"/api/v1/keys/{uuid.uuid4()}", json={"team_id": refs["team"]})
    no_targets = await client.patch(f"/api/v1/routes/{route['id']}", json={"targets": []})
    rename_env = await client.patch("/api/v1/environments/" + str(uuid.uuid4()), json={"name": "x"})

    assert _paths(_error(unknown, 422, "validation_error")) == ["$.provider_id"]
    assert _paths(_error(null_name, 422, "validation_error")) == ["$.name"]
    assert _paths(_error(typo, 422, "validation_error")) == ["$.team_id"]
    assert _paths(_error(no_targets, 422, "validation_error")) == ["$.targets"]
    assert _paths(_error(rename_env, 422, "validation_error")) == ["$.name"]
    assert (await client.get(deployment)).json()["provider_id"] == refs["provider"]


DUPLICATES: list[tuple[str, Body]] = [
    ("teams", lambda r: {"name": "platform"}),
    ("users", lambda r: {"email": "ada@example.com"}),
    ("applications", lambda r: {"team_id": r["team"], "name": "search-bot"}),
    ("environments", lambda r: {"name": "prod"}),
    ("providers", lambda r: {"name": "mock", "kind": "mock"}),
    ("deployments", lambda r: {"name": "mock-small", "provider_id": r["provider"], "model": "x"}),
]


@pytest.mark.parametrize(("resource", "body"), DUPLICATES, ids=[d[0] for d in DUPLICATES])
async def test_duplicates_conflict(
    resource: str, body: Body, client: httpx.AsyncClient, refs: Refs, db: Database
) -> None:
    before = (await client.get(f"/api/v1/{resource}")).json()["data"]
    revision = await db.revision()

    response = await client.post(f"/api/v1/{resource}", json=body(refs))

    _error(response, 409, "conflict")
    assert (await client.get(f"/api/v1/{resource}")).json()["data"] == before
    assert await db.revision() == revision


async def test_renaming_onto_an_existing_name_conflicts(client: httpx.AsyncClient, refs: Refs) -> None:
    await created(client, "routes", {"name": "chat", "targets": [refs["deployment"]]})
    other = await created(client, "routes", {"name": "embed", "targets": [refs["deployment"]]})

    response = await client.patch(f"/api/v1/routes/{other['id']}", json={"name": "chat"})

    _error(response, 409, "conflict")
    assert (await client.get(f"/api/v1/routes/{other['id']}")).json()["name"] == "embed"


async def test_deleting_what_is_still_referenced_conflicts(client: httpx.AsyncClient, refs: Refs) -> None:
    key = await created(
        client,
        "keys",
        {
            "name": "k",
            "team_id": refs["team"],
            "environment": "dev",
            "user_id": refs["user"],
            "application_id": refs["application"],
        },
    )
    await created(client, "routes", {"name": "chat", "targets": [refs["deployment"]], "environments": ["prod"]})
    dev = next(e for e in (await client.get("/api/v1/environments")).json()["data"] if e["name"] == "dev")
    prod = next(e for e in (await client.get("/api/v1/environments")).json()["data"] if e["name"] == "prod")
    referenced = {
        "teams": refs["team"],
        "users": refs["user"],
        "applications": refs["application"],
        "providers": refs["provider"],
        "deployments": refs["deployment"],
        "environments": dev["id"],
    }

    for resource, row_id in [*referenced.items(), ("environments", prod["id"])]:
        response = await client.delete(f"/api/v1/{resource}/{row_id}")
        assert "still referenced" in _error(response, 409, "conflict")["message"], resource
        assert (await client.get(f"/api/v1/{resource}/{row_id}")).status_code == 200

    assert (await client.delete(f"/api/v1/keys/{key['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/applications/{refs['application']}")).status_code == 204


MISSING_IDS = [str(uuid.uuid4()), "not-a-uuid", "%00", "x" * 5000, str(uuid.uuid4()).upper(), "1 OR 1=1"]


@pytest.mark.parametrize("resource", RESOURCES)
async def test_unknown_or_malformed_ids_are_not_found(resource: str, client: httpx.AsyncClient) -> None:
    for row_id in MISSING_IDS:
        url = f"/api/v1/{resource}/{row_id}"

        responses = [await client.get(url), await client.patch(url, json={}), await client.delete(url)]

        for response in responses:
            assert _error(response, 404, "not_found")["message"] != "no such path", row_id


@pytest.fixture(params=RESOURCES)
async def create_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    yield f"/api/v1/{request.param}"


async def test_malformed_or_empty_json_is_a_bad_request(create_url: str, client: httpx.AsyncClient) -> None:
    for body in [b"{", b'{"name": }', b"\xff\xfe", b"", b"   "]:
        response = await client.post(create_url, content=body, headers={"content-type": "application/json"})
        _error(response, 400, "invalid_json")


async def test_a_body_over_the_limit_is_refused_by_length_and_by_stream(
    create_url: str, client: httpx.AsyncClient
) -> None:
    ten_megabytes = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(ten_megabytes), 65536):
            yield ten_megabytes[start : start + 65536]

    declared = await client.post(create_url, content=ten_megabytes)
    streamed = await client.post(create_url, content=chunks())

    assert "content-length" not in streamed.request.headers
    _error(declared, 413, "request_too_large")
    _error(streamed, 413, "request_too_large")


BAD_BODIES = [
    b"null",
    b"[]",
    b"1",
    b'"text"',
    b"true",
    b"[" * 100_000,
    b'{"name": null, "email": null, "team_id": null, "targets": null}',
    b'{"name": {"nested": [1, 2, 3]}}',
    b'{"name": "\\u0000", "email": "\\u0000@x", "description": "\\u0000"}',
    b'{"name": "\\ud800"}',
    b'{"name": 1e999}',
    b'{"name": 123456789012345678901234567890}',
    b'{"name": "ok", "kind": "mock", "team_id": "' + b"f" * 36 + b'"}',
    b'{"name": "a", "name": "b"}',
    b'{"' + b"k" * 100_000 + b'": 1}',
    b'{"id": "00000000-0000-0000-0000-000000000000", "name": "x"}',
]


async def test_no_bad_input_causes_a_server_error(create_url: str, client: httpx.AsyncClient, refs: Refs) -> None:
    for body in BAD_BODIES:
        response = await client.post(create_url, content=body, headers={"content-type": "application/json"})
        assert response.status_code < 500, (body[:60], response.text)
        assert response.status_code in (201, 400, 409, 422), (body[:60], response.text)
        if response.status_code != 201:
            assert set(response.json()["error"]) >= {"type", "message", "errors"}
