"""The on-disk usage spool: order, replay after a restart, the byte bound (oldest dropped and counted), torn
records."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane import usage_spool
from dataplane.usage_spool import MIN_SEGMENT_BYTES, UsageSpool
from shared.logs import make_logger

LOG = make_logger("critical")


def payload(number: int, size: int = 100) -> bytes:
    return f"event-{number:06d}-".encode().ljust(size, b".")


def drain(spool: UsageSpool, *, per_read: int = 7) -> list[bytes]:
    replayed = []
    while (batch := spool.read(per_read)) is not None:
        replayed.extend(batch.payloads)
        spool.commit(batch)
    return replayed


def test_events_are_replayed_in_the_order_they_were_spooled_across_segments(tmp_path: Path) -> None:
    spool = UsageSpool(tmp_path, max_bytes=16 * MIN_SEGMENT_BYTES, logger=LOG)
    events = [payload(n, size=1000) for n in range(300)]  # > 4 segments of 64 KiB
    for start in range(0, 300, 25):
        spool.append(events[start : start + 25])
    assert len(list(spool.directory.glob("usage-*.spool"))) > 1
    assert drain(spool) == events
    assert spool.empty() and spool.pending_bytes == 0
    assert list(spool.directory.glob("usage-*.spool")) == []


def test_a_read_that_is_not_committed_is_read_again(tmp_path: Path) -> None:
    spool = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    spool.append([payload(1), payload(2), payload(3)])
    first = spool.read(2)
    assert first is not None and first.payloads == [payload(1), payload(2)]
    again = spool.read(2)
    assert again is not None and again.payloads == first.payloads  # the publish failed: same events, same order
    spool.commit(again)
    assert drain(spool) == [payload(3)]


def test_a_new_process_replays_what_the_last_one_spooled(tmp_path: Path) -> None:
    before = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    before.append([payload(n) for n in range(10)])
    batch = before.read(4)
    assert batch is not None
    before.commit(batch)  # 0-3 published, then the process died
    before.close()
    after = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    after.append([payload(10)])
    replayed = drain(after)
    # without a record of progress the restarted spool replays the whole old segment: duplicates carry the same
    # Nats-Msg-Id and are dropped by the stream or the ingester
    assert replayed == [payload(n) for n in range(11)]


def test_the_spool_stays_within_its_bound_by_dropping_the_oldest_events_and_counting_them(tmp_path: Path) -> None:
    bound = 4 * MIN_SEGMENT_BYTES
    spool = UsageSpool(tmp_path, max_bytes=bound, logger=LOG)
    events = [payload(n, size=1000) for n in range(1000)]  # ~1 MB into a 256 KiB spool
    for start in range(0, 1000, 10):
        spool.append(events[start : start + 10])
        assert spool.pending_bytes <= bound
    kept = drain(spool)
    assert spool.dropped > 0
    assert len(kept) + spool.dropped == 1000
    assert kept == events[spool.dropped :]  # the newest survive, in order


def test_a_record_cut_short_by_a_crash_ends_its_segment(tmp_path: Path) -> None:
    spool = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    spool.append([payload(1), payload(2)])
    [segment] = spool.directory.glob("usage-*.spool")
    with segment.open("ab") as file:
        file.write(b"\x00\x00\x01\x00partial")  # a 256-byte record of which 7 bytes were written
    spool.close()
    restarted = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    restarted.append([payload(3)])
    assert drain(restarted) == [payload(1), payload(2), payload(3)]
    assert restarted.empty()


def test_replay_reads_a_window_at_a_time_and_loses_no_record_cut_by_a_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_spool, "READ_BYTES", 2500)  # windows end inside records
    spool = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    events = [payload(n, size=700 + n) for n in range(40)] + [payload(99, size=6000)]  # the last is wider than a window
    spool.append(events)
    assert drain(spool, per_read=100) == events


def test_processes_sharing_a_directory_each_claim_their_own_slot_and_a_freed_slot_is_taken_back(
    tmp_path: Path,
) -> None:
    first = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    second = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    assert (first.directory.name, second.directory.name) == ("worker-0", "worker-1")
    first.append([payload(1)])
    second.append([payload(2)])
    first.close()  # that worker ended; its successor takes slot 0 back and replays it
    successor = UsageSpool(tmp_path, max_bytes=1 << 20, logger=LOG)
    assert successor.directory.name == "worker-0"
    assert drain(successor) == [payload(1)]
    assert drain(second) == [payload(2)]
