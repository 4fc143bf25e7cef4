"""Field helpers: which strings can be ids, environment names, and how stored times come back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from controlplane.api.fields import as_utc, is_environment_name, is_id


def test_only_canonical_uuids_are_ids() -> None:
    value = str(uuid.uuid4())

    assert is_id(value)
    assert not is_id(value.upper())
    assert not is_id(value + "\n")
    assert not is_id("{" + value + "}")
    assert not is_id("")


def test_environment_names_are_matched_whole() -> None:
    assert is_environment_name("prod")
    assert is_environment_name("eu2")
    assert not is_environment_name("prod\n")
    assert not is_environment_name("2eu")
    assert not is_environment_name("Prod")


def test_times_come_back_in_utc() -> None:
    naive = datetime(2030, 1, 1, 12, 0)
    offset = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    assert as_utc(naive) == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert as_utc(offset) == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    assert as_utc(offset).tzinfo is UTC
