"""Secrets shared by both planes: the key-hash pepper and the credential-sealing key, both derived
from one master secret, plus loading of the Ed25519 snapshot keys."""

from __future__ import annotations

import base64
import binascii
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_NONCE_BYTES = 12


class SecretConfigError(ValueError):
    """A configured secret that is not valid base64 of the right length."""


def decode_b64_key(value: str, *, name: str, length: int = 32) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretConfigError(f"{name} is not valid base64") from exc
    if len(raw) != length:
        raise SecretConfigError(f"{name} must decode to {length} bytes")
    return raw


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"waypost:" + purpose).derive(master)


class MasterSecret:
    """Derives the per-purpose keys from WAYPOST_SECRET_KEY. Holds no plaintext credentials."""

    def __init__(self, master: bytes) -> None:
        self._pepper = _derive(master, b"key-hash")
        self._aead = AESGCM(_derive(master, b"credential-seal"))

    def hash_key_secret(self, secret: str) -> str:
        return hmac.digest(self._pepper, secret.encode(), "sha256").hex()  # OpenSSL's one-shot: per request

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def unseal(self, sealed: bytes, *, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise SecretConfigError(f"sealed value for {context} does not open with this secret key") from exc


def load_signing_key(value: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(decode_b64_key(value, name="WAYPOST_SIGNING_KEY"))


def load_verify_key(value: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(decode_b64_key(value, name="WAYPOST_VERIFY_KEY"))


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def new_b64_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
