"""Generated admin tokens are strong, distinct, and hashed with SHA-256."""

from __future__ import annotations

import hashlib

from controlplane.admin_tokens import TOKEN_PREFIX, hash_admin_token, new_admin_token


def test_generated_tokens_carry_the_prefix_and_enough_randomness() -> None:
    tokens = {new_admin_token() for _ in range(100)}

    assert len(tokens) == 100
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert len(token) - len(TOKEN_PREFIX) >= 43  # 32 random bytes, URL-safe base64


def test_the_stored_form_is_the_sha256_hex() -> None:
    assert hash_admin_token("wpa_abc") == hashlib.sha256(b"wpa_abc").hexdigest()
