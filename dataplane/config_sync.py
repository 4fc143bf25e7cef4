"""Keeping the applied config current (DESIGN.md §3, §11): boot from the disk cache, connect to NATS in the
background, apply every new snapshot the pointer names, and report this instance's status.

The pointer is watched, and also polled whenever the watch has been silent for `WATCHDOG_SECONDS`, because
ordered consumers can stop delivering after missed heartbeats (nats.py #510); a poll that finds a version the
watch never delivered recreates the watch. Versions are compared for equality only."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from collections.abc import Callable, Coroutine
from typing import Any

import nats.errors
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.aio.client import Client as NatsClient
from nats.js.errors import DigestMismatchError, NotFoundError
from nats.js.kv import KeyValue
from structlog.typing import FilteringBoundLogger

from dataplane.config_cache import read_cache, write_cache
from dataplane.config_state import ConfigState, ConfigView, open_config_view
from dataplane.settings import DataPlaneSettings
from shared.buckets import POINTER_KEY, make_buckets
from shared.codec import SnapshotRejectedError, decode_pointer
from shared.crypto import MasterSecret
from shared.snapshot import DataPlaneStatus, SnapshotPointer
from shared.transport import BucketNotFoundError, SnapshotStore

WATCHDOG_SECONDS = 2.0
RETRY_MIN_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0
NATS_CALL_TIMEOUT_SECONDS = 5.0
STOP_SECONDS = 5.0
# Everything a NATS round trip can raise while the server is away or restarting.
TRANSIENT_ERRORS = (nats.errors.Error, asyncio.TimeoutError, OSError)


async def _end_task(task: asyncio.Task[None], *, within: float, cancel: bool) -> bool:
    """Wait (cancelling first, if asked) until `task` has ended or `within` seconds passed; never raises, never hangs.

    nats-py swallows CancelledError in places (Client._flush_pending, which its connect retry loop calls), so one
    cancel() can be lost: it is repeated until the task has really ended."""
    deadline = asyncio.get_running_loop().time() + within
    while not task.done():
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            task.cancel()
            return False
        if cancel:
            task.cancel()
        await asyncio.wait({task}, timeout=min(0.1, remaining))
    if not task.cancelled():
        task.exception()  # retrieved (and already logged by a done callback) so asyncio does not warn
    return True


def _return_free_memory() -> None:
    """Hand the memory the replaced view and the decompressed snapshot occupied back to the OS. glibc otherwise
    keeps it in its arenas: with 100k keys, RSS grew by about 10 MiB with each snapshot applied."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to do
    libc.malloc_trim(0)


def _load_cached_view(cache_dir: str, *, verify_key: Ed25519PublicKey, master: MasterSecret) -> ConfigView | None:
    cached = read_cache(cache_dir)
    if cached is None:
        return None
    data, pointer = cached
    return open_config_view(data, pointer, verify_key=verify_key, master=master)


class ConfigSync:
    """Owns the NATS connection of one data plane. `start()` never blocks on NATS."""

    def __init__(
        self,
        *,
        settings: DataPlaneSettings,
        state: ConfigState,
        master: MasterSecret,
        verify_key: Ed25519PublicKey,
        logger: FilteringBoundLogger,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._state = state
        self._master = master
        self._verify_key = verify_key
        self._log = logger
        self._clock = clock
        self._nc = NatsClient()
        self._tasks: list[asyncio.Task[None]] = []
        self._report_now = asyncio.Event()
        self._rejected: tuple[object, ...] | None = None
        self._connect_started = False
        self._closing = False
        self._watcher: KeyValue.KeyWatcher | None = None
        self._watched_version: int | None = None

    async def load_cache(self) -> None:
        """Serve the last-known-good snapshot, marked stale, until NATS confirms or replaces it."""
        try:
            view = await asyncio.to_thread(
                _load_cached_view, self._settings.cache_dir, verify_key=self._verify_key, master=self._master
            )
        except (SnapshotRejectedError, OSError) as exc:
            self._state.last_error = f"cached snapshot rejected: {exc}"
            self._log.warning("snapshot_cache_rejected", error=str(exc))
            return
        if view is None:
            self._log.info("snapshot_cache_missing", cache_dir=self._settings.cache_dir)
            return
        self._state.apply(view, stale=True)
        self._log.info("snapshot_loaded_from_cache", version=view.version)

    def start(self) -> None:
        self._spawn(self._run(), "waypost-config-connect")

    def connected_client(self) -> NatsClient | None:
        """This data plane's NATS connection while it is up (shared with the usage emitter), else None."""
        return self._nc if self._nc.is_connected and not self._closing else None

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.error("config_sync_failed", error=repr(exc))

    async def stop(self) -> None:
        # Tasks are ended one by one rather than through a TaskGroup: a group re-cancels its children only once,
        # and a child whose cancellation was swallowed (by nats-py, or by 3.11's wait_for race) would hang it.
        for task in self._tasks:
            if not await _end_task(task, within=STOP_SECONDS, cancel=True):
                self._log.warning("config_sync_stop_timed_out", task=task.get_name())
        if self._connect_started:  # nats-py cannot close a client whose connect() never ran
            self._closing = True
            closing = asyncio.create_task(self._nc.close())
            if not await _end_task(closing, within=STOP_SECONDS, cancel=False):
                self._log.warning("nats_close_timed_out")

    def status(self) -> DataPlaneStatus:
        return DataPlaneStatus(
            instance=self._settings.instance_id,
            version=self._state.version,
            stale=self._state.stale,
            last_error=self._state.last_error,
            reported_at=int(self._clock() * 1000),
        )

    async def _run(self) -> None:
        # max_reconnect_attempts=-1 makes connect() wait for the server forever, hence this background task.
        self._connect_started = True
        await self._nc.connect(
            servers=[self._settings.nats_url],
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._state.nats_connected = True
        self._log.info("nats_connected", url=self._settings.nats_url)
        store = await self._open_store()
        self._spawn(self._report_loop(store), "waypost-status-report")
        self._spawn(self._watch_loop(store), "waypost-config-watch")

    async def _open_store(self) -> SnapshotStore:
        delay = RETRY_MIN_SECONDS
        buckets = make_buckets(self._settings.nats_prefix)
        while True:
            try:
                return await SnapshotStore.open(self._nc.jetstream(timeout=NATS_CALL_TIMEOUT_SECONDS), buckets)
            except BucketNotFoundError:
                self._log.debug("snapshot_buckets_missing", prefix=self._settings.nats_prefix)
            except TRANSIENT_ERRORS as exc:
                self._log.debug("snapshot_store_open_failed", error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _watch_loop(self, store: SnapshotStore) -> None:
        # this loop must outlive any failure: it is the only way new snapshots (and revocations) arrive
        while True:
            try:
                await self._watch_once(store)
            except TRANSIENT_ERRORS as exc:
                self._log.debug("snapshot_sync_retrying", error=repr(exc))
                await self._drop_watcher()
                await asyncio.sleep(RETRY_MAX_SECONDS)
            except Exception:
                self._log.exception("snapshot_sync_failed")
                await self._drop_watcher()
                await asyncio.sleep(RETRY_MAX_SECONDS)

    async def _watch_once(self, store: SnapshotStore) -> None:
        if self._watcher is None:
            self._watcher = await store.config.watch(POINTER_KEY)
            self._watched_version = None
        try:
            pointer, from_watch = await self._next_pointer(self._watcher, store)
        except SnapshotRejectedError as exc:
            self._reject(("pointer", str(exc)), version=None, reason=str(exc))
            return
        if from_watch:
            if pointer is not None:
                self._watched_version = pointer.version
        elif pointer is not None and pointer.version != self._watched_version:
            self._log.info("snapshot_watch_recreated", missed_version=pointer.version)
            await self._drop_watcher()
        await self._sync_to(store, pointer)

    async def _next_pointer(
        self, watcher: KeyValue.KeyWatcher, store: SnapshotStore
    ) -> tuple[SnapshotPointer | None, bool]:
        """The next pointer the watch delivers, or a polled one when it stays silent; and whether it was watched."""
        try:
            entry = await watcher.updates(timeout=WATCHDOG_SECONDS)  # type: ignore[no-untyped-call]
        except nats.errors.TimeoutError:
            return await asyncio.wait_for(store.read_pointer(), NATS_CALL_TIMEOUT_SECONDS), False
        if entry is None or not entry.value:
            # the watch's "no pending values" marker, or a deleted pointer: nothing to apply
            return None, True
        return decode_pointer(entry.value), True

    async def _drop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await asyncio.wait_for(watcher.stop(), NATS_CALL_TIMEOUT_SECONDS)  # type: ignore[no-untyped-call]

    async def _sync_to(self, store: SnapshotStore, pointer: SnapshotPointer | None) -> None:
        if pointer is None:
            return
        if pointer.version == self._state.version:
            self._mark_fresh()
            return
        marker = ("snapshot", pointer.version, pointer.sha256)
        if self._rejected == marker:
            return
        try:
            data = await asyncio.wait_for(store.read_object(pointer.object), NATS_CALL_TIMEOUT_SECONDS)
        except DigestMismatchError:
            self._reject(marker, version=pointer.version, reason="snapshot object fails its object-store digest")
            return
        except NotFoundError:
            self._state.last_error = f"snapshot {pointer.version} object {pointer.object} not found"
            self._log.warning("snapshot_fetch_failed", version=pointer.version, object=pointer.object)
            return
        try:
            view = await asyncio.to_thread(
                open_config_view, data, pointer, verify_key=self._verify_key, master=self._master
            )
        except SnapshotRejectedError as exc:
            self._reject(marker, version=pointer.version, reason=str(exc))
            return
        self._state.apply(view, stale=not self._state.nats_connected)
        self._rejected = None
        self._log.info("snapshot_applied", version=view.version)
        self._report_now.set()
        try:
            await asyncio.to_thread(write_cache, self._settings.cache_dir, data, pointer)
        except OSError as exc:
            self._log.warning("snapshot_cache_write_failed", version=view.version, error=str(exc))
        del data, view
        await asyncio.to_thread(_return_free_memory)

    def _mark_fresh(self) -> None:
        if self._state.nats_connected and self._state.stale:
            self._state.stale = False
            self._log.info("snapshot_confirmed", version=self._state.version)
            self._report_now.set()

    def _reject(self, marker: tuple[object, ...], *, version: int | None, reason: str) -> None:
        """Refuse a snapshot (or pointer) and keep the running one; each defect is logged once."""
        if self._rejected == marker:
            return
        self._rejected = marker
        subject = "snapshot pointer" if version is None else f"snapshot {version}"
        self._state.last_error = f"{subject} rejected: {reason}"
        self._log.error("snapshot_rejected", version=version, reason=reason, running_version=self._state.version)
        self._report_now.set()

    async def _report_loop(self, store: SnapshotStore) -> None:
        self._report_now.set()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._report_now.wait(), self._settings.status_interval_seconds)
            self._report_now.clear()
            if not self._state.nats_connected:
                continue
            try:
                await asyncio.wait_for(store.report_status(self.status()), NATS_CALL_TIMEOUT_SECONDS)
            except TRANSIENT_ERRORS as exc:
                self._log.debug("status_report_failed", error=repr(exc))

    async def _on_error(self, exc: Exception) -> None:
        self._log.debug("nats_error", error=repr(exc))

    async def _on_disconnected(self) -> None:
        if self._state.nats_connected and not self._closing:
            self._log.warning("nats_disconnected")
        self._state.nats_connected = False
        self._state.stale = True

    async def _on_reconnected(self) -> None:
        # the watch loop re-reads the pointer within WATCHDOG_SECONDS and clears `stale` once it is confirmed
        self._state.nats_connected = True
        self._log.info("nats_reconnected")
