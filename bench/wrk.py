"""Drive wrk (from Debian's packages: a C load generator that is not the bottleneck here) and parse its report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import msgspec

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class WrkResult(msgspec.Struct, frozen=True):
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(report: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", report)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", report)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", report)[1])  # type: ignore[index]
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        match = re.search(pattern, report)
        if match:
            errors += sum(int(g) for g in match.groups())
    total = re.search(r"(\d+) requests in", report)
    requests = int(total[1]) if total else 0
    return WrkResult(requests_per_second=rps, p50_ms=p50, p99_ms=p99, errors=errors, requests=requests)


def run(
    url: str, *, body: dict[str, object], headers: dict[str, str], connections: int, seconds: int, cpu: int
) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk not found: apt-get install wrk (make bench does this)")
    script = "wrk.method = 'POST'\nwrk.body = " + json.dumps(json.dumps(body)) + "\n"
    script += "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())
    with tempfile.TemporaryDirectory() as folder:
        lua = Path(folder) / "post.lua"
        lua.write_text(script)
        argv = [
            "taskset",
            "-c",
            str(cpu),
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",  # a slow peer's answers count as latency, not as socket timeouts, up to 10 s
            "--latency",
            "-s",
            str(lua),
            url,
        ]
        report = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse(report)
