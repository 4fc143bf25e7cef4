"""authenticate: turn an Authorization header into the caller's KeySpec, or refuse with one undifferentiated
InvalidApiKeyError. Pure: the current time is an argument. The key never appears in any error or log."""

from __future__ import annotations

import hmac

from dataplane.config_state import ConfigView
from dataplane.errors import InvalidApiKeyError
from shared.apikeys import parse_key
from shared.crypto import MasterSecret
from shared.snapshot import KeySpec

_BEARER = "bearer "
# compared against when the public id is unknown, so that a miss costs the same HMAC as a hit
_UNKNOWN_KEY_HASH = "0" * 64


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None or authorization[: len(_BEARER)].lower() != _BEARER:
        return None
    return authorization[len(_BEARER) :].strip() or None


def authenticate(authorization: str | None, *, view: ConfigView, master: MasterSecret, now: float) -> KeySpec:
    """The key presented as `Bearer wp-<env>-<public_id>-<secret>`, if it is known, matches, and is current."""
    token = bearer_token(authorization)
    parsed = parse_key(token) if token is not None else None
    if parsed is None:
        raise InvalidApiKeyError()
    spec = view.keys_by_public_id.get(parsed.public_id)
    digest = master.hash_key_secret(parsed.secret)
    matches = hmac.compare_digest(digest, spec.secret_hash if spec is not None else _UNKNOWN_KEY_HASH)
    if spec is not None and not matches and spec.previous_secret_hash is not None:
        # a rotated key's replaced secret works until its grace window ends
        in_grace = spec.previous_valid_until is not None and now < spec.previous_valid_until
        matches = in_grace and hmac.compare_digest(digest, spec.previous_secret_hash)
    if spec is None or not matches or spec.environment != parsed.environment:
        raise InvalidApiKeyError()
    if spec.expires_at is not None and spec.expires_at <= now:
        raise InvalidApiKeyError()
    return spec
