"""What an admin API collection is: a table, its Create/Update/Read schemas, and small hooks where it differs
from plain CRUD. One set of handlers (controlplane.api.handlers) serves every Resource.

Hooks are service functions: keyword-only arguments, they may add and change rows but never flush or commit
(the handler owns the transaction)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.errors import FieldError, ValidationFailedError
from controlplane.api.fields import as_utc, is_id
from controlplane.db.models import Base
from shared.crypto import MasterSecret

ModelT = TypeVar("ModelT", bound=Base)
CreateT = TypeVar("CreateT", bound=msgspec.Struct)
UpdateT = TypeVar("UpdateT", bound=msgspec.Struct)
ReadT = TypeVar("ReadT", bound=msgspec.Struct)
_Model_co = TypeVar("_Model_co", bound=Base, covariant=True)
_Model_contra = TypeVar("_Model_contra", bound=Base, contravariant=True)
_Struct_contra = TypeVar("_Struct_contra", bound=msgspec.Struct, contravariant=True)
_Read_co = TypeVar("_Read_co", bound=msgspec.Struct, covariant=True)


@dataclass(frozen=True)
class Created(Generic[_Model_co]):
    """A new row, plus values shown once in the 201 response and stored nowhere (the full API key)."""

    row: _Model_co
    reveal: Mapping[str, str] = field(default_factory=dict)


class CreateHook(Protocol[_Struct_contra, _Model_co]):
    def __call__(
        self, *, session: AsyncSession, master: MasterSecret, data: _Struct_contra
    ) -> Awaitable[Created[_Model_co]]: ...


class UpdateHook(Protocol[_Model_contra, _Struct_contra]):
    def __call__(
        self, *, session: AsyncSession, master: MasterSecret, row: _Model_contra, data: _Struct_contra
    ) -> Awaitable[None]: ...


class ReadHook(Protocol[_Model_contra, _Read_co]):
    def __call__(self, *, session: AsyncSession, rows: Sequence[_Model_contra]) -> Awaitable[Sequence[_Read_co]]: ...


class ActionHook(Protocol[_Model_contra]):
    def __call__(self, *, session: AsyncSession, row: _Model_contra) -> Awaitable[None]: ...


@dataclass(frozen=True)
class Action(Generic[ModelT]):
    """`POST /<resource>/{id}/<name>`: a state change that is not a field update; answers with the Read."""

    name: str
    summary: str
    apply: ActionHook[ModelT]


@dataclass(frozen=True, kw_only=True)
class Resource(Generic[ModelT, CreateT, UpdateT, ReadT]):
    path: str  # the collection's URL segment and OpenAPI tag: "teams"
    singular: str  # for messages: "team"
    model: type[ModelT]
    create_type: type[CreateT]
    update_type: type[UpdateT]
    read_type: type[ReadT]
    created_type: type[msgspec.Struct] | None = None  # the 201 body when the create hook reveals values
    on_create: CreateHook[CreateT, ModelT] | None = None
    on_update: UpdateHook[ModelT, UpdateT] | None = None
    on_read: ReadHook[ModelT, ReadT] | None = None
    actions: tuple[Action[ModelT], ...] = ()

    async def create(self, *, session: AsyncSession, master: MasterSecret, data: CreateT) -> Created[ModelT]:
        if self.on_create is not None:
            return await self.on_create(session=session, master=master, data=data)
        return Created(self.model(**msgspec.structs.asdict(data)))

    async def update(self, *, session: AsyncSession, master: MasterSecret, row: ModelT, data: UpdateT) -> None:
        if self.on_update is not None:
            await self.on_update(session=session, master=master, row=row, data=data)
        else:
            assign_fields(row, data)

    async def read(self, *, session: AsyncSession, rows: Sequence[ModelT]) -> Sequence[ReadT]:
        if self.on_read is not None:
            return await self.on_read(session=session, rows=rows)
        return [read_columns(self.read_type, row) for row in rows]


def assign_fields(row: Base, data: msgspec.Struct, *, skip: frozenset[str] = frozenset()) -> None:
    """Copy every field the client sent (not UNSET) onto the row, datetimes in UTC."""
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if value is not msgspec.UNSET and name not in skip:
            setattr(row, name, as_utc(value) if isinstance(value, datetime) else value)


def read_columns(read_type: type[ReadT], row: Base, **overrides: Any) -> ReadT:
    """A Read struct filled from the row's attributes of the same names, timestamps in UTC."""
    values: dict[str, Any] = {}
    for name in read_type.__struct_fields__:
        value = overrides[name] if name in overrides else getattr(row, name)
        values[name] = as_utc(value) if isinstance(value, datetime) else value
    return read_type(**values)


class ReferenceCheck:
    """Resolves the ids and names a request refers to, collecting every miss so one 422 names them all."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.errors: list[FieldError] = []

    async def one(self, model: type[ModelT], value: str, *, path: str, column: str = "id") -> ModelT | None:
        found = await self.many(model, [value], path=path, column=column, indexed=False)
        return found[0] if found else None

    async def many(
        self, model: type[ModelT], values: Sequence[str], *, path: str, column: str = "id", indexed: bool = True
    ) -> list[ModelT]:
        """The rows whose `column` equals each value, in the order given; misses and repeats become errors."""
        attribute = inspect(model).columns[column]
        wanted = [v for v in set(values) if column != "id" or is_id(v)]
        rows = (await self._session.scalars(select(model).where(attribute.in_(wanted)))).all() if wanted else []
        by_value = {getattr(row, attribute.key): row for row in rows}
        resolved: list[ModelT] = []
        seen: set[str] = set()
        for position, value in enumerate(values):
            where = f"{path}[{position}]" if indexed else path
            if value in seen:
                self.errors.append(FieldError(where, f"{value!r} is listed twice"))
            elif value not in by_value:
                self.errors.append(FieldError(where, f"{value!r} does not exist"))
            else:
                resolved.append(by_value[value])
            seen.add(value)
        return resolved

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def raise_if_unresolved(self) -> None:
        if self.errors:
            raise ValidationFailedError("some references in the request do not resolve", errors=self.errors)
