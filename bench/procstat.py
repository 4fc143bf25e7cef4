"""CPU time and RSS of a target's whole process group, from /proc (every target runs in its own session, so its
process group holds its master and all its workers)."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class GroupSample(msgspec.Struct, frozen=True):
    cpu_seconds: float  # utime + stime of every live process of the group
    rss_bytes_max: int  # RSS of the group's largest process: the worker, for one-worker targets
    processes: int


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = (_PROC / pid / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing parenthesis
    return text[text.rindex(")") + 2 :].split()


def _rss_bytes(pid: str) -> int:
    try:
        return int((_PROC / pid / "statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def sample(pgid: int) -> GroupSample:
    cpu_ticks, rss_max, count = 0, 0, 0
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        # after the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
        if fields is None or int(fields[2]) != pgid:
            continue
        cpu_ticks += int(fields[11]) + int(fields[12])
        rss_max = max(rss_max, _rss_bytes(entry.name))
        count += 1
    return GroupSample(cpu_seconds=cpu_ticks / _TICKS, rss_bytes_max=rss_max, processes=count)
