"""The admin API's errors: one root `ApiError`, one JSON shape, and the mapping of the layers below
(msgspec validation, SQLAlchemy constraint violations, Starlette routing) onto it.

Shape: `{"error": {"type": "...", "message": "...", "errors": [{"path": "$.field", "message": "..."}]}}`;
500s add `request_id`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

import msgspec
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response


class FieldError(msgspec.Struct, frozen=True):
    path: str
    message: str


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    message: str
    errors: list[FieldError]
    request_id: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorDetail


class ApiError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, *, errors: Sequence[FieldError] = (), headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})


class InvalidJsonError(ApiError):
    status = 400
    type = "invalid_json"


class UnauthorizedError(ApiError):
    status = 401
    type = "unauthorized"


class ForbiddenError(ApiError):
    """Authenticated, but the caller's role or scope does not allow this (controlplane.rbac)."""

    status = 403
    type = "forbidden"


class NotFoundError(ApiError):
    status = 404
    type = "not_found"


class MethodNotAllowedError(ApiError):
    status = 405
    type = "method_not_allowed"


class ConflictError(ApiError):
    status = 409
    type = "conflict"


class RequestTooLargeError(ApiError):
    status = 413
    type = "request_too_large"


class ValidationFailedError(ApiError):
    status = 422
    type = "validation_error"


class ServiceUnavailableError(ApiError):
    status = 503
    type = "service_unavailable"


class InternalError(ApiError):
    status = 500
    type = "internal_error"


_HTTP_ERROR_TYPES: Mapping[int, str] = {
    cls.status: cls.type for cls in (InvalidJsonError, UnauthorizedError, NotFoundError, MethodNotAllowedError)
}


def render_error(
    *,
    status: int,
    error_type: str,
    message: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> Response:
    detail = ErrorDetail(type=error_type, message=message, errors=list(errors), request_id=request_id)
    return Response(
        msgspec.json.encode(ErrorBody(detail)), status_code=status, media_type="application/json", headers=headers
    )


def error_response(error: ApiError) -> Response:
    return render_error(
        status=error.status, error_type=error.type, message=error.message, errors=error.errors, headers=error.headers
    )


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (route without that method), in our shape."""
    assert isinstance(exc, HTTPException)
    return render_error(
        status=exc.status_code,
        error_type=_HTTP_ERROR_TYPES.get(exc.status_code, "http_error"),
        message="no such path" if exc.status_code == 404 else exc.detail,
        headers=exc.headers,
    )


_MSGSPEC_FIELD_MESSAGE = re.compile(r"Object (?:missing required|contains unknown) field `(?P<field>[^`]+)`")


def validation_failed(exc: msgspec.ValidationError) -> ValidationFailedError:
    """msgspec reports one error per decode as `<message> - at `$.path``; a missing or unknown field is named in
    the message, and we move it into the path so clients always get the field itself."""
    text = str(exc)
    message, separator, where = text.rpartition(" - at `")
    if separator:
        path = where.removesuffix("`")
    else:
        message, path = text, "$"
    field = _MSGSPEC_FIELD_MESSAGE.fullmatch(message)
    if field is not None:
        path = f"{path}.{field['field']}"
    return ValidationFailedError("request is not valid", errors=[FieldError(path=path, message=message)])


def _constraint(exc: IntegrityError) -> str:
    """Which constraint failed, from the drivers' structured codes (asyncpg SQLSTATE, sqlite3 error name)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    sqlite_name = getattr(exc.orig, "sqlite_errorname", None)
    if sqlstate == "23505" or sqlite_name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return "unique"
    # SQLite reports ON DELETE RESTRICT as a trigger constraint (that is how it implements it); we define no
    # triggers of our own.
    if sqlstate == "23503" or sqlite_name in ("SQLITE_CONSTRAINT_FOREIGNKEY", "SQLITE_CONSTRAINT_TRIGGER"):
        return "foreign_key"
    return "other"


def database_error(exc: DBAPIError, *, subject: str, deleting: bool) -> ApiError | None:
    """The API error for a database refusal, or None when it is not the client's doing."""
    if isinstance(exc, IntegrityError):
        constraint = _constraint(exc)
        if constraint == "unique":
            return ConflictError(f"a {subject} with the same unique values already exists")
        if constraint == "foreign_key" and deleting:
            return ConflictError(f"the {subject} is still referenced by other objects; remove those first")
        if constraint == "foreign_key":
            return ConflictError(f"an object the {subject} refers to was removed meanwhile; retry")
        return ConflictError(f"the change to the {subject} conflicts with existing data")
    # SQLSTATE class 22 (data exception): a value the database refuses, e.g. an out-of-range number.
    if str(getattr(exc.orig, "sqlstate", "")).startswith("22"):
        return ValidationFailedError("a value was refused by the database", errors=[FieldError("$", "invalid value")])
    return None
