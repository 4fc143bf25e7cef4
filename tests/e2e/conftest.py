"""One gateway (control plane + data plane processes on PostgreSQL and NATS) per e2e module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TestSecrets
from tests.e2e.gateway import Gateway, plane_env, run_gateway
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.services import create_database, delete_streams, drop_database, unique_name


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIProvider]:
    with FakeOpenAIProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def dataplane_count() -> int:
    """How many data-plane replicas a module's gateway runs; a module overrides this fixture for more."""
    return 1


@pytest.fixture(scope="module")
def publish_debounce_ms() -> int:
    """Short in tests, so changes reach the data planes quickly; a module may override it."""
    return 50


@pytest.fixture(scope="module")
def gateway(
    postgres_server: str,
    nats_url: str,
    test_secrets: TestSecrets,
    tmp_path_factory: pytest.TempPathFactory,
    dataplane_count: int,
    publish_debounce_ms: int,
) -> Iterator[Gateway]:
    database = unique_name("waypost_e2e")
    prefix = unique_name("wpe2e")
    asyncio.run(create_database(postgres_server, database))
    workdir: Path = tmp_path_factory.mktemp("gateway")
    env = plane_env(
        database_url=make_url(postgres_server).set(database=database).render_as_string(hide_password=False),
        nats_url=nats_url,
        prefix=prefix,
        secrets=test_secrets,
        cache_dir=workdir / "cache",
        publish_debounce_ms=publish_debounce_ms,
    )
    try:
        with run_gateway(env, workdir / "logs", dataplanes=dataplane_count) as running:
            yield running
    finally:
        asyncio.run(delete_streams(nats_url, prefix))
        asyncio.run(drop_database(postgres_server, database))
