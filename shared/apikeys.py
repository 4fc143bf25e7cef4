"""The API key format `wp-<environment>-<public_id>-<secret>` and its parsing."""

from __future__ import annotations

import re
import secrets

import msgspec

KEY_PREFIX = "wp"
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ENVIRONMENT_NAME_PATTERN = r"^[a-z][a-z0-9]{0,30}$"
_KEY_RE = re.compile(r"^wp-([a-z][a-z0-9]{0,30})-([a-z0-9]{12})-([A-Za-z0-9]{32,64})$")


class ParsedKey(msgspec.Struct, frozen=True):
    environment: str
    public_id: str
    secret: str


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_public_id() -> str:
    return _random(_ALPHABET[:26] + _ALPHABET[52:], 12)


def new_secret() -> str:
    return _random(_ALPHABET, 40)


def format_key(environment: str, public_id: str, secret: str) -> str:
    return f"{KEY_PREFIX}-{environment}-{public_id}-{secret}"


def parse_key(value: str) -> ParsedKey | None:
    match = _KEY_RE.match(value)
    if match is None:
        return None
    return ParsedKey(environment=match[1], public_id=match[2], secret=match[3])
