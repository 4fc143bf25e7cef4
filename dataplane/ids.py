"""Request ids: UUIDv7 (RFC 9562), hand-rolled because Python 3.11's uuid module lacks uuid7."""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_A_MASK = (1 << 12) - 1
_RAND_B_MASK = (1 << 62) - 1


def uuid7_from(unix_ms: int, random_bytes: bytes) -> uuid.UUID:
    """Build a UUIDv7 from a millisecond timestamp and 10 random bytes (pure, for tests)."""
    if len(random_bytes) != 10:
        raise ValueError("uuid7 needs exactly 10 random bytes")
    rand = int.from_bytes(random_bytes, "big")
    rand_a = (rand >> 62) & _RAND_A_MASK
    rand_b = rand & _RAND_B_MASK
    value = ((unix_ms & ((1 << 48) - 1)) << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b
    return uuid.UUID(int=value)


def make_request_id() -> str:
    """`str(uuid7_from(now, random))`, formatted without building a `uuid.UUID` (once per request)."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        ((time.time_ns() // 1_000_000) & ((1 << 48) - 1)) << 80
        | _VERSION_7
        | ((rand >> 62) & _RAND_A_MASK) << 64
        | _VARIANT_RFC
        | (rand & _RAND_B_MASK)
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
