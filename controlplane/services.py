"""Background services of the control plane, run in the app's lifespan: the NATS connection (made in the
background so the admin API serves while NATS is down), the snapshot publisher and the usage ingester."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane.ingest.consumer import UsageIngester
from controlplane.settings import ControlPlaneSettings
from controlplane.snapshots.publisher import SnapshotPublisher, take_publisher_lock
from controlplane.spend.publisher import publish_spend_forever
from shared.buckets import make_buckets
from shared.crypto import load_signing_key
from shared.transport import SnapshotStore

log = structlog.get_logger("controlplane.services")

_LOCK_RETRY_SECONDS = 5.0


async def _connect(settings: ControlPlaneSettings) -> tuple[NATS, SnapshotStore]:
    delay = 0.2
    while True:
        try:
            client = await nats.connect(
                settings.nats_url,
                name="waypost-controlplane",
                max_reconnect_attempts=-1,
                connect_timeout=2,
                allow_reconnect=True,
            )
            store = await SnapshotStore.create(client.jetstream(), make_buckets(settings.nats_prefix))
            log.info("nats_connected", url=settings.nats_url)
            return client, store
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            log.warning("nats_connect_failed", url=settings.nats_url, error=repr(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _publish_forever(settings: ControlPlaneSettings, state: Any, store: SnapshotStore) -> None:
    engine: AsyncEngine = state.engine
    publisher = SnapshotPublisher(
        sessionmaker=state.sessionmaker,
        store=store,
        signing_key=load_signing_key(settings.signing_key),
        debounce_seconds=settings.publish_debounce_seconds,
    )
    async with engine.connect() as lock_connection:
        while not await take_publisher_lock(lock_connection):
            await asyncio.sleep(_LOCK_RETRY_SECONDS)
        log.info("publisher_started")
        await publisher.run()


async def _ingest_forever(settings: ControlPlaneSettings, state: Any, client: NATS) -> None:
    """Every control plane ingests usage (the durable consumer shares the messages among them)."""
    ingester = UsageIngester(js=client.jetstream(), prefix=settings.nats_prefix, sessionmaker=state.sessionmaker)
    state.usage_ingester = ingester
    while True:
        try:
            await ingester.run()  # returns only once cancelled
            return
        except Exception as exc:  # a bug must not stop usage ingestion
            log.error("usage_ingester_failed", error=repr(exc))
            await asyncio.sleep(1.0)


async def _run(settings: ControlPlaneSettings, state: Any, tasks: list[asyncio.Task[None]]) -> None:
    """Start the services beside the snapshot publisher as tasks of their own, in `tasks`: not in a TaskGroup,
    which cancels its children only once, and a cancellation nats-py swallows would then never stop them."""
    client, store = await _connect(settings)
    state.nats = client
    state.snapshot_store = store
    spend = publish_spend_forever(
        js=client.jetstream(), prefix=settings.nats_prefix, sessionmaker=state.sessionmaker, clock=time.time
    )
    for name, service in (("usage-ingester", _ingest_forever(settings, state, client)), ("spend-publisher", spend)):
        tasks.append(asyncio.create_task(service, name=name))
        tasks[-1].add_done_callback(_log_unexpected_exit)
    await _publish_forever(settings, state, store)


def _log_unexpected_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background_services_failed", error=repr(task.exception()))


@asynccontextmanager
async def run_background_services(settings: ControlPlaneSettings, state: Any) -> AsyncIterator[None]:
    """Connect to NATS and run the snapshot publisher for as long as the app lives."""
    state.nats = None
    state.snapshot_store = None
    state.usage_ingester = None
    services: list[asyncio.Task[None]] = []
    task = asyncio.create_task(_run(settings, state, services), name="controlplane-background")
    task.add_done_callback(_log_unexpected_exit)
    try:
        yield
    finally:
        # Cancel until all are done: a cancellation that lands inside a nats-py publish can be swallowed.
        while pending := [each for each in (task, *services) if not each.done()]:
            for each in pending:
                each.cancel()
            await asyncio.wait(pending, timeout=1.0)
        if state.nats is not None:
            await state.nats.close()
