"""JetStream bucket names. A prefix keeps deployments (and test runs) sharing one NATS apart."""

from __future__ import annotations

import msgspec

POINTER_KEY = "snapshot"
PROCESSED_REVISION_KEY = "processed_revision"  # the newest config_revision the publisher has looked at
STATUS_TTL_SECONDS = 30.0


class Buckets(msgspec.Struct, frozen=True):
    config: str  # KV: POINTER_KEY -> SnapshotPointer
    snapshots: str  # Object Store: snapshot objects
    status: str  # KV with TTL: instance id -> DataPlaneStatus


def make_buckets(prefix: str) -> Buckets:
    return Buckets(config=f"{prefix}_config", snapshots=f"{prefix}_snapshots", status=f"{prefix}_status")
