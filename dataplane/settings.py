"""Data-plane settings, read from WAYPOST_* environment variables once at start-up."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import msgspec


class DataPlaneSettings(msgspec.Struct, frozen=True):
    nats_url: str
    nats_prefix: str
    secret_key: str  # base64, 32 bytes; the same value as the control plane's
    verify_key: str  # base64 Ed25519 public key of the control plane's signing key
    cache_dir: str  # where the last-known-good snapshot is kept
    instance_id: str
    max_body_bytes: int = 4_194_304
    status_interval_seconds: float = 5.0
    log_level: str = "info"
    spool_dir: str | None = None  # usage events NATS could not take; default: <cache_dir>/spool
    usage_spool_max_bytes: int = 268_435_456

    @property
    def usage_spool_dir(self) -> str:
        return os.path.join(self.spool_dir or os.path.join(self.cache_dir, "spool"), "usage")


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required (see README: Configuration)")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> DataPlaneSettings:
    env = os.environ if env is None else env
    try:
        return DataPlaneSettings(
            nats_url=env.get("WAYPOST_NATS_URL", "nats://127.0.0.1:4222"),
            nats_prefix=env.get("WAYPOST_NATS_PREFIX", "waypost"),
            secret_key=_required(env, "WAYPOST_SECRET_KEY"),
            verify_key=_required(env, "WAYPOST_VERIFY_KEY"),
            cache_dir=env.get("WAYPOST_CACHE_DIR", ".waypost/dataplane"),
            instance_id=env.get("WAYPOST_INSTANCE_ID") or f"{socket.gethostname()}-{os.getpid()}",
            max_body_bytes=int(env.get("WAYPOST_MAX_BODY_BYTES", "4194304")),
            status_interval_seconds=float(env.get("WAYPOST_STATUS_INTERVAL_SECONDS", "5")),
            log_level=env.get("WAYPOST_LOG_LEVEL", "info"),
            spool_dir=env.get("WAYPOST_SPOOL_DIR") or None,
            usage_spool_max_bytes=int(env.get("WAYPOST_USAGE_SPOOL_MAX_BYTES", "268435456")),
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
