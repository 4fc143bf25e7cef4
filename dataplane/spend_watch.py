"""Feeding the budget gate from NATS: the control plane's spend per budget (KV bucket `spend_bucket(prefix)`,
watched) and the number of data-plane replicas (keys of the status bucket, whose entries expire 30 s after a
replica's last report), over the data plane's one NATS connection (ConfigSync.connected_client).

The watch is recreated when it stays silent for `WATCHDOG_SECONDS` (the publisher puts every budget each second;
ordered consumers can stall, nats.py #510). If nothing arrives at all, the spend ages and each budget's `on_stale`
policy takes over after 60 s (dataplane.budgets)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError, NoKeysError
from nats.js.kv import KeyValue
from structlog.typing import FilteringBoundLogger

from dataplane.budgets import BudgetGate
from shared.buckets import make_buckets
from shared.usage import decode_spend, spend_bucket

WATCHDOG_SECONDS = 5.0
REPLICAS_EVERY_SECONDS = 5.0
RETRY_SECONDS = 1.0
NATS_CALL_TIMEOUT_SECONDS = 5.0
STOP_SECONDS = 5.0
_TRANSIENT = (nats.errors.Error, asyncio.TimeoutError, OSError, BucketNotFoundError)
_DELETED = ("DEL", "PURGE")


class SpendWatch:
    def __init__(
        self,
        *,
        gate: BudgetGate,
        prefix: str,
        instance: str,
        connection: Callable[[], NatsClient | None],
        logger: FilteringBoundLogger,
    ) -> None:
        self._gate = gate
        self._prefix = prefix
        self._instance = instance
        self._connection = connection
        self._log = logger
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._forever(self._watch_spend), name="waypost-spend-watch"),
            asyncio.create_task(self._forever(self._count_replicas), name="waypost-replica-count"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_SECONDS)

    async def _forever(self, work: Callable[[NatsClient], Awaitable[None]]) -> None:
        while True:
            client = self._connection()
            if client is not None:
                try:
                    await work(client)
                except _TRANSIENT as exc:
                    self._log.debug("spend_watch_retrying", error=repr(exc))
                except Exception:
                    self._log.exception("spend_watch_failed")
            await asyncio.sleep(RETRY_SECONDS)

    async def _watch_spend(self, client: NatsClient) -> None:
        # the replica count first: spend that arrives before it would let this replica take every replica's share
        await self._count_once(client)
        kv = await asyncio.wait_for(client.jetstream().key_value(spend_bucket(self._prefix)), NATS_CALL_TIMEOUT_SECONDS)
        watcher = await kv.watchall()
        try:
            while True:
                try:
                    entry = await watcher.updates(timeout=WATCHDOG_SECONDS)  # type: ignore[no-untyped-call]
                except nats.errors.TimeoutError:
                    return  # silent for too long: recreate the watch
                if entry is not None:
                    self._apply(entry)
        finally:
            with contextlib.suppress(*_TRANSIENT):
                await asyncio.wait_for(watcher.stop(), NATS_CALL_TIMEOUT_SECONDS)  # type: ignore[no-untyped-call]

    def _apply(self, entry: KeyValue.Entry) -> None:
        if entry.operation in _DELETED or not entry.value:
            self._gate.on_spend_deleted(entry.key)
            return
        try:
            self._gate.on_spend(decode_spend(entry.value))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._log.warning("spend_value_rejected", budget_id=entry.key, error=str(exc))

    async def _count_replicas(self, client: NatsClient) -> None:
        while True:
            await self._count_once(client)
            await asyncio.sleep(REPLICAS_EVERY_SECONDS)

    async def _count_once(self, client: NatsClient) -> None:
        """Replicas known = instances with a live status entry, this one included even before its first report."""
        js = client.jetstream()
        try:
            status = await asyncio.wait_for(js.key_value(make_buckets(self._prefix).status), NATS_CALL_TIMEOUT_SECONDS)
            keys = await asyncio.wait_for(status.keys(), NATS_CALL_TIMEOUT_SECONDS)
        except (NoKeysError, BucketNotFoundError):  # nobody has reported (yet)
            keys = []
        self._gate.replicas = len({*keys, self._instance})
