"""The OpenAPI 3.1 document is generated from the routes and schemas, and describes all of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from shared.snapshot import PROVIDER_KINDS

RESOURCES = ["teams", "users", "applications", "environments", "keys", "providers", "deployments", "routes"]


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _served(app: Starlette) -> set[tuple[str, str]]:
    """(path, method) of every route the app really serves."""
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        children = route.routes if isinstance(route, Mount) else [route]
        prefix = route.path if isinstance(route, Mount) else ""
        for child in children:
            assert isinstance(child, Route)
            served |= {(prefix + child.path, m.lower()) for m in child.methods or () if m != "HEAD"}
    return served


async def test_the_document_lists_every_served_path_and_method(anonymous: httpx.AsyncClient, app: Starlette) -> None:
    document = (await anonymous.get("/api/v1/openapi.json")).json()

    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == _served(app)
    for resource in RESOURCES:
        assert set(document["paths"][f"/api/v1/{resource}"]) == {"get", "post"}
        assert set(document["paths"][f"/api/v1/{resource}/{{id}}"]) == {"get", "patch", "delete"}
    assert set(document["paths"]["/api/v1/keys/{id}/revoke"]) == {"post"}
    assert set(document["paths"]["/api/v1/config/status"]) == {"get"}


async def test_request_and_response_schemas_resolve_to_the_msgspec_structs(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/api/v1/openapi.json")).json()
    paths = document["paths"]

    for ref in _refs(document):
        _resolve(document, ref)
    create = paths["/api/v1/teams"]["post"]
    body = _resolve(document, create["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert body["required"] == ["name"]
    assert body["additionalProperties"] is False
    assert set(body["properties"]) == {"name", "description", "models"}
    read = _resolve(document, create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"])
    assert {"id", "name", "created_at"} <= set(read["properties"])

    key_created = paths["/api/v1/keys"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert "key" in _resolve(document, key_created["$ref"])["properties"]
    key_read = paths["/api/v1/keys/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "key" not in _resolve(document, key_read["$ref"])["properties"]
    provider_create = paths["/api/v1/providers"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    provider = _resolve(document, provider_create["$ref"])
    assert set(provider["properties"]["kind"]["enum"]) == set(PROVIDER_KINDS)
    provider_read = paths["/api/v1/providers/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "credentials" not in _resolve(document, provider_read["$ref"])["properties"]

    for path, item in paths.items():
        for method, operation in item.items():
            if method in ("post", "patch") and not path.endswith("/revoke"):
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert _resolve(document, schema["$ref"])["type"] == "object", (path, method)
            error = operation["responses"]["500"]["content"]["application/json"]["schema"]
            assert set(_resolve(document, error["$ref"])["properties"]) == {"error"}


async def test_lists_document_their_paging_and_items_need_an_id(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/api/v1/openapi.json")).json()

    listing = document["paths"]["/api/v1/users"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert parameters["limit"]["in"] == "query"
    assert parameters["limit"]["schema"]["maximum"] == 1000
    assert parameters["offset"]["schema"]["minimum"] == 0
    page = _resolve(document, listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    assert set(page["properties"]) == {"data", "limit", "offset"}
    item = document["paths"]["/api/v1/users/{id}"]["delete"]
    assert item["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert "204" in item["responses"]
    assert "404" in item["responses"]


async def test_bearer_auth_is_required_except_for_the_document_itself(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/api/v1/openapi.json")).json()

    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    assert "401" in document["paths"]["/api/v1/teams"]["get"]["responses"]
    assert "401" not in document["paths"]["/api/v1/openapi.json"]["get"]["responses"]
