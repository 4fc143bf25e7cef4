"""Migrations go up, down and up again on both PostgreSQL and SQLite, and seed what the product needs."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from controlplane.db import migrate
from controlplane.db.models import Base, Environment
from controlplane.db.session import make_engine, make_sessionmaker


async def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_migrations_go_up_down_and_up_again(backend: str, empty_pg_url: str, empty_sqlite_url: str) -> None:
    url = empty_pg_url if backend == "postgresql" else empty_sqlite_url
    expected = set(Base.metadata.tables)

    await migrate.upgrade(url)
    assert expected <= await _table_names(url)

    await migrate.downgrade(url, "base")
    assert not expected & await _table_names(url)

    await migrate.upgrade(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            names = set((await session.scalars(select(Environment.name))).all())
            revision = (await session.execute(text("SELECT revision FROM config_revision"))).scalar_one()
    finally:
        await engine.dispose()
    assert names == {"dev", "staging", "prod"}
    assert revision == 1
