"""`waypost up --demo` (what `make run` starts): SQLite, an embedded nats-server from the wheel, both planes as
child processes; the printed key works with the openai SDK; Ctrl-C leaves no process behind; a restart keeps data."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.services import free_port, port_open

KEY_RE = re.compile(r"Demo key \(environment dev, shown once\): (wp-dev-\S+)")


class Up:
    def __init__(self, data_dir: Path) -> None:
        self.ports = {"port": free_port(), "admin-port": free_port(), "nats-port": free_port()}
        argv = [sys.executable, "-m", "waypost.cli", "up", "--demo", "--data-dir", str(data_dir)]
        for flag, port in self.ports.items():
            argv += [f"--{flag}", str(port)]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self.output: list[str] = []

    def wait_ready(self, timeout: float = 90) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "Press Ctrl-C to stop." in line:
                match = KEY_RE.search("".join(self.output))
                assert match, "".join(self.output)
                return match[1]
        raise AssertionError("waypost up did not become ready:\n" + "".join(self.output))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "waypost-data"


def _chat(port: int, key: str) -> str:
    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0) as client:
        reply = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "Hello, Waypost!"}])
    return reply.choices[0].message.content or ""


def test_up_serves_the_demo_and_stops_cleanly_and_keeps_data(data_dir: Path) -> None:
    first = Up(data_dir)
    try:
        key = first.wait_ready()
        banner = "".join(first.output)
        assert f"http://127.0.0.1:{first.ports['port']}/v1" in banner
        assert "Admin token:" in banner and "curl" in banner and "from openai import OpenAI" in banner
        assert "Hello, Waypost!" in _chat(first.ports["port"], key)
        assert first.interrupt() == 0
    finally:
        first.kill()
    assert not any(port_open("127.0.0.1", port) for port in first.ports.values()), "a child outlived waypost up"
    assert (data_dir / "waypost.db").exists() and (data_dir / "nats").is_dir()

    second = Up(data_dir)
    try:
        second.wait_ready()
        assert "Hello, Waypost!" in _chat(second.ports["port"], key)  # the first run's key survives a restart
        assert second.interrupt() == 0
    finally:
        second.kill()
