"""Snapshot transport over JetStream: the object store holds snapshot objects, a KV pointer names the newest
one, and a KV bucket with a TTL holds each data plane's status. Both planes use these functions."""

from __future__ import annotations

import contextlib
import io

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from shared.buckets import POINTER_KEY, PROCESSED_REVISION_KEY, STATUS_TTL_SECONDS, Buckets
from shared.codec import decode_pointer, decode_status, encode_json
from shared.snapshot import DataPlaneStatus, SnapshotPointer

SNAPSHOT_HISTORY = 5  # pointer revisions kept; older snapshot objects are deleted by the publisher


class SnapshotStore:
    """Handles to the three buckets. Created by the control plane; data planes only open them."""

    def __init__(self, config: KeyValue, snapshots: ObjectStore, status: KeyValue) -> None:
        self.config = config
        self.snapshots = snapshots
        self.status = status

    @classmethod
    async def create(cls, js: JetStreamContext, buckets: Buckets) -> SnapshotStore:
        config = await js.create_key_value(
            KeyValueConfig(bucket=buckets.config, history=SNAPSHOT_HISTORY, storage=StorageType.FILE)
        )
        snapshots = await js.create_object_store(buckets.snapshots, ObjectStoreConfig(storage=StorageType.FILE))
        status = await js.create_key_value(
            KeyValueConfig(bucket=buckets.status, ttl=STATUS_TTL_SECONDS, storage=StorageType.FILE)
        )
        return cls(config, snapshots, status)

    @classmethod
    async def open(cls, js: JetStreamContext, buckets: Buckets) -> SnapshotStore:
        """Open existing buckets; raises BucketNotFoundError until the control plane has created them."""
        return cls(
            await js.key_value(buckets.config),
            await js.object_store(buckets.snapshots),
            await js.key_value(buckets.status),
        )

    async def put_snapshot(self, data: bytes, pointer: SnapshotPointer) -> None:
        await self.snapshots.put(pointer.object, data)
        await self.config.put(POINTER_KEY, encode_json(pointer))

    async def read_pointer(self) -> SnapshotPointer | None:
        try:
            entry = await self.config.get(POINTER_KEY)
        except KeyNotFoundError:
            return None
        return decode_pointer(entry.value) if entry.value else None

    async def mark_processed(self, revision: int) -> None:
        """Record that every config change up to `revision` is published (or changed nothing data planes see)."""
        await self.config.put(PROCESSED_REVISION_KEY, str(revision).encode())

    async def read_processed(self) -> int | None:
        try:
            entry = await self.config.get(PROCESSED_REVISION_KEY)
        except KeyNotFoundError:
            return None
        return int(entry.value) if entry.value else None

    async def read_object(self, name: str) -> bytes:
        # writeinto= avoids nats-py's quadratic `bytes +=` accumulation (DESIGN.md §11)
        buffer = io.BytesIO()
        await self.snapshots.get(name, writeinto=buffer)
        return buffer.getvalue()

    async def delete_object(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.snapshots.delete(name)

    async def report_status(self, status: DataPlaneStatus) -> None:
        await self.status.put(status.instance, encode_json(status))

    async def read_statuses(self) -> list[DataPlaneStatus]:
        try:
            keys = await self.status.keys()
        except NoKeysError:
            return []
        statuses = []
        for key in keys:
            try:
                entry = await self.status.get(key)
            except KeyNotFoundError:
                continue
            if entry.value:
                statuses.append(decode_status(entry.value))
        return statuses


__all__ = ["BucketNotFoundError", "SnapshotStore"]
