"""The bounded on-disk spool of usage events that could not be published (DESIGN.md §6).

Events are appended, in the order they were emitted, to segment files `usage-<n>.spool` in one directory; each
record is a 4-byte big-endian length and the encoded event (the same bytes as the NATS payload). Replay reads the
oldest records first and deletes a segment once every record in it was published. The spool survives a restart:
a new process replays what the last one left. It is bounded by bytes: when an append would pass the bound, whole
segments are dropped, oldest first (each segment is at most a sixteenth of the bound), and the number of events
lost is counted in `dropped` and logged. A record cut short by a crash mid-write ends its segment.

Several worker processes (Granian's) share one configured directory: each claims a slot `worker-<n>/`, the
lowest one no live process holds (an exclusive `flock` on `worker-<n>/.lock`, released when the process ends or
calls `close`), so a restarted set of workers takes the same slots back and replays them. The bound applies per
slot. A slot left behind when the worker count shrinks waits for a process to claim it.

Blocking file I/O: call it off the event loop (the emitter uses `asyncio.to_thread`). One lock serialises calls."""

from __future__ import annotations

import fcntl
import itertools
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from structlog.typing import FilteringBoundLogger

_HEADER = struct.Struct(">I")
_PREFIX, _SUFFIX = "usage-", ".spool"
MIN_SEGMENT_BYTES = 64 * 1024
MAX_SEGMENT_BYTES = 8 * 1024 * 1024
READ_BYTES = 1024 * 1024  # per replay batch read


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records read from one segment, from `start` up to `end` (byte offsets), in order."""

    segment: int
    start: int
    end: int
    payloads: list[bytes]


def _frames(data: bytes, start: int = 0) -> tuple[list[bytes], int]:
    """The whole records in `data` from offset `start`, and the offset after the last whole one."""
    payloads, offset = [], start
    while offset + _HEADER.size <= len(data):
        (size,) = _HEADER.unpack_from(data, offset)
        if offset + _HEADER.size + size > len(data):
            break
        payloads.append(data[offset + _HEADER.size : offset + _HEADER.size + size])
        offset += _HEADER.size + size
    return payloads, offset


def _claim_slot(base: Path) -> tuple[Path, int]:
    """The lowest `worker-<n>` directory under `base` no other process holds, and the locked file descriptor."""
    for slot in itertools.count():
        directory = base / f"worker-{slot}"
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        return directory, descriptor
    raise AssertionError("unreachable")


class UsageSpool:
    def __init__(self, directory: str | Path, *, max_bytes: int, logger: FilteringBoundLogger) -> None:
        self._dir, self._lock_fd = _claim_slot(Path(directory))
        self._max_bytes = max_bytes
        self._segment_bytes = min(MAX_SEGMENT_BYTES, max(MIN_SEGMENT_BYTES, max_bytes // 16))
        self._log = logger
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}
        for path in self._dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            number = path.name.removeprefix(_PREFIX).removesuffix(_SUFFIX)
            if number.isdigit():
                self._sizes[int(number)] = path.stat().st_size
        self._active: int | None = None  # the segment appends go to; a fresh one after a restart
        self._next = max(self._sizes, default=0) + 1
        self._replayed_to = 0  # byte offset of the oldest segment already published
        self.dropped = 0  # events lost to the bound since start

    @property
    def directory(self) -> Path:
        """This process's slot."""
        return self._dir

    def close(self) -> None:
        """Give the slot back (the process's end does it too)."""
        with self._lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def empty(self) -> bool:
        with self._lock:
            return not self._sizes

    def _path(self, segment: int) -> Path:
        return self._dir / f"{_PREFIX}{segment:012d}{_SUFFIX}"

    def append(self, payloads: list[bytes]) -> None:
        """Add events at the end, dropping the oldest ones if the bound requires it."""
        frames = [_HEADER.pack(len(payload)) + payload for payload in payloads]
        with self._lock:
            incoming = sum(len(frame) for frame in frames)
            while self._sizes and sum(self._sizes.values()) + incoming > self._max_bytes:
                self._drop_oldest()
            while frames and incoming > self._max_bytes:  # one batch bigger than the whole spool
                incoming -= len(frames.pop(0))
                self._count_dropped(1)
            if not frames:
                return
            if self._active is None or self._sizes.get(self._active, 0) >= self._segment_bytes:
                self._active, self._next = self._next, self._next + 1
            data = b"".join(frames)
            with open(self._path(self._active), "ab") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            self._sizes[self._active] = self._sizes.get(self._active, 0) + len(data)

    def read(self, max_events: int) -> SpoolBatch | None:
        """Up to `max_events` of the oldest records not yet replayed, or None when the spool is empty."""
        with self._lock:
            while self._sizes:
                segment = min(self._sizes)
                try:
                    data = self._read_from(segment, self._replayed_to)
                except OSError as exc:
                    self._log.error("usage_spool_segment_unreadable", segment=segment, error=str(exc))
                    self._remove(segment)
                    continue
                payloads, end = _frames(data)
                payloads = payloads[:max_events]
                if payloads:
                    end = sum(_HEADER.size + len(p) for p in payloads)
                    start = self._replayed_to
                    return SpoolBatch(segment=segment, start=start, end=start + end, payloads=payloads)
                if segment == self._active:
                    return None  # everything written so far is replayed; appends continue here
                if end < len(data):
                    self._log.warning("usage_spool_torn_record", segment=segment, bytes=len(data) - end)
                self._remove(segment)
            return None

    def _read_from(self, segment: int, offset: int) -> bytes:
        """A window of the segment from `offset`: enough for a batch without reading megabytes per batch."""
        with open(self._path(segment), "rb") as file:
            file.seek(offset)
            data = file.read(READ_BYTES)
            (size,) = _HEADER.unpack_from(data) if len(data) >= _HEADER.size else (0,)
            if _HEADER.size + size > len(data):  # one record larger than the window: read it whole
                data += file.read(_HEADER.size + size - len(data))
            return data

    def commit(self, batch: SpoolBatch) -> None:
        """Mark `batch` as published: it will not be read again; a segment read to its end is deleted."""
        with self._lock:
            if batch.segment not in self._sizes or batch.start != self._replayed_to:
                return  # dropped meanwhile by the bound
            self._replayed_to = batch.end
            if batch.end >= self._sizes[batch.segment]:
                if batch.segment == self._active:
                    self._active = None
                self._remove(batch.segment)

    def _remove(self, segment: int) -> None:
        self._path(segment).unlink(missing_ok=True)
        del self._sizes[segment]
        self._replayed_to = 0

    def _drop_oldest(self) -> None:
        segment = min(self._sizes)
        try:
            data = self._path(segment).read_bytes()
        except OSError:
            data = b""
        lost = len(_frames(data, self._replayed_to)[0])
        if segment == self._active:
            self._active = None
        self._remove(segment)
        self._count_dropped(lost)

    def _count_dropped(self, lost: int) -> None:
        self.dropped += lost
        self._log.error("usage_spool_full_events_dropped", dropped=lost, dropped_total=self.dropped)
