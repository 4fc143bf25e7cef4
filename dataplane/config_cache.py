"""The last-known-good snapshot on local disk: the object bytes and the pointer JSON, each written atomically
(temporary file, fsync, rename). Blocking file I/O: call these off the event loop."""

from __future__ import annotations

import os
from pathlib import Path

from shared.codec import decode_pointer, encode_json
from shared.snapshot import SnapshotPointer

POINTER_FILE = "pointer.json"


def _object_file(version: int) -> str:
    return f"snapshot-{version}.bin"


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_cache(cache_dir: str, data: bytes, pointer: SnapshotPointer) -> None:
    """Store an applied snapshot. The object goes first, so a crash never leaves a pointer without its object."""
    directory = Path(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    current = _object_file(pointer.version)
    _write_atomically(directory / current, data)
    _write_atomically(directory / POINTER_FILE, encode_json(pointer))
    for old in directory.glob("snapshot-*.bin"):
        if old.name != current:
            old.unlink(missing_ok=True)


def read_cache(cache_dir: str) -> tuple[bytes, SnapshotPointer] | None:
    """The cached object bytes and pointer, unverified; None when there is no cache. The caller verifies."""
    directory = Path(cache_dir)
    try:
        pointer = decode_pointer((directory / POINTER_FILE).read_bytes())
        data = (directory / _object_file(pointer.version)).read_bytes()
    except FileNotFoundError:
        return None
    return data, pointer
