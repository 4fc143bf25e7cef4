"""Admin API tokens: the configured bootstrap token (WAYPOST_ADMIN_TOKEN) and tokens stored as SHA-256 hex in
`admin_tokens`. A token is never stored, logged or echoed in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.models import AdminToken

TOKEN_PREFIX = "wpa_"  # noqa: S105 - a prefix, not a secret
MAX_TOKEN_LENGTH = 512


def hash_admin_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_admin_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def bootstrap_admin_token(*, session: AsyncSession, configured: str | None) -> str | None:
    """On first start without a configured token, store the hash of a new random one and return it (the caller
    shows it once). Otherwise None."""
    if configured is not None or await session.scalar(select(exists().where(AdminToken.id.is_not(None)))):
        return None
    token = new_admin_token()
    session.add(AdminToken(name="bootstrap", token_hash=hash_admin_token(token)))
    return token


CONFIGURED_ACTOR = "admin-token:configured"


async def authenticate_admin_token(*, session: AsyncSession, configured: str | None, presented: str) -> str | None:
    """The actor behind a valid token, for the audit log: the configured token (compared in constant time) or a
    stored one (looked up by its SHA-256, so timing reveals nothing about the token itself). None if invalid."""
    if not presented or len(presented) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_admin_token(presented)
    if configured is not None and hmac.compare_digest(digest, hash_admin_token(configured)):
        return CONFIGURED_ACTOR
    stored = await session.scalar(select(AdminToken).where(AdminToken.token_hash == digest))
    return None if stored is None else f"admin-token:{stored.name}:{stored.id}"
