"""Request bodies and query strings decode into structs or fail as API errors."""

from __future__ import annotations

import msgspec
import pytest

from controlplane.api.bodies import decode_body, decode_query
from controlplane.api.errors import InvalidJsonError, ValidationFailedError
from controlplane.api.handlers import ListQuery


class Body(msgspec.Struct, forbid_unknown_fields=True):
    name: str


DECODER = msgspec.json.Decoder(Body)


def test_a_valid_body_decodes() -> None:
    assert decode_body(DECODER, b'{"name": "x"}') == Body(name="x")


@pytest.mark.parametrize("body", [b"", b"  \n", b"{", b"\xff", b'{"name": "x"} trailing'])
def test_empty_or_malformed_bodies_are_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidJsonError) as caught:
        decode_body(DECODER, body)

    assert caught.value.status == 400


def test_wrong_types_are_validation_errors() -> None:
    with pytest.raises(ValidationFailedError) as caught:
        decode_body(DECODER, b'{"name": 1}')

    assert caught.value.errors[0].path == "$.name"


def test_query_strings_convert_and_default() -> None:
    assert decode_query({}, ListQuery) == ListQuery(limit=100, offset=0)
    assert decode_query({"limit": "7", "offset": "3", "other": "ignored"}, ListQuery) == ListQuery(limit=7, offset=3)
    with pytest.raises(ValidationFailedError):
        decode_query({"limit": "1001"}, ListQuery)
