"""The audit log: one append-only row per admin change, written in the same transaction as the change, with
the resource before and after it (as the API reads it, so write-only secrets are never there) and a second
redaction pass, the same one the logs get (shared.logs), over anything that looks like a secret."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.models import AuditEvent
from shared.logs import redact_value


def snapshot_of(read: msgspec.Struct | None) -> dict[str, Any] | None:
    """A read struct as redacted, JSON-ready data."""
    if read is None:
        return None
    data: dict[str, Any] = redact_value(msgspec.to_builtins(read))
    return data


def record_change(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    resource_type: str,
    resource_id: str,
    before: msgspec.Struct | None,
    after: msgspec.Struct | None,
    request_id: str,
) -> None:
    """Add the audit row to the caller's transaction (the caller commits it with the change itself)."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            before=snapshot_of(before),
            after=snapshot_of(after),
            request_id=request_id,
        )
    )
