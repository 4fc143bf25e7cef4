"""The data plane's per-request cost without the noise of a shared machine: the bench's stack (nginx fake, NATS, a
control plane with the bench's governance config), and a data plane built in this process by `create_app` (real
snapshot over NATS, real aiohttp upstream to the fake, usage events to NATS, the canonical log line to /dev/null),
driven through ASGI calls with no HTTP server in between. Granian's own share is therefore not counted.

Reports the CPU time of this process's thread per request (best of --rounds) and, with --callgrind, the instructions
(valgrind Ir) per request, which do not move with whatever else runs on the machine.

`--revert starlette,structlog,...` (or `--revert all`) undoes hot-path changes of 2026-11-22 in this process
(bench/hotpath_baseline.py), so each change's worth shows as an A/B between two runs.

Usage: python -m bench.hotpath [--requests 3000] [--concurrency 8] [--stream] [--revert NAMES] [--callgrind]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import msgspec
import uvloop
from starlette.types import ASGIApp, Message

from bench.hotpath_baseline import CHANGES, create_reverted_app
from bench.nginx import start_fake_nginx
from bench.stack import start_stack
from dataplane.app import create_app
from dataplane.runtime import Runtime
from dataplane.settings import load_settings
from waypost.processes import Child, free_port

LOAD_CPU = 1
_UNDER_VALGRIND = "WAYPOST_HOTPATH_UNDER_VALGRIND"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _request(app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    status = 0
    delivered = False
    hang: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await hang  # a client that stays connected

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path, headers), receive, send)
    hang.cancel()
    return status


async def _drive(app: ASGIApp, *, body: bytes, key: str, requests: int, concurrency: int) -> None:
    headers = [
        (b"host", b"dataplane"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    per_worker = requests // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            status = await _request(app, "/v1/chat/completions", headers, body)
            if status != 200:
                raise RuntimeError(f"the data plane answered {status}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _callgrind(on: bool) -> None:
    if os.environ.get(_UNDER_VALGRIND):
        subprocess.run(
            ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True, capture_output=True
        )


async def _measure(
    args: argparse.Namespace, env: dict[str, str], key: str, folder: Path, devnull: TextIO
) -> list[float]:
    settings = load_settings({**env, "WAYPOST_CACHE_DIR": str(folder / "cache"), "WAYPOST_INSTANCE_ID": "hotpath"})
    body: dict[str, object] = {"model": "bench", "messages": MESSAGES, "max_tokens": 16}
    if args.stream:
        body = {**body, "model": "bench-stream", "stream": True}
    encoded = msgspec.json.encode(body)
    with contextlib.redirect_stdout(devnull):  # the log lines
        app: Any = create_reverted_app(settings, args.revert) if args.revert else create_app(settings)
        async with app.router.lifespan_context(app):
            runtime: Runtime = app.state.runtime
            deadline = time.monotonic() + 60
            while not runtime.config.ready or runtime.config.stale:
                if time.monotonic() > deadline:
                    raise RuntimeError("the in-process data plane got no snapshot in 60 s")
                await asyncio.sleep(0.05)
            await _drive(app, body=encoded, key=key, requests=500, concurrency=args.concurrency)  # warm up
            rounds: list[float] = []
            for n in range(args.rounds):
                _callgrind(on=n == 0)
                started = time.thread_time()
                await _drive(app, body=encoded, key=key, requests=args.requests, concurrency=args.concurrency)
                rounds.append((time.thread_time() - started) / args.requests * 1e6)
                _callgrind(on=False)
    return rounds


def _run(args: argparse.Namespace) -> list[float]:
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="waypost-hotpath-") as name:
        folder = Path(name)
        try:
            fake_url = start_fake_nginx(folder=folder / "fake", port=free_port(), cpu=LOAD_CPU, children=children)
            stack = start_stack(folder / "waypost", fake_url, cpu=LOAD_CPU, children=children)
            with open(os.devnull, "w") as devnull, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(_measure(args, stack.env, stack.key, folder, devnull))  # uvloop, as Granian
        finally:
            for child in reversed(children):
                child.stop()


def _total_ir(out_file: Path) -> int:
    for line in out_file.read_text().splitlines():
        if line.startswith("totals:"):  # ("summary:" stays 0 when instrumentation is switched on late)
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def _under_valgrind(argv: list[str], requests: int) -> str:
    with tempfile.TemporaryDirectory(prefix="waypost-callgrind-") as name:
        out = Path(name) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-m", "bench.hotpath", *argv, "--rounds", "1"]
        subprocess.run(command, check=True, env={**os.environ, _UNDER_VALGRIND: "1"}, stderr=subprocess.DEVNULL)
        return f"callgrind: {_total_ir(out) / requests:,.0f} instructions (Ir) per request"


def _changes(text: str) -> set[str]:
    names = set(CHANGES) if text == "all" else {name.strip() for name in text.split(",") if name.strip()}
    if unknown := names - set(CHANGES):
        raise argparse.ArgumentTypeError(f"unknown change(s): {', '.join(sorted(unknown))}")
    return names


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measured round")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stream", action="store_true", help="the SSE route instead of the JSON one")
    parser.add_argument("--revert", type=_changes, default=set(), help=f"undo some of: {', '.join(CHANGES)}, all")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind (slow)")
    args = parser.parse_args(argv)
    label = (f"reverted {','.join(sorted(args.revert))}" if args.revert else "current") + (
        " SSE" if args.stream else ""
    )
    if args.callgrind:
        rest: Callable[[str], bool] = lambda a: a != "--callgrind"  # noqa: E731
        print(f"{label}: {_under_valgrind([a for a in argv if rest(a)], args.requests)}")
        return 0
    rounds = _run(args)
    if os.environ.get(_UNDER_VALGRIND):
        return 0
    shown = ", ".join(f"{r:.0f}" for r in rounds)
    print(f"{label}: best {min(rounds):.0f} µs CPU per request (rounds: {shown}); {args.concurrency} in flight")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
