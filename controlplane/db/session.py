"""Engine and session factory. Every flush that changes config rows bumps config_revision in the same
transaction, so no write path can forget it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from controlplane.db.models import ConfigRevision


def _is_config(obj: object) -> bool:
    """Rows of models that set `part_of_config = False` (tokens, audit, usage ledger...) never bump the revision."""
    return getattr(type(obj), "part_of_config", True)


class RevisionedSession(Session):
    """A session that bumps config_revision whenever a flush writes config rows."""


def _touches_config(session: Session) -> bool:
    if any(_is_config(obj) for obj in [*session.new, *session.deleted]):
        return True
    return any(_is_config(obj) and session.is_modified(obj) for obj in session.dirty)


@event.listens_for(RevisionedSession, "before_flush")
def _bump_revision(session: Session, _context: Any, _instances: Any) -> None:
    if not session.info.get("revision_bumped") and _touches_config(session):
        session.execute(update(ConfigRevision).values(revision=ConfigRevision.revision + 1))
        session.info["revision_bumped"] = True


@event.listens_for(RevisionedSession, "after_transaction_end")
def _reset_bump(session: Session, _transaction: Any) -> None:
    session.info.pop("revision_bumped", None)


def _enable_sqlite_foreign_keys(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def make_engine(database_url: str) -> AsyncEngine:
    engine = create_async_engine(database_url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        _enable_sqlite_foreign_keys(engine.sync_engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=RevisionedSession)
