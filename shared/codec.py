"""Snapshot encoding: msgpack, zlib, Ed25519. Encoders and decoders are built once."""

from __future__ import annotations

import hashlib
import zlib

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.snapshot import DataPlaneStatus, Snapshot, SnapshotPointer, check_consistency

_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(Snapshot)
_pointer_decoder = msgspec.json.Decoder(SnapshotPointer)
_status_decoder = msgspec.json.Decoder(DataPlaneStatus)
_json_encoder = msgspec.json.Encoder()


class SnapshotRejectedError(ValueError):
    """A snapshot that fails its digest, its signature, decoding or the consistency check."""


def content_digest(snapshot: Snapshot) -> str:
    """Digest of what a snapshot says, ignoring its version and creation time."""
    body = msgspec.structs.replace(snapshot, version=0, created_at=0)
    return hashlib.sha256(_snapshot_encoder.encode(body)).hexdigest()


def encode_snapshot(snapshot: Snapshot) -> bytes:
    # level 1: with 100k keys about 3x faster than level 6 for an object 8 % larger (change → applied, DESIGN.md §3)
    return zlib.compress(_snapshot_encoder.encode(snapshot), 1)


def sign(private_key: Ed25519PrivateKey, data: bytes) -> bytes:
    return private_key.sign(data)


def open_snapshot(data: bytes, *, sha256: str, signature: bytes, public_key: Ed25519PublicKey) -> Snapshot:
    """Verify and decode snapshot object bytes; raise SnapshotRejectedError on any defect."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SnapshotRejectedError("snapshot digest does not match its pointer")
    try:
        public_key.verify(signature, data)
    except InvalidSignature as exc:
        raise SnapshotRejectedError("snapshot signature is invalid") from exc
    try:
        snapshot = _snapshot_decoder.decode(zlib.decompress(data))
    except (zlib.error, msgspec.DecodeError) as exc:
        raise SnapshotRejectedError(f"snapshot does not decode: {exc}") from exc
    try:
        check_consistency(snapshot)
    except ValueError as exc:
        raise SnapshotRejectedError(str(exc)) from exc
    return snapshot


def encode_json(value: msgspec.Struct) -> bytes:
    return _json_encoder.encode(value)


def decode_pointer(data: bytes) -> SnapshotPointer:
    try:
        return _pointer_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SnapshotRejectedError(f"snapshot pointer does not decode: {exc}") from exc


def decode_status(data: bytes) -> DataPlaneStatus:
    return _status_decoder.decode(data)
