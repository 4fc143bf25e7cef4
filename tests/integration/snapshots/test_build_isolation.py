"""A snapshot is read in one transaction on both backends: a change committed while it is being built is either
wholly in it, with its revision, or wholly out of it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from controlplane.db import migrate
from controlplane.db.models import Organization, Team
from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot


async def test_a_change_committed_during_a_sqlite_build_is_not_in_it(empty_sqlite_url: str) -> None:
    await migrate.upgrade(empty_sqlite_url)
    engine = make_engine(empty_sqlite_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            organization = (await session.scalars(select(Organization))).one()
            session.add(Team(organization_id=organization.id, name="before"))
        path = make_url(empty_sqlite_url).database
        assert path is not None
        renamed = False

        def rename_while_building(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            """Once the build has read the revision, another connection renames the team and bumps it."""
            nonlocal renamed
            if renamed or "FROM teams" not in statement:
                return
            renamed = True
            with sqlite3.connect(path) as other:
                other.execute("UPDATE teams SET name = 'after'")
                other.execute("UPDATE config_revision SET revision = revision + 1 WHERE id = 1")

        event.listen(engine.sync_engine, "before_cursor_execute", rename_while_building)
        async with sessionmaker() as session:
            snapshot = await build_snapshot(session, now=datetime.now(UTC))
        event.remove(engine.sync_engine, "before_cursor_execute", rename_while_building)
        async with sessionmaker() as session:
            after = await build_snapshot(session, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    assert renamed
    assert [t.name for t in snapshot.teams] == ["before"]
    assert [t.name for t in after.teams] == ["after"]
    assert after.version == snapshot.version + 1
