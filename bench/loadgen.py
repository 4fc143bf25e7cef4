"""A small aiohttp client for what wrk cannot measure, run as its own process pinned to the load core:

- `rate`: an open-loop load at a fixed rate (wrk2 is not in Debian). Each request is due at start + i/rate and its
  latency counts from that due time, so a stalled target is charged for the queue it causes (no coordinated
  omission). Results: achieved rate, p50/p99, errors.
- `ttfb`: SSE streams over a few connections: time to the first body byte (the first event) and to the last byte,
  p50/p99, and streams/s.

The client's own cost (~0.1-0.3 ms a request on this machine) is in every figure, the direct row included, so added
latency (target minus direct) cancels it. Run: python -m bench.loadgen '<Spec as JSON>'
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp
import msgspec
import uvloop


class Spec(msgspec.Struct, frozen=True):
    mode: str  # "rate" or "ttfb"
    url: str
    body: dict[str, object]
    headers: dict[str, str]
    seconds: float
    rate: float = 200.0  # rate mode: requests per second
    connections: int = 4  # ttfb mode: concurrent streams


class Measured(msgspec.Struct, frozen=True):
    requests: int
    errors: int
    per_second: float
    p50_ms: float | None  # None: no request succeeded
    p99_ms: float | None
    ttfb_p50_ms: float | None = None
    ttfb_p99_ms: float | None = None


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` of the sorted values (nearest rank); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _fixed_rate(spec: Spec, session: aiohttp.ClientSession, data: bytes) -> Measured:
    latencies: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        try:
            async with session.post(spec.url, data=data, headers=spec.headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
                    return
        except (aiohttp.ClientError, TimeoutError):
            errors += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)

    total = int(spec.rate * spec.seconds)
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for i in range(total):
        due = start + i / spec.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return Measured(
        requests=total,
        errors=errors,
        per_second=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
    )


async def _ttfb(spec: Spec, session: aiohttp.ClientSession, data: bytes) -> Measured:
    firsts: list[float] = []
    totals: list[float] = []
    errors = 0
    deadline = time.perf_counter() + spec.seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                async with session.post(spec.url, data=data, headers=spec.headers) as response:
                    first = await response.content.readany()
                    first_at = time.perf_counter()
                    while await response.content.readany():
                        pass
                    if response.status != 200 or not first:
                        errors += 1
                        continue
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                continue
            firsts.append((first_at - sent) * 1000)
            totals.append((time.perf_counter() - sent) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec.connections)))
    elapsed = time.perf_counter() - start
    return Measured(
        requests=len(totals) + errors,
        errors=errors,
        per_second=len(totals) / elapsed,
        p50_ms=percentile(totals, 0.50),
        p99_ms=percentile(totals, 0.99),
        ttfb_p50_ms=percentile(firsts, 0.50),
        ttfb_p99_ms=percentile(firsts, 0.99),
    )


async def measure(spec: Spec) -> Measured:
    data = msgspec.json.encode(spec.body)
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # one warm-up request opens a connection and fails fast when the target is down
        async with session.post(spec.url, data=data, headers=spec.headers) as response:
            await response.read()
        if spec.mode == "rate":
            return await _fixed_rate(spec, session, data)
        if spec.mode == "ttfb":
            return await _ttfb(spec, session, data)
        raise ValueError(f"unknown mode {spec.mode!r}")


def run(spec: Spec, *, cpu: int) -> Measured:
    """Run the client in its own process pinned to `cpu`; return what it measured."""
    argv = ["taskset", "-c", str(cpu), sys.executable, "-m", "bench.loadgen", msgspec.json.encode(spec).decode()]
    completed = subprocess.run(argv, capture_output=True, check=False, timeout=spec.seconds * 4 + 60)
    if completed.returncode != 0:
        raise RuntimeError(f"load client failed: {completed.stderr.decode(errors='replace')[-400:]}")
    return msgspec.json.decode(completed.stdout, type=Measured)


def _main() -> None:
    spec = msgspec.json.decode(sys.argv[1].encode(), type=Spec)
    sys.stdout.write(msgspec.json.encode(uvloop.run(measure(spec))).decode())


if __name__ == "__main__":
    _main()
