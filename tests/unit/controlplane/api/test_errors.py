"""Errors from the layers below map onto the one API error shape, by structured fields only."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from controlplane.api.errors import ConflictError, ValidationFailedError, database_error, validation_failed


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    api_key: str


class Outer(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    inner: Inner | None = None
    tags: list[str] = []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"{}", "$.name"),
        (b'{"name": 1}', "$.name"),
        (b'{"name": ""}', "$.name"),
        (b'{"name": "x", "nmae": 1}', "$.nmae"),
        (b'{"name": "x", "inner": {}}', "$.inner.api_key"),
        (b'{"name": "x", "inner": {"api_key": "k", "extra": 1}}', "$.inner.extra"),
        (b'{"name": "x", "tags": ["a", 2]}', "$.tags[1]"),
        (b"[]", "$"),
    ],
)
def test_validation_errors_point_at_the_field(body: bytes, path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(body, type=Outer)

    error = validation_failed(caught.value)

    assert error.status == 422
    assert [e.path for e in error.errors] == [path]
    assert " - at " not in error.errors[0].message


class FakeDriverError(Exception):
    def __init__(self, **fields: Any) -> None:
        super().__init__("driver text that must not be parsed: UNIQUE constraint failed")
        self.__dict__.update(fields)


def _integrity(**fields: Any) -> IntegrityError:
    return IntegrityError("INSERT ...", {}, FakeDriverError(**fields))


@pytest.mark.parametrize(
    ("fields", "deleting", "fragment"),
    [
        ({"sqlstate": "23505"}, False, "already exists"),
        ({"sqlite_errorname": "SQLITE_CONSTRAINT_UNIQUE"}, False, "already exists"),
        ({"sqlite_errorname": "SQLITE_CONSTRAINT_PRIMARYKEY"}, False, "already exists"),
        ({"sqlstate": "23503"}, True, "still referenced"),
        ({"sqlite_errorname": "SQLITE_CONSTRAINT_FOREIGNKEY"}, True, "still referenced"),
        ({"sqlite_errorname": "SQLITE_CONSTRAINT_TRIGGER"}, True, "still referenced"),
        ({"sqlstate": "23503"}, False, "removed meanwhile"),
        ({"sqlstate": "23514"}, False, "conflicts"),
    ],
)
def test_constraint_violations_are_conflicts_classified_by_driver_codes(
    fields: dict[str, str], deleting: bool, fragment: str
) -> None:
    error = database_error(_integrity(**fields), subject="team", deleting=deleting)

    assert isinstance(error, ConflictError)
    assert error.status == 409
    assert fragment in error.message


def test_data_exceptions_are_validation_errors_and_others_are_not_the_clients_fault() -> None:
    refused = database_error(DBAPIError("SELECT", {}, FakeDriverError(sqlstate="22021")), subject="x", deleting=False)
    broken = database_error(DBAPIError("SELECT", {}, FakeDriverError(sqlstate="08006")), subject="x", deleting=False)

    assert isinstance(refused, ValidationFailedError)
    assert broken is None
