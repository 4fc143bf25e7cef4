"""The OpenAPI 3.1 document, generated from the Operation table and the msgspec schemas (never hand-written)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import msgspec
from starlette.routing import BaseRoute, Route

from controlplane.api.errors import ErrorBody
from controlplane.api.handlers import Operation

_REF = "#/components/schemas/{name}"
_PATH_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")
_ERRORS = {
    "400": "Malformed or empty JSON body",
    "401": "Missing or wrong admin token",
    "403": "The admin key's role or scope does not allow this (see Admin roles in the README)",
    "404": "No such object or path",
    "409": "Duplicate, or still referenced",
    "413": "Body larger than the configured limit",
    "422": "Invalid fields, each named by its path",
}


def _ref(struct: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": _REF.format(name=struct.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_codes(operation: Operation) -> list[str]:
    codes = [] if operation.public else ["401", "403"]
    if operation.body is not None:
        codes += ["400", "413", "422"]
    if operation.query is not None:
        codes.append("422")
    if "{" in operation.path:
        codes.append("404")
    if operation.method in ("POST", "PATCH", "DELETE") and not operation.public:
        codes.append("409")
    return sorted(set(codes))


def _parameters(operation: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(operation.path)
    ]
    if operation.query is not None:
        properties = components[operation.query.__name__]["properties"]
        parameters += [{"name": name, "in": "query", "schema": schema} for name, schema in properties.items()]
    return parameters


def _success(operation: Operation) -> dict[str, Any]:
    if operation.response is not None:
        return _json(_ref(operation.response), "Success")
    if operation.status == 204:
        return {"description": "Success, no content"}
    return _json({}, "Success")


def _describe(operation: Operation, components: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {str(operation.status): _success(operation)}
    for code in _error_codes(operation):
        responses[code] = _json(_ref(ErrorBody), _ERRORS[code])
    responses["500"] = _json(_ref(ErrorBody), "Unexpected error; the body carries the request id")
    described: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation, components),
        "responses": responses,
    }
    if operation.body is not None:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(operation.body)}}}
    if operation.public:
        described["security"] = []
    return described


def _mounted_operations(route: BaseRoute) -> list[Operation]:
    """Routes defined elsewhere (config status) are listed by path and method, without schemas."""
    if not isinstance(route, Route):
        return []
    summary = (route.endpoint.__doc__ or route.name).strip().splitlines()[0]
    return [
        Operation(
            method=method,
            path=route.path,
            endpoint=route.endpoint,
            operation_id=route.name,
            summary=summary,
            tag=route.path.strip("/").split("/")[0],
        )
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def build_openapi(
    *, prefix: str, operations: Sequence[Operation], mounted: Sequence[BaseRoute], public: Sequence[Operation]
) -> dict[str, Any]:
    """`operations` and `mounted` routes live under `prefix`; `public` operations carry absolute paths."""
    located = [
        *((op, prefix + op.path) for op in operations),
        *((op, prefix + op.path) for route in mounted for op in _mounted_operations(route)),
        *((op, op.path) for op in public),
    ]
    structs: set[type[msgspec.Struct]] = {ErrorBody}
    for operation, _ in located:
        structs.update(t for t in (operation.body, operation.response, operation.query) if t is not None)
    _, components = msgspec.json.schema_components(sorted(structs, key=lambda t: t.__name__), ref_template=_REF)

    paths: dict[str, dict[str, Any]] = {}
    for operation, path in located:
        paths.setdefault(path, {})[operation.method.lower()] = _describe(operation, components)

    return {
        "openapi": "3.1.0",
        "info": {"title": "Waypost admin API", "version": version("waypost")},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }
