"""Shared fixtures: secrets, a migrated PostgreSQL database per run, SQLite per test, NATS, run-unique names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy.engine import make_url

from controlplane.db import migrate
from shared.crypto import load_signing_key, new_b64_key, public_key_b64
from tests.fakes.openai_provider import fake_openai  # noqa: F401 - a fixture for every test module
from tests.services import (
    OwnNats,
    create_database,
    delete_streams,
    drop_database,
    nats_server_url,
    postgres_server_url,
    unique_name,
)

pytest_plugins = ["tests.conformance_plugin"]


class TestSecrets(msgspec.Struct, frozen=True):
    """The three secrets a deployment needs, generated once per test run."""

    __test__ = False  # not a test class, despite its name
    secret_key: str
    signing_key: str
    verify_key: str


@pytest.fixture(scope="session")
def test_secrets() -> TestSecrets:
    signing_key = new_b64_key()
    return TestSecrets(
        secret_key=new_b64_key(),
        signing_key=signing_key,
        verify_key=public_key_b64(load_signing_key(signing_key)),
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres_server_url() as url:
        yield url


@pytest.fixture
def empty_pg_url(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    name = unique_name("waypost_test")
    asyncio.run(create_database(postgres_server, name))
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(drop_database(postgres_server, name))


@pytest.fixture
async def pg_url(empty_pg_url: str) -> AsyncIterator[str]:
    """A migrated PostgreSQL database for this test."""
    await migrate.upgrade(empty_pg_url)
    yield empty_pg_url


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'waypost.db'}"


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    with nats_server_url() as url:
        yield url


@pytest.fixture
async def nats_prefix(nats_url: str) -> AsyncIterator[str]:
    """Bucket prefix unique to this test, so runs sharing one NATS never collide; its buckets are deleted after."""
    prefix = unique_name("wpt")
    yield prefix
    await delete_streams(nats_url, prefix)


@pytest.fixture
def own_nats() -> Iterator[OwnNats]:
    server = OwnNats()
    server.start()
    yield server
    server.cleanup()
