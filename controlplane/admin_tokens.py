"""Admin API tokens: the configured bootstrap token (WAYPOST_ADMIN_TOKEN) and tokens stored as SHA-256 hex in
`admin_tokens` (the bootstrap token and admin keys, each with a role). A token is never stored, logged or echoed
in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db.models import AdminToken
from controlplane.rbac import SCOPED_ROLES, Principal

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
    session.add(AdminToken(name="bootstrap", role="owner", token_hash=hash_admin_token(token)))
    return token


CONFIGURED_ACTOR = "admin-token:configured"
_ACTOR_NAME_CHARS = 100  # the audit log's actor column holds 200 characters


def actor_of(token: AdminToken) -> str:
    return f"admin-token:{token.name[:_ACTOR_NAME_CHARS]}:{token.id}"


def principal_of_token(token: AdminToken) -> Principal:
    """A stored key's rights: its role, its user, and for team-bound roles its teams (others see every team)."""
    teams = frozenset(token.team_ids) if token.role in SCOPED_ROLES else None
    return Principal(actor=actor_of(token), role=token.role, user_id=token.user_id, team_ids=teams)


async def authenticate_admin_token(
    *, session: AsyncSession, configured: str | None, presented: str
) -> Principal | None:
    """The principal behind a valid token: the configured token (compared in constant time; an owner) or a stored,
    unrevoked one (looked up by its SHA-256, so timing reveals nothing about the token itself). None if invalid."""
    if not presented or len(presented) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_admin_token(presented)
    if configured is not None and hmac.compare_digest(digest, hash_admin_token(configured)):
        return Principal(actor=CONFIGURED_ACTOR, role="owner")
    stored = await session.scalar(select(AdminToken).where(AdminToken.token_hash == digest))
    if stored is None or stored.revoked_at is not None:
        return None
    return principal_of_token(stored)
