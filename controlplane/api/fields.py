"""Constrained field types of the admin API schemas. The limits mirror the column sizes and what the databases
accept (PostgreSQL refuses NUL in text), so a value that passes decoding never fails in SQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from msgspec import Meta

from shared.apikeys import ENVIRONMENT_NAME_PATTERN

ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

Id = Annotated[str, Meta(pattern=ID_PATTERN, description="A UUID in canonical lowercase form.")]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
DisplayName = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Description = Annotated[str, Meta(max_length=2000, pattern=r"^[^\x00]*$")]
ModelAllowList = Annotated[
    list[Name],
    Meta(
        max_length=1000,
        description="Route names allowed here; null: every route. Access is the intersection of "
        "the key's, its application's, its team's and its environment's lists.",
    ),
]
Email = Annotated[str, Meta(max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
EnvironmentName = Annotated[
    str, Meta(pattern=ENVIRONMENT_NAME_PATTERN, max_length=31, description="Lowercase letters and digits.")
]
HttpUrl = Annotated[str, Meta(max_length=2000, pattern=r"^https?://[^\s/?#\x00]+[^\s\x00]*$")]
Timestamp = Annotated[datetime, Meta(tz=True, description="RFC 3339 date-time with a time zone.")]


def is_id(value: str) -> bool:
    """Whether `value` can be an id of ours; anything else cannot name a row and is never sent to the database."""
    return re.fullmatch(ID_PATTERN, value) is not None


def is_environment_name(value: str) -> bool:
    # msgspec checks patterns with re.search, where `$` also matches before a trailing newline.
    return re.fullmatch(ENVIRONMENT_NAME_PATTERN, value) is not None


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC. Naive values are taken as UTC: SQLite drops the zone of what it stores, so
    everything is converted to UTC before it is written."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
