"""The common part of every fake provider: an aiohttp server on 127.0.0.1 running on its own event loop in a
background thread (so a test whose own loop blocks, such as a sync SDK client or `asyncio.run` in a sync test,
cannot starve it), recording every request it receives. Subclasses add their routes in `add_routes`."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

import msgspec
from aiohttp import web

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0
# Lets `stop()` return promptly even if a client left a stream half-read.
_SHUTDOWN_GRACE_S = 0.5


class RecordedRequest(msgspec.Struct, frozen=True):
    """One request as the fake received it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


async def _cancel_other_tasks() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class LoopbackServer:
    name = "fake provider"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()  # guards the subclasses' scripted answers, shared with the test's thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>`."""
        if self._port is None:
            raise RuntimeError(f"the {self.name} is not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"the {self.name} is already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._runner, self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(_START_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(_STOP_TIMEOUT_S)
            # handlers still streaming (a test that stopped reading) are cancelled, not destroyed while pending
            asyncio.run_coroutine_threadsafe(_cancel_other_tasks(), self._loop).result(_STOP_TIMEOUT_S)
        finally:
            self._runner, self._port = None, None
            self._stop_loop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)
        loop.close()

    async def _serve(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE_S)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _host, port = runner.addresses[0][:2]
        return runner, int(port)

    async def _record(self, request: web.Request) -> RecordedRequest:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path_qs,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.read(),
        )
        self.requests.append(recorded)
        return recorded
