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


def _import_every_model_module() -> None:
    """Models live in several modules of controlplane.db; all of them must be in Base.metadata to compare."""
    import importlib
    import pkgutil

    import controlplane.db

    for module in pkgutil.iter_modules(controlplane.db.__path__):
        importlib.import_module(f"controlplane.db.{module.name}")


async def test_the_migrated_schema_matches_the_models(empty_pg_url: str) -> None:
    """Alembic's autogenerate finds nothing to add, drop or change between the migrations and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    _import_every_model_module()
    await migrate.upgrade(empty_pg_url)
    engine = make_engine(empty_pg_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
