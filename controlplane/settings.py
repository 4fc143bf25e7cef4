"""Control-plane settings, read from WAYPOST_* environment variables once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.waypost/waypost.db"


def database_url(env: Mapping[str, str] | None = None) -> str:
    """The database URL alone, for `waypost migrate`, which needs no secrets."""
    env = os.environ if env is None else env
    return env.get("WAYPOST_DATABASE_URL", DEFAULT_DATABASE_URL)


class ControlPlaneSettings(msgspec.Struct, frozen=True):
    database_url: str
    nats_url: str
    nats_prefix: str
    secret_key: str  # base64, 32 bytes: derives the key-hash pepper and the credential-sealing key
    signing_key: str  # base64 Ed25519 private key (32 bytes) that signs snapshots
    admin_token: str | None  # bootstrap admin token; generated and printed once when unset
    publish_debounce_seconds: float = 0.25
    max_body_bytes: int = 1_048_576
    log_level: str = "info"


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required (see README: Configuration)")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> ControlPlaneSettings:
    env = os.environ if env is None else env
    try:
        return ControlPlaneSettings(
            database_url=database_url(env),
            nats_url=env.get("WAYPOST_NATS_URL", "nats://127.0.0.1:4222"),
            nats_prefix=env.get("WAYPOST_NATS_PREFIX", "waypost"),
            secret_key=_required(env, "WAYPOST_SECRET_KEY"),
            signing_key=_required(env, "WAYPOST_SIGNING_KEY"),
            admin_token=env.get("WAYPOST_ADMIN_TOKEN") or None,
            publish_debounce_seconds=float(env.get("WAYPOST_PUBLISH_DEBOUNCE_MS", "250")) / 1000,
            max_body_bytes=int(env.get("WAYPOST_ADMIN_MAX_BODY_BYTES", "1048576")),
            log_level=env.get("WAYPOST_LOG_LEVEL", "info"),
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
