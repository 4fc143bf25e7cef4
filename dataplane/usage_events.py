"""Usage events (DESIGN.md §6): one `UsageEvent` per request, built from the finished `RequestRecord` and handed to
the `UsageEmitter`, which never blocks the request.

`emit` appends to an in-memory queue. One background task drains it in batches: while the data plane's NATS
connection is up it publishes each batch pipelined (`publish_async`, one PubAck per event, `Nats-Msg-Id` = request
id) to `usage_subject(prefix)`; an event whose publish fails or is not acknowledged in time, and every event while
NATS is down, is appended to the on-disk spool (`dataplane.usage_spool`). Once NATS is up again the spool is
replayed oldest first, with the same ids. On shutdown the queue goes to NATS, or to the spool."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError
from structlog.typing import FilteringBoundLogger

from dataplane.observability import RequestRecord
from dataplane.usage_spool import UsageSpool
from shared.usage import (
    TokenUsage,
    UsageEvent,
    decode_usage_event,
    encode_usage_event,
    usage_stream,
    usage_stream_config,
    usage_subject,
)

# Operational endpoints are not usage: probes would flood the ledger.
UNMETERED_PATHS = frozenset({"/healthz", "/readyz", "/status", "/metrics"})
BATCH_SIZE = 512
PUBLISH_TIMEOUT_SECONDS = 2.0
IDLE_WAKE_SECONDS = 1.0  # how often an idle emitter looks whether NATS is back for the spool
# how long the first event of a batch waits for others: a busy worker's events then leave in one socket write and
# one round of acks instead of one each (the NATS client's write was ~10 % of a worker's samples before)
LINGER_SECONDS = 0.005
# after a batch of which JetStream acknowledged nothing, events go straight to the spool this long, so a silently
# dead server (noticed by the client only after missed pings) does not pile events up in memory
FAILURE_PAUSE_SECONDS = 1.0
STOP_SECONDS = 5.0
_TRANSIENT = (nats.errors.Error, asyncio.TimeoutError, OSError)

PublishedCallback = Callable[[UsageEvent, int], None]


def metered(record: RequestRecord) -> bool:
    return record.path not in UNMETERED_PATHS


def make_usage_event(record: RequestRecord, *, instance: str, now: float) -> UsageEvent:
    """The event of a finished request; `now` is the perf_counter at its end."""
    return UsageEvent(
        request_id=record.request_id,
        time=int(record.started_unix * 1000),
        instance=instance,
        config_version=record.config_version,
        method=record.method,
        path=record.path,
        status=record.status,
        error_code=record.error_code,
        key_id=record.key_id,
        key_public_id=record.key_public_id,
        user_id=record.user_id,
        team_id=record.team_id,
        application_id=record.application_id,
        environment=record.environment,
        route=record.route,
        deployment_id=record.deployment_id,
        deployment=record.deployment,
        provider_kind=record.provider_kind,
        upstream_model=record.upstream_model,
        stream=record.stream,
        attempts=record.attempts,
        tokens=record.usage if record.usage is not None else TokenUsage(),
        estimated=record.usage_estimated,
        cost_micro_usd=record.cost_micro_usd,
        price_id=record.price_id,
        latency_ms=round((now - record.started) * 1000, 3),
        ttft_ms=None if record.first_byte_seconds is None else round(record.first_byte_seconds * 1000, 3),
    )


class UsageEmitter:
    """See the module docstring. `connection()` returns the NATS client while it is connected, else None.
    `on_published(event, stream_seq)` is called for every event JetStream acknowledged (live or replayed)."""

    def __init__(
        self,
        *,
        prefix: str,
        connection: Callable[[], NatsClient | None],
        spool: UsageSpool,
        logger: FilteringBoundLogger,
        on_published: PublishedCallback | None = None,
    ) -> None:
        self._prefix = prefix
        self._subject = usage_subject(prefix)
        self._connection = connection
        self._spool = spool
        self._log = logger
        self.on_published = on_published
        self._queue: deque[UsageEvent] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._js: tuple[NatsClient, JetStreamContext] | None = None
        self._stream_ready = False
        self._paused_until = 0.0
        self.published = 0
        self.spooled = 0

    def emit(self, event: UsageEvent) -> None:
        """Queue the event; returns at once."""
        self._queue.append(event)
        self._wake.set()

    def drained(self) -> bool:
        """Nothing queued and nothing spooled: every event emitted so far was acknowledged by JetStream."""
        return not self._queue and self._spool.empty()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="waypost-usage-emitter")

    async def stop(self) -> None:
        """End the drain task, then hand whatever is still queued to NATS or the spool."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            if not done:  # a batch in flight is spooled by _deliver as it is cancelled
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(STOP_SECONDS):
                while self._queue:
                    await self._deliver(self._take())
        except TimeoutError:
            pass
        if self._queue:
            await self._to_spool([encode_usage_event(event) for event in self._queue])
            self._queue.clear()
        self._spool.close()

    def _take(self) -> list[UsageEvent]:
        count = min(len(self._queue), BATCH_SIZE)
        return [self._queue.popleft() for _ in range(count)]

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_WAKE_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if 0 < len(self._queue) < BATCH_SIZE and not self._stopping:
                await asyncio.sleep(LINGER_SECONDS)
            try:
                while self._queue:
                    await self._deliver(self._take())
                await self._replay()
            except Exception:
                self._log.exception("usage_emitter_failed")

    async def _deliver(self, events: list[UsageEvent]) -> None:
        payloads = [encode_usage_event(event) for event in events]
        try:
            acks = await self._publish(events, payloads)
        except asyncio.CancelledError:
            self._spool.append(payloads)  # shutdown cut the batch short: keep it (a replay of an acked one is a no-op)
            raise
        failed = [payload for payload, ack in zip(payloads, acks, strict=True) if ack is None]
        if failed:
            await self._to_spool(failed)

    async def _to_spool(self, payloads: list[bytes]) -> None:
        try:
            await asyncio.to_thread(self._spool.append, payloads)
        except OSError as exc:
            self._log.error("usage_spool_write_failed", events=len(payloads), error=str(exc))
            return
        self.spooled += len(payloads)

    async def _replay(self) -> None:
        """Publish the spool, oldest first, while NATS takes it; stop at the first batch it does not take whole."""
        while not self._spool.empty() and self._connection() is not None:
            batch = await asyncio.to_thread(self._spool.read, BATCH_SIZE)
            if batch is None:
                return
            events = [decode_usage_event(payload) for payload in batch.payloads]
            acks = await self._publish(events, batch.payloads)
            if any(ack is None for ack in acks):
                return  # retried from the same record (duplicates are dropped by their Nats-Msg-Id)
            await asyncio.to_thread(self._spool.commit, batch)
            self._log.info("usage_spool_replayed", events=len(events))
            if self._queue:
                return  # live events first; the loop comes back here

    async def _publish(self, events: list[UsageEvent], payloads: list[bytes]) -> list[PubAck | None]:
        """One PubAck per event, None where the publish failed; nothing is sent while NATS is down."""
        loop = asyncio.get_running_loop()
        js = None if loop.time() < self._paused_until else await self._jetstream()
        if js is None:
            return [None] * len(events)
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for event, payload in zip(events, payloads, strict=True):
                futures.append(
                    # no wait_stall: a batch (≤ BATCH_SIZE) never fills the client's 4,000 in-flight slots, and
                    # without it nothing yields, so the whole batch leaves in one socket write
                    await js.publish_async(self._subject, payload, headers={"Nats-Msg-Id": event.request_id})
                )
        except _TRANSIENT as exc:
            self._log.warning("usage_publish_failed", error=repr(exc))
        if futures:  # one deadline for the whole batch (publish_async futures have none of their own)
            await asyncio.wait(futures, timeout=PUBLISH_TIMEOUT_SECONDS)
        acks: list[PubAck | None] = [None] * len(events)
        for index, future in enumerate(futures):
            if not future.done():
                future.cancel()
            elif future.cancelled():
                continue
            elif (error := future.exception()) is not None:
                if isinstance(error, NoStreamResponseError):
                    self._stream_ready = False  # the stream went away: create it again
            else:
                ack = acks[index] = future.result()
                self._published(events[index], ack)
        failures = sum(ack is None for ack in acks)
        if failures == len(events):
            self._paused_until = loop.time() + FAILURE_PAUSE_SECONDS
        if failures:
            self._log.warning("usage_publish_incomplete", failed=failures, events=len(events))
        return acks

    def _published(self, event: UsageEvent, ack: PubAck) -> None:
        self.published += 1
        if self.on_published is not None:
            try:
                self.on_published(event, ack.seq)
            except Exception:
                self._log.exception("usage_published_callback_failed", request_id=event.request_id)

    async def _jetstream(self) -> JetStreamContext | None:
        """The JetStream context of the connected client, with the usage stream ensured; None while NATS is down."""
        nc = self._connection()
        if nc is None:
            return None
        if self._js is None or self._js[0] is not nc:
            self._js = (nc, nc.jetstream(timeout=PUBLISH_TIMEOUT_SECONDS))
            self._stream_ready = False
        js = self._js[1]
        if not self._stream_ready:
            try:
                await self._ensure_stream(js)
            except _TRANSIENT as exc:
                self._log.warning("usage_stream_unavailable", error=repr(exc))
                self._paused_until = asyncio.get_running_loop().time() + FAILURE_PAUSE_SECONDS
                return None
            self._stream_ready = True
        return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        name = usage_stream(self._prefix)
        try:
            await js.stream_info(name)
            return
        except NotFoundError:
            pass
        try:
            await js.add_stream(usage_stream_config(self._prefix))
            self._log.info("usage_stream_created", stream=name)
        except BadRequestError:
            await js.stream_info(name)  # created meanwhile by the control plane (or another data plane)
