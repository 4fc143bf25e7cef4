"""The snapshot publisher: wakes when config_revision moves, debounces, and publishes a signed snapshot to
JetStream only when the content changed. On PostgreSQL, one control plane at a time publishes (advisory lock)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from controlplane.snapshots.build import build_snapshot, read_revision
from shared.codec import content_digest, encode_snapshot, sign
from shared.snapshot import SnapshotInvalidError, SnapshotPointer
from shared.transport import SNAPSHOT_HISTORY, SnapshotStore

log = structlog.get_logger("controlplane.publisher")

POLL_SECONDS = 0.05  # how often the publisher reads config_revision (one indexed single-row SELECT)
PUBLISHER_LOCK_ID = 0x5741_5950  # "WAYP": the PostgreSQL advisory lock held by the publishing control plane


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SnapshotPublisher:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: SnapshotStore,
        signing_key: Ed25519PrivateKey,
        debounce_seconds: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._store = store
        self._signing_key = signing_key
        self._debounce = debounce_seconds
        self._clock = clock
        self._published_content: str | None = None

    async def publish_if_changed(self) -> SnapshotPointer | None:
        """Build a snapshot; publish it if its content differs from the newest published one."""
        if self._published_content is None:
            current = await self._store.read_pointer()
            self._published_content = current.content_sha256 if current else ""
        async with self._sessionmaker() as session:
            snapshot = await build_snapshot(session, now=self._clock())
        digest = content_digest(snapshot)
        if digest == self._published_content:
            await self._store.mark_processed(snapshot.version)
            return None
        data = encode_snapshot(snapshot)
        pointer = SnapshotPointer(
            version=snapshot.version,
            object=f"snapshot-{snapshot.version}",
            sha256=hashlib.sha256(data).hexdigest(),
            signature=sign(self._signing_key, data),
            content_sha256=digest,
            published_at=int(self._clock().timestamp() * 1000),
        )
        await self._store.put_snapshot(data, pointer)
        await self._store.mark_processed(snapshot.version)
        self._published_content = digest
        log.info(
            "snapshot_published",
            version=pointer.version,
            bytes=len(data),
            keys=len(snapshot.keys),
            routes=len(snapshot.routes),
        )
        await self._prune(keep=pointer.object)
        return pointer

    async def _prune(self, *, keep: str) -> None:
        infos = await self._store.snapshots.list(ignore_deletes=True)
        names = sorted(
            (i.name for i in infos if i.name and i.name.startswith("snapshot-") and i.name[9:].isdigit()),
            key=lambda name: int(name[9:]),
        )
        for name in names[:-SNAPSHOT_HISTORY]:
            if name != keep:
                await self._store.delete_object(name)

    async def run(self) -> None:
        """Publish on every revision change until cancelled: at once when the last publish is older than the
        debounce window, else at the window's end, so a burst of admin changes becomes one snapshot per window
        while a lone change goes out within one poll interval.

        The loop also checks `cancelling()` because nats-py swallows a CancelledError that lands inside a
        publish (`Client._flush_pending`), which would otherwise leave this task running after shutdown.
        """
        task = asyncio.current_task()
        seen_revision: int | None = None
        last_publish = float("-inf")
        while task is None or not task.cancelling():
            revision: int | None = None
            try:
                async with self._sessionmaker() as session:
                    revision = await read_revision(session)
                if revision != seen_revision:
                    await asyncio.sleep(max(0.0, last_publish + self._debounce - time.monotonic()))
                    last_publish = time.monotonic()
                    await self.publish_if_changed()
                    seen_revision = revision
            except SnapshotInvalidError as exc:
                log.error("snapshot_invalid", error=str(exc))
                seen_revision = revision
            except Exception as exc:  # keep publishing after transient NATS or database failures
                log.warning("snapshot_publish_failed", error=repr(exc))
                await asyncio.sleep(1.0)
            await asyncio.sleep(min(POLL_SECONDS, self._debounce))


async def take_publisher_lock(connection: AsyncConnection) -> bool:
    """Try to take the session-level publisher lock on this connection (PostgreSQL); other backends always win.

    The lock lives as long as the connection, so the caller keeps the connection open while publishing.
    """
    if connection.dialect.name != "postgresql":
        return True
    result = await connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": PUBLISHER_LOCK_ID})
    await connection.commit()
    return bool(result.scalar_one())
