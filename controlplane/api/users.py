"""Users: the people who hold keys."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType

from controlplane.api.fields import DisplayName, Email
from controlplane.api.resource import Resource
from controlplane.db.models import User


class UserCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Email
    name: DisplayName = ""


class UserUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Email | UnsetType = UNSET
    name: DisplayName | UnsetType = UNSET


class UserRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    email: str
    name: str
    created_at: datetime
    updated_at: datetime


resource = Resource(
    path="users", singular="user", model=User, create_type=UserCreate, update_type=UserUpdate, read_type=UserRead
)
