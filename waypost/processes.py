"""Child processes in their own process groups, so that stopping one also stops the workers it forked
(Granian runs workers as children: DESIGN.md §11)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx


class ChildFailedError(RuntimeError):
    """A child process exited or did not become ready in time."""


def executable(name: str) -> str:
    """A console script installed beside this interpreter (the venv's bin), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ChildFailedError(f"{name} not found; install waypost with its dependencies")
    return found


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Child:
    def __init__(self, name: str, argv: list[str], *, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - argv is built by us, never from user input
            argv, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        self._log.close()

    def wait_until(self, ready: Callable[[], bool], *, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive():
                raise ChildFailedError(f"{self.name} exited (code {self.process.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ChildFailedError(f"{self.name}: {what} not reached in {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)


def http_ok(url: str, headers: Mapping[str, str] | None = None) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, headers=headers, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def granian_argv(target: str, *, host: str, port: int, workers: int) -> list[str]:
    return [
        executable("granian"),
        "--interface", "asgi",
        "--factory",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--loop", "uvloop" if sys.platform != "win32" else "asyncio",
        "--no-access-log",
        "--log-level", "warning",
        target,
    ]  # fmt: skip


_READY_PATHS = {"controlplane": "/healthz", "dataplane": "/readyz"}


def start_plane(
    plane: str,
    *,
    host: str,
    port: int,
    env: Mapping[str, str],
    log_dir: Path,
    children: list[Child],
    cpu: int | None = None,
    timeout: float = 60,
    name: str | None = None,
) -> str:
    """Start `controlplane` or `dataplane` under Granian (one worker, optionally pinned to `cpu`), add it to
    `children` at once (so the caller stops it even if it never gets ready), wait until ready; return its URL.
    `name` (default: the plane) names the child and its log file."""
    argv = granian_argv(f"{plane}.app:make_app", host=host, port=port, workers=1)
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    name = name or plane
    child = Child(name, argv, env=env, log_path=log_dir / f"{name}.log")
    children.append(child)
    url = f"http://{host}:{port}"
    child.wait_until(http_ok(url + _READY_PATHS[plane]), what=_READY_PATHS[plane], timeout=timeout)
    return url
